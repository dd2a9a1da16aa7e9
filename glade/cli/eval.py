"""`glade eval RECIPE [key=value ...] [--ray [ADDRESS]]`: seat a council, play it against the
all-stand-in world, measure where they part ways (glade.eval.run) and say what that means for the
three lessons (glade.eval.verdicts). Writes RESULTS/decisions.parquet, episodes.parquet,
summary.json and recipe.yaml (RESULTS is the recipe's `out`; attribution.parquet too with
`attribution: true`).

With --ray the shards play as Ray tasks on a cluster (glade.eval.distributed): the same
results folder, the same numbers. ADDRESS defaults to `auto`, the cluster this machine
belongs to (`ray start --head` here, `ray start --address HEAD:6379` on every other node);
with none running, a local one is started. A recipe written as --ray's word (`--ray RECIPE.yaml`)
is the recipe, with the address auto."""

from __future__ import annotations

import argparse
from pathlib import Path

from glade.cli import VerbHelp, about, epilog
from glade.cli.results_tables import print_results, run_lines
from glade.config import recipe_source
from glade.console import console, findings, progress_bar, show_faults, warning
from glade.console_tables import print_table
from glade.files import only_writer, user_path
from glade.meter import estimate_report, plan_fails
from glade.provenance import writers_line
from glade.run_cost import closing_line


def add_parser(subparsers, help: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "eval",
        help=help,
        description=about(__doc__),
        epilog=epilog(
            "0 written; 1 written, but a live seat's server failed on more than the recipe's max_fault_share of "
            "its decisions (default: 0.2); 2 bad input, a seat's code failed (a python seat's act raised or answered "
            "out of shape), the Ray cluster lost a node or its last CPU mid-run, or the disk filled (finished shards are "
            "kept, a rerun goes on); 130 interrupted (rerun to resume).",
            (
                "glade eval recipes/eval/crash-gambit.yaml --dry-run",
                "glade eval recipes/eval/crash-gambit.yaml seeds.count=2 out=runs/eval/quick",
            ),
        ),
        formatter_class=VerbHelp,
        # the recipe is required (run() asks for it); argparse would show it as [recipe]
        usage="glade eval [-h] [--ray [ADDRESS]] [--dry-run] [--verbose]\n                  recipe [key=value ...]",
    )
    # optional only so that `--ray RECIPE` (the recipe taken as --ray's address) reads as meant: run() asks for it
    p.add_argument(
        "recipe", nargs="?", type=user_path, help="a council recipe (YAML), e.g. recipes/eval/crash-gambit.yaml"
    )
    p.add_argument(
        "overrides", nargs="*", default=[], metavar="key=value", help="override recipe keys, e.g. seeds.count=2"
    )
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
        help="print the plan (episodes, decisions, model calls, tokens) and a time estimate measured on a few trial turns; run nothing (exit status 1: the run would stop, over a limit or on a seat that failed every trial turn)",
    )
    p.set_defaults(run=run, recipe_keys=recipe_keys)
    return p


def recipe_keys() -> set[str]:
    from glade.cli import dotted_keys
    from glade.eval.recipe import EvalRecipe

    return dotted_keys(EvalRecipe)


def run(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from glade.eval.plan import check_ledger
    from glade.eval.recipe import check_inputs, lever_scenarios_line, load_eval_recipe, unseated
    from glade.eval.rows import RESUME
    from glade.eval.run import evaluate, write_results
    from glade.eval.stats import MIN_N
    from glade.eval.verdict_text import findings as verdict_findings
    from glade.faults import too_many_faults
    from glade.resume import interrupted_hint
    from glade.seats.base import SeatAnswerError
    from glade.seats.server import forget_said, seat_fault_hint

    forget_said()  # the fault line tells this run's server refusals, not an earlier run's in this process

    args.recipe, overrides, args.ray = recipe_and_address(args.recipe, list(args.overrides), args.ray)
    if args.recipe is None:
        args.usage_error("the following arguments are required: recipe")
    distributed = ray_module(args.ray, check=args.dry_run)  # a run checks it when it has worlds to play
    recipe = load_eval_recipe(args.recipe, overrides)
    check_inputs(recipe, recipe_source(args.recipe, overrides))
    check_ledger(recipe, recipe_source(args.recipe, overrides))
    for name in unseated(recipe):  # a policy no council seats is most often a council left unfinished
        warning(f"policies.{name}: no council seats it, so it plays nowhere; seat it in a council's focal, or drop it")
    if recipe.seeds.count < MIN_N:  # said before the run, not found in its tables afterwards
        warning(
            f"seeds.count {recipe.seeds.count}: fewer than {MIN_N} seeds give no intervals, so the verdicts "
            f"cannot settle on an effect; set seeds.count to at least {MIN_N} for a measurement"
        )
    con = console()  # results on stdout; the bar on stderr
    if (added := lever_scenarios_line(recipe)) and not args.dry_run:  # the plan names them in its table
        con.print(added, soft_wrap=True, markup=False)
    if args.dry_run:
        from glade.eval.estimate import dry_run

        if distributed is not None:  # refused here as the run would be: no answer as Ray, or no CPU for a shard
            dry_join(args.ray)
        planned = dry_run(recipe)
        if planned.plan.episodes == 0:
            con.print(
                f"{recipe.name}: nothing left to play; every episode is finished in {recipe.out} "
                "(a run writes its tables, summary and verdicts again)",
                soft_wrap=True,
                markup=False,  # the recipe's name and folder print as written: `runs/x[/]` is no markup
            )
            return 0
        header, rows, lines = estimate_report(planned, recipe.max_decisions, recipe.max_tokens, recipe.max_fault_share)
        lines += [added] if added else []  # the plan counts their worlds: say where they come from
        if args.ray is not None:
            lines.append(
                f"--ray {args.ray}: the wall-time estimate is for one local process playing every shard in turn, "
                "not for the cluster"
            )
        print_table(con, f"{recipe.name}: the plan, before it runs", header, rows, lines)
        return 1 if plan_fails(planned, recipe.max_decisions, recipe.max_tokens, recipe.max_fault_share) else 0
    backend = {}
    if distributed is not None:
        say = lambda line: con.print(line, soft_wrap=True)
        backend = {"backend": distributed.ray_backend(args.ray, say, quiet=not args.verbose)}
    try:
        with only_writer(Path(recipe.out)):  # one lock for the play and the tables: no run writes them between
            # world-turns: every world's turns, summed, as the --dry-run plan counts them
            with progress_bar("eval", "world-turns") as bar:
                result = evaluate(
                    recipe,
                    on_total=bar.total,
                    progress=bar.advance,
                    source=recipe_source(args.recipe, overrides),
                    **backend,
                )
            for line in result.replayed:  # a repair names shards and what reading them raised
                con.print(f"[yellow]replayed[/]: {escape(line)}", soft_wrap=True)
            summary = write_results(recipe, result)  # interrupted here too, a rerun writes the tables again
    except KeyboardInterrupt as exc:  # one raised while joining Ray says so: nothing played to resume
        raise KeyboardInterrupt(str(exc) or interrupted_hint(recipe.out, RESUME)) from None
    except SeatAnswerError as exc:  # a python seat's code failed mid-run: the finished shards stay
        raise SeatAnswerError(
            f"{exc}; fix the seat, then rerun the same command: it plays only the worlds not yet written"
        ) from None
    print_results(con, recipe, summary)
    findings(con, "What this evaluation says", verdict_findings(summary.get("verdicts")))
    con.print(run_lines(summary, recipe.out), soft_wrap=True, markup=False)
    if "written_by" in summary:  # resumed under another glade: summary.json's git_commit is not all of it
        con.print(
            writers_line(recipe.out, summary["written_by"], "world", "summary.json"), soft_wrap=True, markup=False
        )
    if summary["cost"]:
        con.print(closing_line(summary["cost"]), soft_wrap=True)
    over = too_many_faults(summary["faults"], recipe.max_fault_share)
    # seats are named by the recipe's policy names: its spec says which server a seat was
    spec = recipe.policies.get(over[0]) if over else None
    hint = seat_fault_hint(over[0], summary["faults"][over[0]]["faults"], spec) if over else ""
    show_faults(con, summary["faults"], over, recipe.max_fault_share, hint)
    return 1 if over else 0


def recipe_and_address(recipe: str | None, overrides: list[str], ray: str | None):
    """(recipe, overrides, --ray address) as meant: `--ray key=value` is an override and
    `--ray RECIPE.yaml` the recipe (argparse gives --ray the word after it), each with the
    address auto. ValueError for a recipe given twice."""
    if ray is None or ray == "auto":
        return recipe, overrides, ray
    if "=" in ray:
        return recipe, [*overrides, ray], "auto"
    if ray.endswith((".yaml", ".yml")) or Path(ray).is_file():
        if recipe is not None and "=" not in recipe:
            raise ValueError(
                f"--ray {ray}: a recipe, and {recipe} is the recipe; --ray takes a Ray address (HOST:PORT)"
            )
        return ray, [recipe, *overrides] if recipe is not None else overrides, "auto"
    return recipe, overrides, ray


def ray_module(address: str | None, check: bool):
    """glade.eval.distributed for `--ray ADDRESS` (None without --ray), once Ray imports; with
    `check` (a dry run, before it calibrates), once something listens at the address too."""
    if address is None:
        return None
    try:
        from glade.eval import distributed
    except ImportError:
        raise ValueError("--ray needs Ray: pip install 'glade[ray]'") from None
    if check:
        from glade.eval.ray_join import check_address

        check_address(address)
    return distributed


def dry_join(address: str) -> None:
    """--dry-run --ray: join the cluster a run would join (never starting one: with none, a run starts a local one
    with this machine's CPUs), and leave it. OSError as a run's join raises it."""
    import ray

    from glade.eval.ray_join import connect

    joined = ray.is_initialized()
    try:
        connect(address, start_local=False)
    finally:
        if not joined:
            ray.shutdown()
