"""What stop 61 fixed: a finished checkpoint whose recipe.yaml was damaged since made `glade train
--resume` (and every quickstart rerun, which trains with it) fail with PyYAML's traceback or a bare
codec error; it is now one error naming the file and what to do. And `changes` from an empty
mapping listed a nameless `: {} -> <none>` before the keys that were added."""

from __future__ import annotations

import pytest
from test_resume_lookups import finished, write_recipe

import glade.train.interrupted as interrupted
import glade.train.sft as sft
from glade.config import changes
from glade.train.recipe import load_train_recipe


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    from test_resume_lookups import generate_traces

    return generate_traces(tmp_path_factory.mktemp("stop61") / "traces", "hoarder")


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"name: [unclosed\n", "YAML error (line 2): expected ',' or ']', but got '<stream end>'"),
        (b"\xff\xfe", "not a text file; expected YAML"),
        (b"- a\n", "expected a mapping at the top level, got list"),
        (b"", "empty"),
    ],
)
def test_a_damaged_recipe_beside_a_finished_run_is_named_with_what_to_do(tmp_path, traces, content, said):
    recipe = load_train_recipe(write_recipe(tmp_path, traces))
    folder = finished(recipe.output_root, recipe, "20261201-100000")
    (folder / "recipe.yaml").write_bytes(content)
    expected = (
        f"{folder / 'recipe.yaml'}: {said}; it is the recipe glade train wrote beside that checkpoint, read to find a "
        f"finished run of this recipe: restore it, or move {folder.name} out of {folder.parent}"
    )
    with pytest.raises(ValueError) as exc:
        interrupted.finished_run(recipe)
    assert str(exc.value) == expected
    with pytest.raises(ValueError) as exc:
        sft.train(recipe, resume=True, log=lambda line: None)
    assert str(exc.value) == expected


def test_a_newer_run_of_this_recipe_is_kept_without_reading_an_older_damaged_one(tmp_path, traces):
    recipe = load_train_recipe(write_recipe(tmp_path, traces))
    old = finished(recipe.output_root, recipe, "20261201-100000")
    (old / "recipe.yaml").write_text("name: [unclosed\n")
    own = finished(recipe.output_root, recipe, "20261202-100000")
    assert interrupted.finished_run(recipe) == own


def test_a_run_with_no_recipe_is_still_another_recipes_run(tmp_path, traces):
    recipe = load_train_recipe(write_recipe(tmp_path, traces))
    (finished(recipe.output_root, recipe, "20261201-100000") / "recipe.yaml").unlink()
    assert interrupted.finished_run(recipe) is None
    assert (
        interrupted.nothing_to_resume(recipe)
        == "t (seed 0): no earlier run of this recipe; training from the beginning"
    )


def test_changes_from_or_to_an_empty_mapping_name_only_keys():
    assert changes({}, {"a": 1, "b": {"c": 2}}) == "a: <none> -> 1, b: added"
    assert changes({"a": 1, "b": {"c": 2}}, {}) == "a: 1 -> <none>, b: removed"
    assert changes({}, {}) == ""
    assert changes({"a": {}}, {"a": {}}) == ""  # an empty mapping inside is still a leaf of its own
    assert changes({"a": {}}, {}) == "a: {} -> <none>"
