"""The base model a training recipe names, checked before any data is prepared: `lora.target_modules`
against the modules of a base in a local folder (each must exist, and be a layer LoRA can wrap).
glade.train.inputs.check_paths calls it, for `glade train` and `glade validate` alike (a Hub id
that cannot load: glade.hub_ids); check_model checks the loaded model again."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from glade.config import fail
from glade.env.schema import did_you_mean

if TYPE_CHECKING:
    from .recipe import TrainRecipe

# The layers PEFT 0.21's LoRA wraps (peft.tuners.lora.layer.dispatch_default; the other dispatchers
# are for quantized layers glade does not load): any other module a target names is refused by PEFT
# with a multi-line message, after the data is prepared.
WRAPPABLE = "Linear, Embedding, Conv1d/2d/3d, MultiheadAttention and transformers' Conv1D layers"


def check_modules(recipe: TrainRecipe, folder: Path, source: str | None) -> None:
    """`lora.target_modules` against the modules of the base model in `folder`, before any data is
    prepared: the model is built from its config.json on torch's meta device (no weight is read), so
    its module names are those the loaded model has (check_model checks them again after loading)."""
    targets = (recipe.lora or {}).get("target_modules")
    if not isinstance(targets, (list, str)) or not (folder / "config.json").is_file():
        return
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(folder)
    except (OSError, ValueError):  # a config transformers cannot read: the run's load names it
        return
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    check_targets(targets, [name for name, _ in model.named_modules()], source, lora_unwrappable(model))


def lora_unwrappable(model) -> dict[str, str]:
    """{module name: why LoRA cannot take it} for the modules of `model` a LoRA target must not
    name: those PEFT's LoRA does not wrap (their class named), and the output head, whose adapter
    TRL's SFTTrainer refuses (it computes the loss from lm_head.weight directly). A model whose
    modules are not torch modules names none."""
    import torch
    from transformers.pytorch_utils import Conv1D

    nn = torch.nn
    kinds = (nn.Linear, nn.Embedding, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.MultiheadAttention, Conv1D)
    head = getattr(model, "get_output_embeddings", lambda: None)()
    out = {}
    for name, module in model.named_modules():
        if not isinstance(module, nn.Module):
            continue
        if head is not None and module is head:
            out[name] = "the output head, whose adapter TRL's SFTTrainer refuses (it never trains)"
        elif not isinstance(module, kinds):
            out[name] = f"a {type(module).__name__}, which LoRA cannot wrap (it wraps {WRAPPABLE})"
    return out


def check_targets(targets: list | str, names: list[str], source: str | None, unwrappable: dict | None = None) -> None:
    """`lora.target_modules` against the base's module `names`, matched as PEFT matches them: a
    list entry names a whole module or the last part(s) of one; a string other than "all-linear"
    is a regex that must match a whole module name (re.fullmatch), so a plain `q_proj` as a string
    matches nothing, and PEFT's own message names neither the key nor the file. A target that
    matches a module in `unwrappable` (lora_unwrappable) is refused too: PEFT would refuse it after
    the data is prepared, in a message naming neither key nor file. The names listed and suggested
    are those LoRA can take."""
    import difflib
    import re

    unwrappable = unwrappable or {}
    numbers = {str(i) for i in range(len(names))}
    leaves = sorted({name.rsplit(".", 1)[-1] for name in names if name not in unwrappable} - {""} - numbers)
    if isinstance(targets, str):
        if targets.lower() == "all-linear":  # PEFT's shorthand, compared as it compares it
            return
        try:
            pattern = re.compile(targets)
        except re.error as exc:
            fail(
                source,
                "lora.target_modules",
                f"{targets!r} as a string is a regex, and it does not compile ({exc}); give a list "
                "([q_proj, v_proj]) or all-linear",
            )
        matched = [name for name in names if pattern.fullmatch(name)]
        if matched:
            _check_wrappable(repr(targets), matched, names, unwrappable, leaves, source)
            return
        close = [targets] if targets in leaves else difflib.get_close_matches(targets, leaves, n=1)
        example = next((n for n in names if close and n.endswith(f".{close[0]}")), max(names, key=len, default=""))
        fail(
            source,
            "lora.target_modules",
            f"{targets!r} as a string is a regex matched against whole module names (such as {example}) and "
            f"matches none; give a list ([{close[0] if close else 'q_proj, v_proj'}]) or all-linear; its "
            f"{_listed(unwrappable)}: {', '.join(leaves)}",
        )
    for target in targets:
        matched = [name for name in names if name == target or name.endswith(f".{target}")]
        if not matched:
            fail(
                source,
                "lora.target_modules",
                f"{target!r} is no module of the base model (its {_listed(unwrappable)}: {', '.join(leaves)})"
                + did_you_mean(target, leaves),
            )
        _check_wrappable(repr(target), matched, names, unwrappable, leaves, source)


def _listed(unwrappable: dict) -> str:
    """What the list of leaf names is: every module, or (when the module types are known) those LoRA takes."""
    return "modules LoRA can wrap" if unwrappable else "modules"


def _check_wrappable(target: str, matched: list[str], names, unwrappable: dict, leaves: list[str], source) -> None:
    """Refuses `target` when a module it matches is one LoRA cannot take, suggesting the layers
    inside that module that it can (else every one it can)."""
    bad = next((name for name in matched if name in unwrappable), None)
    if bad is None:
        return
    inside = sorted(
        {n.rsplit(".", 1)[-1] for n in names if n.startswith(f"{bad}.") and n not in unwrappable}
        - set(map(str, range(len(names))))
    )
    advice = f"name the layers inside it instead ({', '.join(inside)})" if inside else "leave it out"
    fail(
        source,
        "lora.target_modules",
        f"{target} matches {bad}, {unwrappable[bad]}: {advice}; the base's modules LoRA can wrap: {', '.join(leaves)}",
    )


def tied_embedding(targets, model, *, ties: bool = False) -> str | None:
    """A warning, in glade's words, when `targets` (lora.target_modules) name the input embedding
    of a base whose output head shares its weights (tie_word_embeddings): PEFT adapts the embedding
    alone and warns in its own words of "complications". None otherwise, and None with `ties`
    (lora.ensure_weight_tying): then PEFT ties the embedding's adapter to the output head's."""
    import re

    if (
        ties
        or not isinstance(targets, (list, str))
        or not getattr(getattr(model, "config", None), "tie_word_embeddings", False)
    ):
        return None
    embedding = model.get_input_embeddings()
    name = next((n for n, m in model.named_modules() if m is embedding), None)
    if name is None:
        return None
    if isinstance(targets, str):
        hit = targets.lower() != "all-linear" and re.fullmatch(targets, name)
    else:
        hit = any(name == t or name.endswith(f".{t}") for t in targets)
    if not hit:
        return None
    return (
        f"lora.target_modules: {name.rsplit('.', 1)[-1]} shares its weights with the output head in this base "
        "(tie_word_embeddings), and the adapter trains it alone: the adapter works, but a merged copy (glade merge) "
        "folds the change into the output head too and need not answer as the adapter does; leave "
        f"{name.rsplit('.', 1)[-1]} out to merge safely"
    )
