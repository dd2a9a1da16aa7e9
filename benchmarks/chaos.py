"""Chaos: kill -9 real `glade generate`, `glade eval` and `glade train` runs at seeded moments,
rerun each until it finishes, and compare what it wrote with an uninterrupted run.

    python benchmarks/chaos.py            # 28 kills (10 generate, 10 eval, 8 train)
    python benchmarks/chaos.py --quick    # 20 kills (9, 8, 3)

Every run is the real CLI in its own process (`python -m glade.cli ...`), killed with SIGKILL
(nothing to catch, nothing flushed) at a moment drawn from a seeded generator:
- `random`: after a random delay within the length of the uninterrupted run;
- `write`: while a shard or the progress ledger is being written (its hidden temporary
  file is on disk), the first or second such write of that run;
- `save`: while the trainer saves its next checkpoint (a checkpoint-N folder without its
  trainer_state.json, which is written last);
- `writing`: after training finished, while the checkpoint folder is being written and
  its held-out states are answered.
The rerun after a kill is the same command (`glade train` adds --resume). After every kill
the folder is checked: no listed shard may be unreadable or hold rows of unlisted episodes,
and no checkpoint may be final without its meta.json ("torn"). When the job finishes, its
rows are compared with the uninterrupted run's: traces rows (latency aside), the eval's
decisions, episodes and summary metrics (timing and time stamps aside), and the training
run's SFT splits, adapter weights and metrics; and each is checked for rows counted twice.
A mismatch is one table, file or figure that differs. A run that ends before its drawn
moment comes ends a round: the job is compared, and the next round starts from an empty
folder with the kills left (at most 4 rounds). The jobs of generate/eval and of train run
side by side (two processes at a time).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

GLADE = [sys.executable, "-m", "glade.cli"]
GENERATE = {
    "scenarios": ["default", "gambit_override"],
    "councils": {"scenario": {}, "hoarder": {"*": "hoarder"}},
    "seeds": {"start": 0, "count": 6},
    "turns": 6,
    "worlds": 2,  # 12 parts: many shard writes to land in
}
EVAL = {
    "name": "chaos",
    "policies": {"panic": "panic_seller", "hoard": "hoarder"},
    "councils": {"all_panic": {"focal": {"*": "panic"}}, "mixed": {"focal": {"oona": "hoard", "bramble": "panic"}, "rotate": 2}},
    "scenarios": ["gambit_override", "gambit_shock"],
    "seeds": {"start": 0, "count": 4},
    "turns": 6,
    "worlds": 4,  # 8 parts
}  # fmt: skip
TRAIN = {
    "name": "chaos-lora",
    "model": {"base": "base"},
    "data": {"traces": ["ref/traces"], "eval_share": 0.2},
    "lora": {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": ["q_proj", "v_proj"]},
    "sft": {
        "max_steps": 12,
        "per_device_train_batch_size": 4,
        "per_device_eval_batch_size": 8,
        "learning_rate": 0.01,
        "warmup_steps": 0,
        "logging_steps": 1,
        "save_steps": 2,  # 6 checkpoint saves to land in
        "bf16": False,
        "use_cpu": True,
        "activation_checkpointing": False,
        "report_to": "none",
        "max_length": 1024,
    },
    "eval": {"states": 8, "max_new_tokens": 16, "batch_size": 8},
}
KILLS = {"quick": {"generate": 9, "eval": 8, "train": 3}, "full": {"generate": 10, "eval": 10, "train": 8}}
MAX_ROUNDS = 4
MODES = {"generate": ("random", "write"), "eval": ("random", "write"), "train": ("random", "save", "writing")}


@dataclass
class Job:
    name: str
    argv: list[str]  # the command, without the output override
    out: str  # the override key that points the run at a folder (out= or output_root=)
    watch: list[str]  # folders (under the run's folder) where writes are watched
    kills: Counter = field(default_factory=Counter)
    rounds: int = 0
    resumes: int = 0
    kept: int = 0  # resumes that found finished work to keep
    runs: int = 0
    torn: int = 0
    mismatches: list[str] = field(default_factory=list)
    seconds: float = 0.0
    reference_seconds: float = 0.0
    cpu: float = 0.0  # CPU seconds of this job's glade processes, its uninterrupted run included


def run(cmd: list[str], cwd: Path, log: Path, job: Job) -> int:
    with open(log, "ab") as f:
        return reap(subprocess.Popen(cmd, cwd=cwd, stdout=f, stderr=f, env=ENV), job)


def reap(proc: subprocess.Popen, job: Job) -> int:
    """Wait for `proc` and add its CPU time to the job's; its exit status (-9 when killed)."""
    _, status, usage = os.wait4(proc.pid, 0)
    job.cpu += usage.ru_utime + usage.ru_stime
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode


def hidden_tmps(folders: list[Path]) -> set[str]:
    seen = set()
    for folder in folders:
        try:
            seen |= {e.path for e in os.scandir(folder) if e.name.startswith(".") and e.name.endswith(".tmp")}
        except OSError:
            pass
    return seen


def saving(trainer: Path) -> set[str]:
    try:
        return {
            e.path
            for e in os.scandir(trainer)
            if e.name.startswith("checkpoint-") and not os.path.exists(os.path.join(e.path, "trainer_state.json"))
        }
    except OSError:
        return set()


def kill_at(proc: subprocess.Popen, mode: str, k: int, delay: float, folders: list[Path], partial: Path | None) -> bool:
    """Wait for the moment, then SIGKILL; False when the run ended first (it is not reaped)."""
    started, seen = time.monotonic(), set()
    while _alive(proc):
        if mode == "random":
            hit = time.monotonic() - started >= delay
        elif mode == "write":
            seen |= hidden_tmps(folders)
            hit = len(seen) >= k
        elif mode == "save":
            seen |= saving(partial / "trainer")
            hit = len(seen) >= k
        else:  # writing: training finished, the checkpoint is being written
            hit = (partial / "trained.json").exists()
        if hit:
            os.kill(proc.pid, signal.SIGKILL)
            return True
        time.sleep(0.002)
    return False


def _alive(proc: subprocess.Popen) -> bool:
    """Whether the process still runs, without reaping it (reap() collects its CPU time)."""
    return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None


def torn(job: Job, folder: Path) -> int:
    """Listed shards that cannot be read or hold unlisted episodes; final checkpoints without meta.json."""
    import pyarrow.parquet as pq

    if job.name == "train":
        return sum(1 for p in folder.glob("chaos-lora__*") if not (p / "meta.json").exists())
    progress = folder / "progress.json"
    if not progress.exists():
        return 0
    ledger = json.loads(progress.read_text())["episodes"]
    parts: dict[int, set] = {}
    for episode, entry in ledger.items():
        parts.setdefault(entry["part"], set()).add(episode)
    patterns = (
        ["data/part-{:05d}.parquet"]
        if job.name == "generate"
        else ["shards/decisions-{:05d}.parquet", "shards/episodes-{:05d}.parquet"]
    )
    bad = 0
    for part, episodes in parts.items():
        for pattern in patterns:
            try:
                table = pq.read_table(folder / pattern.format(part))
                if "episode_id" in table.column_names and set(table["episode_id"].to_pylist()) - episodes:
                    bad += 1
            except Exception:  # any failure to read a listed shard is what this counts
                bad += 1
    return bad


def chaos(job: Job, work: Path, n_kills: int, rng: random.Random) -> None:
    """Kill the job `n_kills` times at drawn moments and rerun it until it ends; compare. A run
    that ends before its drawn moment ends the round: the next round starts from an empty
    folder with the kills left (at most MAX_ROUNDS rounds), and is compared in its turn."""
    folder = work / "chaos" / job.name
    log = work / f"chaos-{job.name}.log"
    partial = folder / ".chaos-lora__0.partial" if job.name == "train" else None
    started = time.perf_counter()
    plan = [rng.choice(MODES[job.name]) for _ in range(n_kills)]
    while plan and job.rounds < MAX_ROUNDS:
        job.rounds += 1
        shutil.rmtree(folder, ignore_errors=True)
        first = True
        while True:
            resume = [] if first or job.name != "train" else ["--resume"]
            if not first:
                job.resumes += 1
                job.kept += int(kept_work(job, folder, partial))
            first = False
            job.runs += 1
            with open(log, "ab") as f:
                proc = subprocess.Popen(GLADE + job.argv + [f"{job.out}={folder}"] + resume, cwd=work, stdout=f, stderr=f, env=ENV)  # fmt: skip
            if plan:
                mode = plan[0]
                k = rng.randint(1, 2) if mode == "write" else 1  # the first or second write; the next save
                delay = rng.uniform(0.1, 0.7) * job.reference_seconds
                if kill_at(proc, mode, k, delay, [folder / w for w in job.watch], partial):
                    reap(proc, job)
                    plan.pop(0)
                    job.kills[mode] += 1
                    job.torn += torn(job, folder)
                    continue
            if reap(proc, job) != 0:
                job.mismatches.append(f"a rerun failed with exit status {proc.returncode} (see {log})")
                plan.clear()
            break
        compare(job, work)
    job.seconds = time.perf_counter() - started


def kept_work(job: Job, folder: Path, partial: Path | None) -> bool:
    """Whether a rerun finds finished work to keep (listed episodes, a trainer checkpoint)."""
    if job.name == "train":
        return (partial / "trained.json").exists() or any((partial / "trainer").glob("checkpoint-*"))
    progress = folder / "progress.json"
    return progress.exists() and json.loads(progress.read_text())["episodes"] != {}


def frame(path: Path, drop=()):
    import pandas as pd

    table = pd.read_parquet(path).drop(columns=[c for c in drop if c], errors="ignore")
    keys = [c for c in ("episode_id", "turn", "creature") if c in table]
    return table.sort_values(keys).reset_index(drop=True), keys


def same_rows(job: Job, name: str, a: Path, b: Path, drop=()) -> None:
    fa, keys = frame(a, drop)
    fb, _ = frame(b, drop)
    if fa.duplicated(keys).any():
        job.mismatches.append(f"{name}: rows counted twice")
    if not fa.equals(fb):
        job.mismatches.append(f"{name}: differs from the uninterrupted run ({len(fa)} vs {len(fb)} rows)")


def compare(job: Job, work: Path) -> None:
    chaos_dir, ref = work / "chaos" / job.name, work / "ref" / job.name
    if job.name == "generate":
        same_rows(job, "traces", chaos_dir / "data", ref / "data", drop=("latency_s",))
    elif job.name == "eval":
        for table in ("decisions.parquet", "episodes.parquet"):
            same_rows(job, table, chaos_dir / table, ref / table)
        a, b = (json.loads((d / "summary.json").read_text()) for d in (chaos_dir, ref))
        for key in ("decision", "outcome", "table", "faults", "worlds", "decisions"):
            if a.get(key) != b.get(key):
                job.mismatches.append(f"summary.json {key}: differs")
    else:
        found = sorted(chaos_dir.glob("chaos-lora__*"))
        [reference] = sorted(ref.glob("chaos-lora__*"))
        if len(found) != 1 or list(chaos_dir.glob(".*.partial")):
            job.mismatches.append(
                f"{len(found)} final checkpoints (and a partial left: {list(chaos_dir.glob('.*.partial'))})"
            )
        if not found:
            return
        for split in ("train", "eval"):
            same_rows(
                job,
                f"SFT {split} split",
                found[-1] / "data" / f"{split}.parquet",
                reference / "data" / f"{split}.parquet",
            )
        from safetensors.numpy import load_file

        wa, wb = (load_file(str(d / "adapter_model.safetensors")) for d in (found[-1], reference))
        differ = [k for k in wb if k not in wa or not (wa[k] == wb[k]).all()]
        if differ or set(wa) != set(wb):
            job.mismatches.append(f"adapter weights: {len(differ)} of {len(wb)} tensors differ")
        ma, mb = (json.loads((d / "meta.json").read_text()) for d in (found[-1], reference))
        for key in sorted(set(ma["metrics"]) | set(mb["metrics"])):
            if ma["metrics"].get(key) != mb["metrics"].get(key):
                job.mismatches.append(f"metric {key}: {ma['metrics'].get(key)} vs {mb['metrics'].get(key)}")
        if ma["data_fingerprint"] != mb["data_fingerprint"]:
            job.mismatches.append("data fingerprint differs")


def reference(job: Job, work: Path) -> None:
    folder = work / "ref" / job.name
    t0 = time.perf_counter()
    if run(GLADE + job.argv + [f"{job.out}={folder}"], work, work / f"ref-{job.name}.log", job) != 0:
        raise SystemExit(f"chaos: the uninterrupted {job.name} run failed (see {work / f'ref-{job.name}.log'})")
    job.reference_seconds = time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="20 kills: 9 generate, 8 eval, 3 train")
    p.add_argument("--seed", type=int, default=0, help="seeds every kill moment (default 0)")
    p.add_argument("--kills", metavar="G,E,T", help="kills per job (generate,eval,train), e.g. 2,2,1")
    p.add_argument("--work", metavar="DIR", help="keep the runs here (default: a temporary folder, removed)")
    args = p.parse_args()
    counts = KILLS["quick" if args.quick else "full"]
    if args.kills:
        counts = dict(zip(("generate", "eval", "train"), map(int, args.kills.split(","))))
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="glade-chaos-") as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        ENV.update(HF_HOME=str(work / "hf"))
        for name, data in (("generate", GENERATE), ("eval", EVAL), ("train", TRAIN)):
            (work / f"{name}.yaml").write_text(yaml.safe_dump(data))
        jobs = {
            "generate": Job("generate", ["generate", "generate.yaml"], "out", ["data", "."]),
            "eval": Job("eval", ["eval", "eval.yaml"], "out", ["shards", "."]),
            "train": Job("train", ["train", "train.yaml"], "output_root", []),
        }
        rngs = {name: random.Random(f"{args.seed}:{name}") for name in jobs}
        reference(jobs["generate"], work)  # the training run's traces
        (work / "ref" / "traces").symlink_to(work / "ref" / "generate")

        def training() -> None:
            if not counts["train"]:
                return
            run(
                [sys.executable, "-c", "from glade.train.tiny import save_tiny; save_tiny('base')"],
                work,
                work / "base.log",
                jobs["train"],
            )
            reference(jobs["train"], work)
            chaos(jobs["train"], work, counts["train"], rngs["train"])

        side = threading.Thread(target=training)
        side.start()
        for name in ("generate", "eval"):
            if name == "eval":
                reference(jobs[name], work)
            if counts[name]:
                chaos(jobs[name], work, counts[name], rngs[name])
        side.join()
    jobs = {k: j for k, j in jobs.items() if counts[k]}
    header = ["job", "kills", "random / write / save / writing", "resumes", "kept work", "rounds", "torn", "mismatches", "wall s", "CPU s"]  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for job in jobs.values():
        modes = " / ".join(str(job.kills[m]) for m in ("random", "write", "save", "writing"))
        cells = [job.name, sum(job.kills.values()), modes, job.resumes, job.kept, job.rounds, job.torn,
                 len(job.mismatches), f"{job.seconds:.0f}", f"{job.cpu:.0f}"]  # fmt: skip
        print("| " + " | ".join(map(str, cells)) + " |")
    for job in jobs.values():
        for problem in job.mismatches:
            print(f"{job.name}: {problem}")
    kills = sum(sum(j.kills.values()) for j in jobs.values())
    resumes = sum(j.resumes for j in jobs.values())
    mismatches = sum(len(j.mismatches) + j.torn for j in jobs.values())
    load = os.getloadavg()[0]
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"seed {args.seed}; {time.perf_counter() - wall:.0f} s wall in all; CPU {cpu.ru_utime + cpu.ru_stime:.0f} s in "
        f"the glade processes (two at a time), {own.ru_utime + own.ru_stime:.0f} s watching and comparing; "
        f"load average {load:.1f} at the end"
    )
    print(f"chaos: {kills} kills, {resumes} resumes, {mismatches} mismatches")


ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "OMP_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}

if __name__ == "__main__":
    main()
