"""Review 2's fixes: a resumed run's kept-loss step count kept out of the held-out figures, a
same-value target said as such, the traces-folder check's hidden entries and glade eval folders,
the checkpoint a --resume uses named by one function, a tied embedding with ensure_weight_tying,
an adapter's recorded base checked against its fingerprint, and words from glade.words."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from rich.console import Console
from test_card_reader_fixes import adapter_folder

from glade.config import ConfigError

# --------------------------------------------------------------------------- 1: train_loss_steps


RESUMED = {"train_loss": 1.2, "train_steps": 10, "train_loss_steps": 6, "heldout_states": 8}


def test_the_kept_loss_steps_are_no_held_out_figure_and_the_train_loss_says_them():
    from glade.hub.model_card import heldout_table, training_table

    assert "train_loss_steps" not in heldout_table({"metrics": RESUMED})
    [_, _, table, _] = training_table({"metrics": RESUMED, "data_counts": {"train": 40}})
    assert (
        "| train_loss | 1.2000 | 40 training rows (the mean over 6 of the run's 10 steps, those whose loss was kept) |"
        in table
    )
    assert "train_loss_steps" not in table
    [_, _, table, _] = training_table({"metrics": {**RESUMED, "train_loss_steps": None}, "data_counts": {"train": 40}})
    assert "(the mean over the run's steps)" in table


def test_a_checkpoint_without_intervals_prints_the_kept_loss_steps_once_on_the_loss_line(tmp_path):
    from glade.cli.train import print_checkpoint

    (tmp_path / "meta.json").write_text(json.dumps({"metrics": RESUMED, "data_counts": {"train": 40}}))
    con = Console(record=True, width=300)
    print_checkpoint(con, tmp_path)
    said = con.export_text()
    assert "train loss 1.2000 over 6 (the steps whose loss was kept) of 10 steps on 40 rows" in said
    assert "train_loss_steps" not in said and "heldout_states 8" in said


# --------------------------------------------------------------------------- 2: a same-value target


def test_a_target_whose_states_all_score_the_same_is_met_with_the_same_value_said(tmp_path):
    from glade.cli.train import print_checkpoint, target_text
    from glade.eval.stats import interval
    from glade.train.evaluate import check_targets

    found = interval(np.ones(50), unit="states", bounds=(0, 1)).as_dict()
    metrics = {"train_loss": 0.5, "train_steps": 1, "heldout_states": 50, "valid_json_rate": 1.0}
    metrics["intervals"] = {"valid_json_rate": found}
    t = check_targets(metrics, {"valid_json_rate": ">= 0.9"})["valid_json_rate"]
    assert target_text(t, found) == "met (1.000; same value in all 50 states)"
    assert target_text({**t, "met": False}, found) == "NOT met (1.000; same value in all 50 states)"
    few = interval(np.ones(3), unit="states", bounds=(0, 1)).as_dict()
    assert target_text(t, few) == "met on the mean (1.000; n 3, too few states for an interval)"
    (tmp_path / "meta.json").write_text(json.dumps({"metrics": metrics, "targets": {"valid_json_rate": t}}))
    con = Console(record=True, width=300)
    print_checkpoint(con, tmp_path)
    assert "target valid_json_rate >= 0.9: met (1.000; same value in all 50 states)" in con.export_text()


# --------------------------------------------------------------------------- 3: the traces-folder check


def check(folder: Path) -> None:
    from glade.train.inputs import _check_traces_folder

    _check_traces_folder(folder, "data.traces[0]", None)


def test_hidden_entries_leave_a_traces_folder_to_come(tmp_path):
    # a `glade generate` starting up: its progress.json is still atomic's hidden temporary
    (tmp_path / ".progress.json.123-abcd1234.tmp").write_text("{}")
    (tmp_path / ".gitkeep").write_text("")
    (tmp_path / ".DS_Store").write_text("")
    check(tmp_path)  # no refusal: NEEDS, as an empty folder
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ConfigError, match=r"it holds notes\.txt\)"):
        check(tmp_path)


def test_only_a_generate_ledger_passes_a_traces_folder_without_data(tmp_path):
    from glade.resume import PROGRESS

    started = tmp_path / "generate"
    started.mkdir()
    (started / PROGRESS).write_text(json.dumps({"format": 2, "recipe": {}, "shards": ["traces"], "episodes": {}}))
    check(started)
    results = tmp_path / "eval"
    results.mkdir()
    ledger = {"format": 2, "recipe": {}, "shards": ["episodes", "decisions"], "episodes": {}}
    (results / PROGRESS).write_text(json.dumps(ledger))
    with pytest.raises(ConfigError) as err:
        check(results)
    assert type(err.value) is ConfigError  # a FAIL, not the NEEDS of a folder to come
    assert f"'{results}' is a `glade eval` results folder (episodes shards), not a traces dataset" in str(err.value)


# --------------------------------------------------------------------------- 4: the checkpoint --resume uses


def test_the_resume_hint_names_the_checkpoint_the_resume_uses(tmp_path):
    from glade.cli.train import resume_hint
    from glade.train.interrupted import last_checkpoint, resume_point

    work = tmp_path / ".lora__0.partial"
    for step in (2, 4):  # killed during the final evaluate or save: checkpoint-4 is the final step
        (work / "trainer" / f"checkpoint-{step}").mkdir(parents=True)
        (work / "trainer" / f"checkpoint-{step}" / "trainer_state.json").write_text(
            json.dumps({"global_step": step, "max_steps": 4})
        )
    (work / "trainer" / "checkpoint-6").mkdir()  # cut short
    found, step, passed = resume_point(work / "trainer")
    assert (found, step) == (work / "trainer" / "checkpoint-2", 2)
    assert passed == [(work / "trainer" / "checkpoint-6", True), (work / "trainer" / "checkpoint-4", False)]
    assert (work / "trainer" / "checkpoint-6").is_dir()  # read-only
    assert resume_hint(work).endswith("; it saved step 2, and the steps after it run again")
    assert last_checkpoint(work / "trainer", lambda line: None) == str(found)
    (work / "trainer" / "checkpoint-2" / "trainer_state.json").unlink()
    assert resume_hint(work) == (
        f"rerun with --resume ({work}): it kept no trainer checkpoint before the final step, so every step runs again"
    )


# --------------------------------------------------------------------------- 5: ensure_weight_tying


def test_a_tied_embedding_the_adapter_ties_is_no_warning():
    import dataclasses

    import torch
    from peft import LoraConfig

    from glade.train.base_model import tied_embedding

    assert "ensure_weight_tying" in {f.name for f in dataclasses.fields(LoraConfig)}

    class Tied(torch.nn.Module):
        config = SimpleNamespace(tie_word_embeddings=True)

        def __init__(self):
            super().__init__()
            self.embed_tokens = torch.nn.Embedding(4, 2)

        def get_input_embeddings(self):
            return self.embed_tokens

    model = Tied()
    assert tied_embedding(["embed_tokens"], model).startswith("lora.target_modules: embed_tokens shares its weights")
    assert tied_embedding(["embed_tokens"], model, ties=True) is None


# --------------------------------------------------------------------------- 6: the recorded base's fingerprint


def test_a_recorded_base_folder_with_other_weights_is_not_counted(tmp_path):
    from glade.checkpoint import base_fingerprint, shipped
    from glade.hub.card_usage import model_size, safetensors_count

    adapter, base = adapter_folder(tmp_path), shipped("tiny-base")
    meta = {"base_model": str(base), "base_model_given": "shipped:tiny-base"}  # the shipped folder itself
    assert model_size(adapter, meta | {"base_fingerprint": "not-the-same"}) is None
    assert model_size(adapter, meta | {"base_fingerprint": base_fingerprint(base)})["base"] == safetensors_count(
        base / "model.safetensors"
    )
    assert model_size(adapter, meta)["base"] == safetensors_count(base / "model.safetensors")  # no record: as found


# --------------------------------------------------------------------------- 7: words and the publish hint


def test_counts_in_the_card_are_glade_words():
    from glade.hub import card_sections
    from glade.hub.lineage import scenarios_text

    assert not hasattr(card_sections, "seeds_text")  # glade.words.seeds_text is the one of that name
    assert [card_sections.seeds_cell(1), card_sections.seeds_cell(40), card_sections.seeds_cell(None)] == [
        "1 seed",
        "40 seeds",
        "-",
    ]
    source = card_sections.lm_source({"held_out": "the checkpoint's held-out split", "held_out_episodes": 1079})
    assert source.startswith("turns of 1,079 episodes `glade train` set aside")
    trained = {"rows": 1079, "traces": [], "unread": [], "scenarios": {"default": []}, "found": 0}
    assert "look its 1,079 rows up in" in scenarios_text(trained)


def test_the_publish_hint_asks_each_kept_folder_once_and_quotes_it(tmp_path, monkeypatch):
    import glade.hub.export
    from glade.cli.quickstart import steps

    kept = {"tiny-base": tmp_path / "my runs" / "tiny-base__0__1", "tiny-hoarder": tmp_path / "my runs" / "h__0__2"}
    asked = []

    def kept_checkpoint(name, args):
        asked.append(name)
        return kept.get(name, tmp_path / name)

    monkeypatch.setattr(steps, "kept_checkpoint", kept_checkpoint)

    def export_checkpoint(folder, repo_id, out, **kwargs):
        out.mkdir(parents=True)
        return out

    monkeypatch.setattr(glade.hub.export, "export_checkpoint", export_checkpoint)
    monkeypatch.setattr("glade.train.recipe.shipped_recipe", lambda folder: None)
    con = Console(record=True, width=2000)
    steps.export_creatures(SimpleNamespace(train_base=True, out=str(tmp_path / "qs")), con)
    said = con.export_text()
    assert sorted(asked) == sorted(["tiny-base", *steps.ADAPTERS])  # each once
    assert f"export {shlex.quote(str(kept['tiny-base']))} --repo-id YOU/tiny-base" in said
    assert f"export {shlex.quote(str(kept['tiny-hoarder']))} --repo-id YOU/tiny-hoarder" in said
