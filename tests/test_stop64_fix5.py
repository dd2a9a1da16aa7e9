"""Stop-64 fixes (fix5): provenance's git calls take no index lock and find the checkout once; an older
glade's ledger that did not record a disposition file's parameters is named as such, not as another recipe;
a folder whose parts more than one glade wrote names each (summary.json, the dataset card)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from glade.env import standin

HOARDER = Path(standin.DISPOSITION_DIR) / "hoarder.yaml"


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "provenance.py").write_text("x = 1\n", encoding="utf-8")
    (repo / "pyproject.toml").write_text("[project]\n", encoding="utf-8")
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    return repo


def test_provenance_runs_git_without_optional_locks_and_finds_the_checkout_once(tmp_path, monkeypatch):
    from glade import provenance

    repo = _repo(tmp_path)
    calls = tmp_path / "calls.txt"
    fake = tmp_path / "bin" / "git"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {shutil.which("git")} "$@"\n', encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{Path(shutil.which('git')).parent}")
    monkeypatch.setattr(provenance, "__file__", str(repo / "pkg" / "provenance.py"))
    first, second = provenance.stamp(), provenance.stamp()
    assert first["git_commit"] and first["git_dirty"] is False and second["git_commit"] == first["git_commit"]
    argv = calls.read_text(encoding="utf-8").splitlines()
    # `git status` without the flag takes .git/index.lock to refresh the index: a `git commit` meanwhile fails
    assert argv and all(line.startswith("--no-optional-locks ") for line in argv)
    assert sum("--show-toplevel" in line for line in argv) == 1  # the checkout's top, once per process
    assert not (repo / ".git" / "index.lock").exists()


def _without_parameters(progress: Path) -> None:
    """progress.json as a glade before 2026-12-04 wrote it: a disposition file's seat spec records its path alone."""

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if not (k == "parameters" and "kind" in value)}
        return value

    data = json.loads(progress.read_text(encoding="utf-8"))
    progress.write_text(json.dumps({**data, "recipe": strip(data["recipe"])}), encoding="utf-8")


def test_an_older_ledger_without_a_disposition_files_parameters_is_named_as_an_older_glades(tmp_path, capsys):
    from resume_setup import generate_recipe

    from glade.cli import main

    mine = tmp_path / "bold.yaml"
    mine.write_text(yaml.safe_dump({**yaml.safe_load(HOARDER.read_text(encoding="utf-8")), "name": "bold"}))
    recipe = generate_recipe(tmp_path, councils={"bold": {"*": str(mine)}}, turns=2)
    assert main(["generate", str(recipe)]) == 0
    out = tmp_path / "traces"
    _without_parameters(out / "progress.json")
    (out / "README.md").unlink()  # and cut short: no card, no finished run's recipe to go by
    (out / "recipe.yaml").unlink()
    capsys.readouterr()
    assert main(["generate", str(recipe)]) != 0
    said = " ".join(capsys.readouterr().err.split())
    # was: holds a run of another recipe (councils.bold.*.parameters: added); rerun it as it was (which said it again)
    assert "another recipe" not in said and "rerun it as it was" not in said
    assert (
        f"{out}: its progress.json was written by an older glade, which did not record a disposition file's "
        "parameters (councils.bold.*.parameters), so no glade can tell whether the file changed since its rows "
        "played; move the folder aside" in said
    )


def test_an_older_ledger_with_another_change_too_names_that_change_alone(tmp_path):
    from glade.eval.plan import shard_log
    from glade.eval.recipe import load_eval_recipe
    from glade.run_limits import results_recipe

    mine = tmp_path / "bold.yaml"
    mine.write_text(yaml.safe_dump({**yaml.safe_load(HOARDER.read_text(encoding="utf-8")), "name": "bold"}))
    data = {
        "name": "walk",
        "out": str(tmp_path / "out"),
        "policies": {"mine": {"kind": "standin", "disposition": str(mine)}},
        "councils": {"mine_all": {"focal": {"*": "mine"}}},
        "scenarios": ["default"],
        "seeds": {"start": 0, "count": 1},
        "turns": 13,
    }
    (tmp_path / "eval.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    log = shard_log(tmp_path / "out")
    log.start(results_recipe(load_eval_recipe(tmp_path / "eval.yaml")))
    _without_parameters(tmp_path / "out" / "progress.json")
    (tmp_path / "eval.yaml").write_text(yaml.safe_dump({**data, "turns": 14}), encoding="utf-8")
    with pytest.raises(ValueError) as refused:
        log.check(results_recipe(load_eval_recipe(tmp_path / "eval.yaml")))
    assert "holds a run of another recipe (turns: 13 -> 14); rerun it as it was" in str(refused.value)
