"""How the report and flags.md read to a user: a cut-off live answer shows its error and the
action played beside it, the Terms list keeps a bounded term column, a column of words sorts as
text (not by a number inside them), and a seat is named as the recipe and Table 1 name it."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from glade.eval.field_notes import _described
from glade.eval.flags_text import examples_md, played
from glade.eval.report.data import Results
from glade.eval.report.markup import CSS, SORT_SCRIPT, html_table, numeric_column, sort_key
from glade.eval.report.render import Page
from glade.eval.report.seats import seat_rows
from glade.eval.report.sections import family_sections
from glade.eval.report.top_flags import flag_sections

CUT = '{"orders": [{"side": "buy", "good": "acorns", "qty": 1, "price": 2.29}, {"side": "buy", "good": "acorns", "qty": 2,'
PLAYED = '{"orders": [{"side": "buy", "good": "acorns", "qty": 1, "price": 2.29}]}'
STANDIN = '{"orders": [{"side": "sell", "good": "honey", "qty": 1, "price": 9.0}]}'
WHERE = {"episode_id": "E", "turn": 0, "creature": "bramble", "prompt": "Turn 1 of 8."}


def _example(response: str, **extra) -> dict:
    return WHERE | {"response": response, "action": PLAYED, "standin_action": STANDIN} | extra


def _page(tmp_path, **fields) -> Page:
    r = Results(**({"folder": tmp_path, "episodes": pd.DataFrame(), "decisions": pd.DataFrame()} | fields))
    return Page(r=r, table=pd.DataFrame(), figures=[], labels={}, verdicts={})


def _decisions(error) -> pd.DataFrame:
    return pd.DataFrame(
        {"episode_id": ["E", "E"], "turn": [0, 0], "creature": ["bramble", "hazel"], "error": [error, None]}
    )


# 1. A cut-off answer: its error and the action played, not the answer alone.


def test_flags_md_shows_a_cut_off_answer_s_error_and_the_action_played():
    text = "\n".join(examples_md([_example(CUT, error="cut_off")]))
    assert f"Live answer:\n\n```\n{CUT}\n```\n\nAction played (error: cut_off):\n\n```\n{PLAYED}\n```" in text
    assert text.index("Action played") < text.index("Stand-in action:")
    # without the error (a flags.json whose examples lack it) the differing action is still shown
    assert "Action played:\n\n```\n" + PLAYED in "\n".join(examples_md([_example(CUT)]))


def test_an_answer_that_is_the_action_played_shows_nothing_more():
    spaced = PLAYED.replace(", ", ",  ")  # the same JSON, written otherwise
    assert played(_example(PLAYED)) is None and played(_example(spaced)) is None
    assert "Action played" not in "\n".join(examples_md([_example(PLAYED)]))
    assert played(_example("I buy one acorn")) == ("action played", PLAYED)  # prose: what the parser read
    assert played(WHERE | {"response": CUT, "error": "cut_off"}) == ("error: cut_off", None)  # no action stored


def test_the_report_s_examples_read_the_error_from_decisions(tmp_path):
    family = {"family": 4, "title": "Bramble", "text": "Bramble: buys", "n": 5, "q": 0.01, "members": [1]}
    family["examples"] = [_example(CUT)]
    flag = {
        "kind": "decision",
        "council": "c",
        "metric": "buy",
        "effect": 0.5,
        "score": 1.0,
        "examples": [_example(CUT)],
    }
    page = _page(tmp_path, decisions=_decisions("cut_off"), families=[family], flags=[flag])
    [section] = family_sections(page)
    assert f"Action played (error: cut_off):\n\n```\n{PLAYED}\n```" in "\n".join(section.markdown)
    shown = f"<b>action played (error: cut_off)</b><pre>{html.escape(PLAYED)}</pre>"
    live = re.search(r"<div><b>live answer</b>.*?</div>", "".join(section.html)).group()
    assert shown in live  # under the live answer, in its column
    [flags] = flag_sections(page)
    assert shown in flags.html[-1]
    clean = _page(tmp_path, decisions=_decisions(None), families=[family | {"examples": [_example(PLAYED)]}])
    assert "action played" not in "".join(family_sections(clean)[0].html)


# 2. The Terms list: a term column of its own width, not the longest term's.


def test_the_terms_list_bounds_its_term_column():
    assert re.search(r"section#terms dl\.meta \{ grid-template-columns: minmax\(8em, 16em\) 1fr; \}", CSS)
    assert re.search(r"dl\.meta \{ display: grid; grid-template-columns: max-content 1fr;", CSS)  # the run's facts


# 3. Sorting: numbers as numbers, words as words.


def test_a_column_of_words_sorts_as_text_even_with_numbers_inside():
    verdicts = ["—", "holds live (8 seeds)", "at the floor (2 straddle)", "neither"]
    assert not numeric_column(verdicts)
    by_text = sorted(verdicts, key=lambda c: sort_key(c, False))
    assert by_text == ["at the floor (2 straddle)", "holds live (8 seeds)", "neither", "—"]  # a missing value last
    assert numeric_column(["1,152", "-", "—", "+0.62 [+0.41, +0.83]", "\u22122.5", ".5"])
    assert numeric_column(["n 7 of 8 seeds", "n -"], declared=True)  # a column the table calls numeric
    assert sort_key("n 7 of 8 seeds", False) == (0, 0.0, "n 7 of 8 seeds") and sort_key("n 7 of 8 seeds")[1] == 7


SORT_PROBE = """<script>
window.addEventListener("load", function () {
  var table = document.querySelector("table.sortable"), out = {};
  Array.from(table.tHead.rows[0].cells).forEach(function (th, col) {
    th.click();
    out[th.textContent] = Array.from(table.tBodies[0].rows).map(function (r) { return r.cells[col].textContent; });
  });
  var dt = document.querySelector("section#terms dt");
  out.term_px = dt.getBoundingClientRect().width;
  out.em_px = parseFloat(getComputedStyle(dt).fontSize);
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


@pytest.mark.slow
def test_in_chromium_a_verdict_column_sorts_as_text_and_terms_stay_narrow(tmp_path):
    from test_report_browser import browse

    header = ["verdict", "n", "effect"]
    rows = [
        ["stand-in only (10 seeds)", "n 10 seeds", "-0.5"],
        ["—", "n 8 seeds", "—"],
        ["at the floor (2 straddle)", "n 9 seeds", "+1.5 [+1.0, +2.0]"],
    ]
    long_term = "authored, mixed, seam moved, larger part undecided, emergent, no move, at the floor, not enough seeds"
    terms = f'<section id="terms"><dl class="meta"><dt>{long_term}</dt><dd>the verdicts</dd></dl></section>'
    page = tmp_path / "sort.html"
    body = html_table(header, rows, {1, 2}) + terms
    page.write_text(
        f"<!DOCTYPE html><html><head><style>{CSS}</style></head><body>{body}"
        f"<script>{SORT_SCRIPT}</script>{SORT_PROBE}</body></html>"
    )
    dom = browse(page, tmp_path / "profile", "--dump-dom", "--window-size=1280,900").stdout
    found = json.loads(html.unescape(re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S).group(1)))
    assert found["verdict"] == ["at the floor (2 straddle)", "stand-in only (10 seeds)", "—"]  # by text
    assert found["n"] == ["n 8 seeds", "n 9 seeds", "n 10 seeds"]  # a numeric column: by its number
    assert found["effect"] == ["-0.5", "+1.5 [+1.0, +2.0]", "—"]
    assert found["term_px"] <= 16 * found["em_px"] + 1  # the long term wraps within 16em


# 4. One name for a seat: the recipe's policy name and spec, as Table 1's caption writes it.


def test_a_seat_is_named_as_the_recipe_and_table_one_name_it(tmp_path):
    recipe = {
        "policies": {"base_model": {"kind": "checkpoint", "path": "shipped:tiny-base"}},
        "councils": {"c": {"focal": {"thorn": "base_model"}}},
    }
    decisions = pd.DataFrame({"council": "c", "policy_name": "base_model", "policy": "hf:tiny-base",
                              "episode_id": ["e1", "e2"], "seed": [1, 2], "error": [None, None]})  # fmt: skip
    _, [row] = seat_rows(Results(Path("."), pd.DataFrame(), decisions, recipe=recipe))
    assert row[1] == "base_model (checkpoint shipped:tiny-base; ran as hf:tiny-base)"
    assert "base_model (checkpoint shipped:tiny-base)" in _described(recipe, "c")  # Table 1's caption
    _, [bare] = seat_rows(Results(Path("."), pd.DataFrame(), decisions))  # no recipe.yaml: the identity alone
    assert bare[1] == "base_model (hf:tiny-base)"
