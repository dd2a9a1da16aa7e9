"""The Wood is a conforming PettingZoo ParallelEnv, and its observations lie in their spaces."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test
from pettingzoo.utils.conversions import parallel_to_aec

from glade.env import parallel_env
from glade.env.world import check_conservation

# What pettingzoo's AEC api_test says about any env with Dict observations and named agents.
# These are style advice for image/vector envs, not conformance failures; everything else is.
BENIGN_AEC_WARNINGS = (
    "Observation is not a NumPy array",
    "Observation space for each agent probably should be gymnasium.spaces.box or gymnasium.spaces.discrete",
    "Action space for each agent probably should be gymnasium.spaces.box or gymnasium.spaces.discrete",
    'We recommend agents to be named in the format <descriptor>_<number>, like "player_0"',
)


@pytest.mark.parametrize("scenario", ["default", "gambit_override", "gambit_shock"])
def test_parallel_api_test_without_warnings(scenario):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_api_test(parallel_env(scenario, turns=6), num_cycles=20)


def test_parallel_seed_test_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_seed_test(lambda: parallel_env("gambit_override", turns=6), num_cycles=20)


def test_aec_api_test_only_benign_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        api_test(parallel_to_aec(parallel_env(turns=5)), num_cycles=20)
    seen = {str(w.message) for w in caught}
    unexpected = seen - set(BENIGN_AEC_WARNINGS)
    assert not unexpected, unexpected
    assert all(issubclass(w.category, UserWarning) for w in caught)


def test_aec_api_test_with_every_other_warning_an_error():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for message in BENIGN_AEC_WARNINGS:
            warnings.filterwarnings("ignore", message=re.escape(message), category=UserWarning)
        api_test(parallel_to_aec(parallel_env("gambit_shock", turns=5)), num_cycles=10)
        with pytest.raises(UserWarning):  # the filter really is strict
            warnings.warn("Observation contains NaNs", stacklevel=2)


def test_spaces_are_the_same_object_every_call():
    env = parallel_env(turns=3)
    for agent in env.possible_agents:
        assert env.observation_space(agent) is env.observation_space(agent)
        assert env.action_space(agent) is env.action_space(agent)
    env.reset(seed=1)
    for agent in env.possible_agents:
        assert env.observation_space(agent) is env.observation_space(agent)
    assert env.possible_agents == ["oona", "thorn", "hazel", "bramble", "moss"]


def test_reset_returns_an_observation_and_an_info_dict_per_agent():
    env = parallel_env(turns=3)
    assert env.agents == []
    obs, infos = env.reset(seed=11)
    assert env.agents == env.possible_agents
    assert set(obs) == set(infos) == set(env.possible_agents)
    worth = {
        a: float(o["pebbles"]) + sum(o["inventory"][g] * float(o["prices"][g]) for g in env.goods)
        for a, o in obs.items()
    }
    assert infos == {a: {"turn": 0, "seed": 11, "wealth": worth[a]} for a in env.possible_agents}
    for agent in env.agents:
        assert obs[agent]["creature"] == agent and obs[agent]["turn"] == 0


def test_agents_empty_after_the_last_step_and_step_then_refuses():
    env = parallel_env(turns=3)
    env.reset(seed=0)
    steps = 0
    while env.agents:
        obs, rewards, terms, truncs, infos = env.step({})
        steps += 1
        if steps < 3:
            assert not any(truncs.values()) and env.agents
    assert steps == 3
    assert env.agents == []
    assert all(truncs.values()) and not any(terms.values())
    assert set(obs) == set(rewards) == set(infos) == set(env.possible_agents)
    assert all(o["turn"] == 3 for o in obs.values())
    with pytest.raises(RuntimeError, match=r"step\(\) called before reset\(\) or after the episode ended"):
        env.step({})


def test_step_before_reset_refuses():
    with pytest.raises(RuntimeError, match=r"call reset\(\)"):
        parallel_env(turns=2).step({})


def _assert_in_spaces(env, observations):
    for agent, o in observations.items():
        space = env.observation_space(agent)
        if not space.contains(o):
            bad = [k for k, sub in space.spaces.items() if not sub.contains(o[k])]
            raise AssertionError(f"{agent} turn {o['turn']}: fields outside the space: {bad}")


@pytest.mark.parametrize(
    "scenario, seed, overrides",
    [
        ("default", 0, {"turns": 30}),
        (
            "default",
            5,
            {
                "legends": [
                    {"legend": "hollow_log_company", "turn": 2, "mechanism": "shock"},
                    {"legend": "drought", "turn": 3, "mechanism": "override"},
                    {"legend": "great_acorn_mania", "turn": 3, "mechanism": "override"},
                    {"legend": "winter_rumour", "turn": 3, "mechanism": "rumour"},
                ],
                "turns": 12,
            },
        ),
        ("gambit_override", 3, {}),
        ("gambit_shock", 4, {}),
        ("gambit_rumour", 9, {}),
    ],
)
def test_every_standin_observation_lies_in_its_space(run_standin, scenario, seed, overrides):
    env, seen, infos = run_standin(scenario, seed, **overrides)
    assert len(seen) == env.scenario.turns + 1
    for observations in seen:
        _assert_in_spaces(env, observations)
    # the episode really traded, so the check covered live markets
    assert sum(row["trades"] for row in env.world.history) > 0
    assert check_conservation(env.world) == []


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_observation_of_random_action_episodes_lies_in_its_space(seed):
    env = parallel_env("gambit_override", turns=8)
    obs, _ = env.reset(seed=seed)
    for agent in env.possible_agents:
        env.action_space(agent).seed(seed * 100 + env.possible_agents.index(agent))
    _assert_in_spaces(env, obs)
    while env.agents:
        actions = {a: env.action_space(a).sample() for a in env.agents}
        for a, act in actions.items():
            assert env.action_space(a).contains(act)
        obs, *_ = env.step(actions)
        _assert_in_spaces(env, obs)
    assert check_conservation(env.world) == []


def test_sampled_actions_and_json_actions_mean_the_same():
    goods = ("honey", "firewood", "acorns", "berries", "mushrooms")

    def sampled(side, good, qty, price):
        return {"side": side, "good": good, "qty": np.int64(qty), "price": np.array(price)}

    sample_form = {
        "oona": {"orders": (sampled(1, goods.index("honey"), 3, 9.0),), "gossip": "honey for sale"},
        "thorn": {
            "orders": (sampled(0, goods.index("honey"), 2, 10.5), sampled(1, goods.index("firewood"), 4, 3.5)),
            "gossip": "",
        },
        "hazel": {"orders": (sampled(0, goods.index("firewood"), 3, 4.5),), "gossip": ""},
    }
    json_form = {
        "oona": {"orders": [{"side": "sell", "good": "honey", "qty": 3, "price": 9.0}], "gossip": "honey for sale"},
        "thorn": {
            "orders": [
                {"side": "buy", "good": "honey", "qty": 2, "price": 10.5},
                {"side": "sell", "good": "firewood", "qty": 4, "price": 3.5},
            ]
        },
        "hazel": {"orders": [{"side": "buy", "good": "firewood", "qty": 3, "price": 4.5}]},
    }
    results = []
    for actions in (sample_form, json_form):
        env = parallel_env(turns=3)
        env.reset(seed=4)
        for agent, act in actions.items():
            if actions is sample_form:
                assert env.action_space(agent).contains(act)
        obs, rewards, _, _, infos = env.step(actions)
        results.append((env.world, obs, rewards, infos))
    (w1, o1, r1, i1), (w2, o2, r2, i2) = results
    assert w1.journal == w2.journal and w1.history == w2.history
    assert r1 == r2 and i1 == i2
    assert [o1[a]["gossip"] for a in o1] == [o2[a]["gossip"] for a in o2]
    # the orders really traded: honey at 9.0 <= p <= 10.5, firewood between 3.5 and 4.5
    assert i1["thorn"]["notes"] == [] and i1["hazel"]["notes"] == []
    assert {(f["side"], f["good"], f["qty"]) for f in i1["thorn"]["fills"]} == {
        ("buy", "honey", 2),
        ("sell", "firewood", 3),
    }
    assert i1["oona"]["fills"][0]["with"] == "thorn"
    assert o1["thorn"]["gossip"] == "Oona: honey for sale"


def test_hold_forms_are_equivalent():
    worlds = []
    for hold in (None, {}, {"orders": []}, {"orders": (), "gossip": ""}):
        env = parallel_env(turns=2)
        env.reset(seed=8)
        env.step({a: hold for a in env.agents})
        worlds.append((env.world.journal, env.world.history))
    assert all(w == worlds[0] for w in worlds)


def test_render_ansi():
    env = parallel_env(turns=2, render_mode="ansi")
    assert env.render() is None
    env.reset(seed=0)
    assert env.render() == "turn 0: honey 10.00  firewood 4.00  acorns 2.00  berries 3.00  mushrooms 3.00"


def test_rewards_are_the_change_in_wealth():
    env = parallel_env(turns=4)
    env.reset(seed=2)
    before = {
        a: env.world.pebbles[a] + sum(env.world.inventory[a][g] * env.world.price[g] for g in env.world.goods)
        for a in env.agents
    }
    _, rewards, _, _, infos = env.step({})
    for a in env.possible_agents:
        assert rewards[a] == pytest.approx(infos[a]["wealth"] - before[a])


def test_a_reward_pinned_by_hand():
    """A one-turn Wood where everyone holds: no trade, so no price moves. Oona (no berries or
    mushrooms here, nothing of hers spoils) eats one honey (10.0) and burns one firewood (4.0):
    her reward is -14.0, and her wealth 60 pebbles + honey x 10 + 3 firewood x 4."""
    env = parallel_env(turns=1, **{"creatures.oona.inventory": {"berries": 0, "mushrooms": 0}})
    env.reset(seed=2)
    honey = env.world.inventory["oona"]["honey"]  # 30 and turn 0's production
    _, rewards, _, _, infos = env.step({})
    assert infos["oona"]["meal"] == {"eaten": ["honey"], "burned": 1, "fed": 0.5, "warm": True}
    assert env.world.price == {"honey": 10.0, "firewood": 4.0, "acorns": 2.0, "berries": 3.0, "mushrooms": 3.0}
    assert rewards["oona"] == -14.0
    assert infos["oona"]["wealth"] == 60.0 + (honey - 1) * 10.0 + 3 * 4.0


@pytest.mark.parametrize("orders", [5, 2.5])
def test_non_iterable_orders_do_not_raise(orders):
    env = parallel_env(turns=2)
    env.reset(seed=0)
    _, _, _, _, infos = env.step({"oona": {"orders": orders}})
    assert infos["oona"]["notes"] == [{"order": None, "reason": "orders_not_a_list", "outcome": "rejected", "qty": 0}]


@pytest.mark.parametrize("action", [{"orders": "sell all"}, ["buy", "honey"], "hold"])
def test_non_list_orders_give_one_note(action):
    env = parallel_env(turns=2)
    env.reset(seed=0)
    _, _, _, _, infos = env.step({"oona": action})
    reason = "orders_not_a_list" if isinstance(action, dict) else "not_an_action"  # a list or str is no action
    assert infos["oona"]["notes"] == [{"order": None, "reason": reason, "outcome": "rejected", "qty": 0}]
    assert env.world.history[-1]["rejected"] == 1
