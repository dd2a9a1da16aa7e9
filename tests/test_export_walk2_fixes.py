"""What a walk of README's lm-eval and Publishing sections found: a --base-model that is not the
adapter's base is refused where an export here shows it and warned of where nothing does; repo
ids as the Hub checks them; `--license other` needs its text; lm-eval scores on trained-on states
stay out of the model-index; rounded model-index values; the card's words on local files, the
traces dataset, plurals and what the held-out intervals describe."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import save_file
from test_pinned_cli_dispatch import fake_train_modules

from glade import checkpoint as checkpoints
from glade.cli import main
from glade.hub import cards
from glade.hub.card_sections import lm_source
from glade.hub.export import export_checkpoint, shipped_base
from glade.hub.model_card import render_card
from glade.hub.model_index import eval_results

SHIPPED_BASE = checkpoints.shipped("tiny-base")


def adapter(tmp_path, **meta):
    """A LoRA checkpoint as glade train writes it on glade's shipped tiny-base (weights not needed)."""
    folder = tmp_path / "checkpoints" / "tiny-hoarder__0__20261205-130453"
    folder.mkdir(parents=True)
    recorded = {
        "name": "tiny-hoarder",
        "seed": 0,
        "kind": "lora",
        "base_model": str(SHIPPED_BASE),
        "base_model_given": "shipped:tiny-base",
        "base_fingerprint": checkpoints.base_fingerprint(SHIPPED_BASE),
    }
    (folder / "meta.json").write_text(json.dumps(recorded | meta))
    (folder / "recipe.yaml").write_text("name: tiny-hoarder\n")  # the recipe glade train writes beside meta.json
    config = {"base_model_name_or_path": str(SHIPPED_BASE), "peft_type": "LORA", "r": 2, "target_modules": ["q"]}
    (folder / "adapter_config.json").write_text(json.dumps(config))
    save_file({"x": torch.zeros(1)}, str(folder / "adapter_model.safetensors"))
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy2(SHIPPED_BASE / name, folder / name)
    return folder


def other_base_export(tmp_path, repo_id: str):
    """An export of another model under `repo_id`, in its default folder, its marker as glade wrote it before it
    kept the fingerprint (the walk's exports/tiny-base of a freshly trained tiny-base)."""
    folder = tmp_path / cards.default_out(repo_id)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"other": true}')
    (folder / cards.MARKER).write_text(json.dumps({"repo_id": repo_id, "repo_type": "model"}))


# --------------------------------------------------------------------------- 1: --base-model


def test_a_base_model_whose_export_here_holds_other_weights_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ck = adapter(tmp_path)
    other_base_export(tmp_path, "you/tiny-base")
    with pytest.raises(ValueError) as caught:
        export_checkpoint(ck, "you/tiny-hoarder", base_model="you/tiny-base")
    assert str(caught.value) == (
        "--base-model you/tiny-base: the export for that repo id here (exports/tiny-base) holds other weights than "
        "the base this adapter was trained on, shipped:tiny-base (its export names glade/tiny-base); pass the Hub id "
        "of that base (export it with `glade export shipped:tiny-base --repo-id you/tiny-base` first to publish it "
        "under this id); nothing was written"
    )
    assert not (tmp_path / "exports" / "tiny-hoarder").exists()


def test_the_shipped_base_exported_under_your_own_id_is_recognised(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = export_checkpoint(SHIPPED_BASE, "you/tiny-base")  # README: glade export tiny-base --repo-id YOU/tiny-base
    marker = json.loads((base / cards.MARKER).read_text())
    assert marker["fingerprint"] == checkpoints.base_fingerprint(SHIPPED_BASE)
    ck, said = adapter(tmp_path), []
    folder = export_checkpoint(ck, "you/tiny-hoarder", base_model="you/tiny-base", warn=said.append)
    assert said == []
    text = (folder / "README.md").read_text()
    assert (
        "a LoRA adapter for `you/tiny-base` (glade's shipped base `shipped:tiny-base`, as exported to that repo id "
        "from here: exports/tiny-base holds the same weights)" in text
    )
    assert "under the repo id its export names" not in text
    assert json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"] == "you/tiny-base"


def test_a_base_model_nothing_here_shows_is_warned_of_and_said_so_in_the_card(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    fake_train_modules(monkeypatch, {})
    ck = adapter(tmp_path)
    assert main(["export", str(ck), "--repo-id", "you/tiny-hoarder", "--base-model", "you/tiny-base"]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "warning: --base-model you/tiny-base: nothing here shows that repo holds shipped:tiny-base (its export names "
        "glade/tiny-base), the base this adapter was trained on; adapter_config.json and the card name "
        "you/tiny-base as given (`glade export shipped:tiny-base --repo-id you/tiny-base` writes the export that "
        "shows it)"
    ]
    text = (tmp_path / "exports" / "tiny-hoarder" / "README.md").read_text()
    assert (
        "a LoRA adapter for `you/tiny-base` (named by --base-model; the adapter was trained on glade's shipped "
        "base `shipped:tiny-base`)" in text
    )
    assert "Unverified base: nothing offline showed that `you/tiny-base` on the Hub holds the base weights" in text
    # the shipped base's own id is the record's: named as such, with no such warning
    said = []
    folder = export_checkpoint(ck, "you/tiny-hoarder2", base_model="glade/tiny-base", warn=said.append)
    assert said == []
    text = (folder / "README.md").read_text()
    assert "`glade/tiny-base` (glade's shipped base `shipped:tiny-base`, under the repo id its export names)" in text


def test_a_merged_export_warns_of_the_shipped_base_id_as_an_adapter_does(tmp_path):
    ck = adapter(tmp_path)
    assert shipped_base(ck, merge=True) == ("shipped:tiny-base", "glade/tiny-base")
    assert shipped_base(ck, merge=True, base_model="glade/tiny-base") is None


# --------------------------------------------------------------------------- 2: repo ids


@pytest.mark.parametrize("repo_id", ["you/x.git", "you/x--y", "you/x..y", "you/-x", "you/x.", "you", "a/b/c"])
def test_a_repo_id_the_hub_refuses_is_refused_before_anything_is_written(repo_id, tmp_path):
    with pytest.raises(ValueError, match=rf"^--repo-id '{repo_id}': expected OWNER/NAME .*not ending in '\.git'"):
        export_checkpoint(adapter(tmp_path), repo_id, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("repo_id", ["you/x_", "you/_x", "a_/x", "you/x.y-z_1"])
def test_a_repo_id_the_hub_takes_is_taken(repo_id):
    assert cards.check_repo_id(repo_id) == repo_id


# --------------------------------------------------------------------------- 3: --license other


def test_license_other_needs_its_text_which_the_export_carries(tmp_path):
    ck = adapter(tmp_path)
    with pytest.raises(ValueError, match=r"^--license other: the card would name no license text.*--license-file PATH"):
        export_checkpoint(ck, "you/c", license="other", out=tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="^--license-file .*: goes with --license other"):
        export_checkpoint(ck, "you/c", license="mit", license_file=tmp_path / "L", out=tmp_path / "out")
    (tmp_path / "MY-LICENSE.txt").write_text("Use it kindly.\n")
    folder = export_checkpoint(
        ck, "you/c", license="other", license_file=tmp_path / "MY-LICENSE.txt", out=tmp_path / "out"
    )
    assert (folder / "LICENSE").read_text() == "Use it kindly.\n"
    data = ModelCard.load(folder / "README.md").data
    assert (data.license, data.license_name, data.license_link) == ("other", "c-license", "LICENSE")


# --------------------------------------------------------------------------- 4, 7: the model-index


def test_lm_eval_scores_carry_their_split_and_trained_on_ones_stay_out_of_the_model_index():
    scores = [{"task": "glade_direction_mc", "metric": "acc", "value": 0.7000000000000001}]
    held = {"data": {"held_out": "the checkpoint's held-out split (data/eval.parquet)", "held_out_episodes": 1}}
    (found,) = eval_results({}, scores, None, held | {"limit": 6})
    assert (found.dataset_split, found.dataset_args, found.metric_value) == (
        "checkpoint-eval-split",
        {"split_episodes": 1, "limit": 6},
        0.7,
    )
    trained = {"data": {"traces": ["/x/standin"], "held_out": "not held out: 5 of 9 rows were trained on"}}
    assert eval_results({}, scores, None, {"data": trained["data"] | {"trained_on": {"rows": 5}}}) == []
    (found,) = eval_results({}, scores, None, trained)
    assert (found.dataset_split, found.dataset_args) == ("traces", {"traces": "standin"})
    (found,) = eval_results({"metrics": {"valid_json_rate": 0.1 + 0.2}}, [], None)
    assert found.metric_value == 0.3


# --------------------------------------------------------------------------- 6, 7, 8: the card's words


def test_the_card_names_local_files_the_dataset_plurals_and_what_the_intervals_describe():
    one = {"held_out": "the checkpoint's held-out split (data/eval.parquet)", "held_out_episodes": 1}
    assert lm_source(one).startswith(
        "turns of 1 episode `glade train` set aside from its own training traces (the checkpoint's data/eval.parquet, "
        "not in this repository;"
    )
    assert lm_source(one | {"held_out_episodes": 3}).startswith("turns of 3 episodes `glade train`")
    meta = {
        "name": "c",
        "seed": 0,
        "metrics": {"valid_json_rate": 0.5, "heldout_states": 48},
        "heldout": {"seeds": [9000, 9001, 9002, 9003]},
    }
    text = render_card(meta, {"name": "c"}, [], "me/c", "full", None, None, dataset="you/wood-traces")
    assert (
        "| traces dataset on the Hub | [`you/wood-traces`](https://huggingface.co/datasets/you/wood-traces) |" in text
    )
    assert (
        "Each interval is over 48 states from 4 held-out seeds; states of one seed are not independent, so the "
        "intervals are about these states, not about new seeds." in text
    )
    meta = {**meta, "heldout": {}, "data_counts": {"eval_episodes": 1}}
    assert "over 48 states from 1 held-out episode; states of one episode" in render_card(
        meta, {"name": "c"}, [], "me/c", "full", None, None
    )


def test_a_direct_lm_eval_run_is_told_how_to_name_the_documents():
    import importlib.util

    from glade.eval.harness import LM_TASKS

    spec = importlib.util.spec_from_file_location("glade_lm_utils", LM_TASKS / "utils.py")
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    with pytest.raises(ValueError) as caught:
        utils.direction_docs()
    assert """pass lm_eval --metadata '{"glade_docs": "CHECKPOINT/lm_eval/docs"}' and --apply_chat_template""" in str(
        caught.value
    )


# --------------------------------------------------------------------------- review of 1: --base-model


def test_the_hub_base_the_adapter_trained_on_is_named_without_a_warning(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ck = adapter(
        tmp_path,
        base_model="HuggingFaceTB/SmolLM2-360M-Instruct",
        base_model_given="HuggingFaceTB/SmolLM2-360M-Instruct",
    )
    said = []
    export_checkpoint(ck, "you/tiny-hoarder", base_model="HuggingFaceTB/SmolLM2-360M-Instruct", warn=said.append)
    assert said == []


def test_the_refusal_names_the_folder_the_adapter_trained_on_not_a_name_that_moves(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = tmp_path / "runs" / "tiny-base"
    shutil.copytree(SHIPPED_BASE, base)
    ck = adapter(tmp_path, base_model=str(base), base_model_given="latest:tiny-base")
    other_base_export(tmp_path, "you/tiny-base")
    with pytest.raises(ValueError, match=rf"\(export it with `glade export {base} --repo-id you/tiny-base` first"):
        export_checkpoint(ck, "you/tiny-hoarder", base_model="you/tiny-base")
    shutil.rmtree(base)  # gone: its fingerprint in meta.json still tells, but no folder to name
    with pytest.raises(ValueError, match=r"\(export the checkpoint it trained on with `glade export CHECKPOINT --repo"):
        export_checkpoint(ck, "you/tiny-hoarder", base_model="you/tiny-base")
