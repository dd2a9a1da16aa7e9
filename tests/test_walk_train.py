"""Bad train recipes a walk through `glade train` / `glade validate` let through to tracebacks or
silent misbehaviour, each now one named error before training starts: a sft.max_length inside every
row's prompt, a sft.report_to integration whose package is not installed, an eval target outside
0..1, and a --resume with no interrupted run (of a recipe changed since its checkpoint)."""

import importlib.util

import pytest
import yaml

from glade.cli import main
from glade.traces import GenerateRecipe, generate
from glade.train import evaluate
from glade.train.tiny import save_tiny


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Small stand-in traces and a tiny random base, shared by the module."""
    root = tmp_path_factory.mktemp("walk-train")
    generate(
        GenerateRecipe(
            out=str(root / "traces"), scenarios=("default",), councils={"hoarders": {"*": "hoarder"}}, turns=3, worlds=4
        )
    )
    save_tiny(root / "base")
    return root


def recipe_file(root, tmp_path, **changes):
    data = {
        "name": "walk",
        "output_root": str(tmp_path / "checkpoints"),
        "model": {"base": str(root / "base")},
        "data": {"traces": [str(root / "traces")], "eval_share": 0.25},
        "lora": {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]},
        "sft": {
            "bf16": False,
            "use_cpu": True,
            "activation_checkpointing": False,
            "report_to": "none",
            "max_length": 1024,
            "max_steps": 2,
            "per_device_train_batch_size": 2,
            "logging_steps": 1,
            "save_steps": 100,
        },
        "eval": {"states": 2, "max_new_tokens": 8},
        **changes,
    }
    path = tmp_path / "walk.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1]


def test_a_max_length_inside_every_prompt_is_named_before_training(workdir, tmp_path, capsys):
    # was: the trainer's sampler died with "num_samples should be a positive integer value, but got num_samples=0"
    path = recipe_file(workdir, tmp_path)
    assert main(["train", str(path), "sft.max_length=10"]) == 2
    line = error_line(capsys)
    assert line.startswith(f"error: {path} with sft.max_length=10: sft.max_length: 10 drops every training row")
    assert "the rows are " in line and "raise sft.max_length to at least " in line and "num_samples" not in line
    assert not (tmp_path / "checkpoints").exists()  # nothing trained, nothing left behind


@pytest.fixture
def missing(monkeypatch):
    """`find_spec` as on a machine without these modules (whatever this one has installed)."""
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name in ("wandb", "tensorboard", "tensorboardX") else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


@pytest.mark.parametrize(
    ("report_to", "package"), [("wandb", "wandb"), (["none", "tensorboard"], "tensorboard")]
)  # fmt: skip
def test_a_report_to_without_its_package_fails_validate_and_train(tmp_path, capsys, missing, report_to, package):
    # was: validate said ok, and train died in SFTTrainer with a RuntimeError traceback
    path = recipe_file(tmp_path, tmp_path)
    data = yaml.safe_load(path.read_text())
    data["sft"]["report_to"] = report_to
    path.write_text(yaml.safe_dump(data))
    said = (
        f"sft.report_to: {package} needs the {package} package, which is not installed: pip install {package}, "
        "or drop sft.report_to"
    )
    assert main(["validate", str(path), "--kind", "train"]) == 2
    assert f"FAIL   {path}: {said}" in capsys.readouterr().out
    assert main(["train", str(path)]) == 2
    assert error_line(capsys).startswith(f"error: {path}: {said}")


def test_a_report_to_with_its_package_installed_passes(tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: object() if name == "wandb" else real(name))
    path = recipe_file(tmp_path, tmp_path, data={"traces": [str(tmp_path / "nowhere")]})
    data = yaml.safe_load(path.read_text())
    data["sft"]["report_to"] = "wandb"
    path.write_text(yaml.safe_dump(data))
    assert main(["validate", str(path), "--kind", "train"]) == 1  # NEEDS its traces, and nothing else
    assert "sft.report_to" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("target", "said"),
    [
        (">= 85", "'>= 85': the figures are rates, so the target must be between 0 and 1 (for 85%, write '>= 0.85')"),
        ("<= -0.1", "'<= -0.1': the figures are rates, so the target must be between 0 and 1"),
        ("<= 1.5", "'<= 1.5': the figures are rates, so the target must be between 0 and 1 (for 1.5%, write '<= 0.015')"),
        (">= nan", "'>= nan': the figures are rates, so the target must be between 0 and 1"),
    ],
)  # fmt: skip
def test_an_eval_target_outside_0_to_1_is_named(tmp_path, capsys, target, said):
    # was: accepted, and the target could never be met (or always was)
    path = recipe_file(tmp_path, tmp_path, eval={"states": 2, "targets": {"direction_agreement": target}})
    assert main(["validate", str(path), "--kind", "train"]) == 2
    assert f"FAIL   {path}: eval.targets.direction_agreement: {said}" in capsys.readouterr().out


def test_eval_targets_at_the_ends_of_0_to_1_are_kept():
    assert evaluate.parse_target(">= 1") == (">=", 1.0)
    assert evaluate.parse_target("<= 0") == ("<=", 0.0)


def test_resume_with_nothing_to_resume_says_so_and_refuses_a_changed_recipe(workdir, tmp_path, capsys):
    # was: --resume with no interrupted run trained the changed recipe from scratch, said only in passing
    path = recipe_file(workdir, tmp_path)
    assert main(["train", str(path), "--resume"]) == 0  # nothing at all to resume: said first, then it trains
    err = capsys.readouterr().err
    assert err.lstrip().startswith("walk (seed 0): no earlier run of this recipe; training from the beginning")
    assert "starting from the beginning" not in err  # said once
    [done] = (tmp_path / "checkpoints").iterdir()
    assert main(["train", str(path), "--resume"]) == 0  # the same recipe: it had finished
    assert f"walk (seed 0): kept {done}, finished from this same recipe; not trained again" in capsys.readouterr().err
    assert main(["train", str(path), "sft.max_steps=3", "--resume"]) == 2  # changed: refused, nothing trained
    assert error_line(capsys) == (
        f"error: --resume: no interrupted run of walk (seed 0) to continue, and its newest checkpoint ({done}) was "
        "trained from another recipe (sft.max_steps: 2 -> 3): rerun without --resume to train this recipe from the "
        "beginning, or, to train on from that checkpoint, make it the model.base of a new name"
    )
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == [done.name]


@pytest.mark.parametrize("files", [(), ("config.json",)])
def test_a_base_folder_without_a_model_is_named_by_validate_and_train(workdir, tmp_path, capsys, files):
    # before, validate said ok and train died on the loader's "Couldn't instantiate the backend tokenizer"
    base = tmp_path / "not-a-model"
    base.mkdir()
    for name in files:
        (base / name).write_text("{}")
    path = recipe_file(workdir, tmp_path, model={"base": str(base)})
    problem = "is not a model folder (no config.json)" if not files else "has no tokenizer (tokenizer.json or"
    assert main(["validate", "--kind", "train", str(path)]) == 2
    assert f"model.base: '{base}' {problem}" in capsys.readouterr().out
    assert main(["train", str(path)]) == 2
    assert error_line(capsys).startswith(f"error: {path}: model.base: '{base}' {problem}")
    assert not (tmp_path / "checkpoints").exists()
