"""Identical greedy requests are generated once (glade.seats.base.distinct_rows), and an
evaluation's shards put the worlds that play identical turns side by side (eval.plan.shards).

The crash gambit's three scenarios share world and seeds and part only at the legend: before
this, each of a council cast's turns before it was generated once per scenario.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from glade.env import parallel_env
from glade.seats.base import distinct_rows, request_key
from glade.seats.hf import Generation, shared_model
from glade.seats.hf_policy import HFPolicy

pytestmark = pytest.mark.usefixtures("one_thread")

NEW_TOKENS = 8


@pytest.fixture(scope="module")
def shared(tiny):
    return shared_model(tiny)


@pytest.fixture(scope="module")
def opening():
    obs, _ = parallel_env("default", turns=4).reset(seed=3)
    return obs


def test_distinct_rows_keeps_first_places():
    assert distinct_rows(["a", "b", "a", "c", "b", "a"]) == ([0, 1, 3], [0, 1, 0, 2, 1, 0])
    assert distinct_rows([]) == ([], [])


def test_request_key_tells_adapter_and_schema_apart():
    talk = [{"role": "user", "content": "hello"}]
    assert request_key(talk, "x", None) == request_key([dict(m) for m in talk], "x", None)
    assert request_key(talk, "x", None) != request_key(talk, "y", None)
    assert request_key(talk, "x", None) != request_key(talk, "x", {"type": "object"})
    assert request_key(talk, "x", {"a": 1, "b": 2}) == request_key(talk, "x", {"b": 2, "a": 1})


def rows_generated(shared, monkeypatch) -> list[int]:
    """How many rows each batched generate of `shared` is given."""
    sizes = []
    real = shared._generate_rows

    def counting(chunk, *args, **kwargs):
        sizes.append(len(chunk))
        return real(chunk, *args, **kwargs)

    monkeypatch.setattr(shared, "_generate_rows", counting)
    return sizes


def test_greedy_duplicates_are_generated_once_and_answered_alike(shared, opening, monkeypatch):
    policy = HFPolicy(shared, None, {}, Generation(max_new_tokens=NEW_TOKENS))
    alone = {c: policy.act([opening[c]])[0] for c in ("oona", "hazel")}
    sizes = rows_generated(shared, monkeypatch)
    # five worlds' seats, three of them Oona's identical opening, two Hazel's
    seats = [opening["oona"], opening["hazel"], opening["oona"], opening["oona"], opening["hazel"]]
    decisions = policy.act(seats)
    assert sizes == [2]
    assert [d.shared for d in decisions] == [False, False, True, True, True]  # the copies, for the cost meter
    assert [d.text for d in decisions] == [alone[o["creature"]].text for o in seats]
    assert [(d.prompt_tokens, d.completion_tokens) for d in decisions] == [
        (alone[o["creature"]].prompt_tokens, alone[o["creature"]].completion_tokens) for o in seats
    ]


def test_an_engine_told_not_to_share_generates_every_row(shared, opening, monkeypatch):
    # what every throughput benchmark sets, so that it times the rows it counts
    policy = HFPolicy(shared, None, {}, Generation(max_new_tokens=NEW_TOKENS))
    sizes = rows_generated(shared, monkeypatch)
    monkeypatch.setattr(shared, "share_identical", False)
    decisions = policy.act([opening["oona"]] * 3)
    assert sizes == [3] and len({d.text for d in decisions}) == 1
    assert not any(d.shared for d in decisions)


def test_sampled_duplicates_are_each_drawn(shared, opening, monkeypatch):
    policy = HFPolicy(shared, None, {}, Generation(max_new_tokens=NEW_TOKENS, temperature=1.0, seed=5))
    sizes = rows_generated(shared, monkeypatch)
    decisions = policy.act([opening["oona"]] * 3)
    assert sizes == [3]  # sampled rows are draws: two creatures asking alike get two answers
    assert not any(d.shared for d in decisions)


def test_the_same_prompt_through_another_adapter_or_schema_is_another_request(shared, opening, monkeypatch, tmp_path):
    from seat_checks import random_adapters

    adapter = random_adapters(shared.model_id, tmp_path)["hoarder"]
    gen = Generation(max_new_tokens=NEW_TOKENS)
    bare, hoarder = HFPolicy(shared, None, {}, gen), HFPolicy(shared, adapter, {}, gen)
    held = HFPolicy(shared, None, {}, Generation(max_new_tokens=NEW_TOKENS, structured=True))
    sizes = rows_generated(shared, monkeypatch)
    oona = opening["oona"]
    decisions = bare.act_batch([(bare, oona), (hoarder, oona), (held, oona), (bare, oona), (hoarder, oona)])
    assert sizes == [3]  # one row per (adapter, schema): the copies of each are shared
    texts = [d.text for d in decisions]
    assert texts[3:] == texts[:2] and len(set(texts[:3])) == 3  # each request its own answer


def test_shards_hold_one_seed_s_worlds_together():
    from eval.plan import plan, shards
    from eval.recipe import load_eval_recipe, load_played

    recipe = load_eval_recipe(Path(__file__).parents[1] / "recipes/eval/crash-gambit.yaml")
    planned = plan(recipe, load_played(recipe))
    assert len(planned) == 96
    cut = shards(planned, {}, 48)
    assert [len(s) for s in cut] == [48, 48]
    for shard in cut:
        assert len({w.seed for w in shard}) == 4  # 12 worlds a seed: 3 scenarios x (stand-in + 3 council worlds)
        # each council world's twins in the other scenarios play beside it
        by_cast = {}
        for w in shard:
            by_cast.setdefault((w.seed, w.council, w.cast), set()).add(w.scenario)
        assert all(len(s) == 3 for s in by_cast.values())
    # the plan itself, and so the rows' order, is unchanged
    assert [w.scenario for w in planned[:32]] == ["gambit_rumour"] * 32
    done = {w.episode_id: 0 for w in cut[0][:10]}
    assert [len(s) for s in shards(planned, done, 48)] == [38, 48]  # a resumed run cuts the same blocks


def test_calibration_measures_the_turns_after_the_opening_on_seeds_of_their_own():
    """A dry run times turns 1 and 2 of worlds on seeds of their own, after turn 0 of the
    same episodes as the warm-up: openings, and worlds that share a seed, share answers, and
    the estimate would time only those."""
    from glade.env import load_scenario
    from glade.meter import calibrate
    from glade.rollout import EpisodeSpec
    from glade.seats import PythonSeat, load

    seen: list[tuple] = []

    class Recording:
        name = "recording"

        def act(self, observations):
            seen.extend((o["turn"], repr(sorted(o.items()))) for o in observations)
            return [{"orders": []} for _ in observations]

    scenario = load_scenario("default", turns=6)
    council = {c: load(d.disposition) for c, d in scenario.creatures.items()} | {"oona": PythonSeat(Recording())}
    specs = [EpisodeSpec(f"w{i}", scenario, 7, council) for i in range(3)]  # one seed, three worlds
    calibration = calibrate(lambda: specs)
    assert sorted({turn for turn, _ in seen}) == [0, 1, 2]  # each turn played once: no replayed opening
    assert len(seen) == 3 * 3
    assert calibration.worlds == 3 and calibration.world_turns == 3 * 2
    assert calibration.stats.decisions == 3 * 2 * 5  # turns 1 and 2 of three worlds, five creatures
    assert calibration.stats.seats["recording"].decisions == 3 * 2
    assert len({obs for turn, obs in seen if turn == 1}) == 3  # three seeds: three worlds, not one three times


def test_calibration_of_nothing_measures_nothing():
    from glade.meter import calibrate

    calibration = calibrate(lambda: [])
    assert (calibration.worlds, calibration.world_turns, calibration.stats.decisions) == (0, 0, 0)


def test_the_measured_turns_are_what_the_whole_play_counted_beyond_the_warm_up():
    from collections import Counter

    from glade.faults import SeatMeter
    from glade.meter import _since
    from glade.rollout import RolloutStats

    warm = RolloutStats(5, 1.0, 0.0, 2, {"a": SeatMeter(5, Counter(server_timeout=1), 100, 10, 1.0, 4)})
    whole = RolloutStats(
        15,
        4.0,
        9.0,
        6,
        {"a": SeatMeter(10, Counter(server_timeout=3), 300, 25, 3.0, 5), "b": SeatMeter(5, Counter(), 50, 5, 0.5)},
    )
    measured = _since(whole, warm, 10.0, 12.5)
    assert (measured.decisions, measured.model_seconds, measured.total_seconds, measured.policy_calls) == (
        10,
        3.0,
        2.5,
        4,
    )
    assert measured.seats["a"] == SeatMeter(5, Counter(server_timeout=2), 200, 15, 2.0, 1)
    assert measured.seats["b"] == SeatMeter(5, Counter(), 50, 5, 0.5)


def test_the_cost_meter_counts_shared_decisions_per_seat_and_in_all():
    from glade.rollout import RolloutStats
    from glade.run_cost import add, closing_line, cost_table, run_cost
    from glade.seats import Decision

    stats = RolloutStats(decisions=4, total_seconds=2.0, model_seconds=1.0)
    for shared in (False, True, True):
        stats.meter("live").add(Decision({"orders": []}, "{}", None, 0.1, 10, 2, shared=shared), 0.1)
    stats.meter("stand-in").add(Decision({"orders": []}))
    part = RolloutStats(decisions=1, total_seconds=1.0)  # another process's shard (Ray)
    part.meter("live").add(Decision({"orders": []}, "{}", shared=True))
    add(stats, part)
    cost = run_cost(stats, wall_seconds=3.0, episodes=2)
    assert (cost["shared"], cost["seats"]["live"]["shared"], cost["seats"]["stand-in"]["shared"]) == (3, 3, 0)
    assert "5 decisions by every seat (3 shared with an identical request) in 3.0 s wall" in closing_line(cost)
    rows = dict((row[0], row[1]) for row in cost_table(cost)[1])
    assert rows == {"live": "4 (3 shared)", "stand-in": "1"}
    old = {k: v for k, v in cost.items() if k != "shared"}  # a summary.json written before the count
    assert "5 decisions by every seat in 3.0 s wall" in closing_line(old)
