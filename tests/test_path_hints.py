"""A path that is not there, or a file of another kind, told with what helps: glade's shipped
copy of a `recipes/...` path run from outside a checkout, the scenario a `NAME.yaml` meant,
where a recipe's relative path was looked for, what kind of file was given, an empty file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from test_validate import EVAL  # a small eval recipe that validates

from glade.cli import main
from glade.config import ConfigError, load_recipe
from glade.env.scenario import Scenario
from glade.env.schema import RECIPES
from glade.env.standin import Disposition
from glade.eval.recipe import EvalRecipe
from glade.kinds import KIND_KEYS
from glade.traces import GenerateRecipe
from glade.train.recipe import TrainRecipe

RELATIVE = "(paths are relative to the folder you run glade from)"


def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


# L2: the shipped-copy hint on simulate and validate, as on the recipe verbs


@pytest.mark.parametrize(
    "argv, shipped",
    [
        (["simulate", "--scenario", "recipes/scenarios/default.yaml"], "scenarios/default.yaml"),
        (["simulate", "--council", "recipes/dispositions/hoarder.yaml"], "dispositions/hoarder.yaml"),
        (["simulate", "--council", "oona=recipes/dispositions/hoarder.yaml"], "dispositions/hoarder.yaml"),
        (["validate", "recipes/eval/crash-gambit.yaml"], "eval/crash-gambit.yaml"),
    ],
)
def test_a_recipes_path_outside_a_checkout_names_the_shipped_copy(tmp_path, monkeypatch, capsys, argv, shipped):
    monkeypatch.chdir(tmp_path)  # no recipes/ here
    assert f"no such file here; glade's shipped copy is {RECIPES / shipped}" in error(capsys, argv)


def test_validate_of_a_recipes_folder_outside_a_checkout_names_the_shipped_one(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert f"recipes/eval: no such folder here; glade's shipped copy is {RECIPES / 'eval'}" in error(
        capsys, ["validate", "recipes/eval"]
    )


def test_a_missing_scenario_file_named_like_a_shipped_scenario_is_pointed_at_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    err = error(capsys, ["simulate", "--scenario", "gambit_rumour.yaml"])
    looked = f"looked for {tmp_path / 'gambit_rumour.yaml'} {RELATIVE}"  # they may mean a copy of their own
    assert f"gambit_rumour.yaml: no such file; {looked}; did you mean the shipped scenario gambit_rumour" in err
    recipe = write(tmp_path / "e.yaml", {**EVAL, "scenarios": ["gambit_rumour.yaml"]})
    assert main(["validate", "--kind", "eval", str(recipe)]) == 2
    out = capsys.readouterr().out
    assert f"scenarios[0]: gambit_rumour.yaml: no such file; {looked}; did you mean the shipped scenario" in out


# L3: a file of another kind, and an empty file


@pytest.mark.parametrize(
    "verb, data, said",
    [
        (
            "generate",
            EVAL,
            "this looks like an eval recipe (it has policies), not a generate recipe: run it with glade eval",
        ),
        ("generate", {"extends": "default", "name": "x", "turns": 5}, "this looks like a scenario (it has extends)"),
        (
            "eval",
            {"name": "t", "model": {"base": "tiny"}, "sft": {}},
            "this looks like a train recipe (it has model, sft)",
        ),
        (
            "train",
            {"name": "d", "horizon": 3, "surplus": 30},
            "this looks like a disposition (it has horizon, surplus)",
        ),
    ],
)
def test_a_file_of_another_kind_is_named_as_what_it_looks_like(tmp_path, capsys, verb, data, said):
    path = write(tmp_path / "mine.yaml", data)
    assert f"error: {path}: {said}" in error(capsys, [verb, str(path)])


def test_a_stray_key_is_still_named_as_unknown_not_guessed_at(tmp_path, capsys):
    # `name` is several kinds' key, and a generate recipe with a `model` is not a train recipe
    base = {"out": "x", "scenarios": ["default"], "councils": {"c": {}}}
    for extra in ({"name": "g"}, {"model": "m"}):
        path = write(tmp_path / "g.yaml", {**base, **extra})
        err = error(capsys, ["generate", str(path), "--dry-run"])
        assert f"{next(iter(extra))}: unknown key" in err and "looks like" not in err


@pytest.mark.parametrize("body", ["", "# nothing yet\n"])
def test_an_empty_recipe_is_said_to_be_empty(tmp_path, capsys, body):
    path = write(tmp_path / "e.yaml", body)
    assert f"error: {path}: the file is empty; expected an eval recipe" in error(capsys, ["eval", str(path)])
    assert "error: /dev/null: the file is empty; expected a generate recipe" in error(capsys, ["generate", "/dev/null"])


def test_kind_keys_are_the_recipes_own():
    keys = lambda cls: {f.metadata.get("key", f.name) for f in dataclasses.fields(cls) if f.init}  # noqa: E731
    assert KIND_KEYS["generate"] == keys(GenerateRecipe)
    assert KIND_KEYS["train"] == keys(TrainRecipe)
    assert KIND_KEYS["eval"] == keys(EvalRecipe)
    assert KIND_KEYS["scenario"] == keys(Scenario) | {"extends"}
    assert KIND_KEYS["disposition"] == keys(Disposition)


def test_load_recipe_says_empty_before_any_missing_key(tmp_path):
    path = write(tmp_path / "e.yaml", "")
    with pytest.raises(ConfigError, match=r"e\.yaml: the file is empty; expected a recipe$"):
        load_recipe(EvalRecipe, path)


# L1: a recipe's relative path that is not there says where it was looked for


def test_a_missing_relative_disposition_says_where_it_was_looked_for(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    policies = {"p": {"kind": "standin", "disposition": "mydisp.yaml"}}
    recipe = write(tmp_path / "sub" / "e.yaml", {**EVAL, "policies": policies})
    write(tmp_path / "sub" / "mydisp.yaml", "name: mydisp\nhorizon: 3\n")  # beside the recipe: not where it looks
    assert main(["validate", "--kind", "eval", str(recipe)]) == 1
    assert (
        "seat spec disposition: mydisp.yaml: no such disposition file (glade calibrate --out writes one); write one "
        f"there or fix the path: looked for {tmp_path / 'mydisp.yaml'} {RELATIVE}"
    ) in capsys.readouterr().out


def test_a_missing_relative_scenario_says_where_it_was_looked_for(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    recipe = write(tmp_path / "sub" / "e.yaml", {**EVAL, "scenarios": ["myscen.yaml"]})
    assert main(["validate", "--kind", "eval", str(recipe)]) == 2
    expected = f"scenarios[0]: myscen.yaml: no such file; looked for {tmp_path / 'myscen.yaml'} {RELATIVE}"
    assert expected in capsys.readouterr().out


def test_a_missing_relative_checkpoint_says_where_it_was_looked_for(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    recipe = write(tmp_path / "e.yaml", {**EVAL, "policies": {"p": {"kind": "checkpoint", "path": "ck/nope"}}})
    assert main(["validate", "--kind", "eval", str(recipe)]) == 1
    expected = f"no such folder (glade train writes them); looked for {tmp_path / 'ck' / 'nope'} {RELATIVE}"
    assert expected in capsys.readouterr().out


def test_a_shipped_disposition_path_outside_a_checkout_names_the_shipped_copy(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    policies = {"p": {"kind": "standin", "disposition": "recipes/dispositions/hoarder.yaml"}}
    recipe = write(tmp_path / "e.yaml", {**EVAL, "policies": policies})
    assert main(["validate", "--kind", "eval", str(recipe)]) == 2
    shipped = RECIPES / "dispositions" / "hoarder.yaml"
    assert f"no such file here; glade's shipped copy is {shipped}" in capsys.readouterr().out
