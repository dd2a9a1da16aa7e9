"""Every text file glade reads or writes is UTF-8, whatever the locale says.

Python's default text encoding is the locale's: under `LC_ALL=C PYTHONUTF8=0` (or a Latin-1
locale) a tokenizer.json holding "é" read as ASCII made a healthy checkpoint "not readable JSON",
and the report, whose text holds "—", could not be written. So every `open`, `read_text` and
`write_text` in text mode names its encoding; this test keeps it so (ruff's unspecified-encoding
rule misses `Path` objects it cannot infer), and the subprocess test runs glade in that locale.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("glade", "env", "eval", "train", "benchmarks")


def _text_calls_without_encoding(path: Path) -> list[str]:
    """`FILE:LINE call` for each text-mode open / read_text / write_text call without encoding=."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if not isinstance(node, ast.Call) or any(k.arg in ("encoding", None) for k in node.keywords):
            continue  # None: a **kwargs that may carry it
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("read_text", "write_text"):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} .{func.attr}()")
        elif isinstance(func, ast.Name) and func.id == "open" and not _binary(node, 1):  # open(file, mode)
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} open()")
        elif (
            isinstance(func, ast.Attribute)
            and func.attr == "open"
            and _path_open(node)
            and not (isinstance(func.value, ast.Name) and func.value.id == "os")  # os.open: a descriptor, no text
            and not _binary(node, 0)  # Path.open(mode)
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} .open()")
    return found


def _path_open(call: ast.Call) -> bool:
    """Whether `x.open(...)` reads as a Path's: no argument, or a mode string first (an opener's
    `open(request, timeout=...)` or `tarfile.open(path)` takes no encoding)."""
    first = call.args[0] if call.args else None
    return first is None or (isinstance(first, ast.Constant) and isinstance(first.value, str))


def _binary(call: ast.Call, at: int) -> bool:
    """Whether the call's mode (its argument `at`, or mode=) is a constant binary one."""
    mode = call.args[at] if len(call.args) > at else next((k.value for k in call.keywords if k.arg == "mode"), None)
    return isinstance(mode, ast.Constant) and isinstance(mode.value, str) and "b" in mode.value


def test_every_text_read_and_write_names_utf8():
    missing = [
        hit
        for top in SOURCES
        for path in sorted((ROOT / top).rglob("*.py"))
        for hit in _text_calls_without_encoding(path)
    ]
    assert missing == [], "name encoding='utf-8' in: " + ", ".join(missing)


def test_the_scan_finds_what_it_looks_for(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from pathlib import Path\n"
        "p = Path('x')\n"
        "p.read_text()\n"  # 3: found
        "p.read_text(encoding='utf-8')\n"
        "p.write_text('a')\n"  # 5: found
        "open('f')\n"  # 6: found
        "open('f', 'rb')\n"
        "open('f', 'w', encoding='utf-8')\n"
        "p.open('a')\n"  # 9: found
        "p.open('wb')\n"
        "opener.open(request, timeout=5)\n"
        "import os\n"
        "os.open('f', os.O_RDONLY)\n",
        encoding="utf-8",
    )
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        lines = [int(hit.split(":")[1].split()[0]) for hit in _text_calls_without_encoding(sample)]
    finally:
        ROOT = saved
    assert lines == [3, 5, 6, 9]


def ascii_locale(tmp_path: Path) -> dict[str, str]:
    """An environment whose locale encoding is ASCII (Python's UTF-8 mode off, which a plain C locale
    would turn on), with glade importable and the Hugging Face cache in `tmp_path`."""
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONPATH": str(ROOT)}
    env |= {"PYTHONIOENCODING": "utf-8", "HF_HOME": str(tmp_path / "hf")}  # the terminal is another matter
    probe = [sys.executable, "-c", "import locale; print(locale.getpreferredencoding(False))"]
    assert subprocess.run(probe, env=env, capture_output=True, text=True).stdout.strip() == "ANSI_X3.4-1968"
    return env


def glade(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "glade.cli", *args], env=env, capture_output=True, encoding="utf-8", cwd=cwd
    )


@pytest.mark.skipif(sys.platform != "linux", reason="the C locale of a Linux system")
def test_a_scenario_of_utf8_text_validates_and_plays_under_an_ascii_locale(tmp_path):
    from glade.env.scenario import SCENARIO_DIR

    text = (SCENARIO_DIR / "default.yaml").read_text(encoding="utf-8")
    scenario = tmp_path / "creme.yaml"  # its text UTF-8, its name ASCII
    scenario.write_text(text.replace("into winter.", "into winter \u2014 a café's crème."), encoding="utf-8")
    env = ascii_locale(tmp_path)
    checked = glade(["validate", "--kind", "scenario", str(scenario)], env, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr  # was: 'ascii' codec can't decode byte 0xe2
    run = glade(["simulate", "--scenario", str(scenario), "--turns", "2", "--quiet", "--out", "out"], env, tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))["turns"] == 2


@pytest.mark.skipif(sys.platform != "linux", reason="the C locale of a Linux system")
def test_a_utf8_path_under_an_ascii_locale_is_refused_for_the_locale_not_as_a_control_character(tmp_path):
    run = glade(["simulate", "--turns", "2", "--out", "café"], ascii_locale(tmp_path), tmp_path)
    assert run.returncode == 2
    assert (
        "byte this locale cannot read as text ('\\udcc3' at position 3); set LC_ALL=C.UTF-8 (a UTF-8 locale)"
        in run.stderr
    )
    assert "control character" not in run.stderr
    assert not (tmp_path / "café").exists()
    # what it says to do works: LC_ALL=C.UTF-8 (LANG alone would not: LC_ALL=C overrides it), or PYTHONUTF8=1
    for fix in ({"LC_ALL": "C.UTF-8"}, {"PYTHONUTF8": "1"}):
        done = glade(["simulate", "--turns", "2", "--quiet", "--out", "café"], ascii_locale(tmp_path) | fix, tmp_path)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "café" / "summary.json").is_file()


def test_a_terminal_that_cannot_show_a_character_gets_a_question_mark_not_an_error(tmp_path):
    """PYTHONIOENCODING=ascii (a terminal of another encoding): simulate played, wrote its files,
    then exited 2 with "'ascii' codec can't encode character '\\xb7'"; now what the terminal cannot
    show prints as "?"."""
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "PYTHONPATH": str(ROOT), "HF_HOME": str(tmp_path / "hf")}
    run = subprocess.run(
        [sys.executable, "-m", "glade.cli", "simulate", "--turns", "2", "--out", "out"],
        env=env,
        capture_output=True,
        encoding="ascii",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert "conservation: ok" in run.stdout and "wrote out/" in run.stdout
    assert "?" in run.stdout  # the price arrows
    assert (tmp_path / "out" / "summary.json").is_file()
