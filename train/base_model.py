"""The base model a training recipe names, checked before any data is prepared and without the
network: a Hub id offline mode cannot fetch (not in the Hugging Face cache), and `lora.target_modules`
against the modules of a base in a local folder. glade.train.inputs.check_paths calls both, for
`glade train` and `glade validate` alike."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .recipe import TrainRecipe


# What a model's weights are saved as (transformers' file names); a cached config.json alone is no model.
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def offline_uncached(base: str) -> str | None:
    """Why a Hub id cannot load in offline mode (HF_HUB_OFFLINE): its config or weights are not in
    the Hugging Face cache, looked up there alone (no network). None online, for a cached id, or for
    what is no Hub id (transformers names that)."""
    from huggingface_hub import constants, try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    if not constants.HF_HUB_OFFLINE:
        return None
    try:
        config = isinstance(try_to_load_from_cache(base, "config.json"), str)
        weights = any(isinstance(try_to_load_from_cache(base, name), str) for name in WEIGHT_FILES)
    except HFValidationError:
        return None
    if config and weights:
        return None
    # either switches huggingface_hub offline, so each one set must go
    said = " and ".join(k for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE") if os.environ.get(k)) or "HF_HUB_OFFLINE"
    return (
        f"not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and offline mode is on ({said}), so it cannot be "
        f"downloaded: download it first (`hf download {base}`), or unset {said}"
    )


def check_modules(recipe: TrainRecipe, folder: Path, source: str | None) -> None:
    """`lora.target_modules` against the modules of the base model in `folder`, before any data is
    prepared: the model is built from its config.json on torch's meta device (no weight is read), so
    its module names are those the loaded model has (check_model checks them again after loading)."""
    targets = (recipe.lora or {}).get("target_modules")
    if not isinstance(targets, (list, str)) or not (folder / "config.json").is_file():
        return
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from .inputs import check_targets

    try:
        config = AutoConfig.from_pretrained(folder)
    except (OSError, ValueError):  # a config transformers cannot read: the run's load names it
        return
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    check_targets(targets, [name for name, _ in model.named_modules()], source)
