"""A rate figure (crash, bubble: 0 or 1 per world) differs between paired worlds by -1 to 1,
so its effect's interval stays inside [-1, 1] in the flags' cells and in the seat
attribution: a t interval on 0/1 differences would otherwise run past 1."""

from __future__ import annotations

import json

import pandas as pd

from glade.eval.attribution import attribution
from glade.eval.cells import outcome_cells
from glade.eval.metrics import world_figures
from glade.eval.recipe import STANDIN

FLAT = [4.0, 4.0, 4.0, 4.0, 4.0, 4.0]
CRASH = [4.0, 4.0, 4.0, 1.0, 1.0, 1.0]  # the legend turn (3) falls by three quarters
CRASHED = [1, 1, 1, 1, 1, 0]  # the council world crashes on five seeds of six: mean 0.83


def world(episode_id: str, council: str, seed: int, path: list[float], creature: str, **extra) -> dict:
    return {
        "episode_id": episode_id,
        "pair_id": f"sc.s{seed}",
        "scenario": "sc",
        "council": council,
        "cast": 0,
        "seed": seed,
        "creature": creature,
        "focal": council != STANDIN and creature == "oona",
        "legend_good": "honey",
        "legend_turn": 3,
        "price_path": json.dumps({"honey": path}),
        "start_prices": json.dumps({"honey": 4.0}),
        "gambit_pnl": 0.0,
        "final_gini": 0.1,
        "volume": 10.0,
        "seam_ratio": 1.0,
        "faults": 0,
        "policy": "live-policy" if council != STANDIN else "standin:balanced",
        **extra,
    }


def episodes() -> pd.DataFrame:
    rows = []
    for seed, crashed in enumerate(CRASHED):
        rows.append(world(f"sc.{STANDIN}.s{seed}", STANDIN, seed, FLAT, "oona"))
        rows.append(world(f"sc.live.c0.s{seed}", "live", seed, CRASH if crashed else FLAT, "oona"))
    return pd.DataFrame(rows)


def test_a_crash_rate_effect_stays_within_one_in_the_flags_cells():
    [cell] = [c for c in outcome_cells(episodes()) if c["metric"] == "crash"]
    assert cell["effect"] == sum(CRASHED) / len(CRASHED) and cell["n"] == 6
    assert cell["ci_high"] <= 1.0 and -1.0 <= cell["ci_low"] < cell["effect"]
    [volume] = [c for c in outcome_cells(episodes()) if c["metric"] == "volume"]
    assert volume["ci_high"] is None  # the same value in every pair: no interval, nothing clipped


def test_a_crash_rate_effect_and_contribution_stay_within_one_in_the_attribution():
    # one focal seat: its contribution is the whole effect (the world without it is the stand-in's);
    # attribution runs when some replay was played, so one is given
    worlds = world_figures(episodes())
    replay = world("sc.live.c0.s0.without-oona", "live", 0, FLAT, "oona", left_out="oona")
    [entry] = [e for e in attribution(worlds, episodes(), pd.DataFrame([replay])) if e["figure"] == "crash"]
    assert entry["effect"]["mean"] == sum(CRASHED) / len(CRASHED)
    assert entry["effect"]["ci"][1] <= 1.0
    [seat] = entry["seats"]
    assert seat["contribution"]["ci"][1] <= 1.0 and seat["contribution"]["mean"] == entry["effect"]["mean"]


def test_a_seat_s_share_is_of_its_own_cast_s_effect():
    worlds = world_figures(episodes())
    replay = world("sc.live.c0.s0.without-oona", "live", 0, FLAT, "oona", left_out="oona")
    [entry] = [e for e in attribution(worlds, episodes(), pd.DataFrame([replay])) if e["figure"] == "crash"]
    [seat] = entry["seats"]
    assert seat["cast_effect"] == sum(CRASHED) / len(CRASHED) and seat["share"] == 1.0


def test_a_relative_effect_is_scaled_by_the_stand_in_over_seeds_not_worlds():
    # seed 0's stand-in trades 100, the others 10; the council plays 3 casts on seed 0 and 1 on the
    # others (a lost world): over seeds the stand-in's volume is (100 + 5 x 10) / 6 = 25, over the
    # 8 worlds it would be (3 x 100 + 5 x 10) / 8 = 43.75
    rows = []
    for seed in range(6):
        standin = 100.0 if seed == 0 else 10.0
        rows.append(world(f"sc.{STANDIN}.s{seed}", STANDIN, seed, FLAT, "oona", volume=standin))
        for cast in range(3 if seed == 0 else 1):
            rows.append(world(f"sc.live.c{cast}.s{seed}", "live", seed, FLAT, "oona", cast=cast, volume=standin + 5.0))
    [cell] = [c for c in outcome_cells(pd.DataFrame(rows)) if c["metric"] == "volume"]
    assert cell["effect"] == 5.0 and cell["scaled_effect"] == 5.0 / 25.0


def test_a_scenario_without_a_gambit_has_no_gambit_p_and_l(tmp_path):
    from resume_setup import eval_recipe

    from glade.cli import main
    from glade.eval.recipe import load_eval_recipe
    from glade.eval.run import run_recipe

    path = eval_recipe(tmp_path, scenarios=["default"], seeds={"start": 0, "count": 2}, turns=13)
    run_recipe(load_eval_recipe(path))
    played = pd.read_parquet(tmp_path / "results" / "episodes.parquet")
    assert played["gambit_pnl"].isna().all()  # not a P&L of 0: no gambit was played
    assert main(["report", str(tmp_path / "results")]) == 0
    results = (tmp_path / "results" / "report.md").read_text().split("gambit P&L", 1)[1]
    assert "+0.00" not in results.split("\n\n", 2)[1]  # the Results table shows no P&L for it
