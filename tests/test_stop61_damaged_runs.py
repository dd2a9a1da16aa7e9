"""Damaged files of an interrupted (or finished) training run under `glade train --resume`: each is one
named error (the file, what is wrong, what to do), never a traceback or a bare JSON message, and the
partial folder and its checkpoints are left as they were. The interrupted runs are built by hand
(folders and JSON files); nothing here trains: the trainer stops the test if it is ever reached."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_resume_lookups import finished, generate_traces, write_recipe

import glade.train.progress as progress
import glade.train.sft as sft
from glade.checkpoint import STARTED
from glade.cli import main
from glade.cli.train import resume_hint
from glade.train.interrupted import run_record
from glade.train.recipe import load_train_recipe

STATE = {"global_step": 2, "max_steps": 4, "log_history": []}


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    return generate_traces(tmp_path_factory.mktemp("damaged") / "traces", "hoarder")


def interrupted(tmp_path, traces, started=None, state=STATE) -> tuple[object, Path, Path]:
    """(the recipe, its partial folder, its trainer checkpoint-2): a run of 4 steps killed after step 2,
    its STARTED as glade wrote it unless `started` (text) replaces it."""
    recipe = load_train_recipe(write_recipe(tmp_path, traces))
    work = Path(recipe.output_root) / ".t__0.partial"
    ckpt = work / "trainer" / "checkpoint-2"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text(state if isinstance(state, str) else json.dumps(state))
    (work / STARTED).write_text(json.dumps(run_record(recipe, None)) if started is None else started)
    return recipe, work, ckpt


def files(work: Path) -> dict:
    return {p.relative_to(work): p.read_bytes() for p in sorted(work.rglob("*")) if p.is_file()}


def no_trainer(monkeypatch):
    def refused(*args, **kwargs):
        raise AssertionError("the model was loaded: the damaged file was not caught first")

    monkeypatch.setattr(sft, "build_trainer", refused)
    monkeypatch.setattr(sft, "build_tiny", refused)


# --------------------------------------------------------------------------- started.json


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "not valid JSON: Expecting value: line 1 column 1 (char 0)"),
        ("[]", "a JSON list, not an object"),
        ("{}", "no recipe"),
        ('{"recipe": {}}', "its recipe names no model.base"),
        ('{"recipe": {"model": {"base": "tiny"}, "sft": 3}}', "its recipe's sft is not an object"),
    ],
)
def test_a_damaged_started_json_is_named_and_the_run_kept(tmp_path, traces, monkeypatch, text, why):
    # before: a bare JSONDecodeError line naming no file, a TypeError, KeyError 'recipe', KeyError 'model'
    recipe, work, _ = interrupted(tmp_path, traces, started=text)
    no_trainer(monkeypatch)
    before = files(work)
    with pytest.raises(ValueError) as exc:
        sft.train(recipe, resume=True, log=lambda line: None)
    assert str(exc.value) == (
        f"{work / STARTED}: not the record glade train writes ({why}); it holds the recipe and data the run "
        "started with: restore it, or delete it to resume without checking them, or rerun with --restart to "
        "discard the interrupted run and train from the beginning"
    )
    assert files(work) == before


def test_a_started_json_with_a_damaged_resumed_list_is_named_before_anything_runs(tmp_path, traces, monkeypatch):
    recipe = load_train_recipe(write_recipe(tmp_path, traces))
    record = run_record(recipe, None) | {"resumed": [{"step": 2}]}
    recipe, work, _ = interrupted(tmp_path, traces, started=json.dumps(record))
    no_trainer(monkeypatch)
    with pytest.raises(
        ValueError,
        match=r"started.json: not the record glade train writes \(its resumed is not a list of objects with a from_step\); it holds",
    ):
        sft.train(recipe, resume=True, log=lambda line: None)
    assert (work / "trainer" / "checkpoint-2" / "trainer_state.json").is_file()


def test_the_cli_prints_a_damaged_started_json_as_one_error_line(tmp_path, traces, capsys):
    recipe, work, ckpt = interrupted(tmp_path, traces, started="")
    capsys.readouterr()
    assert main(["train", str(tmp_path / "t.yaml"), "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: {work / STARTED}: not the record glade train writes (not valid JSON: Expecting value: line 1 column "
        "1 (char 0)); it holds the recipe and data the run started with: restore it, or delete it to resume without "
        "checking them, or rerun with --restart to discard the interrupted run and train from the beginning"
    ]
    assert ckpt.is_dir()


# --------------------------------------------------------------------------- trained.json


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "not valid JSON: Expecting value: line 1 column 1 (char 0)"),
        ("{}", "no metrics with train_loss and train_steps"),
        ('{"metrics": {"train_loss": 1.0, "train_steps": 4}}', "no train_seconds"),
    ],
)
@pytest.mark.parametrize("killed_before_cleanup", [False, True])
def test_a_damaged_trained_json_is_named_and_the_run_kept(
    tmp_path, traces, monkeypatch, text, why, killed_before_cleanup
):
    # before: KeyError 'metrics'; "Expecting value: ...; training finished and is kept ..." naming no file.
    # The trainer checkpoints go once the record is written (a kill in between keeps them): deleting the
    # record then trains it all again, which the message says rather than promising a checkpoint
    recipe, work, ckpt = interrupted(tmp_path, traces)
    if not killed_before_cleanup:
        shutil.rmtree(work / "trainer")
    (work / sft.TRAINED).write_text(text)
    no_trainer(monkeypatch)
    before = files(work)
    with pytest.raises(ValueError) as exc:
        sft.train(recipe, resume=True, log=lambda line: None)
    again = "its last trainer checkpoint" if killed_before_cleanup else "the beginning"
    assert str(exc.value) == (
        f"{work / sft.TRAINED}: not the record glade train writes as training finishes ({why}); training had "
        f"finished and its model is in {work}: restore the record from a copy, or write it as "
        '{"metrics": {"train_loss": LOSS, "train_steps": STEPS}, "train_seconds": SECONDS}, and rerun with '
        f"--resume to write the checkpoint; deleted, a rerun with --resume trains again from {again}"
    )
    assert files(work) == before


# --------------------------------------------------------------------------- trainer_state.json


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("[]", "a JSON list, not an object"),
        ("{}", "no global_step"),
        ('{"global_step": "x", "max_steps": 4}', "its global_step is no whole number of steps"),
        ('{"global_step": -1, "max_steps": 4}', "its global_step is no whole number of steps"),
    ],
)
def test_a_trainer_state_of_the_wrong_shape_is_named_not_dropped(tmp_path, traces, monkeypatch, text, why):
    # before: AttributeError; a TypeError inside the Trainer; "invalid literal for int()" naming no file
    recipe, work, ckpt = interrupted(tmp_path, traces, state=text)
    older = work / "trainer" / "checkpoint-1"
    older.mkdir()
    (older / "trainer_state.json").write_text(json.dumps({**STATE, "global_step": 1}))
    no_trainer(monkeypatch)
    before = files(work)
    with pytest.raises(ValueError) as exc:
        sft._fit(recipe, "unused", None, None, work, None, None, True, lambda line: None, None)
    assert str(exc.value) == (
        f"{ckpt / 'trainer_state.json'}: not the trainer state the Trainer writes ({why}); move {ckpt} aside and "
        "rerun with --resume to continue from the checkpoint before it, or rerun with --restart to discard the "
        "interrupted run"
    )
    assert files(work) == before  # neither dropped as a cut-short save nor passed over for checkpoint-1
    # the hint an interrupt prints asks about the same checkpoint, and must not fail on it
    assert "it saved step 2" in resume_hint(work)


# --------------------------------------------------------------------------- glade_train_seconds.json


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "not valid JSON: Expecting value: line 1 column 1 (char 0)"),
        ("{}", "no number of seconds"),
        ("[]", "a JSON list, not an object"),
    ],
)
def test_a_damaged_seconds_record_is_named_before_the_model_loads(tmp_path, traces, monkeypatch, text, why):
    # before: "Expecting value: line 1 column 1 (char 0)" naming no file; KeyError 'seconds'; TypeError
    recipe, work, ckpt = interrupted(tmp_path, traces)
    (ckpt / progress.SECONDS).write_text(text)
    no_trainer(monkeypatch)
    before = files(work)
    with pytest.raises(ValueError) as exc:
        sft._fit(recipe, "unused", None, None, work, None, None, True, lambda line: None, None)
    assert str(exc.value) == (
        f"{ckpt / progress.SECONDS}: not the record glade train writes ({why}); delete it (the training seconds "
        "before this checkpoint are then not counted in meta.json's train_seconds) and rerun with --resume"
    )
    assert files(work) == before


def test_the_seconds_record_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    # before: written in place, so a full disk (or a kill) mid-write left it cut short
    folder = tmp_path / "checkpoint-2"
    folder.mkdir()
    (folder / progress.SECONDS).write_text('{"seconds": 5.0}')
    real = Path.write_text

    def full_disk(self, text, *args, **kwargs):
        real(self, text[:3], *args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full_disk)
    saved = progress.seconds_callback(7.0)
    with pytest.raises(OSError):
        saved.on_save(
            SimpleNamespace(output_dir=str(tmp_path)), SimpleNamespace(is_world_process_zero=True, global_step=2), None
        )
    monkeypatch.undo()
    assert progress.seconds_before(str(folder)) == 5.0
    assert sorted(p.name for p in folder.iterdir()) == [progress.SECONDS]  # no temporary left


# --------------------------------------------------------------------------- a finished run's meta.json


def test_a_kept_runs_meta_json_without_metrics_is_named(tmp_path, traces, capsys):
    # before: KeyError 'metrics' in print_checkpoint
    recipe = load_train_recipe(write_recipe(tmp_path, traces))
    done = finished(recipe.output_root, recipe, "20261201-100000")
    capsys.readouterr()
    assert main(["train", str(tmp_path / "t.yaml"), "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (
        f"error: {done / 'meta.json'}: no metrics with train_loss and train_steps; it is the record glade train "
        f"writes beside the model: restore it from a copy, or move {done.name} out of {done.parent} and rerun to "
        "train this recipe again"
    )
    assert (done / "meta.json").is_file()
