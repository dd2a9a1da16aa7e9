"""A scenario given by path keeps its name after its file moves: glade eval records each recipe entry's `name:`
in summary.json (`scenario_names`), and a model card compares the evaluation's scenarios with the training
traces' by that name, even where the file no longer loads."""

import json
import shutil

import yaml
from test_export import council_results
from test_stop62_other_worlds import evaluated, tiny_world
from test_stop62_scenario_names import BASE, world

from glade.env.scenario import load_scenario
from glade.hub.council_view import wrong_summary
from glade.hub.export import export_checkpoint


def test_eval_records_the_name_of_each_scenario_it_was_given_by_path(tmp_path):
    scenario = world(tmp_path / "mine")
    (tmp_path / "mine" / "o.yaml").write_text(tiny_world("other"))
    _, summary, _, _ = evaluated(tmp_path, [str(scenario), str(tmp_path / "mine" / "o.yaml")])
    assert summary["scenario_names"] == {str(scenario): "tiny2", str(tmp_path / "mine" / "o.yaml"): "other"}


def test_the_card_names_a_moved_scenario_as_eval_recorded_it_and_still_warns(tmp_path):
    scenario = world(tmp_path / "mine")
    trained_hash = load_scenario(str(scenario), turns=10).hash()
    played_hash = load_scenario(str(scenario), turns=6).hash()
    ckpt = tmp_path / "tiny-base"
    shutil.copytree(BASE, ckpt)
    meta = json.loads((ckpt / "meta.json").read_text())
    meta["traces"] = {"data": [{"folder": str(tmp_path / "traces"), "scenario_hashes": {"tiny2": trained_hash}}]}
    meta["traces"]["eval"] = []
    (ckpt / "meta.json").write_text(json.dumps(meta))
    council = council_results(ckpt, tmp_path / "council")
    (council / "recipe.yaml").write_text(yaml.safe_dump({"name": "c", "scenarios": [str(scenario)], "turns": 6}))
    summary = json.loads((council / "summary.json").read_text())
    summary["scenario_hashes"] = {str(scenario): played_hash}
    summary["scenario_names"] = {str(scenario): "tiny2"}
    for row in summary["outcome"]:
        row["scenario"] = str(scenario)
    (council / "summary.json").write_text(json.dumps(summary))
    shutil.rmtree(tmp_path / "mine")  # moved away since the evaluation

    readme = (
        export_checkpoint(ckpt, "alice/creature", out=tmp_path / "out", council=council) / "README.md"
    ).read_text()
    text = " ".join(readme.split())
    assert f"scenario hashes: tiny2 `{played_hash}`." in text
    assert f"differ from those of the traces it trained on: tiny2 (`{played_hash}` here, `{trained_hash}`" in text
    assert str(tmp_path) not in readme and "world.v1.yaml" not in readme


def test_a_recorded_name_that_is_not_a_text_is_named_as_a_wrong_field():
    assert wrong_summary({"scenario_names": {"a.yaml": 3}}) == "scenario_names must map each scenario to a text"
    assert wrong_summary({"scenario_names": {"a.yaml": "a"}}) is None
