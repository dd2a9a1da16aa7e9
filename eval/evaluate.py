"""`glade eval RECIPE [key=value ...]`: seat a council, play it against the stand-in world,
measure where they part ways. Writes RESULTS/decisions.parquet, episodes.parquet,
summary.json and recipe.yaml (RESULTS is the recipe's `out`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from glade.config import as_plain


def provenance(decisions, episodes) -> dict:
    from glade.provenance import now, stamp

    hashes = episodes.groupby("scenario")["scenario_hash"].first().to_dict() if len(episodes) else {}
    identities = sorted(set(decisions["policy"])) if len(decisions) else []
    return {
        **stamp(("numpy", "scipy", "pandas", "torch", "transformers", "peft", "pettingzoo")),
        "scenario_hashes": hashes,
        "policies": identities,
        "written": now(),
    }


def run_recipe(recipe, on_total=None, progress=None) -> dict:
    """evaluate + summary.json + recipe.yaml; returns the summary."""
    import pandas as pd

    from .metrics import summarize
    from .run import evaluate

    result = evaluate(recipe, on_total=on_total, progress=progress)
    out = Path(recipe.out)
    decisions = pd.read_parquet(out / "decisions.parquet")
    episodes = pd.read_parquet(out / "episodes.parquet")
    summary = {
        "recipe": recipe.name,
        **provenance(decisions, episodes),
        "worlds": result["worlds"],
        "decisions": len(decisions),
        "timing": {
            "seconds": round(result["stats"].total_seconds, 3),
            "model_seconds": round(result["stats"].model_seconds, 3),
            "outside_model_share": round(result["stats"].outside_model_share, 4),
        },
        **summarize(decisions, episodes, recipe.thresholds, recipe.seed),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    (out / "recipe.yaml").write_text(yaml.safe_dump(as_plain(recipe), sort_keys=False))
    return summary


def cell(value, ci, fmt: str) -> str:
    """`mean [low, high]`, or '-' where the figure does not apply (no legend in the run)."""
    if value is None:
        return "-"
    if not ci or ci[0] is None:
        return f"{value:{fmt}}"
    return f"{value:{fmt}} [{ci[0]:{fmt}}, {ci[1]:{fmt}}]"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="seat a council, play it against the all-stand-in world, measure divergence",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("recipe", help="a council recipe (YAML), e.g. recipes/eval/crash-gambit.yaml")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="override recipe keys, e.g. seeds.count=2")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from glade.tables import console as glade_console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from .recipe import load_eval_recipe

    recipe = load_eval_recipe(args.recipe, args.overrides)
    console = glade_console()
    with Progress(TextColumn("eval"), BarColumn(), MofNCompleteColumn(), TextColumn("turns"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("turns", total=None)
        summary = run_recipe(recipe, on_total=lambda n: bar.update(task, total=n), progress=lambda live: bar.advance(task))
    table = Table(title=f"{recipe.name}: legend good at settlement and gambit P&L (mean [95% CI], n)")
    for column in ("scenario", "world", "price at seam / before", "gambit P&L", "n"):
        table.add_column(column)
    for row in summary.get("table", []):
        table.add_row(
            str(row["scenario"]), str(row["world"]),
            cell(row.get("legend_ratio"), row.get("legend_ratio_ci"), ".3f"),
            cell(row.get("gambit_pnl"), row.get("gambit_pnl_ci"), "+.2f"),
            str(row["n"]),
        )
    console.print(table)
    timing = summary["timing"]
    console.print(
        f"{summary['worlds']} worlds, {summary['decisions']} live decisions in {timing['seconds']} s "
        f"({timing['outside_model_share']:.1%} outside the model); results in {recipe.out}"
    )
    return 0
