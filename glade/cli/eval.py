"""`glade eval RECIPE [key=value ...]`: seat a council, play it against the stand-in world,
measure where they part ways (glade.eval.run). Writes RESULTS/decisions.parquet,
episodes.parquet, summary.json and recipe.yaml (RESULTS is the recipe's `out`)."""

from __future__ import annotations

import argparse

from glade.console import console, progress_bar, with_ci


def add_parser(subparsers, help: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser("eval", help=help, description=__doc__.split("\n\n")[0])
    p.add_argument("recipe", help="a council recipe (YAML), e.g. recipes/eval/crash-gambit.yaml")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="override recipe keys, e.g. seeds.count=2")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from glade.eval.recipe import load_eval_recipe
    from glade.eval.run import run_recipe

    recipe = load_eval_recipe(args.recipe, args.overrides)
    con = console()
    with progress_bar("eval", "turns", con) as bar:
        summary = run_recipe(recipe, on_total=bar.total, progress=lambda live: bar.advance())
    table = Table(title=f"{recipe.name}: legend good at settlement and gambit P&L (mean [95% CI], n)")
    for column in ("scenario", "world", "price at seam / before", "gambit P&L", "n"):
        table.add_column(column)
    for row in summary.get("table", []):
        table.add_row(
            str(row["scenario"]),
            str(row["world"]),
            with_ci(row.get("legend_ratio"), row.get("legend_ratio_ci"), ".3f"),
            with_ci(row.get("gambit_pnl"), row.get("gambit_pnl_ci"), "+.2f"),
            str(row["n"]),
        )
    con.print(table)
    print_table_one(con, recipe.out, recipe.thresholds, recipe.seed)
    timing = summary["timing"]
    con.print(
        f"{summary['worlds']} worlds, {summary['decisions']} live decisions in {timing['seconds']} s "
        f"({timing['outside_model_share']:.1%} outside the model); results in {recipe.out}"
    )
    return 0


def print_table_one(con, results, thresholds=None, seed: int = 0) -> None:
    """The field notes' Table 1 beside glade's measured rows, when the results hold a gambit."""
    from pathlib import Path

    import pandas as pd

    from glade.console import plain_table
    from glade.eval.field_notes import table_one, table_one_cells

    rows = table_one(pd.read_parquet(Path(results) / "episodes.parquet"), thresholds, seed)
    if not rows:
        return
    header, cells = table_one_cells(rows)
    table = plain_table(
        "Table 1 of the field notes beside glade's measured rows: honey at settlement over the turn before and "
        "gambit P&L (mean over seeds [95% bootstrap CI]), crash rate (episodes that crashed [95% exact CI])"
    )
    for column in header:
        table.add_column(column)
    for row in cells:
        table.add_row(*row)
    con.print(table)
