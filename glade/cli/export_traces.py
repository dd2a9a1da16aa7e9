"""`glade export-traces DATASET --repo-id OWNER/NAME [--private] [--out DIR] [--push]`: write a
Hub-ready folder for a traces dataset written by `glade generate`, and optionally push it
(glade.hub.export_traces). Exit code 3: the folder is ready but the push did not happen. A seat
whose server failed on some turns is a warning; on more than max_fault_share, --push is refused
(exit 2, nothing written) unless --allow-faults."""

from __future__ import annotations

import argparse

from glade.cli import VerbHelp, epilog
from glade.console import error, warning
from glade.files import user_path
from glade.hub.cards import EXIT_STATUS, PUSH_FAILED, PushFailed, private_unused
from glade.hub.export_traces import export_traces


def add_parser(subparsers, help: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "export-traces",
        help=help,
        description="Write a Hub-ready folder for a traces dataset written by glade generate, and optionally push it.",
        epilog=epilog(EXIT_STATUS, ("glade export-traces runs/traces/standin --repo-id YOU/wood-traces --push",)),
        formatter_class=VerbHelp,
    )
    p.add_argument(
        "dataset", type=user_path, help="a traces folder written by glade generate (data/*.parquet, README.md)"
    )
    p.add_argument(
        "--repo-id",
        required=True,
        metavar="OWNER/NAME",
        help="the Hub dataset repo to write the card for (and, with --push, to push to)",
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
        "--push",
        action="store_true",
        help="create the dataset repo and upload the folder (token: HF_TOKEN or `hf auth login`)",
    )
    p.add_argument(
        "--allow-faults",
        action="store_true",
        help="push even when a seat's server failed on more of its turns than the recipe's max_fault_share "
        "(those rows are held turns, not the model's behaviour; the card says so)",
    )
    p.add_argument(
        "--license",
        help="a Hub license id for the card (default: the card's own, apache-2.0 as glade generate writes it; "
        "other for a license of your own, with --license-file)",
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
    try:
        folder = export_traces(
            args.dataset,
            args.repo_id,
            private=args.private,
            out=args.out,
            push=args.push,
            log=print,
            allow_faults=args.allow_faults,
            warn=warning,
            license=args.license,
            license_file=args.license_file,
        )
    except PushFailed as exc:
        error(exc.message)
        return PUSH_FAILED
    print(f"export: {folder}")
    if args.private and not args.push:  # --private acts on the push: say so rather than let it pass unused
        warning(private_unused(args.repo_id, folder, "dataset"))
    if args.allow_faults and not args.push:
        warning("--allow-faults acts only with --push, and nothing was pushed")
    if args.push:
        print(f"pushed: https://huggingface.co/datasets/{args.repo_id}" + (" (private)" if args.private else ""))
    return 0
