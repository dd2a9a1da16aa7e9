"""What an evaluation measures at the decision level, from its decisions table (see eval/rows.py).

Per scenario x council x policy x creature x phase: how often the live seat takes the
stand-in's side on each good, the two direction distributions and their Jensen-Shannon
divergence, quantity and price differences (decision_summary); per council x live seat, how
often its answers parse as valid actions (seat_validity). The outcome level, and the summary
that holds both, are glade.eval.metrics.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from .figures import PHASES
from .stats import clean, describe, jsd
from .thresholds import DEFAULTS, Thresholds

DIRECTIONS = ("buy", "sell", "none")


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
