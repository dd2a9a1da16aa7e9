"""Levers for the tiny base: train it as `glade train recipes/train/tiny-base.yaml` does, with
one lever changed, and answer held-out states greedily through the checkpoint seat every
`--every` steps (glade.train.evaluate, the same figures meta.json gets), printing the curve.

    python benchmarks/base_levers.py --lever shipped --steps 2000 --every 250
    python benchmarks/base_levers.py --lever answer_only_loss --steps 2000 --every 250
    python benchmarks/base_levers.py --quick          # < 2 minutes: the plumbing, 30 steps

Levers (each is the shipped recipe with one thing changed):
- shipped: the recipe as it is (loss on every token, the prompt's included);
- answer_only_loss: loss on the answer only (TRL's default for prompt/completion data);
- wider: hidden 192, 6 layers (3.6M parameters instead of 1.15M);
- goods_order: the answer's orders sorted by good (the stand-in writes buys, then sells).

Needs the base traces and the held-out traces:
    glade generate recipes/generate/base.yaml && glade generate recipes/generate/heldout.yaml
(`--quick` makes small ones of its own: the same recipes with fewer seeds, in its scratch folder.)
Set OMP_NUM_THREADS=1 on a shared 2-core machine (two threads were 4x slower there).
The last line is the headline: the final step's valid-action rate, self-buy rate and
direction agreement with the balanced stand-in.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from council_parts import cpu_name, exit_on_sigterm, loadavg, versions
from help_format import DefaultsShown

ROOT = Path(__file__).resolve().parent.parent
LEVERS = {
    "shipped": [],
    "answer_only_loss": ["sft.completion_only_loss=true"],
    "wider": ["model.tiny={hidden_size: 192, layers: 6, heads: 4, kv_heads: 2, vocab_size: 3000}"],
    "goods_order": [],
}


def goods_order(row: dict) -> dict:
    """The answer's orders sorted by the creature's goods order (same action, other wording)."""
    goods = list(json.loads(row["observation"])["inventory"])
    messages = [dict(m) for m in row["messages"]]
    action = json.loads(messages[-1]["content"])
    action["orders"].sort(key=lambda o: goods.index(o["good"]))
    messages[-1]["content"] = json.dumps(action)
    return {"messages": messages}


def quick_traces(work: Path) -> list[str]:
    """--quick's own traces: the base and held-out generate recipes with one seed each, written
    under `work`; returns the train recipe overrides that point at them."""
    from glade.traces import generate, load_generate_recipe

    folders = {}
    for name in ("base", "heldout"):
        out = work / "traces" / name
        recipe = load_generate_recipe(ROOT / "recipes" / "generate" / f"{name}.yaml", [f"out={out}", "seeds.count=1"])
        generate(recipe)
        folders[name] = out
    return [f"data.traces=[{folders['base']}]", f"eval.traces=[{folders['heldout']}]"]


def due(step: int, every: int, last: int) -> bool:
    """Evaluate at every `every`-th step and at the last one, so the headline is the final step's."""
    return step % every == 0 or step == last


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=DefaultsShown)
    p.add_argument("--lever", choices=list(LEVERS), default="shipped", help="the one change to the shipped recipe")
    p.add_argument("--steps", type=int, default=2000, help="training steps")
    p.add_argument("--every", type=int, default=250, help="evaluate every N steps")
    p.add_argument("--states", type=int, default=48, help="held-out states per evaluation")
    p.add_argument("--quick", action="store_true", help="30 steps, 8 states: the plumbing in under 2 minutes")
    p.add_argument(
        "--work", default=None, help="keep the traces and checkpoints here (default: a temp folder, removed after)"
    )
    p.add_argument("--verbose", action="store_true", help="let the libraries' own progress bars and logs through")
    a = p.parse_args(argv)
    if min(a.steps, a.every, a.states) < 1:
        p.error("--steps, --every and --states must be at least 1")
    from glade.console import quiet_libraries

    quiet_libraries(a.verbose)  # before datasets and transformers are imported: one line per step, no bars
    quick = ["data.max_rows=240"] if a.quick else []
    if a.quick:
        a.steps, a.every, a.states = 30, 30, 8
    work = Path(a.work or tempfile.mkdtemp(prefix="base-levers-"))
    exit_on_sigterm()  # so the finally below runs
    try:
        run(a, work, quick)
    finally:  # a scratch folder of our own goes however the run ends; --work is the user's to keep
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)


def run(a: argparse.Namespace, work: Path, quick: list[str]) -> None:
    if a.quick:
        quick += quick_traces(work)

    import torch
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback

    from glade.train import sft
    from glade.train.data import prepare
    from glade.train.evaluate import evaluate_checkpoint
    from glade.train.recipe import EvalSpec, load_train_recipe

    torch.set_num_threads(1)
    print(f"{time.strftime('%Y-%m-%d')}  {versions()}  cpu {cpu_name()}  torch threads 1  load {loadavg()}", flush=True)
    recipe = load_train_recipe(
        ROOT / "recipes" / "train" / "tiny-base.yaml",
        [f"sft.max_steps={a.steps}", 'sft.save_strategy="no"', "data.eval_share=0.02", *quick, *LEVERS[a.lever]],
    )
    spec = EvalSpec(traces=recipe.eval.traces, states=a.states, probe_states=0, max_new_tokens=160)
    try:
        train_rows, eval_rows, counts = prepare(recipe.data)
    except FileNotFoundError as exc:
        raise SystemExit(f"base_levers: {exc}; make them first (see --help), or run with --quick") from None
    if a.lever == "goods_order":
        train_rows, eval_rows = train_rows.map(goods_order), eval_rows.map(goods_order)
    print(f"lever {a.lever}: {counts['train']} training conversations, {a.steps} steps", flush=True)
    sft.build_tiny(recipe, train_rows, work / "init")
    trainer = sft.build_trainer(recipe, str(work / "init"), train_rows, eval_rows.select(range(0)), str(work / "t"))
    if not a.verbose:  # the curve below is this script's output; the Trainer's log dicts would interleave with it
        trainer.remove_callback(PrinterCallback)
    started = time.perf_counter()
    curve = []

    def evaluate(model, step: int) -> None:
        folder = work / f"step{step}"
        model.save_pretrained(folder)
        trainer.processing_class.save_pretrained(folder)
        model.eval()
        m = evaluate_checkpoint(folder, None, spec, recipe.data)
        model.train()
        curve.append((step, m))
        print(
            f"step {step:5d}  {time.perf_counter() - started:6.0f} s  valid_action {m['valid_action_rate']:.3f}  "
            f"self_buy {m['self_buy_rate']:.3f}  direction_agreement {m['direction_agreement']:.3f}",
            flush=True,
        )
        shutil.rmtree(folder, ignore_errors=True)

    class Every(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            if due(state.global_step, a.every, state.max_steps):
                evaluate(model, state.global_step)

    trainer.add_callback(Every())
    trainer.train()
    step, m = curve[-1]
    print(
        f"{a.lever} at step {step} ({m['heldout_states']} held-out states, seeds {', '.join(map(str, m['heldout_seeds']))}): "
        f"valid_action {m['valid_action_rate']:.3f}, self_buy {m['self_buy_rate']:.3f}, "
        f"direction_agreement {m['direction_agreement']:.3f}"
    )


if __name__ == "__main__":
    main()
