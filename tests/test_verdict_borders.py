"""The floor rule of all three lessons (eval/verdicts.py's doc): a world moves only when its
interval lies wholly at or beyond the floor, does not move when it lies wholly inside it, and reads
"at the floor" (an interval narrower than the floor) or "not enough seeds" (as wide or wider) when
it straddles it, whatever side the mean falls on. The quickstart's
one_model moved honey -4.9 [-5.5, -4.3] log points against a floor of 5 and read "no move" or
"emergent" on the mean alone. Also the words: each lesson states its floor once, a move with
nothing at the seam is printed once, and phenomena absent in every world share one line."""

from __future__ import annotations

import numpy as np
import pandas as pd

from glade.eval.recipe import STANDIN, Lever
from glade.eval.report.sections import _verdict_html
from glade.eval.stats import Interval
from glade.eval.thresholds import Thresholds
from glade.eval.verdict_text import findings, robustness_lines, seam_lines, verdict_sections
from glade.eval.verdicts import _seam_verdict, lever_audit, seam_split

WOBBLE = np.array([0.006, -0.006, 0.0, 0.002, -0.002, 0.0, 0.004, -0.004])  # mean 0: an interval about +-0.004


def around(mean: float) -> list[float]:
    """8 seeds about `mean`, their 95% interval about `mean` +- 0.004."""
    return list(mean + WOBBLE)


def seam_table(traded: list[float], seam: list[float] | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "scenario": "sc",
            "legend_good": "honey",
            "legend_turn": 4,
            "council": "live",
            "cast": 0,
            "seed": range(len(traded)),
            "traded_move": traded,
            "seam_move": seam if seam is not None else [0.0] * len(traded),
        }
    )


def seam_verdict(traded: list[float], seam: list[float] | None = None) -> str:
    [entry] = seam_split(seam_table(traded, seam), Thresholds())
    return entry["verdict"]


# --- lesson 2: the seam -------------------------------------------------------------------------


def test_a_traded_move_whose_narrow_interval_straddles_the_floor_is_at_the_floor():
    # the quickstart's one_model: -4.9 [-5.3, -4.5] against 5 log points read "no move", -5.1 "emergent"
    [entry] = seam_split(seam_table(around(-0.049)), Thresholds())
    low, high = entry["traded"]["ci"]
    assert low < -0.05 < high
    assert entry["verdict"] == "at the floor"
    assert seam_verdict(around(-0.051)) == "at the floor"
    # wholly beyond the floor, or wholly inside it, the verdicts stand
    assert seam_verdict(around(-0.07)) == "emergent"
    assert seam_verdict(around(-0.03)) == "no move"


def test_a_straddling_part_is_named_and_a_wide_one_says_more_seeds_would_narrow_it():
    # the quickstart's one_model in gambit_rumour: traded -5.3 [-5.9, -4.7] against the 5-log-point floor
    [line] = seam_lines(seam_split(seam_table(around(-0.049)), Thresholds()))
    assert "live: at the floor (" in line
    assert (
        "nothing at the seam: the traded part's interval straddles the floor (5 log points) and is narrower than it; n 8)"
        in line
    )
    wide = list(-0.05 + 10 * WOBBLE)  # an interval about +-0.04, wider than the floor
    [line] = seam_lines(seam_split(seam_table([0.0] * 8, wide), Thresholds()))
    assert "live: not enough seeds (" in line
    assert ": the seam's interval straddles the floor (5 log points): more seeds would narrow it; n 8)" in line
    # a verdict that stands says nothing of the kind
    [line] = seam_lines(seam_split(seam_table(around(-0.07)), Thresholds()))
    assert "straddles" not in line


def test_a_seam_part_whose_narrow_interval_straddles_the_floor_is_at_the_floor():
    quiet = [0.0] * 8
    assert seam_verdict(quiet, around(-0.051)) == "at the floor"  # read "authored" on the mean
    assert seam_verdict(quiet, around(-0.049)) == "at the floor"  # read "no move" on the mean
    assert seam_verdict(quiet, around(-0.07)) == "authored"
    assert seam_verdict(around(-0.3), around(-0.07)) == "mixed"
    assert seam_verdict(quiet, around(-0.03)) == "no move"


def test_the_floor_itself_counts_on_the_intervals_near_end():
    quiet = Interval(0.0, None, None, 8, "same value in all 8 seeds", same=True)
    on = Interval(-0.06, -0.07, -0.05, 8, "", "t+hall+kurtosis-df")
    across = Interval(-0.06, -0.07, -0.0499, 8, "", "t+hall+kurtosis-df")
    assert _seam_verdict(on, quiet, 0.0, 0.05) == "emergent"
    assert _seam_verdict(across, quiet, 0.0, 0.05) == "at the floor"  # read "emergent" on the mean
    # an interval that holds 0 straddles any floor above 0
    assert _seam_verdict(Interval(0.2, -0.1, 0.5, 8), quiet, 0.0, 0.05) == "not enough seeds"


# --- lesson 3: levers ---------------------------------------------------------------------------


def lever_rows(figure: str, base: float, standin: list[float], live: list[float]) -> pd.DataFrame:
    """`figure` at `base` in scenario a and base + effect in b, per world and seed."""
    rows = []
    for council, effects in ((STANDIN, standin), ("live", live)):
        for seed, e in enumerate(effects):
            for scenario, value in (("a", base), ("b", base + e)):
                rows.append({"scenario": scenario, "council": council, "cast": 0, "seed": seed, figure: value})
    return pd.DataFrame(rows)


def lever(standin: list[float], live: list[float], figure: str = "legend_ratio", base: float = 1.0) -> dict:
    rows = lever_rows(figure, base, standin, live)
    [entry] = lever_audit(rows, (Lever("l", "a", "b", figure=figure),), Thresholds())
    return entry


def lever_verdict(standin: list[float], live: list[float], figure: str = "legend_ratio", base: float = 1.0) -> str:
    [council] = lever(standin, live, figure, base)["councils"]
    return council["verdict"]


def test_a_council_whose_narrow_effect_straddles_the_floor_leaves_the_lever_at_the_floor():
    # the quickstart's glut: the stand-in -0.080, one_model -0.049 [-0.055, -0.043] read "stand-in only"
    entry = lever(around(-0.08), around(-0.049))
    low, high = entry["councils"][0]["effect"]["ci"]
    assert low < -0.05 < high
    assert entry["councils"][0]["verdict"] == "at the floor"
    assert lever_verdict(around(-0.08), around(-0.051)) == "at the floor"  # read "holds live"
    # wholly beyond or wholly inside: the old verdicts
    assert lever_verdict(around(-0.08), around(-0.07)) == "holds live"
    assert lever_verdict(around(-0.08), around(0.07)) == "stand-in only"
    assert lever_verdict(around(-0.08), around(-0.03)) == "stand-in only"
    assert lever_verdict(around(-0.03), around(-0.08)) == "live only"
    assert lever_verdict(around(-0.03), around(0.01)) == "neither"


def test_a_stand_in_whose_narrow_effect_straddles_the_floor_leaves_the_lever_at_the_floor():
    assert lever_verdict(around(0.051), around(0.0)) == "at the floor"  # read "stand-in only"
    assert lever_verdict(around(0.049), around(0.08)) == "at the floor"  # read "live only"


def test_a_figure_in_units_is_held_to_its_scaled_floor():
    # a gambit P&L of 100 pebbles: the floor is 0.05 x 100 = 5 pebbles, an interval across 5 decides nothing
    pebbles = [100 * x for x in WOBBLE]  # +-0.4 pebbles about the mean
    entry = lever([5.1 + x for x in pebbles], [0.0] * 8, "gambit_pnl", 100.0)
    assert entry["standin"]["ci"][0] < 5.0 < entry["standin"]["ci"][1]
    assert entry["councils"][0]["verdict"] == "at the floor"  # read "stand-in only"; +-0.4 is narrower than 5
    assert entry["floor"] == 5.0  # kept beside the verdicts, for the words
    assert lever_verdict([8.0 + x for x in pebbles], [0.0] * 8, "gambit_pnl", 100.0) == "stand-in only"
    assert lever_verdict([2.0 + x for x in pebbles], [0.0] * 8, "gambit_pnl", 100.0) == "neither"


# --- the words ----------------------------------------------------------------------------------


def test_each_lesson_states_its_floor_once():
    seam = seam_split(seam_table(around(-0.049)), Thresholds())
    levers = [
        lever(around(-0.08), around(-0.049)),
        lever([5.1 + 100 * x for x in WOBBLE], [0.0] * 8, "gambit_pnl", 100.0),
    ]
    sections = dict(findings({"seam": seam, "levers": levers}))
    [seam_lines_] = [v for k, v in sections.items() if k.startswith("2.")]
    [lever_lines_] = [v for k, v in sections.items() if k.startswith("3.")]
    assert seam_lines_[0].startswith(
        "Verdicts, the floor being 5 log points (move_floor 0.05) for each part of the move (traded, at the seam) — "
    )
    assert sum("log points (move_floor" in line for line in seam_lines_) == 1
    assert lever_lines_[0].startswith("Verdicts, the floor being 0.05 (lever_min_effect; ")
    assert sum("lever_min_effect" in line for line in lever_lines_) == 1
    # a figure in units names its own scaled floor on its line
    assert "(a -> b, effect on gambit_pnl, a world moves beyond 5): " in lever_lines_[2]
    assert "effect on legend_ratio): " in lever_lines_[1]
    # the report reads the same lines: the floor line bolds no verdict word, the straddle's verdict is bold
    assert "verdict" not in _verdict_html(seam_lines_[0])
    assert 'live: <span class="verdict">at the floor</span> (' in _verdict_html(seam_lines_[1])


def test_a_move_with_nothing_at_the_seam_is_printed_once():
    [line] = seam_lines(seam_split(seam_table(around(-0.07)), Thresholds()))
    assert "live: emergent (traded -7.0 [" in line and ", nothing at the seam; n 8)" in line
    assert line.count("-7.0 [") == 1 and " = traded " not in line
    # a seam that wrote something keeps the whole move and its two parts
    [line] = seam_lines(seam_split(seam_table(around(-0.3), around(-0.07)), Thresholds()))
    assert " = traded -30.0 [" in line and " + at the seam -7.0 [" in line


def _rate(scenario: str, phenomenon: str, world: str, verdict: str, n: int = 8, k: int = 0) -> dict:
    return {
        "scenario": scenario,
        "phenomenon": phenomenon,
        "good": "honey",
        "world": world,
        "casts": [{"cast": 0, "note": f"{k} of {n} seeds"}],
        "rate": {"mean": k / n, "ci": [0.0, 0.37] if not k else [0.63, 1.0], "n": n, "note": f"{k} of {n} seeds"},
        "verdict": verdict,
        "floor": 0.5,
    }


def test_phenomena_absent_in_every_world_share_one_line_with_their_n():
    entries = []
    for scenario in ("gambit_rumour", "gambit_shock", "gambit_override"):
        for phenomenon in ("crash", "bubble"):
            for world in (STANDIN, "one_model"):
                robust = scenario == "gambit_override" and phenomenon == "crash"
                entries.append(_rate(scenario, phenomenon, world, *(("robust", 8, 8) if robust else ("absent",))))
    lines = robustness_lines(entries)
    assert lines == [
        "crash of honey in gambit_override: robust in every world (all stand-in 8 of 8 seeds, one_model 8 of 8 seeds)",
        "crash of honey in gambit_rumour, gambit_shock; bubble of honey in gambit_rumour, gambit_shock, "
        "gambit_override: absent in every world (0 of 8 seeds in each)",
    ]
    assert '<span class="verdict">absent</span> in every world' in _verdict_html(lines[1])
    # a council that lost seeds says so; the floor heads the section
    lost = [e if e["world"] == STANDIN else {**e, "rate": {**e["rate"], "n": 7}} for e in entries]
    assert robustness_lines(lost)[-1].endswith(
        "absent in every world (0 seeds in each; all stand-in n 8 seeds, one_model n 7 of 8 seeds)"
    )
    [(_, _, with_floor), *_] = verdict_sections({"robustness": entries})
    assert (
        with_floor[0].startswith("Verdicts, the floor being a rate of 0.50 (robust_floor) — ") and len(with_floor) == 3
    )
