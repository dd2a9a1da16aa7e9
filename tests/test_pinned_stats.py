"""Tests written by a mutation audit of the statistics core (glade.eval.stats, fdr, metrics,
cells, verdicts, attribution, outcome_check, estimate): each pins a behaviour that a plausible
one-line change (a comparison flipped, an off-by-one, a clause dropped, a constant changed) left
untested. The comment on each names what it guards. This file: intervals, the sign-flip test
and BH, decision and outcome metrics; test_pinned_verdicts.py: attribution, verdicts
and the outcome check."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import optimize
from scipy import stats as scipy_stats
from test_eval_metrics import decision, order, world

from glade.eval.cells import outcome_cells
from glade.eval.decision_metrics import decision_summary, price_differences
from glade.eval.fdr import filtered_bh, heterogeneity, sign_flip, untestable
from glade.eval.metrics import (
    outcome_summary,
    outcome_table,
    pairs_of,
    seed_rate,
    world_figures,
)
from glade.eval.stats import bubble, fieller, interval, resample_intervals, t_hall
from glade.eval.thresholds import Thresholds

# --------------------------------------------------------------------------- stats: intervals


def test_bootstrap_percentiles_cut_half_the_miss_rate_from_each_end():
    # guards resample_intervals' expanded quantiles (Phi(-sqrt(10 / 9) t(9)) = 0.86% and 99.14%), and its NaN share
    calls = iter(range(2000))

    def statistic(_indices):  # the i-th resample gives i (and NaN on every other one)
        i = next(calls)
        return np.array([float(i), math.nan if i % 2 else float(i)])

    low, high, missing = resample_intervals(10, statistic, seed=0)
    # 2,000 draws 0..1999, inverted CDF at 0.855% and 99.145%: the 18th smallest and the 1,983rd
    assert (low[0], high[0]) == (17.0, 1982.0)
    assert (low[1], high[1]) == (16.0, 1982.0)  # the 1,000 even draws: the 9th and the 992nd
    assert list(missing) == [0.0, 0.5]


def test_an_exact_interval_that_reaches_zero_does_not_exclude_it():
    # guards Interval.excludes_zero's strict `low > 0`: 0 of 8 seeds is [0, 0.37], not "clearly nonzero"
    none = interval([0.0] * 8, rate=True)
    assert none.low == 0.0 and not none.excludes_zero()
    clipped = interval([0.0, 0.0, 0.0, 0.3], bounds=(0.0, 1.0))  # a share whose low end was clipped to 0
    assert clipped.low == 0.0 and not clipped.excludes_zero()


def _hall_reference(x: np.ndarray, level: float, df: float) -> tuple[float, float]:
    """Hall's (1992) interval computed independently: the adjusted skewness G1 from scipy, the
    transformation g(T) = T + aT^2 + a^2 T^3 / 3 + c (a = G1 / (3 sqrt n), c = G1 / (6 sqrt n))
    inverted by root finding, and the t interval beside it; the wider of each end."""
    n, mean, sd = x.size, float(x.mean()), float(x.std(ddof=1))
    g1 = float(scipy_stats.skew(x, bias=False))
    a, c = g1 / (3 * math.sqrt(n)), g1 / (6 * math.sqrt(n))
    q = float(scipy_stats.t.ppf((1 + level) / 2, df))

    def inverse(u: float) -> float:
        return optimize.brentq(lambda t: t + a * t**2 + a**2 * t**3 / 3 + c - u, -1e3, 1e3, xtol=1e-14)

    scale = sd / math.sqrt(n)
    return min(mean - q * scale, mean - scale * inverse(q)), max(mean + q * scale, mean - scale * inverse(-q))


def test_hall_interval_matches_an_independent_computation():
    # guards t_hall's adjusted skewness G1 (divisor n - 2) and Hall's constants a = G1/(3 sqrt n), c = G1/(6 sqrt n)
    skewed = np.array([1.0, 1.1, 0.9, 1.0, 1.2, 0.95, 1.05, 6.0])
    assert t_hall(skewed) == pytest.approx(_hall_reference(skewed, 0.95, 7), rel=1e-9)
    left = np.array([5.0, 4.8, 5.1, 0.5, 4.9, 5.2])  # the long tail on the left
    assert t_hall(left, 0.9, df=4.5) == pytest.approx(_hall_reference(left, 0.9, 4.5), rel=1e-9)
    low, high = t_hall(skewed)
    assert (round(low, 4), round(high, 4)) == (0.1785, 5.6836)  # the figures themselves


def test_fieller_reads_t_at_n_minus_1_degrees_of_freedom():
    # guards fieller's critical value t(n - 1): each end r solves (ma - r mb)^2 = t^2/n (saa - 2r sab + r^2 sbb)
    a = np.array([1.0, 1.3, 0.7, 1.1, 0.9])
    b = np.array([2.0, 2.2, 1.8, 2.1, 1.9])
    low, high = fieller(a, b)
    cov = np.cov(a, b, ddof=1)
    q2 = scipy_stats.t.ppf(0.975, 4) ** 2 / 5
    for r in (low, high):
        lhs = (a.mean() - r * b.mean()) ** 2
        assert lhs == pytest.approx(q2 * (cov[0, 0] - 2 * r * cov[0, 1] + r**2 * cov[1, 1]), rel=1e-9)
    assert (round(low, 4), round(high, 4)) == (0.3999, 0.5826)


def test_fieller_gives_no_interval_when_the_denominator_straddles_zero():
    # guards fieller's `qa <= 0`: a clear numerator over a denominator near 0 has an unbounded set, not two ends
    a = np.array([1.0, 1.1, 0.9, 1.0, 1.05])
    b = np.array([0.1, -0.2, 0.3, -0.1, 0.2])
    assert fieller(a, b) is None


def test_a_bubble_that_just_reaches_the_rise_counts():
    # guards bubble's `>=`: a peak of exactly (1 + rise) x the price before the legend is a peak
    assert bubble([2.0, 3.0, 2.0], legend_turn=1, rise=0.5)  # 2.0 -> 3.0 (exactly +50%) -> back at 2.0
    assert not bubble([2.0, 2.9, 2.0], legend_turn=1, rise=0.5)


# --------------------------------------------------------------------------- fdr: the sign-flip test and BH


def test_sign_flip_enumerates_up_to_14_differing_clusters():
    # guards EXACT = 14: 14 clusters are enumerated (p exactly 2/2^14), not drawn at random
    assert sign_flip(np.ones(14), seed=0) == (2 / 2**14, 2 / 2**14)
    p, p_min = sign_flip(np.ones(15), seed=0, draws=999)  # 15: seeded draws
    assert p == pytest.approx(1 / 1000) and p_min == pytest.approx(1 / 1000)


def test_differences_that_cancel_out_give_p_one():
    # guards sign_flip's `sums >= observed`: |sum| 0 is reached by every sign pattern
    assert sign_flip([1.0, -1.0, 1.0, -1.0]) == (1.0, 2 / 16)


def test_a_cell_whose_smallest_p_equals_q_is_still_tested():
    # guards filtered_bh's `p_min <= q`: at q = 0.125 a cell of 4 differing clusters (smallest p 2/16) can be flagged
    q = filtered_bh([0.125, 0.5], [0.125, 0.25], 0.125)
    assert q[0] == pytest.approx(0.125) and math.isnan(q[1])


def _exact_heterogeneity(groups: list[list[float]]) -> float:
    """The permutation p of the size-weighted statistic sum n_i (p_i - p)^2, by enumerating every
    placement of the 1s over the worlds (each equally likely under the null)."""
    sizes = [len(g) for g in groups]
    values = np.concatenate([np.asarray(g, dtype=float) for g in groups])
    labels = np.repeat(np.arange(len(groups)), sizes)
    overall, ones = values.mean(), int(values.sum())

    def statistic(y: np.ndarray) -> float:
        return sum(n * (y[labels == i].mean() - overall) ** 2 for i, n in enumerate(sizes))

    observed, reached, total = statistic(values), 0, 0
    for placed in itertools.combinations(range(values.size), ones):
        y = np.zeros(values.size)
        y[list(placed)] = 1.0
        reached += statistic(y) >= observed - 1e-12  # ties reach the observed
        total += 1
    return reached / total


def test_heterogeneity_weights_each_cast_by_its_worlds_and_counts_ties():
    # guards heterogeneity's `* sizes` (casts of unequal size) and its tie rule `(1 - 1e-9)`:
    # 5 of 8 worlds in one cast, 0 of 4 in two others: exact p 0.029, cast-dependent at 0.05
    # (unweighted, the same worlds give p 0.08; ties left out, 0.015)
    groups = [[1.0] * 5 + [0.0] * 3, [0.0] * 4, [0.0] * 4]
    exact = _exact_heterogeneity(groups)
    assert exact == pytest.approx(128 / 4368)  # of the C(16, 5) placements of the five 1s
    one_seed = [[0] * len(g) for g in groups]  # every world on one seed: every placement exchangeable
    assert heterogeneity(groups, one_seed, seed=0) == pytest.approx(exact, abs=0.005)


def test_heterogeneity_never_says_p_zero_and_needs_two_casts():
    # guards heterogeneity's (1 + hits) / (draws + 1) and `len(groups) < 2`
    assert heterogeneity([[1.0] * 30, [0.0] * 30], seed=1) == 1 / 10000  # no shuffle reaches a perfect split
    assert heterogeneity([[1.0, 0.0, 1.0, 0.0]]) is None  # one cast: nothing to compare
    assert heterogeneity([[1.0, 0.0], []]) is None  # an empty cast is no cast


def test_untestable_names_the_differing_pairs_needed_and_the_largest_n():
    # guards untestable's need = ceil(log2(2 / q)) and n = max over cells
    cells = [{"n": 6, "p_min": 0.25, "effect": 0.5}, {"n": 3, "p_min": 0.5, "effect": 0.2}]
    why = untestable({"testable": 0, "fdr_q": 0.1}, cells)
    assert "at most 6 paired episodes" in why and "at least 5 differing pairs" in why  # 2/2^5 = 0.0625 <= 0.1
    assert "at least 6 differing pairs" in untestable({"testable": 0, "fdr_q": 0.05}, cells)  # 2/2^6 <= 0.05


# --------------------------------------------------------------------------- metrics: decision level


def _action(*orders: tuple[str, str, float, float]) -> str:
    return json.dumps({"orders": [{"good": g, "side": side, "qty": q, "price": p} for side, g, q, p in orders]})


def test_a_limit_price_weighs_only_priced_orders_on_the_first_side():
    # guards _limit_prices' `price > 0` and `s[0] == side`: an order at price 0, or on the other
    # side, is no part of the good's limit price (live 4 against the stand-in's 2: +100%)
    ref = _action(("buy", "honey", 1, 2.0))
    unpriced = _action(("buy", "honey", 2, 0.0), ("buy", "honey", 2, 4.0))
    both_sides = _action(("buy", "honey", 1, 4.0), ("sell", "honey", 3, 10.0))
    other_side = _action(("sell", "honey", 1, 4.0))  # guards `a[g][0] == b[g][0]`: a sell is no buy's price
    frame = pd.DataFrame({"action": [unpriced, both_sides, other_side], "standin_action": [ref, ref, ref]})
    diffs = price_differences(frame, ["honey"])["price_diff_honey"]
    assert list(diffs[:2]) == [1.0, 1.0] and math.isnan(diffs[2])


def test_agreement_intervals_stop_at_one():
    # guards decision_summary's bounds=(0, 1) on agreement: episodes agreeing 1, 1, 1, 0.5 (their t interval
    # alone reaches past 1)
    rows = []
    for e in range(4):
        live = [order("buy", "honey", 1, 5.0)] if e == 3 else []  # the stand-in does nothing on honey
        rows.append(decision(f"e{e}", e, 0, "before", live, []))
    [cell] = decision_summary(pd.DataFrame(rows), Thresholds())
    assert cell["agreement"]["mean"] == 0.875 and cell["agreement"]["ci"][1] == 1.0
    assert cell["goods"]["honey"]["agreement"]["ci"] == [0.0, 1.0]  # 1, 1, 1, 0: clipped at both ends


# --------------------------------------------------------------------------- metrics: outcome level

CRASH, FLAT = [10.0, 10.0, 6.0, 6.0], [10.0, 10.0, 9.0, 9.0]


def test_a_rate_over_casts_is_exact_for_the_stand_in_and_a_share_for_the_council():
    # guards outcome_summary: the stand-in's crash rate is exact (rate=rate), the council's per-seed
    # shares (2 casts) are no 0/1 rate (seed_rate: Korn and Graubard), and support reads the effect's sign
    rows = []
    for s in range(4):
        rows.append(world("standin", s, CRASH if s < 3 else FLAT))  # 3 of 4 seeds
        rows.append(world("council", s, FLAT, cast=0))
        rows.append(world("council", s, CRASH if s < 2 else FLAT, cast=1))  # shares 0.5, 0.5, 0, 0
    [entry] = outcome_summary(world_figures(pd.DataFrame(rows), Thresholds()), Thresholds())
    crash = entry["figures"]["crash"]
    assert crash["standin"]["note"] == "3 of 4 seeds"
    assert crash["standin"]["ci"] == pytest.approx(
        [scipy_stats.beta.ppf(0.025, 3, 2), scipy_stats.beta.ppf(0.975, 4, 1)]
    )
    assert (
        crash["council"]["mean"] == 0.25
        and crash["council"]["note"] == "share 0.25 over 4 seeds (2 casts averaged in each)"
    )
    # n* = p(1 - p) / var = 0.1875 / (0.25 / 12) = 9, at most the 8 worlds, x (t_7 / t_3)^2
    size = 8 * (scipy_stats.t.ppf(0.975, 7) / scipy_stats.t.ppf(0.975, 3)) ** 2
    low = scipy_stats.beta.ppf(0.025, 0.25 * size, 0.75 * size + 1)
    assert crash["council"]["ci"] == pytest.approx([low, scipy_stats.beta.ppf(0.975, 0.25 * size + 1, 0.75 * size)])
    # per-seed differences -0.5, -0.5, -1, 0: the effect is negative, 3 of 4 seeds support it
    assert crash["effect"]["mean"] == -0.5 and crash["effect"]["support"] == 0.75
    # guards cells._cell's score = |scaled effect| x support: the flags rank by it
    [cell] = [c for c in outcome_cells(pd.DataFrame(rows), Thresholds(resamples=200)) if c["metric"] == "crash"]
    assert cell["effect"] == -0.5 and cell["support"] == 0.75 and cell["score"] == 0.375


def test_the_table_counts_seeds_with_casts_averaged():
    # guards outcome_table: n is the seeds (not the worlds) and each figure is averaged per seed first
    rows = []
    for s in range(4):
        rows.append(world("standin", s, FLAT, pnl=2.0 + s))
        for cast in (0, 1):
            rows.append(world("council", s, FLAT, cast=cast, pnl=4.0 + s + 2 * cast))  # paired diffs 2 and 4
    [_, council] = outcome_table(world_figures(pd.DataFrame(rows), Thresholds()), Thresholds())
    assert council["n"] == 4 and council["gambit_pnl_effect_n"] == 4
    assert council["gambit_pnl_effect"] == 3.0 and council["gambit_pnl_effect_note"] == "same value in all 4 seeds"
    # guards outcome_cells' unit: the cell says its casts were averaged in each seed
    [cell] = [c for c in outcome_cells(pd.DataFrame(rows), Thresholds(resamples=200)) if c["metric"] == "gambit_pnl"]
    assert cell["n"] == 4 and cell["ci_note"] == "same value in all 4 seeds (2 casts averaged in each)"


def test_no_outcome_cell_without_a_paired_stand_in_world():
    # guards outcome_cells' `len(pairs) == 0`: council worlds with no stand-in world test nothing
    rows = [world("council", s, FLAT, pnl=float(s)) for s in range(4)]
    assert outcome_cells(pd.DataFrame(rows), Thresholds(resamples=200)) == []


def test_one_cast_a_seed_is_an_exact_rate_over_seeds():
    # guards seed_rate's `casts <= 1`: one cast is the plain exact interval, in plain words
    iv = seed_rate([1.0, 0.0, 1.0, 1.0], casts=1)
    assert iv.note == "3 of 4 seeds" and iv.method == "clopper-pearson"


def test_a_pair_without_its_stand_in_value_is_left_out():
    # guards pairs_of's dropna over both sides: a NaN stand-in value leaves no pair (and no live value)
    paired = pd.DataFrame(
        {
            "episode_id": ["a", "b", "c"],
            "pair_id": ["p0", "p1", "p2"],
            "cast": [0, 0, 0],
            "seed": [0, 1, 2],
            "x": [1.0, 2.0, math.nan],
            "standin:x": [0.5, math.nan, 1.0],
        }
    )
    out = pairs_of(paired, "x")
    assert list(out["episode_id"]) == ["a"] and list(out["diff"]) == [0.5]


def test_a_pooled_rate_weakens_as_casts_disagree_in_more_seeds():
    # guards seed_rate's Korn and Graubard interval: with the t interval of the shares (widened
    # by Hall's skewness correction), cast 1 missing the crash in 1 of 8 seeds read [0.43, 1.0]
    # ("not enough seeds") and missing it in 3 read [0.53, 1.0] ("robust")
    from glade.eval.metrics import seed_rate

    lows = []
    for k in range(1, 6):  # cast 0 crashes on every seed, cast 1 on all but k
        iv = seed_rate([1.0] * (8 - k) + [0.5] * k, casts=2)
        assert iv.method == "korn-graubard" and 0.0 <= iv.low < iv.mean < iv.high <= 1.0
        lows.append(iv.low)
    assert lows == sorted(lows, reverse=True) and lows[0] > 0.6 and lows[3] < 0.5
    assert seed_rate([1.0] * 8, casts=2).method == "clopper-pearson"  # casts agreeing: exact, as before


def test_a_move_of_exactly_the_threshold_is_a_crash_or_a_bubble_at_any_price():
    # guards ROUNDING in crash and bubble: (1 - 0.3) x 3.0 is 2.0999999999999996, so a fall from
    # 3.0 to 2.1 was no 30% crash while one from 10 to 7 was
    from glade.eval.stats import crash

    for ref, fallen in ((10.0, 7.0), (3.0, 2.1), (7.0, 4.9), (0.3, 0.21)):
        assert crash([ref, fallen], 1, drop=0.3, within=2)
        assert not crash([ref, fallen * 1.0001], 1, drop=0.3, within=2)
    for ref, risen in ((10.0, 13.0), (3.0, 3.9)):
        assert bubble([ref, risen, ref], 1, rise=0.3)
        assert not bubble([ref, risen * 0.9999, ref], 1, rise=0.3)


def test_a_rate_refuses_shares_at_any_n():
    # guards interval's 0/1 check, before the few-seeds note: [0.5] * 3 read "2 of 3 seeds"
    for n in (3, 8):
        with pytest.raises(ValueError, match="a rate's values are 0 or 1 per cluster, got 0.5"):
            interval([0.5] * n, rate=True)
