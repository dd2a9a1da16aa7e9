"""The small-n rules of glade.eval.stats.interval, the intervals behind them (t widened by
Hall's skewness correction at the kurtosis-adjusted degrees of freedom, Clopper-Pearson,
Fieller), and the tests the flags and verdicts
rest on (eval/fdr.py): the exact sign-flip test, Benjamini-Hochberg on synthetic p-values,
independent filtering, the heterogeneity test across casts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from glade.eval.fdr import benjamini_hochberg, filtered_bh, heterogeneity, sign_flip
from glade.eval.stats import (
    MIN_N,
    clopper_pearson,
    column_intervals,
    describe,
    fieller,
    interval,
    kurtosis_df,
    support,
    t_hall,
)

# --- the small-n rules -----------------------------------------------------------------------------


def test_below_four_clusters_no_interval_only_the_values():
    iv = interval([47.77, 47.77, 47.77])
    assert MIN_N == 4 and iv.n == 3 and iv.low is None and iv.ci is None
    assert iv.note == "too few seeds for an interval: 47.8, 47.8, 47.8" and iv.values == (47.77, 47.77, 47.77)
    assert describe([1.0, 2.0], unit="episodes") == {
        "mean": 1.5,
        "ci": None,
        "n": 2,
        "note": "too few episodes for an interval: 1, 2",
        "values": [1.0, 2.0],
    }
    assert describe([]) == {"mean": None, "ci": None, "n": 0, "note": "no seeds"}
    assert interval([1.0, math.nan, 2.0, math.nan, 3.0]).n == 3  # NaNs dropped


def test_the_same_value_everywhere_is_said_in_words_never_a_zero_width_interval():
    iv = interval([0.5] * 8)
    assert iv.ci is None and iv.note == "same value in all 8 seeds" and iv.mean == 0.5
    assert iv.excludes_zero()  # every seed gave 0.5: the effect is not 0
    assert not interval([0.0] * 8).excludes_zero()
    assert interval([0.9, 0.8999999999999999, 0.9, 0.9]).note == "same value in all 4 seeds"  # float rounding
    four = interval([1.0, 1.0, 1.0, 1.0], unit="seeds x casts")
    assert four.same and four.note == "same value in all 4 seeds x casts"


def test_t_interval_widened_on_the_skewed_side():
    x = np.array([1.0, 1.2, 0.9, 1.1, 1.0, 0.95, 1.05, 1.3, 0.8, 1.0])  # near symmetric
    iv = interval(x)
    half = scipy_stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    assert iv.method == "t+hall+kurtosis-df"
    assert iv.low <= x.mean() - half + 1e-12 and iv.high >= x.mean() + half - 1e-12  # never narrower than t
    # and, near symmetric, close to the t interval read at the kurtosis-adjusted df (G2 0.41: 7.6 df)
    half_at_df = scipy_stats.t.ppf(0.975, kurtosis_df(x)) * x.std(ddof=1) / math.sqrt(x.size)
    assert kurtosis_df(x) == pytest.approx(7.5877, abs=1e-4)
    assert iv.high - iv.low == pytest.approx(2 * half_at_df, rel=0.1)
    skewed = np.array([1.0, 1.1, 0.9, 1.0, 1.2, 0.95, 1.05, 6.0])  # one long right tail
    s = interval(skewed)
    df = kurtosis_df(skewed)
    t_half = scipy_stats.t.ppf(0.975, df) * skewed.std(ddof=1) / math.sqrt(8)
    assert s.high - skewed.mean() > t_half * 1.2  # the long side gets the room
    assert s.low == pytest.approx(skewed.mean() - t_half)  # the short side stays the t interval's
    assert interval([0.2, 0.9, 1.0, 1.0], bounds=(0.0, 1.0)).high == 1.0  # shares stop at 1


def test_heavy_tails_read_t_at_the_variance_estimates_effective_df():
    skewed = np.array([1.0, 1.1, 0.9, 1.0, 1.2, 0.95, 1.05, 6.0])  # excess kurtosis G2 7.93
    g2 = scipy_stats.kurtosis(skewed, bias=False)  # the adjusted G2
    assert kurtosis_df(skewed) == pytest.approx(2 / (2 / 7 + g2 / 8))  # Var(s^2) / sigma^4 = 2/(n-1) + k/n
    low, high = t_hall(skewed)  # the method before issue 13: t and Hall at n - 1 = 7 df
    s = interval(skewed)
    assert s.low < low and s.high > high  # heavier tails than the normal's: wider at both ends
    # no excess kurtosis (G2 <= 0, e.g. evenly spread values): exactly n - 1, never narrower
    flat = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert scipy_stats.kurtosis(flat, bias=False) < 0 and kurtosis_df(flat) == 5
    assert (interval(flat).low, interval(flat).high) == pytest.approx(t_hall(flat))
    # at n = 4 one outlier is the most kurtosis a sample can show: G2 = 4, df = 2 / (2/3 + 1)
    assert kurtosis_df(np.array([0.0, 0.0, 0.0, 1.0])) == pytest.approx(1.2)


def test_rates_get_the_exact_binomial_interval():
    iv = interval([0.0] * 8, rate=True)
    assert iv.note == "0 of 8 seeds" and iv.low == 0.0 and iv.high == pytest.approx(1 - 0.025 ** (1 / 8))
    full = interval([1.0] * 8, rate=True)
    assert full.low == pytest.approx(0.025 ** (1 / 8)) and full.high == 1.0
    assert interval([1.0, 0.0, 1.0], rate=True).note == "2 of 3 seeds, too few for an interval"
    low, high = clopper_pearson(3, 10)
    assert low == pytest.approx(scipy_stats.beta.ppf(0.025, 3, 8)) and high == pytest.approx(
        scipy_stats.beta.ppf(0.975, 4, 7)
    )


def test_coverage_of_a_known_mean_at_small_n():
    """Gamma(2) episodes (skewness 1.4), n = 4 and 8: about 95% of the intervals hold the mean
    (benchmarks/interval_coverage.py measures it over many more draws)."""
    rng = np.random.default_rng(7)
    for n in (4, 8):
        covered = sum(
            (iv := interval(rng.gamma(2.0, 1.0, n))).low <= 2.0 <= iv.high for _ in range(600)
        )  # the mean of Gamma(2, 1) is 2
        assert 0.91 <= covered / 600 <= 0.99, (n, covered)


def test_column_intervals_for_price_bands():
    data = np.array([[1.0, 2.0, 5.0], [1.0, 2.5, 5.0], [1.0, 3.0, 5.0], [1.0, 2.0, 5.0]])
    mean, low, high = column_intervals(data)
    assert list(mean) == [1.0, 2.375, 5.0]
    assert math.isnan(low[0]) and math.isnan(high[2])  # constant columns: no band
    assert low[1] < 2.375 < high[1]
    assert np.isnan(column_intervals(data[:3])[1]).all()  # three seeds: no band at all


def test_fieller_ratio_of_paired_means():
    effect = np.array([2.0, 2.2, 1.8, 2.1, 1.9, 2.0])
    low, high = fieller(effect / 2, effect)  # a seat that makes half of every world's effect
    assert low == pytest.approx(0.5) and high == pytest.approx(0.5)
    noisy = fieller(np.array([1.0, 1.3, 0.7, 1.1, 0.9, 1.0]), effect)
    assert noisy[0] < 0.5 < noisy[1]
    assert fieller([1.0, -1.0, 0.5, -0.5], [0.1, -0.2, 0.1, -0.1]) is None  # the effect is not clearly away from 0
    assert fieller([1.0, 1.0, 1.0], [2.0, 2.0, 2.0]) is None  # too few


# --- the tests behind the flags ----------------------------------------------------------------------


def test_sign_flip_is_exact():
    assert sign_flip([1.0] * 8) == (2 / 256, 2 / 256)
    assert sign_flip([0.5, 1.0, 0.25, 1.0]) == (2 / 16, 2 / 16)
    assert sign_flip([0.0, 0.0, 0.0]) == (1.0, 1.0)  # nothing differs: never a discovery
    assert sign_flip([1.0, 0.0, 0.0, 0.0, 0.0]) == (1.0, 1.0)  # one differing cluster cannot be tested
    # 1, -1, 1, -1, 1, 1: |sum| 2; patterns reaching it counted exactly (of 64)
    d = np.array([1.0, -1, 1, -1, 1, 1])
    signs = 1 - 2 * ((np.arange(64)[:, None] >> np.arange(6)) & 1)
    assert sign_flip(d)[0] == pytest.approx(np.mean(np.abs(signs @ d) >= 2))
    p, p_min = sign_flip(np.ones(20), seed=1, draws=999)  # beyond exact enumeration: seeded draws
    assert p == p_min == pytest.approx(1 / 1000)


def test_sign_flip_p_values_are_uniform_under_the_null():
    rng = np.random.default_rng(3)
    p = np.array([sign_flip(rng.normal(0, 1, 10))[0] for _ in range(2000)])
    for level in (0.05, 0.1, 0.5):
        assert np.mean(p <= level) <= level + 0.02


def test_benjamini_hochberg_on_synthetic_p_values():
    q = benjamini_hochberg([0.01, 0.04, 0.03, 0.2])
    assert list(q) == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.2])
    assert list(benjamini_hochberg([0.5, 0.5])) == [0.5, 0.5]
    assert benjamini_hochberg([]).size == 0
    # the textbook example (Benjamini and Hochberg 1995, 15 p-values): 4 discoveries at q = 0.05
    p = [
        0.0001,
        0.0004,
        0.0019,
        0.0095,
        0.0201,
        0.0278,
        0.0298,
        0.0344,
        0.0459,
        0.3240,
        0.4262,
        0.5719,
        0.6528,
        0.7590,
        1.0,
    ]
    assert int(np.sum(benjamini_hochberg(p) <= 0.05)) == 4


def test_fdr_is_controlled_on_synthetic_cells():
    """Cells as a council gives them: 800 where live and stand-in never differ, 150 that differ
    by noise alone, 50 with a real effect; 10 clusters each, 30 repetitions. The share of false
    discoveries among the discoveries stays under q = 0.10 on average, and most real effects are
    found."""
    rng = np.random.default_rng(11)
    fdp, power = [], []
    for _ in range(30):
        cells = [np.zeros(10)] * 800 + [rng.normal(0, 1, 10) for _ in range(150)]
        cells += [rng.normal(2.0, 1, 10) for _ in range(50)]
        tests = [sign_flip(d) for d in cells]
        q = filtered_bh([t[0] for t in tests], [t[1] for t in tests], 0.10)
        found = np.nan_to_num(q, nan=1.0) <= 0.10
        fdp.append(found[:950].sum() / max(1, found.sum()))
        power.append(found[950:].mean())
    assert np.mean(fdp) <= 0.10 and np.mean(power) >= 0.8, (np.mean(fdp), np.mean(power))


def test_filtering_drops_cells_that_can_never_reach_q():
    q = filtered_bh([0.0078, 1.0, 0.125, 0.0078], [0.0078, 1.0, 0.125, 0.0078], 0.10)
    assert math.isnan(q[1]) and math.isnan(q[2])  # untestable at q = 0.10: left out of BH's m
    assert q[0] == q[3] == pytest.approx(0.0078)  # m = 2, not 4


def test_heterogeneity_across_casts():
    # shuffled within seed: 8 seeds whose casts disagree reach at best the paired p 2 / 2^8
    assert heterogeneity([[1] * 8, [0] * 8]) == pytest.approx(2 / 2**8, abs=0.002)
    assert heterogeneity([[1, 0, 1, 0], [0, 1, 0, 1]]) == 1.0
    assert heterogeneity([[1] * 8]) is None and heterogeneity([[0] * 4, [0] * 4]) is None
    assert heterogeneity([[1] * 8, [0] * 8], seed=1) == heterogeneity([[1] * 8, [0] * 8], seed=1)  # seeded


def test_bounds_clip_both_ends_of_the_interval():
    # a share near 0: mean 0.25, sd 0.5 over 4 clusters; even the plain t interval at n - 1 = 3
    # degrees of freedom reaches 0.25 -/+ 3.18 x 0.25, past both 0 and 1
    x = [0.0, 0.0, 0.0, 1.0]
    half = scipy_stats.t.ppf(0.975, 3) * 0.5 / 2
    assert 0.25 - half < 0.0 and 0.25 + half > 1.0
    assert interval(x, bounds=(0.0, 1.0)).ci == [0.0, 1.0]
    assert describe(x, bounds=(0.0, 1.0))["ci"] == [0.0, 1.0]
    low, high = interval(x).ci  # unbounded, it is wider still
    assert low <= 0.25 - half and high >= 0.25 + half
    assert interval([-1.0, -1.0, -1.0, 1.0], bounds=(-0.5, 0.5)).ci == [-0.5, 0.5]


def test_an_infinite_value_gets_no_interval_and_is_never_the_same_value_everywhere():
    iv = interval([1.0, 2.0, 3.0, math.inf])
    assert iv.ci is None and iv.note == "not finite in 1 of 4 seeds, no interval"
    assert not iv.excludes_zero()  # no verdict may read a move from it
    mixed = interval([math.inf, -math.inf, 1.0, 2.0], unit="worlds")
    assert mixed.ci is None and mixed.note == "not finite in 2 of 4 worlds, no interval"
    assert describe([1.0, 2.0, 3.0, math.inf])["mean"] is None  # JSON-ready: inf as None


def test_float_rounding_is_no_support_as_it_is_no_difference_to_the_sign_flip_test():
    # a legend ratio of 0.7 x 3 / 2.1 against 1 differs by -2.2e-16: "same value in all 8 seeds", p = 1,
    # and support 0 (it was 1.0: every seed's rounding had the mean's sign)
    noise = np.full(8, 0.7 * 3 / 2.1 - 1)
    assert noise[0] != 0
    assert support(noise, float(noise.mean())) == 0.0
    assert sign_flip(noise) == (1.0, 1.0)
    assert support([0.5, 1e-16, -0.25, 0.75], 0.25) == 0.5  # the rounding counts as a zero, not a positive
