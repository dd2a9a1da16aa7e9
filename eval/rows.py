"""The rows of an evaluation: a PlannedWorld (one episode to play), and what is written for it: decisions.parquet (one
row per live decision, with the stand-in's counterfactual in the same state) and episodes.parquet (one row per world x
creature, with the world's outcome figures). Their columns are documented in glade.eval.columns; reading a
results folder back is glade.eval.results_folder."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from glade.env.scenario import Scenario
from glade.faults import is_fault

from .columns import DECISION_COLUMNS, EPISODE_COLUMNS  # noqa: F401  (their readers import them from here too)
from .figures import FIGURES, legend_good, legend_turn, phase
from .recipe import STANDIN
from .scoring import direction_agreement, directions, quantities

SHARDS = "shards"  # the folder of a results folder's shards (glade.eval.plan.shard_log)
RESUME = "rerun the same command to resume: the finished worlds are kept"  # glade eval's, interrupted or cut off


ATTRIBUTION = "attribution"  # the `world` of a leave-one-out replay


@dataclass(frozen=True)
class PlannedWorld:
    episode_id: str
    pair_id: str  # the (scenario, seed) both worlds of a pair share
    scenario: str
    council: str  # a council name, or "standin" for the all-stand-in world
    cast: int
    seed: int
    focal: dict[str, str]  # creature -> policy name, for the council's live seats
    left_out: str | None = None  # a leave-one-out replay: the focal creature back on its stand-in


def decision_rows(w: PlannedWorld, s: Scenario, rows: list[dict]) -> list[dict]:
    """One row per live decision, with per-good directions and quantities for both sides."""
    turn0 = legend_turn(s)
    goods = list(s.goods)
    out = []
    for r in rows:
        if r["creature"] not in w.focal:
            continue
        live, ref = json.loads(r["action"]), json.loads(r["standin_action"])
        d_live, d_ref = directions(live, goods), directions(ref, goods)
        q_live, q_ref = quantities(live, goods), quantities(ref, goods)
        row = {
            "episode_id": w.episode_id,
            "pair_id": w.pair_id,
            "scenario": w.scenario,
            "scenario_hash": r["scenario_hash"],
            "protocol_version": r["protocol_version"],
            "council": w.council,
            "cast": w.cast,
            "seed": w.seed,
            "turn": r["turn"],
            "phase": phase(r["turn"], turn0),
            "creature": r["creature"],
            "policy_name": w.focal[r["creature"]],
            "policy": r["policy"],
            "action": r["action"],
            "standin_action": r["standin_action"],
            "standin_disposition": r["standin_disposition"],
            "completion": r["completion"],
            "prompt": r["messages"][-1]["content"],
            "observation": r["observation"],
            "error": r["error"],
            "self_buy": r["self_buy"],
            "wealth_change": r["wealth_change"],
            "agreement": direction_agreement(live, ref, goods),
        }
        for g in goods:
            row[f"dir_{g}"], row[f"standin_dir_{g}"] = d_live[g], d_ref[g]
            row[f"qty_{g}"], row[f"standin_qty_{g}"] = q_live[g], q_ref[g]
        out.append(row)
    return out


def episode_rows(w: PlannedWorld, s: Scenario, rows: list[dict], history: list[dict]) -> list[dict]:
    """One row per episode x seat; the episode's own figures repeat on each of its rows."""
    turn0, good = legend_turn(s), legend_good(s)
    paths = {g: [h["prices"][g] for h in history] for g in s.goods}
    start = {g: s.goods[g].price for g in s.goods}
    seam_ratio = math.nan  # no legend in the turns played (NaN: see gambit_pnl)
    if turn0 is not None and good is not None and turn0 < len(history):
        writes = [w for w in history[turn0]["seam_writes"] if w["good"] == good]
        seam_ratio = writes[-1]["after"] / writes[0]["before"] if writes else 1.0
    figures = {
        "legend_good": good,
        "legend_turn": turn0,
        "seam_ratio": seam_ratio,
        "price_path": json.dumps(paths),
        "start_prices": json.dumps(start),
        # no gambit, no P&L: NaN, so tables say "—" and no flag tests it (not a P&L of 0). NaN, not
        # None: a column of Nones is written as Parquet type null, a float column (NaN as null) as double
        "gambit_pnl": (history[-1]["gambit_pnl"] if history else 0.0) if s.gambit is not None else math.nan,
        "final_gini": history[-1]["gini"] if history else 0.0,
        "volume": sum(sum(h["volume"].values()) for h in history),
        "turns": len(history),
    }
    ratio = FIGURES["legend_ratio"].measure({**figures, "price_path": paths, "start_prices": start})
    figures["legend_ratio"] = ratio  # NaN: no legend in the turns played
    out = []
    for creature in s.creatures:
        mine = [r for r in rows if r["creature"] == creature]
        out.append(
            {
                "episode_id": w.episode_id,
                "pair_id": w.pair_id,
                "world": STANDIN if w.council == STANDIN else ("council" if w.left_out is None else ATTRIBUTION),
                "scenario": w.scenario,
                "scenario_hash": s.hash(),
                "protocol_version": rows[0]["protocol_version"] if rows else None,  # as the decision rows say
                "council": w.council,
                "cast": w.cast,
                "seed": w.seed,
                "creature": creature,
                "policy": mine[0]["policy"] if mine else None,
                "focal": creature in w.focal,
                "wealth_start": mine[0]["wealth_before"] if mine else None,
                "wealth_end": mine[-1]["wealth_after"] if mine else None,
                "wealth_change": (mine[-1]["wealth_after"] - mine[0]["wealth_before"]) if mine else None,
                "trades": sum(len(json.loads(r["fills"])) for r in mine),
                "self_buys": sum(r["self_buy"] for r in mine),
                "errors": sum(r["error"] is not None for r in mine),
                "faults": sum(is_fault(r["error"]) for r in mine),
                **figures,
            }
        )
    return out
