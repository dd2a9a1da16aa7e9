"""Tests written by the eleventh mutation audit: how the Wood reads model answers and shows
observations (glade.env.protocol, jsonfix, action_schema, observation, parallel). Each pins a
behaviour that a plausible one-line change (a comparison flipped, an off-by-one, a clause
dropped, a bound changed) left untested. The comment on each names what it guards."""

from __future__ import annotations

import numpy as np
import pytest
from jsonschema import Draft202012Validator
from test_pinned_standin_parser import buy, hazel, wood  # noqa: F401 - wood is a fixture hazel's callers take

from glade.env import load_scenario, parallel_env
from glade.env.action_schema import action_schema
from glade.env.jsonfix import extract_json_object
from glade.env.market import MAX_PRICE, MIN_PRICE, validate_orders
from glade.env.observation import BIG, observation_space, observe, short_of
from glade.env.parallel import action_space, normalize_action
from glade.env.protocol import THOUGHT_CHARS, parse

GOODS = ("honey", "firewood", "acorns", "berries", "mushrooms")

# --------------------------------------------------------------------------- jsonfix


def test_a_list_of_an_order_and_a_stray_value_is_no_bare_order_list():
    # guards _scan's `all(isinstance(x, dict) and ...)`: every item must be an order, not just one
    found = extract_json_object('[{"side": "buy", "good": "honey"}, 1]')
    assert (found.value, found.error) == (None, "not_object")


def test_the_last_harmony_final_channel_is_the_answer():
    # guards _answer_segment's `rfind("<|channel|>final")`: a second final message replaces the first
    text = (
        '<|channel|>final<|message|>{"orders": [{"side": "buy", "good": "honey", "qty": 1, "price": 2}]}<|end|>'
        '<|start|>assistant<|channel|>final<|message|>{"orders": []}<|return|>'
    )
    found = extract_json_object(text)
    assert (found.value, found.repairs) == ({"orders": []}, ("final_channel",))


def test_the_last_think_end_marker_closes_the_reasoning():
    # guards _answer_segment's `ends[-1]`: a second think block is skipped too, not read as prose
    found = extract_json_object('<think>a</think><think>b</think>{"orders": []}')
    assert (found.value, found.repairs) == ({"orders": []}, ("think_block",))


# --------------------------------------------------------------------------- protocol


def test_a_good_name_padded_with_spaces_is_read_and_counted_as_a_repair(wood):  # noqa: F811
    # guards _good_name's `raw.strip()`: " Acorns " names acorns (a good_name repair), not unknown_good
    parsed = parse('{"orders": [{"side": "sell", "good": " Acorns ", "qty": 1, "price": 2}]}', hazel(wood))
    assert parsed.action == {"orders": [{"side": "sell", "good": "acorns", "qty": 1, "price": 2.0}]}
    assert (parsed.error, parsed.repaired, parsed.repairs) == (None, True, ("good_name",))


# --------------------------------------------------------------------------- action_schema


def test_a_sale_price_cap_is_never_above_the_action_spaces_max_price(wood):  # noqa: F811
    # guards action_schema's `min(MAX_PRICE, ...)`: 10 x a 2,000-pebble reference would be 20,000
    prices = {"honey": 2_000.0, "firewood": 4.0, "acorns": 2.0, "berries": 3.0, "mushrooms": 3.0}
    schema = action_schema(hazel(wood, prices={g: np.array(p) for g, p in prices.items()}))
    forms = schema["properties"]["orders"]["items"]["anyOf"]
    honey_sale = next(f for f in forms if f["properties"]["good"]["const"] == "honey")
    assert honey_sale["properties"]["side"]["const"] == "sell"
    assert honey_sale["properties"]["price"]["maximum"] == MAX_PRICE
    check = Draft202012Validator(schema)
    sale = {"side": "sell", "good": "honey", "qty": 1, "price": MAX_PRICE}
    assert check.is_valid({"orders": [sale]})
    assert not check.is_valid({"orders": [{**sale, "price": MAX_PRICE + 0.01}]})


def test_a_thought_may_run_to_the_parsers_thought_cap(wood):  # noqa: F811
    # guards the schema's thought `maxLength: THOUGHT_CHARS` (not the gossip's much smaller cap)
    schema = action_schema(hazel(wood))
    assert schema["properties"]["thought"]["maxLength"] == THOUGHT_CHARS
    check = Draft202012Validator(schema)
    assert check.is_valid({"orders": [], "thought": "x" * THOUGHT_CHARS})
    assert not check.is_valid({"orders": [], "thought": "x" * (THOUGHT_CHARS + 1)})


# --------------------------------------------------------------------------- observation


def test_the_observation_space_admits_a_float_residue_below_zero_pebbles():
    # guards the pebbles Box's low of -BIG: 0.35 pebbles afford 35 units at 0.01, which leave -5.6e-17
    kept, _ = validate_orders("hazel", [buy("honey", 35, 0.01)], GOODS, dict.fromkeys(GOODS, 0), 0.35, 8, 500)
    assert [o.qty for o in kept] == [35]
    residue = 0.35 - 35 * 0.01
    assert residue < 0
    space = observation_space(GOODS, 30)["pebbles"]
    assert (float(space.low), float(space.high)) == (-BIG, BIG)
    assert space.contains(np.array(residue))


def test_a_food_held_once_counts_toward_the_appetite_and_a_full_appetite_is_no_shortage():
    # guards short_of's `units > 0` (one unit is held) and `held < appetite` (two of two is enough)
    hazel_ = load_scenario("default").creatures["hazel"]  # appetite 2: acorns, berries, honey, mushrooms
    assert hazel_.appetite == 2
    zeros = dict.fromkeys(GOODS, 0)
    need = {**dict.fromkeys(GOODS, 1), "firewood": 1}
    inv = {**zeros, "firewood": 1, "acorns": 1, "honey": 1}
    assert short_of(hazel_, inv, need, dict(zeros), "firewood") == zeros
    one_food = {**inv, "honey": 0}
    assert short_of(hazel_, one_food, need, dict(zeros), "firewood") == {
        **zeros,
        "honey": 1,
        "berries": 1,
        "mushrooms": 1,
    }


def test_firewood_is_short_only_below_the_burn():
    # guards short_of's `inv[fuel] < need[fuel]`: holding exactly the burn is enough
    hazel_ = load_scenario("default").creatures["hazel"]
    zeros = dict.fromkeys(GOODS, 0)
    need = {**dict.fromkeys(GOODS, 1), "firewood": 2}
    fed = {**zeros, "acorns": 1, "honey": 1}
    assert short_of(hazel_, {**fed, "firewood": 2}, need, dict(zeros), "firewood") == zeros
    assert short_of(hazel_, {**fed, "firewood": 1}, need, dict(zeros), "firewood") == {**zeros, "firewood": 1}


def test_the_observed_need_of_firewood_is_this_turns_burn():
    # guards observe's `need[fuel] = burn`: the fuel need (and its shortage) follows the winter's steps
    env = parallel_env("default", turns=12)
    obs, _ = env.reset(seed=0)
    assert obs["hazel"]["needs"]["firewood"] == 1  # the default burns 1 from turn 0, 2 from turn 10
    env.world.inventory["hazel"]["firewood"] = 0
    assert observe(env.world)["hazel"]["short_of"]["firewood"] == 1
    for _ in range(10):
        obs, *_ = env.step({})
    assert obs["hazel"]["turn"] == 10
    assert obs["hazel"]["needs"]["firewood"] == 2
    assert obs["hazel"]["needs"]["honey"] == 1  # a diet food: one a turn


def test_an_observed_price_move_is_never_below_minus_one():
    # guards observe's `max(-1.0, move)`: a float residue under -1 stays inside the Box's low of -1
    env = parallel_env("default", turns=3)
    env.reset(seed=0)
    env.world.price_move["honey"] = -1.0000000000000002
    move = observe(env.world)["hazel"]["price_moves"]["honey"]
    assert float(move) == -1.0
    assert observation_space(GOODS, 3)["price_moves"]["honey"].contains(move)


def test_a_whispered_rise_is_observed_as_a_rise():
    # guards observe's `whisper[good] = direction`: 2 (rise) is not flattened to 1 (fall)
    env = parallel_env("default", turns=3)
    env.reset(seed=0)
    env.world.heard_whispers["hazel"] = [("honey", 2, "Honey will rise."), ("acorns", 1, "Acorns will fall.")]
    seen = observe(env.world)["hazel"]
    assert seen["whisper"] == {**dict.fromkeys(GOODS, 0), "honey": 2, "acorns": 1}
    assert seen["whispers"] == "Honey will rise.\nAcorns will fall."


# --------------------------------------------------------------------------- parallel


def test_the_action_spaces_orders_name_a_quantity_of_at_least_one_and_a_price_of_at_least_min_price():
    # guards action_space's qty `Discrete(max_qty, start=1)` and price Box low of MIN_PRICE: a
    # sample never names qty 0 or a price the market refuses as bad_price
    order = action_space(GOODS, 500, 200)["orders"].feature_space
    qty, price = order["qty"], order["price"]
    assert (int(qty.start), int(qty.n)) == (1, 500)
    assert not qty.contains(np.int64(0)) and qty.contains(np.int64(500)) and not qty.contains(np.int64(501))
    assert (float(price.low), float(price.high)) == (MIN_PRICE, MAX_PRICE)


def test_a_side_index_beside_a_good_name_is_still_named():
    # guards normalize_action's `or`: one index in an order is enough to read it in the space's form
    action = {"orders": [{"side": 1, "good": "honey", "qty": 2, "price": 9.5}]}
    assert normalize_action(action, GOODS)["orders"] == [{"side": "sell", "good": "honey", "qty": 2, "price": 9.5}]


def test_the_last_good_index_is_named():
    # guards _named's `0 <= good < len(goods)`: index 4 of five goods is mushrooms; 5 is left as it is
    action = {
        "orders": [{"side": 0, "good": 4, "qty": 1, "price": 3.0}, {"side": 0, "good": 5, "qty": 1, "price": 3.0}]
    }
    assert [o["good"] for o in normalize_action(action, GOODS)["orders"]] == ["mushrooms", 5]


def test_a_bool_side_is_not_read_as_an_index_and_is_refused_as_bad_side():
    # guards _named's `not isinstance(side, bool)`: True is no side, whatever int(True) is
    action = {"orders": [{"side": True, "good": 0, "qty": 1, "price": 11.0}]}
    assert normalize_action(action, GOODS)["orders"] == [{"side": True, "good": "honey", "qty": 1, "price": 11.0}]
    env = parallel_env("default", turns=3)
    env.reset(seed=0)
    _, _, _, _, infos = env.step({"oona": action})
    assert [(n["reason"], n["outcome"]) for n in infos["oona"]["notes"]] == [("bad_side", "rejected")]


def test_reset_forgets_the_last_episodes_score_row_and_wealth():
    # guards reset's `self.last_row = self.last_wealth_before = None`: nothing of the last episode leaks
    env = parallel_env("default", turns=3)
    env.reset(seed=0)
    env.step({})
    assert env.last_row is not None and env.last_wealth_before is not None
    env.reset(seed=1)
    assert (env.last_row, env.last_wealth_before) == (None, None)


def test_a_steps_infos_carry_the_turn_just_played():
    # guards step's infos `"turn": row["turn"]`: the first step reports turn 0, though the world is at 1
    env = parallel_env("default", turns=3)
    env.reset(seed=0)
    _, _, _, _, infos = env.step({})
    assert {i["turn"] for i in infos.values()} == {0}
    assert env.world.turn == 1
    _, _, _, _, infos = env.step({})
    assert {i["turn"] for i in infos.values()} == {1}


def test_the_observation_space_of_an_unknown_agent_is_refused():
    # guards observation_space's `_check_agent`: a misspelt agent gets no space of its own
    env = parallel_env("default", turns=3)
    with pytest.raises(KeyError, match=r"unknown agent 'hazle' \(agents: oona, thorn, hazel, bramble, moss\)"):
        env.observation_space("hazle")
