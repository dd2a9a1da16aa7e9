"""Which checkpoint `glade train --resume` and the quickstart's later steps find: a finished run of
exactly this recipe among every run of its name and seed (not only the newest), kept only while
its `latest:` base still names the folder it trained on; an interrupted run resumed only on the
data it started on; and the quickstart's eval, lm-eval, export and closing list on the run its
train step kept, not `latest:NAME` of any seed or override. Folders are built by hand; the runs
through sft.train replace the trainer (`_fit`) with a stand-in, so nothing here trains."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

import glade.train.interrupted as interrupted
import glade.train.sft as sft
from glade import checkpoint
from glade.checkpoint import STARTED
from glade.config import as_plain
from glade.train.recipe import load_train_recipe

TINY = {"hidden_size": 16, "layers": 1, "heads": 2, "kv_heads": 1, "vocab_size": 400}


def generate_traces(out: Path, disposition: str) -> str:
    from glade.config import Seeds
    from glade.traces import GenerateRecipe, generate

    councils = {"c": {"*": disposition}}
    generate(GenerateRecipe(out=str(out), scenarios=("default",), councils=councils, seeds=Seeds(0, 2), turns=2))
    return str(out)


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    return generate_traces(tmp_path_factory.mktemp("lookups") / "traces", "hoarder")


def write_recipe(folder: Path, traces: str, **changes) -> Path:
    data = {
        "name": "t",
        "output_root": str(folder / "checkpoints"),
        "model": {"base": "tiny", "tiny": TINY},
        "data": {"traces": [traces]},
        "eval": {"states": 0},
        "sft": {"max_steps": 4, "use_cpu": True, "bf16": False, "report_to": "none"},
        **changes,
    }
    path = folder / "t.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def finished(root: Path, recipe, stamp: str, meta: dict | None = None) -> Path:
    """A finished run's folder as sft.train leaves it: meta.json and recipe.yaml (no weights)."""
    folder = Path(root) / f"{recipe.name}__{recipe.seed}__{stamp}"
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text(
        json.dumps({"name": recipe.name, "seed": recipe.seed, "kind": "full", **(meta or {})})
    )
    (folder / "recipe.yaml").write_text(yaml.safe_dump(as_plain(recipe), sort_keys=False))
    return folder


def stand_in_fit(monkeypatch) -> list:
    """sft._fit replaced by one that trains nothing; returns the list of runs it was asked for."""
    fits = []

    def fit(recipe, base, *args):
        fits.append(base)
        return {"train_loss": 1.0, "train_steps": 1}, 1.0, 0.0

    monkeypatch.setattr(sft, "_fit", fit)
    return fits


# --------------------------------------------------------------------------- an older exact run (§6)


def test_resume_keeps_an_older_run_of_exactly_this_recipe_under_a_newer_override(tmp_path, traces):
    # before: only the newest run of the seed was looked at, so a later smoke test (sft.max_steps=2)
    # made --resume, and every quickstart rerun, refuse though this recipe's own run was there
    recipe = load_train_recipe(write_recipe(tmp_path, traces))
    smoke = load_train_recipe(write_recipe(tmp_path, traces), ["sft.max_steps=2"])
    own = finished(recipe.output_root, recipe, "20261201-100000")
    finished(recipe.output_root, smoke, "20261202-100000")
    assert interrupted.finished_run(recipe) == own
    said = []
    assert sft.train(recipe, resume=True, log=said.append) == own
    assert said == [f"t (seed 0): kept {own}, finished from this same recipe; not trained again"]


def test_resume_still_refuses_when_no_run_is_of_this_recipe_and_the_newest_is_another(tmp_path, traces):
    recipe = load_train_recipe(write_recipe(tmp_path, traces))
    smoke = load_train_recipe(write_recipe(tmp_path, traces), ["sft.max_steps=2"])
    newest = finished(smoke.output_root, smoke, "20261202-100000")
    assert interrupted.finished_run(recipe) is None
    with pytest.raises(ValueError) as exc:
        sft.train(recipe, resume=True, log=lambda line: None)
    assert str(exc.value) == (
        f"--resume: no interrupted run of t (seed 0) to continue, and its newest checkpoint ({newest}) was trained "
        "from another recipe (sft.max_steps: 2 -> 4): rerun without --resume to train this recipe from the "
        "beginning, or, to train on from that checkpoint, make it the model.base of a new name"
    )


def test_checkpoint_runs_lists_a_names_runs_of_one_seed_oldest_first(tmp_path, traces):
    recipe = load_train_recipe(write_recipe(tmp_path, traces))
    other_seed = load_train_recipe(write_recipe(tmp_path, traces), ["seed=1"])
    newer = finished(recipe.output_root, recipe, "20261202-100000")
    older = finished(recipe.output_root, recipe, "20261201-100000")
    finished(recipe.output_root, other_seed, "20261203-100000")
    assert checkpoint.runs("t", recipe.output_root, 0) == [older, newer]
    assert checkpoint.latest("t", recipe.output_root, 0) == newer and len(checkpoint.runs("t", recipe.output_root)) == 3


# --------------------------------------------------------------------------- a latest: base trained again (§2)


def base_run(root: Path, stamp: str) -> Path:
    folder = root / f"base__0__{stamp}"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "meta.json").write_text(json.dumps({"name": "base", "seed": 0, "kind": "full"}))
    return folder


def adapter_recipe(tmp_path, traces):
    lora = {"r": 4, "target_modules": ["q_proj"]}
    return load_train_recipe(write_recipe(tmp_path, traces, model={"base": "latest:base"}, lora=lora))


def test_a_finished_run_on_a_latest_base_trained_again_is_not_kept_but_trained_on_the_new_base(
    tmp_path, traces, monkeypatch
):
    # before: recipe.yaml still says latest:base, so the run on the old base was kept "from this same recipe"
    recipe = adapter_recipe(tmp_path, traces)
    root = Path(recipe.output_root)
    old = base_run(root, "20261201-090000")
    fits = stand_in_fit(monkeypatch)
    first = sft.train(recipe, log=lambda line: None)
    first = first.rename(root / "t__0__20261201-100000")  # stamped a second apart from the run below
    assert json.loads((first / "meta.json").read_text())["base_resolved"] == str(old.resolve())
    assert sft.train(recipe, resume=True, log=lambda line: None) == first  # the base unchanged: kept
    new = base_run(root, "20261202-090000")  # the base trained again
    assert interrupted.finished_run(recipe) is None
    said = []
    second = sft.train(recipe, resume=True, log=said.append)
    assert said[0] == (
        f"t (seed 0): its checkpoint {first} was trained on {old.resolve()}, and model.base latest:base names "
        f"{new.resolve()} now; training from the beginning on it"
    )
    assert second != first and fits == [str(old.resolve()), str(new.resolve())]
    assert interrupted.finished_run(recipe) == second


def test_a_run_on_a_retrained_base_is_named_though_a_newer_override_run_came_after_it(tmp_path, traces):
    # guards nothing_to_resume's look at every run of the seed: it looked only at the newest (the
    # override) and refused "trained from another recipe (sft.max_steps: 2 -> ...)"
    recipe = adapter_recipe(tmp_path, traces)
    smoke = load_train_recipe(
        write_recipe(tmp_path, traces, model={"base": "latest:base"}, lora={"r": 4, "target_modules": ["q_proj"]}),
        ["sft.max_steps=2"],
    )
    root = Path(recipe.output_root)
    old = base_run(root, "20261201-090000")
    own = finished(root, recipe, "20261201-110000", {"kind": "lora", "base_resolved": str(old.resolve())})
    finished(root, smoke, "20261201-120000", {"kind": "lora", "base_resolved": str(old.resolve())})
    assert interrupted.finished_run(recipe) == own
    new = base_run(root, "20261202-090000")  # the base trained again
    assert interrupted.finished_run(recipe) is None
    assert interrupted.nothing_to_resume(recipe) == (
        f"t (seed 0): its checkpoint {own} was trained on {old.resolve()}, and model.base latest:base names "
        f"{new.resolve()} now; training from the beginning on it"
    )


def test_an_adapter_from_before_base_resolved_is_judged_by_its_base_model(tmp_path, traces):
    recipe = adapter_recipe(tmp_path, traces)
    root = Path(recipe.output_root)
    old = base_run(root, "20261201-090000")
    ckpt = finished(root, recipe, "20261201-110000", {"kind": "lora", "base_model": str(old.resolve())})
    assert interrupted.finished_run(recipe) == ckpt
    base_run(root, "20261202-090000")
    assert interrupted.finished_run(recipe) is None


def test_a_full_fine_tune_from_before_the_record_is_kept_on_its_recipe_as_before(tmp_path, traces):
    recipe = load_train_recipe(write_recipe(tmp_path, traces, model={"base": "latest:base"}))
    root = Path(recipe.output_root)
    base_run(root, "20261201-090000")
    ckpt = finished(root, recipe, "20261201-110000", {"base_model": None})  # nothing says which base it had
    base_run(root, "20261202-090000")
    assert interrupted.finished_run(recipe) == ckpt


# --------------------------------------------------------------------------- regenerated traces (§3)


def test_an_interrupted_run_is_not_resumed_on_regenerated_traces(tmp_path, monkeypatch):
    # before: started.json held the recipe only, so the trainer went on with its state on other rows
    traces = generate_traces(tmp_path / "traces", "hoarder")
    recipe = load_train_recipe(write_recipe(tmp_path, traces))

    def interrupted_fit(recipe, base, train_rows, eval_rows, work, *args):
        (work / "trainer" / "checkpoint-1").mkdir(parents=True)  # progress: the folder is kept
        raise KeyboardInterrupt

    monkeypatch.setattr(sft, "_fit", interrupted_fit)
    with pytest.raises(KeyboardInterrupt):
        sft.train(recipe, log=lambda line: None)
    work = interrupted.partial_dir(recipe)
    before = json.loads((work / STARTED).read_text())["data_fingerprint"]
    shutil.rmtree(traces)
    generate_traces(tmp_path / "traces", "panic_seller")  # regenerated meanwhile, other decisions
    fits = stand_in_fit(monkeypatch)
    with pytest.raises(ValueError) as exc:
        sft.train(recipe, resume=True, log=lambda line: None)
    assert str(exc.value).startswith(
        f"{work}: its run started on other training data (data fingerprint {before[:8]}, now "
    )
    assert str(exc.value).endswith(
        ": its traces changed since it started); regenerate the same traces and rerun with --resume to continue it, "
        "or rerun with --restart to discard it and train on the data as it is now"
    )
    assert fits == [] and json.loads((work / STARTED).read_text())["data_fingerprint"] == before


def test_check_data_passes_the_same_data_and_a_record_without_a_fingerprint(tmp_path):
    recipe = {"model": {"base": "tiny"}}  # as much of a recipe as STARTED's reader asks for
    (tmp_path / STARTED).write_text(
        json.dumps({"recipe": recipe, "source": None, "data_fingerprint": "0123456789abcdef"})
    )
    interrupted.check_data(tmp_path, "0123456789abcdef")
    with pytest.raises(ValueError, match=r"data fingerprint 01234567, now fedcba98"):
        interrupted.check_data(tmp_path, "fedcba9876543210")
    (tmp_path / STARTED).write_text(json.dumps({"recipe": recipe, "source": None}))  # started by an older glade
    interrupted.check_data(tmp_path, "fedcba9876543210")


# --------------------------------------------------------------------------- the quickstart's later steps (§5)


class Stop(Exception):
    pass


@pytest.fixture
def quickstart_runs(tmp_path, monkeypatch):
    """checkpoints/ after a quickstart (tiny-hoarder, seed 0) and two later experiments: seed=1, and
    a seed-0 smoke test with sft.max_steps=2 (the newest)."""
    from glade.cli.quickstart.steps import RECIPES

    monkeypatch.chdir(tmp_path)
    path = RECIPES / "train" / "tiny-hoarder.yaml"
    meta = {"kind": "lora", "base_model": str(checkpoint.shipped("tiny-base").resolve())}
    own = finished("checkpoints", load_train_recipe(path), "20261201-100000", meta)
    finished("checkpoints", load_train_recipe(path, ["seed=1"]), "20261202-100000", meta)
    finished("checkpoints", load_train_recipe(path, ["sft.max_steps=2"]), "20261203-100000", meta)
    return own


def test_the_quickstarts_later_steps_use_the_run_its_train_step_kept(quickstart_runs, monkeypatch, capsys):
    import glade.eval.harness
    import glade.eval.recipe
    import glade.hub.export
    from glade.cli import quickstart as qs
    from glade.cli.quickstart import steps

    own, args = quickstart_runs, SimpleNamespace(train_base=False, out="qs")
    assert steps.kept_checkpoint("tiny-hoarder", args) == own

    seen = []

    def record(folder, *a, **k):
        seen.append(folder)
        raise Stop

    monkeypatch.setattr(glade.eval.harness, "run_lm_eval", record)
    with pytest.raises(Stop):
        steps.lm_eval_creatures(args, None)
    monkeypatch.setattr(glade.eval.recipe, "load_eval_recipe", lambda path, given=(): record(list(given)))
    with pytest.raises(Stop):
        steps.evaluate_councils(args, None)
    assert seen == [own, [f"policies.hoarder_model.path={own}"]]

    from rich.console import Console

    exported = []

    def export_checkpoint(folder, repo_id, out, **kwargs):
        exported.append(folder)
        out.mkdir(parents=True)
        return out

    monkeypatch.setattr(glade.hub.export, "export_checkpoint", export_checkpoint)
    monkeypatch.setattr("glade.train.recipe.shipped_recipe", lambda folder: None)
    steps.export_creatures(args, Console(width=200))
    assert exported[:2] == [checkpoint.shipped("tiny-base"), own]

    capsys.readouterr()
    qs.closing(args, Console(width=200))
    listed = capsys.readouterr().out
    assert own.name in listed and "20261203-100000" not in listed and "tiny-hoarder__1__" not in listed


def test_with_train_base_and_no_base_trained_no_adapter_is_kept_and_nothing_raises(tmp_path, monkeypatch):
    # guards kept_checkpoint's ValueError: an adapter run on latest:tiny-base, and no tiny-base run,
    # made the quickstart's closing list raise "'latest:tiny-base': no complete checkpoint"
    from glade.cli.quickstart import steps

    monkeypatch.chdir(tmp_path)
    path = steps.RECIPES / "train" / "tiny-hoarder.yaml"
    finished("checkpoints", load_train_recipe(path, ["model.base=latest:tiny-base"]), "20261201-100000",
             {"kind": "lora", "base_resolved": "/gone/tiny-base__0__20261130-100000"})  # fmt: skip
    assert steps.kept_checkpoint("tiny-hoarder", SimpleNamespace(train_base=True)) is None
