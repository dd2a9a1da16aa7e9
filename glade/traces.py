"""Traces: play the episodes a generate recipe describes and write them as a dataset.

The recipe names scenarios, councils and seeds; every (scenario, council, seed) is one
episode, and episodes run `worlds` at a time in lockstep (one batched call per policy per
turn). Finished batches are written as Parquet shards under OUT/data/ and listed in
OUT/progress.json (glade.resume), so a rerun after an interruption keeps them and plays
only the rest. The folder is a Hugging Face dataset: `load_dataset("parquet",
data_dir=OUT/data)`, with a dataset card in OUT/README.md. `load_traces` reads it back.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from glade.config import Seeds, as_plain
from glade.env.scenario import load_scenario
from glade.meter import (
    Calibration,
    Estimate,
    Plan,
    calibrate,
    check_limits,
    closing_line,
    cost_table,
    estimate,
    run_cost,
    spec_label,
)
from glade.provenance import now, stamp
from glade.resume import PROGRESS, ShardLog, atomic, next_part
from glade.rollout import ROW_COLUMNS, EpisodeSpec, RolloutStats, run_lockstep
from glade.seats import load_council


@dataclass(frozen=True)
class GenerateRecipe:
    out: str
    scenarios: tuple[str, ...] = ("default",)
    # council name -> creature -> seat spec; "*" seats every creature not named.
    # An empty council seats every creature on its scenario's stand-in disposition.
    councils: dict[str, dict[str, Any]] = field(default_factory=lambda: {"scenario": {}})
    seeds: Seeds = field(default_factory=Seeds)
    turns: int | None = None  # None: each scenario's own
    worlds: int = 16  # episodes played in lockstep
    max_decisions: int | None = None  # refuse to start a run asking model seats for more decisions
    max_tokens: int | None = None  # refuse to start a run expected to use more tokens (calibrated, glade.meter)


def episode_plan(recipe: GenerateRecipe) -> list[tuple[str, str, str, int]]:
    """(episode_id, scenario, council, seed) for every episode, in a fixed order."""
    return [
        (f"{scenario}.{council}.s{seed}", scenario, council, seed)
        for scenario in recipe.scenarios
        for council in recipe.councils
        for seed in recipe.seeds.values()
    ]


def seat_specs(recipe: GenerateRecipe, council: str, creatures: list[str]) -> dict[str, Any]:
    seats = recipe.councils[council]
    unknown = set(seats) - set(creatures) - {"*"}
    if unknown:
        raise ValueError(
            f"councils.{council}: unknown creature(s) {', '.join(sorted(unknown))} (creatures: {', '.join(creatures)})"
        )
    return {c: seats.get(c, seats.get("*")) for c in creatures}


def seats_of(recipe: GenerateRecipe, scenario, council: str) -> dict[str, Any]:
    """creature -> seat spec, with the scenario's stand-in disposition where the council names none."""
    seats = seat_specs(recipe, council, list(scenario.creatures))
    return {c: s if s is not None else scenario.creatures[c].disposition for c, s in seats.items()}


def episode_spec(recipe: GenerateRecipe, scenarios: dict, planned: tuple, councils: dict, labels=False) -> EpisodeSpec:
    """One planned episode, its council loaded once per (scenario, council); `labels` seats
    it under glade.meter.spec_label's names (for a calibration)."""
    episode_id, scenario_name, council_name, seed = planned
    scenario = scenarios[scenario_name]
    seats = seats_of(recipe, scenario, council_name)
    if (scenario_name, council_name) not in councils:
        councils[(scenario_name, council_name)] = load_council(seats)
    named = {c: spec_label(s) for c, s in seats.items()} if labels else {}
    return EpisodeSpec(episode_id, scenario, seed, councils[(scenario_name, council_name)], named)


def load_scenarios(recipe: GenerateRecipe) -> dict:
    overrides = {"turns": recipe.turns} if recipe.turns else {}
    return {name: load_scenario(name, **overrides) for name in recipe.scenarios}


def generate_plan(recipe: GenerateRecipe, scenarios: dict, plan: list[tuple]) -> Plan:
    decisions: dict[str, int] = {}
    for _, scenario_name, council_name, _ in plan:
        scenario = scenarios[scenario_name]
        for spec in seats_of(recipe, scenario, council_name).values():
            label = spec_label(spec)
            decisions[label] = decisions.get(label, 0) + scenario.turns
    free = frozenset(label for label in decisions if label.startswith("standin:"))
    return Plan(len(plan), sum(scenarios[p[1]].turns for p in plan), decisions, free)


def calibration(recipe: GenerateRecipe, scenarios: dict, plan: list[tuple], councils: dict) -> Calibration:
    """glade.meter.calibrate on the first batch, and one episode of each council it lacks."""
    first = list(plan[: recipe.worlds])
    seen = {p[2] for p in first}
    for p in plan:
        if p[2] not in seen:
            first.append(p)
            seen.add(p[2])
    return calibrate(lambda: [episode_spec(recipe, scenarios, p, councils, labels=True) for p in first])


def dry_run(recipe: GenerateRecipe) -> Estimate:
    """The plan of the episodes not yet written and its calibrated estimate; writes nothing."""
    progress = Path(recipe.out) / PROGRESS
    done = json.loads(progress.read_text()) if progress.exists() else {}
    plan = [p for p in episode_plan(recipe) if p[0] not in done]
    scenarios = load_scenarios(recipe)
    return estimate(generate_plan(recipe, scenarios, plan), calibration(recipe, scenarios, plan, {}))


def check(recipe: GenerateRecipe, scenarios: dict, plan: list[tuple], councils: dict) -> None:
    """The recipe's limits, before anything plays (a calibration only when max_tokens is set)."""
    if recipe.max_decisions is None and recipe.max_tokens is None:
        return
    for key, value in (("max_decisions", recipe.max_decisions), ("max_tokens", recipe.max_tokens)):
        if value is not None and value < 1:
            raise ValueError(f"{recipe.out}: {key}: must be at least 1 (or left out: no limit)")
    counted = generate_plan(recipe, scenarios, plan)
    check_limits(counted, recipe.out, recipe.max_decisions, None)
    if recipe.max_tokens is not None and plan:
        expected = estimate(counted, calibration(recipe, scenarios, plan, councils))
        check_limits(counted, recipe.out, None, recipe.max_tokens, expected)


def shard_log(out: str | Path) -> ShardLog:
    return ShardLog(Path(out), {"traces": "data/part-{part:05d}.parquet"})


def generate(recipe: GenerateRecipe, progress=None, on_total=None) -> dict:
    """Play every planned episode not already written; returns a summary dict.

    `on_total(turns)` hears how many lockstep turns lie ahead; `progress` is called after each."""
    started = time.perf_counter()
    out = Path(recipe.out)
    log = shard_log(out)
    done = log.start()
    plan = [p for p in episode_plan(recipe) if p[0] not in done]
    scenarios = load_scenarios(recipe)
    councils: dict[tuple[str, str], dict] = {}
    check(recipe, scenarios, plan, councils)
    if on_total is not None:
        batches = [plan[i : i + recipe.worlds] for i in range(0, len(plan), recipe.worlds)]
        on_total(sum(max(scenarios[p[1]].turns for p in batch) for batch in batches))
    stats = RolloutStats()
    part = next_part(done)
    for batch_start in range(0, len(plan), recipe.worlds):
        batch = plan[batch_start : batch_start + recipe.worlds]
        specs = [episode_spec(recipe, scenarios, p, councils) for p in batch]
        played = run_lockstep(specs, on_turn=progress, stats=stats)
        _write_shard(
            [{k: r[k] for k in DATASET_COLUMNS} for e in specs for r in played[e.episode_id].rows],
            log.path("traces", part),
        )
        log.finish(done, part, [e.episode_id for e in specs])
        part += 1
    summary = {
        "episodes": len(done),
        "played_now": len(plan),
        "decisions_now": stats.decisions,
        "seconds_now": round(stats.total_seconds, 3),
        "out": str(out),
        "cost": run_cost(stats, time.perf_counter() - started, len(plan)),
    }
    write_card(recipe, out, scenarios, done, summary["cost"])
    return summary


def _write_shard(rows: list[dict], path: Path) -> None:
    from datasets import Dataset  # heavy import, only when writing

    with atomic(path) as tmp:
        Dataset.from_list(rows).to_parquet(str(tmp))


def load_traces(folders: tuple[str, ...] | list[str]):
    """Every row of these traces folders, as one `datasets.Dataset`."""
    from datasets import concatenate_datasets, load_dataset

    parts = []
    for folder in folders:
        files = sorted(str(p) for p in (Path(folder) / "data").glob("*.parquet"))
        if not files:
            raise FileNotFoundError(f"{folder}: no traces (expected {folder}/data/*.parquet from `glade generate`)")
        parts.append(load_dataset("parquet", data_files=files, split="train"))
    return parts[0] if len(parts) == 1 else concatenate_datasets(parts)


# The dataset keeps every trace column but the simulate trace's per-turn extras.
DATASET_COLUMNS = tuple(c for c in ROW_COLUMNS if c not in ("inventory", "sentiment", "events"))
COLUMNS = {
    "episode_id": "scenario.council.sSEED",
    "scenario / scenario_hash / seed": "the rules that ran (hash of the resolved scenario) and the world seed",
    "turn / creature": "when and who",
    "seat / policy": "the seat label and the identity of the policy that decided",
    "protocol_version": "version of the prompt protocol (changes whenever the prompt wording does)",
    "messages": "the rendered chat prompt (system role card, user turn)",
    "observation": "the observation the prompt was rendered from (JSON)",
    "completion": "the raw completion (for stand-in seats, the action as canonical JSON)",
    "action": "the parsed, valid action as canonical JSON",
    "error / repaired": "the parser's named error (or null) and whether it repaired the text",
    "self_buy": "buy orders for goods the creature makes",
    "standin_action / standin_disposition": "what the stand-in would have done in the same state",
    "latency_s / prompt_tokens / completion_tokens": "cost of the decision",
    "rejected / fills": "the market's named rejections and the fills (JSON)",
    "pebbles / wealth_before / wealth_after / wealth_change / mood": "outcome figures of the creature-turn",
}


def write_card(recipe: GenerateRecipe, out: Path, scenarios: dict, done: dict, cost: dict | None = None) -> None:
    front = {
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data/*.parquet"}]}],
        "tags": ["glade", "agent-traces", "multi-agent", "market-simulation"],
        "license": "apache-2.0",
    }
    provenance = {
        **stamp(("datasets", "numpy")),
        "scenario_hashes": {name: s.hash() for name, s in scenarios.items()},
        "episodes": len(done),
        "written": now(),
    }
    schema = "\n".join(f"| `{k}` | {v} |" for k, v in COLUMNS.items())
    text = (
        "---\n" + yaml.safe_dump(front, sort_keys=False) + "---\n\n"
        f"# glade traces: {out.name}\n\n"
        "Decisions of creatures in the Wood, one row per creature per turn, written by "
        '`glade generate`. Load with `datasets.load_dataset("parquet", data_dir="data")`.\n\n'
        "## Schema\n\n| column | meaning |\n| --- | --- |\n" + schema + "\n\n"
        "## Provenance\n\n```json\n"
        + json.dumps(provenance, indent=2)
        + "\n```\n\n"
        + (cost_section(cost) if cost else "")
        + "## Recipe\n\n```yaml\n"
        + yaml.safe_dump(as_plain(recipe), sort_keys=False)
        + "```\n"
    )
    (out / "README.md").write_text(text)
    (out / "recipe.yaml").write_text(yaml.safe_dump(as_plain(recipe), sort_keys=False))


def cost_section(cost: dict) -> str:
    """The card's record of what the last run into this folder cost (glade.meter)."""
    header, rows = cost_table(cost)
    table = "\n".join("| " + " | ".join(r) + " |" for r in [header, ["---"] * len(header), *rows])
    return f"## Cost of the last run\n\n{closing_line(cost)}.\n\n{table}\n\n"
