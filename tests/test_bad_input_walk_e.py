"""Bad input fed to the verbs (walk E): calibrate tries every file it will write before the
search and then writes all of them or none; a results folder's recipe.yaml that is not an eval
recipe (a train recipe, an empty file, a misspelt threshold) is refused by every reader;
simulate refuses an empty --out; an unreadable results table says permission denied, not rebuild.

The tests run as root, where chmod does not bite: a write or read is made to raise PermissionError."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

import glade.eval.calibrate as calibrate_module
from glade.cli import main
from glade.config import ConfigError, as_plain
from glade.env.schema import RECIPES
from glade.eval.calibrate import check_out, write
from glade.eval.recipe import load_eval_recipe
from glade.eval.results_folder import read_recipe, read_table
from glade.eval.stats import describe

REAL_WRITE = Path.write_text


def deny_writes_in(monkeypatch, folder: Path, only_with_text: bool = False) -> None:
    """Writing a file in `folder` raises PermissionError, as in a read-only folder (or, with
    `only_with_text`, only writes of some text: the check's empty probe passes, the real write fails)."""

    def write_text(self, data, *args, **kwargs):
        if self.parent == folder and (data or not only_with_text):
            raise PermissionError(13, "Permission denied", str(self))
        return REAL_WRITE(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", write_text)


def results_folder(tmp_path: Path) -> Path:
    """What calibrate takes for a results folder before it reads anything (decisions.parquet there)."""
    folder = tmp_path / "results"
    (folder / "calibration").mkdir(parents=True)
    (folder / "decisions.parquet").write_bytes(b"")
    return folder


def test_calibrate_refuses_a_copy_it_cannot_write_before_the_search(tmp_path, monkeypatch, capsys):
    results = results_folder(tmp_path)
    deny_writes_in(monkeypatch, results / "calibration")
    monkeypatch.setattr(calibrate_module, "calibrate", lambda *a, **k: pytest.fail("the search started"))
    out = tmp_path / "new" / "fit.yaml"
    argv = ["calibrate", str(results), "--policy", "p", "--out", str(out), "--no-outcome"]
    assert main(argv) == 2
    copy = results / "calibration" / "calibrated_p.json"
    assert capsys.readouterr().err.strip() == f"error: {copy}: permission denied; check the path and its permissions"
    assert not (tmp_path / "new").exists()  # the folder it made to try --out is gone again
    assert sorted(p.name for p in (results / "calibration").iterdir()) == []


def test_calibrate_refuses_an_out_folder_it_cannot_write(tmp_path, monkeypatch):
    deny_writes_in(monkeypatch, tmp_path)
    with pytest.raises(PermissionError) as caught:
        check_out(tmp_path / "fit.yaml")
    assert caught.value.filename == str(tmp_path / "fit.yaml")  # the file, not its hidden temporary
    assert list(tmp_path.iterdir()) == []


def _summary(source: Path) -> dict:
    """A summary as calibrate makes one, with what `write` reads."""
    agreement = describe(pd.Series([0.5, 0.6, 0.7, 0.8]), bounds=(0, 1))
    return {
        "policy": "p", "creature": None, "source": str(source), "kind": "results", "decisions": 40,
        "parts": {"heldout": {"agreement": {"before": agreement, "after": agreement, "change": agreement}}},
        "verdict": "could not be shown: few seeds", "fitted": {"name": "calibrated_p", "horizon": 2},
        "search": {}, "outcome": {"skipped": "not run (--no-outcome)"},
    }  # fmt: skip


def test_calibrate_writes_all_of_its_files_or_none(tmp_path, monkeypatch):
    results = results_folder(tmp_path)
    copy = results / "calibration" / "calibrated_p.json"
    copy.write_text(json.dumps({"fitted": {}, "search": {}, "verdict": "earlier"}))
    out = tmp_path / "out" / "fit.yaml"
    deny_writes_in(monkeypatch, results / "calibration", only_with_text=True)
    with pytest.raises(PermissionError):
        write(_summary(results), out)
    assert not out.exists() and not out.with_suffix(".json").exists()
    assert json.loads(copy.read_text())["verdict"] == "earlier"
    assert [p.name for p in out.parent.iterdir()] == []  # no temporary left behind
    monkeypatch.undo()
    assert write(_summary(results), out) == [out, out.with_suffix(".json"), copy]
    assert json.loads(copy.read_text())["verdict"] == "could not be shown: few seeds"


def _recipe(folder: Path, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "recipe.yaml").write_text(text)
    return folder


def test_a_recipe_glade_eval_wrote_is_read(tmp_path):
    plain = as_plain(load_eval_recipe(RECIPES / "eval" / "crash-gambit.yaml"))
    assert read_recipe(_recipe(tmp_path / "r", yaml.safe_dump(plain, sort_keys=False))) == plain
    assert read_recipe(_recipe(tmp_path / "part", "name: x\nseed: 3\n")) == {"name": "x", "seed": 3}


def test_a_train_recipe_in_a_results_folder_is_refused(tmp_path):
    train = (RECIPES / "train" / "tiny-hoarder.yaml").read_text()
    folder = _recipe(tmp_path / "r", train)
    with pytest.raises(ValueError, match=r"this looks like a train recipe \(it has .*\), not the recipe glade eval"):
        read_recipe(folder)
    folder = _recipe(tmp_path / "other", "name: x\nmetrics: [a]\n")
    with pytest.raises(
        ValueError, match="recipe.yaml: not the recipe glade eval wrote \\(no eval recipe has metrics\\)"
    ):
        read_recipe(folder)


def test_an_empty_recipe_is_damaged_not_absent(tmp_path):
    for text in ("", "# only a comment\n"):
        with pytest.raises(
            ValueError, match=r"recipe.yaml: not the recipe glade eval wrote \(a mapping; this holds nothing\)"
        ):
            read_recipe(_recipe(tmp_path / "r", text))


def test_a_misspelt_threshold_is_refused_by_every_reader(tmp_path):
    folder = _recipe(tmp_path / "r", "name: x\nthresholds: {flag_min_efect: 0.2}\n")
    with pytest.raises(ConfigError, match=r"thresholds.flag_min_efect: unknown key .*did you mean flag_min_effect\?"):
        read_recipe(folder)


def test_simulate_refuses_an_empty_out(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["simulate", "--quiet", "--turns", "3", "--out", ""]) == 2
    assert (
        capsys.readouterr().err.strip()
        == "error: an empty argument after --out: give a value or a path, or leave it out"
    )
    assert not (tmp_path / "runs").exists()  # not the default folder, which it would have replaced


def test_an_unreadable_table_says_permission_denied_not_rebuild(tmp_path, monkeypatch):
    path = tmp_path / "decisions.parquet"
    path.write_bytes(b"PAR1")

    def denied(*args, **kwargs):
        raise PermissionError(13, f"Failed to open local file '{path}'. Detail: [errno 13] Permission denied")

    monkeypatch.setattr(pd, "read_parquet", denied)
    with pytest.raises(ValueError) as caught:
        read_table(path)
    assert str(caught.value) == f"{path}: permission denied; check the path and its permissions"
