"""What `glade eval --ray` costs over the local backend on one machine, and the shard size.

    .venv/bin/python benchmarks/ray_overhead.py            (about 6 minutes on 2 shared cores)
    .venv/bin/python benchmarks/ray_overhead.py --quick    (under 2 minutes: 12 worlds, W=6, so Ray plays 2 shards)

One council recipe, played side by side: a tiny base model (glade.train.tiny.save_tiny,
random weights) with a random LoRA adapter sits on every seat of one council and on Oona
beside a stand-in panic seller in another (rotated over 2 casts), against the all-stand-in
world, under two gambit scenarios. Its generations run to `max_new_tokens` (the random
model rarely closes its JSON), so every generated row asks for the same work. Since
2026-12-04 a shard's identical requests are generated once (glade.seats.base.distinct_rows):
both backends play the same shards, so a W's local and Ray runs share alike, but a smaller
shard holds fewer worlds that open alike and shares less.

Runs, on a Ray cluster this script starts for itself on this machine (`ray.init(address=
"local")`, 2 CPUs, no dashboard; the same kind of head node `ray start --head` makes):
  local W=16 (cold)        the local backend, one process, 16 worlds per lockstep batch; loads the model
  ray W=16 (cold)          the first Ray run: worker processes start, the node's seat server loads the model
then `--rounds` rounds (default 2; 1 with --quick), the modes interleaved, each mode's best
round kept (this machine is shared: a single pass swings with the neighbours' load):
  local W=16               warm: the model loaded, its prefix cache filled
  ray W=16 / 8 / 4 / 2     warm runs at each shard size (a shard = one lockstep batch = one task)
Every run writes its own results folder; the script checks that every Ray run's decisions
equal the local run's. The last line is the headline: Ray over local, both warm, W=16.

`--quick`: one gambit scenario x 3 seeds (12 worlds), 5 turns (the legend comes at turn 4),
16 new tokens, every run at W=6, so Ray plays 2 shards (2 tasks, one per CPU) and the
decisions it checks come from both; the runs: local and Ray cold, then one warm round of each.
Its last line is the same headline at W=6.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

_TMP = tempfile.mkdtemp(prefix="glade-ray-bench-")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HOME", os.path.join(_TMP, "hf-home"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from glade.console import quiet_libraries  # noqa: E402

quiet_libraries()  # before transformers is imported: one line per run, not the libraries' chatter

import pandas as pd  # noqa: E402
import yaml  # noqa: E402
from council_parts import exit_on_sigterm  # noqa: E402
from help_format import DefaultsShown  # noqa: E402


def build_model(root: Path) -> tuple[str, str]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from glade.train.tiny import save_tiny

    base = save_tiny(root / "base")
    torch.manual_seed(1)
    peft = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base),
        LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    )
    peft.save_pretrained(root / "adapter")
    return str(base), str(root / "adapter")


QUICK_W = 6  # --quick: 12 worlds in 2 shards (a Ray task each), so the Ray runs' decisions come from both
FULL_W = 16


def write_recipe(root: Path, name: str, base: str, adapter: str, quick: bool, worlds: int) -> Path:
    seat = {"kind": "hf", "model": base, "adapter": adapter, "max_new_tokens": 16 if quick else 40}
    data = {
        "name": name,
        "out": str(root / name),
        "policies": {"model": seat, "panic": "panic_seller"},
        "councils": {
            "one_model": {"focal": {"*": "model"}},
            "mixed": {"focal": {"oona": "model", "bramble": "panic"}, "rotate": 2},
        },
        "scenarios": ["gambit_override"] if quick else ["gambit_override", "gambit_rumour"],
        "seeds": {"start": 0, "count": 3 if quick else 8},
        "turns": 5 if quick else 6,  # the legend comes at turn 4, and eval refuses a run that never reaches it
        "worlds": worlds,
        "thresholds": {"resamples": 200},
    }
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def timed(path: Path, backend=None) -> tuple[float, dict]:
    from glade.eval import run as eval_run
    from glade.eval.recipe import load_eval_recipe

    recipe = load_eval_recipe(path)
    started = time.perf_counter()
    summary = eval_run.run_recipe(recipe, **({"backend": backend} if backend else {}))
    return time.perf_counter() - started, summary


def same_decisions(a: Path, b: Path) -> bool:
    keys = ["episode_id", "turn", "creature"]
    x = pd.read_parquet(a / "decisions.parquet").sort_values(keys).reset_index(drop=True)
    y = pd.read_parquet(b / "decisions.parquet").sort_values(keys).reset_index(drop=True)
    return x.equals(y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=DefaultsShown)
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"under 2 minutes: 12 worlds (1 scenario x 3 seeds), 5 turns, 16 new tokens, every run at W={QUICK_W}"
        " (Ray plays 2 shards), one warm round",
    )
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds of the warm modes (default 2)")
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 2)
    import ray
    import torch

    from glade.eval import distributed, ray_join

    torch.set_num_threads(1)
    root = Path(_TMP)
    base, adapter = build_model(root)
    head = QUICK_W if args.quick else FULL_W
    sizes = [head] if args.quick else [16, 8, 4, 2]
    rows = []

    runs = 0

    def run(label: str, size: int, backend=None) -> None:
        nonlocal runs
        runs += 1
        name = f"run{runs}"
        seconds, summary = timed(write_recipe(root, name, base, adapter, args.quick, size), backend)
        same = runs == 1 or same_decisions(root / "run1", root / name)
        rows.append((label, seconds, summary["cost"]["model_share"], same))
        print(f"  {label}: {seconds:.1f} s{'' if same else ' (decisions differ from the first run!)'}", flush=True)
        if runs == 1:
            cost = summary["cost"]
            model = sum(s["decisions"] for k, s in cost["seats"].items() if not k.startswith("standin:"))
            shards = -(-cost["episodes"] // head)
            print(
                f"recipe: {cost['episodes']} worlds, {cost['decisions']} decisions ({model} by the model);"
                f" W={head}: {shards} shard(s), a Ray task each"
            )

    run(f"local W={head} (cold)", head)
    # without token auth, as eval/ray_join.py starts its local cluster: else Ray writes ~/.ray/auth_token
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    where = ray.get_runtime_context().gcs_address
    print(ray_join.ready(where, f"a local Ray cluster this benchmark started at {where}"), flush=True)
    try:
        run(f"ray W={head} (cold)", head, distributed.play_on_ray)
        for _ in range(rounds):
            run(f"local W={head}", head)
            for size in sizes:
                run(f"ray W={size}", size, distributed.play_on_ray)
    finally:
        ray.shutdown()

    best: dict[str, tuple] = {}
    for label, seconds, share, _ in rows:
        if label not in best or seconds < best[label][0]:
            all_same = all(same for other, *_, same in rows if other == label)
            best[label] = (seconds, share, all_same)
    local = best[f"local W={head}"][0]
    print(f"\nload average {os.getloadavg()[0]:.1f} (2 cores, shared); warm modes: best of {rounds} round(s)")
    print(f"{'run':<18} {'wall s':>8} {'x local':>8} {'model share':>12}  same decisions as local")
    for label, (seconds, share, same) in best.items():
        print(f"{label:<18} {seconds:>8.1f} {seconds / local:>7.2f}x {share:>12.0%}  {'yes' if same else 'NO'}")
    warm = best[f"ray W={head}"][0]
    print(f"headline: Ray over local, both warm, W={head}: {warm / local:.2f}x ({warm:.1f} s vs {local:.1f} s)")


if __name__ == "__main__":
    exit_on_sigterm()  # so the finally below runs
    try:
        main()
    finally:
        shutil.rmtree(_TMP, ignore_errors=True)
