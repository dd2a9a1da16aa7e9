"""`glade export CHECKPOINT --repo-id OWNER/NAME [--merge] [--private] [--out DIR] [--push]`:
write a Hub-ready folder for a creature checkpoint, and optionally push it (glade.hub.export).

The folder (default `exports/NAME/`) holds the LoRA adapter (or, with --merge, the merged
model) as safetensors, the tokenizer and chat template, the resolved recipe (recipe.yaml),
meta.json, and a model card (README.md) whose front matter carries a model-index with the
held-out metrics, the scores `glade lm-eval` wrote to CHECKPOINT/lm_eval/results.json and,
with --council RESULTS, this checkpoint's own seats (valid-action rate, decision flags) and,
named as the whole council's, the outcome effects and outcome flags of the councils it sat
in, and its row of the leaderboard where RESULTS holds one (rank.json). Nothing is pickled and nothing needs remote code to load.
The card's license is the one the base's own card names, where a card here names one (said in one
line), else apache-2.0; a --license other than the base's is written as asked, and warned of.

--push creates the repo and uploads the folder with huggingface_hub, so that the repo holds
exactly the folder's files (older remote files are deleted); --private makes an existing public
repo private before uploading. The token comes from HF_TOKEN or the saved `hf auth login` and
is never written anywhere. An adapter whose base model is a local folder is not pushed without
--base-model (or --merge): nobody else could load it. If the push cannot happen (offline mode,
no network, no token) the folder stays ready and the command exits 3, printing the `hf`
command that pushes it later.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from glade.checkpoint import read, resolve
from glade.cli import VerbHelp, about, epilog
from glade.console import error, warning
from glade.files import user_path
from glade.hub.cards import (
    EXIT_STATUS,
    MARKER,
    PUSH_FAILED,
    PushFailed,
    check_license,
    check_repo_id,
    default_out,
    earlier_export,
    private_unused,
)
from glade.hub.export import export_checkpoint, local_base, shipped_base


def add_parser(subparsers, help: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "export",
        help=help,
        description=about(__doc__),
        epilog=epilog(
            EXIT_STATUS,
            (
                "glade export latest:tiny-hoarder --repo-id YOU/tiny-hoarder",
                "glade export CHECKPOINT --repo-id YOU/creature \\",
                "    --base-model Qwen/Qwen2.5-0.5B-Instruct    # its base was a local copy",
                "glade export CHECKPOINT --repo-id YOU/creature --merge --push \\",
                "    --council runs/eval/crash-gambit",
            ),
        ),
        formatter_class=VerbHelp,
    )
    p.add_argument(
        "checkpoint",
        type=user_path,
        help="a checkpoint folder written by glade train (or glade merge), latest:NAME (the newest checkpoint of the train recipe named NAME), or shipped:NAME (a base glade ships)",
    )
    p.add_argument(
        "--repo-id",
        required=True,
        metavar="OWNER/NAME",
        help="the Hub repo to write the card for (and, with --push, to push to)",
    )
    p.add_argument(
        "--merge",
        action="store_true",
        help="export the adapter merged into its base model (a plain transformers model)",
    )
    p.add_argument(
        "--private", action="store_true", help="create the repo private, or make an existing one private (with --push)"
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        type=user_path,
        help="where to write the folder (default: exports/NAME, NAME from --repo-id)",
    )
    p.add_argument(
        "--push", action="store_true", help="create the repo and upload the folder (token: HF_TOKEN or `hf auth login`)"
    )
    p.add_argument(
        "--council",
        metavar="RESULTS",
        type=user_path,
        help="a glade eval results folder (summary.json, flags.json): adds to the card this checkpoint's seat "
        "figures, the outcome effects of the councils it sat in (named as the whole council's) and its rank.json row",
    )
    p.add_argument(
        "--base-model",
        metavar="OWNER/NAME",
        help="the Hub id of the base model, when the checkpoint's is a local folder (refused where an export "
        "here of that id holds other weights than the adapter's base)",
    )
    p.add_argument("--dataset", metavar="OWNER/NAME", help="the Hub id of the traces dataset, for the card")
    p.add_argument(
        "--license",
        help="a Hub license id for the card (default: the license the base's card names, where a card here names "
        "one, else apache-2.0; other for a license of your own, with --license-file); one other than the base's "
        "is warned of",
    )
    p.add_argument(
        "--license-file",
        metavar="PATH",
        type=user_path,
        help="the text of a license of your own (--license other): copied to LICENSE, which the card links",
    )
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from glade.train.recipe import shipped_recipe  # names TRL: only when the verb runs

    if args.license is not None:  # the Hub refuses the upload of a card with any other license
        check_license(args.license)
    checkpoint = str(resolve(args.checkpoint))  # latest:NAME, shipped:NAME
    out = Path(args.out) if args.out else default_out(check_repo_id(args.repo_id))
    earlier = earlier_export(out)[0] if (out / MARKER).is_file() else {}  # what an export there replaces
    try:
        folder = export_checkpoint(
            checkpoint,
            args.repo_id,
            merge=args.merge,
            private=args.private,
            out=args.out,
            push=args.push,
            council=args.council,
            base_model=args.base_model,
            license=args.license,
            dataset=args.dataset,
            shipped_recipe=shipped_recipe(checkpoint),
            log=print,
            license_file=args.license_file,
            warn=warning,  # a --base-model nothing here shows to be the adapter's base, a --license not the base's
        )
    except PushFailed as exc:
        merge_unused(checkpoint, args)
        base_warnings(checkpoint, args)  # the folder stays ready to push later: its base is as much in question
        error(exc.message)
        return PUSH_FAILED
    again = f" (replacing the export for {earlier.get('repo_id') or 'no repo id'})" if earlier else ""
    print(f"export: {folder}{again}")
    if args.private and not args.push:  # --private acts on the push: say so rather than let it pass unused
        warning(private_unused(args.repo_id, folder, "model"))
    merge_unused(checkpoint, args)
    base_warnings(checkpoint, args)
    if args.push:
        print(f"pushed: https://huggingface.co/{args.repo_id}" + (" (private)" if args.private else ""))
    return 0


def merge_unused(checkpoint: str, args: argparse.Namespace) -> None:
    """Warn where --merge had no adapter to merge: the model is exported as it is, the folder it
    would be without the flag (like --private without --push, a warning; glade merge refuses, as
    merging is all it does)."""
    kind = read(checkpoint).kind if args.merge else "lora"
    if kind != "lora":
        what = "a model glade merge already merged" if kind == "merged" else "a full model"
        warning(f"--merge has nothing to merge: {args.checkpoint} is {what}, not a LoRA adapter; exported as it is")


def base_warnings(checkpoint: str, args: argparse.Namespace) -> None:
    """Warn where the exported adapter names a base others may not be able to load: a local
    folder, or glade's shipped base by a repo id nothing offline shows was pushed (merged or not).
    (export_checkpoint itself warns of a --base-model nothing here shows to be the adapter's base.)"""
    base = local_base(checkpoint, args.merge, args.base_model)
    if base is not None:
        warning(
            f"the adapter's base model is a local folder ({base}); adapter_config.json and the card name it, "
            "and nobody else can load that: pass --base-model OWNER/NAME (its Hub id), or --merge"
        )
    if shipped := shipped_base(checkpoint, args.merge, args.base_model):
        given, named = shipped
        warning(  # the id comes from the shipped base's own export record: nothing offline shows it was pushed
            f"the adapter's base is {given} (glade's shipped base), named {named} on the Hub (the repo id its export "
            f"records); if {named} is not there, push the base (glade export {given} --repo-id YOU/NAME --push) and "
            "export this adapter again with --base-model YOU/NAME"
        )
