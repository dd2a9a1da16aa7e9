""" "At the floor" against "not enough seeds" (eval/verdicts.py `_undecided`): with enough seeds,
an interval that straddles the floor and is narrower than it reads "at the floor" (an effect about
the floor's size, which more seeds alone may not settle); one as wide as the floor or wider reads
"not enough seeds" (more seeds would narrow it). The seam and the levers only: robustness keeps
"not enough seeds" for any straddle. Pinned on the quickstart's intervals."""

from __future__ import annotations

import numpy as np

from glade.eval.floor_rule import AT_FLOOR
from glade.eval.report.sections import VERDICTS, _verdict_html
from glade.eval.stats import MIN_N, Interval
from glade.eval.verdict_text import lever_note, seam_note
from glade.eval.verdicts import (
    LEVER_RULES,
    SEAM_RULES,
    _lever_verdict,
    _robust_verdict,
    _seam_verdict,
)

QUIET = Interval(0.0, None, None, 8, "same value in all 8 seeds", same=True)
FLOOR = 0.05


def iv(low: float, high: float, n: int = 8) -> Interval:
    return Interval((low + high) / 2, low, high, n, "", "t+hall+kurtosis-df")


def test_the_quickstart_seam_splits():
    # gambit_rumour one_model: traded -5.3 [-5.9, -4.7] against 5 log points, nothing at the seam
    assert _seam_verdict(iv(-0.0587, -0.0465), QUIET, QUIET, FLOOR) == AT_FLOOR
    # gambit_shock five_minds: traded -9.3 [-11.4, -2.9], wider than the floor
    assert _seam_verdict(iv(-0.1136, -0.0291), QUIET, QUIET, FLOOR) == "not enough seeds"


def test_the_quickstart_glut_lever():
    standin = iv(-0.0863, -0.0737)  # beyond the floor
    assert _lever_verdict(standin, iv(-0.0546, -0.0430), FLOOR) == AT_FLOOR  # one_model
    assert _lever_verdict(standin, iv(-0.0753, -0.0472), FLOOR) == AT_FLOOR  # five_minds


def test_an_interval_exactly_as_wide_as_the_floor_is_not_enough_seeds():
    assert _seam_verdict(iv(-0.08, -0.03), QUIET, QUIET, FLOOR) == "not enough seeds"
    assert _seam_verdict(iv(-0.0799, -0.03), QUIET, QUIET, FLOOR) == AT_FLOOR
    assert _lever_verdict(iv(-0.1, -0.08), iv(-0.08, -0.03), FLOOR) == "not enough seeds"


def test_the_seams_interval_decides_before_the_traded_parts():
    narrow, wide = iv(0.04, 0.06), iv(0.0, 0.1)
    assert _seam_verdict(wide, narrow, QUIET, FLOOR) == AT_FLOOR  # the seam straddles, narrow
    assert _seam_verdict(narrow, wide, QUIET, FLOOR) == "not enough seeds"  # the seam straddles, wide
    # beside a seam that did not move, the traded part decides
    assert _seam_verdict(narrow, iv(-0.01, 0.01), QUIET, FLOOR) == AT_FLOOR
    assert _seam_verdict(wide, iv(-0.01, 0.01), QUIET, FLOOR) == "not enough seeds"


def test_too_few_seeds_stay_not_enough_seeds():
    few = iv(0.04, 0.06, n=MIN_N - 1)
    assert _seam_verdict(few, QUIET, QUIET, FLOOR) == "not enough seeds"
    assert _lever_verdict(iv(-0.1, -0.08), few, FLOOR) == "not enough seeds"
    assert _lever_verdict(few, iv(0.04, 0.06), FLOOR) == "not enough seeds"


def test_a_lever_is_at_the_floor_only_when_every_straddling_world_is_narrower_than_it():
    narrow, wide = iv(0.04, 0.06), iv(0.0, 0.1)
    assert _lever_verdict(narrow, iv(0.08, 0.1), FLOOR) == AT_FLOOR  # the stand-in at the floor
    assert _lever_verdict(narrow, narrow, FLOOR) == AT_FLOOR
    assert _lever_verdict(narrow, wide, FLOOR) == "not enough seeds"  # the wide one wants more seeds
    assert _lever_verdict(wide, narrow, FLOOR) == "not enough seeds"


def test_a_lever_in_units_is_held_to_its_scaled_floor():
    # a floor of 5 pebbles: an interval 0.8 wide across it is at the floor, one 6 wide is not
    assert _lever_verdict(iv(4.7, 5.5), iv(-0.1, 0.1), 5.0) == AT_FLOOR
    assert _lever_verdict(iv(2.0, 8.0), iv(-0.1, 0.1), 5.0) == "not enough seeds"


def test_robustness_keeps_not_enough_seeds_for_a_narrow_straddle():
    pooled = Interval(0.5, 0.48, 0.52, 8, "", "clopper-pearson")
    assert _robust_verdict([np.ones(8), np.ones(8)], pooled, None, 0.5) == "not enough seeds"


def test_the_rules_define_at_the_floor_and_the_report_bolds_it():
    rule = (
        "an interval across the floor and narrower than it: the effect is about the floor's size, which more seeds "
        "alone may not settle"
    )
    assert SEAM_RULES[AT_FLOOR].startswith(rule) and LEVER_RULES[AT_FLOOR].startswith(rule)
    assert "more seeds would narrow it" in SEAM_RULES["not enough seeds"]
    assert "more seeds would narrow it" in LEVER_RULES["not enough seeds"]
    assert AT_FLOOR in VERDICTS
    assert '<span class="verdict">at the floor</span> (' in _verdict_html("live: at the floor (traded -5.3)")


def test_the_notes_name_the_straddling_part():
    entry = {
        "verdict": AT_FLOOR,
        "floor": FLOOR,
        "traded": {"mean": -0.053, "ci": [-0.059, -0.047], "n": 8, "note": ""},
        "seam": {"mean": 0.0, "n": 8, "note": "same value in all 8 seeds"},
    }
    assert seam_note(entry) == ": the traded part's interval straddles the floor (5 log points) and is narrower than it"
    wide = entry | {"verdict": "not enough seeds", "traded": {"mean": -0.093, "ci": [-0.114, -0.029], "n": 8}}
    assert (
        seam_note(wide) == ": the traded part's interval straddles the floor (5 log points): more seeds would narrow it"
    )
    lever = {"floor": FLOOR, "standin": {"mean": -0.08, "ci": [-0.086, -0.074], "n": 8, "note": ""}}
    council = {"verdict": AT_FLOOR, "effect": {"mean": -0.049, "ci": [-0.055, -0.043], "n": 8, "note": ""}}
    assert lever_note(lever, council) == ": its interval [-0.055, -0.043] straddles the floor 0.05 (narrower than it)"
    # a summary written before "at the floor" keeps "not enough seeds": the words still follow the width
    older = entry | {"verdict": "not enough seeds"}
    assert seam_note(older) == seam_note(entry)
    assert lever_note(lever, council | {"verdict": "not enough seeds"}) == lever_note(lever, council)
