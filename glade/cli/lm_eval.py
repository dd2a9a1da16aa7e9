"""`glade lm-eval CHECKPOINT [--tasks ...] [--limit N] [--traces DIR]...`: score a checkpoint on
glade's decision tasks (and any standard task) with lm-eval (glade.eval.harness)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from glade.cli import VerbHelp, epilog
from glade.console import progress_bar, warning, without_lines
from glade.eval.harness import run_lm_eval, score_text, unknown_tasks
from glade.eval.lm_docs import GLADE_TASKS, baseline_text, left_out_text
from glade.files import user_path

GIT_NOISE = "fatal: not a git repository"


def add_parser(subparsers, help: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "lm-eval",
        help=help,
        description="Score a checkpoint on glade's lm-eval tasks over held-out states (glade_decision_gen: "
        "answer a turn, scored for valid JSON, valid actions, stand-in agreement and self-buys; "
        "glade_direction_mc: buy / sell / hold for a named good), run with lm-eval's hf model (LoRA via peft=, "
        "fp32, CPU, chat template). Prints each task's baselines beside its scores (the constant answers of the direction "
        "task, an empty answer of the decision task). Writes CHECKPOINT/lm_eval/results.json.",
        epilog=epilog(
            "0 scored and written; 2 bad input (not a checkpoint, no held-out states, an unknown task, a base "
            "model that cannot be loaded), nothing written.",
            (
                "glade lm-eval latest:tiny-hoarder --limit 50",
                "glade lm-eval CHECKPOINT --tasks glade_decision_gen \\",
                "    --traces runs/traces/other-seeds",
            ),
        ),
        formatter_class=VerbHelp,
    )
    p.add_argument(
        "checkpoint",
        type=user_path,
        help="a checkpoint folder from `glade train` (LoRA or full) or `glade merge`, latest:NAME (the newest "
        "checkpoint of recipe NAME under checkpoints/), or shipped:NAME (a base glade ships)",
    )
    p.add_argument(
        "--tasks",
        default=",".join(GLADE_TASKS),
        help=f"comma-separated task names (default: {','.join(GLADE_TASKS)}); standard lm-eval names too",
    )
    p.add_argument(
        "--limit",
        type=int,
        default=None,
        metavar="N",
        help="score the first N documents of each task (glade_decision_gen: N states; glade_direction_mc: N goods "
        "of states), taken from one seeded shuffle: the same N scores the same documents on every run (default: all "
        "of them)",
    )
    p.add_argument(
        "--traces",
        action="append",
        type=user_path,
        default=None,
        metavar="DIR",
        help="use every row of this traces folder instead of the checkpoint's held-out split; repeat "
        "--traces DIR for several folders",
    )
    p.add_argument("--batch-size", type=int, default=4, help="lm-eval batch size (default: 4)")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}")
    if args.limit is not None:  # a limit past any task's size is no limit; lm-eval slices with a C size
        args.limit = min(args.limit, sys.maxsize)
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not tasks:  # else the harness falls back to both glade tasks, over every held-out state
        raise ValueError(
            f"--tasks names no task ({args.tasks!r}); give comma-separated names, e.g. {','.join(GLADE_TASKS)}"
        )
    if typos := [t for t in tasks if t.startswith("glade_") and t not in GLADE_TASKS]:  # no lm-eval task is glade_*
        raise ValueError(unknown_tasks(typos))  # said before the checkpoint loads or lm-eval lists its tasks
    # lm-eval asks git for a commit, wherever it runs; the bar is drawn on the stderr outside the filter
    with without_lines(GIT_NOISE, enabled=not args.verbose) as stderr:
        with progress_bar("lm-eval", "requests", con=stderr) as bar:
            result = run_lm_eval(args.checkpoint, tasks, args.limit, args.traces, args.batch_size, progress=bar)
    overlap = (result.get("data") or {}).get("trained_on")
    if overlap:
        seeds = ", ".join(map(str, overlap["seeds"][:8])) + (", ..." if len(overlap["seeds"]) > 8 else "")
        warning(
            f"{overlap['rows']:,} of {overlap['of']:,} --traces rows hold prompts this checkpoint (or its base) was "
            f"trained on (the very states; seeds {seeds}): these scores are not held out; generate traces from "
            "seeds its training traces did not use for held-out scores"
        )
    if note := left_out_text(result.get("data") or {}):  # states glade train left out of its figures too
        print(note)
    for task in result["scores"]:
        n = result["n_samples"].get(task, {}).get("effective", "?") if isinstance(result["n_samples"], dict) else "?"
        found = (result.get("intervals") or {}).get(task)
        count = next(iter(found.values()))["n"] if found else None
        episodes = f" from {count} episode{'s' * (count != 1)}" if found else ""
        if found and any(d.get("ci") for d in found.values()):  # too few episodes give none: said per score
            episodes += "; 95% intervals over them"
        print(f"{task} (n={n} documents{episodes}): {score_text(result, task)}")
        if task in (result.get("baselines") or {}):
            print(f"  {baseline_text(task, result['baselines'][task], result['scores'].get(task))}")
    print(f"results: {Path(result['checkpoint']) / 'lm_eval' / 'results.json'}")
    if result.get("previous"):
        print(f"the earlier results are kept as {result['previous']}")
    return 0
