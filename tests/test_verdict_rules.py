"""The verdict rules of eval/verdicts.py on small hand-made tables, each expected verdict worked
out by hand from the module's doc: robust needs the phenomenon in every cast and enough seeds in
every cast; the boundaries (p = CAST_ALPHA, an authored share of exactly one half, a rate
interval whose top is exactly the floor) fall where the doc puts them; a lever "holds live"
only when both worlds move the same way, and an effect below `lever_min_effect` is no move
even when its interval excludes 0. Also: glade calibrate's hold-out leaves a seed to fit on
and its "generalised" needs MIN_GAIN; flags.json lists its flags best score first."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_eval_metrics import decision, order  # tests/ is on sys.path under pytest

from glade.eval.calibrate import split
from glade.eval.calibrate_words import fit_verdict
from glade.eval.flags import flag, write_flags
from glade.eval.recipe import STANDIN, Lever
from glade.eval.stats import Interval, interval
from glade.eval.thresholds import Thresholds
from glade.eval.verdicts import (
    CAST_ALPHA,
    SEAM_UNDECIDED,
    _robust_verdict,
    _seam_verdict,
    lever_audit,
    robustness,
    seam_split,
)

FLOOR = 0.5  # robust_floor's default, written here so a changed default shows


def ones(n: int) -> np.ndarray:
    return np.ones(n)


def rate(mean: float, low: float, high: float, n: int) -> Interval:
    """A pooled rate interval made by hand (the verdict reads only its ends and n)."""
    return Interval(mean, low, high, n, f"{round(mean * n)} of {n} seeds", "clopper-pearson")


# --- lesson 1: robustness ---------------------------------------------------------------------


def test_robust_needs_the_phenomenon_in_every_cast():
    # cast 1 never shows it; the pooled interval alone would clear the floor
    by_cast = [ones(4), np.zeros(4)]
    assert _robust_verdict(by_cast, rate(0.7, 0.6, 0.9, 8), None, FLOOR) == "not enough seeds"
    # with it in both casts the same interval is robust
    assert _robust_verdict([ones(4), np.array([1.0, 0, 0, 0])], rate(0.7, 0.6, 0.9, 8), None, FLOOR) == "robust"


def test_cast_dependent_below_alpha_only():
    by_cast = [ones(4), ones(4)]
    pooled = rate(1.0, 0.63, 1.0, 8)
    assert CAST_ALPHA == 0.05
    assert _robust_verdict(by_cast, pooled, 0.05, FLOOR) == "robust"  # p = alpha is not below it
    assert _robust_verdict(by_cast, pooled, 0.0499, FLOOR) == "cast-dependent"


def test_sporadic_only_when_the_interval_lies_strictly_below_the_floor():
    by_cast = [np.array([1.0, 0, 0, 0]), np.zeros(4)]
    assert _robust_verdict(by_cast, rate(0.125, 0.0, 0.5, 8), None, FLOOR) == "not enough seeds"  # touches it
    assert _robust_verdict(by_cast, rate(0.125, 0.0, 0.4999, 8), None, FLOOR) == "sporadic"


def robust_table(by_cast: dict[int, list[float]]) -> pd.DataFrame:
    rows = []
    for cast, values in by_cast.items():
        for seed, v in enumerate(values):
            rows.append(
                {
                    "scenario": "sc",
                    "legend_good": "honey",
                    "council": "live",
                    "cast": cast,
                    "seed": seed,
                    "crash": v,
                    "bubble": np.nan,  # no bubble entry at all
                }
            )
    return pd.DataFrame(rows)


def test_a_cast_with_too_few_seeds_is_not_enough_however_many_the_others_have():
    # crash in every world of 6 seeds: 6 of 6 seeds has the Clopper-Pearson low end
    # 0.025^(1/6) = 0.54 > 0.5, robust had cast 1 played 4 seeds or more; it played 3
    assert 0.025 ** (1 / 6) > FLOOR
    [entry] = robustness(robust_table({0: [1] * 6, 1: [1, 1, 1]}))
    assert (entry["phenomenon"], entry["world"], entry["verdict"]) == ("crash", "live", "not enough seeds")
    assert [c["n"] for c in entry["casts"]] == [6, 3]
    [entry] = robustness(robust_table({0: [1] * 6, 1: [1] * 6}))
    assert entry["verdict"] == "robust" and entry["rate"]["ci"][0] == pytest.approx(0.025 ** (1 / 6))
    # 4 seeds in 2 casts: 8 worlds would clear the floor (0.025^(1/8) = 0.63), 4 seeds do not (0.40)
    [entry] = robustness(robust_table({0: [1] * 4, 1: [1] * 4}))
    assert entry["verdict"] == "not enough seeds" and entry["rate"]["ci"][0] == pytest.approx(0.025 ** (1 / 4))


# --- lesson 2: the seam -----------------------------------------------------------------------


def seam_table(traded: list[float], seam: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "scenario": "sc",
            "legend_good": "honey",
            "legend_turn": 3,
            "council": "live",
            "cast": 0,
            "seed": range(len(traded)),
            "traded_move": traded,
            "seam_move": seam,
        }
    )


def test_a_seam_share_of_exactly_one_half_decides_nothing_without_the_per_seed_interval():
    # dyadic values: both means are exactly 0.3125, so the share is exactly 0.5
    [entry] = seam_split(seam_table([0.125, 0.25, 0.375, 0.5], [0.25, 0.3125, 0.375, 0.3125]))
    assert entry["authored_share"] == 0.5
    # the share of the means decides nothing: per seed |seam| - |traded| is 0.125, 0.0625, 0, -0.1875
    assert entry["verdict"] == SEAM_UNDECIDED
    # a seam a little smaller than the trading is mixed
    [entry] = seam_split(seam_table([0.125, 0.25, 0.375, 0.5], [0.25, 0.3125, 0.375, 0.25]))
    assert entry["authored_share"] == pytest.approx(0.296875 / 0.609375)
    assert entry["verdict"] == SEAM_UNDECIDED


def test_the_seam_needs_enough_seeds_of_trading():
    # seam_split gives both figures the same rows, so only a direct call can tell which n is read
    traded, seam = interval([0.01, 0.02, 0.03]), interval([0.2, 0.21, 0.22, 0.23])
    assert (traded.n, seam.n) == (3, 4) and seam.excludes_zero()
    assert _seam_verdict(traded, seam, 0.9, 0.05) == "not enough seeds"


# --- lesson 3: levers ---------------------------------------------------------------------------


def lever_table(standin_effect: list[float], live_effect: list[float]) -> pd.DataFrame:
    """legend_ratio 1.0 in scenario `a`, 1.0 + effect in scenario `b`, per seed."""
    rows = []
    for council, effects in ((STANDIN, standin_effect), ("live", live_effect)):
        for seed, e in enumerate(effects):
            for scenario, value in (("a", 1.0), ("b", 1.0 + e)):
                rows.append({"scenario": scenario, "council": council, "cast": 0, "seed": seed, "legend_ratio": value})
    return pd.DataFrame(rows)


LEVER = (Lever("l", "a", "b"),)
BIG = [0.10, 0.12, 0.14, 0.11, 0.13, 0.12]  # mean 0.12 >= lever_min_effect 0.05
SMALL = [0.010, 0.012, 0.014, 0.011, 0.013, 0.012]  # mean 0.012 < 0.05, but every seed > 0


def verdict_of(standin_effect, live_effect) -> tuple[str, dict]:
    [entry] = lever_audit(lever_table(standin_effect, live_effect), LEVER, Thresholds())
    [council] = entry["councils"]
    return council["verdict"], entry


def test_a_lever_moving_the_worlds_opposite_ways_does_not_hold_live():
    verdict, entry = verdict_of(BIG, [-e for e in BIG])
    assert entry["standin"]["mean"] == pytest.approx(0.12)
    assert verdict == "stand-in only"
    assert verdict_of(BIG, BIG)[0] == "holds live"


def test_an_effect_below_min_effect_is_no_move_even_when_it_excludes_zero():
    verdict, entry = verdict_of(SMALL, SMALL)
    assert entry["standin"]["ci"][0] > 0 and entry["councils"][0]["effect"]["ci"][0] > 0
    assert entry["standin"]["mean"] == pytest.approx(0.012)
    assert verdict == "neither"
    assert verdict_of(SMALL, BIG)[0] == "live only"
    assert verdict_of(BIG, SMALL)[0] == "stand-in only"


# --- glade calibrate: the hold-out and the fit verdict ----------------------------------------


def test_holding_out_keeps_at_least_one_seed_to_fit_on():
    rows = pd.DataFrame({"seed": [0, 0, 1, 1], "scenario": ["a"] * 4})
    part = split(rows, seed=0, share=0.9)  # round(0.9 x 2) = 2 seeds, capped at 2 - 1
    assert len(part.heldout_seeds) == 1 and part.fit.sum() == 2
    rows = pd.DataFrame({"seed": [0, 1, 2, 3, 4], "scenario": ["a"] * 5})
    assert len(split(rows, seed=1, share=0.95).heldout_seeds) == 4


def test_a_gain_over_base_rates_below_min_gain_is_not_generalised():
    # a gain of about +0.02 in every one of 12 held-out episodes: its interval excludes 0, but
    # MIN_GAIN is 0.05
    rng = np.random.default_rng(0)
    base = 0.6 + rng.normal(0, 0.02, 12)
    original = base + 0.01
    gains = {"small": 0.02 + rng.normal(0, 0.002, 12), "enough": 0.08 + rng.normal(0, 0.002, 12)}
    verdicts = {}
    for case, gain in gains.items():
        calibrated = base + gain
        parts = (calibrated, original, base, calibrated - original, gain)
        ivs = [interval(v, unit="episodes") for v in parts]
        assert ivs[4].low > 0
        verdicts[case] = fit_verdict(*ivs).generalised
    assert verdicts == {"small": False, "enough": True}


# --- flags.json: best first ------------------------------------------------------------------------


def test_flags_json_lists_the_flags_best_score_first(tmp_path):
    """Oona buys honey against the stand-in on both turns of all 8 episodes (score 1), Thorn on
    15 of 16 turns (score 15/16): Oona's flag comes first, whatever order the cells came in."""
    rows = []
    for creature, buys in (("thorn", [2, 2, 1, 2, 2, 2, 2, 2]), ("oona", [2] * 8)):
        for e, n in enumerate(buys):
            for t in range(2):
                live = [order("buy", "honey", 2, 10.0)] if t < n else []
                rows.append(decision(f"sc.c.c0.s{e}", e, t, "seam", live, [], creature=creature))
    json_path, _ = write_flags(flag(pd.DataFrame(rows), None, Thresholds(resamples=300), seed=0), tmp_path)
    flags = json.loads(json_path.read_text())["flags"]
    assert [(f["rank"], f["creature"], f["metric"]) for f in flags] == [
        (1, "oona", "honey: buy share"),
        (2, "thorn", "honey: buy share"),
    ]
    assert [f["score"] for f in flags] == pytest.approx([1.0, 15 / 16])


def test_no_cell_testable_is_said_by_the_differing_pairs_not_by_n():
    from glade.eval.fdr import untestable

    method = {"testable": 0, "fdr_q": 0.1}
    # six worlds, a crash in three of them only: n is 6 but the smallest p is 2 / 2^3
    why = untestable(method, [{"n": 6, "p_min": 0.25, "effect": 0.5}])
    assert why is not None and "is at least 0.25 in every cell" in why
    assert untestable(method, [{"n": 6, "p_min": 1.0, "effect": 0.0}]) is None  # nothing differs: a true all-clear
    assert untestable({**method, "testable": 3}, [{"n": 6, "p_min": 0.25, "effect": 0.5}]) is None


def test_a_rate_levers_intervals_stay_within_what_a_rate_difference_can_be():
    """A crash lever: the effect (to minus from) of a 0/1 figure lies in [-1, 1], the
    difference in differences in [-2, 2]; the t interval of [1, 1, 1, 0] alone reaches -1.5 and +2.9."""
    rows = []
    for council, effects in ((STANDIN, [1, 1, 1, 0]), ("live", [-1, -1, -1, 0])):
        for seed, e in enumerate(effects):
            for scenario, value in (("a", 0.0 if e >= 0 else 1.0), ("b", 1.0 if e > 0 else 0.0)):
                rows.append({"scenario": scenario, "council": council, "cast": 0, "seed": seed, "crash": value})
    [entry] = lever_audit(pd.DataFrame(rows), (Lever("l", "a", "b", figure="crash"),), Thresholds())
    [council] = entry["councils"]
    assert entry["standin"]["mean"] == 0.75 and entry["standin"]["ci"][1] <= 1.0
    assert entry["standin"]["ci"][0] >= -1.0
    assert council["effect"]["ci"][0] >= -1.0 and council["effect"]["ci"][1] <= 1.0
    assert council["did"]["mean"] == -1.5 and council["did"]["ci"][0] >= -2.0 and council["did"]["ci"][1] <= 2.0
