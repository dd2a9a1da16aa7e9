"""The verdicts say no more than their intervals hold: the seam's larger part from the per-seed
|seam| - |traded|, never the means; a seat's share without an interval says why; the casts'
heterogeneity test compares casts on the same seeds; the decision summary counts seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import glade.eval.attribution as attribution_module
import glade.eval.verdicts as verdicts_module
from glade.eval.decision_metrics import decision_summary
from glade.eval.fdr import heterogeneity
from glade.eval.figures import FIGURES
from glade.eval.stats import Interval
from glade.eval.verdict_text import attribution_lines, seam_lines
from glade.eval.verdicts import SEAM_UNDECIDED, _robust_verdict, robustness, seam_split

# --- the seam: which part is larger -------------------------------------------------------------


def seam_table(traded, seam) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "scenario": "s",
            "council": "standin",
            "cast": 0,
            "seed": range(len(traded)),
            "legend_good": "honey",
            "legend_turn": 4,
            "traded_move": traded,
            "seam_move": seam,
        }
    )


SEAM = [-0.28, -0.31, -0.30, -0.29, -0.32, -0.30, -0.31, -0.29]  # moved: -0.30 [-0.311, -0.289]


def test_a_seam_share_above_half_on_the_means_is_not_authored_when_the_seeds_do_not_say_so():
    # trading -0.2375 [-0.640, +0.109] swings sign from seed to seed: the share of the means is 0.558,
    # but seed by seed |seam| - |traded| is -0.0625 [-0.463, +0.191]: which part is larger is open
    traded = [-0.9, 0.1, -0.5, 0.2, -0.4, 0.05, -0.6, 0.15]
    [entry] = seam_split(seam_table(traded, SEAM))
    assert entry["verdict"] == SEAM_UNDECIDED == "seam moved, larger part undecided"
    assert entry["authored_share"] == pytest.approx(0.30 / 0.5375)
    larger = entry["seam_over_traded"]
    assert larger["mean"] == pytest.approx(-0.0625) and larger["n"] == 8
    assert larger["ci"] == pytest.approx([-0.4635, 0.1914], abs=5e-4)
    [line] = seam_lines([entry])
    assert "all stand-in: seam moved, larger part undecided (-53.8 [" in line
    assert line.endswith(
        "; |seam| - |traded| per seed -6.2 [-46.3, +19.1]: which part is larger is undecided at this n; "
        "56% of the log move at the seam (of the mean moves: descriptive, no interval); n 8 seeds)"
    )


def test_authored_and_mixed_need_the_per_seed_interval_on_one_side_of_zero():
    small = [0.02, -0.02, 0.01, -0.01, 0.03, -0.03, 0.0, 0.0]  # trading about 0: the seam is larger in every seed
    [authored] = seam_split(seam_table(small, SEAM))
    assert authored["verdict"] == "authored" and authored["seam_over_traded"]["ci"][0] > 0
    [line] = seam_lines([authored])
    assert "; |seam| - |traded| per seed +28.5 [" in line and "undecided" not in line
    large = [-0.6 + x for x in small]  # trading larger than the seam in every seed
    [mixed] = seam_split(seam_table(large, SEAM))
    assert mixed["verdict"] == "mixed" and mixed["seam_over_traded"]["ci"][1] < 0


def test_the_verdict_ignores_the_share_it_is_given_no_more():
    # the third argument is the per-seed |seam| - |traded|; an interval that holds 0 decides nothing
    traded, seam = Interval(-0.24, -0.64, 0.11, 8), Interval(-0.30, -0.31, -0.29, 8)
    assert verdicts_module._seam_verdict(traded, seam, Interval(-0.06, -0.46, 0.19, 8), 0.05) == SEAM_UNDECIDED
    assert verdicts_module._seam_verdict(traded, seam, Interval(0.1, 0.01, 0.2, 8), 0.05) == "authored"
    assert verdicts_module._seam_verdict(traded, seam, Interval(-0.1, -0.2, -0.01, 8), 0.05) == "mixed"
    assert verdicts_module._seam_verdict(traded, seam, Interval(0.1, None, None, 3), 0.05) == SEAM_UNDECIDED


# --- seat attribution: a share without an interval says why ---------------------------------------


def attribution_of(effects: dict[int, list[float]], jitter: list[float], monkeypatch) -> dict:
    """One council, two focal seats; hazel's contribution is half the effect plus `jitter`."""
    monkeypatch.setattr(attribution_module, "FIGURES", {"gambit_pnl": FIGURES["gambit_pnl"]})
    monkeypatch.setattr(attribution_module, "world_figures", lambda frame, thresholds: frame)
    worlds, episodes, replays = [], [], []
    seeds = len(jitter)
    for seed in range(seeds):
        worlds.append(dict(episode_id=f"st.{seed}", scenario="s", council="standin", cast=0, seed=seed,
                           pair_id=f"p{seed}", gambit_pnl=0.0))  # fmt: skip
        for cast, effect in effects.items():
            eid, e = f"c.{cast}.{seed}", effect[seed]
            worlds.append(dict(episode_id=eid, scenario="s", council="c", cast=cast, seed=seed, pair_id=f"p{seed}",
                               gambit_pnl=e))  # fmt: skip
            for creature, part in (("hazel", 0.5 * e + jitter[seed]), ("oona", 0.5 * e)):
                episodes.append(dict(episode_id=eid, creature=creature, focal=True, council="c", policy="m"))
                replays.append(dict(episode_id=f"{eid}.without-{creature}", left_out=creature, scenario="s",
                                    council="c", gambit_pnl=e - part))  # fmt: skip
    [entry] = attribution_module.attribution(pd.DataFrame(worlds), pd.DataFrame(episodes), pd.DataFrame(replays))
    return entry


JITTER = [0.1, -0.1, 0.2, -0.2, 0.05, -0.05]  # sums to 0: every share is exactly one half


def test_a_share_whose_casts_effect_is_not_clear_of_zero_says_so(monkeypatch):
    clear, unclear = [10.0, 11.0, 9.0, 10.0, 12.0, 8.0], [5.0, -4.0, 6.0, -5.0, 3.0, -3.0]
    entry = attribution_of({0: clear, 1: unclear}, JITTER, monkeypatch)
    seats = {(s["cast"], s["creature"]): s for s in entry["seats"]}
    assert seats[(0, "hazel")]["share_ci"] is not None and seats[(0, "hazel")]["share_note"] == ""
    hazel = seats[(1, "hazel")]
    assert hazel["share"] == pytest.approx(0.5) and hazel["share_ci"] is None
    assert hazel["share_note"] == "no interval: this cast's effect is not clearly away from 0"
    [line] = attribution_lines([entry])
    assert "hazel (m, cast 1) 50% (no interval: this cast's effect is not clearly away from 0)" in line


def test_a_share_on_fewer_than_four_seeds_says_so(monkeypatch):
    entry = attribution_of({0: [10.0, 11.0, 9.0]}, [0.1, -0.1, 0.0], monkeypatch)
    assert {s["share_note"] for s in entry["seats"]} == {"no interval: fewer than 4 seeds"}
    assert all(s["share_ci"] is None for s in entry["seats"])


def test_an_older_share_without_interval_or_note_is_not_shown_bare():
    seat = {"creature": "hazel", "policy": "m", "cast": 1, "share": 0.44, "share_ci": None}
    entry = {"scenario": "s", "council": "c", "figure": "gambit_pnl", "effect_clear": True, "seats": [seat],
             "effect": {"mean": 1.0, "ci": [0.5, 1.5], "n": 8}, "interaction": {"mean": 0.0, "n": 8}}  # fmt: skip
    assert "hazel (m, cast 1) 44% (no interval);" in attribution_lines([entry])[0]


# --- robustness: the docstring's rule, and casts compared on the same seeds ------------------------


def test_robust_rests_on_the_pooled_interval_and_presence_in_every_cast():
    doc = verdicts_module.__doc__
    assert "(present in every cast, and the pooled rate's interval over seeds at or above `robust_floor`)" in " ".join(
        doc.split()
    )
    # cast 1 shows it on 1 of 8 seeds (its own interval reaches far below 0.5): robust on the pooled interval
    by_cast = [np.ones(8), np.array([1.0, 0, 0, 0, 0, 0, 0, 0])]
    assert _robust_verdict(by_cast, Interval(0.9, 0.6, 1.0, 8, "", "korn-graubard"), None, 0.5) == "robust"


def test_casts_that_agree_on_every_shared_seed_are_not_cast_dependent():
    # cast 1 lost the 8 seeds without a crash: shuffled over all worlds this read p = 0.024
    assert heterogeneity([np.array([1.0] * 8 + [0.0] * 8), np.ones(8)]) is None
    worlds = pd.DataFrame(
        [
            {
                "scenario": "sc",
                "legend_good": "honey",
                "council": "live",
                "cast": cast,
                "seed": seed,
                "crash": float(cast == 1 or seed < 8),
                "bubble": np.nan,
            }
            for cast, seeds in ((0, range(16)), (1, range(8)))
            for seed in seeds
        ]
    )
    [entry] = robustness(worlds)
    assert entry["heterogeneity_p"] is None and entry["verdict"] != "cast-dependent"


def test_casts_that_differ_on_the_same_seeds_still_differ_and_the_test_is_seeded():
    # on the 8 seeds both casts played, cast 0 crashed and cast 1 did not: the paired p is 2 / 2^8
    groups = [np.array([1.0] * 8 + [0.0] * 8), np.zeros(8)]
    p = heterogeneity(groups, [np.arange(16), np.arange(8)], seed=3)
    assert p == pytest.approx(2 / 2**8, abs=0.002) and p < 0.05
    assert heterogeneity(groups, [np.arange(16), np.arange(8)], seed=3) == p
    # seeds named out of order pair the same worlds
    assert heterogeneity([groups[0][::-1], groups[1]], [np.arange(16)[::-1], np.arange(8)], seed=3) == pytest.approx(
        p, abs=0.002
    )


# --- the decision summary counts seeds -------------------------------------------------------------


def decisions(casts: int, agree: dict[int, int], rotate: bool = False) -> pd.DataFrame:
    rows = []
    for seed, a in agree.items():
        for cast in range(casts):
            creature = f"creature{cast}" if rotate else "hazel"  # rotated: the policy on another creature per cast
            for turn in range(4):
                yes = a if turn < 3 else 1 - a
                rows.append(dict(scenario="s", council="c", policy_name="p", policy="id:p", creature=creature,
                                 phase="before", episode_id=f"s.c.{cast}.s{seed}", cast=cast, seed=seed, turn=turn,
                                 action="{}", standin_action="{}", dir_honey="buy" if yes else "sell",
                                 standin_dir_honey="buy", qty_honey=1.0, standin_qty_honey=1.0, agreement=float(yes)))  # fmt: skip
    return pd.DataFrame(rows)


def test_one_policy_on_one_creature_in_two_casts_counts_each_seed_once():
    [row] = decision_summary(decisions(2, {0: 1, 1: 0, 2: 1}))
    assert (row["n"], row["episodes"], row["decisions"]) == (3, 6, 24)
    assert row["agreement"]["ci"] is None  # 3 seeds: too few for an interval, whatever 2 casts add
    assert row["agreement"]["note"] == "too few seeds for an interval: 0.75, 0.25, 0.75"


def test_a_rotated_council_keeps_its_n_and_figures():
    # the shipped recipe rotates every policy to another creature: one episode per seed in each row
    rows = decision_summary(decisions(2, {0: 1, 1: 0, 2: 1, 3: 1, 4: 0}, rotate=True))
    assert [r["n"] for r in rows] == [5, 5] and [r["episodes"] for r in rows] == [5, 5]
    for r in rows:
        assert r["agreement"]["mean"] == pytest.approx(0.55)
        assert r["agreement"]["ci"] is not None and r["agreement"]["n"] == 5
