"""`glade merge CHECKPOINT [--out DIR]`: fold a LoRA checkpoint into its base model.

The merged folder is a plain transformers model (safetensors, tokenizer, meta.json) whose
logits equal the adapter's; it serves where adapters cannot (some servers, exports).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def merge(checkpoint: str | Path, out: str | Path | None = None) -> Path:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    checkpoint = Path(checkpoint)
    meta_path = checkpoint / "meta.json"
    if not (checkpoint / "adapter_config.json").exists() or not meta_path.exists():
        raise ValueError(f"{checkpoint}: not a LoRA checkpoint (expected adapter_config.json and meta.json)")
    meta = json.loads(meta_path.read_text())
    out = Path(out) if out else checkpoint.with_name(checkpoint.name + "-merged")
    if out.exists():
        raise ValueError(f"{out}: already exists; pass --out or remove it")
    base = AutoModelForCausalLM.from_pretrained(meta["base_model"], dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, str(checkpoint)).merge_and_unload()
    tmp = out.with_name("." + out.name + ".partial")
    merged.save_pretrained(tmp)
    AutoTokenizer.from_pretrained(str(checkpoint)).save_pretrained(tmp)
    meta = {**meta, "kind": "merged", "merged_from": str(checkpoint.resolve()), "base_model": None}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    os.replace(tmp, out)
    return out


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "merge", help="merge a LoRA checkpoint into its base model", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("checkpoint", help="a LoRA checkpoint folder written by glade train")
    p.add_argument("--out", help="where to write the merged model (default: CHECKPOINT-merged)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    print(f"merged model: {merge(args.checkpoint, args.out)}")
    return 0
