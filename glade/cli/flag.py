"""`glade flag RESULTS [--top N]`: rank the disagreements between a council and the
stand-in worth a person's look (glade.eval.flags). Reads RESULTS/decisions.parquet and
episodes.parquet (written by `glade eval`) and the thresholds in RESULTS/recipe.yaml
(defaults when absent); writes RESULTS/flags.json and RESULTS/flags.md and prints the top
flags."""

from __future__ import annotations

import argparse
from pathlib import Path

TABLES = ("decisions.parquet", "episodes.parquet")
WIDTH = 100


def add_parser(subparsers, help: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "flag",
        help=help,
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("results", metavar="RESULTS", help="an evaluation's output folder (the eval recipe's `out`)")
    p.add_argument(
        "--top", type=int, default=10, metavar="N", help="flags to print and to show examples of (default 10)"
    )
    p.set_defaults(run=run)
    return p


def _g(value: float, sign: bool = False) -> str:
    """A number in at most 3 significant digits (+ sign for effects)."""
    return f"{value:{'+' if sign else ''}.3g}"


def run(args: argparse.Namespace) -> int:
    import pandas as pd
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from glade.console import console as glade_console
    from glade.eval.faults import excluded_text, without_faults
    from glade.eval.flags import find_flags, load_thresholds, metric_lines, where_lines, write_flags

    results = Path(args.results)
    missing = [name for name in TABLES if not (results / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{results}: no {' or '.join(missing)} here (run 'glade eval RECIPE' to make them)")
    if args.top < 0:
        raise ValueError("--top: must be at least 0")
    thresholds, seed = load_thresholds(results)
    decisions = pd.read_parquet(results / "decisions.parquet")
    episodes = pd.read_parquet(results / "episodes.parquet")
    flags = find_flags(decisions, episodes, thresholds, seed)
    excluded = without_faults(decisions, episodes)[2]
    json_path, md_path = write_flags(flags, results, top=args.top, thresholds=thresholds, excluded=excluded)

    console = glade_console()
    width = min(console.width, WIDTH)
    if excluded["fault_rows"]:
        console.print(f"[yellow]left out[/]: {excluded_text(excluded)}", width=width)
    if not flags:
        console.print(
            f"[bold green]no flags[/]: the council and the stand-in do not part ways beyond the thresholds "
            f"(|effect| >= {thresholds.flag_min_effect}, CI excluding 0, support >= {thresholds.flag_support})",
            width=width,
        )
    else:
        shown = flags[: args.top]
        table = Table(
            title=f"{len(flags)} flag{'s' if len(flags) != 1 else ''}, top {len(shown)} (effect = live - stand-in, CI {thresholds.ci_level:.0%})",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            collapse_padding=True,
            padding=(0, 1),
        )
        table.add_column("#", justify="right", no_wrap=True)
        table.add_column("kind", no_wrap=True)
        table.add_column("where", overflow="fold")
        table.add_column("metric", overflow="fold")
        for name in ("stand-in", "live", "effect"):
            table.add_column(name, justify="right", no_wrap=True)
        table.add_column("CI", justify="right", overflow="fold")
        table.add_column("sup", justify="right", no_wrap=True)
        table.add_column("n", justify="right", no_wrap=True)
        for f in shown:
            cells = (
                str(f["rank"]),
                f["kind"][:3],
                where_lines(f),
                metric_lines(f),
                _g(f["standin_value"]),
                _g(f["live_value"]),
                _g(f["effect"], sign=True),
                f"[{_g(f['ci_low'], sign=True)}, {_g(f['ci_high'], sign=True)}]",
                f"{f['support']:.2f}",
                str(f["n"]),
            )
            table.add_row(*(escape(c) for c in cells))
        console.print(table, width=width)
    console.print(f"wrote {escape(str(json_path))} and {escape(str(md_path))}", width=width, soft_wrap=True)
    return 0
