"""Tests written by the mutation audit of test_pinned_train_recipe.py, for the run's bookkeeping
(glade.train.sft): what meta.json says of a run on a freshly built tiny model, which trainer
checkpoint a resume starts from, what a resumed run may change, the mean training loss, and which
folders a failed run leaves. One tiny run of two steps; the rest calls the functions directly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import glade.train.data as data
import glade.train.interrupted as interrupted
import glade.train.sft as sft
from glade.checkpoint import STARTED
from glade.train.data import DataConfig
from glade.train.recipe import ModelSpec, TinyModel, TrainRecipe, load_train_recipe

TINY = {"hidden_size": 32, "layers": 2, "heads": 2, "kv_heads": 1, "vocab_size": 600}
SFT = {
    "max_steps": 2,
    "per_device_train_batch_size": 2,
    "logging_steps": 1,
    "save_steps": 1,
    "bf16": False,
    "use_cpu": True,
    "activation_checkpointing": False,
    "report_to": "none",
    "max_length": 1024,  # rows of a 600-token vocabulary reach about 600 tokens: none is cut
}


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    from glade.config import Seeds
    from glade.traces import GenerateRecipe, generate

    out = tmp_path_factory.mktemp("audit13") / "traces"
    councils = {"h": {"oona": "hoarder", "*": "speculator"}}
    generate(GenerateRecipe(out=str(out), scenarios=("default",), councils=councils, seeds=Seeds(0, 4), turns=2))
    return str(out)


def recipe_at(tmp_path, traces, **changes) -> Path:
    data = {
        "name": "t",
        "output_root": str(tmp_path / "checkpoints"),
        "model": {"base": "tiny", "tiny": TINY},
        "data": {"traces": [traces], "eval_share": 0.5},
        "eval": {"states": 0},
        "sft": SFT,
        **changes,
    }
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def finished(traces, tmp_path_factory):
    """A two-step run on a tiny model built for it (its rows held out in part, eval.states 0)."""
    tmp = tmp_path_factory.mktemp("run")
    recipe = load_train_recipe(recipe_at(tmp, traces))
    return recipe, sft.train(recipe, log=lambda line: None)


def test_a_tiny_run_writes_a_full_checkpoint_of_the_recipes_sizes(finished):
    # guards meta's kind / base_model / base_model_given for a tiny base, build_tiny's use of the
    # recipe's model.tiny (layers, vocab_size), and the partial folder's records and init/ removed
    recipe, ckpt = finished
    meta = json.loads((ckpt / "meta.json").read_text())
    assert meta["kind"] == "full" and meta["base_model"] is None
    assert meta["base_model_given"] == "tiny (built locally from the training data)"
    config = json.loads((ckpt / "config.json").read_text())
    assert config["num_hidden_layers"] == 2 and config["vocab_size"] == 600
    left = sorted(p.name for p in ckpt.iterdir())
    assert not {"init", "README.md", "started.json", "trained.json", "trainer", "training_args.bin"} & set(left)
    assert ckpt.name.startswith("t__0__") and not list(ckpt.parent.glob(".*"))


def test_eval_states_0_takes_the_eval_loss_but_no_held_out_figures(finished):
    # guards `... and recipe.eval.states`: states 0 asks for no generation; held-out rows still give eval_loss
    recipe, ckpt = finished
    meta = json.loads((ckpt / "meta.json").read_text())
    assert meta["data_counts"]["eval"] > 0 and "eval_loss" in meta["metrics"]
    assert "valid_json_rate" not in meta["metrics"] and "heldout_states" not in meta["metrics"]
    assert meta["metrics"]["train_steps"] == 2
    # the seconds to a tenth (a float), the wall time never less than the training time
    assert isinstance(meta["train_seconds"], float) and meta["wall_seconds"] >= meta["train_seconds"]


def test_a_finished_run_is_found_only_for_exactly_its_recipe(finished):
    # guards finished_run's comparison with the checkpoint's recipe.yaml (`--resume` after a run ends)
    recipe, ckpt = finished
    assert interrupted.finished_run(recipe) == ckpt
    other = load_train_recipe(ckpt / "recipe.yaml", ["sft.learning_rate=0.5"])
    assert interrupted.finished_run(other) is None
    (ckpt / "recipe.yaml").rename(ckpt / "recipe.yaml.away")
    try:
        assert interrupted.finished_run(recipe) is None  # no recipe.yaml: nothing says what it trained
    finally:
        (ckpt / "recipe.yaml.away").rename(ckpt / "recipe.yaml")


def test_another_seeds_newer_run_leaves_this_seeds_finished_run_found(finished):
    # guards latest's `seed`: --resume (and the quickstart's train steps, which always resume)
    # took the newest run of ANY seed, found its recipe differed (seed: 1 -> 0) and refused
    import shutil

    import yaml

    recipe, ckpt = finished
    newer = ckpt.parent / "t__1__99991231-235959"  # a seed-1 run of the same recipe, finished later
    shutil.copytree(ckpt, newer)
    try:
        plain = yaml.safe_load((newer / "recipe.yaml").read_text()) | {"seed": 1}
        (newer / "recipe.yaml").write_text(yaml.safe_dump(plain))
        assert interrupted.finished_run(recipe) == ckpt
        assert interrupted.finished_run(load_train_recipe(newer / "recipe.yaml")) == newer
        seed_2 = load_train_recipe(ckpt / "recipe.yaml", ["seed=2"])
        assert (
            interrupted.nothing_to_resume(seed_2)
            == "t (seed 2): no earlier run of this recipe; training from the beginning"
        )
    finally:
        shutil.rmtree(newer)


def test_build_tiny_seeds_the_weights_with_the_recipes_seed(tmp_path):
    # guards build_tiny's `seed=recipe.seed`
    from safetensors.torch import load_file

    rows = {"messages": [[{"role": "user", "content": "hello honey"}, {"role": "assistant", "content": "{}"}]]}
    weights = []
    for seed in (0, 0, 1):
        recipe = TrainRecipe("t", ModelSpec("tiny", tiny=TinyModel(16, 1, 2, 1, 400)), DataConfig(("x",)), seed=seed)
        folder = tmp_path / f"init{len(weights)}"
        sft.build_tiny(recipe, rows, folder)
        weights.append(load_file(str(folder / "model.safetensors"))["model.embed_tokens.weight"])
    assert (weights[0] == weights[1]).all() and not (weights[0] == weights[2]).all()


# --------------------------------------------------------------------------- resume


def trainer_checkpoints(trainer: Path, states: dict) -> None:
    for step, state in states.items():
        (trainer / f"checkpoint-{step}").mkdir(parents=True)
        if state is not None:
            (trainer / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps(state))


def test_the_newest_checkpoint_is_by_step_number_not_by_name(tmp_path):
    # guards last_checkpoint's numeric sort (checkpoint-10 is newer than 9) and its `p.is_dir()`
    trainer_checkpoints(tmp_path, {9: {"global_step": 9, "max_steps": 20}, 10: {"global_step": 10, "max_steps": 20}})
    (tmp_path / "checkpoint-12").write_text("a file, not a checkpoint folder: not named, not removed")
    said = []
    assert interrupted.last_checkpoint(tmp_path, said.append) == str(tmp_path / "checkpoint-10")
    assert said == [] and (tmp_path / "checkpoint-12").is_file()


def test_a_checkpoint_of_a_run_by_epochs_is_resumed_from(tmp_path):
    # guards `state.get("max_steps", 0) > 0`: a state without max_steps is no final step
    trainer_checkpoints(tmp_path, {3: {"global_step": 3}})
    assert interrupted.last_checkpoint(tmp_path, lambda line: None) == str(tmp_path / "checkpoint-3")


def test_a_checkpoint_cut_short_is_removed_and_an_older_one_used(tmp_path):
    # guards last_checkpoint's removal of a save a kill cut short, newest first
    trainer_checkpoints(
        tmp_path, {2: {"global_step": 2, "max_steps": 6}, 4: {"global_step": 4, "max_steps": 6}, 5: None}
    )
    said = []
    assert interrupted.last_checkpoint(tmp_path, said.append) == str(tmp_path / "checkpoint-4")
    assert said == ["dropping checkpoint-5: its save was cut short"] and not (tmp_path / "checkpoint-5").exists()


def recipe(base="org/model", **changes) -> TrainRecipe:
    fields = {"name": "t", "model": ModelSpec(base), "data": DataConfig(("x",)), **changes}
    return TrainRecipe(**fields)


def started(work: Path, r: TrainRecipe, source="t.yaml") -> Path:
    work.mkdir(parents=True, exist_ok=True)
    (work / STARTED).write_text(json.dumps(interrupted.run_record(r, source)))
    return work


@pytest.mark.parametrize(
    "changes",
    [
        {"output_root": "elsewhere", "sft": {"learning_rate": 0.1}},
        {"sft": {"learning_rate": 0.1, "max_steps": 99}},
        {"sft": {"learning_rate": 0.1, "dataloader_num_workers": 2}},
    ],
)
def test_a_resume_may_move_the_output_root_and_run_longer(tmp_path, changes):
    # guards RESUMABLE and RESUMABLE_SFT: these keys do not decide what the checkpoints hold
    work = started(tmp_path / "w", recipe(sft={"learning_rate": 0.1}))
    assert interrupted.check_resumable(recipe(**changes), work, "t.yaml") is True


def test_a_resume_that_changes_the_weights_is_refused_and_pins_the_base_only_when_it_moved(tmp_path):
    # guards _decisive's sft filter and check_resumable's pin (named only when the base differs)
    work = started(tmp_path / "w", recipe(sft={"learning_rate": 0.1}))
    with pytest.raises(ValueError, match=r"sft.learning_rate") as exc:
        interrupted.check_resumable(recipe(sft={"learning_rate": 0.2}), work, "t.yaml")
    assert "its base was" not in str(exc.value) and "(it was started as: t.yaml)" in str(exc.value)
    with pytest.raises(ValueError, match=r"its base was org/model: resume with model.base=org/model"):
        interrupted.check_resumable(recipe(base="org/other", sft={"learning_rate": 0.1}), work, "t.yaml")


def test_a_partial_folder_without_its_record_cannot_be_checked(tmp_path):
    # guards check_resumable's False for a folder from before the record
    (tmp_path / "w").mkdir()
    assert interrupted.check_resumable(recipe(sft={"learning_rate": 0.2}), tmp_path / "w", None) is False


def test_the_record_holds_the_base_folder_it_resolved(tmp_path, monkeypatch):
    # guards run_record's base: a relative folder is recorded as the absolute one it names
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base").mkdir()
    assert interrupted.run_record(recipe(base="base"), None)["recipe"]["model"]["base"] == str(tmp_path / "base")
    assert interrupted.run_record(recipe(base="org/model"), None)["recipe"]["model"]["base"] == "org/model"


def test_the_run_loss_weights_each_logged_loss_by_the_steps_it_covers():
    # guards _run_loss: sum(loss * steps since the last log) / last step, the fallback when nothing logged
    history = [{"step": 2, "loss": 1.0}, {"step": 6, "loss": 3.0}, {"step": 6, "eval_loss": 9.0}]
    assert sft.run_loss(history, 0.0)[0] == pytest.approx((2 * 1.0 + 4 * 3.0) / 6)
    assert sft.run_loss([{"step": 1, "eval_loss": 2.0}], 0.5) == (0.5, None)


# --------------------------------------------------------------------------- failures


def failing(monkeypatch, make=(), exc=None):
    """sft._train replaced by one that writes `make` (paths under the partial folder) and raises."""
    trained = json.dumps({"metrics": {"train_loss": 1.0, "train_steps": 1}, "train_seconds": 1.0})  # as _fit writes

    def fail(recipe, work, *args):
        work.mkdir(parents=True, exist_ok=True)
        for name in make:
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            (work / name).write_text(trained if name == sft.TRAINED else "{}")
        raise exc or ValueError("boom")

    monkeypatch.setattr(sft, "_train", fail)


def test_a_failure_keeps_a_partial_folder_with_a_trainer_checkpoint(tmp_path, traces, monkeypatch):
    # guards holds_progress's trainer checkpoints: a failed run keeps the steps it saved
    r = load_train_recipe(recipe_at(tmp_path, traces))
    failing(monkeypatch, ["trainer/checkpoint-2/trainer_state.json"])
    with pytest.raises(ValueError, match="boom"):
        sft.train(r)
    assert (interrupted.partial_dir(r) / "trainer" / "checkpoint-2").is_dir()


def test_a_failure_removes_only_the_folders_this_run_made(tmp_path, traces, monkeypatch):
    # guards `work in made` and `output_root in made`: an existing (empty) output root and an
    # interrupted run's folder resumed are not this run's to remove
    r = load_train_recipe(recipe_at(tmp_path, traces))
    Path(r.output_root).mkdir()
    failing(monkeypatch)
    with pytest.raises(ValueError, match="boom"):
        sft.train(r)
    assert Path(r.output_root).is_dir() and not interrupted.partial_dir(r).exists()
    started(interrupted.partial_dir(r), r)
    with pytest.raises(ValueError, match="boom"):
        sft.train(r, resume=True, log=lambda line: None)
    assert (interrupted.partial_dir(r) / STARTED).exists()


def test_only_a_value_or_os_error_after_training_is_retold_as_kept(tmp_path, traces, monkeypatch):
    # guards `isinstance(exc, (ValueError, OSError))`: another error (a bug) propagates as itself
    r = load_train_recipe(recipe_at(tmp_path, traces))
    failing(monkeypatch, [sft.TRAINED], RuntimeError("a bug"))
    with pytest.raises(RuntimeError, match="a bug"):
        sft.train(r)
    failing(monkeypatch, [sft.TRAINED], OSError("disk full"))
    with pytest.raises(ValueError, match=r"disk full; training finished and is kept in .*--resume"):
        sft.train(r, resume=True, log=lambda line: None)


def test_resume_continues_an_interrupted_run_even_when_one_had_finished(finished, monkeypatch):
    # guards `resume and not work.exists()`: a partial folder is resumed, not answered by an older
    # finished run; and a finished run is returned on rank 0 only
    recipe, ckpt = finished
    assert sft.train(recipe, resume=True, log=lambda line: None) == ckpt
    monkeypatch.setenv("RANK", "1")
    assert sft.train(recipe, resume=True, log=lambda line: None) is None
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setattr(sft, "_train", lambda recipe, work, *args: work / "resumed")
    work = started(interrupted.partial_dir(recipe), recipe)
    try:
        assert sft.train(recipe, resume=True, log=lambda line: None) == work / "resumed"
    finally:
        (work / STARTED).unlink()
        work.rmdir()


def test_the_prompt_is_every_message_but_the_last(tmp_path):
    # guards to_prompt_completion's split: the system card stays in the prompt
    messages = [{"role": r, "content": r} for r in ("system", "user", "assistant")]
    assert data.to_prompt_completion({"messages": messages}) == {"prompt": messages[:2], "completion": messages[2:]}


def test_build_tiny_keeps_a_model_it_built_before(tmp_path):
    # guards build_tiny's `if not config.json exists`: a resumed run trains on the model it started from
    rows = {"messages": [[{"role": "user", "content": "hello honey"}, {"role": "assistant", "content": "{}"}]]}
    recipe = TrainRecipe("t", ModelSpec("tiny", tiny=TinyModel(16, 1, 2, 1, 400)), DataConfig(("x",)))
    sft.build_tiny(recipe, rows, tmp_path / "init")
    (tmp_path / "init" / "marker").write_text("kept")
    sft.build_tiny(recipe, rows, tmp_path / "init")
    assert (tmp_path / "init" / "marker").read_text() == "kept"


def test_a_resume_keeps_the_record_of_how_the_run_was_started(tmp_path, traces, monkeypatch):
    # guards `not (work / STARTED).exists()`: the record is written once, at the first start
    r = load_train_recipe(recipe_at(tmp_path, traces))
    work = started(interrupted.partial_dir(r), r, source="first.yaml")

    def stop(data):
        raise ValueError("stop")

    monkeypatch.setattr(sft, "prepare", stop)
    with pytest.raises(ValueError, match="stop"):
        sft.train(r, source="second.yaml", resume=True, log=lambda line: None)
    assert json.loads((work / STARTED).read_text())["source"] == "first.yaml"


def test_the_held_out_seeds_move_from_the_metrics_to_heldout(tmp_path, traces, monkeypatch):
    # guards meta's `pop("heldout_seeds")`: the seeds are said once, under heldout, not as a metric
    from glade.config import Seeds
    from glade.traces import GenerateRecipe, generate
    from glade.train import evaluate

    councils = {"h": {"oona": "hoarder", "*": "speculator"}}
    heldout = str(tmp_path / "heldout")
    generate(GenerateRecipe(out=heldout, scenarios=("default",), councils=councils, seeds=Seeds(50, 1), turns=2))
    r = load_train_recipe(recipe_at(tmp_path, traces, eval={"states": 2, "traces": [heldout]}))
    monkeypatch.setattr(sft, "_fit", lambda *a: ({"train_loss": 1.0, "train_steps": 2}, 1.0, 0.0))
    monkeypatch.setattr(evaluate, "evaluate_checkpoint", lambda *a: {"heldout_seeds": [50], "heldout_states": 2})
    meta = json.loads((sft.train(r, log=lambda line: None) / "meta.json").read_text())
    assert meta["heldout"]["seeds"] == [50] and meta["heldout"]["traces"] == [heldout]
    assert "heldout_seeds" not in meta["metrics"] and meta["metrics"]["heldout_states"] == 2


def test_restart_starts_from_an_empty_partial_folder(tmp_path, traces, monkeypatch):
    # guards restart's rmtree: nothing of the discarded run (its record, its init/ model) is reused
    r = load_train_recipe(recipe_at(tmp_path, traces))
    work = started(interrupted.partial_dir(r), r, source="old.yaml")
    (work / "init").mkdir()
    monkeypatch.setattr(sft, "_train", lambda recipe, work, *a: sorted(p.name for p in work.parent.glob(".*/*")))
    assert sft.train(r, restart=True) == []
