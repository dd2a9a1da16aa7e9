"""A reviewer's walk through the verdicts and the leaderboard: a lever effect at the floor up to
floating-point dust is at it; an entry compared on too few seeds gets no interval of its own; a
small share of resamples is not "0%"; attribution played with no clear effect says why; the
report's leaderboard names the policies it could not rank; one seed is "1 seed"."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pandas as pd
import pytest

from glade.cli import main
from glade.eval.floor_rule import against_floor
from glade.eval.rank import rank
from glade.eval.report.leaderboard import board_table, rank_sections, share_text
from glade.eval.report.sections import lesson_sections
from glade.eval.stats import MIN_RESAMPLED, Interval
from glade.eval.thresholds import Thresholds
from glade.eval.verdict_text import n_text, robustness_lines, verdict_sections
from glade.eval.verdicts import _lever_verdict, _undecided

# the reviewer's council effect: 0.90 - 0.95 on every seed, at lever_min_effect 0.05
AT_FLOOR = Interval(
    -0.04999999999999999, None, None, 4, "same value in all 4 seeds (2 casts averaged in each)", same=True
)


def test_an_effect_at_the_floor_but_for_float_dust_is_beyond_it():
    assert against_floor(AT_FLOOR, 0.05) == "beyond"  # was "inside": "-0.050" read at the floor, judged inside it
    moving = Interval(-0.0825, -0.12, -0.06, 4)
    assert _lever_verdict(moving, AT_FLOOR, 0.05) == "holds live"  # was "stand-in only"
    # a real difference from the floor still counts: just inside, and an interval reaching just past it
    assert against_floor(Interval(-0.0499999, None, None, 4, "same value in all 4 seeds", same=True), 0.05) == "inside"
    assert against_floor(Interval(0.07, 0.04999999999999999, 0.09, 4), 0.05) == "beyond"
    assert against_floor(Interval(0.07, 0.0499999, 0.09, 4), 0.05) is None
    # an interval as wide as the floor, but for dust, is not narrower than it: more seeds would narrow it
    assert _undecided([Interval(0.035, 0.01, 0.06, 4)], 0.05) == "not enough seeds"  # 0.06 - 0.01 < 0.05


def _seat(seed, policy, value, creature="c1", world="council"):
    return {
        "episode_id": f"{world}.{creature}.{policy}.s{seed}", "scenario": "s", "scenario_hash": "h", "seed": seed,
        "creature": creature, "world": world, "focal": world == "council", "policy": policy, "wealth_change": value,
        "council": "k" if world == "council" else "standin", "cast": 0,
    }  # fmt: skip


def _folder(tmp_path, extra=()):
    """a, b and c on all MIN_RESAMPLED seeds; d beside them on only half of them."""
    rows = []
    for seed in range(MIN_RESAMPLED):
        a = 3.0 if seed % 3 else 1.0
        rows += [_seat(seed, "a", a), _seat(seed, "b", 2.0), _seat(seed, "c", 0.0)]
        if seed < MIN_RESAMPLED // 2:
            rows.append(_seat(seed, "d", 2.5 if seed % 2 else 0.5))
    folder = tmp_path / "r"
    folder.mkdir()
    pd.DataFrame(rows + list(extra)).to_parquet(folder / "episodes.parquet")
    return folder


def test_an_entry_on_too_few_seeds_gets_no_interval_and_says_why(tmp_path, capsys, monkeypatch):
    folder = _folder(tmp_path)
    board = rank([folder], resamples=2000)
    rows = {row["entry"]: row for row in board["board"]}
    words = f"too few seeds for an interval: {MIN_RESAMPLED // 2}, at least {MIN_RESAMPLED}"
    assert board["note"] is None and board["seeds"] == MIN_RESAMPLED  # the pooled seeds are enough
    assert rows["d"]["ci"] is None and rows["d"]["rank_ci"] is None and rows["d"]["note"] == words
    assert rows["d"]["seeds"] == MIN_RESAMPLED // 2
    assert rows["a"]["ci"] is not None and rows["a"]["note"] is None and rows["a"]["seeds"] == MIN_RESAMPLED
    cells = {r[1]: r for r in board_table(board)[1]}
    assert cells["d"][4] == f"— ({words})" and cells["d"][5] == "—"
    assert "not compared in" not in cells["d"][6]  # no interval, so no share of resamples it stands on
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["rank", str(folder)]) == 0
    assert words in capsys.readouterr().out
    report = rank_sections(SimpleNamespace(r=SimpleNamespace(folder=folder)))[0]
    assert any(words in line for line in report.markdown)


@pytest.mark.parametrize(
    ("share", "text"), [(0.0, "0%"), (0.00425, "<1%"), (0.0049, "<1%"), (0.35, "35%"), (0.999, ">99%"), (1.0, "100%")]
)
def test_a_small_share_of_resamples_is_not_printed_as_none(share, text):
    assert share_text(share) == text


def test_the_board_says_not_compared_in_under_1_percent():
    row = {
        "rank": 1, "entry": "x", "names": [], "strength": 0.5, "ci": [0.1, 0.9], "rank_ci": [1, 2], "wins": 3,
        "comparisons": 4, "separated": False, "resamples_without": 0.00425,
    }  # fmt: skip
    cells = board_table({"level": 0.95, "outcome": "seat", "board": [row]})[1][0]
    assert cells[6] == "3 / 4; not compared in <1% of resamples"


def _attribution(n, clear=False):
    effect = {"mean": -0.04, "ci": None if n < 4 else [-0.1, 0.02], "n": n, "note": ""}
    seat = {
        "cast": 0, "creature": "oona", "policy": "m", "contribution": effect, "cast_effect": -0.04, "share": 1.0,
        "share_ci": None, "share_note": "no interval: fewer than 4 seeds",
    }  # fmt: skip
    return {
        "scenario": "s", "council": "k", "figure": "legend_ratio", "effect": effect, "effect_clear": clear,
        "seats": [seat], "interaction": effect,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("ns", "why"),
    [
        ((1, 1), "n 1 seed, too few for an interval (at least 4 seeds needed)"),
        ((2, 3), "n 2-3 seeds, too few for an interval (at least 4 seeds needed)"),
        ((6, 6), "no effect's interval excludes 0 (n 6 seeds)"),
        ((3, 6), "no effect's interval excludes 0 (n 3-6 seeds; fewer than 4 give none)"),
    ],
)
def test_attribution_played_with_no_clear_effect_says_why_in_terminal_and_report(ns, why):
    verdicts = {"robustness": [], "seam": [], "levers": [], "attribution": [_attribution(n) for n in ns]}
    line = (
        "no outcome effect of the 2 (figure by scenario and council) clearly away from 0 to share out among the "
        f"seats: {why}"
    )
    sections = {key: lines for key, _, lines in verdict_sections(verdicts)}
    assert sections["attribution"] == [line]  # the terminal and the report's lead both print these
    page = SimpleNamespace(
        verdicts=verdicts, r=SimpleNamespace(thresholds=Thresholds()), table=pd.DataFrame(), figures=[]
    )
    detail = [s for s in lesson_sections(page) if s.anchor == "attribution"]
    assert len(detail) == 1 and detail[0].title == "Which seat did it" and line in detail[0].markdown[0]


def test_no_attribution_played_prints_no_section():
    assert "attribution" not in {key for key, _, _ in verdict_sections({"attribution": []})}


def test_the_report_names_the_policies_it_could_not_rank_as_the_terminal_does(tmp_path, capsys, monkeypatch):
    # a creature of the all-stand-in world no council seated: x never sat beside another policy
    folder = _folder(tmp_path, [_seat(seed, "standin:x", 1.0, creature="c2", world="standin") for seed in range(8)])
    monkeypatch.setenv("COLUMNS", "400")
    assert main(["rank", str(folder)]) == 0
    terminal = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("not ranked: "))
    assert terminal.startswith("not ranked: standin:x: never on a creature, scenario and seed")
    assert json.loads((folder / "rank.json").read_text())["not_compared"] == ["standin:x"]
    report = rank_sections(SimpleNamespace(r=SimpleNamespace(folder=folder)))[0]
    assert report.markdown[-1] == terminal and report.markdown[-2] == ""  # under the table, the same sentence
    assert "not ranked: standin:x" in report.html[-1]


def test_one_seed_is_one_seed():
    assert (n_text(1, 1), n_text(0, 1), n_text(3, 4), n_text(8, 8)) == (
        "n 1 seed",
        "n 0 of 1 seed",
        "n 3 of 4 seeds",
        "n 8 seeds",
    )
    world = {
        "rate": {"mean": 0.0, "n": 1, "note": "0 of 1 seeds, too few for an interval"},
        "casts": [],
        "verdict": "absent",
    }
    absent = [
        world | {"scenario": "s", "phenomenon": p, "good": "honey", "world": w}
        for p in ("crash", "bubble")
        for w in ("standin", "k")
    ]
    assert robustness_lines(absent)[-1].endswith(": absent in every world (0 of 1 seed in each)")


def test_a_rate_over_one_seed_says_one_seed():
    from glade.eval.stats import interval

    assert interval([0.0], rate=True).note == "0 of 1 seed, too few for an interval"
    assert interval([1.0, 0.0], rate=True).note == "1 of 2 seeds, too few for an interval"
