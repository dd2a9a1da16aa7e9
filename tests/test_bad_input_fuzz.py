"""Refusals a bad-input fuzz of every verb's flags and of scenario files found missing: each is one
`error:` line naming what is wrong (exit 2), not a traceback, a default taken for an empty value, a
run with no end, or a key blamed for another's mistake."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from glade.cli import main
from glade.config import ConfigError
from glade.env.scenario import RECIPES, load_scenario


def test_an_unknown_option_before_any_verb_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--bogus"])
    assert exit.value.code == 2
    assert "glade: error: unrecognized arguments: --bogus" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["generate", ""], "error: an empty argument after generate: give a value or a path, or leave it out"),
        (["quickstart", "--until", ""], "error: an empty argument after --until:"),
        (["rank", "runs/x", "--out="], "error: --out: an empty value; give one, or drop --out= for the default"),
        (["simulate", "--out", "", "--quiet"], "error: an empty argument after --out:"),
    ],
)
def test_an_empty_argument_is_refused_not_read_as_the_default_or_the_current_folder(argv, said, tmp_path, capsys):
    # `--out ""` was the current folder to quickstart and the default to export and rank; `--until ""` ran every step
    assert main(argv) == 2
    assert said in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["simulate", "--scenario", "my\nscenario.yaml"],
            "error: the argument 'my\\nscenario.yaml' after --scenario holds a control character '\\n' at position 2;",
        ),
        (["generate", "recipes/generate/base.yaml", "seed=\x1b[2J"], "error: the argument 'seed=\\x1b[2J' after "),
        (["\x1b]0;t\x07simulate"], "error: the argument '\\x1b]0;t\\x07simulate' holds a control character '\\x1b' at"),
    ],
)
def test_an_argument_with_a_control_character_is_refused_on_one_printable_line(argv, said, tmp_path, capsys):
    # the error named a newline's value up to the newline only ("error: my"), and an escape sequence reached the terminal
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(said) and err.count("\n") == 1 and "\x1b" not in err
    assert not list(tmp_path.iterdir())


def test_resamples_and_popsize_past_what_could_run_are_refused_by_name(tmp_path, capsys):
    # rank's refits counted to 1e30; scipy's population of 10**30 raised OverflowError from C
    assert main(["rank", str(tmp_path), "--resamples", "1000000"]) == 2
    assert "error: --resamples: at most 200,000, got 1,000,000" in capsys.readouterr().err
    out = str(tmp_path / "fit.yaml")
    assert main(["calibrate", str(tmp_path), "--policy", "p", "--out", out, "--popsize", str(10**30)]) == 2
    assert "error: --popsize: at most 1,000 (default: 10), got 1,000,000,000,000,000" in capsys.readouterr().err


def test_a_generate_recipe_given_to_eval_is_named_as_one(tmp_path, capsys):
    # its keys are all an eval recipe's too: it was refused as missing `name`, and validate could not guess it
    recipe = tmp_path / "recipe.yaml"
    shutil.copy(RECIPES / "generate" / "standin.yaml", recipe)
    assert main(["eval", str(recipe)]) == 2
    assert (
        "this looks like a generate recipe (it has councils and no policies), not an eval recipe: run it with glade generate"
        in capsys.readouterr().err
    )
    assert main(["validate", str(recipe)]) == 2
    assert (
        "it looks like a generate recipe (it has councils and no policies): say --kind generate"
        in capsys.readouterr().out
    )


def _scenario(tmp_path: Path, change) -> Path:
    data = yaml.safe_load((RECIPES / "scenarios" / "default.yaml").read_text())
    change(data)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _refusal(path: Path) -> str:
    with pytest.raises(ConfigError) as exc:
        load_scenario(str(path))
    return str(exc.value)


def test_a_creature_or_good_id_with_a_control_character_or_past_64_characters_is_refused(tmp_path):
    # ids reach prompts, rows and the terminal as written: an escape sequence played, and was kept in trace.parquet
    said = _refusal(
        _scenario(tmp_path, lambda d: d["creatures"].update({"br\x1b[31mam": d["creatures"].pop("bramble")}))
    )
    assert "creatures: the id 'br\\x1b[31mam' has a control character '\\x1b' at position 2" in said
    said = _refusal(_scenario(tmp_path, lambda d: d["goods"].update({"h" * 65: d["goods"]["honey"]})))
    assert "goods: an id must be 1 to 64 characters, got 'hhhh" in said


def test_an_unknown_key_with_a_newline_is_said_whole_on_one_line(tmp_path):
    said = _refusal(_scenario(tmp_path, lambda d: d.update({"bad\nkey": 1})))
    assert "'bad\\nkey': unknown key (known:" in said and "\n" not in said


def test_a_long_value_is_cut_in_the_error(tmp_path):
    said = _refusal(_scenario(tmp_path, lambda d: d.update({"turns": "L" * 10_000})))
    assert said.endswith("... (10,002 characters)") and len(said) < 400


def test_a_bad_price_floor_is_named_not_blamed_on_price(tmp_path):
    said = _refusal(_scenario(tmp_path, lambda d: d["goods"]["honey"].update({"price_floor": 0})))
    assert said.endswith("goods.honey.price_floor: prices must be positive")


def test_an_empty_scenario_file_says_so(tmp_path):
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    said = _refusal(tmp_path / "empty.yaml")
    assert said.endswith("empty.yaml: the file is empty; expected a scenario (see recipes/scenarios/default.yaml)")


def test_market_max_qty_stays_inside_the_action_space_and_social_nudges_inside_feelings(tmp_path):
    # max_qty 2**63 played, then the env's Discrete raised OverflowError; social.trade 1e300 was clamped silently
    said = _refusal(_scenario(tmp_path, lambda d: d.update({"market": {"max_qty": 10**6}})))
    assert said.endswith("market.max_qty: must be at least 1 and at most 999999, got 1000000")
    said = _refusal(_scenario(tmp_path, lambda d: d.update({"social": {"trade": 1.5}})))
    assert said.endswith("social.trade: must be at least -1 and at most 1, got 1.5")
    assert load_scenario("default", **{"social.default": -1.0, "market.max_qty": 999_999}).social.default == -1.0


def test_a_misspelt_tip_creature_gets_the_creatures_and_a_hint(tmp_path):
    said = _refusal(_scenario(tmp_path, lambda d: d.update({"gambit": {"tip_creature": "Oona"}})))
    assert said.endswith(
        "gambit.tip_creature: unknown creature 'Oona' (creatures are oona, thorn, hazel, bramble, moss); did you mean oona?"
    )


def test_a_negative_firewood_step_names_its_key(tmp_path):
    said = _refusal(_scenario(tmp_path, lambda d: d.update({"firewood_need": [{"from_turn": -1, "units": 1}]})))
    assert said.endswith("firewood_need[0].from_turn: must not be negative")


def test_a_dotted_gambit_key_does_not_conjure_a_gambit_the_scenario_lacks():
    # `--set gambit.size=5` on the default Wood played a whole default gambit (an override at turn 4)
    with pytest.raises(ConfigError, match=r"gambit\.size: this scenario has no gambit to change; give a whole one"):
        load_scenario("default", **{"gambit.size": 5})
    with pytest.raises(ConfigError, match=r"gambit\.size: this scenario has no gambit"):
        load_scenario(load_scenario("default"), **{"gambit.size": 5})
    assert load_scenario("gambit_shock", **{"gambit.size": 5}).gambit.size == 5
    whole = load_scenario("default", gambit={"size": 5})  # a whole gambit given is a gambit asked for
    assert whole.gambit.size == 5 and load_scenario("default").gambit is None
