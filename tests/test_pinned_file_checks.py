"""Tests written by a mutation audit of the validation of the files users write (glade.env.schema,
glade.env.scenario_check, glade.config, glade.checkpoint): each pins a behaviour that a
plausible one-line change (a comparison flipped, an off-by-one at a bound, a clause dropped, a
type let through) left untested. The comment on each names what it guards."""

from __future__ import annotations

import json

import pytest
import yaml
from test_checkpoint import fake
from test_pinned_bounds_gossip_servers import SHOCK, honey

from glade import checkpoint
from glade.config import ConfigError, Seeds, changes, check_seeds, load_recipe, parse_override
from glade.env import load_scenario
from glade.env.scenario import Gambit, scenario_from_dict
from glade.env.scenario_check import MAX_UNITS
from glade.env.schema import apply_overrides, as_plain, build, number_hint, read_yaml
from glade.env.strict_yaml import load_unique
from glade.eval.recipe import Lever
from glade.kinds import check_kind


def refused(**overrides) -> str:
    """The one-line ConfigError the default scenario with `overrides` is refused with."""
    with pytest.raises(ConfigError) as info:
        load_scenario("default", **overrides)
    return str(info.value)


# --------------------------------------------------------------------------- schema: types


def test_a_hint_for_an_exponent_always_writes_a_dot_and_a_sign_yaml_reads_as_a_number():
    # guards number_hint's `sign or '+'` (and `point or '.0'`): PyYAML reads 1.0e308 as text too
    assert number_hint("1e308") == " (YAML reads 1e308 as text: write 1.0e+308)"
    assert number_hint("2.5e3") == " (YAML reads 2.5e3 as text: write 2.5e+3)"
    assert yaml.safe_load("x: 1.0e+308") == {"x": 1e308} and yaml.safe_load("x: 2.5e+3") == {"x": 2500.0}


def test_a_quoted_exponent_already_written_as_yaml_reads_numbers_gets_no_hint():
    # guards number_hint's `number != value.strip()`: quoting is the mistake then, not the spelling
    assert number_hint("1.0e+5") == ""
    assert number_hint(" 1.0e-3 ") == ""
    assert "YAML reads" not in refused(**{"market.pressure": "1.0e+5"})


def test_a_string_where_a_list_belongs_is_refused_not_split_into_letters():
    # guards _convert's list check: `diet: acorns` would otherwise be the diet a, c, o, r, n, s
    message = refused(**{"creatures.oona.diet": "acorns"})
    assert message.endswith("creatures.oona.diet: expected a list, got 'acorns'")


def test_an_integer_is_not_true_or_false_and_true_is_not_an_integer():
    # guards _convert's bool check (1 is not `true`) and the int check's `isinstance(value, bool)`
    assert refused(gambit={"tip_true": 1}).endswith("gambit.tip_true: expected true or false, got 1")
    assert refused(turns=True).endswith("turns: expected an integer, got True")
    assert load_scenario("default", gambit={"tip_true": False}).gambit == Gambit(tip_true=False)


def test_as_plain_writes_a_fields_yaml_key_and_builds_back_the_same():
    # guards as_plain's `_key(f)`: Lever's `from_` is written `from`, which build reads back
    lever = build(Lever, {"name": "glut", "from": "gambit_rumour", "to": "gambit_shock"})
    plain = as_plain(lever)
    assert plain == {"name": "glut", "from": "gambit_rumour", "to": "gambit_shock", "figure": "legend_ratio"}
    assert build(Lever, plain) == lever


def test_an_empty_yaml_file_reads_as_an_empty_mapping(tmp_path):
    # guards read_yaml's `data is None -> {}`: an empty recipe is "missing required key", not a crash
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n")
    assert read_yaml(path) == {}
    with pytest.raises(ConfigError, match=r"empty\.yaml: name: missing required key \(a string\)"):
        build(Lever, read_yaml(path), str(path))


# --------------------------------------------------------------------------- schema: YAML keys


def test_two_merge_keys_in_one_mapping_are_not_a_key_given_twice():
    # guards _check_unique's exemption of the merge key `<<` from the duplicate check
    text = "a: &a {x: 1}\nb: &b {y: 2}\nc:\n  <<: *a\n  <<: *b\n  z: 3\n"
    assert load_unique(text)["c"] == {"x": 1, "y": 2, "z": 3}


def test_a_number_key_and_the_same_text_quoted_are_two_keys():
    # guards _check_unique's `(key.tag, key.value)`: `1:` and `"1":` are different keys
    assert load_unique('1: a\n"1": b\n') == {1: "a", "1": "b"}
    with pytest.raises(ValueError, match=r"1: given twice \(lines 1 and 2\)"):
        load_unique('"1": a\n"1": b\n')


# --------------------------------------------------------------------------- schema: overrides


def test_an_override_leaves_the_mapping_it_was_given_untouched():
    # guards apply_overrides's deep copy: a nested override must not write into the caller's data
    data = {"market": {"max_step": 0.15, "depth": 10}, "turns": 30}
    out = apply_overrides(data, {"market.max_step": 0.2, "turns": 5})
    assert out == {"market": {"max_step": 0.2, "depth": 10}, "turns": 5}
    assert data == {"market": {"max_step": 0.15, "depth": 10}, "turns": 30}


def test_a_dotted_override_through_a_list_is_refused_naming_it():
    # guards apply_overrides's `not isinstance(child, dict)`: a list has no keys to set either
    with pytest.raises(ConfigError, match=r"^x\.yaml: legends: is \[\{'legend'"):
        apply_overrides({"legends": [{"legend": "l", "turn": 1}]}, {"legends.turn": 3}, "x.yaml")


# --------------------------------------------------------------------------- scenario bounds


def test_prices_exactly_at_their_bounds_load_and_one_past_is_refused():
    # guards check's `price_floor < MIN_PRICE`, `price > MAX_PRICE` and `price < price_floor`
    s = load_scenario("default", **{"goods.honey.price_floor": 0.01, "goods.acorns.price": 10_000.0})
    assert (s.goods["honey"].price_floor, s.goods["acorns"].price) == (0.01, 10_000.0)
    assert load_scenario("default", **{"goods.honey.price": 0.5}).goods["honey"].price == 0.5  # = its floor
    assert "goods.honey.price: must be at least its price_floor (0.5), got 0.49" in refused(
        **{"goods.honey.price": 0.49}
    )
    assert "goods.acorns.price: must be at most 10,000" in refused(**{"goods.acorns.price": 10_000.01})


def test_a_market_of_one_creature_is_refused():
    # guards check's `len(s.creatures) < 2`
    data = load_scenario("default").to_dict()
    data["creatures"] = {"oona": data["creatures"]["oona"]}
    with pytest.raises(ConfigError, match=r"^x: creatures: a market needs at least two creatures$"):
        scenario_from_dict(data, "x")


def test_a_rate_or_a_store_of_a_million_units_is_refused_by_its_own_key():
    # guards check's `rate >= MAX_UNITS` and `units >= MAX_UNITS` (not left to check_reach's message)
    assert "creatures.oona.produces.honey: must be from 0 to 999,999, got 1000000" in refused(
        **{"creatures.oona.produces.honey": 1_000_000}
    )
    assert "creatures.oona.inventory.honey: must be from 0 to 999,999, got 1000000" in refused(
        **{"creatures.oona.inventory.honey": 1_000_000}
    )


def test_pebbles_of_a_billion_are_refused_by_the_creatures_own_key():
    # guards check's `c.pebbles < MAX_PEBBLES` (not left to check_reach's sum)
    assert "creatures.oona.pebbles: must be from 0 to below 1,000,000,000" in refused(**{"creatures.oona.pebbles": 1e9})


def test_an_appetite_of_63_loads_and_64_is_refused():
    # guards check's `c.appetite < 64`
    assert load_scenario("default", **{"creatures.oona.appetite": 63}).creatures["oona"].appetite == 63
    assert "creatures.oona.appetite: must be from 0 to 63" in refused(**{"creatures.oona.appetite": 64})


def test_a_creature_name_of_64_characters_loads_and_65_is_refused():
    # guards check's `len(text) > 64` for a creature's name and species
    assert load_scenario("default", **{"creatures.oona.name": "O" * 64}).creatures["oona"].name == "O" * 64
    assert "creatures.oona.species: must be 1 to 64 printable" in refused(**{"creatures.oona.species": "o" * 65})


def test_a_legend_on_turn_minus_one_is_refused_and_turn_zero_loads():
    # guards check's `ev.turn < 0`
    legend = {"legend": "run_on_oonas_hoard", "mechanism": "rumour"}
    assert load_scenario("default", legends=[{**legend, "turn": 0}]).legends[0].turn == 0
    assert "legends[0].turn: must not be negative" in refused(legends=[{**legend, "turn": -1}])


def test_a_gambit_covered_before_it_springs_is_refused_and_covered_as_it_springs_loads():
    # guards check's `spring_turn <= cover` (the gambit's turns run in order)
    assert load_scenario("default", gambit={"spring_turn": 4, "cover_turn": 4}).gambit.cover_turn == 4
    message = refused(gambit={"spring_turn": 4, "cover_turn": 3})
    assert message.endswith("gambit: turns must run open_turn <= spring_turn <= cover_turn, got 1, 4, 3")


def test_a_gambit_opened_on_turn_minus_one_is_refused_and_turn_zero_loads():
    # guards check's `g.open_turn < 0`
    assert load_scenario("default", gambit={"open_turn": 0}).gambit.open_turn == 0
    assert refused(gambit={"open_turn": -1}).endswith("gambit.open_turn: must not be negative")


def test_two_firewood_steps_from_the_same_turn_are_refused():
    # guards check's `step.from_turn <= previous from_turn` (rising, not merely not falling)
    steps = [{"from_turn": 0, "units": 1}, {"from_turn": 0, "units": 2}]
    message = refused(firewood_need=steps)
    assert message.endswith("firewood_need[1].from_turn: steps must be listed in rising from_turn order")


def test_shares_exactly_at_their_upper_bound_load():
    # guards the range check's `value > high` (1 itself is a share)
    s = load_scenario("default", **{"market.trade_weight": 1.0, "social.decay": 1.0, "patron.heat_decay": 1.0})
    assert (s.market.trade_weight, s.social.decay, s.patron.heat_decay) == (1.0, 1.0, 1.0)
    for key in ("market.trade_weight", "social.decay", "patron.margin", "patron.heat_decay", "mood.reversion"):
        assert f"{key}: must be at least 0 and at most 1, got 1.01" in refused(**{key: 1.01})


def test_a_maintenance_equal_to_the_margin_loads_and_above_it_is_refused():
    # guards check's `maintenance > margin`
    assert load_scenario("default", **{"patron.maintenance": 0.5}).patron.maintenance == 0.5  # margin 0.5
    assert refused(**{"patron.maintenance": 0.51}).endswith(
        "patron.maintenance: must not exceed patron.margin (a position would be called when opened)"
    )


def test_a_shock_legend_or_gambit_due_on_the_last_turn_plus_one_never_fires_so_never_counts():
    # guards check_reach's `ev.turn < s.turns` and `spring_turn < s.turns` (turns run 0 to turns - 1)
    late = [{**SHOCK[0], "turn": 1}]
    load_scenario("default", turns=1, legends=late, **honey(MAX_UNITS - 44))
    gambit = {"mechanism": "shock", "spring_turn": 4}
    load_scenario("default", turns=4, legends=[], gambit=gambit, **honey(MAX_UNITS - 44))
    assert "could reach 1,000,000 units" in refused(turns=5, legends=[], gambit=gambit, **honey(MAX_UNITS - 44))


def test_a_shock_that_carries_units_off_does_not_lower_the_bound():
    # guards check_reach's `shock_units > 0`: stores may reach the bound before the agents come
    mushrooms = {"creatures.moss.produces": {}, "creatures.moss.inventory": {"mushrooms": MAX_UNITS - 2}}
    taken = [{"legend": "hollow_log_company", "turn": 0, "mechanism": "shock"}]
    assert "goods.mushrooms: the creatures' stores (1,000,000) and 1 turn(s)" in refused(
        turns=1, legends=taken, **mushrooms
    )


def test_pebbles_that_together_reach_a_billion_are_refused_one_fewer_loads():
    # guards check_reach's `pebbles >= MAX_PEBBLES` (the others hold 160)
    load_scenario("default", **{"creatures.oona.pebbles": 1e9 - 161})
    message = refused(**{"creatures.oona.pebbles": 1e9 - 160})
    assert "creatures: their pebbles together (1,000,000,000) must be below 1,000,000,000" in message


@pytest.mark.parametrize("key", ["market.max_orders", "market.max_qty", "market.depth"])
def test_a_count_of_zero_is_refused_where_the_least_is_one(key):
    # guards the range check's lowest 1 for max_orders, max_qty and depth
    assert f"{key}: must be at least 1" in refused(**{key: 0}) and refused(**{key: 0}).endswith(", got 0")
    assert as_plain(load_scenario("default", **{key: 1}).market)[key.removeprefix("market.")] == 1


# --------------------------------------------------------------------------- recipes (glade.config)


def test_a_seed_start_of_minus_one_is_refused_and_zero_passes():
    # guards check_seeds's `seeds.start < 0`
    check_seeds(Seeds(start=0, count=1), "g.yaml")
    with pytest.raises(ConfigError, match=r"^g\.yaml: seeds\.start: must be 0 or more \(a world seed\), got -1$"):
        check_seeds(Seeds(start=-1, count=1), "g.yaml")


def test_an_override_splits_at_its_first_equals_sign_and_trims_its_key():
    # guards parse_override's `split("=", 1)` and `key.strip()`
    assert parse_override("out=runs/a=b") == ("out", "runs/a=b")
    assert parse_override(" seeds.count =3") == ("seeds.count", 3)


def test_an_empty_override_value_is_the_empty_text_and_bad_yaml_is_kept_as_text():
    # guards parse_override's `if raw.strip() else ""` (not None) and its YAMLError fallback to the raw text
    assert parse_override("out=") == ("out", "")
    assert parse_override("name=[unclosed") == ("name", "[unclosed")


def test_a_folder_named_like_a_recipe_kind_outside_recipes_is_not_refused(tmp_path):
    # guards check_kind's `parent.parent.name == "recipes"`: only recipes/<folder>/ says a kind
    check_kind(tmp_path / "eval" / "mine.yaml", "generate", "`glade generate`")
    path = tmp_path / "recipes" / "eval" / "mine.yaml"
    with pytest.raises(ConfigError) as info:
        check_kind(path, "generate", "`glade generate`")
    assert str(info.value) == f"{path}: an eval recipe (recipes/eval/); `glade generate` takes a generate recipe"


def test_only_a_missing_path_under_recipes_is_pointed_at_the_shipped_copy(tmp_path, monkeypatch):
    # guards _shipped_hint's `parts[0] != "recipes"`: another folder's missing file is just missing
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^mine/scenarios/default\.yaml: no such file$"):
        load_recipe(Lever, "mine/scenarios/default.yaml")
    with pytest.raises(ConfigError, match=r"^recipes/scenarios/default\.yaml: no such file here; glade's shipped copy"):
        load_recipe(Lever, "recipes/scenarios/default.yaml")


def test_changes_lists_six_and_counts_the_rest():
    # guards changes's `parts[:6]` and its "and N more"
    old = {k: 0 for k in "abcdefg"}
    new = {k: 1 for k in "abcdefg"}
    assert changes(old, new) == "a: 0 -> 1, b: 0 -> 1, c: 0 -> 1, d: 0 -> 1, e: 0 -> 1, f: 0 -> 1 and 1 more"
    assert changes({k: 0 for k in "abcdef"}, {k: 1 for k in "abcdef"}).endswith("f: 0 -> 1")


def test_changes_shows_an_empty_mapping_as_a_value_that_changed():
    # guards _flat's `and data`: `councils: {}` becoming a council is a change of councils too
    assert changes({"councils": {}}, {"councils": {"c": 1}}) == "councils: {} -> <none>, councils.c: <none> -> 1"


def test_changes_keeps_a_value_of_60_characters_whole_and_cuts_61_to_both_ends():
    # guards _short's `len(text) <= 60` and its 28 + ... + 29 cut
    whole = "a" * 60
    assert changes({"p": whole}, {"p": "z"}) == f"p: {whole} -> z"
    long = "a" * 30 + "b" * 31
    assert changes({"p": long}, {"p": "z"}) == f"p: {'a' * 28}...{'b' * 29} -> z"


# --------------------------------------------------------------------------- checkpoint folders


def test_an_adapter_without_meta_json_or_with_an_empty_base_model_is_refused(tmp_path):
    # guards read's `not meta_path.exists()` (named apart from a meta.json without a base) and `not base`
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "adapter_config.json").write_text("{}")
    with pytest.raises(ValueError, match=r"bare: a LoRA adapter with no meta\.json naming its base model$"):
        checkpoint.read(bare)
    empty = fake(tmp_path, "empty", {"name": "x", "kind": "lora", "base_model": ""})
    with pytest.raises(ValueError, match=r"empty: meta\.json has no base_model for this LoRA adapter$"):
        checkpoint.read(empty)


def test_a_model_folder_is_merged_only_when_its_meta_says_so(tmp_path):
    # guards read's `meta.get("kind") == "merged"`
    merged = checkpoint.read(fake(tmp_path, "m", {"name": "x", "kind": "merged"}, ("config.json",)))
    full = checkpoint.read(fake(tmp_path, "f", {"name": "x", "kind": "full"}, ("config.json",)))
    assert (merged.kind, full.kind, merged.is_adapter, merged.base_model) == ("merged", "full", False, None)


def test_a_meta_json_that_is_a_list_is_refused_naming_it(tmp_path):
    # guards _meta's `not isinstance(meta, dict)`
    folder = fake(tmp_path, "l", {}, ("config.json",))
    (folder / "meta.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"meta\.json: a JSON list, not an object; it is the record glade train"):
        checkpoint.read(folder)


@pytest.mark.parametrize("name", [".creature__2.partial-copy", "creature__2.partial"])
def test_only_a_hidden_partial_folder_named_exactly_so_is_an_interrupted_run(tmp_path, name):
    # guards finished's `PARTIAL.fullmatch` and the pattern's leading dot
    folder = fake(tmp_path, name, {"name": "creature", "kind": "full"}, ("config.json",))
    assert checkpoint.finished(folder).kind == "full"


def test_latest_counts_a_run_whose_meta_names_no_recipe_and_never_a_merged_one(tmp_path):
    # guards latest's `meta.get("name", name) == name` and `meta.get("kind") != "merged"`
    older = fake(tmp_path, "x__0__20260101-000000", {"kind": "lora", "base_model": "b"})
    fake(tmp_path, "x__1__20260301-000000", {"name": "x", "kind": "merged"}, ("config.json",))
    assert checkpoint.latest("x", tmp_path) == older


def test_latest_is_the_newest_by_its_time_not_by_its_seed(tmp_path):
    # guards latest's sort on the stamp first: seed 9 sorts after seed 10 by name
    newer = fake(tmp_path, "x__10__20260301-000000", {"name": "x", "kind": "lora", "base_model": "b"})
    fake(tmp_path, "x__9__20260101-000000", {"name": "x", "kind": "lora", "base_model": "b"})
    assert checkpoint.latest("x", tmp_path) == newer


def test_latest_passes_over_a_meta_json_list_and_resolve_names_only_that_one(tmp_path):
    # guards latest's `not isinstance(meta, dict)` and _unreadable_meta's OSError (no meta.json) -> False
    fake(tmp_path, "x__1__20260101-000000", {}).joinpath("meta.json").write_text(json.dumps([1]))
    (tmp_path / "x__2__20260201-000000").mkdir()  # no meta.json: unfinished, not unreadable
    assert checkpoint.latest("x", tmp_path) is None
    with pytest.raises(ValueError) as info:
        checkpoint.resolve("latest:x", tmp_path)
    assert str(info.value).endswith("; skipped for a meta.json that is not a JSON object: x__1__20260101-000000")


def test_changes_names_a_whole_added_or_removed_mapping_once():
    old = {"councils": {"c1": {"focal": {"oona": "a"}, "rotate": 1}}, "seeds": {"count": 6}}
    new = {"councils": {**old["councils"], "c3": {"focal": {"*": "spec"}, "rotate": 1}}, "seeds": {"count": 8}}
    assert changes(old, new) == "councils.c3: added, seeds.count: 6 -> 8"  # not its rotate default
    assert changes(new, old) == "councils.c3: removed, seeds.count: 8 -> 6"
    assert changes({"lora": {"r": 4}}, {"lora": {"r": 8, "alpha": 16}}) == "lora.alpha: <none> -> 16, lora.r: 4 -> 8"
