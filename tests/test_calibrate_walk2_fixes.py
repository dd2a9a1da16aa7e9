"""`glade calibrate` after a second walk: decisions missing a column are named, not a KeyError; the
report leaves out a calibration of other scenarios (or another run) copied in; an --out beside the
report's copy under another name is refused, so one calibration shows once; the outcome check's
verdict follows its interval for every figure; the words of its tables and prose are defined and
counted."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from planted import play_changed  # tests/ is on sys.path under pytest

from glade.cli import main
from glade.eval.live_decisions import load_live
from glade.eval.outcome_check import CHECKED, _figure_verdict, _summarise, verdict
from glade.eval.report.calibration import CONVENTION, OUTCOME, _where, calibration_sections, foreign, tables
from glade.eval.stats import interval

TINY = ["--popsize", "3", "--maxiter", "3"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return play_changed(tmp_path_factory.mktemp("calibrate_walk2"))


def _copy(results, tmp_path):
    other = tmp_path / "results"
    shutil.copytree(results, other, ignore=shutil.ignore_patterns("calibration"))
    return other


# --------------------------------------------------------------------------- 1. a missing column is named


@pytest.mark.parametrize("column", ["seed", "scenario", "standin_disposition", "action"])
def test_a_results_folder_missing_a_column_is_named(results, tmp_path, capsys, column):
    other = _copy(results, tmp_path)
    decisions = pd.read_parquet(other / "decisions.parquet")
    decisions.drop(columns=[column]).to_parquet(other / "decisions.parquet")
    out = tmp_path / "fit.yaml"
    assert main(["calibrate", str(other), "--policy", "changed", "--out", str(out), "--no-outcome", *TINY]) == 2
    err = capsys.readouterr().err
    assert f"{other / 'decisions.parquet'}: missing column(s) {column}, so not the decisions.parquet glade eval " in err
    assert "rerun `glade eval` with the recipe that wrote this folder" in err and "KeyError" not in err
    assert not out.exists()


def test_a_traces_dataset_missing_a_column_is_named(results, tmp_path):
    data = tmp_path / "traces" / "data"
    data.mkdir(parents=True)
    decisions = pd.read_parquet(results / "decisions.parquet")
    decisions.drop(columns=["standin_action", "standin_disposition", "policy_name"]).to_parquet(
        data / "part-00000.parquet"
    )
    with pytest.raises(ValueError) as caught:
        load_live(tmp_path / "traces", "changed")
    assert str(caught.value) == (
        f"{data}: the traces lack column(s) standin_action, standin_disposition (written by an older glade); "
        "run glade generate again to calibrate on them"
    )


# --------------------------------------------------------------------------- 2. another folder's calibration


def _decisions(scenarios=("gambit_override",), seeds=(0, 1, 2, 3)) -> pd.DataFrame:
    rows = [(s, k) for s in scenarios for k in seeds]
    return pd.DataFrame(
        {"policy_name": "p", "creature": "oona", "scenario": [s for s, _ in rows], "seed": [k for _, k in rows]}
    )


def _summary(**more) -> dict:
    return {
        "policy": "p", "kind": "results", "source": "A", "seeds": [0, 1, 2, 3], "decisions": 4,
        "scenarios": ["gambit_override"], "faults_left_out": 0, "split": {"heldout_seeds": [3]}, **more,
    }  # fmt: skip


def test_a_calibration_of_other_scenarios_is_left_out_and_says_why(tmp_path):
    mine = _summary()
    assert foreign(mine, _decisions()) is None
    shock = _decisions(("gambit_shock",))  # the same policy and seeds, another scenario
    assert foreign(mine, shock) == (
        "it was calibrated on scenario gambit_override of policy 'p' from A, and this folder's are scenario gambit_shock"
    )
    both = _decisions(("gambit_override", "gambit_shock"))
    assert foreign(mine, both).endswith("this folder's are scenarios gambit_override, gambit_shock")
    assert foreign(mine | {"decisions": 40}, _decisions()) == (
        "it was calibrated on 40 decisions of policy 'p' from A, and this folder holds 4 (another run of its seeds "
        "and scenarios); rerun glade calibrate on this folder"
    )
    # a summary from before the scenarios were stored: the ones it names (its outcome check's groups), no count
    old = {k: v for k, v in mine.items() if k not in ("scenarios", "faults_left_out")} | {"decisions": 40}
    old["outcome"] = {"groups": [{"group": "all held-out worlds", "scenario_in_fit": None}]}
    old["outcome"]["groups"].append({"group": "gambit_override", "scenario_in_fit": True})
    assert foreign(old, _decisions()) is None
    assert foreign(old, shock) == (
        "it was calibrated on decisions including scenario gambit_override of policy 'p' from A, and this folder's "
        "are scenario gambit_shock"
    )
    (tmp_path / "calibration").mkdir()
    (tmp_path / "calibration" / "copied.json").write_text(
        json.dumps(mine | {"fitted": {"name": "fit"}, "search": {}, "verdict": "v"})
    )
    [section] = calibration_sections(SimpleNamespace(r=SimpleNamespace(folder=tmp_path, decisions=shock)))
    assert "*calibration/copied.json is left out: it was calibrated on scenario gambit_override of policy" in "\n".join(
        section.markdown
    )
    assert not any(line.startswith("###") for line in section.markdown)


def test_calibrate_stores_the_scenarios_the_report_checks(results, tmp_path):
    out = tmp_path / "fit.yaml"
    assert main(["calibrate", str(results), "--policy", "changed", "--out", str(out), "--no-outcome", *TINY]) == 0
    s = json.loads(out.with_suffix(".json").read_text())
    assert s["scenarios"] == ["gambit_override", "gambit_shock"]
    decisions = pd.read_parquet(results / "decisions.parquet")
    assert foreign(s, decisions) is None
    assert foreign(s, decisions[decisions["scenario"] == "gambit_shock"]) is not None


# --------------------------------------------------------------------------- 3. one calibration, shown once


def test_an_out_beside_the_reports_copy_under_another_name_is_refused(results, tmp_path, capsys):
    other = _copy(results, tmp_path)
    out = other / "calibration" / "mine.yaml"
    argv = ["calibrate", str(other), "--policy", "changed", "--out", str(out), "--no-outcome", *TINY]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert (
        f"--out {out}: in {out.parent}, where glade report reads every summary, this fit's is "
        f"calibrated_changed.json (its name); give --out {out.parent / 'calibrated_changed.yaml'} or --name mine, "
        "or an --out elsewhere"
    ) in err
    assert "generations" not in err and not (other / "calibration").exists()  # refused before the search
    assert main([*argv, "--name", "mine"]) == 0  # named as its file: one summary there
    assert sorted(p.name for p in (other / "calibration").iterdir()) == ["mine.json", "mine.yaml"]


# --------------------------------------------------------------------------- 4. the word follows the interval


def test_the_verdict_follows_the_interval_for_every_figure():
    crash = dict(bounds=(-1.0, 1.0), lattice=True)
    # the same 0 on all 6 seeds of a crash has its exact interval, [-0.459, +0.459]: not "no difference"
    assert _figure_verdict(interval([0.0] * 6, **crash)) == "no clear difference"
    assert _figure_verdict(interval([1.0] * 4, **crash)) == "no clear difference"  # 4 of 4 up: the interval spans 0
    assert _figure_verdict(interval([1.0] * 8, **crash)) == "original closer"
    assert _figure_verdict(interval([0.0] * 6)) == "no difference"  # no interval: the same 0 on every seed
    assert _figure_verdict(interval([0.3] * 4)) == "original closer"  # the same value on every seed: as excludes_zero
    assert _figure_verdict(interval([0.0] * 3)) == "too few seeds"
    assert _figure_verdict(interval([0.1, -0.1, 0.2, 0.0])) == "no clear difference"


# --------------------------------------------------------------------------- 5. words defined and counted


def _frame(seeds: int, few: set[int]) -> pd.DataFrame:
    rows = []
    for seed in range(seeds):
        row = {"scenario": "sc", "seed": seed}
        for name in CHECKED:
            for w in ("council", "original", "calibrated"):
                row[f"{name}.{w}"] = 0.5
            row[f"{name}.error_original"] = 1.0
            row[f"{name}.error_calibrated"] = (
                np.nan if name == "legend_ratio" and seed in few else 0.6 + 0.1 * (seed % 3)
            )
        rows.append(row)
    return pd.DataFrame(rows)


def test_the_prose_counts_a_figure_with_too_few_seeds():
    group = _summarise(_frame(6, {2, 3, 4}), 0.95)
    assert group["figures"]["legend_ratio"]["verdict"] == "too few seeds"
    assert "better on 2 of 4 figures and worse on 0 (1 too few seeds) (change in error: " in verdict(group)
    group = _summarise(_frame(6, set()), 0.95)
    assert "better on 3 of 4 figures and worse on 0 (change in error: " in verdict(group)


def test_the_tables_words_are_defined():
    assert "'(n N)' after a value: too few seeds (N) for an interval." in CONVENTION
    for word in ("calibrated closer", "original closer", "no clear difference", "no difference", "too few seeds"):
        assert f"; {word}, " in OUTCOME or f"Verdict: {word}, " in OUTCOME


def _parts(fit_seeds: int) -> dict:
    iv = {"mean": 0.5, "ci": None, "n": 1, "note": ""}
    part = {k: {"before": iv, "after": iv, "change": iv} for k in ("agreement", "qty_error", "price_error")}
    return {"fit": part | {"seeds": fit_seeds}, "heldout": part | {"seeds": 1}}


def test_captions_say_a_held_out_scenario_only_when_there_is_one_and_count_in_the_singular():
    [(caption, _, rows)] = tables({"parts": _parts(1), "split": {"heldout_scenario": None}})
    assert caption == (
        "Agreement, quantity error (units), price error: means over the 1 seed with fit decisions and the 1 with "
        "held-out ones"
    )
    assert rows[0][2] == "0.500 (n 1)"
    [(caption, _, _)] = tables({"parts": _parts(3), "split": {"heldout_scenario": "gambit_shock"}})
    assert caption.endswith(
        "the 3 seeds with fit decisions and the 1 with held-out ones (a held-out scenario's are on every seed)"
    )
    g = {"group": "gambit_override", "n": 1, "worlds": 1, "unit": "seeds", "scenario_in_fit": True}
    assert _where(g) == "Outcome check, gambit_override: 1 world on 1 held-out seed"
    assert _where(g | {"scenario_in_fit": False}).endswith(": 1 world on 1 seed of a scenario the fit never saw")
    assert _where(g | {"scenario_in_fit": None}) == "Outcome check over all 1 held-out world (1 seed)"
    assert (
        _where(g | {"n": 6, "worlds": 8, "scenario_in_fit": None})
        == "Outcome check over all 8 held-out worlds (6 seeds)"
    )


def test_a_calibration_written_twice_there_by_an_older_calibrate_shows_once(results, tmp_path):
    other = _copy(results, tmp_path)
    out = tmp_path / "fit.yaml"
    assert main(["calibrate", str(other), "--policy", "changed", "--out", str(out), "--no-outcome", *TINY]) == 0
    shutil.copy(other / "calibration" / "calibrated_changed.json", other / "calibration" / "mine.json")
    page = SimpleNamespace(r=SimpleNamespace(folder=other, decisions=pd.read_parquet(other / "decisions.parquet")))
    [section] = calibration_sections(page)
    assert sum(line.startswith("### ") for line in section.markdown) == 1
    assert "*calibration/mine.json is left out: the same calibration as calibration/calibrated_changed.json.*" in (
        section.markdown
    )


def test_a_folder_with_seat_faults_keeps_its_calibration_in_the_report():
    # calibrate fits the decisions less the seat faults and stores that count: the report counts alike
    decisions = pd.DataFrame(
        {
            "policy_name": ["live"] * 8,
            "policy": ["server:m"] * 8,
            "creature": ["oona"] * 8,
            "seed": [1, 1, 2, 2, 3, 3, 4, 4],
            "scenario": ["default"] * 8,
            "error": [None] * 7 + ["server_timeout"],
        }
    )
    summary = {
        "policy": "live",
        "creature": None,
        "kind": "results",
        "source": "r",
        "decisions": 7,
        "faults_left_out": 1,
        "seeds": [1, 2, 3, 4],
        "scenarios": ["default"],
        "split": {"heldout_seeds": [4], "heldout_scenario": None},
    }
    assert foreign(summary, decisions) is None
    assert "calibrated on 8 decisions" in foreign(summary | {"decisions": 8}, decisions)


def test_a_seed_of_seat_faults_only_is_left_out_as_calibrate_leaves_it_out():
    decisions = pd.DataFrame(
        {
            "policy_name": ["p"] * 6,
            "creature": ["oona"] * 6,
            "seed": [0, 1, 2, 3, 4, 4],
            "scenario": ["default"] * 6,
            "error": [None] * 4 + ["server_timeout"] * 2,
        }
    )
    summary = {
        "policy": "p",
        "creature": None,
        "kind": "results",
        "source": "r",
        "decisions": 4,
        "faults_left_out": 2,
        "seeds": [0, 1, 2, 3],
        "scenarios": ["default"],
        "split": {"heldout_seeds": [3], "heldout_scenario": None},
    }
    assert foreign(summary, decisions) is None
