"""Play a council recipe: every world of its plan (glade.eval.plan); `evaluate` returns the
decisions and episodes tables, `write_results` writes them with the summary beside them.

Worlds play `worlds` at a time in lockstep (one batched call per batch key per turn: seats on one base
model or one server spec are answered together, see glade.rollout). Finished batches go to OUT/shards/ and OUT/progress.json (glade.resume),
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
from glade.env import protocol
from glade.env.scenario import Scenario
from glade.episode_folder import PROVENANCE
from glade.faults import SeatMeter, failing_watch, shard_watch, stop_if_failing, tally_faults
from glade.files import atomic, only_writer
from glade.provenance import other_writers
from glade.resume import part_writers, scenario_hashes
from glade.rollout import EpisodeSpec, RolloutStats, run_lockstep, world_turn_ticks
from glade.run_limits import check, results_recipe
from glade.seats.server import seat_fault_hint

from .columns import DECISION_COLUMNS, EPISODE_COLUMNS, EVERY_COLUMN, schema, with_protocol
from .estimate import calibrate, eval_plan
from .plan import Shard, plan, seat_council, shard_log, shards
from .recipe import EvalRecipe, load_played
from .results_folder import summary_mismatch, tables_identity
from .rows import ATTRIBUTION, decision_rows, episode_rows


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


def play(
    scenarios: dict[str, Scenario], shard: Shard, council, stats: RolloutStats, progress=None, after=None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Play one shard in lockstep; its decisions, episodes and attribution (leave-one-out
    replay) rows. `council(scenario, focal)` seats a world (see seat_council); `progress(n)`
    hears after each lockstep turn the n world-turns it played, then `after(live)`, with the worlds still playing."""
    specs = [
        EpisodeSpec(
            w.episode_id,
            scenarios[w.scenario],
            w.seed,
            council(scenarios[w.scenario], w.focal),
            seats=dict(w.focal),  # the live seats' label is the recipe's policy name
            # decision rows are the focal seats' own, and a leave-one-out replay writes none
            recorded=frozenset(w.focal) if w.left_out is None else frozenset(),
        )
        for w in shard
    ]
    played = run_lockstep(specs, on_turn=world_turn_ticks(specs, progress, after), stats=stats)
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
    recipe: EvalRecipe, scenarios: dict[str, Scenario], todo: list[Shard], stats: RolloutStats, progress=None
):
    """The local backend: every shard in this process, one after another; yields (shard,
    decisions, episodes, attribution) as each finishes. A seat that fails every decision
    may stop the run mid-shard (glade.faults.failing_watch), not only at the shard's end."""
    cache: dict = {}
    council = lambda scenario, focal: seat_council(recipe, scenario, focal, cache)
    watch = failing_watch(stats.seats, recipe.max_fault_share, seat_hint(recipe))
    for i, shard in enumerate(todo):
        yield shard, *play(scenarios, shard, council, stats, progress, shard_watch(watch, last=i + 1 == len(todo)))


def seat_hint(recipe: EvalRecipe):
    """What to fix about a failing seat, named by the recipe's policy name (its spec says which server)."""
    return lambda seat, faults: seat_fault_hint(seat, faults, recipe.policies.get(seat))


def evaluate(
    recipe: EvalRecipe, on_total=None, progress=None, backend=play_here, source: str | None = None
) -> Evaluation:
    """Play every world of the recipe not already in its shards; returns all of them.

    `on_total(world_turns)` hears how many turns all the worlds left will play (the dry run's
    world-turns); `progress(n)` hears the n world-turns each lockstep turn played (a backend
    may say a shard's at once, when it finishes).
    `backend` plays the shards and yields each as it finishes (play_here, or
    glade.eval.distributed.play_on_ray); finished shards are written and listed here, by
    the one process that writes the folder, so nothing is counted twice. The recipe's
    max_decisions and max_tokens are checked before anything plays (glade.run_limits.check; `source`
    begins a refusal: the recipe file, glade.config.recipe_source; None: `out`). One
    run at a time writes a folder (glade.files.only_writer; write_results takes it too: hold it
    around both, as run_recipe does, so no other run writes the tables in between)."""
    with only_writer(Path(recipe.out)):
        return _evaluate(recipe, on_total, progress, backend, source)


def _evaluate(recipe: EvalRecipe, on_total, progress, backend, source) -> Evaluation:
    started = time.perf_counter()
    scenarios = load_played(recipe)
    log = shard_log(recipe.out)
    state = log.start(results_recipe(recipe), scenario_hashes(scenarios.items()))
    planned = plan(recipe, scenarios)
    todo = shards(planned, state.done, recipe.worlds)
    try:
        check(
            recipe,
            lambda: eval_plan(recipe, scenarios, todo),
            lambda: calibrate(recipe, scenarios, todo, {}),
            recipe.out if source is None else source,
        )
    except BaseException:
        log.abandon(state)
        raise
    if on_total is not None:
        on_total(sum(scenarios[w.scenario].turns for shard in todo for w in shard))
    stats = RolloutStats()
    # what the end-of-run check tallies: the decisions table of the plan's worlds, done and to play
    # (leave-one-out replays write none, so their faults, in stats.seats, are not counted here either)
    totals = eval_plan(recipe, scenarios, [[w for w in planned if w.left_out is None]]).decisions
    meters: dict[str, SeatMeter] = {}
    hint = seat_hint(recipe)

    part = first = state.next_part()
    try:
        for shard, decisions, episodes, replays in backend(recipe, scenarios, todo, stats, progress):
            _write(decisions, log.path("decisions", part), DECISION_COLUMNS)
            _write(episodes, log.path("episodes", part), EPISODE_COLUMNS)
            _write(replays, log.path(ATTRIBUTION, part), EPISODE_COLUMNS)
            # a shard of leave-one-out replays only has no episodes rows: its faults are in the replays
            played = pd.concat([episodes, replays])
            faults = played.groupby("episode_id")["faults"].sum() if len(played) else {}
            log.finish(state, part, {w.episode_id: int(faults.get(w.episode_id, 0)) for w in shard})
            part += 1
            for name, error in zip(decisions["policy_name"], decisions["error"]) if len(decisions) else ():
                meters.setdefault(name, SeatMeter()).count(error)
            if part - first < len(todo):  # a seat failing from the start stops the run here
                stop_if_failing(meters, recipe.max_fault_share, part - first, len(todo), totals, hint)
    except BaseException:
        log.abandon(state)
        raise
    # plan order, whichever shard finished first; only the plan's worlds: the leave-one-out
    # replays of an earlier run with `attribution: true` stay in the ledger for a later one
    order = {w.episode_id: i for i, w in enumerate(planned)}
    now = protocol.PROTOCOL_VERSION  # read at call time: a test stands in a later version
    replays = _concat([p for p in log.listed(ATTRIBUTION, state) if p.exists()])
    return Evaluation(
        decisions=_in_order(_concat(log.listed("decisions", state)), order),
        # the shards of an older glade's run hold episode rows without protocol_version
        episodes=_in_order(with_protocol(_concat(log.listed("episodes", state)), now), order),
        worlds=len(state.done & set(order)),
        played_now=sum(len(shard) for shard in todo),
        stats=stats,
        replayed=tuple(state.replayed),
        wall_seconds=time.perf_counter() - started,
        attribution=_in_order(with_protocol(replays, now), order),
    )


def write_results(recipe: EvalRecipe, result: Evaluation) -> dict:
    """OUT/decisions.parquet, episodes.parquet, attribution.parquet (where seats were
    attributed; an old one is removed), summary.json (provenance, timing and the metrics of
    glade.eval.metrics) and recipe.yaml; returns the summary. Timing and cost are
    this run's; a rerun that played nothing keeps the earlier summary's."""
    with only_writer(Path(recipe.out)):
        return _write_results(recipe, result)


def _write_results(recipe: EvalRecipe, result: Evaluation) -> dict:
    from glade.run_cost import run_cost

    from .metrics import summarize
    from .verdicts import verdicts

    out = Path(recipe.out)
    out.mkdir(parents=True, exist_ok=True)
    made = provenance(result.decisions, result.episodes)
    # a folder resumed under another glade, or kept whole from another's run: each glade that wrote its worlds
    worlds = set(result.episodes["episode_id"]) if len(result.episodes) else set()
    if others := other_writers(part_writers(out, worlds), made):
        made["written_by"] = others
    glade = table_provenance(recipe, made)
    _write(result.decisions, out / "decisions.parquet", DECISION_COLUMNS, glade)
    _write(result.episodes, out / "episodes.parquet", EPISODE_COLUMNS, glade)
    if len(result.attribution):
        _write(result.attribution, out / "attribution.parquet", EPISODE_COLUMNS, glade)
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
            kept = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            kept = {}  # the runs that played were interrupted before they wrote a summary, or it was damaged
        if not isinstance(kept, dict):  # damaged since: its cost is not known, as without one (rewritten below)
            kept = {}
        foreign = not isinstance(kept.get("decisions"), int) or summary_mismatch(
            kept, len(result.decisions), result.episodes
        )  # another run's summary (copied in): its cost is not this folder's
        if isinstance(kept.get("timing"), dict) and isinstance(kept.get("cost"), dict) and kept["cost"] and not foreign:
            timing, cost = kept["timing"], {**kept["cost"], "kept": True}
        else:  # not recorded: zeros would read as a run that cost nothing
            timing = cost = None
    decisions = result.decisions
    faults = tally_faults(zip(decisions["policy_name"], decisions["error"])) if len(decisions) else {}
    summary = {
        "recipe": recipe.name,
        **made,
        # each scenario as the recipe gave it (a path, for a file of one's own) -> its `name:`, which the training
        # traces record: a model card names it so even after the file has moved (glade.hub.scenario_settings)
        "scenario_names": {entry: scenario.name for entry, scenario in load_played(recipe).items()},
        "worlds": result.worlds,
        "decisions": len(result.decisions),
        "tables": tables_identity(len(result.decisions), result.episodes),  # the report checks the tables by it
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
    # whole or not at all: a kill leaves the earlier summary (and its timing and cost), never an empty one
    with atomic(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=float), encoding="utf-8")
    with atomic(out / "recipe.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(as_plain(recipe), sort_keys=False), encoding="utf-8")
    return summary


def run_recipe(recipe: EvalRecipe, on_total=None, progress=None, backend=play_here) -> dict:
    """evaluate, then write_results, under one lock; returns the summary."""
    with only_writer(Path(recipe.out)):
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


def table_provenance(recipe: EvalRecipe, summary: dict) -> dict:
    """The `glade` metadata key of each table write_results writes (as trace.parquet's, glade.episode_folder):
    which glade, prompt protocol, scenarios and recipe made it, so a table copied away still says so."""
    # written_by: where the worlds are not all the glade the stamp names (a run resumed under another)
    kept = [*PROVENANCE, "scenario_hashes", *(["written_by"] if "written_by" in summary else [])]
    return {**{k: summary[k] for k in kept}, "recipe": recipe.name}


def _write(frame: pd.DataFrame, path: Path, columns: dict = EVERY_COLUMN, glade: dict | None = None) -> None:
    """`frame` as Parquet, typed by its documented `columns` (glade.eval.columns.schema), `glade` the table's
    provenance (table_provenance). pandas' own metadata is left out: the file says the same whichever pandas wrote it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    typed = schema(frame, columns, glade)
    table = pa.Table.from_pandas(frame, schema=typed, preserve_index=False).replace_schema_metadata(typed.metadata)
    with atomic(path) as tmp:
        pq.write_table(table, tmp)


def _in_order(frame: pd.DataFrame, order: dict[str, int]) -> pd.DataFrame:
    """The rows of the planned worlds (`order`: episode id -> its place in the plan), in plan order."""
    if not len(frame):
        return frame
    frame = frame[frame["episode_id"].isin(order.keys())]
    rank = frame["episode_id"].map(order)
    return frame.iloc[rank.argsort(kind="stable")].reset_index(drop=True)


def _concat(paths: list[Path]) -> pd.DataFrame:
    parts = [pd.read_parquet(p) for p in paths]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
