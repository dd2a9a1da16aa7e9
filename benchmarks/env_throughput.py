"""How fast the Wood runs with stand-in seats, on one core.

    .venv/bin/python benchmarks/env_throughput.py            (or: make bench)
    .venv/bin/python benchmarks/env_throughput.py --profile  (adds cProfile hot spots)

Measured side by side in one run:

(a) stand-in decisions/s: every observation of one default episode (30 turns x 5
    creatures) is collected first, then `standin.act` alone is timed over them, pass
    after pass. Target: at least 50,000 decisions/s.
(b) full-episode decisions/s: the PettingZoo env stepped with stand-in seats, env
    included (reset, produce, observe, clear, reprice, settle, consume, score).
(c) `glade simulate`'s `run_episode`: (b) plus building the env (its Gymnasium spaces),
    the Policy protocol, the trace rows and the conservation check (the scenario is read
    once beforehand; nothing is written to disk).

Each figure is the best of N repeats after a warm-up, timed with time.perf_counter.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import io
import os
import platform
import pstats
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import numpy as np  # noqa: E402

from glade.env import load_scenario, parallel_env, standin  # noqa: E402
from glade.rollout import run_episode  # noqa: E402

TARGET = 50_000


def collect(scenario: str, seed: int, turns: int) -> list[tuple[dict, standin.Disposition]]:
    """Every (observation, disposition) a default episode's stand-in seats decide on."""
    env = parallel_env(scenario, turns=turns)
    dispositions = {c: standin.disposition(env.scenario.creatures[c].disposition) for c in env.possible_agents}
    obs, _ = env.reset(seed=seed)
    seen = []
    while env.agents:
        actions = {}
        for c in env.agents:
            seen.append((obs[c], dispositions[c]))
            actions[c] = standin.act(obs[c], dispositions[c])
        obs, *_ = env.step(actions)
    return seen


def best_rate(fn, units: int, repeats: int, min_seconds: float = 0.05) -> tuple[float, float, int]:
    """Best units/s over `repeats` timings of `fn`, each looping it long enough to last at
    least `min_seconds`; one untimed warm-up first. Returns (units per wall second from
    time.perf_counter, units per CPU second from time.process_time, loops per timing).
    On a busy machine the CPU figure is the steadier one: it leaves out time spent
    waiting for a core."""
    fn()
    loops = 1
    while True:  # calibrate
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        if time.perf_counter() - t0 >= min_seconds:
            break
        loops *= 2
    wall = cpu = float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(loops):
            fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return units * loops / wall, units * loops / max(cpu, 1e-9), loops


def standin_pass(pairs):
    act = standin.act

    def run():
        for obs, d in pairs:
            act(obs, d)

    return run


def env_episode(scenario: str, seed: int, turns: int):
    env = parallel_env(scenario, turns=turns)
    dispositions = {c: standin.disposition(env.scenario.creatures[c].disposition) for c in env.possible_agents}
    act = standin.act

    def run():
        obs, _ = env.reset(seed=seed)
        while env.agents:
            env.step({c: act(obs[c], dispositions[c]) for c in env.agents})

    return run


def nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", default="default")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--turns", type=int, default=30)
    p.add_argument("--repeats", type=int, default=25, help="timings per figure; the best is kept")
    p.add_argument("--profile", action="store_true", help="print cProfile hot spots of standin.act")
    args = p.parse_args(argv)

    pairs = collect(args.scenario, args.seed, args.turns)
    decisions = len(pairs)
    a_rate, a_cpu, a_loops = best_rate(standin_pass(pairs), decisions, args.repeats)
    b_rate, b_cpu, _ = best_rate(env_episode(args.scenario, args.seed, args.turns), decisions, args.repeats)
    scenario = load_scenario(args.scenario, turns=args.turns)  # YAML read once, as the CLI does
    c_rate, c_cpu, _ = best_rate(lambda: run_episode(scenario, args.seed), decisions, args.repeats)

    print("glade env throughput (stand-in seats, one process, one core)")
    print(f"  command   {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"  date      {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"  python    {platform.python_version()} ({platform.python_implementation()})   numpy {np.__version__}")
    load = "   load avg {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else ""
    print(f"  machine   {platform.machine()}   nproc {nproc()}{load}")
    print(f"  episode   {args.scenario}, seed {args.seed}, {args.turns} turns = {decisions} decisions")
    print(f"  timing    best of {args.repeats} after a warm-up; wall: time.perf_counter, cpu: time.process_time")
    print()
    width = 46
    print(f"  {'what':<{width}} {'decisions/s':>11} {'(cpu)':>9} {'episodes/s':>10}")
    rows = [
        ("(a) standin.act alone, collected observations", a_rate, a_cpu),
        ("(b) PettingZoo env stepped with stand-ins", b_rate, b_cpu),
        ("(c) run_episode (glade simulate, no disk)", c_rate, c_cpu),
    ]
    for label, rate, cpu in rows:
        print(f"  {label:<{width}} {rate:>11,.0f} {cpu:>9,.0f} {rate / decisions:>10,.1f}")
    print()
    per_a, per_b = 1e6 / a_rate, 1e6 / b_rate
    print(f"  per decision (wall): stand-in {per_a:.1f} us, the rest of an env step {per_b - per_a:.1f} us")
    verdict = "meets" if a_rate >= TARGET else "is BELOW"
    print(f"  (a) {verdict} the target of {TARGET:,} stand-in decisions/s (wall)")

    if args.profile or a_rate < TARGET:
        profiler = cProfile.Profile()
        run = standin_pass(pairs)
        profiler.enable()
        for _ in range(max(1, a_loops)):
            run()
        profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(12)
        print()
        print("cProfile of standin.act, by own time:")
        print(text.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
