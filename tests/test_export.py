"""Export: Hub-ready folders for checkpoints and traces. The exported adapter and merged model
load and behave like the checkpoint, the card parses with its model-index, bad input is one
clear error. No pickles. The push itself: test_export_push.py."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fake_hub import RecordingApi

from glade.cli import main
from glade.hub.export import export_checkpoint
from glade.hub.export_traces import export_traces

torch.set_num_threads(1)

IDS = torch.tensor([[5, 17, 42, 99, 3, 250, 7]])
PICKLES = ("*.bin", "*.pt", "*.pth", "*.pkl", "*.pickle")


def base_model(root):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(root / "base", dtype=torch.float32).eval()


def greedy(model, n=12):
    with torch.no_grad():
        return model.generate(IDS, attention_mask=torch.ones_like(IDS), max_new_tokens=n, do_sample=False)


def no_pickles(folder):
    return [p.name for pattern in PICKLES for p in Path(folder).rglob(pattern)]


def test_adapter_export_generates_like_the_checkpoint(trained_creature, tmp_path):
    from peft import PeftModel

    root, ckpt = trained_creature
    assert not (ckpt / "training_args.bin").exists()  # glade train keeps no pickle ...
    (ckpt / "training_args.bin").write_bytes(b"pickled")  # ... a checkpoint from before it did
    out = export_checkpoint(ckpt, "alice/creature", out=tmp_path / "adapter")
    names = {p.name for p in out.iterdir()}
    assert {
        "adapter_config.json",
        "adapter_model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
        "recipe.yaml",
        "meta.json",
        "README.md",
    } <= names
    assert no_pickles(out) == []
    assert json.loads((out / "meta.json").read_text())["kind"] == "lora"
    exported = greedy(PeftModel.from_pretrained(base_model(root), str(out)).eval())
    original = greedy(PeftModel.from_pretrained(base_model(root), str(ckpt)).eval())
    assert torch.equal(exported, original)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(out))
    assert tok.chat_template and tok.encode("honey 3 pebbles") == AutoTokenizer.from_pretrained(str(ckpt)).encode(
        "honey 3 pebbles"
    )


def test_merged_export_matches_the_adapter(trained_creature, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    root, ckpt = trained_creature
    assert (
        main(["export", str(ckpt), "--repo-id", "alice/creature-merged", "--merge", "--out", str(tmp_path / "merged")])
        == 0
    )
    out = tmp_path / "merged"
    assert (out / "model.safetensors").exists() and not (out / "adapter_config.json").exists() and no_pickles(out) == []
    merged = AutoModelForCausalLM.from_pretrained(str(out)).eval()
    adapted = PeftModel.from_pretrained(base_model(root), str(ckpt)).eval()
    with torch.no_grad():
        assert torch.allclose(merged(IDS).logits, adapted(IDS).logits, atol=1e-5)
    assert torch.equal(greedy(merged), greedy(adapted))
    meta = json.loads((out / "meta.json").read_text())
    assert meta["kind"] == "merged" and meta["base_model"] is None


def council_results(ckpt, folder):
    """A minimal glade eval results folder in which this checkpoint sat as `creature_model`."""
    folder.mkdir()
    effect = lambda mean: {
        "council": {"mean": 1.0},
        "standin": {"mean": 1.0},
        "effect": {"mean": mean, "ci": [mean - 1, mean + 1], "support": 0.8},
    }
    summary = {
        "recipe": "crash-gambit",
        "policies": [f"hf:base+{ckpt.name}", "hf:base+other__0__1"],
        "decision": [
            {"council": "mixed", "policy": "creature_model", "policy_identity": [f"hf:base+{ckpt.name}"]},
            {"council": "solo", "policy": "other_model", "policy_identity": ["hf:base+other__0__1"]},
        ],
        "outcome": [
            {
                "scenario": "gambit_rumour",
                "council": "mixed",
                "figures": {"gambit_pnl": effect(-2.5), "legend_ratio": effect(0.25)},
            },
            {"scenario": "gambit_rumour", "council": "solo", "figures": {"gambit_pnl": effect(9.0)}},
        ],
    }
    flag = lambda kind, council, policy, rank: {
        "kind": kind,
        "scenario": "gambit_rumour",
        "council": council,
        "cast": 0 if kind == "decision" else None,
        "creature": "oona" if kind == "decision" else None,
        "phase": "seam" if kind == "decision" else None,
        "policy": policy,
        "metric": "honey: sell share",
        "good": "honey",
        "direction": "sell",
        "instead": "none",
        "standin_value": 0.0,
        "live_value": 1.0,
        "effect": 1.0,
        "scaled_effect": 1.0,
        "ci_low": 1.0,
        "ci_high": 1.0,
        "support": 1.0,
        "n": 3,
        "rows": 3,
        "score": 1.0,
        "examples": [],
        "rank": rank,
    }
    flags = [
        flag("decision", "mixed", "creature_model", 1),
        flag("decision", "solo", "other_model", 2),
        flag("outcome", "mixed", None, 3),
        flag("decision", "mixed", "creature_model", 4),
    ]
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "flags.json").write_text(json.dumps(flags))
    return folder


def test_card_parses_and_its_model_index_holds_the_metrics(trained_creature, tmp_path):
    from huggingface_hub import ModelCard

    root, ckpt = trained_creature
    council = council_results(ckpt, tmp_path / "council")
    out = export_checkpoint(ckpt, "alice/creature", out=tmp_path / "card", council=council, dataset="alice/wood-traces")
    card = ModelCard.load(out / "README.md")
    data = card.data
    assert data.library_name == "peft" and data.pipeline_tag == "text-generation" and data.license == "apache-2.0"
    assert data.datasets == ["alice/wood-traces"] and "glade" in data.tags
    assert data.base_model is None  # a local base is never written as a Hub id
    meta = json.loads((ckpt / "meta.json").read_text())
    found = {
        (r.dataset_type, r.dataset_config, r.dataset_split, r.metric_type): r.metric_value for r in data.eval_results
    }
    for key in ("valid_json_rate", "standin_agreement", "self_buy_rate"):
        assert found[("glade/wood-heldout", None, "heldout", key)] == pytest.approx(meta["metrics"][key])
    assert found[("glade/council-outcome", "gambit_rumour", "mixed", "council_gambit_pnl_effect")] == -2.5
    assert found[("glade/council-outcome", "gambit_rumour", "mixed", "council_legend_ratio_effect")] == 0.25
    assert not any(k[2] == "solo" for k in found)  # another model's council
    assert found[("glade/council-seat", "creature_model", "mixed", "decision_flags")] == 2
    assert found[("glade/council-outcome", None, "mixed", "council_outcome_flags")] == 1
    text = card.text
    for part in (
        "## Training",
        meta["data_fingerprint"],
        "## How it diverges from the stand-in",
        "creature_model",
        "## How to use",
        "PeftModel.from_pretrained",
    ):
        assert part in text
    assert "other_model" not in text


def test_a_trained_checkpoint_holds_no_placeholder_card(trained_creature):
    _, ckpt = trained_creature
    assert "adapter_model.safetensors" in {p.name for p in ckpt.iterdir()}
    assert "README.md" not in {p.name for p in ckpt.iterdir()}  # PEFT's "Model Card for Model ID"


def test_base_model_hub_id_goes_to_the_card_and_adapter_config(trained_creature, tmp_path):
    from huggingface_hub import ModelCard

    _, ckpt = trained_creature
    out = export_checkpoint(ckpt, "alice/creature", out=tmp_path / "x", base_model="alice/tiny-base")
    assert ModelCard.load(out / "README.md").data.base_model == "alice/tiny-base"
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == "alice/tiny-base"
    assert json.loads((out / "meta.json").read_text())["base_model"] == "alice/tiny-base"


def test_an_adapter_on_a_local_base_warns_without_base_model(trained_creature, tmp_path, capsys):
    _, ckpt = trained_creature
    assert main(["export", str(ckpt), "--repo-id", "alice/creature", "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "the adapter's base model is a local folder" in err and "--base-model" in err
    argv = ["export", str(ckpt), "--repo-id", "alice/creature", "--out", str(tmp_path / "b"), "--base-model", "alice/b"]
    assert main(argv) == 0
    assert "warning" not in capsys.readouterr().err


def test_export_traces_copies_data_and_card_and_pushes_a_dataset(trained_creature, tmp_path):
    from datasets import load_dataset
    from huggingface_hub import DatasetCard

    root, _ = trained_creature
    RecordingApi.reset()
    out = export_traces(root / "traces", "alice/wood-traces", out=tmp_path / "traces", push=True, api=RecordingApi())
    shards = sorted(p.name for p in (root / "traces" / "data").glob("*.parquet"))
    assert sorted(p.name for p in (out / "data").iterdir()) == shards and (out / "recipe.yaml").exists()
    assert not (out / "progress.json").exists() and no_pickles(out) == []
    card = DatasetCard.load(out / "README.md")
    assert card.data.configs[0]["data_files"][0]["path"] == "data/*.parquet" and "glade" in card.data.tags
    assert "load_dataset('alice/wood-traces'" in card.text and "## Schema" in card.text
    rows = load_dataset("parquet", data_files=str(out / "data" / "*.parquet"), split="train")
    assert len(rows) > 0 and "messages" in rows.column_names
    (create, c), (upload, u) = RecordingApi.calls
    assert c["repo_id"] == u["repo_id"] == "alice/wood-traces" and c["repo_type"] == u["repo_type"] == "dataset"
    assert Path(u["folder_path"]) == out and c["private"] is None  # the Hub's default
    # exporting again replaces the earlier export
    assert export_traces(root / "traces", "alice/wood-traces", out=out) == out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["export", "{ckpt}", "--repo-id", "no-owner"], "expected OWNER/NAME"),
        (["export", "{ckpt}", "--repo-id", "alice/bad name"], "expected OWNER/NAME"),
        (["export", "{ckpt}", "--repo-id", "alice/-x"], "expected OWNER/NAME"),
        (["export", "{traces}", "--repo-id", "alice/x"], "not a glade checkpoint"),
        (["export", "{tmp}/missing", "--repo-id", "alice/x"], "missing: no such folder"),
        (["export", "{ckpt}", "--repo-id", "alice/x", "--council", "{tmp}"], "no summary.json"),
        (["export", "{ckpt}", "--repo-id", "alice/x", "--out", "{traces}"], "not a glade export folder"),
        (["export-traces", "{ckpt}", "--repo-id", "alice/x"], "not a traces dataset"),
        (["export-traces", "{traces}", "--repo-id", "alice"], "expected OWNER/NAME"),
    ],
)
def test_bad_input_is_one_clear_error_and_exit_2(trained_creature, tmp_path, capsys, argv, message):
    root, ckpt = trained_creature
    argv = [a.format(ckpt=ckpt, traces=root / "traces", tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("error:") and message in err
    assert not list(tmp_path.glob(".*partial"))


def test_card_carries_the_checkpoints_rank_from_glade_rank(trained_creature, tmp_path):
    from huggingface_hub import ModelCard

    _, ckpt = trained_creature
    council = council_results(ckpt, tmp_path / "council")
    row = lambda rank, entry, strength: {
        "rank": rank, "entry": entry, "names": [], "strength": strength, "ci": [strength - 0.5, strength + 0.5],
        "rank_ci": [rank, rank + 1], "wins": 30.0, "comparisons": 60.0, "separated": False,
    }  # fmt: skip
    board = {
        "outcome": "seat",
        "level": 0.95,
        "board": [
            row(1, "standin:hoarder", 1.25),
            row(2, f"hf:base+{ckpt.name}", 0.5),
            row(3, "standin:balanced", -1.75),
        ],
    }
    (council / "rank.json").write_text(json.dumps(board))
    out = export_checkpoint(ckpt, "alice/creature", out=tmp_path / "card", council=council)
    card = ModelCard.load(out / "README.md")
    assert "rank **2 of 3**, Bradley-Terry strength +0.50 (95% CI +0.00 to +1.00; rank 2 to 3" in card.text
    found = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert found["bradley_terry_strength"] == 0.5
    # seated structured as well: two entries of one checkpoint, each told under its identity (not the first alone)
    board["board"].insert(0, row(1, f"hf:base+{ckpt.name}+structured", 1.5))
    board["board"][1:] = [{**r, "rank": r["rank"] + 1} for r in board["board"][1:]]
    (council / "rank.json").write_text(json.dumps(board))
    out = export_checkpoint(ckpt, "alice/creature", out=tmp_path / "card2", council=council)
    card = ModelCard.load(out / "README.md")
    assert (
        f"comparisons) as `hf:base+{ckpt.name}+structured`: rank **1 of 4**, Bradley-Terry strength +1.50" in card.text
    )
    assert f"comparisons) as `hf:base+{ckpt.name}`: rank **3 of 4**, Bradley-Terry strength +0.50" in card.text
    strengths = {
        r.dataset_config: r.metric_value for r in card.data.eval_results if r.metric_type == "bradley_terry_strength"
    }
    assert strengths == {f"hf:base+{ckpt.name}+structured": 1.5, f"hf:base+{ckpt.name}": 0.5}


def test_export_traces_of_an_interrupted_generate_says_to_finish_it(tmp_path, capsys):
    from glade.traces import GenerateRecipe, generate

    recipe = GenerateRecipe(
        out=str(tmp_path / "cut"), scenarios=("default",), councils={"hoarders": {"*": "hoarder"}}, turns=2, worlds=1
    )
    turns = []

    def interrupt(_live):  # Ctrl-C in the second episode: the first is written and listed
        turns.append(1)
        if len(turns) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(recipe, progress=interrupt)
    assert list((tmp_path / "cut" / "data").glob("part-*.parquet")) and not (tmp_path / "cut" / "README.md").exists()
    argv = ["export-traces", str(tmp_path / "cut"), "--repo-id", "alice/x", "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "an interrupted `glade generate` run (1 episode(s) written" in err
    assert "rerun the same generate command to finish it" in err and "not a traces dataset (expected" not in err
    assert not (tmp_path / "out").exists()
    # a generate run still writing it (another process holds its lock) is no run cut short
    hold = "import sys, time\nfrom glade.files import only_writer\nwith only_writer(sys.argv[1]):\n"
    hold += "    print('held', flush=True)\n    time.sleep(120)"
    holder = subprocess.Popen([sys.executable, "-c", hold, str(tmp_path / "cut")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        assert main(argv) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert f"a `glade generate` run (pid {holder.pid}) is writing it now: let it finish, then use the folder" in err
    finally:
        holder.kill()
        holder.wait()
    # killed before any episode was written: still named as a run cut short
    (tmp_path / "early" / "data").mkdir(parents=True)
    (tmp_path / "early" / "progress.json").write_text(
        '{"format": 2, "recipe": {}, "shards": ["traces"], "episodes": {}}'
    )
    assert main(["export-traces", str(tmp_path / "early"), "--repo-id", "alice/x", "--out", str(tmp_path / "o2")]) == 2
    assert "an interrupted `glade generate` run (0 episode(s) written" in " ".join(capsys.readouterr().err.split())
    # finished by rerunning it, it exports
    generate(recipe)
    assert main(argv) == 0 and (tmp_path / "out" / "README.md").exists()


def test_a_glade_merge_folder_exports_as_it_is(trained_creature, tmp_path):
    from transformers import AutoModelForCausalLM

    _, ckpt = trained_creature
    merged = tmp_path / "merged-ckpt"
    assert main(["merge", str(ckpt), "--out", str(merged)]) == 0
    assert main(["export", str(merged), "--repo-id", "alice/creature-merged", "--out", str(tmp_path / "out")]) == 0
    out = tmp_path / "out"
    assert (out / "model.safetensors").exists() and not (out / "adapter_config.json").exists() and no_pickles(out) == []
    meta = json.loads((out / "meta.json").read_text())
    assert meta["kind"] == "merged" and meta["merged_from"] == ckpt.name  # a folder name, not this machine's path
    AutoModelForCausalLM.from_pretrained(str(out))


def test_export_and_merge_take_latest_name(trained_creature, tmp_path, monkeypatch):
    root, ckpt = trained_creature
    monkeypatch.chdir(root)  # latest:NAME looks under ./checkpoints, as train writes it
    out = tmp_path / "latest"
    assert main(["export", "latest:creature", "--repo-id", "alice/creature", "--out", str(out)]) == 0
    exported = json.loads((out / "meta.json").read_text())
    assert exported["data_fingerprint"] == json.loads((ckpt / "meta.json").read_text())["data_fingerprint"]
    merged = tmp_path / "merged"
    assert main(["merge", "latest:creature", "--out", str(merged)]) == 0
    assert json.loads((merged / "meta.json").read_text())["merged_from"]
