"""The processes of benchmarks/chaos.py: each glade run in its own process (the real CLI),
its CPU time counted, and killed with SIGKILL at a drawn moment (a delay, a write of a shard or
the ledger, a trainer checkpoint save, the checkpoint's writing)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "OMP_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


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
    referenced: threading.Event = field(default_factory=threading.Event)  # its uninterrupted run is done
    cpu: float = 0.0  # CPU seconds of this job's glade processes, its uninterrupted run included
    failed: bool = False  # a run exited with an error (not a kill): its log says why


STOP = threading.Event()  # set when a job cannot go on (its uninterrupted run failed): every job stops
LIVE: set[subprocess.Popen] = set()  # the glade processes running now
CPU_LOCK = threading.Lock()


def start(cmd: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    with open(log, "ab") as f:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=f, stderr=f, env=ENV)
    with CPU_LOCK:
        LIVE.add(proc)
    return proc


def stop_all() -> None:
    """Stop every job: no new run starts, the running ones are killed."""
    STOP.set()
    for proc in list(LIVE):
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def run(cmd: list[str], cwd: Path, log: Path, job: Job) -> int:
    return reap(start(cmd, cwd, log), job)


def reap(proc: subprocess.Popen, job: Job) -> int:
    """Wait for `proc` and add its CPU time to the job's; its exit status (-9 when killed)."""
    _, status, usage = os.wait4(proc.pid, 0)
    with CPU_LOCK:  # the train job's runs are reaped in two threads
        LIVE.discard(proc)
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
