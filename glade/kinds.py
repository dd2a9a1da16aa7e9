"""What kind of file a path holds (a scenario, a disposition, a generate, train or eval recipe): by the
recipes/<folder>/ it sits in, or by its top-level keys, so a file given where another kind is taken is
refused by name ("this looks like an eval recipe ...") rather than by its first unknown key."""

from __future__ import annotations

import os
from pathlib import Path

from glade.env.scenario import Scenario
from glade.env.schema import ConfigError
from glade.env.standin import DISPOSITION_KEYS

# What a file under recipes/<folder>/ is (glade validate reads its kind from the folder).
FOLDER_KINDS = {"scenarios": "scenario", "dispositions": "disposition", **{k: k for k in ("generate", "train", "eval")}}


def kind_text(kind: str) -> str:
    return {"scenario": "a scenario", "disposition": "a disposition", "eval": "an eval recipe"}.get(
        kind, f"a {kind} recipe"
    )


def folder_kind(path: str | Path) -> str | None:
    """The kind a file's recipes/<folder>/ makes it, else None; `..` resolved: `../eval/x.yaml`
    named from inside recipes/generate/ is under it."""
    parent = Path(os.path.abspath(path)).parent
    return FOLDER_KINDS.get(parent.name) if parent.parent.name == "recipes" else None


def check_kind(path: str | Path, kind: str, taker: str) -> None:
    """A file from a recipes/<folder>/ of another kind than `kind` is a ConfigError naming both
    (`taker`, what wanted it, e.g. "`glade eval`" or "--scenario")."""
    if (found := folder_kind(path)) is not None and found != kind:
        takes = kind_text(kind) + (" or a council file (creature: seat spec)" if taker == "--council" else "")
        folder = Path(os.path.abspath(path)).parent.name
        raise ConfigError(f"{path}: {kind_text(found)} (recipes/{folder}/); {taker} takes {takes}")


# Each kind's top-level keys, to tell a file of one kind given where another is taken (the
# recipes' own are in glade.traces, glade.train.recipe and glade.eval.recipe, above this module;
# tests/test_path_hints.py holds these to them). A scenario may also say `extends`.
KIND_KEYS: dict[str, frozenset[str]] = {
    "generate": frozenset(
        {"out", "scenarios", "councils", "seeds", "turns", "worlds", "max_fault_share", "max_decisions", "max_tokens"}
    ),
    "train": frozenset({"name", "model", "data", "sft", "lora", "eval", "seed", "output_root"}),
    "eval": frozenset(
        {
            *("name", "out", "policies", "councils", "scenarios", "seeds", "turns", "worlds", "thresholds", "seed"),
            *("max_fault_share", "max_decisions", "max_tokens", "levers", "attribution"),
        }
    ),
    "scenario": frozenset({*Scenario.__dataclass_fields__, "extends"}),
    "disposition": DISPOSITION_KEYS,
}
OWN_KEYS = {k: known.difference(*(v for j, v in KIND_KEYS.items() if j != k)) for k, known in KIND_KEYS.items()}


def generate_keys(keys: set[str]) -> bool:
    """A generate recipe's keys are all an eval recipe's too, so no key of its own tells it: its councils
    seat specs themselves, with no policies to name (every eval recipe has them)."""
    return "councils" in keys and "policies" not in keys and keys <= KIND_KEYS["generate"]


_USE = {
    "scenario": "play it with glade simulate --scenario, or list it under a recipe's scenarios",
    "disposition": "seat it as a stand-in (disposition: PATH)",
}


def check_keys_kind(data: dict, path: str | Path, kind: str) -> None:
    """A file given as `kind` whose keys are all another kind's, some of them that kind's alone
    (an eval recipe's `policies`, a scenario's `creatures`): a ConfigError naming what it looks
    like, rather than its first unknown key. Said only when exactly one kind fits."""
    keys = {str(k) for k in data}
    unknown = keys - KIND_KEYS[kind]
    fits = {}
    for other, known in KIND_KEYS.items():  # OWN_KEYS: the keys only that kind has
        if other != kind and keys <= known and unknown & OWN_KEYS[other]:
            fits[other] = sorted(unknown & OWN_KEYS[other])[:3]  # enough to tell; a disposition has a dozen
    if kind != "generate" and not fits and generate_keys(keys):
        fits["generate"] = ["councils and no policies"]
    if len(fits) == 1:
        ((other, evidence),) = fits.items()
        use = _USE.get(other, f"run it with glade {other}")
        raise ConfigError(
            f"{path}: this looks like {kind_text(other)} (it has {', '.join(evidence)}), not {kind_text(kind)}: {use}"
        )
