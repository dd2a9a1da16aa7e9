"""The same council on both engines, side by side: `council_throughput.py --engine hf,vllm`.

    .venv/bin/python benchmarks/council_throughput.py --engine hf,vllm           (about 10 minutes on 2 idle cores)
    .venv/bin/python benchmarks/council_throughput.py --engine hf,vllm --quick   (under 2 minutes; tiny council only)

(e) the tiny council of council_throughput.py (five creatures, two random LoRA adapters and
    the bare base mixed on one base model, greedy, `--max-new-tokens` each) played by
    `glade.rollout.run_lockstep` at W = 1, 8, 32 worlds on each engine: hf seats (transformers
    generate, mixed-adapter batches as slices, the role-card prefix cache) and `engine: vllm`
    seats (one in-process vllm.LLM, one generate call per turn, LoRARequests, prefix caching). The
    engines run in interleaved rounds, each mode keeps its best round; the vLLM engine's
    calls are counted (one per turn) and the share of completions equal to the hf engine's
    is printed (greedy on both: they should agree).
(f) a handful of decisions (5 seats x 1 world x 1 turn, `--qwen-new-tokens` each) on a model
    of Qwen2.5-0.5B's shape (its config, random weights, fp32 on CPU), each engine in a
    process of its own so that only one 0.5B model is in memory at a time: enough for the
    ratio, not a throughput study (benchmarks/gpu_council.py is that, on a GPU).

The last line is the headline: vLLM's decisions/s over the hf engine's at the largest W.
On CPU vLLM is not built to win on a 1M-parameter model; its case is large models on GPUs.
Without vLLM (`make test-vllm` installs it) the vLLM half is skipped with a line saying so,
and the hf engine's figures are printed, its decisions/s at the largest W the headline.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

from council_parts import QWEN_05B, RESULT, loadavg, scratch, versions
from help_format import DefaultsShown


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="council_throughput.py",
        description="The same tiny council on the hf and the vLLM engine, side by side.",
        formatter_class=DefaultsShown,
    )
    p.add_argument("--engine", default="hf,vllm", help="engines to compare, comma-separated (hf, vllm)")
    p.add_argument("--worlds", default="1,8,32", help="worlds in lockstep; the largest is the headline")
    p.add_argument("--turns", type=int, default=3, help="turns per world")
    p.add_argument("--seed", type=int, default=7, help="world i plays seed + i")
    p.add_argument("--max-new-tokens", type=int, default=80, help="per answer")
    p.add_argument("--rounds", type=int, default=2, help="interleaved repeats of every mode; each keeps its best")
    p.add_argument("--trace-episodes", type=int, default=8, help="stand-in episodes the tokenizer is trained on")
    p.add_argument("--qwen-new-tokens", type=int, default=40, help="0 skips the Qwen2.5-0.5B-shaped part")
    p.add_argument(
        "--quick",
        action="store_true",
        help="under 2 minutes: W=1,8, 2 turns, 1 round, no 0.5B part; the last line is vLLM/hf decisions/s at W=8"
        " (without vLLM: the hf engine's)",
    )
    p.add_argument("--verbose", action="store_true", help="let the libraries' own progress bars and warnings through")
    p.add_argument("--qwen-worker", nargs=3, metavar=("ENGINE", "MODEL", "TOKENS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.worlds, args.turns, args.rounds, args.qwen_new_tokens, args.trace_episodes = "1,8", 2, 1, 0, 2
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from glade.console import quiet_libraries

    quiet_libraries(args.verbose)  # before transformers is imported: no loading bars, no per-call warnings
    if args.qwen_worker:
        return qwen_worker(*args.qwen_worker)
    engines = [e for e in args.engine.split(",") if e]
    if not engines or not set(engines) <= {"hf", "vllm"}:
        raise SystemExit(f"--engine: expected hf and/or vllm, got {args.engine!r}")
    skipped = {}
    if "vllm" in engines and importlib.util.find_spec("vllm") is None:
        skipped["vllm"] = "vLLM is not installed here (make test-vllm installs it)"
        engines.remove("vllm")
    if not engines:
        print(f"no engine to measure: --engine asked for vllm only, and {skipped['vllm']}")
        return 0
    started = time.perf_counter()
    load_before = loadavg()
    tmp = Path(scratch("glade-engines-bench-"))  # the models and adapters built here; removed at exit and on SIGTERM
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HOME", str(tmp / "hf-home"))
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    from council_parts import make_adapters, stand_in_texts

    from glade.env import load_scenario, parallel_env
    from glade.seats import SeatSpecError, load_council
    from glade.train.tiny import default_corpus, save_tiny

    t0 = time.perf_counter()
    base = save_tiny(tmp / "tiny", texts=list(default_corpus()) + stand_in_texts("default", args.trace_episodes, 30))
    adapters = make_adapters(base, tmp, seeds=(1, 2))
    scenario = load_scenario("default", turns=args.turns)
    creatures = list(scenario.creatures)
    plan = [str(adapters[0]), str(adapters[1]), None, str(adapters[0]), str(adapters[1])]

    def council(engine: str) -> dict:
        spec = {"kind": "hf", "model": str(base), "max_new_tokens": args.max_new_tokens, "engine": engine}
        seats = load_council(
            {c: {**spec, **({"adapter": plan[i % 5]} if plan[i % 5] else {})} for i, c in enumerate(creatures)}
        )
        seat = next(iter(seats.values()))
        # Every row generated: the benchmark's worlds (one scenario, one council) make many requests
        # alike, and sharing their answers would time fewer rows than its figures count.
        engine_of_seats = seat.engine if engine == "vllm" else seat.shared
        engine_of_seats.share_identical = False
        return seats

    councils = {}
    for engine in engines:
        try:
            councils[engine] = council(engine)
        except SeatSpecError as exc:  # vLLM there but not usable (its import failed): skip it, as when missing
            if engine != "vllm" or "hf" not in engines:
                raise
            skipped[engine] = str(exc)
    engines = [e for e in engines if e in councils]
    setup_s = time.perf_counter() - t0
    warm = list(parallel_env(scenario).reset(seed=args.seed)[0].values())
    for c in councils.values():
        c[creatures[0]].act_batch([(c[o["creature"]], o) for o in warm])  # untimed: first-call costs

    worlds = [int(w) for w in args.worlds.split(",") if w]
    runs: dict[tuple[str, int], list[dict]] = {(e, w): [] for w in worlds for e in engines}
    for _ in range(args.rounds):  # interleaved: a slow spell on a shared machine hits both engines alike
        for w in worlds:
            for engine in engines:
                runs[engine, w].append(play(councils[engine], scenario, w, args.seed, engine == "vllm"))
    best = {key: max(r, key=lambda x: x["rate"]) for key, r in runs.items()}

    qwen = {}
    if args.qwen_new_tokens:
        qwen_dir = build_qwen_shaped(base, tmp / "qwen-shaped")
        for engine in engines:
            qwen[engine] = run_worker(engine, qwen_dir, args.qwen_new_tokens)

    stack = versions()
    print("glade council throughput, hf engine vs vLLM engine (CPU)")
    print(f"  command    {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"  date       {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"  machine    {platform.machine()} nproc {os.cpu_count()}  load avg before {load_before}, after {loadavg()}")
    print(f"  versions   {stack}")
    print(
        f"  council    {len(creatures)} creatures on one tiny base (random weights): adapters a, b and the bare base"
        f" mixed; greedy, max_new_tokens {args.max_new_tokens}; {args.turns} turns; setup {setup_s:.0f} s"
    )
    print()
    print(
        f"  {'engine':<7} {'W':>3} {'decisions':>9} {'wall s':>8} {'dec/s':>7} {'engine calls':>12} {'all rounds dec/s':>18}"
    )
    for w in worlds:
        for engine in engines:
            r = best[engine, w]
            rates = sorted(x["rate"] for x in runs[engine, w])
            calls = str(r["calls"]) if engine == "vllm" else "-"
            print(
                f"  {engine:<7} {w:>3} {r['decisions']:>9} {r['seconds']:>8.2f} {r['rate']:>7.2f} {calls:>12}"
                f" {f'{rates[0]:.2f}-{rates[-1]:.2f}':>18}"
            )
    if "vllm" not in skipped:  # the column is vLLM's alone
        print("  (engine calls: vLLM generate calls in the run, one per turn expected; best of the rounds shown)")
    for engine, why in skipped.items():
        print(f"  {engine:<7} skipped: {why}")
    if {"hf", "vllm"} <= set(engines):
        print()
        for w in worlds:
            same = sum(a == b for a, b in zip(best["hf", w]["texts"], best["vllm", w]["texts"]))
            print(
                f"  W={w:<3} vLLM / hf decisions/s {best['vllm', w]['rate'] / best['hf', w]['rate']:6.2f}x;"
                f" completions equal to the hf engine's: {same}/{len(best['hf', w]['texts'])}"
            )
    if qwen:
        print()
        print("  Qwen2.5-0.5B-shaped model (its config, random weights, fp32, CPU), 5 seats x 1 world, one turn,")
        print(
            f"  {args.qwen_new_tokens} new tokens each (every answer runs to the budget), each engine in its own process:"
        )
        for engine, r in qwen.items():
            print(
                f"    {engine:<5} load {r['load_s']:6.1f} s   turn {r['seconds']:6.1f} s   {r['rate']:.3f} decisions/s"
                f"   {r['new_tokens']} new tokens"
            )
        if len(qwen) == 2:
            print(f"    vLLM / hf decisions/s {qwen['vllm']['rate'] / qwen['hf']['rate']:.2f}x")
    print(f"  whole script {time.perf_counter() - started:.0f} s")
    head = max(worlds)
    if {"hf", "vllm"} <= set(engines):
        print(
            f"vLLM / hf engine decisions/s, tiny council W={head}: "
            f"{best['vllm', head]['rate'] / best['hf', head]['rate']:.2f}x"
            f" ({best['vllm', head]['rate']:.2f} vs {best['hf', head]['rate']:.2f})"
        )
    else:
        none = " (no vLLM figure: skipped)" if skipped else ""
        print(f"{engines[0]} engine decisions/s, tiny council W={head}: {best[engines[0], head]['rate']:.2f}{none}")
    return 0


def play(council: dict, scenario, worlds: int, seed: int, is_vllm: bool) -> dict:
    from glade.rollout import EpisodeSpec, RolloutStats, run_lockstep

    first = next(iter(council.values()))
    calls = first.engine.calls if is_vllm else 0
    stats = RolloutStats()
    played = run_lockstep([EpisodeSpec(f"w{i}", scenario, seed + i, dict(council)) for i in range(worlds)], stats=stats)
    rows = [r for e in played.values() for r in e.rows]
    return {
        "decisions": stats.decisions,
        "seconds": stats.total_seconds,
        "rate": stats.decisions / stats.total_seconds,
        "calls": first.engine.calls - calls if is_vllm else 0,
        "texts": [r["completion"] for r in rows],
    }


def build_qwen_shaped(tiny: Path, out: Path) -> Path:
    """Qwen2.5-0.5B's shape with random weights (fp32) and the tiny tokenizer (its 151,936-row
    embedding is wider than the tokenizer: the cost is the model's, the prompts tokenize as the
    tiny council's)."""
    import torch
    from transformers import AutoTokenizer, GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    ids = {"pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id}
    config = Qwen2Config(**QWEN_05B, use_sliding_window=False, dtype="float32", **ids)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).to(torch.float32).eval()
    model.generation_config = GenerationConfig(**ids)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def run_worker(engine: str, model: Path, tokens: int) -> dict:
    """One engine's (f) figures, measured in a process of its own (one 0.5B model in memory)."""
    command = [sys.executable, str(Path(__file__).with_name("council_throughput.py")), "--engine", engine]
    command += ["--qwen-worker", engine, str(model), str(tokens)]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ)
    if done.returncode != 0:
        raise SystemExit(f"the {engine} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(next(line for line in done.stdout.splitlines() if line.startswith(RESULT))[len(RESULT) :])


def qwen_worker(engine: str, model: str, tokens: str) -> int:
    from glade.env import parallel_env
    from glade.seats import load_council

    t0 = time.perf_counter()
    obs, _ = parallel_env().reset(seed=7)
    spec = {"kind": "hf", "model": model, "max_new_tokens": int(tokens), "engine": engine}
    if engine == "vllm":
        spec["max_model_len"] = 2048
    council = load_council(dict.fromkeys(obs, spec))
    policy = next(iter(council.values()))
    policy.act(list(obs.values())[:1])  # warm-up: first-call costs
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    decisions = policy.act(list(obs.values()))
    seconds = time.perf_counter() - t0
    new = sum(d.completion_tokens for d in decisions)
    print(
        RESULT + json.dumps({"load_s": load_s, "seconds": seconds, "rate": len(decisions) / seconds, "new_tokens": new})
    )
    return 0


if __name__ == "__main__":  # a helper module: council_throughput.py --engine runs it, with the paths it needs
    print(
        "council_engines.py is a helper: run benchmarks/council_throughput.py --engine hf,vllm [--quick]",
        file=sys.stderr,
    )
    sys.exit(2)
