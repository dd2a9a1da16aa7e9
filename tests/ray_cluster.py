"""A real one-node Ray cluster on loopback for the tests, and nothing left behind.

`ray start --head` runs in the foreground (`--block`) in a session of its own, with its own
short temp dir and a free port, the dashboard off and 2 CPUs. Stopping it never calls
`ray stop` (which stops every Ray on the machine, other people's too): it ends, by pid, the
`ray start` process, every process whose command line names this cluster's temp dir (GCS,
raylet, monitors) and all their descendants (the workers): SIGTERM, then SIGKILL after 3 s;
then it removes the temp dir.

Token authentication is off on both sides (`RAY_AUTH_MODE=disabled`, a loopback cluster that
lives for one test module): Ray 2.60 turns it on for `ray start` whenever ~/.ray/auth_token
exists (any local `ray.init()` writes one), but never for a driver given an explicit
address, so without this the tests would pass or fail with the state of the home folder.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

NO_AUTH = {"RAY_AUTH_MODE": "disabled"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                out[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return out


def cluster_pids(head: int, temp_dir: str) -> list[int]:
    """This cluster's processes: `head` (ray start), every process whose command line names
    `temp_dir` (GCS, raylet, monitors), and all their descendants (the workers, whose
    command line Ray rewrites to a title such as ray::IDLE)."""
    parents = _parents()
    found = {head} | {pid for pid in parents if pid != os.getpid() and temp_dir in _cmdline(pid)}
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        found |= more
        grew = bool(more)
    return sorted(pid for pid in found if pid in parents)


def worker_pids(head: int, temp_dir: str, title: str) -> list[int]:
    """This cluster's worker processes whose title starts with `title` (Ray names a busy
    worker `ray::TASK`, e.g. ray::play_shard)."""
    return [pid for pid in cluster_pids(head, temp_dir) if _cmdline(pid).startswith(title)]


@contextmanager
def ray_cluster(cpus: int = 2, env: dict | None = None):
    """Yields (address, head pid, temp_dir) of a fresh head node; always stops what it started."""
    temp_dir = tempfile.mkdtemp(prefix="gray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    port = free_port()
    ray = str(Path(sys.executable).with_name("ray"))
    command = [
        ray, "start", "--head", "--block", f"--port={port}", f"--num-cpus={cpus}", "--num-gpus=0",
        "--include-dashboard=false", "--disable-usage-stats", "--node-ip-address=127.0.0.1",
        f"--temp-dir={temp_dir}",
    ]  # fmt: skip
    log = open(Path(temp_dir) / "start.log", "w")
    head = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, **NO_AUTH, **(env or {})},
    )
    address = f"127.0.0.1:{port}"
    driver_auth = os.environ.get("RAY_AUTH_MODE")
    os.environ.update(NO_AUTH)  # this process connects as the driver
    try:
        _wait_for(address, head, temp_dir)
        yield address, head.pid, temp_dir
    finally:
        _stop(head, temp_dir)
        log.close()
        if driver_auth is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = driver_auth
        shutil.rmtree(temp_dir, ignore_errors=True)


def _wait_for(address: str, head: subprocess.Popen, temp_dir: str, timeout: float = 120) -> None:
    host, port = address.split(":")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if head.poll() is not None:
            raise RuntimeError(f"ray start exited: {(Path(temp_dir) / 'start.log').read_text()[-2000:]}")
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                pass
            if list(Path(temp_dir).glob("session_*/sockets/raylet*")):
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"no Ray head at {address} after {timeout} s")


def _stop(head: subprocess.Popen, temp_dir: str) -> None:
    pids = cluster_pids(head.pid, temp_dir)
    for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 5)):  # ray start --block takes ~10 s to exit on SIGTERM
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            head.poll()
            pids = [pid for pid in pids if _alive(pid)]
            if not pids:
                return
            time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
