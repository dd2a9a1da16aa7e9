"""Where glade's files land and who can read them: rank writes rank.json before it prints (a
closed pipe lost it); a path option's leading `~` is the home folder (the shell leaves
`--out=~/x` as written, and pyarrow, expanding it alone, split an episode between two folders);
weights get the mode the umask implies (safetensors writes them 0600); a long --out's lock fits
a file name; validate says an unwritable folder is not a malformed recipe."""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

import pytest
from rich.console import Console
from test_rank_fixes import _folder  # tests/ is on sys.path under pytest

from glade.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def home(tmp_path, monkeypatch):
    """HOME is tmp/home; the current folder tmp/work, where a literal `~` folder would appear."""
    (tmp_path / "home").mkdir()
    (tmp_path / "work").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path / "work")
    return tmp_path / "home"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_rank_writes_rank_json_before_a_print_that_fails(tmp_path, monkeypatch, capsys):
    import glade.console

    results = _folder(tmp_path, "r", seeds=8)
    full = open("/dev/full", "w")  # `glade rank RESULTS > /dev/full`: every write fails, ENOSPC
    shown = glade.console.console
    monkeypatch.setattr(
        glade.console, "console", lambda stderr=False: shown(True) if stderr else Console(file=full, width=100)
    )
    try:
        assert main(["rank", str(results), "--resamples", "2000"]) == 2
    finally:
        with suppress(OSError):  # what is left in its buffer cannot be written either
            full.close()
    assert "No space left on device" in capsys.readouterr().err
    assert (results / "rank.json").is_file()


VERBS = [
    ("rank", ["~/a", "--out=~/r.json"], {"results": ["a"], "out": "r.json"}),
    ("calibrate", ["~/a", "--policy", "p", "--out=~/c.yaml"], {"source": "a", "out": "c.yaml"}),
    (
        "export",
        ["~/ck", "--repo-id", "o/n", "--out=~/e", "--council=~/res", "--license-file=~/L"],
        {"checkpoint": "ck", "out": "e", "council": "res", "license_file": "L"},
    ),
    (
        "export-traces",
        ["~/t", "--repo-id", "o/n", "--out=~/e", "--license-file=~/L"],
        {"dataset": "t", "out": "e", "license_file": "L"},
    ),
    ("merge", ["~/ck", "--out=~/m"], {"checkpoint": "ck", "out": "m"}),
    (
        "simulate",
        ["--scenario=~/s.yaml", "--council=~/c.yaml", "--out=~/s"],
        {"scenario": "s.yaml", "council": "c.yaml", "out": "s"},
    ),
    ("flag", ["~/r"], {"results": "r"}),
    ("report", ["~/r"], {"results": "r"}),
    ("generate", ["~/g.yaml"], {"recipe": "g.yaml"}),
    ("train", ["~/t.yaml"], {"recipe": "t.yaml"}),
    ("validate", ["~/v.yaml", "seeds.count=2"], {"paths": ["v.yaml", "seeds.count=2"]}),
    ("quickstart", ["--out=~/q"], {"out": "q"}),
    ("eval", ["~/e.yaml"], {"recipe": "e.yaml"}),
    ("lm-eval", ["~/ck", "--traces=~/t1", "--traces=~/t2"], {"checkpoint": "ck", "traces": ["t1", "t2"]}),
]


@pytest.mark.parametrize(("verb", "words", "wanted"), VERBS, ids=[v[0] for v in VERBS])
def test_every_path_option_reads_a_leading_tilde_as_home(home, verb, words, wanted):
    args, _ = build_parser(verb).parse_known_args([verb, *words])
    for k, v in wanted.items():
        at = [str(home / x) if "=" not in x else x for x in v] if isinstance(v, list) else str(home / v)
        assert getattr(args, k) == at, k


def test_simulate_and_rank_out_with_a_tilde_write_into_home_and_nowhere_else(home, tmp_path, capsys):
    assert main(["simulate", "--turns", "2", "--quiet", "--out=~/s2"]) == 0
    assert sorted(p.name for p in (home / "s2").iterdir()) == ["summary.json", "trace.parquet"]
    results = _folder(tmp_path, "r", seeds=8)
    assert main(["rank", str(results), "--resamples", "2000", "--out=~/r.json"]) == 0
    assert (home / "r.json").is_file()
    assert f"wrote {home / 'r.json'}" in capsys.readouterr().out
    assert not (tmp_path / "work" / "~").exists()


def test_an_episode_folder_and_its_trace_are_one_folder_whatever_pyarrow_expands(home, tmp_path):
    from glade.episode_folder import write_episode
    from glade.rollout import run_episode

    write_episode(run_episode("default", 7, turns=2, full=False), "~/lib")  # a library caller's own path
    assert sorted(p.name for p in (tmp_path / "work" / "~" / "lib").iterdir()) == ["summary.json", "trace.parquet"]
    assert not (home / "lib").exists()


def test_a_long_out_name_gets_a_lock_that_fits(tmp_path, capsys):
    results = _folder(tmp_path, "r", seeds=8)
    out = tmp_path / f"{'r' * 245}.json"  # 250 bytes: a valid name, its .NAME.lock (256) is not
    assert main(["rank", str(results), "--resamples", "2000", "--out", str(out)]) == 0
    assert out.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["r", out.name])  # no lock or temporary left


def test_validate_says_an_unwritable_current_folder_is_not_a_malformed_recipe(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m, **k: Path(p).resolve() != tmp_path.resolve() and real(p, m, **k))
    assert main(["validate", str(ROOT / "recipes" / "train" / "tiny-hoarder.yaml")]) == 1
    out = capsys.readouterr().out
    assert out.startswith("WRITE? ") and "output_root: checkpoints: . cannot be written" in out
    assert "0 FAIL (malformed)" in out and "1 WRITE?" in out


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_trained_merged_and_exported_weights_have_the_mode_the_umask_gives(trained_creature, tmp_path):
    _, checkpoint = trained_creature
    assert _mode(checkpoint / "adapter_model.safetensors") == 0o666 & ~_umask()
    mask = os.umask(0o002)
    try:
        assert main(["merge", str(checkpoint), "--out", str(tmp_path / "m")]) == 0
        assert main(["export", str(checkpoint), "--repo-id", "o/n", "--out", str(tmp_path / "e")]) == 0
    finally:
        os.umask(mask)
    assert _mode(tmp_path / "m" / "model.safetensors") == 0o664
    assert {_mode(p) for p in (tmp_path / "e").iterdir() if p.is_file()} == {0o664}
