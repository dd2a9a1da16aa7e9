"""Traces: play the episodes a generate recipe describes and write them as a dataset.

The recipe names scenarios, councils and seeds; every (scenario, council, seed) is one episode, and episodes
run `worlds` at a time in lockstep (one batched call per batch key per turn, see glade.rollout). Finished
batches are written as Parquet shards under OUT/data/ and listed in OUT/progress.json (glade.resume), so a
rerun after an interruption keeps them and plays only the rest. The folder is a Hugging Face dataset:
`load_dataset("parquet", data_dir=OUT/data)`, with a dataset card in OUT/README.md. `load_traces` reads it back.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glade.config import (
    Seeds,
    check_at_least,
    check_out,
    check_scenarios,
    check_seeds,
    fail,
    keyed,
    load_recipe,
    recipe_source,
)
from glade.env import protocol
from glade.env.schema import control_character
from glade.faults import failing_watch, planned_decisions, shard_watch, stop_if_failing, tally_faults
from glade.files import check_folder_path, only_writer
from glade.meter import Calibration, Estimate, Plan, calibrate, estimate, sampled, spec_label
from glade.resume import check_outside_runs, finished, scenario_hashes
from glade.rollout import EpisodeSpec, RolloutStats, recipe_scenario, run_lockstep, world_turn_ticks
from glade.run_cost import run_cost
from glade.run_limits import check, check_ranges, results_recipe
from glade.seats import SeatSpecError, check_model_names, check_spec, check_stand_in_names, each_creature, load_council
from glade.seats import check_inputs as seat_inputs
from glade.seats.server import seat_fault_hint
from glade.seats.standin import PREFIX as STANDIN_PREFIX
from glade.shard_rows import protocol_words
from glade.shard_spool import ShardSpool
from glade.trace_cells import check_cells
from glade.traces_card import write_card
from glade.traces_ledger import check_listed, check_shard_rows, interrupted_generate, left_to_play, shard_log

if TYPE_CHECKING:
    import datasets


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
    # the run limits (glade.run_limits), declared as in EvalRecipe
    max_fault_share: float = 0.2
    max_decisions: int | None = None
    max_tokens: int | None = None


def load_generate_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> GenerateRecipe:
    """Read and fully validate a generate recipe: keys, types and ranges, every seat spec, that
    every scenario loads and every council names only its creatures. Reads no model."""
    recipe = load_recipe(GenerateRecipe, path, overrides, kind="generate")
    source = recipe_source(path, overrides)
    check_out(recipe.out, source, "out")
    check_seeds(recipe.seeds, source)
    check_at_least(recipe, source, {"worlds": 1, "turns": 1})
    check_ranges(recipe, source)
    check_scenarios(recipe.scenarios, source, recipe.turns)
    if not recipe.councils:
        fail(source, "councils", "needs at least one council")
    for council, seats in recipe.councils.items():
        if control := control_character(council):  # as glade.eval.recipe.check_label: ids and the card show it raw
            fail(source, "councils", f"{council!r} cannot label episodes: {control}")
        for creature, spec in seats.items():
            if spec is not None:
                with keyed(source, f"councils.{council}.{creature}"):
                    check_spec(spec)
    scenarios = {}
    for i, name in enumerate(recipe.scenarios):
        with keyed(source, f"scenarios[{i}]"):
            scenario = scenarios[name] = recipe_scenario(name, recipe.turns)
        for council in recipe.councils:
            with keyed(source, f"scenarios[{i}]"):
                seat_specs(recipe, council, list(scenario.creatures))
    check_episode_ids(recipe, scenarios, source)
    return recipe


def check_episode_ids(recipe: GenerateRecipe, scenarios: dict, source: str | None) -> None:
    """Two (scenario, council) pairs of one id (`x` with council `y.z`, `x.y` with `z`): the ledger would count one
    episode's rows as the other's and a rerun would drop one. The id keeps its form (folders and resumes know it)."""
    seen: dict[str, tuple[str, str]] = {}
    for eid, entry, council, _ in episode_plan(recipe, scenarios):
        pair = (scenarios[entry].name, council)
        if (first := seen.setdefault(eid, pair)) != pair:
            fail(source, "councils", f"scenario {first[0]!r} with council {first[1]!r} and scenario {pair[0]!r} "
                 f"with council {pair[1]!r} make one episode id, {eid!r}; rename one of those councils or scenarios")  # fmt: skip


def check_inputs(recipe: GenerateRecipe, source: str | None) -> None:
    """What the seats read (checkpoints, model folders, adapters): MissingInput for what is not there
    yet; and `out`, refused as the run would refuse it before playing: a file or under one, inside
    another run's folder, or holding another recipe's run or files no run wrote (validate asks too)."""
    with keyed(source, "out"):
        check_folder_path(Path(recipe.out))
        check_outside_runs(Path(recipe.out))
    for council, seats in recipe.councils.items():
        for creature, spec in seats.items():
            with keyed(source, f"councils.{council}.{creature}"):
                seat_inputs(spec)
    check_identities(recipe, source)
    if Path(recipe.out).is_dir():  # last: the recipe as the ledger holds it reads the seats' files
        wrote = results_recipe(recipe)
        with keyed(source, "out"):
            shard_log(recipe.out).check(wrote)  # another recipe's run, or files no run wrote


def check_identities(recipe: GenerateRecipe, source: str | None = None) -> None:
    """Seats the rows could not tell apart: two disposition files under one name, two models or two servers
    under one policy identity (glade.seats check_stand_in_names, check_model_names); two scenarios of one name
    (glade.config.check_distinct) and two episodes of one id (check_episode_ids): the recipe is checked again
    here, as generate() may be given one unloaded."""
    check_scenarios(recipe.scenarios, source, recipe.turns)
    scenarios = load_scenarios(recipe)
    check_episode_ids(recipe, scenarios, source)
    specs = {f"{c}.{creature}": spec for c, seats in recipe.councils.items() for creature, spec in seats.items()}
    # the stand-ins the scenarios seat where a council names none play beside them, under their names too
    scenario_seats = {
        f"scenario {name}'s {creature}": c.disposition
        for name, scenario in scenarios.items()
        for creature, c in scenario.creatures.items()
    }
    with keyed(source, "councils"):
        check_stand_in_names({**specs, **scenario_seats})
        check_model_names(specs, servers=True)


def episode_plan(recipe: GenerateRecipe, scenarios: dict | None = None) -> list[tuple[str, str, str, int]]:
    """(episode_id, scenario, council, seed) for every episode, in a fixed order; `scenario` the recipe's entry (a name
    or a path), the id NAME.COUNCIL.sSEED by its `name:` as the rows' scenario column (a path would go to the Hub)."""
    scenarios = load_scenarios(recipe) if scenarios is None else scenarios
    return [
        (episode_id(scenarios[entry].name, council, seed), entry, council, seed)
        for entry in recipe.scenarios
        for council in recipe.councils
        for seed in recipe.seeds.values()
    ]


def episode_id(scenario: str, council: str, seed: int) -> str:
    return f"{scenario}.{council}.s{seed}"


def seat_specs(recipe: GenerateRecipe, council: str, creatures: list[str]) -> dict[str, Any]:
    return each_creature(recipe.councils[council], creatures, f"councils.{council}")


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
        try:
            councils[(scenario_name, council_name)] = load_council(seats)
        except SeatSpecError as exc:  # "oona: ..." named by its recipe key, for a creature several councils seat
            raise SeatSpecError(f"councils.{council_name}.{exc}") from exc
    named = {c: spec_label(s) for c, s in seats.items()} if labels else {}
    return EpisodeSpec(episode_id, scenario, seed, councils[(scenario_name, council_name)], named)


def load_scenarios(recipe: GenerateRecipe) -> dict:
    return {name: recipe_scenario(name, recipe.turns) for name in recipe.scenarios}


def generate_plan(recipe: GenerateRecipe, scenarios: dict, plan: list[tuple]) -> Plan:
    decisions: dict[str, int] = {}
    for _, scenario_name, council_name, _ in plan:
        scenario = scenarios[scenario_name]
        for spec in seats_of(recipe, scenario, council_name).values():
            label = spec_label(spec)
            decisions[label] = decisions.get(label, 0) + scenario.turns
    free = frozenset(label for label in decisions if label.startswith(STANDIN_PREFIX))
    return Plan(len(plan), sum(scenarios[p[1]].turns for p in plan), decisions, free)


def calibration(recipe: GenerateRecipe, scenarios: dict, plan: list[tuple], councils: dict) -> Calibration:
    """glade.meter.calibrate on the first batch, and one episode of each council it lacks."""
    worlds = sampled(plan, recipe.worlds, key=lambda p: p[2])
    return calibrate(lambda: [episode_spec(recipe, scenarios, p, councils, labels=True) for p in worlds])


def dry_run(recipe: GenerateRecipe) -> Estimate:
    """The plan of the episodes not yet written and its calibrated estimate; writes nothing."""
    scenarios = load_scenarios(recipe)
    hashes = scenario_hashes((s.name, s) for s in scenarios.values())
    done = finished(shard_log(recipe.out), results_recipe(recipe), hashes)
    plan = left_to_play(episode_plan(recipe, scenarios), done)
    return estimate(generate_plan(recipe, scenarios, plan), calibration(recipe, scenarios, plan, {}))


def generate(recipe: GenerateRecipe, progress=None, on_total=None, source: str | None = None) -> dict:
    """Play every planned episode not already written; returns a summary dict (its `cost` is None when nothing
    was left to play: the dataset card keeps the playing run's). One run at a time writes a folder
    (glade.files.only_writer). `on_total(world_turns)` hears how many turns all the episodes left will play (the
    dry run's world-turns); `progress(n)` hears after each lockstep turn the n world-turns it played. `source`
    begins a limit's refusal (glade.run_limits.check): the recipe file (glade.config.recipe_source); None: `out`."""
    with only_writer(Path(recipe.out)):
        return _generate(recipe, progress, on_total, source)


def _generate(recipe: GenerateRecipe, progress, on_total, source) -> dict:
    started = time.perf_counter()
    out = Path(recipe.out)
    check_identities(recipe)  # before the folder is touched: check_inputs asked too, but a caller may not
    scenarios = load_scenarios(recipe)
    log = shard_log(out)
    state = log.start(results_recipe(recipe), scenario_hashes((s.name, s) for s in scenarios.values()))
    plan = left_to_play(episode_plan(recipe, scenarios), state.done)
    councils: dict[tuple[str, str], dict] = {}
    batches = [plan[i : i + recipe.worlds] for i in range(0, len(plan), recipe.worlds)]
    stats = RolloutStats()
    part = first = state.next_part()
    try:
        check(  # a run its limits refuse leaves the card of the last one
            recipe,
            lambda: generate_plan(recipe, scenarios, plan),
            lambda: calibration(recipe, scenarios, plan, councils),
            recipe.out if source is None else source,
        )
        if plan:  # episodes to play (a finished folder's repairs too): its card would no longer describe it, and
            # a card marks a finished dataset (interrupted_generate), so it goes until this run writes the new one
            (out / "README.md").unlink(missing_ok=True)
        if on_total is not None:
            on_total(sum(scenarios[p[1]].turns for p in plan))
        # what the end tally will count per seat: the kept rows, and every decision this run plans
        kept = (seat for seat, _ in seats_and_errors(log.listed("traces", state)))
        totals = planned_decisions([episode_spec(recipe, scenarios, p, councils) for p in plan], kept)
        watch = failing_watch(stats.seats, recipe.max_fault_share, seat_fault_hint)  # a dead seat, mid-shard
        for i, batch in enumerate(batches):
            specs = [episode_spec(recipe, scenarios, p, councils) for p in batch]
            on_turn = world_turn_ticks(specs, progress, shard_watch(watch, last=i + 1 == len(batches)))
            spool = ShardSpool([e.episode_id for e in specs])  # the rows packed as they come, not held as dicts
            run_lockstep(specs, on_turn=on_turn, stats=stats, sink=spool.add)
            _write_shard(spool, log.path("traces", part))
            log.finish(state, part, spool.faults)
            part += 1
            if i + 1 < len(batches):  # a seat failing from the start stops the run here
                stop_if_failing(
                    stats.seats, recipe.max_fault_share, part - first, len(batches), totals, seat_fault_hint
                )
    except BaseException:
        log.abandon(state)
        raise
    summary = {
        "episodes": len(state.done),
        "played_now": len(plan),
        "decisions_now": stats.decisions,
        "seconds_now": round(stats.total_seconds, 3),
        "out": str(out),
        "replayed": state.replayed,
        "seats_now": {seat: m.as_dict() for seat, m in sorted(stats.seats.items())},
        "faults": tally_faults(seats_and_errors(log.listed("traces", state))),
        "cost": run_cost(stats, time.perf_counter() - started, len(plan)) if plan else None,
        # "kept": the card of the run that played; "written": by this run (a run killed after its
        # last part wrote none, and its cost went with it)
        "card": "written" if plan or not (out / "README.md").exists() else "kept",
        "written_by": None,  # the card's, where more than this glade wrote the episodes (a run resumed under another)
    }
    if summary["card"] == "written":
        named = {s.name: s for s in scenarios.values()}  # as the rows and ids name them: no local path on the card
        summary["written_by"] = write_card(recipe, out, named, state.done, summary["cost"], summary["faults"])
    return summary


def seats_and_errors(shards: list[Path]):
    """(seat, error) of every row of these traces shards, read alone: what the fault tallies count."""
    import pyarrow.parquet as pq

    for shard in shards:
        table = pq.read_table(shard, columns=["seat", "error"])
        yield from zip(table["seat"].to_pylist(), table["error"].to_pylist())


def _write_shard(spool: ShardSpool, path: Path) -> None:
    """A batch's shard, from the rows packed as they played (here, where a test stands in a writer that dies)."""
    spool.write(path)


def readable_shards(folder: str | Path) -> list[str]:
    """The Parquet files of a finished traces folder; FileNotFoundError when there are none, a
    ValueError naming a checkpoint (its data/ holds SFT splits, not traces), the folder of an
    interrupted generate run, or the file that cannot be read, holds no traces, or does not hold
    what the folder's ledger lists, each row once (glade.traces_ledger)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if any((Path(folder) / name).is_file() for name in ("meta.json", "adapter_config.json", "config.json")):
        raise ValueError(f"{folder}: a checkpoint, not a traces dataset; {GIVE_TRACES}")
    files = sorted(str(p) for p in (Path(folder) / "data").glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"{folder}: no traces (expected {folder}/data/*.parquet from `glade generate`)")
    cut_short = interrupted_generate(Path(folder))
    if cut_short is not None:
        raise ValueError(cut_short)
    members = check_listed(Path(folder), files)
    for file in files:
        try:
            columns = pq.read_schema(file).names
        except (pa.ArrowException, OSError) as exc:
            why = str(exc).splitlines()[0][:200]
            raise ValueError(
                f"{unreadable_parquet(file, why)}; rerun `glade generate` with the recipe that wrote it: it replays that shard"
            ) from None
        if missing := [c for c in ("seed", "scenario") if c not in columns]:  # a trace row names its world
            raise ValueError(f"{file}: not a traces shard (no {' or '.join(missing)} column); {GIVE_TRACES}")
    check_shard_rows(files, members)
    return files


GIVE_TRACES = "give a folder glade generate wrote (runs/traces/NAME)"


def other_protocol(folder: str | Path) -> str | None:
    """The line for a finished traces folder with rows rendered in other prompts than this glade's, else None."""
    import pyarrow.parquet as pq

    files = [f for f in readable_shards(folder) if "protocol_version" in pq.read_schema(f).names]
    found = protocol_words(v for f in files for v in pq.read_table(f, columns=["protocol_version"])[0].to_pylist())
    if not found - {protocol.PROTOCOL_VERSION}:  # read at call time: a test stands in a later version
        return None
    said, now = ", ".join(sorted(found)), protocol.PROTOCOL_VERSION
    return f"{folder}: its rows were rendered with prompt protocol {said}, this glade renders {now}"


def unreadable_parquet(path: str | Path, why: str) -> str:
    """The start of the line for a Parquet file that cannot be read (a trace shard, a results table); callers add how
    to make it again. Here, the lowest module of those that read one (glade.eval imports it)."""
    return f"{path}: not a readable Parquet file ({why})"


def load_traces(
    folders: str | Path | tuple[str | Path, ...] | list[str | Path], needs: Sequence[str] = (), reader: str = ""
) -> datasets.Dataset:
    """Every row of this traces folder, or these, as one Dataset (readable_shards first; `needs` by check_cells), held in
    memory: load_dataset would leave an Arrow copy several times the traces' size under HF_HOME, never removed, and the
    filters and maps on an in-memory Dataset stay in memory too."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Dataset, DatasetInfo
    from datasets.table import InMemoryTable, table_cast

    folders = [folders] if isinstance(folders, (str, Path)) else list(folders)
    if not folders:
        raise ValueError("load_traces: no traces folder given; give one folder or a list of them")
    if dup := [(a, b) for i, b in enumerate(folders) for a in folders[:i] if Path(a).resolve() == Path(b).resolve()]:
        raise ValueError(f"{dup[0][1]}: named twice (first as {dup[0][0]}): its rows would load twice; name it once")
    files = [file for folder in folders for file in readable_shards(folder)]
    features = _features(files)
    # each shard cast as load_dataset's Parquet reader casts it; Arrow columns, never Python rows
    table = pa.concat_tables(table_cast(pq.read_table(f, memory_map=True), features.arrow_schema) for f in files)
    rows = Dataset(InMemoryTable(table), info=DatasetInfo(features=features), split="train")
    check_cells(rows.data.table, files, needs, reader)
    return rows


def _features(files: list[str]):
    """The shards' columns as one set of features: a column typed null in some shards (every
    row null there, as shards written before `dataset_schema` may be) takes the others' type."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Features

    schemas = [pq.read_schema(f).remove_metadata() for f in files]
    try:
        return Features.from_arrow_schema(pa.unify_schemas(schemas, promote_options="permissive"))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValueError(
            f"{files[0]}: these traces shards do not share one schema ({str(exc).splitlines()[0][:120]}); "
            "load folders written by the same glade"
        ) from None
