"""`glade eval RECIPE [key=value ...]`: seat a council, play it against the stand-in world,
measure where they part ways (glade.eval.run). Writes RESULTS/decisions.parquet,
episodes.parquet, summary.json and recipe.yaml (RESULTS is the recipe's `out`)."""

from __future__ import annotations

import argparse

from glade.console import console, progress_bar, show_faults, with_ci

RESUME = "rerun the same command to resume: the finished worlds are kept"


def add_parser(subparsers, help: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "eval",
        help=help,
        description=__doc__.split("\n\n")[0],
        epilog="exit status: 0 written; 1 written, but a live seat's server failed on more than the recipe's "
        "max_fault_share of its decisions (default 0.2); 2 bad input; 130 interrupted (rerun to resume).",
    )
    p.add_argument("recipe", help="a council recipe (YAML), e.g. recipes/eval/crash-gambit.yaml")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="override recipe keys, e.g. seeds.count=2")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from glade.eval.recipe import check_inputs, load_eval_recipe
    from glade.eval.run import evaluate, write_results
    from glade.rollout import too_many_faults

    recipe = load_eval_recipe(args.recipe, args.overrides)
    check_inputs(recipe, args.recipe)
    con = console()
    try:
        with progress_bar("eval", "turns", con) as bar:
            result = evaluate(recipe, on_total=bar.total, progress=lambda live: bar.advance())
    except KeyboardInterrupt:
        raise KeyboardInterrupt(RESUME) from None
    for line in result.replayed:
        con.print(f"[yellow]replayed[/]: {line}")
    summary = write_results(recipe, result)
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
    seats = Table(
        title="valid-action rate per live seat (answers the parser took with no named error; mean [95% CI], n)"
    )
    for column in ("council", "policy", "valid actions", "decisions", "top errors"):
        seats.add_column(column)
    for row in summary.get("seats", []):
        valid = row["valid_action"]
        errors = ", ".join(f"{k} {v}" for k, v in row["errors"].items()) or "-"
        rate = f"{with_ci(valid['mean'], valid['ci'], '.3f')}, n {valid['n']}"
        seats.add_row(row["council"], row["policy"], rate, str(row["decisions"]), errors)
    con.print(seats)
    timing = summary["timing"]
    con.print(
        f"{summary['worlds']} worlds, {summary['decisions']} live decisions in {timing['seconds']} s "
        f"({timing['outside_model_share']:.1%} outside the model); results in {recipe.out}"
    )
    over = too_many_faults(summary["faults"], recipe.max_fault_share)
    show_faults(con, summary["faults"], over, recipe.max_fault_share)
    return 1 if over else 0
