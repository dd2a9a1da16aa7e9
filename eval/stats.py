"""Statistics the evaluation rests on: seeded bootstrap intervals, support, Jensen-Shannon
divergence, and the named phenomena (crash, bubble) on a price path.

Price paths: `path[t]` is a good's reference price after turn t's settlement; `start` is the
price before turn 0; "before the legend" is path[L - 1], or `start` when L == 0.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from glade.config import as_plain

from .recipe import Thresholds

DEFAULTS = as_plain(Thresholds())  # one source of truth: the recipe's defaults


# --- small pieces --------------------------------------------------------------------------


def threshold(thresholds: Any, key: str):
    """A threshold from a Thresholds dataclass, a mapping (recipe.yaml) or None (defaults)."""
    if thresholds is None:
        return DEFAULTS[key]
    if isinstance(thresholds, Mapping):
        return thresholds.get(key, DEFAULTS[key])
    return getattr(thresholds, key, DEFAULTS[key])


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


def bootstrap_ci(
    values,
    *,
    seed: int,
    level: float = 0.95,
    resamples: int = 2000,
    statistic: Callable = np.mean,
    method: str = "percentile",
):
    """A `level` bootstrap confidence interval of `statistic` over `values` (scipy.stats.bootstrap
    with a resampler seeded by `seed`): the one home of glade's intervals.

    1-D `values` gives (low, high): NaNs are dropped; no data gives (nan, nan); one value or
    all equal gives (v, v), without warnings. 2-D values (n, k) give two arrays of k, one
    interval per column over the n rows (price paths: rows are seeds, columns turns).
    `statistic` must take an `axis` keyword (numpy reductions do)."""
    data = np.asarray(values, dtype=float)
    if data.ndim == 2:
        return _column_intervals(data, seed=seed, level=level, resamples=resamples, statistic=statistic, method=method)
    x = data.ravel()
    x = x[~np.isnan(x)]
    if x.size == 0:
        return (math.nan, math.nan)
    if x.size < 2 or np.all(x == x[0]):
        v = float(statistic(x))
        return (v, v)
    low, high = _column_intervals(
        x[:, None], seed=seed, level=level, resamples=resamples, statistic=statistic, method=method
    )
    return (float(low[0]), float(high[0]))


def _column_intervals(data: np.ndarray, *, seed, level, resamples, statistic, method) -> tuple[np.ndarray, np.ndarray]:
    from scipy.stats import bootstrap

    centre = statistic(data, axis=0)
    low, high = centre.astype(float).copy(), centre.astype(float).copy()
    varying = np.ptp(data, axis=0) > 0
    if data.shape[0] < 2 or not varying.any():
        return low, high
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = bootstrap(
            (data[:, varying],),
            statistic,
            n_resamples=int(resamples),
            confidence_level=level,
            method=method,
            vectorized=True,
            axis=0,
            rng=np.random.default_rng(seed),
        )
    lo, hi = np.asarray(result.confidence_interval.low, float), np.asarray(result.confidence_interval.high, float)
    broken = ~(np.isfinite(lo) & np.isfinite(hi))  # BCa can fail on tiny samples
    if broken.any():
        dist = result.bootstrap_distribution
        q = np.quantile(dist, [(1 - level) / 2, (1 + level) / 2], axis=-1)
        lo[broken], hi[broken] = q[0][broken], q[1][broken]
    low[varying], high[varying] = lo, hi
    return low, high


def describe(values, *, seed: int, level: float = 0.95, resamples: int = 2000) -> dict:
    """{"mean", "ci": [low, high], "n"} over the non-NaN values (mean None when there are none)."""
    x = np.asarray(values, dtype=float).ravel()
    x = x[~np.isnan(x)]
    mean = float(x.mean()) if x.size else math.nan
    return clean(
        {"mean": mean, "ci": list(bootstrap_ci(x, seed=seed, level=level, resamples=resamples)), "n": int(x.size)}
    )


def proportion_ci(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """An exact (Clopper-Pearson) interval for a rate of `successes` in `n` trials: unlike a
    bootstrap, it does not collapse to a point when every trial came out the same (0 of 8
    gives [0, 0.37]). No trials: (nan, nan)."""
    if n <= 0:
        return (math.nan, math.nan)
    from scipy.stats import binomtest

    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=level, method="exact")
    return (float(ci.low), float(ci.high))


def support(values, sign: float) -> float:
    """Share of the values that have the given sign (strictly: zeros never support)."""
    x = np.asarray(values, dtype=float).ravel()
    x = x[~np.isnan(x)]
    if x.size == 0 or sign == 0:
        return 0.0
    return float(np.mean(np.sign(x) == np.sign(sign)))


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
    return any(p <= (1.0 - drop) * ref for p in window)


def bubble(path: Sequence[float], legend_turn: int | None, rise: float, start: float | None = None) -> bool:
    """The good rises by at least `rise` then falls back: from the legend turn on, some
    path[t] >= (1 + rise) x the price before the legend, and a later path[u] (u > t) is back
    at or below that price. No legend, or L past the path: False."""
    if legend_turn is None or legend_turn < 0 or legend_turn >= len(path):
        return False
    ref = _reference(path, legend_turn, start)
    peaked = False
    for p in path[legend_turn:]:
        if peaked and p <= ref:
            return True
        if p >= (1.0 + rise) * ref:
            peaked = True
    return False


def path_distance(a: Sequence[float], b: Sequence[float]) -> float:
    """Mean over turns of |log a[t] - log b[t]| (over the common turns)."""
    n = min(len(a), len(b))
    if n == 0:
        return math.nan
    x, y = np.asarray(a[:n], dtype=float), np.asarray(b[:n], dtype=float)
    return float(np.mean(np.abs(np.log(x) - np.log(y))))
