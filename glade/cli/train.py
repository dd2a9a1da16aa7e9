"""`glade train RECIPE [key=value ...] [--resume]`: fine-tune a creature model (glade.train).

Heavy imports (torch, TRL, PEFT) happen inside `run`, so `glade train --help` stays fast.
"""

from __future__ import annotations

import argparse
import json

from glade.cli import VerbHelp, epilog


def add_parser(subparsers, help: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train",
        help=help,
        description="Validate the recipe, prepare SFT data from traces, train, evaluate on held-out "
        "states, and write checkpoints/<recipe>__<seed>__<time>/. Under torchrun or accelerate "
        "launch every process trains and rank 0 writes. Progress (the steps, then the eval loss and "
        "each pass over the held-out states) goes to stderr; the checkpoint and its figures to stdout.",
        epilog=epilog(
            "0 trained and written (a missed eval target is reported, not an error); 2 bad input (a malformed "
            "recipe, missing traces, an interrupted run to --resume or --restart), nothing trained; "
            "130 interrupted (rerun with --resume).",
            (
                "glade train recipes/train/tiny-hoarder.yaml",
                "glade train recipes/train/tiny-hoarder.yaml sft.max_steps=10 name=quick-hoarder",
                "glade train recipes/train/tiny-hoarder.yaml --resume",
            ),
        ),
        formatter_class=VerbHelp,
    )
    p.add_argument("recipe", help="a training recipe (YAML), e.g. recipes/train/tiny-base.yaml")
    p.add_argument(
        "overrides", nargs="*", default=[], metavar="key=value", help="override recipe keys, e.g. sft.max_steps=50"
    )
    again = p.add_mutually_exclusive_group()
    again.add_argument(
        "--resume", action="store_true", help="continue the interrupted run of this recipe and seed where it stopped"
    )
    again.add_argument(
        "--restart", action="store_true", help="discard the interrupted run of this recipe and seed, and start over"
    )
    p.set_defaults(run=run, recipe_keys=recipe_keys)
    return p


def recipe_keys() -> set[str]:
    from dataclasses import fields

    from glade.train.recipe import TrainRecipe

    return {f.name for f in fields(TrainRecipe)}


def run(args: argparse.Namespace) -> int:
    from glade.config import recipe_source
    from glade.console import console, progress_bar
    from glade.train.recipe import load_train_recipe
    from glade.train.sft import partial_dir, train

    recipe = load_train_recipe(args.recipe, args.overrides)
    con = console(stderr=True)  # the bars and the run's log; the checkpoint and its figures go to stdout
    try:
        with progress_bar(f"train {recipe.name}", "steps", con) as bar:
            out = train(
                recipe,
                recipe_source(args.recipe, args.overrides),
                resume=args.resume,
                restart=args.restart,
                log=lambda m: con.print(f"[dim]{m}[/]", soft_wrap=True),
                progress=bar,
            )
    except KeyboardInterrupt:
        raise KeyboardInterrupt(
            f"rerun with --resume to continue from the last trainer checkpoint ({partial_dir(recipe)})"
        ) from None
    if out is not None:
        meta = json.loads((out / "meta.json").read_text())
        metrics = meta["metrics"]
        width = max(map(len, metrics))
        print(f"checkpoint: {out}")
        for key, value in metrics.items():
            print(f"  {key:<{width}}  {value:.4f}" if isinstance(value, float) else f"  {key:<{width}}  {value}")
        for key, t in (meta.get("targets") or {}).items():
            print(f"  target {key} {t['target']}: {'met' if t['met'] else 'NOT met'}")
    return 0
