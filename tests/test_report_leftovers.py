"""Leftovers of the report review: report.md shows the user's names as typed (no Markdown made of
them, no extra table column), and the rebuild hint says what `glade eval` does with the folder as
it stands (rebuilds from its shards, plays every world again without them, refuses a folder with
no progress.json)."""

from __future__ import annotations

import html
import re
import shutil

import pytest

from glade.eval import report
from glade.eval.recipe import load_eval_recipe
from glade.eval.report.data import load_results
from glade.eval.report.markup import md_cell, md_table, md_text
from glade.eval.run import evaluate, run_recipe

markdown_it = pytest.importorskip("markdown_it")

PIPE, STARS, TAG = "a|b", "*x*_`y`<script>", "<b>hoard</b>"

RECIPE = f"""\
name: "hostile *name* `x`"
out: OUT
policies:
  "p|anic": {{kind: standin, disposition: panic_seller}}
  "{TAG}": hoarder
councils:
  "{PIPE}": {{focal: {{"*": "p|anic"}}}}
  "{STARS}": {{focal: {{oona: "{TAG}", bramble: "p|anic"}}}}
scenarios: [gambit_rumour]
seeds: {{start: 0, count: 4}}
turns: 6
worlds: 16
"""


def _render(text: str) -> str:
    """report.md as GitHub shows it (CommonMark, tables, strikethrough)."""
    return markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(text)


def _section(md: str, title: str) -> str:
    return md.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("leftovers")
    out = root / "results"
    (root / "recipe.yaml").write_text(RECIPE.replace("OUT", str(out)))
    run_recipe(load_eval_recipe(root / "recipe.yaml"))
    md_path, html_path = report.write_report(out)
    return root, out, md_path.read_text(), html_path.read_text()


def test_a_pipe_in_a_name_adds_no_table_column(hostile):
    _, _, md, _ = hostile
    rendered = _render(_section(md, "Results"))
    rows = re.findall(r"<tr>(.*?)</tr>", rendered, flags=re.S)
    assert len(rows) == 1 + 3  # header, the all-stand-in world and two councils
    assert {len(re.findall(r"<t[hd]", row)) for row in rows} == {7}
    worlds = [re.findall(r"<td>(.*?)</td>", row, flags=re.S)[1] for row in rows[1:]]
    assert worlds == ["all stand-in", html.escape(PIPE), html.escape(STARS)]


def test_names_in_report_md_make_no_markup(hostile):
    _, _, md, _ = hostile
    rendered = _render(md)
    # the names' *, `, <b>, <script> and the recipe name's *name* and `x` stay text
    for tag in ("<code>", "<script", "<b>", "<s>", "<a "):
        assert tag not in rendered, tag
    emphasis = re.findall(r"<em>(.*?)</em>", rendered, flags=re.S)
    assert emphasis and all(e.startswith(("Council ", "Blue:", "Mean over", "gambit_", "no flags")) for e in emphasis)
    assert any(e.startswith(html.escape(f"Council {STARS}, one panel per scenario: ")) for e in emphasis)
    assert "<h1>glade evaluation report: hostile *name* `x`</h1>" in rendered
    councils = re.search(r"<li><strong>councils</strong>: (.*?)</li>", rendered).group(1)
    assert councils == html.escape(
        f"{PIPE} (*: p|anic; 1 cast); {STARS} (oona: {TAG}, bramble: p|anic; 1 cast)", quote=False
    )
    alt = re.search(r'<img src="report_files/agreement-x[^"]*" alt="(.*?)"', rendered).group(1)
    assert alt == html.escape(f"Agreement with the stand-in: {STARS}")


def test_report_html_still_escapes_the_names_as_html(hostile):
    _, _, _, page = hostile
    assert "<script>" in page and page.count("<script") == 1  # the sort script alone
    assert html.escape(STARS) in page and html.escape(TAG) in page and "\\*" not in page
    assert "<td>a|b</td>" in page


def test_two_wildcard_councils_are_no_emphasis():
    # an ordinary recipe: two councils seating every creature read "(*: ..." twice on one line
    line = "- **councils**: one (*: panic; 1 cast); two (*: hoard; 1 cast)"
    assert "<em>" in _render(line)  # what report.md used to hold
    fixed = "- **councils**: " + md_cell("one (*: panic; 1 cast); two (*: hoard; 1 cast)")
    assert "<em>" not in _render(fixed) and "one (*: panic; 1 cast); two (*: hoard; 1 cast)" in _render(fixed)


@pytest.mark.parametrize(
    "text",
    [
        "all_panic (*: panic; 1 cast)",  # the focal wildcard alone on its line stays as it was
        "0.971 [0.778, 1.113]",
        "+3.82 [-6.64, +28.68] (same value in all 4 seeds)",
        "q < 0.05, p<0.01 & more",
        "standin:panic_seller, path_distance_honey",
        "episode gambit_rumour.all_panic.c0.s8, turn 2 (the prompt's Turn 3), hazel",
    ],
)
def test_ordinary_text_is_left_as_it_was(text):
    assert md_text(text) == text and md_cell(text) == text


@pytest.mark.parametrize(
    "name",
    ["a|b", "*x*", "_x_", "`tick`", "<script>alert(1)</script>", "[click](http://x)", "~~gone~~", "&lt;", "C:\\dir\\"],
)
def test_a_hostile_name_reads_as_typed(name):
    for line, inside in ((f"- {md_text(name)}", False), (f"*{md_text(name, inside=True)}*", True)):
        rendered = _render(line)
        text = re.sub(r"</?(p|ul|li|em)>|\n", "", rendered)
        assert text == html.escape(name, quote=False).replace("'", "&#x27;"), (name, inside, rendered)
    row = _render("\n".join(md_table(["council", "n"], [[name, "4"]])))
    assert len(re.findall(r"<td", row)) == 2


# ---------------------------------------------------------------------------------------
# The rebuild hint


def _copy(out, to, *, shards: bool, progress: bool):
    shutil.copytree(out, to)
    if not shards:
        shutil.rmtree(to / "shards")
    if not progress:
        (to / "progress.json").unlink()
    (to / "decisions.parquet").unlink()
    return to


def _hint(folder) -> str:
    with pytest.raises(FileNotFoundError) as err:
        load_results(folder)
    return str(err.value)


def test_the_rebuild_hint_holds_with_the_shards(hostile, tmp_path):
    root, out, _, _ = hostile
    copy = _copy(out, tmp_path / "copy", shards=True, progress=True)
    hint = _hint(copy)
    assert f"rerun `glade eval` with the recipe that wrote this folder (out={copy}): it rebuilds the tables" in hint
    from dataclasses import replace

    recipe = replace(load_eval_recipe(root / "recipe.yaml"), out=str(copy))
    assert evaluate(recipe).played_now == 0  # as it says: rebuilt from the shards, nothing played


def test_the_rebuild_hint_without_shards_says_every_world_plays_again(hostile, tmp_path):
    root, out, _, _ = hostile
    copy = _copy(out, tmp_path / "copy", shards=False, progress=True)
    hint = _hint(copy)
    assert "rebuilds the tables from its shards" not in hint  # it used to say so, with no shards there
    assert f"{copy} has no shards/ to rebuild the tables from" in hint and "plays every world again" in hint
    from dataclasses import replace

    recipe = replace(load_eval_recipe(root / "recipe.yaml"), out=str(copy))
    result = evaluate(recipe)
    assert result.played_now == result.worlds == 4 * 3  # seeds x (stand-in + two councils)


def test_the_rebuild_hint_without_progress_json_says_glade_eval_refuses_it(hostile, tmp_path):
    root, out, _, _ = hostile
    copy = _copy(out, tmp_path / "copy", shards=False, progress=False)
    hint = _hint(copy)
    assert "rebuilds the tables from its shards" not in hint
    assert f"{copy} has no progress.json" in hint and "into a new out=DIR" in hint
    from dataclasses import replace

    recipe = replace(load_eval_recipe(root / "recipe.yaml"), out=str(copy))
    with pytest.raises(ValueError, match="holds files but no progress.json, so nothing this verb can resume"):
        evaluate(recipe)


def test_an_unreadable_table_names_the_hint_for_its_folder(hostile, tmp_path):
    _, out, _, _ = hostile
    copy = _copy(out, tmp_path / "copy", shards=False, progress=True)
    (copy / "decisions.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(ValueError) as err:
        load_results(copy)
    assert "not a readable Parquet file" in str(err.value) and f"{copy} has no shards/" in str(err.value)
