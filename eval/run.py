"""Play a council recipe: every (scenario, council, cast, seed) world and, for each
(scenario, seed), the paired all-stand-in world; `evaluate` returns the decisions and
episodes tables, `write_results` writes them with the summary beside them.

The plan also holds the worlds the verdicts need (eval/verdicts.py, eval/attribution.py):
the scenarios a lever names are played even when `scenarios` leaves them out, and with
`attribution: true` every council world with two or more focal seats is replayed once per
focal seat with that seat left out (its creature back on its stand-in disposition). Those
replays go to their own table (attribution.parquet), never into the council's figures.

Worlds play `worlds` at a time in lockstep (one batched call per policy per turn, see
glade.rollout). Finished batches go to OUT/shards/ and OUT/progress.json (glade.resume),
so an interrupted evaluation resumes where it stopped.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from glade.config import as_plain
from glade.env.scenario import Scenario
from glade.faults import tally_faults
from glade.files import atomic
from glade.resume import ShardLog
from glade.rollout import EpisodeSpec, RolloutStats, run_lockstep
from glade.seats import load_council, results_spec

from .recipe import STANDIN, EvalRecipe, casts, load_played
from .rows import ATTRIBUTION, World, decision_rows, episode_rows


def plan(recipe: EvalRecipe, scenarios: dict[str, Scenario]) -> list[World]:
    worlds = []
    for name, scenario in scenarios.items():
        creatures = list(scenario.creatures)
        for seed in recipe.seeds.values():
            pair = f"{name}.s{seed}"
            worlds.append(World(f"{name}.{STANDIN}.s{seed}", pair, name, STANDIN, 0, seed, {}))
            for council_name, council in recipe.councils.items():
                for k, focal in enumerate(casts(council, creatures)):
                    episode = f"{name}.{council_name}.c{k}.s{seed}"
                    worlds.append(World(episode, pair, name, council_name, k, seed, focal))
                    if recipe.attribution and len(focal) > 1:  # one focal seat left out is the stand-in world
                        for creature in focal:
                            rest = {c: p for c, p in focal.items() if c != creature}
                            worlds.append(
                                World(
                                    f"{episode}.without-{creature}", pair, name, council_name, k, seed, rest, creature
                                )
                            )
    return worlds


def seat_specs(recipe: EvalRecipe, scenario: Scenario, focal: dict[str, str]) -> dict:
    """creature -> seat spec of one world: the focal policies, the rest on their scenario disposition."""
    return {
        c: recipe.policies[focal[c]] if c in focal else scenario.creatures[c].disposition for c in scenario.creatures
    }


def seat_council(
    recipe: EvalRecipe, scenario: Scenario, focal: dict[str, str], cache: dict, loader=load_council
) -> dict:
    """creature -> Policy for one world's seats, built once per (scenario, focal seats) by
    `loader` (glade.seats.load_council here; a Ray task passes one that serves model seats
    from its node's seat actor, glade.eval.distributed)."""
    key = (scenario.name, tuple(sorted(focal.items())))
    if key not in cache:
        cache[key] = loader(seat_specs(recipe, scenario, focal))
    return cache[key]


# Recipe keys that cannot change the tables' rows (the summary is recomputed from all of them).
# `attribution` only adds the leave-one-out worlds (rows of their own), so switching it on
# later plays just those.
RUN_ONLY_KEYS = (
    "name",
    "out",
    "worlds",
    "thresholds",
    "seed",
    "max_fault_share",
    "max_decisions",
    "max_tokens",
    "attribution",
)


def results_recipe(recipe: EvalRecipe) -> dict:
    """What decides the rows: the recipe without RUN_ONLY_KEYS, its seats without transport keys."""
    plain = {k: v for k, v in as_plain(recipe).items() if k not in RUN_ONLY_KEYS}
    plain["policies"] = {name: results_spec(spec) for name, spec in plain["policies"].items()}
    return plain


@dataclass(frozen=True)
class Evaluation:
    """What `evaluate` returns. `decisions`: one row per live decision of a council seat
    (DECISION_COLUMNS, then dir_/standin_dir_/qty_/standin_qty_<good> per good); `episodes`:
    one row per world x creature (EPISODE_COLUMNS), the world's outcome figures repeated on
    each of its rows."""

    decisions: pd.DataFrame
    episodes: pd.DataFrame
    worlds: int  # all finished worlds, resumed ones included
    played_now: int
    stats: RolloutStats
    replayed: tuple[str, ...] = ()  # repairs of the results folder, one line each (glade.resume)
    wall_seconds: float = 0.0  # this call, start to end
    attribution: pd.DataFrame = field(default_factory=pd.DataFrame)  # leave-one-out replays, as episodes rows


def shard_log(out: str | Path) -> ShardLog:
    return ShardLog(
        Path(out),
        {
            "decisions": "shards/decisions-{part:05d}.parquet",
            "episodes": "shards/episodes-{part:05d}.parquet",
            ATTRIBUTION: "shards/attribution-{part:05d}.parquet",
        },
        optional=(ATTRIBUTION,),  # folders from before attribution have none
        complete=("episodes", ATTRIBUTION),  # every world's rows are in one of these; decisions: live seats only
    )


def shards(planned: list[World], done: dict, size: int) -> list[list[World]]:
    """The worlds still to play, in shards: blocks of `size` consecutive worlds of the whole
    plan, less the finished ones. A shard plays in lockstep and is written as one part, by
    either backend; cutting the plan, not what is left, keeps every shard's worlds (and so
    every model seat's batches) the same however often a run was interrupted."""
    blocks = [planned[i : i + size] for i in range(0, len(planned), size)]
    return [todo for todo in ([w for w in b if w.episode_id not in done] for b in blocks) if todo]


def play(
    recipe: EvalRecipe, scenarios: dict[str, Scenario], shard: list[World], council, stats: RolloutStats, progress=None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Play one shard in lockstep; its decisions, episodes and attribution (leave-one-out
    replay) rows. `council(scenario, focal)` seats a world (see seat_council)."""
    specs = [
        EpisodeSpec(
            w.episode_id,
            scenarios[w.scenario],
            w.seed,
            council(scenarios[w.scenario], w.focal),
            seats=dict(w.focal),  # the live seats' label is the recipe's policy name
        )
        for w in shard
    ]
    played = run_lockstep(specs, on_turn=progress, stats=stats)
    decisions, episodes, replays = [], [], []
    for w in shard:
        s, p = scenarios[w.scenario], played[w.episode_id]
        if w.left_out is not None:
            replays += [{**row, "left_out": w.left_out} for row in episode_rows(w, s, p.rows, p.history)]
            continue
        decisions += decision_rows(w, s, p.rows)
        episodes += episode_rows(w, s, p.rows, p.history)
    return pd.DataFrame(decisions), pd.DataFrame(episodes), pd.DataFrame(replays)


def play_here(
    recipe: EvalRecipe, scenarios: dict[str, Scenario], todo: list[list[World]], stats: RolloutStats, progress=None
):
    """The local backend: every shard in this process, one after another; yields (shard,
    decisions, episodes, attribution) as each finishes."""
    cache: dict = {}
    council = lambda scenario, focal: seat_council(recipe, scenario, focal, cache)
    for shard in todo:
        yield shard, *play(recipe, scenarios, shard, council, stats, progress)


def evaluate(recipe: EvalRecipe, on_total=None, progress=None, backend=play_here) -> Evaluation:
    """Play every world of the recipe not already in its shards; returns all of them.

    `on_total(turns)` hears how many lockstep turns lie ahead; `progress` is called after each.
    `backend` plays the shards and yields each as it finishes (play_here, or
    glade.eval.distributed.play_on_ray); finished shards are written and listed here, by
    the one process that writes the folder, so nothing is counted twice. The recipe's
    max_decisions and max_tokens are checked before anything plays (glade.eval.estimate)."""
    from .estimate import check

    started = time.perf_counter()
    scenarios = load_played(recipe)
    log = shard_log(recipe.out)
    state = log.start(results_recipe(recipe))
    planned = plan(recipe, scenarios)
    todo = shards(planned, state.done, recipe.worlds)
    try:
        check(recipe, scenarios, todo, recipe.name)
    except BaseException:
        log.abandon(state)
        raise
    if on_total is not None:
        on_total(sum(max(scenarios[w.scenario].turns for w in shard) for shard in todo))
    stats = RolloutStats()
    part = state.next_part()
    try:
        for shard, decisions, episodes, replays in backend(recipe, scenarios, todo, stats, progress):
            _write(decisions, log.path("decisions", part))
            _write(episodes, log.path("episodes", part))
            _write(replays, log.path(ATTRIBUTION, part))
            faults = pd.concat([episodes, replays]).groupby("episode_id")["faults"].sum() if len(episodes) else {}
            log.finish(state, part, {w.episode_id: int(faults.get(w.episode_id, 0)) for w in shard})
            part += 1
    except BaseException:
        log.abandon(state)
        raise
    order = {w.episode_id: i for i, w in enumerate(planned)}  # plan order, whichever shard finished first
    return Evaluation(
        decisions=_in_order(_concat(log.listed("decisions", state)), order),
        episodes=_in_order(_concat(log.listed("episodes", state)), order),
        worlds=len(state.done),
        played_now=sum(len(shard) for shard in todo),
        stats=stats,
        replayed=tuple(state.replayed),
        wall_seconds=time.perf_counter() - started,
        attribution=_in_order(_concat([p for p in log.listed(ATTRIBUTION, state) if p.exists()]), order),
    )


def write_results(recipe: EvalRecipe, result: Evaluation) -> dict:
    """OUT/decisions.parquet, episodes.parquet, summary.json (provenance, timing and the
    metrics of glade.eval.metrics) and recipe.yaml; returns the summary. Timing and cost are
    this run's; a rerun that played nothing keeps the earlier summary's."""
    from glade.meter import run_cost

    from .metrics import summarize
    from .verdicts import verdicts

    out = Path(recipe.out)
    out.mkdir(parents=True, exist_ok=True)
    _write(result.decisions, out / "decisions.parquet")
    _write(result.episodes, out / "episodes.parquet")
    if len(result.attribution):
        _write(result.attribution, out / "attribution.parquet")
    else:
        (out / "attribution.parquet").unlink(missing_ok=True)
    stats = result.stats
    timing = {
        "seconds": round(stats.total_seconds, 3),
        "model_seconds": round(stats.model_seconds, 3),
        "outside_model_share": round(stats.outside_model_share, 4),
    }
    cost = run_cost(stats, result.wall_seconds, result.played_now)
    if result.played_now == 0:  # a rerun with nothing to play keeps what playing cost, if it was written
        try:
            kept = json.loads((out / "summary.json").read_text())
        except (OSError, ValueError):
            kept = {}  # the runs that played were interrupted before they wrote a summary
        if "timing" in kept and kept.get("cost"):
            timing, cost = kept["timing"], {**kept["cost"], "kept": True}
        else:
            cost = None  # not recorded: zeros would read as a run that cost nothing
    decisions = result.decisions
    faults = tally_faults(zip(decisions["policy_name"], decisions["error"])) if len(decisions) else {}
    summary = {
        "recipe": recipe.name,
        **provenance(result.decisions, result.episodes),
        "worlds": result.worlds,
        "decisions": len(result.decisions),
        # per live seat (the recipe's policy name): faults are turns its seat failed to answer; those
        # rows, and the worlds they happened in, are left out of the metrics below and of the flags
        "faults": faults,
        "max_fault_share": recipe.max_fault_share,
        "timing": timing,
        "cost": cost,
        **summarize(result.decisions, result.episodes, recipe.thresholds, recipe.seed),
        "verdicts": verdicts(
            result.episodes, result.attribution, recipe.levers, recipe.thresholds, recipe.seed, result.decisions
        ),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    (out / "recipe.yaml").write_text(yaml.safe_dump(as_plain(recipe), sort_keys=False))
    return summary


def run_recipe(recipe: EvalRecipe, on_total=None, progress=None, backend=play_here) -> dict:
    """evaluate, then write_results; returns the summary."""
    return write_results(recipe, evaluate(recipe, on_total=on_total, progress=progress, backend=backend))


def provenance(decisions: pd.DataFrame, episodes: pd.DataFrame) -> dict:
    from glade.provenance import now, stamp

    hashes = episodes.groupby("scenario")["scenario_hash"].first().to_dict() if len(episodes) else {}
    identities = sorted(set(decisions["policy"])) if len(decisions) else []
    return {
        **stamp(("numpy", "scipy", "pandas", "torch", "transformers", "peft", "pettingzoo")),
        "scenario_hashes": hashes,
        "policies": identities,
        "written": now(),
    }


def _write(frame: pd.DataFrame, path: Path) -> None:
    with atomic(path) as tmp:
        frame.to_parquet(tmp, index=False)


def _in_order(frame: pd.DataFrame, order: dict[str, int]) -> pd.DataFrame:
    if not len(frame):
        return frame
    rank = frame["episode_id"].map(order).fillna(len(order))
    return frame.iloc[rank.argsort(kind="stable")].reset_index(drop=True)


def _concat(paths: list[Path]) -> pd.DataFrame:
    parts = [pd.read_parquet(p) for p in paths]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
