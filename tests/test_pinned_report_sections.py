"""Tests written by a mutation audit of the report's sections (glade.eval.report: data,
leaderboard, top_flags, calibration, seats, sections): each pins a number, an order, an
inclusion or a section that a plausible one-line change left untested. The comment on each
names what it guards. The audit's tests of the verdicts' words and the terminal are in
test_pinned_verdict_words.py."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import yaml

from glade.eval.report.calibration import _error_change, _where, tables
from glade.eval.report.calibration import lines as calibration_lines
from glade.eval.report.cost import cost_sections
from glade.eval.report.data import (
    TOP_FLAGS,
    Results,
    fault_notes,
    first_value,
    load_results,
    mean_ci,
    ordered,
    price_paths,
    results_verdicts,
    standin_seeds,
)
from glade.eval.report.leaderboard import board_about, board_table
from glade.eval.report.render import Page
from glade.eval.report.seats import _interval_text, fault_sections, seat_rows
from glade.eval.report.sections import family_sections, lesson_sections, verdict_section
from glade.eval.report.top_flags import flag_rows, flag_sections


def _results(tmp_path, **fields) -> Results:
    return Results(**({"folder": tmp_path, "episodes": pd.DataFrame(), "decisions": pd.DataFrame()} | fields))


def _page(r: Results, verdicts: dict | None = None, table: pd.DataFrame | None = None) -> Page:
    return Page(r=r, table=pd.DataFrame() if table is None else table, figures=[], labels={}, verdicts=verdicts or {})


# --------------------------------------------------------------------------- data


def test_names_come_in_the_recipes_order_then_as_they_appear():
    # guards ordered's `first + [rest]`
    assert ordered(pd.Series(["b", "a", "c", "a"]), ["c", "x", "a"]) == ["c", "a", "b"]


def test_the_stand_in_worlds_seeds_are_the_of_n_and_a_missing_first_value_is_skipped():
    # guards standin_seeds' `world == STANDIN` and first_value's dropna
    table = pd.DataFrame({"scenario": ["s", "s"], "world": ["c", "standin"], "seeds": [5, 6]})
    assert standin_seeds(table) == {"s": 6}
    assert first_value(pd.DataFrame({"legend_turn": [math.nan, 4.0]}), "legend_turn") == 4.0


def test_a_mean_over_seeds_drops_the_seeds_without_the_figure():
    # guards mean_ci's NaN drop: a seed without a legend is not a seed with a NaN ratio, and all-NaN is quiet
    mean, low, high = mean_ci([1.0, 2.0, math.nan, 3.0, 4.0], _results(None))
    assert mean == 2.5 and low < 2.5 < high
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no seed has it: NaN, and no numpy "Mean of empty slice" on the terminal
        assert all(math.isnan(x) for x in mean_ci([math.nan] * 3, _results(None)))


def test_price_paths_average_a_seeds_casts_and_keep_seeds_in_order(tmp_path):
    # guards price_paths' mean over casts and `sorted(by_seed)`
    episodes = pd.DataFrame(
        {
            "scenario": ["s"] * 3,
            "council": ["c"] * 3,
            "seed": [2, 1, 1],
            "price_path": [
                json.dumps({"honey": [9.0, 9.0]}),
                json.dumps({"honey": [1.0, 2.0]}),
                json.dumps({"honey": [3.0, 4.0, 5.0]}),
            ],  # fmt: skip
        }
    )
    paths = price_paths(_results(tmp_path, episodes=episodes), "s", "c")
    np.testing.assert_allclose(paths["honey"], [[2.0, 3.0], [9.0, 9.0]])


def _folder(tmp_path, summary: dict, recipe: dict | None = None):
    path = json.dumps({"honey": [10.0, 9.0]})
    seats = pd.DataFrame({"episode_id": ["e1", "e2", "e3"], "scenario": ["s"] * 3, "council": ["standin", "c", "d"],
                          "seed": [0, 0, 0], "price_path": [path] * 3, "faults": [0, 0, 2]})  # fmt: skip
    seats.to_parquet(tmp_path / "episodes.parquet")
    pd.DataFrame({"episode_id": ["e1"]}).to_parquet(tmp_path / "decisions.parquet")
    (tmp_path / "summary.json").write_text(json.dumps({"recipe": "r", "worlds": 3, "decisions": 1, **summary}))
    if recipe is not None:
        (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    return tmp_path


def test_without_the_recipe_the_summarys_thresholds_and_seed_are_the_runs(tmp_path):
    # guards load_results' `or summary.get("thresholds")` and its seed from the summary, and faulted_councils
    # (the councils that played only worlds with seat faults, in the recipe's order)
    r = load_results(_folder(tmp_path, {"thresholds": {"ci_level": 0.9}, "seed": 5}, {"councils": {"d": {}, "c": {}}}))
    assert (r.thresholds.ci_level, r.seed, r.councils, r.faulted_councils) == (0.9, 5, ["c"], ["d"])
    assert load_results(_folder(tmp_path, {"seed": 5}, {"seed": 0})).seed == 0  # the recipe's seed, even 0


def test_verdicts_from_an_older_summary_keep_what_it_says_and_fill_the_rest_from_the_tables(tmp_path, monkeypatch):
    # guards results_verdicts' `all(key in given ...)` and `computed | given` (the summary's word wins)
    computed = {k: [f"computed {k}"] for k in ("robustness", "seam", "levers", "attribution")}
    monkeypatch.setattr("glade.eval.verdicts.verdicts", lambda *args: dict(computed))
    older = _results(tmp_path, summary={"verdicts": {"seam": ["from the summary"]}})
    assert results_verdicts(older) == computed | {"seam": ["from the summary"]}
    whole = {k: [] for k in computed}
    assert results_verdicts(_results(tmp_path, summary={"verdicts": whole})) is whole


def test_fault_notes_skip_a_seat_with_no_faults():
    # guards fault_notes' `if t.get("faults")`
    faults = {"a": {"faults": {}, "decisions": 10, "fault_share": 0.0},
              "b": {"faults": {"timeout": 2}, "decisions": 10, "fault_share": 0.2}}  # fmt: skip
    [note] = fault_notes({"faults": faults})
    assert note.startswith("Seat faults: b: 2 of 10 decisions (20%) failed: timeout 2.")


# --------------------------------------------------------------------------- leaderboard


def _board(**over) -> dict:
    row = {"rank": 1, "entry": "m", "names": ["a"], "strength": 0.5, "ci": [0.1, 0.9], "rank_ci": [1, 2],
           "wins": 3, "comparisons": 4, "separated": True, "resamples_without": 0.25}  # fmt: skip
    board = {"level": 0.95, "outcome": "seat", "method": "Bradley-Terry, x; y", "comparisons": 4, "units": 8,
             "results": ["r"], "resamples": 200, "board": [row], "excluded": {"fault_worlds": 1}}  # fmt: skip
    return board | over


def test_the_board_reads_a_rank_range_the_all_or_none_and_the_resamples_without_it():
    # guards board_table's rank range (`low != high`), `separated` and `resamples_without`
    _, [row] = board_table(_board())
    assert row[3:] == ["+0.50", "[+0.10, +0.90]", "1-2", "3 / 4 (all or none); not compared in 25% of resamples"]
    _, [one] = board_table(_board(board=[_board()["board"][0] | {"rank_ci": [1, 1], "separated": False}]))
    assert one[5] == "1" and one[6] == "3 / 4; not compared in 25% of resamples"


def test_the_board_caption_says_what_a_seat_board_compares_and_one_faulted_world():
    # guards board_about's `outcome == "seat"` and `if faulted` (one world is enough to say so)
    about = board_about(_board())
    assert "paired comparisons of wealth change of the seat" in about
    assert "Left out: the 1 world(s) in which a seat failed to answer" in about
    assert "council's focal wealth change" in board_about(_board(outcome="council"))


# --------------------------------------------------------------------------- top flags


def _flag(score, i: int) -> dict:
    return {"kind": "decision", "score": score, "n": 8, "q": 0.01, "metric": f"m{i}", "effect": 0.5,
            "examples": [{"episode_id": f"E{i}", "turn": 1, "creature": "hazel"},
                         {"episode_id": "later", "turn": 2, "creature": "moss"}]}  # fmt: skip


def test_flags_rank_by_score_highest_first_numbered_from_1_with_their_first_example():
    # guards flag_rows' `reverse=True`, `enumerate(ranked, 1)` and `examples[0]`
    _, rows, ranked = flag_rows([_flag(0.2, 0), _flag(0.1, 1), _flag(0.9, 2)])
    assert [r[0] for r in rows] == ["1", "2", "3"] and [f["metric"] for f in ranked[:2]] == ["m2", "m0"]
    assert rows[0][-1] == "episode E2, turn 1 (the prompt's Turn 2), hazel"


def test_a_flag_without_a_score_ranks_last_and_the_others_stay_in_order():
    # a NaN sort key stopped the sort: [0.2, None, 0.9] came out in that order
    _, _, ranked = flag_rows([_flag(0.2, 0), _flag(None, 1), _flag(0.9, 2), _flag("n/a", 3), _flag(0.5, 4)])
    assert [f["metric"] for f in ranked] == ["m2", "m4", "m0", "m1", "m3"]


def test_the_flags_table_shows_the_top_twenty_and_three_examples_each(tmp_path):
    # guards TOP_FLAGS (20) and _examples_html's first three examples
    flags = [_flag(i / 100, i) | {"examples": [{"episode_id": f"E{j}", "turn": 1, "creature": "h"} for j in range(4)]}
             for i in range(21)]  # fmt: skip
    assert TOP_FLAGS == 20 and len(flag_rows(flags)[1]) == 20
    [section] = flag_sections(_page(_results(tmp_path, flags=flags)))
    assert section.html[-1].count("<details>") == 60


def test_an_empty_flags_file_shows_why_not_an_empty_table(tmp_path):
    # guards flag_sections' `if not r.flags`: no flag at all reads the note, not a headed table of nothing
    r = _results(tmp_path, flags=[], flags_note="no flags: no disagreement survived")
    [section] = flag_sections(_page(r))
    assert section.markdown == ["*no flags: no disagreement survived*"]


# --------------------------------------------------------------------------- calibration


def _iv3(mean: float) -> dict:
    return {"mean": mean, "ci": [mean - 0.1, mean + 0.1], "n": 8}


def _calibration() -> dict:
    part = {k: {"before": _iv3(0.5), "after": _iv3(0.6), "change": _iv3(0.1)}
            for k in ("agreement", "qty_error", "price_error")} | {"episodes": 12}  # fmt: skip
    figure = {"n": 8, "council": {"mean": 0.5}, "original": {"mean": 0.4}, "calibrated": None}
    figures = {
        "crash": figure | {"error_change": {"mean": -0.1, "ci": [-0.2, -0.05]}, "verdict": "calibrated closer"},
        "legend_ratio": figure | {"n": 6, "improvement": {"mean": 0.1, "ci": [0.05, 0.2]}, "verdict": "v"},
        "gambit_pnl": figure | {"verdict": "none"},  # no change in error recorded: no row
    }
    group = {"n": 8, "worlds": 16, "scenario_in_fit": None, "group": "all", "figures": figures}
    return {"policy": "p", "split": {"heldout_seeds": [3]}, "decisions": 1200, "rebuilt": 1100,
            "moved": [{"parameter": "greed", "before": 0.123456, "after": 0.5}], "fitted": {"name": "fit"},
            "search": {"evaluations": 100, "generations": 5, "seconds": 3}, "verdict": "closer",
            "parts": {"fit": part, "heldout": part}, "outcome": {"groups": [group]}}  # fmt: skip


def test_a_calibrations_tables_sign_only_the_changes_and_negate_an_old_improvement():
    # guards tables' `sign` for the change row only, the `(n N)` of a figure with fewer seeds, the rows without
    # a change left out, and _error_change's negation of an improvement (mean and interval, ends swapped)
    (_, _, agreement), (caption, _, outcome) = tables(_calibration())
    assert agreement[0][2] == "0.500 [0.400, 0.600]" and agreement[2][2] == "+0.100 [+0.000, +0.200]"
    assert caption == "Outcome check over all 16 held-out worlds (8 scenario seeds) (means)"
    assert outcome == [
        ["crash", "0.500", "0.400", "—", "—", "—", "-0.100 [-0.200, -0.050]", "calibrated closer"],
        ["legend_ratio (n 6)", "0.500", "0.400", "—", "—", "—", "-0.100 [-0.200, -0.050]", "v"],
    ]
    assert _error_change({"improvement": {"mean": 0.1, "ci": [0.05, 0.2]}})["ci"] == [-0.2, -0.05]


def test_an_outcome_group_says_whether_its_scenario_was_fitted_and_its_worlds():
    # guards _where's `scenario_in_fit is None` (False is a scenario the fit never saw) and `worlds` over `n`
    g = {"n": 8, "worlds": 16, "group": "gambit_shock"}
    assert _where(g | {"scenario_in_fit": False}) == (
        "Outcome check, gambit_shock: 16 worlds on 8 seeds of a scenario the fit never saw"
    )
    assert _where(g | {"scenario_in_fit": True}) == "Outcome check, gambit_shock: 16 worlds on 8 held-out seeds"


def test_a_calibrations_lines_show_a_moved_parameter_to_four_figures():
    # guards _value's `.4g`
    assert "moved most: greed 0.1235 → 0.5." in calibration_lines(_calibration())[1]


# --------------------------------------------------------------------------- seats


def test_an_interval_reads_low_then_high_and_a_run_without_faults_has_no_fault_section(tmp_path):
    # guards seats._interval_text's order and fault_sections' `if not notes`
    assert _interval_text({"mean": 0.9, "ci": [0.8, 0.95]}, ".2f") == "0.90 [0.80, 0.95]"
    assert fault_sections(_page(_results(tmp_path, summary={"faults": {}}))) == []


def test_a_seats_commonest_errors_are_listed_with_their_counts(tmp_path):
    # guards seat_rows' top errors column
    decisions = pd.DataFrame({"council": "c", "policy_name": "m", "policy": "hf:m", "episode_id": ["e1", "e1", "e2"],
                              "seed": [1, 1, 2], "error": [None, "bad_json", "bad_json"]})  # fmt: skip
    _, [row] = seat_rows(_results(tmp_path, decisions=decisions))
    assert row[0] == "c" and row[3:] == ["—", "2", "3", "bad_json 2"]  # rows without self_buy: no self-buy rate
    with_self_buys = decisions.assign(self_buy=[1, 0, 0])
    _, [row] = seat_rows(_results(tmp_path, decisions=with_self_buys))
    assert row[3] == "0.250 (too few seeds for an interval: 0.5, 0)"  # seed 1: one of its 2 decisions


def test_the_cost_of_a_resumed_run_says_whose_it_is(tmp_path):
    # guards cost_sections' cost_part: a run that played 4 of 10 worlds says its figures are that run's
    cost = {"episodes": 4, "decisions": 40, "wall_seconds": 2.0, "play_seconds": 1.5, "model_share": 0.5, "episodes_per_s": 2.0,
            "prompt_tokens": 10, "completion_tokens": 5, "faults": 0, "seats": {}}  # fmt: skip
    [section] = cost_sections(_page(_results(tmp_path, summary={"cost": cost, "worlds": 10})))
    assert "(the cost of the run that played the last 4 of the 10 worlds" in section.markdown[0]
    assert "shared decision" not in section.markdown[0]  # nothing shared: nothing to explain


def test_a_cost_with_shared_decisions_says_what_they_are(tmp_path):
    seat = {"decisions": 30, "shared": 12, "prompt_tokens": 10, "completion_tokens": 5, "model_seconds": 1.0,
            "decisions_per_s": 30.0, "faults": {}, "fault_share": 0.0}  # fmt: skip
    cost = {"episodes": 4, "decisions": 40, "shared": 12, "wall_seconds": 2.0, "play_seconds": 1.5, "model_share": 0.5,
            "episodes_per_s": 2.0, "prompt_tokens": 10, "completion_tokens": 5, "faults": 0, "seats": {"m": seat}}  # fmt: skip
    [section] = cost_sections(_page(_results(tmp_path, summary={"cost": cost, "worlds": 4})))
    about = section.markdown[0]
    assert "40 decisions by every seat (12 shared with an identical request) in 2.0 s wall" in about
    assert "a shared decision took the answer of an identical request in its call" in about
    assert "| m | 30 (12 shared) |" in "\n".join(section.markdown)


# --------------------------------------------------------------------------- sections


def _family(i: int, examples: int = 2) -> dict:
    where = {"episode_id": "E", "turn": 1, "creature": "hazel"}
    return {"family": i, "title": f"Title {i}", "text": f"Title {i}: what it says", "n": 8, "q": 0.01,
            "members": [i], "examples": [where] * examples}  # fmt: skip


def test_the_lead_lists_five_families_each_linking_every_example(tmp_path):
    # guards verdict_section's TOP_FAMILIES cut, its `range(1, len(examples) + 1)` links and the text after the title
    r = _results(tmp_path, flags=[{}], families=[_family(i) for i in range(1, 8)], flags_method={"flags": 9})
    [section] = verdict_section(_page(r))
    assert sum(line.startswith(("1. ", "2. ", "3. ", "4. ", "5. ", "6. ")) for line in section.markdown) == 5
    families = section.html[-1]
    assert families.count("<li>") == 5 and families.count("example 2</a>") == 5 and "example 3" not in families
    assert ">Title 1</a>: what it says (n 8" in families


def test_an_empty_flags_list_still_heads_the_families_with_its_counts(tmp_path):
    # guards verdict_section's `r.flags is None` (no flags.json) against [] (flagged, nothing found)
    r = _results(tmp_path, flags=[], flags_note="no flags: none survived", flags_method={"flags": 0, "cells": 3})
    [section] = verdict_section(_page(r))
    assert any(line.startswith("**Top flag families: 0 flags in 0 families, from 3 cells") for line in section.markdown)


def test_the_family_details_stop_at_twenty(tmp_path):
    # guards family_sections' FAMILY_DETAILS cut
    [section] = family_sections(_page(_results(tmp_path, families=[_family(i, 0) for i in range(1, 23)])))
    assert section.markdown[0].startswith("22 families of flags, the first 20 here")
    assert sum(line.startswith("### ") for line in section.markdown) == 20


def _lessons() -> dict:
    iv = {"mean": 0.2, "ci": [0.1, 0.3], "n": 5}
    seat = {"creature": "hazel", "policy": "p", "cast": 0, "contribution": iv, "share": 0.5, "share_ci": [0.1, 0.9],
            "share_note": "too uncertain"}  # fmt: skip
    effect = {"scenario": "s", "council": "c", "figure": "crash", "effect": iv, "seats": [seat]}
    return {
        "robustness": [{"scenario": "s", "phenomenon": "crash", "good": "honey", "world": "c", "verdict": "absent",
                        "casts": [{"cast": 0, "note": "0 of 5"}], "rate": {"mean": 0.0, "ci": [0.0, 0.4], "n": 5}}],
        "seam": [{"scenario": "s", "world": "standin", "good": "honey", "turn": 4, "verdict": "no move",
                  "total": {"mean": 0.0, "n": 6}, "traded": {"mean": 0.0}, "seam": {"mean": 0.0}}],
        "levers": [{"lever": "l", "from": "a", "to": "b", "figure": "crash", "standin": {"mean": 0.1, "n": 6},
                    "councils": [{"council": "c", "effect": iv, "did": iv, "verdict": "neither"}]}],
        "attribution": [effect | {"effect_clear": True}, effect | {"council": "unclear", "effect_clear": False}],
    }  # fmt: skip


def test_the_lesson_tables_count_seeds_against_the_stand_in_and_list_only_clear_effects(tmp_path):
    # guards lesson_sections' `n_text(..., seeds)` in the robustness and lever tables, the `effect_clear` filter,
    # the seam caption's move floor in log points (100 x 0.05) and _share's note over its interval
    table = pd.DataFrame({"scenario": ["s"], "world": ["standin"], "seeds": [6]})
    sections = {s.anchor: s for s in lesson_sections(_page(_results(tmp_path), _lessons(), table))}
    rows = {k: [line for line in s.markdown if line.startswith("| ")][1:] for k, s in sections.items()}
    assert "| n 5 of 6 seeds |" in rows["robustness"][0]
    assert "| n 5 of 6 seeds |" in rows["levers"][1] and "| n 6 seeds |" in rows["levers"][0]
    assert len(rows["attribution"]) == 1 and ", share 50% (too uncertain) |" in rows["attribution"][0]
    assert (
        "wholly at or beyond 5.0 log points, is no move when it lies wholly inside them" in sections["seam"].markdown[0]
    )
