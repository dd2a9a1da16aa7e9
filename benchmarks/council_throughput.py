"""How fast a council of model seats decides: naive, batched per policy, mixed adapters.

    .venv/bin/python benchmarks/council_throughput.py             (about 7 minutes on 2 idle cores)
    .venv/bin/python benchmarks/council_throughput.py --profile   (adds cProfile and a prefill/decode split)
    .venv/bin/python benchmarks/council_throughput.py --quick     (under 2 minutes: (b) W=32 and (d) only)
    .venv/bin/python benchmarks/council_throughput.py --quick --base DIR   (the same on a trained base)
    .venv/bin/python benchmarks/council_throughput.py --quick --base DIR --device cuda   (the same on a GPU)
    .venv/bin/python benchmarks/council_throughput.py --engine hf,vllm [--quick]   (both engines: council_engines.py)

All five creatures of a short default scenario sit on hf seats of a tiny model built the
way `glade train recipes/train/tiny-base.yaml` builds its base (the recipe's sizes, and a
tokenizer trained on the built-in corpus plus stand-in traces of the Wood, so prompts
tokenize as a trained base sees them), with random weights. Every mode generates with the
same fixed `max_new_tokens`, so every decision asks the model for comparable work: 80 with
random weights (about the length of the stand-in answers the creature models learn from;
the script prints that length), 144 with `--base` (the crash-gambit seats' budget: a
trained base writes its orders out, and at 80 tokens half its answers with three orders
were cut off mid-order):

(a) naive: one `policy.act([obs])` (one generate) per seat per world, W = 1 and 8 worlds;
(b) batched: `glade.rollout.run_lockstep`, one `policy.act` per policy per turn over the
    observations of all W worlds, W = 1, 8, 32; and W = 32 again with the role-card
    prefix cache switched off, to show what it adds;
(c) a mixed-adapter council at W = 32: two random LoRA adapters (PEFT get_peft_model,
    r=4 on q_proj/v_proj, init_lora_weights=False) and the bare base on ONE base model,
    one `policy.act` per turn; one generate serves every adapter's rows, each adapter's
    LoRA update added to its slice of the batch (glade.seats.lora_spans).
(d) a structured council at W = 32: the same seats with `structured: true`, every answer
    held to its own state's action schema (glade.seats.structured, llguidance), in the same
    interleaved rounds; its decisions/s over (b)'s at W = 32 is the last line printed
    (target: at most 15% slower).

Naive seats keep the prefix cache too (it is the seat's default), so the headline ratio is
what batching alone adds; naive without the cache is printed for reference.

Every mode runs `--rounds` times (default 3), the modes interleaved, and keeps its best
round; the table also shows each mode's range. On a shared 2-core machine a single-row generate
swings by up to 2x from minute to minute: one pass of each mode put the ratio at 5.6x to 10.9x.

Then the share of wall time spent outside the model at W = 32, as `RolloutStats` counts
it (everything but `policy.act`: env steps, trace rows), plus a breakdown of the host-side
work that happens inside `policy.act` (render, chat template + tokenize, parse).

The tiny model has random weights: it rarely closes a JSON object or emits its end token,
so its generations run to `max_new_tokens` and its answers parse as holds. The figures
measure the plumbing and the model's cost, not the quality of the answers.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import time
from collections import Counter
from pathlib import Path

from council_parts import (  # beside this script
    GenerateTimer,
    Naive,
    Recorder,
    describe,
    host_breakdown,
    loadavg,
    make_adapters,
    nproc,
    prefill_decode_split,
    print_adapter_differences,
    print_split,
    print_wall_breakdown,
    profile_act,
    progress,
    run_mode,
    scratch,
    spread,
    stand_in_texts,
    wall_rate,
)
from council_structured import GrammarTimer, quick, structured_figures, structured_lines
from help_format import DefaultsShown

_TMP = scratch("glade-council-bench-")  # the tiny model, adapters, HF_HOME; removed at exit and on SIGTERM
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported
os.environ.setdefault("HF_HOME", os.path.join(_TMP, "hf-home"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from glade.console import quiet_libraries  # noqa: E402

TARGET_SPEEDUP = 10.0  # batched (W=32) decisions/s over naive
TARGET_OUTSIDE = 0.05  # share of wall time outside the model at W=32
TARGET_STRUCTURED_OVERHEAD = 0.15  # structured council's decisions/s at most 15% below the unconstrained one


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a == "--engine" or a.startswith("--engine=") for a in argv):  # (e) and (f): hf vs vLLM, its own options
        import council_engines

        return council_engines.main(argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=DefaultsShown)
    p.add_argument("--engine", metavar="hf,vllm", help="instead: the engines side by side (see --engine hf --help)")
    p.add_argument("--scenario", default="default", help="the Wood scenario the worlds play")
    p.add_argument("--turns", type=int, help="turns per world (default 5; quick 2)")
    p.add_argument("--seed", type=int, default=7, help="world i plays seed + i")
    p.add_argument("--max-new-tokens", type=int, help="per answer (default 80 with random weights, 144 with --base)")
    p.add_argument("--trace-episodes", type=int, default=8, help="stand-in episodes the tokenizer is trained on")
    p.add_argument("--batch-size", type=int, default=None, help="rows per generate (default: Generation's)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument(
        "--device",
        default="cpu",
        help="where the seats' model runs (the hf seat's `device`: cpu, cuda, cuda:0); on a GPU the grammar worker"
        " has the CPU cores to itself",
    )
    p.add_argument("--naive-worlds", default="1,8", help="naive modes (one generate per seat per world)")
    p.add_argument("--worlds", default="1,8,32", help="batched modes; the largest is the headline")
    p.add_argument("--mixed-worlds", type=int, default=32, help="worlds of the mixed-adapter mode (c)")
    p.add_argument("--rounds", type=int, help="interleaved repeats of each mode, best kept (default 3; quick 2)")
    p.add_argument("--profile", action="store_true", help="cProfile a naive and a batched act; prefill/decode split")
    p.add_argument("--verbose", action="store_true", help="let the libraries' own progress bars and warnings through")
    p.add_argument(
        "--quick",
        action="store_true",
        help="under 2 minutes: only the batched and the structured council at W=32, 2 turns, 2 rounds;"
        " prints the structured/unconstrained ratio last",
    )
    p.add_argument(
        "--base",
        default=None,
        help="a trained base model folder to seat instead of the random tiny one (its answers close their JSON, so"
        " both councils do comparable work)",
    )
    args = p.parse_args(argv)
    quiet_libraries(args.verbose)  # before transformers is imported: progress lines only, no loading bars
    args.max_new_tokens = args.max_new_tokens or (144 if args.base else 80)
    if args.quick:
        args.turns, args.worlds, args.trace_episodes = args.turns or 2, "32", 2
    args.turns = args.turns or 5
    args.rounds = args.rounds or (2 if args.quick else 3)

    started = time.perf_counter()
    load_before = loadavg()
    import peft
    import torch
    import transformers

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(
            f"--device {args.device}: this torch ({torch.__version__}) sees no CUDA device; leave it out to run on cpu"
        )
    if args.threads:
        torch.set_num_threads(args.threads)

    from glade.env import load_scenario, parallel_env
    from glade.seats import load_council
    from glade.seats.hf import BASE, Generation
    from glade.train.tiny import default_corpus, save_tiny

    tmp = Path(_TMP)
    t0 = time.perf_counter()
    print("setup: the tiny model, its tokenizer and 2 adapters", file=sys.stderr)
    texts = stand_in_texts(args.scenario, args.trace_episodes, turns=30)
    # The tokenizer as `glade train` builds tiny-base's (built-in corpus + the run's own texts);
    # save_tiny's sizes and vocabulary cap are the recipe's (TinyModel's defaults).
    base = Path(args.base) if args.base else save_tiny(tmp / "tiny", texts=list(default_corpus()) + texts)
    adapters = make_adapters(base, tmp, seeds=(1, 2))
    setup_seconds = time.perf_counter() - t0

    scenario = load_scenario(args.scenario, turns=args.turns)
    creatures = list(scenario.creatures)
    gen_keys = {"max_new_tokens": args.max_new_tokens}
    if args.batch_size:
        gen_keys["batch_size"] = args.batch_size
    batch_size = Generation(**gen_keys).batch_size
    # every seat's spec but its adapter
    seat_keys = {"kind": "hf", "model": str(base), "device": args.device, **gen_keys}

    # One HFPolicy for the five seats on the bare base (load_council shares it).
    base_council = load_council(dict.fromkeys(creatures, seat_keys))
    no_cache_council = load_council(dict.fromkeys(creatures, {**seat_keys, "prefix_cache": False}))
    no_cache_policy = no_cache_council[creatures[0]]
    # The same seats held to each state's action schema: another policy on the same model.
    structured_council = load_council(dict.fromkeys(creatures, {**seat_keys, "structured": True}))
    grammar_timer = GrammarTimer()
    base_policy = base_council[creatures[0]]
    assert all(base_council[c] is base_policy for c in creatures)
    shared = base_policy.shared
    # Every row generated: the benchmark's worlds (one scenario, one council) make many requests
    # alike, and sharing their answers would time fewer rows than its figures count.
    shared.share_identical = False
    assert no_cache_policy.shared is shared and no_cache_policy is not base_policy
    answer_tokens = sorted(
        len(shared.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts if t.startswith("{")
    )
    timer = GenerateTimer(shared)
    n_params = sum(p.numel() for p in shared.model.parameters())

    env = parallel_env(scenario)
    first_obs, _ = env.reset(seed=args.seed)
    warm = [first_obs[c] for c in creatures]
    base_policy.act(warm[:1])  # untimed warm-up: first-call costs
    base_policy.act(warm)
    structured_council[creatures[0]].act(warm)  # llguidance's tokenizer view, built once
    structured_label = f"(d) structured, W={max(int(w) for w in args.worlds.split(',') if w)}"
    if args.quick:
        return quick(
            args,
            creatures,
            scenario,
            base_council,
            structured_council,
            structured_label,
            timer,
            grammar_timer,
            TARGET_STRUCTURED_OVERHEAD,
        )

    naive_worlds = [int(w) for w in args.naive_worlds.split(",") if w]
    batched_worlds = [int(w) for w in args.worlds.split(",") if w]
    headline = max(batched_worlds)
    head_label = f"(b) batched, W={headline}"
    naive, recorder = Naive(base_policy), Recorder(base_policy)

    def seats(seat):
        return lambda i: dict.fromkeys(creatures, seat)

    modes = [(f"(a) naive, W={w}", seats(naive), w) for w in naive_worlds]
    modes.append(("(a) naive, no prefix cache, W=1", seats(Naive(no_cache_policy)), 1))
    modes += [(f"(b) batched, W={w}", seats(recorder if w == headline else base_policy), w) for w in batched_worlds]
    modes.append((f"(b) batched, no prefix cache, W={headline}", seats(no_cache_policy), headline))
    modes.append((structured_label, lambda i: dict(structured_council), headline))
    rounds: dict[str, list[dict]] = {label: [] for label, _, _ in modes}
    for n in range(args.rounds):  # interleaved: a slow spell on a shared machine hits every mode alike
        for label, council_for_world, w in modes:
            if label == head_label:
                recorder.seen.clear()
            reused_before = shared.prefix_tokens_reused
            grammar_timer.reset()
            rounds[label].append(
                progress(n, args.rounds, run_mode(label, council_for_world, scenario, w, args.seed, timer))
            )
            rounds[label][-1]["reused"] = shared.prefix_tokens_reused - reused_before
            rounds[label][-1]["grammar_seconds"] = grammar_timer.seconds
    best = {label: max(runs, key=wall_rate) for label, runs in rounds.items()}
    results = [best[label] for label, _, _ in modes]
    batched_head, no_cache_head = best[head_label], best[f"(b) batched, no prefix cache, W={headline}"]
    reused = batched_head["reused"]
    breakdown = host_breakdown(recorder, shared, batched_head["stats"].total_seconds)

    profile_text = split = None
    if args.profile:
        split = prefill_decode_split(shared, warm, args.max_new_tokens, batch_size)
        profile_text = (profile_act(naive, warm[:1]), profile_act(base_policy, (warm * 32)[: 5 * 32]))

    # (c) two adapters and the bare base on the SAME base model: one policy, one act per turn.
    # Loaded last: once an adapter is on the shared model, every generate seats adapters per row.
    plan = [str(adapters[0]), str(adapters[1]), None, str(adapters[0]), str(adapters[1])]
    seat_of = {c: plan[i % len(plan)] for i, c in enumerate(creatures)}
    mixed_specs = {c: {**seat_keys, **({"adapter": a} if a else {})} for c, a in seat_of.items()}
    mixed_council = load_council(mixed_specs)
    mixed_policy = mixed_council[creatures[0]]
    assert all(mixed_council[c] is mixed_policy for c in creatures) and mixed_policy.shared is shared
    mixed_policy.act(warm)  # loads both adapters onto the shared model, untimed
    names = {c: shared.adapter_name(seat_of[c]) for c in creatures}
    mixed_label = f"(c) mixed adapters, W={args.mixed_worlds}"
    rounds[mixed_label] = []
    for n in range(args.rounds):
        result = run_mode(mixed_label, lambda i: dict(mixed_council), scenario, args.mixed_worlds, args.seed, timer)
        rounds[mixed_label].append(progress(n, args.rounds, result))
    mixed = max(rounds[mixed_label], key=wall_rate)
    results.append(mixed)

    # ---- report -----------------------------------------------------------------------
    print(f"glade council throughput (tiny model, hf seats, {args.device})")
    print(f"  command    {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"  date       {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(
        f"  machine    {platform.machine()} {platform.processor() or ''}  nproc {nproc()}  torch threads {torch.get_num_threads()}"
        f"  load avg before {load_before}, after {loadavg()}"
    )
    print(
        f"  versions   python {platform.python_version()}  torch {torch.__version__}  transformers {transformers.__version__}"
        f"  peft {peft.__version__}"
    )
    print(
        f"  model      tiny Qwen2 (random weights) {n_params / 1e6:.2f}M params, float32, {args.device};"
        f" setup (build model + 2 adapters) {setup_seconds:.1f} s"
    )
    print(
        f"  scenario   {args.scenario}, {args.turns} turns, {len(creatures)} creatures on hf seats, world i seed {args.seed}+i"
    )
    print(f"  generation greedy, max_new_tokens {args.max_new_tokens}, batch_size {batch_size} rows per generate")
    print(
        f"  tokenizer  {len(shared.tokenizer)} tokens, trained on the built-in corpus + {args.trace_episodes} stand-in episodes;"
        f" stand-in answers there: median {answer_tokens[len(answer_tokens) // 2]} tokens,"
        f" 90th percentile {answer_tokens[int(0.9 * len(answer_tokens))]}"
    )
    prompt_total = sum(r["prompt_tokens"] for r in batched_head["rows"])
    print(
        f"  prefix     batched W={headline}: {reused / prompt_total:.0%} of prompt tokens came from the role-card cache"
        f" ({reused:,} of {prompt_total:,})"
    )
    print()
    head = (
        f"  {'mode':<36} {'decisions':>9} {'wall s':>8} {'dec/s':>7} {'model dec/s':>11} {'act calls':>9} {'generates':>9}"
        f" {'cpu s':>7} {'dec/cpu s':>9} {'prompt tok':>10} {'new tok':>8} {'ran full':>8} {'dec/s, all rounds':>18}"
    )
    print(head)
    for r in results:
        s, d = r["stats"], describe(r, args.max_new_tokens)
        print(
            f"  {r['label']:<36} {s.decisions:>9} {s.total_seconds:>8.2f} {d['rate']:>7.2f} {d['model_rate']:>11.2f}"
            f" {s.policy_calls:>9} {r['generate_calls']:>9} {r['cpu']:>7.1f} {d['cpu_rate']:>9.2f} {d['prompt']:>10.0f} {d['mean_completion']:>8.1f}"
            f" {d['full']:>8.0%} {spread(rounds[r['label']]):>18}"
        )
    print(f"  (each mode ran {args.rounds} times, interleaved; its best round is shown and used in the figures below)")
    print("  (dec/s = decisions / wall time of run_lockstep; model dec/s = decisions / seconds inside policy.act;")
    print("   cpu s = process CPU time, all threads (time.process_time); dec/cpu s = decisions per CPU second, the")
    print("   steadier figure on a busy machine with 1 torch thread; new tok = mean completion tokens per decision;")
    print("   ran full = share of decisions that ran to max_new_tokens)")
    print()

    naive_runs = [r for r in results if r["label"].startswith("(a) naive, W=")]
    naive_rates = {r["worlds"]: describe(r, args.max_new_tokens)["rate"] for r in naive_runs}
    naive_cpu = {r["worlds"]: describe(r, args.max_new_tokens)["cpu_rate"] for r in naive_runs}
    bare_naive_rate = describe(next(r for r in results if "naive, no prefix" in r["label"]), args.max_new_tokens)[
        "rate"
    ]
    no_cache_rate = describe(no_cache_head, args.max_new_tokens)["rate"]
    head_cpu = describe(batched_head, args.max_new_tokens)["cpu_rate"]
    head_rate = describe(batched_head, args.max_new_tokens)["rate"]
    mixed_rate = describe(mixed, args.max_new_tokens)["rate"]
    s = batched_head["stats"]
    share = s.outside_model_share
    mixed_share = mixed["stats"].outside_model_share
    print("  figure                                         measured   target   verdict")
    for w, rate in naive_rates.items():
        ratio = head_rate / rate
        print(
            f"  batched(W={headline}) / naive(W={w}) decisions/s    {ratio:>7.2f}x   >= {TARGET_SPEEDUP:.0f}x    "
            f"{'meets' if ratio >= TARGET_SPEEDUP else 'MISSED'}"
        )
    for w, rate in naive_cpu.items():
        print(f"  same, per CPU second: batched / naive(W={w})    {head_cpu / rate:>7.2f}x   (info)")
    w1 = min(naive_rates)
    per = [wall_rate(h) / wall_rate(n) for h, n in zip(rounds[head_label], rounds[f"(a) naive, W={w1}"])]
    print(f"  same, round by round: batched / naive(W={w1})   {', '.join(f'{x:.2f}x' for x in per)}   (info)")
    print(f"  batched(W={headline}) / naive without prefix cache   {head_rate / bare_naive_rate:>7.2f}x   (info)")
    print(f"  prefix cache on / off, batched W={headline}          {head_rate / no_cache_rate:>7.2f}x   (info)")
    print(
        f"  batched without prefix cache / naive(W=1)      {no_cache_rate / naive_rates[min(naive_rates)]:>7.2f}x   (info)"
    )
    for w, rate in naive_rates.items():
        print(f"  mixed(W={args.mixed_worlds}) / naive(W={w}) decisions/s      {mixed_rate / rate:>7.2f}x   (info)")
    print(
        f"  mixed(W={args.mixed_worlds}) / batched(W={headline}) decisions/s    {mixed_rate / head_rate:>7.2f}x   (info: cost of mixing)"
    )
    print(
        f"  outside-model share, batched W={headline} (RolloutStats) {share:>7.2%}   <= {TARGET_OUTSIDE:.0%}     "
        f"{'meets' if share <= TARGET_OUTSIDE else 'MISSED'}"
    )
    print(
        f"  outside-model share, mixed W={args.mixed_worlds} (RolloutStats)   {mixed_share:>7.2%}   <= {TARGET_OUTSIDE:.0%}     "
        f"{'meets' if mixed_share <= TARGET_OUTSIDE else 'MISSED'}"
    )
    print()
    print_wall_breakdown(s, batched_head, breakdown, headline)
    print()
    print_adapter_differences(batched_head, mixed, names, BASE)
    errors = Counter(r["error"] for r in batched_head["rows"])
    print(f"  parse outcomes of the batched W={headline} answers: {dict(errors.most_common())}")
    print("  note: the tiny model has random weights; it rarely closes a JSON object or emits its end token,")
    print("  so generations run to max_new_tokens (see 'ran full') and its answers parse as holds.")

    if split is not None:
        print_split(split, args.max_new_tokens, batch_size, profile_text)
    print()
    structured = best[structured_label]
    figures = structured_figures(
        batched_head,
        structured,
        args.max_new_tokens,
        structured["grammar_seconds"],
        list(zip(rounds[head_label], rounds[structured_label], strict=True)),
    )
    lines = structured_lines(figures, headline, TARGET_STRUCTURED_OVERHEAD)
    print("\n".join(lines[:-1]))
    print(f"  whole script {time.perf_counter() - started:.1f} s")
    print(lines[-1].strip())  # the headline, as the last line, from its first column
    return 0


if __name__ == "__main__":
    sys.exit(main())
