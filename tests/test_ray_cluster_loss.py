"""`glade eval --ray` when the cluster loses a node mid-run: Ray's own error (a raylet gone, a
seat server's node gone) is one `error:` line and exit 2, never a traceback or exit 1; a
cluster left with no CPU stops the run rather than wait for ever; a task on a node that joined
mid-run asks a live node's seat server; RAY_ADDRESS is named where it gave the address; the
dry run refuses a cluster with no CPU as the run does. The slow tests kill a real node of a
loopback cluster (tests/ray_cluster.py) under a `glade eval` of its own, then resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("ray")

import ray  # noqa: E402
from ray_cluster import NO_AUTH, _cmdline, _parents, free_port, ray_cluster  # noqa: E402
from resume_setup import eval_recipe  # noqa: E402

from glade.cli import main  # noqa: E402
from glade.env import standin  # noqa: E402
from glade.eval import distributed, ray_join  # noqa: E402
from glade.seats import Decision  # noqa: E402

RESUME = "rerun the same command to resume: the finished worlds are kept"
NO_CPUS = ray_join.no_cpus("HOST:PORT", 0).split("HOST:PORT", 1)[1]  # Ray names the head by this machine's IP


def _raises(monkeypatch, error: BaseException):
    def get(ref):
        raise error

    monkeypatch.setattr(distributed.ray, "get", get)


def _in_task(cause: BaseException) -> ray.exceptions.RayTaskError:
    """`cause` as the driver sees it when a task raised it (Ray's wrapper, also an instance of the cause's class)."""
    return ray.exceptions.RayTaskError("play_shard", "Traceback ...", cause).as_instanceof_cause()


def test_the_drivers_node_gone_is_one_line_saying_how_to_resume(monkeypatch):
    _raises(monkeypatch, ray.exceptions.LocalRayletDiedError())
    with pytest.raises(ConnectionError) as caught:
        distributed.returned("ref")
    assert str(caught.value) == (
        "this machine's Ray node stopped mid-run (LocalRayletDiedError: The task's local raylet died. Check "
        f"raylet.out for more information.); {RESUME} (with --ray once `ray status` shows its nodes)"
    )


def test_a_seat_servers_node_gone_seen_inside_a_task_is_rays_error_not_the_seats(monkeypatch):
    gone = ray.exceptions.ActorUnschedulableError("The node specified via NodeAffinitySchedulingStrategy doesn't exist")
    _raises(monkeypatch, _in_task(gone))
    with pytest.raises(ConnectionError, match=r"^a Ray node, worker or seat server went away mid-run \(ActorUnsch"):
        distributed.returned("ref")


def test_a_seats_own_error_keeps_its_handling(monkeypatch):
    _raises(monkeypatch, _in_task(ValueError("bad action")))
    with pytest.raises(ValueError, match="^bad action$"):
        distributed.returned("ref")
    # raised in a seat server, inside the task: still the seat's own error, not a lost node
    _raises(monkeypatch, _in_task(_in_task(OSError("no such model folder"))))
    with pytest.raises(OSError, match="^no such model folder$"):
        distributed.returned("ref")
    _raises(monkeypatch, _in_task(RuntimeError("seat bug")))
    with pytest.raises(ray.exceptions.RayTaskError):  # with the task's traceback, as before
        distributed.returned("ref")


def test_a_cluster_left_without_cpus_stops_the_run_instead_of_waiting(monkeypatch):
    waits, cancelled = [], []
    monkeypatch.setattr(distributed, "shipped", lambda recipe: recipe)
    monkeypatch.setattr(distributed, "uses_models", lambda recipe: False)
    monkeypatch.setattr(distributed, "cluster", lambda: {"nodes": 1, "cpus": 0, "gpus": 0})
    monkeypatch.setattr(distributed, "play_shard", SimpleNamespace(remote=lambda *args: object()))
    monkeypatch.setattr(distributed.ray, "put", lambda value: value)
    monkeypatch.setattr(distributed.ray, "get_runtime_context", lambda: SimpleNamespace(gcs_address="10.0.0.1:6379"))
    monkeypatch.setattr(distributed.ray, "wait", lambda refs, **kw: waits.append(kw) or ([], refs))
    monkeypatch.setattr(distributed.ray, "cancel", lambda ref, force: cancelled.append(ref))
    stats = distributed.RolloutStats()
    with pytest.raises(ConnectionError) as caught:
        list(distributed.play_on_ray(SimpleNamespace(policies={}), {}, [["a"], ["b"]], stats))
    assert str(caught.value) == f"{ray_join.no_cpus('10.0.0.1:6379', 0)}; {RESUME}"
    assert waits == [{"num_returns": 1, "timeout": distributed.WAIT_SECONDS}] and len(cancelled) == 2


def test_a_task_on_a_node_without_a_server_asks_a_live_nodes(monkeypatch):
    servers = {"dead": "server on dead", "live": "server on live"}
    nodes = [{"NodeID": "dead", "Alive": False}, {"NodeID": "live", "Alive": True}, {"NodeID": "new", "Alive": True}]
    monkeypatch.setattr(distributed.ray, "nodes", lambda: nodes)
    assert distributed.node_server(servers, "dead") == "server on dead"  # its own, as ever (no lookup)
    assert distributed.node_server(servers, "new") == "server on live"  # joined mid-run: never the dead node's
    nodes[1]["Alive"] = False
    with pytest.raises(ConnectionError, match=f"^every Ray node with a seat server has stopped; {RESUME}$"):
        distributed.node_server(servers, "new")


def test_ray_address_is_named_where_it_gave_the_address(monkeypatch, tmp_path, capsys):
    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("RAY_ADDRESS", address)
    said = (
        f"RAY_ADDRESS={address} (--ray gives no address): no Ray cluster answers there; start one with "
        "`ray start --head` there, or unset RAY_ADDRESS for a local one"
    )
    with pytest.raises(OSError) as caught:
        ray_join.check_address("auto")
    assert str(caught.value) == said
    assert main(["eval", str(eval_recipe(tmp_path)), "--ray", "--dry-run"]) == 2
    assert f"error: {said}" in capsys.readouterr().err
    monkeypatch.delenv("RAY_ADDRESS")
    with pytest.raises(OSError, match=rf"^--ray {address}: no Ray cluster answers there; start one with `ray start "):
        ray_join.check_address(address)  # given as --ray's own: named so


def test_quiet_turns_off_rays_messages_from_its_nodes(monkeypatch):
    worker = ray._private.worker
    monkeypatch.setattr(worker, "_worker_logs_enabled", True)  # put back after the test
    monkeypatch.setattr(ray_join, "_connect", lambda *args: "joined")
    monkeypatch.setattr(distributed.ray, "is_initialized", lambda: False)
    assert ray_join.connect("auto", quiet=False) == "joined" and worker._worker_logs_enabled
    assert ray_join.connect("auto") == "joined" and not worker._worker_logs_enabled


class _Stop(Exception):
    pass


@pytest.mark.parametrize(("verbose", "quiet"), [([], True), (["--verbose"], False)])
def test_the_cli_quiets_ray_unless_verbose(monkeypatch, tmp_path, verbose, quiet):
    seen = []

    def backend(address, say, quiet):
        seen.append((address, quiet))
        raise _Stop

    monkeypatch.setattr(distributed, "ray_backend", backend)
    with pytest.raises(_Stop):
        main(["eval", str(eval_recipe(tmp_path)), "--ray", "10.0.0.1:1", *verbose])
    assert seen == [("10.0.0.1:1", quiet)]


@dataclass(frozen=True)
class Sleeper:
    """The balanced stand-in, taking `seconds` a call: a shard lasts long enough to kill a node under it."""

    seconds: float

    @property
    def name(self) -> str:
        return "sleeper"

    def act(self, observations: list[dict]) -> list[Decision]:
        time.sleep(self.seconds)
        return [Decision(standin.act(obs, standin.disposition("balanced"))) for obs in observations]


def slow_standin(seconds: float = 0.02) -> Sleeper:
    return Sleeper(seconds)


def _recipe(tmp_path, name: str) -> Path:
    sleeper = {"kind": "python", "entry_point": "test_ray_cluster_loss:slow_standin", "kwargs": {"seconds": 0.02}}
    return eval_recipe(
        tmp_path,
        name="loss",
        out=str(tmp_path / name),
        policies={"sleeper": sleeper},
        councils={"sleepers": {"focal": {"*": "sleeper"}}},
        seeds={"start": 0, "count": 8},
        worlds=1,
    )


def _environment(tmp_path) -> dict:
    """A driver's and a node's: this test module importable (the sleeper seat), no token auth, a home of its own."""
    tests = str(Path(__file__).parent)
    kept = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return {**kept, **NO_AUTH, "HOME": str(tmp_path), "PYTHONPATH": tests}


def _descendants(pid: int) -> list[int]:
    parents, found = _parents(), {pid}
    while more := {p for p, parent in parents.items() if parent in found} - found:
        found |= more
    return sorted(found)


def _raylet(pid: int) -> int:
    """The raylet under the `ray start` process `pid`."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = [p for p in _descendants(pid) if "raylet/raylet" in _cmdline(p).split(" ")[0]]
        if found:
            return found[0]
        time.sleep(0.3)
    raise RuntimeError(f"no raylet under pid {pid}")


@contextmanager
def _worker_node(address: str, cpus: int, env: dict):
    """A second node of the cluster at `address`, on this machine; always ended."""
    command = [
        str(Path(sys.executable).with_name("ray")), "start", "--block", f"--address={address}", f"--num-cpus={cpus}",
        "--num-gpus=0", "--disable-usage-stats", "--node-ip-address=127.0.0.1",
    ]  # fmt: skip
    node = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env
    )
    try:
        _raylet(node.pid)
        time.sleep(3)  # registered with the head
        yield node.pid
    finally:
        for pid in _descendants(node.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        node.wait(timeout=30)


def _run_killing(command: list[str], env: dict, out: Path, raylet: int) -> subprocess.CompletedProcess:
    """`command` (a `glade eval --ray`), with `raylet` SIGKILLed once a shard is written."""
    driver = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and driver.poll() is None:
        progress = out / "progress.json"
        if progress.exists() and json.loads(progress.read_text()).get("episodes"):
            os.kill(raylet, signal.SIGKILL)
            break
        time.sleep(0.1)
    started = time.monotonic()
    stdout, stderr = driver.communicate(timeout=180)
    return subprocess.CompletedProcess(
        command, driver.returncode, stdout, stderr + f"\n[{time.monotonic() - started:.0f} s]"
    )


def _resumes_to_the_local_tables(tmp_path, path: Path, folder: str) -> None:
    """A rerun without --ray finishes the folder; its tables equal a local run's, byte for byte."""
    assert main(["eval", str(path)]) == 0
    local = _recipe(tmp_path, "local")
    assert main(["eval", str(local)]) == 0
    for table in ("decisions.parquet", "episodes.parquet"):
        assert (tmp_path / folder / table).read_bytes() == (tmp_path / "local" / table).read_bytes()


def _glade() -> str:
    return str(Path(sys.executable).with_name("glade"))


@pytest.mark.slow
def test_the_only_cpu_node_gone_stops_the_run_with_one_line(tmp_path):
    """Head with no CPU and one worker node: its raylet killed mid-run, the driver says so and stops (it used to
    wait at ray.wait for ever), exit 2; a rerun resumes."""
    env = _environment(tmp_path)
    path = _recipe(tmp_path, "ray")
    with ray_cluster(cpus=0, env=env) as (address, head, temp_dir), _worker_node(address, 1, env) as node:
        done = _run_killing([_glade(), "eval", str(path), "--ray", address], env, tmp_path / "ray", _raylet(node))
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "(raylet)" not in done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: the Ray cluster at "), done.stderr[-3000:]
    assert errors[0].endswith(f"{NO_CPUS}; {RESUME}")
    _resumes_to_the_local_tables(tmp_path, path, "ray")


@pytest.mark.slow
def test_the_drivers_own_node_gone_is_one_line_not_a_traceback(tmp_path):
    """One node: its raylet killed mid-run (`ray stop` on the head), exit 2 with one line; a rerun resumes."""
    env = _environment(tmp_path)
    path = _recipe(tmp_path, "ray")
    with ray_cluster(cpus=1, env=env) as (address, head, temp_dir):
        done = _run_killing([_glade(), "eval", str(path), "--ray", address], env, tmp_path / "ray", _raylet(head))
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "(raylet)" not in done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    # which of the two comes first is Ray's timing: the task's error, or the head not answering the CPU check
    said = ("error: this machine's Ray node stopped mid-run (", "error: the Ray cluster at ")
    assert len(errors) == 1 and errors[0].startswith(said) and RESUME in errors[0], done.stderr
    _resumes_to_the_local_tables(tmp_path, path, "ray")


@pytest.mark.slow
def test_a_dry_run_refuses_a_cluster_without_cpus_as_the_run_does(tmp_path, capsys):
    with ray_cluster(cpus=0) as (address, head, temp_dir):
        assert main(["eval", str(eval_recipe(tmp_path)), "--ray", address, "--dry-run"]) == 2
    captured = capsys.readouterr()
    assert "error: the Ray cluster at " in captured.err and NO_CPUS in captured.err, captured.err
    assert "the plan" not in captured.out
    assert not ray.is_initialized()  # it joined to look, and left
