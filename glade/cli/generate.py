"""`glade generate RECIPE [key=value ...]`: play episodes and write a traces dataset (glade.traces)."""

from __future__ import annotations

import argparse

from glade.cli import VerbHelp, dotted_keys, epilog
from glade.config import recipe_source
from glade.console import console, progress_bar, show_faults
from glade.console_tables import print_table
from glade.faults import too_many_faults
from glade.files import user_path
from glade.meter import estimate_report, plan_fails
from glade.provenance import writers_line
from glade.resume import interrupted_hint
from glade.run_cost import closing_line
from glade.seats.base import SeatAnswerError
from glade.seats.server import forget_said, seat_fault_hint
from glade.traces import GenerateRecipe, check_inputs, generate, load_generate_recipe
from glade.words import counted

RESUME = "rerun the same command to resume: the finished episodes are kept"


def add_parser(subparsers, help: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "generate",
        help=help,
        description="Play the episodes a recipe describes and write one trace row per decision "
        "(OUT/data/*.parquet, a dataset card in OUT/README.md; OUT is the recipe's `out`). A rerun after an interruption "
        "plays only the episodes not yet written.",
        epilog=epilog(
            "0 written; 1 written, but a seat's server failed on more than the recipe's max_fault_share of "
            "its decisions (default: 0.2); 2 bad input, nothing written, or a seat's code failed (a python seat's act "
            "raised or answered out of shape) or the disk filled (finished episodes are kept, a rerun goes on); 130 interrupted (rerun to "
            "resume).",
            (
                "glade generate recipes/generate/standin.yaml",
                "glade generate recipes/generate/standin.yaml seeds.count=2 --dry-run",
                "glade generate recipes/generate/standin.yaml out=runs/traces/mine",
            ),
        ),
        formatter_class=VerbHelp,
    )
    p.add_argument("recipe", type=user_path, help="a generate recipe (YAML), e.g. recipes/generate/standin.yaml")
    p.add_argument(
        "overrides", nargs="*", default=[], metavar="key=value", help="override recipe keys, e.g. seeds.count=2"
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (episodes, decisions, tokens) and a time estimate measured on a few trial turns; run nothing (exit status 1: the run would stop, over a limit or on a seat that failed every trial turn)",
    )
    p.set_defaults(run=run, recipe_keys=recipe_keys)
    return p


def recipe_keys() -> set[str]:
    return dotted_keys(GenerateRecipe)


def run(args: argparse.Namespace) -> int:
    from rich.markup import escape

    forget_said()  # the fault line tells this run's server refusals, not an earlier run's in this process
    recipe = load_generate_recipe(args.recipe, args.overrides)
    check_inputs(recipe, recipe_source(args.recipe, args.overrides))
    con = console()  # results on stdout; the bar on stderr
    if args.dry_run:
        from glade.traces import dry_run

        planned = dry_run(recipe)
        if planned.plan.episodes == 0:
            # the folder prints as written: `runs/x[/]` is no markup
            con.print(f"{recipe.out}: nothing left to play; every episode is finished", soft_wrap=True, markup=False)
            return 0
        report = estimate_report(planned, recipe.max_decisions, recipe.max_tokens, recipe.max_fault_share)
        print_table(con, f"{recipe.out}: the plan, before it runs", *report)
        return 1 if plan_fails(planned, recipe.max_decisions, recipe.max_tokens, recipe.max_fault_share) else 0
    try:
        # world-turns: every episode's turns, summed, as the --dry-run plan counts them
        with progress_bar("generate", "world-turns") as bar:
            summary = generate(
                recipe, progress=bar.advance, on_total=bar.total, source=recipe_source(args.recipe, args.overrides)
            )
    except KeyboardInterrupt:
        raise KeyboardInterrupt(interrupted_hint(recipe.out, RESUME)) from None
    except SeatAnswerError as exc:  # a python seat's code failed mid-run: what it finished stays
        raise SeatAnswerError(
            f"{exc}; fix the seat, then rerun the same command: it plays only the episodes not yet written"
        ) from None
    for line in summary["replayed"]:  # a repair names shards and what reading them raised
        con.print(f"[yellow]replayed[/]: {escape(line)}", soft_wrap=True)
    if summary["cost"] is None:
        card = (
            "its dataset card keeps the cost of the run that played them"
            if summary["card"] == "kept"
            else "the run that played them stopped before writing its dataset card, and its cost with it; the card "
            "is written now, without a cost"
        )
        con.print(
            f"nothing left to play: all {summary['episodes']:,} episodes of {summary['out']} were finished; {card}",
            soft_wrap=True,
            markup=False,  # the folder prints as written
        )
    else:
        con.print(
            f"wrote {counted(summary['episodes'], 'episode')} ({summary['played_now']:,} played now, "
            # the run's wall time, as the cost line below says it (seconds_now is the playing alone)
            f"{counted(summary['decisions_now'], 'decision')} in {summary['cost']['wall_seconds']:.1f} s) to {summary['out']}",
            soft_wrap=True,
            markup=False,  # the folder prints as written
        )
        con.print(closing_line(summary["cost"]), soft_wrap=True)
    if summary["written_by"]:  # resumed under another glade: the card's git_commit is not all of it
        where = "the dataset card's Provenance"
        con.print(writers_line(summary["out"], summary["written_by"], "episode", where), soft_wrap=True, markup=False)
    over = too_many_faults(summary["faults"], recipe.max_fault_share)
    hint = seat_fault_hint(over[0], summary["faults"][over[0]]["faults"]) if over else ""
    show_faults(con, summary["faults"], over, recipe.max_fault_share, hint)
    return 1 if over else 0
