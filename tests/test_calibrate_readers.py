"""`glade calibrate` reads the recipe.yaml and thresholds beside its source as strictly as the
other readers of a results folder: a damaged recipe.yaml (a results folder's or a traces
dataset's), a hand-edited `turns` or `thresholds`, is one named error line; without a
recipe.yaml the outcome check uses the thresholds the run used (summary.json's)."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from glade.env import standin
from glade.eval.calibrate import LEVEL
from glade.eval.live_decisions import load_live
from glade.eval.outcome_check import outcome_check
from tests.test_calibrate_review import traces  # noqa: F401  (a fixture: a small traces dataset)
from tests.test_walk_eval_reads import _error

TINY = ["--popsize", "3", "--maxiter", "2"]
GENERATE_REMEDY = (
    "it is the recipe glade generate wrote beside this traces dataset: restore it, or run glade generate again"
)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A small results folder; its recipe sets no `turns`, so the scenario loads by its name
    at its own length even without a recipe.yaml."""
    from glade.eval.recipe import load_eval_recipe
    from glade.eval.run import run_recipe

    root = tmp_path_factory.mktemp("calibrate_readers")
    data = {
        "name": "readers",
        "out": str(root / "results"),
        "policies": {"panic": {"kind": "standin", "disposition": "panic_seller"}},
        "councils": {"one": {"focal": {"*": "panic"}}},
        "scenarios": ["gambit_rumour"],
        "seeds": {"start": 500, "count": 4},
    }
    (root / "recipe.yaml").write_text(yaml.safe_dump(data))
    run_recipe(load_eval_recipe(root / "recipe.yaml"))
    return root / "results"


@pytest.fixture
def copy(results, tmp_path):
    out = tmp_path / "results"
    shutil.copytree(results, out)
    return out


@pytest.fixture
def traces_copy(traces, tmp_path):  # noqa: F811
    out = tmp_path / "traces"
    shutil.copytree(traces, out)
    return out


def _calibrate(capsys, source, policy: str, tmp_path) -> str:
    return _error(capsys, ["calibrate", str(source), "--policy", policy, "--out", str(tmp_path / "fit.yaml"), *TINY])


def _set(folder, key: str, value) -> None:
    recipe = yaml.safe_load((folder / "recipe.yaml").read_text())
    recipe[key] = value
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))


def _check(folder) -> dict:
    """The outcome check of the balanced stand-in on every world (none held out of a fit)."""
    return outcome_check(load_live(folder, "panic"), standin.disposition("balanced"), set(), level=LEVEL)


# --- 1. recipe.yaml: one strict reader, for a results folder and a traces dataset


@pytest.mark.parametrize(
    "text, said",
    [
        ("name: [unclosed\n", "not readable YAML"),
        ("- a list\n- not a recipe\n", "not the recipe glade eval wrote (a mapping; this holds a list)"),
    ],
)
def test_a_damaged_results_recipe_is_named(copy, capsys, tmp_path, text, said):
    (copy / "recipe.yaml").write_text(text)
    line = _calibrate(capsys, copy, "panic", tmp_path)
    assert line.startswith(f"error: {copy / 'recipe.yaml'}: {said}")
    assert "rerun `glade eval`" in line
    assert not (tmp_path / "fit.yaml").exists()


@pytest.mark.parametrize(
    "text, said",
    [
        ("name: [unclosed\n", "YAML error (line 2): "),
        ("- a list\n- not a recipe\n", "expected a mapping at the top level, got list"),
    ],
)
def test_a_damaged_traces_recipe_is_named(traces_copy, capsys, tmp_path, text, said):
    (traces_copy / "recipe.yaml").write_text(text)
    line = _calibrate(capsys, traces_copy, "standin:balanced", tmp_path)
    assert line.startswith(f"error: {traces_copy / 'recipe.yaml'}: {said}")
    assert line.endswith(GENERATE_REMEDY)


@pytest.mark.parametrize("turns", ["abc", -3, 0, True])
def test_a_hand_edited_turns_is_named(copy, traces_copy, capsys, tmp_path, turns):
    _set(copy, "turns", turns)
    line = _calibrate(capsys, copy, "panic", tmp_path)
    assert line.startswith(f"error: {copy / 'recipe.yaml'}: turns: expected a positive integer, got {turns!r}; ")
    assert "rerun `glade eval`" in line
    _set(traces_copy, "turns", turns)
    line = _calibrate(capsys, traces_copy, "standin:balanced", tmp_path)
    assert line == (
        f"error: {traces_copy / 'recipe.yaml'}: turns: expected a positive integer, got {turns!r}; {GENERATE_REMEDY}"
    )


# --- 2. the outcome check's thresholds: the run's, checked as glade flag and report check them


@pytest.mark.parametrize(
    "thresholds, said",
    [
        ({"crash_drop": 5}, "thresholds.crash_drop: must be between 0 (excluded) and 1, got 5.0"),
        (5, "thresholds: expected a mapping, got 5"),
        ({"crash_dorp": 0.2}, "thresholds.crash_dorp: unknown key"),
    ],
)
def test_a_hand_edited_threshold_is_named_by_the_outcome_check(copy, thresholds, said):
    _set(copy, "thresholds", thresholds)
    with pytest.raises(ValueError) as caught:
        _check(copy)
    assert str(caught.value).startswith(f"{copy / 'recipe.yaml'}: {said}")


def test_without_recipe_yaml_the_outcome_check_uses_the_summary_thresholds(copy):
    def crash(drop) -> float:
        summary = json.loads((copy / "summary.json").read_text())
        summary["thresholds"]["crash_drop"] = drop
        (copy / "summary.json").write_text(json.dumps(summary))
        return _check(copy)["groups"][0]["figures"]["crash"]["council"]["mean"]

    (copy / "recipe.yaml").unlink()
    assert crash(0.3) == 0.0  # the run's (the default): the legend good never falls by 30% here
    assert crash(0.01) == 1.0  # a fall of 1% is a crash in every world
    summary = json.loads((copy / "summary.json").read_text())
    summary["thresholds"] = {"crash_drop": 5}
    (copy / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ValueError, match=r"summary.json: thresholds.crash_drop: must be between 0 \(excluded\) and 1"):
        _check(copy)
