"""Tests written by the stop-59 mutation audit of the Wood's turn, the stand-in and the statistics
(glade.env.market, phases, standin; glade.eval.stats, fdr): each pins a behaviour that a plausible
one-line change (a comparison flipped, an off-by-one, a clause dropped, a tolerance removed) left
untested. The comment on each names what it guards."""

from __future__ import annotations

import dataclasses

from test_phases import world_of

from glade.env import phases
from glade.env.market import MAX_PRICE, validate_orders
from glade.env.protocol import MAX_QTY
from glade.env.standin import Disposition, act
from glade.eval.fdr import heterogeneity
from glade.eval.stats import interval, jsd, support


def reasons(decisions, creature: str) -> list[tuple[int | None, str]]:
    return [(n["order"], n["reason"]) for n in decisions.notes[creature]]


# --------------------------------------------------------------------------- phases


def test_an_unreadable_qty_or_price_string_is_rejected_and_not_counted_a_repair():
    # guards read_notes' `as_int(qty) is not None` and `as_price(price) is not None`: "lots" is a
    # bad_qty and "cheap" a bad_price, never also a qty_string or price_string "repaired"
    decisions = phases.decide(
        world_of(),
        {
            "thorn": {
                "orders": [
                    {"side": "buy", "good": "acorns", "qty": "lots", "price": 2.0},
                    {"side": "buy", "good": "berries", "qty": 1, "price": "cheap"},
                ]
            }
        },
    )
    assert reasons(decisions, "thorn") == [(0, "bad_qty"), (1, "bad_price")]


def test_an_order_past_max_orders_gets_its_rejection_and_no_repair_note():
    # guards read_notes' `i >= max_orders`: the ninth order (index 8, max_orders 8) is never read
    world = world_of()
    assert world.scenario.market.max_orders == 8
    orders = [{"side": "sell", "good": "honey", "qty": 1, "price": 50.0}]
    orders += [{"side": "buy", "good": "acorns", "qty": 1, "price": 0.01}] * 7
    orders += [{"side": "buy", "good": "acorns", "qty": "1", "price": 0.01}]
    said = reasons(phases.decide(world, {"thorn": {"orders": orders}}), "thorn")
    assert (8, "too_many_orders") in said
    assert (8, "qty_string") not in said


def test_gossip_with_extra_spaces_is_posted_folded_and_not_noted_as_cut():
    # guards post_gossip's `text != " ".join(gossip.split())`: folding spaces is no cut
    world = world_of()
    actions = {"oona": {"gossip": "Honey   is  sweet."}}
    decisions = phases.decide(world, actions)
    phases.post_gossip(world, actions, decisions)
    assert world.posted == [("oona", "Honey is sweet.")]
    assert "gossip_cut" not in [n["reason"] for n in decisions.notes["oona"]]


# --------------------------------------------------------------------------- market


def test_a_whole_number_price_of_exactly_the_top_of_the_action_space_is_valid():
    # guards as_price's `price <= MAX_PRICE` (the path of an int or a numeric string)
    assert MAX_PRICE == 10_000.0
    for price in (10_000, "10000"):
        orders, notes = validate_orders(
            "a", [{"side": "sell", "good": "honey", "qty": 1, "price": price}], ("honey",), {"honey": 1}, 0.0, 8, 500
        )
        assert notes == [] and orders[0].price == 10_000


# --------------------------------------------------------------------------- the stand-in

FLAT = Disposition("flat", jitter=0.0)  # no price jitter: limits can be worked by hand


def observation(goods, inventory, prices, needs, appetite=2, pebbles=1000.0) -> dict:
    """A hand-made observation: nothing produced, no talk or whispers, firewood the fuel."""
    zero = dict.fromkeys(goods, 0)
    return {
        "creature": "x",
        "turn": 0,
        "fuel": "firewood",
        "appetite": appetite,
        "pebbles": pebbles,
        "inventory": inventory,
        "needs": needs,
        "produces": dict(zero),
        "talk": dict(zero),
        "whisper": dict(zero),
        "prices": prices,
        "price_moves": dict.fromkeys(goods, 0.0),
    }


def test_the_stand_in_wants_only_its_appetites_cheapest_foods_when_the_diet_has_one_more():
    # guards act's `len(eats) > appetite`: appetite 2 and three foods on the diet buy the two cheapest
    goods = ["firewood", "a", "b", "c"]
    o = observation(
        goods,
        {"firewood": 2, "a": 0, "b": 0, "c": 0},
        {"firewood": 1.0, "a": 1.0, "b": 2.0, "c": 3.0},
        dict.fromkeys(goods, 1),
    )
    assert [x["good"] for x in act(o, FLAT)["orders"]] == ["a", "b"]


def test_the_stand_ins_limit_stays_under_the_schemas_price_cap():
    # guards act's `limit > PRICE_CAP * ref`: a bid of +1000% on 3.3333 would be 36.67, over the
    # cap (10x the reference, to the cent below: 33.33) that no structured seat can pass
    o = observation(["firewood"], {"firewood": 0}, {"firewood": 3.3333}, {"firewood": 1})
    (order,) = act(o, dataclasses.replace(FLAT, bid=10.0))["orders"]
    assert order["price"] == 33.33


def test_the_stand_in_asks_for_at_most_max_qty_when_it_wants_one_more():
    # guards act's `qty > MAX_QTY`: 501 wanted is an order of 500, not one the Wood rejects whole
    o = observation(["firewood"], {"firewood": 0}, {"firewood": 1.0}, {"firewood": 1}, pebbles=1e6)
    (order,) = act(o, dataclasses.replace(FLAT, horizon=MAX_QTY + 1))["orders"]
    assert order["qty"] == MAX_QTY == 500


# --------------------------------------------------------------------------- statistics


def test_the_same_value_tolerance_scales_with_the_mean():
    # guards interval's `ROUNDING * max(1.0, abs(mean))`: a wealth total of 1e9 with half a pebble
    # of rounding is the same value on every seed, not a t interval around it
    iv = interval([1e9, 1e9 + 0.5, 1e9, 1e9])
    assert iv.same and iv.low is None and iv.note == "same value in all 4 seeds"


def test_a_rounding_sized_effect_has_no_support():
    # guards support's `abs(sign) <= NO_DIFFERENCE`: an effect of 1e-13 has no sign to agree with
    assert support([1.0, 2.0], 1e-13) == 0.0


def test_the_divergence_of_two_distributions_equal_but_for_rounding_is_not_negative():
    # guards jsd's `max(0.0, ...)`: its range is [0, 1]; unclamped this gives -2.7e-17
    assert jsd([1, 2, 3], [1 + 1e-12, 2 + 1e-12, 3 + 1e-12]) == 0.0


def test_the_most_even_split_of_an_outcome_over_casts_has_p_1():
    # guards heterogeneity's tie tolerance (`observed * (1 - 1e-9)`): 5 crashes over 3 casts as
    # 2, 2, 1 is as even as any shuffle within the seeds can make it, so every shuffle ties or
    # beats it; counted without the tolerance, float noise dropped ties and gave p = 0.61
    assert heterogeneity([[0, 1, 1], [0, 1, 1], [1, 0, 0]], draws=500, seed=0) == 1.0
