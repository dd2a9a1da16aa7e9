"""Exact binomial intervals: a rate's (Clopper-Pearson), a rate over clusters whose members
disagree (Korn and Graubard), and the mean of a figure on the lattice of 0/1 outcomes (a rate
figure, or a difference of two, per seed: `lattice_bounds`)."""

from __future__ import annotations

import numpy as np

from .thresholds import DEFAULTS


def clopper_pearson(k: float, n: float, level: float = DEFAULTS.ci_level) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval of a binomial rate k / n (k may be fractional: a
    count of shares, as `korn_graubard` and `lattice_bounds` pass it)."""
    from scipy.stats import beta

    alpha = 1 - level
    low = 0.0 if k <= 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k >= n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return low, high


def korn_graubard(shares: np.ndarray, members: int, level: float) -> tuple[float, float]:
    """Korn and Graubard's (1998) interval of a rate from clusters' shares: the exact
    (Clopper-Pearson) interval at the effective sample size n* = p (1 - p) / var(p), var from
    the spread of the shares over their n clusters, n* at most `members` (m, as the NCHS
    standard for proportions truncates it), then scaled by (t at m - 1 / t at n - 1 degrees
    of freedom)^2 since the variance rests on n clusters, with x* = p n* (neither need be
    whole). Unlike a t interval of the shares it stays in [0, 1], and it does not stretch when
    one cluster stands apart: under the t interval, seven seeds where every cast crashed and
    one where half did read as weaker evidence than six and two."""
    from scipy.stats import t

    n, p = shares.size, float(shares.mean())
    var = float(shares.var(ddof=1)) / n
    size = float(members) if var <= 0 else min(p * (1 - p) / var, float(members))
    size *= (t.ppf((1 + level) / 2, members - 1) / t.ppf((1 + level) / 2, n - 1)) ** 2
    return clopper_pearson(p * size, size, level)


def lattice_bounds(x: np.ndarray, bounds: tuple[float, float], level: float) -> tuple[float, float]:
    """The interval of the mean of per-seed values on the lattice of 0/1 outcomes (a rate
    figure, its casts averaged, in [0, 1]; a difference of two in [-1, 1]), `bounds` (low <= 0
    <= high) where the values cannot go. The mean is high x p+ - |low| x p-, p+ the mean share
    of `high` the values reach above 0 and p- of `low` below it (the share of seeds showing
    the difference each way, a seed's casts averaged); each share gets its exact
    (Clopper-Pearson) interval over the n seeds (a count of shares, as Korn and Graubard's x*),
    and the ends combine the far ends: low = high x low+ - |low| x high-. It grows with every
    seed that shows the difference (t and Hall's skewness correction do not on a lattice: 7 of
    8 seeds read weaker than 5 of 8), and the same value in every seed is an interval too: no
    difference in 8 seeds is [-0.369, +0.369] on a rate's difference, since a difference
    present in 37% of seeds shows in none of 8 one time in 40."""
    n, (floor, ceiling) = x.size, bounds

    def share(part: np.ndarray, reach: float) -> tuple[float, float]:  # a value past the bound counts as at it
        return clopper_pearson(float(np.clip(part / reach, 0, 1).sum()), n, level) if reach > 0 else (0.0, 0.0)

    up, down = share(x, ceiling), share(-x, -floor)
    return ceiling * up[0] + floor * down[1], ceiling * up[1] + floor * down[0]
