"""Tests written by the second mutation walk of the eval judgement code (see test_pinned_stats.py):
six rules that a plausible one-line change left untested (the Korn-Graubard variance's ddof, the
robust rule's no-interval guard, the robust floor's default, the outcome flags' scaled effect,
heterogeneity's seeds and the lever floor's scale). The comment on each names what it guards."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_eval_metrics import world
from test_pinned_stats import CRASH, FLAT
from test_pinned_verdicts import _lever_rows

from glade.eval.exact import korn_graubard
from glade.eval.fdr import heterogeneity
from glade.eval.flags import flag
from glade.eval.metrics import world_figures
from glade.eval.recipe import STANDIN, Lever
from glade.eval.thresholds import DEFAULTS, Thresholds
from glade.eval.verdicts import lever_audit, robustness


def _crash_entry(casts: list[list[int | None]]) -> dict:
    """robustness()'s crash entry for one council, cast k crashing on seed s where casts[k][s] is 1
    (None: cast k did not play seed s, as seat faults leave it out), default thresholds."""
    rows = [
        world("council", s, CRASH if crashed else FLAT, cast=k)
        for k, crashes in enumerate(casts)
        for s, crashed in enumerate(crashes)
        if crashed is not None
    ]
    [entry] = [e for e in robustness(world_figures(pd.DataFrame(rows))) if e["phenomenon"] == "crash"]
    return entry


# --------------------------------------------------------------------------- E16: Korn-Graubard's ddof


def test_korn_graubard_reads_the_shares_variance_with_ddof_1():
    # guards korn_graubard's `shares.var(ddof=1)`: n* = p (1 - p) / (s^2 / n) with the sample variance
    # (ddof=0 gives a smaller variance, a larger n* and a narrower interval)
    shares = np.array([0.0, 0.5, 1, 1, 1, 1, 1, 1, 1, 1])
    assert korn_graubard(shares, 20, 0.95) == pytest.approx((0.48799, 0.98996), abs=1e-4)
    assert korn_graubard(np.array([1 / 3, 1, 1, 1]), 12, 0.95)[0] == pytest.approx(0.12335, abs=1e-4)


def test_a_pooled_rate_just_below_the_floor_by_korn_graubard_is_not_enough_seeds():
    # guards korn_graubard's ddof=1 through robustness: 2 casts x 10 seeds, shares 0, 0.5, 1 x 8 read
    # [0.4880, 0.9900], below the 0.5 floor (ddof=0 lifts the low end past it: "robust")
    entry = _crash_entry([[0, 1, 1, 1, 1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1, 1, 1, 1, 1]])
    assert entry["rate"]["mean"] == pytest.approx(0.85, abs=1e-4)
    assert entry["rate"]["ci"] == pytest.approx([0.48799, 0.98996], abs=1e-4)
    assert entry["heterogeneity_p"] == 1.0 and entry["verdict"] == "not enough seeds"


# --------------------------------------------------------------------------- V45: no pooled interval


def test_the_same_share_on_every_seed_has_no_interval_to_be_robust():
    # guards _robust_verdict's `if pooled.low is None`: each seed crashes in exactly one of 2 casts, so the
    # pooled share is 0.5 on all 8 seeds with no interval; against_floor reads that same value as "beyond"
    entry = _crash_entry([[1, 1, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1, 1]])
    assert entry["rate"]["mean"] == 0.5 and entry["rate"]["ci"] is None and entry["rate"]["n"] == 8
    assert entry["heterogeneity_p"] == 1.0 and entry["verdict"] == "not enough seeds"


# --------------------------------------------------------------------------- T42: robust_floor's default


def test_the_robust_floor_defaults_to_one_half():
    # guards Thresholds.robust_floor = 0.5 (the README's default): 7 of 8 seeds, [0.4735, 0.9968], is below it
    assert Thresholds().robust_floor == 0.5 and DEFAULTS.robust_floor == 0.5
    seven = _crash_entry([[1, 1, 1, 1, 1, 1, 1, 0]])
    assert seven["rate"]["ci"] == pytest.approx([0.47349, 0.99684], abs=1e-4)
    assert seven["floor"] == 0.5 and seven["verdict"] == "not enough seeds"
    eight = _crash_entry([[1] * 8])
    assert eight["rate"]["ci"] == pytest.approx([0.63058, 1.0], abs=1e-4) and eight["verdict"] == "robust"


# --------------------------------------------------------------------------- G56: scaled outcome effects


def _volume_flag(standin: float) -> tuple[dict, list[dict]]:
    """flag() on an episodes table alone: the council trades 10, 9, 11, 10, 12, 8, 10, 10 units more
    than a stand-in trading `standin` on 8 seeds, every other figure alike. The volume cell and the flags."""
    rows = []
    for s, d in enumerate([10.0, 9.0, 11.0, 10.0, 12.0, 8.0, 10.0, 10.0]):
        rows.append(world("standin", s, FLAT, volume=standin))
        rows.append(world("council", s, FLAT, volume=standin + d))
    flagging = flag(None, pd.DataFrame(rows), Thresholds(resamples=200))
    [cell] = [c for c in flagging.cells if c["metric"] == "volume"]
    return cell, flagging.flags


def test_an_outcome_in_units_is_flagged_on_its_effect_scaled_by_the_stand_ins_magnitude():
    # guards _passes' `abs(cell["scaled_effect"]) >= min_effect`: +10 units on a stand-in's 100 is 0.10, below
    # flag_min_effect 0.15 (no flag, however clear); on a stand-in's 50 it is 0.20 (a flag)
    cell, flags = _volume_flag(100.0)
    assert cell["effect"] == 10.0 and cell["scaled_effect"] == pytest.approx(0.10, abs=1e-4)
    assert cell["support"] == 1.0 and cell["q"] == pytest.approx(2 / 2**8, abs=1e-4)
    assert not cell["flagged"] and flags == []
    cell, flags = _volume_flag(50.0)
    assert cell["effect"] == 10.0 and cell["scaled_effect"] == pytest.approx(0.20, abs=1e-4)
    assert cell["flagged"] and [f["metric"] for f in flags] == ["volume"]


# --------------------------------------------------------------------------- V80: heterogeneity by seed


def test_a_cast_that_lost_the_crashing_seeds_is_not_cast_dependent():
    # guards robustness' `heterogeneity(by_cast, seeds_of, ...)`: the crash follows the seed (seeds 0-5), cast 1
    # lost seeds 0-5; on the 6 seeds both casts played nothing differs (lined up by position, p 0.0325)
    entry = _crash_entry([[1] * 6 + [0] * 6, [None] * 6 + [0] * 6])
    assert entry["heterogeneity_p"] is None and entry["verdict"] == "not enough seeds"
    assert entry["rate"]["mean"] == 0.5 and entry["rate"]["n"] == 12
    c0, c1 = np.array([1.0] * 6 + [0.0] * 6), np.zeros(6)
    assert heterogeneity([c0, c1], [np.arange(12), np.arange(6, 12)]) is None


# --------------------------------------------------------------------------- V48: the lever floor's scale


def test_a_lever_on_a_small_figure_in_units_is_held_to_a_floor_of_at_least_min_effect():
    # guards lever_audit's scale max(|stand-in mean in `from`|, 1.0): a gambit P&L of 0.2 keeps the floor at
    # 0.05 x 1, so moves of about +0.03 in both worlds are "neither" (|mean| alone: floor 0.01, "holds live")
    moves = [0.03 + j for j in (0.0, 0.004, -0.004, 0.002, -0.002, 0.001, -0.001, 0.0)]
    rows = _lever_rows("gambit_pnl", 0.2, {(STANDIN, 0): moves, ("live", 0): moves})
    [entry] = lever_audit(rows, (Lever("l", "a", "b", figure="gambit_pnl"),), Thresholds())
    assert entry["floor"] == pytest.approx(0.05, abs=1e-4)
    assert entry["standin"]["ci"] == pytest.approx([0.02790, 0.03210], abs=1e-4)
    [council] = entry["councils"]
    assert council["effect"]["mean"] == pytest.approx(0.03, abs=1e-4) and council["verdict"] == "neither"
