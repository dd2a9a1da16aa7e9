"""What a walk through export, merge and export-traces found: a glade merge folder names glade's
shipped base by its repo id as `export --merge` does; a failed push still warns of the base; a
folder of another kind (traces, eval results) or none at all is named as such; the dataset card
takes --license and has one name."""

from __future__ import annotations

import json
import shutil

import pytest
from huggingface_hub import DatasetCard, ModelCard
from test_pinned_cli_dispatch import fake_train_modules

from glade import checkpoint as checkpoints
from glade.cli import main
from glade.hub import cards
from glade.hub.cards import PushFailed
from glade.hub.council_view import council_summary
from glade.hub.export import export_checkpoint
from glade.hub.export_traces import export_traces
from glade.hub.model_index import base_hub_id

NOT_CHECKPOINT = "not a glade checkpoint: neither a model (config.json) nor a LoRA adapter (adapter_config.json)"


def shipped_tiny_base(tmp_path, monkeypatch):
    """glade's shipped tiny-base as its export names it (glade/tiny-base), under a shipped root of the test's."""
    folder = tmp_path / "models" / "tiny-base"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / cards.MARKER).write_text(json.dumps({"repo_id": "glade/tiny-base", "repo_type": "model"}))
    monkeypatch.setattr(cards, "shipped_root", lambda: tmp_path / "models")
    return folder


# --------------------------------------------------------------------------- 1: a merged model's base


def test_a_merged_model_names_the_shipped_base_as_its_adapter_does(tmp_path, monkeypatch):
    folder = shipped_tiny_base(tmp_path, monkeypatch)
    adapter = {"base_model": str(folder), "base_model_given": "shipped:tiny-base", "base_resolved": str(folder)}
    merged = {**adapter, "kind": "merged", "base_model": None}  # as glade merge writes it
    assert base_hub_id(adapter) == base_hub_id(merged) == "glade/tiny-base"
    # the folder it trained on gone, a full fine-tune alike: the shipped one of this glade names it
    assert base_hub_id({**merged, "base_resolved": str(tmp_path / "gone")}) == "glade/tiny-base"
    assert base_hub_id({"kind": "full", "base_model": None, "base_model_given": "shipped:tiny-base"}) == (
        "glade/tiny-base"
    )
    assert base_hub_id({**merged, "base_model_given": str(folder)}) is None  # a local folder is no Hub repo


def test_exporting_a_glade_merge_folder_of_the_shipped_base_names_it_in_the_front_matter(
    trained_creature, tmp_path, monkeypatch
):
    folder = shipped_tiny_base(tmp_path, monkeypatch)
    _, ckpt = trained_creature
    merged = tmp_path / "merged-ckpt"
    assert main(["merge", str(ckpt), "--out", str(merged)]) == 0
    meta = json.loads((merged / "meta.json").read_text())
    meta.update(base_model_given="shipped:tiny-base", base_resolved=str(folder))
    (merged / "meta.json").write_text(json.dumps(meta))
    out = export_checkpoint(merged, "me/hm2", out=tmp_path / "out")
    card = ModelCard.load(out / "README.md")
    assert card.data.base_model == "glade/tiny-base"
    assert "whose export names no repo id" not in card.text


# --------------------------------------------------------------------------- 2: a failed push still warns


def test_a_failed_push_prints_the_base_warnings_before_its_error(tmp_path, monkeypatch, capsys):
    import glade.cli.export as verb

    fake_train_modules(monkeypatch, {})

    def failed(*args, **kwargs):
        raise PushFailed("no network", tmp_path / "D", "hf upload me/x D")

    monkeypatch.setattr(verb, "export_checkpoint", failed)
    monkeypatch.setattr(verb, "local_base", lambda *args: "/x/base")
    monkeypatch.setattr(verb, "shipped_base", lambda *args: ("shipped:tiny-base", "glade/tiny-base"))
    assert main(["export", "ckpt", "--repo-id", "me/x", "--out", str(tmp_path / "D"), "--push"]) == 3
    err = capsys.readouterr().err.splitlines()
    assert [line.split(":")[0] for line in err] == ["warning", "warning", "error"]
    assert err[0].startswith("warning: the adapter's base model is a local folder (/x/base)")
    assert err[1].startswith("warning: the adapter's base is shipped:tiny-base (glade's shipped base), named glade/")
    assert "export this adapter again with --base-model YOU/NAME" in err[1]
    assert "push failed" in err[2] and "no network" in err[2]


# --------------------------------------------------------------------------- 3: the wrong kind of folder


def test_a_traces_or_eval_folder_given_as_a_checkpoint_says_which_verb_takes_it(tmp_path, capsys):
    traces = tmp_path / "standin"
    (traces / "data").mkdir(parents=True)
    (traces / "data" / "part-00000.parquet").write_bytes(b"")
    (traces / "README.md").write_text("# glade traces: standin\n")
    results = tmp_path / "crash-gambit"
    results.mkdir()
    (results / "summary.json").write_text("{}")
    (results / "decisions.parquet").write_bytes(b"")
    with pytest.raises(ValueError) as info:
        checkpoints.read(traces)
    assert str(info.value) == f"{traces}: {NOT_CHECKPOINT}; it is a traces dataset: glade export-traces publishes it"
    with pytest.raises(ValueError) as info:
        checkpoints.read(results)
    assert str(info.value) == (
        f"{results}: {NOT_CHECKPOINT}; it is a glade eval results folder, which glade export CHECKPOINT "
        "--council RESULTS takes"
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError) as info:
        checkpoints.read(tmp_path / "empty")
    assert str(info.value) == f"{tmp_path / 'empty'}: {NOT_CHECKPOINT}"
    for verb in (["merge", str(traces)], ["export", str(traces), "--repo-id", "me/x"]):
        assert main(verb) == 2
        assert "it is a traces dataset: glade export-traces publishes it" in capsys.readouterr().err


def test_a_missing_folder_is_named_as_missing_by_export_traces_and_council(trained_creature, tmp_path, capsys):
    _, ckpt = trained_creature
    missing = tmp_path / "nosuch"
    assert main(["export-traces", str(missing), "--repo-id", "me/x"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {missing}: no such folder (glade generate writes traces datasets where its recipe's out says)"
    )
    with pytest.raises(ValueError) as info:
        council_summary(missing)
    assert str(info.value) == (
        f"--council {missing}: no such folder (glade eval writes its results where its recipe's out says)"
    )
    with pytest.raises(ValueError) as info:
        export_traces(ckpt, "me/x", out=tmp_path / "out")
    assert str(info.value).endswith("; it is a checkpoint: glade export publishes it")


# --------------------------------------------------------------------------- 4: the dataset card


def test_export_traces_takes_a_checked_license_and_names_the_card_by_its_repo(trained_creature, tmp_path, capsys):
    root, _ = trained_creature
    out = tmp_path / "licensed"
    argv = ["export-traces", str(root / "traces"), "--repo-id", "me/wood-traces", "--out", str(out)]
    assert main([*argv, "--license", "cc-by-4.0"]) == 0
    card = DatasetCard.load(out / "README.md")
    assert card.data.license == "cc-by-4.0"
    assert card.data.pretty_name == "glade traces: wood-traces"
    assert card.text.lstrip().startswith("# glade traces: wood-traces\n")
    assert "# glade traces: traces" not in card.text  # the local folder's name
    # without --license the card keeps its own (glade generate's apache-2.0)
    assert DatasetCard.load(
        export_traces(root / "traces", "me/w2", out=tmp_path / "plain") / "README.md"
    ).data.license == ("apache-2.0")
    shutil.rmtree(out)
    capsys.readouterr()
    assert main([*argv, "--license", "CC-BY-4.0"]) == 2  # the check glade export makes, before anything is written
    assert capsys.readouterr().err.startswith("error: --license 'CC-BY-4.0': not a Hub license identifier")
    assert not out.exists()


def test_an_unrelated_unknown_task_gets_no_suggestion():
    from glade.eval.harness import unknown_tasks

    # nosuch_task: xlsum_tasks scores 0.64 (difflib), under the 0.75 cutoff; a typo still gets its name
    assert "did you mean" not in unknown_tasks(["nosuch_task"], ["xlsum_tasks", "hellaswag"])
    assert unknown_tasks(["hellaswg"], ["xlsum_tasks", "hellaswag"]).endswith("; did you mean hellaswag?")
