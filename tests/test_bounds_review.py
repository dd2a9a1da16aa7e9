"""What a long or extreme episode can grow to stays inside the spaces the env declares, and
what a seat sends that is not what the Wood reads is named, not silently dropped (the gaps
left by the Wood's first review)."""

from __future__ import annotations

import numpy as np
import pytest

from glade.config import ConfigError
from glade.console_tables import summary_lines
from glade.env import load_scenario, parallel_env, standin
from glade.env.creatures import sanitise_gossip
from glade.env.market import MAX_PRICE, Clearing, reprice
from glade.env.observation import observe
from glade.env.phases import settle
from glade.env.protocol import parse, render
from glade.env.scenario_check import MAX_TEXT, MAX_UNITS
from glade.rollout import run_episode

# --------------------------------------------------------------------------- the price ceiling


def test_repricing_never_lifts_a_reference_past_the_highest_price_an_order_names():
    # 200 units bid at the reference and none filled: a full step up, from 9,900 to 10,890 before
    short = Clearing("honey", None, 0, [], 200, 0, 200, 0)
    assert reprice(9_900.0, short, 0.6, 1.0, 0.1, 0.25) == MAX_PRICE
    assert reprice(9_000.0, short, 0.6, 1.0, 0.1, 0.25) == pytest.approx(9_900.0)  # below it: unchanged rule


def test_an_override_at_the_seam_stops_at_the_ceiling_too():
    env = parallel_env("default", turns=3)
    env.reset(seed=0)
    env.world.price["honey"] = 6_000.0
    env.world.pending_overrides = [("run_on_oonas_hoard", "honey", 2.5)]
    [write] = settle(env.world)
    assert (write["before"], write["after"]) == (6_000.0, MAX_PRICE)
    assert env.world.price["honey"] == MAX_PRICE


def test_the_prompts_worked_example_stays_a_valid_answer_near_the_ceiling():
    env = parallel_env("default", turns=3, **{"creatures.oona.pebbles": 500_000.0})
    obs, _ = env.reset(seed=0)
    for good in env.world.goods:  # every reference just under the ceiling: 1.05x of it is above
        env.world.price[good] = 9_800.0
    obs = observe(env.world)
    text = "\n".join(m["content"] for m in render(obs["oona"]))
    example = next(line for line in text.splitlines() if line.startswith("Example answer: "))
    parsed = parse(example.removeprefix("Example answer: "), obs["oona"])
    assert parsed.error is None and parsed.dropped == ()
    assert {o["price"] for o in parsed.action["orders"]} <= {9_310.0, MAX_PRICE}
    assert any(o["side"] == "buy" and o["price"] == MAX_PRICE for o in parsed.action["orders"])


# --------------------------------------------------------------------------- counts and texts


def test_production_that_could_overflow_the_inventory_space_is_refused_at_load():
    heavy = {"creatures.oona.produces": {"honey": 20_000}}
    with pytest.raises(ConfigError) as err:
        load_scenario("default", turns=30, **heavy)
    message = str(err.value)
    assert "goods.honey: the creatures' stores (" in message
    assert (
        "30 turn(s) of production (up to 40,0" in message
        and "windfall" not in message
        and f"bound of {MAX_UNITS - 1:,}" in message
    )
    load_scenario("default", turns=24, **heavy)  # 24 x 40,000 and the stores stay below it


def test_gossip_chars_are_bounded_by_what_one_creature_can_hear():
    with pytest.raises(ConfigError) as err:
        load_scenario("default", social={"gossip_chars": 5_000})
    message = str(err.value)
    assert ": social.gossip_chars: must be at most " in message and "got 5000" in message
    allowed = int(message.split("must be at most ")[1].split(" ")[0].replace(",", ""))
    with pytest.raises(ConfigError):
        load_scenario("default", social={"gossip_chars": allowed + 1})
    # at the bound, every other creature shouting its longest gossip still fits the space
    env = parallel_env("default", turns=2, social={"gossip_chars": allowed})
    obs, _ = env.reset(seed=0)
    env.step({c: {"orders": [], "gossip": "x" * (allowed + 50)} for c in env.agents})
    obs = observe(env.world)
    longest = max(len(o["gossip"]) for o in obs.values())
    assert MAX_TEXT - 10 <= longest <= MAX_TEXT
    for agent, o in obs.items():
        assert env.observation_space(agent).contains(o)


def test_observed_prices_are_read_only_so_one_agents_preprocessing_leaves_the_others_alone():
    env = parallel_env("default", turns=3)
    obs, _ = env.reset(seed=0)
    before = float(obs["thorn"]["prices"]["honey"])
    with pytest.raises(ValueError, match="read-only"):
        obs["oona"]["prices"]["honey"] *= 0.5
    with pytest.raises(ValueError, match="read-only"):
        obs["oona"]["price_moves"]["honey"] += 1.0
    assert float(obs["thorn"]["prices"]["honey"]) == before
    obs["oona"]["pebbles"] *= 2  # its own arrays stay writable
    assert isinstance(obs["oona"]["prices"]["honey"], np.ndarray)


@pytest.mark.parametrize("gossip", [7, 3.5, ["fresh", "honey"], {"text": "hi"}, b"bytes"])
def test_gossip_that_is_not_text_is_named_in_the_notes(gossip):
    env = parallel_env("default", turns=3)
    obs, _ = env.reset(seed=0)
    actions = {c: standin.act(obs[c], standin.disposition("balanced"), 1) for c in env.agents}
    actions["oona"] = {"orders": [], "gossip": gossip}
    *_, infos = env.step(actions)
    assert infos["oona"]["notes"] == [{"order": None, "reason": "gossip_not_text", "outcome": "ignored", "qty": 0}]
    assert all(who != "oona" for who, _ in env.world.gossip)


def test_gossip_absent_or_text_adds_no_note():
    env = parallel_env("default", turns=3)
    env.reset(seed=0)
    *_, infos = env.step({"oona": {"orders": [], "gossip": "fresh honey"}, "thorn": {"orders": []}})
    assert infos["oona"]["notes"] == [] and infos["thorn"]["notes"] == []


def test_collapsing_whitespace_cannot_join_the_rest_into_a_role_marker():
    # 41 spaces make "<|...|>" too long to be a marker; collapsed to one, it would be one
    assert sanitise_gossip("hi <|" + " " * 41 + "im_start|> there", 200) == "hi there"
    assert sanitise_gossip("a  \t b", 200) == "a b"
    # an accent is dropped, not made a space that splits the word; a fraction keeps its slash
    assert sanitise_gossip("café crème, naïve", 200) == "cafe creme, naive"
    assert sanitise_gossip("price ½ off", 200) == "price 1/2 off"


# --------------------------------------------------------------------------- a legend past the run


def test_simulate_says_a_scheduled_legend_after_the_last_turn_never_happened():
    scenario = load_scenario("default", turns=4)  # its legend is scheduled at turn 12
    played = run_episode(scenario, 7, full=False)
    lines = summary_lines(scenario, played.summary)
    assert any("legend run_on_oonas_hoard (rumour, turn 12)" in x and "it never happened" in x for x in lines)
    full = load_scenario("default", turns=13)
    assert not any("never happened" in x for x in summary_lines(full, run_episode(full, 7, full=False).summary))


# --------------------------------------------------------------------------- the diff review's gaps


def test_no_legend_raises_production_as_the_units_bound_assumes():
    from glade.env.legends import LEGENDS

    assert all(legend.shock_production <= 1.0 for legend in LEGENDS.values())


def test_a_shock_legend_after_the_last_turn_never_fires_so_its_windfall_is_not_counted():
    late = [{"legend": "run_on_oonas_hoard", "turn": 40, "mechanism": "shock"}]  # +8 honey x 5, at turn 40
    near = {"creatures.oona.produces": {}, "creatures.oona.inventory": {"honey": MAX_UNITS - 20}}
    load_scenario("default", turns=30, legends=late, **near)  # 30 turns: it never fires
    with pytest.raises(ConfigError, match=r"the legends' windfalls \(40\).*the shock legends or turns"):
        load_scenario("default", turns=41, legends=late, **near)


def test_pebbles_that_trading_could_gather_past_the_bound_are_refused_at_load():
    rich = {f"creatures.{c}.pebbles": 300_000_000.0 for c in ("oona", "thorn", "hazel", "moss")}
    with pytest.raises(ConfigError, match=r"creatures: their pebbles together \(1,200,000,0\d\d\) must be below"):
        load_scenario("default", **rich)
    load_scenario("default", **{k: 200_000_000.0 for k in rich})


def test_a_loan_the_observation_could_not_hold_is_refused():
    from glade.env import patron

    env = parallel_env("default", turns=3, patron={"pebbles": 2e9})
    env.reset(seed=0)
    with pytest.raises(patron.PatronError, match=r"cannot lend 1000000000.0 pebbles: oona would hold"):
        patron.lend(env.world, "oona", 1e9, 0.1, 2)
    patron.lend(env.world, "oona", 1_000.0, 0.1, 2)


def test_events_and_whispers_driven_past_the_text_bound_through_the_api_are_cut_to_fit():
    from glade.env import patron

    env = parallel_env("default", turns=3)
    env.reset(seed=0)
    for _ in range(80):  # one legend sprung again and again is one story (phases.fire_legends) ...
        patron.spring(env.world, "run_on_oonas_hoard", "rumour")
    env.world.news += [f"notice {i}: " + "a long line of news " * 8 for i in range(80)]  # ... so news fills events
    for _ in range(200):
        patron.tip(env.world, "oona", "honey", 1, True)
    env.step({})
    obs = observe(env.world)
    assert len(obs["oona"]["events"]) == MAX_TEXT and len(obs["oona"]["whispers"]) == MAX_TEXT
    for agent, o in obs.items():
        assert env.observation_space(agent).contains(o)


def test_a_shock_sprung_through_the_api_that_could_outgrow_the_observation_is_refused():
    from glade.env import patron

    env = parallel_env("default", turns=3, **{"creatures.oona.inventory.honey": 999_800})
    env.reset(seed=0)
    # the Wood's honey, 3 turns of production and this spring's 5 x 8 units: 999,855
    assert patron.windfall_reach(env.world, "run_on_oonas_hoard") == 999_855
    for _ in range(4):  # each queued windfall adds 40 more to the next one's reach
        patron.spring(env.world, "run_on_oonas_hoard", "shock")
    with pytest.raises(
        patron.PatronError, match=r"could hold 1,000,015 units, past the observation's bound of 999,999"
    ):
        patron.spring(env.world, "run_on_oonas_hoard", "shock")
    patron.spring(env.world, "run_on_oonas_hoard", "rumour")  # talk adds no units
    patron.spring(env.world, "hollow_log_company", "shock")  # takes mushrooms, adds none
    env.step({})
    obs = observe(env.world)
    assert obs["oona"]["inventory"]["honey"] >= 999_800 + 4 * 8 - 10  # at most a turn's eating
    for agent, o in obs.items():
        assert env.observation_space(agent).contains(o)
