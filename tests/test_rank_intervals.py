"""`glade rank`'s intervals resample seeds, not (scenario, seed) units: scenarios that split
only at the legend replay a seed's draws, so a seed's units are one cluster; below
MIN_RESAMPLED seeds there is no interval. And float dust is no effect (stats.interval)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from glade.eval.outcome_check import _figure_verdict
from glade.eval.rank import rank
from glade.eval.stats import MIN_RESAMPLED, interval, resample_intervals


def _seat(scenario, seed, policy, value):
    return {
        "episode_id": f"{scenario}.{policy}.s{seed}", "scenario": scenario, "scenario_hash": f"h{scenario}",
        "seed": seed, "creature": "c1", "world": "council", "focal": True, "policy": policy,
        "wealth_change": value, "council": "k", "cast": 0,
    }  # fmt: skip


def _folder(tmp_path, name, seeds, scenarios):
    """a beats b on 7 of every 12 seeds (on each of the seed's scenarios alike), c sits beside them
    and loses to both."""
    rows = []
    for seed in range(seeds):
        a = 3.0 if seed % 12 < 7 else 1.0
        for scenario in scenarios:  # the same values: a scenario that replays its seed
            rows += [_seat(scenario, seed, "a", a), _seat(scenario, seed, "b", 2.0), _seat(scenario, seed, "c", 0.0)]
    folder = tmp_path / name
    folder.mkdir()
    pd.DataFrame(rows).to_parquet(folder / "episodes.parquet")
    return folder


def test_scenarios_of_one_seed_are_one_cluster_and_do_not_narrow_the_interval(tmp_path):
    one = rank([_folder(tmp_path, "one", 12, ["s"])], resamples=400, seed=1)
    three = rank([_folder(tmp_path, "three", 12, ["s", "t", "u"])], resamples=400, seed=1)
    assert (three["units"], three["seeds"]) == (36, 12) and (one["units"], one["seeds"]) == (12, 12)
    rows = {k: {r["entry"]: r for r in b["board"]} for k, b in (("one", one), ("three", three))}
    # a against b (not c, whom both always beat: its strength is the prior's); over 36 units as if
    # independent, this difference's spread was about 1 / sqrt(3) of what 12 seeds allow
    assert rows["three"]["a"]["rank_ci"] == rows["one"]["a"]["rank_ci"] == [1, 2]
    width = {k: r["a"]["ci"][1] - r["a"]["ci"][0] for k, r in rows.items()}
    assert width["three"] == pytest.approx(width["one"], rel=0.15)
    assert "over seeds" in three["method"]


def test_fewer_than_the_floor_of_seeds_give_no_interval_however_many_units(tmp_path):
    board = rank([_folder(tmp_path, "r", MIN_RESAMPLED - 1, ["s", "t", "u"])], resamples=50)
    assert board["units"] == 3 * (MIN_RESAMPLED - 1) and board["seeds"] == MIN_RESAMPLED - 1
    assert board["note"] == f"too few seeds for an interval: {MIN_RESAMPLED - 1}, at least {MIN_RESAMPLED}"
    assert all(row["ci"] is None and row["rank_ci"] is None for row in board["board"])
    with pytest.raises(ValueError, match=f"at least {MIN_RESAMPLED} clusters, got {MIN_RESAMPLED - 1}"):
        resample_intervals(MIN_RESAMPLED - 1, lambda i: np.array([0.0]), seed=0)


def test_the_interval_is_expanded_for_small_n():
    """At 8 clusters the expanded percentile interval reads the resamples at 0.57% and 99.43%,
    not 2.5% and 97.5% (Hesterberg: sqrt(8 / 7) t(7) = 2.53 normal quantiles)."""
    calls = iter(range(2000))
    low, high, _ = resample_intervals(8, lambda _i: np.array([float(next(calls))]), seed=0)
    assert (low[0], high[0]) == (11.0, 1988.0)


def test_float_dust_of_both_signs_is_no_effect():
    iv = interval([-1e-10, 2e-10, 0.0, 0.0])
    assert iv.note == "same value in all 4 seeds" and iv.mean == 0.0 and not iv.excludes_zero()
    assert _figure_verdict(iv) == "no difference"
    tiny = interval([1e-13] * 5)  # one sign, but within NO_DIFFERENCE of 0
    assert tiny.mean == 0.0 and not tiny.excludes_zero()
    assert interval([1e-6] * 4).excludes_zero()  # the same small value everywhere is still an effect


def test_at_the_floor_of_seeds_an_interval_is_given_and_a_tie_spans_its_places(tmp_path):
    """a and b tie in every cell, c loses to both, on exactly MIN_RESAMPLED seeds (guards `<`)."""
    rows = []
    for seed in range(MIN_RESAMPLED):
        rows += [_seat("s", seed, "a", 5.0), _seat("s", seed, "b", 5.0), _seat("s", seed, "c", 1.0 + seed % 2)]
    (tmp_path / "r").mkdir()
    pd.DataFrame(rows).to_parquet(tmp_path / "r" / "episodes.parquet")
    totals = []
    board = rank([tmp_path / "r"], resamples=100, on_total=totals.append)
    assert totals == [100] and board["note"] is None and board["seeds"] == MIN_RESAMPLED
    rows = {row["entry"]: row for row in board["board"]}
    assert rows["a"]["rank_ci"] == rows["b"]["rank_ci"] == [1, 2] and rows["c"]["rank_ci"] == [3, 3]
    # every seed orders them alike, so every refit is the same: no strength interval, said in words
    assert all(row["ci"] is None and row["note"].startswith("the same strength in every") for row in board["board"])
    figures = [row["strength"] for row in board["board"]]
    assert all(f"{x:+.2f}" != "-0.00" for x in figures)
