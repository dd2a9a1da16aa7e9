"""What `glade train --resume` refuses to continue and what it records: a resume asking to stop at
or before the steps its checkpoint has trained, a checkpoint whose files do not read, and, for a
resume that trains on, meta.json's `resumed` (the step resumed from and the max_steps then)."""

import json
import shutil

import pytest
from test_train import FAST_SFT, killed_at, recipe_file, workdir  # noqa: F401  (workdir: the module's traces and base)

from glade.cli import main

QUIET = [*FAST_SFT, "eval.states=0"]  # no held-out figures: only the training is under test


@pytest.fixture(scope="module")
def interrupted(workdir, tmp_path_factory):  # noqa: F811
    """A run of 6 steps killed at step 5: its trainer holds checkpoint-2 and checkpoint-4."""
    root = tmp_path_factory.mktemp("interrupted")
    path = recipe_file(workdir, root)
    with pytest.MonkeyPatch.context() as monkeypatch:
        killed_at(monkeypatch, 5, str(path), *QUIET)
    partial = root / "checkpoints" / ".lora__0.partial"
    assert sorted(p.name for p in (partial / "trainer").glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    return partial


def copied(interrupted, workdir, tmp_path):  # noqa: F811
    """This test's own recipe file and copy of the interrupted run."""
    path = recipe_file(workdir, tmp_path)
    partial = tmp_path / "checkpoints" / ".lora__0.partial"
    shutil.copytree(interrupted, partial)
    return path, partial


def test_a_resume_asking_for_no_more_steps_than_trained_is_refused(interrupted, workdir, tmp_path, capsys):  # noqa: F811
    path, partial = copied(interrupted, workdir, tmp_path)
    before = sorted(p.relative_to(partial) for p in partial.rglob("*"))
    for steps in (3, 4):
        capsys.readouterr()
        assert main(["train", str(path), *QUIET, f"sft.max_steps={steps}", "--resume"]) == 2
        err = capsys.readouterr().err.splitlines()[-1]
        assert err == (
            f"error: {partial / 'trainer' / 'checkpoint-4'}: has trained 4 steps already, and sft.max_steps={steps} "
            "stops the run at step {}: give a larger sft.max_steps to train on from it, or rerun with --restart to "
            "train this recipe from the beginning".format(steps)
        )
    assert sorted(p.relative_to(partial) for p in partial.rglob("*")) == before  # nothing trained, nothing kept
    assert not list((tmp_path / "checkpoints").glob("lora__0__*"))


def test_a_resume_of_fewer_epochs_than_trained_is_refused_as_it_starts(interrupted, workdir, tmp_path, capsys):  # noqa: F811
    path, partial = copied(interrupted, workdir, tmp_path)
    capsys.readouterr()
    argv = [*QUIET, "sft.max_steps=-1", "sft.num_train_epochs=0.01", "--resume"]
    assert main(["train", str(path), *argv]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err == (
        f"error: {partial / 'trainer' / 'checkpoint-4'}: has trained 4 steps already, and sft.num_train_epochs=0.01 "
        "stops the run at step 1: give a larger sft.num_train_epochs to train on from it, or rerun with --restart to "
        "train this recipe from the beginning"
    )
    assert not list((tmp_path / "checkpoints").glob("lora__0__*"))


def test_a_checkpoint_that_does_not_read_is_refused_naming_it(interrupted, workdir, tmp_path, capsys):  # noqa: F811
    path, partial = copied(interrupted, workdir, tmp_path)
    folder = partial / "trainer" / "checkpoint-4"
    with open(folder / "adapter_model.safetensors", "r+b") as f:
        f.truncate(1000)
    capsys.readouterr()
    assert main(["train", str(path), *QUIET, "--resume"]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith(f"error: {folder}: its adapter_model.safetensors does not read (")
    assert err.endswith(
        f"); rerun with --restart to discard the interrupted run, or move {folder} aside and rerun with --resume "
        "to continue from the checkpoint before it"
    )
    assert folder.is_dir() and (partial / "trainer" / "checkpoint-2").is_dir()  # nothing silently taken instead
    assert not list((tmp_path / "checkpoints").glob("lora__0__*"))


def test_meta_records_each_resume_and_the_max_steps_then(interrupted, workdir, tmp_path, monkeypatch):  # noqa: F811
    path, partial = copied(interrupted, workdir, tmp_path)
    # resumed from step 4 of a 6-step run, stretched to 8 steps, and killed again at step 7
    killed_at(monkeypatch, 7, str(path), *QUIET, "sft.max_steps=8", "--resume")
    assert (partial / "trainer" / "checkpoint-6").is_dir()
    assert main(["train", str(path), *QUIET, "sft.max_steps=8", "--resume"]) == 0
    [ckpt] = (tmp_path / "checkpoints").glob("lora__0__*")
    meta = json.loads((ckpt / "meta.json").read_text())
    assert meta["metrics"]["train_steps"] == 8
    assert meta["resumed"] == [{"from_step": 4, "max_steps_then": 6}, {"from_step": 6, "max_steps_then": 8}]
    # a run never resumed records none
    assert main(["train", str(path), *QUIET, "name=fresh"]) == 0
    [fresh] = (tmp_path / "checkpoints").glob("fresh__0__*")
    assert "resumed" not in json.loads((fresh / "meta.json").read_text())
