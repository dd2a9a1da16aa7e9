"""`glade eval RECIPE [key=value ...] [--ray [ADDRESS]]`: seat a council, play it against the
stand-in world, measure where they part ways (glade.eval.run). Writes RESULTS/decisions.parquet,
episodes.parquet, summary.json and recipe.yaml (RESULTS is the recipe's `out`).

With --ray the shards play as Ray tasks on a cluster (glade.eval.distributed): the same
results folder, the same numbers. ADDRESS defaults to `auto`, the cluster this machine
belongs to (`ray start --head` here, `ray start --address HEAD:6379` on every other node);
with none running, a local one is started."""

from __future__ import annotations

import argparse

from glade.console import console, print_table, progress_bar, with_ci
from glade.meter import closing_line, estimate_report


def add_parser(subparsers, help: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser("eval", help=help, description=__doc__.split("\n\n")[0])
    p.add_argument("recipe", help="a council recipe (YAML), e.g. recipes/eval/crash-gambit.yaml")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="override recipe keys, e.g. seeds.count=2")
    p.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="ADDRESS",
        help="play the shards on a Ray cluster (default address: auto, the running cluster; else a local one)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (episodes, decisions, model calls, tokens) and a calibrated time estimate; run nothing",
    )
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from glade.eval.recipe import load_eval_recipe
    from glade.eval.run import run_recipe

    overrides = list(args.overrides)
    if args.ray is not None and "=" in args.ray:  # `--ray key=value`: an override, not an address
        overrides.append(args.ray)
        args.ray = "auto"
    recipe = load_eval_recipe(args.recipe, overrides)
    con = console()
    if args.dry_run:
        from glade.eval.estimate import dry_run

        report = estimate_report(dry_run(recipe), recipe.max_decisions, recipe.max_tokens)
        print_table(con, f"{recipe.name}: the plan, before it runs", *report)
        return 0
    backend = {}
    if args.ray is not None:
        try:
            from glade.eval import distributed
        except ImportError:
            raise ValueError("--ray needs Ray: pip install 'glade[ray]'") from None
        con.print(distributed.connect(args.ray), soft_wrap=True)
        backend = {"backend": distributed.play_on_ray}
    with progress_bar("eval", "turns", con) as bar:
        summary = run_recipe(recipe, on_total=bar.total, progress=lambda live: bar.advance(), **backend)
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
    timing = summary["timing"]
    con.print(
        f"{summary['worlds']} worlds, {summary['decisions']} live decisions in {timing['seconds']} s "
        f"({timing['outside_model_share']:.1%} outside the model); results in {recipe.out}"
    )
    con.print(closing_line(summary["cost"]), soft_wrap=True)
    return 0
