"""What an interop audit of `glade export` found in the Hub metadata: the card's license was
apache-2.0 whatever the base's card said (a Llama base's llama3.2 too), and with --dataset the
model-index named configs and splits (`eval`, `glade_decision_gen`, `checkpoint-eval-split`)
that the dataset `glade export-traces` writes does not have."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict

import pytest
import torch
from huggingface_hub import DatasetCard, ModelCard
from safetensors.torch import save_file
from test_export_kinds import generated
from test_pinned_cli_dispatch import fake_train_modules

from glade import checkpoint as checkpoints
from glade.cli import main
from glade.hub.export import export_checkpoint
from glade.hub.export_traces import export_traces

SHIPPED_BASE = checkpoints.shipped("tiny-base")
LOSS_TASK = "creature decisions (the trainer's loss)"


def base_with_card(tmp_path, front: str | None):
    """A local copy of a base model (the shipped tiny-base's weights) whose README.md has this front matter
    (as `hf download` of a Llama base leaves it); no README.md with None."""
    base = tmp_path / "llama-base"
    shutil.copytree(SHIPPED_BASE, base)
    (base / "README.md").unlink()
    if front is not None:
        (base / "README.md").write_text(f"---\n{front}\n---\n# a local copy of a base\n")
    return base


def adapter_on(tmp_path, base, **meta):
    """A LoRA checkpoint as glade train writes it on `base` (weights not needed)."""
    folder = tmp_path / "checkpoints" / "llama-lic__0__20261207-082537"
    folder.mkdir(parents=True)
    recorded = {
        "name": "llama-lic",
        "seed": 0,
        "kind": "lora",
        "base_model": str(base),
        "base_model_given": str(base),
        "base_resolved": str(base),
        "base_fingerprint": checkpoints.base_fingerprint(base),
    }
    (folder / "meta.json").write_text(json.dumps(recorded | meta))
    recipe = "name: llama-lic\ndata:\n  eval_share: 0.25\n  split_seed: 3\n"
    (folder / "recipe.yaml").write_text(recipe)
    config = {"base_model_name_or_path": str(base), "peft_type": "LORA", "r": 2, "target_modules": ["q"]}
    (folder / "adapter_config.json").write_text(json.dumps(config))
    save_file({"x": torch.zeros(1)}, str(folder / "adapter_model.safetensors"))
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy2(SHIPPED_BASE / name, folder / name)
    return folder


def run_export(monkeypatch, ck, out, *flags):
    fake_train_modules(monkeypatch, {})
    return main(["export", str(ck), "--repo-id", "you/llama-lic", "--out", str(out), *flags])


def lines(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------- 1: the license


def test_the_card_takes_the_license_a_local_base_s_card_names_and_says_so(tmp_path, monkeypatch, capsys):
    base = base_with_card(tmp_path, "license: llama3.2\nlibrary_name: transformers")
    ck = adapter_on(tmp_path, base)
    assert run_export(monkeypatch, ck, tmp_path / "out") == 0
    assert ModelCard.load(tmp_path / "out" / "README.md").data.license == "llama3.2"
    said = capsys.readouterr()
    assert f"license: llama3.2, as the base's card ({base / 'README.md'}) names it; --license chooses another" in (
        lines(said.out)
    )
    assert "base's card" not in said.err  # the taken license is no warning
    heard: list[str] = []
    folder = export_checkpoint(ck, "you/llama-lic", out=tmp_path / "api", log=heard.append, warn=heard.append)
    assert ModelCard.load(folder / "README.md").data.license == "llama3.2" and len(heard) == 1


def test_a_license_other_than_the_base_s_is_written_as_asked_and_warned_of(tmp_path, monkeypatch, capsys):
    base = base_with_card(tmp_path, "license: llama3.2")
    ck = adapter_on(tmp_path, base)
    assert run_export(monkeypatch, ck, tmp_path / "out", "--license", "mit") == 0
    assert ModelCard.load(tmp_path / "out" / "README.md").data.license == "mit"
    err = lines(capsys.readouterr().err)
    assert (
        f"warning: --license mit, but the base's card ({base / 'README.md'}) names license llama3.2: weights derived "
        "from a base usually carry its license; the card says mit, as asked"
    ) in err
    assert run_export(monkeypatch, ck, tmp_path / "same", "--license", "llama3.2") == 0  # the base's own: no word
    assert "base's card" not in capsys.readouterr().err


def test_where_no_card_here_names_the_base_s_license_it_stays_apache_2_0(tmp_path, monkeypatch, capsys):
    base = base_with_card(tmp_path, None)
    ck = adapter_on(tmp_path, base)
    assert run_export(monkeypatch, ck, tmp_path / "out") == 0
    assert ModelCard.load(tmp_path / "out" / "README.md").data.license == "apache-2.0"
    said = capsys.readouterr()
    assert "base's card" not in said.out + said.err
    # a Hub id never downloaded names nothing here either
    ck2 = adapter_on(tmp_path / "hub", base, base_model="nobody-here/never-downloaded", base_fingerprint=None)
    folder = export_checkpoint(ck2, "you/c", out=tmp_path / "hub-out")
    assert ModelCard.load(folder / "README.md").data.license == "apache-2.0"


def test_a_base_license_the_export_cannot_carry_over_is_warned_of(tmp_path):
    base = base_with_card(tmp_path, "license: other\nlicense_name: their-license\nlicense_link: LICENSE")
    heard: list[str] = []
    folder = export_checkpoint(adapter_on(tmp_path, base), "you/c", out=tmp_path / "out", warn=heard.append)
    assert ModelCard.load(folder / "README.md").data.license == "apache-2.0"
    assert heard == [
        f"the base's card ({base / 'README.md'}) names license 'other', which the export cannot carry over (the Hub "
        "needs the text of `other`, and knows only its own ids); the card says apache-2.0: pass --license "
        "(--license other --license-file PATH with the base's license text)"
    ]


# --------------------------------------------------------------------------- 2: the model-index on --dataset

RESULTS = {
    "scores": {
        "glade_decision_gen": {"valid_json": 1.0, "valid_action": 0.75},
        "glade_direction_mc": {"acc": 0.5, "acc_norm": 0.5},
    },
    "data": {"held_out": "the checkpoint's held-out split (data/eval.parquet)", "held_out_episodes": 1},
    "limit": 8,
}


@pytest.fixture(scope="module")
def wood_traces(tmp_path_factory):
    """An actual `glade export-traces` folder: the dataset --dataset names."""
    root = tmp_path_factory.mktemp("stop63")
    return export_traces(generated(root / "gen", {"ok": {}}), "you/wood-traces", out=root / "wood-traces")


@pytest.fixture
def exported(tmp_path, wood_traces):
    base = base_with_card(tmp_path, "license: apache-2.0")
    metrics = {"eval_loss": 0.8123, "valid_action_rate": 0.5}
    ck = adapter_on(tmp_path, base, metrics=metrics, data_counts={"train": 40, "eval": 12, "eval_episodes": 1})
    (ck / "lm_eval").mkdir()
    (ck / "lm_eval" / "results.json").write_text(json.dumps(RESULTS))
    folder = export_checkpoint(ck, "you/llama-lic", out=tmp_path / "out", dataset="you/wood-traces")
    return ModelCard.load(folder / "README.md").data.eval_results


def test_every_entry_naming_the_dataset_names_a_config_and_split_export_traces_writes(exported, wood_traces):
    from datasets import load_dataset

    configs = DatasetCard.load(wood_traces / "README.md").data.configs
    written = {(c["config_name"], s["split"]) for c in configs for s in c["data_files"]}
    named = [r for r in exported if r.dataset_type == "you/wood-traces"]
    assert {r.task_name for r in named} == {LOSS_TASK, "glade_decision_gen", "glade_direction_mc"}
    (default,) = {c["config_name"] for c in configs}  # what load_dataset takes where an entry names no config
    for result in named:
        assert (result.dataset_config or default, result.dataset_split) in written, result
        # which episodes were held out is said, not named as a split the dataset does not have
        args = result.dataset_args
        assert (args["eval_share"], args["split_seed"], args["held_out_episodes"]) == (0.25, 3, 1)
    for config, split in {(r.dataset_config, r.dataset_split) for r in named}:
        assert len(load_dataset(str(wood_traces), config, split=split)) > 0  # as the Hub's link loads them


def test_the_lm_eval_tasks_and_the_loss_stay_separate_results_after_a_round_trip(exported, tmp_path):
    def by_task(results) -> dict:
        found = defaultdict(set)
        for r in results:
            if r.dataset_type == "you/wood-traces":
                found[(r.task_type, r.task_name)].add(r.metric_type)
        return dict(found)

    want = {
        ("text-generation", LOSS_TASK): {"eval_loss"},
        ("text-generation", "glade_decision_gen"): {"valid_json", "valid_action"},
        ("multiple-choice", "glade_direction_mc"): {"acc", "acc_norm"},
    }
    assert by_task(exported) == want
    # written again by huggingface_hub (which merges results sharing its unique_identifier) and read back
    card = ModelCard.load(tmp_path / "out" / "README.md")
    ModelCard("---\n" + card.data.to_yaml() + "\n---\n" + card.text).save(tmp_path / "again.md")
    assert by_task(ModelCard.load(tmp_path / "again.md").data.eval_results) == want
    assert len({r.unique_identifier for r in exported if r.dataset_type == "you/wood-traces"}) == 3
