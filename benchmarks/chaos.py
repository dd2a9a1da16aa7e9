"""Chaos: kill -9 real `glade generate`, `glade eval` and `glade train` runs at seeded moments,
rerun each until it finishes, and compare what it wrote with an uninterrupted run.

    python benchmarks/chaos.py            # 28 kills (10 generate, 10 eval, 8 train; 12 training steps)
    python benchmarks/chaos.py --quick    # 10 kills (4, 4, 2; 6 training steps): about a minute on idle cores

Every run is the real CLI in its own process (`python -m glade.cli ...`), killed with SIGKILL
(nothing to catch, nothing flushed) at a moment drawn from a seeded generator:
- `random`: after a random delay within the length of the uninterrupted run;
- `write`: while a shard or the progress ledger is being written (its hidden temporary
  file is on disk), the first or second such write of that run;
- `save`: while the trainer saves its next checkpoint (a checkpoint-N folder without its
  trainer_state.json, which is written last);
- `writing`: after training finished, while the checkpoint folder is being written and
  its held-out states are answered.
Every job's kills cover each of its moments equally (the remainder drawn), in the order a run
meets them (write or save, random, writing); `writing` kills come last (after one, no
checkpoint is saved, so a later `save` could not come). `--quick` leaves out the training
job's random kill.
The rerun after a kill is the same command (`glade train` adds --resume). After every kill
the folder is checked: no listed shard may be unreadable or hold rows of unlisted episodes,
and no checkpoint may be final without its meta.json ("torn"). When the job finishes, its
rows are compared with the uninterrupted run's: traces rows (latency aside), the eval's
decisions, episodes and summary metrics (timing and time stamps aside), and the training
run's SFT splits, adapter weights and metrics; and each is checked for rows counted twice.
A mismatch is one table, file or figure that differs. A run that ends before its drawn
moment comes ends a round: the job is compared, and the next round starts from an empty
folder with the kills left (at most 4 rounds). The jobs of generate/eval and of train run
side by side, and the train job's killed runs beside its uninterrupted one (up to three
processes at a time; only a random kill and the comparison wait for the uninterrupted run);
the LoRA is trained on the base glade ships (`shipped:tiny-base`).

Without `--work` the runs go to a temporary folder, removed when every job matched; when
anything failed or differed it is kept, and the last lines say where (each job's log there
marks every run of it: its round, the kill before it, its exit status).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml
from chaos_checks import compare, torn
from chaos_procs import ENV, STOP, Job, kill_at, reap, run, start, stop_all

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
    "model": {"base": "shipped:tiny-base"},
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
# --quick: each job's own moments once or twice; the training job's random kill is left to the quick
# generate and eval (each train run is a new process that imports torch, transformers and TRL).
KILLS = {"quick": {"generate": 4, "eval": 4, "train": 2}, "full": {"generate": 10, "eval": 10, "train": 8}}
QUICK_STEPS = 6  # --quick trains 6 steps instead of 12: still 3 checkpoint saves to land in
MAX_ROUNDS = 4
ORDER = ("write", "save", "random", "writing")  # the order a run meets its moments
MODES = {"generate": ("random", "write"), "eval": ("random", "write"), "train": ("random", "save", "writing")}
QUICK_MODES = {**MODES, "train": ("save", "writing")}  # the training job's random kill: see KILLS


def chaos(job: Job, work: Path, n_kills: int, rng: random.Random, modes: tuple[str, ...]) -> None:
    """Kill the job `n_kills` times at drawn moments and rerun it until it ends; compare. A run
    that ends before its drawn moment ends the round: the next round starts from an empty
    folder with the kills left (at most MAX_ROUNDS rounds), and is compared in its turn."""
    folder = work / "chaos" / job.name
    log = work / f"chaos-{job.name}.log"
    partial = folder / ".chaos-lora__0.partial" if job.name == "train" else None
    started = time.perf_counter()
    plan = kill_plan(modes, n_kills, rng)
    while plan and job.rounds < MAX_ROUNDS and not STOP.is_set():
        job.rounds += 1
        shutil.rmtree(folder, ignore_errors=True)
        first, before = True, "from an empty folder"
        while not STOP.is_set():
            resume = [] if first or job.name != "train" else ["--resume"]
            if not first:
                job.resumes += 1
                job.kept += int(kept_work(job, folder, partial))
            first = False
            job.runs += 1
            cmd = GLADE + job.argv + [f"{job.out}={folder}"] + resume
            if plan and plan[0] == "random":
                wait_reference(job)  # a random moment is drawn within the length of the uninterrupted run
            with open(log, "ab") as f:
                f.write(f"\n=== run {job.runs} (round {job.rounds}, {before}): glade {' '.join(cmd[3:])}\n".encode())
            proc = start(cmd, work, log)
            if plan:
                mode = plan[0]
                k = rng.randint(1, 2) if mode == "write" else 1  # the first or second write; the next save
                delay = rng.uniform(0.1, 0.7) * job.reference_seconds
                if kill_at(proc, mode, k, delay, [folder / w for w in job.watch], partial):
                    reap(proc, job)
                    plan.pop(0)
                    job.kills[mode] += 1
                    job.torn += torn(job, folder)
                    before = f"a rerun after a kill ({mode})"
                    with open(log, "ab") as f:
                        f.write(f"=== run {job.runs}: killed ({mode})\n".encode())
                    continue
            status = reap(proc, job)
            with open(log, "ab") as f:
                stopped = " (stopped: another job failed)" if STOP.is_set() else ""
                f.write(f"=== run {job.runs}: exit status {status}{stopped}\n".encode())
            if STOP.is_set():
                break
            if status != 0:
                job.mismatches.append(
                    f"run {job.runs} (round {job.rounds}, {before}) failed with exit status {status}:"
                    f" {last_line(log)!r} (see {log})"
                )
                job.failed = True
                plan.clear()
            break
        if job.failed or STOP.is_set():
            break  # nothing finished to compare
        wait_reference(job)
        try:
            compare(job, work)
        except Exception as exc:  # a missing or unreadable output is a finding, not a crash of the benchmark
            job.mismatches.append(f"round {job.rounds}: could not compare ({type(exc).__name__}: {exc})")
            break
    job.seconds = time.perf_counter() - started


def kill_plan(modes: tuple[str, ...], n_kills: int, rng: random.Random) -> list[str]:
    """Each mode as often as the kills allow, the remainder drawn, in the order a run meets them
    (`writing` last). So a `save` comes before a `random` kill can end the training, and none
    after `writing` (once training has finished no checkpoint is saved): the run does not end
    before its drawn moment and need a second round."""
    per, extra = divmod(n_kills, len(modes))
    return sorted([*modes] * per + rng.sample(list(modes), extra), key=ORDER.index)


def last_line(log: Path) -> str:
    """The last line a run printed that is not one of ours (its error, for a failed run)."""
    lines = [
        x
        for x in log.read_text(errors="replace", encoding="utf-8").splitlines()
        if x.strip() and not x.startswith("=== ")
    ]
    return lines[-1].strip()[:300] if lines else ""


def kept_work(job: Job, folder: Path, partial: Path | None) -> bool:
    """Whether a rerun finds finished work to keep (listed episodes, a trainer checkpoint)."""
    if job.name == "train":
        return (partial / "trained.json").exists() or any((partial / "trainer").glob("checkpoint-*"))
    progress = folder / "progress.json"
    return progress.exists() and json.loads(progress.read_text(encoding="utf-8"))["episodes"] != {}


def reference(job: Job, work: Path) -> None:
    folder = work / "ref" / job.name
    log = work / f"ref-{job.name}.log"
    if STOP.is_set():
        raise Stopped
    t0 = time.perf_counter()
    status = run(GLADE + job.argv + [f"{job.out}={folder}"], work, log, job)
    if STOP.is_set():
        raise Stopped
    if status != 0:
        raise Failed(
            f"the uninterrupted {job.name} run failed with exit status {status}: {last_line(log)!r} (see {log})"
        )
    job.reference_seconds = time.perf_counter() - t0
    job.referenced.set()


def wait_reference(job: Job) -> None:
    """Wait for the job's uninterrupted run (the train job's runs start beside it)."""
    while not job.referenced.wait(0.1):
        if STOP.is_set():
            raise Stopped


class Failed(Exception):
    """A job that cannot go on (its uninterrupted run failed): every job stops."""


class Stopped(Exception):
    """This job was stopped because another failed."""


def kill_counts(text: str) -> dict[str, int]:
    """--kills G,E,T as {job: kills}; ValueError saying what is wrong otherwise."""
    parts = text.split(",")
    if len(parts) != 3 or not all(part.strip().isdigit() for part in parts):
        raise ValueError(f"--kills {text!r}: give three counts, generate,eval,train, e.g. 2,2,1")
    return dict(zip(("generate", "eval", "train"), (int(part) for part in parts)))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"10 kills instead of 28: 4 generate (2 random, 2 write), 4 eval (2 random, 2 write), 2 train"
        f" (save, writing), and {QUICK_STEPS} training steps instead of 12; about a minute on idle cores",
    )
    p.add_argument("--seed", type=int, default=0, help="seeds every kill moment (default 0)")
    p.add_argument(
        "--kills",
        metavar="G,E,T",
        help="kills per job (generate,eval,train), e.g. 2,2,1 (default: 10,10,8; with --quick 4,4,2)",
    )
    p.add_argument(
        "--work",
        metavar="DIR",
        help="keep the runs here (default: a temporary folder, removed when everything matched, kept otherwise)",
    )
    args = p.parse_args(argv)
    counts = KILLS["quick" if args.quick else "full"]
    modes = QUICK_MODES if args.quick else MODES
    if args.kills:
        try:
            counts = kill_counts(args.kills)
        except ValueError as exc:
            p.error(str(exc))
    train = {**TRAIN, "sft": {**TRAIN["sft"], "max_steps": QUICK_STEPS}} if args.quick else TRAIN
    wall = time.perf_counter()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # as Ctrl-C: the glade runs stopped, the work kept
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="glade-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    ENV.update(HF_HOME=str(work / "hf"))
    for name, data in (("generate", GENERATE), ("eval", EVAL), ("train", train)):
        (work / f"{name}.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    jobs = {
        "generate": Job("generate", ["generate", "generate.yaml"], "out", ["data", "."]),
        "eval": Job("eval", ["eval", "eval.yaml"], "out", ["shards", "."]),
        "train": Job("train", ["train", "train.yaml"], "output_root", []),
    }
    rngs = {name: random.Random(f"{args.seed}:{name}") for name in jobs}
    failures: list[BaseException] = []

    def guarded(body) -> None:
        try:
            body()
        except Stopped:
            pass
        except BaseException as exc:  # noqa: BLE001  (KeyboardInterrupt too: stop the other job's processes)
            failures.append(exc)
            stop_all()

    def generate_and_eval() -> None:
        for name in ("generate", "eval"):
            if name == "eval" and counts[name]:
                reference(jobs[name], work)
            if counts[name]:
                chaos(jobs[name], work, counts[name], rngs[name], modes[name])

    guarded(lambda: reference(jobs["generate"], work))  # the training run's traces
    if not failures:
        (work / "ref" / "traces").symlink_to(work / "ref" / "generate")

        # The training job's kills start beside its uninterrupted run: only a random kill and the
        # comparison wait for it.
        def train_reference() -> None:
            reference(jobs["train"], work)

        def train_chaos() -> None:
            chaos(jobs["train"], work, counts["train"], rngs["train"], modes["train"])

        bodies = (train_reference, train_chaos) if counts["train"] else ()
        sides = [threading.Thread(target=guarded, args=(body,)) for body in bodies]
        for side in sides:
            side.start()
        try:
            guarded(generate_and_eval)
        finally:  # a Ctrl-C lands here in the main thread: the side jobs are stopped, then reported
            for side in sides:
                while side.is_alive():
                    try:
                        side.join()
                    except KeyboardInterrupt as exc:
                        failures.append(exc)
                        stop_all()
    if failures:
        print(f"chaos: stopped, work folder kept: {work} (logs: {work}/*.log)", file=sys.stderr)
        failure = failures[0]
        if isinstance(failure, Failed):
            raise SystemExit(f"chaos: {failure}")
        raise failure

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
    refs = ", ".join(f"{j.name} {j.reference_seconds:.0f} s" for j in jobs.values())
    steps = f" (training {train['sft']['max_steps']} steps)" if "train" in jobs else ""
    print(f"uninterrupted runs: {refs}{steps}")
    print(
        f"seed {args.seed}; {time.perf_counter() - wall:.0f} s wall in all; CPU {cpu.ru_utime + cpu.ru_stime:.0f} s in "
        f"the glade processes (up to three at a time), {own.ru_utime + own.ru_stime:.0f} s watching and comparing; "
        f"load average {load:.1f} at the end"
    )
    if args.work:
        print(f"work folder: {work}")
    elif mismatches:
        print(f"work folder kept, since something failed or differed: {work} (each job's runs: {work}/chaos-JOB.log)")
    else:
        shutil.rmtree(work, ignore_errors=True)
        print("work folder removed (everything matched; --work DIR keeps it)")
    print(f"chaos: {kills} kills, {resumes} resumes, {mismatches} mismatches")


if __name__ == "__main__":
    main()
