"""The card's scenario-hash warning names the settings that differ, where both sides' rules are
known from here (the evaluation's recipe.yaml, the training traces' record)."""

import json
from pathlib import Path

from glade.env.scenario import load_scenario
from glade.hub.lineage import council_provenance, played_settings, trained_scenarios

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
        f"gambit_rumour (`{hashes['gambit_rumour']}` here, `93c3c1d439391a72` in its traces: turns 8 against 12)"
        in line
    )
    # a recipe.yaml that no longer gives the recorded hash: the settings are not known, the hashes still named
    (tmp_path / "recipe.yaml").write_text("name: crash-gambit\nscenarios: [gambit_rumour]\nturns: 9\n")
    [line, _] = council_provenance({"scenario_hashes": hashes}, trained, played_settings(tmp_path, hashes))
    assert f"gambit_rumour (`{hashes['gambit_rumour']}` here, `93c3c1d439391a72` in its traces)" in line
