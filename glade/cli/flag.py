"""`glade flag RESULTS [--top N]`: test every cell where a council and the stand-in could
part ways, keep the disagreements that survive false-discovery control (Benjamini-Hochberg)
and the effect and support thresholds, and group them into families a person reads as one
finding (glade.eval.flags). Reads RESULTS/decisions.parquet and episodes.parquet (written by
`glade eval`) and the thresholds in RESULTS/recipe.yaml (else summary.json's, else the defaults); writes
RESULTS/flags.json (every cell with its p and q values, the flags, the families) and
RESULTS/flags.md, and prints the top families."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from glade.cli import REWRITE, VerbHelp, about, epilog
from glade.files import user_path

TABLES = ("decisions.parquet", "episodes.parquet")
WIDTH = 100
FLAGS_COLUMN = (  # the table's "flags" column, said under it
    "flags: #R is the rank of the family's best flag among all flags (flags.md lists them all), "
    "+K the K more flags the family holds"
)


def add_parser(subparsers, help: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "flag",
        help=help,
        description=about(__doc__),
        epilog=epilog(
            "0 flags.json and flags.md written (with or without flags, or with no cell testable: the "
            "message says which); 2 bad input (a folder without glade eval's tables), nothing written.",
            ("glade flag runs/eval/crash-gambit", "glade flag runs/eval/crash-gambit --top 3"),
        ),
        formatter_class=VerbHelp,
    )
    p.add_argument(
        "results", metavar="RESULTS", type=user_path, help="an evaluation's output folder (the eval recipe's `out`)"
    )
    p.add_argument(
        "--top", type=int, default=10, metavar="N", help="flag families to print and to show examples of (default: 10)"
    )
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from glade.console import console as glade_console
    from glade.eval.families import families_heading
    from glade.eval.faults import excluded_text
    from glade.eval.fdr import untestable
    from glade.eval.flags import check_flags_out, flag, load_thresholds, write_flags
    from glade.eval.flags_text import method_text
    from glade.eval.lean_tables import example_texts, read_lean
    from glade.eval.results_folder import (
        DECISIONS_NEEDED,
        EPISODES_NEEDED,
        check_columns,
        check_results_folder,
        check_tables_agree,
        interrupted,
        read_table,
    )
    from glade.files import only_writer

    results = Path(args.results)
    check_results_folder(results, "glade flag takes the results folder")
    missing = [name for name in TABLES if not (results / name).is_file()]
    if missing:
        what = interrupted(results, "flag it") or "run 'glade eval RECIPE' to make them"
        raise FileNotFoundError(f"{results}: no {' or '.join(missing)} here ({what})")
    if args.top < 0:
        raise ValueError("--top: must be at least 0")
    # the folder's lock, as glade eval takes it: no eval rewrites the tables, and no flag or report writes, meanwhile
    try:
        with only_writer(results, advice="let it finish, then rerun glade flag", optional=True):
            thresholds, seed = load_thresholds(results)
            check_flags_out(results)  # before the flagging: a file of the user's there is never replaced
            check_columns(results / "decisions.parquet", DECISIONS_NEEDED)  # another table in its place is named
            check_columns(results / "episodes.parquet", EPISODES_NEEDED)
            # lean: no observations, the prompts and answers as hashes; the examples' texts read apart
            decisions = read_lean(results / "decisions.parquet")
            episodes = read_table(results / "episodes.parquet")
            check_tables_agree(results, decisions, episodes)
            texts = partial(example_texts, results / "decisions.parquet")
            flagging = flag(decisions, episodes, thresholds, seed, texts)
            json_path, md_path = write_flags(flagging, results, top=args.top)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(REWRITE) from None

    console = glade_console()
    width = min(console.width, WIDTH)
    if flagging.excluded["fault_rows"]:
        console.print(f"[yellow]left out[/]: {excluded_text(flagging.excluded)}", width=width)
    if (why := untestable(flagging.method, flagging.cells)) is not None:
        console.print(f"[bold yellow]no flags possible[/]: {escape(why)}", width=width)
    elif not flagging.flags:
        console.print(
            f"[bold green]no flags[/]: the council and the stand-in do not part ways beyond the thresholds. "
            f"{escape(method_text(flagging.method))}",
            width=width,
        )
    elif not args.top:  # --top 0: the files only
        console.print(escape(families_heading(flagging.families, flagging.method)), width=width)
    else:
        shown = flagging.families[: args.top]
        # the heading on its own line: as the table's title rich centres it, wrapped
        console.print(f"{escape(families_heading(flagging.families, flagging.method))}; top {len(shown)}", width=width)
        table = Table(
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            collapse_padding=True,
            padding=(0, 1),
        )
        table.add_column("#", justify="right", no_wrap=True)
        table.add_column("family: what the live seats do (effect = live - stand-in)", overflow="fold")
        table.add_column("flags", justify="right", no_wrap=True)  # FLAGS_COLUMN
        table.add_column("n", justify="right", no_wrap=True)
        table.add_column("q", justify="right", no_wrap=True)
        for fam in shown:
            table.add_row(
                str(fam["family"]),
                escape(fam["text"]),
                f"#{fam['members'][0]}" + (f" +{len(fam['members']) - 1}" if len(fam["members"]) > 1 else ""),
                str(fam["n"]),
                f"{fam['q']:.2g}",
            )
        console.print(table, width=width)
        console.print(FLAGS_COLUMN, width=width)
    console.print(
        f"wrote {escape(str(json_path))} (every cell with its p and q values) and {escape(str(md_path))}",
        width=width,
        soft_wrap=True,
    )
    return 0
