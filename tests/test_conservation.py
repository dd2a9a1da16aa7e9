"""Conservation: goods and pebbles appear or vanish only through journaled causes.

A property test drives random scenarios (overrides, legends under every mechanism, the
gambit) with random, partly malformed orders, and checks the books after every turn.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glade.env import parallel_env, standin
from glade.env.legends import LEGENDS
from glade.env.scenario import MECHANISMS
from glade.env.world import PATRON, PEBBLES, SOURCES_AND_SINKS, check_conservation, move, transfer

GOODS = ("honey", "firewood", "acorns", "berries", "mushrooms")
DISPOSITIONS = tuple(standin.DISPOSITIONS)


@st.composite
def scenario_overrides(draw):
    o: dict = {"turns": draw(st.integers(1, 15))}
    if draw(st.booleans()):
        o["market.max_step"] = draw(st.floats(0.01, 0.9))
    if draw(st.booleans()):
        o["market.pressure"] = draw(st.floats(0.0, 1.0))
    if draw(st.booleans()):
        o["market.trade_weight"] = draw(st.floats(0.0, 1.0))
    if draw(st.booleans()):
        o["market.max_orders"] = draw(st.integers(1, 8))
    for good in ("acorns", "berries", "mushrooms", "honey"):
        if draw(st.booleans()):
            o[f"goods.{good}.spoil_rate"] = draw(st.floats(0.0, 1.0))
    o["legends"] = [
        {"legend": legend, "turn": turn, "mechanism": mechanism}
        for legend, turn, mechanism in draw(
            st.lists(
                st.tuples(st.sampled_from(list(LEGENDS)), st.integers(0, 15), st.sampled_from(MECHANISMS)), max_size=4
            )
        )
    ]
    if draw(st.booleans()):
        open_turn = draw(st.integers(0, 6))
        spring = open_turn + draw(st.integers(0, 5))
        cover = draw(st.one_of(st.none(), st.integers(spring, spring + 4)))
        o["gambit"] = {
            "good": draw(st.sampled_from(GOODS)),
            "size": draw(st.one_of(st.integers(1, 15), st.integers(-15, -1))),
            "open_turn": open_turn,
            "tip_creature": draw(st.sampled_from(["oona", "thorn", "hazel", "bramble", "moss"])),
            "tip_turn": draw(st.integers(0, 8)),
            "tip_true": draw(st.booleans()),
            "legend": draw(st.sampled_from(list(LEGENDS))),
            "mechanism": draw(st.sampled_from(MECHANISMS)),
            "spring_turn": spring,
            "cover_turn": cover,
        }
        o["patron.pebbles"] = draw(st.sampled_from([5.0, 40.0, 200.0]))
        o["patron.heat_per_profit"] = draw(st.sampled_from([0.0, 0.02, 0.5]))
    return o


JUNK = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2))
NUMBERS = st.one_of(
    st.integers(-3, 40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.just(10**7),
    st.text(max_size=3),
)


def order_strategy(prices):
    def sane(side, good, qty, factor):
        return {"side": side, "good": good, "qty": qty, "price": round(prices[good] * factor, 2)}

    sane_order = st.builds(
        sane,
        st.sampled_from(("buy", "sell")),
        st.sampled_from(GOODS),
        st.integers(1, 12),
        st.floats(0.5, 1.6),
    )
    wild_order = st.fixed_dictionaries(
        {
            "side": st.sampled_from(("buy", "sell", "short", None, 0)),
            "good": st.sampled_from(GOODS + ("nectar", None)),
            "qty": NUMBERS,
            "price": NUMBERS,
        }
    )
    return sane_order, wild_order


def action_strategy(obs, prices, seed):
    sane_order, wild_order = order_strategy(prices)
    orders = st.lists(st.one_of(sane_order, sane_order, wild_order, JUNK), max_size=6)
    return st.one_of(
        st.just(standin.act(obs, standin.disposition("balanced"), seed)),
        st.sampled_from(DISPOSITIONS).map(lambda d: standin.act(obs, standin.disposition(d), seed)),
        st.builds(lambda os, g: {"orders": os, "gossip": g}, orders, st.text(max_size=30)),
        orders.map(lambda os: {"orders": os}),
        st.one_of(sane_order, wild_order).map(lambda od: {"orders": od}),
        st.sampled_from([None, {}, {"orders": None}, {"orders": []}, {"gossip": 3}]),
    )


def pebble_totals(world):
    return sum(world.pebbles.values()) + world.patron.pebbles


def good_totals(world):
    return {g: sum(world.inventory[c][g] for c in world.creatures) for g in world.goods}


def assert_books(world, label):
    problems = check_conservation(world)
    assert problems == [], f"{label}: {problems}"
    for c in world.creatures:
        for g in world.goods:
            assert world.inventory[c][g] >= 0, f"{label}: {c} holds {world.inventory[c][g]} {g}"
            assert isinstance(world.inventory[c][g], int)
        assert world.pebbles[c] >= 0, f"{label}: {c} holds {world.pebbles[c]} pebbles"
        assert math.isfinite(world.pebbles[c])
    assert math.isfinite(world.patron.pebbles)


@settings(
    max_examples=int(os.environ.get("GLADE_CONSERVATION_EXAMPLES", "45")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(overrides=scenario_overrides(), seed=st.integers(0, 2**31 - 1), data=st.data())
def test_conservation_under_random_scenarios_and_orders(overrides, seed, data):
    env = parallel_env("default", **overrides)
    obs, _ = env.reset(seed=seed)
    world = env.world
    assert_books(world, "reset")
    while env.agents:
        turn = world.turn
        prices = dict(world.price)
        actions = {a: data.draw(action_strategy(obs[a], prices, seed), label=f"{a}@{turn}") for a in env.agents}
        pebbles_before, goods_before = pebble_totals(world), good_totals(world)
        journal_start = len(world.journal)
        obs, *_ = env.step(actions)
        assert_books(world, f"turn {turn}")
        # An independent tally of the turn: trades, loans and repayments move pebbles and
        # goods between holders; only sources and sinks change the totals.
        new = world.journal[journal_start:]
        assert {e.cause for e in new} <= SOURCES_AND_SINKS | {"trade", "loan", "repay"}
        created = sum(e.delta for e in new if e.asset == PEBBLES and e.cause in SOURCES_AND_SINKS)
        assert pebble_totals(world) == pytest.approx(pebbles_before + created, abs=1e-6)
        goods_delta = defaultdict(int)
        for e in new:
            if e.asset != PEBBLES and e.cause in SOURCES_AND_SINKS:
                goods_delta[e.asset] += e.delta
        goods_after = good_totals(world)
        for g in world.goods:
            assert goods_after[g] == goods_before[g] + goods_delta[g]
        # trades in the journal are exactly the fills of the turn, at the clearing price
        row = world.history[-1]
        traded = defaultdict(int)
        for e in new:
            if e.cause == "trade" and e.asset != PEBBLES and e.delta > 0:
                traded[e.asset] += e.delta
        assert dict(traded) == {g: v for g, v in row["volume"].items() if v}
    assert env.agents == []


# --------------------------------------------------------------------------- tampering is caught


@pytest.fixture
def played():
    env = parallel_env("gambit_override", turns=6)
    obs, _ = env.reset(seed=3)
    d = {c: standin.disposition(env.scenario.creatures[c].disposition) for c in env.agents}
    for _ in range(3):
        obs, *_ = env.step({a: standin.act(obs[a], d[a], 3) for a in env.agents})
    assert check_conservation(env.world) == []
    return env.world


def test_untracked_inventory_change_is_detected(played):
    held = played.inventory["oona"]["honey"]
    played.inventory["oona"]["honey"] += 1
    assert check_conservation(played) == [f"oona holds {held + 1} honey, journal says {held}"]


def test_untracked_pebbles_are_detected(played):
    played.pebbles["thorn"] += 0.5
    problems = check_conservation(played)
    assert (
        len(problems) == 1
        and problems[0].startswith("thorn holds ")
        and problems[0].endswith(f"pebbles, journal says {played.pebbles['thorn'] - 0.5}")
    )


def test_untracked_patron_pebbles_are_detected(played):
    played.patron.pebbles -= 3.0
    problems = check_conservation(played)
    assert len(problems) == 1 and problems[0].startswith("patron holds ")


def test_a_journaled_change_is_not_a_problem(played):
    move(played, "oona", "honey", 1, "produce")
    transfer(played, "hazel", "moss", PEBBLES, 2.0, "trade")
    assert check_conservation(played) == []


def test_unknown_cause_is_detected(played):
    move(played, "oona", "honey", -1, "theft")
    assert check_conservation(played) == [f"turn {played.turn}: unknown cause 'theft'"]


def test_a_one_sided_transfer_is_detected(played):
    move(played, "oona", PEBBLES, 5.0, "trade")
    assert check_conservation(played) == [f"turn {played.turn}: trade of pebbles nets to +5.000000, not 0"]


def test_a_negative_holding_is_detected(played):
    held = played.inventory["moss"]["acorns"]
    move(played, "moss", "acorns", -(held + 2), "eat")
    assert check_conservation(played) == ["moss holds a negative amount of acorns: -2"]


def test_patron_moves_are_journaled(played):
    move(played, PATRON, PEBBLES, 7.0, "patron_pnl")
    assert check_conservation(played) == []
    played.patron.pebbles += 7.0
    assert check_conservation(played) != []
