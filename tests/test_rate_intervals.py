"""Intervals of rate figures and their differences (the lattice of 0/1 outcomes per seed): they
grow with the evidence, and the same value in every seed is an exact interval, not a point."""

import numpy as np
import pandas as pd
import pytest

from glade.eval.families import family_lines
from glade.eval.floor_rule import against_floor
from glade.eval.recipe import STANDIN, Lever
from glade.eval.stats import interval
from glade.eval.verdicts import lever_audit


def _counts(k: int, n: int, sign: float = 1.0):
    return interval([sign] * k + [0.0] * (n - k), bounds=(-1.0, 1.0), lattice=True)


@pytest.mark.parametrize("n", [4, 8, 12])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_the_end_nearer_0_moves_toward_0_as_fewer_seeds_show_it(n, sign):
    near = [sign * (_counts(k, n, sign).low if sign > 0 else _counts(k, n, sign).high) for k in range(n + 1)]
    assert all(a <= b for a, b in zip(near, near[1:], strict=False)), near
    clear = [_counts(k, n, sign).excludes_zero() for k in range(n + 1)]
    assert clear == sorted(clear)  # once clear, every larger count is clear too


def test_seven_of_eight_is_at_least_as_clear_as_five_of_eight():
    seven, five = _counts(7, 8), _counts(5, 8)
    assert seven.low >= five.low
    assert seven.excludes_zero() >= five.excludes_zero()
    assert seven.excludes_zero()  # [+0.104, +0.997]: a rate's difference in 7 of 8 seeds is clear


def test_no_difference_in_8_seeds_is_an_exact_interval_not_inside_a_005_floor():
    iv = interval([0.0] * 8, bounds=(-1.0, 1.0), lattice=True)
    edge = 1 - 0.025 ** (1 / 8)  # a difference in 37% of seeds shows in none of 8 one time in 40
    assert iv.low == pytest.approx(-edge) and iv.high == pytest.approx(edge)
    assert iv.note == "same value in all 8 seeds"
    assert against_floor(iv, 0.05) is None
    assert not iv.excludes_zero()


def test_the_same_value_in_every_seed_of_a_rate_difference_has_an_interval_below_it():
    iv = interval([1.0] * 8, bounds=(-1.0, 1.0), lattice=True)
    # all 8 at +1 is as likely as 1 in 40 where 63% of seeds rise and 37% fall: the difference 0.26
    assert iv.low == pytest.approx(2 * 0.025 ** (1 / 8) - 1) and iv.high == 1.0


def test_a_non_rate_figure_keeps_the_same_value_in_words():
    iv = interval([0.0] * 8, bounds=(-1.0, 1.0))
    assert iv.low is None and iv.note == "same value in all 8 seeds"


def test_a_lattice_interval_needs_bounds():
    with pytest.raises(ValueError, match="needs the bounds"):
        interval([0.0, 1.0, 1.0, 0.0], lattice=True)
    with pytest.raises(ValueError, match=r"needs the bounds its values cannot pass, around 0, got \(-1.0, 1.0\)"):
        interval([1.5] * 8, bounds=(-1.0, 1.0), lattice=True)  # a mean past its own interval's end
    with pytest.raises(ValueError, match="around 0"):
        interval([0.5] * 8, bounds=(0.2, 1.0), lattice=True)


def test_the_same_change_in_every_seed_is_no_difference_only_when_it_is_0():
    # guards outcome_check's "no difference": a lattice's same value has an interval that may hold 0
    from glade.eval.calibrate_words import worse_errors
    from glade.eval.outcome_check import _figure_verdict

    for values in ([-1.0] * 4, [-0.5] * 8, [1 / 3] * 8):
        iv = interval(values, bounds=(-1.0, 1.0), lattice=True)
        assert iv.note.startswith("same value") and iv.low < 0 < iv.high
        assert _figure_verdict(iv) == "no clear difference"
    assert _figure_verdict(interval([0.0] * 8, bounds=(-1.0, 1.0), lattice=True)) == "no clear difference"
    # a same value with an interval holding 0 is not "worse" in calibrate's words either
    change = interval([0.5] * 8, bounds=(-1.0, 1.0), lattice=True).as_dict()
    assert worse_errors({"price_error": {"change": change}}) == ""


def _worlds(effect: dict[str, list[float]]) -> pd.DataFrame:
    rows = []
    for council, crashed in effect.items():
        for seed, after in enumerate(crashed):
            rows.append({"scenario": "a", "council": council, "cast": 0, "seed": seed, "crash": 0.0})
            rows.append({"scenario": "b", "council": council, "cast": 0, "seed": seed, "crash": after})
    return pd.DataFrame(rows)


def test_a_lever_seen_in_no_seed_of_either_world_is_not_neither():
    # the same true effect (say 0.15) in both worlds can show in 0 of 8 seeds in each
    [entry] = lever_audit(_worlds({STANDIN: [0.0] * 8, "X": [0.0] * 8}), (Lever("glut", "a", "b", "crash"),))
    [council] = entry["councils"]
    assert council["verdict"] == "not enough seeds"
    assert entry["standin"]["ci"] == pytest.approx([-(1 - 0.025 ** (1 / 8)), 1 - 0.025 ** (1 / 8)])


def test_lever_verdicts_over_counts_never_say_more_with_fewer_seeds():
    lever, order = (Lever("glut", "a", "b", "crash"),), {"not enough seeds": 0, "holds live": 1}
    said = []
    for k in range(9):
        crashed = [1.0] * k + [0.0] * (8 - k)
        said.append(lever_audit(_worlds({STANDIN: crashed, "X": crashed}), lever)[0]["councils"][0]["verdict"])
    assert [order[v] for v in said] == sorted(order[v] for v in said), said


def test_family_lines_give_the_members_n_range():
    family = {"family": 1, "text": "stand-in buys", "n": 6, "n_max": 8, "q": 0.0146}
    assert family_lines([family]) == ["1. stand-in buys (n 6 to 8, q 0.015)"]
    assert family_lines([family | {"n_max": 6}]) == ["1. stand-in buys (n 6, q 0.015)"]


def test_cast_averaged_rate_differences_stay_monotone():
    # two casts per seed: values 0, 0.5, 1; more seeds at +1 (the rest at +0.5) is never weaker
    lows = [interval([1.0] * k + [0.5] * (8 - k), bounds=(-1.0, 1.0), lattice=True).low for k in range(9)]
    assert lows == sorted(lows)
    assert np.isfinite(lows).all()
