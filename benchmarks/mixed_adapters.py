"""A mixed-adapter council on one base: PEFT's mixed batch against glade's slices, side by side.

    .venv/bin/python benchmarks/mixed_adapters.py            (about 5 minutes on 2 idle cores)
    .venv/bin/python benchmarks/mixed_adapters.py --quick    (under 2 minutes)
    .venv/bin/python benchmarks/mixed_adapters.py --base models/tiny-base --adapters DIR DIR ...
                                                             (trained adapters, e.g. the quickstart's)

Five creatures sit on hf seats of one base model, each through its own LoRA adapter or the
bare base (the adapters take the seats in turn, the base the third), and W worlds play in
lockstep: one generate per turn for every seat of every world (`glade.rollout.run_lockstep`,
as `glade eval` plays). Two modes on the same seats, rounds interleaved, each keeping its
best round:

- PEFT's mixed batch: `generate(adapter_names=...)`, which gathers each adapter's rows by
  index and scatters its update back in every LoRA layer at every step;
- slices (the seat's default since 2026-12-03, glade.seats.lora_spans): each generate's rows
  sorted by adapter, each adapter's update computed on one slice and added in place.

Every round of both modes must give the same answers, token for token (the script stops if
not). Default base: `models/tiny-base`, the shipped trained base (its answers close their
JSON, about 84 tokens); default adapters: two random plain-LoRA adapters on it (r 4 on
q_proj/v_proj), as `benchmarks/council_throughput.py` makes them. The headline, the last
line: decisions per second with slices over PEFT's mixed batch.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
from pathlib import Path

from council_parts import (
    GenerateTimer,
    loadavg,
    make_adapters,
    nproc,
    progress,
    run_mode,
    scratch,
    spread,
    versions,
    wall_rate,
)
from help_format import DefaultsShown

_TMP = scratch("glade-mixed-bench-")  # removed at exit and on SIGTERM
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported
os.environ.setdefault("HF_HOME", os.path.join(_TMP, "hf-home"))
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout

from glade.console import quiet_libraries  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=DefaultsShown)
    p.add_argument("--base", default=str(ROOT / "models" / "tiny-base"), help="base model folder")
    p.add_argument("--adapters", nargs="+", help="LoRA adapter folders of that base (default: two random ones)")
    p.add_argument("--scenario", default="default", help="the Wood scenario the worlds play")
    p.add_argument("--worlds", type=int, default=32, help="worlds played in lockstep (default 32)")
    p.add_argument("--turns", type=int, help="turns per world (default 4; quick 2)")
    p.add_argument("--seed", type=int, default=7, help="world i plays seed + i")
    p.add_argument("--max-new-tokens", type=int, default=144, help="per answer (the crash-gambit seats' budget)")
    p.add_argument("--rounds", type=int, help="interleaved rounds of both modes (default 3; quick 2)")
    p.add_argument("--quick", action="store_true", help="under 2 minutes: 2 turns, 2 rounds")
    p.add_argument("--verbose", action="store_true", help="let the libraries' own progress bars and warnings through")
    args = p.parse_args(argv)
    quiet_libraries(args.verbose)  # before transformers is imported: no loading bars, no per-call warnings
    args.turns = args.turns or (2 if args.quick else 4)
    args.rounds = args.rounds or (2 if args.quick else 3)
    if not (Path(args.base) / "config.json").is_file():
        p.error(f"--base {args.base}: no model folder there (config.json missing)")

    import torch

    from glade.env import load_scenario
    from glade.seats import load_council

    adapters = args.adapters or [str(a) for a in make_adapters(Path(args.base), Path(_TMP), seeds=(1, 2))]
    scenario = load_scenario(args.scenario, turns=args.turns)
    creatures = list(scenario.creatures)
    plan = [*adapters, None] if len(adapters) < len(creatures) else adapters
    seat_of = {c: plan[i % len(plan)] for i, c in enumerate(creatures)}
    seat_keys = {"kind": "hf", "model": args.base, "max_new_tokens": args.max_new_tokens}
    try:
        council = load_council({c: {**seat_keys, **({"adapter": a} if a else {})} for c, a in seat_of.items()})
    except ValueError as exc:  # SeatSpecError, MissingInput: a folder that is not a model or adapter
        p.error(str(exc))
    policy = council[creatures[0]]
    shared = policy.shared
    # Every row generated: the benchmark's worlds (one scenario, one council) make many requests
    # alike, and sharing their answers would time fewer rows than its figures count.
    shared.share_identical = False
    timer = GenerateTimer(shared)
    run_mode("warm-up", lambda i: dict(council), scenario, 2, args.seed, timer)  # loads the adapters
    if not shared.spans_supported:
        p.error("these adapters are not plain LoRA on linear layers: the seat runs them through PEFT only")

    modes = {"PEFT's mixed batch": False, "slices": True}
    rounds: dict[str, list[dict]] = {label: [] for label in modes}
    for n in range(args.rounds):
        answers = {}
        for label, slices in modes.items():
            shared.spans_supported = slices
            result = run_mode(label, lambda i: dict(council), scenario, args.worlds, args.seed, timer)
            rounds[label].append(progress(n, args.rounds, result))
            answers[label] = [r["completion"] for r in result["rows"]]
        if answers["slices"] != answers["PEFT's mixed batch"]:
            print("the two modes answered differently: slices must change nothing but the time", file=sys.stderr)
            return 1
    shared.spans_supported = True

    decisions = rounds["slices"][0]["stats"].decisions
    print("glade mixed-adapter council: PEFT's mixed batch vs slices (glade.seats.lora_spans)")
    print(f"  command    {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"  date       {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(
        f"  machine    {platform.machine()}  nproc {nproc()}  torch threads {torch.get_num_threads()}  load {loadavg()}"
    )
    print(f"  versions   {versions()}")
    print(f"  base       {args.base}, float32, cpu")
    seated = ", ".join(f"{c}: {Path(a).name if a else 'base'}" for c, a in seat_of.items())
    print(f"  seats      {seated}")
    print(
        f"  play       {args.scenario}, {args.turns} turns x {args.worlds} worlds in lockstep = {decisions} decisions"
        f" a round; max_new_tokens {args.max_new_tokens}; {args.rounds} rounds, interleaved"
    )
    print("  answers    identical in every round, token for token")
    print(f"  {'mode':<22} {'decisions/s, best':>18} {'all rounds':>14} {'generate s, best round':>24}")
    best = {}
    for label, runs in rounds.items():
        best[label] = max(runs, key=wall_rate)
        print(
            f"  {label:<22} {wall_rate(best[label]):>18.2f} {spread(runs):>14} {best[label]['generate_seconds']:>24.1f}"
        )
    ratio = wall_rate(best["slices"]) / wall_rate(best["PEFT's mixed batch"])
    print(f"mixed-adapter council, W={args.worlds}: slices over PEFT's mixed batch {ratio:.2f}x decisions/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
