"""`glade report` at the size of a real comparison (8 to 40 councils, dozens of clear effects):
every world keeps a look of its own in the figures, the gambit P&L figure stays page-wide, seat
attribution and the top flags stay readable, and the leaderboard's interval column sorts by its
lower bound (as in the page's script)."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from glade.eval.recipe import STANDIN
from glade.eval.report import plots, sections
from glade.eval.report.data import Results
from glade.eval.report.leaderboard import rank_sections
from glade.eval.report.markup import MISSING, SORT_SCRIPT, numeric_column, sort_key
from glade.eval.report.render import Page
from glade.eval.report.top_flags import flag_sections


def _results(tmp_path, **fields) -> Results:
    return Results(**({"folder": tmp_path, "episodes": pd.DataFrame(), "decisions": pd.DataFrame()} | fields))


def _page(r: Results, verdicts: dict | None = None) -> Page:
    return Page(r=r, table=pd.DataFrame(), figures=[], labels={}, verdicts=verdicts or {})


@pytest.fixture
def drawn(monkeypatch):
    """The figures plots draws, kept open so a test can read their size and artists."""
    figs = []
    monkeypatch.setattr(plots, "_save", lambda fig, _plt: figs.append(fig) or b"png")
    yield figs
    for fig in figs:
        plt.close(fig)


def _councils(n: int) -> list[str]:
    return [f"c{i:02d}" for i in range(n)]


# --------------------------------------------------------------------------- a look per world


@pytest.mark.parametrize("councils", [10, 11, 19, 40])
def test_no_two_worlds_share_a_look_however_many_councils(councils):
    # a 9-colour palette gave the 10th council the 1st one's colour in the price paths and P&L bars
    looks = plots.world_looks([STANDIN, *_councils(councils)])
    assert len(looks) == councils + 1
    assert len({(k.color, str(k.linestyle)) for k in looks.values()}) == councils + 1  # lines
    assert len({(k.color, k.hatch) for k in looks.values()}) == councils + 1  # bars
    assert looks[STANDIN].linestyle == "--" and all(k.linestyle != "--" for w, k in looks.items() if w != STANDIN)


def test_eleven_councils_get_eleven_colours_before_any_dash():
    looks = plots.world_looks([STANDIN, *_councils(11)])
    assert len({k.color for k in looks.values()}) == 12 and {k.linestyle for k in looks.values()} == {"-", "--"}


def _pnl(councils: int, scenarios: int):
    worlds = [STANDIN, *_councils(councils)]
    names = [f"s{i}" for i in range(scenarios)]
    rows = [(s, w, seed, float(k + seed)) for s in names for k, w in enumerate(worlds) for seed in range(4)]
    episodes = pd.DataFrame(rows, columns=["scenario", "council", "seed", "gambit_pnl"])
    table = pd.DataFrame(
        [(s, w, float(k), k - 1.0, k + 1.0) for s in names for k, w in enumerate(worlds)],
        columns=["scenario", "world", "gambit_pnl", "gambit_pnl_low", "gambit_pnl_high"],
    )
    return _results(None, episodes=episodes, scenarios=names, councils=_councils(councils)), table


def test_the_pnl_bars_of_ten_councils_each_have_their_own_look(drawn):
    r, table = _pnl(10, 1)
    plots.pnl_figure(r, table, {})
    bars = drawn[-1].axes[0].patches
    assert len(bars) == 11 and len({(b.get_facecolor(), b.get_hatch()) for b in bars}) == 11


def test_the_price_paths_of_ten_councils_each_have_their_own_line(drawn):
    worlds = [STANDIN, *_councils(10)]
    path = json.dumps({"acorns": [1.0, 2.0, 3.0]})
    episodes = pd.DataFrame(
        [(w, seed, path) for w in worlds for seed in range(2)], columns=["council", "seed", "price_path"]
    )
    episodes["scenario"], episodes["legend_good"], episodes["legend_turn"] = "s1", "acorns", 9
    plots.price_figure(_results(None, episodes=episodes, scenarios=["s1"], councils=_councils(10)), "s1", "Shock")
    lines = drawn[-1].axes[0].get_lines()
    assert len(lines) == 11 and len({(line.get_color(), str(line.get_linestyle())) for line in lines}) == 11


@pytest.mark.parametrize(("councils", "scenarios"), [(1, 1), (8, 3), (11, 3), (30, 4)])
def test_the_pnl_figure_keeps_its_width_and_grows_in_height(drawn, councils, scenarios):
    # its width grew with scenarios x worlds, and the page shrank its text to 5-7 px at 8 councils
    r, table = _pnl(councils, scenarios)
    plots.pnl_figure(r, table, {})
    width, height = drawn[-1].get_size_inches()
    assert width <= 11 and len(drawn[-1].axes) == scenarios
    assert height >= 0.25 * (councils + 1) * scenarios  # each bar keeps its room


# --------------------------------------------------------------------------- which seat did it


def _iv(mean, ci=None, note=""):
    return {"mean": mean, "ci": ci, "n": 16, "note": note}


def _effect(i: int, idle: int = 1, busy: int = 2) -> dict:
    zero = _iv(0.0, None, "same value in all 16 seeds")
    seat = {"cast": 0, "policy": "p", "cast_effect": 0.5, "share_ci": None}
    return {
        "scenario": f"s{i:02d}",
        "council": "c",
        "figure": "crash",
        "effect": _iv(0.5, [0.2, 0.8]),
        "effect_clear": True,
        "interaction": _iv(0.1, [-0.1, 0.3]),
        "seats": [seat | {"creature": f"idle{j}", "contribution": zero, "share": 0.0,
                          "share_note": "same share in all 16 seeds"} for j in range(idle)]
        + [seat | {"creature": f"busy{j}", "contribution": _iv(0.25, [0.1, 0.4]), "share": 0.5,
                   "share_ci": [0.2, 0.8], "share_note": ""} for j in range(busy)],
    }  # fmt: skip


def _attribution(tmp_path, entries):
    [section] = sections.lesson_sections(_page(_results(tmp_path), {"attribution": entries}))
    rows = [line for line in section.markdown if line.startswith("| ")][1:]
    return section, rows


def test_attribution_shows_each_effect_once_with_its_seats_and_leaves_out_the_idle_ones(tmp_path):
    # one row per effect x seat repeated the effect, the interaction and n, and listed every seat whose
    # contribution was 0 in every seed ("0% (same share in all 16 seeds)")
    section, rows = _attribution(tmp_path, [_effect(0), _effect(1, idle=2, busy=1)])
    assert len(rows) == 2 and all(row.count("| +0.500 [+0.200, +0.800] |") == 1 for row in rows)
    assert "idle" not in "".join(rows) + "".join(section.html[1:])
    assert rows[0].count("busy") == 2 and rows[1].count("busy") == 1
    assert "busy0: p (cast 0): contribution +0.250 [+0.100, +0.400], share 50% [20%, 80%]" in rows[0]
    left_out = "Left out: 3 seat(s) whose contribution is 0 in every seed"
    assert left_out in section.markdown[0] and left_out in section.html[0]
    assert section.html[1].count("<li>") == 3 and section.html[1].count("<tr>") == 3  # the header and two effects


def test_an_effect_whose_seats_are_all_idle_says_so(tmp_path):
    _, [row] = _attribution(tmp_path, [_effect(0, idle=3, busy=0)])
    assert row.endswith(f"| {sections.NO_SEAT} |")


def test_attribution_shows_a_capped_number_of_effects_and_says_where_the_rest_are(tmp_path):
    n = sections.ATTRIBUTION_ROWS + 7
    section, rows = _attribution(tmp_path, [_effect(i) for i in range(n)])
    more = "... and 7 more clear effects in summary.json (verdicts, attribution)"
    assert len(rows) == sections.ATTRIBUTION_ROWS and section.markdown[-1] == more
    assert (
        section.html[1].count("<tr>") == sections.ATTRIBUTION_ROWS + 1
        and section.html[-1] == f'<p class="note">{more}</p>'
    )
    assert "Left out: 32 seat(s)" in section.markdown[0]  # counted over every clear effect, shown or not


def test_attribution_lists_the_lead_s_figures_first(tmp_path):
    entries = [_effect(0) | {"figure": "final_gini"}, _effect(1) | {"figure": "gambit_pnl"}, _effect(2)]
    _, rows = _attribution(tmp_path, entries)
    assert [row.split(" | ")[2] for row in rows] == ["crash", "gambit_pnl", "final_gini"]


# --------------------------------------------------------------------------- the top flags


def test_the_top_flags_examples_sit_in_a_full_width_row_under_each_flag(tmp_path):
    # as the table's last column they were crushed to 50-70 px and cut at the page's edge
    flags = [{"kind": "decision", "score": 1.0 - i / 10, "n": 8, "q": 0.01, "metric": f"m{i}", "effect": 0.5,
              "examples": [{"episode_id": f"E{i}", "turn": 1, "creature": "hazel", "prompt": "p" * 300}]}
             for i in range(3)]  # fmt: skip
    [section] = flag_sections(_page(_results(tmp_path, flags=flags)))
    table = section.html[-1]
    assert "<th>examples</th>" not in table and 'class="extra"' not in table
    assert table.count('<tr class="under"><td colspan="16"><b>examples of flag ') == 3
    assert table.index("E0") < table.index("m1") < table.index("E1")  # each under its own flag
    assert "E0, turn 1" in "".join(section.markdown)  # report.md keeps the first example in its column


def test_the_sort_script_moves_a_row_under_another_with_it():
    assert 'row.classList.contains("under")' in SORT_SCRIPT and "groups.sort(" in SORT_SCRIPT


# --------------------------------------------------------------------------- the leaderboard's interval


def test_an_interval_column_sorts_by_its_lower_bound_and_a_missing_one_last():
    cells = ["[+10.00, +12.00]", "[+2.00, +3.00]", f"{MISSING} (too few seeds: 2, at least 4)", "[-1.00, +0.50]"]
    assert numeric_column([c for c in cells if not c.startswith(MISSING)])  # a column of intervals, undeclared
    ordered = sorted(cells, key=sort_key)
    assert ordered == ["[-1.00, +0.50]", "[+2.00, +3.00]", "[+10.00, +12.00]", cells[2]]
    assert "[1, 0, t]; }" in SORT_SCRIPT.split("t.indexOf(")[1]  # the script, too, puts "— (...)" last


def test_the_leaderboard_declares_its_interval_column_numeric(tmp_path):
    board = {"outcome": "seat", "method": "Bradley-Terry, x; y", "level": 0.95, "comparisons": 10, "units": 4,
             "results": ["r"], "resamples": 100, "seeds": 8,
             "board": [{"rank": i + 1, "entry": f"p{i}", "names": [], "strength": s, "ci": [s - 1, s + 1],
                        "rank_ci": [1, 3], "wins": 1, "comparisons": 2} for i, s in enumerate([11.0, 2.5, -4.0])]}  # fmt: skip
    (tmp_path / "rank.json").write_text(json.dumps(board))
    [section] = rank_sections(_page(_results(tmp_path)))
    assert '<td class="num nowrap">[+10.00, +12.00]</td>' in section.html[1]
