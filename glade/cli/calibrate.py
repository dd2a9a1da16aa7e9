"""`glade calibrate RESULTS_OR_TRACES --policy NAME [--creature C] --out FILE`: fit the stand-in's
disposition to what a live policy did, on some seeds, and check on the others whether it
predicts the policy's decisions and the live council's outcomes (glade.eval.calibrate)."""

from __future__ import annotations

import argparse
from pathlib import Path

from glade.cli import VerbHelp, epilog
from glade.files import user_path

MOST_POPSIZE = 1_000  # a population of popsize x parameters candidates a generation; the default is 10

STEPS = """\
what it does:
  1. reads the policy's live decisions (an eval results folder or a traces
     dataset) and rebuilds each observation from the stored JSON;
  2. holds out a seeded share of the seeds (and, with several scenarios, one
     whole scenario);
  3. searches the disposition's parameters (scipy differential_evolution,
     seeded) for the best per-good direction agreement with the live actions on
     the rest, then quantity and price closeness;
  4. prints agreement, quantity and price error of the original (the scenario's
     own disposition) and the calibrated stand-in, on the fit and the held-out
     part, with 95% intervals over seeds (each seed's decisions averaged);
     whether the fit generalised beyond base rates (always taking each good's
     most common side) and whether it improved agreement over the original on
     held-out seeds (naming a held-out error it made clearly worse); and the
     parameters that moved most;
  5. from a results folder: plays the calibrated and the original stand-in
     worlds on the held-out seeds and compares each with the live council
     (legend-good price, crash, gambit P&L, price path), paired by world.
Every change printed is calibrated minus original.

It writes FILE (the fitted disposition, usable wherever a disposition is: --council oona=FILE),
FILE's .json twin (panic.yaml -> panic.json: the full summary) and, for a results folder,
RESULTS/calibration/NAME.json, which glade report shows (it says so when it replaces one an earlier
run wrote, unless FILE's .json is that file).
"""

EXAMPLES = (
    "glade calibrate runs/eval/crash-gambit --policy panic_model --out panic.yaml",
    "glade calibrate runs/traces/mine --policy standin:hoarder --creature oona \\",
    "    --out oona.yaml",
)

EXIT_STATUS = (
    "0 fitted and written; 2 bad input (no such folder or policy, a bad option, an --out that is not a "
    "disposition glade wrote, an --out in RESULTS/calibration/ not named as the fit, a file it cannot write: "
    "each is tried before the search), nothing written."
)


def add_parser(subparsers, help: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "calibrate",
        help=help,
        description="Fit the stand-in's disposition to what a live policy did on some seeds, and check on the "
        "others whether it then predicts the policy's decisions and the live council's outcomes.",
        epilog=STEPS + "\n" + epilog(EXIT_STATUS, EXAMPLES),
        formatter_class=VerbHelp,
    )
    p.add_argument(
        "source",
        metavar="RESULTS_OR_TRACES",
        type=user_path,
        help="a glade eval results folder or a glade generate traces folder",
    )
    p.add_argument(
        "--policy",
        required=True,
        help="the policy to fit: an eval recipe's policy name, or a seat/policy name in traces",
    )
    p.add_argument("--creature", help="only this creature's decisions (default: every seat the policy held)")
    p.add_argument(
        "--out", required=True, metavar="FILE", type=user_path, help="where the fitted disposition goes (a .yaml file)"
    )
    p.add_argument("--name", help="the fitted disposition's name (default: calibrated_<policy>[_<creature>])")
    p.add_argument("--seed", type=int, default=0, help="seeds the split and the search (default: 0)")
    p.add_argument(
        "--holdout",
        type=float,
        default=1 / 3,
        metavar="SHARE",
        help="share of seeds held out (default: 0.333, a third)",
    )
    p.add_argument(
        "--holdout-scenario",
        metavar="NAME",
        help="the scenario held out whole (default: the last by name, when there are several)",
    )
    p.add_argument(
        "--popsize", type=int, default=10, help="differential evolution population per parameter (default: 10)"
    )
    p.add_argument("--maxiter", type=int, default=60, help="differential evolution generations at most (default: 60)")
    p.add_argument("--no-outcome", action="store_true", help="skip the outcome check (no stand-in worlds are played)")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    import yaml

    from glade.console import console, progress_bar
    from glade.eval.calibrate import (
        calibrate,
        check_name,
        check_out,
        copy_path,
        disposition_name,
        report_copy,
        same_file,
        with_outcome,
        without_outcome,
        write,
    )
    from glade.eval.outcome_check import check_episodes
    from glade.files import only_writer_of_file

    if args.popsize < 1 or args.maxiter < 1:
        raise ValueError("--popsize and --maxiter: at least 1")
    if args.popsize > MOST_POPSIZE:  # scipy holds popsize x parameters candidates, each scored on every decision
        raise ValueError(f"--popsize: at most {MOST_POPSIZE:,} (default: 10), got {args.popsize:,}")
    name = args.name if args.name is not None else disposition_name(args.policy, args.creature)
    check_name(name)  # the report's copy is named by it
    # before the search: a fit that cannot be written (every file it writes, the report's copy too) is not started
    check_out(args.out, copy_path(args.source, name))
    if not args.no_outcome:
        check_episodes(args.source)  # nor one whose outcome check would fail after it
    if args.seed < 0:  # else numpy's own "expected non-negative integer", naming no option
        raise ValueError(f"--seed: 0 or more, got {args.seed}")
    if not (Path(args.source) / "decisions.parquet").exists() and (Path(args.source) / "data").is_dir():
        from glade.console import warning
        from glade.traces import other_protocol

        if older := other_protocol(args.source):  # fitted all the same: the answers are the rows' own
            warning(f"{older}; the fit is to answers given to those older prompts")
    # one writer of --out at a time: a second run at once would silently replace this one's fit
    with only_writer_of_file(Path(args.out), advice="let it finish, or give another --out"):
        con = console()
        with progress_bar("fit", "generations", console(stderr=True)) as bar:
            cal = calibrate(
                args.source,
                args.policy,
                args.creature,
                seed=args.seed,
                holdout=args.holdout,
                holdout_scenario=args.holdout_scenario,
                popsize=args.popsize,
                maxiter=args.maxiter,
                name=args.name,
                on_total=bar.total,
                on_generation=bar.advance,
            )
        summary = without_outcome(cal)
        if not args.no_outcome:
            with progress_bar("outcome check", "turns", console(stderr=True)) as bar:
                summary = with_outcome(cal, on_total=bar.total, on_turn=lambda live: bar.advance())
        copy = report_copy(summary)
        # the report shows one calibration per name: say it changed, unless --out named that file itself
        replaced = copy is not None and copy.exists() and not same_file(copy, Path(args.out).with_suffix(".json"))
        written = write(summary, args.out)  # after `replaced`: that line is about a file an earlier run wrote
        show(con, summary)
        con.print("fitted disposition:")
        con.print(yaml.safe_dump(summary["fitted"], sort_keys=False).rstrip(), markup=False, highlight=False)
        con.print("wrote " + ", ".join(str(p) for p in written), soft_wrap=True, markup=False)  # --out as written
        if replaced:
            con.print(
                f"replaced {copy}, written by an earlier calibrate run", soft_wrap=True, markup=False, highlight=False
            )
    return 0


def show(con, s: dict) -> None:
    """The calibration's prose and tables, as the report shows them (glade.eval.report.calibration)."""
    from rich.markup import escape

    from glade.eval.report.calibration import CONVENTION, ERROR_COLUMNS, OUTCOME, lines, tables

    for line in lines(s):
        con.print(escape(line), soft_wrap=True)
    con.print(escape(CONVENTION), soft_wrap=True)
    if (s.get("outcome") or {}).get("groups"):  # its tables follow: what their columns are
        con.print(escape(OUTCOME), soft_wrap=True)
    for caption, header, rows in tables(s):
        table, under = _table(caption, header, rows), None
        # an outcome table too wide for the console (a pipe's 100 columns): its two errors go on a line under it
        if rows and ERROR_COLUMNS[0] in header and _width(con, table) > con.width:
            at = [header.index(e) for e in ERROR_COLUMNS]
            under = "Original error → calibrated error (the change in error is their difference): " + "; ".join(
                f"{row[0]} {row[at[0]]} → {row[at[1]]}" for row in rows
            )
            keep = [i for i in range(len(header)) if i not in at]
            table = _table(caption, [header[i] for i in keep], [[row[i] for i in keep] for row in rows])
        con.print(table)
        if under is not None:
            con.print(escape(under), soft_wrap=True)


def _width(con, table) -> int:
    """The table's natural width, unbounded by the console's (which `measure` alone clamps it to)."""
    return con.measure(table, options=con.options.update_width(10_000)).maximum


def _table(caption: str, header: list[str], rows: list[list[str]]):
    from rich.markup import escape

    from glade.console_tables import plain_table

    table = plain_table(escape(caption))  # an outcome table's caption names its scenario
    for column in header:
        table.add_column(column)
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    return table
