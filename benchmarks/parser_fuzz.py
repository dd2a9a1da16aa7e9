"""Fuzz `glade.env.protocol.parse` with messy completions against real observations.

    .venv/bin/python benchmarks/parser_fuzz.py                 (100,000 completions, seed 0)
    .venv/bin/python benchmarks/parser_fuzz.py --n 20000 --seed 3
    .venv/bin/python benchmarks/parser_fuzz.py --quick         (20,000 completions, < 2 minutes)

Observations come from real episodes (stand-in seats) of every scenario under
recipes/scenarios/. Each completion is drawn, from a seeded `random.Random`, out of these
families: valid actions (as a model might format them), model-like actions with wrong
values, character-level mutations of valid actions, the usual small-model faults (quotes,
literals, commas, words for sides and goods, numbers as strings, NaN, 5,000-digit numbers,
wrong types), actions wrapped in prose / fences / think blocks / harmony channels,
truncations, random text, junk (control characters, brace soup, deep nesting), huge inputs
(up to ~2 MB), unicode (every plane, lone surrogates, full-width look-alikes) and a few
non-strings (None, bytes, numbers, dicts).

Checks, per completion:
  - `parse` raises nothing (target 0); a "parser_fault" result, i.e. an exception inside the
    parser that its guard swallowed, is counted apart and traced back to its exception;
  - the returned action validates cleanly: `glade.env.market.validate_orders` keeps every
    order unchanged with no note (no rejection, no cut), every field is well typed, the
    gossip and thought are strings within their caps, and the action is finite JSON;
  - the observation is not mutated (checked on a sample).
Printed: counts per error name and per family, median / p99 / max microseconds per parse
(time.perf_counter_ns around the call alone), the slowest inputs, total time, and a digest
of every outcome, so two runs with the same --n and --seed can be compared exactly.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import gc
import hashlib
import heapq
import json
import math
import platform
import random
import shlex
import statistics
import sys
import time
import traceback
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from fuzz_cases import FAMILIES, goods_of  # noqa: E402  (beside this script)
from help_format import DefaultsShown  # noqa: E402

from glade.env import parallel_env, protocol, standin  # noqa: E402
from glade.env.market import SIDES, validate_orders  # noqa: E402
from glade.env.protocol import GOSSIP_CHARS, MAX_ORDERS, MAX_QTY, parse  # noqa: E402
from glade.env.scenario import SCENARIO_DIR  # noqa: E402

THOUGHT_CHARS = 2000  # protocol's cap on a thought
ACTION_KEYS = {"orders", "gossip", "thought"}
ORDER_KEYS = ("side", "good", "qty", "price")

# ---- observations --------------------------------------------------------------------


def collect_observations(seed: int) -> list[dict]:
    """Every observation stand-in seats see in a few episodes of every scenario."""
    seen = []
    names = sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))
    for name in names:
        for episode_seed in (seed, seed + 1):
            env = parallel_env(name)
            dispositions = {c: standin.disposition(env.scenario.creatures[c].disposition) for c in env.possible_agents}
            obs, _ = env.reset(seed=episode_seed)
            while env.agents:
                seen.extend(obs[c] for c in env.agents)
                obs, *_ = env.step({c: standin.act(obs[c], dispositions[c]) for c in env.agents})
    return seen


# ---- checks --------------------------------------------------------------------------


def check(result, obs: dict) -> list[str]:
    """Names of everything wrong with a parse result (empty when it is clean)."""
    problems = []
    if not isinstance(result, protocol.Parsed):
        return ["not_a_Parsed"]
    action = result.action
    if not isinstance(action, dict):
        return ["action_not_dict"]
    if set(action) - ACTION_KEYS:
        problems.append("extra_action_keys")
    orders = action.get("orders")
    if not isinstance(orders, list):
        return problems + ["orders_not_list"]
    goods = tuple(goods_of(obs))
    for o in orders:
        if not isinstance(o, dict) or tuple(o) != ORDER_KEYS:
            problems.append("order_keys")
            continue
        if o["side"] not in SIDES or o["good"] not in goods:
            problems.append("order_names")
        if type(o["qty"]) is not int or not 1 <= o["qty"] <= MAX_QTY:
            problems.append("order_qty")
        if type(o["price"]) is not float or not math.isfinite(o["price"]) or o["price"] <= 0:
            problems.append("order_price")
    if len(orders) > MAX_ORDERS:
        problems.append("too_many_orders")
    if not problems:
        valid, notes = validate_orders(
            obs["creature"], orders, goods, obs["inventory"], float(obs["pebbles"]), MAX_ORDERS, MAX_QTY
        )
        if notes:
            problems.append("revalidate_notes:" + ",".join(sorted({n["reason"] for n in notes})))
        elif [(v.side, v.good, v.qty, v.price) for v in valid] != [tuple(o.values()) for o in orders]:
            problems.append("revalidate_changed")
    for key, cap in (("gossip", GOSSIP_CHARS), ("thought", THOUGHT_CHARS)):
        if key in action and not (isinstance(action[key], str) and 0 < len(action[key]) <= cap and action[key].strip()):
            problems.append(f"{key}_bad")
    try:
        json.dumps(action, allow_nan=False)
    except (TypeError, ValueError):
        problems.append("not_finite_json")
    if not (result.error is None or isinstance(result.error, str)):
        problems.append("error_type")
    if not isinstance(result.repaired, bool) or not all(isinstance(r, str) for r in result.repairs):
        problems.append("repairs_type")
    if result.error is None and result.dropped:
        problems.append("dropped_without_error")
    return problems


def fault_of(text, obs: dict) -> str:
    """The exception parse's guard swallowed for this input (re-raised by calling _parse)."""
    try:
        protocol._parse(text, obs)
    except Exception as exc:  # noqa: BLE001
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        return f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno}: {str(exc)[:80]}"
    return "no exception on rerun"


def preview(text, n: int = 70) -> str:
    if not isinstance(text, str):
        return f"<{type(text).__name__}>"
    head = text[:n].encode("unicode_escape").decode("ascii")
    return f"{len(text):,} chars: {head}{'...' if len(text) > n else ''}"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=DefaultsShown)
    p.add_argument("--n", type=int, default=100_000, help="completions to parse")
    p.add_argument(
        "--quick", action="store_true", help="20,000 completions (under 2 minutes); the headline is the last line"
    )
    p.add_argument("--seed", type=int, default=0, help="seeds the completions and the observations")
    p.add_argument("--mutation-sample", type=int, default=97, help="check every k-th observation is not mutated")
    p.add_argument("--slowest", type=int, default=5, help="slowest inputs to list")
    p.add_argument(
        "--dump", metavar="PATH", help="write one line per completion (index, family, error, action) to diff runs"
    )
    args = p.parse_args(argv)
    if args.quick:
        args.n = 20_000
    if args.n < 1 or args.mutation_sample < 1 or args.slowest < 0:
        p.error("--n and --mutation-sample must be at least 1 and --slowest at least 0")

    started = time.perf_counter()
    observations = collect_observations(args.seed)
    rng = random.Random(args.seed)
    names = list(FAMILIES)
    weights = [FAMILIES[f][0] for f in names]

    exceptions: Counter = Counter()
    exception_examples: dict[str, str] = {}
    errors: Counter = Counter()
    problems: Counter = Counter()
    problem_examples: dict[str, str] = {}
    faults: Counter = Counter()
    fault_examples: dict[str, str] = {}
    mutated = invalid = 0
    per_family: dict[str, list[int]] = defaultdict(list)
    family_errors: dict[str, Counter] = defaultdict(Counter)
    repaired = 0
    slowest: list[tuple[int, int, str, str]] = []
    digest = hashlib.sha256()
    all_ns: list[int] = []
    cpu_ns: list[int] = []
    parse_ns_total = 0
    clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    dump_file = open(args.dump, "w", encoding="utf-8") if args.dump else None  # noqa: SIM115

    gc.disable()  # as timeit does: a collection of the harness's own heap is not the parser's cost
    for i in range(args.n):
        if i % 1000 == 0:
            gc.collect()  # outside the timed region
        family = rng.choices(names, weights)[0]
        obs = observations[rng.randrange(len(observations))]
        text = FAMILIES[family][1](rng, obs)
        snapshot = copy.deepcopy(obs) if i % args.mutation_sample == 0 else None
        c0, t0 = cpu_clock(), clock()
        try:
            result = parse(text, obs)
        except BaseException as exc:  # noqa: BLE001 - counting exactly this
            dt, dc = clock() - t0, cpu_clock() - c0
            name = type(exc).__name__
            exceptions[name] += 1
            exception_examples.setdefault(name, f"{family}: {preview(text)}")
            result = None
        else:
            dt, dc = clock() - t0, cpu_clock() - c0
        parse_ns_total += dt
        all_ns.append(dt)
        cpu_ns.append(dc)
        per_family[family].append((dt, dc))
        if len(slowest) < args.slowest:
            heapq.heappush(slowest, (dt, i, family, preview(text)))
        elif dt > slowest[0][0]:
            heapq.heapreplace(slowest, (dt, i, family, preview(text)))
        if snapshot is not None and snapshot != obs:
            mutated += 1
        if result is None:
            line = f"{i}:{family}:EXC\n"
            digest.update(line.encode())
            if dump_file:
                dump_file.write(line)
            continue
        error = result.error or "None (clean)"
        errors[error] += 1
        family_errors[family][error] += 1
        repaired += bool(result.repaired)
        if result.error == "parser_fault":
            why = fault_of(text, obs)
            faults[why] += 1
            fault_examples.setdefault(why, f"{family}: {preview(text)}")
        found = check(result, obs)
        invalid += bool(found)  # an action counts once, however many checks it fails
        for problem in found:
            problems[problem] += 1
            problem_examples.setdefault(problem, f"{family}: {preview(text)}")
        action = json.dumps(result.action, sort_keys=True, ensure_ascii=True, default=repr)
        line = f"{i}:{family}:{result.error}:{action}\n"
        digest.update(line.encode())
        if dump_file:
            dump_file.write(line)

    gc.enable()
    if dump_file:
        dump_file.close()
    total = time.perf_counter() - started
    micros = [ns / 1000 for ns in all_ns]
    cpu_micros = [ns / 1000 for ns in cpu_ns]

    print("glade parser fuzz: glade.env.protocol.parse on messy completions, real observations")
    print(f"  command      {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"  date         {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"  python       {platform.python_version()} ({platform.python_implementation()}), {platform.machine()}")
    print(
        f"  inputs       {args.n:,} completions, seed {args.seed}, over {len(observations):,} observations "
        f"({', '.join(sorted(p.stem for p in SCENARIO_DIR.glob('*.yaml')))})"
    )
    print()
    verdict = "meets" if not exceptions else "MISSED"
    print(
        f"  exceptions raised by parse        {sum(exceptions.values()):>8,}   target 0   {verdict}   {dict(exceptions)}"
    )
    print(
        f"  parser_fault (guard caught one)   {errors.get('parser_fault', 0):>8,}   target 0   "
        f"{'meets' if not errors.get('parser_fault') else 'MISSED'}"
    )
    print(f"  actions not validating cleanly    {invalid:>8,}   target 0   {'meets' if not problems else 'MISSED'}")
    print(
        f"  observations mutated (sampled)    {mutated:>8,}   of {math.ceil(args.n / args.mutation_sample):,} checked"
    )
    for name, example in exception_examples.items():
        print(f"    exception {name}: e.g. {example}")
    for why, count in faults.most_common():
        print(f"    parser_fault x{count}: {why}\n      e.g. {fault_examples[why]}")
    for problem, count in problems.most_common():
        print(f"    check {problem} x{count}: e.g. {problem_examples[problem]}")
    print()
    print(
        f"  time per parse   median {statistics.median(micros):.1f} us   p99 {pct(micros, 0.99):.1f} us   "
        f"max {max(micros) / 1000:.1f} ms   mean {statistics.fmean(micros):.1f} us   (wall, time.perf_counter_ns)"
    )
    print(
        f"  cpu per parse    median {statistics.median(cpu_micros):.1f} us   p99 {pct(cpu_micros, 0.99):.1f} us   "
        f"max {max(cpu_micros) / 1000:.1f} ms   mean {statistics.fmean(cpu_micros):.1f} us   (this thread's CPU time:"
        f" leaves out waits for a core)"
    )
    print(
        f"  total            {total:.1f} s wall, of which parse {parse_ns_total / 1e9:.2f} s wall, {sum(cpu_ns) / 1e9:.2f} s cpu "
        f"(the rest: making inputs, checks, collecting observations;"
        f" gc paused during parse calls, collected every 1,000)"
    )
    print(f"  repaired         {repaired:,} of {args.n:,} ({repaired / args.n:.1%})")
    print()
    print(f"  {'error name':<22} {'count':>8} {'share':>7}")
    for name, count in errors.most_common():
        print(f"  {name:<22} {count:>8,} {count / args.n:>7.2%}")
    print()
    print(
        f"  {'family':<12} {'count':>7} {'median us':>10} {'p99 us':>9} {'max ms':>8} {'cpu p99':>8} {'cpu max':>8}  top outcomes"
    )
    for family in names:
        values = [w / 1000 for w, _ in per_family.get(family, [])]
        cpus = [c / 1000 for _, c in per_family.get(family, [])]
        if not values:
            continue
        top = ", ".join(f"{e} {c}" for e, c in family_errors[family].most_common(3))
        print(
            f"  {family:<12} {len(values):>7,} {statistics.median(values):>10.1f} {pct(values, 0.99):>9.1f}"
            f" {max(values) / 1000:>8.2f} {pct(cpus, 0.99):>8.1f} {max(cpus) / 1000:>8.2f}  {top}"
        )
    print("  (median / p99 in us, max in ms, wall; cpu p99 in us and cpu max in ms are this thread's CPU time)")
    print()
    print("  slowest parses:")
    for dt, i, family, text in sorted(slowest, reverse=True):
        print(f"    {dt / 1e6:8.2f} ms  #{i} {family}: {text}")
    print()
    print(f"  outcome digest   sha256 {digest.hexdigest()[:16]}  (same --n and --seed must give the same digest)")
    print(
        f"parser fuzz: {args.n:,} completions, {sum(exceptions.values())} exceptions, "
        f"{invalid:,} invalid actions, median {statistics.median(micros):.0f} us, p99 {pct(micros, 0.99):.0f} us"
    )
    return 1 if exceptions or problems or errors.get("parser_fault") else 0


if __name__ == "__main__":
    sys.exit(main())
