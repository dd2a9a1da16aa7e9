"""Stop-64 fixes: provenance's git calls take no index lock and find the checkout once; an older
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


OTHER = {"glade_version": "0.1.0", "git_commit": "a" * 40, "git_dirty": False}  # the glade a run was cut short under


def _cut_short_under_another_glade(folder: Path, writer: dict | None) -> int:
    """The ledger of a run cut short, as another glade wrote it (`writer`; None: one that recorded no writers)."""
    progress = folder / "progress.json"
    data = json.loads(progress.read_text(encoding="utf-8"))
    parts = {entry["part"] for entry in data["episodes"].values()}
    if writer is None:
        data.pop("writers")
    else:
        data["writers"] = {str(p): writer for p in parts}
    progress.write_text(json.dumps(data), encoding="utf-8")
    return len(data["episodes"])


def test_an_eval_resumed_under_another_glade_names_each_glade_that_wrote_its_worlds(tmp_path, monkeypatch):
    import pyarrow.parquet as pq
    from resume_setup import eval_recipe, interrupt_second_batch

    from glade.cli import main
    from glade.eval import run as eval_run
    from glade.eval.recipe import load_eval_recipe
    from glade.provenance import writer

    path, out = eval_recipe(tmp_path), tmp_path / "results"
    restore = interrupt_second_batch(monkeypatch, eval_run)
    with pytest.raises(KeyboardInterrupt):
        eval_run.evaluate(load_eval_recipe(path))
    restore()
    ledger = json.loads((out / "progress.json").read_text(encoding="utf-8"))
    assert ledger["writers"] == {"0": writer()}  # each finished part names the glade that wrote it
    early = _cut_short_under_another_glade(out, OTHER)
    assert main(["eval", str(path)]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    worlds = summary["worlds"]
    # was: git_commit named this glade alone, though another played `early` of the worlds
    assert summary["written_by"] == [{**OTHER, "episodes": early}, {**writer(), "episodes": worlds - early}]
    assert summary["git_commit"] == writer()["git_commit"]  # the glade that wrote the summary, as before
    for table in ("decisions.parquet", "episodes.parquet"):
        assert json.loads(pq.read_schema(out / table).metadata[b"glade"])["written_by"] == summary["written_by"]


def test_an_older_ledgers_parts_count_as_an_unknown_glades_and_one_glades_folder_says_nothing_new(
    tmp_path, monkeypatch
):
    from resume_setup import eval_recipe, interrupt_second_batch

    from glade.cli import main
    from glade.eval import run as eval_run
    from glade.eval.recipe import load_eval_recipe
    from glade.provenance import writer

    path, out = eval_recipe(tmp_path), tmp_path / "results"
    restore = interrupt_second_batch(monkeypatch, eval_run)
    with pytest.raises(KeyboardInterrupt):
        eval_run.evaluate(load_eval_recipe(path))
    restore()
    early = _cut_short_under_another_glade(out, None)  # an older glade's ledger: no writers
    assert main(["eval", str(path)]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    unknown = {"glade_version": None, "git_commit": None, "git_dirty": None}
    assert summary["written_by"] == [
        {**unknown, "episodes": early},
        {**writer(), "episodes": summary["worlds"] - early},
    ]
    assert main(["eval", str(path), f"out={tmp_path / 'whole'}"]) == 0  # one glade wrote it all: as before
    assert "written_by" not in json.loads((tmp_path / "whole" / "summary.json").read_text(encoding="utf-8"))


def test_a_dataset_resumed_under_another_glade_names_each_on_its_card(tmp_path, monkeypatch):
    from resume_setup import generate_recipe, interrupt_second_batch

    from glade import traces as gen
    from glade.cli import main
    from glade.provenance import writer, writers_line

    path, out = generate_recipe(tmp_path), tmp_path / "traces"
    restore = interrupt_second_batch(monkeypatch, gen)
    assert main(["generate", str(path)]) != 0  # interrupted: its first part kept
    restore()
    early = _cut_short_under_another_glade(out, {**OTHER, "git_dirty": True})
    assert main(["generate", str(path)]) == 0
    card = (out / "README.md").read_text(encoding="utf-8")
    provenance = json.loads(card.split("## Provenance")[1].split("```json")[1].split("```")[0])
    written = [
        {**OTHER, "git_dirty": True, "episodes": early},
        {**writer(), "episodes": provenance["episodes"] - early},
    ]
    assert provenance["written_by"] == written  # was: the card named only the glade that wrote it
    assert "`written_by` each one that wrote episodes here" in " ".join(card.split())
    line = writers_line(out, written, "episode", "the dataset card's Provenance")
    assert line.startswith(
        f"{out}: not all its episodes are this glade's ({early} by glade at commit aaaaaaa with uncommitted"
    )
    assert main(["generate", str(path), f"out={tmp_path / 'whole'}"]) == 0  # one glade wrote it all: as before
    whole = (tmp_path / "whole" / "README.md").read_text(encoding="utf-8")
    assert '"written_by"' not in whole and "version and commit that wrote these." in whole


def test_a_run_resumed_under_another_glade_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    from resume_setup import eval_recipe, generate_recipe, interrupt_second_batch

    from glade import traces as gen
    from glade.cli import main
    from glade.eval import run as eval_run

    path = generate_recipe(tmp_path)
    restore = interrupt_second_batch(monkeypatch, gen)
    assert main(["generate", str(path)]) != 0
    restore()
    _cut_short_under_another_glade(tmp_path / "traces", OTHER)
    capsys.readouterr()
    assert main(["generate", str(path)]) == 0
    said = capsys.readouterr().out
    assert "not all its episodes are this glade's (2 by glade at commit aaaaaaa" in " ".join(said.split())
    path = eval_recipe(tmp_path)
    restore = interrupt_second_batch(monkeypatch, eval_run)
    assert main(["eval", str(path)]) != 0
    restore()
    _cut_short_under_another_glade(tmp_path / "results", OTHER)
    capsys.readouterr()
    assert main(["eval", str(path)]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "not all its worlds are this glade's (2 by glade at commit aaaaaaa" in said
