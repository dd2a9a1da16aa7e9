"""Tests written by a mutation audit of the outcome figures and the lm-eval documents
(glade.eval.figures, glade.eval.lm_docs): each pins a behaviour that a plausible one-line
change (a comparison flipped, an off-by-one, a clause dropped, a seed or limit lost) left
untested. The comment on each names what it guards."""

from __future__ import annotations

import dataclasses
import json
import math
import random

import pandas as pd
import pytest
from datasets import Dataset
from test_lm_eval_tasks import OBS

from glade.env.scenario import Gambit, LegendEvent, load_scenario
from glade.eval import lm_docs
from glade.eval.figures import (
    FIGURES,
    PHENOMENA,
    bubble_figure,
    crash_figure,
    gambit_pnl,
    legend_good,
    legend_ratio,
    legend_turn,
    mechanism,
    phase,
    seam_move,
    traded_move,
)
from glade.eval.lm_tasks.utils import CHOICES, GEN_TASK, MC_TASK
from glade.eval.thresholds import Thresholds

# --------------------------------------------------------------------------- figures


def episode(path, turn=2, start=1.0, good="honey", **more):
    """One episodes.parquet row as the figures read it: the legend good's price path."""
    row = {
        "legend_good": good,
        "legend_turn": turn,
        "price_path": json.dumps({"honey": path}),
        "start_prices": json.dumps({"honey": start}),
        "gambit_pnl": 1.0,
        "final_gini": 0.3,
        "volume": 5,
        "seam_ratio": 1.0,
    }
    return {**row, **more}


def test_legend_turn_is_the_gambits_spring_else_the_earliest_legend():
    base = load_scenario("default")
    legends = (LegendEvent("great_acorn_mania", 9, "rumour"), LegendEvent("drought", 3, "shock"))
    # guards the earliest legend (min, not max) when there is no gambit
    s = dataclasses.replace(base, legends=legends, gambit=None)
    assert legend_turn(s) == 3 and legend_good(s) == "berries"
    # guards the gambit's spring winning over an earlier legend
    g = dataclasses.replace(base, legends=legends, gambit=Gambit(spring_turn=5))
    assert legend_turn(g) == 5 and legend_good(g) == "honey"
    none = dataclasses.replace(base, legends=(), gambit=None)
    assert legend_turn(none) is None and legend_good(none) is None


def test_phase_splits_before_seam_and_after_the_legend_turn():
    # guards `turn < legend` (not <=), the seam at equality, and no legend = all before
    assert [phase(t, 4) for t in (3, 4, 5)] == ["before", "seam", "after"]
    assert phase(0, 0) == "seam" and phase(9, None) == "before"


def test_mechanism_loads_the_scenario_with_the_turns_it_was_run_with():
    assert mechanism("gambit_shock") == "shock"
    # guards the turns override reaching load_scenario: -1 turns does not load, so no label
    assert mechanism("gambit_shock", turns=-1) is None
    # guards None (not an empty label) for a scenario without a gambit
    assert mechanism("default") is None and mechanism("no_such_scenario") is None


def test_legend_ratio_reads_the_price_before_the_legend():
    # guards the reference: path[turn - 1], not the first price
    assert legend_ratio(episode([1.0, 2.0, 4.0], turn=2)) == 2.0
    # guards turn 0 reading the start price (not path[-1])
    assert legend_ratio(episode([3.0, 2.0, 4.0], turn=0, start=2.0)) == 1.5
    # guards a legend past the last turn played (turn == len) and a NaN turn giving NaN
    assert math.isnan(legend_ratio(episode([1.0, 2.0], turn=2)))
    assert math.isnan(legend_ratio(episode([1.0, 2.0], turn=math.nan)))


def test_gambit_pnl_is_nan_without_a_gambit():
    # guards None -> NaN (not 0.0, which would pull a mean toward zero)
    assert math.isnan(gambit_pnl(episode([1.0], gambit_pnl=None)))
    assert gambit_pnl(episode([1.0], gambit_pnl=-2)) == -2.0


def test_crash_and_bubble_are_measured_from_the_price_before_the_legend():
    t = Thresholds(crash_drop=0.3, crash_within=2, bubble_rise=0.3)
    # guards drop and within in order: 6 <= 0.7 x path[turn - 1] two turns after the legend
    assert crash_figure(episode([10.0, 10.0, 8.0, 7.5, 6.0], turn=2), t) == 1.0
    assert crash_figure(episode([10.0, 10.0, 8.0, 7.5, 7.5, 6.0], turn=2), t) == 0.0  # outside the window
    # guards bubble: 13 >= 1.3 x 10 then back to 10
    assert bubble_figure(episode([10.0, 10.0, 13.0, 10.0], turn=2), t) == 1.0
    # guards a turn-0 legend measured from the start price, not the legend turn's own price
    assert crash_figure(episode([8.0, 6.5], turn=0, start=10.0), t) == 1.0
    assert bubble_figure(episode([13.0, 10.0], turn=0, start=10.0), t) == 1.0


def test_seam_and_traded_moves_split_the_legend_turns_move():
    ep = episode([1.0, 2.0, 4.0], turn=2, seam_ratio=0.5)
    assert seam_move(ep) == pytest.approx(math.log(0.5))
    # guards traded_move taking the seam's ratio out: log(4 / 0.5 / 2), not log(4 / 2)
    assert traded_move(ep) == pytest.approx(math.log(4.0))
    # guards seam_move's NaN without a legend, though the row carries a seam ratio
    assert math.isnan(seam_move(episode([1.0, 2.0], good=None, seam_ratio=0.5)))


def test_the_catalogues_rates_units_and_key_figures():
    # guards which figures are rates (exact intervals), in units (relative flags), in the card's prose
    assert PHENOMENA == ("crash", "bubble")
    assert {n for n, f in FIGURES.items() if f.relative} == {"gambit_pnl", "volume"}
    assert {n for n, f in FIGURES.items() if not f.key} == {"traded_move", "seam_move"}


# --------------------------------------------------------------------------- lm_docs

# Sells honey, buys acorns, holds berries: one direction document per good, each answer once.
ACTION = {
    "orders": [
        {"side": "sell", "good": "honey", "qty": 1, "price": 2.0},
        {"side": "buy", "good": "acorns", "qty": 1, "price": 1.0},
    ]
}


def trace_row(i, system="You are Oona.", episode_id="e0", turn=None, action=ACTION):
    return {
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": f"turn {i}: Your action as JSON:"},
            {"role": "assistant", "content": "{}"},
        ],
        "observation": json.dumps(OBS),
        "standin_action": json.dumps(action),
        "episode_id": episode_id,
        "creature": "oona",
        "turn": i if turn is None else turn,
    }


def written(folder, task):
    return lm_docs.read_docs(folder, task)


def test_direction_documents_answer_buy_sell_or_hold_per_good(tmp_path):
    lm_docs.write_tasks([trace_row(0)], tmp_path)
    docs = {d["good"]: d for d in written(tmp_path, MC_TASK)}
    # guards one document per good of the inventory and the side read for each (a buy is not a hold)
    assert {g: d["answer"] for g, d in docs.items()} == {"honey": "sell", "acorns": "buy", "berries": "hold"}
    assert all(d["gold"] == CHOICES.index(d["answer"]) for d in docs.values())
    # guards the ids numbering the shuffled documents from 0
    assert sorted(d["id"] for d in docs.values()) == [0, 1, 2]


def test_one_state_per_distinct_system_and_user_prompt(tmp_path):
    rows = [trace_row(0), trace_row(0, episode_id="e1"), trace_row(0, system="You are Thorn.")]
    lm_docs.write_tasks(rows, tmp_path)
    # guards the dedup (a repeated prompt is one state) keyed on the system prompt too
    gen = written(tmp_path, GEN_TASK)
    assert sorted(d["system"] for d in gen) == ["You are Oona.", "You are Thorn."]
    assert len(written(tmp_path, MC_TASK)) == 2 * len(OBS["inventory"])


def test_states_and_direction_documents_follow_the_seeded_shuffle(tmp_path):
    rows = [trace_row(i) for i in range(8)]
    lm_docs.write_tasks(rows, tmp_path)
    order = list(range(8))
    random.Random(lm_docs.SHUFFLE_SEED).shuffle(order)
    # guards the states' shuffle with SHUFFLE_SEED (the decision task's order)
    assert [d["turn"] for d in written(tmp_path, GEN_TASK)] == order
    # guards the direction documents shuffled with the same seed, after the states
    mc = [(t, g) for t in order for g in OBS["inventory"]]
    random.Random(lm_docs.SHUFFLE_SEED).shuffle(mc)
    assert [(d["turn"], d["good"]) for d in written(tmp_path, MC_TASK)] == mc


def test_limit_keeps_the_first_states_and_turn_is_an_int(tmp_path):
    rows = [trace_row(i, turn=str(i)) for i in range(6)]
    lm_docs.write_tasks(rows, tmp_path, limit=2)
    gen = written(tmp_path, GEN_TASK)
    # guards `limit` cutting the shuffled states (and so the direction documents)
    assert len(gen) == 2 and len(written(tmp_path, MC_TASK)) == 2 * len(OBS["inventory"])
    # guards int(row["turn"]): a turn read as text is written as a number
    assert all(type(d["turn"]) is int for d in gen)


def test_read_docs_and_baselines_honour_the_limit(tmp_path):
    # every state holds: the hold share is 1, the best constant answer is hold
    hold = {"orders": []}
    lm_docs.write_tasks([trace_row(i, action=hold) for i in range(5)], tmp_path)
    # guards read_docs' limit: the documents lm-eval scores with --limit
    assert len(lm_docs.read_docs(tmp_path, MC_TASK, limit=4)) == 4
    found = lm_docs.baselines(tmp_path, limit=4)
    # guards the limit reaching both tasks' baselines
    assert found[MC_TASK]["documents"] == 4 and found[GEN_TASK]["documents"] == 4
    # guards the best constant (max, not min) and chance 1/3
    assert found[MC_TASK]["best_constant"] == {"answer": "hold", "acc": 1.0}
    assert found[MC_TASK]["chance"] == pytest.approx(1 / 3)


def test_heldout_rows_count_episodes_and_refuse_an_empty_split(tmp_path):
    data = tmp_path / "ck" / "data"
    data.mkdir(parents=True)
    rows = [{"episode_id": e, "turn": t} for e, t in (("a", 0), ("a", 1), ("b", 0))]
    pd.DataFrame(rows).to_parquet(data / "eval.parquet")
    found, source = lm_docs.heldout_rows(tmp_path / "ck")
    # guards held_out_episodes counting distinct episodes, not states
    assert len(found) == 3 and source["held_out_episodes"] == 2 and source["states"] == 3
    # written as glade train writes an eval_share 0 split; datasets used to refuse it obscurely
    Dataset.from_list(rows).select([]).to_parquet(str(data / "eval.parquet"))
    # guards the refusal of an empty split (data.eval_share 0), naming the cause
    with pytest.raises(ValueError, match="no held-out states"):
        lm_docs.heldout_rows(tmp_path / "ck")
