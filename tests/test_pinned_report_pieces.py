"""Tests written by a mutation audit of the report's pieces and the flags' statistics
(glade.eval.report.glossary, markup, plots; glade.eval.fdr; glade.eval.standin_search): each pins
a behaviour that a plausible one-line change (a comparison flipped, a clause dropped, an escape
left out, a sort removed, a constant changed) left untested. The comment on each names what it
guards. The glossary and the figures are built from small hand-made Results (no evaluation runs);
the figures' matplotlib objects are read before they are closed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_pinned_calibrate_search import lone_buy_cell

from glade.env import standin
from glade.eval import standin_search
from glade.eval.fdr import sign_flip, untestable
from glade.eval.recipe import STANDIN
from glade.eval.report import plots
from glade.eval.report.data import Results
from glade.eval.report.glossary import ERRORS, glossary, glossary_sections
from glade.eval.report.markup import MISSING, NOWRAP_CHARS, cell_text, html_table, md_text, slug, sort_key
from glade.eval.report.render import Page
from glade.eval.thresholds import Thresholds

# --------------------------------------------------------------------------- fdr


def test_a_pattern_whose_sum_ties_the_observed_one_up_to_float_rounding_counts_as_reaching_it():
    # guards sign_flip's `abs(d.sum()) * (1 - 1e-9)`: 0.1 + 0.2 - 0.1 sums to 0.2 + 2.8e-17, and the two
    # patterns whose |sum| rounds to exactly 0.2 reach it only with the tolerance: 6 of 8, not 4
    assert sign_flip([0.1, 0.2, -0.1]) == (0.75, 0.25)


def test_a_flags_json_from_before_the_testable_count_says_nothing_about_untestable_cells():
    # guards untestable's `method.get("testable", 1)`: no "testable" key is an old flags.json, not "none testable"
    cells = [{"n": 3, "p_min": 0.25, "effect": 0.5}]
    assert untestable({"fdr_q": 0.1}, cells) is None
    assert untestable({"fdr_q": 0.1, "testable": 0}, cells) is not None


def test_untestable_names_the_smallest_attainable_p_over_the_differing_cells():
    # guards untestable's `smallest = min(p_min)`: the best any cell could do, 0.25, not the worst, 0.5
    cells = [{"n": 3, "p_min": 0.5, "effect": 0.2}, {"n": 3, "p_min": 0.25, "effect": 0.5}]
    why = untestable({"fdr_q": 0.1, "testable": 0}, cells)
    assert "is at least 0.25 in every cell" in why and "of the 2 cells" in why


# --------------------------------------------------------------------------- markup


def test_a_slug_has_no_leading_or_trailing_hyphen():
    # guards slug's `.strip("-")`: "  Price paths! " is price-paths, not -price-paths-
    assert slug("  Price paths! ") == "price-paths"
    assert slug("(c1)") == "c1"


def test_a_hyphen_with_spaces_around_it_is_a_missing_value_too():
    # guards cell_text's `text.strip() == "-"`: a builder's " - " cell shows as the one dash
    assert cell_text(" - ") == MISSING and cell_text("-") == MISSING
    assert cell_text("-1") == "-1" and cell_text("a - b") == "a - b"


def test_a_lone_star_is_escaped_inside_emphasis_or_a_link_and_left_outside():
    # guards md_text's `inside and ch == "*"`: in "*caption*" a lone * would end the emphasis early
    assert md_text("a*b", inside=True) == "a\\*b"
    assert md_text("a*b") == "a*b"
    assert md_text("a~b", inside=True) == "a~b"  # a lone ~ ends nothing


def test_a_closing_bracket_before_an_opening_one_is_escaped_a_reference_link():
    # guards md_text's `after in ("(", "[")`: "[text][ref]" is a reference link as much as "[text](url)"
    assert md_text("[x][y]") == "[x\\][y]"
    assert md_text("[x](y)") == "[x\\](y)"
    assert md_text("[x] y") == "[x] y"


def test_a_numeric_cell_of_exactly_nowrap_chars_stays_on_one_line():
    # guards _td's `len(text) > NOWRAP_CHARS`: 28 characters ("+0.62 [+0.41, +0.83]" and a bit) stay whole
    assert NOWRAP_CHARS == 28
    whole, wraps = "1" * 28, "1" * 29
    table = html_table(["a", "b"], [[whole, wraps]], {0, 1})
    assert f'<td class="num nowrap">{whole}</td>' in table and f'<td class="num">{wraps}</td>' in table


def test_a_comma_before_four_digits_is_no_thousands_separator():
    # guards THOUSANDS' `\b` after the three digits: "1,2345" is 1 (then 2345), not 12345
    assert sort_key("1,2345")[1] == 1.0 and sort_key("1,234")[1] == 1234.0


def test_a_digit_after_a_dot_inside_a_name_is_no_number():
    # guards NUMBER's lookbehind on "." : "qwen2.5" sorts as a name, not as 5
    assert sort_key("qwen2.5") == (1, 0.0, "qwen2.5")
    assert sort_key("x.5")[0] == 1 and sort_key(".5")[1] == 0.5


# --------------------------------------------------------------------------- glossary


def _page(*, errors=(), summary=None, method=None, verdicts=None, thresholds=None) -> Page:
    """A Page over hand-made Results: decisions with these error codes, no episodes."""
    r = Results(
        folder=Path("."),
        episodes=pd.DataFrame(),
        decisions=pd.DataFrame({"error": list(errors)}),
        summary=summary or {},
        flags_method=method or {},
        thresholds=thresholds or Thresholds(),
    )
    return Page(r, pd.DataFrame(), [], {}, verdicts or {})


def test_the_support_and_q_terms_carry_their_own_thresholds_even_a_zero_one():
    # guards _threshold's `is not None` (a threshold of 0 is still said) and that support reads
    # flag_support, q reads fdr_q
    terms = dict(glossary(_page(method={"flag_support": 0, "fdr_q": 0.1})))
    assert terms["support"].endswith("; a flag needs at least 0")
    assert terms["q"].endswith("; a flag needs q at most 0.1")
    terms = dict(glossary(_page(method={"flag_support": 0.75})))
    assert terms["support"].endswith("; a flag needs at least 0.75")
    assert terms["q"].endswith("the cell would be flagged")  # no fdr_q in the method: nothing said


def test_only_the_error_codes_the_run_made_are_defined():
    # guards glossary's `if code in seen`: the run's two codes, each once, and no other of ERRORS
    terms = glossary(_page(errors=["cut_off", None, "no_json", "cut_off"]))
    codes = [term for term, _ in terms if term in ERRORS]
    assert codes == ["no_json", "cut_off"]  # in ERRORS' order
    assert not [term for term, _ in glossary(_page()) if term in ERRORS]


def test_the_cost_term_shows_only_where_the_run_has_a_cost():
    # guards glossary's `if r.summary.get("cost")`
    def shown(page):
        return "model s, decisions/s" in dict(glossary(page))

    assert shown(_page(summary={"cost": {"decisions": 10}}))
    assert not shown(_page()) and not shown(_page(summary={"cost": {}}))


def test_lever_and_attribution_terms_follow_their_own_sections():
    # guards lever_terms' two conditions: levers alone bring only the lever's term, attribution
    # alone only the seats' terms
    levers = dict(glossary(_page(verdicts={"levers": [{"lever": "glut"}]})))
    assert "difference in differences" in levers and "contribution" not in levers
    seats = dict(glossary(_page(verdicts={"attribution": [{"council": "mixed"}]})))
    assert {"contribution", "share, Fieller's interval", "interaction"} <= set(seats)
    assert "difference in differences" not in seats
    assert not {"difference in differences", "contribution"} & set(dict(glossary(_page())))


def test_a_figure_added_to_the_catalogue_is_defined_in_its_words(monkeypatch):
    # guards figure_terms' `terms += [... if name not in covered]`: a new figure needs no glossary edit
    from glade.eval import figures

    monkeypatch.setitem(figures.FIGURES, "spread", figures.Figure("spread", "the ask over the bid", lambda e, t: 0.0))
    terms = glossary(_page())
    assert ("spread", "the ask over the bid") in terms
    assert [term for term, _ in terms].count("volume") == 1  # a covered figure is not defined twice


def test_the_terms_section_escapes_names_in_html_and_lists_every_term_in_markdown():
    # guards glossary_sections' html.escape of term and words, and one Markdown line per term
    page = _page(thresholds=Thresholds(crash_drop=0.25))
    section = glossary_sections(page)[0]
    terms = glossary(page)
    assert section.anchor == "terms" and len(section.markdown) == len(terms)
    assert section.markdown[0].startswith("- **turn**: counted from 0")
    dl = section.html[0]
    assert "<dt>path_distance_&lt;good&gt;</dt>" in dl and "<dt>path_distance_<good>" not in dl
    assert "crash_drop 0.25 (a share of the price before the legend), crash_within 2 (turns)" in dl
    assert "|ln council price - ln stand-in price|" in dl and "&lt;" in dl


# --------------------------------------------------------------------------- plots


@pytest.fixture
def drawn(monkeypatch):
    """The figures plots draws, kept open (their PNG is b"png") so a test can read their axes."""
    import matplotlib.pyplot as plt

    figs = []

    def keep(fig, _plt) -> bytes:
        figs.append(fig)
        return b"png"

    monkeypatch.setattr(plots, "_save", keep)
    yield figs
    for fig in figs:
        plt.close(fig)


def _results(episodes=None, decisions=None, **more) -> Results:
    return Results(
        folder=Path("."),
        episodes=episodes if episodes is not None else pd.DataFrame(),
        decisions=decisions if decisions is not None else pd.DataFrame(),
        **more,
    )


def test_a_figure_s_title_and_caption_are_escaped_in_html_and_markdown():
    # guards figure_html's html.escape of title and caption and figure_md's `inside=True` for the title
    f = plots.Chart("x.png", 'Price <b> & "c*1"', "a <i>caption</i> & more", b"\x89PNG")
    page = plots.figure_html(f)
    assert 'alt="Price &lt;b&gt; &amp; &quot;c*1&quot;"' in page
    assert "<figcaption>a &lt;i&gt;caption&lt;/i&gt; &amp; more</figcaption>" in page
    assert plots.figure_md(plots.Chart("x.png", "c*1 [x]", "cap"))[0] == "![c\\*1 \\[x\\]](report_files/x.png)"


def test_a_name_of_nothing_but_symbols_still_gives_a_file_name():
    # guards _slug's `or "x"`: a council named "!!" would write agreement-.png
    assert plots._slug("!!") == "x" and plots._slug("a b/c") == "a_b_c"


def test_the_seam_split_stacks_red_on_blue_only_where_they_share_a_sign(drawn):
    # guards seam_figure's `left = where(same sign, traded, 0)`, its row order (the first at the top)
    # and that a row without a seam part is left out
    seam = [
        {"scenario": "s1", "world": "mixed", "traded": {"mean": 0.10}, "seam": {"mean": 0.05}},
        {"scenario": "s1", "world": STANDIN, "traded": {"mean": 0.10}, "seam": {"mean": -0.05}},
        {"scenario": "s2", "world": "mixed", "traded": {"mean": 0.20}, "seam": {"mean": None}},
    ]
    fig = plots.seam_figure(seam, {"s1": "Shock"})
    assert fig.name == "seam-split.png"
    ax = drawn[-1].axes[0]
    bars = ax.patches
    assert len(bars) == 4  # two rows, a blue and a red bar each
    blue, red = bars[:2], bars[2:]
    assert [round(b.get_width(), 6) for b in blue] == [10.0, 10.0]
    assert [round(b.get_x(), 6) for b in red] == [10.0, 0.0]  # same sign: on top of the blue; else from 0
    assert [round(b.get_width(), 6) for b in red] == [5.0, -5.0]
    assert blue[0].get_y() > blue[1].get_y()  # the first row sits at the top


def _pnl_table(means) -> pd.DataFrame:
    rows = [(s, w, m) for (s, w), m in means.items()]
    return pd.DataFrame(
        {
            "scenario": [s for s, _, _ in rows],
            "world": [w for _, w, _ in rows],
            "gambit_pnl": [m for _, _, m in rows],
            "gambit_pnl_low": [m - 1 if m == m else m for _, _, m in rows],
            "gambit_pnl_high": [m + 1 if m == m else m for _, _, m in rows],
        }
    )


def test_the_pnl_chart_centres_each_scenario_s_bars_and_skips_only_an_all_missing_table(drawn):
    # guards pnl_figure's `isna().all()` (one world without a P&L still gets a chart) and the bars'
    # rows `len(worlds) - 1 - k`, the first world on top
    episodes = pd.DataFrame(
        {"scenario": ["s1"] * 4, "council": [STANDIN, STANDIN, "mixed", "mixed"], "seed": [0, 1, 0, 1]}
    )
    episodes["gambit_pnl"] = [1.0, 3.0, 5.0, 7.0]
    r = _results(episodes, scenarios=["s1"], councils=["mixed"])
    table = _pnl_table({("s1", STANDIN): 2.0, ("s1", "mixed"): 6.0})
    assert plots.pnl_figure(r, table, {}).name == "gambit-pnl.png"
    bars = drawn[-1].axes[0].patches
    centres = [round(b.get_y() + b.get_height() / 2, 6) for b in bars]
    assert centres == [1.0, 0.0]  # one row per world, the first (the stand-in) on top
    assert [round(b.get_width(), 6) for b in bars] == [2.0, 6.0]
    partly = _pnl_table({("s1", STANDIN): 2.0, ("s1", "mixed"): float("nan")})
    assert plots.pnl_figure(r, partly, {}) is not None
    assert plots.pnl_figure(r, _pnl_table({("s1", "mixed"): float("nan")}), {}) is None


def _agreement(legend_turn) -> Results:
    decisions = pd.DataFrame(
        {
            "council": ["mixed"] * 4,
            "scenario": ["s1"] * 4,
            "creature": ["oona", "oona", "bram", "bram"],
            "turn": [0, 1, 0, 1],
            "agreement": [1.0, 0.5, 0.25, 0.0],
        }
    )
    episodes = pd.DataFrame({"scenario": ["s1"], "council": ["mixed"], "legend_turn": [legend_turn]})
    return _results(episodes, decisions, scenarios=["s1"], councils=["mixed"], creatures={"s1": ["bram", "oona"]})


def test_the_agreement_heatmap_boxes_a_legend_turn_inside_its_turns_only(drawn):
    # guards agreement_figure's `lt < grid.shape[1]`: a legend on turn 2 of turns 0-1 draws no box
    plots.agreement_figure(_agreement(1), "mixed", {})
    ax = drawn[-1].axes[0]
    assert ax.get_xlabel().endswith("red box: the legend turn")
    assert sorted(round(line.get_xdata()[0], 6) for line in ax.get_lines()) == [0.5, 1.5]
    plots.agreement_figure(_agreement(2), "mixed", {})
    ax = drawn[-1].axes[0]
    assert ax.get_xlabel() == plots.TURN_AXIS and not ax.get_lines()


def test_the_agreement_heatmap_writes_shares_without_the_leading_zero_and_one_as_1(drawn):
    # guards agreement_figure's cell text `f"{v:.2f}"[1:] if v < 1 else "1"` and the recipe's creature order
    fig = plots.agreement_figure(_agreement(None), "mixed", {"s1": "Shock"})
    assert fig.name == "agreement-mixed.png"
    ax = drawn[-1].axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["bram", "oona"]
    assert [t.get_text() for t in ax.texts] == [".25", ".00", "1", ".50"]


def test_no_agreement_column_or_no_decisions_of_the_council_is_no_heatmap(drawn):
    # guards agreement_figure's two early returns
    r = _agreement(1)
    assert plots.agreement_figure(_results(r.episodes, r.decisions.drop(columns="agreement")), "mixed", {}) is None
    assert plots.agreement_figure(r, "other", {}) is None
    assert not drawn


def _prices(legend_turn, turns=3) -> Results:
    import json

    rows = []
    for council in (STANDIN, "mixed"):
        for seed in (0, 1):
            path = {"acorns": [10.0 + seed + t for t in range(turns)], "honey": [5.0] * turns}
            rows.append((council, seed, json.dumps(path)))
    episodes = pd.DataFrame(rows, columns=["council", "seed", "price_path"])
    episodes["scenario"], episodes["legend_good"], episodes["legend_turn"] = "s1", "acorns", legend_turn
    return _results(episodes, scenarios=["s1"], councils=["mixed"])


def test_the_price_figure_marks_a_legend_inside_the_episode_and_keys_the_stand_in_first(drawn):
    # guards price_figure's `legend_turn >= length` (a legend past the last turn is no line) and
    # the key's order (the worlds' order, the stand-in first, though it is drawn last)
    fig = plots.price_figure(_prices(2), "s1", "Shock")
    assert fig.name == "prices-s1.png" and fig.title == "Price paths: Shock"
    legend = drawn[-1].legends[0]  # two goods fill two panels: the key sits under them
    assert [t.get_text() for t in legend.get_texts()] == [
        "all stand-in (n=2)",
        "mixed (n=2)",
        "legend turn 2 (the prompt's Turn 3)",
    ]
    assert drawn[-1].axes[0].get_title() == "acorns (legend good)"
    plots.price_figure(_prices(3), "s1", "Shock")
    legend = drawn[-1].legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["all stand-in (n=2)", "mixed (n=2)"]


# --------------------------------------------------------------------------- standin_search


def _buys(live_qty: int) -> standin_search.Features:
    """lone_buy_cell where the live seat bought `live_qty` honey at 10.00."""
    f = replace(lone_buy_cell(), pebbles=np.array([1000.0]), live_side=np.array([[standin_search.BUY]], dtype=np.int8))
    return replace(f, live_qty=np.array([[live_qty]], dtype=np.int64), live_price=np.array([[10.0]]))


BUYS_4 = replace(standin.DISPOSITIONS["balanced"], horizon=2, bid=0.0, jitter=0.0, momentum=0.0)  # 4 honey at 10.00


def test_the_search_minimises_agreement_plus_closeness_over_cells_plus_1_from_the_seeded_start(monkeypatch):
    # guards search's loss `-(agreement + closeness / (cells + 1))` (direction first: closeness only
    # breaks ties), its x0 = encode(start) and its generator seeded by `seed`
    import scipy.optimize

    seen = {}

    class Done:
        x, nit = standin_search.encode(BUYS_4), 0

    def fake(loss, **kwargs):
        seen.update(kwargs, value=loss(kwargs["x0"]))  # the one evaluation: the start
        return Done()

    monkeypatch.setattr(scipy.optimize, "differential_evolution", fake)
    f = _buys(2)
    out = standin_search.search(f, BUYS_4, "fit", seed=7)
    assert seen["value"] == pytest.approx(-(1.0 + 0.75 / 2))  # one cell: closeness / 2
    assert np.array_equal(seen["x0"], standin_search.encode(BUYS_4))
    assert seen["rng"].random() == np.random.default_rng(7).random()
    assert seen["integrality"] == [p.kind != "float" for p in standin_search.SPACE]
    assert (out.agreement, out.closeness, out.evaluations, out.settings["seed"]) == (1.0, 0.75, 1, 7)
