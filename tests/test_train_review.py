"""Training review fixes: a failure after training keeps the trained model for --resume; the
held-out figures print with their n and 95% interval; meta.json records what the traces held
(scenario hashes, seeds); bad bases, LoRA target modules and enum values named by key, before
training; a status line on stderr before the slow recipe check."""

import json

import pytest
from test_train import FAST_SFT, recipe_file, workdir  # noqa: F401  (workdir: the module's traces and base)

from glade.cli import main
from glade.config import ConfigError
from glade.train.recipe import load_train_recipe

SHORT = [*FAST_SFT[:-2], "sft.max_steps=2", "eval.states=4", "eval.max_new_tokens=8"]


def test_a_failure_after_training_keeps_the_model_and_resume_writes_it(workdir, tmp_path, monkeypatch, capsys):  # noqa: F811
    import glade.train.evaluate as evaluate

    eval_spec = {"traces": [str(workdir / "heldout")], "states": 4, "probe_states": 2}
    path = recipe_file(workdir, tmp_path, eval=eval_spec)
    real = evaluate.evaluate_checkpoint

    def failing(*a, **kw):
        raise ValueError("the held-out traces went away")

    monkeypatch.setattr(evaluate, "evaluate_checkpoint", failing)
    capsys.readouterr()
    assert main(["train", str(path), *SHORT]) == 2
    err = capsys.readouterr().err
    partial = tmp_path / "checkpoints" / ".lora__0.partial"
    assert "the held-out traces went away; training finished and is kept in" in err and "--resume" in err
    assert (partial / "trained.json").exists()  # the old code removed the whole folder
    monkeypatch.setattr(evaluate, "evaluate_checkpoint", real)
    assert main(["train", str(path), *SHORT, "--resume"]) == 0
    out = capsys.readouterr()
    assert "training had finished; writing the checkpoint" in out.err
    [ckpt] = (tmp_path / "checkpoints").glob("lora__0__*")
    meta = json.loads((ckpt / "meta.json").read_text())
    # what the traces held: each folder's scenario hashes and seeds
    [data] = meta["traces"]["data"]
    [held] = meta["traces"]["eval"]
    assert set(data["scenario_hashes"]) == {"default"} and len(data["scenario_hashes"]["default"]) == 16
    assert held["seeds"] == [50] and set(held["scenario_hashes"]) == {"gambit_rumour"}
    assert data["episodes"] == 8 and data["protocol_versions"]
    # every held-out figure has its n and interval; too few states for one says so
    intervals = meta["metrics"]["intervals"]
    assert intervals["valid_action_rate"]["n"] == 4 and intervals["structured_self_buy_rate"]["n"] == 4
    assert intervals["fall_talk_sell_rate"]["n"] == 2 and intervals["fall_talk_sell_rate"]["ci"] is None
    assert 0 <= meta["metrics"]["cut_off_rate"] <= 1
    table = out.out
    assert "held-out states (4 of seeds 50), greedy; 95% intervals" in table
    line = next(x for x in table.splitlines() if x.startswith("valid actions"))
    assert line.split()[-1] == "4" and "[" in line  # n states, and an exact interval at n 4
    assert "sells under fall talk" in table and "(n 2)" in table  # too few for an interval
    assert "{'panic_seller'" not in table  # the stand-ins' rates are formatted, not a dict's repr


def test_a_lora_checkpoint_as_base_is_refused_before_training(workdir, tmp_path, capsys):  # noqa: F811
    adapter = tmp_path / "checkpoints" / "other__0__20260101-000000"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / "meta.json").write_text(json.dumps({"name": "other", "kind": "lora", "base_model": "/some/base"}))
    path = recipe_file(workdir, tmp_path, model={"base": "latest:other"})
    assert main(["train", str(path), *SHORT]) == 2
    err = capsys.readouterr().err
    assert "model.base: 'latest:other' is a LoRA adapter" in err and "glade merge latest:other" in err
    assert "/some/base" in err and "data:" not in err  # refused before the data loads
    assert not list((tmp_path / "checkpoints").glob(".*"))


def test_a_misspelt_lora_target_module_is_named(workdir, tmp_path, capsys):  # noqa: F811
    path = recipe_file(workdir, tmp_path)
    assert main(["train", str(path), *SHORT, "lora.target_modules=[q_proj, v_prj]"]) == 2
    err = capsys.readouterr().err
    assert (
        "lora.target_modules: 'v_prj' is no module of the base model (its modules LoRA can wrap: " in err
        and "; did you mean v_proj?" in err
    )
    assert not (tmp_path / "checkpoints").exists()


def test_a_base_that_does_not_load_is_named(workdir, tmp_path, capsys):  # noqa: F811
    path = recipe_file(workdir, tmp_path, model={"base": "nobody-here/no-model"})
    assert main(["train", str(path), *SHORT]) == 2
    err = capsys.readouterr().err
    assert "model.base: 'nobody-here/no-model': not in the Hugging Face cache" in err and "hf download" in err


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "sft.lr_scheduler_type=cosin",
            r"sft.lr_scheduler_type: unknown value 'cosin' \(known: .*\); did you mean cosine\?$",
        ),
        ("sft.save_strategy=step", r"sft.save_strategy: unknown value 'step' \(known: .*\); did you mean steps\?$"),
    ],
)
def test_an_unknown_enum_value_is_named_by_key(workdir, tmp_path, override, message):  # noqa: F811
    with pytest.raises(ConfigError, match=message):
        load_train_recipe(recipe_file(workdir, tmp_path), [override])


def test_a_status_line_shows_during_the_slow_recipe_check_on_a_terminal(tmp_path, capsys, monkeypatch):
    path = tmp_path / "r.yaml"
    path.write_text("name: x\n")
    assert main(["train", str(path)]) == 2
    assert capsys.readouterr().err.startswith("error: ")  # off a terminal: the one error line, nothing else
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich takes stderr for a terminal
    assert main(["train", str(path)]) == 2
    assert "checking the recipe (loading TRL and PEFT)" in capsys.readouterr().err


def test_the_cut_off_rate_counts_the_answers_the_token_budget_ended():
    from glade.env import parallel_env, standin
    from glade.seats.base import CUT_OFF, Decision
    from glade.train.evaluate import per_state

    observations = list(parallel_env("default", turns=4).reset(seed=3)[0].values())[:4]
    reference = [json.dumps(standin.act(o, standin.disposition("balanced"))) for o in observations]
    targets = [standin.act(o, standin.disposition("balanced")) for o in observations]
    answered = [
        Decision(action={"orders": []}, error=CUT_OFF),
        Decision(action={"orders": []}, error="bad_json"),
        Decision(action=targets[2]),
        Decision(action={"orders": []}, error=CUT_OFF),
    ]
    values = per_state(answered, observations, targets, reference)
    assert values["cut_off_rate"] == [1.0, 0.0, 0.0, 1.0]  # a parse fault is not a cut-off
    assert values["valid_action_rate"][2] == 1.0
