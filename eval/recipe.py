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
    ci_level: float = 0.95
    resamples: int = 2000  # bootstrap resamples


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
    seed: int = 0  # seeds the bootstrap resampler
    max_decisions: int | None = None  # refuse to start a run asking model seats for more decisions
    max_tokens: int | None = None  # refuse to start a run expected to use more tokens (calibrated, glade.meter)


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
    for key in ("max_decisions", "max_tokens"):
        if getattr(recipe, key) is not None and getattr(recipe, key) < 1:
            fail(source, key, "must be at least 1 (or left out: no limit)")
    return recipe


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
