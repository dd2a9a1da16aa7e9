"""Scenario files load into frozen dataclasses; malformed files fail with one exact line."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from glade.cli import main
from glade.config import ConfigError
from glade.env import load_scenario, parallel_env
from glade.env.legends import LEGENDS
from glade.env.scenario import SCENARIO_DIR, Creature, Market, Scenario

SCENARIO_FILES = sorted(SCENARIO_DIR.glob("*.yaml"))
GOODS = "honey, firewood, acorns, berries, mushrooms"


def known_keys(cls) -> str:
    """The key list a ConfigError names: the dataclass's fields, in declaration order."""
    return ", ".join(f.name for f in dataclasses.fields(cls))


CREATURE_KEYS = known_keys(Creature)
MARKET_KEYS = known_keys(Market)
SCENARIO_KEYS = known_keys(Scenario)
KNOWN_LEGENDS = ", ".join(LEGENDS)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def error_of(path) -> str:
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message, "a ConfigError is one line"
    return message


# --------------------------------------------------------------------------- good files


def test_known_key_lists_start_as_documented():
    # the lists above are built from the dataclasses; pin the documented start of each
    assert CREATURE_KEYS.startswith("name, species, produces, diet, pebbles, inventory, appetite, disposition")
    assert MARKET_KEYS.startswith("max_orders, max_qty, trade_weight, pressure, max_step")
    assert SCENARIO_KEYS.startswith("name, goods, creatures, firewood_need, description, turns, market")


def test_default_scenario_loads_with_the_documented_cast():
    s = load_scenario()
    assert isinstance(s, Scenario)
    assert s.name == "default" and s.turns == 30
    assert list(s.goods) == ["honey", "firewood", "acorns", "berries", "mushrooms"]
    assert list(s.creatures) == ["oona", "thorn", "hazel", "bramble", "moss"]
    assert s.fuel == "firewood"
    assert s.creatures["oona"].produces == {"honey": 1.5}
    assert [c for c, cr in s.creatures.items() if "firewood" in cr.produces] == ["thorn"]
    assert [s.firewood_burn(t) for t in (0, 9, 10, 21, 22, 29)] == [1, 1, 2, 2, 3, 3]
    assert s.gambit is None
    assert [(e.legend, e.turn, e.mechanism) for e in s.legends] == [("run_on_oonas_hoard", 12, "rumour")]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.turns = 3  # type: ignore[misc]


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[p.stem for p in SCENARIO_FILES])
def test_every_shipped_scenario_loads_by_name_and_by_path(path):
    by_name = load_scenario(path.stem)
    by_path = load_scenario(str(path))
    assert by_name == by_path
    assert by_name.hash() == by_path.hash()
    assert by_name.name == path.stem
    env = parallel_env(path.stem, turns=2)
    obs, _ = env.reset(seed=0)
    assert set(obs) == set(by_name.creatures)


@pytest.mark.parametrize("mechanism", ["override", "rumour", "shock"])
def test_gambit_scenarios_extend_default_and_differ_only_in_mechanism(mechanism):
    s = load_scenario(f"gambit_{mechanism}")
    d = load_scenario("default")
    assert s.gambit is not None and s.gambit.mechanism == mechanism
    assert (s.gambit.good, s.gambit.size, s.gambit.open_turn, s.gambit.tip_turn, s.gambit.spring_turn) == (
        "honey",
        10,
        1,
        2,
        4,
    )
    assert s.turns == 12 and s.legends == ()
    assert s.creatures == d.creatures and s.goods == d.goods


def test_unknown_scenario_name():
    with pytest.raises(ConfigError) as info:
        load_scenario("nope")
    assert str(info.value) == (
        "scenario 'nope': no such scenario (known: default, gambit_override, gambit_rumour, gambit_shock)"
    )


# --------------------------------------------------------------------------- malformed files


@pytest.mark.parametrize(
    "body, problem",
    [
        (
            "creatures:\n  oona:\n    prodcues: {honey: 1}\n",
            f"creatures.oona.prodcues: unknown key (known: {CREATURE_KEYS}); did you mean produces?",
        ),
        (
            "market: {max_stepp: 0.2}\n",
            f"market.max_stepp: unknown key (known: {MARKET_KEYS}); did you mean max_step?",
        ),
        ("colour: green\n", f"colour: unknown key (known: {SCENARIO_KEYS})"),
        ("turns: ten\n", "turns: expected an integer, got 'ten'"),
        ("turns: 2.5\n", "turns: expected an integer, got 2.5"),
        ("market: {max_step: fast}\n", "market.max_step: expected a number, got 'fast'"),
        ("creatures: {oona: {pebbles: true}}\n", "creatures.oona.pebbles: expected a number, got True"),
        ("creatures: {oona: {name: 7}}\n", "creatures.oona.name: expected a string, got 7"),
        (
            "firewood_need: {from_turn: 0, units: 1}\n",
            "firewood_need: expected a list, got {'from_turn': 0, 'units': 1}",
        ),
        ("goods: {honey: {kind: drink}}\n", "goods.honey.kind: expected one of food, fuel, got 'drink'"),
        ("market: 3\n", "market: expected a mapping, got 3"),
        (
            "creatures: {oona: {produces: {nectar: 1.0}}}\n",
            f"creatures.oona.produces.nectar: unknown good 'nectar' (goods are {GOODS})",
        ),
        (
            "creatures: {thorn: {inventory: {nectar: 2}}}\n",
            f"creatures.thorn.inventory.nectar: unknown good 'nectar' (goods are {GOODS})",
        ),
        (
            "creatures: {hazel: {diet: [acorns, nectar]}}\n",
            f"creatures.hazel.diet[1]: unknown good 'nectar' (goods are {GOODS})",
        ),
        ("creatures: {hazel: {diet: [acorns, firewood]}}\n", "creatures.hazel.diet[1]: 'firewood' is not a food"),
        ("creatures: {hazel: {produces: {acorns: -1.0}}}\n", "creatures.hazel.produces.acorns: must not be negative"),
        ("creatures: {hazel: {inventory: {acorns: -1}}}\n", "creatures.hazel.inventory.acorns: must not be negative"),
        ("goods: {berries: {spoil_rate: 1.5}}\n", "goods.berries.spoil_rate: must be between 0 and 1"),
        (
            "goods: {honey: {kind: fuel}}\n",
            "goods: exactly one good must be of kind fuel (the firewood creatures burn)",
        ),
        ("turns: 0\n", "turns: must be at least 1"),
        (
            "legends: [{legend: dragon_hoard, turn: 3, mechanism: rumour}]\n",
            f"legends[0].legend: unknown legend 'dragon_hoard' (known: {KNOWN_LEGENDS})",
        ),
        (
            "legends: [{legend: drought, turn: 3, mechanism: bribe}]\n",
            "legends[0].mechanism: expected one of rumour, shock, override, got 'bribe'",
        ),
        ("legends: [{legend: drought, mechanism: shock}]\n", "legends[0].turn: missing required key (an integer)"),
        ("gambit: {mechanism: bribe}\n", "gambit.mechanism: expected one of rumour, shock, override, got 'bribe'"),
        ("gambit: {legend: dragon_hoard}\n", f"gambit.legend: unknown legend 'dragon_hoard' (known: {KNOWN_LEGENDS})"),
        (
            "gambit: {tip_creature: fox}\n",
            "gambit.tip_creature: unknown creature 'fox' (creatures are oona, thorn, hazel, bramble, moss)",
        ),
        ("gambit: {good: nectar}\n", f"gambit.good: unknown good 'nectar' (goods are {GOODS})"),
        ("gambit: {size: 0}\n", "gambit.size: must be from -999,999 to 999,999 and not zero, got 0"),
        ("gambit: {size: -1000000}\n", "gambit.size: must be from -999,999 to 999,999 and not zero, got -1000000"),
        (
            "gambit: {open_turn: 5, spring_turn: 4}\n",
            "gambit: turns must run open_turn <= spring_turn <= cover_turn, got 5, 4, 4",
        ),
        (
            "creatures: {newt: {name: Newt, produces: {}, diet: [acorns], pebbles: 1.0, inventory: {}}}\n",
            "creatures.newt.species: missing required key (a string)",
        ),
    ],
    ids=lambda v: v if len(v) < 40 else None,
)
def test_malformed_scenario_names_file_and_key(tmp_path, body, problem):
    path = write(tmp_path, "bad.yaml", "extends: default\n" + body)
    assert error_of(path) == f"{path}: {problem}"


def test_missing_required_top_level_key(tmp_path):
    path = write(tmp_path, "bare.yaml", "name: bare\nturns: 3\n")
    assert error_of(path) == f"{path}: goods: missing required key (a mapping)"


def test_yaml_syntax_error(tmp_path):
    path = write(tmp_path, "broken.yaml", "name: x\ngoods: {honey: {name: honey, kind: food, price: 1.0}\n")
    assert error_of(path) == f"{path}: YAML error (line 3): expected ',' or '}}', but got '<stream end>'"


def test_top_level_must_be_a_mapping(tmp_path):
    path = write(tmp_path, "list.yaml", "- a\n- b\n")
    assert error_of(path) == f"{path}: expected a mapping at the top level, got list"


def test_missing_file(tmp_path):
    assert error_of(tmp_path / "absent.yaml") == f"{tmp_path / 'absent.yaml'}: no such file"


# --------------------------------------------------------------------------- extends


def test_extends_chain_merges_each_file_over_its_base(tmp_path):
    write(
        tmp_path,
        "base.yaml",
        """\
        extends: default
        name: base
        turns: 7
        market: {max_step: 0.3}
        creatures: {oona: {pebbles: 99.0}}
        """,
    )
    top = write(
        tmp_path,
        "top.yaml",
        """\
        extends: base.yaml
        name: top
        market: {pressure: 0.2}
        """,
    )
    s = load_scenario(top)
    d = load_scenario("default")
    assert s.name == "top" and s.turns == 7
    assert (s.market.max_step, s.market.pressure, s.market.trade_weight) == (0.3, 0.2, d.market.trade_weight)
    assert s.creatures["oona"].pebbles == 99.0
    assert s.creatures["oona"].produces == d.creatures["oona"].produces  # deep merge kept the rest
    assert s.creatures["thorn"] == d.creatures["thorn"]


def test_a_file_without_a_name_is_named_by_its_stem_not_its_base(tmp_path, monkeypatch):
    # Keeping the base's name made `glade simulate --scenario mine` overwrite the default's run.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recipes" / "scenarios").mkdir(parents=True)
    write(tmp_path / "recipes" / "scenarios", "mine.yaml", "extends: default\nturns: 3\n")
    write(tmp_path, "deeper.yaml", "extends: mine\nturns: 2\n")
    assert load_scenario("mine").name == "mine"
    assert load_scenario(tmp_path / "deeper.yaml").name == "deeper"
    assert load_scenario("mine").hash() != load_scenario("default", turns=3).hash()  # the name is part of it

    assert main(["simulate", "--scenario", "mine", "--seed", "7"]) == 0
    assert sorted(p.name for p in (tmp_path / "runs" / "simulate").iterdir()) == ["mine-seed7"]


def test_extends_error_in_the_chain_names_the_file_with_the_yaml_error(tmp_path):
    base = write(tmp_path, "base.yaml", "extends: default\nturns: [\n")
    top = write(tmp_path, "top.yaml", "extends: base.yaml\n")
    message = error_of(top)
    assert message.startswith(f"{base}: YAML error (line ")


def test_extends_cycle(tmp_path):
    write(tmp_path, "one.yaml", "extends: two.yaml\nturns: 5\n")
    write(tmp_path, "two.yaml", "extends: one.yaml\n")
    assert error_of(tmp_path / "one.yaml") == (
        f"{tmp_path / 'one.yaml'}: extends: cycle one.yaml -> two.yaml -> one.yaml; one of them must extend something else"
    )


def test_extends_self(tmp_path):
    path = write(tmp_path, "me.yaml", "extends: me.yaml\n")
    assert error_of(path) == f"{path}: extends: 'me.yaml' extends itself"


def test_extends_must_be_a_name(tmp_path):
    path = write(tmp_path, "m.yaml", "extends: [default]\n")
    assert error_of(path) == f"{path}: extends: expected a scenario name or path, got ['default']"


def test_extends_missing_base(tmp_path):
    path = write(tmp_path, "m.yaml", "extends: gone.yaml\n")
    assert error_of(path) == (  # the file that names it, not only the missing one
        f"{path}: extends: 'gone.yaml': no such file; looked for {tmp_path / 'gone.yaml'} (a path in extends is read "
        "from the folder of the file that names it)"
    )
    write(tmp_path, "top.yaml", "extends: m.yaml\n")
    assert error_of(tmp_path / "top.yaml").startswith(f"{path}: extends: 'gone.yaml': no such file;")


def test_extends_unknown_scenario_name(tmp_path):
    path = write(tmp_path, "m.yaml", "extends: nowhere\n")
    assert error_of(path).startswith(f"{path}: extends: scenario 'nowhere': no such scenario (known: default")


# --------------------------------------------------------------------------- overrides and hashes


def test_same_scenario_same_hash():
    a, b = load_scenario("default"), load_scenario("default")
    assert a is not b and a.hash() == b.hash()
    assert len(a.hash()) == 16 and int(a.hash(), 16) >= 0
    assert load_scenario(a) is a  # a Scenario without overrides passes through


@pytest.mark.parametrize(
    "overrides",
    [
        {"turns": 10},
        {"market.max_step": 0.2},
        {"market": {"pressure": 0.3}},
        {"goods.berries.spoil_rate": 0.5},
        {"creatures.oona.pebbles": 61.0},
        {"patron.heat_threshold": 2.0},
        {"legends": []},
    ],
    ids=lambda o: ",".join(o),
)
def test_overrides_change_the_hash_and_the_rules(overrides):
    base = load_scenario("default")
    changed = load_scenario("default", **overrides)
    assert changed.hash() != base.hash()
    assert changed != base
    # the same overrides reached through a Scenario object give the same rules and hash
    assert load_scenario(base, **overrides).hash() == changed.hash()


@pytest.mark.parametrize("mapping", ["creatures", "goods"])
def test_the_same_file_with_its_creatures_or_goods_reordered_is_another_world_and_hash(mapping, monkeypatch):
    # the order sets the agents' order and the order of the draws, so the games differ; before
    # RULES_VERSION 4 the hash (JSON with sorted keys) did not see it, and a resumed run could mix them
    from glade.env import scenario as scenario_module
    from glade.env.standin import act

    def pair():  # made afresh: a Scenario works its hash out once
        base = load_scenario("default")
        return base, dataclasses.replace(base, **{mapping: dict(reversed(getattr(base, mapping).items()))})

    base, reordered = pair()

    def oona_after_5_turns(s):
        env = parallel_env(s)
        obs, _ = env.reset(seed=3)
        for _ in range(5):
            obs, rewards, *_ = env.step({a: act(o, s.creatures[a].disposition) for a, o in obs.items()})
        return rewards["oona"]

    assert oona_after_5_turns(reordered) != pytest.approx(oona_after_5_turns(base))
    assert reordered.hash() != base.hash()
    monkeypatch.setattr(scenario_module, "RULES_VERSION", 3)
    base, reordered = pair()
    assert reordered.hash() == base.hash()  # what version 3 recorded


def test_an_override_to_the_current_value_keeps_the_hash():
    base = load_scenario("default")
    assert load_scenario("default", turns=30, **{"market.max_step": 0.15}).hash() == base.hash()


def test_dotted_and_nested_overrides_agree():
    a = load_scenario("default", **{"market.max_step": 0.2, "creatures.oona.pebbles": 5.0})
    b = load_scenario("default", market={"max_step": 0.2}, creatures={"oona": {"pebbles": 5.0}})
    assert a == b and a.hash() == b.hash()
    assert a.market.max_step == 0.2 and a.market.pressure == 0.1
    assert a.creatures["oona"].pebbles == 5.0 and a.creatures["oona"].produces == {"honey": 1.5}


def test_an_empty_mapping_replaces_rather_than_merges():
    from glade.env.schema import apply_overrides

    data = {"councils": {"a": {"oona": "hoarder"}}, "seeds": {"start": 0, "count": 4}}
    assert apply_overrides(data, {"councils": {}}) == {"councils": {}, "seeds": {"start": 0, "count": 4}}
    assert apply_overrides(data, {"councils": {"a": {}}})["councils"] == {"a": {}}  # nested too
    assert apply_overrides(data, {"seeds": {"count": 2}})["seeds"] == {"start": 0, "count": 2}  # others merge


def test_an_empty_council_override_is_refused_not_ignored(capsys):

    recipe = Path(__file__).resolve().parent.parent / "recipes" / "eval" / "crash-gambit.yaml"
    assert main(["eval", str(recipe), "councils={}", "--dry-run"]) == 2
    assert "councils: needs at least one council" in capsys.readouterr().err


def test_bad_override_names_the_scenario_file_and_key():
    default = SCENARIO_DIR / "default.yaml"
    with pytest.raises(ConfigError) as info:
        load_scenario("default", **{"market.max_stp": 0.2})
    assert str(info.value) == (
        f"{default} with market.max_stp=0.2: market.max_stp: unknown key (known: {MARKET_KEYS}); did you mean max_step?"
    )
    with pytest.raises(ConfigError) as info:
        load_scenario(load_scenario("default"), turns="x")
    assert str(info.value) == "default with turns='x': turns: expected an integer, got 'x'"


def test_env_scenario_hash_follows_overrides():
    assert parallel_env(turns=5).scenario.hash() == load_scenario("default", turns=5).hash()
    assert parallel_env(turns=5).scenario.hash() != parallel_env(turns=6).scenario.hash()
