"""Tests written by a second mutation audit of the report (glade.eval.report and the words it
shows: verdict_text, flags_text): the bugs it found (a share rounding to 0%, a heatmap cell of
.00 for 0.998, the seam note's raw width, negative zeros) and the one-line changes that
survived the earlier tests. The comment on each names what it guards."""

from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes
from test_pinned_report_sections import _page, _results

from glade.eval.flags_text import examples_md, reaches_zero
from glade.eval.report.calibration import lines as calibration_lines
from glade.eval.report.data import Results
from glade.eval.report.leaderboard import board_table, share_text
from glade.eval.report.plots import Chart, agreement_figure, cell_label
from glade.eval.report.render import (
    SECTIONS,
    header_items,
    remove_old_figures,
    results_sections,
    table_rows,
    unique_names,
)
from glade.eval.report.seats import _interval_text, fault_sections
from glade.eval.report.sections import _seat_text, family_sections, lesson_sections
from glade.eval.report.top_flags import flag_rows, flag_sections
from glade.eval.verdict_text import (
    attribution_none,
    lever_lines,
    move_text,
    rate_text,
    robustness_lines,
    seam_note,
    value_text,
)

# --------------------------------------------------------------------------- bugs


def test_a_share_that_rounds_to_0_or_100_percent_reads_under_1_or_over_99():
    # B1: 20 of 4000 resamples (0.005) rounded half to even to "0%": "not compared in 0% of resamples"
    assert [share_text(s) for s in (0.005, 0.995, 0.0, 1.0, 0.25)] == ["<1%", ">99%", "0%", "100%", "25%"]


def _board_row(**over) -> dict:
    row = {"rank": 1, "entry": "m", "names": ["a"], "strength": 0.5, "ci": [0.1, 0.9], "rank_ci": [1, 2],
           "wins": 3, "comparisons": 4, "resamples_without": 0.005}  # fmt: skip
    return row | over


def _board(rows: list[dict], note: str | None = None) -> dict:
    return {"level": 0.95, "outcome": "seat", "board": rows} | ({"note": note} if note else {})


def test_the_board_says_a_half_percent_of_resamples_without_it_and_no_negative_strength_of_nothing():
    # B1 on the board, and B4's negative zero: a strength of -1e-17 read "-0.00"
    _, [row] = board_table(_board([_board_row(strength=-1e-17, ci=[-1e-17, 0.9])]))
    assert row[3:5] == ["+0.00", "[+0.00, +0.90]"]
    assert row[6] == "3 / 4; not compared in <1% of resamples"


def test_an_agreement_cell_of_0998_reads_1_not_00():
    # B2: f"{v:.2f}"[1:] made any v that rounds to 1.00 read ".00"; 1.0 reads "1", the rest lose their leading 0
    assert [cell_label(v) for v in (0.998, 0.996, 1.0, 0.994, 0.45, 0.0)] == ["1", "1", "1", ".99", ".45", ".00"]


def test_the_heatmap_writes_the_cells_label_on_it(tmp_path, monkeypatch):
    # B2 through agreement_figure: 499 of 500 decisions agree, a mean of 0.998, labelled "1"
    seen = []
    text = Axes.text
    monkeypatch.setattr(Axes, "text", lambda self, x, y, s, *a, **k: seen.append(s) or text(self, x, y, s, *a, **k))
    d = pd.DataFrame({"council": "c", "scenario": "s", "creature": "hazel", "turn": 0, "seed": range(500), "cast": 0,
                      "agreement": [1.0] * 499 + [0.0]})  # fmt: skip
    ep = pd.DataFrame({"scenario": ["s"], "council": ["c"], "legend_turn": [None]})
    r = Results(folder=tmp_path, episodes=ep, decisions=d, scenarios=["s"], councils=["c"])
    agreement_figure(r, "c", {})
    assert seen == ["1"]


def test_the_seam_note_reads_the_width_as_the_verdict_does():
    # B3: a width of 0.049999999999999996 at the floor 0.05 is no narrower (narrower(): dust aside), as the verdict says
    entry = {"verdict": "not enough seeds", "floor": 0.05, "seam": {"mean": 0.04, "ci": [0.01, 0.06], "n": 8},
             "traded": {"mean": 0.0, "ci": [-0.01, 0.01], "n": 8}}  # fmt: skip
    assert seam_note(entry) == ": the seam's interval straddles the floor (5 log points): more seeds would narrow it"


def test_a_value_of_minus_nothing_reads_plus_zero():
    # B4: value_text said "-0.000 (same value in all 8)" for a mean of -1e-17
    assert value_text({"mean": -1e-17, "note": "same value in all 8"}) == "+0.000 (same value in all 8)"
    assert value_text({"mean": -1e-17, "ci": [-1e-17, 0.2]}, ".2f") == "0.00 [0.00, 0.20]"


def test_a_move_of_minus_nothing_reads_plus_zero():
    # B4: move_text said "-0.0 [-0.0, -0.0] (-0.0%)" for a log move of -1e-6
    assert move_text({"mean": -1e-6, "ci": [-1e-5, -1e-7]}) == "+0.0 [+0.0, +0.0] (+0.0%)"


def test_a_seats_rate_of_minus_nothing_reads_zero():
    # B4: the seats table's _interval_text formatted -1e-17 as "-0.000"
    assert _interval_text({"mean": -1e-17, "ci": [-1e-17, 0.01]}, ".3f") == "0.000 [0.000, 0.010]"
    assert _interval_text({"mean": -1e-17, "note": "n 2"}, ".3f") == "0.000 (n 2)"


# --------------------------------------------------------------------------- top flags


FLAG = {"kind": "outcome", "scenario": "s", "council": "c", "metric": "gambit_pnl", "standin_value": 1.5,
        "live_value": 4.25, "effect": 2.75, "ci_low": 1.0, "ci_high": 4.0, "support": 0.875, "n": 8, "q": 0.01234,
        "score": 2.4}  # fmt: skip
EXAMPLE = {"episode_id": "E1", "turn": 1, "creature": "hazel", "prompt": "P" * 5000, "response": "buy lots",
           "action": '{"orders": []}', "standin_action": '{"orders": [1]}', "outcome": "crash 1 vs 0"}  # fmt: skip


def test_a_flag_row_shows_each_value_in_its_column_and_format():
    # S1-S3: stand-in and live not swapped, n not support, support .0% and q .2g
    header, rows, _ = flag_rows([FLAG])
    row = dict(zip(header, rows[0]))
    assert {k: row[k] for k in ("stand-in", "live", "support", "n", "q", "score")} == {
        "stand-in": "1.5", "live": "4.25", "support": "88%", "n": "8", "q": "0.012", "score": "2.4"}  # fmt: skip


def test_the_flags_caption_counts_every_flag_and_an_example_shows_its_blocks_in_order(tmp_path):
    # S4-S5c: the caption counts all 25 (not the 20 shown), the summary ends with the outcome, the blocks come
    # prompt, response, action played, stand-in action, and a prompt is cut at 4000 characters
    flags = [FLAG | {"score": i, "examples": [EXAMPLE]} for i in range(25)]
    [section] = flag_sections(_page(_results(tmp_path, flags=flags)))
    assert section.markdown[0].startswith("25 flag(s) in flags.json, ranked by score;")
    html = section.html[-1]
    start = html.index("<details>")
    first = html[start : html.index("</details>", start)]
    assert first.startswith(
        "<details><summary>episode E1, turn 1 (the prompt&#x27;s Turn 2), hazel; crash 1 vs 0</summary><b>prompt</b>"
    )
    blocks = [first.index(f"<b>{b}") for b in ("prompt", "response", "action played", "stand-in action")]
    assert blocks == sorted(blocks) and first.count("P") == 4000


# --------------------------------------------------------------------------- sections


def test_a_lever_row_shows_its_difference_in_differences_and_its_note(tmp_path):
    # S6-S7: the DiD column (here unlike the effect) and lever_note in the verdict cell
    lever = {"lever": "l", "from": "a", "to": "b", "figure": "crash", "floor": 0.1, "min_effect": 0.1,
             "standin": {"mean": 0.3, "ci": [0.2, 0.4], "n": 6},
             "councils": [{"council": "c", "effect": {"mean": 0.1, "ci": [0.06, 0.14], "n": 6},
                           "did": {"mean": -0.2, "ci": [-0.3, -0.1], "n": 6}, "verdict": "at the floor"}]}  # fmt: skip
    table = pd.DataFrame({"scenario": ["s"], "world": ["standin"], "seeds": [6]})
    [section] = lesson_sections(_page(_results(tmp_path), {"levers": [lever]}, table))
    assert [line for line in section.markdown if line.startswith("| ")][2] == (
        "| l | a -> b | crash | c | +0.100 [+0.060, +0.140] | -0.200 [-0.300, -0.100] | n 6 seeds | at the floor: "
        "its interval [+0.060, +0.140] straddles the floor 0.1 (narrower than it); the stand-in's effect is larger "
        "than the council's (difference in differences excludes 0) |"
    )
    assert "(difference in differences -0.200 [-0.300, -0.100]; n 6 seeds)" in lever_lines([lever])[0]


def test_a_familys_example_keeps_its_fences_and_shows_the_action_played(tmp_path):
    # S8: ``` inside a prompt becomes ''' (the fence stays closed), and the "Action played:" block is there
    ex = {"episode_id": "E1", "turn": 1, "creature": "hazel", "prompt": "say ```json``` here", "response": "I buy",
          "action": '{"orders": []}', "standin_action": "{}"}  # fmt: skip
    family = {"family": 1, "title": "t", "text": "t: words", "members": [1], "n": 8, "n_max": 8, "q": 0.01,
              "examples": [ex]}  # fmt: skip
    [section] = family_sections(_page(_results(tmp_path, families=[family])))
    assert section.markdown[7:22] == ["", "Prompt:", "", "```", "say '''json''' here", "```", "", "Live answer:", "",
                                      "```", "I buy", "```", "", "Action played:", ""]  # fmt: skip
    assert "action played" in section.html[-1] and section.html[-1].count("<b>") == 4


def test_a_seats_share_names_its_casts_effect():
    # S8: _seat_text's "of its cast's effect"
    seat = {"creature": "hazel", "policy": "p", "cast": 0, "contribution": {"mean": 0.2, "ci": [0.1, 0.3]},
            "share": 0.5, "share_ci": [0.2, 0.8], "cast_effect": 0.4}  # fmt: skip
    assert _seat_text(seat) == (
        "hazel: p (cast 0): contribution +0.200 [+0.100, +0.300], share 50% [20%, 80%] of its cast's effect +0.400"
    )


# --------------------------------------------------------------------------- render


def _table() -> pd.DataFrame:
    row = {"scenario": "s", "world": "standin", "legend_good": "honey", "legend_turn": 4.0, "seeds": 8, "episodes": 8,
           "legend_ratio": 0.5, "legend_ratio_low": 0.4, "legend_ratio_high": 0.6, "legend_ratio_note": "",
           "gambit_pnl": 12.0, "gambit_pnl_low": 10.0, "gambit_pnl_high": 14.0, "gambit_pnl_note": ""}  # fmt: skip
    return pd.DataFrame([row, row | {"world": "c", "seeds": 7, "episodes": 14, "gambit_pnl": -3.0}])


def test_the_results_table_shows_the_legend_turn_from_0_and_marks_the_stand_in_row(tmp_path):
    # S9-S10: "honey @ 4" (0-based, as the caption says) and the all-stand-in row's class
    _, rows = table_rows(_table(), {"s": "s (rumour)"})
    assert [row[:3] for row in rows] == [["s (rumour)", "all stand-in", "honey @ 4"], ["s (rumour)", "c", "honey @ 4"]]
    [section] = results_sections(_page(_results(tmp_path), table=_table()))
    assert section.html[-1].count('<tr class="standin">') == 1


def test_the_run_header_counts_episodes_seeds_casts_and_names_the_flags_commit():
    # S9: header_items' episodes, seeds, councils' casts and the flags' provenance
    ep = pd.DataFrame({"episode_id": ["a", "b", "c", "d"], "scenario": "s", "council": ["standin", "solo", "duo", "duo"],
                       "cast": [0, 0, 1, 0], "seed": [3, 1, 3, 1]})  # fmt: skip
    r = Results(folder="/tmp/x", episodes=ep, decisions=pd.DataFrame(), scenarios=["s"], councils=["solo", "duo"],
                summary={"git_commit": "aaa"}, flags_provenance={"glade_version": "1.0", "git_commit": "bbb"})  # fmt: skip
    items = dict(header_items(r))
    assert items["episodes"] == "4 (1 all-stand-in)" and items["seeds"] == "1, 3 (2)"
    assert items["councils"] == "solo (1 cast); duo (2 casts)"
    assert items["flags"] == "glade 1.0, commit bbb (not the evaluation's)"


def test_old_figures_go_but_a_just_written_one_with_capitals_and_the_users_own_stay(tmp_path):
    # S9: remove_old_figures compares lower-cased names, and leaves a PNG it did not name alone
    for name in ("prices-Gambit.png", "prices-old.png", "mine.png"):
        (tmp_path / name).write_bytes(b"x")
    remove_old_figures(tmp_path, {"prices-gambit.png"})
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["mine.png", "prices-Gambit.png"]


def test_two_figure_names_that_differ_only_in_case_get_their_own_files():
    # S9: unique_names' lower(), on both the seen names and the one asked: a case-insensitive file system holds
    # one of A.png, a.png, whichever comes first
    def names(*given: str) -> list[str]:
        return [c.name for c in unique_names([Chart(name, "", "") for name in given])]

    assert names("prices-A.png", "prices-a.png") == ["prices-A.png", "prices-a-2.png"]
    assert names("prices-a.png", "prices-A.png") == ["prices-a.png", "prices-A-2.png"]


def test_the_report_opens_with_seat_faults_and_lists_the_families_before_the_flags():
    # S9: SECTIONS' order
    assert SECTIONS[0] is fault_sections
    assert SECTIONS.index(family_sections) + 1 == SECTIONS.index(flag_sections)


# --------------------------------------------------------------------------- leaderboard


def test_a_row_without_an_interval_says_why_only_where_the_board_does_not():
    # S11: the board's note says it once for every row; without one, the row's own note
    row = _board_row(ci=None, rank_ci=None, note="too few seeds for an interval: 3, at least 4")
    _, [noted] = board_table(_board([row], note="too few seeds for an interval: 3, at least 4"))
    _, [alone] = board_table(_board([row]))
    assert noted[4] == "—" and alone[4] == "— (too few seeds for an interval: 3, at least 4)"


# --------------------------------------------------------------------------- verdict words


def test_casts_whose_rates_differ_at_exactly_the_cast_alpha_do_not_clearly_differ():
    # S12: p = CAST_ALPHA (0.05) is no cast dependence, as eval/verdicts.py's `hetero < CAST_ALPHA` reads it
    entry = {"rate": {"note": "4 of 8 seeds", "mean": 0.5, "ci": [0.2, 0.8], "n": 8},
             "casts": [{"cast": 0, "note": "3 of 8"}, {"cast": 1, "note": "5 of 8"}], "heterogeneity_p": 0.05}  # fmt: skip
    assert rate_text(entry) == (
        "cast 0: 3 of 8; cast 1: 5 of 8; the casts' rates do not clearly differ (p = 0.05); "
        "pooled: 4 of 8 seeds, rate 0.50 [0.20, 0.80]"
    )
    assert "the casts' rates differ (p = 0.049)" in rate_text(entry | {"heterogeneity_p": 0.049})


def _absent(world: str, n: int) -> dict:
    return {"scenario": "s", "phenomenon": "crash", "good": "honey", "world": world, "verdict": "absent",
            "casts": [{"cast": 0, "note": f"0 of {n}"}], "rate": {"mean": 0.0, "ci": [0.0, 0.3], "n": n,
            "note": f"0 of {n} seeds"}}  # fmt: skip


def test_one_phenomenon_absent_everywhere_keeps_a_line_of_its_own():
    # S12: robustness_lines shares a line only among two or more absent phenomena
    assert robustness_lines([_absent("standin", 8), _absent("c", 8)]) == [
        "crash of honey in s: absent in every world (all stand-in 0 of 8 seeds, c 0 of 8 seeds)"
    ]


def test_no_attribution_names_the_range_of_seeds_and_what_too_few_give():
    # S12: attribution_none's `ns[0] < MIN_N` with some effects at 8 seeds
    assert attribution_none([{"effect": {"n": 3}}, {"effect": {"n": 8}}]) == (
        "no outcome effect of the 2 (figure by scenario and council) clearly away from 0 to share out among the "
        "seats: no effect's interval excludes 0 (n 3-8 seeds; fewer than 4 give none)"
    )


# --------------------------------------------------------------------------- flags text, calibration, plots


def test_an_answer_holding_a_fence_gets_a_longer_one_and_an_interval_ending_at_0_reaches_it():
    # S13: examples_md's max(3, ticks + 1) fence, and reaches_zero's `<=` at a bound of exactly 0
    ex = {
        "episode_id": "E",
        "turn": 0,
        "creature": "h",
        "prompt": "p",
        "response": "a ```b``` c",
        "standin_action": "{}",
    }
    assert examples_md([ex])[6:11] == ["Live answer:", "", "````\na ```b``` c\n````", "", "Stand-in action:"]
    assert reaches_zero({"ci_low": 0.0, "ci_high": 0.3}) and reaches_zero({"ci_low": -0.3, "ci_high": 0.0})
    assert not reaches_zero({"ci_low": 0.1, "ci_high": 0.3})


def test_a_calibration_with_one_held_out_seed_names_it():
    # S14: calibration's lines say "held out seed 3." for a single seed
    c = {"policy": "p", "split": {"heldout_seeds": [3]}, "decisions": 1200, "rebuilt": 1200, "fitted": {"name": "fit"},
         "search": {"evaluations": 10, "generations": 2}, "verdict": "agrees more"}  # fmt: skip
    assert calibration_lines(c)[0] == (
        "Policy p: 1,200 decisions (1,200 rebuild the stored counterfactual exactly); held out seed 3."
    )


def test_the_agreement_caption_gives_the_range_of_decisions_a_cell(tmp_path):
    # S14: agreement_figure's "(n low to high a cell)"
    d = pd.DataFrame({"council": "c", "scenario": "s", "creature": ["hazel"] * 3 + ["moss"], "turn": 0,
                      "seed": [0, 1, 2, 0], "cast": 0, "agreement": [1.0, 0.5, 1.0, 0.0]})  # fmt: skip
    ep = pd.DataFrame({"scenario": ["s"], "council": ["c"], "legend_turn": [None]})
    r = Results(folder=tmp_path, episodes=ep, decisions=d, scenarios=["s"], councils=["c"])
    assert agreement_figure(r, "c", {}).caption == (
        "Council c, one panel per scenario: 3 seeds, 1 cast; each cell the mean of its decisions, one per episode "
        "(n 1 to 3 a cell)."
    )
