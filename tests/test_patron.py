"""The patron's book: margin calls, the magistrate, loans, refused moves, sprung legends."""

from __future__ import annotations

import math

import pytest

from glade.env import parallel_env
from glade.env import patron as P
from glade.env.legends import FALL, LEGENDS
from glade.env.scenario import resolve_path
from glade.env.schema import ConfigError
from glade.env.world import PATRON, PEBBLES, Entry, check_conservation

# --------------------------------------------------------------------------- margin, magistrate


MANIA_SHORT = {
    "gambit.good": "acorns",
    "gambit.legend": "great_acorn_mania",
    "gambit.spring_turn": 3,
    "gambit.cover_turn": 8,
}


def play_holds(env, seed, turns):
    obs, _ = env.reset(seed=seed)
    seen = [obs]
    for _ in range(turns):
        obs, *_ = env.step({})
        seen.append(obs)
    return seen


def test_margin_call_closes_positions_when_the_price_moves_against_the_patron():
    # short 10 acorns at 2.0 with 15 pebbles (margin 0.5 * 20 = 10 is enough to open);
    # the mania doubles acorns at the seam: equity 15 - 10 * 2 = -5 < 0.25 * 40 -> called.
    env = parallel_env("gambit_override", **MANIA_SHORT, **{"patron.pebbles": 15.0})
    seen = play_holds(env, 0, 5)
    world = env.world
    assert world.history[3]["prices"]["acorns"] == 4.0  # holds leave prices still; only the seam moves them
    assert world.patron.positions == []
    assert world.patron.gambit_pnl == -20.0 and world.patron.realized_pnl == -20.0
    assert world.patron.pebbles == -5.0
    assert [e for e in world.journal if e.cause == "patron_pnl"] == [Entry(3, PATRON, PEBBLES, -20.0, "patron_pnl")]
    called = "A financier's positions were called in by the lenders of the Wood."
    assert all(called in o["events"] for o in seen[4].values())
    assert all(called not in o["events"] for o in seen[3].values())
    assert check_conservation(world) == []


def test_the_margin_call_comes_before_a_loan_due_the_same_turn_is_collected():
    # settle_patron's order is gambit, margin, loans: the pebbles a loan brings back this turn do not
    # save a position already under-margined (equity 10 < 0.25 * 10 honey * 10.0 = 25 at the check)
    env = parallel_env("default", turns=5)
    env.reset(seed=0)
    world = env.world
    P.open_position(world, "honey", -10)
    P.lend(world, world.creatures[0], 190.0, 0.0, world.turn)  # due this turn, no interest
    assert world.patron.pebbles == 10.0 and world.price["honey"] == 10.0
    P.settle_patron(world)
    assert world.patron.positions == []
    assert world.news == ["A financier's positions were called in by the lenders of the Wood."]
    assert world.patron.pebbles == 200.0  # the loan still came back, after the call
    assert check_conservation(world) == []


def test_no_margin_call_with_enough_equity():
    env = parallel_env("gambit_override", **MANIA_SHORT, **{"patron.pebbles": 200.0})
    seen = play_holds(env, 0, 5)
    world = env.world
    assert [(p.good, p.qty, p.entry_price) for p in world.patron.positions] == [("acorns", -10, 2.0)]
    assert world.patron.gambit_pnl == 0.0
    assert all("financier" not in o["events"] for obs in seen for o in obs.values())


def test_gambit_refused_without_margin():
    env = parallel_env("gambit_override", **{"patron.pebbles": 40.0})  # needs 0.5 * 10 * 10 = 50
    play_holds(env, 0, 6)
    assert env.world.patron.refused == ["turn 1: gambit: not enough margin to open -10 honey"]
    assert env.world.patron.positions == [] and env.world.patron.gambit_pnl == 0.0


@pytest.mark.parametrize(
    "overrides, fined",
    [
        ({"patron.heat_per_profit": 0.1}, True),  # heat 50 * 0.1 = 5, decays to 4.5 > 1
        ({"patron.heat_per_profit": 0.1, "gambit.tip_true": False}, False),  # no heat from a planted tip
        ({"patron.heat_per_profit": 0.02}, False),  # heat 1.0, decays to 0.9, not above 1.0
        ({"patron.heat_per_profit": 0.02, "patron.heat_threshold": 0.85}, True),
        ({"patron.heat_per_profit": 0.1, "patron.fine": 7.5}, True),
    ],
)
def test_magistrate_fines_the_patron_when_heat_passes_the_threshold(overrides, fined):
    env = parallel_env("gambit_override", **overrides)
    seen = play_holds(env, 0, 6)
    world, cfg = env.world, env.scenario.patron
    spring = env.scenario.gambit.spring_turn
    # holds keep honey at 10 until the seam halves it: the short makes 10 * (10 - 5)
    assert world.patron.gambit_pnl == 50.0
    fine_entries = [e for e in world.journal if e.cause == "fine"]
    if fined:
        assert fine_entries == [Entry(spring, PATRON, PEBBLES, -cfg.fine, "fine")]
        assert world.patron.fines == cfg.fine and world.patron.heat == 0.0
        assert world.patron.pebbles == 200.0 + 50.0 - cfg.fine
        # a fine is the patron's affair: public news of it would tell which tips were true
        assert all("magistrate" not in o["events"] for obs in seen for o in obs.values())
    else:
        assert fine_entries == [] and world.patron.fines == 0.0
        assert world.patron.pebbles == 250.0
        assert all("magistrate" not in o["events"] for obs in seen for o in obs.values())
    assert check_conservation(world) == []


def test_heat_decays_each_turn_after_the_profit():
    env = parallel_env("gambit_override", **{"patron.heat_per_profit": 0.015})
    play_holds(env, 0, 8)
    # heat 50 * 0.015 = 0.75 at the spring turn (4), then * 0.9 at turns 4..7
    assert env.world.patron.heat == pytest.approx(0.75 * 0.9**4)
    assert env.world.patron.fines == 0.0


def test_a_shipped_gambit_profit_past_the_threshold_is_fined_and_the_fine_is_not_in_its_pnl():
    # README "The patron": under override the shipped gambit makes +50 to +54 on most seeds, more on
    # a few; seed 79 with the scenario's stand-ins makes +56.44: heat 1.13, 1.02 after the decay
    from glade.rollout import run_episode

    fined = run_episode("gambit_override", 79, full=False).summary
    assert fined["gambit_pnl"] == pytest.approx(56.44016, abs=1e-5)
    assert fined["patron_pebbles"] == pytest.approx(200 + 56.44016 - 25, abs=1e-5)
    kept = run_episode("gambit_override", 80, full=False).summary  # +53.91: heat 1.08, 0.97 after the decay
    assert kept["gambit_pnl"] == pytest.approx(53.9056, abs=1e-5)
    assert kept["patron_pebbles"] == pytest.approx(200 + 53.9056, abs=1e-5)


def test_a_legend_listed_at_the_gambits_spring_by_its_mechanism_acts_twice_and_is_told_once():
    env = parallel_env(
        "gambit_override", legends=[{"legend": "run_on_oonas_hoard", "turn": 4, "mechanism": "override"}]
    )
    seen = play_holds(env, 0, 5)
    legend = LEGENDS["run_on_oonas_hoard"]
    story = f"{legend.title}: {legend.text}"
    assert [obs["oona"]["events"].count(story) for obs in seen] == [0, 0, 0, 0, 1, 0]
    assert env.world.history[4]["seam"] == [
        "run_on_oonas_hoard: honey 10.00 -> 5.00",
        "run_on_oonas_hoard: honey 5.00 -> 2.50",  # written twice: x 0.25
    ]
    assert env.world.patron.gambit_pnl == 75.0  # the short's 10 units from 10 to 2.5


# --------------------------------------------------------------------------- loans


def test_a_loan_accrues_interest_each_settlement_and_is_repaid_when_due():
    env = parallel_env(turns=5)
    env.reset(seed=1)
    world = env.world
    P.lend(world, "thorn", 10.0, 0.1, due_turn=2)
    assert world.pebbles["thorn"] == 50.0 and world.patron.pebbles == 190.0
    env.step({})
    assert world.patron.loans[0].balance == pytest.approx(11.0)
    env.step({})
    assert world.patron.loans[0].balance == pytest.approx(12.1)
    obs, *_ = env.step({})
    assert world.patron.loans == []
    assert world.pebbles["thorn"] == pytest.approx(50.0 - 13.31)
    assert world.patron.pebbles == pytest.approx(190.0 + 13.31)
    repay = [e for e in world.journal if e.cause == "repay"]
    assert [(e.turn, e.holder) for e in repay] == [(2, "thorn"), (2, PATRON)]
    assert all("could not repay" not in o["events"] for o in obs.values())
    assert check_conservation(world) == []


def test_a_default_is_public_and_sours_the_debtor_on_the_patron():
    env = parallel_env(turns=5)
    env.reset(seed=1)
    world = env.world
    P.lend(world, "thorn", 10.0, 3.0, due_turn=1)  # owes 10 * 4 * 4 = 160 at turn 1, holds 50
    env.step({})
    obs, *_ = env.step({})
    assert world.patron.loans == []
    assert world.pebbles["thorn"] == 0.0
    assert world.patron.pebbles == 190.0 + 50.0
    default_news = "Thorn could not repay a loan to the patron."
    assert all(default_news in o["events"] for o in obs.values())
    # soured by social.default (-0.4), then faded by social.decay in the same turn's consume phase
    assert world.sentiment["thorn"][PATRON] == pytest.approx(-0.4 * 0.95)
    assert obs["thorn"]["memory"] == "wary of the patron"
    assert all(world.sentiment[c][PATRON] == 0.0 for c in world.creatures if c != "thorn")
    assert check_conservation(world) == []
    for o in obs.values():
        assert env.observation_space(o["creature"]).contains(o)


def test_lend_refuses_bad_amounts():
    env = parallel_env(turns=3)
    env.reset(seed=0)
    with pytest.raises(P.PatronError, match=r"cannot lend 0 pebbles"):
        P.lend(env.world, "thorn", 0, 0.1, 2)
    with pytest.raises(P.PatronError, match=r"cannot lend 500.0 pebbles"):
        P.lend(env.world, "thorn", 500.0, 0.1, 2)
    assert env.world.patron.loans == [] and check_conservation(env.world) == []


def test_lend_to_an_unknown_creature_is_refused_cleanly():
    env = parallel_env(turns=3)
    env.reset(seed=0)
    with pytest.raises(P.PatronError):
        P.lend(env.world, "fox", 5.0, 0.1, 2)
    assert check_conservation(env.world) == []
    assert env.world.patron.pebbles == 200.0


def test_tip_on_an_unknown_good_is_refused():
    env = parallel_env(turns=3)
    env.reset(seed=0)
    with pytest.raises(P.PatronError):
        P.tip(env.world, "oona", "nectar", FALL, True)


def test_patron_refusals():
    env = parallel_env(turns=3)
    env.reset(seed=0)
    with pytest.raises(P.PatronError, match="unknown creature 'fox'"):
        P.tip(env.world, "fox", "honey", FALL, True)
    with pytest.raises(P.PatronError, match="direction must be FALL or RISE"):
        P.tip(env.world, "oona", "honey", 0, True)
    with pytest.raises(P.PatronError, match="unknown legend 'dragon'"):
        P.spring(env.world, "dragon", "shock")
    with pytest.raises(P.PatronError, match="unknown mechanism 'bribe'"):
        P.spring(env.world, "drought", "bribe")
    with pytest.raises(P.PatronError, match="unknown good 'nectar'"):
        P.open_position(env.world, "nectar", 1)
    with pytest.raises(P.PatronError, match=r"not enough margin to open \+1000 honey"):
        P.open_position(env.world, "honey", 1000)


def test_a_sprung_legend_fires_next_turn():
    env = parallel_env(turns=4)
    env.reset(seed=0)
    P.spring(env.world, "hollow_log_company", "override")
    obs, *_ = env.step({})
    legend = LEGENDS["hollow_log_company"]
    assert all(f"{legend.title}: {legend.text}" in o["events"] for o in obs.values())
    before = env.world.price["mushrooms"]
    env.step({})
    assert env.world.price["mushrooms"] == before * legend.override_factor
    assert env.world.history[1]["seam"] == [f"hollow_log_company: mushrooms {before:.2f} -> {before * 2.5:.2f}"]


# --------------------------------------------------------------------------- the patron's rules


@pytest.mark.parametrize(
    "key, value, shown",
    [
        ("patron.pebbles", math.nan, "nan"),
        ("patron.margin", math.nan, "nan"),
        ("patron.maintenance", math.nan, "nan"),
        ("patron.heat_per_profit", math.inf, "inf"),
        ("patron.heat_decay", math.nan, "nan"),
        ("patron.fine", -math.inf, "-inf"),
    ],
)
def test_non_finite_patron_numbers_are_refused_at_load(key, value, shown):
    # NaN passes every range check and would reach the margin and magistrate arithmetic
    path = resolve_path("gambit_override")
    with pytest.raises(ConfigError) as info:
        parallel_env("gambit_override", **{key: value})
    assert str(info.value) == f"{path} with {key}={value!r}: {key}: expected a finite number, got {shown}"


NO_HONEY = """\
name: no_honey
goods:
  firewood: {name: firewood, kind: fuel, price: 4.0}
  acorns: {name: acorns, kind: food, price: 2.0}
creatures:
  a: {name: A, species: owl, produces: {acorns: 2.0}, diet: [acorns], pebbles: 40.0, inventory: {firewood: 5}}
  b: {name: B, species: beaver, produces: {firewood: 4.0}, diet: [acorns], pebbles: 40.0, inventory: {acorns: 5}}
firewood_need: [{from_turn: 0, units: 1}]
turns: 4
"""


def test_springing_a_legend_about_a_good_the_wood_lacks_is_refused_not_a_crash_next_turn(tmp_path):
    path = tmp_path / "no_honey.yaml"
    path.write_text(NO_HONEY)
    env = parallel_env(str(path))
    env.reset(seed=0)
    with pytest.raises(P.PatronError, match="'run_on_oonas_hoard' is about honey, which this Wood does not trade"):
        P.spring(env.world, "run_on_oonas_hoard", "shock")
    P.spring(env.world, "great_acorn_mania", "shock")  # acorns trade here
    env.step({})
    env.step({})  # the legend fired; nothing raised
    assert env.world.talk["acorns"][0] == LEGENDS["great_acorn_mania"].talk


def test_a_gambit_legend_about_a_good_the_wood_lacks_is_a_load_error(tmp_path):
    path = tmp_path / "no_honey.yaml"
    path.write_text(NO_HONEY + "gambit: {good: acorns, tip_creature: a, legend: run_on_oonas_hoard}\n")
    with pytest.raises(
        ConfigError,
        match=r"gambit.legend: legend 'run_on_oonas_hoard' .* acts on honey .* lacks the good honey \(goods are firewood, acorns\)",
    ):
        parallel_env(str(path))
