"""`glade report RESULTS`: write RESULTS/report.md and a self-contained RESULTS/report.html
(glade.eval.report)."""

from __future__ import annotations

import argparse
from pathlib import Path

from glade.cli import REWRITE, VerbHelp, epilog
from glade.files import user_path


def add_parser(subparsers, help: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "report",
        help=help,
        description="Write RESULTS/report.md and a self-contained RESULTS/report.html (its figures also as PNGs "
        "in RESULTS/report_files/) for a results folder glade eval wrote, with flags.json, rank.json and "
        "calibration/ when they are there.",
        epilog=epilog(
            "0 written; 2 bad input (a folder without glade eval's results, or an unreadable one), nothing written.",
            (
                "glade report runs/eval/crash-gambit",
                "glade flag runs/eval/crash-gambit && glade report runs/eval/crash-gambit",
            ),
        ),
        formatter_class=VerbHelp,
    )
    p.add_argument(
        "results", metavar="RESULTS", type=user_path, help="the folder glade eval wrote (the recipe's `out`)"
    )
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from glade.console import warning
    from glade.eval.flags import load_flags
    from glade.eval.report import FILES, write_report
    from glade.files import only_writer

    results = Path(args.results)
    # the folder's lock, as glade eval takes it (write_report itself names a folder that is none)
    lock = only_writer(results, advice="let it finish, then rerun glade report", optional=True)
    try:
        with lock if results.is_dir() else nullcontext():
            md_path, html_path = write_report(results)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(REWRITE) from None
    print(f"wrote {md_path} (figures in {md_path.parent / FILES}/)")
    print(f"wrote {html_path} (self-contained)")
    if (results / "flags.json").is_file():  # the pages say so in the flags' place; the terminal too
        try:
            load_flags(results / "flags.json")
        except ValueError as exc:
            warning(f"{exc} (the report says so where the flags would be)")
    return 0
