"""Training tokens/s of the shipped tiny recipe against TRL's defaults, on the same data.

Builds stand-in traces and a tiny model in a temp folder, then trains the same model copy
for the same number of steps under each configuration, side by side in one run:

    shipped      recipes/train/tiny-base.yaml's SFT settings (fp32, no activation checkpointing)
    TRL defaults SFTConfig() as it comes (only use_cpu set, which this machine needs)
    packing      the shipped settings with packing=True
    padding-free the shipped settings with padding_free=True (max_length None)

Run:  .venv/bin/python benchmarks/train_throughput.py [--steps 12]
      .venv/bin/python benchmarks/train_throughput.py --quick   (shipped vs TRL defaults, 4 steps, < 2 min)
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from council_parts import cpu_name, exit_on_sigterm
from help_format import DefaultsShown

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=DefaultsShown)
    parser.add_argument("--steps", type=int, default=12, help="training steps per configuration")
    parser.add_argument("--quick", action="store_true", help="shipped vs TRL defaults only, 4 steps; headline last")
    parser.add_argument("--verbose", action="store_true", help="let the libraries' own progress bars and logs through")
    args = parser.parse_args(argv)
    from glade.console import quiet_libraries

    quiet_libraries(args.verbose)  # before datasets and transformers are imported: the table only, no bars
    if args.quick:
        args.steps = 4
    if args.steps < 1:
        parser.error(f"--steps {args.steps}: give at least 1 training step")
    # the traces, model and trainer folders are scratch: removed however the run ends
    with tempfile.TemporaryDirectory(prefix="glade-train-bench-") as tmp:
        return measure(args, Path(tmp))


def measure(args: argparse.Namespace, work: Path) -> int:
    import torch
    import transformers
    import trl
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    from glade.config import load_recipe
    from glade.traces import GenerateRecipe, generate
    from glade.train.data import DataConfig, prepare
    from glade.train.recipe import load_train_recipe
    from glade.train.sft import to_prompt_completion
    from glade.train.tiny import build_model, build_tokenizer, default_corpus

    os.environ.setdefault("HF_HOME", str(work / "hf"))
    recipe = load_recipe(
        GenerateRecipe, ROOT / "recipes" / "generate" / "standin.yaml", [f"out={work / 'traces'}", "seeds.count=1"]
    )
    generate(recipe)
    rows, _, _ = prepare(DataConfig(traces=(str(work / "traces"),), eval_share=0.0))
    texts = [m["content"] for messages in rows["messages"][:400] for m in messages]
    tokenizer = build_tokenizer(list(default_corpus()) + texts)
    build_model(tokenizer).save_pretrained(work / "model")
    tokenizer.save_pretrained(work / "model")
    data = rows.map(to_prompt_completion).select_columns(["prompt", "completion"])
    shipped = dict(load_train_recipe(ROOT / "recipes" / "train" / "tiny-base.yaml").sft)
    for key in ("max_steps", "save_strategy", "save_steps", "logging_steps", "warmup_steps", "report_to"):
        shipped.pop(key, None)

    configs = {
        "shipped": shipped,
        "TRL defaults": {"use_cpu": True},
        "packing": {**shipped, "packing": True},
        "padding-free": {**shipped, "padding_free": True, "max_length": None},
    }
    if args.quick:
        configs = {name: configs[name] for name in ("shipped", "TRL defaults")}
    print(f"command   {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(
        f"machine   {platform.machine()}  nproc {os.cpu_count()}  torch threads {torch.get_num_threads()}  load {os.getloadavg()[0]:.2f}"
    )
    # TRL's defaults train in bf16 (SFTConfig.bf16 is True): native on some CPUs, emulated on AVX2-only ones,
    # where the defaults run several times slower and the ratio below turns with it
    print(f"cpu       {cpu_name()}  torch's kernels {torch.backends.cpu.get_cpu_capability()}")
    print(f"versions  torch {torch.__version__}  transformers {transformers.__version__}  trl {trl.__version__}")
    print(f"data      {len(data)} conversations of stand-in traces; {args.steps} steps per configuration\n")
    results = {}
    for name, overrides in configs.items():
        model = AutoModelForCausalLM.from_pretrained(work / "model", dtype=torch.float32)
        cfg = SFTConfig(
            output_dir=str(work / "out" / name),
            max_steps=args.steps,
            save_strategy="no",
            report_to="none",
            logging_steps=1,
            disable_tqdm=True,
            seed=0,
            **overrides,
        )
        trainer = SFTTrainer(
            model=model, args=cfg, train_dataset=data, processing_class=AutoTokenizer.from_pretrained(work / "model")
        )
        trainer.remove_callback(PrinterCallback)  # its log dicts would interleave with this table on stdout
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
        tokens = max(h.get("num_tokens", 0) for h in trainer.state.log_history)
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        results[name] = tokens / seconds
        print(
            f"{name:<13} batch {cfg.per_device_train_batch_size:>2}  bf16 {str(cfg.bf16):<5}  checkpointing "
            f"{str(cfg.gradient_checkpointing):<5}  {tokens:>8.0f} tokens in {seconds:6.1f} s  "
            f"{tokens / seconds:8.0f} tokens/s  loss {losses[0]:.2f} -> {losses[-1]:.2f}"
        )
    base = results["TRL defaults"]
    print()
    for name, rate in results.items():
        print(f"{name:<13} {rate / base:5.2f}x TRL defaults")
    print(
        f"train throughput: shipped tiny recipe {results['shipped']:,.0f} tokens/s, {results['shipped'] / base:.2f}x TRL defaults"
    )
    return 0


if __name__ == "__main__":
    # SIGTERM as an exit, so the scratch folder's `with` removes it (the default action would not)
    exit_on_sigterm()
    sys.exit(main())
