"""Scenarios that share a world and its seeds and part only at the legend play the same decisions
before it: those decision cells are the same play, tested once (one cell in the Benjamini-Hochberg
pool), flagged once and grouped into one family that names every scenario it stands for. Rows that
differ, even by one action that leaves the effect unchanged, are not the same play. Outcome cells
stay per scenario."""

from __future__ import annotations

import pandas as pd
import pytest
from test_eval_metrics import decision, order  # tests/ is on sys.path under pytest
from test_flags import FAST, paired_worlds

from glade.eval.flags import flag
from glade.eval.flags_page import markdown
from glade.eval.report.top_flags import flag_rows

HONEY = [order("buy", "honey", 2, 10.0)]


def play(scenario: str, episodes: int = 8, turns: int = 2, odd=None) -> list[dict]:
    """One creature's pre-legend decisions in `scenario`: the live seat buys honey on every turn
    where the stand-in does nothing. `odd`: (episode, turn, orders) played instead there."""
    rows = []
    for e in range(episodes):
        for t in range(turns):
            live = odd[2] if odd is not None and (e, t) == odd[:2] else HONEY
            rows.append(decision(f"{scenario}.c.c0.s{e}", e, t, "before", live, [], scenario=scenario))
    return rows


def test_the_same_play_in_two_scenarios_is_one_cell_one_flag_one_family():
    rows = play("sa") + play("sb")[::-1]  # the rows' order is no part of the play
    result = flag(pd.DataFrame(rows), None, FAST, seed=0)
    # one (cast, creature, phase) x 2 goods x 3 directions, not once per scenario (12)
    assert result.method["cells"] == len(result.cells) == 6
    assert result.method["testable"] == 2  # the BH pool: honey buy and honey none, once
    assert result.method["shared_play"] == 6
    [f] = result.flags
    assert (f["scenario"], f["scenarios"], f["metric"]) == ("sa", ["sa", "sb"], "honey: buy share")
    assert f["n"] == 8 and f["q"] == pytest.approx(2 / 256)
    [fam] = result.families
    assert fam["scenarios"] == ["sa", "sb"] and fam["members"] == [1]
    assert fam["title"] == "Thorn before the legend (sa, sb: the same play; c, cast 0)"
    md = markdown(result)
    assert "1 flag(s) in 1 family; scenarios that played alike were tested once (6 cells stand for two or more)." in md
    assert "| 1 | decision | sa, sb: the same play | c |" in md
    _, [row], _ = flag_rows(result.flags)  # the report's top flags name both scenarios too
    assert row[2] == "sa, sb: the same play"


def test_three_scenarios_of_one_play_are_one_cell_and_a_fourth_that_differs_is_its_own():
    rows = play("sa") + play("sb") + play("sc") + play("sd", odd=(3, 1, []))
    result = flag(pd.DataFrame(rows), None, FAST, seed=0)
    assert result.method["cells"] == 12 and result.method["testable"] == 4
    assert sorted(f["scenarios"] for f in result.flags) == [["sa", "sb", "sc"], ["sd"]]
    assert [fam["title"] for fam in result.families] == [
        "Thorn before the legend (sa, sb, sc: the same play; c, cast 0)",
        "Thorn before the legend (sd, c, cast 0)",
    ]


def test_rows_that_differ_by_one_action_are_not_merged_even_with_equal_effects():
    # sb buys 3 honey at 11 where sa buys 2 at 10, once: the same sides, so the same shares and
    # effects in every cell, but not the same play
    other = [order("buy", "honey", 3, 11.0)]
    rows = play("sa") + play("sb", odd=(2, 1, other))
    result = flag(pd.DataFrame(rows), None, FAST, seed=0)
    assert result.method["cells"] == 12 and result.method["testable"] == 4
    assert result.method["shared_play"] == 0
    flags = {f["scenario"]: f for f in result.flags}
    assert sorted(flags) == ["sa", "sb"] and flags["sa"]["effect"] == flags["sb"]["effect"] == 1.0
    assert [f["scenarios"] for f in result.flags] == [["sa"], ["sb"]]
    assert len(result.families) == 2
    assert "the same play" not in markdown(result)


def test_other_seeds_are_not_the_same_play():
    sb = [r | {"seed": r["seed"] + 100} for r in play("sb")]  # the same decisions, other worlds
    result = flag(pd.DataFrame(play("sa") + sb), None, FAST, seed=0)
    assert result.method["cells"] == 12 and [f["scenarios"] for f in result.flags] == [["sa"], ["sb"]]


def test_outcome_cells_stay_per_scenario_beside_a_shared_decision_cell():
    worlds = pd.concat([paired_worlds().assign(scenario=s) for s in ("sa", "sb")], ignore_index=True)
    worlds["episode_id"] = worlds["scenario"] + "." + worlds["episode_id"]
    result = flag(pd.DataFrame(play("sa") + play("sb")), worlds, FAST, seed=0)
    outcomes = [c for c in result.cells if c["kind"] == "outcome"]
    assert {c["scenario"] for c in outcomes} == {"sa", "sb"}
    assert all(c["scenarios"] == [c["scenario"]] for c in outcomes)
    assert sorted(tuple(f["scenarios"]) for f in result.flags) == [("sa",), ("sa", "sb"), ("sb",)]


def test_the_heading_says_when_shared_play_was_counted_once():
    from glade.eval.families import families_heading

    method = {"flags": 151, "cells": 1428, "testable": 373, "fdr_q": 0.1}
    plain = families_heading([{}] * 52, method)
    assert plain.endswith("(FDR q = 0.1)") and "same play" not in plain
    assert families_heading([{}] * 52, method | {"shared_play": 450}) == (
        "Top flag families: 151 flags in 52 families, from 1,428 cells, 373 testable at this n (FDR q = 0.1); "
        "scenarios that played alike were tested once (450 cells stand for two or more)"
    )
