"""Stop 64: a model's control characters shown visibly in flags.md and the report's top flags, a
long scenario path's figure name cut to fit the file system, a symlinked --out refused before an export
writes, meta.json's strings escaped in the model card, and `glade --version` / glade_export.json naming
the git commit."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from glade.cli import main
from glade.eval.flags_text import examples_md
from glade.eval.report.top_flags import _examples_html
from glade.hub.cards import MARKER, finish_folder, start_folder
from glade.hub.lineage import commit_text, protocol_text
from glade.hub.model_card import base_words, heldout_table
from glade.provenance import git_commit, git_dirty

RAW = ("\x00", "\x1b", "\u202e", "\x85")
ANSWER = '{"orders": []}\x00 \x1b[31mred\u202eevil\x85\nsecond line\tand a tab'
HOSTILE = '<script>alert(1)</script>|x\n---\nlicense: mit `b` "q" \x1b[31m'


def _example(**more) -> dict:
    return {
        "episode_id": "e1",
        "turn": 1,
        "creature": "hazel",
        "prompt": "Turn 2\x1b]0;title\x07",
        "response": ANSWER,
        "standin_action": '{"orders": []}',
        "action": '{"orders": []}',
        "error": "bad_json \x1b[0m",
        **more,
    }


def test_flags_md_examples_show_control_characters_as_escapes_and_keep_lines():
    text = "\n".join(examples_md([_example()]))
    assert not [c for c in RAW + ("\x07",) if c in text]
    assert "\\x00 \\x1b[31mred\\u202eevil\\x85\nsecond line\tand a tab" in text  # newline and tab stay
    assert "Turn 2\\x1b]0;title\\x07" in text
    assert "Action played (error: bad_json \\x1b[0m):" in text


def test_the_reports_top_flag_examples_show_control_characters_as_escapes():
    page = _examples_html({"examples": [_example()]}, {}, 1)
    assert not [c for c in RAW + ("\x07",) if c in page]
    assert "\\x00 \\x1b[31mred\\u202eevil\\x85\nsecond line" in page
    assert "error: bad_json \\x1b[0m" in page


def test_a_report_on_a_long_scenario_path_writes_figures_whose_names_fit(tmp_path, capsys):
    long = tmp_path / ("a" * 200) / ("b" * 200)
    long.mkdir(parents=True)
    shutil.copy(Path(__file__).parents[1] / "recipes" / "scenarios" / "gambit_rumour.yaml", long / "s.yaml")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"name: longpath\nout: {tmp_path / 'out'}\npolicies:\n  panic: {{kind: standin, disposition: panic_seller}}\n"
        f'councils:\n  one_model: {{focal: {{"*": panic}}}}\nscenarios: ["{long / "s.yaml"}"]\n'
        "seeds: {start: 500, count: 2}\nturns: 5\n",
        encoding="utf-8",
    )
    assert main(["eval", str(recipe)]) == 0
    capsys.readouterr()
    assert main(["report", str(tmp_path / "out")]) == 0, capsys.readouterr().err
    names = [p.name for p in (tmp_path / "out" / "report_files").iterdir()]
    price = [n for n in names if n.startswith("prices-")]
    assert len(price) == 1 and len(price[0]) <= 130 and price[0].endswith(".png")
    assert price[0] in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")


def test_a_symlinked_out_is_refused_before_anything_is_staged(tmp_path):
    earlier = tmp_path / "x1"
    earlier.mkdir()
    (earlier / MARKER).write_text(json.dumps({"repo_type": "model", "repo_id": "me/tb"}), encoding="utf-8")
    link = tmp_path / "o4"
    link.symlink_to(earlier, target_is_directory=True)
    with pytest.raises(ValueError) as caught:
        start_folder(link, "model", "me/tb")
    assert str(caught.value) == f"--out {link}: is a symbolic link (to {earlier}); pass the real folder as --out"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o4", "x1"]  # no .o4.partial staged


def test_glade_export_to_a_symlinked_out_says_so_in_one_line_and_leaves_the_target(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    first = tmp_path / "x1"
    assert main(["export", "shipped:tiny-base", "--repo-id", "me/tb", "--out", str(first)]) == 0
    before = {p.name: p.stat().st_mtime_ns for p in first.iterdir()}
    (tmp_path / "o4").symlink_to("x1")
    capsys.readouterr()
    assert main(["export", "shipped:tiny-base", "--repo-id", "me/tb", "--out", str(tmp_path / "o4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: --out {tmp_path / 'o4'}: is a symbolic link (to x1); pass the real folder as --out"]
    assert {p.name: p.stat().st_mtime_ns for p in first.iterdir()} == before


def test_the_card_escapes_metas_versions_commit_and_metric_names():
    text = commit_text({"glade_version": HOSTILE, "git_commit": HOSTILE, "git_dirty": False})
    assert "\x1b" not in text and "\n" not in text
    version = text.split(" (commit ")[0]  # escaped Markdown text: no tag a renderer would read
    assert "\\<script>" in version and not re.search(r"(?<!\\)<script>", version)
    commit = text.split(" (commit ", 1)[1].rsplit(", clean working tree)", 1)[0]
    # the commit: one code span whose fence outruns the backtick inside it
    assert commit.startswith("``") and commit.endswith("``") and "`b`" in commit and "\\x1b[31m" in commit
    table = heldout_table({"metrics": {HOSTILE: 0.5, "heldout_states": 64}})
    row = next(line for line in table.splitlines() if "alert" in line)
    assert "\x1b" not in row and "\\<script>" in row and not re.search(r"(?<!\\)<script>", row)
    assert row.count(" | ") == 3  # four cells: the key's pipe is escaped
    for cell in (protocol_text({"protocol_version": HOSTILE}, {}), base_words({"base_model_given": HOSTILE}, None)):
        assert "\x1b" not in cell and "\n" not in cell and "``" in cell  # one whole code span, controls escaped


def test_glade_export_json_records_the_git_commit(tmp_path):
    out = tmp_path / "x"
    tmp = start_folder(out, "model", "me/x")
    finish_folder(tmp, out, {"repo_id": "me/x", "repo_type": "model"})
    marker = json.loads((out / MARKER).read_text(encoding="utf-8"))
    assert "git_commit" in marker and marker["git_commit"] == git_commit()


def test_version_names_the_checkouts_commit(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out.strip()
    commit = git_commit()
    assert commit is not None, "these tests run from a glade checkout"
    assert out == f"glade 0.1.0 (commit {commit}{'+dirty' if git_dirty() else ''})"
