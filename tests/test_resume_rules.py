"""A rerun into a folder whose finished episodes were played under other rules is refused, as one
under another prompt protocol is: resumed, the folder would hold two worlds under one scenario
name (the rows would carry two hashes, and every figure would pool them)."""

from __future__ import annotations

import pytest
from resume_setup import eval_recipe, files, generate_recipe, interrupt_second_batch

from glade import traces as gen
from glade.cli import main
from glade.config import load_recipe
from glade.env import load_scenario, scenario
from glade.eval import run as eval_run
from glade.eval.recipe import load_eval_recipe


def test_generate_refuses_to_resume_under_other_rules_and_touches_nothing(tmp_path, monkeypatch, capsys):
    path = generate_recipe(tmp_path)
    restore = interrupt_second_batch(monkeypatch, gen)
    with pytest.raises(KeyboardInterrupt):
        gen.generate(load_recipe(gen.GenerateRecipe, path))
    restore()
    before, written = files(tmp_path / "traces"), load_scenario("default", turns=3).hash()
    monkeypatch.setattr(scenario, "RULES_VERSION", scenario.RULES_VERSION + 1)  # a later glade's rules
    now = load_scenario("default", turns=3).hash()
    for dry in ([], ["--dry-run"]):  # a dry run refuses as the run would
        assert main(["generate", str(path), *dry]) == 2
        err = capsys.readouterr().err
        assert (
            f"its finished episodes of default were played under other rules (scenario hash {written}, now {now}" in err
        )
        assert "move the folder aside" in err
    assert files(tmp_path / "traces") == before


def test_eval_refuses_to_resume_after_the_scenario_file_changed(tmp_path, monkeypatch):
    mine = tmp_path / "recipes" / "scenarios"
    mine.mkdir(parents=True)
    (mine / "calm.yaml").write_text("extends: gambit_override\nname: calm\n")
    path = eval_recipe(tmp_path, scenarios=[str(mine / "calm.yaml")])
    restore = interrupt_second_batch(monkeypatch, eval_run)
    with pytest.raises(KeyboardInterrupt):
        eval_run.evaluate(load_eval_recipe(path))
    restore()
    before = files(tmp_path / "results")
    (mine / "calm.yaml").write_text("extends: gambit_override\nname: calm\nmarket: {max_step: 0.3}\n")
    with pytest.raises(ValueError, match=r"its finished episodes of \S+/calm\.yaml were played under other rules"):
        eval_run.evaluate(load_eval_recipe(path))
    assert files(tmp_path / "results") == before


def test_generate_refuses_to_resume_after_the_scenario_file_changed(tmp_path, monkeypatch):
    (tmp_path / "calm.yaml").write_text("extends: default\nname: calm\n")
    path = generate_recipe(tmp_path, scenarios=[str(tmp_path / "calm.yaml")])
    restore = interrupt_second_batch(monkeypatch, gen)
    with pytest.raises(KeyboardInterrupt):
        gen.generate(load_recipe(gen.GenerateRecipe, path))
    restore()
    (tmp_path / "calm.yaml").write_text("extends: default\nname: calm\nmarket: {max_step: 0.3}\n")
    with pytest.raises(ValueError, match=r"its finished episodes of calm were played under other rules"):
        gen.generate(load_recipe(gen.GenerateRecipe, path))


def test_the_same_rules_resume_as_before(tmp_path, monkeypatch):
    path = generate_recipe(tmp_path)
    restore = interrupt_second_batch(monkeypatch, gen)
    with pytest.raises(KeyboardInterrupt):
        gen.generate(load_recipe(gen.GenerateRecipe, path))
    restore()
    summary = gen.generate(load_recipe(gen.GenerateRecipe, path))
    assert summary["episodes"] == 6


def test_eval_refuses_under_other_rules_when_a_finished_part_holds_only_stand_in_worlds(tmp_path, monkeypatch):
    # worlds: 1 makes the first part the all-stand-in world alone: no decision rows, only episodes
    mine = tmp_path / "calm.yaml"
    mine.write_text("extends: gambit_override\nname: calm\n")
    path = eval_recipe(tmp_path, scenarios=[str(mine)], worlds=1)
    restore = interrupt_second_batch(monkeypatch, eval_run)
    with pytest.raises(KeyboardInterrupt):
        eval_run.evaluate(load_eval_recipe(path))
    restore()
    mine.write_text("extends: gambit_override\nname: calm\nmarket: {max_step: 0.3}\n")
    with pytest.raises(ValueError, match=r"its finished episodes of \S+/calm\.yaml were played under other rules"):
        eval_run.evaluate(load_eval_recipe(path))


def test_two_scenario_files_that_share_a_name_are_refused(tmp_path, capsys):
    for stem, step in (("a", 0.15), ("b", 0.3)):  # both say name: calm: their rows and ids could not be told apart
        (tmp_path / f"{stem}.yaml").write_text(f"extends: default\nname: calm\nmarket: {{max_step: {step}}}\n")
    path = generate_recipe(tmp_path, scenarios=[str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")])
    assert main(["generate", str(path)]) == 2
    assert "are two different scenarios named 'calm'" in capsys.readouterr().err
