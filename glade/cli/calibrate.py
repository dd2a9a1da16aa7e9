"""`glade calibrate RESULTS_OR_TRACES --policy NAME [--creature C] --out FILE`: fit the stand-in's
disposition to what a live policy did, on some seeds, and check on the others whether it
predicts the policy's decisions and the live council's outcomes (glade.eval.calibrate)."""

from __future__ import annotations

import argparse

EPILOG = """\
what it does:
  1. reads the policy's live decisions (an eval results folder or a traces dataset) and
     rebuilds each observation from the stored JSON;
  2. holds out a seeded share of the seeds (and, with several scenarios, one whole scenario);
  3. searches the disposition's parameters (scipy differential_evolution, seeded) for the
     best per-good direction agreement with the live actions on the rest, then quantity and
     price closeness;
  4. prints agreement, quantity and price error before (the scenario's own disposition) and
     after, on the fit and the held-out part, with 95% intervals over episodes, whether the
     fit generalised, and the parameters that moved most;
  5. from a results folder: plays the calibrated and the original stand-in worlds on the
     held-out seeds and compares each with the live council (legend-good price, crash,
     gambit P&L, price path), paired by world.

writes FILE (the fitted disposition, usable wherever a disposition is: --council oona=FILE),
FILE with .json (the full summary) and, for a results folder, RESULTS/calibration/NAME.json,
which glade report shows.

examples:
  glade calibrate runs/eval/crash-gambit --policy panic_model --out runs/calibrated/panic.yaml
  glade calibrate runs/traces/mine --policy standin:hoarder --creature oona --out oona.yaml
"""


def add_parser(subparsers, help: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "calibrate",
        help=help,
        description="Fit the stand-in's disposition to what a live policy did on some seeds, and check on the\n"
        "others whether it then predicts the policy's decisions and the live council's outcomes.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "source", metavar="RESULTS_OR_TRACES", help="a glade eval results folder or a glade generate traces folder"
    )
    p.add_argument(
        "--policy",
        required=True,
        help="the policy to fit: an eval recipe's policy name, or a seat/policy name in traces",
    )
    p.add_argument("--creature", help="only this creature's decisions (default: every seat the policy held)")
    p.add_argument("--out", required=True, metavar="FILE", help="where the fitted disposition goes (a .yaml file)")
    p.add_argument("--name", help="the fitted disposition's name (default: calibrated_<policy>[_<creature>])")
    p.add_argument("--seed", type=int, default=0, help="seeds the split and the search (default 0)")
    p.add_argument(
        "--holdout", type=float, default=1 / 3, metavar="SHARE", help="share of seeds held out (default 1/3)"
    )
    p.add_argument(
        "--holdout-scenario",
        metavar="NAME",
        help="the scenario held out whole (default: the last by name, when there are several)",
    )
    p.add_argument(
        "--popsize", type=int, default=10, help="differential evolution population per parameter (default 10)"
    )
    p.add_argument("--maxiter", type=int, default=60, help="differential evolution generations at most (default 60)")
    p.add_argument("--no-outcome", action="store_true", help="skip the outcome check (no stand-in worlds are played)")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    import yaml

    from glade.console import console, progress_bar
    from glade.eval.calibrate import calibrate, with_outcome, write

    if not str(args.out).endswith((".yaml", ".yml")):
        raise ValueError(f"--out {args.out}: the fitted disposition is a YAML file; name it *.yaml")
    if args.popsize < 1 or args.maxiter < 1:
        raise ValueError("--popsize and --maxiter: at least 1")
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
    summary = cal.summary
    if not args.no_outcome:
        with progress_bar("outcome check", "turns", console(stderr=True)) as bar:
            summary = with_outcome(cal, on_total=bar.total, on_turn=lambda live: bar.advance())
    written = write(summary, args.out)
    show(con, summary)
    con.print("fitted disposition:")
    con.print(yaml.safe_dump(summary["fitted"], sort_keys=False).rstrip(), markup=False, highlight=False)
    con.print("wrote " + ", ".join(str(p) for p in written), soft_wrap=True)
    return 0


def _ci(d: dict | None, fmt: str) -> str:
    if not d or d.get("mean") is None:
        return "-"
    low, high = d.get("ci") or (None, None)
    if low is None or d.get("n", 0) < 2:
        return f"{d['mean']:{fmt}} (n {d.get('n', 0)})"
    return f"{d['mean']:{fmt}} [{low:{fmt}}, {high:{fmt}}]"


def _value(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def show(con, s: dict) -> None:
    from rich.markup import escape

    from glade.console import plain_table

    split = s["split"]
    who = s["policy"] + (f" on {s['creature']}" if s["creature"] else "")
    con.print(
        f"{s['decisions']} decisions of {escape(who)} from {escape(s['source'])} ({s['kind']}); "
        f"{s['rebuilt']} of them rebuild the stored stand-in counterfactual exactly",
        soft_wrap=True,
    )
    held = f"seeds {', '.join(map(str, split['heldout_seeds']))}"
    if split["heldout_scenario"]:
        held += f" and scenario {split['heldout_scenario']}"
    search = s["search"]
    con.print(
        f"held out: {held}; search: {search['evaluations']} candidates in {search['generations']} generations, "
        f"{search['seconds']} s",
        soft_wrap=True,
    )
    table = plain_table("the scenario's disposition (before) and the fitted one (after), mean over episodes [95% CI]")
    for column in ("part", "episodes", "stand-in", "direction agreement", "quantity error (units)", "price error"):
        table.add_column(column, justify="left" if column in ("part", "stand-in") else "right")
    for part in ("fit", "heldout"):
        p = s["parts"][part]
        for when in ("before", "after", "change"):
            table.add_row(
                "held out" if part == "heldout" else "fit",
                str(p["episodes"]),
                when,
                _ci(p["agreement"][when], "+.3f" if when == "change" else ".3f"),
                _ci(p["qty_error"][when], "+.2f" if when == "change" else ".2f"),
                _ci(p["price_error"][when], "+.3f" if when == "change" else ".3f"),
            )
    con.print(table)
    con.print(("[green]" if s["generalised"] else "[yellow]") + escape(s["verdict"]) + "[/]", soft_wrap=True)
    if s["moved"]:
        moved = plain_table("the parameters that moved most (share of their search range)")
        for column in ("parameter", "before", "after", "moved"):
            moved.add_column(column)
        for m in s["moved"]:
            moved.add_row(m["parameter"], _value(m["before"]), _value(m["after"]), f"{m['share_of_range']:.0%}")
        con.print(moved)
    outcome = s.get("outcome")
    if outcome is None:
        return
    if "skipped" in outcome:
        con.print(f"outcome check skipped: {escape(outcome['skipped'])}", soft_wrap=True)
        return
    table = plain_table(
        "outcome check against the live council on held-out worlds: means; improvement = the original stand-in "
        "world's error - the calibrated one's, paired by world [95% CI]"
    )
    for column in ("worlds", "n", "figure", "council", "original", "calibrated", "improvement", "verdict"):
        table.add_column(column, justify="right" if column in ("n", "council", "original", "calibrated") else "left")
    for group in outcome["groups"]:
        seen = group["scenario_in_fit"]
        label = group["group"] + ("" if seen is None else ", held-out seeds" if seen else ", unseen scenario")
        for name, f in group["figures"].items():
            if "improvement" not in f:
                continue
            means = (
                _ci({"mean": f[w]["mean"], "n": 1}, ".3g").split(" ")[0] for w in ("council", "original", "calibrated")
            )
            table.add_row(label, str(f["n"]), name, *means, _ci(f["improvement"], "+.3g"), f["verdict"])
            label = ""
    con.print(table)
    if outcome["other_live_seats"]:
        con.print(
            f"({outcome['other_live_seats']} seats of other live policies sat as their scenario's stand-in in both stand-in worlds)"
        )
    con.print(escape(outcome["verdict"]), soft_wrap=True)
