"""What an RL researcher's walk through the env found: the per-good spaces' order, reset's
wealth, the notes env.step owes for what it reads leniently, a python seat's None, the
invalid-answers line's names, and SingleCreatureEnv's render modes."""

from __future__ import annotations

import json

import gymnasium
import numpy as np
import pytest
from rich.console import Console

from glade.console_tables import answer_errors
from glade.env import SingleCreatureEnv, load_scenario, parallel_env, standin
from glade.env.market import SIDES
from glade.faults import parse_errors
from glade.rollout import run_episode
from glade.seats import PythonSeat
from glade.seats.base import SeatAnswerError

PER_GOOD = ("inventory", "produces", "needs", "short_of", "prices", "price_moves", "talk", "whisper")


def test_per_good_spaces_keep_the_scenario_goods_order_that_the_good_index_means():
    env = parallel_env("default", turns=3)
    goods = tuple(env.scenario.goods)
    assert env.goods == goods == ("honey", "firewood", "acorns", "berries", "mushrooms")
    assert env.sides == SIDES == ("buy", "sell")
    space = env.observation_space("oona")
    for key in PER_GOOD:
        assert list(space[key].spaces) == list(goods), key  # Gymnasium sorts a plain dict's keys
    observations, _ = env.reset(seed=0)
    obs = observations["oona"]
    flat = gymnasium.spaces.flatten(space["prices"], obs["prices"])
    assert flat.tolist() == [float(obs["prices"][g]) for g in env.goods]
    # the action space's index form: good i is env.goods[i], side j is env.sides[j]
    acorns = env.goods.index("acorns")
    action = {"orders": ({"side": 0, "good": acorns, "qty": 2, "price": np.array(2.5)},), "gossip": ""}
    assert env.action_space("oona").contains(action)
    readme_form = {"orders": [{"side": "buy", "good": "honey", "qty": 3, "price": 9.5}]}
    assert not env.action_space("oona").contains(readme_form)  # names, not indices: the JSON form
    single = SingleCreatureEnv("oona", turns=3)
    assert single.goods == goods and single.sides == SIDES
    assert list(single.observation_space["talk"].spaces) == list(goods)


@pytest.mark.parametrize("scenario", ["default", "gambit_shock"])
def test_reset_infos_carry_wealth_and_the_rewards_sum_to_its_change(scenario):
    env = parallel_env(scenario, turns=8)
    observations, infos = env.reset(seed=3)
    for a, obs in observations.items():
        held = sum(obs["inventory"][g] * float(obs["prices"][g]) for g in env.goods)
        assert infos[a]["wealth"] == pytest.approx(float(obs["pebbles"]) + held, abs=1e-9)
    start = {a: infos[a]["wealth"] for a in env.agents}
    total = dict.fromkeys(env.agents, 0.0)
    while env.agents:
        actions = {a: standin.act(observations[a], standin.disposition("balanced")) for a in env.agents}
        observations, rewards, _, _, infos = env.step(actions)
        for a, r in rewards.items():
            total[a] += r
    for a in total:
        assert total[a] == pytest.approx(infos[a]["wealth"] - start[a], abs=1e-6)

    single = SingleCreatureEnv("oona", turns=6)
    _, info = single.reset(seed=3)
    begin, got, done = info["wealth"], 0.0, False
    while not done:
        _, r, term, trunc, info = single.step(None)
        got, done = got + r, term or trunc
    assert got == pytest.approx(info["wealth"] - begin, abs=1e-6)


ORDER = {"side": "sell", "good": "honey", "qty": 1, "price": 5.0}


def _note(reason, outcome, order=None, **more):
    return {"order": order, "reason": reason, "outcome": outcome, "qty": 0, **more}


@pytest.mark.parametrize(
    "action, notes",
    [
        ([ORDER], [_note("not_an_action", "rejected")]),
        (3, [_note("not_an_action", "rejected")]),
        ('{"orders": []}', [_note("not_an_action", "rejected")]),
        ({"orders": [], "thought": 5}, [_note("thought_not_text", "ignored")]),
        ({"orders": [], "gossip": "x" * 5000}, [_note("gossip_cut", "cut")]),
        ({"orders": [{**ORDER, "qty": "1"}]}, [_note("qty_string", "repaired", 0)]),
        ({"orders": [{**ORDER, "price": "5"}]}, [_note("price_string", "repaired", 0)]),
        ({"orders": [{**ORDER, "qty": 1.0}]}, [_note("qty_float", "repaired", 0)]),
        ({"orders": [ORDER, {**ORDER, "good": "firewood", "foo": 1}]}, [_note("unknown_key", "ignored", 1, key="foo")]),
    ],
)
def test_env_step_names_what_it_reads_leniently_or_leaves_unread(action, notes):
    env = parallel_env("default", turns=2)
    env.reset(seed=1)
    _, _, _, _, infos = env.step({"oona": action})
    assert infos["oona"]["notes"] == notes


def _played(action, seed=1):
    env = parallel_env("default", turns=2)
    env.reset(seed=seed)
    _, rewards, _, _, infos = env.step({"oona": action})
    w = env.world
    return rewards, infos["oona"]["fills"], w.history, list(w.journal), w.gossip


def test_what_is_played_is_unchanged_by_the_new_notes():
    clean = _played({"orders": [{**ORDER, "qty": 2, "price": 5.0}], "gossip": "honey is cheap"})
    lenient = _played(
        {"orders": [{**ORDER, "qty": "2", "price": "5", "foo": 1}], "gossip": "honey  is cheap", "thought": 5}
    )
    assert lenient == clean
    cut = _played({"orders": [], "gossip": "x" * 5000})
    assert cut[4] == [("oona", "x" * 200)]
    assert _played([ORDER])[3] == _played(None)[3]  # a non-dict action holds


class Nothing:
    name = "nothing"

    def act(self, observations):
        return [None for _ in observations]


class Odd:
    name = "odd"

    def act(self, observations):
        return [5 for _ in observations]


def test_a_python_seat_answering_none_holds_with_a_named_note():
    played = run_episode("default", seed=2, turns=3, council={"oona": PythonSeat(Nothing()), "*": "hoarder"})
    rows = [r for r in played.rows if r["creature"] == "oona"]
    assert len(rows) == 3
    for r in rows:
        assert r["error"] == "none_is_hold"
        assert r["completion"] == "null"
        assert json.loads(r["action"]) == {"orders": []}
        assert [n["reason"] for n in json.loads(r["rejected"])] == ["none_is_hold"]
    held = run_episode("default", seed=2, turns=3, council={"oona": "hoarder", "*": "hoarder"})
    assert played.summary["final_prices"] is not None and len(played.rows) == len(held.rows)


def test_a_python_seat_answering_no_action_says_which_creature_and_turn():
    with pytest.raises(SeatAnswerError) as err:
        run_episode("default", seed=2, turns=2, council={"oona": PythonSeat(Odd()), "*": "hoarder"})
    said = str(err.value)
    assert said.endswith("expected a Decision or an action dict, or None for a hold (oona's answer on turn 0)")


def test_invalid_answers_line_counts_every_parser_name_once_per_answer():
    s = load_scenario("default", turns=4)
    rows = [
        {"creature": c, "seat": "standin:balanced", "error": None, "rejected": "[]"}
        for c in s.creatures
        for _ in range(4)
    ]
    oona = [r for r in rows if r["creature"] == "oona"]
    parser = {"outcome": "rejected", "qty": 0, "by": "parser"}
    oona[0].update(
        error="bad_qty",
        rejected=json.dumps(
            [
                {"order": 0, "reason": "bad_qty", **parser},
                {"order": 1, "reason": "bad_qty", **parser},
                {"order": None, "reason": "thought_not_text", **parser, "outcome": "ignored"},
                {"order": 2, "reason": "oversell", **parser, "outcome": "cut"},
                {"order": 0, "reason": "no_pebbles", "outcome": "rejected", "qty": 0},  # the Wood's
            ]
        ),
    )
    oona[1].update(
        rejected=json.dumps([{"order": None, "reason": "unknown_key", "key": "x", **parser, "outcome": "ignored"}])
    )
    [line] = answer_errors(s, rows, parse_errors(rows))
    con = Console(width=300, record=True)
    con.print(line)
    assert con.export_text().strip() == (
        "invalid answers: Oona (standin:balanced): 2 of 4 answers had a named error "
        "(what could not be used was dropped): bad_qty 1, thought_not_text 1, unknown_key 1"
    )


def test_single_creature_env_lists_the_human_render_mode_it_takes():
    assert SingleCreatureEnv.metadata["render_modes"] == ["ansi", "human"]
    env = SingleCreatureEnv("oona", turns=2, render_mode="human")
    env.reset(seed=0)
    assert env.render() is None


def test_the_one_creature_view_is_in_gymnasiums_registry():
    import gymnasium

    import glade.env  # noqa: F401  (registers it)

    env = gymnasium.make("glade/Wood-v0", creature="hazel", scenario="gambit_rumour")
    _, info = env.reset(seed=3)
    assert env.spec.id == "glade/Wood-v0" and env.unwrapped.creature == "hazel"
    assert env.unwrapped.wood.scenario.name == "gambit_rumour" and info["turn"] == 0
