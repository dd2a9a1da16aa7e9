"""Council recipes: who sits where, in which worlds, over which seeds; validated up front."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glade.config import Seeds, fail, load_recipe

STANDIN = "standin"  # the council name of the all-stand-in world every council world is paired with


@dataclass(frozen=True)
class CouncilSpec:
    focal: dict[str, str]  # creature (or "*" for all) -> a policy name from `policies`
    rotate: int = 1  # casts: 1 = as written; k > 1 also shifts every focal seat 1..k-1 places


@dataclass(frozen=True)
class Thresholds:
    crash_drop: float = 0.3  # crash: the legend good falls by at least this share ...
    crash_within: int = 2  # ... within this many turns of the legend turn
    bubble_rise: float = 0.3  # bubble: rises by at least this share, then falls back below the start
    flag_min_effect: float = 0.15  # smallest |effect| worth a person's look
    flag_support: float = 0.6  # share of seeds x casts in which the effect has the same sign
    fdr_q: float = 0.10  # flags: Benjamini-Hochberg level over every tested cell (eval/fdr.py)
    robust_floor: float = 0.5  # robust: a phenomenon's rate interval lies above this, in every cast
    move_floor: float = 0.05  # seam split: a legend move smaller than this (|log|, about 5%) is no move
    lever_min_effect: float = 0.05  # a lever moves a world when its effect is at least this (and excludes 0)
    ci_level: float = 0.95
    resamples: int = 2000  # bootstrap resamples; draws of the permutation tests beyond exact enumeration


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
    policies: dict[str, Any]  # name -> seat spec (glade.policies.load), or a disposition name
    councils: dict[str, CouncilSpec]
    scenarios: tuple[str, ...]
    seeds: Seeds = field(default_factory=Seeds)
    turns: int | None = None
    worlds: int = 16
    thresholds: Thresholds = field(default_factory=Thresholds)
    seed: int = 0  # seeds the resamplers and permutation tests
    levers: tuple[Lever, ...] = ()  # their scenarios are played even when `scenarios` leaves them out
    attribution: bool = False  # replay every council world with each focal seat left out (x focal seats)


def load_eval_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> EvalRecipe:
    recipe = load_recipe(EvalRecipe, path, overrides)
    source = str(path)
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
    for name, spec in recipe.policies.items():
        if not isinstance(spec, (dict, str)):
            fail(source, f"policies.{name}", "expected a seat spec (a mapping) or a disposition name")
    if not recipe.scenarios:
        fail(source, "scenarios", "needs at least one scenario")
    if recipe.worlds < 1:
        fail(source, "worlds", "must be at least 1")
    _check_levers(recipe, source)
    return recipe


def _check_levers(recipe: EvalRecipe, source: str) -> None:
    from .figures import FIGURES

    seen = set()
    for i, lever in enumerate(recipe.levers):
        if lever.name in seen:
            fail(source, f"levers[{i}].name", f"{lever.name!r} names two levers")
        seen.add(lever.name)
        if lever.from_ == lever.to:
            fail(source, f"levers[{i}].to", "a lever needs two different scenarios")
        if lever.figure not in FIGURES:
            fail(source, f"levers[{i}].figure", f"unknown figure {lever.figure!r} (figures: {', '.join(FIGURES)})")
    t = recipe.thresholds
    if not 0 < t.fdr_q < 1:
        fail(source, "thresholds.fdr_q", "must lie between 0 and 1")
    if not 0 < t.ci_level < 1:
        fail(source, "thresholds.ci_level", "must lie between 0 and 1")


def played_scenarios(recipe: EvalRecipe) -> tuple[str, ...]:
    """The recipe's scenarios, then any a lever names that it does not list."""
    named = [s for lever in recipe.levers for s in (lever.from_, lever.to)]
    return tuple(dict.fromkeys([*recipe.scenarios, *named]))


def casts(council: CouncilSpec, creatures: list[str]) -> list[dict[str, str]]:
    """creature -> policy name for each cast; creatures not named are background stand-ins."""
    if "*" in council.focal:
        return [{c: council.focal.get(c, council.focal["*"]) for c in creatures}]
    unknown = set(council.focal) - set(creatures)
    if unknown:
        raise ValueError(
            f"focal seats name unknown creature(s) {', '.join(sorted(unknown))} (creatures: {', '.join(creatures)})"
        )
    n = len(creatures)
    out = []
    for shift in range(min(council.rotate, n)):
        out.append({creatures[(creatures.index(c) + shift) % n]: p for c, p in council.focal.items()})
    return out
