"""Training recipes: YAML validated into frozen dataclasses before anything runs.

`sft:` holds TRL `SFTConfig` fields and `lora:` PEFT `LoraConfig` fields under their own
names (null `lora` means a full fine-tune); both are checked by building the real config
objects, so a misspelt or mistyped field is a one-line error naming `sft.<field>`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glade import checkpoint
from glade.checkpoint import LATEST, SHIPPED
from glade.config import ConfigError, fail, load_recipe

from .data import DataConfig

SET_BY_GLADE = {"output_dir", "seed"}
HARDWARE_KEYS = (
    "bf16",
    "fp16",
    "tf32",
)  # refused by SFTConfig on machines without the hardware  # from the recipe's run folder and `seed`


@dataclass(frozen=True)
class TinyModel:
    hidden_size: int = 128
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2
    vocab_size: int = 3000


@dataclass(frozen=True)
class ModelSpec:
    base: str  # "tiny" (built locally), a hub id, a local folder, or "latest:RECIPE"
    dtype: str = "float32"  # float32 on CPU; bfloat16 on a GPU
    tiny: TinyModel = field(default_factory=TinyModel)


@dataclass(frozen=True)
class EvalSpec:
    states: int = 64  # held-out states answered by generation after training
    max_new_tokens: int = 128
    batch_size: int = 32
    # Traces of seeds no training run used (glade generate); their states, under the recipe's
    # data filters, are the held-out set. Empty: the run's own held-out episodes.
    traces: tuple[str, ...] = ()
    probe_states: int = 64  # fall-talk states of `traces` for the disposition probe (glade.train.evaluate)
    targets: dict[str, str] = field(default_factory=dict)  # metric -> ">= 0.95" or "<= 0.01"


@dataclass(frozen=True)
class TrainRecipe:
    name: str
    model: ModelSpec
    data: DataConfig
    sft: dict[str, Any] = field(default_factory=dict)
    lora: dict[str, Any] | None = None
    eval: EvalSpec = field(default_factory=EvalSpec)
    seed: int = 0
    output_root: str = "checkpoints"


def sft_config(recipe: TrainRecipe, output_dir: str, source: str | None = None, **extra):
    from trl import SFTConfig

    fields = {f.name for f in dataclasses.fields(SFTConfig)}
    for key in recipe.sft:
        if key in SET_BY_GLADE:
            fail(source, f"sft.{key}", "is set by glade (the run folder and the recipe's seed)")
        if key not in fields:
            fail(source, f"sft.{key}", "unknown SFTConfig field")
    try:
        return SFTConfig(output_dir=output_dir, seed=recipe.seed, **{**recipe.sft, **extra})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: sft: {str(exc).splitlines()[0]}") from None


def lora_config(recipe: TrainRecipe, source: str | None = None):
    if recipe.lora is None:
        return None
    from peft import LoraConfig

    fields = {f.name for f in dataclasses.fields(LoraConfig)}
    for key in recipe.lora:
        if key not in fields:
            fail(source, f"lora.{key}", "unknown LoraConfig field")
    try:
        return LoraConfig(**{"task_type": "CAUSAL_LM", **recipe.lora})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: lora: {str(exc).splitlines()[0]}") from None


def load_train_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> TrainRecipe:
    """Read and fully validate a training recipe (SFTConfig and LoraConfig included)."""
    recipe = load_recipe(TrainRecipe, path, overrides)
    check(recipe, str(path))
    return recipe


def check(recipe: TrainRecipe, source: str | None) -> None:
    if recipe.model.dtype not in ("float32", "bfloat16", "float16"):
        fail(source, "model.dtype", "expected float32, bfloat16 or float16")
    if not 0.0 <= recipe.data.eval_share < 1.0:
        fail(source, "data.eval_share", "must be in [0, 1)")
    if recipe.data.top_share is not None and not 0.0 < recipe.data.top_share <= 1.0:
        fail(source, "data.top_share", "must be in (0, 1]")
    if not recipe.data.traces:
        fail(source, "data.traces", "needs at least one traces folder")
    if recipe.data.relabel is not None:
        from glade.env.standin import DISPOSITIONS

        if recipe.data.relabel not in DISPOSITIONS:
            fail(source, "data.relabel", f"unknown disposition {recipe.data.relabel!r} (known: {', '.join(DISPOSITIONS)})")
    from .evaluate import METRICS, parse_target

    for metric, target in recipe.eval.targets.items():
        if metric not in METRICS:
            fail(source, f"eval.targets.{metric}", f"unknown metric (known: {', '.join(METRICS)})")
        try:
            parse_target(target)
        except ValueError as exc:
            fail(source, f"eval.targets.{metric}", str(exc))
    if recipe.model.base == "tiny" and recipe.lora is not None:
        fail(source, "lora", "a freshly built tiny model must be trained in full (lora: null); LoRA goes on top of it")
    # Validation must not depend on this machine: build the config with the hardware
    # switches neutral (their types are checked here instead); training uses the real ones.
    for key in HARDWARE_KEYS:
        if key in recipe.sft and not isinstance(recipe.sft[key], bool):
            fail(source, f"sft.{key}", f"expected true or false, got {recipe.sft[key]!r}")
    sft_config(recipe, "/tmp/glade-validate", source, **dict.fromkeys(HARDWARE_KEYS, False), use_cpu=True)
    lora_config(recipe, source)


def check_paths(recipe: TrainRecipe, source: str | None) -> None:
    """What must exist on disk to run (not checked by `glade validate`)."""
    for key, folders in (("data.traces", recipe.data.traces), ("eval.traces", recipe.eval.traces)):
        for i, folder in enumerate(folders):
            if not (Path(folder) / "data").is_dir():
                fail(source, f"{key}[{i}]", f"{folder!r} has no data/ folder (write it with `glade generate`)")
    base = recipe.model.base
    if base.startswith((LATEST, SHIPPED)):
        try:
            checkpoint.resolve(base, recipe.output_root)
        except ValueError as exc:
            fail(source, "model.base", str(exc))
    elif base != "tiny" and (base.startswith((".", "/")) or Path(base).exists()) and not Path(base).is_dir():
        fail(source, "model.base", f"{base!r} is not a folder")
