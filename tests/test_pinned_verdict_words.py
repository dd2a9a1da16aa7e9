"""Tests written by a mutation audit of the verdicts' words, the report's sections and the
terminal's formatting (glade.eval.verdict_text, glade.eval.report, glade.console): each pins a
behaviour that a plausible one-line change (a comparison flipped, an off-by-one, a clause
dropped, a constant changed) left untested. The comment on each names what it guards."""

from __future__ import annotations

import io
import json
import math

from rich.console import Console

from glade.console import fault_text, progress_bar, show_faults, with_ci
from glade.console import findings as console_findings
from glade.console_tables import _short_event, scoreboard, summary_lines, turn_table
from glade.env import load_scenario
from glade.eval.families import families_heading
from glade.eval.verdict_text import (
    findings,
    move_text,
    rate_text,
    robustness_lines,
    seam_lines,
    straddles,
    value_text,
    verdict_sections,
)
from glade.words import seed_spans

# --------------------------------------------------------------------------- verdict_text


def _rate_entry(verdict: str, ci, floor=0.5) -> dict:
    return {
        "scenario": "s",
        "phenomenon": "crash",
        "good": "honey",
        "world": "c",
        "casts": [{"cast": 0, "note": "6 of 8 seeds"}],
        "rate": {"mean": 0.75, "ci": ci, "n": 8, "note": "6 of 8 seeds"},
        "verdict": verdict,
        "floor": floor,
    }


def test_an_interval_straddles_the_floor_only_when_its_low_end_is_below_it_and_its_high_end_reaches_it():
    # guards straddles' `ci[0] < floor <= ci[1]`: robust is low >= floor and sporadic/absent is high < floor
    # (eval/verdicts.py), so a low end on the floor does not straddle and a high end on it does
    assert straddles(_rate_entry("not enough seeds", [0.5, 0.9])) == ""
    assert "straddles the robust floor 0.50" in straddles(_rate_entry("not enough seeds", [0.2, 0.5]))
    assert "straddles" in straddles(_rate_entry("not enough seeds", [0.49, 0.9]))


def test_only_a_not_enough_seeds_verdict_is_explained_as_a_straddle():
    # guards straddles' `entry["verdict"] != "not enough seeds"`: a cast-dependent rate's interval may straddle
    # the floor too, but that is not why it got its verdict
    assert straddles(_rate_entry("cast-dependent", [0.2, 0.9])) == ""


def test_a_move_reads_its_interval_its_too_few_seeds_values_or_its_note():
    # guards move_text's three branches (ci, values, note) and the simple percent beside the log points
    half = math.log(0.5)
    assert move_text({"mean": half, "ci": [math.log(0.4), math.log(0.6)]}) == "-69.3 [-91.6, -51.1] (-50.0%)"
    assert move_text({"mean": 0.1, "values": [0.05, 0.15]}) == (
        "+10.0 (+10.5%; too few seeds for an interval: +5.0, +15.0)"
    )
    assert move_text({"mean": 0.0, "note": "the same in all 8 seeds"}) == "+0.0 (+0.0%; the same in all 8 seeds)"
    assert move_text({"mean": None}) == "-"


def test_a_value_without_an_interval_says_why():
    # guards value_text's `({note})`: "+0.120 (too few seeds)", not a bare number that reads as exact
    assert value_text({"mean": 0.12, "note": "too few seeds"}) == "+0.120 (too few seeds)"
    assert value_text({"mean": 0.12, "ci": [0.05, 0.2]}, ".2f") == "0.12 [0.05, 0.20]"


def test_a_rate_over_several_casts_names_each_cast_and_the_heterogeneity_p():
    # guards rate_text's per-cast branch and its p
    entry = {
        "casts": [{"cast": 0, "note": "2 of 4 seeds"}, {"cast": 1, "note": "4 of 4 seeds"}],
        "heterogeneity_p": 0.043,
        "rate": {"mean": 0.75, "ci": [0.4, 0.9], "note": "6 of 8 seeds"},
    }
    assert rate_text(entry) == (
        "cast 0: 2 of 4 seeds; cast 1: 4 of 4 seeds; the casts' rates differ (p = 0.043); "
        "pooled: 6 of 8 seeds, rate 0.75 [0.40, 0.90]"
    )
    # a p above CAST_ALPHA is no difference to claim: said so, and the pooled rate a robust verdict rests on
    assert rate_text(entry | {"heterogeneity_p": 0.078}).endswith(
        "the casts' rates do not clearly differ (p = 0.078); pooled: 6 of 8 seeds, rate 0.75 [0.40, 0.90]"
    )
    one = {"casts": entry["casts"][:1], "rate": {"mean": 0.5, "ci": [0.1, 0.9], "note": "2 of 4 seeds"}}
    assert rate_text(one) == "2 of 4 seeds, rate 0.50 [0.10, 0.90]"


def test_worlds_with_different_verdicts_each_say_theirs():
    # guards robustness_lines' grouping: one line per phenomenon, each world's verdict named
    standin = {**_rate_entry("robust", [0.6, 0.95]), "world": "standin"}
    council = {**_rate_entry("absent", [0.0, 0.3]), "rate": {"mean": 0.0, "ci": [0.0, 0.3], "n": 8, "note": "0 of 8"}}
    [line] = robustness_lines([standin, council])
    assert line.startswith("crash of honey in s: all stand-in: robust (6 of 8 seeds, rate 0.75 [0.60, 0.95]); ")
    assert line.endswith("c: absent (0 of 8, rate 0.00 [0.00, 0.30])")  # n 8 of 8: no "lost seeds" note


def _seam_entry(world: str, verdict: str, n: int, seam: dict, share=0.4) -> dict:
    return {
        "scenario": "s",
        "good": "honey",
        "turn": 4,
        "world": world,
        "verdict": verdict,
        "authored_share": share,
        "total": {"mean": -0.5, "ci": [-0.6, -0.4], "n": n},
        "traded": {"mean": -0.3, "ci": [-0.4, -0.2], "n": n},
        "seam": seam,
    }


def test_the_seam_split_counts_seeds_against_the_stand_in_world_whatever_the_order():
    # guards seam_seeds' `e["world"] == STANDIN`: a council listed first must not give the "of N"
    council = _seam_entry("c", "mixed", 5, {"mean": -0.2, "ci": [-0.3, -0.1]})
    standin = _seam_entry("standin", "emergent", 6, {"mean": 0.0})
    [line] = seam_lines([council, standin])
    assert "; n 5 of 6 seeds)" in line and "; n 6 seeds)" in line


def test_the_seams_share_is_said_for_a_mixed_move_and_not_for_an_emergent_one():
    # guards seam_lines' `verdict in ("authored", "mixed")`, and "nothing at the seam" only for a zero without interval
    mixed = _seam_entry("c", "mixed", 6, {"mean": -0.2, "ci": [-0.3, -0.1]})
    emergent = _seam_entry("standin", "emergent", 6, {"mean": 0.0}, share=0.0)
    [line] = seam_lines([mixed, emergent])
    assert "; 40% of the log move at the seam" in line and line.count("of the log move at the seam") == 1
    # a seam that wrote nothing leaves the traded part as the whole move: said once
    assert "all stand-in: emergent (traded -30.0 [-40.0, -20.0] (-25.9%), nothing at the seam; n 6 seeds)" in line
    zero_with_ci = _seam_entry("standin", "emergent", 6, {"mean": 0.0, "ci": [-0.01, 0.01]})
    assert "at the seam +0.0 [-1.0, +1.0]" in seam_lines([zero_with_ci])[0]


def _effect(figure: str, clear: bool = True) -> dict:
    return {
        "scenario": "s",
        "council": "c",
        "figure": figure,
        "effect_clear": clear,
        "effect": {"mean": 0.4, "ci": [0.1, 0.7], "n": 6},
        "seats": [
            {
                "creature": "hazel",
                "policy": "p",
                "cast": 0,
                "share": 0.5,
                "share_ci": [0.2, 0.8],
                "share_note": "too uncertain",
            }  # fmt: skip
        ],
        "interaction": {"mean": 0.0},
    }


def test_attribution_leads_with_the_lead_figures_in_order_six_at_most_and_counts_the_rest():
    # guards verdict_sections' LEAD_FIGURES order, `lead[:LEAD_ATTRIBUTIONS]` (6) and the "... and N more" count
    clear = [_effect("volume")] + [_effect(f) for f in ("gambit_pnl", "legend_ratio", "bubble", "crash")] * 2
    [*_, (key, _, lines)] = verdict_sections({"attribution": clear + [_effect("crash", clear=False)]})
    assert key == "attribution" and len(lines) == 7
    assert [line.split(" in s,")[0] for line in lines[:6]] == ["crash", "crash", "bubble", "bubble"] + [
        "legend_ratio"
    ] * 2
    assert lines[6] == "... and 3 more clear effects shared out in the detail"
    # a seat's share note replaces its interval; an effect that is not clear is never listed
    assert "hazel (p, cast 0) 50% (too uncertain); interaction +0.000" in lines[0]
    [*_, (_, _, few)] = verdict_sections({"attribution": [_effect("crash")]})
    assert len(few) == 1  # all shown: no "... and 0 more"
    [*_, (key, _, none)] = verdict_sections({"attribution": [_effect("crash", clear=False)]})
    assert key == "attribution" and none[0].startswith("no outcome effect of the 1 ")  # played, none clear: why


def test_findings_number_the_lessons_and_show_the_flag_heading_even_with_no_family():
    # guards findings' numbering from 1 and `families is not None` (an empty list: "no flags", not no heading)
    out = findings({}, [], {"flags": 0, "cells": 12, "testable": 0, "fdr_q": 0.1})
    assert [h.split(" ", 1)[0] for h, _ in out[:3]] == ["1.", "2.", "3."]
    assert out[-1] == ("Top flag families: 0 flags in 0 families, from 12 cells, 0 testable at this n (FDR q = 0.1)",
                       ["no flags"])  # fmt: skip
    assert len(findings({}, None)) == 3
    families = [{"family": i, "text": f"t{i}", "n": 8, "q": 0.01} for i in range(1, 8)]
    assert len(findings({}, families, top=5)[-1][1]) == 5


def test_the_flag_heading_counts_thousands_with_commas():
    # guards count_text's `{value:,}` for the flags too
    assert families_heading([], {"flags": 1234, "cells": 5, "fdr_q": 0.1}).startswith("Top flag families: 1,234 flags")


# --------------------------------------------------------------------------- console


def _shown(renderable, width: int = 250) -> str:
    con = Console(width=width, file=io.StringIO(), color_system=None)
    con.print(renderable)
    return con.file.getvalue()


def _history_row(turn: int, honey: float, pnl: float = 0.0) -> dict:
    prices = {"honey": honey, "firewood": 4.0, "acorns": 2.0, "berries": 3.0, "mushrooms": 3.0}
    return {"turn": turn, "prices": prices, "events": [], "seam_writes": [], "gambit_pnl": pnl, "trades": 2,
            "volume": {"honey": 3, "acorns": 1}}  # fmt: skip


def test_the_turn_table_marks_moves_from_the_turn_before_past_half_a_cent_and_each_cover_once():
    # guards turn_table's 5e-3 dead band, `previous[g] = p` (a move is against the turn before, not the
    # opening), the patron's side (`size > 0`: shorts) and `pnl_before` (a cover is said on its turn only)
    s = load_scenario("gambit_shock", turns=4)  # honey opens at 10.00; the patron shorts 10 on turn 1
    history = [_history_row(0, 10.004), _history_row(1, 10.008), _history_row(2, 10.02, 3.0), _history_row(3, 9.9, 3.0)]
    rows = [line.split() for line in _shown(turn_table(s, 7, history)).splitlines() if line.strip()[:1].isdigit()]
    assert [r[1] for r in rows] == ["10.00·", "10.01·", "10.02↑", "9.90↓"]
    assert [r[6:8] for r in rows] == [["2", "4"]] * 4  # trades, then the volume summed over goods
    text = _shown(turn_table(s, 7, history))
    assert "patron shorts 10 honey" in text and text.count("gambit covered") == 1 and "gambit covered +3.00" in text


def test_an_event_is_cut_to_80_characters_and_a_colon_past_40_is_not_its_head():
    # guards _short_event's `len(head) <= 80`, `head[:79] + "…"` and `":" in text[:40]`
    assert _short_event("x" * 80) == "x" * 80
    assert _short_event("x" * 81) == "x" * 79 + "…"
    late = "y" * 45 + ": after"
    assert _short_event(late) == late
    assert _short_event("Oona hoards: honey runs short") == "Oona hoards"


def _scoreboard_rows(s) -> list[dict]:
    return [
        {"creature": c, "fills": json.dumps([{"side": "buy"}, {"side": "sell"}]), "self_buy": 1, "seat": "standin:cautious", "pebbles": 5.0,
         "wealth_after": 12.5, "mood": 0.25, "rejected": json.dumps([{"outcome": "rejected"}, {"outcome": "clipped"}])}
        for c in s.creatures
    ]  # fmt: skip


def test_the_scoreboard_counts_only_rejected_orders_and_goes_compact_below_94_columns():
    # guards scoreboard's `outcome == "rejected"`, `width < 94` and the title's last turn (`turns - 1`)
    s = load_scenario("gambit_shock", turns=4)
    wide = _shown(scoreboard(s, _scoreboard_rows(s), 94))
    assert "scoreboard after turn 3 (the last of 4; turns count from 0)" in wide and "species" in wide
    [oona] = [line.split() for line in wide.splitlines() if line.startswith("Oona")]
    assert oona == ["Oona", "owl", "standin:cautious", "5.00", "12.50", "0.25", "1", "1", "1", "1"]
    narrow = _shown(scoreboard(s, _scoreboard_rows(s), 93))
    assert "species" not in narrow and "standin:" not in narrow


def _summary(turns: int, pnl: float | None = 0.0, problems=()) -> dict:
    return {"gini": 0.1, "trades": 3, "volume": 4, "gambit_pnl": pnl, "turns": turns, "patron_pebbles": 1.0,
            "scenario": "x", "scenario_hash": "h", "seed": 7, "conservation_problems": list(problems)}  # fmt: skip


def test_the_summary_says_a_spring_or_legend_on_the_turn_after_the_last_never_happened():
    # guards summary_lines' `spring_turn >= turns` and `ev.turn >= turns` (a 4-turn run plays turns 0 to 3)
    gambit = load_scenario("gambit_shock", turns=4)  # springs on turn 4
    assert "it never sprang" in " ".join(summary_lines(gambit, _summary(4)))
    assert "it never sprang" not in " ".join(summary_lines(gambit, _summary(5)))
    legend = load_scenario("default", turns=4)  # its legend is scheduled at turn 12
    assert "it never happened" in " ".join(summary_lines(legend, _summary(12, None)))
    assert "it never happened" not in " ".join(summary_lines(legend, _summary(13, None)))


def test_a_gambit_that_broke_even_reads_green_and_three_conservation_problems_are_shown():
    # guards summary_lines' `gambit_pnl >= 0` colour and `problems[:3]`
    lines = summary_lines(load_scenario("gambit_shock", turns=8), _summary(8, 0.0, ["a", "b", "c", "d"]))
    assert "[bold green]+0.00[/]" in lines[1]
    assert lines[-1] == "[bold red]conservation: 4 problem(s)[/]: a; b; c"


def test_a_bar_given_no_work_is_never_drawn():
    # guards Bar.total's `n <= 0`: a rerun of a finished folder draws no empty bar
    with progress_bar("eval", "episodes", Console(file=io.StringIO())) as bar:
        bar.total(0)
        assert not bar.progress.live.is_started
        bar.total(1)
        assert bar.progress.live.is_started


def test_a_progress_line_is_written_only_where_stderr_is_no_terminal(monkeypatch):
    # guards Bar.advance's `not console.is_terminal`: a terminal has its live bar, a log gets a line per LOG_EVERY
    monkeypatch.setattr("glade.console.LOG_EVERY", 0.0)
    for terminal in (False, True):
        out = io.StringIO()
        with progress_bar("train", "steps", Console(file=out, force_terminal=terminal, width=100)) as bar:
            bar.total(4)
            bar.advance()
        assert ("train 1/4 steps " in out.getvalue()) is not terminal  # a terminal's bar colours "1/4"


def test_faults_list_the_commonest_kind_first_and_count_the_other_seats_over(capsys):
    # guards fault_text's sort (most first) and show_faults' `len(over) > 1`
    tally = {"a": {"faults": {"timeout": 1, "server_refused": 5}, "decisions": 10, "fault_share": 0.6},
             "b": {"faults": {"timeout": 4}, "decisions": 10, "fault_share": 0.4}}  # fmt: skip
    assert fault_text(tally["a"]) == "6 of 10 decisions (60%) failed: server_refused 5, timeout 1"
    show_faults(Console(file=io.StringIO()), tally, ["a"], 0.2)
    assert "more seat(s)" not in capsys.readouterr().err
    show_faults(Console(file=io.StringIO()), tally, ["a", "b"], 0.2)
    assert "(and 1 more seat(s))" in capsys.readouterr().err


def test_a_narrow_interval_gets_up_to_six_digits_and_a_point_interval_none_more():
    # guards with_ci's widening: up to `< 6` digits, never for low == high, and a NaN interval read as none
    assert with_ci(0.5, [0.4999, 0.5001], ".2f") == "0.5000 [0.4999, 0.5001]"
    assert with_ci(0.5, [0.5, 0.5 + 1e-9], ".2f") == "0.500000 [0.500000, 0.500000]"
    assert with_ci(0.5, [0.5, 0.5], ".2f") == "0.50 [0.50, 0.50]"
    assert with_ci(0.5, [math.nan, math.nan], ".2f", "too few seeds") == "0.50 (too few seeds)"


def test_seed_spans_sort_the_seeds_first():
    # guards seed_spans' `sorted(seeds)`
    assert seed_spans([9, 3, 0, 2, 1, 5]) == "0-3, 5, 9"


def test_a_section_with_no_lines_says_so(capsys):
    # guards console.findings' `lines or ["(nothing to say)"]`
    con = Console(file=io.StringIO(), width=100)
    console_findings(con, "T", [("h", [])])
    assert con.file.getvalue().splitlines() == ["T", "h", "  (nothing to say)"]
