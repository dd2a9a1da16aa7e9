"""The plan of a council recipe: every (scenario, council, cast, seed) world and, for each
(scenario, seed), the paired all-stand-in world; the seats of each world; and the shards
they play in, which glade.resume records so an interrupted evaluation resumes where it
stopped.

The plan also holds the worlds the verdicts need (eval/verdicts.py, eval/attribution.py):
the scenarios a lever names are played even when `scenarios` leaves them out, and with
`attribution: true` every council world with two or more focal seats is replayed once per
focal seat with that seat left out (its creature back on its stand-in disposition). Those
replays go to their own table (attribution.parquet), never into the council's figures.
"""

from __future__ import annotations

from pathlib import Path

from glade.config import ConfigError, keyed
from glade.env.scenario import Scenario
from glade.resume import ShardLog
from glade.run_limits import results_recipe
from glade.seats import SeatSpecError, load_council

from .recipe import STANDIN, EvalRecipe, casts, world_id
from .rows import ATTRIBUTION, SHARDS, PlannedWorld

Shard = list[PlannedWorld]  # worlds played in lockstep and written as one part (`shards`)


def plan(recipe: EvalRecipe, scenarios: dict[str, Scenario]) -> list[PlannedWorld]:
    worlds = []
    for name, scenario in scenarios.items():
        creatures = list(scenario.creatures)
        for seed in recipe.seeds.values():
            pair = f"{name}.s{seed}"
            worlds.append(PlannedWorld(f"{name}.{STANDIN}.s{seed}", pair, name, STANDIN, 0, seed, {}))
            for council_name, council in recipe.councils.items():
                for k, focal in enumerate(casts(council, creatures)):
                    episode = world_id(name, council_name, k, seed)
                    worlds.append(PlannedWorld(episode, pair, name, council_name, k, seed, focal))
                    if recipe.attribution and len(focal) > 1:  # one focal seat left out is the stand-in world
                        for creature in focal:
                            rest = {c: p for c, p in focal.items() if c != creature}
                            worlds.append(
                                PlannedWorld(
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
    key = (scenario.name, tuple(sorted(focal.items())))  # one scenario per name (glade.config.check_distinct)
    if key not in cache:
        try:
            cache[key] = loader(seat_specs(recipe, scenario, focal))
        except (SeatSpecError, ConfigError) as exc:  # MissingInput too; the recipe's key, not only the creature
            creature, sep, rest = str(exc).partition(": ")
            if sep and creature in focal:
                raise type(exc)(f"policies.{focal[creature]} (seated on {creature}): {rest}") from exc
            raise
    return cache[key]


def check_ledger(recipe: EvalRecipe, source: str | None) -> None:
    """`out` refused as the run refuses it before playing (validate asks too): holding another
    recipe's run, another verb's results, or files no run wrote. After check_inputs: the recipe
    as the ledger holds it reads the seats' files."""
    if Path(recipe.out).is_dir():
        with keyed(source, "out"):
            shard_log(recipe.out).check(results_recipe(recipe))


def shard_log(out: str | Path) -> ShardLog:
    return ShardLog(
        Path(out),
        {
            "decisions": SHARDS + "/decisions-{part:05d}.parquet",
            "episodes": SHARDS + "/episodes-{part:05d}.parquet",
            ATTRIBUTION: SHARDS + "/attribution-{part:05d}.parquet",
        },
        optional=(ATTRIBUTION,),  # folders from before attribution have none
        complete=("episodes", ATTRIBUTION),  # every world's rows are in one of these; decisions: live seats only
        dropped=("levers",),  # decided the rows in folders written before 2026-12-03
    )


def shards(planned: list[PlannedWorld], done: dict, size: int) -> list[Shard]:
    """The worlds still to play, in shards: blocks of `size` consecutive worlds of the whole
    plan in seed order, less the finished ones. A shard plays in lockstep and is written as
    one part, by either backend; cutting the plan, not what is left, keeps every shard's
    worlds (and so every model seat's batches) the same however often a run was interrupted.
    Seed order puts worlds that play identical turns side by side (one council's cast in
    scenarios that part at the legend: before it they are one world), so that the engines
    answer those turns once (glade.seats.base.distinct_rows)."""
    councils = {name: i for i, name in enumerate(dict.fromkeys(w.council for w in planned))}
    scenarios = {name: i for i, name in enumerate(dict.fromkeys(w.scenario for w in planned))}
    planned = sorted(
        planned, key=lambda w: (w.seed, councils[w.council], w.cast, w.left_out or "", scenarios[w.scenario])
    )
    blocks = [planned[i : i + size] for i in range(0, len(planned), size)]
    return [todo for todo in ([w for w in b if w.episode_id not in done] for b in blocks) if todo]
