"""Recipe checks from walk E: one scenario under two spellings (or two scenarios under one name),
a misspelt seat key's did-you-mean, `glade validate` given one file twice, and the eval name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from glade.cli import main
from glade.config import ConfigError
from glade.env.scenario import RECIPES
from glade.eval.recipe import load_eval_recipe
from glade.seats import SeatSpecError, check_spec
from glade.traces import load_generate_recipe

RUMOUR = str(RECIPES / "scenarios" / "gambit_rumour.yaml")
EVAL = {
    "name": "e",
    "out": "runs/eval/e",
    "policies": {"p": "panic_seller"},
    "councils": {"c": {"focal": {"oona": "p"}}},
    "scenarios": ["gambit_rumour"],
    "turns": 12,
}
GENERATE = {"out": "runs/traces/x", "scenarios": ["default"], "councils": {"c": {"*": "hoarder"}}}


def written(tmp_path, data: dict, name: str = "r.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return str(path)


def other_default(tmp_path) -> str:
    """A scenario file named `default` whose rules are not the shipped default's."""
    return written(
        tmp_path, {"extends": "default", "name": "default", "creatures": {"oona": {"pebbles": 61.0}}}, "s.yaml"
    )


def test_an_eval_scenario_named_and_given_by_its_path_is_refused_naming_both(tmp_path):
    recipe = written(tmp_path, {**EVAL, "scenarios": ["gambit_rumour", RUMOUR]})
    with pytest.raises(ConfigError) as info:
        load_eval_recipe(recipe)
    assert re.fullmatch(
        rf"{re.escape(recipe)}: scenarios: 'gambit_rumour' and '{re.escape(RUMOUR)}' are the same scenario "
        r"\(hash [0-9a-f]{16}\); list it once, under one spelling",
        str(info.value),
    )


def test_two_paths_to_one_scenario_file_in_a_generate_recipe_are_refused(tmp_path):
    again = str(RECIPES / "scenarios" / ".." / "scenarios" / "default.yaml")
    recipe = written(tmp_path, {**GENERATE, "scenarios": ["default", again]})
    with pytest.raises(ConfigError, match=rf"scenarios: 'default' and '{re.escape(again)}' are the same scenario"):
        load_generate_recipe(recipe)
    # an override is checked as the recipe is
    with pytest.raises(ConfigError, match=r"are the same scenario"):
        load_generate_recipe(written(tmp_path, GENERATE, "g.yaml"), [f"scenarios=[default, {again}]"])


def test_two_different_eval_scenarios_under_one_name_are_refused(tmp_path):
    # an eval seats each world's stand-ins by scenario name: the second file would play with the first's
    other = other_default(tmp_path)
    recipe = written(tmp_path, {**EVAL, "turns": 13, "scenarios": ["default", other]})
    with pytest.raises(
        ConfigError,
        match=rf"scenarios: 'default' and '{re.escape(other)}' are two different scenarios named 'default' "
        r"\(hashes [0-9a-f]{16} and [0-9a-f]{16}\); a run tells scenarios apart by name, so give one of the "
        r"files a name of its own \(name: \.\.\.\)$",
    ):
        load_eval_recipe(recipe)
    # generate labels its rows and episode ids by the name: refused there too
    with pytest.raises(
        ConfigError, match=rf"'default' and '{re.escape(other)}' are two different scenarios named 'default'"
    ):
        load_generate_recipe(written(tmp_path, {**GENERATE, "scenarios": ["default", other]}))


def test_a_lever_naming_a_listed_scenario_by_another_spelling_is_refused_at_its_key(tmp_path):
    lever = {"name": "glut", "from": RUMOUR, "to": "gambit_shock"}
    recipe = written(tmp_path, {**EVAL, "levers": [lever]})
    with pytest.raises(
        ConfigError, match=rf"levers\[0\]\.from: 'gambit_rumour' and '{re.escape(RUMOUR)}' are the same"
    ):
        load_eval_recipe(recipe)


def test_one_scenario_once_still_loads(tmp_path):
    assert load_eval_recipe(written(tmp_path, {**EVAL, "scenarios": [RUMOUR, "gambit_shock"]})).scenarios == (
        RUMOUR,
        "gambit_shock",
    )


def test_a_misspelt_seat_key_gets_a_did_you_mean():
    with pytest.raises(
        SeatSpecError, match=r"seat spec server: unknown key 'url' \(known: .*\); did you mean base_url\?$"
    ):
        check_spec({"kind": "server", "url": "http://127.0.0.1:9/v1", "model": "x"})
    with pytest.raises(SeatSpecError, match=r"unknown key 'temprature' \(known: .*\); did you mean temperature\?$"):
        check_spec({"kind": "hf", "model": "m", "temprature": 0.5})
    with pytest.raises(SeatSpecError, match=r"unknown key 'zzz' \(known: disposition, kind, seed\)$"):
        check_spec({"kind": "standin", "zzz": 1})
    # a python seat's keys are checked by the same function (glade.seats.base.check_keys)
    with pytest.raises(
        SeatSpecError, match=r"seat spec python: unknown key 'entrypoint' .*; did you mean entry_point\?$"
    ):
        check_spec({"kind": "python", "entrypoint": "m:f"})


def test_validate_checks_a_file_given_twice_or_with_its_folder_once(tmp_path, capsys):
    path = written(tmp_path, {**EVAL, "out": str(tmp_path / "out")})
    assert main(["validate", "--kind", "eval", path, path, str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count(f"ok     {path}") == 1
    assert "1 ok, 0 FAIL (malformed), 0 NEEDS" in out


@pytest.mark.parametrize("name", ["", "a/../b", ".hidden"])
def test_an_eval_name_that_cannot_label_results_is_refused(tmp_path, name):
    recipe = written(tmp_path, {**EVAL, "name": name})
    with pytest.raises(ConfigError) as info:
        load_eval_recipe(recipe)
    assert str(info.value) == (
        f"{recipe}: name: {name!r} cannot label results: 1 to 128 characters, no '/' or '\\', not starting with '.'"
    )


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["generate", "recipes/generate/standin.yaml", "seeds.count=1e9", "--dry-run"],
         "seeds.count: expected an integer, got '1e9' (YAML reads 1e9 as text: write 1000000000)"),
        (["train", "recipes/train/tiny-hoarder.yaml", "sft.max_steps=1e3"],
         "sft.max_steps: expected an integer, got '1e3' (YAML reads 1e3 as text: write 1000)"),
        (["train", "recipes/train/tiny-hoarder.yaml", "sft.learning_rate=3e-3"],
         "sft.learning_rate: expected a number, got '3e-3' (YAML reads 3e-3 as text: write 3.0e-3)"),
        (["generate", "recipes/generate/standin.yaml", "seeds.count=1.5e0", "--dry-run"],
         "seeds.count: expected an integer, got '1.5e0'"),
    ],
)  # fmt: skip
def test_an_exponent_yaml_reads_as_text_is_told_how_to_write_it(monkeypatch, capsys, argv, said):
    # before, an integer key said only "expected an integer, got '1e9'"; a train integer was told
    # to write 1.0e+9, which reads as a float that the key refuses too
    monkeypatch.chdir(Path(__file__).parent.parent)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(said), err


def test_a_seat_that_fails_to_load_in_eval_is_named_by_its_recipe_key(tmp_path, capsys):
    # before: "bramble: seat spec ..." named the creature only; the recipe's key is policies.panic
    tiny = Path(__file__).parent.parent / "models" / "tiny-base"
    recipe = {
        "name": "spec",
        "out": str(tmp_path / "out"),
        "policies": {"hoard": "hoarder", "panic": {"kind": "checkpoint", "path": str(tiny), "device": "tpu"}},
        "councils": {"mix": {"focal": {"oona": "hoard", "bramble": "panic"}}},
        "scenarios": ["gambit_rumour"],
        "seeds": {"start": 500, "count": 2},
        "turns": 8,
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["eval", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: policies.panic (seated on bramble): seat spec device: 'tpu' is not available"), err
