"""`glade merge CHECKPOINT [--out DIR]`: fold a LoRA checkpoint into its base model (glade.train.merge)."""

from __future__ import annotations

import argparse

from glade.cli import VerbHelp, epilog
from glade.files import user_path


def add_parser(subparsers, help: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "merge",
        help=help,
        description="Fold a LoRA checkpoint into its base model: a plain transformers model "
        "(safetensors, tokenizer, meta.json) whose logits equal the adapter's.",
        epilog=epilog(
            "0 merged and written; 2 bad input (not a finished LoRA checkpoint, or --out already exists), "
            "nothing written.",
            (
                "glade merge checkpoints/tiny-hoarder__0__20261124-101500",
                "glade merge latest:tiny-hoarder",
                "glade merge latest:tiny-hoarder --out models/hoarder-merged",
            ),
        ),
        formatter_class=VerbHelp,
    )
    p.add_argument(
        "checkpoint",
        type=user_path,
        help="a LoRA checkpoint folder written by glade train, or latest:NAME (the newest checkpoint of the train recipe named NAME)",
    )
    p.add_argument(
        "--out", metavar="DIR", type=user_path, help="where to write the merged model (default: CHECKPOINT-merged)"
    )
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from glade.checkpoint import resolve
    from glade.train.merge import merge

    checkpoint = resolve(args.checkpoint)
    print(f"merged model: {merge(str(checkpoint), args.out)}")
    return 0
