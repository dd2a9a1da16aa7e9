"""eval.metrics: JSD, crash and bubble, price path distance, and decision and outcome summaries
on hand-built tables with exact expected numbers (two seeds: no interval, the values said)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from glade.eval.cells import outcome_cells
from glade.eval.decision_metrics import decision_summary
from glade.eval.flags import flag
from glade.eval.metrics import outcome_summary, summarize, world_figures
from glade.eval.scoring import directions, quantities
from glade.eval.stats import bubble, crash, jsd, path_distance
from glade.eval.thresholds import Thresholds

GOODS = ["honey", "acorns"]


# --- hand-built tables -----------------------------------------------------------------------


def order(side, good, qty, price):
    return {"side": side, "good": good, "qty": qty, "price": price}


def decision(episode, seed, turn, phase, live, ref, creature="thorn", council="c", cast=0, scenario="sc"):
    """One decisions-table row as eval/run.py writes it, from two lists of orders."""
    a, b = {"orders": live}, {"orders": ref}
    d_live, d_ref = directions(a, GOODS), directions(b, GOODS)
    q_live, q_ref = quantities(a, GOODS), quantities(b, GOODS)
    row = {
        "episode_id": episode,
        "pair_id": f"{scenario}.s{seed}",
        "scenario": scenario,
        "council": council,
        "cast": cast,
        "seed": seed,
        "turn": turn,
        "phase": phase,
        "creature": creature,
        "policy_name": "p",
        "policy": "python:p",
        "action": json.dumps(a),
        "standin_action": json.dumps(b),
        "completion": json.dumps(a),
        "prompt": f"turn {turn}",
        "agreement": sum(d_live[g] == d_ref[g] for g in GOODS) / len(GOODS),
    }
    for g in GOODS:
        row[f"dir_{g}"], row[f"standin_dir_{g}"] = d_live[g], d_ref[g]
        row[f"qty_{g}"], row[f"standin_qty_{g}"] = q_live[g], q_ref[g]
    return row


def world(council, seed, honey, *, acorns=None, cast=0, pnl=0.0, gini=0.3, volume=10, legend_turn=2, scenario="sc"):
    """One episodes-table row (one seat; the world's figures are what matter)."""
    acorns = acorns or [2.0] * len(honey)
    before = honey[legend_turn - 1] if legend_turn > 0 else 10.0
    return {
        "episode_id": f"{scenario}.{council}.c{cast}.s{seed}",
        "pair_id": f"{scenario}.s{seed}",
        "world": "standin" if council == "standin" else "council",
        "scenario": scenario,
        "scenario_hash": "h",
        "council": council,
        "cast": cast,
        "seed": seed,
        "creature": "oona",
        "policy": "x",
        "focal": False,
        "legend_good": "honey",
        "legend_turn": legend_turn,
        "legend_ratio": honey[legend_turn] / before,
        "price_path": json.dumps({"honey": honey, "acorns": acorns}),
        "start_prices": json.dumps({"honey": 10.0, "acorns": 2.0}),
        "gambit_pnl": pnl,
        "final_gini": gini,
        "volume": volume,
        "turns": len(honey),
    }


# --- small functions ---------------------------------------------------------------------------


def test_jsd_exact_values():
    assert jsd([1, 0, 0], [1, 0, 0]) == 0.0
    assert jsd([1, 0], [0, 1]) == pytest.approx(1.0)
    # p = (1, 0), q = (1/2, 1/2): m = (3/4, 1/4)
    expected = 0.5 * math.log2(4 / 3) + 0.5 * (0.5 * math.log2(2 / 3) + 0.5 * math.log2(2))
    assert jsd([1, 0], [0.5, 0.5]) == pytest.approx(expected) == pytest.approx(0.3112781244591328)
    assert jsd({"buy": 2, "none": 2}, {"none": 1, "buy": 1, "sell": 0}) == pytest.approx(0.0)  # weights normalised
    with pytest.raises(ValueError):
        jsd([0, 0], [1, 0])


def test_crash_window_and_reference():
    # legend at turn 2; the reference is path[1] = 10
    assert crash([10, 10, 8, 7.0], 2, drop=0.3, within=1) is True  # 7 <= 0.7 * 10 at turn 3 = L + 1
    assert crash([10, 10, 8, 7.1], 2, drop=0.3, within=1) is False
    assert crash([10, 10, 8, 8, 6], 2, drop=0.3, within=1) is False  # turn 4 is outside L..L+1
    assert crash([10, 10, 8, 8, 6], 2, drop=0.3, within=2) is True
    assert crash([5.0, 9], 0, drop=0.3, within=1, start=10.0) is True  # L = 0: the start price is the reference
    with pytest.raises(ValueError):
        crash([5.0, 9], 0, drop=0.3, within=1)
    assert crash([10, 1], None, drop=0.3, within=1) is False
    assert crash([10, 1], 5, drop=0.3, within=1) is False


def test_bubble_rises_then_falls_back():
    assert bubble([10, 10, 13, 14, 10], 2, rise=0.3) is True  # 13 >= 1.3 * 10, then back to 10
    assert bubble([10, 10, 13, 14, 10.5], 2, rise=0.3) is False  # never back to the reference
    assert bubble([10, 10, 12.9, 9, 9], 2, rise=0.3) is False  # never rose enough
    assert bubble([10, 9, 12, 9], 2, rise=0.3) is True  # the reference is the price before L: path[1] = 9
    assert bubble([10, 9, 12, 9], 1, rise=0.3) is False  # ... here path[0] = 10, and 12 < 13
    assert bubble([13.5, 10], 0, rise=0.3, start=10.0) is True  # L = 0: the start price is the reference
    assert bubble([10, 20, 5], None, rise=0.3) is False


def test_path_distance_is_mean_abs_log_difference():
    assert path_distance([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert path_distance([1.0, math.e], [math.e, 1.0]) == pytest.approx(1.0)
    assert path_distance([2.0, 4.0, 8.0], [1.0, 4.0]) == pytest.approx(math.log(2) / 2)  # common turns only


# --- decision summary --------------------------------------------------------------------------


def test_decision_summary_exact_numbers():
    rows = [
        # episode e0: turn 0 agrees on both goods; turn 1 buys honey where the stand-in does nothing
        decision("e0", 0, 0, "before", [order("buy", "acorns", 2, 2.0)], [order("buy", "acorns", 3, 2.0)]),
        decision("e0", 0, 1, "before", [order("buy", "honey", 4, 11.0)], []),
        # episode e1: sells honey where the stand-in sells too, at a lower limit; acorns agree (none)
        decision("e1", 1, 0, "before", [order("sell", "honey", 5, 9.0)], [order("sell", "honey", 3, 10.0)]),
        decision("e1", 1, 1, "before", [], []),
    ]
    out = decision_summary(pd.DataFrame(rows), Thresholds(resamples=200))
    assert len(out) == 1
    cell = out[0]
    assert (cell["scenario"], cell["council"], cell["policy"], cell["creature"], cell["phase"]) == (
        "sc",
        "c",
        "p",
        "thorn",
        "before",
    )
    assert cell["n"] == 2 and cell["decisions"] == 4
    # agreement per row: 1, 0.5, 1, 1 -> per episode 0.75 and 1.0 -> mean 0.875
    assert cell["agreement"]["mean"] == pytest.approx(0.875)
    assert cell["agreement"]["n"] == 2
    # two episodes are too few for an interval: the values are said instead
    assert cell["agreement"]["ci"] is None and cell["agreement"]["values"] == [0.75, 1.0]
    assert cell["agreement"]["note"] == "too few seeds for an interval: 0.75, 1"  # one episode per seed
    honey = cell["goods"]["honey"]
    assert honey["live"] == {"buy": 0.25, "sell": 0.25, "none": 0.5}
    assert honey["standin"] == {"buy": 0.0, "sell": 0.25, "none": 0.75}
    assert honey["jsd"] == pytest.approx(jsd([0.25, 0.25, 0.5], [0.0, 0.25, 0.75]))
    assert honey["agreement"]["mean"] == 0.75 and honey["agreement"]["n"] == 2  # episodes: 0.5 and 1
    # |qty diff| honey: 0, 4, 2 (-5 vs -3), 0 -> 1.5; mean signed: (0 + 4 - 2 + 0) / 4 = 0.5
    assert honey["qty_abs_diff"] == 1.5 and honey["qty_diff"] == 0.5
    assert honey["price_n"] == 1 and honey["price_diff"] == pytest.approx(9.0 / 10.0 - 1.0)
    acorns = cell["goods"]["acorns"]
    assert acorns["jsd"] == 0.0 and acorns["qty_abs_diff"] == 0.25 and acorns["price_diff"] == 0.0
    assert cell["qty_abs_diff"]["mean"] == pytest.approx((1.5 + 0.25) / 2)
    assert cell["jsd_mean"] == pytest.approx(honey["jsd"] / 2)


def test_decision_summary_splits_phases_and_orders_them():
    rows = [decision("e0", 0, t, p, [], []) for t, p in ((0, "after"), (1, "before"), (2, "seam"))]
    out = decision_summary(pd.DataFrame(rows))
    assert [c["phase"] for c in out] == ["before", "seam", "after"]
    assert all(c["agreement"]["mean"] == 1.0 and c["agreement"]["ci"] is None for c in out)
    assert all(c["agreement"]["note"] == "too few seeds for an interval: 1" for c in out)


# --- outcome summary ---------------------------------------------------------------------------


def outcome_episodes():
    return pd.DataFrame(
        [
            # the stand-in worlds: honey 10 -> 9 at the legend turn 2; no crash
            world("standin", 0, [10, 10, 9, 9], pnl=1.0, gini=0.30, volume=10),
            world("standin", 1, [10, 10, 9, 10], pnl=3.0, gini=0.20, volume=20),
            # the council: honey crashes (10 -> 6) in seed 0; in seed 1 it dips to 8 and recovers
            world("council", 0, [10, 10, 6, 6], acorns=[2.0, 2.0, 2.0, 2.0 * math.e], pnl=5.0, gini=0.40, volume=16),
            world("council", 1, [10, 10, 8, 10], pnl=4.0, gini=0.20, volume=30),
        ]
    )


def test_world_figures_crash_bubble_and_path_distance():
    worlds = world_figures(outcome_episodes(), Thresholds(crash_drop=0.3, crash_within=1)).set_index("episode_id")
    assert list(worlds["crash"]) == [0.0, 0.0, 1.0, 0.0]
    assert list(worlds["bubble"]) == [0.0, 0.0, 0.0, 0.0]
    assert worlds.loc["sc.standin.c0.s0", "path_distance_honey"] == 0.0
    assert worlds.loc["sc.council.c0.s0", "path_distance_honey"] == pytest.approx(2 * math.log(9 / 6) / 4)
    assert worlds.loc["sc.council.c0.s0", "path_distance_acorns"] == pytest.approx(0.25)
    assert worlds.loc["sc.council.c0.s1", "path_distance_honey"] == pytest.approx(math.log(9 / 8) / 4)


def test_outcome_summary_paired_effects_exact():
    worlds = world_figures(outcome_episodes(), Thresholds())
    [entry] = outcome_summary(worlds, Thresholds(resamples=200))
    assert (entry["scenario"], entry["council"], entry["n"], entry["legend_good"]) == ("sc", "council", 2, "honey")
    f = entry["figures"]
    assert f["gambit_pnl"]["council"]["mean"] == 4.5 and f["gambit_pnl"]["standin"]["mean"] == 2.0
    assert f["gambit_pnl"]["effect"]["mean"] == 2.5 and f["gambit_pnl"]["effect"]["n"] == 2  # diffs 4, 1
    assert f["gambit_pnl"]["effect"]["ci"] is None  # two seeds: no interval, the values instead
    assert f["gambit_pnl"]["effect"]["note"] == "too few seeds for an interval: 4, 1"
    assert f["gambit_pnl"]["effect"]["support"] == 1.0
    assert f["volume"]["effect"]["mean"] == 8.0  # diffs 6, 10
    assert f["final_gini"]["effect"]["mean"] == pytest.approx(0.05)  # diffs 0.1, 0
    assert f["final_gini"]["effect"]["support"] == 0.5
    assert f["legend_ratio"]["standin"]["mean"] == pytest.approx(0.9)
    assert f["legend_ratio"]["effect"]["mean"] == pytest.approx((0.6 - 0.9 + 0.8 - 0.9) / 2)
    assert f["crash"]["council"]["mean"] == 0.5 and f["crash"]["standin"]["mean"] == 0.0
    assert f["crash"]["effect"]["mean"] == 0.5
    assert f["path_distance_honey"]["standin"] == {
        "mean": 0.0,
        "ci": None,
        "n": 2,
        "note": "too few seeds for an interval: 0, 0",
        "values": [0.0, 0.0],
    }


def test_summarize_is_json_ready_with_the_table():
    rows = [decision("sc.council.c0.s0", 0, 0, "seam", [order("buy", "honey", 1, 10.0)], [])]
    episodes = outcome_episodes()
    summary = summarize(pd.DataFrame(rows), episodes, Thresholds(resamples=100), seed=0)
    json.dumps(summary, allow_nan=False)
    assert set(summary) >= {"decision", "outcome", "table", "thresholds"}
    standin, council = summary["table"]
    assert standin["world"] == "standin" and council["world"] == "council"
    for key in (
        "scenario",
        "mechanism",
        "legend_good",
        "legend_ratio",
        "legend_ratio_ci",
        "gambit_pnl",
        "gambit_pnl_ci",
        "n",
    ):
        assert key in standin and key in council
    assert council["gambit_pnl"] == 4.5 and council["gambit_pnl_effect"] == 2.5 and council["n"] == 2
    assert standin["legend_ratio"] == pytest.approx(0.9)
    assert summarize(pd.DataFrame(), pd.DataFrame(), Thresholds(), 0)["decision"] == []


def test_a_rates_paired_effect_interval_stays_within_minus_one_and_one():
    """Crash in 3 of 4 council worlds, in none of the stand-in's: the effect 0.75 over diffs
    1, 1, 1, 0; its t interval alone would read [-1.49, +2.91], past what a rate difference can be."""
    crash_path, flat = [10.0, 10.0, 6.0, 6.0], [10.0, 10.0, 9.0, 9.0]
    rows = []
    for s in range(4):
        rows += [world("standin", s, flat), world("council", s, crash_path if s < 3 else flat)]
    [entry] = outcome_summary(world_figures(pd.DataFrame(rows), Thresholds()), Thresholds())
    effect = entry["figures"]["crash"]["effect"]
    assert effect["mean"] == 0.75 and effect["n"] == 4
    assert effect["ci"][1] <= 1.0 and effect["ci"][0] >= -1.0
    assert entry["figures"]["gambit_pnl"]["effect"]["note"] == "same value in all 4 seeds"  # not a rate: unbounded


def test_the_tables_paired_effect_says_its_n_and_the_words_instead_of_an_interval():
    summary = summarize(pd.DataFrame(), outcome_episodes(), Thresholds(), seed=0)
    council = summary["table"][1]
    assert council["gambit_pnl_effect"] == 2.5 and council["gambit_pnl_effect_ci"] is None
    assert council["gambit_pnl_effect_note"] == "too few seeds for an interval: 4, 1"
    assert council["gambit_pnl_effect_n"] == 2


def test_the_casts_of_a_seed_are_one_unit_of_an_outcome_cell_and_the_summary():
    """Two casts on each of 4 seeds share the seed's stand-in world: 4 seeds, not 8 worlds. As 8
    worlds the cell reached p = 2/256 and flagged; over 4 seed means its smallest p is 2/16."""
    fast = Thresholds(resamples=300)
    rows = []
    for s in range(4):
        rows.append(world("standin", s, [10, 10, 9, 9], pnl=2.0 + s, volume=10))
        for cast in (0, 1):
            rows.append(world("council", s, [10, 10, 9, 9], cast=cast, pnl=4.0 + s + cast, volume=10))
    worlds = pd.DataFrame(rows)
    assert flag(pd.DataFrame(), worlds, fast, seed=0).flags == []
    [cell] = [c for c in outcome_cells(worlds, fast) if c["metric"] == "gambit_pnl"]
    assert cell["n"] == 4 and cell["effect"] == 2.5 and cell["p_min"] == pytest.approx(2 / 16)
    [entry] = summarize(pd.DataFrame(), worlds, fast)["outcome"]
    effect = entry["figures"]["gambit_pnl"]["effect"]
    assert (
        effect["n"] == 4
        and effect["mean"] == 2.5
        and effect["note"] == "same value in all 4 seeds (2 casts averaged in each)"
    )
    assert entry["n"] == 8 and entry["seeds"] == 4 and entry["casts"] == 2  # the worlds played, said beside it


def test_an_answer_the_budget_cut_off_is_not_valid_json():
    from glade.eval.scoring import score
    from glade.seats.base import CUT_OFF

    obs = {"inventory": {"honey": 3}, "produces": {"honey": 1}}
    # what a cut-off answer held the parser had to close: not a complete JSON object the model wrote
    assert score({"orders": []}, CUT_OFF, obs, {"orders": []})["valid_json"] == 0.0
    assert score({"orders": []}, "unknown_good", obs, {"orders": []})["valid_json"] == 1.0  # readable, cut by rule


def test_a_price_path_distance_is_described_not_flagged():
    """Never below 0 and 0 for the stand-in world itself: a sign test of the distance always gave
    its smallest p (2/2^8 here), so any council whose prices moved at all was flagged on it."""
    rows = []
    for s in range(8):
        rows.append(world("standin", s, [10, 10, 9, 9]))
        rows.append(world("council", s, [10, 10, 9 + 0.1 * (s + 1), 9]))  # honey a little off, a seed's own way
    worlds = pd.DataFrame(rows)
    assert world_figures(worlds).loc[lambda w: w["council"] == "council", "path_distance_honey"].gt(0).all()
    cells = outcome_cells(worlds, Thresholds(resamples=300))
    assert cells and not [c for c in cells if c["metric"].startswith("path_distance")]
    [entry] = summarize(pd.DataFrame(), worlds, Thresholds(resamples=300))["outcome"]
    assert entry["figures"]["path_distance_honey"]["council"]["n"] == 8  # still in the summary, with its n
