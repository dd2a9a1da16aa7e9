"""The rest of the fifteenth mutation audit's tests (the first half is test_pinned_report_pieces.py):
the sign-flip test's seeded draws, Markdown and HTML escapes the first file left, the sort key on
an overflowing number, and the figures' file names and interval words. The comment on each names
what it guards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from test_pinned_report_pieces import _agreement, _pnl_table, _prices, drawn  # noqa: F401

from glade.eval.fdr import sign_flip
from glade.eval.recipe import STANDIN
from glade.eval.report import plots
from glade.eval.report.data import Results
from glade.eval.report.markup import html_table, md_text, sort_key
from glade.eval.thresholds import Thresholds


def test_the_sign_flip_draws_beyond_exact_enumeration_follow_the_seed():
    # guards sign_flip's `default_rng(seed)`: 16 clusters are past EXACT, so the p is a seeded estimate
    d = np.array([1.0] * 10 + [-1.0] * 6)
    assert sign_flip(d, seed=1, draws=99) == sign_flip(d, seed=1, draws=99) == (0.53, 0.01)
    assert sign_flip(d, seed=2, draws=99) == (0.52, 0.01)


def test_an_html_comment_or_declaration_in_a_name_is_escaped_in_markdown():
    # guards md_text's `"!"` after "<": "<!--" opens an HTML comment that would hide the rest of report.md
    assert md_text("a <!-- b") == "a \\<!-- b"
    assert md_text("a <?x") == "a \\<?x" and md_text("a < b") == "a < b"


def test_a_carriage_return_in_a_name_is_a_space_in_markdown():
    # guards md_text's `\r\n|[\r\n]`: a lone \r (an old Mac line end) or \r\n would break a table row
    assert md_text("a\rb") == "a b" and md_text("a\r\nb") == "a b" and md_text("a\nb") == "a b"


def test_a_row_whose_class_is_empty_gets_no_class_attribute():
    # guards html_table's `row_class and row_class(i)`: only the stand-in rows are marked
    table = html_table(["world"], [["all stand-in"], ["mixed"]], set(), row_class=lambda i: "standin" if i == 0 else "")
    assert '<tr class="standin"><td>all stand-in</td></tr>' in table and "<tr><td>mixed</td></tr>" in table
    assert 'class=""' not in table


def test_a_table_header_is_escaped_in_html():
    # guards html_table's `html.escape(h)` in the header: a column named after a good "<b>" is text
    table = html_table(["price <b> & c"], [["1"]], {0})
    assert "<th>price &lt;b&gt; &amp; c</th>" in table


def test_a_number_too_large_for_a_float_sorts_as_text():
    # guards sort_key's `math.isfinite(value)`: "1e999" reads as inf, which the page's script sorts with
    # the cells that have no number
    assert sort_key("1e999") == (1, 0.0, "1e999") and sort_key("1e9") == (0, 1e9, "1e9")


def test_every_figure_s_file_name_starts_with_a_prefix_the_report_may_remove(drawn):  # noqa: F811
    # guards FIGURE_PREFIXES: a figure whose name no prefix covers would pile up in report_files/
    episodes = pd.DataFrame({"scenario": ["s1"] * 2, "council": [STANDIN, "mixed"], "seed": [0, 0]})
    episodes["gambit_pnl"] = [1.0, 3.0]
    pnl = Results(Path("."), episodes, pd.DataFrame(), scenarios=["s1"], councils=["mixed"])
    seam = [{"scenario": "s1", "world": "mixed", "traded": {"mean": 0.1}, "seam": {"mean": 0.05}}]
    names = [
        plots.price_figure(_prices(1), "s1", "Shock").name,
        plots.agreement_figure(_agreement(1), "mixed", {}).name,
        plots.pnl_figure(pnl, _pnl_table({("s1", STANDIN): 1.0, ("s1", "mixed"): 3.0}), {}).name,
        plots.seam_figure(seam, {}).name,
    ]
    assert names == ["prices-s1.png", "agreement-mixed.png", "gambit-pnl.png", "seam-split.png"]
    assert all(name.startswith(plots.FIGURE_PREFIXES) for name in names)


def test_the_interval_words_name_the_run_s_level():
    # guards ci_words' `r.thresholds.ci_level`: a recipe's ci_level of 0.9 is a 90% interval, not 95%
    r = Results(Path("."), pd.DataFrame(), pd.DataFrame(), thresholds=Thresholds(ci_level=0.9))
    assert plots.ci_words(r).startswith("90% interval of the mean over seeds")
