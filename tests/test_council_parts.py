"""The council benchmark's seat wrappers (benchmarks/council_parts.py) play in the real episode
loop: a wrapper without the Policy protocol's batch_key/act_batch broke the full benchmark."""

import importlib.util
from pathlib import Path

import pytest

from glade.env import load_scenario, standin
from glade.rollout import EpisodeSpec, RolloutStats, run_lockstep
from glade.seats import Policy, StandIn, standin_council

PARTS = Path(__file__).resolve().parent.parent / "benchmarks" / "council_parts.py"


@pytest.fixture(scope="module")
def parts():
    spec = importlib.util.spec_from_file_location("council_parts", PARTS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Counting:
    """A stand-in seat that counts how many observations each `act` call got."""

    def __init__(self, disposition: str):
        self.inner = StandIn(standin.disposition(disposition))
        self.name = self.inner.name
        self.calls: list[int] = []

    def act(self, observations):
        self.calls.append(len(observations))
        return self.inner.act(observations)


def _play(council, turns=3, worlds=2):
    scenario = load_scenario("default", turns=turns)
    episodes = [EpisodeSpec(f"w{i}", scenario, 7 + i, council) for i in range(worlds)]
    stats = RolloutStats()
    return run_lockstep(episodes, stats=stats), stats


def test_naive_asks_one_observation_at_a_time_and_changes_no_answer(parts):
    scenario = load_scenario("default", turns=3)
    inner = Counting("speculator")
    naive = parts.Naive(inner)
    assert isinstance(naive, Policy)
    played, stats = _play(dict.fromkeys(scenario.creatures, naive))
    reference, _ = _play(standin_council(scenario) | dict.fromkeys(scenario.creatures, inner.inner))
    assert inner.calls == [1] * (2 * 3 * len(scenario.creatures))  # worlds x turns x seats, one each
    assert stats.policy_calls == 3  # one act_batch per turn, answered seat by seat
    actions = [r["action"] for p in played.values() for r in p.rows]
    assert actions == [r["action"] for p in reference.values() for r in p.rows]


def test_recorder_answers_a_turn_in_one_call_and_keeps_every_pair(parts):
    scenario = load_scenario("default", turns=3)
    inner = Counting("speculator")
    recorder = parts.Recorder(inner)
    assert isinstance(recorder, Policy)
    _play(dict.fromkeys(scenario.creatures, recorder))
    seats = 2 * len(scenario.creatures)
    assert inner.calls == [seats] * 3  # every seat of both worlds in one call per turn
    assert len(recorder.seen) == 3 * seats
    assert all(obs["creature"] in scenario.creatures for obs, _ in recorder.seen)


def test_the_generate_timer_sees_every_batched_generate_an_hf_council_makes(parts, tiny, one_thread):
    # the timer wrapped SharedModel.generate after the hf seat moved to generate_once: the
    # benchmarks' generate calls and seconds then read 0
    from glade.seats.hf import Generation, shared_model
    from glade.seats.hf_policy import HFPolicy

    shared = shared_model(tiny)
    timer = parts.GenerateTimer(shared)
    try:
        policy = HFPolicy(shared, None, {}, Generation(max_new_tokens=4))
        _, stats = _play(dict.fromkeys(load_scenario("default").creatures, policy), turns=2)
        assert timer.calls == 2 and timer.seconds > 0  # one batched generate a turn, both worlds in it
        assert stats.decisions == 2 * 2 * 5
    finally:
        del shared.generate_once  # the instance's wrapper: the class's method again
