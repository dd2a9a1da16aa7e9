"""glade.env.action_schema.action_schema: a JSON Schema of exactly the valid actions in a state.

Checked with the `jsonschema` package (draft 2020-12): every stand-in action of a few
thousand real states validates against its state's schema; the usual mistakes do not; and
on random actions the schema and the parser agree (what the schema accepts parses back
unchanged with no error, what the parser takes clean and the schema's caps allow, it accepts).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from glade.env import parallel_env, standin
from glade.env.action_schema import action_schema
from glade.env.market import PRICE_CAP
from glade.env.observation import plain
from glade.env.protocol import GOSSIP_CHARS, MAX_QTY, MIN_PRICE, parse
from glade.env.standin import DISPOSITIONS
from glade.eval.scoring import self_buy

SCENARIOS = ("default", "gambit_rumour", "gambit_shock", "gambit_override")


def validator(obs: dict) -> Draft202012Validator:
    return Draft202012Validator(action_schema(obs))


def states(scenario: str, seed: int, council: str) -> list[dict]:
    """Every observation of one episode in which every creature plays `council`."""
    env = parallel_env(scenario, turns=20)
    obs, _ = env.reset(seed=seed)
    d = standin.disposition(council)
    seen = []
    while env.agents:
        seen += [plain(o) for o in obs.values()]
        obs, *_ = env.step({c: standin.act(obs[c], d, seed) for c in env.agents})
    return seen


@pytest.fixture(scope="module")
def wood() -> list[tuple[str, dict]]:
    """2,400 (disposition, state) pairs: 4 scenarios x 3 seeds x 4 dispositions (every
    creature on it) x 20 turns x 5 creatures."""
    return [
        (council, obs)
        for scenario in SCENARIOS
        for seed in range(3)
        for council in DISPOSITIONS
        for obs in states(scenario, seed, council)
    ]


def test_every_standin_action_validates(wood):
    """In each state, the action of the disposition that played it and of one other (in
    turn): 4,800 actions. (jsonschema takes about a millisecond an action.)"""
    assert len(wood) >= 2000
    names = list(DISPOSITIONS)
    checked = trading = 0
    for i, (played, obs) in enumerate(wood):
        v = validator(obs)
        other = names[i % len(names)] if names[i % len(names)] != played else names[(i + 1) % len(names)]
        for name in (played, other):
            action = standin.act(obs, DISPOSITIONS[name], seed=obs["turn"])
            assert parse(json.dumps(action), obs).error is None  # the stand-in is valid to begin with
            if not v.is_valid(action):
                pytest.fail(
                    f"{obs['creature']} turn {obs['turn']}: {action} {[e.message for e in v.iter_errors(action)]}"
                )
            checked += 1
            trading += bool(action["orders"])
    assert checked == 2 * len(wood)
    assert trading > checked // 4  # the states are not all holds


def test_a_bold_dispositions_actions_validate_too(wood):
    # dispositions at the edge of their bounds (bid 10, ask -10, hoard_premium 10) priced orders past
    # the schema's cap, 10x the reference: the stand-in keeps to it
    from dataclasses import replace

    bold = [
        replace(DISPOSITIONS["balanced"], name="bidder", bid=10.0),
        replace(DISPOSITIONS["balanced"], name="asker", ask=-10.0),
        replace(DISPOSITIONS["hoarder"], name="premium", hoard_premium=10.0),
    ]
    capped = 0
    for i, (_, obs) in enumerate(wood[::4]):
        d = bold[i % len(bold)]
        action = standin.act(obs, d, seed=obs["turn"])
        errors = [e.message for e in validator(obs).iter_errors(action)]
        assert not errors, (d.name, obs["creature"], obs["turn"], action, errors)
        capped += any(o["price"] >= PRICE_CAP * obs["prices"][o["good"]] - 0.01 for o in action["orders"])
    assert capped > 50  # the cap was reached, not avoided


def test_a_bid_just_under_the_cap_is_not_rounded_over_it(wood):
    # 3.3337 x 9.9997 = 33.336 is under the cap 33.337 and rounded to 33.34, over the schema's 33.33
    from dataclasses import replace

    bidder = replace(DISPOSITIONS["balanced"], name="bidder", bid=8.9997, jitter=0.0)
    for _, obs in wood:
        obs = {**obs, "prices": dict.fromkeys(obs["prices"], 3.3337)}
        action = standin.act(obs, bidder, seed=0)
        if any(o["side"] == "buy" for o in action["orders"]):
            break
    buys = [o["price"] for o in action["orders"] if o["side"] == "buy"]
    assert buys and set(buys) == {33.33}
    assert validator(obs).is_valid(action)


def test_schemas_are_valid_draft_2020_12(wood):
    for _, obs in wood[::400]:
        Draft202012Validator.check_schema(action_schema(obs))


def test_schema_is_plain_json_with_caps(wood):
    obs = wood[0][1]
    schema = action_schema(obs)
    assert json.loads(json.dumps(schema)) == schema
    assert schema["required"] == ["orders"]
    assert schema["properties"]["gossip"]["maxLength"] == GOSSIP_CHARS
    for form in schema["properties"]["orders"]["items"]["anyOf"]:
        good = form["properties"]["good"]["const"]
        assert form["properties"]["price"]["maximum"] <= PRICE_CAP * float(obs["prices"][good])


@pytest.fixture
def hazel(wood) -> dict:
    """Hazel the squirrel (makes acorns) holding honey 2, firewood 4, acorns 10, no berries."""
    obs = json.loads(json.dumps(next(o for _, o in wood if o["creature"] == "hazel")))
    obs["inventory"] = {"honey": 2, "firewood": 4, "acorns": 10, "berries": 0, "mushrooms": 0}
    obs["prices"] = {"honey": 10.0, "firewood": 4.0, "acorns": 2.0, "berries": 3.0, "mushrooms": 3.0}
    obs["pebbles"] = 40.0
    return obs


def order(side, good, qty, price):
    return {"side": side, "good": good, "qty": qty, "price": price}


@pytest.mark.parametrize(
    "why, action",
    [
        ("self-buy", {"orders": [order("buy", "acorns", 1, 2.0)]}),
        ("oversell", {"orders": [order("sell", "honey", 3, 10.0)]}),
        ("sell not held", {"orders": [order("sell", "berries", 1, 3.0)]}),
        ("unknown good", {"orders": [order("buy", "pinecones", 1, 1.0)]}),
        ("both sides", {"orders": [order("sell", "honey", 1, 10.0), order("buy", "honey", 1, 9.0)]}),
        ("two orders on one side", {"orders": [order("sell", "honey", 1, 10.0), order("sell", "honey", 1, 11.0)]}),
        ("price over the cap", {"orders": [order("sell", "honey", 1, 10.0 * PRICE_CAP + 0.01)]}),
        ("price under a cent", {"orders": [order("sell", "honey", 1, 0.001)]}),
        ("a buy its pebbles never cover", {"orders": [order("buy", "berries", 1, 29.0)]}),
        ("qty 0", {"orders": [order("sell", "honey", 0, 10.0)]}),
        ("fractional qty", {"orders": [order("sell", "honey", 1.5, 10.0)]}),
        ("absurd qty", {"orders": [order("buy", "berries", MAX_QTY + 1, 0.01)]}),
        ("bad side", {"orders": [order("bid", "berries", 1, 3.0)]}),
        ("string number", {"orders": [order("buy", "berries", "1", 3.0)]}),
        ("missing price", {"orders": [{"side": "buy", "good": "berries", "qty": 1}]}),
        ("extra key in an order", {"orders": [{**order("buy", "berries", 1, 3.0), "note": "x"}]}),
        ("no orders", {"gossip": "hello"}),
        ("extra key", {"orders": [], "mood": "fine"}),
        ("gossip too long", {"orders": [], "gossip": "a" * (GOSSIP_CHARS + 1)}),
    ],
)
def test_invalid_actions_do_not_validate(hazel, why, action):
    hazel["pebbles"] = 28.0
    assert not validator(hazel).is_valid(action), why


def test_valid_actions_validate(hazel):
    v = validator(hazel)
    assert v.is_valid({"orders": []})
    assert v.is_valid({"orders": [order("sell", "honey", 2, 100.0), order("buy", "berries", 3, 2.5)], "gossip": "hi"})
    assert v.is_valid({"orders": [order("buy", "mushrooms", MAX_QTY, MIN_PRICE)], "thought": "cheap"})


def test_no_pebbles_no_buys_and_nothing_held_nothing_sold(hazel):
    hazel["pebbles"] = 0.0
    hazel["inventory"] = dict.fromkeys(hazel["inventory"], 0)
    schema = action_schema(hazel)
    assert schema["properties"]["orders"]["maxItems"] == 0
    v = validator(hazel)
    assert v.is_valid({"orders": []})
    assert not v.is_valid({"orders": [order("buy", "berries", 1, 0.01)]})


def test_buy_price_is_capped_at_whole_cents_the_pebbles_cover(hazel):
    hazel["pebbles"] = 0.29  # the float under 0.29: a buy at 0.29 fills one unit, at 0.30 none
    v = validator(hazel)
    assert v.is_valid({"orders": [order("buy", "berries", 1, 0.29)]})
    assert not v.is_valid({"orders": [order("buy", "berries", 1, 0.3)]})


def test_a_buy_cap_is_the_largest_whole_cent_the_pebbles_cover(hazel):
    """1.999999999 pebbles cap a buy at 1.99 (rounding to the nearest cent would give 2.00,
    which they do not cover), and the parser agrees."""
    hazel["pebbles"] = 2.0 - 1e-9
    forms = action_schema(hazel)["properties"]["orders"]["items"]["anyOf"]
    buys = [f["properties"] for f in forms if f["properties"]["side"]["const"] == "buy"]
    caps = {b["good"]["const"]: b["price"]["maximum"] for b in buys}
    assert caps == dict.fromkeys(("honey", "firewood", "berries", "mushrooms"), 1.99)  # not acorns: she makes them
    assert parse(json.dumps({"orders": [order("buy", "honey", 1, 1.99)]}), hazel).error is None
    assert parse(json.dumps({"orders": [order("buy", "honey", 1, 2.0)]}), hazel).error == "no_pebbles"
    assert parse(json.dumps({"orders": [order("buy", "berries", 1, 0.29)]}), hazel).error is None


GOODS = ("honey", "firewood", "acorns", "berries", "mushrooms", "pinecones")
prices = st.one_of(
    st.floats(0.0, 120.0, allow_nan=False),
    st.sampled_from([0.0, 0.009, 0.01, 0.29, 20.0, 20.01, 100.0, 100.01]),
)
orders = st.fixed_dictionaries(
    {
        "side": st.sampled_from(["buy", "sell"]),
        "good": st.sampled_from(GOODS),
        "qty": st.one_of(st.integers(-1, 12), st.just(MAX_QTY), st.just(MAX_QTY + 1)),
        "price": prices,
    }
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    orders=st.lists(orders, max_size=4),
    pebbles=st.sampled_from([0.0, 0.005, 0.29, 3.0, 28.0, 1e4]),
    held=st.integers(0, 3),
)
def test_schema_and_parser_agree(hazel, orders, pebbles, held):
    """Schema-valid with at most one buy => parses back with no error, unchanged but for a
    buy's quantity cut to what the pebbles cover (overspend); parsed clean
    (no error, no repair, nothing cut, no self-buy, one order per good, prices under the cap)
    => schema-valid. Several buys may overspend: that stays the parser's to cut."""
    obs = {**hazel, "pebbles": pebbles, "inventory": {**hazel["inventory"], "honey": held}}
    action = {"orders": orders}
    valid = validator(obs).is_valid(action)
    parsed = parse(json.dumps(action), obs)
    buys = [o for o in orders if o["side"] == "buy"]
    if valid and len(buys) <= 1:
        assert parsed.error is None
        overspent = any(o["qty"] * o["price"] > pebbles for o in buys)  # cut to what the pebbles cover
        assert parsed.repairs == (("qty_cut",) if overspent else ())
        assert [o["good"] for o in parsed.action["orders"]] == [o["good"] for o in orders]
        if not overspent:
            assert parsed.action == action
    goods = [o["good"] for o in orders]
    capped = all(o["price"] <= PRICE_CAP * obs["prices"][o["good"]] for o in orders if o["good"] in obs["prices"])
    clean = parsed.error is None and not parsed.repaired and parsed.action == action
    if clean and capped and len(set(goods)) == len(goods) and not self_buy(parsed.action, obs):
        assert valid, (action, obs["pebbles"])


def test_numpy_observations_work_too():
    env = parallel_env("default", turns=2)
    obs, _ = env.reset(seed=1)
    raw = obs["oona"]
    assert isinstance(raw["pebbles"], np.ndarray)
    assert action_schema(raw) == action_schema(plain(raw))
