"""Leaks and clean-up: the hf model cache, the local Ray cluster's signals,
temp folder, an interrupt during imports, a killed report's temp figures."""

from __future__ import annotations

import gc
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

import pytest
import torch

from glade.seats import hf
from glade.train.tiny import save_tiny


def _weights(shared: hf.SharedModel) -> torch.Tensor:
    return next(shared.model.parameters()).detach().clone()


def test_a_relative_model_folder_is_the_one_in_the_folder_glade_runs_in(tmp_path, monkeypatch):
    save_tiny(tmp_path / "A" / "m", seed=0)
    save_tiny(tmp_path / "B" / "m", seed=1)
    monkeypatch.chdir(tmp_path / "A")
    first = hf.shared_model("m")
    monkeypatch.chdir(tmp_path / "B")
    second = hf.shared_model("m")
    assert second is not first
    assert not torch.equal(_weights(second), _weights(first))
    assert torch.equal(_weights(second), _weights(hf.SharedModel(str(tmp_path / "B" / "m"))))
    assert hf.shared_model("m") is second  # still loaded once


def test_a_model_folder_rewritten_in_place_is_loaded_again(tmp_path):
    folder = str(save_tiny(tmp_path / "m", seed=0))
    first = hf.shared_model(folder)
    save_tiny(folder, seed=1)
    second = hf.shared_model(folder)
    assert second is not first
    assert torch.equal(_weights(second), _weights(hf.SharedModel(folder)))


def test_the_model_cache_lets_go_of_models_no_seat_holds(tmp_path):
    folders = [str(save_tiny(tmp_path / f"m{i}", seed=i)) for i in range(hf.MODELS_KEPT + 2)]
    gone = []
    for folder in folders:
        shared = hf.shared_model(folder)
        assert hf.shared_model(folder) is shared  # one load while it is in use
        gone.append(weakref.ref(shared))
        del shared
    gc.collect()
    assert len(hf._MODELS) <= hf.MODELS_KEPT
    assert gone[0]() is None  # its weights freed


LOCAL = """
import sys
from glade.cli.endings import stop_on_sigterm
from glade.eval import ray_join
got = []
stop_on_sigterm(got)
print("joining", flush=True)
try:
    print(ray_join.connect("auto"), flush=True)
except KeyboardInterrupt as exc:
    print(f"interrupted: {exc}", flush=True)
    sys.exit(128 + got[-1])
"""


def _left_in(root: str) -> list[str]:
    """Command lines of live processes that name `root` (a local cluster's GCS, raylet, agents)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["status"] != psutil.STATUS_ZOMBIE and root in " ".join(proc.info["cmdline"] or []):
            found.append(" ".join(proc.info["cmdline"])[:120])
    return found


def _local_cluster(sigterm_after: float | None) -> tuple[subprocess.CompletedProcess | subprocess.Popen, str, str]:
    """Run LOCAL with Ray's temp root in a fresh short folder (a local cluster, whatever else runs here);
    SIGTERM it `sigterm_after` seconds after it starts to join. (process, its stdout, the temp root)."""
    root = tempfile.mkdtemp(prefix="g6", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    home = Path(root) / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_MODE", "RAY_ADDRESS")}
    env |= {"HOME": str(home), "RAY_TMPDIR": root}
    proc = subprocess.Popen([sys.executable, "-c", LOCAL], env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "joining\n"
    if sigterm_after is not None:
        time.sleep(sigterm_after)
        proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=180)
    return proc, out, root


@pytest.mark.slow
def test_a_sigterm_while_a_local_cluster_starts_stops_it_and_says_so():
    pytest.importorskip("ray")
    proc, out, root = _local_cluster(sigterm_after=1.0)
    try:
        assert proc.returncode == 143, out  # glade's line, not Ray's sys.exit(15)
        assert out.startswith("interrupted: ")
        time.sleep(1)
        assert _left_in(root) == []  # no DashboardAgent or RuntimeEnvAgent left running
        assert sorted(p.name for p in Path(root).iterdir()) == ["home"]
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_a_local_cluster_leaves_no_session_folder():
    pytest.importorskip("ray")
    proc, out, root = _local_cluster(sigterm_after=None)
    try:
        assert proc.returncode == 0 and "started a local one" in out, out
        assert sorted(p.name for p in Path(root).iterdir()) == ["home"]  # no ray/session_* nor glade-ray-*
        assert _left_in(root) == []
    finally:
        shutil.rmtree(root, ignore_errors=True)


INTERRUPTED_EARLY = """
import runpy, sys
import glade.cli

def build_parser(verb):  # a Ctrl-C while the verb's module imports, before the verb runs
    raise KeyboardInterrupt

glade.cli.build_parser = build_parser
sys.argv = ["glade", "simulate", "--help"]
runpy.run_module("glade.cli", run_name="__main__")
"""


def test_a_ctrl_c_before_the_verb_runs_is_one_line_not_a_traceback():
    done = subprocess.run([sys.executable, "-c", INTERRUPTED_EARLY], capture_output=True, text=True)
    assert done.returncode == 130
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == "error: interrupted"


def test_a_killed_reports_temporary_figure_goes_with_the_next_report(tmp_path):
    from glade.eval.report.render import remove_old_figures

    dead = subprocess.Popen([sys.executable, "-c", "pass"])  # a writer that has ended
    dead.wait()
    left = tmp_path / f".prices-honey.png.{dead.pid}-0123abcd.tmp"  # a kill cut its write short
    live = tmp_path / f".prices-honey.png.{os.getpid()}-0123abcd.tmp"  # a report writing now
    mine = tmp_path / f".notes.png.{dead.pid}-0123abcd.tmp"  # not a figure glade draws
    for path in (left, live, mine):
        path.write_bytes(b"")
    remove_old_figures(tmp_path, set())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, mine.name])
