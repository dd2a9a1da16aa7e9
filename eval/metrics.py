"""What an evaluation measures, from its decisions and episodes tables (see eval/rows.py).

Decision level, per scenario x council x policy x creature x phase: how often the live seat
takes the stand-in's side on each good, the two direction distributions and their
Jensen-Shannon divergence, quantity and price differences (glade.eval.decision_metrics).

Outcome level, per scenario x council: every figure of the council's worlds (the catalogue
in eval/figures.py, and the price-path distance of each good to the paired all-stand-in
world) beside the same figure in the paired all-stand-in worlds (same scenario and seed),
and the effect council - stand-in computed on the paired differences.

Every interval carries n (seeds, a council's casts averaged per seed, for outcomes and for
decisions alike) and holds at that n (eval/stats.py: none below 4, words for a value that never
varies), over whole seeds, never single rows; the decision summary's row-level figures without
an interval are descriptive (see glade.eval.decision_metrics.decision_summary). Price paths are
defined in eval/stats.py; the legend turn, its good and the phases in eval/figures.py.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from glade.config import as_plain

from .decision_metrics import decision_summary, seat_validity
from .faults import without_faults
from .figures import FIGURES, PATH_DISTANCE, figure_bounds, mechanism
from .recipe import STANDIN
from .stats import Interval, clean, cluster_rate, describe, interval, path_distance, support
from .thresholds import DEFAULTS, Thresholds

# --- outcome level ----------------------------------------------------------------------------


def world_figures(episodes: pd.DataFrame, thresholds: Thresholds = DEFAULTS) -> pd.DataFrame:
    """One row per world (episode): every figure of the catalogue (NaN where it does not
    apply, e.g. crash and bubble when the scenario has no legend or it falls after the last
    turn played), and path_distance_<good> against the paired stand-in world (0 for
    stand-in worlds themselves; NaN when the pair has no stand-in world)."""
    if episodes is None or len(episodes) == 0:
        return pd.DataFrame()
    worlds = episodes.drop_duplicates("episode_id").reset_index(drop=True).copy()
    records = worlds.to_dict("records")
    for name, figure in FIGURES.items():
        worlds[name] = [float(figure.measure(ep, thresholds)) for ep in records]
    paths = [json.loads(p) for p in worlds["price_path"]]
    goods = list(dict.fromkeys(g for path in paths for g in path))  # every world's: a mixed eval's differ
    standin_paths = {
        pid: paths[i]
        for i, (pid, council) in enumerate(zip(worlds["pair_id"], worlds["council"]))
        if council == STANDIN
    }
    for g in goods:
        column = []
        for i, pid in enumerate(worlds["pair_id"]):
            ref = standin_paths.get(pid)
            column.append(
                path_distance(paths[i][g], ref[g]) if ref is not None and g in ref and g in paths[i] else math.nan
            )
        worlds[f"{PATH_DISTANCE}{g}"] = column
    return worlds


def figure_names(worlds: pd.DataFrame) -> list[str]:
    """The catalogue, and the price-path distance of each good these worlds have (a mixed eval's differ)."""
    return [*FIGURES, *(c for c in worlds.columns if c.startswith(PATH_DISTANCE) and worlds[c].notna().any())]


def paired_worlds(worlds: pd.DataFrame, scenario: str, council: str) -> pd.DataFrame:
    """The council's worlds of a scenario, each beside its paired stand-in world: every figure
    column as it is (the council's) and as `standin:<figure>` (its pair's; NaN without one)."""
    mine = worlds[(worlds["scenario"] == scenario) & (worlds["council"] == council)].reset_index(drop=True)
    ref = worlds[(worlds["scenario"] == scenario) & (worlds["council"] == STANDIN)].drop_duplicates("pair_id")
    figures = figure_names(worlds)
    ref = ref.set_index("pair_id")[figures].add_prefix("standin:")
    return mine.join(ref, on="pair_id")


def pairs_of(paired: pd.DataFrame, figure: str) -> pd.DataFrame:
    """One figure of `paired_worlds`: columns episode_id, pair_id, cast, seed, live, standin,
    diff; pairs with a NaN on either side are left out."""
    out = pd.DataFrame(
        {
            "episode_id": paired["episode_id"].to_numpy(),
            "pair_id": paired["pair_id"].to_numpy(),
            "cast": paired["cast"].to_numpy(),
            "seed": paired["seed"].to_numpy(),
            "live": paired[figure].to_numpy(dtype=float),
            "standin": paired[f"standin:{figure}"].to_numpy(dtype=float),
        }
    )
    out["diff"] = out["live"] - out["standin"]
    return out.dropna(subset=["live", "standin"]).reset_index(drop=True)


def per_seed(frame: pd.DataFrame, columns: list[str], within: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per seed, a council's casts on that seed averaged: the unit every outcome
    interval and test counts. The casts of a seed share its world's draws and its one paired
    stand-in world, so their differences move together: counted as independent worlds, 95%
    intervals covered 0.80 to 0.92 of the time (benchmarks/cast_coverage.py). `within`: columns
    kept apart (say scenario and council), one row per seed in each."""
    return frame.groupby([*within, "seed"], sort=True)[columns].mean().reset_index()


def seed_rate(shares, casts: int, level: float = DEFAULTS.ci_level) -> Interval:
    """A council's rate of a phenomenon over its seeds, from each seed's share of its casts that
    showed it. The casts of a seed share its draws, so the seed is the unit (counted as
    independent worlds, a 95% interval covered as little as 0.81 with 3 casts;
    benchmarks/cast_coverage.py). Exact over seeds where every seed's casts agree (one cast, or
    all 0/1), else Korn and Graubard's interval of the shares (glade.eval.stats.korn_graubard)."""
    if casts <= 1:
        return interval(shares, level=level, rate=True)
    shares = np.asarray(shares, dtype=float)
    return cluster_rate(
        shares,
        members=int(np.isfinite(shares).sum()) * casts,
        level=level,
        agreeing=f"seeds (their {casts} casts agreeing in each)",
        averaged=world_unit(casts),
    )


def outcome_summary(worlds: pd.DataFrame, thresholds: Thresholds = DEFAULTS) -> list[dict]:
    """Per scenario x council: for each figure the council's value, the stand-in's value and
    the paired effect council - stand-in, each {"mean", "ci", "n"} over seeds (a council's
    casts averaged per seed, `per_seed`; the effect also has "support": the share of seeds
    whose difference has the effect's sign)."""
    if worlds is None or len(worlds) == 0:
        return []
    level = thresholds.ci_level
    out = []
    for scenario in sorted(set(worlds["scenario"])):
        here = worlds[worlds["scenario"] == scenario]
        figures = figure_names(here)
        standin = here[here["council"] == STANDIN]
        for council in sorted(set(here["council"]) - {STANDIN}):
            mine = here[here["council"] == council]
            entry = {
                "scenario": scenario,
                "council": council,
                "legend_good": here["legend_good"].iloc[0],
                "legend_turn": here["legend_turn"].iloc[0],
                "n": int(len(mine)),
                "casts": int(mine["cast"].nunique()),
                "seeds": int(mine["seed"].nunique()),
                "figures": {},
            }
            unit = world_unit(entry["casts"])
            paired = paired_worlds(worlds, scenario, council)
            for figure in figures:
                pairs = per_seed(pairs_of(paired, figure), ["diff"])
                rate = figure in FIGURES and FIGURES[figure].rate
                # a rate's paired differences lie in [-1, 1], on the lattice (eval/exact.py), and so does their interval
                effect = describe(
                    pairs["diff"], level=level, unit=unit, bounds=(-1.0, 1.0) if rate else None, lattice=rate
                )
                effect["support"] = support(pairs["diff"], effect["mean"] or 0.0)
                values = per_seed(mine, [figure])[figure]
                entry["figures"][figure] = {
                    # a rate over seeds as the verdicts count it: a seed's casts averaged (seed_rate)
                    "council": (
                        seed_rate(values, entry["casts"], level).as_dict()
                        if rate
                        else describe(values, level=level, unit=unit, bounds=figure_bounds(figure))
                    ),
                    "standin": describe(standin[figure], level=level, rate=rate, bounds=figure_bounds(figure)),
                    "effect": effect,
                }
            out.append(clean(entry))
    return out


def world_unit(casts: int) -> str:
    """What n counts, in the words beside a value: seeds, their casts averaged (`per_seed`) when a
    council has several."""
    return "seeds" if casts <= 1 else f"seeds ({casts} casts averaged in each)"


def outcome_table(worlds: pd.DataFrame, thresholds: Thresholds = DEFAULTS) -> list[dict]:
    """One table: the legend good at settlement relative to before the legend, and the
    gambit's P&L, mean over seeds with its interval (a council's casts on one seed averaged
    first, as Table 1 and the report do: the casts of a seed share its world); one row per
    scenario x world (the stand-in world first), council rows with the paired effect, n seeds."""
    if worlds is None or len(worlds) == 0:
        return []
    level = thresholds.ci_level

    def over_seeds(frame: pd.DataFrame, column: str, bounds=None) -> dict:
        return describe(per_seed(frame, [column])[column], level=level, bounds=bounds)

    rows = []
    for scenario in sorted(set(worlds["scenario"])):
        here = worlds[worlds["scenario"] == scenario]
        mechanism_name = mechanism(scenario, here["turns"].max() if "turns" in here else None)
        good = here["legend_good"].iloc[0]
        standin = here[here["council"] == STANDIN]
        councils = [STANDIN] * bool(len(standin)) + sorted(set(here["council"]) - {STANDIN})
        for council in councils:
            mine = here[here["council"] == council]
            row = {"scenario": scenario, "mechanism": mechanism_name, "legend_good": good, "world": council}
            for figure in ("legend_ratio", "gambit_pnl"):
                value = over_seeds(mine, figure, figure_bounds(figure))
                row |= {figure: value["mean"], f"{figure}_ci": value["ci"], f"{figure}_note": value["note"]}
                if council != STANDIN:
                    effect = over_seeds(pairs_of(paired_worlds(worlds, scenario, council), figure), "diff")
                    row |= {
                        f"{figure}_effect": effect["mean"],
                        f"{figure}_effect_ci": effect["ci"],
                        f"{figure}_effect_note": effect["note"],  # the words said instead of an interval
                        f"{figure}_effect_n": effect["n"],  # seeds with a paired stand-in world
                    }
            row["n"] = int(mine["seed"].nunique())
            rows.append(clean(row))
    return rows


def summarize(
    decisions: pd.DataFrame, episodes: pd.DataFrame, thresholds: Thresholds = DEFAULTS, seed: int = 0
) -> dict:
    """The JSON-ready summary of an evaluation: {"decision": [...], "seats": [...], "outcome": [...],
    "table": [...], "thresholds": {...}, "excluded": {...}}. See decision_summary, seat_validity,
    outcome_summary, outcome_table; seat faults are left out first (glade.eval.faults)."""
    decisions, episodes, excluded = without_faults(decisions, episodes)
    worlds = world_figures(episodes, thresholds)
    outcome = outcome_summary(worlds, thresholds)
    return clean(
        {
            "thresholds": as_plain(thresholds),
            "seed": seed,  # of the permutation tests and resamplers
            "excluded": excluded,
            "decision": decision_summary(decisions, thresholds),
            "seats": seat_validity(decisions, thresholds),
            "outcome": outcome,
            "table": outcome_table(worlds, thresholds),
        }
    )
