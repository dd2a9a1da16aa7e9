"""The rule-based stand-in: every choice follows from its disposition's parameters."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from glade.env import parallel_env
from glade.env.legends import FALL, RISE
from glade.env.standin import DISPOSITIONS, act, disposition


def flat(d):
    """The disposition without its price jitter, so limit prices can be worked by hand.
    (The jitter itself is tested on its own below.)"""
    return dataclasses.replace(d, jitter=0.0)


BALANCED = flat(disposition("balanced"))
PANIC = flat(disposition("panic_seller"))
HOARDER = flat(disposition("hoarder"))
SPECULATOR = flat(disposition("speculator"))
FLAT = {name: flat(d) for name, d in DISPOSITIONS.items()}

_LIVE: dict = {}


def live_observation(creature: str, seed: int = 0, scenario: str = "default") -> dict:
    """A real observation from a freshly reset env (cached; callers get a deep copy)."""
    key = (creature, seed, scenario)
    if key not in _LIVE:
        env = parallel_env(scenario, turns=12)
        obs, _ = env.reset(seed=seed)
        _LIVE[key] = obs[creature]
    return copy.deepcopy(_LIVE[key])


def observation(creature: str = "thorn", seed: int = 0, **edits) -> dict:
    """A live observation with fields edited: dict fields are updated key by key."""
    o = live_observation(creature, seed)
    for key, value in edits.items():
        if isinstance(value, dict) and isinstance(o[key], dict):
            o[key].update({g: (np.array(v) if key in ("prices", "price_moves") else v) for g, v in value.items()})
        elif key in ("pebbles", "mood"):
            o[key] = np.array(float(value))
        else:
            o[key] = value
    return o


def limit(o, d, good, side, premium=0.0):
    """The documented limit price without jitter: reference + bid + premium for a buy,
    reference - ask - premium for a sell (at least 0.01), to the cent."""
    assert d.jitter == 0.0
    ref = float(o["prices"][good])
    if side == "buy":
        return round(ref * (1.0 + d.bid + premium), 2)
    return round(max(0.01, ref * (1.0 - d.ask - premium)), 2)


def order(o, d, side, good, qty, premium=0.0):
    return {"side": side, "good": good, "qty": qty, "price": limit(o, d, good, side, premium)}


EMPTY = {"honey": 0, "firewood": 0, "acorns": 0, "berries": 0, "mushrooms": 0}


def inv(**held):
    return {**EMPTY, **held}


# Thorn (a beaver) makes firewood and eats acorns, berries, mushrooms, honey, two a meal;
# at turn 0 he needs 1 of each diet food and burns 1 firewood. The two cheapest diet foods
# are acorns (2.0) and berries (3.0; mushrooms also 3.0 but come later in goods order).


def test_the_live_observation_is_what_the_tests_assume():
    o = observation("thorn")
    assert o["turn"] == 0 and o["appetite"] == 2 and o["fuel"] == "firewood"
    assert o["needs"] == {"honey": 1, "firewood": 1, "acorns": 1, "berries": 1, "mushrooms": 1}
    assert o["produces"] == {"honey": 0, "firewood": 1, "acorns": 0, "berries": 0, "mushrooms": 0}
    assert {g: float(p) for g, p in o["prices"].items()} == {
        "honey": 10.0,
        "firewood": 4.0,
        "acorns": 2.0,
        "berries": 3.0,
        "mushrooms": 3.0,
    }


def test_buys_the_gap_below_want_for_the_foods_it_eats_and_sells_its_excess():
    o = observation("thorn", inventory=inv(firewood=12, berries=1))
    # want = need * horizon 2: acorns 2 (holds 0 -> buy 2), berries 2 (holds 1 -> buy 1);
    # mushrooms and honey are not among the 2 cheapest foods: want 0, no buy.
    # firewood: his own good, want 2 + surplus 3 = 5 kept, 12 held -> sell 7.
    assert act(o, BALANCED) == {
        "orders": [
            order(o, BALANCED, "buy", "acorns", 2),
            order(o, BALANCED, "buy", "berries", 1),
            order(o, BALANCED, "sell", "firewood", 7),
        ]
    }


def test_the_cheapest_diet_foods_are_the_wanted_ones():
    o = observation("thorn", inventory=inv(firewood=3, berries=1), prices={"mushrooms": 1.0})
    # mushrooms (1.0) and acorns (2.0) are now the two cheapest: berries drop out of want.
    assert act(o, BALANCED) == {
        "orders": [
            order(o, BALANCED, "buy", "acorns", 2),
            order(o, BALANCED, "buy", "mushrooms", 2),
        ]
    }


def test_horizon_scales_want_and_firewood_need_follows_winter():
    o = observation("thorn", inventory=inv(firewood=4, acorns=2, berries=2))
    assert act(o, BALANCED) == {"orders": []}  # everything at want, firewood within surplus
    o["needs"]["acorns"] = 3  # a deeper need: want 6
    assert act(o, BALANCED)["orders"] == [order(o, BALANCED, "buy", "acorns", 4)]
    wide = dataclasses.replace(BALANCED, horizon=5)
    assert act(observation("thorn", inventory=inv(firewood=4), pebbles=100.0), wide)["orders"] == [
        order(o, wide, "buy", "acorns", 5),
        order(o, wide, "buy", "berries", 5),
    ]
    # a creature that does not make firewood buys its burn * horizon
    h = observation("hazel", inventory=inv(acorns=2, berries=2), needs={"firewood": 2})
    assert order(h, BALANCED, "buy", "firewood", 4) in act(h, BALANCED)["orders"]


@pytest.mark.parametrize("held, sold", [(5, 0), (6, 1), (12, 7)])
def test_sells_only_above_want_plus_surplus(held, sold):
    o = observation("thorn", inventory=inv(firewood=held, acorns=2, berries=2))
    expected = [order(o, BALANCED, "sell", "firewood", sold)] if sold else []
    assert act(o, BALANCED)["orders"] == expected


def test_hoarder_surplus_keeps_what_a_balanced_creature_sells():
    o = observation("thorn", inventory=inv(firewood=30, acorns=3, berries=3))
    assert act(o, HOARDER)["orders"] == []  # want 3, surplus 30
    assert act(o, BALANCED)["orders"] == [order(o, BALANCED, "sell", "firewood", 25)]


def test_never_buys_its_own_good():
    # Hazel makes acorns; a made food counts among the wanted ones, but she never buys it,
    # not for a gap, not to hoard on talk, not on momentum.
    h = observation("hazel", inventory=inv(firewood=2, berries=2))
    for d in FLAT.values():
        assert all(o["good"] != "acorns" for o in act(h, d)["orders"] if o["side"] == "buy"), d.name
    for edit in (
        {"talk": {"acorns": RISE}},
        {"talk": {"acorns": FALL}},
        {"whisper": {"acorns": RISE}},
        {"price_moves": {"acorns": 0.5}},
    ):
        h2 = observation("hazel", inventory=inv(firewood=2, berries=2), **edit)
        for d in DISPOSITIONS.values():
            assert all(not (o["side"] == "buy" and o["good"] == "acorns") for o in act(h2, d)["orders"]), (edit, d)
    # Thorn out of firewood does not buy firewood
    t = observation("thorn", inventory=inv(acorns=2, berries=2))
    assert act(t, BALANCED)["orders"] == []


def test_never_buys_its_own_good_in_real_episodes(run_standin):
    env, seen, _ = run_standin("gambit_shock", 2)
    makes = {c: set(env.scenario.creatures[c].produces) for c in env.possible_agents}
    checked = 0
    for observations in seen:
        for c, o in observations.items():
            for d in DISPOSITIONS.values():
                for x in act(o, d, 2)["orders"]:
                    assert not (x["side"] == "buy" and x["good"] in makes[c]), (c, d.name, x)
                    checked += 1
    assert checked > 100


def test_panic_seller_dumps_on_fall_talk():
    # Bramble: panic_seller, makes berries. Talk says honey will fall: sell all honey at a deep discount.
    # (Bramble makes berries; her wanted foods are berries and acorns, held at want here.)
    o = observation(
        "bramble", inventory=inv(honey=2, firewood=2, acorns=2, berries=2, mushrooms=2), talk={"honey": FALL}
    )
    assert PANIC.on_fall == "dump" and PANIC.dump_keep == 0
    assert act(o, PANIC)["orders"] == [order(o, PANIC, "sell", "honey", 2, premium=PANIC.dump_discount)]
    # the same creature, no talk: keeps its honey (want 0, 2 <= surplus 2)
    quiet = observation("bramble", inventory=inv(honey=2, firewood=2, acorns=2, berries=2, mushrooms=2))
    assert act(quiet, PANIC)["orders"] == []
    # it dumps its own good too, keeping dump_keep units
    keep1 = dataclasses.replace(PANIC, dump_keep=1)
    o2 = observation("bramble", inventory=inv(firewood=2, acorns=2, berries=5, mushrooms=2), talk={"berries": FALL})
    assert act(o2, keep1)["orders"] == [order(o2, keep1, "sell", "berries", 4, premium=PANIC.dump_discount)]


def test_a_whispered_tip_acts_like_talk_and_talk_wins_over_it():
    base = dict(inventory=inv(honey=2, firewood=2, acorns=2, berries=2, mushrooms=2))
    whispered = observation("bramble", whisper={"honey": FALL}, **base)
    assert act(whispered, PANIC)["orders"] == [order(whispered, PANIC, "sell", "honey", 2, premium=0.3)]
    # talk says rise, the whisper says fall: talk wins, and a panic seller hoards on rise
    both = observation("bramble", talk={"honey": RISE}, whisper={"honey": FALL}, pebbles=200.0, **base)
    assert act(both, PANIC)["orders"] == [order(both, PANIC, "buy", "honey", PANIC.hoard_units, premium=0.2)]
    # a balanced creature ignores both
    assert act(whispered, BALANCED)["orders"] == []


def test_hoarder_buys_on_fall_talk_but_not_its_own_good():
    # Oona (hoarder) makes honey; her wanted foods are honey (made) and acorns (cheapest).
    o = observation("oona", inventory=inv(honey=40, firewood=3, acorns=3), talk={"berries": FALL})
    assert act(o, HOARDER)["orders"] == [
        order(o, HOARDER, "buy", "berries", HOARDER.hoard_units, premium=HOARDER.hoard_premium),
        order(o, HOARDER, "sell", "honey", 40 - 3 - 30),  # her own good: rules 1-2 still apply
    ]
    own = observation("oona", inventory=inv(honey=40, firewood=3, acorns=3), talk={"honey": FALL})
    assert act(own, HOARDER)["orders"] == [order(own, HOARDER, "sell", "honey", 7)]


def test_hoard_buys_at_least_the_gap():
    o = observation("oona", inventory=inv(honey=5, firewood=3), talk={"acorns": FALL})
    # acorns want 3 (horizon 3), held 0: hoard max(3, 5) = 5; with hoard_units 1: the gap, 3
    assert order(o, HOARDER, "buy", "acorns", 5, premium=0.2) in act(o, HOARDER)["orders"]
    small = dataclasses.replace(HOARDER, hoard_units=1)
    assert order(o, small, "buy", "acorns", 3, premium=0.2) in act(o, small)["orders"]


def test_a_dump_with_nothing_above_dump_keep_keeps_the_needed_buy():
    # Bramble's wanted foods are berries (made) and acorns (cheapest): want 2 acorns. Fall talk
    # on acorns makes a panic seller dump all but dump_keep; holding no more than that, there is
    # nothing to dump, so rules 1-2 stand: she buys the gap.
    keep1 = dataclasses.replace(PANIC, dump_keep=1)
    for d, held in ((PANIC, 0), (keep1, 1)):
        o = observation("bramble", inventory=inv(firewood=2, acorns=held, berries=2), talk={"acorns": FALL})
        assert act(o, d)["orders"] == [order(o, d, "buy", "acorns", 2 - held)], (d.dump_keep, held)
    o = observation("bramble", inventory=inv(firewood=2, acorns=2, berries=2), talk={"acorns": FALL})
    assert act(o, keep1)["orders"] == [order(o, keep1, "sell", "acorns", 1, premium=PANIC.dump_discount)]


@pytest.mark.parametrize(
    "move, held, expected",
    [
        (0.05, 0, ("buy", 3)),
        (0.5, 2, ("buy", 3)),
        (0.04, 0, None),  # not above the threshold
        (-0.04, 2, None),
        (-0.05, 2, ("sell", 2)),  # sells what it holds, at most swing_units
        (-0.05, 3, ("sell", 3)),
        (-0.05, 0, None),  # nothing to sell
    ],
)
def test_speculator_follows_momentum(move, held, expected):
    # mushrooms: Thorn wants none and holds at most surplus, so only momentum can fire
    o = observation(
        "thorn", inventory=inv(firewood=3, acorns=2, berries=2, mushrooms=held), price_moves={"mushrooms": move}
    )
    orders = act(o, SPECULATOR)["orders"]
    if expected is None:
        assert orders == []
    else:
        assert orders == [order(o, SPECULATOR, expected[0], "mushrooms", expected[1])]
    assert act(o, BALANCED)["orders"] == []  # no momentum without the parameter


def test_momentum_does_not_override_a_need():
    o = observation("thorn", inventory=inv(firewood=3, berries=2), price_moves={"acorns": -0.5})
    assert act(o, SPECULATOR)["orders"] == [order(o, SPECULATOR, "buy", "acorns", 2)]


def test_budget_cuts_buys_from_the_last_good_first():
    flat = BALANCED
    o = observation("thorn", inventory=inv(firewood=3), pebbles=8.0)
    # wants acorns 2 @ 2.10 and berries 2 @ 3.15 = 10.50; budget 0.5 * 8 = 4.
    # berries: over 6.50 -> cut min(2, ceil(6.5 / 3.15) = 3) = 2, spend 4.20;
    # acorns: over 0.20 -> cut ceil(0.2 / 2.1) = 1, spend 2.10.
    assert act(o, flat) == {"orders": [{"side": "buy", "good": "acorns", "qty": 1, "price": 2.1}]}
    rich = observation("thorn", inventory=inv(firewood=3), pebbles=100.0)
    assert act(rich, flat) == {
        "orders": [
            {"side": "buy", "good": "acorns", "qty": 2, "price": 2.1},
            {"side": "buy", "good": "berries", "qty": 2, "price": 3.15},
        ]
    }
    broke = observation("thorn", inventory=inv(firewood=12), pebbles=0.0)
    assert act(broke, flat) == {"orders": [{"side": "sell", "good": "firewood", "qty": 7, "price": 3.8}]}
    assert act(observation("thorn", inventory=inv(firewood=3), pebbles=-5.0), flat) == {"orders": []}
    # no pebbles (or a broken count of them) is a budget of 0: no buys, the sell stands
    for pebbles in (-5.0, -float("inf"), float("nan")):
        assert act(observation("thorn", inventory=inv(firewood=12), pebbles=pebbles), flat) == act(broke, flat)


def test_buys_never_spend_more_than_the_budget():
    for pebbles in (0.5, 3.0, 7.7, 12.0, 40.0):
        for d in DISPOSITIONS.values():
            o = observation("thorn", inventory=inv(firewood=3), pebbles=pebbles, talk={"honey": FALL})
            spend = sum(x["qty"] * x["price"] for x in act(o, d)["orders"] if x["side"] == "buy")
            assert spend <= d.budget * pebbles + 1e-9, (pebbles, d.name)


@pytest.mark.parametrize("name", list(DISPOSITIONS))
def test_jitter_moves_limits_within_the_band_deterministically(name):
    d = DISPOSITIONS[name]
    o = observation("thorn", inventory=inv(firewood=12), pebbles=1000.0, talk={"honey": FALL})
    without = act(o, flat(d))["orders"]
    assert without, name
    seen = set()
    for seed in range(25):
        with_jitter = act(o, d, seed)["orders"]
        assert with_jitter == act(o, d, seed)["orders"]  # the same key, the same limit
        # same orders, limits moved by at most jitter * reference (plus rounding to the cent)
        assert [(x["side"], x["good"], x["qty"]) for x in with_jitter] == [
            (x["side"], x["good"], x["qty"]) for x in without
        ]
        for x, y in zip(with_jitter, without):
            band = d.jitter * float(o["prices"][x["good"]]) + 0.0051
            assert abs(x["price"] - y["price"]) <= band, (seed, x, y)
            seen.add((x["good"], x["price"]))
    assert len(seen) > 2 * len(without)  # the seed really moves the limits


def test_jitter_differs_by_turn_creature_and_good():
    d = DISPOSITIONS["balanced"]
    o = observation("thorn", inventory=inv(firewood=3), pebbles=1000.0)
    prices = {act(o, d, 1)["orders"][0]["price"]}
    for turn in range(1, 8):
        prices.add(act({**o, "turn": turn}, d, 1)["orders"][0]["price"])
    assert len(prices) > 2
    # two goods at the same reference get different jitter
    same_ref = observation("thorn", inventory=inv(firewood=3), pebbles=1000.0, prices={"berries": 2.0})
    differ = 0
    for seed in range(10):
        jittered = {x["good"]: x["price"] for x in act(same_ref, d, seed)["orders"]}
        assert set(jittered) == {"acorns", "berries"}
        differ += jittered["acorns"] != jittered["berries"]
    assert differ >= 5
    # and two creatures in the same state get different jitter
    hazel_like = {**o, "creature": "moss"}
    assert any(act(o, d, s)["orders"] != act(hazel_like, d, s)["orders"] for s in range(5))


def test_act_is_deterministic_stateless_and_does_not_touch_the_observation(canon_json):
    a = observation("oona", inventory=inv(honey=40, firewood=1), talk={"berries": FALL})
    b = observation("bramble", inventory=inv(honey=3, berries=9), whisper={"honey": FALL})
    snapshot = (canon_json(a), canon_json(b))
    first = [act(a, d, 5) for d in DISPOSITIONS.values()]  # with their jitter
    between = [act(b, d, 5) for d in DISPOSITIONS.values()]
    again = [act(a, d, 5) for d in DISPOSITIONS.values()]
    assert first == again
    assert [act(b, d, 5) for d in DISPOSITIONS.values()] == between
    assert (canon_json(a), canon_json(b)) == snapshot


def test_dispositions_and_unknown_names():
    assert list(DISPOSITIONS) == ["balanced", "panic_seller", "hoarder", "speculator"]
    assert disposition("hoarder") is DISPOSITIONS["hoarder"]
    with pytest.raises(ValueError) as info:
        disposition("grumpy")
    assert str(info.value) == (
        "unknown disposition 'grumpy' (known: balanced, panic_seller, hoarder, speculator; or a path to a disposition .yaml)"
    )


def test_standin_orders_are_valid_actions_in_the_env(run_standin):
    env, seen, infos = run_standin("default", 4, turns=15)
    for turn_infos in infos:
        for c, info in turn_infos.items():
            assert info["notes"] == [], (c, info["notes"])  # never rejected, never cut
            assert info["self_buy"] == 0


# --------------------------------------------------------------------------- the shock in a stand-in world


@pytest.mark.parametrize("seed", range(10))
def test_standin_honey_falls_at_the_shock(run_standin, seed):
    offered = {}

    def count(env, obs, actions):
        turn = obs["oona"]["turn"]
        offered[turn] = sum(
            x["qty"] for a in actions.values() for x in a["orders"] if x["good"] == "honey" and x["side"] == "sell"
        )

    env, _, _ = run_standin("gambit_shock", seed, actions_hook=count)
    rumour, _, _ = run_standin("gambit_rumour", seed)
    spring = env.scenario.gambit.spring_turn
    h, hr = env.world.history, rumour.world.history
    before, after = h[spring - 1]["prices"]["honey"], h[spring]["prices"]["honey"]
    assert after < before, (seed, before, after)
    # the same story told as a rumour moves honey less than the shock does
    assert hr[spring - 1]["prices"]["honey"] == before
    assert after < hr[spring]["prices"]["honey"], (seed, after, hr[spring]["prices"]["honey"])
    # Measured (seeds 0..9): nobody bids for honey, so the shocked stores (30+ units offered,
    # more than market.depth) price it down by the full pressure, before * (1 - 0.1), untraded.
    assert h[spring]["volume"]["honey"] == 0
    assert offered[spring] >= env.scenario.market.depth and offered[spring] > offered[spring - 1]
    assert after == pytest.approx(before * (1 - env.scenario.market.pressure))
