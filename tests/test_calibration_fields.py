"""A calibration summary edited by hand (RESULTS/calibration/*.json): glade report names the first
field it reads that is not of the type glade calibrate writes, the file and what to do, in one line.
Before: a nested key left out was a KeyError traceback, a count saved as text an error naming no
file, and an agreement of 1.7 was shown as it was (eval/calibration_fields.py)."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pandas as pd
import pytest
from planted import play_changed  # tests/ is on sys.path under pytest

from glade.cli import main
from glade.eval.calibration_fields import wrong_calibration
from glade.eval.report.calibration import calibration_sections, calibrations

TINY = ["--popsize", "3", "--maxiter", "3"]
NAME = "calibrated_changed.json"


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    results = play_changed(tmp_path_factory.mktemp("calibration_fields"))
    out = results.parent / "fit.yaml"
    assert main(["calibrate", str(results), "--policy", "changed", "--out", str(out), *TINY]) == 0
    return results


@pytest.fixture
def copy(calibrated, tmp_path):
    folder = tmp_path / "results"
    shutil.copytree(calibrated, folder)
    return folder


def _edit(folder, change) -> None:
    path = folder / "calibration" / NAME
    summary = json.loads(path.read_text())
    change(summary)
    path.write_text(json.dumps(summary))


def _without(*keys):
    def change(summary):
        *inner, last = keys
        for key in inner:
            summary = summary[key]
        del summary[last]

    return change


def _set(value, *keys):
    def change(summary):
        *inner, last = keys
        for key in inner:
            summary = summary[key]
        summary[last] = value

    return change


def test_what_glade_calibrate_writes_passes(calibrated):
    [summary] = calibrations(calibrated)
    assert wrong_calibration(summary) is None and summary["outcome"]["groups"]  # the outcome check's fields too


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (_without("parts", "fit"), "parts.fit must be an object, not missing"),
        (_without("search", "evaluations"), "search.evaluations must be an integer, not missing"),
        (_set("240", "decisions"), "decisions must be an integer, not a text"),
        (
            _set(1.7, "parts", "heldout", "agreement", "after", "mean"),
            "agreement.after.mean must be between 0 and 1, not 1.7",
        ),
        (
            _set(-0.5, "parts", "fit", "qty_error", "before", "mean"),
            "qty_error.before.mean must be at least 0, not -0.5",
        ),
        (_set([0.1], "parts", "fit", "agreement", "change", "ci"), "agreement.change.ci must be a list of two numbers"),
        (_set(["0"], "split", "heldout_seeds"), "split.heldout_seeds must be a list of integers"),
        (_set("yes", "outcome", "groups", 0, "scenario_in_fit"), "scenario_in_fit must be true or false, not a text"),
        (_set({}, "outcome", "groups", 0, "figures", "wealth"), "figures.wealth: not a figure glade calibrate checks"),
        (
            _set("n/a", "outcome", "groups", 0, "figures", "crash", "council", "mean"),
            "crash.council.mean must be a number",
        ),
        (_set([{"parameter": 3}], "moved"), "moved[0].parameter must be a text, not an integer"),
    ],
)
def test_a_hand_edited_field_is_named_with_its_file(copy, change, said):
    _edit(copy, change)
    with pytest.raises(ValueError) as caught:
        _section(copy)
    assert str(caught.value).startswith(f"{copy / 'calibration' / NAME}: ") and said in str(caught.value)
    assert str(caught.value).endswith(", as glade calibrate writes it; rerun glade calibrate or remove it")


def test_glade_report_says_it_in_one_line_and_writes_nothing(copy, capsys):
    _edit(copy, _set("240", "decisions"))
    assert main(["report", str(copy)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {copy / 'calibration' / NAME}: decisions must be an integer, not a text, as glade " + (
        "calibrate writes it; rerun glade calibrate or remove it\n"
    )
    assert not (copy / "report.md").exists()


def _section(folder) -> list[str]:
    """The report's calibration section of `folder`, in Markdown (what glade report writes of it)."""
    page = SimpleNamespace(r=SimpleNamespace(folder=folder, decisions=pd.read_parquet(folder / "decisions.parquet")))
    [section] = calibration_sections(page)
    return section.markdown


@pytest.mark.parametrize(
    "keys",
    [("moved",), ("seeds",), ("scenarios",), ("kind",), ("outcome", "groups"), ("outcome", "groups", 0, "unit")]
    + [("outcome", "groups", 0, "worlds"), ("parts", "fit", "price_error", "change", "ci")],
)
def test_a_null_reads_as_the_key_left_out(copy, keys):
    """Each of these may be left out (an older summary); a null there was a TypeError in the report."""
    _edit(copy, _set(None, *keys))
    assert "### calibrated_changed" in _section(copy)


def test_the_first_calibrates_empty_interval_still_shows(copy):
    # no priced orders matched: it wrote {"mean": null, "ci": [null, null], "n": 0}, shown as "—"
    _edit(copy, _set({"mean": None, "ci": [None, None], "n": 0}, "parts", "fit", "price_error", "change"))
    assert any(line.startswith("| fit | change |") and line.endswith("| — |") for line in _section(copy))
    _edit(copy, _set({"mean": 0.1, "ci": [None, None], "n": 3}, "parts", "fit", "price_error", "change"))
    with pytest.raises(ValueError, match=r"parts\.fit\.price_error\.change\.ci must be a list of two numbers"):
        _section(copy)


def test_a_count_of_fit_decisions_saved_as_text_is_named(copy):
    _edit(copy, _set({"balanced": 1, "hoarder": "2"}, "fit_dispositions"))
    with pytest.raises(ValueError, match="fit_dispositions must map each disposition to an integer"):
        _section(copy)


def test_an_older_summary_without_the_keys_added_later_still_shows(copy):
    """Written before seeds, scenarios, faults, the start and the change in error were stored."""

    def older(summary):
        for key in ("seeds", "scenarios", "faults_left_out", "start", "fit_dispositions", "kind", "source"):
            summary.pop(key, None)
        for part in summary["parts"].values():
            part.pop("seeds")
        for group in summary["outcome"]["groups"]:
            for figure in group["figures"].values():
                change = figure.pop("error_change")
                figure["improvement"] = {**change, "mean": -change["mean"]}

    _edit(copy, older)
    [summary] = calibrations(copy)
    assert wrong_calibration(summary) is None
    assert main(["report", str(copy)]) == 0
