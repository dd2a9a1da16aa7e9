"""What a council evaluation will cost, before it runs (`glade eval RECIPE --dry-run`), and
the plan and calibration glade.run_limits.check holds to the recipe's limits before anything is played.

The plan is counted from the recipe (glade.eval.plan); the estimate comes
from glade.meter's calibration on the worlds of this recipe's first shard, each on a seed of its own. Seats are labelled by the
recipe's policy names (focal seats) and `standin:DISPOSITION` (every other seat).
"""

from __future__ import annotations

from glade import meter
from glade.env.scenario import Scenario
from glade.meter import Calibration, Estimate, Plan, estimate, spec_label
from glade.rollout import EpisodeSpec
from glade.run_limits import results_recipe
from glade.seats import StandIn
from glade.seats.standin import PREFIX as STANDIN_PREFIX

from .plan import Shard, plan, seat_council, shard_log, shards
from .recipe import EvalRecipe, load_played
from .rows import PlannedWorld


def labels(scenario: Scenario, world: PlannedWorld) -> dict[str, str]:
    """creature -> seat label: the recipe's policy name on focal seats, else the stand-in's."""
    return {c: world.focal.get(c) or spec_label(scenario.creatures[c].disposition) for c in scenario.creatures}


def is_standin(spec) -> bool:
    return isinstance(spec, str) or (isinstance(spec, dict) and spec.get("kind") == "standin")


def eval_plan(recipe: EvalRecipe, scenarios: dict[str, Scenario], todo: list[Shard]) -> Plan:
    decisions: dict[str, int] = {}
    worlds = [w for shard in todo for w in shard]
    for w in worlds:
        s = scenarios[w.scenario]
        for label in labels(s, w).values():
            decisions[label] = decisions.get(label, 0) + s.turns
    free = {name for name, spec in recipe.policies.items() if is_standin(spec)}
    free |= {label for label in decisions if label.startswith(STANDIN_PREFIX) and label not in recipe.policies}
    return Plan(
        episodes=len(worlds),
        world_turns=sum(scenarios[w.scenario].turns for w in worlds),
        decisions=decisions,
        free=frozenset(free),
    )


def model_calls(recipe: EvalRecipe, scenarios: dict[str, Scenario], todo: list[Shard], cache: dict) -> int:
    """Batched calls to model seats: per shard and lockstep turn, one per batch key of its model seats."""
    calls = 0
    for shard in todo:
        keys = set()
        for w in shard:
            council = seat_council(recipe, scenarios[w.scenario], w.focal, cache)
            keys |= {p.batch_key() for p in council.values() if not isinstance(p, StandIn)}
        calls += len(keys) * max(scenarios[w.scenario].turns for w in shard)
    return calls


def calibrate(recipe: EvalRecipe, scenarios: dict[str, Scenario], todo: list[Shard], cache: dict) -> Calibration:
    """glade.meter.calibrate on the first shard, and one world of each council it lacks."""
    worlds = meter.sampled([w for shard in todo for w in shard], len(todo[0]) if todo else 0, key=lambda w: w.council)
    return meter.calibrate(
        lambda: [
            EpisodeSpec(
                w.episode_id,
                scenarios[w.scenario],
                w.seed,
                seat_council(recipe, scenarios[w.scenario], w.focal, cache),
                labels(scenarios[w.scenario], w),
                recorded=frozenset(w.focal),  # as the run plays it (eval.run.play)
            )
            for w in worlds
        ]
    )


def dry_run(recipe: EvalRecipe) -> Estimate:
    """The plan of what is still to play (finished shards skipped, the folder left as it
    is), with its model calls and the calibrated estimate; writes nothing."""
    from glade.resume import finished, scenario_hashes

    scenarios = load_played(recipe)
    done = finished(shard_log(recipe.out), results_recipe(recipe), scenario_hashes(scenarios.items()))
    todo = shards(plan(recipe, scenarios), done, recipe.worlds)
    cache: dict = {}
    counted = eval_plan(recipe, scenarios, todo)
    calibration = calibrate(recipe, scenarios, todo, cache)  # first: it times loading the seats
    calls = model_calls(recipe, scenarios, todo, cache)
    return estimate(Plan(counted.episodes, counted.world_turns, counted.decisions, counted.free, calls), calibration)
