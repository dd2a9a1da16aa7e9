"""The Wood as a library: reset's seed stream (parallel and single-creature), python seats'
Decisions in the action-space form, and a factory's own TypeError named as its own."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from glade.env import SingleCreatureEnv, parallel_env
from glade.rollout import run_episode
from glade.seats import Decision, PythonSeat, SeatSpecError, load


def _episode(env, seed=None):
    """One episode of holds: its seed and its final prices."""
    _, infos = env.reset(seed=seed)
    while env.agents:
        env.step({})
    return infos["oona"]["seed"], env.world.history[-1]["prices"]


def test_plain_resets_after_a_seeded_reset_replay_the_same_episodes():
    runs = []
    for _ in range(2):
        env = parallel_env(turns=2)
        runs.append([_episode(env, 3), _episode(env), _episode(env)])
    assert runs[0] == runs[1]
    seeds = [seed for seed, _ in runs[0]]
    assert seeds[0] == 3 and len(set(seeds)) == 3  # the plain resets play new seeds, not seed 3 again


def test_a_seeded_reset_restarts_the_stream_and_unseeded_envs_differ():
    env = parallel_env(turns=1)
    first = [_episode(env, 5), _episode(env)]
    _episode(env)
    assert [_episode(env, 5), _episode(env)] == first
    fresh = {_episode(parallel_env(turns=1))[0] for _ in range(3)}
    assert len(fresh) == 3  # without any seed, random (a clash is 1 in 2**31)


@pytest.mark.parametrize("seed", [-1, 1.5, "7"])
def test_single_creature_env_refuses_a_bad_seed_as_the_parallel_env_does(seed):
    with pytest.raises(ValueError, match=rf"reset\(seed={seed!r}\): a seed is a whole number >= 0"):
        SingleCreatureEnv("oona", turns=2).reset(seed=seed)


def test_single_creature_env_takes_a_numpy_seed_and_replays_plain_resets():
    a, b = SingleCreatureEnv("thorn", turns=2), SingleCreatureEnv("thorn", turns=2)
    obs_a, info_a = a.reset(seed=np.int64(4))
    obs_b, info_b = b.reset(seed=4)
    worth = float(obs_a["pebbles"]) + sum(obs_a["inventory"][g] * float(obs_a["prices"][g]) for g in a.goods)
    assert info_a == info_b == {"turn": 0, "seed": 4, "wealth": worth}
    assert a.step(None)[1] == b.step(None)[1]
    assert a.reset()[1] == b.reset()[1]  # the next seed of the stream seed 4 started


class Scripted:
    name = "scripted"

    def __init__(self, answer):
        self.answer = answer

    def act(self, observations):
        return [self.answer for _ in observations]


SELL = {"side": "sell", "good": "honey", "qty": 3, "price": 9.0}


@pytest.mark.parametrize(
    "action",
    [
        {"orders": [{"side": 1, "good": 0, "qty": 3, "price": 9.0}]},  # sell = 1, honey = 0
        {"orders": ({"side": np.int64(1), "good": np.int64(0), "qty": np.int64(3), "price": np.array(9.0)},)},
        {"orders": (dict(SELL),)},  # a tuple of orders, as the action space samples them
    ],
)
def test_a_decision_in_the_action_space_form_is_written_with_names(action):
    named = run_episode("default", 7, 2, {"oona": PythonSeat(Scripted(Decision({"orders": [SELL]}))), "*": "hoarder"})
    played = run_episode("default", 7, 2, {"oona": PythonSeat(Scripted(Decision(action))), "*": "hoarder"})
    rows = [r for r in played.rows if r["creature"] == "oona"]
    assert [json.loads(r["action"]) for r in rows] == [{"orders": [SELL]}] * 2
    assert played.summary["final_prices"] == named.summary["final_prices"]


def test_a_decision_in_the_json_form_is_kept_as_it_is():
    decision = Decision({"orders": [dict(SELL)]}, error="mine")
    obs, _ = parallel_env(turns=2).reset(seed=1)
    assert PythonSeat(Scripted(decision)).act([obs["oona"]])[0] is decision


def test_a_type_error_inside_the_factory_is_the_factorys_not_the_kwargs(tmp_path, monkeypatch):
    (tmp_path / "glade_review_factories.py").write_text(
        "class Seat:\n    name = 'seat'\n\n    def act(self, observations):\n        return []\n\n\n"
        "def buggy(n=1):\n    return Seat(n)  # Seat takes no arguments: the user's own bug\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SeatSpecError, match=r"'glade_review_factories:buggy': the factory raised TypeError") as info:
        load({"kind": "python", "entry_point": "glade_review_factories:buggy", "kwargs": {"n": 2}})
    assert isinstance(info.value.__cause__, TypeError)  # the user's traceback is kept (GLADE_DEBUG=1)
    with pytest.raises(SeatSpecError, match=r"buggy' with kwargs: got an unexpected keyword argument 'm'"):
        load({"kind": "python", "entry_point": "glade_review_factories:buggy", "kwargs": {"m": 2}})


@pytest.mark.parametrize("scenario", ["gambit_rumour"])
def test_the_scenario_the_conformance_tests_leave_out_conforms(scenario):
    parallel_api_test(parallel_env(scenario, turns=6), num_cycles=10)
    parallel_seed_test(lambda: parallel_env(scenario, turns=6), num_cycles=10)


def test_a_python_seat_module_not_on_the_path_says_how_to_put_it_there(tmp_path, monkeypatch, capsys):
    from glade.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "council.yaml").write_text('oona: {kind: python, entry_point: "myseat_not_on_path:make"}\n')
    assert main(["simulate", "--council", "council.yaml", "--turns", "1", "--out", "sim"]) == 2
    err = capsys.readouterr().err
    assert (
        "no module 'myseat_not_on_path' on Python's path (for a module in the current folder, run with PYTHONPATH=.)"
        in err
    )
