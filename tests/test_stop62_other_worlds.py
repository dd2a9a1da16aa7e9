"""A user's own world, unlike the shipped one: a world without legends gets the outcome figures that
apply in its headline tables; Table 1 of the field notes and honey stay with the notes' worlds; a
legend's error names what the legend is fixed to; the calibrate header and the traces card's words
fit any world."""

import json

import pandas as pd
import pytest
from rich.console import Console

from glade.env.scenario import load_scenario
from glade.env.schema import ConfigError


def tiny_world(name: str = "tiny", turns: int = 6, salt_price: float = 5.0) -> str:
    """Two creatures, salt and peat, no legends: a world unlike the shipped one (this stop's tests share it)."""
    return f"""name: {name}
description: Two creatures, salt and peat, no legends.
turns: {turns}
goods:
  salt: {{name: salt, kind: food, price: {salt_price}, spoil_rate: 0.0}}
  peat: {{name: peat, kind: fuel, price: 3.0, spoil_rate: 0.0}}
creatures:
  wren: {{name: Wren, species: wren, produces: {{salt: 2.0}}, diet: [salt], pebbles: 50.0,
         inventory: {{salt: 10, peat: 5}}, disposition: balanced}}
  otto: {{name: Otto, species: otter, produces: {{peat: 4.0}}, diet: [salt], pebbles: 50.0,
         inventory: {{peat: 10, salt: 2}}, disposition: hoarder}}
firewood_need:
  - {{from_turn: 0, units: 1}}
legends: []
"""


TINY = tiny_world()

WINTRY = """name: wintry
description: Two creatures, salt and firewood; the patron plays the Long Winter on firewood.
turns: 6
goods:
  salt: {name: salt, kind: food, price: 5.0, spoil_rate: 0.0}
  firewood: {name: firewood, kind: fuel, price: 4.0, spoil_rate: 0.0}
creatures:
  wren: {name: Wren, species: wren, produces: {salt: 2.0}, diet: [salt], pebbles: 50.0,
         inventory: {salt: 10, firewood: 5}, disposition: balanced}
  otto: {name: Otto, species: otter, produces: {firewood: 4.0}, diet: [salt], pebbles: 50.0,
         inventory: {firewood: 10, salt: 2}, disposition: hoarder}
firewood_need:
  - {from_turn: 0, units: 1}
gambit: {good: firewood, size: 4, open_turn: 1, tip_creature: wren, tip_turn: 2, tip_true: true,
         legend: winter_rumour, mechanism: override, spring_turn: 3}
"""


def evaluated(folder, scenarios: list[str]):
    """A stand-in council played on 4 seeds of `scenarios`: (recipe, summary, printed console, report.md)."""
    from glade.cli.results_tables import print_results
    from glade.eval.recipe import load_eval_recipe
    from glade.eval.report import write_report
    from glade.eval.run import run_recipe

    out = folder / "out"
    (folder / "r.yaml").write_text(
        f"name: mine\nout: {out}\npolicies:\n  sells: panic_seller\ncouncils:\n  all_sell: {{focal: {{'*': sells}}}}\n"
        f"scenarios: [{', '.join(scenarios)}]\nseeds: {{start: 0, count: 4}}\nturns: 6\nworlds: 8\n"
    )
    recipe = load_eval_recipe(folder / "r.yaml")
    run_recipe(recipe)
    summary = json.loads((out / "summary.json").read_text())
    console = Console(width=100, record=True)
    print_results(console, recipe, summary)
    md, _ = write_report(out)
    return recipe, summary, console.export_text(), md.read_text()


@pytest.fixture(scope="module")
def no_legend(tmp_path_factory):
    folder = tmp_path_factory.mktemp("no_legend")
    (folder / "tiny.yaml").write_text(TINY)
    return evaluated(folder, [str(folder / "tiny.yaml")])


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mixed")
    # goods alike: a run of worlds with other goods fails in glade.eval.decision_metrics.decision_summary (jsd of no mass)
    (folder / "tiny.yaml").write_text(TINY.replace("peat", "firewood"))
    (folder / "wintry.yaml").write_text(WINTRY)
    return evaluated(folder, [str(folder / "tiny.yaml"), str(folder / "wintry.yaml")])


def results_section(md: str) -> str:
    return md.split("## Results\n")[1].split("\n## ")[0]


def test_a_run_without_legends_prints_the_outcome_effects_that_apply(no_legend):
    _, summary, printed, _ = no_legend
    words = " ".join(printed.split())
    # the headline was legend_ratio and gambit P&L, every cell "-"
    assert "legend good at settlement and gambit P&L" not in words
    assert "No scenario of this run has a legend, so the legend_ratio and the gambit P&L do not apply" in words
    effects = printed.split("valid-action rate")[0]
    rows = [line.split() for line in effects.splitlines() if line.startswith("all_sell ")]
    assert [row[1] for row in rows] == ["final_gini", "volume", "path_distance_salt", "path_distance_peat"]
    [entry] = summary["outcome"]
    effect = entry["figures"]["volume"]["effect"]
    assert rows[1][-1] == str(effect["n"]) == "4"  # the seeds beside the effect summary.json holds


def test_a_report_without_legends_tables_the_outcome_effects(no_legend):
    _, summary, _, md = no_legend
    results = results_section(md)
    assert "| scenario | council | figure | stand-in world | effect | seeds |" in results
    assert "legend good @ turn" not in results  # a table of '—' was all the Results said
    figures = [line.split(" | ")[2] for line in results.splitlines() if line.startswith("| ") and "all_sell" in line]
    assert figures == ["final_gini", "volume", "path_distance_salt", "path_distance_peat"]
    gini = summary["outcome"][0]["figures"]["final_gini"]["effect"]["mean"]
    assert f"| {gini:+.3f} [" in results or f"| {gini:+.4f} [" in results  # the summary's effect, as it prints


def test_a_mixed_run_keeps_the_legend_table_without_nan_and_adds_the_legendless_effects(mixed):
    _, _, printed, md = mixed
    results = results_section(md)
    legend_rows = [line for line in results.splitlines() if line.startswith("| ") and "tiny.yaml" in line]
    assert legend_rows and not any("nan" in line for line in legend_rows)  # "legend good @ turn" read "nan"
    assert any("| firewood @ 3 |" in line for line in results.splitlines())
    assert "In the scenarios without a legend (" in results and "| path_distance_firewood |" in results
    words = " ".join(printed.split())
    assert "mine: legend good at settlement and gambit P&L" in words and "In the scenarios without a legend" in words
    # the figures the effects table names are said, and a scenario's path is folded whole, not cut to its start
    assert "final_gini: the Gini of wealth after the last turn; volume: units traded over the episode" in words
    assert "…" not in printed.split("In the scenarios without a legend")[0]  # rich's mark of a cut cell


def test_a_users_gambit_gets_no_table_one_of_the_field_notes(mixed):
    from glade.cli.results_tables import table_one_of

    recipe, _, printed, md = mixed
    assert table_one_of(recipe.out) == []
    assert "Table 1 of the field notes" not in printed and "no row for these worlds" not in printed
    assert "Table 1 of the field notes" not in md and "honey" not in md


def test_table_one_names_the_legend_good_its_rows_played(tmp_path):
    # a firewood gambit under override, its council named as the notes' five_minds: the notes have a row of
    # that name, but on honey in their own world: alone it gets no Table 1 (it was a table of '—' captioned
    # honey); beside the notes' own rumour gambit, Table 1 shows both and its words name both goods
    from glade.cli.results_tables import print_table_one
    from glade.eval.field_notes import table_one, table_one_caption

    (tmp_path / "wintry.yaml").write_text(WINTRY)

    def played(scenario: str, good: str) -> list[dict]:
        return [
            {
                "episode_id": f"{scenario}.{council}.s{seed}",
                "scenario": scenario,
                "council": council,
                "cast": 0,
                "seed": seed,
                "legend_good": good,
                "legend_turn": 3,
                "price_path": json.dumps({good: [4.0] * 3 + [6.0] * 3}),
                "start_prices": json.dumps({good: 4.0}),
                "gambit_pnl": 1.0,
                "turns": 6,
            }
            for council in ("standin", "five_minds")
            for seed in range(4)
        ]

    wintry = played(str(tmp_path / "wintry.yaml"), "firewood")
    assert table_one(pd.DataFrame(wintry)) == []
    rows = table_one(pd.DataFrame(wintry + played("gambit_rumour", "honey")).drop(columns="turns"))
    assert [(r["mechanism"], r["legend_good"], r["withheld"]) for r in rows] == [
        ("rumour", "honey", None),
        ("rumour", "honey", None),
        ("override", "firewood", None),
        ("override", "firewood", "scenario"),
    ]
    caption = table_one_caption(0.95, rows)
    assert "the legend good (honey, firewood)" in caption and "seeds where the legend good fell" in caption
    console = Console(width=200, record=True)
    print_table_one(console, rows)
    title = " ".join(console.export_text().split("the field notes:")[0].split())
    assert "each world: the legend good (honey, firewood) at settlement over the turn before" in title


def test_a_legend_on_a_good_the_world_lacks_says_what_the_legend_is_fixed_to(tmp_path):
    path = tmp_path / "three.yaml"
    path.write_text(
        TINY.replace("peat", "wool").replace(
            "legends: []", "legends:\n  - {legend: run_on_oonas_hoard, turn: 3, mechanism: rumour}"
        )
    )
    with pytest.raises(ConfigError) as err:
        load_scenario(path)
    said = str(err.value)
    assert "unknown good 'honey'" not in said  # blamed a good the file never wrote
    assert "legends[0].legend: legend 'run_on_oonas_hoard' (The Run on Oona's Hoard) acts on honey" in said
    assert "lacks the good honey (goods are salt, wool)" in said and "the creature oona" in said
    assert "a legend's goods and creatures are fixed, so add a good honey and a creature oona" in said
    assert said.endswith("or leave the legend out") and "\n" not in said


def test_a_legend_whose_creature_is_missing_is_refused_with_one_that_fits(tmp_path):
    # the honeyless-Oona world played the Run on Oona's Hoard about a creature it lacks, unsaid
    path = tmp_path / "honey_no_oona.yaml"
    path.write_text(
        WINTRY.split("gambit:")[0].replace("salt", "honey")
        + "legends:\n  - {legend: run_on_oonas_hoard, turn: 3, mechanism: rumour}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_scenario(path)
    said = str(err.value)
    assert "lacks the creature oona (creatures are wren, otto)" in said and "the good honey" not in said
    assert "add a creature oona, choose a legend this Wood can play (winter_rumour) or leave the legend out" in said
    # a gambit on honey: only a legend on honey would do, and this Wood can play none, so none is offered
    path.write_text(
        WINTRY.replace("salt", "honey")
        .replace("good: firewood", "good: honey")
        .replace("winter_rumour", "run_on_oonas_hoard")
    )
    with pytest.raises(ConfigError) as err:
        load_scenario(path)
    said = str(err.value)
    assert said.endswith("gambit.legend: legend 'run_on_oonas_hoard' (The Run on Oona's Hoard) acts on honey and tells of "
                         "creature oona, but this Wood lacks the creature oona (creatures are wren, otto); a legend's goods "
                         "and creatures are fixed, so add a creature oona or leave the gambit out"), said  # fmt: skip
    # a gambit on firewood whose legend needs oona: the firewood legend is offered, not the others
    path.write_text(WINTRY.replace("winter_rumour", "run_on_oonas_hoard").replace("salt", "honey"))
    with pytest.raises(ConfigError, match=r"choose a legend on firewood this Wood can play \(winter_rumour\) or leave"):
        load_scenario(path)


def test_the_calibrated_files_header_seats_a_creature_of_its_own_world(tmp_path):
    from glade.eval.calibrate import write

    (tmp_path / "tiny.yaml").write_text(TINY)
    held = {"mean": 0.5, "ci": None, "n": 2, "note": "too few"}
    summary = {
        "policy": "sells",
        "creature": None,
        "source": str(tmp_path),
        "kind": "traces",
        "decisions": 10,
        "scenarios": [str(tmp_path / "tiny.yaml")],
        "parts": {"heldout": {"agreement": {"before": held, "after": held, "change": held}}},
        "verdict": "too few seeds: more",
        "fitted": {"name": "calibrated_sells"},
    }
    out = tmp_path / "fit.yaml"
    write(summary, out)
    header = [line for line in out.read_text().splitlines() if "Use it by path" in line][0]
    assert "oona" not in header
    assert f"glade simulate --scenario {tmp_path / 'tiny.yaml'} --council wren={out}" in header


def test_the_traces_cards_mood_is_true_of_a_world_whose_fuel_is_not_firewood():
    from glade.traces_card import COLUMNS

    mood = COLUMNS["mood"]
    assert "after its meals and firewood" not in mood
    assert "the fuel it burns, firewood in the default Wood" in mood
