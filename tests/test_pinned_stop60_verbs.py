"""Tests written by the stop-60 mutation audit of modules no earlier audit mutated: what the verbs read
and print (glade.resume_upgrade, glade.hub.scenario_settings, glade.cli.validate, results_tables).
Each pins a behaviour that a plausible one-line change (a comparison flipped, a term dropped, a
bound moved) left untested. The comment on each names what it guards."""

from __future__ import annotations

import argparse
import errno
import io
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from test_field_notes import seat_rows  # tests/ is on sys.path under pytest

from glade.cli import validate
from glade.cli.results_tables import (
    _unbroken_table,
    print_results,
    print_table_one,
    run_lines,
    self_buy_line,
    wall_text,
)
from glade.cli.validate import collect, looks_like, overrides_of, validate_file
from glade.config import ConfigError
from glade.env import load_scenario
from glade.eval.field_notes import table_one
from glade.eval.recipe import EvalRecipe
from glade.hub.scenario_settings import differ_words, played_settings, settings_differ, trained_settings
from glade.resume_upgrade import legacy_episodes, recorded_recipe, unasked, unresumable


# glade/resume_upgrade.py:23, 104-106 -- an older ledger's parts: a number, or a shard path's last number
def test_legacy_episodes_read_part_numbers_and_shard_paths():
    got = legacy_episodes({"e1": 3, 7: "data/part-00012.parquet"})
    assert got == {"e1": {"part": 3, "faults": 0}, "7": {"part": 12, "faults": 0}}


_HF = {"kind": "hf", "model": "m"}


# glade/resume_upgrade.py:44-58 -- `worlds` and a seat's batch_size are not asked of a ledger that predates them
def test_unasked_leaves_out_what_the_ledger_predates():
    recipe = {
        "worlds": 8,
        "turns": 6,
        "policies": {"m": _HF | {"batch_size": 4}, "new": _HF | {"batch_size": 2}},
        "councils": {"c": {"focal": {"oona": _HF | {"batch_size": 4}}}},
    }
    written = {"turns": 6, "policies": {"m": _HF}, "councils": {"c": {"focal": {"oona": _HF}}}}
    assert unasked(written, recipe) == {
        "turns": 6,
        "policies": {"m": _HF, "new": _HF | {"batch_size": 2}},  # no written counterpart: kept as it is
        "councils": {"c": {"focal": {"oona": _HF}}},
    }
    newer = {"worlds": 8, "policies": {"m": _HF | {"batch_size": 4}}, "councils": recipe["councils"]}
    assert unasked(newer, recipe) == recipe


# glade/resume_upgrade.py:65-67 -- only an unfinished run of an older ledger (no format, no recipe.yaml) is refused
def test_unresumable_says_only_an_old_unfinished_run(tmp_path):
    assert unresumable(tmp_path, None, "eval") is None
    assert unresumable(tmp_path, {"format": 2, "episodes": {}}, "eval") is None
    said = unresumable(tmp_path, {"e1": 0}, "eval")
    assert said.startswith("an unfinished `glade eval` run from an older glade,") and said.endswith(
        "every world plays again"
    )
    assert unresumable(tmp_path, {"e1": 0}, "generate").endswith("every episode plays again")
    (tmp_path / "recipe.yaml").write_text("name: r\n")
    assert unresumable(tmp_path, {"e1": 0}, "eval") is None


# glade/resume_upgrade.py:80-83 -- a recipe.yaml that is no YAML, or no mapping, records no recipe
@pytest.mark.parametrize("text", ["name: [unclosed\n", "- a list\n"])
def test_a_broken_recipe_yaml_records_no_recipe(tmp_path, text):
    (tmp_path / "recipe.yaml").write_text(text)
    with pytest.raises(ValueError, match="records no recipe, and the folder has no readable recipe.yaml"):
        recorded_recipe(tmp_path, {"turns": 6})


# glade/resume_upgrade.py:37, 90-98 -- recipe.yaml read in the ledger's terms: seat specs without transport keys
# (a nested one too; one ours holds as no spec stays as written), one results_spec refuses left as written
def test_recorded_recipe_reads_seat_specs_as_the_ledger_records_them(tmp_path):
    (tmp_path / "bad.yaml").write_text("horizon: nope\n")
    bad = {"kind": "standin", "disposition": str(tmp_path / "bad.yaml")}
    written = {
        "name": "r",
        "turns": 6,
        "policies": {"m": _HF | {"timeout": 30}, "b": bad, "was": _HF | {"timeout": 30}},
        "councils": {"c": {"focal": {"oona": _HF | {"timeout": 30}}}},
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(written))
    ours = {"turns": 8, "policies": {"m": _HF, "b": bad, "was": "hoarder"}, "councils": {"c": {"focal": {"oona": _HF}}}}
    assert recorded_recipe(tmp_path, ours) == {
        "turns": 6,
        "policies": {"m": _HF, "b": bad, "was": _HF | {"timeout": 30}},  # no spec in ours: as written
        "councils": {"c": {"focal": {"oona": _HF}}},
    }


# glade/hub/scenario_settings.py:172-176, 185-189 -- texts of up to 40 characters and no local path, numbers,
# booleans and null are quoted, in order (here against there); a nested key is dotted; anything else is named
def test_settings_differ_quotes_short_values_and_names_the_rest():
    here = {"turns": 8, "a": "x" * 40, "b": "x" * 41, "c": "/home/alice/h.yaml", "d": None, "e": [1], "m": {"k": 1}}
    there = {"turns": 12, "a": "y" * 40, "b": "y", "c": "h.yaml", "d": True, "e": [2], "m": {"k": 2}}
    assert settings_differ(here, there) == [
        f"a {'x' * 40} against {'y' * 40}",
        "b differs",
        "c differs",
        "d None against True",
        "e differs",
        "m.k 1 against 2",
        "turns 8 against 12",
    ]


# glade/hub/scenario_settings.py:186 -- a mapping on one side only is one setting that differs, not its keys
def test_settings_differ_names_a_mapping_against_a_value():
    assert settings_differ({"m": {"k": 1}, "n": 1}, {"m": None, "n": 1}) == ["m differs"]


# glade/hub/scenario_settings.py:12, 190-193 -- the order of goods (and creatures) at the top counts; a nested
# mapping's order does not; keys only one side has are no order
def test_settings_differ_names_the_order_of_goods_only_at_the_top():
    here = {"goods": {"honey": 1, "wood": 2, "salt": 3}, "creatures": {"oona": {"x": 1, "y": 2}}}
    there = {"goods": {"wood": 2, "honey": 1, "tea": 4}, "creatures": {"oona": {"y": 2, "x": 1}}}
    assert settings_differ(here, there) == [
        "goods.salt 3 against None",
        "goods.tea None against 4",
        "the order of goods differs",
    ]
    assert settings_differ({"goods": {"a": 1, "b": 2, "c": 3}}, {"goods": {"a": 1, "c": 3}}) == [
        "goods.b 2 against None"
    ]
    assert settings_differ({"m": {"goods": {"a": 1, "b": 2}}}, {"m": {"goods": {"b": 2, "a": 1}}}) == []


# glade/hub/scenario_settings.py:200-209 -- at most five settings then "and N more"; a digest tagged only where
# there are several; a digest whose settings are not known says nothing; none known at all: nothing
def test_differ_words_counts_past_five_and_tags_several_digests():
    here = {f"k{i}": 0 for i in range(7)}
    six = {f"k{i}": 1 for i in range(6)} | {"k6": 0}
    five = {f"k{i}": 1 for i in range(5)} | {"k5": 0, "k6": 0}
    assert differ_words(here, {"d1": six}, ["d1"]) == (
        ": k0 0 against 1, k1 0 against 1, k2 0 against 1, k3 0 against 1, k4 0 against 1 and 1 more"
    )
    assert differ_words(here, {"d1": five}, ["d1"]) == ": " + ", ".join(f"k{i} 0 against 1" for i in range(5))
    two = differ_words(here, {"d1": {**here, "k0": 2}, "d2": {**here, "k1": 3}}, ["d1", "d2", "d3"])
    assert two == ": k0 0 against 2 (against `d1`); k1 0 against 3 (against `d2`)"
    assert differ_words(here, {}, ["d1"]) == "" and differ_words(None, {"d1": six}, ["d1"]) == ""
    assert differ_words(here, {"d1": here}, ["d1"]) == ""


# glade/hub/scenario_settings.py:151, 154-156 -- a traces recipe's scenario at its own turns gives the recorded hash
# (the shipped one at its default turns does not); two hashes of one name are both kept, one no scenario
# here gives is left out
def test_trained_settings_read_the_traces_recipe_at_its_turns(tmp_path):
    eight, ten = load_scenario("gambit_rumour", turns=8), load_scenario("gambit_rumour", turns=10)
    for name, scenario in (("a", eight), ("b", ten)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "recipe.yaml").write_text(f"scenarios: [gambit_rumour]\nturns: {scenario.turns}\n")
    folders = [
        {"folder": str(tmp_path / "a"), "scenario_hashes": {"gambit_rumour": eight.hash()}},
        {"folder": str(tmp_path / "b"), "scenario_hashes": {"gambit_rumour": ten.hash(), "gone": "0" * 16}},
        {"folder": str(tmp_path / "a"), "scenario_hashes": {"gambit_rumour": "f" * 16}},  # the file changed since
    ]
    got = trained_settings(folders)
    assert list(got) == ["gambit_rumour"]
    assert {d: rules["turns"] for d, rules in got["gambit_rumour"].items()} == {eight.hash(): 8, ten.hash(): 10}


# glade/hub/scenario_settings.py:169 -- a played scenario is kept only where its recipe.yaml gives the recorded hash
def test_played_settings_keep_only_the_recorded_hash(tmp_path):
    (tmp_path / "recipe.yaml").write_text("name: c\nscenarios: [gambit_rumour, gambit_shock]\nturns: 8\n")
    rumour = load_scenario("gambit_rumour", turns=8)
    got = played_settings(tmp_path, {"gambit_rumour": rumour.hash(), "gambit_shock": "0" * 16})
    assert list(got) == ["gambit_rumour"] and got["gambit_rumour"]["turns"] == 8


# glade/cli/validate.py:72-76 -- a file is guessed by a kind's own keys (at most three named); a generate recipe
# has none of its own, and is told by its councils with no policies
def test_looks_like_names_own_keys_and_tells_a_generate_recipe(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("out: x\nscenarios: [default]\nturns: 8\ncouncils: {c: {focal: {oona: hoarder}}}\n")
    assert looks_like(path) == ("generate", ["councils and no policies"])
    path.write_text("name: e\npolicies: {}\nthresholds: {}\nlevers: []\nattribution: {}\n")
    assert looks_like(path) == ("eval", ["attribution", "levers", "policies"])
    path.write_text("policies: {}\nhorizon: 3\n")
    assert looks_like(path) is None
    path.write_text("policies: {}\nbogus: 1\n")  # a key no eval recipe has: no eval recipe either
    assert looks_like(path) is None


# glade/cli/validate.py:93 -- a scenario's key=value overrides are applied before it is checked
def test_validate_file_applies_a_scenarios_overrides(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("extends: default\nname: s\n")
    assert validate_file(path, "scenario", ["turns=5"]) == "scenario"
    with pytest.raises(ConfigError, match=r"s\.yaml with turns=0: turns: must be at least 1"):
        validate_file(path, "scenario", ["turns=0"])


# glade/cli/validate.py:111-113 -- an eval recipe's out is checked as the run checks it, and a policy no council
# seats is said beside its kind
def test_validate_file_checks_an_eval_recipes_out_and_names_an_idle_policy(tmp_path):
    recipe = {"name": "w", "out": str(tmp_path / "out"), "scenarios": ["default"], "worlds": 3}
    recipe |= {"policies": {"panic": "panic_seller", "idle": "hoarder"}, "councils": {"p": {"focal": {"*": "panic"}}}}
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump(recipe | {"seeds": {"start": 0, "count": 1}}))
    assert validate_file(path, "eval") == "eval recipe; policies.idle: no council seats it"
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"e\.yaml: out: .*holds files but no progress\.json"):
        validate_file(path, "eval")


# glade/cli/results_tables.py:22 -- a summary whose cost is empty (runs interrupted before their summary) says so
def test_run_lines_with_an_empty_cost_says_no_timing():
    summary = {"timing": {}, "cost": {}, "worlds": 1200, "decisions": 34567}
    assert run_lines(summary, "OUT") == (
        "nothing left to play: every episode was finished; the runs that played them left no summary of what that "
        "cost (interrupted before writing one, or it was damaged or replaced since, or it summed up a run of more "
        "worlds: a recipe that played more of this folder), so no timing or cost to show\n"
        "1,200 worlds, 34,567 live decisions in all; results in OUT"
    )


# glade/cli/results_tables.py:48-56 -- the cost line's model share first, else the timing's; play equal to the wall
# time is split from it, more than it is not; no play is in no model
def test_wall_text_splits_the_wall_time_and_takes_the_cost_lines_share():
    timing = {"seconds": 2.0, "outside_model_share": 0.25}
    split = "2.0 s wall: 0.0 s outside play (loading the seats, writing the shards), 2.0 s play"
    assert wall_text({"wall_seconds": 2.0}, timing) == f"{split} (75.0% of it in the models)"
    assert wall_text({"wall_seconds": 2.0, "model_share": 0.5}, timing) == f"{split} (50.0% of it in the models)"
    assert (
        wall_text({"wall_seconds": 1.0}, {**timing, "seconds": 3.0})
        == "1.0 s wall, 3.0 s play (75.0% of it in the models)"
    )
    assert wall_text({"wall_seconds": 1.0}, {**timing, "seconds": 0.0}) == (
        "1.0 s wall: 1.0 s outside play (loading the seats, writing the shards), 0.0 s play (none of it in a model)"
    )


# glade/cli/results_tables.py:64-76 -- only seats that bought their own goods are named; the others are said to
# have none only where some did not; rows that record no self-buys are left out
def test_self_buy_line_names_only_the_seats_that_bought():
    buys = lambda mean: {"mean": mean, "ci": None, "note": "too few seeds"}  # noqa: E731
    seats = [
        {"council": "c", "policy": "a", "self_buy": buys(0.25)},
        {"council": "c", "policy": "b", "self_buy": buys(0.0)},
        {"council": "c", "policy": "old"},
    ]
    start = "self-buys (the share of a seat's decisions bidding for a good its creature makes; no stand-in does): "
    assert self_buy_line(seats) == start + "c/a 0.250 (too few seeds); none by the others"
    assert self_buy_line([seats[0], seats[2]]) == start + "c/a 0.250 (too few seeds)"


# glade/cli/results_tables.py:140-154 -- a column is at least its longest word (its header's too); a figures column
# keeps a number with its interval (not the note after it) where the table fits, two spaces between columns
def test_unbroken_table_widths():
    header, rows = ["count", "figures"], [["1", "0.5 [0.1, 0.9] (too few seeds)"]]
    fits = _unbroken_table(header, rows, 21, figures=(1,))
    assert [c.min_width for c in fits.columns] == [5, 14] and fits.width is None
    squeezed = _unbroken_table(header, rows, 20, figures=(1,))
    assert [c.min_width for c in squeezed.columns] == [5, 7] and squeezed.width == 18


# glade/cli/results_tables.py:188-213 -- worlds left out for seat faults are said with their decisions, and a
# council that lost every world is named; a seat's errors print one a line, beside its seeds and decisions
def test_print_results_says_the_fault_worlds_and_the_councils_they_emptied(tmp_path, monkeypatch):
    monkeypatch.setattr("glade.cli.results_tables.table_one_of", lambda *a: [])
    recipe = EvalRecipe(name="r", out=str(tmp_path), policies={}, councils={"a": {}, "b": {}}, scenarios=())
    row = {"scenario": "s", "world": "a", "legend_ratio": 0.8, "gambit_pnl": 1.5, "n": 2}
    con = Console(width=400, record=True, file=io.StringIO())
    valid = {"mean": 0.9, "ci": None, "n": 2, "note": "too few seeds"}
    seat = {"council": "a", "policy": "p", "valid_action": valid, "decisions": 40, "errors": {"e1": 3, "e2": 1}}
    excluded = {"fault_worlds": 1234, "fault_rows": 56}
    print_results(con, recipe, {"table": [row], "seats": [seat], "excluded": excluded})
    printed = con.export_text()
    text = " ".join(printed.split())
    assert (
        "left out: 1,234 council worlds with seat faults (56 decisions); council b lost every world, so it has no row "
        "in the tables (see 'seat faults' below)"
    ) in text
    lines = [" ".join(line.split()) for line in printed.splitlines()]
    assert "a p 0.900 (too few seeds) e1 3 2 40" in lines and "e2 1" in lines  # errors one a line; seeds, decisions


# glade/cli/validate.py:127-129 -- a folder's YAML files are its .yaml and .yml ones only; a .yml named is checked
def test_collect_takes_yaml_and_yml_files_only(tmp_path):
    for name in ("a.yaml", "b.yml", "c.y.html", "d.yxml"):
        (tmp_path / name).write_text("name: x\n")
    assert collect([str(tmp_path)]) == [tmp_path / "a.yaml", tmp_path / "b.yml"]
    assert collect([str(tmp_path / "b.yml")]) == [tmp_path / "b.yml"]


# glade/cli/results_tables.py:35 -- a run that played all but one of the worlds says it played part of them
def test_run_lines_of_a_run_that_played_all_but_one_world():
    cost = {"episodes": 7, "wall_seconds": 2.0}
    summary = {"timing": {"seconds": 1.0, "outside_model_share": 0.5}, "cost": cost, "worlds": 8, "decisions": 10}
    assert run_lines(summary, "OUT").startswith("this run played 7 of the 8 worlds; its timing and cost are those: ")


# glade/cli/validate.py:139 -- one file named two ways (relative and absolute) is checked once
def test_collect_checks_a_file_named_two_ways_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.yaml").write_text("name: x\n")
    assert collect(["a.yaml", str(tmp_path / "a.yaml"), str(tmp_path)]) == [Path("a.yaml")]


# glade/cli/validate.py:184-191 -- a dotted key with a `*` part is an override; a word whose key ends in .yaml, or
# that is a file here, is a path
def test_overrides_of_tells_overrides_from_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "seeds.count=2").write_text("")
    words = ["councils.c.*.seed=3", "mine.yaml=1", "seeds.count=2", "turns=8", "r.yaml"]
    assert overrides_of(words) == (["mine.yaml=1", "seeds.count=2", "r.yaml"], ["councils.c.*.seed=3", "turns=8"])


# glade/cli/validate.py:211-214 -- --kind names the files it is for: alone it is refused, not applied to the
# shipped recipes
def test_validate_kind_without_a_path_is_refused():
    with pytest.raises(ConfigError, match=r"^--kind eval: says what files outside recipes/.* are; name them"):
        validate.run(argparse.Namespace(paths=[], kind="eval", overrides=[]))


# glade/cli/validate.py:230-233 -- a FAIL line is one line naming its file: an OSError in os_error_line's words, a
# message's first line only, the file's name not said twice
def test_validate_fail_lines_are_one_line_each(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "recipes" / "scenarios"
    folder.mkdir(parents=True)
    for name in ("a", "b", "c"):
        (folder / f"{name}.yaml").write_text("name: x\n")

    def failing(path, kind, overrides=()):
        if path.name == "a.yaml":
            raise OSError(errno.EACCES, "Permission denied", str(path))
        raise ConfigError(f"{path}: turns: bad\nmore words" if path.name == "b.yaml" else "no file named here")

    monkeypatch.setattr(validate, "validate_file", failing)
    assert validate.run(argparse.Namespace(paths=[str(folder)], kind=None, overrides=[])) == 2
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"FAIL   {folder / 'a.yaml'}: permission denied; ")
    assert lines[1:] == [
        f"FAIL   {folder / 'b.yaml'}: turns: bad",
        f"FAIL   {folder / 'c.yaml'}: no file named here",
        "0 ok, 3 FAIL (malformed), 0 NEEDS (inputs not made yet)",
    ]


# glade/cli/results_tables.py:116-121 -- glade's measured table has its six columns, and where the width allows
# (90 columns) keeps each figure with its interval on one line
def test_table_one_measured_columns_and_whole_figures():
    def measured(width: int) -> list[str]:
        con = Console(width=width, record=True, file=io.StringIO())
        print_table_one(con, table_one(seat_rows()))
        lines = [" ".join(line.split()) for line in con.export_text().splitlines()]
        return lines[lines.index("glade, measured:") + 1 :]

    assert measured(200)[0] == "mechanism world legend_ratio gambit P&L crash rate seeds, episodes"
    assert any(
        line.startswith("rumour one_model 0.77 [0.45, 1.10] +11.5 [+9.4, +13.6] 2/4 [0.07, 0.93]")
        for line in measured(90)
    )
