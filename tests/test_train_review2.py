"""Second training review: held-out traces the data filters keep nothing of are refused before
training, by name; a negative eval.probe_states is refused; a resumed run's wall_seconds counts
the earlier runs' training; a target not measured says so; `glade calibrate --seed -1` names the
option; `glade lm-eval` refuses an interrupted training run's folder."""

import io
import json

import pytest
from rich.console import Console
from test_train import FAST_SFT, recipe_file, workdir  # noqa: F401  (workdir: the module's traces and base)

from glade.cli import main
from glade.config import ConfigError, Seeds
from glade.traces import GenerateRecipe, generate
from glade.train.recipe import load_train_recipe

SHORT = [*FAST_SFT[:-2], "sft.max_steps=2", "eval.states=4", "eval.max_new_tokens=8"]


@pytest.fixture(scope="module")
def balanced_heldout(workdir):  # noqa: F811
    """Held-out traces of one council of balanced stand-ins only: no hoarder decision in them."""
    folder = workdir / "heldout-balanced"
    if not folder.exists():
        generate(
            GenerateRecipe(
                out=str(folder),
                scenarios=("default",),
                councils={"balanced": {"*": "balanced"}},
                seeds=Seeds(start=70, count=1),
                turns=2,
            )
        )
    return folder


def test_held_out_traces_without_the_filtered_policy_are_refused_before_training(
    workdir,  # noqa: F811
    balanced_heldout,
    tmp_path,
    capsys,
):
    eval_spec = {"traces": [str(balanced_heldout)], "states": 4, "probe_states": 0}
    data = {"traces": [str(workdir / "traces")], "policies": ["standin:hoarder"]}
    path = recipe_file(workdir, tmp_path, data=data, eval=eval_spec)
    assert main(["train", str(path), *SHORT]) == 2
    err = capsys.readouterr().err
    # the old code trained, then failed on "Column 'observation' doesn't exist."
    assert "data.policies: standin:hoarder is in none of eval.traces" in err and "standin:balanced" in err
    assert not (tmp_path / "checkpoints").exists()


def test_no_held_out_state_left_is_a_named_error(workdir, balanced_heldout, tmp_path):  # noqa: F811
    from glade.train.data import DataConfig
    from glade.train.evaluate import evaluate_checkpoint
    from glade.train.recipe import EvalSpec

    spec = EvalSpec(traces=(str(balanced_heldout),), states=4, probe_states=0)
    cfg = DataConfig(traces=(str(workdir / "traces"),), creatures=("nobody",))
    with pytest.raises(ValueError, match="no held-out state is left under the recipe's data filters"):
        evaluate_checkpoint(tmp_path, None, spec, cfg)


def test_a_negative_probe_states_is_refused(workdir, tmp_path):  # noqa: F811
    path = recipe_file(workdir, tmp_path)
    with pytest.raises(ConfigError, match=r"eval.probe_states: must be at least 0, got -3"):
        load_train_recipe(path, ["eval.probe_states=-3"])


def test_a_resumed_run_counts_the_earlier_training_in_its_wall_seconds(workdir, tmp_path, monkeypatch, capsys):  # noqa: F811
    import glade.train.evaluate as evaluate

    path = recipe_file(workdir, tmp_path)

    def failing(*a, **kw):
        raise ValueError("the held-out traces went away")

    monkeypatch.setattr(evaluate, "evaluate_checkpoint", failing)
    assert main(["train", str(path), *SHORT]) == 2
    partial = tmp_path / "checkpoints" / ".lora__0.partial"
    record = json.loads((partial / "trained.json").read_text())
    record["train_seconds"] = 1000.0  # as if the training had taken that long, before the failure
    (partial / "trained.json").write_text(json.dumps(record))
    monkeypatch.setattr(evaluate, "evaluate_checkpoint", lambda *a, **kw: {})
    assert main(["train", str(path), *SHORT, "--resume"]) == 0
    capsys.readouterr()
    [ckpt] = (tmp_path / "checkpoints").glob("lora__0__*")
    meta = json.loads((ckpt / "meta.json").read_text())
    assert meta["train_seconds"] == 1000.0
    assert meta["wall_seconds"] >= meta["train_seconds"]  # the old code: this invocation's few seconds


def test_a_target_not_measured_says_so(tmp_path):
    from glade.cli.train import print_checkpoint

    interval = {"mean": 1.0, "ci": [0.4, 1.0], "n": 4, "note": "4 of 4 states"}
    meta = {
        "metrics": {
            "train_loss": 0.5,
            "train_steps": 2,
            "heldout_states": 4,
            "valid_action_rate": 1.0,
            "intervals": {"valid_action_rate": interval, "structured_valid_action_rate": interval},
        },
        "targets": {"fall_talk_sell_rate": {"target": "<= 0.2", "measured": None, "met": False}},
    }
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    buffer = io.StringIO()
    print_checkpoint(Console(file=buffer, width=120), tmp_path)
    assert "target fall_talk_sell_rate <= 0.2: NOT met (not measured)" in buffer.getvalue()


def test_calibrate_names_a_negative_seed(tmp_path, capsys):
    out = tmp_path / "fit.yaml"
    assert main(["calibrate", str(tmp_path / "nowhere"), "--policy", "p", "--out", str(out), "--seed", "-1"]) == 2
    err = capsys.readouterr().err
    assert "error: --seed: 0 or more, got -1" in err  # the old code: numpy's "expected non-negative integer"
    assert not out.exists()


def test_lm_eval_refuses_an_interrupted_training_run(tmp_path, capsys):
    partial = tmp_path / "checkpoints" / ".lora__0.partial"
    partial.mkdir(parents=True)
    (partial / "adapter_config.json").write_text("{}")  # training had finished: the adapter is saved
    (partial / "meta.json").write_text(json.dumps({"name": "lora", "kind": "lora", "base_model": str(tmp_path)}))
    assert main(["lm-eval", str(partial), "--limit", "1"]) == 2
    err = capsys.readouterr().err
    assert "an interrupted training run of lora (seed 0), not a checkpoint" in err and "--resume" in err
    assert not (partial / "lm_eval").exists()
