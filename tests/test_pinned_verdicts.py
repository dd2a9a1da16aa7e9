"""Tests written by the third mutation audit (see test_pinned_stats.py) of attribution,
the verdicts and the calibration's outcome check. The comment on each names what it guards."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_eval_metrics import world
from test_pinned_stats import FLAT

from glade.eval.attribution import attribution
from glade.eval.metrics import world_figures
from glade.eval.outcome_check import CHECKED, _summarise, verdict
from glade.eval.recipe import STANDIN, Lever
from glade.eval.stats import Interval, interval
from glade.eval.thresholds import Thresholds
from glade.eval.verdicts import _lever_verdict, _robust_verdict, _seam_verdict, lever_audit, seam_split

# --------------------------------------------------------------------------- attribution


def _seat_world(council: str, seed: int, creature: str, volume: float, cast: int = 0, **extra) -> dict:
    """One episodes-table row for attribution: the world's volume is the figure that moves."""
    row = world(council, seed, FLAT, volume=volume, cast=cast)
    return row | {"creature": creature, "focal": council != "standin", "faults": 0, **extra}


def _attribute(effects: list[float], seats: dict[str, float], casts: tuple[float, ...] = (1.0,)) -> tuple[dict, dict]:
    """A council m x e pebbles of volume below the stand-in's 10 on each seed, in a cast for each
    multiplier m of `casts`; `seats`: creature -> the share of the effect that goes away without it
    (replays for two or more seats). Returns the entry and its seats by (cast, creature)."""
    rows, replays = [], []
    for s, e in enumerate(effects):
        rows.append(_seat_world("standin", s, "oona", 10.0))
        for cast, m in enumerate(casts):
            for creature, part in seats.items():
                rows.append(_seat_world("council", s, creature, 10.0 - m * e, cast))
                if len(seats) > 1:
                    replay = _seat_world("council", s, creature, 10.0 - m * e + m * e * part, cast, left_out=creature)
                    replays.append(replay | {"episode_id": f"{replay['episode_id']}.without-{creature}"})
    episodes = pd.DataFrame(rows)
    out = attribution(world_figures(episodes), episodes, pd.DataFrame(replays or [rows[1] | {"left_out": "x"}]))
    [entry] = [e for e in out if e["figure"] == "volume"]
    return entry, {(seat["cast"], seat["creature"]): seat for seat in entry["seats"]}


def test_four_seeds_with_the_same_share_say_so():
    # guards attribution's `len(part) >= MIN_N`: at exactly 4 seeds the same share is said in words
    _, seats = _attribute([0.3, 0.6, 0.9, 1.2], {"oona": 1.0})  # one seat: its contribution is the effect
    seat = seats[(0, "oona")]
    assert seat["share"] == 1.0 and seat["share_note"] == "same share in all 4 seeds" and seat["share_ci"] is None


def test_a_share_equal_up_to_float_rounding_is_the_same_share_and_a_zero_share_is_not_negative():
    # guards attribution's `np.ptp(ratios) <= 1e-9` (a third of each effect: ratios within 3e-15 of
    # each other) and the `+ 0.0` that keeps a zero contribution to a negative effect from reading -0%
    _, seats = _attribute([0.3, 0.6, 0.9, 1.2], {"oona": 1 / 3, "thorn": 0.0})
    oona, thorn = seats[(0, "oona")], seats[(0, "thorn")]
    assert oona["share"] == pytest.approx(1 / 3) and oona["share_note"] == "same share in all 4 seeds"
    assert thorn["share"] == 0.0 and math.copysign(1.0, thorn["share"]) == 1.0


def test_attribution_counts_seeds_and_divides_by_each_casts_own_effect():
    # guards attribution's effect interval over seeds (casts averaged, not worlds) and each seat's
    # cast_effect (its own cast's mean effect, not every cast's): cast 1's effect is twice cast 0's
    entry, seats = _attribute([1.0, 2.0, 3.0, 4.0], {"oona": 1.0}, casts=(1.0, 2.0))
    assert entry["effect"]["n"] == 4 and entry["effect"]["mean"] == -3.75
    assert seats[(0, "oona")]["cast_effect"] == -2.5 and seats[(1, "oona")]["cast_effect"] == -5.0


# --------------------------------------------------------------------------- verdicts


def test_a_pooled_rate_whose_low_end_is_the_floor_is_robust():
    # guards _robust_verdict's `pooled.low >= floor` (the floor itself counts, as a high end at it is not sporadic)
    pooled = Interval(0.75, 0.5, 1.0, 8, "6 of 8 seeds", "clopper-pearson")
    assert _robust_verdict([np.ones(4), np.array([1.0, 1.0, 0.0, 0.0])], pooled, None, 0.5) == "robust"


def test_a_seam_move_whose_interval_starts_at_exactly_the_floor_is_a_move():
    # guards against_floor's `low >= floor` ("moved it by at least move_floor"): the interval's near end on
    # the floor counts; one just inside it straddles the floor (the mean alone decided before)
    traded = Interval(0.0, -0.01, 0.01, 4, "", "t+hall+kurtosis-df")
    seam = Interval(0.06, 0.05, 0.07, 4, "", "t+hall+kurtosis-df")
    assert _seam_verdict(traded, seam, Interval(0.06, 0.04, 0.08, 4), 0.05) == "authored"  # the seam larger per seed
    assert _seam_verdict(traded, Interval(0.06, 0.0499, 0.07, 4), 1.0, 0.05) == "at the floor"  # narrower than it
    # guards the emergent rule's need for an interval beyond the floor: a large traded mean whose interval
    # holds 0 straddles the floor, which decides nothing
    unclear = Interval(0.2, -0.1, 0.5, 4, "", "t+hall+kurtosis-df")
    assert _seam_verdict(unclear, Interval(0.0, -0.01, 0.01, 4), None, 0.05) == "not enough seeds"


def test_the_authored_share_is_of_both_parts_moves_not_of_their_sum():
    # guards seam_split's size |traded| + |seam|: trading -0.1875 against the seam's +0.5625 leaves the seam
    # 0.75 of the movement (of the net move it would be 1.5)
    table = pd.DataFrame(
        {
            "scenario": "sc",
            "legend_good": "honey",
            "legend_turn": 3,
            "council": "live",
            "cast": 0,
            "seed": range(4),
            "traded_move": [-0.125, -0.25, -0.125, -0.25],
            "seam_move": [0.5, 0.625, 0.5, 0.625],
        }
    )
    [entry] = seam_split(table, Thresholds())
    assert entry["authored_share"] == 0.75 and entry["verdict"] == "authored"


def _lever_rows(figure: str, base: float, effects: dict[tuple[str, int], list[float]]) -> pd.DataFrame:
    """`figure` at `base` in scenario a and base + effect in b, per (council, cast) and seed."""
    rows = []
    for (council, cast), values in effects.items():
        for seed, e in enumerate(values):
            for scenario, value in (("a", base), ("b", base + e)):
                rows.append({"scenario": scenario, "council": council, "cast": cast, "seed": seed, figure: value})
    return pd.DataFrame(rows)


def test_a_lever_in_pebbles_must_move_by_min_effect_of_the_stand_ins_magnitude():
    # guards lever_audit's scale for relative figures: a gambit P&L of 100 needs a move of 0.05 x 100 = 5;
    # a clear move of about 1 pebble is no move
    one = [1.0, 1.1, 0.9, 1.0, 1.05, 0.95]
    rows = _lever_rows("gambit_pnl", 100.0, {(STANDIN, 0): one, ("live", 0): one})
    [entry] = lever_audit(rows, (Lever("l", "a", "b", figure="gambit_pnl"),), Thresholds())
    assert entry["standin"]["ci"][0] > 0 and entry["councils"][0]["verdict"] == "neither"


def test_a_councils_lever_effect_averages_its_casts_per_seed():
    # guards lever_audit's per-seed mean over casts: two casts moving 0.1 each are a move of 0.1, not 0.2
    big = [0.10, 0.12, 0.14, 0.11, 0.13, 0.12]
    rows = _lever_rows("legend_ratio", 1.0, {(STANDIN, 0): big, ("live", 0): big, ("live", 1): big})
    [entry] = lever_audit(rows, (Lever("l", "a", "b"),), Thresholds())
    [council] = entry["councils"]
    assert council["effect"]["mean"] == pytest.approx(0.12) and council["effect"]["n"] == 6
    assert council["did"]["mean"] == pytest.approx(0.0, abs=1e-12)


def test_a_lever_needs_enough_seeds_in_both_worlds():
    # guards _lever_verdict's min(n): 3 stand-in seeds are too few, however many the council has
    standin, live = interval([0.1, 0.12, 0.14]), interval([0.10, 0.12, 0.14, 0.11, 0.13, 0.12])
    assert _lever_verdict(standin, live, 0.05) == "not enough seeds"
    assert _lever_verdict(live, standin, 0.05) == "not enough seeds"


# --------------------------------------------------------------------------- outcome_check


def _check_frame(scenarios: tuple[str, ...], seeds: int, unplayed: dict[str, set[int]] | None = None) -> pd.DataFrame:
    """The outcome check's per-world errors: the calibrated world closer by 0.1 to 0.4 on every seed;
    `unplayed`: figure -> the seeds where the calibrated world has no value of it (NaN)."""
    rows = []
    for scenario in scenarios:
        for seed in range(seeds):
            row = {"scenario": scenario, "seed": seed}
            for name in CHECKED:
                for w in ("council", "original", "calibrated"):
                    row[f"{name}.{w}"] = 0.5
                row[f"{name}.error_original"] = 1.0
                missing = seed in (unplayed or {}).get(name, set())
                row[f"{name}.error_calibrated"] = math.nan if missing else 0.9 - 0.1 * (seed % 4)
            rows.append(row)
    return pd.DataFrame(rows)


def test_a_seed_without_the_calibrated_value_is_left_out_of_the_figure():
    # guards _summarise's `np.isfinite(err_o) & np.isfinite(err_k)`: n counts the seeds with both errors
    group = _summarise(_check_frame(("sc",), 6, {"legend_ratio": {5}}), 0.95)
    legend = group["figures"]["legend_ratio"]
    assert legend["n"] == 5 and legend["error_original"]["n"] == 5 and legend["error_change"]["n"] == 5
    assert group["figures"]["gambit_pnl"]["n"] == 6


def test_the_same_seed_in_two_scenarios_is_one_unit():
    # guards _summarise's grouping by seed: seed 0 of one scenario and of another share the seed's draws, one unit
    group = _summarise(_check_frame(("a", "b"), 4), 0.95)
    assert group["n"] == 4 and group["worlds"] == 8 and group["figures"]["crash"]["n"] == 4


def test_one_figure_with_too_few_seeds_does_not_silence_the_others():
    # guards verdict's `all(...)`: legend_ratio has 3 seeds (too few), the other figures 6 and a clear change
    group = _summarise(_check_frame(("sc",), 6, {"legend_ratio": {3, 4, 5}}), 0.95)
    assert group["figures"]["legend_ratio"]["verdict"] == "too few seeds"
    text = verdict(group)
    assert text.startswith("on 6 held-out worlds (6 seeds) the calibrated stand-in predicts the council")
    assert "better on 2 of 4 figures and worse on 0" in text
