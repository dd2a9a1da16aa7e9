"""The base model a training recipe names, checked before any data is prepared: `lora.target_modules`
against the modules of a base in a local folder. glade.train.inputs.check_paths calls it, for
`glade train` and `glade validate` alike (a Hub id that cannot load: glade.hub_ids)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .recipe import TrainRecipe


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
