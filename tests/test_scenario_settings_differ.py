"""The card's scenario-hash warning names the settings that differ, where both sides' rules are
known from here (the evaluation's recipe.yaml, the training traces' record)."""

import json
import shutil
from pathlib import Path

import pytest
import yaml
from test_export import council_results

from glade.env.scenario import load_scenario
from glade.eval.live_decisions import recipe_scenarios
from glade.hub.export import export_checkpoint
from glade.hub.lineage import council_provenance, trained_scenarios
from glade.hub.scenario_settings import differ_words, hashed_rules, played_settings, settings_differ, trained_settings

BASE = Path(__file__).resolve().parents[1] / "models" / "tiny-base"


def test_a_council_played_at_other_turns_is_named_by_its_turns(tmp_path):
    # guards played_settings (recipe.yaml at its turns), trained_settings (the scenario at its own turns
    # gives the recorded hash) and the words; the quickstart's crash-gambit plays 8 turns, the traces 12
    (tmp_path / "recipe.yaml").write_text("name: crash-gambit\nscenarios: [gambit_rumour]\nturns: 8\n")
    hashes = {"gambit_rumour": load_scenario("gambit_rumour", turns=8).hash()}
    meta = json.loads((BASE / "meta.json").read_text())
    trained = trained_scenarios(BASE, {}, meta)
    [line, _] = council_provenance({"scenario_hashes": hashes}, trained, played_settings(tmp_path, hashes))
    assert (
        f"gambit_rumour (`{hashes['gambit_rumour']}` here, `18cde367a29484f7` in its traces: turns 8 against 12)"
        in line
    )
    # a recipe.yaml that no longer gives the recorded hash: the settings are not known, the hashes still named
    (tmp_path / "recipe.yaml").write_text("name: crash-gambit\nscenarios: [gambit_rumour]\nturns: 9\n")
    [line, _] = council_provenance({"scenario_hashes": hashes}, trained, played_settings(tmp_path, hashes))
    assert f"gambit_rumour (`{hashes['gambit_rumour']}` here, `18cde367a29484f7` in its traces)" in line


def own_scenario(folder: Path, horizon: int) -> Path:
    """A scenario of one's own whose owl sits on a disposition file, both at absolute paths."""
    folder.mkdir(parents=True)
    (folder / "h.yaml").write_text(f"name: h\nhorizon: {horizon}\n")
    (folder / "s.yaml").write_text(
        f"extends: gambit_rumour\nname: s\ncreatures:\n  oona:\n    disposition: {folder / 'h.yaml'}\n"
    )
    return folder / "s.yaml"


def test_a_disposition_file_is_compared_by_its_contents_and_no_local_path_reaches_the_card(tmp_path):
    # guards export's settings left as read (the council's are: shortened on one side only, the same
    # file read `/tmp/.../h.yaml against h.yaml`) and hashed_rules (a file by its contents, as the hash)
    scenario = own_scenario(tmp_path / "p", horizon=3)
    traces = tmp_path / "traces"
    traces.mkdir()
    (traces / "recipe.yaml").write_text(yaml.safe_dump({"name": "t", "scenarios": [str(scenario)], "turns": 12}))
    ckpt = tmp_path / "tiny-base"
    shutil.copytree(BASE, ckpt)
    meta = json.loads((ckpt / "meta.json").read_text())
    trained_hash = load_scenario(str(scenario), turns=12).hash()
    meta["traces"] = {"data": [{"folder": str(traces), "scenario_hashes": {"s": trained_hash}}], "eval": []}
    (ckpt / "meta.json").write_text(json.dumps(meta))
    council = council_results(ckpt, tmp_path / "council")
    (council / "recipe.yaml").write_text(yaml.safe_dump({"name": "c", "scenarios": [str(scenario)], "turns": 8}))
    played_hash = load_scenario(str(scenario), turns=8).hash()
    summary = json.loads((council / "summary.json").read_text())
    (council / "summary.json").write_text(json.dumps({**summary, "scenario_hashes": {"s": played_hash}}))
    readme = (
        export_checkpoint(ckpt, "alice/creature", out=tmp_path / "out", council=council) / "README.md"
    ).read_text()
    text = " ".join(readme.split())
    assert f"s (`{played_hash}` here, `{trained_hash}` in its traces: turns 8 against 12)" in text
    assert str(tmp_path) not in readme
    # another disposition file of other contents: the setting in it is named, not the file's path
    other = own_scenario(tmp_path / "q", horizon=5)
    (council / "recipe.yaml").write_text(yaml.safe_dump({"name": "c", "scenarios": [str(other)], "turns": 12}))
    played_hash = load_scenario(str(other), turns=12).hash()
    played = played_settings(council, {"s": played_hash})
    trained = trained_settings(meta["traces"]["data"])
    assert differ_words(played["s"], trained["s"], [trained_hash]) == ": creatures.oona.disposition.horizon 5 against 3"


def test_an_order_the_hash_counts_is_named_and_nothing_is_never_an_empty_clause(tmp_path):
    # guards settings_differ's ORDERED (the hash counts the order of creatures; the dicts compare equal)
    # and differ_words' `if diff` (nothing named: no `: )` in the card)
    rules = load_scenario("gambit_rumour").to_dict()
    rules["creatures"] = dict(reversed(list(rules["creatures"].items())))
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    here, there = load_scenario(str(tmp_path / "r.yaml")), load_scenario("gambit_rumour")
    assert here.hash() != there.hash()
    assert differ_words(hashed_rules(here), {there.hash(): hashed_rules(there)}, [there.hash()]) == (
        ": the order of creatures differs"
    )
    same = hashed_rules(there)
    trained = {"scenarios": {"gambit_rumour": ["bbbb"]}, "settings": {"gambit_rumour": {"bbbb": same}}}
    [line, _] = council_provenance({"scenario_hashes": {"gambit_rumour": "aaaa"}}, trained, {"gambit_rumour": same})
    assert "gambit_rumour (`aaaa` here, `bbbb` in its traces): the rules" in line


def test_a_list_a_long_text_or_a_local_path_is_named_and_each_hash_is_tagged():
    # guards _quotable (a list, a text over 40 characters, an absolute path: named, not quoted) and
    # differ_words' `(against ...)` tag where the traces hold more than one hash of the scenario
    here = {"diet": ["honey"], "description": "x" * 41, "file": "/home/alice/h.yaml", "turns": 8}
    there = {"diet": ["acorns"], "description": "y" * 41, "file": "h.yaml", "turns": 12}
    assert settings_differ(here, there) == ["description differs", "diet differs", "file differs", "turns 8 against 12"]
    assert differ_words({"turns": 8}, {"a1": {"turns": 12}, "b2": {"turns": 10}}, ["a1", "b2", "c3"]) == (
        ": turns 8 against 12 (against `a1`); turns 8 against 10 (against `b2`)"
    )
    many = {f"k{i}": i for i in range(7)}
    assert differ_words(many, {"a1": {}}, ["a1"]) == ": k0 0 against None, k1 1 against None, " + (
        "k2 2 against None, k3 3 against None, k4 4 against None and 2 more"
    )


@pytest.mark.parametrize("key", ["levers", "scenarios"])
def test_a_hand_edited_traces_recipe_is_named_and_the_card_keeps_its_warning(tmp_path, key):
    # guards recipe_list (was a bare TypeError in every reader) and trained_settings' fallback on it
    (tmp_path / "recipe.yaml").write_text(f"name: t\nturns: 8\n{key}: 5\n")
    with pytest.raises(ValueError, match=rf"recipe\.yaml: {key}: expected a list, got 5; it is the recipe glade"):
        recipe_scenarios(tmp_path, "traces")
    digest = load_scenario("gambit_rumour", turns=8).hash()  # only the recipe's turns would give it
    folders = [{"folder": str(tmp_path), "scenario_hashes": {"gambit_rumour": digest}}]
    trained = {"scenarios": {"gambit_rumour": [digest]}, "settings": trained_settings(folders)}
    played = {"gambit_rumour": hashed_rules(load_scenario("gambit_rumour"))}
    [line, _] = council_provenance({"scenario_hashes": {"gambit_rumour": "aaaa"}}, trained, played)
    assert f"gambit_rumour (`aaaa` here, `{digest}` in its traces): the rules" in line
    # a spec that is no text is left out like one that does not load (dict.fromkeys: no TypeError)
    (tmp_path / "recipe.yaml").write_text("name: t\nscenarios: [{a: 1}, gambit_rumour]\nlevers: [{from: [x]}]\n")
    assert sorted(recipe_scenarios(tmp_path, "traces")) == ["gambit_rumour"]
