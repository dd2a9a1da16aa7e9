"""Inputs refused with one line naming what is wrong: overrides given twice, a dotted override
into a creature or good not there, a gambit tip before the first turn, YAML nested past reading,
an `extends` cycle; and simulate's help says what its exit status counts."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from glade.cli import main
from glade.config import ConfigError, parse_override
from glade.env import load_scenario
from glade.env.schema import read_yaml

RECIPES = Path(__file__).resolve().parent.parent / "recipes"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def refused(*args, **overrides) -> str:
    with pytest.raises(ConfigError) as info:
        load_scenario(*args, **overrides)
    message = str(info.value)
    assert "\n" not in message, "a ConfigError is one line"
    return message


def last_error(capsys) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


# --------------------------------------------------------------------------- overrides given twice


def test_overrides_are_ordered_and_a_key_given_twice_takes_the_last(tmp_path):
    # as Hydra's command line: a script may give its defaults, then one run's own value after them
    from glade.config import load_recipe
    from glade.traces import GenerateRecipe

    recipe = load_recipe(GenerateRecipe, RECIPES / "generate" / "standin.yaml", ["seeds.count=1", "seeds.count=2"])
    assert recipe.seeds.count == 2


# --------------------------------------------------------------------------- a dotted key into no entry


def test_a_dotted_override_into_a_creature_not_there_names_the_creatures():
    message = refused("default", **{"creatures.Oona.pebbles": 4})
    assert message.endswith(
        "creatures.Oona: no such creature (creatures: oona, thorn, hazel, bramble, moss); did you mean oona?"
    )


def test_a_dotted_override_into_a_good_not_there_names_the_goods():
    message = refused("default", **{"goods.nectar.price": 4})
    assert message.endswith("goods.nectar: no such good (goods: honey, firewood, acorns, berries, mushrooms)")


def test_a_whole_creature_may_still_be_added_and_an_entry_there_set():
    newt = dict(load_scenario("default").to_dict()["creatures"]["oona"], name="Newt")
    s = load_scenario("default", **{"creatures.newt": newt, "creatures.oona.pebbles": 4.0})
    assert list(s.creatures)[-1] == "newt" and s.creatures["oona"].pebbles == 4.0


def test_simulate_names_the_creature_not_there(capsys):
    assert main(["simulate", "--set", "creatures.Oona.pebbles=4", "--quiet"]) == 2
    assert last_error(capsys).endswith(
        "creatures.Oona: no such creature (creatures: oona, thorn, hazel, bramble, moss); did you mean oona?"
    )


# --------------------------------------------------------------------------- the gambit's tip turn


def test_a_negative_tip_turn_is_refused_like_a_negative_open_turn():
    assert refused("gambit_rumour", **{"gambit.tip_turn": -1}).endswith("gambit.tip_turn: must not be negative")
    assert refused("gambit_rumour", **{"gambit.open_turn": -1}).endswith("gambit.open_turn: must not be negative")


def test_a_tip_after_the_spring_or_past_the_last_turn_still_plays():
    # a tip between spring and cover pushes on a position still open; past the end, a short run
    s = load_scenario("gambit_rumour", **{"gambit.tip_turn": 5, "gambit.cover_turn": 8})
    assert s.gambit.tip_turn == 5
    assert load_scenario("gambit_rumour", turns=2).gambit.tip_turn == 2


# --------------------------------------------------------------------------- YAML nested too deeply


def test_yaml_nested_too_deeply_is_one_line_naming_the_file(tmp_path):
    path = write(tmp_path, "deep.yaml", "a: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError) as info:
        read_yaml(path)
    assert str(info.value).startswith(f"{path}: nested too deeply")


def test_validate_reports_a_deep_scenario_as_a_fail(capsys, tmp_path):
    path = write(tmp_path, "s_deep.yaml", "a: " + "[" * 5000 + "\n")
    assert main(["validate", "--kind", "scenario", str(path)]) != 0
    assert f"{path}: nested too deeply" in capsys.readouterr().out


def test_an_override_nested_too_deeply_is_refused():
    with pytest.raises(ConfigError) as info:
        parse_override("turns=" + "[" * 5000 + "]" * 5000)
    assert "nested too deeply" in str(info.value) and "\n" not in str(info.value)


# --------------------------------------------------------------------------- extends cycles


def test_an_extends_cycle_is_named_as_it_runs_from_the_file_given(tmp_path):
    a = write(tmp_path, "a.yaml", "extends: b.yaml\nname: a\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\nname: b\n")
    assert refused(a) == f"{a}: extends: cycle a.yaml -> b.yaml -> a.yaml; one of them must extend something else"


def test_an_extends_cycle_further_down_shows_the_way_in(tmp_path):
    top = write(tmp_path, "top.yaml", "extends: b.yaml\n")
    write(tmp_path, "b.yaml", "extends: c.yaml\n")
    write(tmp_path, "c.yaml", "extends: b.yaml\n")
    assert refused(top) == (
        f"{top}: extends: cycle top.yaml -> b.yaml -> c.yaml -> b.yaml; one of them must extend something else"
    )


def test_an_extends_cycle_through_two_files_of_one_name_gives_their_paths(tmp_path):
    (tmp_path / "sub").mkdir()
    a = write(tmp_path, "a.yaml", "extends: sub/a.yaml\n")
    inner = write(tmp_path / "sub", "a.yaml", "extends: ../a.yaml\n")
    assert refused(a) == f"{a}: extends: cycle {a} -> {inner} -> {a}; one of them must extend something else"


def test_a_file_that_extends_itself_says_so(tmp_path):
    me = write(tmp_path, "me.yaml", "extends: me.yaml\n")
    assert refused(me) == f"{me}: extends: 'me.yaml' extends itself"


# --------------------------------------------------------------------------- simulate's help


def test_simulate_help_counts_faults_per_decision_as_the_option_does(capsys):
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    flat = " ".join(capsys.readouterr().out.split())
    assert "--max-fault-share of its decisions (or the conservation check failed)" in flat
    assert "of its turns" not in flat


def test_a_food_listed_twice_in_a_diet_is_refused(tmp_path):
    # the needs phase eats one unit per listing: berries listed twice ate 2 units of 1 held, and the
    # inventory went below zero
    path = write(tmp_path, "s.yaml", "extends: default\ncreatures:\n  oona: {diet: [berries, mushrooms, berries]}\n")
    assert refused(path) == f"{path}: creatures.oona.diet[2]: 'berries' is listed twice; list each food once"
