"""Training: recipes validate, data splits by episode, LoRA learns, resume, merge, and the shipped
recipes build their trainers (on the tiny model, so nothing downloads)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from glade.cli import main
from glade.config import ConfigError, Seeds
from glade.traces import GenerateRecipe, generate
from glade.train.data import DataConfig, prepare
from glade.train.recipe import load_train_recipe
from glade.train.tiny import save_tiny

ROOT = Path(__file__).resolve().parent.parent
FAST_SFT = [
    "sft.max_steps=6",
    "sft.per_device_train_batch_size=2",
    "sft.per_device_eval_batch_size=4",
    "sft.logging_steps=1",
    "sft.save_steps=2",
    "sft.learning_rate=0.01",
    "sft.warmup_steps=0",
    "eval.states=4",
    "eval.max_new_tokens=16",
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Small stand-in traces and a tiny random base model, shared by the module."""
    root = tmp_path_factory.mktemp("train")
    generate(
        GenerateRecipe(
            out=str(root / "traces"),
            scenarios=("default",),
            councils={"hoarders": {"*": "hoarder"}, "panic": {"*": "panic_seller"}},
            turns=3,
            worlds=8,
        )
    )
    generate(  # other seeds, and the Run on Oona's Hoard in the air at turns 4 and 5
        GenerateRecipe(
            out=str(root / "heldout"),
            scenarios=("gambit_rumour",),
            councils={"scenario": {}},
            seeds=Seeds(start=50, count=1),
            turns=6,
        )
    )
    save_tiny(root / "base")
    return root


def recipe_file(workdir, tmp_path, name="lora", **changes):
    data = {
        "name": name,
        "output_root": str(tmp_path / "checkpoints"),
        "model": {"base": str(workdir / "base")},
        "data": {"traces": [str(workdir / "traces")], "eval_share": 0.25},
        "lora": {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]},
        "sft": {
            "bf16": False,
            "use_cpu": True,
            "activation_checkpointing": False,
            "report_to": "none",
            "max_length": 1024,
        },
        **changes,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_split_is_by_episode(workdir):
    train, held, counts = prepare(DataConfig(traces=(str(workdir / "traces"),), eval_share=0.3))
    assert set(train["episode_id"]).isdisjoint(held["episode_id"])
    assert counts["eval_episodes"] >= 1 and len(train) > 0 and len(held) > 0
    assert counts["train"] + counts["eval"] == counts.get("after_dedupe", counts["after_rules"])
    # the answer is the canonical action, and the prompt is the rendered turn
    msg = train[0]["messages"]
    assert [m["role"] for m in msg] == ["system", "user", "assistant"]
    assert json.loads(msg[-1]["content"])["orders"] is not None


def test_filters_keep_what_they_say(workdir):
    only = DataConfig(
        traces=(str(workdir / "traces"),), policies=("standin:hoarder",), creatures=("oona",), eval_share=0.0
    )
    train, _, counts = prepare(only)
    assert set(train["policy"]) == {"standin:hoarder"} and set(train["creature"]) == {"oona"}
    top = DataConfig(traces=(str(workdir / "traces"),), top_share=0.2, eval_share=0.0, dedupe=False)
    best, _, c = prepare(top)
    assert c["after_outcome"] <= int(c["after_rules"] * 0.2) + 5
    assert (
        min(best["wealth_change"])
        >= sorted(
            prepare(DataConfig(traces=(str(workdir / "traces"),), eval_share=0.0, dedupe=False))[0]["wealth_change"]
        )[-c["after_outcome"]]
    )


def test_relabel_answers_every_state_as_one_stand_in_would(workdir):
    from glade.env import standin
    from glade.tracejson import canonical

    cfg = DataConfig(traces=(str(workdir / "traces"),), relabel="balanced", eval_share=0.0, dedupe=False)
    train, _, counts = prepare(cfg)
    assert counts["after_rules"] == counts["traces"]  # the stand-in's answers are all valid
    assert set(train["policy"]) == {"standin:hoarder", "standin:panic_seller"}  # states of both councils ...
    balanced = standin.disposition("balanced")
    for row in train.select(range(0, len(train), 7)):  # ... each answered as the balanced stand-in would
        assert row["messages"][-1]["content"] == canonical(standin.act(json.loads(row["observation"]), balanced))
    own, _, _ = prepare(DataConfig(traces=(str(workdir / "traces"),), eval_share=0.0, dedupe=False))
    assert [m[-1]["content"] for m in own["messages"]] != [m[-1]["content"] for m in train["messages"]]


def test_a_tied_embedding_is_said_through_warn_and_only_there(workdir, tmp_path):
    # was glade.console.warning called from glade.train: the library printed, not the CLI
    from glade.train.sft import build_trainer

    lora = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "embed_tokens"]}
    recipe = load_train_recipe(recipe_file(workdir, tmp_path, lora=lora), FAST_SFT)
    train_rows, eval_rows, _ = prepare(recipe.data)
    said = []
    build_trainer(recipe, str(workdir / "base"), train_rows, eval_rows, str(tmp_path / "out"), warn=said.append)
    assert len(said) == 1 and said[0].startswith("lora.target_modules: embed_tokens shares its weights")
    with pytest.warns(UserWarning, match="embed_tokens shares its weights"):  # a library caller: a Python warning
        build_trainer(recipe, str(workdir / "base"), train_rows, eval_rows, str(tmp_path / "out2"))


def test_lora_loss_falls_and_every_lora_weight_changes(workdir, tmp_path):
    from glade.train.sft import build_trainer

    recipe = load_train_recipe(recipe_file(workdir, tmp_path), FAST_SFT + ["sft.max_steps=12"])
    train_rows, eval_rows, _ = prepare(recipe.data)
    trainer = build_trainer(recipe, str(workdir / "base"), train_rows, eval_rows, str(tmp_path / "out"))
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "lora_" in n}
    assert before, "no LoRA parameters found"
    trainer.train()
    after = dict(trainer.model.named_parameters())
    unchanged = [n for n, p in before.items() if torch.equal(p, after[n].detach())]
    assert unchanged == []
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3


def test_train_cli_writes_a_complete_checkpoint_and_merge_matches(workdir, tmp_path, capsys):
    path = recipe_file(workdir, tmp_path)
    assert main(["train", str(path), *FAST_SFT]) == 0
    [ckpt] = (tmp_path / "checkpoints").glob("lora__0__*")
    assert not list((tmp_path / "checkpoints").glob(".*partial"))
    meta = json.loads((ckpt / "meta.json").read_text())
    assert meta["kind"] == "lora" and meta["base_model"] == str(workdir / "base")
    assert meta["metrics"]["train_steps"] == 6 and "eval_loss" in meta["metrics"]
    assert {"valid_json_rate", "standin_agreement", "self_buy_rate"} <= set(meta["metrics"])
    assert len(meta["data_fingerprint"]) == 16 and meta["versions"]["trl"]
    assert (ckpt / "adapter_config.json").exists() and (ckpt / "recipe.yaml").exists()
    from datasets import load_dataset

    prepared = load_dataset(
        "parquet",
        data_files={"train": str(ckpt / "data" / "train.parquet"), "eval": str(ckpt / "data" / "eval.parquet")},
    )
    assert set(prepared["train"]["episode_id"]).isdisjoint(prepared["eval"]["episode_id"])
    assert len(prepared["train"]) == meta["data_counts"]["train"]
    assert meta["data_fingerprint"] in (ckpt / "data" / "README.md").read_text()
    assert "checkpoint:" in capsys.readouterr().out

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    assert main(["merge", str(ckpt)]) == 0
    merged = AutoModelForCausalLM.from_pretrained(str(ckpt) + "-merged")
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(workdir / "base"), str(ckpt)).eval()
    ids = torch.tensor([[5, 17, 42, 99, 3, 250, 7]])
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, adapted(ids).logits, atol=1e-5)
    assert json.loads((Path(str(ckpt) + "-merged") / "meta.json").read_text())["kind"] == "merged"


def test_the_same_recipe_trains_the_same_adapter_in_another_process(workdir, tmp_path):
    # the README's held-out figures are reproduced by rerunning the quickstart: nothing in the data
    # or the run may follow Python's per-process string hashing (set order) or this process's state
    runs = []
    for name in ("here", "there"):
        (tmp_path / name).mkdir()
        argv = ["train", str(recipe_file(workdir, tmp_path / name, eval={"states": 0})), *FAST_SFT, "eval.states=0"]
        if name == "here":
            assert main(argv) == 0
        else:  # another hash seed than this process's (unless the suite's is set to 7 too)
            env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads()), "PYTHONHASHSEED": "7"}
            done = subprocess.run([sys.executable, "-m", "glade.cli", *argv], env=env, capture_output=True, text=True)
            assert done.returncode == 0, done.stderr[-3000:]
        [ckpt] = (tmp_path / name / "checkpoints").glob("lora__0__*")
        meta = json.loads((ckpt / "meta.json").read_text())
        runs.append(((ckpt / "adapter_model.safetensors").read_bytes(), meta["data_fingerprint"], meta["metrics"]))
    (weights, fingerprint, metrics), (weights2, fingerprint2, metrics2) = runs
    assert fingerprint == fingerprint2 and metrics["train_loss"] == metrics2["train_loss"]
    assert weights == weights2


def test_heldout_traces_of_other_seeds_give_the_figures_and_the_targets(workdir, tmp_path):
    targets = {"valid_json_rate": ">= 0", "direction_agreement": ">= 1", "fall_talk_sell_rate": "<= 1"}
    eval_spec = {"traces": [str(workdir / "heldout")], "states": 4, "probe_states": 3, "targets": targets}
    path = recipe_file(workdir, tmp_path, eval=eval_spec)
    assert main(["train", str(path), *FAST_SFT[:-2], "eval.max_new_tokens=16"]) == 0
    [ckpt] = (tmp_path / "checkpoints").glob("lora__0__*")
    meta = json.loads((ckpt / "meta.json").read_text())
    assert meta["heldout"]["seeds"] == [50] and meta["heldout"]["traces"] == [str(workdir / "heldout")]
    metrics = meta["metrics"]
    assert metrics["heldout_states"] == 4 and 0 <= metrics["direction_agreement"] <= 1
    # the probe: states where talk says honey will fall and the panic_seller stand-in sells it
    assert metrics["fall_talk_states"] == 3 and metrics["fall_talk_sell_rate_standins"]["panic_seller"] == 1.0
    assert metrics["fall_talk_sell_rate_standins"]["hoarder"] < 1.0
    valid_json = meta["targets"]["valid_json_rate"]
    assert valid_json["met"] is True and valid_json["measured"] == metrics["valid_json_rate"]
    assert valid_json["shown"] is (None if valid_json["ci"] is None else True)  # >= 0: any interval shows it
    # a few steps of training agree with the stand-in on fewer than all 4 states (seeded: always so)
    assert meta["targets"]["direction_agreement"]["met"] is False
    assert meta["targets"]["fall_talk_sell_rate"]["met"] is True


def test_heldout_traces_that_share_a_training_seed_are_refused(workdir, tmp_path, capsys):
    path = recipe_file(workdir, tmp_path, eval={"traces": [str(workdir / "traces")]})
    assert main(["train", str(path), *FAST_SFT]) == 2
    assert "eval.traces: seed(s) 0, 1, 2, 3 are also in data.traces" in capsys.readouterr().err
    assert not list((tmp_path / "checkpoints").glob("lora__0__*"))


def killed_at(monkeypatch, step: int, *argv) -> None:
    """`glade train ARGV`, killed as the trainer ends step `step` (the CLI exits 130: interrupted)."""
    from transformers import TrainerCallback

    import glade.train.sft as sft

    class Die(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == step:
                raise KeyboardInterrupt

    real = sft.build_trainer

    def dying(*a, **kw):
        trainer = real(*a, **kw)
        trainer.add_callback(Die())
        return trainer

    with monkeypatch.context() as patch:
        patch.setattr(sft, "build_trainer", dying)
        assert main(["train", *argv]) == 130


def test_resume_after_an_interrupted_run(workdir, tmp_path, monkeypatch, capsys):
    path = recipe_file(workdir, tmp_path, eval={"states": 0})
    capsys.readouterr()
    killed_at(monkeypatch, 3, str(path), *FAST_SFT, "eval.states=0")  # the CLI's "interrupted"
    assert "interrupted; rerun with --resume to continue from the last trainer checkpoint" in capsys.readouterr().err
    partial = tmp_path / "checkpoints" / ".lora__0.partial"
    assert (partial / "trainer" / "checkpoint-2").is_dir()
    assert json.loads((partial / "started.json").read_text())["recipe"]["sft"]["max_steps"] == 6  # checked on resume
    assert not list((tmp_path / "checkpoints").glob("lora__0__*"))  # nothing incomplete is final
    # a rerun without --resume refuses rather than wiping the interrupted run
    assert main(["train", str(path), *FAST_SFT, "eval.states=0"]) == 2
    err = capsys.readouterr().err
    assert "an interrupted run of this recipe exists: rerun with --resume to continue it, or --restart" in err
    assert (partial / "trainer" / "checkpoint-2" / "trainer_state.json").exists()
    # each checkpoint keeps the training seconds up to it; a resumed run adds its own to them
    seconds = partial / "trainer" / "checkpoint-2" / "glade_train_seconds.json"
    assert 0 < json.loads(seconds.read_text())["seconds"] < 600
    seconds.write_text(json.dumps({"seconds": 1000.0}))  # as if the first two steps had taken that long
    # a save a kill cut short (no trainer_state.json, written last) is dropped, not resumed from
    cut = partial / "trainer" / "checkpoint-4"
    cut.mkdir()
    (cut / "adapter_model.safetensors").write_bytes(b"half")
    assert main(["train", str(path), *FAST_SFT, "eval.states=0", "--resume"]) == 0
    assert "dropping checkpoint-4: its save was cut short" in capsys.readouterr().err
    [ckpt] = (tmp_path / "checkpoints").glob("lora__0__*")
    meta = json.loads((ckpt / "meta.json").read_text())
    assert meta["metrics"]["train_steps"] == 6 and not (ckpt / "trained.json").exists()
    assert not list(ckpt.glob("*.bin"))  # no pickle: the TrainingArguments are in recipe.yaml
    assert 1000 < meta["train_seconds"] < 1600  # the steps before the interruption count too
    assert not (ckpt / "started.json").exists()  # the partial folder's record; recipe.yaml says it here
    assert not partial.exists()
    # --resume after the run finished names it instead of training again
    assert main(["train", str(path), *FAST_SFT, "eval.states=0", "--resume"]) == 0
    assert f"kept {ckpt}, finished from this same recipe; not trained again" in capsys.readouterr().err
    assert len(list((tmp_path / "checkpoints").glob("lora__0__*"))) == 1


def test_restart_discards_an_interrupted_run(workdir, tmp_path):
    path = recipe_file(workdir, tmp_path, eval={"states": 0})
    partial = tmp_path / "checkpoints" / ".lora__0.partial"
    (partial / "trainer" / "checkpoint-2").mkdir(parents=True)
    (partial / "trainer" / "checkpoint-2" / "stale").write_text("from an older run")
    assert main(["train", str(path), *FAST_SFT, "sft.max_steps=2", "eval.states=0", "--restart"]) == 0
    assert not partial.exists() and len(list((tmp_path / "checkpoints").glob("lora__0__*"))) == 1


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"sft": {"learning_rat": 0.1}}, r"sft.learning_rat: unknown SFTConfig field; did you mean learning_rate"),
        ({"lora": {"rank": 4}}, r"lora.rank: unknown LoraConfig field"),
        ({"data": {"traces": ["x"], "eval_shares": 0.1}}, r"data.eval_shares: unknown key"),
        ({"seed": "zero"}, r"seed: expected an integer, got 'zero'"),
        ({"sft": {"output_dir": "/tmp"}}, r"sft.output_dir: is set by glade"),
        # TRL's own refusal blames the chat template; glade's rows are prompt/completion pairs
        ({"sft": {"assistant_only_loss": True}}, r"sft.assistant_only_loss: glade trains prompt/completion rows"),
        ({"sft": {"bf16": "yes"}}, r"sft.bf16: expected true or false"),
        ({"model": {"base": "tiny"}, "lora": {"r": 4}}, r"lora: a freshly built tiny model must be trained in full"),
        ({"eval": {"targets": {"accuracy": ">= 0.9"}}}, r"eval.targets.accuracy: unknown metric"),
        ({"data": {"traces": ["x"], "relabel": "greedy"}}, r"data.relabel: unknown disposition 'greedy'"),
        ({"eval": {"targets": {"valid_action_rate": "0.95"}}}, r"eval.targets.valid_action_rate: '0.95': expected"),
    ],
)
def test_bad_recipes_name_the_key(workdir, tmp_path, changes, message):
    with pytest.raises(ConfigError, match=message):
        load_train_recipe(recipe_file(workdir, tmp_path, **changes))


def test_missing_traces_is_exit_2_and_writes_nothing(workdir, tmp_path, capsys):
    path = recipe_file(workdir, tmp_path, data={"traces": [str(tmp_path / "nowhere")]})
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert "data.traces[0]" in err and "glade generate" in err
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize("name", ["qwen2.5-0.5b-instruct-lora", "smollm2-360m-instruct-lora", "tiny-hoarder"])
def test_shipped_recipes_build_their_trainer_on_the_tiny_model(workdir, tmp_path, name):
    from glade.train.sft import build_trainer

    recipe = load_train_recipe(
        ROOT / "recipes" / "train" / f"{name}.yaml",
        [
            f"model.base={workdir / 'base'}",
            "model.dtype=float32",
            "sft.bf16=false",
            "sft.use_cpu=true",
            f"data.traces=[{workdir / 'traces'}]",
            "data.policies=[]",
        ],
    )
    train_rows, eval_rows, _ = prepare(recipe.data)
    trainer = build_trainer(recipe, str(workdir / "base"), train_rows, eval_rows, str(tmp_path / "out"))
    assert trainer.args.learning_rate == recipe.sft["learning_rate"]
    assert trainer.args.max_length == recipe.sft["max_length"]
    lora = trainer.model.peft_config["default"]
    assert lora.r == recipe.lora["r"] and set(lora.target_modules) == set(recipe.lora["target_modules"])


def test_validate_covers_every_recipe(capsys):
    assert main(["validate"]) in (0, 1)  # 1: well formed, waiting for traces or checkpoints an earlier step writes
    assert " 0 FAIL (malformed)" in capsys.readouterr().out


@pytest.mark.slow
def test_torchrun_two_cpu_processes(workdir, tmp_path):
    path = recipe_file(workdir, tmp_path, eval={"states": 0})
    torchrun = Path(sys.executable).parent / "torchrun"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "glade.cli", "train", str(path), *FAST_SFT]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    [ckpt] = (tmp_path / "checkpoints").glob("lora__0__*")
    assert json.loads((ckpt / "meta.json").read_text())["metrics"]["train_steps"] == 6
