"""A training walk's findings (walk 3): a LoRA target LoRA cannot wrap refused before the data
is prepared, the train loss of a resumed run over the whole run, traces paths of the wrong kind
refused, targets over too few states for an interval said so, a target not measured said why,
what validate leaves to the run, the saved step of an interrupted run, the quickstart's publish
hint naming the kept folders, and lora.task_type held to CAUSAL_LM."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from test_train import killed_at, recipe_file, workdir  # noqa: F401  (workdir: the module's traces and base)

from glade.cli import main
from glade.config import ConfigError

WRAP = "Linear, Embedding, Conv1d/2d/3d, MultiheadAttention and transformers' Conv1D layers"


# --------------------------------------------------------------------------- 1: targets LoRA cannot wrap


def test_validate_refuses_a_target_lora_cannot_wrap_naming_what_it_can(workdir, tmp_path, capsys):  # noqa: F811
    path = str(recipe_file(workdir, tmp_path))
    can = "down_proj, embed_tokens, gate_proj, k_proj, o_proj, q_proj, up_proj, v_proj"
    cases = {
        "[self_attn]": f"lora.target_modules: 'self_attn' matches model.layers.0.self_attn, a Qwen2Attention, which "
        f"LoRA cannot wrap (it wraps {WRAP}): name the layers inside it instead (k_proj, o_proj, q_proj, v_proj); "
        f"the base's modules LoRA can wrap: {can}",
        "[q_proj, input_layernorm]": "lora.target_modules: 'input_layernorm' matches model.layers.0.input_layernorm, "
        f"a Qwen2RMSNorm, which LoRA cannot wrap (it wraps {WRAP}): leave it out; the base's modules LoRA can wrap: "
        f"{can}",
        "[q_proj, lm_head]": "lora.target_modules: 'lm_head' matches lm_head, the output head, whose adapter TRL's "
        f"SFTTrainer refuses (it never trains): leave it out; the base's modules LoRA can wrap: {can}",
        # the suggestion is drawn from the layers LoRA can wrap: not self_attn, which it would then refuse
        "[c_attn]": f"lora.target_modules: 'c_attn' is no module of the base model (its modules LoRA can wrap: {can})",
    }
    for targets, said in cases.items():
        assert main(["validate", "--kind", "train", path, f"lora.target_modules={targets}"]) == 2
        assert capsys.readouterr().out.splitlines()[0].endswith(said)
    assert main(["validate", "--kind", "train", path, "lora.target_modules=.*self_attn"]) == 2
    assert "'.*self_attn' matches model.layers.0.self_attn, a Qwen2Attention" in capsys.readouterr().out
    assert main(["validate", "--kind", "train", path, "lora.target_modules=[q_proj, embed_tokens]"]) == 0


def test_train_refuses_a_target_lora_cannot_wrap_before_preparing_data(workdir, tmp_path, capsys):  # noqa: F811
    path = recipe_file(workdir, tmp_path, lora={"r": 4, "target_modules": ["self_attn"]})
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert "lora.target_modules: 'self_attn' matches model.layers.0.self_attn, a Qwen2Attention" in err
    assert "data:" not in err and "Target module" not in err


def test_a_tied_embedding_target_is_a_glade_warning_not_peft_s(workdir):  # noqa: F811
    from transformers import AutoModelForCausalLM

    from glade.train.base_model import tied_embedding

    model = AutoModelForCausalLM.from_pretrained(workdir / "base")
    assert model.config.tie_word_embeddings
    said = tied_embedding(["q_proj", "embed_tokens"], model)
    assert said.startswith("lora.target_modules: embed_tokens shares its weights with the output head in this base")
    assert tied_embedding(["q_proj"], model) is None and tied_embedding("all-linear", model) is None


# --------------------------------------------------------------------------- 2: a resumed run's train loss


def test_a_resumed_run_reports_the_train_loss_of_the_whole_run(workdir, tmp_path, monkeypatch, capsys):  # noqa: F811
    fast = [
        "sft.max_steps=4",
        "sft.per_device_train_batch_size=2",
        "sft.logging_steps=10",  # no log before the interruption: the checkpoint must keep the loss anyway
        "sft.save_steps=2",
        "sft.learning_rate=0.01",
        "eval.states=0",
    ]
    whole = recipe_file(workdir, tmp_path, name="whole")
    assert main(["train", str(whole), *fast]) == 0
    cut = recipe_file(workdir, tmp_path, name="cut")
    killed_at(monkeypatch, 3, str(cut), *fast)
    err = capsys.readouterr().err
    assert "; it saved step 2, and the steps after it run again" in err
    assert main(["train", str(cut), *fast, "--resume"]) == 0
    [a] = (tmp_path / "checkpoints").glob("whole__0__*")
    [b] = (tmp_path / "checkpoints").glob("cut__0__*")
    ma, mb = (json.loads((f / "meta.json").read_text())["metrics"] for f in (a, b))
    assert mb["train_loss"] == pytest.approx(ma["train_loss"], rel=1e-5)
    assert "train_loss_steps" not in mb


def test_the_run_loss_counts_from_the_resume_step_and_says_how_many_steps_it_covers():
    from glade.train.interrupted import run_loss

    # a checkpoint an older glade saved at step 4 with no log: the log at 10 covers steps 5..10 only
    assert run_loss([{"step": 10, "loss": 2.0}], 9.0, [4]) == (2.0, 6)
    history = [{"step": 4, "loss": 1.0}, {"step": 10, "loss": 2.0}]
    assert run_loss(history, 9.0, [4]) == (pytest.approx((4 * 1.0 + 6 * 2.0) / 10), 10)


# --------------------------------------------------------------------------- 3: traces of the wrong kind


def test_a_traces_path_of_the_wrong_kind_fails_and_a_missing_one_needs(workdir, tmp_path, capsys):  # noqa: F811
    path = str(recipe_file(workdir, tmp_path))
    sim = tmp_path / "sim"
    sim.mkdir()
    (sim / "trace.parquet").write_bytes(b"")
    (sim / "summary.json").write_text("{}")
    other = tmp_path / "ckpts"
    (other / "a__0__1").mkdir(parents=True)
    (tmp_path / "empty").mkdir()
    cases = {
        str(sim): (
            2,
            f"'{sim}' is a `glade simulate` folder (trace.parquet: one episode), not a traces dataset: make "
            "one with `glade generate RECIPE` and name its out here",
        ),
        path: (
            2,
            f"'{path}' is a file, not a traces dataset: name the folder `glade generate` wrote (its recipe's out)",
        ),
        str(other): (2, f"'{other}' is not a traces dataset (no data/ folder; it holds a__0__1): name the folder"),
        str(tmp_path / "none"): (1, "has no data/ folder (write it with `glade generate`)"),
        str(tmp_path / "empty"): (1, "has no data/ folder (write it with `glade generate`)"),
    }
    for folder, (code, said) in cases.items():
        assert main(["validate", "--kind", "train", path, f"data.traces=[{folder}]"]) == code
        assert said in capsys.readouterr().out


# --------------------------------------------------------------------------- 4, 5: targets as printed


def test_a_target_over_too_few_states_for_an_interval_is_met_on_the_mean_only(tmp_path, capsys):
    from rich.console import Console

    from glade.cli.train import print_checkpoint, target_text

    t = {"target": "<= 0.01", "measured": 0.0, "met": True, "ci": None, "shown": None, "reaches": None}
    few = {"mean": 0.0, "n": 3, "note": "too few for an interval"}
    assert target_text(t, few) == "met on the mean (0.000; n 3, too few states for an interval)"
    assert target_text({**t, "met": False, "measured": 0.5}, few).startswith("NOT met on the mean (0.500; n 3")
    metrics = {
        "train_loss": 0.5,
        "train_steps": 1,
        "heldout_states": 3,
        "self_buy_rate": 0.0,
        "direction_agreement_hold_baseline": 0.6,
        "standin_agreement_hold_baseline": 0.6,
        "intervals": {
            "self_buy_rate": few,
            "direction_agreement_hold_baseline": few,
            "standin_agreement_hold_baseline": few,
            "direction_agreement_over_hold": {**few, "mean": -0.0},
            "standin_agreement_over_hold": few,
        },
    }
    (tmp_path / "meta.json").write_text(json.dumps({"metrics": metrics, "targets": {"self_buy_rate": t}}))
    con = Console(record=True, width=400)
    print_checkpoint(con, tmp_path)
    out = " ".join(con.export_text().split())
    assert "target self_buy_rate <= 0.01: met on the mean (0.000; n 3, too few states for an interval)" in out
    assert "95% intervals" not in out and "each interval is over" not in out
    assert "greedy; too few states for any interval" in out
    assert "-0.000" not in out and "direction +0.000 (n 3) unconstrained" in out


def test_a_target_not_measured_says_why(tmp_path):
    from rich.console import Console

    from glade.cli.train import print_targets
    from glade.train.evaluate import unmeasured

    spec = SimpleNamespace(traces=(), probe_states=48)
    assert unmeasured("fall_talk_sell_rate", spec) == "the fall-talk probe reads eval.traces, and the recipe names none"
    assert unmeasured("fall_talk_sell_rate", SimpleNamespace(traces=("x",), probe_states=0)) == "eval.probe_states is 0"
    assert unmeasured("fall_talk_sell_rate", SimpleNamespace(traces=("x",), probe_states=4)).startswith(
        "no state of eval.traces has talk of a fall"
    )
    t = {"target": "<= 0.2", "measured": None, "met": False, "ci": None, "why": unmeasured("fall_talk_sell_rate", spec)}
    con = Console(record=True, width=400)
    print_targets(con, {"targets": {"fall_talk_sell_rate": t}})
    assert (
        "target fall_talk_sell_rate <= 0.2: NOT met (not measured: the fall-talk probe reads eval.traces, and the "
        "recipe names none)" in con.export_text()
    )


def test_a_run_without_eval_traces_records_why_the_probe_target_was_not_measured(workdir, tmp_path):  # noqa: F811
    path = recipe_file(
        workdir, tmp_path, eval={"states": 2, "max_new_tokens": 4, "targets": {"fall_talk_sell_rate": "<= 0.2"}}
    )
    assert main(["train", str(path), "sft.max_steps=1", "sft.per_device_train_batch_size=2"]) == 0
    [ckpt] = (tmp_path / "checkpoints").glob("lora__0__*")
    target = json.loads((ckpt / "meta.json").read_text())["targets"]["fall_talk_sell_rate"]
    assert target["measured"] is None and target["why"].startswith("the fall-talk probe reads eval.traces")


# --------------------------------------------------------------------------- 6, 7


def test_validate_says_which_check_it_leaves_to_the_run(capsys):
    with pytest.raises(SystemExit):
        main(["validate", "--help"])
    said = " ".join(capsys.readouterr().out.split())
    assert "(a train recipe's sft.max_length against its rows) is left to the run" in said


def test_a_lora_task_type_other_than_causal_lm_is_refused(workdir, tmp_path):  # noqa: F811
    from glade.train.recipe import load_train_recipe

    path = recipe_file(workdir, tmp_path)
    with pytest.raises(ConfigError, match=r"lora.task_type: 'SEQ_CLS': glade trains causal language models .* leave"):
        load_train_recipe(path, ["lora.task_type=SEQ_CLS"])
    assert load_train_recipe(path, ["lora.task_type=CAUSAL_LM"]).lora["task_type"] == "CAUSAL_LM"


def test_the_quickstart_publish_hint_names_the_kept_folders(tmp_path, monkeypatch):
    from rich.console import Console

    import glade.hub.export
    from glade.cli.quickstart import steps

    kept = {"tiny-base": tmp_path / "tiny-base__0__1", "tiny-hoarder": tmp_path / "tiny-hoarder__0__2"}
    monkeypatch.setattr(steps, "kept_checkpoint", lambda name, args: kept.get(name, tmp_path / name))

    def export_checkpoint(folder, repo_id, out, **kwargs):
        out.mkdir(parents=True)
        return out

    monkeypatch.setattr(glade.hub.export, "export_checkpoint", export_checkpoint)
    monkeypatch.setattr("glade.train.recipe.shipped_recipe", lambda folder: None)
    con = Console(record=True, width=1000)
    steps.export_creatures(SimpleNamespace(train_base=True, out=str(tmp_path / "qs")), con)
    said = con.export_text()
    assert f"export {kept['tiny-base']} --repo-id YOU/tiny-base" in said
    assert f"export {kept['tiny-hoarder']} --repo-id YOU/tiny-hoarder" in said and "latest:" not in said
