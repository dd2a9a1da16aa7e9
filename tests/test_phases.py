"""The phases of a turn (env/phases.py) and the world's sums (env/world.py), each rule pinned
by hand: who eats what, when a creature is warm, how long a shock lasts, where the seam
stops, what counts as a self-buy, and wealth and its Gini."""

from __future__ import annotations

import pytest

from glade.env import parallel_env, phases
from glade.env.scenario import load_scenario
from glade.env.world import gini, new_world, wealth, wealths

GOODS = ("honey", "firewood", "acorns", "berries", "mushrooms")


def world_of(seed: int = 0, **overrides):
    """A default world at reset, before turn 0's production (holdings as in default.yaml)."""
    return new_world(load_scenario("default", **overrides), seed)


def hold(world, creature, **held):
    world.inventory[creature] = {g: held.get(g, 0) for g in GOODS}


def eaten(world, creature):
    return [(e.asset, e.delta) for e in world.journal if e.holder == creature and e.cause == "eat"]


# --------------------------------------------------------------------------- 7 consume


def test_creatures_eat_the_foods_they_hold_most_of_first():
    world = world_of()
    # Oona: diet berries, mushrooms, acorns, honey; appetite 2. Most held: acorns 3, then
    # mushrooms 2; berries (1) and honey (0) are left.
    hold(world, "oona", firewood=1, acorns=3, berries=1, mushrooms=2)
    # Thorn: diet acorns, berries, mushrooms, honey. Berries, mushrooms and honey tie at 2:
    # the tie goes in diet order (berries, mushrooms); acorns (1) is held least.
    hold(world, "thorn", firewood=1, acorns=1, berries=2, mushrooms=2, honey=2)
    meals = phases.consume(world)
    assert meals["oona"]["eaten"] == ["acorns", "mushrooms"]
    assert eaten(world, "oona") == [("acorns", -1), ("mushrooms", -1)]
    assert meals["thorn"]["eaten"] == ["berries", "mushrooms"]
    assert eaten(world, "thorn") == [("berries", -1), ("mushrooms", -1)]
    assert meals["oona"]["fed"] == meals["thorn"]["fed"] == 1.0
    assert world.inventory["oona"]["acorns"] == 2 and world.inventory["thorn"]["acorns"] == 1


# default mood: start 0.6 = mean, fed +0.05 a full meal, warm +0.03, cold -0.1:
# fed and warm 0.6 + 0.05 + 0.03 = 0.68; fed and cold 0.6 + 0.05 - 0.1 = 0.55.
@pytest.mark.parametrize(
    "turn, held, burned, warm, mood",
    [
        (0, 1, 1, True, 0.68),  # burn 1 a turn before turn 10: exactly enough is warm
        (10, 2, 2, True, 0.68),  # burn 2 from turn 10
        (10, 3, 2, True, 0.68),
        (10, 1, 1, False, 0.55),  # one short: burns what it has and is cold
        (22, 3, 3, True, 0.68),  # burn 3 from turn 22
        (22, 0, 0, False, 0.55),
    ],
)
def test_burning_exactly_the_fuel_needed_keeps_a_creature_warm(turn, held, burned, warm, mood):
    world = world_of()
    world.turn = turn
    hold(world, "oona", honey=5, acorns=5, firewood=held)  # a tie: eaten in diet order
    meal = phases.consume(world)["oona"]
    assert meal == {"eaten": ["acorns", "honey"], "burned": burned, "fed": 1.0, "warm": warm}
    assert world.inventory["oona"]["firewood"] == held - burned
    assert world.mood["oona"] == pytest.approx(mood)


# --------------------------------------------------------------------------- 1 produce


def test_a_shocks_production_change_lasts_through_its_last_turn():
    # The Great Acorn Mania as a shock at turn 2: the acorn crop fails (x0.0) for 3 turns,
    # turns 2, 3 and 4; turn 5 grows again. Hazel makes 40 acorns a turn on average here
    # (binomial(80, 1/2): never 0 in practice), so a turn that produces shows.
    world = world_of(
        legends=[{"legend": "great_acorn_mania", "turn": 2, "mechanism": "shock"}],
        **{"creatures.hazel.produces": {"acorns": 40.0}},
    )
    for turn in range(7):
        world.turn = turn
        phases.begin_turn(world)
    assert world.production_factor == {"acorns": [(4, 0.0)]}
    made = {e.turn for e in world.journal if e.cause == "produce" and e.asset == "acorns"}
    assert made == {0, 1, 5, 6}
    assert all(e.holder == "hazel" for e in world.journal if e.cause == "produce" and e.asset == "acorns")
    # the other goods grew on every turn (Thorn makes 8 firewood a turn on average)
    assert {e.turn for e in world.journal if e.cause == "produce" and e.asset == "firewood"} == set(range(7))


# --------------------------------------------------------------------------- 6 settle


def test_a_seam_override_never_pushes_a_price_below_its_floor():
    world = world_of()
    # honey's floor is 0.5 (default.yaml); the Run halves 0.8 to 0.4, the floor holds it at 0.5
    world.price["honey"], world.price_move["honey"] = 0.8, -0.2  # settled at 1.0 last turn
    world.pending_overrides = [("run_on_oonas_hoard", "honey", 0.5)]
    seam = phases.settle(world)
    assert seam == [{"legend": "run_on_oonas_hoard", "good": "honey", "before": 0.8, "after": 0.5}]
    assert world.price["honey"] == 0.5
    assert world.price_move["honey"] == pytest.approx(-0.5)  # 1.0 -> 0.5 over the turn, seam included
    assert world.news == ["At settlement the honey price was set from 0.80 to 0.50."]
    # above the floor the factor applies as it is: firewood 4.0 x 0.5 = 2.0 (floor 0.25)
    world.pending_overrides = [("winter_rumour", "firewood", 0.5)]
    assert phases.settle(world)[0]["after"] == 2.0
    assert world.pending_overrides == []


# --------------------------------------------------------------------------- 3 decide


def test_self_buys_count_buy_orders_for_made_goods_only():
    env = parallel_env(turns=2)
    env.reset(seed=0)
    buys = [
        {"side": "buy", "good": "firewood", "qty": 2, "price": 4.0},  # Thorn makes firewood
        {"side": "buy", "good": "acorns", "qty": 1, "price": 2.0},
        {"side": "buy", "good": "honey", "qty": 1, "price": 10.0},
    ]
    hazel = [
        {"side": "buy", "good": "honey", "qty": 1, "price": 10.0},
        {"side": "sell", "good": "acorns", "qty": 1, "price": 2.0},
    ]
    _, _, _, _, infos = env.step({"thorn": {"orders": buys}, "hazel": {"orders": hazel}})
    assert infos["thorn"]["notes"] == [] and infos["hazel"]["notes"] == []
    assert infos["thorn"]["self_buy"] == 1  # one order (of 2 units) for a good he makes
    assert infos["hazel"]["self_buy"] == 0  # she sells the acorns she makes; buying honey is no self-buy
    assert env.last_row["self_buys"] == 1


# --------------------------------------------------------------------------- 8 score: wealth and Gini


def test_wealth_is_pebbles_plus_goods_at_reference_prices():
    world = world_of()
    # Oona: 60 pebbles + honey 30 x 10 + firewood 4 x 4 + berries 2 x 3 + mushrooms 2 x 3
    assert wealths(world)["oona"] == 388.0 == wealth(world, "oona")
    # Moss: 40 + mushrooms 6 x 3 + firewood 4 x 4 + acorns 2 x 2
    assert wealths(world)["moss"] == 78.0
    world.price["honey"] = 0.5
    world.pebbles["moss"] = -50.0
    assert wealths(world) == {"oona": 103.0, "thorn": 98.0, "hazel": 77.0, "bramble": 75.0, "moss": -12.0}


@pytest.mark.parametrize(
    "values, expected",
    [
        ([5.0, 5.0, 5.0], 0.0),  # equal
        ([0.0, 0.0, 0.0, 10.0], 0.75),  # one of four holds all: (n - 1) / n
        ([1.0, 2.0, 3.0, 4.0], 0.25),  # sum |xi - xj| = 20 over 2 n^2 mean = 80
        ([4.0, 1.0, 3.0, 2.0], 0.25),  # order does not matter
        ([0.0, 10.0], 0.5),
        ([-5.0, 0.0, 5.0, 5.0], 0.5),  # a debt counts as 0: [0, 0, 5, 5], 40 / 80
        ([-1.0, -5.0], 0.0),  # nothing held by anyone
        ([], 0.0),
    ],
)
def test_gini_of_hand_made_wealths(values, expected):
    assert gini(values) == pytest.approx(expected, abs=1e-12)


def test_the_score_rows_gini_follows_a_lopsided_wood():
    env = parallel_env(turns=1)
    env.reset(seed=0)
    world = env.world
    for c in ("thorn", "hazel", "bramble", "moss"):  # four creatures with nothing at all
        hold(world, c)
        world.pebbles[c] = -1.0 if c == "moss" else 0.0  # a debt counts as nothing
    hold(world, "oona")
    world.pebbles["oona"] = 100.0
    row = phases.score(world, phases.Decisions({}, {}, {}), {}, [], {})
    assert row["wealth"] == {"oona": 100.0, "thorn": 0.0, "hazel": 0.0, "bramble": 0.0, "moss": -1.0}
    assert row["gini"] == pytest.approx(0.8)  # one of five holds all: (n - 1) / n


def test_a_lowball_stand_in_bids_at_least_a_cent_and_never_divides_by_zero():
    """A disposition may bid 99% under the reference; at the price floor that rounds to 0.00,
    which the Wood rejects (bad_price) and the budget cut would divide by."""
    from dataclasses import replace

    from glade.env import standin

    obs, _ = parallel_env("default", turns=4).reset(seed=1)
    oona = {**obs["oona"], "prices": dict.fromkeys(obs["oona"]["prices"], 0.25)}
    lowball = replace(standin.disposition("balanced"), name="lowball", bid=-0.99)
    [buy] = [o for o in standin.act(oona, lowball)["orders"] if o["side"] == "buy"]
    assert buy == {"side": "buy", "good": "acorns", "qty": 2, "price": 0.01}
    broke = {**oona, "pebbles": 0.0}
    assert [o for o in standin.act(broke, lowball)["orders"] if o["side"] == "buy"] == []


def test_a_stand_in_prices_within_the_action_space():
    """A bold disposition at a dear reference would ask more than the Wood takes (10,000)."""
    from dataclasses import replace

    from glade.env import standin

    obs, _ = parallel_env("default", turns=4).reset(seed=1)
    dear = {**obs["oona"], "prices": dict.fromkeys(obs["oona"]["prices"], 5_000.0), "pebbles": 1e9}
    bold = replace(standin.disposition("balanced"), name="bold", bid=10.0, budget=1.0)
    [buy] = [o for o in standin.act(dear, bold)["orders"] if o["side"] == "buy"]
    assert buy["price"] == 10_000.0
