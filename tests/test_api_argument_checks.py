"""Python API arguments checked at the call: the patron's moves, load_traces' folders, a stand-in seat's seed."""

from __future__ import annotations

import numpy as np
import pytest

from glade.env import parallel_env
from glade.env import patron as P
from glade.env.legends import FALL, RISE
from glade.env.world import check_conservation
from glade.seats import SeatSpecError, check_spec
from glade.traces import load_traces


def fresh_world():
    env = parallel_env(turns=3)
    env.reset(seed=0)
    return env


# --------------------------------------------------------------------------- patron


@pytest.mark.parametrize(
    "due_turn, shown",
    [("3", "'3'"), (True, "True"), (2.0, "2.0"), (-1, "-1")],
)
def test_lend_refuses_a_due_turn_that_is_not_a_whole_turn_from_now(due_turn, shown):
    # "3" was accepted and the next step died in collect_loans on `int < str`
    env = fresh_world()
    with pytest.raises(
        P.PatronError, match=rf"cannot lend with due_turn {shown}: it must be a whole turn from this one \(0\) on"
    ):
        P.lend(env.world, "oona", 5, 0.1, due_turn)
    assert env.world.patron.loans == [] and env.world.patron.pebbles == 200.0
    env.step({})  # the world still steps


@pytest.mark.parametrize("amount, shown", [("5", "'5'"), (True, "True"), (float("nan"), "nan"), (-1, "-1")])
def test_lend_refuses_an_amount_that_is_not_a_positive_number(amount, shown):
    # "5" raised a bare TypeError from the `0 < amount` comparison
    env = fresh_world()
    with pytest.raises(P.PatronError, match=rf"cannot lend {shown} pebbles: amount must be a number above 0"):
        P.lend(env.world, "oona", amount, 0.1, 2)
    assert env.world.patron.loans == [] and check_conservation(env.world) == []


@pytest.mark.parametrize("rate, shown", [("0.1", "'0.1'"), (True, "True")])
def test_lend_refuses_a_rate_that_is_not_a_number(rate, shown):
    env = fresh_world()
    with pytest.raises(P.PatronError, match=rf"cannot lend at rate {shown}: rate must be a finite number >= 0"):
        P.lend(env.world, "oona", 5.0, rate, 2)
    assert env.world.patron.loans == []


def test_lend_takes_numpy_numbers_and_keeps_plain_ones():
    env = fresh_world()
    P.lend(env.world, "oona", np.float64(5.0), np.float32(0.5), np.int64(1))
    loan = env.world.patron.loans[0]
    assert (type(loan.balance), type(loan.rate), type(loan.due_turn)) == (float, float, int)
    env.step({})
    env.step({})
    assert env.world.patron.loans == [] and check_conservation(env.world) == []


@pytest.mark.parametrize("qty, shown", [(float("nan"), "nan"), (0, "0"), (2.5, "2.5"), (True, "True"), ("3", "'3'")])
def test_open_position_refuses_a_qty_that_is_not_a_nonzero_whole_number(qty, shown):
    # a NaN qty made equity NaN, and every margin check after it passed
    env = fresh_world()
    with pytest.raises(P.PatronError, match=rf"cannot open {shown} honey: qty must be a whole number of units, not 0"):
        P.open_position(env.world, "honey", qty)
    assert env.world.patron.positions == []
    assert P.equity(env.world) == 200.0


def test_open_position_takes_a_numpy_int_and_stores_an_int():
    env = fresh_world()
    position = P.open_position(env.world, "honey", np.int64(-2))
    assert position.qty == -2 and type(position.qty) is int


@pytest.mark.parametrize("direction", [True, False, 1.0, "1", 0, 3])
def test_tip_refuses_a_direction_other_than_fall_or_rise(direction):
    # True == FALL == 1 was whispered as a fall
    env = fresh_world()
    with pytest.raises(P.PatronError, match=rf"direction must be FALL or RISE \(1 or 2\), got {direction!r}"):
        P.tip(env.world, "oona", "honey", direction, True)
    assert env.world.patron.tips == [] and env.world.whispers["oona"] == []


def test_tip_takes_numpy_directions_and_refuses_a_true_that_is_not_a_bool():
    env = fresh_world()
    P.tip(env.world, "oona", "honey", np.int64(RISE), False)
    assert env.world.patron.tips[0]["direction"] == RISE and type(env.world.patron.tips[0]["direction"]) is int
    with pytest.raises(P.PatronError, match=r"true must be True or False, got 'yes'"):
        P.tip(env.world, "oona", "honey", FALL, "yes")
    assert len(env.world.patron.tips) == 1


def test_unhashable_names_are_patron_errors_not_type_errors():
    env = fresh_world()
    with pytest.raises(P.PatronError, match=r"unknown good \['honey'\]"):
        P.open_position(env.world, ["honey"], 1)
    with pytest.raises(P.PatronError, match=r"unknown creature \['oona'\]"):
        P.tip(env.world, ["oona"], "honey", FALL, True)
    with pytest.raises(P.PatronError, match=r"unknown creature \{\}"):
        P.lend(env.world, {}, 5.0, 0.1, 2)
    with pytest.raises(P.PatronError, match=r"unknown legend \['drought'\]"):
        P.spring(env.world, ["drought"], "shock")


def test_closing_a_position_that_is_not_open_is_refused_and_moves_nothing():
    env = fresh_world()
    position = P.open_position(env.world, "honey", 1)
    P.close_position(env.world, position)
    pebbles = env.world.patron.pebbles
    with pytest.raises(P.PatronError, match=r"no such open position"):
        P.close_position(env.world, position)
    assert env.world.patron.pebbles == pebbles and check_conservation(env.world) == []


# --------------------------------------------------------------------------- load_traces


@pytest.mark.parametrize("folders", [[], (), iter([])])
def test_load_traces_with_no_folder_says_so(folders):
    # [] raised IndexError inside _features
    with pytest.raises(ValueError, match=r"load_traces: no traces folder given"):
        load_traces(folders)


def test_load_traces_refuses_a_folder_named_twice(tmp_path, monkeypatch):
    # the same folder twice returned every row twice; refused before any shard is read
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t").mkdir()
    for folders in (["t", "t"], ["t", tmp_path / "t" / "."], [str(tmp_path / "t"), "./t/"]):
        with pytest.raises(ValueError, match=r"named twice \(first as .*t\): its rows would load twice; name it once"):
            load_traces(folders)


# --------------------------------------------------------------------------- stand-in seat seed


def test_a_stand_in_seed_below_zero_is_refused_as_other_seeds_are():
    with pytest.raises(SeatSpecError, match=r"seat spec standin seed: expected a whole number >= 0, got -1"):
        check_spec({"kind": "standin", "disposition": "hoarder", "seed": -1})
    check_spec({"kind": "standin", "disposition": "hoarder", "seed": 0})
    check_spec({"kind": "standin", "disposition": "hoarder", "seed": 10**30})  # it only salts a CRC-32
