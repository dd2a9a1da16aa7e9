"""The report's presentation: tables that scroll in their own box instead of widening the page,
a sort key that reads "1,152" and "n 12 seeds" as numbers, a Terms section that defines every
figure and term the page shows, ids that are slugs, captions in plain text and one dash for a
missing value. Built on test_report.py's results (one small evaluation) and a copy of it whose
summary carries a lever and a seat attribution, so those sections and their terms show too."""

from __future__ import annotations

import html
import json
import re
import shutil

import pytest
import yaml
from test_report import _section, results  # noqa: F401  (results: the module's evaluation and its report)

from glade.eval import report
from glade.eval.figures import FIGURES
from glade.eval.report.calibration import ABOUT as CALIBRATION_ABOUT
from glade.eval.report.leaderboard import board_about
from glade.eval.report.markup import (
    CSS,
    MISSING,
    NUMBER,
    SORT_SCRIPT,
    THOUSANDS,
    html_table,
    md_table,
    slug,
    sort_key,
)


def _iv(mean: float, n: int = 4, ci=None, note: str = "") -> dict:
    return {"mean": mean, "ci": ci, "n": n, "note": note}


LEVER = {
    "lever": "glut",
    "from": "gambit_rumour",
    "to": "gambit_shock",
    "figure": "volume",
    "standin": _iv(-12.0, ci=[-15.0, -9.0]),
    "councils": [
        {
            "council": "mixed",
            "effect": _iv(-1.0, 8, [-2.0, 0.0]),
            "did": _iv(11.0, 8, [8.0, 14.0]),
            "verdict": "stand-in only",
        }
    ],
}
ATTRIBUTION = {
    "scenario": "gambit_shock",
    "council": "mixed",
    "figure": "final_gini",
    "effect": _iv(0.1, 8, [0.05, 0.15]),
    "effect_clear": True,
    "interaction": _iv(0.02, 8, [-0.01, 0.05]),
    "seats": [
        {
            "cast": 0,
            "creature": "oona",
            "policy": "hoard",
            "contribution": _iv(0.08, 4, [0.02, 0.14]),
            "share": 0.8,
            "share_ci": [0.3, 1.2],
            "share_note": "",
        }
    ],
}


@pytest.fixture(scope="module")
def rich(results, tmp_path_factory):  # noqa: F811
    """A copy of the results whose summary holds a lever and a seat attribution, with the
    recipe's crash_drop at 0.25: (report.md, report.html) as write_report writes them."""
    out = tmp_path_factory.mktemp("markup") / "results"
    shutil.copytree(results[0], out)
    summary = json.loads((out / "summary.json").read_text())
    summary["verdicts"] = {**summary.get("verdicts", {}), "levers": [LEVER], "attribution": [ATTRIBUTION]}
    (out / "summary.json").write_text(json.dumps(summary))
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    recipe["thresholds"] = {**(recipe.get("thresholds") or {}), "crash_drop": 0.25}
    (out / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    md, page = report.write_report(out)
    return md.read_text(), page.read_text()


def _terms(md: str) -> dict[str, str]:
    return dict(re.findall(r"^- \*\*(.+?)\*\*: (.*)$", _section(md, "Terms"), flags=re.M))


# 1. Tables never widen the page.


def test_every_table_scrolls_in_its_own_box(rich):
    page = rich[1]
    tables = page.count("<table")
    assert tables >= 8 and page.count('<div class="scroll"><table') == tables
    assert page.count("</table></div>") == tables
    rule = re.search(r"div\.scroll \{([^}]*)\}", CSS).group(1)
    assert "overflow-x: auto" in rule and "max-width: 100%" in rule


def test_long_numeric_cells_wrap_short_numbers_stay_whole():
    long = "-16.3 (-15.0%; same value in all 12 seeds x casts)"
    table = html_table(["move", "n"], [[long, "1,152"], ["+0.62 [+0.41, +0.83]", "864"]], {0, 1}, extra=lambda i: "x")
    assert f'<td class="num">{long}</td>' in table
    for short in ("1,152", "864", "+0.62 [+0.41, +0.83]"):
        assert f'<td class="num nowrap">{short}</td>' in table
    assert '<td class="extra">x</td>' in table  # a raw-HTML last cell (the flags' examples) keeps a width
    num = re.search(r"td\.num \{([^}]*)\}", CSS).group(1)
    assert "nowrap" not in num and re.search(r"td\.nowrap \{ white-space: nowrap; \}", CSS)


# 2. The sort key.


def test_sort_key_reads_thousands_signs_and_the_first_number_in_the_cell():
    assert sort_key("1,152") > sort_key("864") and sort_key("3,600") > sort_key("1,728")
    assert sort_key("1,234,567.5")[1] == 1234567.5
    assert sort_key("n 7 of 8 seeds") > sort_key("n 6 seeds")
    assert sort_key("\u22120.5 [\u22120.7, \u22120.3]")[1] == -0.5  # the unicode minus
    assert sort_key("-16.3 (-15.0%; same value in all 12 seeds x casts)")[1] == -16.3
    assert sort_key("+0.62 [+0.41, +0.83]")[1] == 0.62 and sort_key("15.0%")[1] == 15.0 and sort_key(".5")[1] == 0.5
    assert sort_key("[+0.41, +0.83]")[1] == 0.41  # a comma and a space: two numbers, not a thousands separator
    for text in (MISSING, "gambit_rumour.fire.c1.s1", "n -"):  # no number: after every number, by text
        assert sort_key(text)[0] == 1 and sort_key(text) > sort_key("1e9")
    cells = ["1,152", "864", "1,728", "3,600", "864", "1,152"]
    assert sorted(cells, key=sort_key) == ["864", "864", "1,152", "1,152", "1,728", "3,600"]
    # the page's script reads the same two patterns
    assert (
        f"new RegExp({json.dumps(THOUSANDS)}, " in SORT_SCRIPT and f"new RegExp({json.dumps(NUMBER)}, " in SORT_SCRIPT
    )


SORT_CELLS = {
    "decisions": ["1,152", "864", "3,600", "1,728", "864", "\u2014"],
    "n": ["n 7 of 8 seeds", "n 6 seeds", "n 5 of 8 seeds", "n 6 seeds", "n 8", "n -"],
    "move": [
        "-16.3 (-15.0%; same value in all 12 seeds x casts)",
        "+0.62 [+0.41, +0.83]",
        "\u22122.5",
        "15.0%",
        "-",
        "+3",
    ],
}
SORT_PROBE = """<script>
window.addEventListener("load", function () {
  var table = document.querySelector("table.sortable"), out = {};
  Array.from(table.tHead.rows[0].cells).forEach(function (th, col) {
    th.click();
    out[th.textContent] = Array.from(table.tBodies[0].rows).map(function (r) { return r.cells[col].textContent; });
  });
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


@pytest.mark.slow
def test_tables_sort_by_number_in_chromium(tmp_path):
    from test_report_browser import browse

    header = list(SORT_CELLS)
    rows = [list(row) for row in zip(*SORT_CELLS.values(), strict=True)]
    table = html_table(header, rows, set(range(len(header))))
    page = tmp_path / "sort.html"
    page.write_text(f"<!DOCTYPE html><html><body>{table}<script>{SORT_SCRIPT}</script>{SORT_PROBE}</body></html>")
    dom = browse(page, tmp_path / "profile", "--dump-dom").stdout
    found = json.loads(html.unescape(re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S).group(1)))
    assert found["decisions"] == ["864", "864", "1,152", "1,728", "3,600", MISSING]
    assert found["n"] == [
        "n 5 of 8 seeds",
        "n 6 seeds",
        "n 6 seeds",
        "n 7 of 8 seeds",
        "n 8",
        "n -",
    ]
    assert found["move"] == [
        "-16.3 (-15.0%; same value in all 12 seeds x casts)",
        "\u22122.5",
        "+0.62 [+0.41, +0.83]",
        "+3",
        "15.0%",
        MISSING,  # the lone "-" is shown as the missing value
    ]
    for name, cells in SORT_CELLS.items():  # the browser and sort_key agree
        shown = [MISSING if c == "-" else c for c in cells]
        assert found[name] == sorted(shown, key=sort_key)


# 3. Terms.


def test_terms_define_every_figure_with_the_run_s_thresholds(rich):
    md, page = rich
    terms = _terms(md)
    names = {word for term in terms for word in re.findall(r"[A-Za-z_<>]+", term)}
    assert set(FIGURES) <= names  # every figure of the catalogue, each in its catalogue's words
    for name in ("gambit_pnl", "final_gini", "volume", "crash", "bubble"):
        assert terms[name].startswith(FIGURES[name].about)
    assert "crash_drop 0.25 (a share of the price before the legend), crash_within 2 (turns)" in terms["crash"]
    assert "bubble_rise 0.3 (a share of the price before the legend)" in terms["bubble"]
    body = page.split('<section id="terms">', 1)[0]
    used = {name for name in FIGURES if re.search(rf"\b{name}\b", body)}
    assert {"legend_ratio", "crash", "volume", "final_gini"} <= used  # shown above the Terms, so defined there
    # in report.md escaped (a bare <good> reads as an HTML tag, which Markdown viewers drop); in the page as typed
    assert "path_distance\\_\\<good>" in terms and "described, not flagged" in terms["path_distance\\_\\<good>"]
    assert 'id="terms"' in page and "<dt>gambit_pnl</dt>" in page and "<dt>path_distance_&lt;good&gt;</dt>" in page


def test_terms_define_the_lever_and_attribution_words_only_where_shown(rich, results):  # noqa: F811
    md, page = rich
    terms = _terms(md)
    for term in ("difference in differences", "contribution", "share, Fieller's interval", "interaction"):
        assert term in terms, term
    assert "in the all-stand-in world on the same seed" in terms["difference in differences"]
    assert "Fieller" in _section(md, "Which seat did it") and "difference in differences" in _section(
        md, "Levers: the stand-in against the councils"
    )
    plain = _terms(results[1].read_text())  # no levers, no attribution in that recipe
    assert not {"difference in differences", "contribution", "interaction"} & set(plain)


# 4. Ids, captions, dashes.


def test_every_id_is_a_slug_and_every_link_lands(rich):
    page = rich[1]
    ids = re.findall(r'\sid="([^"]*)"', page)
    assert ids and all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", i) for i in ids), [i for i in ids if "&" in i]
    assert 'id="figure-gambit-p-l"' in page and "&amp;l" not in "".join(ids)
    assert all(f'id="{target}"' in page for target in re.findall(r'href="#([^"]*)"', page))
    assert slug("figure Gambit P&L") == "figure-gambit-p-l"


def test_captions_are_plain_text(rich):
    md, page = rich
    captions = [html.unescape(c) for c in re.findall(r'<p class="caption">(.*?)</p>', page, re.S)]
    assert len(captions) >= 8 and not [c for c in captions if "`" in c]
    assert any("'to' scenario minus its 'from' scenario" in c for c in captions)  # the levers' caption
    assert "`" not in CALIBRATION_ABOUT and "'in all N'" in CALIBRATION_ABOUT
    cost = _section(md, "Cost")
    assert "(The run's" not in cost and "(the run's live decisions are the live seats' alone)" in cost


def test_the_leaderboard_caption_names_bradley_terry_once():
    board = {
        "level": 0.95,
        "outcome": "seat",
        "comparisons": 120,
        "units": 12,
        "results": ["runs/eval/a"],
        "resamples": 200,
        "method": "Bradley-Terry, choix.ilsr_pairwise_dense (alpha 0.01); percentile bootstrap over (scenario, seed)",
    }
    about = board_about(board)
    assert about.startswith("Bradley-Terry strengths") and about.count("Bradley-Terry") == 1
    assert about.count("percentile bootstrap") == 1 and "Fit: choix.ilsr_pairwise_dense (alpha 0.01)." in about


def test_a_missing_value_is_one_dash_everywhere(rich):
    md, page = rich
    assert MISSING == "\u2014"
    table = html_table(["policy", "rate"], [["a", "-"], ["b", "1.0"]], {1})
    assert f'<td class="num nowrap">{MISSING}</td>' in table and ">-<" not in table
    assert md_table(["policy", "rate"], [["a", "-"]])[-1] == f"| a | {MISSING} |"
    assert not re.search(r"<td[^>]*>-</td>", page)  # Cost's rates, the leaderboard's names: none shows "-"
    assert not re.search(r"^\|.*\| - \|", md, flags=re.M)


def test_the_page_opens_with_contents_linking_every_section_in_order(results):  # noqa: F811
    page = results[2].read_text()
    nav = page.split('<nav class="contents">', 1)[1].split("</nav>", 1)[0]
    assert re.findall(r'href="#([^"]+)"', nav) == re.findall(r'<section id="([^"]+)">', page)
    assert page.index('<nav class="contents">') < page.index("<section ")


def test_the_results_caption_says_where_intervals_stop(results):  # noqa: F811
    md = results[1].read_text()
    assert "below 4 seeds no interval (the seeds' values are listed instead)" in _section(md, "Results")
