"""How fast the Wood runs with stand-in seats, on one core: this checkout beside the code it replaced.

    .venv/bin/python benchmarks/env_throughput.py            (or: make bench)
    .venv/bin/python benchmarks/env_throughput.py --quick    (well under 2 minutes; headline last)
    .venv/bin/python benchmarks/env_throughput.py --profile  (adds cProfile hot spots of (b) and (c))

Figures, in decisions/s (default scenario, seed 7, 30 turns x 5 creatures = 150 decisions):

(a) stand-in decisions: every observation of one episode is collected first, then
    `standin.act` alone is timed over them, pass after pass.
(b) the PettingZoo env stepped with stand-in seats, env included (reset, produce, observe,
    clear, reprice, settle, consume, score). Target: 50,000.
(c) `run_episode` as `glade simulate` runs it: (b) plus building the env, the Policy
    protocol, the rows simulate writes and the conservation check (the scenario is read once
    beforehand; nothing is written to disk). Target: 20,000.
(d) `run_episode` with full trace rows, as `glade generate` and `glade eval` record them (the
    rendered prompt, the observation JSON, the stand-in's counterfactual).

"before" is the code of BASELINE, the commit before issue 16's speed work, unpacked from git
(`git archive`) into a temporary folder; "after" is this checkout. Each is measured in its own
subprocess that imports glade from its tree, and the rounds alternate between the two so the
machine's load falls on both alike. A figure is the best over rounds of the best of N timings
after a warm-up; wall-clock from time.perf_counter and CPU from time.process_time (on a busy
shared machine the CPU figure is the steadier one). Before the speed work, `glade simulate`
recorded full rows, so its (c) and (d) are the same code path.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from help_format import DefaultsShown

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "a4b3c50"  # the last commit before issue 16 made the Wood faster
TARGETS = {"b": 50_000, "c": 20_000}
LABELS = {
    "a": "(a) standin.act alone, collected observations",
    "b": "(b) PettingZoo env stepped with stand-ins",
    "c": "(c) run_episode as glade simulate runs it",
    "d": "(d) run_episode, full rows (generate, eval)",
}


# ------------------------------------------------------------------ measuring (one code tree)


def best_rate(fn, units: int, repeats: int, min_seconds: float = 0.05) -> tuple[float, float]:
    """Best units/s over `repeats` timings of `fn`, each looping it long enough to last at
    least `min_seconds`; one untimed warm-up first. Returns (per wall second, per CPU second)."""
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
    return units * loops / wall, units * loops / max(cpu, 1e-9)


def workloads(scenario_name: str, seed: int, turns: int) -> tuple[dict, int]:
    """The four workloads as zero-argument functions, written against the API both trees share."""
    import inspect

    from glade.env import load_scenario, parallel_env, standin
    from glade.rollout import run_episode

    env = parallel_env(scenario_name, turns=turns)
    dispositions = {c: standin.disposition(env.scenario.creatures[c].disposition) for c in env.possible_agents}
    act = standin.act
    pairs = []
    obs, _ = env.reset(seed=seed)
    while env.agents:
        actions = {}
        for c in env.agents:
            pairs.append((obs[c], dispositions[c]))
            actions[c] = act(obs[c], dispositions[c])
        obs, *_ = env.step(actions)

    def standin_pass():
        for o, d in pairs:
            act(o, d)

    def env_episode():  # each turn's actions answer that turn's observations
        obs, _ = env.reset(seed=seed)
        while env.agents:
            obs = env.step({c: act(obs[c], dispositions[c]) for c in env.agents})[0]

    scenario = load_scenario(scenario_name, turns=turns)  # YAML read once, as the CLI does
    lean = "full" in inspect.signature(run_episode).parameters  # the before tree has no lean rows
    return {
        "a": standin_pass,
        "b": env_episode,
        "c": (lambda: run_episode(scenario, seed, full=False)) if lean else (lambda: run_episode(scenario, seed)),
        "d": lambda: run_episode(scenario, seed),
    }, len(pairs)


def worker(args: argparse.Namespace) -> int:
    """Measure this process's glade (imported from --worker TREE) and print one JSON line."""
    import numpy as np

    import glade

    fns, decisions = workloads(args.scenario, args.seed, args.turns)
    out = {"decisions": decisions, "glade": str(Path(glade.__file__).parent.parent), "numpy": np.__version__}
    for key, fn in fns.items():
        out[key], out[f"{key}_cpu"] = best_rate(fn, decisions, args.repeats)
    if args.profile:
        out["profile"] = {key: profile(fns[key]) for key in ("b", "c")}
    print(json.dumps(out))
    return 0


def profile(fn, loops: int = 20) -> str:
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(loops):
        fn()
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(14)
    return text.getvalue()


# ------------------------------------------------------------------ running both, printing


def unpack(rev: str, into: Path) -> str | None:
    """`git archive REV` of this repository into `into`; None when done, else why not."""
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, capture_output=True, check=True)
    except subprocess.CalledProcessError as exc:
        detail = exc.stderr.decode(errors="replace").strip().splitlines()[-1:]
        return f"git archive {rev} failed: {detail[0] if detail else exc}"
    except OSError as exc:
        return f"git archive {rev} failed: {exc}"
    return None


def measure(tree: Path, args: argparse.Namespace, profile_it: bool = False) -> dict:
    command = [sys.executable, __file__, "--worker", str(tree), "--scenario", args.scenario]
    command += ["--seed", str(args.seed), "--turns", str(args.turns), "--repeats", str(args.repeats)]
    if profile_it:
        command.append("--profile")
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tree)})
    if done.returncode != 0:
        raise RuntimeError(f"the worker for {tree} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def best_of(runs: list[dict]) -> dict:
    best = dict(runs[0])
    for run in runs[1:]:
        for key, value in run.items():
            if isinstance(value, float):
                best[key] = max(best[key], value)
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=DefaultsShown)
    p.add_argument("--scenario", default="default", help="the Wood scenario played")
    p.add_argument("--seed", type=int, default=7, help="the episodes' seed")
    p.add_argument("--turns", type=int, default=30, help="turns per episode")
    p.add_argument("--repeats", type=int, default=None, help="timings per figure and round (default 15; quick 5)")
    p.add_argument(
        "--rounds", type=int, default=None, help="alternating rounds of before and after (default 3; quick 1)"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="1 round of 5 timings per figure instead of 3 rounds of 15: a minute or less; the headline is the last line",
    )
    p.add_argument("--baseline", default=BASELINE, metavar="REV", help=f"the before code (default {BASELINE})")
    p.add_argument("--no-baseline", action="store_true", help="measure this checkout only")
    p.add_argument("--profile", action="store_true", help="print cProfile hot spots of (b) and (c), this checkout")
    p.add_argument("--worker", metavar="TREE", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.repeats = args.repeats or (5 if args.quick else 15)
    rounds = args.rounds or (1 if args.quick else 3)
    if args.worker:
        return worker(args)

    with tempfile.TemporaryDirectory(prefix="glade-bench-before-") as tmp:
        why_not = "--no-baseline" if args.no_baseline else unpack(args.baseline, Path(tmp))
        trees = {"after": ROOT} if why_not else {"before": Path(tmp), "after": ROOT}
        runs: dict[str, list[dict]] = {name: [] for name in trees}
        for _ in range(rounds):
            for name, tree in trees.items():
                runs[name].append(measure(tree, args))
        results = {name: best_of(r) for name, r in runs.items()}
        profiled = measure(ROOT, args, profile_it=True)["profile"] if args.profile else None
    report(args, results, why_not, rounds)
    if profiled:
        for key, text in profiled.items():
            print(f"\ncProfile of {LABELS[key]} (this checkout), by own time:\n{text}")
        headline(results)
    return 0


def report(args: argparse.Namespace, results: dict[str, dict], why_not: str | None, rounds: int) -> None:
    after = results["after"]
    before = results.get("before")
    print("glade env throughput (stand-in seats, one process, one core)")
    print(f"  command   {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"  date      {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"  python    {platform.python_version()} ({platform.python_implementation()})   numpy {after['numpy']}")
    load = "   load avg {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else ""
    print(f"  machine   {platform.machine()}   nproc {len(os.sched_getaffinity(0))}{load}")
    print(f"  episode   {args.scenario}, seed {args.seed}, {args.turns} turns = {after['decisions']} decisions")
    print(
        f"  timing    best of {rounds} round(s) x {args.repeats} timings after a warm-up, before and after alternating"
    )
    print(f"  before    {'not measured: ' + why_not if why_not else args.baseline + ' (git archive)'}")
    print(f"  after     {after['glade']}")
    print()
    width = 44
    print(f"  {'decisions/s, wall (cpu)':<{width}} {'before':>17} {'after':>17} {'ratio (cpu)':>13}  target")
    for key, label in LABELS.items():
        was = f"{before[key]:,.0f} ({before[key + '_cpu']:,.0f})" if before else "-"
        now = f"{after[key]:,.0f} ({after[key + '_cpu']:,.0f})"
        cpu = after[key + "_cpu"] / before[key + "_cpu"] if before else 0.0
        ratio = f"{after[key] / before[key]:.2f}x ({cpu:.2f}x)" if before else "-"
        target = TARGETS.get(key)
        # judged on CPU time: on a shared machine the wall-clock figure swings with other jobs' load
        verdict = "" if target is None else f"{target:,} {'met' if after[key + '_cpu'] >= target else 'NOT met'} (cpu)"
        print(f"  {label:<{width}} {was:>17} {now:>17} {ratio:>13}  {verdict}")
    print()
    headline(results)


def headline(results: dict[str, dict]) -> None:
    after, before = results["after"], results.get("before")
    parts = []
    for key, name in (("b", "env stepped"), ("c", "run_episode (simulate)")):
        was = f" (before {before[key + '_cpu']:,.0f})" if before else ""
        parts.append(f"{name} {after[key + '_cpu']:,.0f}/s{was}, target {TARGETS[key]:,}")
    print("headline, decisions per CPU second: " + "; ".join(parts))


if __name__ == "__main__":
    if "--worker" in sys.argv:  # import glade from the tree being measured, before anything else does
        sys.path.insert(0, sys.argv[sys.argv.index("--worker") + 1])
    sys.exit(main())
