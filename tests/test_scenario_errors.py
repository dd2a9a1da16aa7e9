"""Scenario files that load but would break the rules or the run: each refused at load with one
line naming the file and key (the validation gaps found after the first version, and a review's)."""

from __future__ import annotations

import pytest
from test_scenario import SCENARIO_KEYS, error_of, write  # tests/ is on sys.path under pytest

from glade.cli import main
from glade.config import ConfigError
from glade.env import load_scenario, parallel_env
from glade.env.scenario import SCENARIO_DIR

# --------------------------------------------------------------------------- validation gaps (bugs)


def test_unknown_disposition_is_a_config_error(tmp_path):
    path = write(tmp_path, "d.yaml", "extends: default\ncreatures: {oona: {disposition: grumpy}}\n")
    message = error_of(path)
    assert message.startswith(f"{path}: creatures.oona.disposition: unknown disposition 'grumpy'")


@pytest.mark.parametrize("key, value", [("name", "Zo\u00eb"), ("species", "owl" * 30)])
def test_names_outside_the_observation_charset_are_rejected_or_fit(key, value):
    overrides = {f"creatures.oona.{key}": value, "turns": 2}
    try:
        env = parallel_env(**overrides)
    except ConfigError as exc:  # the preferred fix: refuse at load, naming the key
        assert f"creatures.oona.{key}" in str(exc)
        return
    obs, _ = env.reset(seed=0)
    for agent, o in obs.items():
        assert env.observation_space(agent).contains(o)


# YAML reads `.nan` and `.inf` as numbers and NaN passes every range check: a non-finite
# pebbles used to run with "conservation: ok" and a NaN wealth and Gini in the summary.
@pytest.mark.parametrize(
    "body, key, shown",
    [
        ("creatures: {oona: {pebbles: .nan}}\n", "creatures.oona.pebbles", "nan"),
        ("creatures: {oona: {pebbles: .inf}}\n", "creatures.oona.pebbles", "inf"),
        ("creatures: {hazel: {produces: {acorns: .nan}}}\n", "creatures.hazel.produces.acorns", "nan"),
        ("goods: {honey: {price: .nan}}\n", "goods.honey.price", "nan"),
        ("goods: {honey: {price: .inf}}\n", "goods.honey.price", "inf"),
        ("goods: {berries: {spoil_rate: .nan}}\n", "goods.berries.spoil_rate", "nan"),
        ("goods: {honey: {price_floor: -.inf}}\n", "goods.honey.price_floor", "-inf"),
        ("market: {max_step: .nan}\n", "market.max_step", "nan"),
        ("market: {pressure: .inf}\n", "market.pressure", "inf"),
        ("mood: {start: .nan}\n", "mood.start", "nan"),
        ("mood: {cold: .inf}\n", "mood.cold", "inf"),
        ("social: {decay: .nan}\n", "social.decay", "nan"),
        ("social: {default: -.inf}\n", "social.default", "-inf"),
        ("patron: {pebbles: .inf}\n", "patron.pebbles", "inf"),
        ("patron: {heat_threshold: .nan}\n", "patron.heat_threshold", "nan"),
    ],
)
def test_non_finite_numbers_are_refused_naming_file_and_key(tmp_path, body, key, shown):
    path = write(tmp_path, "bad.yaml", "extends: default\n" + body)
    assert error_of(path) == f"{path}: {key}: expected a finite number, got {shown}"


def test_an_integer_too_large_for_a_float_is_refused(tmp_path):
    huge = 10**400
    path = write(tmp_path, "bad.yaml", f"extends: default\ncreatures: {{oona: {{pebbles: {huge}}}}}\n")
    assert (
        error_of(path)
        == f"{path}: creatures.oona.pebbles: expected a finite number, got {str(huge)[:60]}... (401 characters)"
    )


def test_non_finite_override_and_validate(tmp_path, capsys):
    default = SCENARIO_DIR / "default.yaml"
    with pytest.raises(ConfigError) as info:
        load_scenario("default", **{"market.max_step": float("nan")})
    assert str(info.value) == f"{default} with market.max_step=nan: market.max_step: expected a finite number, got nan"
    path = write(tmp_path, "bad.yaml", "extends: default\ngoods: {honey: {price: .nan}}\n")
    assert main(["validate", "--kind", "scenario", str(path)]) == 2
    assert f"FAIL   {path}: goods.honey.price: expected a finite number, got nan" in capsys.readouterr().out
    assert main(["simulate", "--turns", "2", "--scenario", str(path), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert f"error: {path} with turns=2: goods.honey.price: expected a finite number, got nan" in err


# --------------------------------------------------------------------------- review fixes


@pytest.mark.parametrize(
    "body, problem",
    [
        # YAML reads `1:` and `null:` as a number and None: one line naming the key, not a traceback
        ("extends: default\n1: 2\n", "1: unknown key (known: "),
        ("extends: default\ngoods: {1: {name: x, kind: food, price: 1}}\n", "goods.1: a key must be a string, got 1"),
        (
            "extends: default\ncreatures: {oona: {produces: {null: 2}}}\n",
            "creatures.oona.produces.None: a key must be a string, got None",
        ),
        # a misspelt key names the key it was probably meant to be
        ("extends: default\ntunrs: 5\n", "tunrs: unknown key (known: " + SCENARIO_KEYS + "); did you mean turns?"),
        # a start below the floor would jump to the floor on the first reprice, past max_step
        (
            "extends: default\ngoods: {honey: {price: 0.1}}\n",
            "goods.honey.price: must be at least its price_floor (0.5), got 0.1",
        ),
        (
            "extends: default\ngoods: {honey: {price: 20000}}\n",
            "goods.honey.price: must be at most 10,000, the highest",
        ),
        # counts past the observation space's bound overflowed the production draw mid-episode
        (
            "extends: default\ncreatures: {oona: {produces: {honey: 1.0e+20}}}\n",
            "creatures.oona.produces.honey: must be from 0 to 999,999, got 1e+20",
        ),
        (
            "extends: default\ncreatures: {bramble: {inventory: {berries: 100000000000000000000000}}}\n",
            "creatures.bramble.inventory.berries: expected an integer of at most 9,223,372,036,854,775,807 in size, "
            "got 100000000000000000000000",
        ),
        (
            "extends: default\nfirewood_need: [{from_turn: 0, units: 1000000}]\n",
            "firewood_need[0].units: must be at most 999,999, got 1000000",
        ),
        # DESIGN: mood "never hits zero"
        ("extends: default\nmood: {floor: 0.0}\n", "mood.floor: must be more than 0 and at most 1, got 0.0"),
    ],
)
def test_review_scenario_errors_are_one_line_naming_the_key(tmp_path, body, problem):
    path = write(tmp_path, "bad.yaml", body)
    with pytest.raises(ConfigError) as info:
        load_scenario(str(path))
    assert str(info.value).startswith(f"{path}: {problem}"), str(info.value)


def test_tab_indentation_says_yaml_indents_with_spaces(tmp_path):
    path = write(tmp_path, "tabbed.yaml", "extends: default\nseeds:\n\tcount: 2\n")
    assert error_of(path) == (
        f"{path}: YAML error (line 3): found character '\\t' that cannot start any token "
        "(a tab: YAML indents with spaces only)"
    )
