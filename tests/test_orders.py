"""market.validate_orders: every named rejection and cut, checked in order and cumulatively."""

from __future__ import annotations

import math

import numpy as np
import pytest

from glade.env import parallel_env
from glade.env.market import Order, validate_orders
from glade.env.world import check_conservation

# --------------------------------------------------------------------------- validate_orders

GOODS = ("honey", "acorns", "berries")


def validate(raw, inventory=None, pebbles=20.0, max_orders=8, max_qty=500):
    inventory = {"honey": 5, "acorns": 0, "berries": 2} if inventory is None else inventory
    return validate_orders("oona", raw, GOODS, inventory, pebbles, max_orders, max_qty)


def rejected(i, reason):
    return {"order": i, "reason": reason, "outcome": "rejected", "qty": 0}


def o(side="sell", good="honey", qty=1, price=5.0):
    return {"side": side, "good": good, "qty": qty, "price": price}


def test_valid_orders_pass_unchanged():
    orders, notes = validate([o("sell", "honey", 2, 9.5), o("buy", "acorns", 3, 2.0)])
    assert orders == [Order("oona", "sell", "honey", 2, 9.5), Order("oona", "buy", "acorns", 3, 2.0)]
    assert notes == []


def test_none_and_a_single_dict():
    assert validate(None) == ([], [])
    assert validate([]) == ([], [])
    assert validate(o("sell", "honey", 1, 3.0)) == ([Order("oona", "sell", "honey", 1, 3.0)], [])


@pytest.mark.parametrize("raw", ["sell honey", 7, None, ["honey"], ("sell", "honey", 1, 2.0)])
def test_not_an_order(raw):
    assert validate([raw]) == ([], [rejected(0, "not_an_order")])


@pytest.mark.parametrize("side", ["borrow", "BUY", None, 0, 1, True])
def test_bad_side(side):
    assert validate([o(side=side)]) == ([], [rejected(0, "bad_side")])


def test_missing_side_is_bad_side():
    assert validate([{"good": "honey", "qty": 1, "price": 5.0}]) == ([], [rejected(0, "bad_side")])


@pytest.mark.parametrize("good", ["nectar", "Honey", None, 0, ""])
def test_unknown_good(good):
    assert validate([o(good=good)]) == ([], [rejected(0, "unknown_good")])


@pytest.mark.parametrize("qty", [0, -1, 2.5, "lots", None, True, False, math.nan, math.inf, [1]])
def test_bad_qty(qty):
    assert validate([o(qty=qty)]) == ([], [rejected(0, "bad_qty")])


def test_integral_floats_and_numpy_ints_are_whole_quantities():
    orders, notes = validate([o(qty=2.0), o(qty=np.int64(1)), o(qty=np.array(1))])
    assert notes == []
    assert [x.qty for x in orders] == [2, 1, 1]
    assert all(type(x.qty) is int for x in orders)


def test_absurd_qty_is_checked_after_a_valid_qty():
    orders, notes = validate([o(qty=501), o(qty=500, side="buy", good="acorns", price=0.01)], max_qty=500)
    assert notes == [rejected(0, "absurd_qty")]
    assert orders == [Order("oona", "buy", "acorns", 500, 0.01)]


@pytest.mark.parametrize("price", [math.nan, math.inf, -math.inf, -1.0, 0.0, 0, True, False, None, "cheap", [5.0]])
def test_bad_price(price):
    assert validate([o(price=price)]) == ([], [rejected(0, "bad_price")])


def test_numpy_price_is_accepted_as_float():
    orders, notes = validate([o(price=np.array(2.5)), o(price=np.float32(3.5))])
    assert notes == []
    assert [x.price for x in orders] == [2.5, 3.5]


def test_reasons_are_checked_in_the_documented_order():
    # every field bad: the side is named first, then the good, then qty, then price
    assert validate([{"side": "x", "good": "x", "qty": -1, "price": -1}])[1] == [rejected(0, "bad_side")]
    assert validate([{"side": "buy", "good": "x", "qty": -1, "price": -1}])[1] == [rejected(0, "unknown_good")]
    assert validate([{"side": "buy", "good": "honey", "qty": -1, "price": -1}])[1] == [rejected(0, "bad_qty")]
    assert validate([{"side": "buy", "good": "honey", "qty": 999, "price": -1}])[1] == [rejected(0, "absurd_qty")]
    assert validate([{"side": "buy", "good": "honey", "qty": 1, "price": -1}])[1] == [rejected(0, "bad_price")]


def test_too_many_orders_counts_every_raw_order_including_rejected_ones():
    raw = ["junk", o("sell", "honey", 1, 5.0), o("sell", "honey", 1, 6.0), o("buy", "acorns", 1, 1.0)]
    orders, notes = validate(raw, max_orders=2)
    assert orders == [Order("oona", "sell", "honey", 1, 5.0)]
    assert notes == [rejected(0, "not_an_order"), rejected(2, "too_many_orders"), rejected(3, "too_many_orders")]


def test_both_sides_of_one_good_is_rejected_on_the_second_side():
    raw = [o("sell", "honey", 1, 5.0), o("buy", "honey", 1, 4.0), o("sell", "honey", 1, 6.0)]
    orders, notes = validate(raw)
    assert orders == [Order("oona", "sell", "honey", 1, 5.0), Order("oona", "sell", "honey", 1, 6.0)]
    assert notes == [rejected(1, "both_sides")]


def test_a_rejected_order_does_not_claim_a_side():
    # the buy is unaffordable (no_pebbles), so a later sell of the same good is fine
    orders, notes = validate([o("buy", "honey", 1, 100.0), o("sell", "honey", 2, 5.0)])
    assert notes == [rejected(0, "no_pebbles")]
    assert orders == [Order("oona", "sell", "honey", 2, 5.0)]


def test_sell_not_held():
    assert validate([o("sell", "acorns", 1, 2.0)]) == ([], [rejected(0, "sell_not_held")])


def test_oversell_is_cut_to_what_is_held():
    orders, notes = validate([o("sell", "honey", 7, 5.0)])
    assert orders == [Order("oona", "sell", "honey", 5, 5.0)]
    assert notes == [{"order": 0, "reason": "oversell", "outcome": "cut", "qty": 5}]


def test_sells_are_checked_cumulatively():
    raw = [
        o("sell", "honey", 3, 5.0),
        o("sell", "honey", 3, 6.0),
        o("sell", "honey", 1, 7.0),
        o("sell", "berries", 2, 3.0),
    ]
    orders, notes = validate(raw)
    assert orders == [
        Order("oona", "sell", "honey", 3, 5.0),
        Order("oona", "sell", "honey", 2, 6.0),
        Order("oona", "sell", "berries", 2, 3.0),
    ]
    assert notes == [{"order": 1, "reason": "oversell", "outcome": "cut", "qty": 2}, rejected(2, "sell_not_held")]


def test_no_pebbles():
    assert validate([o("buy", "acorns", 1, 25.0)], pebbles=20.0) == ([], [rejected(0, "no_pebbles")])
    assert validate([o("buy", "acorns", 1, 1.0)], pebbles=0.0) == ([], [rejected(0, "no_pebbles")])


def test_overspend_is_cut_to_what_the_pebbles_buy_at_the_limit():
    orders, notes = validate([o("buy", "acorns", 5, 6.0)], pebbles=20.0)  # 20 // 6 = 3
    assert orders == [Order("oona", "buy", "acorns", 3, 6.0)]
    assert notes == [{"order": 0, "reason": "overspend", "outcome": "cut", "qty": 3}]


def test_a_buy_that_spends_every_pebble_exactly_is_not_cut():
    # 1122.80 / 20.05 divides to 55.99999999999999 in floats: it was cut to 55 as an overspend
    assert validate([o("buy", "acorns", 56, 20.05)], pebbles=1122.80) == (
        [Order("oona", "buy", "acorns", 56, 20.05)],
        [],
    )
    assert validate([o("buy", "acorns", 314, 0.05)], pebbles=15.70)[1] == []
    assert validate([o("buy", "acorns", 57, 20.05)], pebbles=1122.80)[1] == [
        {"order": 0, "reason": "overspend", "outcome": "cut", "qty": 56}
    ]


def test_a_fill_that_spends_every_pebble_leaves_zero_not_float_dust_below_it():
    from glade.env import load_scenario
    from glade.env.world import new_world, trade

    world = new_world(load_scenario("default"), seed=0)
    buyer, seller = world.creatures[:2]
    world.pebbles[buyer], before = 1122.80, world.pebbles[seller]
    trade(world, buyer, seller, "acorns", 56, 20.05)  # 56 x 20.05 = 1122.8000000000002 in floats
    assert world.pebbles[buyer] == 0.0 and world.pebbles[seller] == before + 1122.80  # what one pays the other gets
    paid = [e.delta for e in world.journal if e.asset == "pebbles"]
    assert paid == [-1122.80, 1122.80]


def test_buys_are_checked_cumulatively():
    # 2@6 commits 12 of 20; 3@4 can take only 2 (8 left); then nothing is left for 1@1.
    raw = [o("buy", "acorns", 2, 6.0), o("buy", "berries", 3, 4.0), o("buy", "acorns", 1, 1.0)]
    orders, notes = validate(raw, pebbles=20.0)
    assert orders == [Order("oona", "buy", "acorns", 2, 6.0), Order("oona", "buy", "berries", 2, 4.0)]
    assert notes == [{"order": 1, "reason": "overspend", "outcome": "cut", "qty": 2}, rejected(2, "no_pebbles")]


def test_buys_and_sells_have_separate_budgets():
    # selling does not fund buying in the same turn, and buying does not use up goods
    raw = [o("sell", "honey", 5, 5.0), o("buy", "acorns", 4, 5.0), o("buy", "berries", 1, 0.5)]
    orders, notes = validate(raw, pebbles=20.0)
    assert orders == [
        Order("oona", "sell", "honey", 5, 5.0),
        Order("oona", "buy", "acorns", 4, 5.0),
    ]
    assert notes == [rejected(2, "no_pebbles")]


def test_validation_is_pure():
    inventory = {"honey": 5, "acorns": 0, "berries": 2}
    raw = [o("sell", "honey", 9, 5.0), o("buy", "acorns", 9, 5.0)]
    before = (dict(inventory), [dict(r) for r in raw])
    validate(raw, inventory=inventory)
    assert (inventory, raw) == before


def test_env_keeps_prices_inside_the_action_space():
    """parse() and the env both keep prices inside the action space's [0.01, 10000]: a price
    outside (1e-320 once overflowed the budget maths) is a bad_price, the bounds are valid."""
    env = parallel_env("default", turns=2)
    env.reset(seed=0)
    orders = [o("buy", "acorns", 1, 1e-320), o("buy", "berries", 1, 10_000.5), o("buy", "honey", 1, 0.01)]
    _, _, _, _, infos = env.step({"oona": {"orders": orders}})
    bad = [{"order": i, "reason": "bad_price", "outcome": "rejected", "qty": 0} for i in (0, 1)]
    assert infos["oona"]["notes"] == bad and infos["oona"]["fills"] == []
    assert env.world.history[0]["volume"]["acorns"] == 0 and env.world.pebbles["oona"] == 60.0
    assert check_conservation(env.world) == []
