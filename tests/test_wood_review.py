"""The Wood against its written rules: inputs the env promised to name rather than raise on,
and the behaviour behind docstrings that were corrected (legends, reprice depth, the stand-in's
hoard, the action schema's lone buy)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from glade.env import parallel_env, standin
from glade.env.action_schema import action_schema
from glade.env.market import Clearing, reprice, validate_orders
from glade.env.protocol import parse
from glade.env.world import check_conservation

GOODS = ("honey", "firewood", "acorns", "berries", "mushrooms")
ARRAY = np.array(["buy", "sell"])  # `x in SIDES` on this asks for an array's truth value


# --------------------------------------------------------------------------- arrays as order fields


@pytest.mark.parametrize("field, reason", [("side", "bad_side"), ("good", "unknown_good")])
def test_an_array_as_side_or_good_is_a_named_rejection_not_a_crash(field, reason):
    raw = [{"side": "sell", "good": "honey", "qty": 1, "price": 5.0}, {"side": "sell", "good": "honey", "qty": 1}]
    raw[0][field] = ARRAY
    orders, notes = validate_orders("oona", raw, GOODS, {"honey": 3}, 10.0, 8, 500)
    assert orders == []
    assert notes == [
        {"order": 0, "reason": reason, "outcome": "rejected", "qty": 0},
        {"order": 1, "reason": "bad_price", "outcome": "rejected", "qty": 0},
    ]


def test_a_step_with_array_fields_notes_them_and_the_others_trade_on():
    env = parallel_env("default", turns=3)
    env.reset(seed=0)
    actions = {
        "oona": {"orders": [{"side": ARRAY, "good": "honey", "qty": 1, "price": 9.0}], "gossip": "fresh honey"},
        "thorn": {"orders": [{"side": "sell", "good": ARRAY, "qty": 1, "price": 3.0}], "gossip": ARRAY},
        "hazel": {"orders": [{"side": "sell", "good": "acorns", "qty": 2, "price": 1.5}]},
        "moss": {"orders": [{"side": "buy", "good": "acorns", "qty": 2, "price": 2.5}]},
    }
    _, _, _, _, infos = env.step(actions)
    assert [n["reason"] for n in infos["oona"]["notes"]] == ["bad_side"]
    assert [n["reason"] for n in infos["thorn"]["notes"]] == ["unknown_good", "gossip_not_text"]
    assert env.world.history[-1]["volume"]["acorns"] == 2  # hazel and moss still traded
    assert env.world.gossip == [("oona", "fresh honey")]  # an array is no gossip, heard next turn
    assert check_conservation(env.world) == []


def test_the_parser_names_an_array_side_per_order_instead_of_a_parser_fault():
    env = parallel_env("default", turns=3)
    obs, _ = env.reset(seed=0)
    # parse() is given text in practice; its validation is the Wood's, so the same holds there
    orders, notes = validate_orders("oona", [{"side": ARRAY}], GOODS, obs["oona"]["inventory"], 60.0, 8, 500)
    assert (orders, [n["reason"] for n in notes]) == ([], ["bad_side"])
    assert parse('{"orders": [{"side": "sell", "good": "honey", "qty": 1, "price": 9}]}', obs["oona"]).error is None


# --------------------------------------------------------------------------- corrected docstrings


def test_an_override_reports_its_write_in_the_next_turns_news_and_a_rumour_does_not():
    """legends.py: every mechanism publishes the same legend text; an override also reports its write."""
    seen = {}
    for mechanism in ("rumour", "override"):
        env = parallel_env(f"gambit_{mechanism}", turns=6)
        obs, _ = env.reset(seed=3)
        while env.world.turn < 5:
            obs, *_ = env.step({})
        seen[mechanism] = obs["oona"]["events"].split("\n")
    assert seen["rumour"] == [""]
    [line] = seen["override"]
    assert line.startswith("At settlement the honey price was set from ")


def test_depth_pushes_fully_only_when_nothing_traded():
    """market.reprice: a one-sided residual of `depth` pushes fully (tilt -1) only with no trade."""

    def clearing(price, volume, unfilled_supply):
        return Clearing("honey", price, volume, [], volume, volume + unfilled_supply, 0, unfilled_supply)

    assert reprice(10.0, clearing(None, 0, 10), 0.5, 0.1, 0.15, 0.25, 10) == pytest.approx(9.0)
    # the same residual after 20 units traded at the reference: tilt -10 / 30
    assert reprice(10.0, clearing(10.0, 20, 10), 0.5, 0.1, 0.15, 0.25, 10) == pytest.approx(10.0 * (1 - 0.1 / 3))


def test_an_order_away_from_the_market_presses_on_no_price():
    """market.reprice: an unfilled bid below the reference, or offer above it, was counted as
    demand / supply, so a bid of 500 at 0.01 (5 pebbles, never filled) lifted honey 10% a turn
    (10.00 -> 31.38 in 12 turns, for free). Only orders at or through the reference press."""

    def honey_after(order: dict) -> float:
        env = parallel_env("default", turns=2)
        env.reset(seed=0)
        env.step({"hazel": {"orders": [order]}})
        assert env.world.history[-1]["volume"]["honey"] == 0
        return env.world.price["honey"]

    assert honey_after({"side": "buy", "good": "honey", "qty": 500, "price": 0.01}) == 10.0
    assert honey_after({"side": "buy", "good": "honey", "qty": 5, "price": 9.99}) == 10.0
    assert honey_after({"side": "buy", "good": "honey", "qty": 3, "price": 10.0}) == pytest.approx(
        10.0 * (1 + 0.1 * 3 / 10)
    )
    assert honey_after({"side": "sell", "good": "honey", "qty": 2, "price": 9000.0}) == 10.0


def test_a_hoard_buys_the_gap_when_it_is_larger_than_hoard_units():
    """standin: `hoard` buys at least `hoard_units`, the gap of rule 1 if larger."""
    obs, _ = parallel_env("default", turns=4).reset(seed=1)
    moss = {**obs["moss"], "talk": {**obs["moss"]["talk"], "firewood": 2}, "pebbles": 1000.0}
    moss["inventory"] = {**moss["inventory"], "firewood": 0}
    moss["needs"] = {**moss["needs"], "firewood": 4}  # want 4 x horizon 2 = 8 > hoard_units 5
    [buy] = [o for o in standin.act(moss, "hoarder")["orders"] if o["good"] == "firewood"]
    assert (buy["side"], buy["qty"]) == ("buy", 4 * standin.disposition("hoarder").horizon)


def test_a_lone_buy_at_the_schemas_highest_price_is_never_dropped_for_pebbles():
    """action_schema: a price its pebbles cover once, so a lone buy is never `no_pebbles`."""
    obs, _ = parallel_env("default", turns=4).reset(seed=1)
    for pebbles in (0.01, 0.29, 3.999, 60.0):
        oona = {**obs["oona"], "pebbles": np.array(pebbles)}
        buy_forms = [
            f
            for f in action_schema(oona)["properties"]["orders"]["items"]["anyOf"]
            if f["properties"]["side"]["const"] == "buy"
        ]
        for form in buy_forms:
            good, top = form["properties"]["good"]["const"], form["properties"]["price"]["maximum"]
            text = f'{{"orders": [{{"side": "buy", "good": "{good}", "qty": 1, "price": {top}}}]}}'
            parsed = parse(text, oona)
            assert parsed.error is None and parsed.action["orders"][0]["qty"] == 1, (pebbles, good, top)


def test_lend_refuses_a_rate_that_is_not_a_finite_non_negative_number():
    from glade.env import patron

    env = parallel_env(turns=3)
    env.reset(seed=0)
    for rate in (float("nan"), float("inf"), -0.1):
        with pytest.raises(patron.PatronError, match=r"cannot lend at rate"):
            patron.lend(env.world, "thorn", 10.0, rate, 2)
    assert env.world.patron.loans == [] and env.world.patron.pebbles == 200.0  # nothing moved


def test_conservation_names_a_nan_holding():
    env = parallel_env(turns=3)
    env.reset(seed=0)
    env.world.pebbles["thorn"] = float("nan")  # abs(nan) > tol is False: it used to pass
    assert [p for p in check_conservation(env.world) if p.startswith("thorn holds nan pebbles")]


def test_firewood_steps_out_of_order_are_refused_by_name():
    from glade.config import ConfigError
    from glade.env import load_scenario

    steps = [{"from_turn": 10, "units": 2}, {"from_turn": 0, "units": 1}]
    with pytest.raises(ConfigError, match=r"firewood_need\[1\]\.from_turn: steps must be listed in rising from_turn"):
        load_scenario("default", firewood_need=steps)


@pytest.mark.parametrize(
    "key, value, says",
    [
        ("creatures.oona.pebbles", 2e9, "creatures.oona.pebbles: must be from 0 to below 1,000,000,000"),
        ("goods.berries.price_floor", 0.001, "goods.berries.price_floor: must be at least 0.01"),
    ],
)
def test_a_scenario_the_observation_or_the_orders_cannot_hold_is_refused(key, value, says):
    """2e9 pebbles failed the observation space at reset; a floor under a cent let a price sink
    where no order can name one."""
    from glade.config import ConfigError
    from glade.env import load_scenario

    with pytest.raises(ConfigError, match=re.escape(says)):
        load_scenario("default", **{key: value})


def test_a_stand_in_with_more_than_an_order_can_hold_sells_the_most_one_can():
    """Thorn holding 600 firewood offered 602 and was rejected whole (absurd_qty)."""
    from glade.env.protocol import MAX_QTY

    env = parallel_env("default", turns=2, **{"creatures.thorn.inventory": {"firewood": 600}})
    obs, _ = env.reset(seed=0)
    action = standin.act(obs["thorn"], standin.disposition("balanced"), seed=0)
    sells = [o for o in action["orders"] if o["good"] == "firewood"]
    assert sells and sells[0]["qty"] == MAX_QTY
    *_, info = env.step({"thorn": action})
    assert info["thorn"]["notes"] == []  # nothing rejected
