"""Tests written by a mutation audit of the Wood's turn rules (glade.env.market, phases, world,
patron, creatures, legends): each pins a behaviour that a plausible one-line change (a
comparison flipped, an off-by-one, a clause dropped, a constant changed) left untested. The
comment on each names what it guards."""

from __future__ import annotations

import math

import pytest
from test_market import RANK, buy, sell
from test_orders import o, validate
from test_phases import hold, world_of

from glade.env import parallel_env, phases
from glade.env import patron as P
from glade.env.creatures import feeling_word, memory_summary, next_mood, nudge
from glade.env.legends import FALL, LEGENDS
from glade.env.market import Order, clear_auction
from glade.env.scenario import Mood
from glade.env.scenario_check import MAX_PEBBLES
from glade.env.world import PEBBLES, check_conservation, move, transfer, wealth, wealths

# --------------------------------------------------------------------------- market


def test_a_cut_buy_commits_only_the_units_kept_so_the_change_still_buys_cheaper_goods():
    # guards validate_orders' `committed += kept * price` (not the qty asked): 10 pebbles, 3@4 is
    # cut to 2 (8 committed, 2 left), and the 2 left still pay for 1@2
    orders, notes = validate([o("buy", "acorns", 3, 4.0), o("buy", "berries", 1, 2.0)], pebbles=10.0)
    assert orders == [Order("oona", "buy", "acorns", 2, 4.0), Order("oona", "buy", "berries", 1, 2.0)]
    assert notes == [{"order": 0, "reason": "overspend", "outcome": "cut", "qty": 2}]


def test_a_creatures_two_orders_at_one_limit_fill_in_the_order_given():
    # guards _queue's sort key `(limit, rank, i)`: equal limits of one creature fill first-given
    # first, so the first order (1 unit) fills whole before the second (3 units) takes the rest
    orders = [buy("a", 1, 5.0), buy("a", 3, 5.0), sell("c", 2, 5.0)]
    assert clear_auction("honey", orders, 5.0, RANK).fills == [("a", "c", 1), ("a", "c", 1)]
    orders = [sell("c", 1, 5.0), sell("c", 3, 5.0), buy("a", 2, 5.0)]
    assert clear_auction("honey", orders, 5.0, RANK).fills == [("a", "c", 1), ("a", "c", 1)]


# --------------------------------------------------------------------------- phases


def test_a_single_order_dict_is_an_order_not_an_orders_not_a_list_note():
    # guards decide's `not isinstance(raw, (list, tuple, dict))`: one dict is one order
    world = world_of()
    single = {"side": "sell", "good": "honey", "qty": 2, "price": 9.0}
    decisions = phases.decide(world, {"oona": {"orders": single}, "thorn": {"orders": 7}})
    assert decisions.orders["oona"] == [Order("oona", "sell", "honey", 2, 9.0)]
    assert decisions.notes["oona"] == []
    assert decisions.notes["thorn"] == [{"order": None, "reason": "orders_not_a_list", "outcome": "rejected", "qty": 0}]


def test_a_trade_warms_the_buyer_and_the_seller_to_each_other():
    # guards warm_to_traders' two nudges (buyer toward seller, seller toward buyer) by social.trade (0.04)
    world = world_of()
    actions = {
        "oona": {"orders": [{"side": "sell", "good": "honey", "qty": 1, "price": 10.0}]},
        "thorn": {"orders": [{"side": "buy", "good": "honey", "qty": 1, "price": 10.0}]},
    }
    clearings = phases.clear(world, phases.decide(world, actions))
    assert clearings["honey"].fills == [("thorn", "oona", 1)]
    phases.warm_to_traders(world, clearings)
    assert world.sentiment["thorn"]["oona"] == 0.04 and world.sentiment["oona"]["thorn"] == 0.04
    assert world.sentiment["oona"]["hazel"] == 0.0


def test_goods_spoil_at_their_spoil_rate():
    # guards consume's spoilage draw `binomial(held, rate)`: all at rate 1, about 30% at 0.3
    world = world_of(**{"goods.berries.spoil_rate": 1.0})
    hold(world, "oona", firewood=1, berries=50)
    phases.consume(world)
    assert world.inventory["oona"]["berries"] == 0  # one eaten, the other 49 spoiled
    world = world_of(seed=1)
    hold(world, "oona", firewood=1, berries=10_001)
    phases.consume(world)
    spoiled = -sum(e.delta for e in world.journal if e.cause == "spoil" and e.asset == "berries")
    assert 2800 <= spoiled <= 3200  # 0.3 x 10,000, sd 46


def test_a_creature_with_no_appetite_counts_as_fed():
    # guards consume's `... if creature.appetite else 1.0`: eating nothing is a full meal for it
    world = world_of(**{"creatures.oona.appetite": 0})
    hold(world, "oona", firewood=1, berries=3)
    meal = phases.consume(world)["oona"]
    assert meal == {"eaten": [], "burned": 1, "fed": 1.0, "warm": True}
    assert world.mood["oona"] == pytest.approx(0.68)  # 0.6 + fed 0.05 + warm 0.03, as a fed creature


def test_the_score_row_counts_rejected_orders_not_cut_ones():
    # guards score's `x["outcome"] == "rejected"`: a cut (oversell) and an ignored key are not rejections
    env = parallel_env(turns=2)
    env.reset(seed=0)
    oona = {
        "orders": [
            {"side": "sell", "good": "honey", "qty": 100, "price": 50.0},  # cut to what she holds
            {"side": "buy", "good": "nuts", "qty": 1, "price": 1.0},  # unknown_good: rejected
        ],
        "mood": "fine",  # unknown_key: ignored
    }
    _, _, _, _, infos = env.step({"oona": oona})
    assert [n["outcome"] for n in infos["oona"]["notes"]] == ["cut", "rejected", "ignored"]
    assert env.last_row["rejected"] == 1


def test_a_sprung_legend_fires_once():
    # guards fire_legends' `queued_legends = []`: a sprung legend is news on the next turn only
    env = parallel_env(turns=5)
    env.reset(seed=0)
    env.world.patron.queued_legends.append(("hollow_log_company", "rumour"))
    line = f"{LEGENDS['hollow_log_company'].title}: {LEGENDS['hollow_log_company'].text}"
    seen = [env.step({})[0]["oona"]["events"] for _ in range(3)]
    assert [line in events for events in seen] == [True, False, False]
    assert env.world.patron.queued_legends == []


def test_a_shock_that_takes_units_takes_at_most_what_each_store_holds():
    # guards fire_legends' `max(shock_units, -held)`: the Company takes 3 mushrooms a store, so
    # Oona's 2 go, Moss keeps 3 of 6, and a creature with none loses none (no entry at all)
    world = world_of(legends=[{"legend": "hollow_log_company", "turn": 0, "mechanism": "shock"}])
    phases.fire_legends(world)
    assert {c: world.inventory[c]["mushrooms"] for c in ("oona", "moss", "thorn")} == {"oona": 0, "moss": 3, "thorn": 0}
    taken = [(e.holder, e.delta) for e in world.journal if e.cause == "legend_shock"]
    assert taken == [("oona", -2), ("moss", -3)]


# --------------------------------------------------------------------------- world


def test_holding_minus_one_unit_is_a_problem():
    # guards check_conservation's `amount < 0` for goods (not a looser bound)
    world = world_of()
    move(world, "moss", "acorns", -3, "eat")  # Moss holds 2
    assert check_conservation(world) == ["moss holds a negative amount of acorns: -1"]


def test_a_transfer_of_nan_pebbles_is_named_as_not_netting_to_zero():
    # guards check_conservation's `not abs(total) <= tol` (a NaN sum fails it; `> tol` would pass it)
    world = world_of()
    transfer(world, "oona", "thorn", PEBBLES, math.nan, "loan")
    problems = check_conservation(world)
    assert "turn 0: loan of pebbles nets to +nan, not 0" in problems
    assert len(problems) == 3  # and both holders' pebbles disagree with nothing: NaN != NaN


def test_a_creature_has_no_feeling_toward_itself():
    # guards new_world's sentiment `if o != c`: info's sentiment (written to every trace row)
    # names the other creatures and the patron
    env = parallel_env(turns=2)
    env.reset(seed=0)
    _, _, _, _, infos = env.step({})
    assert set(infos["oona"]["sentiment"]) == {"thorn", "hazel", "bramble", "moss", "patron"}


def test_wealths_of_a_one_good_wood_are_the_sums_wealth_gives():
    # guards wealths' one-good branch (itemgetter of one key gives a value, not a tuple)
    world = world_of()
    world.goods = ("honey",)
    assert wealths(world) == {c: wealth(world, c) for c in world.creatures}
    assert wealths(world)["oona"] == 60.0 + 30 * 10.0


# --------------------------------------------------------------------------- patron


def test_opening_margin_counts_the_positions_already_held_whichever_their_side():
    # guards open_position's `margin * (held + notional)` with `held` summing |qty| x price,
    # and its `<` (equity exactly at the margin opens): honey at 10, margin 0.5, 100 pebbles
    world = world_of(**{"patron.pebbles": 100.0})
    P.open_position(world, "honey", -10)  # needs 0.5 x 100 = 50
    with pytest.raises(P.PatronError, match=r"not enough margin to open -12 honey"):
        P.open_position(world, "honey", -12)  # needs 0.5 x (100 + 120) = 110 > 100
    P.open_position(world, "honey", -10)  # needs 0.5 x (100 + 100) = 100: exactly enough
    assert [p.qty for p in world.patron.positions] == [-10, -10]


def test_positions_are_called_below_maintenance_not_below_the_opening_margin():
    # guards call_margin's `maintenance * notional` (0.25, not the margin 0.5)
    world = world_of(**{"patron.pebbles": 100.0})
    P.open_position(world, "honey", -10)
    world.price["honey"] = 15.0  # equity 100 - 50 = 50: under 0.5 x 150, over 0.25 x 150
    P.call_margin(world)
    assert len(world.patron.positions) == 1 and world.news == []
    world.price["honey"] = 17.0  # equity 30 < 0.25 x 170 = 42.5
    P.call_margin(world)
    assert world.patron.positions == [] and world.patron.pebbles == 30.0


def test_a_true_tip_marks_only_the_positions_on_its_good():
    # guards tip's `if position.good == good`: heat comes from profit on the tipped good only
    world = world_of()
    honey, acorns = P.open_position(world, "honey", -2), P.open_position(world, "acorns", -2)
    P.tip(world, "oona", "honey", FALL, True)
    assert (honey.tipped_true, acorns.tipped_true) == (True, False)


def test_the_patron_may_lend_every_pebble_it_has_up_to_the_observations_bound():
    # guards lend's `amount <= world.patron.pebbles` and `pebbles + amount >= MAX_PEBBLES`
    world = world_of()
    P.lend(world, "oona", 200.0, 0.1, 3)  # all of its 200
    assert world.patron.pebbles == 0.0 and world.pebbles["oona"] == 260.0
    world.patron.pebbles = 2 * MAX_PEBBLES
    with pytest.raises(P.PatronError, match=r"thorn would hold 1,000,000,000 or more"):
        P.lend(world, "thorn", MAX_PEBBLES - 40.0, 0.1, 3)  # Thorn holds 40: exactly the bound
    P.lend(world, "thorn", MAX_PEBBLES - 41.0, 0.1, 3)
    assert world.pebbles["thorn"] == MAX_PEBBLES - 1.0


def test_heat_exactly_at_the_threshold_is_not_fined():
    # guards magistrate's `heat > heat_threshold` (threshold 1.0; no decay here)
    world = world_of(**{"patron.heat_decay": 0.0})
    world.patron.heat = 1.0
    P.magistrate(world)
    assert (world.patron.fines, world.patron.heat) == (0.0, 1.0)
    world.patron.heat = 1.5
    P.magistrate(world)
    assert (world.patron.fines, world.patron.heat, world.patron.pebbles) == (25.0, 0.0, 175.0)


def test_windfall_reach_counts_shocks_still_to_come_not_one_that_fired_this_turn():
    # guards windfall_reach's `turn < ev.turn`: honey 34 in the Wood, Oona makes at most 3 a turn,
    # a Run as a shock gives 5 x 8; one scheduled at turn 5 has fired by turn 5's settlement
    world = world_of(legends=[{"legend": "run_on_oonas_hoard", "turn": 5, "mechanism": "shock"}])
    world.turn = 4
    assert P.windfall_reach(world, "run_on_oonas_hoard") == 34 + 2 * 40 + 26 * 3
    world.turn = 5
    assert P.windfall_reach(world, "run_on_oonas_hoard") == 34 + 40 + 25 * 3


def test_windfall_reach_counts_a_legend_that_takes_units_as_no_windfall():
    # guards windfall_reach's `max(shock_units, 0)`: the Company takes 3 mushrooms from each
    # store, which the bound does not subtract (8 mushrooms held, Moss makes at most 6 a turn)
    world = world_of()
    assert P.windfall_reach(world, "hollow_log_company") == 8 + 30 * 6


def test_the_gambit_covers_at_its_cover_turn_before_the_lenders_look():
    # guards settle_patron's order (gambit, then margin): the mania doubles acorns at the seam of
    # turn 3, which would call the short in; covered first, it closes as the gambit's own loss
    plan = {"gambit.good": "acorns", "gambit.legend": "great_acorn_mania", "gambit.spring_turn": 3}
    env = parallel_env("gambit_override", **plan, **{"gambit.cover_turn": 3, "patron.pebbles": 15.0})
    env.reset(seed=0)
    events = "\n".join(env.step({})[0]["oona"]["events"] for _ in range(5))
    assert env.world.patron.gambit_pnl == -20.0 and env.world.patron.positions == []
    assert "At settlement the acorns price was set from 2.00 to 4.00." in events
    assert "financier" not in events


# --------------------------------------------------------------------------- creatures


@pytest.mark.parametrize(
    "value, word",
    [(0.5, "fond of"), (0.49, "warm toward"), (0.15, "warm toward"), (0.14, None), (0.0, None)]
    + [(-0.14, None), (-0.15, "wary of"), (-0.49, "wary of"), (-0.5, "bitter toward")],
)
def test_feeling_words_start_at_their_thresholds(value, word):
    # guards feeling_word's `>= 0.5` / `<= -0.5` and FELT = 0.15: a feeling at a threshold has its word
    assert feeling_word(value) == word


def test_the_memory_names_the_strongest_feelings_first_and_only_as_many_as_shown():
    # guards memory_summary's sort by strength, strongest first, and its `strong[:shown]`
    feelings = {"thorn": 0.2, "moss": -0.6, "hazel": 0.9, "patron": -0.1}
    names = {"thorn": "Thorn", "moss": "Moss", "hazel": "Hazel"}
    assert memory_summary(feelings, names, 2) == "fond of Hazel, bitter toward Moss"
    assert memory_summary(feelings, names, 5) == "fond of Hazel, bitter toward Moss, warm toward Thorn"


def test_mood_reverts_toward_its_mean_and_never_falls_below_its_floor():
    # guards next_mood's `reversion * (mean - mood)` and its floor (defaults: mean 0.6, reversion
    # 0.1, fed +0.05, hungry -0.08, warm +0.03, cold -0.1, floor 0.05)
    m = Mood()
    assert next_mood(0.9, 1.0, True, m) == pytest.approx(0.9 - 0.03 + 0.05 + 0.03)
    assert next_mood(0.2, 1.0, True, m) == pytest.approx(0.2 + 0.04 + 0.05 + 0.03)
    assert next_mood(0.1, 0.0, False, m) == 0.05  # 0.1 + 0.05 - 0.08 - 0.1 is below the floor


def test_a_nudge_keeps_a_feeling_within_minus_one_and_one():
    # guards nudge's clamps at both ends
    feelings = {"thorn": 0.99, "moss": -0.99}
    nudge(feelings, "thorn", 0.04)
    nudge(feelings, "moss", -0.4)
    assert feelings == {"thorn": 1.0, "moss": -1.0}
    nudge(feelings, "hazel", 0.5)  # no feeling toward a stranger: nothing is added
    assert feelings == {"thorn": 1.0, "moss": -1.0}


# --------------------------------------------------------------------------- legends


@pytest.mark.parametrize(
    "legend, good, until, factor",
    [("drought", "berries", 5, 0.0), ("great_acorn_mania", "acorns", 4, 0.0), ("winter_rumour", "firewood", 4, 0.5)],
)
def test_each_production_shock_lasts_as_long_as_its_story_says(legend, good, until, factor):
    # guards the catalogue's shock_turns (the Dry Brook 4 turns, the Mania and the Long Winter 3)
    # and shock_production, as fire_legends schedules them from turn 2
    world = world_of(legends=[{"legend": legend, "turn": 2, "mechanism": "shock"}])
    world.turn = 2
    phases.fire_legends(world)
    assert world.production_factor == {good: [(until, factor)]}
