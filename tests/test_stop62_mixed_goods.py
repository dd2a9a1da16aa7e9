"""An evaluation over worlds with different goods (a two-good scenario beside `default`'s five):
the decisions table carries every scenario's goods, each world's rows NaN in the goods it lacks.
The summary, the flag cells and the price-path distances are each world's own goods; and the
intervals of figures that cannot go below 0 stop at 0."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_stop62_other_worlds import tiny_world

from glade.cli import main
from glade.eval.cells import decision_cells
from glade.eval.decision_metrics import decision_summary
from glade.eval.metrics import outcome_summary, outcome_table, world_figures
from glade.eval.stats import interval

TWO_GOODS = tiny_world("tiny2")  # salt and peat, none of the default Wood's goods

RECIPE = """\
name: mixed
out: {out}
policies:
  panicky: {{kind: standin, disposition: panic_seller}}
councils:
  all_panic: {{focal: {{"*": panicky}}}}
scenarios: [{tiny}, default]
seeds: {{start: 500, count: 4}}
turns: 14
"""

DEFAULT_GOODS = {"honey", "firewood", "acorns", "berries", "mushrooms"}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """(results folder, scenario name -> its goods), evaluated and flagged."""
    from glade.eval.recipe import load_eval_recipe
    from glade.eval.run import run_recipe

    root = tmp_path_factory.mktemp("mixed_goods")
    tiny = root / "tiny2.yaml"
    tiny.write_text(TWO_GOODS)
    out = root / "results"
    (root / "recipe.yaml").write_text(RECIPE.format(out=out, tiny=tiny))
    run_recipe(load_eval_recipe(root / "recipe.yaml"))
    assert main(["flag", str(out)]) == 0
    return out, {str(tiny): {"salt", "peat"}, "default": DEFAULT_GOODS}


def test_a_mixed_goods_eval_writes_its_summary_with_each_worlds_own_goods(mixed):
    out, goods = mixed
    summary = json.loads((out / "summary.json").read_text())
    decisions = pd.read_parquet(out / "decisions.parquet")
    assert {r["scenario"] for r in summary["decision"]} == set(goods)
    for r in summary["decision"]:
        assert set(r["goods"]) == goods[r["scenario"]]
        rows = decisions[
            (decisions["scenario"] == r["scenario"])
            & (decisions["creature"] == r["creature"])
            & (decisions["phase"] == r["phase"])
        ]
        for g, figures in r["goods"].items():
            # each seed's share of agreeing decisions, averaged: the rows' own figure, never a 0 for a good it lacks
            agree = (rows[f"dir_{g}"] == rows[f"standin_dir_{g}"]).groupby(rows["seed"]).mean()
            assert figures["agreement"]["mean"] == pytest.approx(agree.mean())
            assert sum(figures["live"].values()) == pytest.approx(1.0)


def test_the_flag_cells_of_a_world_are_its_own_goods(mixed):
    out, goods = mixed
    decisions = pd.read_parquet(out / "decisions.parquet")
    cells = decision_cells(decisions)
    assert {(c["scenario"], c["good"]) for c in cells} == {(s, g) for s, own in goods.items() for g in own}
    places = decisions.groupby(["scenario", "council", "cast", "creature", "phase"]).size().index
    assert len(cells) == sum(len(goods[p[0]]) * 3 for p in places)  # a good's three directions in each place
    flagged = json.loads((out / "flags.json").read_text())
    assert flagged["method"]["cells"] == len(cells) + sum(c["kind"] == "outcome" for c in flagged["cells"])


def test_every_worlds_goods_get_a_price_path_distance_and_only_there(mixed):
    out, goods = mixed
    worlds = world_figures(pd.read_parquet(out / "episodes.parquet"))
    every = set().union(*goods.values())
    assert {c.removeprefix("path_distance_") for c in worlds if c.startswith("path_distance_")} == every
    for entry in outcome_summary(worlds):
        distances = {f.removeprefix("path_distance_") for f in entry["figures"] if f.startswith("path_distance_")}
        assert distances == goods[entry["scenario"]]
        for g in distances:
            assert entry["figures"][f"path_distance_{g}"]["council"]["n"] == 4


def test_report_on_a_mixed_goods_folder(mixed):
    out, _ = mixed
    assert main(["report", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "## Agreement with the stand-in" in md and "report_files/agreement-all_panic.png" in md


# --- figures that cannot go below 0 ------------------------------------------------------------


def test_a_one_sided_bound_clips_only_its_own_end():
    values = [0.0, 0.0, 0.0, 0.1, 5.0]
    free = interval(values)
    assert free.low < 0
    floored = interval(values, bounds=(0.0, None))
    assert (floored.low, floored.high) == (0.0, free.high)
    with pytest.raises(ValueError, match="lattice interval needs the bounds"):
        interval([0.0, 1.0, 0.0, 1.0], bounds=(0.0, None), lattice=True)


def _decisions(differences: list[float]) -> pd.DataFrame:
    """One decision per seed, the live seat buying `difference` more salt than the stand-in."""
    rows = []
    for seed, diff in enumerate(differences):
        rows.append(
            {
                "scenario": "s",
                "council": "c",
                "policy_name": "p",
                "policy": "python:p",
                "creature": "wren",
                "phase": "before",
                "cast": 0,
                "seed": seed,
                "episode_id": f"s.c.c0.s{seed}",
                "agreement": 1.0,
                "action": "{}",
                "standin_action": "{}",
                "dir_salt": "buy",
                "standin_dir_salt": "buy",
                "qty_salt": 1.0 + diff,
                "standin_qty_salt": 1.0,
            }
        )
    return pd.DataFrame(rows)


def test_the_mean_absolute_quantity_difference_interval_stops_at_0():
    (row,) = decision_summary(_decisions([0.0, 0.0, 0.0, 0.0, 12.0]))
    assert row["qty_abs_diff"]["mean"] == pytest.approx(2.4)
    assert row["qty_abs_diff"]["ci"][0] == 0.0
    assert row["qty_abs_diff"]["ci"][1] > 2.4


def _worlds(gini: list[float], ratio: list[float]) -> pd.DataFrame:
    """A council's worlds, honey's price times `ratio` at the legend turn, and their all-stand-in
    pairs, its price flat; seed by seed, one row each."""
    rows = []
    for seed, (g, r) in enumerate(zip(gini, ratio)):
        for council in ("standin", "c"):
            honey = [10.0, 10.0 * r if council == "c" else 10.0, 10.0]
            rows.append(
                {
                    "episode_id": f"s.{council}.c0.s{seed}",
                    "pair_id": f"s.s{seed}",
                    "world": "standin" if council == "standin" else "council",
                    "scenario": "s",
                    "council": council,
                    "cast": 0,
                    "seed": seed,
                    "legend_good": "honey",
                    "legend_turn": 1,
                    "seam_ratio": 1.0,
                    "price_path": json.dumps({"honey": honey}),
                    "start_prices": json.dumps({"honey": 10.0}),
                    "gambit_pnl": None,
                    "final_gini": g,
                    "volume": 1.0,
                    "turns": 3,
                }
            )
    return pd.DataFrame(rows)


def test_figures_that_cannot_go_below_0_have_intervals_that_stop_at_0():
    # skewed: each one's t interval reaches below 0
    worlds = world_figures(_worlds([0.01, 0.01, 0.01, 0.01, 0.9], [1.0, 1.0, 1.0, 1.01, 20.0]))
    council = worlds[worlds["council"] == "c"]
    for name in ("final_gini", "legend_ratio", "path_distance_honey"):
        assert interval(council[name]).low < 0, name
    (entry,) = outcome_summary(worlds)
    figures = entry["figures"]
    for name in ("final_gini", "legend_ratio", "path_distance_honey"):
        assert figures[name]["council"]["ci"][0] == 0.0, name
    assert figures["final_gini"]["standin"]["ci"][0] == 0.0
    assert figures["legend_ratio"]["effect"]["ci"][0] < 0  # an effect is a difference: either sign
    council_row = next(r for r in outcome_table(worlds) if r["world"] == "c")
    assert council_row["legend_ratio_ci"][0] == 0.0
    assert np.isfinite(council_row["legend_ratio_ci"][1])
