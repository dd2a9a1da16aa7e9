"""`glade quickstart`: the whole chain on the embedded tiny default, offline, on a CPU.

A list of named steps, printed as they run:

1. simulate the default Wood (seed 7, 30 turns) with its stand-in seats, write the trace;
2. play the crash gambit under each mechanism with stand-ins only (a first look);
3. generate stand-in traces of every disposition (recipes/generate/standin.yaml), more of
   the panic-seller's and the speculator's (panic-seller.yaml, speculator.yaml), and the
   held-out traces of other seeds that every training run is measured on (heldout.yaml);
4. name the shipped pretrained tiny base (models/tiny-base; `--train-base` instead rebuilds it
   from recipes/generate/base.yaml and recipes/train/tiny-base.yaml, two steps that take far
   longer);
5-8. LoRA-tune four creature adapters on it (hoarder, panic-seller, speculator, shrewd);
9. evaluate the crash-gambit councils (one model on every seat; five minds, one per
   creature; the all-stand-in world) and print Table 1 of the field notes beside them;
10. flag where the creature models and the stand-in part ways, print the three verdicts and the
   top flag families, and write the report;
11. score two creature adapters on glade's decision tasks with lm-eval;
12. export the base and the creature checkpoints as Hub-ready folders (OUT/exports/, no push);
then list what it made and where.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table
from rich.text import Text

from glade import checkpoint
from glade.cli import VerbHelp, epilog, glade_command
from glade.console import console
from glade.env.schema import did_you_mean
from glade.files import check_folder_path, user_path

from .steps import (
    ADAPTERS,
    LM_EVAL_LIMIT,
    RESULTS,
    SEED,
    TRACES,
    compare_gambits,
    evaluate_councils,
    export_creatures,
    flag_and_report,
    generate_traces,
    kept_checkpoint,
    lm_eval_creatures,
    shipped_base,
    simulate_default,
    train_recipe,
)


@dataclass(frozen=True)
class Step:
    name: str
    what: str
    run: Callable[[argparse.Namespace, object], None]  # (args, console)


STEPS = (
    Step("simulate", f"the default Wood, seed {SEED}, 30 turns, stand-in seats", simulate_default),
    Step("gambits", f"the crash gambit under rumour, shock and override, seed {SEED}", compare_gambits),
    Step(
        "generate",
        "stand-in traces of every disposition, and held-out traces of other seeds (recipes/generate/)",
        generate_traces("standin", "panic-seller", "speculator", "heldout"),
    ),
    Step("base", "the shipped pretrained tiny base the creature adapters go on (models/tiny-base)", shipped_base),
    Step("train-hoarder", "a LoRA creature adapter on the hoarder's decisions", train_recipe("tiny-hoarder")),
    Step(
        "train-panic-seller",
        "a LoRA creature adapter on the panic-seller's decisions",
        train_recipe("tiny-panic-seller"),
    ),
    Step("train-speculator", "a LoRA creature adapter on the speculator's decisions", train_recipe("tiny-speculator")),
    Step(
        "train-shrewd",
        "a LoRA creature adapter on the best quarter of every stand-in's decisions by wealth gained",
        train_recipe("tiny-shrewd"),
    ),
    Step("eval", "one model, five minds and the all-stand-in world under the crash gambit; Table 1", evaluate_councils),
    Step("flag-report", "ranked disagreements and the report (made anew on every run: seconds)", flag_and_report),
    Step(
        "lm-eval",
        f"the creature adapters on glade's decision tasks in lm-eval ({LM_EVAL_LIMIT} documents a task; scored anew on every run)",
        lm_eval_creatures,
    ),
    Step(
        "export", "the base and creature checkpoints as Hub-ready folders with model cards (no push)", export_creatures
    ),
)


TRAIN_BASE = (
    Step("generate-base", "stand-in traces for the base (recipes/generate/base.yaml)", generate_traces("base")),
    Step(
        "train-base",
        "the tiny base, built locally and trained in full (recipes/train/tiny-base.yaml)",
        train_recipe("tiny-base"),
    ),
)


WRITES = """\
what it writes, under the current folder (a rerun keeps finished work and goes on):
  OUT/simulate/             the default Wood's trace.parquet and summary.json
  runs/traces/NAME/         stand-in traces: standin, panic-seller, speculator,
                            heldout (and base with --train-base)
  checkpoints/NAME__0__TIME/
                            the adapters tiny-hoarder, tiny-panic-seller,
                            tiny-speculator, tiny-shrewd (and tiny-base with
                            --train-base); the first two's lm-eval scores in
                            their lm_eval/results.json
  runs/eval/crash-gambit/   the results, flags.json and flags.md, report.md and
                            report.html
  OUT/exports/NAME/         Hub-ready folders of the base and the adapters
--out moves only OUT/simulate and OUT/exports (default OUT: runs/quickstart); the recipes
fix the rest. Progress bars go to stderr, the steps and their results to stdout."""


def add_parser(subparsers, help: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "quickstart",
        help=help,
        description="The whole chain, offline on a CPU (about 7 to 9 minutes on 2 idle cores): simulate, the crash gambits, "
        "generate, train, evaluate, flag, report, lm-eval and export, each step printed as it runs.",
        epilog=WRITES
        + "\n\n"
        + epilog(
            "0 every step done; 1 a step failed (its traceback says where; the conservation check, say); "
            "2 bad input (an --out that is a file, an --until not a step of this run, or a step refusing what it "
            "reads: one error: line naming it); 130 interrupted "
            "(rerun to continue: finished work is kept).",
            ("glade quickstart", "glade quickstart --until simulate --out /tmp/qs"),
        ),
        formatter_class=VerbHelp,
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default="runs/quickstart",
        type=user_path,
        help="where the simulate and export steps write, OUT/simulate and OUT/exports (default: runs/quickstart); "
        "traces, checkpoints and the evaluation go where their recipes say: runs/traces, checkpoints, runs/eval",
    )
    p.add_argument(
        "--until",
        metavar="STEP",
        help=f"stop after this step: {', '.join(s.name for s in STEPS)}; with --train-base also"
        f" {', '.join(s.name for s in TRAIN_BASE)}, which run after generate in place of base",
    )
    p.add_argument(
        "--train-base",
        action="store_true",
        help="rebuild the tiny base first (recipes/generate/base.yaml, then recipes/train/tiny-base.yaml: "
        "about 35 minutes on 2 CPU cores) and tune the adapters on it instead of the shipped one",
    )
    p.set_defaults(run=run)
    return p


def closing(args: argparse.Namespace, con) -> None:
    """What the run made and where (four folders: only OUT is the user's to choose), and what
    to try next; only what exists, so a run cut short by --until lists what it reached."""
    trained = [p.name for name in ADAPTERS if (p := kept_checkpoint(name, args)) is not None]
    # the generate steps' folders that are there (runs/traces may hold a user's own beside them)
    traces = [
        name
        for name in ("standin", "panic-seller", "speculator", "heldout", "base")
        if (TRACES / name / "data").is_dir()
    ]
    made = [
        ("report", RESULTS / "report.html", "open it in a browser; report.md beside it"),
        (
            "results",
            RESULTS,
            "the rows, Table 1's figures, flags.json and flags.md (glade flag writes them; glade report and glade rank read the folder)",
        ),
        *([("traces", TRACES, f"stand-in episodes: {', '.join(traces)}")] if traces else []),
        ("checkpoints", Path(checkpoint.ROOT), ", ".join(trained) or "none yet"),
        ("exports", Path(args.out) / "exports", "Hub-ready folders with model cards, not pushed"),
        ("simulation", Path(args.out) / "simulate", "the default Wood's trace.parquet and summary.json"),
    ]
    con.print("[bold]what the quickstart made[/] (a rerun reuses it and carries on):")
    table = Table(
        box=None, show_header=False, pad_edge=False, padding=(0, 2, 0, 0)
    )  # a wrapped note stays in its column
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold", style="dim")
    for label, path, what in made:
        if path.exists():
            table.add_row(f"  {label}", Text(f"{path}/" if path.is_dir() else str(path)), what)  # a path, not markup
    con.print(table)
    if RESULTS.is_dir():
        con.print("next: more seeds narrow every interval (--dry-run first: the plan and its time)", soft_wrap=True)
        con.print(
            f"  {glade_command()} eval recipes/eval/crash-gambit.yaml seeds.count=16 name=crash-gambit-16 "
            f"out={RESULTS}-16 --dry-run",
            markup=False,
            soft_wrap=True,
        )


def check_until(until: str, steps: list[Step]) -> str:
    """--until's step, refused by name with the closest step and the steps of this run."""
    import difflib

    names = [s.name for s in steps]
    if until in names:
        return until
    if until in {s.name for s in TRAIN_BASE}:
        raise ValueError(
            f"--until {until}: a step of --train-base only; add --train-base, or stop at one of: {', '.join(names)}"
        )
    hint = did_you_mean(until, names)
    if not hint:  # "trian": the train steps, all of them (a family, not a close match)
        word = difflib.get_close_matches(until, {n.split("-")[0] for n in names}, n=1)
        family = [n for n in names if word and n.split("-")[0] == word[0]]
        hint = f"; did you mean {' or '.join(family)}?" if family else ""
    raise ValueError(f"--until {until}: not a step (the steps: {', '.join(names)}){hint}")


def run(args: argparse.Namespace) -> int:
    check_folder_path(Path(args.out))  # before any step: a file in the way fails now, not after training
    con = console()  # the steps and their results; the bars go to stderr
    started = time.perf_counter()
    steps = list(STEPS)
    if args.train_base:
        at = [s.name for s in steps].index("base")
        steps[at : at + 1] = TRAIN_BASE
    every = len(steps)
    if args.until is not None:
        steps = steps[: [s.name for s in steps].index(check_until(args.until, steps)) + 1]
    for i, step in enumerate(steps, 1):
        con.rule(f"[bold]step {i}/{len(steps)}: {step.name}[/]", align="left")
        con.print(f"[dim]{step.what}[/]", soft_wrap=True)  # on its own line: the rule cuts a long one short
        t0 = time.perf_counter()
        try:
            step.run(args, con)
        except KeyboardInterrupt:
            raise KeyboardInterrupt("rerun glade quickstart to continue: finished work is kept") from None
        con.print(f"[dim]{step.name} done in {time.perf_counter() - t0:.1f} s[/]")
        con.print()
    closing(args, con)
    took = f"{time.perf_counter() - started:.1f} s"
    if len(steps) < every:  # --until: say it stopped, so a short run does not read as the whole quickstart
        con.print(f"quickstart stopped after {steps[-1].name} (--until: {len(steps)} of its {every} steps) in {took}")
    else:
        con.print(f"quickstart finished in {took}")
    return 0
