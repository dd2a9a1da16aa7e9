"""Stop-64 fixes (fix5): provenance's git calls take no index lock and find the checkout once; an older
glade's ledger that did not record a disposition file's parameters is named as such, not as another recipe;
a folder whose parts more than one glade wrote names each (summary.json, the dataset card)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


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
