"""A new user's slips, answered with what they meant: an override value split by the shell at its
spaces, a recipe named without its folder or .yaml, --council given another kind's file or
`creature:disposition`, a scenario that extends a mistyped name."""

from __future__ import annotations

from pathlib import Path

import pytest

from glade.cli import main
from glade.config import council_pair_hint

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "recipes"
GENERATE = RECIPES / "generate" / "standin.yaml"
KNOWN = "default, gambit_override, gambit_rumour, gambit_shock"


@pytest.fixture(autouse=True)
def _hf_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))


def error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    return (captured.err + captured.out).strip()


@pytest.mark.parametrize(
    "words, message",
    [
        (
            ["councils={solo:", "{oona:", "hoarder}}"],
            "error: override '{oona:': expected key=value; a value with spaces must be quoted as one word: "
            "'councils={solo: {oona: hoarder}}'",
        ),
        (
            ["seeds={start:", "0,", "count:", "1}", "out=x"],
            "error: override '0,': expected key=value; a value with spaces must be quoted as one word: "
            "'seeds={start: 0, count: 1}'",
        ),
        (
            ["scenarios=[default,", "gambit_shock]"],
            "error: override 'gambit_shock]': expected key=value; a value with spaces must be quoted as one word: "
            "'scenarios=[default, gambit_shock]'",
        ),
        (["out=x", "turns"], "error: override 'turns': expected key=value"),  # nothing left open: no hint
    ],
)
def test_an_override_split_at_its_spaces_says_to_quote_it(capsys, words, message):
    assert error(capsys, ["generate", str(GENERATE), *words, "--dry-run"]) == message


def test_the_quoted_override_is_taken(tmp_path, capsys):
    argv = ["generate", str(GENERATE), "councils={solo: {oona: hoarder}}", f"out={tmp_path / 'g'}", "--dry-run"]
    assert main(argv) == 0


@pytest.mark.parametrize(
    "argv, meant",
    [
        (["generate", "standin"], "recipes/generate/standin.yaml"),
        (["train", "tiny-hoarder"], "recipes/train/tiny-hoarder.yaml"),
        (["eval", "crash-gambit", "--dry-run"], "recipes/eval/crash-gambit.yaml"),
        (["generate", "recipes/generate/standin"], "recipes/generate/standin.yaml"),
        (["generate", "standin.yaml"], "recipes/generate/standin.yaml"),
    ],
)
def test_a_recipe_named_without_folder_or_yaml_is_suggested(monkeypatch, capsys, argv, meant):
    monkeypatch.chdir(ROOT)  # a checkout: its own recipes/, relative
    assert error(capsys, argv) == f"error: {argv[1]}: no such file; did you mean {meant}?"


def test_outside_a_checkout_the_shipped_recipe_is_suggested(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shipped = RECIPES / "generate" / "standin.yaml"
    assert error(capsys, ["generate", "standin"]) == f"error: standin: no such file; did you mean {shipped}?"
    assert error(capsys, ["generate", "recipes/generate/standin"]) == (
        f"error: recipes/generate/standin: no such file; did you mean {shipped}?"
    )
    (tmp_path / "mine.yaml").write_text(GENERATE.read_text())
    assert error(capsys, ["generate", "mine"]) == "error: mine: no such file; did you mean mine.yaml?"


def test_only_a_recipe_that_is_there_is_suggested(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert error(capsys, ["generate", "nosuch"]) == "error: nosuch: no such file"
    assert error(capsys, ["generate", "crash-gambit"]) == "error: crash-gambit: no such file"  # an eval recipe


def test_council_given_an_eval_recipe_names_both_things_it_takes(tmp_path, capsys):
    crash = RECIPES / "eval" / "crash-gambit.yaml"
    argv = ["simulate", "--quiet", "--turns", "2", "--council", str(crash), "--out", str(tmp_path / "a")]
    assert error(capsys, argv) == (
        f"error: {crash}: an eval recipe (recipes/eval/); --council takes a disposition or a council file "
        "(creature: seat spec)"
    )


def test_council_creature_colon_disposition_suggests_equals():
    creatures = ("oona", "bramble", "tamsin")
    assert council_pair_hint("oona:hoarder", creatures) == "; did you mean oona=hoarder?"
    assert council_pair_hint("oona: hoarder, bramble:panic_seller", creatures) == (
        "; did you mean oona=hoarder,bramble=panic_seller?"
    )
    for spec in ("hoarder", "shipped:tiny-base", "oona:", "oona:a:b", "C:/x.yaml"):
        assert council_pair_hint(spec, creatures) == ""


def test_extends_a_mistyped_scenario_names_extends_and_the_closest(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    mine = Path("recipes") / "scenarios" / "mine.yaml"
    mine.parent.mkdir(parents=True)
    mine.write_text("extends: defualt\nname: mine\n")
    argv = ["simulate", "--quiet", "--turns", "2", "--scenario", "mine", "--out", str(tmp_path / "a")]
    assert error(capsys, argv) == (
        f"error: {mine}: extends: scenario 'defualt': no such scenario (known: {KNOWN}); did you mean default?"
    )
    argv = ["simulate", "--quiet", "--turns", "2", "--scenario", "defualt", "--out", str(tmp_path / "a")]
    assert error(capsys, argv) == (
        f"error: scenario 'defualt': no such scenario (known: {KNOWN}, mine); did you mean default?"
    )
