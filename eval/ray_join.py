"""Joining the Ray cluster `glade eval --ray` plays on (glade.eval.distributed): --ray's address
checked at once, token authentication as `ray start` set it up, a local cluster started where
none answers, each call that Ray would retry for minutes given up in time, and a cluster with
no CPU for a shard refused in one line; `cluster` says what was joined (summary.json's cost).

Every ray.init runs in a helper thread: from the main thread Ray takes SIGTERM over (sys.exit, no word, and a local
cluster's agents left running); glade's CLI turns SIGTERM into the interrupt line itself."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil
import ray
from ray._common.utils import get_default_system_temp_dir
from ray._private import ray_constants

NAMESPACE = "glade"
JOIN_SECONDS = 30  # joining takes a few seconds; ray.init retries a non-Ray listener for minutes
TOKEN_FILE = Path(".ray") / "auth_token"  # under the home folder: Ray's default token
AGENT_SECONDS = 5  # a stopped local cluster's agents exit in well under a second


def connect(address: str = "auto", quiet: bool = True, start_local: bool = True) -> str | None:
    """Join the Ray cluster at `address` ("auto": this machine's; with none, start a local one without token auth, so
    that it leaves no ~/.ray/auth_token, or return None where not `start_local`). Returns one line saying which; OSError
    when it cannot be joined within JOIN_SECONDS or has no CPU for a shard. `quiet`: no messages from Ray's nodes."""
    if ray.is_initialized():
        return ready(ray.get_runtime_context().gcs_address, "an already connected Ray cluster")
    target, named = address_of(address)
    check_address(address)
    if quiet:  # log_to_driver=False still prints the nodes' own messages ("(raylet) ...", on stdout): Ray's switch
        ray._private.worker._worker_logs_enabled = False
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        return _connect(address, target, named, start_local)
    except KeyboardInterrupt:  # not the resume hint: nothing has played
        raise KeyboardInterrupt(f"while joining Ray ({named}), before anything played") from None
    finally:  # Ray's core worker puts its crash reporter over SIGTERM; glade's CLI turns it into the resume line
        if sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, sigterm)


def address_of(address: str) -> tuple[str, str]:
    """(the address Ray joins, how messages name it): --ray's, or RAY_ADDRESS's for "auto" (as Ray reads it)."""
    if address == "auto" and os.environ.get("RAY_ADDRESS"):
        return os.environ["RAY_ADDRESS"], f"RAY_ADDRESS={os.environ['RAY_ADDRESS']} (--ray gives no address)"
    return address, f"--ray {address}"


def _connect(address: str, target: str, named: str, start_local: bool) -> str | None:
    options = dict(namespace=NAMESPACE, logging_level="ERROR", log_to_driver=False)
    if target != "auto" and joins_with_token(os.environ, Path.home()):
        _token_mode()
    try:
        _join(address, JOIN_SECONDS, **options)
    except (ConnectionError, RuntimeError, TimeoutError) as exc:
        if target != "auto" or isinstance(exc, TimeoutError):
            raise OSError(
                f"{named}: could not join a Ray cluster there ({str(exc).splitlines()[0]}); check that it is "
                "a Ray head's address (`ray status --address` on it), and if the cluster uses token authentication, "
                "that this machine has its token (~/.ray/auth_token or RAY_AUTH_TOKEN; `ray get-auth-token` on the head)"
            ) from None
        if not start_local:
            return None
        with _auth_unset_as("disabled"):  # else Ray 2.60 writes ~/.ray/auth_token, and `ray start` then asks for it
            _start_local(options)
        where = ray.get_runtime_context().gcs_address
        return ready(where, f"no Ray cluster found (--ray auto); started a local one on this machine at {where}")
    where = ray.get_runtime_context().gcs_address
    return ready(where, f"Ray cluster at {where}")


def joins_with_token(env: Mapping[str, str], home: Path) -> bool:
    """Whether to join an explicit address with token authentication: RAY_AUTH_MODE unset and a token at hand
    (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token). ray.init("auto") decides so itself, and `ray start
    --head` turns token auth on whenever that file exists, but Ray 2.60 never does for an explicit address: `--ray
    HEAD:6379` would fail where plain `--ray` joins."""
    if "RAY_AUTH_MODE" in env:
        return False
    return bool(env.get("RAY_AUTH_TOKEN") or env.get("RAY_AUTH_TOKEN_PATH")) or (home / TOKEN_FILE).is_file()


def _token_mode() -> None:
    # what ray.init("auto") does (RAY_AUTH_MODE=token, and Ray's config, read at import, read again)
    from ray._private.authentication.authentication_token_setup import _enable_token_auth

    _enable_token_auth()


@contextmanager
def _auth_unset_as(mode: str):
    """RAY_AUTH_MODE=`mode` while the block runs, where the user set none."""
    mine = "RAY_AUTH_MODE" not in os.environ
    os.environ.setdefault("RAY_AUTH_MODE", mode)
    try:
        yield
    finally:
        if mine:
            os.environ.pop("RAY_AUTH_MODE", None)


def _join(address: str, seconds: float, **options) -> None:
    within(seconds, lambda: ray.init(address=address, **options), f"no answer as a Ray head within {seconds:g} s")


def _start_local(options: dict) -> None:
    """A local cluster, its session folder in a temp folder of glade's that goes when the cluster does (Ray's own,
    /tmp/ray/session_*, stays for ever; the path stays short: Ray's sockets live under it). Interrupted while it
    starts, it is let finish and then stopped: a half-started cluster leaves its agents running."""
    temp = tempfile.mkdtemp(prefix="glade-ray-", dir=get_default_system_temp_dir())
    started, stopped = threading.Event(), threading.Event()
    atexit.register(_stop_local, temp, stopped)
    outcome: dict = {}

    def start() -> None:  # lives on till the cluster stops: Linux ends Ray's processes with the thread that made them
        try:
            ray.init(address="local", include_dashboard=False, _temp_dir=temp, **options)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            outcome["error"] = exc
        started.set()
        stopped.wait()

    threading.Thread(target=start, name="glade-ray-local", daemon=True).start()
    try:
        started.wait()
    except KeyboardInterrupt:
        started.wait(JOIN_SECONDS)
        _stop_local(temp, stopped)
        raise
    if "error" in outcome:
        _stop_local(temp, stopped)
        raise outcome["error"]


def _stop_local(temp: str, stopped: threading.Event) -> None:
    """Stop the local cluster, let the raylet's agents and workers go (they read its log as it stops: a log gone, or
    one stopped mid-start, and they try to tell the dead head for a minute), then remove its folder."""
    node = ray._private.worker._global_node
    raylets = node.all_processes.get(ray_constants.PROCESS_TYPE_RAYLET, []) if node is not None else []
    children = []
    for raylet in raylets:
        with suppress(psutil.Error):  # gone already
            children += psutil.Process(raylet.process.pid).children(recursive=True)
    ray.shutdown()
    _, left = psutil.wait_procs(children, timeout=AGENT_SECONDS)
    for child in left:
        with suppress(psutil.Error):
            child.kill()
    shutil.rmtree(temp, ignore_errors=True)
    stopped.set()


def within(seconds: float, call: Callable, late: str):
    """call(), given up after `seconds` with TimeoutError(late), in a thread that the process ends: Ray takes no timeout
    to join (it retries a non-Ray listener for minutes) nor to ask a head that has gone (60 s, then it ends us)."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="glade-ray-call", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise TimeoutError(late)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def ready(where: str, what: str) -> str:
    """`describe`'s line for the cluster just joined; OSError when it has no CPU for a task (each shard asks for one:
    the run would wait at 0 turns, and Ray's warning is not shown)."""
    line = describe(what)
    if refusal := no_cpus(where, cluster()["cpus"]):
        raise OSError(refusal)
    return line


def no_cpus(where: str, cpus: float) -> str | None:
    """The one-line refusal of a cluster whose alive nodes have no CPU; None when they have some."""
    if cpus > 0:
        return None
    return (
        f"the Ray cluster at {where} has no CPUs for tasks (each shard needs 1): add a worker node with CPUs, "
        "or start the head with --num-cpus N"
    )


def check_address(address: str) -> None:
    """OSError at once when nothing listens at a HOST:PORT address (--ray's, or RAY_ADDRESS for "auto"; ray.init would
    retry for minutes); "auto", "local" and ray:// addresses are left to Ray."""
    target, named = address_of(address)
    if target in ("auto", "local") or "://" in target:
        return
    host, _, port = target.rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=3).close()
    except (OSError, ValueError):
        how = "there, or unset RAY_ADDRESS" if target != address else "and give its HOST:PORT, or leave it out"
        raise OSError(
            f"{named}: no Ray cluster answers there; start one with `ray start --head` {how} for a local one"
        ) from None


def cluster() -> dict:
    """The connected cluster's alive nodes, CPUs and GPUs (summary.json's cost.cluster)."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    cpus = sum(n["Resources"].get("CPU", 0) for n in nodes)
    gpus = sum(n["Resources"].get("GPU", 0) for n in nodes)
    return {"nodes": len(nodes), "cpus": cpus, "gpus": gpus}


def describe(what: str) -> str:
    c = cluster()
    return f"{what}: {c['nodes']} node(s), {c['cpus']:g} CPU(s), {c['gpus']:g} GPU(s)"
