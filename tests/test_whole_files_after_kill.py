"""A glade run killed (SIGKILL) while it writes a file leaves the earlier file whole, or none,
never half a file, and the rerun is accepted: the report's pages and figures, rank's board,
simulate's episode, eval's summary. Each kill is real: a child process runs the CLI with its
first write to the named file cut to half its bytes, then SIGKILLs itself (no cleanup runs)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from glade.cli import main

# In the child: cut the first write to NAME (or to its temporary sibling, atomic's .NAME.[...].tmp) to half, then die.
CHILD = """
import os, signal, sys
from pathlib import Path
import pyarrow.parquet as pq
name, argv = sys.argv[1], sys.argv[2:]
def hit(path):
    found = Path(path).name
    return found == name or (found.startswith(f".{name}.") and found.endswith(".tmp"))
def die():
    os.kill(os.getpid(), signal.SIGKILL)
def cut(original):
    def write(self, data, *a, **k):
        if not hit(self):
            return original(self, data, *a, **k)
        original(self, data[: len(data) // 2], *a, **k)
        die()
    return write
Path.write_text, Path.write_bytes = cut(Path.write_text), cut(Path.write_bytes)
write_table = pq.write_table
def write_parquet(table, where, *a, **k):
    write_table(table, where, *a, **k)
    if hit(where):
        os.truncate(where, os.path.getsize(where) // 2)
        die()
pq.write_table = write_parquet
from glade.cli import main
sys.exit(main(argv))
"""

PNG_END = b"IEND\xaeB`\x82"  # a PNG's last chunk: a cut one lacks it

RECIPE = """\
name: killed
out: {out}
policies:
  panic: {{kind: standin, disposition: panic_seller}}
councils:
  all_panic: {{focal: {{"*": panic}}}}
scenarios: [gambit_rumour]
seeds: {{start: 0, count: 2}}
turns: 6
worlds: 4
"""


def killed(tmp_path: Path, name: str, *argv: str) -> None:
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, name, *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == -9, done.stderr  # killed at that write, not finished or failed before it


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A small evaluation with its report and its board written once."""
    root = tmp_path_factory.mktemp("killed")
    (root / "recipe.yaml").write_text(RECIPE.format(out=root / "results"))
    assert main(["eval", str(root / "recipe.yaml")]) == 0
    assert main(["report", str(root / "results")]) == 0
    assert main(["rank", str(root / "results"), "--resamples", "20", "--out", str(root / "board.json")]) == 0
    return root


def leftover(path: Path) -> bool:
    """A hidden temporary a killed write left (glade.files.atomic's): never read as the file."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


def files_of(folder: Path) -> dict[str, bytes]:
    found = [p for p in sorted(folder.rglob("*")) if p.is_file() and not leftover(p)]
    return {str(p.relative_to(folder)): p.read_bytes() for p in found}


def linked_figures_are_whole(results: Path) -> None:
    md = (results / "report.md").read_text()
    linked = re.findall(r"\]\((report_files/[^)]+\.png)\)", md)
    assert linked
    for name in linked:
        assert (results / name).read_bytes().endswith(PNG_END), name


@pytest.mark.parametrize("name", ["report.md", "report.html", "gambit-pnl.png"])
def test_a_killed_report_leaves_whole_pages_and_figures_and_the_rerun_writes_it(results, tmp_path, name):
    folder = tmp_path / "results"
    shutil.copytree(results / "results", folder)
    assert main(["report", str(folder)]) == 0  # the pages name their folder: this one's
    before = files_of(folder)
    killed(tmp_path, name, "report", str(folder))
    after = files_of(folder)
    for page in ("report.md", "report.html"):
        assert after[page] == before[page]  # the same results draw the same page: either write is this one
    linked_figures_are_whole(folder)
    assert main(["report", str(folder)]) == 0
    assert files_of(folder) == before
    linked_figures_are_whole(folder)


def test_a_killed_rank_leaves_the_earlier_board_and_the_rerun_replaces_it(results, tmp_path):
    board = tmp_path / "board.json"
    shutil.copy(results / "board.json", board)
    before = board.read_text()
    argv = ("rank", str(results / "results"), "--resamples", "20", "--out", str(board))
    killed(tmp_path, "board.json", *argv)
    assert board.read_text() == before
    assert main(list(argv)) == 0
    assert json.loads(board.read_text())["board"] == json.loads(before)["board"]


def test_a_killed_eval_keeps_the_earlier_summary_and_what_its_run_cost(results, tmp_path):
    folder = tmp_path / "results"
    shutil.copytree(results / "results", folder)
    (tmp_path / "recipe.yaml").write_text(RECIPE.format(out=folder))
    before = (folder / "summary.json").read_text()
    killed(tmp_path, "summary.json", "eval", str(tmp_path / "recipe.yaml"))  # a rerun: nothing left to play
    assert (folder / "summary.json").read_text() == before
    assert main(["eval", str(tmp_path / "recipe.yaml")]) == 0
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["timing"] == json.loads(before)["timing"] and summary["cost"]["kept"] is True


@pytest.mark.parametrize("name", ["summary.json", "trace.parquet"])
def test_a_killed_simulate_leaves_no_half_file_and_the_rerun_writes_the_episode(tmp_path, name):
    out = tmp_path / "sim"
    argv = ["simulate", "--scenario", "default", "--seed", "7", "--turns", "2", "--out", str(out)]
    assert main(argv) == 0
    earlier = json.loads((out / "summary.json").read_text())
    killed(tmp_path, name, *argv)
    assert json.loads((out / "summary.json").read_text()) == earlier  # one seed, one episode: the same summary
    # both new files are written whole before the earlier episode goes: a kill while writing either leaves it whole
    assert pq.read_table(out / "trace.parquet").num_rows
    assert main(argv) == 0
    assert sorted(p.name for p in out.iterdir() if not leftover(p)) == ["summary.json", "trace.parquet"]
    assert pq.read_table(out / "trace.parquet").num_rows


def test_a_kill_in_the_first_write_into_a_new_episode_folder_leaves_it_usable(tmp_path):
    out = tmp_path / "sim"
    argv = ["simulate", "--scenario", "default", "--seed", "7", "--turns", "2", "--out", str(out)]
    killed(tmp_path, "summary.json", *argv)
    assert [leftover(p) for p in out.iterdir()] == [True]  # what SIGKILL leaves: a temporary, no summary.json
    assert main(argv) == 0
    assert sorted(p.name for p in out.iterdir() if not leftover(p)) == ["summary.json", "trace.parquet"]
