"""`glade eval RECIPE [key=value ...]`: seat a council, play it against the stand-in world,
measure where they part ways (glade.eval.run) and say what that means for the three lessons
(glade.eval.verdicts). Writes RESULTS/decisions.parquet, episodes.parquet, summary.json and
recipe.yaml (RESULTS is the recipe's `out`; attribution.parquet too with `attribution: true`)."""

from __future__ import annotations

import argparse

from glade.console import console, findings, progress_bar, with_ci


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
    from glade.eval.verdict_text import findings as verdict_findings

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
            with_ci(row.get("legend_ratio"), row.get("legend_ratio_ci"), ".3f", row.get("legend_ratio_note")),
            with_ci(row.get("gambit_pnl"), row.get("gambit_pnl_ci"), "+.2f", row.get("gambit_pnl_note")),
            str(row["n"]),
        )
    con.print(table)
    findings(con, "What this evaluation says", verdict_findings(summary.get("verdicts")))
    timing = summary["timing"]
    con.print(
        f"{summary['worlds']} worlds, {summary['decisions']} live decisions in {timing['seconds']} s "
        f"({timing['outside_model_share']:.1%} outside the model); results in {recipe.out}"
    )
    return 0
