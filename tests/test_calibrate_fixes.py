"""`glade calibrate`'s units and words: the outcome check counts seeds, not (scenario, seed)
pairs; a held-out decision whose input any fit decision had is left out, whatever its seed; the
verdict compares with the original on every path; "moved most" names its baseline; a replaced
report copy is said; the report shows only this folder's calibrations; the search time stays out
of the report; a missing episodes.parquet is refused before the search, a corrupt one with its
whole reason; the YAML header carries the outcome check."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from planted import play_changed  # tests/ is on sys.path under pytest

from glade.cli import main
from glade.eval.calibrate import Split, split, unseen
from glade.eval.calibrate_words import fit_verdict
from glade.eval.outcome_check import CHECKED, _summarise, verdict
from glade.eval.report.calibration import _where, calibration_sections, foreign, lines
from glade.eval.stats import interval

TINY = ["--popsize", "3", "--maxiter", "3"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """The changed stand-in on every creature, two gambit scenarios, four seeds, six turns."""
    return play_changed(tmp_path_factory.mktemp("calibrate_fixes"))


def _copy(results, tmp_path):
    other = tmp_path / "results"
    shutil.copytree(results, other, ignore=shutil.ignore_patterns("calibration"))
    return other


# --------------------------------------------------------------------------- 1. the outcome check's unit


def _worlds() -> pd.DataFrame:
    """Two scenarios on each of 4 seeds; the calibrated error is 0.1 lower in scenario a and
    0.3 lower in b, plus 0.01 * seed: each seed's change is the mean of its two."""
    rows = []
    for scenario, drop in (("a", 0.1), ("b", 0.3)):
        for seed in range(4):
            row = {"scenario": scenario, "seed": seed}
            for name in CHECKED:
                for world in ("council", "original", "calibrated"):
                    row[f"{name}.{world}"] = 0.5
                row[f"{name}.error_original"] = 1.0
                row[f"{name}.error_calibrated"] = 1.0 - drop + 0.01 * seed
            rows.append(row)
    return pd.DataFrame(rows)


def test_the_outcome_check_averages_a_seeds_scenarios_and_counts_seeds():
    group = _summarise(_worlds(), 0.95)
    assert (group["n"], group["worlds"], group["unit"]) == (4, 8, "seeds")
    change = group["figures"]["gambit_pnl"]["error_change"]
    assert change["n"] == 4 and change["mean"] == pytest.approx(-0.2 + 0.015)  # the seeds' -0.2, -0.19, -0.18, -0.17
    assert interval(np.array([-0.2, -0.19, -0.18, -0.17])).as_dict()["ci"] == pytest.approx(change["ci"])
    group |= {"group": "all held-out worlds", "scenario_in_fit": None}
    assert verdict(group).startswith("on 8 held-out worlds (4 seeds) the calibrated stand-in predicts the council")
    assert _where(group) == "Outcome check over all 8 held-out worlds (4 seeds)"
    old = {k: v for k, v in group.items() if k != "unit"} | {"n": 8}  # written when (scenario, seed) was the unit
    assert _where(old) == "Outcome check over all 8 held-out worlds (8 scenario seeds)"


def test_too_few_seeds_says_seeds():
    group = _summarise(_worlds()[lambda f: f["seed"] == 0], 0.95)
    assert verdict(group).startswith("2 held-out world(s) on 1 seed(s): too few for an interval")


# --------------------------------------------------------------------------- 2. leaks across seeds


def test_a_held_out_decision_whose_input_any_fit_decision_had_is_left_out():
    opening, later = {"turn": 0, "cash": 10}, {"turn": 1, "cash": 9}
    rows = pd.DataFrame(
        {
            "seed": [0, 1, 1, 1, 2],
            "turn": [0, 0, 0, 1, 0],
            "creature": ["oona", "oona", "pip", "oona", "oona"],
            "observation": [opening, dict(reversed(opening.items())), opening, later, {"turn": 0, "cash": 11}],
        }
    )
    fit = np.array([True, False, False, False, False])
    part = unseen(rows, Split((1, 2), None, fit, ~fit))
    # seed 1's oona opens as seed 0's did (key order aside): left out; pip, a later turn and another opening stay
    assert part.heldout.tolist() == [False, False, True, True, True]


# --------------------------------------------------------------------------- 3. against the original, every path


def said(calibrated, original, base):
    calibrated, original, base = (np.asarray(v, dtype=float) for v in (calibrated, original, base))
    parts = (calibrated, original, base, calibrated - original, calibrated - base)
    return fit_verdict(*(interval(v, unit="seeds", bounds=(-1, 1)) for v in parts))


def test_a_fit_not_shown_to_generalise_still_says_how_it_compares_with_the_original():
    base = [0.70, 0.75, 0.65, 0.72, 0.68, 0.74]
    better = said([0.80, 0.70, 0.78, 0.70, 0.76, 0.80], [0.60, 0.55, 0.62, 0.58, 0.60, 0.63], base)
    head = better.text.split(": ", 1)[0]
    assert head.startswith("could not show that the fit generalised at n = 6 seeds (the interval spans 0); ")
    assert head.endswith("; it agrees better than the original disposition (+0.160 [+0.126, +0.194])")
    worse = said([0.60, 0.55, 0.62, 0.58, 0.60, 0.63], [0.80, 0.70, 0.78, 0.70, 0.76, 0.80], [0.9] * 6)
    assert worse.text.startswith(
        "the fit did not generalise; it agrees worse than the original disposition (-0.160 [-0.194, -0.126]): "
    )
    unsure = said([0.80, 0.60, 0.78, 0.62, 0.76, 0.64], [0.70, 0.70, 0.68, 0.72, 0.66, 0.74], base)
    assert "; it is not clearly better than the original disposition (" in unsure.text.split(": ", 1)[0]
    assert unsure.text.split(": ", 1)[0].endswith(", the interval spans 0)")
    same = said([0.6] * 6, [0.6] * 6, [0.9] * 6)
    assert same.text.startswith(
        "the fit did not generalise; it is no better than the original disposition (+0.000 in all 6): "
    )


# --------------------------------------------------------------------------- 4. moved most names its baseline


def _summary(**more) -> dict:
    return {
        "policy": "p",
        "split": {"heldout_seeds": [3]},
        "decisions": 10,
        "rebuilt": 10,
        "fitted": {"name": "fit"},
        "moved": [{"parameter": "surplus", "before": 3, "after": 8}],
        "search": {"evaluations": 100, "generations": 5, "seed": 0, "popsize": 3, "maxiter": 5, "seconds": 2.57},
        "verdict": "closer",
        "start": {"name": "balanced"},
        **more,
    }


def test_moved_most_names_the_disposition_it_is_measured_from():
    most = lines(_summary(fit_dispositions={"balanced": 240, "hoarder": 80}))[1]
    assert most == (
        "Fitted disposition fit; moved most (from balanced, the most common original disposition): surplus 3 → 8."
    )
    only = lines(_summary(fit_dispositions={"balanced": 240}))[1]
    assert only == "Fitted disposition fit; moved most (from balanced, the original disposition): surplus 3 → 8."
    tied = lines(_summary(fit_dispositions={"balanced": 80, "hoarder": 80}))[1]
    assert "moved most (from balanced, the first by name of the 2 most common original dispositions):" in tied


def test_the_search_time_is_kept_in_the_json_but_not_in_the_report():
    assert lines(_summary())[2] == "Search: 100 candidates in 5 generations (seed 0, popsize 3, maxiter 5)."


# --------------------------------------------------------------------------- 5, 7. the command's files and checks


def test_a_second_run_says_it_replaced_the_report_copy_and_the_yaml_says_the_outcome(results, tmp_path, capsys):
    other = _copy(results, tmp_path)
    argv = ["calibrate", str(other), "--policy", "changed", "--out", str(tmp_path / "fit.yaml"), *TINY]
    copy = other / "calibration" / "calibrated_changed.json"
    assert main(argv) == 0
    assert "replaced" not in capsys.readouterr().out
    assert main(argv) == 0
    assert f"replaced {copy}, written by an earlier calibrate run" in capsys.readouterr().out
    summary = json.loads(copy.read_text())
    assert summary["search"]["seconds"] >= 0 and summary["seeds"] == [0, 1, 2, 3]
    header = (tmp_path / "fit.yaml").read_text().splitlines()
    assert header[3] == f"# Outcome check: {summary['outcome']['verdict']}."
    assert header[3].startswith("# Outcome check: on ") and " seeds) the calibrated stand-in predicts" in header[3]
    assert main([*argv, "--no-outcome"]) == 0
    assert (tmp_path / "fit.yaml").read_text().splitlines()[3] == "# Outcome check skipped: not run (--no-outcome)."


def test_a_missing_or_corrupt_episodes_table_is_refused_before_the_search(results, tmp_path, capsys):
    other = _copy(results, tmp_path)
    (other / "episodes.parquet").unlink()
    argv = ["calibrate", str(other), "--policy", "changed", "--out", str(tmp_path / "fit.yaml"), *TINY]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{other / 'episodes.parquet'}: missing, and the outcome check compares with the council worlds" in err
    assert "or calibrate with --no-outcome" in err and "generations" not in err  # before the search
    assert main([*argv, "--no-outcome"]) == 0  # it needs no episodes
    capsys.readouterr()
    (other / "episodes.parquet").write_bytes(b"not parquet at all")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "not a readable Parquet file (" in err and "generations" not in err
    assert "Either the file is corrupted or this is not a parquet file.)" in err  # the whole first line


# --------------------------------------------------------------------------- 6. the report's calibrations are this folder's


def test_the_report_leaves_out_a_calibration_of_another_folder_and_says_why(tmp_path):
    decisions = pd.DataFrame({"policy_name": ["p", "p", "q"], "seed": [0, 1, 0], "creature": ["oona"] * 3})
    mine = _summary(kind="results", seeds=[0, 1], source="elsewhere/copy", split={"heldout_seeds": [1]})
    assert foreign(mine, decisions) is None  # a copied folder: its decisions decide, not the stored path
    assert foreign(mine | {"policy": "r"}, decisions) == (
        "policy 'r' made no decisions in this folder; it was calibrated from elsewhere/copy"
    )
    assert foreign(mine | {"seeds": [500, 501, 502]}, decisions) == (
        "it was calibrated on seeds 500-502 of policy 'p' from elsewhere/copy, and this folder's are seeds 0-1"
    )
    assert foreign(mine | {"kind": "traces"}, decisions) == (
        "it was calibrated from a traces dataset (elsewhere/copy), not from this results folder"
    )
    (tmp_path / "calibration").mkdir()
    (tmp_path / "calibration" / "other.json").write_text(json.dumps(mine | {"policy": "r"}))
    page = SimpleNamespace(r=SimpleNamespace(folder=tmp_path, decisions=decisions))
    [section] = calibration_sections(page)
    note = "calibration/other.json is left out: policy 'r' made no decisions in this folder; it was calibrated from "
    assert any(note in line for line in section.markdown) and not any(
        line.startswith("###") for line in section.markdown
    )


@pytest.mark.parametrize(("seeds", "held"), [(5, 3), (7, 4), (3, 2), (2, 1), (9, 5)])
def test_a_half_share_of_an_odd_count_of_seeds_rounds_up_alike(seeds, held):
    # round() is half-even: --holdout 0.5 held out 2 of 5 seeds but 4 of 7
    rows = pd.DataFrame({"seed": list(range(seeds)), "scenario": ["a"] * seeds})
    assert len(split(rows, seed=1, share=0.5).heldout_seeds) == held


def test_an_outcome_error_interval_never_reaches_below_zero():
    # an error is a distance: over seeds 0, 0, 0, 0.004 a t interval reaches below 0, which it cannot
    worlds = _worlds().assign(**{"legend_ratio.error_calibrated": [0.0, 0.0, 0.0, 0.004] * 2})
    assert interval(np.array([0.0, 0.0, 0.0, 0.004])).as_dict()["ci"][0] < 0
    figure = _summarise(worlds, 0.95)["figures"]["legend_ratio"]
    low, high = figure["error_calibrated"]["ci"]
    assert low == 0.0 and high == pytest.approx(interval(np.array([0.0, 0.0, 0.0, 0.004])).as_dict()["ci"][1])
    assert figure["error_change"]["ci"][0] < -1.0  # a change of errors may go either way: not clipped
