"""The order of a turn's phases (env/phases.py), pinned by what each phase leaves behind: each
test here fails if two phases swap. deliver_news -> fire_legends -> produce; decide ->
post_gossip -> clear -> warm_to_traders -> reprice -> settle -> consume -> fade_feelings ->
warm_to_gossipers -> score."""

from __future__ import annotations

from glade.env import parallel_env, phases
from glade.env.legends import LEGENDS
from glade.env.market import within_bounds
from glade.env.scenario import load_scenario
from glade.env.world import PATRON, new_world

HONEY_TRADE = {
    "oona": {"orders": [{"side": "sell", "good": "honey", "qty": 1, "price": 10.0}]},
    "thorn": {"orders": [{"side": "buy", "good": "honey", "qty": 1, "price": 10.0}]},
}


def world_of(seed: int = 0, **overrides):
    """A default world at reset, before turn 0's production."""
    return new_world(load_scenario("default", **overrides), seed)


def story(legend_id: str) -> str:
    return f"{LEGENDS[legend_id].title}: {LEGENDS[legend_id].text}"


# --------------------------------------------------------------------------- begin_turn


def test_last_turns_news_is_delivered_before_this_turns_legend_is_told():
    # deliver_news replaces the events with last turn's news: run after fire_legends, it
    # would wipe the legend's story from the turn it fires
    world = world_of(legends=[{"legend": "drought", "turn": 0, "mechanism": "rumour"}])
    world.news = ["The brook ran low."]
    phases.begin_turn(world)
    assert world.events == ["The brook ran low.", story("drought")]
    assert world.news == []


def test_a_shock_lands_on_the_stores_before_the_turns_production():
    # the Company's 3 mushrooms are taken from what Moss held at the turn's start; produced
    # first, Moss's new mushrooms would be journaled before the shock
    world = world_of(legends=[{"legend": "hollow_log_company", "turn": 0, "mechanism": "shock"}])
    phases.begin_turn(world)
    causes = [e.cause for e in world.journal]
    assert "legend_shock" in causes and "produce" in causes
    assert max(i for i, c in enumerate(causes) if c == "legend_shock") < causes.index("produce")


def produced(world, good: str) -> int:
    return sum(e.delta for e in world.journal if e.cause == "produce" and e.asset == good)


def test_a_failed_crop_holds_from_the_turn_its_legend_fires():
    # fire_legends sets the production factor before produce draws: the Dry Brook's berries
    # fail on the very turn it fires (produced first, the turn's crop would come in)
    plain, dry = 0, 0
    for seed in range(8):
        world = world_of(seed)
        phases.begin_turn(world)
        plain += produced(world, "berries")
        world = world_of(seed, legends=[{"legend": "drought", "turn": 0, "mechanism": "shock"}])
        phases.begin_turn(world)
        dry += produced(world, "berries")
    assert plain > 0 and dry == 0


def test_an_override_is_queued_at_the_turns_start_and_written_only_at_the_seam():
    world = world_of(legends=[{"legend": "run_on_oonas_hoard", "turn": 0, "mechanism": "override"}])
    opening = world.price["honey"]
    phases.begin_turn(world)
    assert world.price["honey"] == opening and [g for _, g, _ in world.pending_overrides] == ["honey"]
    _, _, row = phases.finish_turn(world, {})
    [write] = row["seam_writes"]
    # written after repricing: `before` is the repriced honey price, and the write is final
    factor = LEGENDS["run_on_oonas_hoard"].override_factor
    assert write["after"] == within_bounds(write["before"] * factor, world.scenario.goods["honey"].price_floor)
    assert row["prices"]["honey"] == write["after"] and world.pending_overrides == []


# --------------------------------------------------------------------------- finish_turn


def test_a_trade_warms_the_partners_only_after_clearing_and_fades_the_same_turn():
    world = world_of()
    clearings = phases.clear(world, phases.decide(world, HONEY_TRADE))
    assert clearings["honey"].fills == [("thorn", "oona", 1)]
    assert world.sentiment["thorn"]["oona"] == 0.0  # clearing trades; remembering is its own phase
    phases.warm_to_traders(world, clearings)
    warmth = world.scenario.social.trade
    assert world.sentiment["thorn"]["oona"] == warmth == world.sentiment["oona"]["thorn"]

    # the whole turn: warmed at clearing, then faded with every feeling at the day's end
    # (faded first, the trade would be felt in full: `warmth`, not `warmth * keep`)
    world = world_of()
    phases.finish_turn(world, HONEY_TRADE)
    keep = 1.0 - world.scenario.social.decay
    assert world.sentiment["thorn"]["oona"] == warmth * keep == world.sentiment["oona"]["thorn"]
    assert world.sentiment["oona"]["hazel"] == 0.0


def test_gossip_warms_its_listeners_after_the_fade_and_is_heard_next_turn():
    world = world_of()
    phases.finish_turn(world, {"hazel": {"orders": [], "gossip": "acorns are cheap"}})
    warmth = world.scenario.social.gossip
    # warmed after the fade: felt in full this turn (before it, `warmth * keep`)
    assert all(world.sentiment[c]["hazel"] == warmth for c in ("oona", "thorn", "bramble", "moss"))
    assert all(v == 0.0 for v in world.sentiment["hazel"].values())
    # posted at decide, heard once the next turn begins
    assert world.posted == [("hazel", "acorns are cheap")] and world.gossip == []
    phases.begin_turn(world)
    assert world.gossip == [("hazel", "acorns are cheap")] and world.posted == []


def test_a_tip_at_the_seam_fades_with_the_turns_other_feelings():
    # the gambit tips Oona at settle; the fade runs after settle, so the tip is felt faded
    env = parallel_env("gambit_rumour")
    env.reset(seed=0)
    g, social = env.scenario.gambit, env.scenario.social
    for _ in range(g.tip_turn + 1):
        env.step({})
    assert env.world.sentiment[g.tip_creature][PATRON] == social.tip * (1.0 - social.decay)


def test_gossip_that_is_not_text_is_noted_after_the_orders_notes():
    world = world_of()
    decisions, _, _ = phases.finish_turn(world, {"oona": {"orders": 7, "mood": 1, "gossip": 5}})
    reasons = [n["reason"] for n in decisions.notes["oona"]]
    assert reasons == ["orders_not_a_list", "unknown_key", "gossip_not_text"]
    assert world.posted == []


def test_score_writes_the_whole_row_meals_included():
    world = world_of()
    phases.begin_turn(world)
    decisions, clearings, row = phases.finish_turn(world, HONEY_TRADE)
    assert world.history == [row] and world.turn == 1
    assert set(row["meals"]) == set(world.creatures)
    # score itself writes the meals: the row in the history is complete when score returns
    meals = {c: {"eaten": [], "burned": 0, "fed": 1.0, "warm": True} for c in world.creatures}
    again = phases.score(world, decisions, clearings, [], meals)
    assert world.history[-1] is again and again["meals"] is meals
