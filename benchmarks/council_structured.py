"""council_throughput.py's structured council (d): the grammar worker's timer, the paired
figures beside the unconstrained council, and the --quick run that prints them."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import numpy as np
from council_parts import describe, loadavg, nproc, progress, run_mode, spread, wall_rate


class GrammarTimer:
    """Sums the seconds the structured-decoding worker spends building matchers and masks
    (glade.seats.structured.SchemaConstraint), which runs beside the model's forward passes.
    `reset` also makes the grammars forget their kept matchers, so every round builds its own
    (rounds replay the same worlds)."""

    def __init__(self):
        from glade.seats import structured

        self.seconds = 0.0
        self.rows = 0
        self.grammars = set()
        cls = structured.SchemaConstraint
        start, step = cls._start, cls._step

        def timed_start(constraint, texts):
            self.grammars.add(constraint.grammars)
            t0 = time.perf_counter()
            try:
                return start(constraint, texts)
            finally:
                self.seconds += time.perf_counter() - t0
                self.rows += sum(t is not None for t in texts)

        def timed_step(constraint, tokens):
            t0 = time.perf_counter()
            try:
                return step(constraint, tokens)
            finally:
                self.seconds += time.perf_counter() - t0

        cls._start, cls._step = timed_start, timed_step

    def reset(self):
        self.seconds, self.rows = 0.0, 0
        for grammars in self.grammars:
            grammars.forget()


def structured_figures(
    plain: dict, structured: dict, max_new_tokens: int, grammar_seconds: float, rounds: list[tuple[dict, dict]]
) -> dict:
    """The structured council beside the unconstrained one (same worlds, same model): the
    decisions/s ratio, and what each decided. `rounds` pairs each round's unconstrained and
    structured runs (back to back): on this shared machine a round swings by up to a third, so
    the verdict rests on the paired ratios' geometric mean and its interval over rounds, not
    on a ratio of two bests."""
    from collections import Counter

    from glade.eval.stats import interval

    a, b = describe(plain, max_new_tokens), describe(structured, max_new_tokens)
    paired = [describe(s, max_new_tokens)["rate"] / describe(p, max_new_tokens)["rate"] for p, s in rounds]
    spread = interval(np.log(paired), unit="rounds")
    return {
        "paired": paired,
        "paired_mean": float(np.exp(spread.mean)),
        "paired_ci": None if spread.low is None else (float(np.exp(spread.low)), float(np.exp(spread.high))),
        "best_ratio": b["rate"] / a["rate"],
        "cpu_ratio": b["cpu_rate"] / a["cpu_rate"],
        "plain": a,
        "structured": b,
        "grammar_share": grammar_seconds / structured["stats"].total_seconds,
        "plain_errors": Counter(r["error"] for r in plain["rows"]),
        "structured_errors": Counter(r["error"] for r in structured["rows"]),
    }


def structured_lines(f: dict, worlds: int, target_overhead: float) -> list[str]:
    floor = 1.0 - target_overhead
    # answers of unlike lengths (random weights: free rows run to max_new_tokens) time unlike work
    unlike = abs(f["structured"]["mean_completion"] / f["plain"]["mean_completion"] - 1) > 0.2
    verdict = "meets" if f["paired_mean"] >= floor else "MISSED"
    if unlike:
        verdict = "not judged: the answers' lengths differ, --base DIR compares like for like"
    ci = f"[{f['paired_ci'][0]:.2f}, {f['paired_ci'][1]:.2f}]" if f["paired_ci"] else "(too few rounds for an interval)"
    return [
        f"  structured council (each answer held to its state's action schema), W={worlds}, beside the unconstrained one:",
        f"    unconstrained: {f['plain']['rate']:.2f} dec/s, {f['plain']['mean_completion']:.1f} new tok/decision,"
        f" ran full {f['plain']['full']:.0%}; parse outcomes {dict(f['plain_errors'].most_common())}",
        f"    structured:    {f['structured']['rate']:.2f} dec/s, {f['structured']['mean_completion']:.1f} new tok/decision,"
        f" ran full {f['structured']['full']:.0%}; parse outcomes {dict(f['structured_errors'].most_common())}",
        f"    grammar worker busy {f['grammar_share']:.1%} of the structured run's wall time (matchers and masks,"
        " beside the model's forward passes)",
        f"    per CPU second: structured / unconstrained {f['cpu_ratio']:.2f}x (best rounds)",
        f"    each round, structured / unconstrained: {' '.join(f'{r:.2f}' for r in f['paired'])};"
        f" best of each {f['best_ratio']:.2f}x",
        *(
            [
                "    (the two councils wrote answers of different lengths: with random weights free rows run to",
                "     max_new_tokens while held rows stop when their object closes; --base DIR compares like for like)",
            ]
            if unlike
            else []
        ),
        f"  structured / unconstrained decisions/s, W={worlds}: {f['paired_mean']:.2f}x {ci} over"
        f" {len(f['paired'])} paired rounds (overhead {1 - f['paired_mean']:+.0%}; target at most"
        f" {target_overhead:.0%}: {verdict})",
    ]


def quick(
    args, creatures, scenario, base_council, structured_council, structured_label, timer, grammar_timer, target: float
) -> int:
    """council_throughput.py --quick: the batched and the structured council at W=32, interleaved;
    the ratio last."""
    started = time.perf_counter()
    worlds = int(args.worlds)
    plain_label = f"(b) batched, W={worlds}"
    modes = [(plain_label, base_council), (structured_label, structured_council)]
    rounds: dict[str, list[dict]] = {label: [] for label, _ in modes}
    for n in range(args.rounds):
        for label, council in modes:
            grammar_timer.reset()
            result = run_mode(label, lambda i, c=council: dict(c), scenario, worlds, args.seed, timer)
            rounds[label].append(progress(n, args.rounds, result))
            rounds[label][-1]["grammar_seconds"] = grammar_timer.seconds
    best = {label: max(runs, key=wall_rate) for label, runs in rounds.items()}
    figures = structured_figures(
        best[plain_label],
        best[structured_label],
        args.max_new_tokens,
        best[structured_label]["grammar_seconds"],
        list(zip(rounds[plain_label], rounds[structured_label], strict=True)),
    )
    weights = f"trained base {args.base}" if args.base else "random weights"
    print(f"glade council throughput --quick (tiny model, {weights}, hf seats, {args.device})")
    print(f"  command    {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"  load avg   {loadavg()}  nproc {nproc()}")
    print(
        f"  {len(creatures)} creatures x W={worlds} worlds x {args.turns} turns, max_new_tokens {args.max_new_tokens},"
        f" {args.rounds} interleaved rounds (best kept: {', '.join(f'{label} {spread(rounds[label])}' for label, _ in modes)})"
    )
    lines = structured_lines(figures, worlds, target)
    print("\n".join(lines[:-1]))
    print(f"  quick run {time.perf_counter() - started:.1f} s (after setup)")
    print(lines[-1].strip())  # the headline, as the last line, from its first column
    return 0
