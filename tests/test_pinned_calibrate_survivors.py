"""Tests written by a mutation audit of `glade calibrate` (glade.eval.calibrate, calibrate_words,
standin_search, outcome_check and the report's calibration section): each pins what a one-line
change (a constant moved, a rounding changed, a clause dropped) changed unnoticed. The comment on
each names what it guards. Everything is called directly with hand-made inputs, so nothing plays
an eval; the seating of the calibrated world is pinned in test_calibrate.py, on its results."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from test_calibrate import observations
from test_pinned_report_sections import _calibration

import glade.eval.outcome_check as outcome_check
from glade.env import standin
from glade.eval.calibrate import split
from glade.eval.calibrate_words import fit_verdict, worse_errors
from glade.eval.report.calibration import lines, tables
from glade.eval.standin_search import decision_scores
from glade.eval.stats import describe, interval


def seeds_of(n: int) -> pd.DataFrame:
    """Two decisions on each of `n` seeds of one scenario."""
    return pd.DataFrame([{"seed": s, "scenario": "a"} for s in range(n) for _ in range(2)])


def test_a_third_of_8_seeds_holds_out_3_and_a_large_share_leaves_one_to_fit():
    # guards split's `round(share * seeds)` (not int: a third of 8 is 3 held out, not 2) and its
    # `min(seeds - 1, ...)` (--holdout 0.9 on 4 seeds fits on the one left, not on none)
    part = split(seeds_of(8))
    assert len(part.heldout_seeds) == 3 and part.fit.sum() == 10
    part = split(seeds_of(4), share=0.9)
    assert len(part.heldout_seeds) == 3 and part.fit.sum() == 2


def test_a_gain_below_five_points_does_not_generalise_even_with_its_interval_above_0():
    # guards MIN_GAIN's value (0.05): +0.045 over base rates, its interval above 0, is still short of it
    base, gain = np.full(8, 0.6), np.array([0.04, 0.05] * 4)
    calibrated = base + gain
    found = [interval(v, unit="seeds", bounds=(0, 1)) for v in (calibrated, calibrated, base)]
    found += [interval(np.zeros(8), unit="seeds", bounds=(-1, 1)), interval(gain, unit="seeds", bounds=(-1, 1))]
    verdict = fit_verdict(*found)
    assert not verdict.generalised
    assert verdict.text.startswith("the fit did not generalise")
    assert "generalising needs +0.050 or more over base rates" in verdict.text


def test_an_error_improved_alike_on_every_seed_is_not_called_worse():
    # guards worse_errors' `change["mean"] > 0` for a same-value change: only a rise is worse
    level = dict(level=0.95, unit="seeds", bounds=(-math.inf, math.inf))
    assert worse_errors({"qty_error": {"change": describe(np.full(8, -0.5), **level)}}) == ""
    rise = worse_errors({"qty_error": {"change": describe(np.full(8, 0.5), **level)}})
    assert rise == "; its held-out quantity error is worse (+0.50 in all 8)"


def test_a_sell_against_the_stand_ins_buy_is_the_whole_swing():
    # guards decision_scores' `abs(q_live - q_ref)` on signed quantities: selling 2 acorns where the
    # stand-in buys 2 is 4 apart, not 0; the stand-in's honey sale of 27, left undone, is 27
    obs = observations(n_seeds=1, turns=1)[0]
    balanced = standin.DISPOSITIONS["balanced"]
    assert standin.act(obs, balanced)["orders"][:2] == [
        {"side": "buy", "good": "acorns", "qty": 2, "price": 2.12},
        {"side": "sell", "good": "honey", "qty": 27, "price": 9.32},
    ]
    sell = {"orders": [{"side": "sell", "good": "acorns", "qty": 2, "price": 2.12}]}
    scores = decision_scores([obs], [sell], [balanced])
    assert scores["qty_error"][0] == pytest.approx((4 + 27) / 5) and scores["agreement"][0] == 0.6


def test_the_price_path_error_is_the_mean_over_goods(monkeypatch):
    # guards _errors' mean of each good's path distance (not the largest)
    monkeypatch.setattr(outcome_check, "_figures", lambda played, council: played)
    zero = SimpleNamespace(measure=lambda row, thresholds: 0.0)
    monkeypatch.setattr(outcome_check, "FIGURES", dict.fromkeys(outcome_check.CHECKED[:-1], zero))
    council = {"price_path": json.dumps({"honey": [1.0, 1.0], "acorns": [1.0, 1.0]})}
    original = {"price_path": json.dumps({"honey": [2.0, 2.0], "acorns": [1.0, 1.0]})}
    out = outcome_check._errors(council, original, council, {})
    assert out["price_path.error_original"] == pytest.approx(math.log(2) / 2)
    assert out["price_path.error_calibrated"] == 0.0


def test_the_outcome_verdict_names_a_figure_the_original_predicts_better():
    # guards verdict's `closer + worse` in the "(change in error: ...)" list
    change = {"mean": 0.25, "ci": [0.1, 0.4], "n": 8, "note": ""}
    same = {"mean": 0.0, "ci": None, "n": 8, "note": "same value in all 8 seeds"}
    group = {
        "n": 8,
        "worlds": 8,
        "figures": {
            "legend_ratio": {"error_change": change, "verdict": outcome_check.ORIGINAL_CLOSER},
            "crash": {"error_change": same, "verdict": outcome_check.NO_DIFFERENCE_WORD},
        },
    }
    assert outcome_check.verdict(group) == (
        "on 8 held-out worlds (8 seeds) the calibrated stand-in predicts the council better on 0 of 2 figures and "
        "worse on 1 (change in error: legend good at settlement / before +0.250 [+0.100, +0.400])"
    )


def test_the_report_says_how_many_council_worlds_the_outcome_check_left_out():
    # guards lines' `outcome.get("fault_worlds")` sentence (the JSON count alone was pinned)
    said = lines(_calibration() | {"outcome": {"fault_worlds": 2, "verdict": "v"}})
    assert said[-1] == "The outcome check left out 2 council world(s) in which a seat failed to answer."


def test_the_quantity_error_column_has_two_decimals_and_the_shares_three():
    # guards the agreement table's formats: agreement and price error .3f, quantity error (units) .2f
    (_, header, agreement), *_ = tables(_calibration())
    assert header[2:] == ["agreement", "quantity error", "price error"]
    assert agreement[0][2:] == ["0.500 [0.400, 0.600]", "0.50 [0.40, 0.60]", "0.500 [0.400, 0.600]"]
    assert agreement[5][2:] == ["+0.100 [+0.000, +0.200]", "+0.10 [+0.00, +0.20]", "+0.100 [+0.000, +0.200]"]
