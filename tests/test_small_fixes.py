"""The smaller honest-output fixes of issue 14 item 11: model folders that are not models, a
failed training run's folders, lm-eval's earlier results and git's noise."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from glade.cli import main
from glade.seats import SeatSpecError, load


def test_a_folder_that_is_not_a_model_is_named_before_loading(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("not a model")
    with pytest.raises(SeatSpecError, match=r"seat spec hf model: '.*notes' is not a model folder \(no config.json\)"):
        load({"kind": "hf", "model": str(folder)})
    (folder / "config.json").write_text("{}")
    with pytest.raises(SeatSpecError, match=r"has no tokenizer"):
        load({"kind": "hf", "model": str(folder)})
    with pytest.raises(ValueError, match=r"seat spec hf model: '/no/such/model': no such folder"):
        load({"kind": "hf", "model": "/no/such/model"})  # not "Repo id must be in the form ..."


def test_lm_eval_keeps_the_earlier_results_a_card_reads(tmp_path):
    from glade.eval.harness import keep_previous

    results = tmp_path / "results.json"
    assert keep_previous(results) is None
    results.write_text(json.dumps({"written": "2026-11-24T10:15:00Z", "scores": {"t": {"acc": 0.5}}}))
    aside = keep_previous(results)
    assert aside == str(tmp_path / "results-20261124T101500Z.json") and not results.exists()
    assert json.loads((tmp_path / "results-20261124T101500Z.json").read_text())["scores"] == {"t": {"acc": 0.5}}
    results.write_text(json.dumps({"written": "2026-11-24T10:15:00Z"}))
    assert keep_previous(results).endswith("results-20261124T101500Z-2.json")  # never overwritten either


def test_gits_not_a_repository_noise_is_dropped_and_the_rest_kept(tmp_path, capfd):
    from glade.console import without_lines

    with without_lines("fatal: not a git repository"):
        subprocess.run(["git", "describe", "--always"], cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)})  # fmt: skip
        print("a real warning", file=sys.stderr)
    err = capfd.readouterr().err
    assert "fatal" not in err and "a real warning" in err


def test_a_training_run_that_fails_leaves_no_folder_behind(tmp_path, monkeypatch, capsys):
    from glade.traces import GenerateRecipe, generate

    monkeypatch.chdir(tmp_path)
    councils = {"h": {"oona": "hoarder", "*": "speculator"}}
    generate(GenerateRecipe(out="traces", scenarios=("default",), councils=councils, turns=2))
    recipe = {  # each filter's value is in the traces (validation passes); together they keep nothing
        "name": "t",
        "model": {"base": "tiny"},
        "data": {"traces": ["traces"], "creatures": ["oona"], "policies": ["standin:speculator"]},
        "sft": {"max_steps": 2, "bf16": False, "use_cpu": True, "report_to": "none"},
    }
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(recipe))
    assert main(["train", "t.yaml"]) == 2
    assert "no training rows left after filtering" in capsys.readouterr().err
    assert not (tmp_path / "checkpoints").exists()  # and so no "interrupted run" to refuse next time


def test_a_training_run_whose_only_episode_is_held_out_says_so(tmp_path, monkeypatch, capsys):
    import pandas as pd

    from glade.config import Seeds
    from glade.traces import GenerateRecipe, generate
    from glade.train.data import is_held_out

    monkeypatch.chdir(tmp_path)
    generate(GenerateRecipe(out="traces", scenarios=("default",), seeds=Seeds(0, 1), turns=2))
    [episode] = set(pd.read_parquet("traces/data")["episode_id"])
    split_seed = next(s for s in range(100) if is_held_out(episode, 0.9, s))  # the split holds it out
    recipe = {
        "name": "t",
        "model": {"base": "tiny"},
        "data": {"traces": ["traces"], "eval_share": 0.9, "split_seed": split_seed},
        "sft": {"max_steps": 2, "bf16": False, "use_cpu": True, "report_to": "none"},
    }
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(recipe))
    assert main(["train", "t.yaml"]) == 2
    err = capsys.readouterr().err
    assert "every row left is in a held-out episode" in err and "eval_episodes 1" in err
    assert "set data.eval_share: 0" in err


def test_training_never_resumes_from_its_final_step(tmp_path):
    from glade.train.interrupted import last_checkpoint

    trainer = tmp_path / "trainer"
    for step in (2, 4, 6):
        (trainer / f"checkpoint-{step}").mkdir(parents=True)
        (trainer / f"checkpoint-{step}" / "trainer_state.json").write_text(
            json.dumps({"global_step": step, "max_steps": 4})
        )
    (trainer / "checkpoint-8").mkdir()  # a save a kill cut short: no trainer_state.json yet
    lines = []
    assert last_checkpoint(trainer, lines.append) == str(trainer / "checkpoint-2")
    assert lines == [
        "dropping checkpoint-8: its save was cut short",
        "checkpoint-6 is the final step; resuming from the checkpoint before it",
        "checkpoint-4 is the final step; resuming from the checkpoint before it",
    ]
    assert not (trainer / "checkpoint-8").exists() and (trainer / "checkpoint-4").exists()
