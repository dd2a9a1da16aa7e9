"""The limits a generate or eval recipe sets on its run, in one place for both verbs (glade.traces,
glade.eval): `max_fault_share` (a seat whose server failed on more of its decisions fails the run),
`max_decisions` and `max_tokens` (a run planned past them is refused before it starts, glade.meter).
Here: their range checks when a recipe loads, the recipe keys that cannot change the rows (a rerun
into the same folder may change them), and the check of a plan against the limits.

Both recipes declare the three fields themselves (the recipe files keep them as flat keys);
tests/test_run_limits.py holds the two declarations identical.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from glade.config import as_plain, fail
from glade.meter import Calibration, Plan, check_limits, estimate
from glade.seats import results_spec
from glade.seats.base import Generation
from glade.seats.spec import MODEL_KINDS

LIMIT_KEYS = ("max_fault_share", "max_decisions", "max_tokens")

# Recipe keys that cannot change the rows: a rerun into the same folder may change them. The
# ones after LIMIT_KEYS are an eval recipe's alone (a generate recipe has none of them): the
# summary is recomputed from all of them; `attribution` only adds the leave-one-out worlds (rows
# of their own), so switching it on later plays just those; `levers` likewise only add the worlds
# of a scenario they name that the recipe does not list (and the audit, in the summary).
RUN_ONLY_KEYS = ("out", "worlds", *LIMIT_KEYS, "name", "thresholds", "seed", "attribution", "levers")


class Limits(Protocol):
    """A recipe with run limits: glade.traces.GenerateRecipe, glade.eval.recipe.EvalRecipe."""

    max_fault_share: float
    max_decisions: int | None
    max_tokens: int | None


def check_ranges(recipe: Limits, source: str) -> None:
    """A ConfigError naming the first limit out of its range."""
    if not 0 <= recipe.max_fault_share <= 1:
        fail(source, "max_fault_share", f"must be between 0 and 1, got {recipe.max_fault_share}")
    for key, value in (("max_decisions", recipe.max_decisions), ("max_tokens", recipe.max_tokens)):
        if value is not None and value < 1:
            fail(source, key, "must be at least 1 (or left out: no limit)")


def samples_by_batch(spec) -> bool:
    """Whether a seat's answers depend on which rows share its batch: the hf engine sampling
    (temperature > 0) seeds each batched generate once, so a row's draws follow its place in the
    batch, which `worlds` and `batch_size` decide (vLLM seeds each row, and greedy answers draw
    nothing)."""
    return (
        isinstance(spec, dict)
        and spec.get("kind") in MODEL_KINDS
        and spec.get("engine", "hf") == "hf"
        and (spec.get("temperature") or 0) > 0
    )


def rows_spec(spec):
    """glade.seats.results_spec, keeping the `batch_size` of a seat that samples by batch: the hf
    engine seeds each chunk of `batch_size` rows once, so another batch size draws other answers."""
    out = results_spec(spec)
    if samples_by_batch(spec):
        out["batch_size"] = spec.get("batch_size", Generation.batch_size)
    return out


def results_recipe(recipe) -> dict:
    """What decides the rows: the recipe without RUN_ONLY_KEYS, its seats without transport keys
    (rows_spec). An eval recipe's seat specs are its `policies`; a generate recipe, which has
    none, seats them in its `councils` (council -> creature -> spec). `worlds` and a seat's
    `batch_size` stay where it samples by batch (samples_by_batch): a rerun with another would
    mix draws."""
    given = as_plain(recipe)
    specs = (
        given["policies"].values()
        if "policies" in given
        else [s for c in given["councils"].values() for s in c.values()]
    )
    keep = {"worlds"} if any(samples_by_batch(spec) for spec in specs) else set()
    plain = {k: v for k, v in given.items() if k not in RUN_ONLY_KEYS or k in keep}
    if "policies" in plain:
        plain["policies"] = {name: rows_spec(spec) for name, spec in plain["policies"].items()}
    else:
        plain["councils"] = {
            name: {c: rows_spec(spec) for c, spec in seats.items()} for name, seats in plain["councils"].items()
        }
    return plain


def check(recipe: Limits, count: Callable[[], Plan], calibrate: Callable[[], Calibration], source: str) -> None:
    """The recipe's limits against the plan `count()` gives, before anything plays; `calibrate` runs
    only when max_tokens is set and something is left to play. `source` begins each refusal."""
    if recipe.max_decisions is None and recipe.max_tokens is None:
        return
    counted = count()
    check_limits(counted, source, recipe.max_decisions, None)
    if recipe.max_tokens is not None and counted.episodes:
        expected = estimate(counted, calibrate())
        check_limits(counted, source, None, recipe.max_tokens, expected, recipe.max_fault_share)
