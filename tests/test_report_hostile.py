"""`glade report` on a results folder someone else made: a flags.json whose fields carry markup is
refused where a number goes and shown as text where words go (report.html gains no element or
attribute of its own, report.md no raw HTML), and a report_files/ that is a link to another folder
is refused, not written into or cleaned. Built on test_flag_report_review.py's evaluation, flagged."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from html.parser import HTMLParser

import pytest
from test_flag_report_review import results  # noqa: F401  (an evaluation `glade flag` flagged)

from glade.cli import main
from glade.eval import report
from glade.eval.flags import load_flags
from glade.eval.report.data import load_results, results_table, results_verdicts
from glade.eval.report.render import Page, check_report_out, render_html, render_md

MARKUP = '1"><img src=x onerror=alert("hostile")>'
RERUN = "move it aside, then rerun `glade flag` on its results folder to write it again"


@pytest.fixture
def copy(results, tmp_path):  # noqa: F811
    out = tmp_path / "results"
    shutil.copytree(results, out, ignore=shutil.ignore_patterns("shards"))
    return out


def _flags(folder) -> dict:
    return json.loads((folder / "flags.json").read_text())


class Elements(HTMLParser):
    """Every element of a page and its attributes, as a browser would read them."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _injected(page: str) -> list:
    """The elements and attributes MARKUP would add to a page: an <img src=x>, an on* handler."""
    parser = Elements()
    parser.feed(page)
    return [(tag, a) for tag, a in parser.tags if a.get("src") == "x" or any(k.startswith("on") for k in a)]


def _raw_html_md(md: str) -> list[str]:
    """Lines of report.md, outside code blocks (where text is shown as typed), that hold an unescaped tag."""
    outside = re.sub(r"^```\n.*?^```$", "", md, flags=re.S | re.M)
    return [line for line in outside.splitlines() if re.search(r"(?<!\\)<img", line)]


@pytest.mark.parametrize(
    "key, value, said",
    [
        ("family", MARKUP, "families[0].family must be an integer, not a text"),
        ("n", "<img src=x onerror=alert(1)>", "families[0].n must be an integer, not a text"),
        ("n", True, "families[0].n must be an integer, not true/false"),  # JSON's true is no count
        ("q", "0.01<script>", "families[0].q must be a number, not a text"),
        ("title", None, "families[0].title must be a text, not null"),
        ("members", ["<b>1</b>"], "families[0].members must be a list of integers"),
    ],
)
def test_a_family_with_markup_where_a_number_goes_is_refused_in_one_line(copy, key, value, said):
    flags = _flags(copy)
    flags["families"][0][key] = value
    (copy / "flags.json").write_text(json.dumps(flags))
    with pytest.raises(ValueError) as caught:
        load_flags(copy / "flags.json")
    assert str(caught.value) == f"{copy / 'flags.json'}: {said}; {RERUN}"


def test_a_report_on_such_a_family_says_so_and_shows_nothing_of_it(copy):
    flags = _flags(copy)
    flags["families"][0] |= {"family": MARKUP, "n": '<img src=x onerror=alert("n")>'}
    (copy / "flags.json").write_text(json.dumps(flags))
    assert main(["report", str(copy)]) == 0  # the note stands in place of the flags, as for any such file
    page = (copy / "report.html").read_text()
    assert not _injected(page)
    assert f"{copy / 'flags.json'}: families[0].family must be an integer, not a text; move it aside" in page
    assert not _raw_html_md((copy / "report.md").read_text())


def test_an_example_with_a_number_where_words_go_is_refused(copy):
    flags = _flags(copy)
    flags["flags"][0]["examples"][0]["turn"] = "2<img>"
    (copy / "flags.json").write_text(json.dumps(flags))
    with pytest.raises(ValueError, match=r"flags\[0\]\.examples\[0\]\.turn must be an integer, not a text; move"):
        load_flags(copy / "flags.json")


def test_markup_in_a_familys_words_and_examples_is_shown_as_text(copy):
    flags = _flags(copy)
    family = flags["families"][0]
    family["title"] = MARKUP  # the text opens with its title, as glade flag writes it
    family["text"] = f"{MARKUP}: <script>alert(2)</script>"
    example = family["examples"][0]
    for key in ("episode_id", "creature", "prompt", "response", "standin_action", "outcome", "error"):
        example[key] = f"{key} {MARKUP}"
    flags["flags"][0]["examples"][0]["prompt"] = MARKUP
    (copy / "flags.json").write_text(json.dumps(flags))
    md_path, html_path = report.write_report(copy)
    page = html_path.read_text()
    assert not _injected(page) and "<script>alert" not in page
    assert "&lt;img src=x onerror=alert(&quot;hostile&quot;)&gt;" in page  # shown, as text
    md = md_path.read_text()
    assert not _raw_html_md(md) and "\\<script>alert(2)\\</script>" in md


def test_a_familys_number_and_n_reach_the_page_escaped(copy):
    # load_flags refuses these; the sections escape them all the same (a Results built another way)
    r = load_results(copy)
    hostile = {**r.families[0], "family": MARKUP, "n": "<img src=x onerror=alert(1)>", "n_max": None}
    r = replace(r, families=[hostile])
    page = Page(r, results_table(r), [], {s: s for s in r.scenarios}, results_verdicts(r))
    assert not _injected(render_html(page))
    md = render_md(page)
    assert not _raw_html_md(md) and "(n \\<img src=x onerror=alert(1)>, q " in md


def test_a_report_files_link_to_another_folder_is_refused_and_its_pngs_stay(copy, tmp_path, capsys):
    victim = tmp_path / "mine"
    victim.mkdir()
    (victim / "prices-mydata.png").write_bytes(b"mine")
    (copy / report.FILES).symlink_to(victim, target_is_directory=True)
    assert main(["report", str(copy)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {copy / report.FILES}: a link (to {victim.resolve()}), not a folder of the results folder; glade "
        "report writes its figures there and removes old ones, so remove the link, then rerun glade report"
    )
    assert sorted(p.name for p in victim.iterdir()) == ["prices-mydata.png"]
    assert (victim / "prices-mydata.png").read_bytes() == b"mine"
    assert not (copy / "report.md").exists() and not (copy / "report.html").exists()
    # a results folder reached through a link, its report_files/ a folder of its own, is as before
    (copy / report.FILES).unlink()
    (copy / report.FILES).mkdir()
    (tmp_path / "latest").symlink_to(copy, target_is_directory=True)
    check_report_out(tmp_path / "latest")


def test_a_report_files_link_to_itself_is_refused_in_the_same_line(tmp_path):
    (tmp_path / report.FILES).symlink_to(tmp_path / report.FILES)  # a loop: refused, not a traceback
    with pytest.raises(ValueError, match=r"report_files: a link \(to .*\), not a folder of the results folder; glade"):
        check_report_out(tmp_path)
