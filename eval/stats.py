"""Statistics the evaluation rests on: intervals that hold at small n, seeded bootstrap
intervals, support, Jensen-Shannon divergence, and the named phenomena (crash, bubble) on a
price path.

Intervals (`interval`, `describe`): one value per cluster (a seed, its council's casts
averaged, for outcomes; an episode's mean for decisions), never single rows. Below MIN_N
clusters there is no interval, only the values; the same value everywhere is said in words
("same value in all 8 seeds"). Otherwise the Student t interval, widened on the skewed side
where Hall's (1992) skewness-corrected interval reaches further, both at the effective degrees
of freedom under the sample's excess kurtosis (`kurtosis_df`); a rate (0/1 per cluster) gets
Clopper-Pearson's, and a rate figure per seed (casts averaged) or a difference of two the exact
split binomial interval (`lattice`, eval/exact.py), even where every seed has the same value.
benchmarks/interval_coverage.py measures the coverage and the width.

Price paths: `path[t]` is a good's price after turn t's settlement, `start` the price before
turn 0; "before the legend" is path[L - 1], or `start` when L == 0.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from glade.console import no_negative_zero, with_ci

from .exact import clopper_pearson, korn_graubard, lattice_bounds
from .thresholds import DEFAULTS

MIN_N = 4  # clusters below which no interval is given
MIN_RESAMPLED = 8  # clusters below which a bootstrap gives no interval (resample_intervals: what it covers)
NO_DIFFERENCE = 1e-12  # absolute: a paired difference this small is float rounding, no sign (eval/fdr.py too)
ROUNDING = 1e-9  # relative: (1 - 0.3) x 3.0 is 2.0999999999999996, and a fall to 2.1 is 30%


# --- small pieces --------------------------------------------------------------------------


def ci_text(d: Interval | dict | None, fmt: str) -> str:
    """A glade.eval.stats interval (or its `as_dict`) in a few characters: `mean [low, high]`,
    `mean in all N` (the same value everywhere), `mean (n N)` (too few for an interval), or `—`."""
    if isinstance(d, Interval):
        d = d.as_dict()
    if not d or d.get("mean") is None:
        return "—"
    head = format(d["mean"], no_negative_zero(fmt))
    if d.get("ci"):
        return with_ci(d["mean"], d["ci"], fmt)  # a narrow interval gets the digits it needs
    if d.get("note", "").startswith("same value"):
        return f"{head} in all {d['n']}"
    return f"{head} (n {d.get('n', 0)})"


def clean(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, NaN and inf to None, tuples to lists."""
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [clean(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def expanded_tail(clusters: int, level: float) -> float:
    """Where the expanded percentile interval's ends lie (normal quantile sqrt(n/(n-1)) t(n-1))."""
    from scipy.stats import norm, t

    return float(norm.cdf(-math.sqrt(clusters / (clusters - 1)) * t.ppf((1 + level) / 2, clusters - 1)))


def resample_intervals(
    clusters: int, statistic: Callable, *, seed: int, level: float = DEFAULTS.ci_level, resamples: int = 2000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded bootstrap intervals of a vector `statistic(indices)` of `clusters` independent
    clusters (seeds: a seed's scenarios share its draws), refitted per resample (glade.eval.rank):
    Hesterberg's (2015) expanded percentile interval (`expanded_tail`). The plain one and scipy's
    BCa covered a mean 0.87 at 8 seeds (a percentile interval stays in the values' range); the
    expanded one 0.93 on win-count strengths (glade rank), about 0.90 on skewed means at 8 seeds
    (0.94 on normal ones, 0.92 skewed at 12), 0.89 at 5-6: below MIN_RESAMPLED clusters, a
    ValueError. A component NaN in a resample is left out of its interval; returns (low, high,
    share of resamples without)."""
    if clusters < MIN_RESAMPLED:
        raise ValueError(f"a bootstrap interval needs at least {MIN_RESAMPLED} clusters, got {clusters}")
    tail = expanded_tail(clusters, level)
    rng = np.random.default_rng(seed)
    draws = np.array([statistic(rng.integers(0, clusters, clusters)) for _ in range(int(resamples))])
    missing = np.isnan(draws).mean(axis=0)
    with warnings.catch_warnings():  # a component NaN in every resample: NaN ends, said by `missing`
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanquantile(draws, [tail, 1 - tail], axis=0, method="inverted_cdf")  # ranks stay whole
    return low, high, missing


# --- intervals that hold at small n -----------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A mean over n clusters and its interval, or the words said instead of one."""

    mean: float  # NaN when there are no values
    low: float | None  # None: no interval (see `note`)
    high: float | None
    n: int
    note: str = ""  # words instead of an interval, or "k of n seeds" beside a rate's
    method: str = ""  # "t+hall+kurtosis-df", "clopper-pearson", "korn-graubard", or "" when there is none
    values: tuple[float, ...] = ()  # the values themselves when n < MIN_N
    same: bool = False  # every cluster had the same value (said in `note` too)

    @property
    def ci(self) -> list[float] | None:
        return None if self.low is None else [self.low, self.high]

    def as_dict(self) -> dict:
        """{"mean", "ci", "n", "note"}, and "values" below MIN_N; JSON-ready (NaN as None)."""
        out = {"mean": self.mean, "ci": self.ci, "n": self.n, "note": self.note}
        return clean({**out, "values": list(self.values)} if self.values else out)

    def excludes_zero(self) -> bool:
        """The interval lies on one side of 0, or every cluster has the same nonzero value
        (beyond float rounding: `interval` makes a same value within NO_DIFFERENCE of 0 a 0)."""
        if self.low is not None:
            return self.low > 0 or self.high < 0
        return self.n >= MIN_N and self.same and abs(self.mean) > NO_DIFFERENCE


def _values_text(x: np.ndarray) -> str:
    return ", ".join(f"{v:.3g}" for v in x)


def interval(
    values,
    *,
    level: float = DEFAULTS.ci_level,
    unit: str = "seeds",
    rate: bool = False,
    bounds=None,
    lattice: bool = False,
) -> Interval:
    """The mean of `values` (one per cluster; NaNs dropped) with an interval that holds at its n.

    Fewer than MIN_N values: no interval, the values in the note. `rate`: values are 0/1 (a
    phenomenon in a world or not; a share is a ValueError): the exact Clopper-Pearson
    interval, "k of n" in the note.
    `lattice`: values on the lattice of 0/1 outcomes (a rate figure per seed, its casts
    averaged, or a difference of two) within `bounds`: the exact `lattice_bounds`, an interval
    even where every seed has the same value (then said in the note too).
    Otherwise the same value everywhere is said in words, else the t interval widened by
    Hall's skewness correction, at the kurtosis-adjusted degrees of freedom (clipped to
    `bounds`, e.g. (0, 1) for shares, (0, None) for a figure with no ceiling: None is no bound)."""
    x = np.asarray(values, dtype=float).ravel()
    x = x[~np.isnan(x)]
    n = int(x.size)
    if n == 0:
        return Interval(math.nan, None, None, 0, f"no {unit}")
    with np.errstate(invalid="ignore"):  # inf - inf: the mean is NaN, said below
        mean = float(x.mean())
    values = tuple(float(v) for v in x) if n < MIN_N else ()
    if rate and not np.isin(x, (0.0, 1.0)).all():  # a share would be rounded into a count it is not
        raise ValueError(f"a rate's values are 0 or 1 per cluster, got {_values_text(x[~np.isin(x, (0.0, 1.0))])}")
    if rate and n < MIN_N:
        k, units = int(round(x.sum())), unit.removesuffix("s") if n == 1 else unit  # 0 of 1 seed
        return Interval(mean, None, None, n, f"{k} of {n} {units}, too few for an interval", values=values)
    if n < MIN_N:
        return Interval(mean, None, None, n, f"too few {unit} for an interval: {_values_text(x)}", values=values)
    infinite = int(np.isinf(x).sum())
    if infinite:  # an infinite value has no interval, and is no "same value in all n" either
        return Interval(mean, None, None, n, f"not finite in {infinite} of {n} {unit}, no interval")
    if rate:
        k = int(round(x.sum()))
        low, high = clopper_pearson(k, n, level)
        return Interval(mean, low, high, n, f"{k} of {n} {unit}", "clopper-pearson")
    same = np.ptp(x) <= ROUNDING * max(1.0, abs(mean))  # equal up to float rounding (0.9 and 0.8999999999999999)
    if lattice:
        if bounds is None or None in bounds or not bounds[0] <= min(0.0, x.min()) <= max(0.0, x.max()) <= bounds[1]:
            raise ValueError(f"a lattice interval needs the bounds its values cannot pass, around 0, got {bounds}")
        low, high = lattice_bounds(x, bounds, level)
        note = f"same value in all {n} {unit}" if same else ""
        return Interval(mean, low, high, n, note, "split-clopper-pearson", same=bool(same))
    if same:
        # dust of both signs, or within NO_DIFFERENCE of 0, is 0: its mean's sign is rounding, no effect
        zero = x.min() < 0 < x.max() or abs(mean) <= NO_DIFFERENCE
        return Interval(0.0 if zero else mean, None, None, n, f"same value in all {n} {unit}", same=True)
    low, high = t_hall(x, level, df=kurtosis_df(x))
    if bounds is not None:
        floor, ceiling = bounds
        low = low if floor is None else max(low, floor)
        high = high if ceiling is None else min(high, ceiling)
    return Interval(mean, low, high, n, "", "t+hall+kurtosis-df")


def cluster_rate(shares, *, members: int, level: float, agreeing: str, averaged: str) -> Interval:
    """A 0/1 outcome's rate over clusters whose members share their draws (a seed's casts, an
    episode's documents), from each cluster's share of members that showed it: the cluster is
    the unit. Exact (Clopper-Pearson) where every cluster's members agree (each share 0 or 1),
    else Korn and Graubard's interval (`korn_graubard`; `members`: how many there are in all).
    `agreeing` / `averaged`: the unit in words for each case ("seeds (their 3 casts agreeing
    in each)")."""
    shares = np.asarray(shares, dtype=float)
    shares = shares[~np.isnan(shares)]
    if np.isin(shares, (0.0, 1.0)).all():
        return interval(shares, level=level, rate=True, unit=agreeing)
    iv = interval(shares, level=level, unit=averaged, bounds=(0.0, 1.0))
    if iv.low is not None:  # an interval is due (enough clusters, shares not all equal): the shares' own
        low, high = korn_graubard(shares, members, level)
        iv = replace(iv, low=low, high=high, method="korn-graubard")
    return replace(iv, note=iv.note or f"share {iv.mean:.2f} over {iv.n} {averaged}")


def kurtosis_df(x: np.ndarray) -> float:
    """The effective degrees of freedom of the sample variance s^2 under excess kurtosis k:
    Var(s^2) = sigma^4 (2 / (n - 1) + k / n) (Kenney and Keeping 1951), matched to a scaled
    chi-square's 2 sigma^4 / df by its first two moments (Satterthwaite 1946), so
    df = 2 / (2 / (n - 1) + k / n); n - 1 when k = 0, as for normal data. k is the adjusted
    excess kurtosis G2 (the moment ratio runs low in small samples, as the skewness does),
    floored at 0 so the interval is never narrower than the t interval at n - 1 (n >= 4).
    At small n G2 is noisy and bounded (at most 4 at n = 4): this widens for tails drawn."""
    n = x.size
    centred = x - x.mean()
    m2, m4 = float(np.mean(centred**2)), float(np.mean(centred**4))
    g2 = m4 / m2**2 - 3
    kurtosis = ((n + 1) * g2 + 6) * (n - 1) / ((n - 2) * (n - 3))
    return 2 / (2 / (n - 1) + max(kurtosis, 0.0) / n)


def t_hall(x: np.ndarray, level: float = DEFAULTS.ci_level, df: float | None = None) -> tuple[float, float]:
    """The Student t interval of the mean, each end moved out to Hall's (1992) skewness-corrected
    interval where that reaches further (a skewed sample's long side needs the room). Hall's
    transformation reads the sample skewness as the adjusted G1 (n >= 3). Both read the t
    critical value at `df` degrees of freedom (default n - 1; `interval` passes
    `kurtosis_df`)."""
    from scipy import stats

    n = x.size
    mean, sd = float(x.mean()), float(x.std(ddof=1))
    q = float(stats.t.ppf((1 + level) / 2, n - 1 if df is None else df))
    half = q * sd / math.sqrt(n)
    centred = x - mean
    # the adjusted Fisher-Pearson skewness G1: the plain moment ratio runs low in small samples
    skew = float(np.mean(centred**3) / np.mean(centred**2) ** 1.5) * math.sqrt(n * (n - 1)) / (n - 2)
    a, c = skew / (3 * math.sqrt(n)), skew / (6 * math.sqrt(n))

    def untransform(u: float) -> float:  # the inverse of Hall's T + aT^2 + a^2 T^3 / 3 + c
        if abs(a) < 1e-12:
            return u - c
        return (math.copysign(abs(1 + 3 * a * (u - c)) ** (1 / 3), 1 + 3 * a * (u - c)) - 1) / a

    scale = sd / math.sqrt(n)
    hall_low, hall_high = mean - scale * untransform(q), mean - scale * untransform(-q)
    return min(mean - half, hall_low), max(mean + half, hall_high)


def fieller(numerator, denominator, level: float = DEFAULTS.ci_level) -> tuple[float, float] | None:
    """Fieller's interval for mean(numerator) / mean(denominator) on paired values (a seat's
    contribution over the whole effect); None when the denominator's mean is not clearly away
    from 0 (the interval would be unbounded) or there are fewer than MIN_N pairs."""
    from scipy import stats

    a, b = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    n = a.size
    if n < MIN_N:
        return None
    q2 = float(stats.t.ppf((1 + level) / 2, n - 1)) ** 2 / n
    ma, mb = a.mean(), b.mean()
    cov = np.cov(a, b, ddof=1)
    saa, sab, sbb = cov[0, 0], cov[0, 1], cov[1, 1]
    qa = mb**2 - q2 * sbb
    if qa <= 0:
        return None
    qb = -2 * (ma * mb - q2 * sab)
    qc = ma**2 - q2 * saa
    disc = qb**2 - 4 * qa * qc
    if disc < 0:
        return None
    root = math.sqrt(disc)
    return float((-qb - root) / (2 * qa)), float((-qb + root) / (2 * qa))


def describe(
    values,
    *,
    level: float = DEFAULTS.ci_level,
    unit: str = "seeds",
    rate: bool = False,
    bounds=None,
    lattice: bool = False,
) -> dict:
    """{"mean", "ci": [low, high] or None, "n", "note"} over the non-NaN values (see `interval`;
    mean None when there are none), and "values" when n < MIN_N."""
    return interval(values, level=level, unit=unit, rate=rate, bounds=bounds, lattice=lattice).as_dict()


def column_intervals(data, level: float = DEFAULTS.ci_level) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, low, high) per column of a (clusters, k) array (price paths: rows are seeds,
    columns turns); low and high are NaN where `interval` gives none."""
    data = np.asarray(data, dtype=float)
    mean = np.nanmean(data, axis=0) if data.size else np.full(data.shape[1], np.nan)
    low, high = np.full(data.shape[1], np.nan), np.full(data.shape[1], np.nan)
    for j in range(data.shape[1]):
        iv = interval(data[:, j], level=level)
        if iv.low is not None:
            low[j], high[j] = iv.low, iv.high
    return mean, low, high


def support(values, sign: float) -> float:
    """Share of the values that have the given sign (strictly: zeros never support, and float
    rounding, within NO_DIFFERENCE of 0, is a zero: 0.7 x 3 / 2.1 - 1 is -2.2e-16)."""
    x = np.asarray(values, dtype=float).ravel()
    x = x[~np.isnan(x)]
    if x.size == 0 or abs(sign) <= NO_DIFFERENCE:
        return 0.0
    return float(np.mean((np.abs(x) > NO_DIFFERENCE) & (np.sign(x) == np.sign(sign))))


def jsd(p, q) -> float:
    """Jensen-Shannon divergence (base 2, so in [0, 1]) between two distributions given as
    non-negative weights (normalised here; mappings are aligned by key). 0 when equal."""
    if isinstance(p, Mapping) or isinstance(q, Mapping):
        keys = sorted(set(p) | set(q))
        p, q = [p.get(k, 0.0) for k in keys], [q.get(k, 0.0) for k in keys]
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    if p.shape != q.shape or p.sum() <= 0 or q.sum() <= 0 or (p < 0).any() or (q < 0).any():
        raise ValueError("jsd needs two non-negative distributions of the same length with positive mass")
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a, b):
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / b[mask])))

    return max(0.0, 0.5 * kl(p, m) + 0.5 * kl(q, m))


# --- named phenomena -------------------------------------------------------------------------


def _reference(path: Sequence[float], legend_turn: int, start: float | None) -> float | None:
    if legend_turn > 0:
        return float(path[legend_turn - 1])
    if start is None:
        raise ValueError("legend at turn 0: pass the start price (the price before turn 0)")
    return float(start)


def crash(path: Sequence[float], legend_turn: int | None, drop: float, within: int, start: float | None = None) -> bool:
    """The good falls by at least `drop` (a share) within `within` turns of the legend: some
    price in path[L], ..., path[L + within] is at most (1 - drop) x the price before the
    legend (path[L - 1], or `start` when L == 0). No legend, or L past the path: False."""
    if legend_turn is None or legend_turn < 0 or legend_turn >= len(path):
        return False
    ref = _reference(path, legend_turn, start)
    window = path[legend_turn : legend_turn + within + 1]
    floor = (1.0 - drop) * ref * (1 + ROUNDING)  # a fall of exactly `drop` counts at any price
    return any(p <= floor for p in window)


def bubble(path: Sequence[float], legend_turn: int | None, rise: float, start: float | None = None) -> bool:
    """The good rises by at least `rise` then falls back: from the legend turn on, some
    path[t] >= (1 + rise) x the price before the legend, and a later path[u] (u > t) is back
    at or below that price. No legend, or L past the path: False."""
    if legend_turn is None or legend_turn < 0 or legend_turn >= len(path):
        return False
    ref = _reference(path, legend_turn, start)
    peaked, peak = False, (1.0 + rise) * ref * (1 - ROUNDING)  # a rise of exactly `rise` counts
    for p in path[legend_turn:]:
        if peaked and p <= ref:
            return True
        if p >= peak:
            peaked = True
    return False


def path_distance(a: Sequence[float], b: Sequence[float]) -> float:
    """Mean over turns of |log a[t] - log b[t]| (over the common turns)."""
    n = min(len(a), len(b))
    if n == 0:
        return math.nan
    x, y = np.asarray(a[:n], dtype=float), np.asarray(b[:n], dtype=float)
    return float(np.mean(np.abs(np.log(x) - np.log(y))))
