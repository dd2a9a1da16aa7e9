"""Play a council recipe: every (scenario, council, cast, seed) world and, for each
(scenario, seed), the paired all-stand-in world; write decisions and episodes tables.

Worlds play `worlds` at a time in lockstep (one batched call per policy per turn, see
glade.rollout). Finished batches go to OUT/shards/ and OUT/progress.json, so an
interrupted evaluation resumes where it stopped.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from glade.env.scenario import Scenario, load_scenario
from glade.eval.agreement import directions, quantities
from glade.policies import load, load_council
from glade.provenance import check_resume_protocol
from glade.rollout import EpisodeSpec, RolloutStats, run_lockstep

from .recipe import EvalRecipe, casts

STANDIN = "standin"


@dataclass(frozen=True)
class World:
    episode_id: str
    pair_id: str  # the (scenario, seed) both worlds of a pair share
    scenario: str
    council: str  # a council name, or "standin" for the all-stand-in world
    cast: int
    seed: int
    focal: dict[str, str]  # creature -> policy name, for the council's live seats


def legend_turn(s: Scenario) -> int | None:
    """The turn the phases are measured from: the gambit's spring, else the first legend."""
    if s.gambit is not None:
        return s.gambit.spring_turn
    return min((ev.turn for ev in s.legends), default=None)


def legend_good(s: Scenario) -> str | None:
    from glade.env.legends import LEGENDS

    if s.gambit is not None:
        return LEGENDS[s.gambit.legend].good
    first = min(s.legends, key=lambda ev: ev.turn, default=None)
    return LEGENDS[first.legend].good if first else None


def phase(turn: int, legend: int | None) -> str:
    if legend is None or turn < legend:
        return "before"
    return "seam" if turn == legend else "after"


def plan(recipe: EvalRecipe, scenarios: dict[str, Scenario]) -> list[World]:
    worlds = []
    for name, scenario in scenarios.items():
        creatures = list(scenario.creatures)
        for seed in recipe.seeds.values():
            pair = f"{name}.s{seed}"
            worlds.append(World(f"{name}.{STANDIN}.s{seed}", pair, name, STANDIN, 0, seed, {}))
            for council_name, council in recipe.councils.items():
                for k, focal in enumerate(casts(council, creatures)):
                    worlds.append(World(f"{name}.{council_name}.c{k}.s{seed}", pair, name, council_name, k, seed, focal))
    return worlds


def seat_council(recipe: EvalRecipe, scenario: Scenario, focal: dict[str, str], cache: dict) -> dict:
    key = (scenario.name, tuple(sorted(focal.items())))
    if key not in cache:
        seats = {c: recipe.policies[focal[c]] if c in focal else scenario.creatures[c].disposition for c in scenario.creatures}
        cache[key] = load_council(seats) if focal else {c: load(d) for c, d in seats.items()}
    return cache[key]


def evaluate(recipe: EvalRecipe, on_total=None, progress=None) -> dict:
    out = Path(recipe.out)
    (out / "shards").mkdir(parents=True, exist_ok=True)
    progress_path = out / "progress.json"
    done: dict[str, int] = json.loads(progress_path.read_text()) if progress_path.exists() else {}
    listed = {f"{kind}-{part:05d}.parquet" for part in set(done.values()) for kind in ("decisions", "episodes")}
    for stale in (out / "shards").glob("*.parquet"):
        if stale.name not in listed:  # written but not listed: the batch is played again
            stale.unlink()
    if done:
        check_resume_protocol(out, out / "shards" / f"decisions-{min(done.values()):05d}.parquet")
    overrides = {"turns": recipe.turns} if recipe.turns else {}
    scenarios = {name: load_scenario(name, **overrides) for name in recipe.scenarios}
    todo = [w for w in plan(recipe, scenarios) if w.episode_id not in done]
    batches = [todo[i : i + recipe.worlds] for i in range(0, len(todo), recipe.worlds)]
    if on_total is not None:
        on_total(sum(max(scenarios[w.scenario].turns for w in batch) for batch in batches))
    cache: dict = {}
    stats = RolloutStats()
    part = max(done.values(), default=-1) + 1
    for batch in batches:
        specs = [
            EpisodeSpec(w.episode_id, scenarios[w.scenario], w.seed, seat_council(recipe, scenarios[w.scenario], w.focal, cache))
            for w in batch
        ]
        histories: dict[str, list[dict]] = {}
        rows = run_lockstep(specs, on_turn=progress, stats=stats, histories=histories)
        decisions, episodes = [], []
        for w in batch:
            s = scenarios[w.scenario]
            decisions += decision_rows(w, s, rows[w.episode_id])
            episodes += episode_rows(w, s, rows[w.episode_id], histories[w.episode_id])
        _write(pd.DataFrame(decisions), out / "shards" / f"decisions-{part:05d}.parquet")
        _write(pd.DataFrame(episodes), out / "shards" / f"episodes-{part:05d}.parquet")
        done.update({w.episode_id: part for w in batch})
        tmp = progress_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(done, indent=1, sort_keys=True))
        os.replace(tmp, progress_path)
        part += 1
    decisions = _concat(out / "shards", "decisions")
    episodes = _concat(out / "shards", "episodes")
    _write(decisions, out / "decisions.parquet")
    _write(episodes, out / "episodes.parquet")
    return {"worlds": len(done), "played_now": len(todo), "decisions": len(decisions), "stats": stats}


def decision_rows(w: World, s: Scenario, rows: list[dict]) -> list[dict]:
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
            "episode_id": w.episode_id, "pair_id": w.pair_id, "scenario": w.scenario,
            "scenario_hash": r["scenario_hash"], "protocol_version": r["protocol_version"],
            "council": w.council, "cast": w.cast, "seed": w.seed, "turn": r["turn"],
            "phase": phase(r["turn"], turn0), "creature": r["creature"], "policy_name": w.focal[r["creature"]],
            "policy": r["policy"], "action": r["action"], "standin_action": r["standin_action"],
            "standin_disposition": r["standin_disposition"], "completion": r["completion"],
            "prompt": r["messages"][-1]["content"], "error": r["error"], "self_buy": r["self_buy"],
            "wealth_change": r["wealth_change"],
            "agreement": sum(d_live[g] == d_ref[g] for g in goods) / len(goods),
        }
        for g in goods:
            row[f"dir_{g}"], row[f"standin_dir_{g}"] = d_live[g], d_ref[g]
            row[f"qty_{g}"], row[f"standin_qty_{g}"] = q_live[g], q_ref[g]
        out.append(row)
    return out


def episode_rows(w: World, s: Scenario, rows: list[dict], history: list[dict]) -> list[dict]:
    """One row per episode x seat; the episode's own figures repeat on each of its rows."""
    turn0, good = legend_turn(s), legend_good(s)
    paths = {g: [h["prices"][g] for h in history] for g in s.goods}
    start = {g: s.goods[g].price for g in s.goods}
    ratio = seam_ratio = None
    if turn0 is not None and good is not None and turn0 < len(history):
        before = history[turn0 - 1]["prices"][good] if turn0 > 0 else start[good]
        ratio = history[turn0]["prices"][good] / before
        writes = [w for w in history[turn0]["seam_writes"] if w["good"] == good]
        seam_ratio = writes[-1]["after"] / writes[0]["before"] if writes else 1.0
    figures = {
        "legend_good": good, "legend_turn": turn0, "legend_ratio": ratio, "seam_ratio": seam_ratio,
        "price_path": json.dumps(paths), "start_prices": json.dumps(start),
        "gambit_pnl": history[-1]["gambit_pnl"] if history else 0.0,
        "final_gini": history[-1]["gini"] if history else 0.0,
        "volume": sum(sum(h["volume"].values()) for h in history),
        "turns": len(history),
    }
    out = []
    for creature in s.creatures:
        mine = [r for r in rows if r["creature"] == creature]
        out.append({
            "episode_id": w.episode_id, "pair_id": w.pair_id, "world": STANDIN if w.council == STANDIN else "council",
            "scenario": w.scenario, "scenario_hash": s.hash(), "council": w.council, "cast": w.cast, "seed": w.seed,
            "creature": creature, "policy": mine[0]["policy"] if mine else None, "focal": creature in w.focal,
            "wealth_start": mine[0]["wealth_before"] if mine else None,
            "wealth_end": mine[-1]["wealth_after"] if mine else None,
            "wealth_change": (mine[-1]["wealth_after"] - mine[0]["wealth_before"]) if mine else None,
            "trades": sum(len(json.loads(r["fills"])) for r in mine),
            "self_buys": sum(r["self_buy"] for r in mine),
            "errors": sum(r["error"] is not None for r in mine),
            **figures,
        })
    return out


def _write(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _concat(folder: Path, kind: str) -> pd.DataFrame:
    parts = [pd.read_parquet(p) for p in sorted(folder.glob(f"{kind}-*.parquet"))]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
