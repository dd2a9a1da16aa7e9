"""The field notes' three lessons as measured verdicts, each with n and an interval that holds
at that n (eval/stats.py).

One rule holds an interval to a lesson's floor in all three (`against_floor`, in
glade.eval.floor_rule): a quantity is beyond the floor (a rate robust, a price or a lever
moved) only when its whole interval lies at or beyond the floor on one side of 0, inside it
(sporadic, no move) only when its whole interval lies less than the floor from 0, and undecided
otherwise: an interval that straddles the floor does not decide. The seam and the levers name
the undecided case: "at the floor" when that interval is narrower than the floor (an effect
about the floor's size, which more seeds alone may not settle), "not enough seeds" when it is
as wide or wider (more seeds would narrow it) or there are too few seeds; robustness says "not
enough seeds" for both. The mean alone never decides. A value the same in every seed is its own
interval (a rate's: eval/exact.py); fewer than 4 give none.

1. Contingent emergence (`robustness`): for each scenario, named phenomenon (crash, bubble of
   the legend good) and world, the rate in every cast and pooled over seeds, and a verdict: robust
   (present in every cast, and the pooled rate's interval over seeds at or above `robust_floor`),
   cast-dependent (the rate differs across casts on the same seeds: permutation test of the
   casts' rates, cast labels shuffled within each seed, p < 0.05), sporadic (present, but the
   pooled rate's interval lies below the floor), absent, or not enough seeds (a cast with fewer
   than 4 seeds, or a pooled interval that straddles the floor).
2. Author the seam (`seam_split`): the legend good's log price move at the legend turn split
   into the part clearing and repricing made (the seats' trading, figure `traded_move`) and
   the part written at the settlement seam (`seam_move`), each held to `move_floor`:
   when the seam moved it, which part is larger is held to the per-seed |seam| - |traded|
   (`seam_over_traded`): authored when its interval lies above 0, mixed when below 0, and "seam
   moved, larger part undecided" when it holds 0 (the share |seam| / (|traded| + |seam|) of the
   mean moves is a descriptive figure beside it, never the verdict); emergent when only trading
   moved it (the seam's interval inside the floor), no move when both intervals lie inside the
   floor, and at the floor or not enough seeds (`_undecided`) when the seam's interval, or the
   trading's beside a seam that did not move, straddles the floor.
3. The stand-in flatters wrong fixes (`lever_audit`): a lever's effect (scenario `to` minus
   `from` on the same seed and cast) in the stand-in world and in each council, and the
   difference in differences; holds live, stand-in only (the stand-in moves and the council
   does not, or moves the other way), live only, or neither, and at the floor or not enough
   seeds (`_undecided`) when either world's interval straddles the floor. The floor is
   `lever_min_effect`, for figures in units that share of the stand-in's mean magnitude in the
   `from` scenario (at least `lever_min_effect` units): the same scaled floor the effects are
   held to.

Seat attribution (leave-one-out replays) lives in eval/attribution.py.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .attribution import attribution
from .faults import without_faults
from .fdr import heterogeneity
from .figures import FIGURES, PHENOMENA
from .floor_rule import AT_FLOOR, AT_FLOOR_RULE, against_floor, narrower, stored_interval
from .metrics import per_seed, seed_rate, world_figures, world_unit
from .recipe import STANDIN, Lever
from .stats import MIN_N, Interval, clean, interval
from .thresholds import DEFAULTS, Thresholds

CAST_ALPHA = 0.05  # a difference in rates across casts below this p counts as cast-dependent

# Every verdict each lesson's verdict function can return, with its rule in words, "the floor"
# being that lesson's: the lead's rule sentence, the tables' captions and Terms all say these.
ROBUST_RULES = {
    "robust": "present in every cast, and the pooled rate's interval wholly at or above the floor",
    "cast-dependent": (
        f"the casts' rates differ on the same seeds (permutation test, cast labels shuffled within each seed, "
        f"p < {CAST_ALPHA})"
    ),
    "sporadic": "present, and the pooled rate's interval wholly below the floor",
    "absent": "seen on no seed in any cast",
    "not enough seeds": (
        f"a cast with fewer than {MIN_N} seeds, no pooled interval (the same share on every seed, neither 0 nor 1), "
        "or a pooled interval across the floor (or above it while a cast never showed it)"
    ),
}
SEAM_UNDECIDED = "seam moved, larger part undecided"  # the seam moved it; which part is larger, this n does not say
SEAM_RULES = {
    "authored": (
        "the seam moved the price (its part's interval wholly at or beyond the floor) and the interval of the "
        "per-seed |seam| - |traded| lies above 0: the seam made most of the move"
    ),
    "mixed": "the seam moved the price and that interval lies below 0: trading made most of the move",
    SEAM_UNDECIDED: "the seam moved the price and that interval holds 0 (or there are too few seeds for one)",
    "emergent": (
        "trading alone moved the price: the traded part's interval wholly at or beyond the floor, the seam's wholly "
        "inside it (the move emerged from the seats' trading, nothing written at the seam)"
    ),
    "no move": "both parts' intervals wholly inside the floor",
    AT_FLOOR: AT_FLOOR_RULE + " (the seam's interval, or the traded part's beside a seam that did not move)",
    "not enough seeds": (
        f"fewer than {MIN_N} seeds, or the seam's interval (or the traded part's, beside a seam that did not move) "
        "across the floor and as wide as it or wider: more seeds would narrow it"
    ),
}
LEVER_RULES = {
    "holds live": "the stand-in's effect and the council's both move (intervals wholly at or beyond the floor), the same way",
    "stand-in only": (
        "the stand-in's effect moves and the council's does not (interval wholly inside the floor) or moves the other way"
    ),
    "live only": "the council's effect moves and the stand-in's does not",
    "neither": "both effects' intervals lie wholly inside the floor",
    AT_FLOOR: AT_FLOOR_RULE + " (a world's effect interval; where both worlds' cross the floor, both narrower)",
    "not enough seeds": (
        f"a world with fewer than {MIN_N} seeds, or a world's effect interval across the floor and as wide as it or "
        "wider: more seeds would narrow it"
    ),
}


def rules_text(rules: dict[str, str]) -> str:
    """Every verdict with its rule: "robust: present in every cast, ...; sporadic: ..."."""
    return "; ".join(f"{verdict}: {rule}" for verdict, rule in rules.items())


def _worlds_of(worlds: pd.DataFrame, scenario: str) -> list[str]:
    here = worlds[worlds["scenario"] == scenario]
    councils = [c for c in dict.fromkeys(here["council"]) if c != STANDIN]
    return ([STANDIN] if (here["council"] == STANDIN).any() else []) + councils


# --- lesson 1: robustness ----------------------------------------------------------------------


def robustness(worlds: pd.DataFrame, thresholds: Thresholds = DEFAULTS, seed: int = 0) -> list[dict]:
    level, floor = thresholds.ci_level, thresholds.robust_floor
    out = []
    for scenario in dict.fromkeys(worlds["scenario"]):
        here = worlds[worlds["scenario"] == scenario]
        good = here["legend_good"].iloc[0]
        for phenomenon in PHENOMENA:
            for world in _worlds_of(worlds, scenario):
                mine = here[(here["council"] == world) & here[phenomenon].notna()]
                if not len(mine):
                    continue  # no legend in the turns played
                ids = sorted(set(mine["cast"]))  # the casts' own ids: seat faults may have left one out
                by_cast = [mine[mine["cast"] == c][phenomenon].to_numpy() for c in ids]
                seeds_of = [mine[mine["cast"] == c]["seed"].to_numpy() for c in ids]
                casts = [
                    interval(v, level=level, rate=True).as_dict() | {"cast": int(c)}
                    for c, v in zip(ids, by_cast, strict=True)
                ]
                pooled = seed_rate(per_seed(mine, [phenomenon])[phenomenon], len(by_cast), level)
                hetero = heterogeneity(by_cast, seeds_of, seed=seed) if len(by_cast) > 1 else None
                verdict = _robust_verdict(by_cast, pooled, hetero, floor)
                out.append(
                    clean(
                        {
                            "scenario": scenario,
                            "phenomenon": phenomenon,
                            "good": good,
                            "world": world,
                            "casts": casts,
                            "rate": pooled.as_dict(),
                            "heterogeneity_p": hetero,
                            "verdict": verdict,
                            "floor": floor,
                        }
                    )
                )
    return out


def _robust_verdict(by_cast: list[np.ndarray], pooled: Interval, hetero: float | None, floor: float) -> str:
    if min(len(v) for v in by_cast) < MIN_N:
        return "not enough seeds"
    present = [v.sum() > 0 for v in by_cast]
    if not any(present):
        return "absent"
    if hetero is not None and hetero < CAST_ALPHA:
        return "cast-dependent"
    if pooled.low is None:  # the same share on every seed, neither 0 nor 1: no interval to hold to the floor
        return "not enough seeds"
    side = against_floor(pooled, floor)
    if all(present) and side == "beyond":
        return "robust"
    return "sporadic" if side == "inside" else "not enough seeds"


# --- lesson 2: the seam --------------------------------------------------------------------------


def seam_split(worlds: pd.DataFrame, thresholds: Thresholds = DEFAULTS) -> list[dict]:
    level, floor = thresholds.ci_level, thresholds.move_floor
    out = []
    for scenario in dict.fromkeys(worlds["scenario"]):
        here = worlds[worlds["scenario"] == scenario]
        for world in _worlds_of(worlds, scenario):
            mine = here[(here["council"] == world)].dropna(subset=["traded_move", "seam_move"])
            if not len(mine):
                continue
            unit = world_unit(mine["cast"].nunique())
            seeds = per_seed(mine, ["traded_move", "seam_move"])  # casts averaged per seed
            traded = interval(seeds["traded_move"], level=level, unit=unit)
            seam = interval(seeds["seam_move"], level=level, unit=unit)
            total = interval(seeds["traded_move"] + seeds["seam_move"], level=level, unit=unit)
            # which part is larger, seed by seed: the verdict's; the share of the mean moves only describes
            larger = interval(seeds["seam_move"].abs() - seeds["traded_move"].abs(), level=level, unit=unit)
            size = abs(traded.mean) + abs(seam.mean)
            share = abs(seam.mean) / size if size > 0 else None
            out.append(
                clean(
                    {
                        "scenario": scenario,
                        "world": world,
                        "good": here["legend_good"].iloc[0],
                        "turn": here["legend_turn"].iloc[0],
                        "total": total.as_dict(),
                        "traded": traded.as_dict(),
                        "seam": seam.as_dict(),
                        "authored_share": share,
                        "seam_over_traded": larger.as_dict(),
                        "verdict": _seam_verdict(traded, seam, larger, floor),
                        "floor": floor,
                    }
                )
            )
    return out


def _seam_verdict(traded: Interval, seam: Interval, larger: Interval, floor: float) -> str:
    """`larger`: the per-seed |seam| - |traded|, whose interval (not the means) says which part is larger."""
    if traded.n < MIN_N:
        return "not enough seeds"
    by_seam, by_trading = against_floor(seam, floor), against_floor(traded, floor)
    if by_seam == "beyond":
        if against_floor(larger, 0.0) != "beyond":  # holds 0, or too few seeds
            return SEAM_UNDECIDED
        return "authored" if larger.mean > 0 else "mixed"
    if by_seam is None:  # a part that straddles the floor decides nothing
        return _undecided([seam], floor)
    if by_trading is None:  # beside a seam that did not move, the traded part decides
        return _undecided([traded], floor)
    return "emergent" if by_trading == "beyond" else "no move"


# --- lesson 3: levers ----------------------------------------------------------------------------


def lever_audit(worlds: pd.DataFrame, levers: tuple[Lever, ...], thresholds: Thresholds = DEFAULTS) -> list[dict]:
    level, min_effect = thresholds.ci_level, thresholds.lever_min_effect
    out = []
    for lever in levers:
        figure = lever.figure
        here = worlds[worlds["scenario"].isin([lever.from_, lever.to])]
        if not {lever.from_, lever.to} <= set(here["scenario"]):
            continue  # results without one of its scenarios (an older folder)
        key = ["council", "cast", "seed"]
        table = here.pivot_table(index=key, columns="scenario", values=figure, aggfunc="first")
        if lever.from_ not in table or lever.to not in table:
            continue
        effect = (table[lever.to] - table[lever.from_]).dropna()
        standin = effect.xs(STANDIN, level="council") if STANDIN in effect.index.get_level_values(0) else None
        if standin is None:
            continue
        standin = standin.droplevel("cast")
        base = here[(here["council"] == STANDIN) & (here["scenario"] == lever.from_)][figure]
        scale = max(float(base.abs().mean()), 1.0) if FIGURES[figure].relative else 1.0
        lattice = FIGURES[figure].rate  # on the lattice: an effect in [-1, 1], a difference of two in [-2, 2]
        bounds, did_bounds = ((-1.0, 1.0), (-2.0, 2.0)) if lattice else (None, None)
        ref = interval(standin, level=level, bounds=bounds, lattice=lattice)
        floor = min_effect * scale  # the floor every world's effect is held to (against_floor)
        entry = {
            "lever": lever.name,
            "from": lever.from_,
            "to": lever.to,
            "figure": figure,
            "standin": ref.as_dict(),
            "min_effect": min_effect,
            "floor": floor,
            "councils": [],
        }
        for council in dict.fromkeys(effect.index.get_level_values("council")):
            if council == STANDIN:
                continue
            by_world = effect.xs(council, level="council")
            unit = world_unit(by_world.index.get_level_values("cast").nunique())
            mine = by_world.groupby(level="seed").mean()  # casts averaged per seed (metrics.per_seed)
            did = mine - mine.index.map(standin).to_numpy(dtype=float)
            live = interval(mine, level=level, unit=unit, bounds=bounds, lattice=lattice)
            entry["councils"].append(
                {
                    "council": council,
                    "effect": live.as_dict(),
                    "did": interval(did, level=level, unit=unit, bounds=did_bounds, lattice=lattice).as_dict(),
                    "verdict": _lever_verdict(ref, live, floor),
                }
            )
        out.append(clean(entry))
    return out


def _lever_verdict(standin: Interval, live: Interval, floor: float) -> str:
    if min(standin.n, live.n) < MIN_N:
        return "not enough seeds"
    s, c = against_floor(standin, floor), against_floor(live, floor)
    if s is None or c is None:  # a world that straddles the floor leaves the lever undecided
        return _undecided([iv for iv, side in ((standin, s), (live, c)) if side is None], floor)
    if s == c == "beyond" and math.copysign(1, standin.mean) == math.copysign(1, live.mean):
        return "holds live"
    if s == "beyond":
        return "stand-in only"
    return "live only" if c == "beyond" else "neither"


def _undecided(across: list[Interval], floor: float) -> str:
    """The verdict where `across` (the intervals that decide, each enough seeds) straddle the floor:
    "at the floor" when every one is narrower than the floor (more seeds alone may not lift it off the
    floor), "not enough seeds" when one is as wide or wider (more seeds would narrow it) or has no
    interval at all."""
    if all(iv.n >= MIN_N and iv.low is not None and narrower(iv.low, iv.high, floor) for iv in across):
        return AT_FLOOR
    return "not enough seeds"


def did_text(standin: dict, live: dict, did: dict) -> str:
    """Which world's lever effect is larger, where the difference in differences (live minus
    stand-in, seed by seed) excludes 0; "" where it does not."""
    if standin.get("mean") is None or live.get("mean") is None or not stored_interval(did).excludes_zero():
        return ""
    s, d = math.copysign(1, standin["mean"]) if standin["mean"] else 0, math.copysign(1, did["mean"])
    if s == d:
        which = "the council's effect is larger than the stand-in's"
    elif s and (not live["mean"] or math.copysign(1, live["mean"]) != d):
        which = "the stand-in's effect is larger than the council's"
    else:  # no stand-in effect, or the council's mean runs the other way
        which = f"the council's effect lies clearly {'above' if d > 0 else 'below'} the stand-in's"
    return f"; {which} (difference in differences excludes 0)"


# --- all of it ------------------------------------------------------------------------------------


def verdicts(
    episodes: pd.DataFrame,
    replays: pd.DataFrame | None,
    levers: tuple[Lever, ...] = (),
    thresholds: Thresholds = DEFAULTS,
    seed: int = 0,
    decisions: pd.DataFrame | None = None,
) -> dict:
    """{"robustness", "seam", "levers", "attribution"} (JSON-ready; see the module's doc). Seat
    faults are left out first (glade.eval.faults): a held turn is not the model's behaviour."""
    decisions, episodes, _ = without_faults(decisions, episodes)
    _, replays, _ = without_faults(None, replays)  # a replay's faults are its own world's
    if episodes is None or len(episodes) == 0:
        return {"robustness": [], "seam": [], "levers": [], "attribution": []}
    worlds = world_figures(episodes, thresholds)
    return {
        "robustness": robustness(worlds, thresholds, seed),
        "seam": seam_split(worlds, thresholds),
        "levers": lever_audit(worlds, tuple(levers), thresholds),
        "attribution": attribution(worlds, episodes, replays, thresholds, decisions),
    }
