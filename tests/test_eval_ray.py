"""`glade eval --ray` on a real Ray cluster on loopback (tests/ray_cluster.py): the same
results folder and numbers as the local backend, resume after an interruption, a killed
worker's shard played again and counted once."""

from __future__ import annotations

import json
import signal
import threading
import time

import pandas as pd
import pytest
import yaml

pytest.importorskip("ray")

from ray_cluster import ray_cluster, worker_pids  # noqa: E402

from glade.eval import run as eval_run  # noqa: E402
from glade.eval.recipe import load_eval_recipe  # noqa: E402


def test_an_address_where_nothing_answers_is_refused_at_once():
    from ray_cluster import free_port

    from glade.eval.ray_join import check_address

    started = time.monotonic()
    with pytest.raises(OSError, match=r"--ray 127.0.0.1:\d+: no Ray cluster answers there"):
        check_address(f"127.0.0.1:{free_port()}")
    assert time.monotonic() - started < 5
    check_address("auto")  # left to Ray: the cluster this machine belongs to, or a local one


def test_a_rerun_with_nothing_left_to_play_starts_no_cluster(tmp_path, capsys):
    import ray
    from ray_cluster import free_port
    from resume_setup import eval_recipe

    from glade.cli import main

    path = eval_recipe(tmp_path, seeds={"start": 0, "count": 2})
    assert main(["eval", str(path)]) == 0
    capsys.readouterr()
    # nothing listens there: connecting would be refused, and with nothing to play it is not tried
    assert main(["eval", str(path), "--ray", f"127.0.0.1:{free_port()}"]) == 0
    out = capsys.readouterr().out
    assert "nothing left to play" in out and "Ray cluster" not in out
    assert not ray.is_initialized()


@pytest.fixture(scope="module")
def cluster():
    """A fresh 2-CPU head node, this process connected to it as the driver."""
    import ray

    from glade.eval import ray_join

    with ray_cluster(cpus=2) as (address, head, temp_dir):
        line = ray_join.connect(address)
        try:
            yield {"address": address, "head": head, "temp_dir": temp_dir, "connected": line}
        finally:
            ray.shutdown()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """The tiny base and one random LoRA adapter on it."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from glade.train.tiny import save_tiny

    root = tmp_path_factory.mktemp("ray-models")
    base = save_tiny(root / "base")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        peft = get_peft_model(
            AutoModelForCausalLM.from_pretrained(base),
            LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
        )
        peft.save_pretrained(root / "adapter")
    return {"kind": "hf", "model": str(base), "adapter": str(root / "adapter"), "max_new_tokens": 12}


def write_recipe(tmp_path, name: str, model: dict, **changes):
    data = {
        "name": "ray-test",
        "out": str(tmp_path / name),
        "policies": {"model": model, "panic": {"kind": "standin", "disposition": "panic_seller"}},
        "councils": {
            "mixed": {"focal": {"oona": "model", "bramble": "panic"}, "rotate": 2},
            "one_model": {"focal": {"*": "model"}},
        },
        "scenarios": ["gambit_override"],
        "seeds": {"start": 0, "count": 3},
        "turns": 5,
        "worlds": 3,
        **changes,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def tables(folder) -> dict[str, pd.DataFrame]:
    keys = {"decisions": ["episode_id", "turn", "creature"], "episodes": ["episode_id", "creature"]}
    return {t: pd.read_parquet(folder / f"{t}.parquet").sort_values(k).reset_index(drop=True) for t, k in keys.items()}


def numbers(folder) -> dict:
    """summary.json without what differs between any two runs (when, how long)."""
    summary = json.loads((folder / "summary.json").read_text())
    return {k: v for k, v in summary.items() if k not in ("timing", "written", "cost")}


@pytest.fixture(scope="module")
def local(tmp_path_factory, model):
    """The local backend's results for the test recipe."""
    tmp = tmp_path_factory.mktemp("local")
    eval_run.run_recipe(load_eval_recipe(write_recipe(tmp, "local", model)))
    return tmp / "local"


def test_standin_councils_on_ray_equal_local(cluster, tmp_path):
    """The fast suite's Ray check: stand-in councils (no model to load) through the cluster."""
    from glade.eval import distributed

    standins = {"kind": "standin", "disposition": "hoarder"}
    local_recipe = load_eval_recipe(write_recipe(tmp_path, "local", standins, seeds={"start": 0, "count": 4}))
    ray_recipe = load_eval_recipe(write_recipe(tmp_path, "ray", standins, seeds={"start": 0, "count": 4}))
    eval_run.run_recipe(local_recipe)
    result = eval_run.evaluate(ray_recipe, backend=distributed.play_on_ray)
    assert result.played_now == 16 and result.stats.decisions == 16 * 5 * 5
    eval_run.write_results(ray_recipe, result)
    for name, frame in tables(tmp_path / "ray").items():
        pd.testing.assert_frame_equal(frame, tables(tmp_path / "local")[name], check_exact=True)
    assert eval_run.evaluate(ray_recipe, backend=distributed.play_on_ray).played_now == 0  # all kept


@pytest.mark.slow
def test_ray_results_equal_local_byte_for_byte(cluster, model, local, tmp_path, capsys):
    from glade.cli import main

    path = write_recipe(tmp_path, "ray", model)
    assert main(["eval", str(path), "--ray", cluster["address"]]) == 0
    out = capsys.readouterr().out
    assert "Ray cluster" in out and "1 node(s), 2 CPU(s)" in out
    ray_tables, local_tables = tables(tmp_path / "ray"), tables(local)
    assert len(ray_tables["episodes"]) == 3 * (1 + 2 + 1) * 5  # seeds x (stand-in world + 2 casts + 1) x creatures
    for name, frame in ray_tables.items():
        pd.testing.assert_frame_equal(frame, local_tables[name], check_exact=True)
    assert (ray_tables["decisions"]["policy"].str.startswith("hf:base+adapter")).any()  # the model really sat
    assert numbers(tmp_path / "ray") == numbers(local)
    # the cost meter counts the same work on the cluster (its seconds differ, its counts do not)
    counts = lambda folder: {
        label: {k: seat[k] for k in ("decisions", "prompt_tokens", "completion_tokens", "faults")}
        for label, seat in json.loads((folder / "summary.json").read_text())["cost"]["seats"].items()
    }
    assert counts(tmp_path / "ray") == counts(local)
    assert "cost: 12 episodes" in out
    assert (tmp_path / "ray" / "decisions.parquet").read_bytes() == (local / "decisions.parquet").read_bytes()


@pytest.mark.slow
def test_interrupted_ray_run_plays_only_the_rest(cluster, model, local, tmp_path):
    from glade.eval import distributed

    recipe = load_eval_recipe(write_recipe(tmp_path, "ray", model))

    def stops_after_two(recipe, scenarios, todo, stats, progress):
        for i, finished in enumerate(distributed.play_on_ray(recipe, scenarios, todo, stats, progress)):
            if i == 2:
                raise KeyboardInterrupt
            yield finished

    with pytest.raises(KeyboardInterrupt):
        eval_run.evaluate(recipe, backend=stops_after_two)
    done = json.loads((tmp_path / "ray" / "progress.json").read_text())["episodes"]
    assert len({e["part"] for e in done.values()}) == 2 and len(done) == 2 * 3  # two shards of 3 worlds kept
    result = eval_run.evaluate(recipe, backend=distributed.play_on_ray)
    assert result.played_now == 12 - 6
    eval_run.write_results(recipe, result)
    for name, frame in tables(tmp_path / "ray").items():
        pd.testing.assert_frame_equal(frame, tables(local)[name], check_exact=True)


@pytest.mark.slow
@pytest.mark.parametrize("title", ["ray::play_shard", "ray::SeatServer"])
def test_a_killed_worker_is_retried_and_counted_once(cluster, model, local, tmp_path, title):
    """SIGKILL, from outside, a worker playing a shard (or the node's seat server) while the
    evaluation runs: the shard is played again and every world is counted once."""
    import os

    from glade.eval import distributed

    recipe = load_eval_recipe(write_recipe(tmp_path, "ray", model, worlds=2))
    outcome = {}

    def drive():
        try:
            outcome["result"] = eval_run.evaluate(recipe, backend=distributed.play_on_ray)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = exc

    driver = threading.Thread(target=drive)
    driver.start()
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and driver.is_alive() and time.monotonic() < deadline:
        busy = worker_pids(cluster["head"], cluster["temp_dir"], title)
        if busy and (title != "ray::SeatServer" or _serving(cluster, busy[0])):
            os.kill(busy[0], signal.SIGKILL)
            killed = busy[0]
        time.sleep(0.05)
    driver.join(timeout=300)
    assert killed is not None, f"no {title} worker was seen running"
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    assert result.played_now == result.worlds == 12
    done = json.loads((tmp_path / "ray" / "progress.json").read_text())["episodes"]
    assert len(done) == 12 and len({e["part"] for e in done.values()}) == 6  # every world once, in one of 6 shards
    eval_run.write_results(recipe, result)
    for name, frame in tables(tmp_path / "ray").items():
        assert not frame.duplicated(["episode_id", "creature"] + (["turn"] if name == "decisions" else [])).any()
        pd.testing.assert_frame_equal(frame, tables(local)[name], check_exact=True)


def _serving(cluster, pid: int) -> bool:
    """The seat server has loaded its model (its resident memory has grown past the bare worker's)."""
    try:
        rss_kb = int(next(line for line in open(f"/proc/{pid}/status") if line.startswith("VmRSS")).split()[1])
    except (OSError, StopIteration):
        return False
    return rss_kb > 400_000
