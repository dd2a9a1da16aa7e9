"""Council recipes: who sits where, in which worlds, over which seeds; validated up front."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from glade.env.scenario import Scenario
from glade.env.scenario_check import FOLDER_NAME
from glade.env.schema import control_character
from glade.files import check_folder_path
from glade.resume import check_outside_runs
from glade.rollout import recipe_scenario
from glade.run_limits import check_ranges
from glade.seats import check_inputs as seat_inputs
from glade.seats import check_model_names, check_spec, check_stand_in_names

from .figures import FIGURES, legend_turn
from .thresholds import Thresholds, check_thresholds

STANDIN = "standin"  # the council name of the all-stand-in world every council world is paired with


@dataclass(frozen=True)
class CouncilSpec:
    focal: dict[str, str]  # creature (or "*" for all) -> a policy name from `policies`
    rotate: int = 1  # casts: 1 = as written; k > 1 also shifts every focal seat 1..k-1 places


@dataclass(frozen=True)
class Lever:
    """Two scenarios that differ in one lever (`{name: glut, from: gambit_rumour, to:
    gambit_shock}`), audited on one outcome figure (glade.eval.figures)."""

    name: str
    from_: str = field(metadata={"key": "from"})
    to: str
    figure: str = "legend_ratio"


@dataclass(frozen=True)
class EvalRecipe:
    name: str
    out: str
    policies: dict[str, Any]  # name -> seat spec (glade.seats.load), or a disposition name
    councils: dict[str, CouncilSpec]
    scenarios: tuple[str, ...]
    seeds: Seeds = field(default_factory=Seeds)
    turns: int | None = None
    worlds: int = 16
    thresholds: Thresholds = field(default_factory=Thresholds)
    seed: int = 0  # seeds the resamplers and permutation tests
    # the run limits (glade.run_limits), declared as in GenerateRecipe; only live seats can fail
    max_fault_share: float = 0.2
    max_decisions: int | None = None
    max_tokens: int | None = None
    # their scenarios are played even when `scenarios` leaves them out (a lever compares two worlds):
    # --dry-run and the run name those it adds (lever_scenarios_line)
    levers: tuple[Lever, ...] = ()
    attribution: bool = False  # replay every council world with each focal seat left out (x focal seats)


def load_eval_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> EvalRecipe:
    """Read and fully validate a council recipe: keys, types and ranges, every seat spec, that
    every scenario loads, every focal creature exists, and that `turns` reaches each scenario's
    legend and the gambit's cover (glade.eval.figures measures them). Reads no model."""
    recipe = load_recipe(EvalRecipe, path, overrides, kind="eval")
    source = recipe_source(path, overrides)
    if not FOLDER_NAME.fullmatch(recipe.name):  # as a scenario's name: it labels results, rank entries, titles
        fail(
            source,
            "name",
            f"{recipe.name!r} cannot label results: 1 to 128 characters, no '/' or '\\', not starting with '.'",
        )
    check_label(source, "name", recipe.name)  # what FOLDER_NAME lets through: DEL, C1 controls, bidi overrides
    if not recipe.policies:  # else each council's seat is an "unknown policy" among none
        fail(
            source,
            "policies",
            "needs at least one policy (NAME: a seat spec or a disposition name) for the councils to seat",
        )
    for group, names in (("policies", recipe.policies), ("councils", recipe.councils)):
        for name in names:
            check_label(source, group, name)
    for name, council in recipe.councils.items():
        if name == STANDIN:
            fail(source, f"councils.{name}", f"{STANDIN!r} names the all-stand-in world; choose another council name")
        for creature, policy in council.focal.items():
            if policy not in recipe.policies:
                fail(
                    source,
                    f"councils.{name}.focal.{creature}",
                    f"unknown policy {policy!r} (policies: {', '.join(recipe.policies)})",
                )
        if council.rotate < 1:
            fail(source, f"councils.{name}.rotate", "must be at least 1")
        if not council.focal:
            fail(source, f"councils.{name}.focal", "names no seat; seat at least one creature (or '*': every creature)")
    for name, spec in recipe.policies.items():
        if not isinstance(spec, (dict, str)):
            fail(source, f"policies.{name}", "expected a seat spec (a mapping) or a disposition name")
        with keyed(source, f"policies.{name}"):
            check_spec(spec)
    levers: dict[str, str] = {}  # a scenario a lever names -> its key (the first that names it)
    for i, lever in enumerate(recipe.levers):
        levers.setdefault(lever.from_, f"levers[{i}].from")
        levers.setdefault(lever.to, f"levers[{i}].to")
    check_scenarios(recipe.scenarios, source, recipe.turns, levers)
    if not recipe.councils:
        fail(source, "councils", "needs at least one council")
    check_seeds(recipe.seeds, source)
    check_out(recipe.out, source, "out")
    check_at_least(recipe, source, {"worlds": 1, "turns": 1, "seed": 0})
    check_ranges(recipe, source)
    check_thresholds(recipe.thresholds, source)
    check_levers(recipe, source)
    scenarios = {}
    for i, name in enumerate(played_scenarios(recipe)):
        key = f"scenarios[{i}]" if i < len(recipe.scenarios) else "levers"
        with keyed(source, key):
            scenario = scenarios[name] = recipe_scenario(name, recipe.turns)
        for council_name, council in recipe.councils.items():
            with keyed(source, f"councils.{council_name}.focal"):
                casts(council, list(scenario.creatures))
            check_rotate(council, scenario, source, f"councils.{council_name}.rotate")
        check_turns_reach_legend(scenario, source)
    check_world_ids(recipe, scenarios, source)
    return recipe


def world_id(scenario: str, council: str, cast: int, seed: int) -> str:
    """A council world's episode_id (glade.eval.plan), by the recipe's scenario entry."""
    return f"{scenario}.{council}.c{cast}.s{seed}"


def check_world_ids(recipe: EvalRecipe, scenarios: dict[str, Scenario], source: str | None) -> None:
    """Two (scenario, council) pairs of one id (`./s.yaml` with council `y.yaml.z`, `./s.yaml.y.yaml` with `z`): the
    run would play both and then refuse its own rows. The id keeps its form (folders and resumes know it)."""
    seen: dict[str, tuple[str, str]] = {}
    for entry, scenario in scenarios.items():
        for council_name, council in recipe.councils.items():
            pair = (entry, council_name)
            for k in range(len(casts(council, list(scenario.creatures)))):  # the seed ends an id: all clash alike
                wid = world_id(entry, council_name, k, recipe.seeds.start)
                first = seen.setdefault(wid, pair)
                if first != pair:
                    fail(source, "councils", f"scenario {first[0]!r} with council {first[1]!r} and scenario {pair[0]!r} "
                         f"with council {pair[1]!r} make one episode id, {wid!r}; rename one of those councils or scenarios")  # fmt: skip


def check_inputs(recipe: EvalRecipe, source: str | None) -> None:
    """What the seats read (checkpoints, model folders, adapters): MissingInput for what is not there
    yet; `out`, which must not be a file or lie under one (the run refuses it before playing); and
    seats the rows could not tell apart (two disposition files or two model folders of one name)."""
    with keyed(source, "out"):
        check_folder_path(Path(recipe.out))
        check_outside_runs(Path(recipe.out))
    for name in sorted(set(recipe.policies) - set(unseated(recipe))):
        with keyed(source, f"policies.{name}"):
            seat_inputs(recipe.policies[name])
    # the all-stand-in world seats the scenarios' own stand-ins, under their names too
    scenario_seats = {
        f"scenario {name}'s {creature}": c.disposition
        for name, scenario in load_played(recipe).items()
        for creature, c in scenario.creatures.items()
    }
    with keyed(source, "policies"):
        check_stand_in_names({**recipe.policies, **scenario_seats})
        check_model_names(recipe.policies, settings=False)  # eval names seats by its policy names


def unseated(recipe: EvalRecipe) -> list[str]:
    """The policies no council seats, in the recipe's order: they play nowhere."""
    seated = {policy for council in recipe.councils.values() for policy in council.focal.values()}
    return [name for name in recipe.policies if name not in seated]


def check_turns_reach_legend(scenario: Scenario, source: str | None) -> None:
    """A run too short for the scenario's legend (or the gambit's cover) would report a price
    ratio of '-' and a gambit P&L of +0.00 that look like results: refuse it."""
    events = {"legend": legend_turn(scenario)}
    if scenario.gambit is not None:
        g = scenario.gambit
        events["gambit cover"] = g.spring_turn if g.cover_turn is None else g.cover_turn
    late = {what: turn for what, turn in events.items() if turn is not None and turn >= scenario.turns}
    if late:
        need = max(events[w] for w in events if events[w] is not None) + 1
        where = ", ".join(f"{what} at turn {turn}" for what, turn in late.items())
        fail(
            source,
            "turns",
            f"{scenario.turns} turns (0 to {scenario.turns - 1}) never reach {scenario.name}'s {where}: "
            f"its figures would read '-' and +0.00; set turns to at least {need}",
        )


def check_levers(recipe: EvalRecipe, source: str) -> None:
    seen = set()
    for i, lever in enumerate(recipe.levers):
        check_label(source, f"levers[{i}].name", lever.name)
        if lever.name in seen:
            fail(source, f"levers[{i}].name", f"{lever.name!r} names two levers")
        seen.add(lever.name)
        if lever.from_ == lever.to:
            fail(source, f"levers[{i}].to", "a lever needs two different scenarios")
        if lever.figure not in FIGURES:
            fail(source, f"levers[{i}].figure", f"unknown figure {lever.figure!r} (figures: {', '.join(FIGURES)})")


def check_label(source: str, key: str, name: str) -> None:
    """A policy, council or lever name labels table rows, flags and the report: a blank one
    would print as nothing there, and a control character (an escape sequence, a newline, a
    bidi override) would reach the terminal raw (a key that is no string is refused before, by build)."""
    if not name.strip():
        fail(source, key, f"a name needs at least one visible character, got {name!r}")
    if control := control_character(name):
        fail(source, key, f"{name!r} cannot label results: {control}")


def played_scenarios(recipe: EvalRecipe) -> tuple[str, ...]:
    """The recipe's scenarios, then any a lever names that it does not list."""
    named = [s for lever in recipe.levers for s in (lever.from_, lever.to)]
    return tuple(dict.fromkeys([*recipe.scenarios, *named]))


def lever_scenarios_line(recipe: EvalRecipe) -> str | None:
    """The line naming the scenarios the levers add to `scenarios` (their worlds are in the plan and its
    counts), or None where they add none: a lever compares two worlds, so both play even when left out."""
    added = played_scenarios(recipe)[len(recipe.scenarios) :]
    if not added:
        return None
    named = ", ".join(f"{lever.name} ({lever.from_} -> {lever.to})" for lever in recipe.levers)
    return (
        f"levers: {named} also play {', '.join(added)}, which `scenarios` leaves out ({len(added)} more "
        f"scenario(s), each with every council and seed); drop the levers (levers=[]) to play only {', '.join(recipe.scenarios)}"
    )


def load_played(recipe: EvalRecipe) -> dict[str, Scenario]:
    """Every scenario the recipe plays (`played_scenarios`), at the recipe's turns."""
    return {name: recipe_scenario(name, recipe.turns) for name in played_scenarios(recipe)}


def check_rotate(council: CouncilSpec, scenario: Scenario, source: str | None, key: str) -> None:
    """A rotation that cannot happen as written: beside "*" (every creature is focal already),
    or past the scenario's creatures (a cast would repeat)."""
    n = len(scenario.creatures)
    if council.rotate > 1 and "*" in council.focal:
        fail(
            source, key, f"{council.rotate} with focal '*': every creature is focal, so there is one cast; drop rotate"
        )
    if council.rotate > n:
        fail(
            source,
            key,
            f"{council.rotate}: scenario {scenario.name} has {n} creatures, so at most {n} casts; set rotate to at most {n}",
        )


def casts(council: CouncilSpec, creatures: list[str]) -> list[dict[str, str]]:
    """creature -> policy name for each cast; creatures not named are background stand-ins."""
    unknown = set(council.focal) - set(creatures) - {"*"}
    if unknown:  # beside "*" too: a misspelt creature would quietly sit on the "*" policy
        raise ValueError(
            f"focal seats name unknown creature(s) {', '.join(sorted(unknown))} (creatures: {', '.join(creatures)})"
        )
    n = len(creatures)
    if "*" in council.focal:  # one cast: load_eval_recipe refuses a rotate beside "*"
        return [{c: council.focal.get(c, council.focal["*"]) for c in creatures}]
    out = []
    for shift in range(min(council.rotate, n)):
        out.append({creatures[(creatures.index(c) + shift) % n]: p for c, p in council.focal.items()})
    return out
