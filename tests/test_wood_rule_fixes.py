"""Rules of the Wood a walk found wrong: stacked production shocks, a tip given before the
position, plans the last turn cuts off, a mood that started at zero, PettingZoo's render test,
and the magistrate's threshold as it is in force."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pettingzoo.test import render_test
from pettingzoo.utils.conversions import parallel_to_aec

from glade.env import parallel_env
from glade.env import patron as P
from glade.env.creatures import produced, production_trials
from glade.env.legends import FALL
from glade.env.scenario import load_scenario
from glade.env.scenario_check import schedule_notes
from glade.env.schema import ConfigError
from glade.env.world import new_world

# --------------------------------------------------------------------------- 1 production


def _bound(flips: float, n: int) -> float:
    """Five standard errors of the mean of n draws of produced() with 2 x rate x factor = flips:
    one draw's variance is flips/4 (the coin flips) + f(1 - f)/4 (the fractional flip taken)."""
    f = flips - math.floor(flips)
    return 5 * math.sqrt((flips / 4 + f * (1 - f) / 4) / n)


@pytest.mark.parametrize(("rate", "factor"), [(1.0, 0.25), (3.0, 0.25), (0.2, 1.0)])
def test_the_mean_production_is_the_rate_times_the_factor_whatever_the_factor(rate, factor):
    # rounding made 2 x 1.0 x 0.25 = 0.5 flips no flip at all (mean 0, not 0.25), and 1.5 flips
    # two (banker's rounding: mean 1.0, not 0.75)
    n = 4000
    made = [produced(np.random.default_rng(seed), rate, factor) for seed in range(n)]
    assert abs(np.mean(made) - rate * factor) < _bound(2 * rate * factor, n)
    assert max(made) <= production_trials(rate, factor)


@pytest.mark.parametrize(("rate", "factor"), [(1.5, 1.0), (8.0, 0.5), (3.0, 0.0), (0.0, 1.0)])
def test_a_whole_count_of_flips_draws_no_extra_random_number(rate, factor):
    # the shipped scenarios' products are all whole: they must draw what they always drew
    ours, theirs = np.random.default_rng(11), np.random.default_rng(11)
    trials = int(2 * rate * factor)
    assert produced(ours, rate, factor) == (int(theirs.binomial(trials, 0.5)) if trials else 0)
    assert ours.random() == theirs.random()  # the same state after


def test_two_overlapping_shocks_on_one_good_scale_production_by_their_product():
    # two Long Winters at turn 0 make firewood x 0.25 for turns 0-2: Thorn at rate 1 makes 0.25 a turn
    legends = [{"legend": "winter_rumour", "turn": 0, "mechanism": "shock"}] * 2
    made, n = 0, 3 * 400  # the journal holds no entry for a turn that made nothing: sum, then divide
    for seed in range(400):
        env = parallel_env(turns=3, legends=legends, **{"creatures.thorn.produces.firewood": 1.0})
        env.reset(seed=seed)
        while env.agents:
            env.step({})
        made += sum(e.delta for e in env.world.journal if e.cause == "produce" and e.asset == "firewood")
    assert abs(made / n - 0.25) < _bound(0.5, n)


# --------------------------------------------------------------------------- 2 tips


def test_a_true_tip_still_in_the_air_heats_a_position_opened_after_it():
    world = new_world(load_scenario("default"), 0)
    P.tip(world, "oona", "honey", FALL, True)  # whispered at turn 0
    assert P.open_position(world, "honey", -2).tipped_true  # the same turn
    world.turn = 1  # heard now
    assert P.open_position(world, "honey", -2).tipped_true
    assert not P.open_position(world, "acorns", -2).tipped_true  # not the tipped good
    world.turn = 2  # heard and gone
    assert not P.open_position(world, "honey", -2).tipped_true
    P.tip(world, "oona", "honey", FALL, False)
    assert not P.open_position(world, "honey", -2).tipped_true  # a false tip never heats


def test_the_gambit_tipping_before_its_short_heats_the_magistrate():
    # tip at turn 0, short at turn 1: the profit on a true tip was left out of the heat (0.0)
    env = parallel_env("gambit_override", **{"gambit.tip_turn": 0})
    env.reset(seed=0)
    while env.agents:
        env.step({})
    ledger = env.world.patron
    assert ledger.gambit_pnl > 0 and ledger.tips[0]["true"]
    # heat from the cover at turn 4, then decayed at each settlement from turn 4 to 11
    assert ledger.heat == pytest.approx(ledger.gambit_pnl * 0.02 * 0.9**8)


# --------------------------------------------------------------------------- 3 the last turn


def test_a_gambit_cut_off_by_the_last_turn_is_noted():
    notes = schedule_notes(load_scenario("gambit_override", turns=3))
    assert notes == [
        "gambit run_on_oonas_hoard (override, turn 4): after the last turn (2): it never sprang, and the short "
        "opened at turn 1 was never covered (its P&L counts only what settled)"
    ]
    notes = schedule_notes(load_scenario("gambit_override", turns=5, **{"gambit.cover_turn": 6}))
    assert notes == [
        "gambit run_on_oonas_hoard (override, covers at turn 6): after the last turn (4): the short opened at "
        "turn 1 was never covered (its P&L counts only what settled)"
    ]
    assert schedule_notes(load_scenario("gambit_override", turns=1)) == [
        "gambit run_on_oonas_hoard (override, opens at turn 1): after the last turn (0): it never played"
    ]
    assert schedule_notes(load_scenario("gambit_override"), turns=4)[0].startswith("gambit run_on_oonas_hoard")


def test_a_legend_after_the_last_turn_is_noted_and_one_on_it_is_not():
    assert schedule_notes(load_scenario("default", turns=12)) == [
        "legend run_on_oonas_hoard (rumour, turn 12): after the last turn (11): it never happened"
    ]
    assert schedule_notes(load_scenario("default", turns=13)) == []  # turn 12 is the last: it fires


@pytest.mark.parametrize("name", ["default", "gambit_rumour", "gambit_shock", "gambit_override"])
def test_the_shipped_scenarios_have_no_notes_at_their_own_turns(name):
    assert schedule_notes(load_scenario(name)) == []


# --------------------------------------------------------------------------- 4 mood


@pytest.mark.parametrize(("start", "floor"), [(0.0, 0.05), (0.01, 0.05)])
def test_a_mood_that_starts_below_its_floor_is_refused(start, floor):
    with pytest.raises(ConfigError, match=rf"mood.start: must be at least mood.floor \({floor:g}\), got {start!r}"):
        load_scenario("default", **{"mood.start": start, "mood.floor": floor})


def test_a_mood_that_starts_on_its_floor_plays():
    env = parallel_env(turns=1, **{"mood.start": 0.05, "mood.floor": 0.05})
    obs, _ = env.reset(seed=0)
    assert obs["oona"]["mood"] == pytest.approx(0.05)


# --------------------------------------------------------------------------- 5 render


def test_pettingzoos_render_test_passes():
    render_test(lambda render_mode=None: parallel_to_aec(parallel_env(turns=6, render_mode=render_mode)))


def test_human_rendering_prints_the_line_ansi_returns(capsys):
    human, ansi = parallel_env(turns=2, render_mode="human"), parallel_env(turns=2, render_mode="ansi")
    human.reset(seed=0)
    ansi.reset(seed=0)
    assert human.render() is None
    assert capsys.readouterr().out == ansi.render() + "\n"


# --------------------------------------------------------------------------- 6 magistrate


@pytest.mark.parametrize(("heat", "fined"), [(1.05, False), (1.12, True)])
def test_the_magistrate_fines_above_the_threshold_over_one_less_the_decay(heat, fined):
    # a pin of the rule the docs now state: 1.0 / (1 - 0.1) = 1.11 before the decay
    world = new_world(load_scenario("default"), 0)
    world.patron.heat = heat
    P.magistrate(world)
    assert (world.patron.fines > 0) is fined
