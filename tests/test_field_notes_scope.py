"""The field notes' words sit only beside the worlds they describe (glade.eval.field_notes), and a
disposition file's refusals say what to do (glade.env.standin)."""

import json

import pandas as pd
import pytest

from glade.env import standin
from glade.env.scenario import SCENARIO_DIR, load_scenario
from glade.env.schema import ConfigError, read_yaml
from glade.eval.field_notes import SHIPPED_RECIPE, is_notes_council, table_one, table_one_caption, table_one_cells

TURNS = 8  # the quickstart's crash-gambit recipe's


def worlds(scenario: str, digest: str, councils=("standin", "one_model", "five_minds")) -> pd.DataFrame:
    rows = []
    for council in councils:
        for seed in range(4):
            rows.append(
                {
                    "episode_id": f"{scenario}.{council}.s{seed}",
                    "scenario": scenario,
                    "scenario_hash": digest,
                    "council": council,
                    "cast": 0,
                    "seed": seed,
                    "legend_good": "honey",
                    "legend_turn": 4,
                    "price_path": json.dumps({"honey": [10.0] * 4 + [9.0 + seed / 10] * (TURNS - 4)}),
                    "start_prices": json.dumps({"honey": 10.0}),
                    "gambit_pnl": 1.0 + seed,
                    "turns": TURNS,
                }
            )
    return pd.DataFrame(rows)


def test_the_quickstarts_scenarios_and_councils_keep_the_notes_rows():
    # the crash-gambit recipe plays each shipped gambit at turns 8: its rows' hashes are the shipped files'
    recipe = read_yaml(SHIPPED_RECIPE)
    for name in recipe["scenarios"]:
        digest = load_scenario(name, turns=recipe["turns"]).hash()  # as glade.rollout.recipe_scenario plays it
        rows = table_one(worlds(name, digest), recipe=recipe)
        assert all(r["withheld"] is None for r in rows)
        assert any(r["field_notes"] for r in rows)
    # a run's recipe.yaml spells rotate: 1 out, and the quickstart may pin an adapter's path
    written = recipe | {"councils": recipe["councils"] | {"one_model": {"focal": {"*": "panic_model"}, "rotate": 1}}}
    written["policies"] = recipe["policies"] | {"panic_model": {"kind": "checkpoint", "path": "/runs/train/x"}}
    assert is_notes_council("one_model", written) and is_notes_council("five_minds", written)
    assert table_one_caption(0.95, rows, written).endswith(
        "one_model: the panic-seller adapter on every seat; five_minds: five different creature models, one per "
        "creature, rotated over casts; standin: every seat the rule-based stand-in (the notes' 'test policy'). "
        "'—': the notes have no such row."
    )


def test_a_changed_gambit_of_the_shipped_name_is_not_the_notes_scenario():
    # a local recipes/scenarios/gambit_shock.yaml, or an extends that changes a key under `name: gambit_shock`
    rows = table_one(worlds("gambit_shock", "0123456789abcdef", councils=("standin",)))
    assert rows[0]["field_notes"] is None and rows[0]["withheld"] == "scenario"
    cells = table_one_cells(rows)[1][0]
    assert cells[:5] == ["shock", "standin", "— (not the field notes' scenario)", "—", "—"]
    # the shipped file at other turns than it ran is another world too
    other = load_scenario(SCENARIO_DIR / "gambit_shock.yaml", turns=TURNS + 1).hash()
    assert table_one(worlds("gambit_shock", other, councils=("standin",)))[0]["withheld"] == "scenario"
    # rows without a hash (older shards beside newer ones: NaN) or without their turns go by the name
    for episodes in (
        worlds("gambit_shock", None, councils=("standin",)),
        worlds("gambit_shock", "0123456789abcdef", councils=("standin",)).drop(columns="turns"),
    ):
        assert table_one(episodes)[0]["withheld"] is None


def test_a_users_scenario_and_council_get_no_notes_row_and_their_own_caption(tmp_path):
    from rich.console import Console

    from glade.cli.results_tables import print_table_one
    from glade.eval.recipe import load_eval_recipe
    from glade.eval.results_folder import read_recipe, read_table
    from glade.eval.run import run_recipe

    # the walk's my_shock.yaml: the shipped shock gambit with honey at 14 and Oona a panic seller
    (tmp_path / "my_shock.yaml").write_text(
        "extends: gambit_shock\ngoods: {honey: {price: 14}}\ncreatures: {oona: {disposition: panic_seller}}\n"
    )
    out = tmp_path / "out"
    (tmp_path / "r.yaml").write_text(
        f"name: walk\nout: {out}\npolicies:\n  sells: panic_seller\ncouncils:\n  oona_sells: {{focal: {{oona: sells}}}}\n"
        f"scenarios: [{tmp_path / 'my_shock.yaml'}]\nseeds: {{start: 0, count: 4}}\nturns: {TURNS}\nworlds: 8\n"
    )
    run_recipe(load_eval_recipe(tmp_path / "r.yaml"))
    recipe = read_recipe(out)
    rows = table_one(read_table(out / "episodes.parquet"), recipe=recipe)
    assert [(r["mechanism"], r["world"], r["withheld"]) for r in rows] == [
        ("shock", "standin", "scenario"),
        ("shock", "oona_sells", None),
    ]
    assert [c[2:5] for c in table_one_cells(rows)[1]] == [["— (not the field notes' scenario)", "—", "—"], ["—"] * 3]
    caption = table_one_caption(0.95, rows, recipe)
    assert "one_model" not in caption and "five_minds" not in caption and "panic-seller adapter" not in caption
    assert "oona_sells: oona sells (the panic_seller stand-in), every other seat its stand-in; standin:" in caption
    assert "played in the shipped gambit_shock (as glade ships it, at the turns played)" in caption
    console = Console(width=200, record=True)
    print_table_one(console, rows)
    printed = console.export_text()
    assert "worked 'beautifully'" not in printed and "— (not the field notes' scenario)" in printed


def test_a_council_of_the_notes_name_defined_otherwise_gets_no_notes_row():
    recipe = read_yaml(SHIPPED_RECIPE)
    mine = recipe | {"councils": {"one_model": {"focal": {"oona": "panic_model"}}, "five_minds": {"focal": {}}}}
    digest = load_scenario("gambit_rumour", turns=TURNS).hash()
    rows = table_one(worlds("gambit_rumour", digest, councils=("standin", "one_model")), recipe=mine)
    assert [(r["world"], r["withheld"], r["field_notes"]) for r in rows] == [
        ("standin", None, None),
        ("one_model", "council", None),
    ]
    assert table_one_cells(rows)[1][1][2] == "— (not the field notes' council)"
    caption = table_one_caption(0.95, rows, mine)
    assert "panic-seller adapter" not in caption and "five_minds" not in caption
    assert "one_model: oona panic_model (checkpoint latest:tiny-panic-seller), every other seat its stand-in" in caption
    assert "'— (not the field notes' council)': the recipe defines that council otherwise" in caption


def test_a_shipped_name_changed_lists_each_key_and_the_defaults_it_took(tmp_path):
    # the walk's file: `name: hoarder` and budget 0.9; horizon and the rest came from Disposition's defaults
    path = tmp_path / "mine.yaml"
    path.write_text("name: hoarder\nbudget: 0.9\n")
    with pytest.raises(ConfigError) as err:
        standin.disposition(str(path))
    assert str(err.value) == (
        f"{path}: its name 'hoarder' is a shipped disposition's, but it differs from the shipped one in "
        "horizon 2 (a default: not in the file; shipped 3), surplus 3 (a default: not in the file; shipped 30), "
        "budget 0.9 (shipped 0.7), on_fall 'ignore' (a default: not in the file; shipped 'hoard'), "
        "on_rise 'ignore' (a default: not in the file; shipped 'hoard'); results tell stand-ins apart by name, so "
        "give the file a name of its own (name: ...), or write the shipped values"
    )


def test_an_unknown_name_points_at_a_checkouts_disposition_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as err:
        standin.disposition("skittish")
    assert str(err.value).endswith("or a path to a disposition .yaml)")  # no file: no hint
    (tmp_path / "recipes" / "dispositions").mkdir(parents=True)
    (tmp_path / "recipes" / "dispositions" / "skittish.yaml").write_text("name: skittish\non_fall: dump\n")
    with pytest.raises(ValueError) as err:
        standin.disposition("skittish")
    assert str(err.value).endswith(
        "or a path to a disposition .yaml); recipes/dispositions/skittish.yaml exists: pass its path (in a scenario "
        "file, a path from that file's folder)"
    )
    assert standin.disposition("recipes/dispositions/skittish.yaml").on_fall == "dump"  # as the hint says
