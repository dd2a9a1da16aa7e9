"""A decision's own model seconds (Decision.model_s, set by a policy whose model runs in another
process, as the Ray seat server's served seats do) count in place of its call's wall time."""

from __future__ import annotations

import math
import time
from types import SimpleNamespace

import pytest

from glade.env import load_scenario
from glade.policy_calls import act_timed
from glade.rollout import FULL_ONLY, ROW_COLUMNS, EpisodeSpec, RolloutStats, run_lockstep
from glade.seats import Decision, standin_council


class _Timed:
    """A policy whose call takes 0.05 s of which its model `model_s` a decision (None: not
    measured), per decision in turn, cycling."""

    def __init__(self, model_s: list[float | None], name: str = "remote"):
        self.name, self.model_s = name, model_s

    def act(self, observations):
        return [Decision({"orders": []}, model_s=self.model_s[i % len(self.model_s)]) for i in range(len(observations))]

    def batch_key(self):
        return id(self)

    def act_batch(self, seats):
        time.sleep(0.05)
        return self.act([obs for _, obs in seats])


def test_a_decisions_own_model_seconds_count_in_place_of_the_calls_wall_time():
    scenario = load_scenario("default", turns=3)
    council = {**standin_council(scenario), "oona": _Timed([0.002])}
    stats = RolloutStats()
    played = run_lockstep([EpisodeSpec("w", scenario, 0, council, {"oona": "far"})], stats=stats)["w"]
    assert stats.model_seconds == pytest.approx(3 * 0.002)  # not 3 calls of 0.05 s
    assert stats.seats["far"].decisions == 3
    assert stats.seats["far"].model_seconds == pytest.approx(3 * 0.002)
    # a run cost figure only: the rows keep their columns, latency_s the decision's own
    assert all(set(r) == set(ROW_COLUMNS) for r in played.rows)
    assert {r["latency_s"] for r in played.rows if r["creature"] == "oona"} == {0.0}


def test_without_model_seconds_the_call_is_timed():
    stats = RolloutStats()
    _, seconds = act_timed([(policy := _Timed([None]), {}), (policy, {})], stats)
    assert seconds[0] == seconds[1] and seconds[0] >= 0.05 / 2
    assert stats.model_seconds == pytest.approx(sum(seconds))


def test_a_call_timing_only_some_decisions_is_refused():
    policy = _Timed([0.001, None])
    with pytest.raises(
        RuntimeError,
        match=r"^policy 'remote' set model_s on 1 of its 2 decisions; set it on every decision of a call or on none$",
    ):
        act_timed([(policy, {}), (policy, {})])


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf, True, "0.1"])
def test_model_seconds_that_are_not_seconds_are_refused(bad):
    with pytest.raises(
        RuntimeError, match=r"^policy 'remote' returned a decision whose model_s is .*; expected seconds"
    ):
        act_timed([(_Timed([bad]), {})])


def test_the_served_seat_sets_each_decisions_model_seconds_from_the_servers(monkeypatch):
    pytest.importorskip("ray")
    from glade.eval import distributed

    answer = lambda councils, requests: ([Decision({"orders": []}, latency_s=0.5) for _ in requests], [0.25, 0.75])
    server = SimpleNamespace(act=SimpleNamespace(remote=answer))  # an actor: its decisions and model seconds
    monkeypatch.setattr(distributed.ray, "get", lambda ref: ref)
    seats = [distributed.ServedSeat(server, "k", {}, c) for c in ("oona", "thorn")]
    stats = RolloutStats()
    decisions, seconds = act_timed([(s, {}) for s in seats], stats)
    assert [d.model_s for d in decisions] == [0.25, 0.75] and seconds == [0.25, 0.75]
    assert [d.latency_s for d in decisions] == [0.5, 0.5]  # the rows' latency is untouched
    assert stats.model_seconds == pytest.approx(1.0)


def test_rows_without_the_full_columns_do_not_gain_model_seconds():
    scenario = load_scenario("default", turns=1)
    council = {**standin_council(scenario), "oona": _Timed([0.002])}
    played = run_lockstep([EpisodeSpec("w", scenario, 0, council)], full=False)["w"]
    assert all(set(r) == set(ROW_COLUMNS) - set(FULL_ONLY) for r in played.rows)


@pytest.mark.parametrize("given", [-1.0, math.nan, "0.1", True])
def test_a_python_seats_model_seconds_that_are_not_seconds_are_its_named_error(given):
    from glade.seats.base import SeatAnswerError
    from glade.seats.python import PythonSeat

    class Remote:
        name = "remote"

        def act(self, observations):
            return [Decision({"orders": []}, model_s=given) for _ in observations]

    scenario = load_scenario("default", turns=1)
    council = {**standin_council(scenario), "oona": PythonSeat(Remote())}
    with pytest.raises(SeatAnswerError, match=r"^python seat remote: act returned a Decision whose model_s is "):
        run_lockstep([EpisodeSpec("w", scenario, 0, council, {"oona": "remote"})])


def test_a_python_seats_model_seconds_are_counted():
    from glade.seats.python import PythonSeat

    class Remote:
        name = "remote"

        def act(self, observations):
            return [Decision({"orders": []}, model_s=0.25) for _ in observations]

    scenario = load_scenario("default", turns=2)
    council = {**standin_council(scenario), "oona": PythonSeat(Remote())}
    stats = RolloutStats()
    run_lockstep([EpisodeSpec("w", scenario, 0, council, {"oona": "remote"})], stats=stats)
    assert stats.model_seconds == pytest.approx(2 * 0.25)
