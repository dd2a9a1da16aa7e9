"""Tests over many cells with the false discovery rate controlled (the flags) and the
heterogeneity test across casts (the robustness verdicts).

Each cell's p-value comes from the paired randomisation (sign-flip) test over clusters
(episodes or worlds): under "the live seat behaves as the stand-in would in the same states",
each cluster's difference is as likely to be negative as positive, so the p-value is the
share of the 2^n sign patterns whose |sum| reaches the observed one (exact up to EXACT
nonzero clusters, else `draws` seeded random patterns). Clusters whose difference is exactly
0 carry no sign and drop out.

The smallest p-value a cell can reach is 2 / 2^k with k clusters that differ: a cell where
fewer than 5 clusters differ can never fall below q = 0.10. Such cells are filtered out before
Benjamini-Hochberg (independent filtering, Bourgon, Gentleman and Huber 2010, PNAS 107:9546:
the filter reads only |differences|, which under the null carry no information about the
signs the test reads), and BH at level q runs over the rest. A cell's q-value is its BH-adjusted
p-value; the discoveries are the cells with q <= fdr_q.

The heterogeneity test compares casts on the same seeds: cast labels are shuffled within each
seed, never across seeds, so casts that cover different seeds are not told apart by their seeds.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from .stats import NO_DIFFERENCE
from .thresholds import DEFAULTS

EXACT = 14  # up to this many nonzero clusters the test enumerates every sign pattern
DRAWS = 20000  # random sign patterns beyond that


@cache
def _patterns(k: int) -> np.ndarray:
    """All 2^k sign patterns, (2^k, k)."""
    bits = (np.arange(2**k)[:, None] >> np.arange(k)[None, :]) & 1
    return 1.0 - 2.0 * bits


def sign_flip(diffs, *, seed: int = 0, draws: int = DRAWS) -> tuple[float, float]:
    """(p, smallest attainable p) of the two-sided sign-flip test of mean(diffs) = 0 (NaNs
    dropped). No nonzero difference: (1.0, 1.0)."""
    d = np.asarray(diffs, dtype=float).ravel()
    d = d[~np.isnan(d)]
    d = d[np.abs(d) > NO_DIFFERENCE]  # float rounding is no difference
    k = int(d.size)
    if k == 0:
        return 1.0, 1.0
    observed = abs(d.sum()) * (1 - 1e-9)  # ties (equal sums) count as reaching the observed
    if k <= EXACT:
        sums = np.abs(_patterns(k) @ d)
        return float(np.mean(sums >= observed)), min(1.0, 2.0 / 2**k)
    rng = np.random.default_rng(seed)
    signs = rng.choice((-1.0, 1.0), size=(draws, k))
    hits = int(np.sum(np.abs(signs @ d) >= observed))
    return (1 + hits) / (draws + 1), max(2.0 ** (1 - k), 1 / (draws + 1))  # 2 / 2**k overflowed past 1,023 pairs


def benjamini_hochberg(p_values) -> np.ndarray:
    """BH-adjusted p-values (q-values) of a sequence of p-values, in the input order."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def filtered_bh(p_values, smallest, q: float) -> np.ndarray:
    """q-values after independent filtering: cells whose smallest attainable p is above `q`
    can never be discoveries and are left out (NaN); BH runs over the rest."""
    p, p_min = np.asarray(p_values, dtype=float), np.asarray(smallest, dtype=float)
    out = np.full(p.size, np.nan)
    keep = p_min <= q
    out[keep] = benjamini_hochberg(p[keep])
    return out


def heterogeneity(groups: list, seeds: list | None = None, *, seed: int = 0, draws: int = 9999) -> float | None:
    """p-value that a 0/1 outcome's rate is the same in every group (casts) on the same seeds: a
    permutation test of the chi-square statistic, cast labels shuffled within each seed, so seed
    composition (a cast that lost some seeds to seat faults) is not read as cast dependence.
    `seeds`: each group's seed per world (None: the i-th world of every group is on seed i). Only
    seeds with worlds in two or more groups carry information; the rest are left out. None when
    fewer than two groups remain or the outcome never varies on those seeds."""
    if len(groups) < 2:
        return None
    if seeds is None:
        seeds = [np.arange(len(g)) for g in groups]
    values = np.concatenate([np.asarray(g, dtype=float) for g in groups])
    strata = np.concatenate([np.asarray(s) for s in seeds])
    labels = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
    # a seed with worlds in at least two groups: the only ones whose labels can be shuffled
    shared = [s for s in np.unique(strata) if len(np.unique(labels[strata == s])) > 1]
    keep = np.isin(strata, shared)
    values, strata, labels = values[keep], strata[keep], labels[keep]
    groups_left = np.unique(labels)
    if len(groups_left) < 2 or values.min() == values.max():
        return None
    order = np.argsort(strata, kind="stable")  # each seed's worlds side by side
    values, strata, labels = values[order], np.searchsorted(np.unique(strata), strata[order]), labels[order]
    sizes = np.array([np.sum(labels == i) for i in groups_left])
    overall = values.mean()

    def statistic(y: np.ndarray) -> np.ndarray:  # y: (draws, N)
        sums = np.stack([y[:, labels == i].sum(axis=1) for i in groups_left], axis=1)
        return ((sums / sizes - overall) ** 2 * sizes).sum(axis=1)

    observed = statistic(values[None, :])[0] * (1 - 1e-9)  # ties (equal statistics) reach the observed
    rng = np.random.default_rng(seed)
    # random keys offset by the seed's rank: sorting them permutes the worlds within each seed only
    within = np.argsort(strata[None, :] * 2.0 + rng.random((draws, values.size)), axis=1)
    hits = int(np.sum(statistic(values[within]) >= observed))
    return (1 + hits) / (draws + 1)


def untestable(method: dict, cells: list[dict]) -> str | None:
    """Why no cell could be tested, when that is so: in every cell the council and the stand-in
    differ in too few of the paired episodes (or worlds) for the exact sign-flip test's smallest
    p, 2 / 2^k over k differing pairs, to reach q. No flag was possible, which is no all-clear.
    None when a cell was tested, or when nothing differs at all (identical policies)."""
    if method.get("testable", 1) or not cells:  # a flags.json from before the count: not said
        return None
    differs = [c for c in cells if c["p_min"] < 1 or not math.isfinite(c["effect"] or 0) or c["effect"]]
    if not differs:
        return None
    q = method.get("fdr_q", DEFAULTS.fdr_q)
    n = max(c.get("n") or 0 for c in cells)
    smallest = min(c["p_min"] for c in differs)
    need = math.ceil(math.log2(2 / q) - 1e-9)  # the fewest differing pairs whose smallest p reaches q
    return (
        f"no cell could be tested at this n: with at most {n} paired episode{'' if n == 1 else 's'} or seed{'' if n == 1 else 's'} per cell, "
        f"of which the council and the stand-in differ in too few, the exact sign-flip test's smallest p "
        f"(2/2^k over k differing pairs) is at least {smallest:.3g} in every cell and cannot reach q = {q}, so none "
        f"of the {len(cells)} cells could be flagged, whatever the council did. Rerun glade eval with more seeds "
        f"into a new folder (seeds.count=N out=DIR; at least {need} differing pairs are needed); this folder keeps "
        "the run of these seeds."
    )
