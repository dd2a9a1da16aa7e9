"""Why a council's casts on one seed are averaged before an outcome interval or test.

    .venv/bin/python benchmarks/cast_coverage.py           (2,000 draws a cell, about 80 s)
    .venv/bin/python benchmarks/cast_coverage.py --quick   (the headline cells alone, seconds; headline last)

The casts of a seed play the same world seed and are each compared with the ONE all-stand-in
world of that seed, so their paired differences share that world's noise. Simulated under the
null (no council effect), seed s and cast c:

    D[s, c] = w[s] + e[s, c] - e0[s]

e (the council world's noise) and e0 (the stand-in world's) are independent, normal or skewed
(a centred lognormal, sigma 0.5); w is a seed-by-council effect of spread `tau` (none: 0). The
shared e0 alone correlates two casts of a seed at 0.5; tau raises it to (1 + tau^2) / (2 + tau^2).
"independent" is the reference where every world has a stand-in world of its own.

For each cell it prints how often glade's 95% interval (glade.eval.stats.interval) covers 0 and
how often the sign-flip test (glade.eval.fdr.sign_flip) gives p <= 0.10, once counting every
world as a unit (seeds x casts) and once over seed means (casts averaged, what glade does).

The second table does the same for a pooled crash (or bubble) rate, a 0/1 per world: seed s
crashes with a probability p[s] drawn from a beta of mean p whose casts correlate at `rho`
(the intra-seed correlation), each cast a Bernoulli draw. It prints how often the 95% interval
covers p: exact (Clopper-Pearson) over every world, and glade's `seed_rate` over seeds.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time

import numpy as np
from help_format import DefaultsShown

from glade.eval.fdr import sign_flip
from glade.eval.metrics import seed_rate
from glade.eval.stats import clopper_pearson, interval

LOG_SIGMA = 0.5
HEADLINE = ("normal", 2, 0.0, 8)  # noise, casts, tau, seeds: the cell both modes play
RATE_HEADLINE = (0.5, 0.6, 3, 8)  # rate, rho, casts, seeds: the rate cell both modes play


def noise(rng: np.random.Generator, shape: tuple[int, int], dist: str) -> np.ndarray:
    """Mean 0, variance 1: normal, or a lognormal centred and scaled (skewness about 1.75)."""
    if dist == "normal":
        return rng.standard_normal(shape)
    z = rng.lognormal(0.0, LOG_SIGMA, shape)
    mean, var = np.exp(LOG_SIGMA**2 / 2), (np.exp(LOG_SIGMA**2) - 1) * np.exp(LOG_SIGMA**2)
    return (z - mean) / np.sqrt(var)


def differences(rng, seeds: int, casts: int, tau: float | None, dist: str) -> np.ndarray:
    """(seeds, casts) paired differences under the null; tau None: every world its own stand-in."""
    if tau is None:
        return noise(rng, (seeds, casts), dist) - noise(rng, (seeds, casts), dist)
    shared = noise(rng, (seeds, 1), dist)  # the seed's one stand-in world
    return tau * rng.standard_normal((seeds, 1)) + noise(rng, (seeds, casts), dist) - shared


def cell(rng, seeds: int, casts: int, tau: float | None, dist: str, draws: int) -> dict:
    covered = {"worlds": [], "seeds": []}
    rejected = {"worlds": 0, "seeds": 0}
    for _ in range(draws):
        d = differences(rng, seeds, casts, tau, dist)
        for unit, values in (("worlds", d.ravel()), ("seeds", d.mean(axis=1))):
            iv = interval(values)
            if iv.low is not None:
                covered[unit].append(iv.low <= 0.0 <= iv.high)
            p, _ = sign_flip(values, draws=2000)
            rejected[unit] += p <= 0.10
    return {
        "cover_worlds": float(np.mean(covered["worlds"])),
        "cover_seeds": float(np.mean(covered["seeds"])),
        "p10_worlds": rejected["worlds"] / draws,
        "p10_seeds": rejected["seeds"] / draws,
    }


def rate_cell(rng, p: float, rho: float, casts: int, seeds: int, draws: int) -> dict:
    """Coverage of the true rate p by the exact interval over worlds and by glade's over seeds."""
    a, b = p * (1 - rho) / rho, (1 - p) * (1 - rho) / rho  # a beta of mean p, intra-seed correlation rho
    covered = {"worlds": 0, "seeds": 0}
    for _ in range(draws):
        crashed = rng.random((seeds, casts)) < rng.beta(a, b, (seeds, 1))
        low, high = clopper_pearson(int(crashed.sum()), crashed.size)
        covered["worlds"] += low <= p <= high
        iv = seed_rate(crashed.mean(axis=1), casts)
        covered["seeds"] += iv.low is not None and iv.low <= p <= iv.high
    return {"cover_worlds": covered["worlds"] / draws, "cover_seeds": covered["seeds"] / draws}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=DefaultsShown)
    p.add_argument(
        "--quick",
        action="store_true",
        help="the headline cells only (normal noise, 2 casts, 8 seeds; a rate 0.5, rho 0.6, 3 casts, 8 seeds): seconds",
    )
    p.add_argument("--draws", type=int, default=None, help="draws per cell (default 2,000)")
    p.add_argument("--seed", type=int, default=20261202, help="seeds every cell's draws")
    args = p.parse_args(argv)
    if args.draws is not None and args.draws < 1:
        p.error(f"--draws {args.draws}: give at least 1 draw per cell")
    draws = args.draws or 2000
    rng = np.random.default_rng(args.seed)
    grid = (
        [HEADLINE]
        if args.quick
        else [
            (dist, casts, tau, seeds)
            for dist in ("normal", "lognormal")
            for casts in (2, 3)
            for tau in (None, 0.0, 1.0)
            for seeds in (4, 6, 8, 12)
        ]
    )
    started = time.perf_counter()
    print(f"glade cast coverage: 95% intervals and sign-flip p <= 0.10 under the null, {draws:,} draws a cell")
    print(f"  command  {' '.join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])}")
    print(f"  date     {datetime.date.today().isoformat()}")
    print()
    print(
        f"  {'noise':<9} {'casts':>5} {'tau':>11} {'corr':>5} {'seeds':>5}   cover: worlds  seeds   p<=.10: worlds  seeds"
    )
    results = {}
    for dist, casts, tau, seeds in grid:
        corr = 0.0 if tau is None else (1 + tau**2) / (2 + tau**2)
        results[dist, casts, tau, seeds] = r = cell(rng, seeds, casts, tau, dist, draws)
        label = "independent" if tau is None else f"{tau:g}"
        print(
            f"  {dist:<9} {casts:>5} {label:>11} {corr:>5.2f} {seeds:>5}   "
            f"{r['cover_worlds']:>13.3f} {r['cover_seeds']:>6.3f}   {r['p10_worlds']:>14.3f} {r['p10_seeds']:>6.3f}"
        )
    rate_grid = (
        [RATE_HEADLINE]
        if args.quick
        else [
            (p, rho, casts, seeds)
            for p in (0.3, 0.5, 0.8)
            for rho in (0.3, 0.6)
            for casts in (2, 3)
            for seeds in (6, 8, 12)
        ]
    )
    print(f"\n  pooled rate: coverage of the true rate by a 95% interval, {draws:,} draws a cell")
    print(f"  {'rate':>5} {'rho':>5} {'casts':>5} {'seeds':>5}   exact over worlds   glade over seeds")
    rates = {}
    for p, rho, casts, seeds in rate_grid:
        rates[p, rho, casts, seeds] = r = rate_cell(rng, p, rho, casts, seeds, draws)
        print(f"  {p:>5.1f} {rho:>5.1f} {casts:>5} {seeds:>5}   {r['cover_worlds']:>17.3f}   {r['cover_seeds']:>16.3f}")
    print(f"\n  {time.perf_counter() - started:.0f} s")
    head, rate = results[HEADLINE], rates[RATE_HEADLINE]
    print(
        "headline (normal noise, 2 casts sharing each seed's stand-in world, 8 seeds): 95% interval coverage "
        f"{head['cover_seeds']:.3f} over seed means (glade) vs {head['cover_worlds']:.3f} over worlds; "
        f"null p <= 0.10 in {head['p10_seeds']:.3f} vs {head['p10_worlds']:.3f}; a pooled rate (3 casts, 8 seeds, "
        f"rate 0.5, rho 0.6) covered {rate['cover_seeds']:.3f} over seeds vs {rate['cover_worlds']:.3f} over worlds"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
