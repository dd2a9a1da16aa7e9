"""`glade eval --ray`: joining a cluster (token authentication, a bounded join, a Ctrl-C while
joining, a cluster with no CPU), the recipe given as --ray's word, the dry run's address
check, and the meter's model seconds and backend. The slow tests start real loopback
clusters (tests/ray_cluster.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

pytest.importorskip("ray")

from ray_cluster import free_port, ray_cluster  # noqa: E402
from resume_setup import eval_recipe  # noqa: E402

from glade.cli import main  # noqa: E402
from glade.eval import distributed, ray_join  # noqa: E402
from glade.policy_calls import act_timed  # noqa: E402
from glade.rollout import RolloutStats  # noqa: E402
from glade.run_cost import closing_line, run_cost  # noqa: E402
from glade.seats import Decision  # noqa: E402


def test_token_mode_for_an_explicit_address_is_rays_own_rule(tmp_path):
    token = tmp_path / ".ray" / "auth_token"
    assert not ray_join.joins_with_token({}, tmp_path)  # no token at hand: as Ray joins
    token.parent.mkdir()
    token.write_text("x" * 64)
    assert ray_join.joins_with_token({}, tmp_path)  # ~/.ray/auth_token: as ray.init("auto") does
    assert not ray_join.joins_with_token({"RAY_AUTH_MODE": "disabled"}, tmp_path)  # the user's choice holds
    assert not ray_join.joins_with_token({"RAY_AUTH_MODE": "token"}, tmp_path)  # set already: nothing to do
    empty = tmp_path / "empty"
    assert ray_join.joins_with_token({"RAY_AUTH_TOKEN": "abc"}, empty)
    assert ray_join.joins_with_token({"RAY_AUTH_TOKEN_PATH": str(token)}, empty)


def test_a_cluster_without_cpus_is_refused_in_one_line():
    assert ray_join.no_cpus("10.0.0.1:6379", 2.0) is None
    assert ray_join.no_cpus("10.0.0.1:6379", 0) == (
        "the Ray cluster at 10.0.0.1:6379 has no CPUs for tasks (each shard needs 1): add a worker node with CPUs, "
        "or start the head with --num-cpus N"
    )


def test_a_join_that_does_not_answer_is_given_up(monkeypatch):
    monkeypatch.setattr(ray_join, "JOIN_SECONDS", 0.3)
    monkeypatch.setattr(ray_join, "check_address", lambda address: None)
    monkeypatch.setattr(distributed.ray, "init", lambda **options: time.sleep(3))  # Ray retrying for minutes
    started = time.monotonic()
    with pytest.raises(OSError, match=r"^--ray 10.0.0.1:1: could not join a Ray cluster there \(no answer as a Ray"):
        ray_join.connect("10.0.0.1:1")
    assert time.monotonic() - started < 2


def test_ctrl_c_while_joining_says_so_not_how_to_resume(monkeypatch, tmp_path, capsys):
    def interrupted(address, seconds, **options):
        raise KeyboardInterrupt

    monkeypatch.setattr(ray_join, "check_address", lambda address: None)
    monkeypatch.setattr(ray_join, "_join", interrupted)
    path = eval_recipe(tmp_path, seeds={"start": 0, "count": 1})
    assert main(["eval", str(path), "--ray", "10.0.0.1:1"]) == 130
    err = capsys.readouterr().err
    assert "interrupted; while joining Ray (--ray 10.0.0.1:1), before anything played" in err
    assert "resume" not in err


@pytest.mark.parametrize(
    ("recipe", "overrides", "ray", "meant"),
    [
        (None, [], "r.yaml", ("r.yaml", [], "auto")),  # glade eval --ray r.yaml
        ("seeds.count=2", [], "r.yml", ("r.yml", ["seeds.count=2"], "auto")),  # ... --ray r.yml seeds.count=2
        ("r.yaml", [], "seeds.count=2", ("r.yaml", ["seeds.count=2"], "auto")),  # r.yaml --ray seeds.count=2
        ("r.yaml", [], "10.0.0.1:6379", ("r.yaml", [], "10.0.0.1:6379")),
        ("r.yaml", [], "auto", ("r.yaml", [], "auto")),
        ("r.yaml", [], None, ("r.yaml", [], None)),
    ],
)
def test_the_word_after_ray_is_read_as_meant(recipe, overrides, ray, meant):
    from glade.cli.eval import recipe_and_address

    assert recipe_and_address(recipe, overrides, ray) == meant


def test_a_recipe_named_by_file_after_ray_and_two_recipes(tmp_path):
    from glade.cli.eval import recipe_and_address

    named = tmp_path / "recipe"  # no .yaml: an existing file is a recipe too
    named.write_text("")
    assert recipe_and_address(None, [], str(named)) == (str(named), [], "auto")
    with pytest.raises(ValueError, match="--ray b.yaml: a recipe, and a.yaml is the recipe"):
        recipe_and_address("a.yaml", [], "b.yaml")


def test_a_dry_run_with_ray_as_the_recipe_plans_and_says_whose_time_it_estimates(tmp_path, capsys):
    path = eval_recipe(tmp_path, seeds={"start": 0, "count": 1})
    assert main(["eval", "--ray", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "the plan, before it runs" in out
    assert "--ray auto: the wall-time estimate is for one local process playing every shard in turn" in out


def test_a_dry_run_checks_the_ray_address(tmp_path, capsys):
    path = eval_recipe(tmp_path, seeds={"start": 0, "count": 1})
    address = f"127.0.0.1:{free_port()}"
    assert main(["eval", str(path), "--ray", address, "--dry-run"]) == 2
    captured = capsys.readouterr()
    assert f"--ray {address}: no Ray cluster answers there" in captured.err
    assert "the plan" not in captured.out


class _Remote:
    """A seat whose model runs elsewhere: its call takes 0.05 s, of which the model 0.001 s a decision."""

    name = "remote"

    def batch_key(self):
        return "remote"

    def act_batch(self, seats):
        time.sleep(0.05)
        return [Decision(action={"orders": []}, model_s=0.001) for _ in seats]


def test_model_seconds_measured_elsewhere_replace_the_calls_wall_time():
    stats = RolloutStats()
    decisions, seconds = act_timed([(_Remote(), {}), (_Remote(), {})], stats)
    assert len(decisions) == 2 and seconds == [0.001, 0.001]
    assert stats.model_seconds == pytest.approx(0.002)  # not the 0.05 s round trip


def test_the_cost_names_its_backend():
    local = run_cost(RolloutStats(total_seconds=2.0, model_seconds=1.0), wall_seconds=2.0, episodes=1)
    assert local["backend"] == "local" and "cluster" not in local
    assert "in 2.0 s wall (2.0 s of it play, 50.0% of that inside the models" in closing_line(local)
    cluster = {"nodes": 2, "cpus": 8.0, "gpus": 0}
    on_ray = run_cost(RolloutStats(total_seconds=2.0, model_seconds=1.0, cluster=cluster), 1.0, 1)
    assert on_ray["backend"] == "ray" and on_ray["cluster"] == cluster
    assert (
        "in 1.0 s wall on Ray (2 node(s), 8 CPU(s); the tasks' play 2.0 s, summed, 50.0% of that inside the models"
        in (closing_line(on_ray))
    )


@pytest.mark.slow
def test_a_cluster_with_no_cpus_is_refused_not_waited_on():
    import ray

    with ray_cluster(cpus=0) as (address, head, temp_dir):
        try:
            with pytest.raises(OSError, match=r"has no CPUs for tasks \(each shard needs 1\)"):
                ray_join.connect(address)
        finally:
            ray.shutdown()


JOIN = """
import os, sys
from glade.eval import ray_join
print(ray_join.connect(sys.argv[1]))
"""


@pytest.mark.slow
def test_an_explicit_address_joins_a_token_cluster_as_auto_does(tmp_path):
    """`ray start --head` with ~/.ray/auth_token turns token auth on; `--ray HEAD:PORT` then
    joins with that token (a driver of its own: token mode is process-wide in Ray)."""
    home = tmp_path / "home"
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text("0123456789abcdef" * 4)
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_MODE", "RAY_ADDRESS")} | {"HOME": str(home)}
    with ray_cluster(cpus=1, env={"RAY_AUTH_MODE": "token", "HOME": str(home)}) as (address, head, temp_dir):
        joined = subprocess.run(
            [sys.executable, "-c", JOIN, address], env=env, capture_output=True, text=True, timeout=120
        )
    assert joined.returncode == 0, joined.stderr[-2000:]
    assert "Ray cluster at " in joined.stdout and "1 node(s), 1 CPU(s)" in joined.stdout


@pytest.mark.slow
def test_the_local_fallback_leaves_no_token_behind(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_MODE", "RAY_ADDRESS")} | {"HOME": str(home)}
    code = JOIN + "import ray; ray.shutdown()\n"
    joined = subprocess.run([sys.executable, "-c", code, "auto"], env=env, capture_output=True, text=True, timeout=180)
    assert joined.returncode == 0, joined.stderr[-2000:]
    if "started a local one" not in joined.stdout:
        pytest.skip(f"a Ray cluster already runs on this machine: {joined.stdout.strip()}")
    assert not (home / ".ray" / "auth_token").exists()


def test_model_seconds_on_ray_are_the_seat_servers(tmp_path):
    """SeatServer.act returns each decision's model seconds with the answers; a served seat
    hands them to the rollout (no cluster needed: the actor's method called as a function)."""
    server = distributed.SeatServer.__ray_actor_class__()
    standin = {"kind": "standin", "disposition": "hoarder"}  # no model to load
    decisions, seconds = server.act({"k": {"oona": standin}}, [("k", "oona", _observation())])
    assert len(decisions) == 1 and seconds == [0.0]  # a stand-in: no model time
    assert json.loads(json.dumps(seconds)) == seconds


def _observation() -> dict:
    from glade.env import parallel_env
    from glade.env.scenario import load_scenario

    env = parallel_env(load_scenario("gambit_override", turns=2))
    observations, _ = env.reset(seed=0)
    return observations["oona"]
