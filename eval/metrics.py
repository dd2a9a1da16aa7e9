"""What an evaluation measures, from its decisions and episodes tables (see eval/rows.py).

Decision level, per scenario x council x policy x creature x phase: how often the live seat
takes the stand-in's side on each good, the two direction distributions and their
Jensen-Shannon divergence, quantity and price differences.

Outcome level, per scenario x council: every figure of the council's worlds (the catalogue
in eval/figures.py, and the price-path distance of each good to the paired all-stand-in
world) beside the same figure in the paired all-stand-in worlds (same scenario and seed),
and the effect council - stand-in computed on the paired differences.

Every interval carries n (seeds, a council's casts averaged per seed, for outcomes and for
decisions alike) and holds at that n (eval/stats.py: none below 4, words for a value that never
varies), over whole seeds, never single rows; the decision summary's row-level figures without
an interval are descriptive (see decision_summary). Price paths are defined in eval/stats.py; the
legend turn, its good and the phases in eval/figures.py.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from glade.config import as_plain

from .faults import without_faults
from .figures import FIGURES, PATH_DISTANCE, PHASES, figure_bounds, mechanism
from .recipe import STANDIN
from .stats import Interval, clean, cluster_rate, describe, interval, jsd, path_distance, support
from .thresholds import DEFAULTS, Thresholds

DIRECTIONS = ("buy", "sell", "none")


# --- decision level ---------------------------------------------------------------------------


def goods_of(decisions: pd.DataFrame) -> list[str]:
    """The goods a decisions table's rows trade in (dir_<good> and standin_dir_<good>, a side in
    some row), in order: the columns are every scenario's goods, a world's rows NaN in those it lacks."""
    columns = decisions.columns
    return [c[4:] for c in columns if c.startswith("dir_") and f"standin_{c}" in columns and decisions[c].notna().any()]


def _limit_prices(action_json: str, goods: list[str]) -> dict[str, tuple[str, float]]:
    """good -> (side, quantity-weighted limit price) of an action's orders."""
    try:
        orders = json.loads(action_json).get("orders", [])
    except (TypeError, ValueError, AttributeError):
        return {}
    sums: dict[str, list] = {}
    for o in orders if isinstance(orders, list) else []:
        try:
            good, side, qty, price = o["good"], o["side"], float(o["qty"]), float(o["price"])
        except (KeyError, TypeError, ValueError):
            continue
        if good in goods and qty > 0 and price > 0:
            s = sums.setdefault(good, [side, 0.0, 0.0])
            if s[0] == side:
                s[1] += qty
                s[2] += qty * price
    return {g: (s[0], s[2] / s[1]) for g, s in sums.items() if s[1] > 0}


def price_differences(decisions: pd.DataFrame, goods: list[str]) -> pd.DataFrame:
    """Per row and good: live limit price / stand-in limit price - 1 where both trade the
    good on the same side, else NaN. Columns price_diff_<good>."""
    out = {f"price_diff_{g}": np.full(len(decisions), np.nan) for g in goods}
    for i, (live, ref) in enumerate(zip(decisions["action"], decisions["standin_action"])):
        a, b = _limit_prices(live, goods), _limit_prices(ref, goods)
        for g in set(a) & set(b):
            if a[g][0] == b[g][0]:
                out[f"price_diff_{g}"][i] = a[g][1] / b[g][1] - 1.0
    return pd.DataFrame(out, index=decisions.index)


def decision_summary(decisions: pd.DataFrame, thresholds: Thresholds = DEFAULTS) -> list[dict]:
    """Per scenario x council x policy x creature x phase: n (seeds), episodes, decisions;
    agreement (the share of goods on which the live seat takes the stand-in's side: buy / sell /
    none) and mean |quantity difference| over goods, each {"mean", "ci", "n"} over seeds (an
    episode's mean in the phase, then a seed's episodes averaged: a policy on this creature in
    several casts of one seed counts that seed once, as `per_seed` counts worlds); per good
    agreement {"mean", "ci", "n"} alike. Per good: the goods of the group's world (`goods_of`).
    Descriptive only, over decision rows with no interval and no n of independent units: per
    good the live and stand-in direction distributions and their JSD (`jsd`, and `jsd_mean` over
    goods), the mean quantity differences (`qty_abs_diff`, `qty_diff`: live - stand-in, in units,
    + bought) and the relative limit-price difference live / stand-in - 1 where both trade the
    good on the same side (`price_diff`, `price_abs_diff`; `price_n` counts those decisions)."""
    if decisions is None or len(decisions) == 0:
        return []
    level = thresholds.ci_level
    goods = goods_of(decisions)
    frame = decisions.copy()
    frame = pd.concat([frame, price_differences(frame, goods)], axis=1)
    for g in goods:  # agreement NaN, not a disagreement, in a world without the good
        frame[f"qty_abs_diff_{g}"] = (frame[f"qty_{g}"] - frame[f"standin_qty_{g}"]).abs()
        side = frame[f"dir_{g}"]
        frame[f"agreement_{g}"] = (side == frame[f"standin_dir_{g}"]).astype(float).where(side.notna())
    frame["qty_abs_diff"] = frame[[f"qty_abs_diff_{g}" for g in goods]].mean(axis=1)
    keys = ["scenario", "council", "policy_name", "creature", "phase"]
    per_row = ["agreement", "qty_abs_diff", *(f"agreement_{g}" for g in goods)]
    out = []
    for key, group in frame.groupby(keys, sort=True):
        per_episode = group.groupby(["seed", "episode_id"])[per_row].mean()
        by_seed = per_episode.groupby(level="seed").mean()  # a seed's casts share its draws: one value each

        def over_seeds(column: str, by_seed=by_seed) -> dict:
            return describe(by_seed[column].to_numpy(), level=level, bounds=(0.0, 1.0))

        row = dict(zip(["scenario", "council", "policy", "creature", "phase"], key))
        row["policy_identity"] = sorted(set(group["policy"]))
        row["n"] = int(len(by_seed))
        row["episodes"] = int(len(per_episode))
        row["decisions"] = int(len(group))
        row["casts"] = sorted(int(c) for c in set(group["cast"]))
        row["agreement"] = over_seeds("agreement")
        row["qty_abs_diff"] = describe(by_seed["qty_abs_diff"].to_numpy(), level=level, bounds=(0.0, None))
        per_good, divergences = {}, []
        for g in goods_of(group):  # this world's goods: a mixed eval's other worlds have goods it lacks
            live = group[f"dir_{g}"].value_counts(normalize=True)
            ref = group[f"standin_dir_{g}"].value_counts(normalize=True)
            live_d = {d: float(live.get(d, 0.0)) for d in DIRECTIONS}
            ref_d = {d: float(ref.get(d, 0.0)) for d in DIRECTIONS}
            divergence = jsd(live_d, ref_d)
            divergences.append(divergence)
            prices = group[f"price_diff_{g}"].dropna()
            per_good[g] = {
                "live": live_d,
                "standin": ref_d,
                "jsd": divergence,
                "agreement": over_seeds(f"agreement_{g}"),
                "qty_abs_diff": float(group[f"qty_abs_diff_{g}"].mean()),
                "qty_diff": float((group[f"qty_{g}"] - group[f"standin_qty_{g}"]).mean()),
                "price_diff": float(prices.mean()) if len(prices) else None,
                "price_abs_diff": float(prices.abs().mean()) if len(prices) else None,
                "price_n": int(len(prices)),
            }
        row["jsd_mean"] = float(np.mean(divergences)) if divergences else 0.0
        row["goods"] = per_good
        out.append(clean(row))
    order = {p: i for i, p in enumerate(PHASES)}
    out.sort(key=lambda r: (r["scenario"], r["council"], r["policy"], r["creature"], order.get(r["phase"], 9)))
    return out


def seat_validity(decisions: pd.DataFrame, thresholds: Thresholds = DEFAULTS) -> list[dict]:
    """Per council x live seat (the recipe's policy name): how often its answer parsed as a
    valid action with no named error, {"mean", "ci", "n"} over seeds (a seed's casts and
    scenarios together: they share its draws), with the decisions counted, the most frequent
    errors and, where the rows record it, the self-buy rate (`self_buy`, over seeds alike: the
    share of its decisions that bid for a good its creature makes, which no stand-in does). A
    decision that twin worlds made alike (the same seed, cast, creature, turn, prompt and
    answer: scenarios that part at the legend play the same decisions before it, and after it
    where the worlds stay the same for that creature) counts once. The flags merge whole cells
    instead (glade.eval.cells.shared_play: a phase's rows alike in every episode), so a row
    alike by chance after the legend is one decision here and in two cells there. An
    unconstrained model's format failures are a divergence of their own; put a checkpoint in
    the policies twice, with and without `structured: true`, to see what the constraint
    changes."""
    if decisions is None or len(decisions) == 0 or not {"error", "policy_name"} <= set(decisions.columns):
        return []
    level = thresholds.ci_level
    frame = decisions.assign(valid=decisions["error"].isna().astype(float))
    if "self_buy" in frame.columns:  # a buy order for a good the creature makes: the stand-ins never place one
        frame = frame.assign(self_bought=(frame["self_buy"].fillna(0) > 0).astype(float))
    play = ["seed", "cast", "creature", "turn", "prompt", "completion"]  # what a decision was
    whole = set(play) <= set(frame.columns)  # rows written before prompts were recorded are taken as they are
    out = []
    for (council, policy), rows in frame.groupby(["council", "policy_name"], sort=True):
        group = rows.drop_duplicates(subset=play) if whole else rows
        by_seed = group.groupby("seed")
        errors = group["error"].dropna().value_counts()
        out.append(
            clean(
                {
                    "council": council,
                    "policy": policy,
                    "policy_identity": sorted(set(group["policy"])),
                    "decisions": int(len(group)),
                    "valid_action": describe(by_seed["valid"].mean().to_numpy(), level=level, bounds=(0.0, 1.0)),
                    "errors": {str(k): int(v) for k, v in errors.head(5).items()},
                    **(
                        {"self_buy": describe(by_seed["self_bought"].mean().to_numpy(), level=level, bounds=(0.0, 1.0))}
                        if "self_bought" in group.columns
                        else {}
                    ),
                }
            )
        )
    return out


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
