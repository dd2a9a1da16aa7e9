"""Fold a LoRA checkpoint into its base model (`glade merge CHECKPOINT [--out DIR]`).

The merged folder is a plain transformers model (safetensors, tokenizer, meta.json) whose
logits equal the adapter's; it serves where adapters cannot (some servers, exports). Its
generation_config.json decodes greedily in the recipe's `eval.max_new_tokens`, and its chat
template holds no transformers-only markers (glade.train.folder_defaults). The
adapter's recipe.yaml and data/ (its SFT splits) come along: `glade lm-eval` reads its
held-out split from data/ and checks `--traces` against its training split.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from glade import checkpoint as checkpoints
from glade.checkpoint_files import check_base_settings, loadable
from glade.files import check_folder_path, readable_by_umask, saved_into
from glade.hub_ids import hub_unreachable

from .folder_defaults import plain_templates, recipe_budget, write_greedy


def merge(checkpoint: str | Path, out: str | Path | None = None) -> Path:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    found = checkpoints.finished(checkpoint)
    if not found.is_adapter:  # checkpoints.finished refused anything that is not a finished model
        what = "a merged model already" if found.kind == "merged" else "a full model"
        raise ValueError(f"{checkpoint}: {what}, with no LoRA adapter to merge; seat or export it as it is")
    loadable(found.folder)  # a damaged folder is named before the base model loads
    checkpoint, meta = found.folder, found.meta
    if out and Path(out).exists():  # the user's --out, named as given
        what = "is the checkpoint itself" if Path(out).resolve() == checkpoint.resolve() else "already exists"
        raise ValueError(f"--out {out}: {what}; choose another --out (a folder that does not exist yet)")
    out = Path(out) if out else checkpoint.with_name(checkpoint.name + "-merged")
    if out.exists():
        raise ValueError(f"{out}: already exists; pass --out or remove it")
    check_folder_path(out)  # under a file: named before the model loads, not a bare 'Not a directory'
    tmp = checkpoints.staging_folder(out)  # not an interrupted training run's folder
    if unreachable := hub_unreachable(found.base_model):
        raise ValueError(f"{checkpoint}: its base model {found.base_model!r} (meta.json base_model): {unreachable}")
    check_base_settings(found)
    try:
        base = AutoModelForCausalLM.from_pretrained(found.base_model, dtype=torch.float32)
    except OSError as exc:  # moved or deleted since training (meta.json names it as it was then)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(
            f"{checkpoint}: its base model {found.base_model} (meta.json base_model) does not load ({first}); "
            "put the base back there, or set base_model in its meta.json to where it is now"
        ) from None
    merged = PeftModel.from_pretrained(base, str(checkpoint)).merge_and_unload()
    # a merge killed earlier left its hidden folder: start it afresh, or its files (shards of
    # another size, an index) would end up in this merged model beside the new ones
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with saved_into(out):  # safetensors' and tokenizers' full disk, named as the folder it was to be
            merged.save_pretrained(tmp)
            AutoTokenizer.from_pretrained(str(checkpoint)).save_pretrained(tmp)
        write_greedy(tmp, recipe_budget(checkpoint))  # answers as its evaluation did, not as its base samples
        plain_templates(tmp)  # a template plain Jinja2 renders
        if (checkpoint / "data").is_dir():  # what the merged weights were trained and held out on
            shutil.copytree(checkpoint / "data", tmp / "data")
        if (checkpoint / "recipe.yaml").is_file():
            shutil.copy2(checkpoint / "recipe.yaml", tmp / "recipe.yaml")
        meta = {**meta, "kind": "merged", "merged_from": str(checkpoint.resolve()), "base_model": None}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        readable_by_umask(tmp)  # the weights too (safetensors writes them 0600): another uid may serve them
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
