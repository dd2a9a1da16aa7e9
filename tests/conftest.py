"""Shared set-up for the test suite.

Nothing in the tests may reach the network or write into ~/.cache: HF_HOME points at a
throw-away folder for the whole session and the Hub is switched off, before anything
imports huggingface_hub, datasets or transformers.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

_HF_HOME = tempfile.mkdtemp(prefix="glade-test-hf-")
os.environ["HF_HOME"] = _HF_HOME
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def pytest_unconfigure(config):
    shutil.rmtree(_HF_HOME, ignore_errors=True)


def _canon(value):
    """An observation (or any nested structure) as plain, exactly comparable JSON data.

    Floats and 0-d arrays become their hex form, so two observations compare equal only if
    they are bit-for-bit the same."""
    if isinstance(value, dict):
        return {str(k): _canon(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canon(v) for v in value]
    if isinstance(value, np.ndarray):
        return ["array", str(value.dtype), [_canon(v) for v in value.reshape(-1).tolist()]]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value).hex()
    return value


@pytest.fixture(scope="session")
def canon():
    return _canon


@pytest.fixture(scope="session")
def canon_json():
    return lambda value: json.dumps(_canon(value), sort_keys=True, separators=(",", ":"))


def _run_standin(scenario="default", seed=0, council=None, actions_hook=None, **overrides):
    """Play one whole episode with every seat a stand-in (its scenario disposition, or
    `council[creature]`). `actions_hook(env, obs, actions)` may edit the actions of a turn.
    Returns (env, observations per turn [reset first], infos per step)."""
    from glade.env import parallel_env, standin

    env = parallel_env(scenario, **overrides)
    obs, _ = env.reset(seed=seed)
    council = council or {}
    disp = {c: standin.disposition(council.get(c, env.scenario.creatures[c].disposition)) for c in env.possible_agents}
    seen, infos = [obs], []
    while env.agents:
        actions = {a: standin.act(obs[a], disp[a], seed) for a in env.agents}
        if actions_hook is not None:
            actions_hook(env, obs, actions)
        obs, _, _, _, info = env.step(actions)
        seen.append(obs)
        infos.append(info)
    return env, seen, infos


@pytest.fixture(scope="session")
def run_standin():
    return _run_standin


@pytest.fixture
def fake_server():
    """Start fake OpenAI chat servers on loopback (`fake_server(script)`); all closed after the test."""
    from fake_server import FakeServer

    servers: list[FakeServer] = []

    def start(script) -> FakeServer:
        server = FakeServer(script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture(scope="module")
def one_thread():
    """torch on one thread for a module that asks (`usefixtures`): the tiny model gains nothing
    from a second, and on shared cores OpenMP's spin-waiting made generate 10x slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A random tiny base (seed 0) as a folder path, once per module that uses it; a module
    may define its own `tiny` instead."""
    from glade.train.tiny import save_tiny

    return str(save_tiny(tmp_path_factory.mktemp("models") / "tiny", seed=0))


@pytest.fixture(scope="module")
def adapters(tiny, tmp_path_factory):
    """Random LoRA adapters on `tiny` (seat_checks.random_adapters), once per module."""
    from seat_checks import random_adapters

    return random_adapters(tiny, tmp_path_factory.mktemp("adapters"))


@pytest.fixture(scope="session")
def trained_creature(tmp_path_factory):
    """Small traces, a tiny base and a LoRA checkpoint trained on them (four steps), once per
    session: (root, checkpoint folder). The export tests share it."""
    import yaml

    from glade.cli import main
    from glade.traces import GenerateRecipe, generate
    from glade.train.tiny import save_tiny

    root = tmp_path_factory.mktemp("export")
    generate(
        GenerateRecipe(
            out=str(root / "traces"), scenarios=("default",), councils={"hoarders": {"*": "hoarder"}}, turns=3, worlds=4
        )
    )
    save_tiny(root / "base")
    recipe = {
        "name": "creature",
        "output_root": str(root / "checkpoints"),
        "model": {"base": str(root / "base")},
        "data": {"traces": [str(root / "traces")], "eval_share": 0.25},
        "lora": {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]},
        "sft": {
            "bf16": False,
            "use_cpu": True,
            "activation_checkpointing": False,
            "report_to": "none",
            "max_length": 1024,
            "max_steps": 4,
            "per_device_train_batch_size": 2,
            "per_device_eval_batch_size": 4,
            "logging_steps": 1,
            "save_steps": 100,
            "learning_rate": 0.01,
            "warmup_steps": 0,
        },
        "eval": {"states": 4, "max_new_tokens": 8},
    }
    (root / "creature.yaml").write_text(yaml.safe_dump(recipe))
    assert main(["train", str(root / "creature.yaml")]) == 0
    [ckpt] = (root / "checkpoints").glob("creature__0__*")
    return root, ckpt
