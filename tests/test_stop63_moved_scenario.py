"""A scenario given by path keeps its name after its file moves: glade eval records each recipe entry's `name:`
in summary.json (`scenario_names`), and a model card compares the evaluation's scenarios with the training
traces' by that name, even where the file no longer loads."""

from test_stop62_other_worlds import evaluated, tiny_world
from test_stop62_scenario_names import path_scenario_card, world

from glade.hub.council_view import wrong_summary


def test_eval_records_the_name_of_each_scenario_it_was_given_by_path(tmp_path):
    scenario = world(tmp_path / "mine")
    (tmp_path / "mine" / "o.yaml").write_text(tiny_world("other"))
    _, summary, _, _ = evaluated(tmp_path, [str(scenario), str(tmp_path / "mine" / "o.yaml")])
    assert summary["scenario_names"] == {str(scenario): "tiny2", str(tmp_path / "mine" / "o.yaml"): "other"}


def test_the_card_names_a_moved_scenario_as_eval_recorded_it_and_still_warns(tmp_path):
    readme, played_hash, trained_hash = path_scenario_card(tmp_path, recorded=True, moved=True)
    text = " ".join(readme.split())
    assert f"scenario hashes: tiny2 `{played_hash}`." in text
    assert f"differ from those of the traces it trained on: tiny2 (`{played_hash}` here, `{trained_hash}`" in text
    assert str(tmp_path) not in readme and "world.v1.yaml" not in readme


def test_a_recorded_name_that_is_not_a_text_is_named_as_a_wrong_field():
    assert wrong_summary({"scenario_names": {"a.yaml": 3}}) == "scenario_names must map each scenario to a text"
    assert wrong_summary({"scenario_names": {"a.yaml": "a"}}) is None
