"""Trace rows hold what the env says: the canonical action and fills JSON are byte for byte what
the standard library's `json.dumps` writes (glade/tracejson.py), and a stand-in episode's rows
and summary carry the wealth, pebbles, mood and trades of an env stepped here by hand with the
same stand-in actions (glade/rollout.py)."""

from __future__ import annotations

import json
import math

import pytest

from glade.env import parallel_env, standin
from glade.env.scenario import load_scenario
from glade.rollout import run_episode
from glade.tracejson import canonical, fills_json

CANONICAL = {"separators": (", ", ": ")}  # json.dumps' own defaults, written out


def dumps_action(orders: list[dict], **extra) -> str:
    return json.dumps({"orders": orders, **extra}, **CANONICAL)


# --- tracejson --------------------------------------------------------------------------------


def test_canonical_rounds_prices_to_two_places_and_makes_qty_an_int():
    action = {"orders": [{"side": "buy", "good": "honey", "qty": 2.0, "price": 10.456}]}
    want = '{"orders": [{"side": "buy", "good": "honey", "qty": 2, "price": 10.46}]}'
    assert canonical(action) == want == dumps_action([{"side": "buy", "good": "honey", "qty": 2, "price": 10.46}])
    action = {"orders": [{"price": 3.14159, "qty": 5, "good": "acorns", "side": "sell"}]}  # keys in any order
    assert canonical(action) == dumps_action([{"side": "sell", "good": "acorns", "qty": 5, "price": 3.14}])
    assert canonical({"orders": []}) == '{"orders": []}'


def test_canonical_keeps_the_thought_and_the_gossip_in_that_order():
    orders = [{"side": "sell", "good": "honey", "qty": 1, "price": 9.5}]
    action = {"thought": "prices will fall", "gossip": "honey is rotten", "orders": orders}
    want = dumps_action(orders, gossip="honey is rotten", thought="prices will fall")
    assert canonical(action) == want
    assert want.endswith('"gossip": "honey is rotten", "thought": "prices will fall"}')
    assert canonical({"orders": orders, "thought": "only this"}) == dumps_action(orders, thought="only this")
    assert canonical({"orders": [], "gossip": "", "thought": ""}) == '{"orders": []}'  # empty ones left out


def test_canonical_non_ascii_text_is_escaped_as_json_dumps_escapes_it():
    orders = [{"side": "buy", "good": "mûres", "qty": 3, "price": 1.0}]
    action = {"orders": orders, "gossip": "le miel est gâté ☕", "thought": "café — 蜂蜜"}
    want = dumps_action(orders, gossip="le miel est gâté ☕", thought="café — 蜂蜜")
    assert canonical(action) == want and want.isascii()
    assert '"thought": "caf\\u00e9 \\u2014 \\u8702\\u871c"' in want


def test_canonical_an_order_the_fast_path_cannot_write_goes_through_the_encoder():
    # a price that is not finite: the encoder writes it, with the canonical separators
    orders = [{"side": "buy", "good": "honey", "qty": 1, "price": math.inf}]
    assert canonical({"orders": orders}) == dumps_action(orders)
    assert (
        canonical({"orders": orders}) == '{"orders": [{"side": "buy", "good": "honey", "qty": 1, "price": Infinity}]}'
    )
    orders = [{"side": None, "good": "honey", "qty": 1, "price": 2.0}]
    assert canonical({"orders": orders}) == dumps_action(orders)


def test_canonical_gossip_that_is_not_text_is_written_with_the_canonical_separators():
    assert canonical({"orders": [], "gossip": ["a", "b"]}) == dumps_action([], gossip=["a", "b"])
    assert canonical({"orders": [], "gossip": ["a", "b"]}).endswith('"gossip": ["a", "b"]}')


def test_fills_json_is_json_dumps_with_the_counterparty():
    fills = [
        {"side": "buy", "good": "firewood", "qty": 1, "price": 2.345512834224599, "with": "thorn"},
        {"side": "sell", "good": "honey", "qty": 12, "price": 10.0, "with": "hazel"},
    ]
    assert fills_json(fills) == json.dumps(fills)
    assert fills_json(fills).startswith('[{"side": "buy", "good": "firewood", "qty": 1, "price": 2.345512834224599')
    odd = [{"side": "buy", "good": "honey", "qty": 1, "price": 3.5, "with": "ço\u00efna"}]
    assert fills_json(odd) == json.dumps(odd) and fills_json(odd).endswith('"with": "\\u00e7o\\u00efna"}]')
    odd = [{"side": "buy", "good": "honey", "qty": 1, "price": 3, "with": "moss"}]  # an int price: the encoder
    assert fills_json(odd) == json.dumps(odd)


# --- one stand-in episode, rows and summary against the env --------------------------------------

SEED, TURNS = 3, 6


def by_hand(scenario_name: str = "default", seed: int = SEED, turns: int = TURNS):
    """Step the env with each creature's scenario stand-in: per (turn, creature) what a row
    should say, computed from the world itself (wealth = pebbles + held goods at prices)."""
    scenario = load_scenario(scenario_name, turns=turns)
    env = parallel_env(scenario)
    obs, _ = env.reset(seed=seed)
    expected = {}
    while env.agents:
        world, agents = env.world, list(env.agents)
        before = {
            c: world.pebbles[c] + sum(world.inventory[c][g] * world.price[g] for g in world.goods) for c in agents
        }
        actions = {c: standin.act(obs[c], scenario.creatures[c].disposition) for c in agents}
        turn = world.turn
        obs, _, _, _, infos = env.step(actions)
        for c in agents:
            after = world.pebbles[c] + sum(world.inventory[c][g] * world.price[g] for g in world.goods)
            expected[(turn, c)] = {
                "action": actions[c],
                "wealth_before": before[c],
                "wealth_after": after,
                "pebbles": world.pebbles[c],
                "mood": world.mood[c],
                "fills": infos[c]["fills"],
            }
    return env.world, expected


@pytest.fixture(scope="module")
def episode():
    played = run_episode("default", SEED, turns=TURNS)
    world, expected = by_hand()
    return played, world, expected


def test_each_row_carries_the_wealth_change_pebbles_and_mood_of_its_turn(episode):
    played, _, expected = episode
    assert len(played.rows) == len(expected) == TURNS * 5
    for row in played.rows:
        want = expected[(row["turn"], row["creature"])]
        assert json.loads(row["action"]) == json.loads(canonical(want["action"]))
        assert row["wealth_before"] == pytest.approx(want["wealth_before"], abs=1e-9)
        assert row["wealth_after"] == pytest.approx(want["wealth_after"], abs=1e-9)
        assert row["wealth_change"] == pytest.approx(want["wealth_after"] - want["wealth_before"], abs=1e-9)
        assert row["pebbles"] == want["pebbles"]
        assert row["mood"] == want["mood"]
        assert row["fills"] == (json.dumps(want["fills"]) if want["fills"] else "[]")
    # the rows must tell these apart: creatures hold goods, moods move, wealth is far from 0
    assert any(abs(r["pebbles"] - r["wealth_after"]) > 1 for r in played.rows)
    assert any(abs(r["mood"] - 0.5) > 0.01 for r in played.rows)
    assert all(abs(r["wealth_change"] - r["wealth_after"]) > 1 for r in played.rows)


def test_the_summary_counts_the_trades_of_every_turn(episode):
    played, world, expected = episode
    per_turn = [r["trades"] for r in world.history]
    assert len(per_turn) == TURNS and sum(per_turn) != per_turn[-1]
    assert played.summary["trades"] == sum(per_turn)
    # each trade is one buyer's fill (and one seller's): the fills count the trades as well
    buys = sum(1 for want in expected.values() for f in want["fills"] if f["side"] == "buy")
    assert played.summary["trades"] == buys
    last = {c: want for (t, c), want in expected.items() if t == TURNS - 1}
    assert played.summary["wealth"] == pytest.approx({c: w["wealth_after"] for c, w in last.items()}, abs=1e-6)
    assert played.summary["pebbles"] == pytest.approx({c: w["pebbles"] for c, w in last.items()}, abs=1e-6)
