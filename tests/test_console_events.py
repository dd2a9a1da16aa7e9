"""The turn table's events come from the turn's structured seam writes, not from their prose; and
validate tells a file's kind from its folder by glade.kinds.check_kind's rule."""

import io
from pathlib import Path

import pytest
from rich.console import Console

from glade.cli.validate import kind_of
from glade.config import ConfigError
from glade.console_tables import turn_table
from glade.env.scenario import load_scenario
from glade.kinds import check_kind, folder_kind
from glade.rollout import run_episode

LEGENDS = [
    {"legend": "great_acorn_mania", "turn": 2, "mechanism": "override"},
    {"legend": "drought", "turn": 2, "mechanism": "override"},
    {"legend": "hollow_log_company", "turn": 3, "mechanism": "override"},
]


def _shown(renderable) -> str:
    con = Console(width=300, file=io.StringIO(), color_system=None)
    con.print(renderable)
    return con.file.getvalue()


def _event_cells(text: str) -> dict[int, str]:
    cells = {}
    for line in text.splitlines():
        words = line.split(None, 8)
        if words and words[0].isdigit():
            cells[int(words[0])] = words[8].strip() if len(words) > 8 else ""
    return cells


@pytest.fixture(scope="module")
def played():
    s = load_scenario("gambit_override", turns=6, legends=LEGENDS)  # three writes on turn 4, one on turns 2 and 3
    return s, run_episode(s, 7, full=False).history


def test_the_wood_opens_the_next_turns_news_with_one_line_per_seam_write(played):
    # the order turn_table relies on to leave the news of a write out: settle writes its news first
    _, history = played
    for before, row in zip(history, history[1:]):
        k = len(before["seam_writes"])
        assert all(e.startswith("At settlement the ") for e in row["events"][:k])
        assert not any(e.startswith("At settlement the ") for e in row["events"][k:])
    assert [len(r["seam_writes"]) for r in history] == [0, 0, 2, 1, 1, 0]


def test_each_seam_write_is_shown_once_on_its_turn_from_the_writes_themselves(played):
    s, history = played
    cells = _event_cells(_shown(turn_table(s, 7, history)))
    for row in history:
        writes = [f"seam {w['good']} {w['before']:.2f}→{w['after']:.2f}" for w in row["seam_writes"]]
        assert all(w in cells[row["turn"]] for w in writes)
    assert "At settlement" not in "".join(cells.values())
    assert cells[4].count("seam ") == 1 and "seam honey" in cells[4]
    assert "The Great Acorn Mania; The Dry Brook; seam acorns" in cells[2]


def test_news_after_the_seam_lines_is_shown():
    # a line the patron adds after the seam's own (a loan unpaid) is news, not the write again
    s = load_scenario("default", turns=2)
    prices = {g: s.goods[g].price for g in s.goods}
    write = {"legend": "drought", "good": "berries", "before": 3.0, "after": 4.5}
    history = [
        {"turn": 0, "prices": prices, "events": [], "seam_writes": [write], "gambit_pnl": 0.0, "trades": 0,
         "volume": {}},
        {"turn": 1, "prices": prices, "events": ["the write, as news", "Moss could not repay a loan to the patron."],
         "seam_writes": [], "gambit_pnl": 0.0, "trades": 0, "volume": {}},
    ]  # fmt: skip
    cells = _event_cells(_shown(turn_table(s, 7, history)))
    assert cells == {0: "seam berries 3.00→4.50", 1: "Moss could not repay a loan to the patron."}


def test_validate_reads_a_kind_from_a_folder_only_under_recipes_as_check_kind_does(tmp_path, monkeypatch):
    loose = tmp_path / "x" / "eval" / "r.yaml"  # an eval folder, but not under recipes/
    for kind in ("scenario", "train", "eval"):
        check_kind(loose, kind, "glade validate")  # check_kind lets any kind through here
    assert folder_kind(loose) is None
    with pytest.raises(ConfigError, match="not under recipes/scenarios, dispositions, generate, train or eval, so"):
        kind_of(loose, None)
    assert kind_of(loose, "eval") == "eval"

    kept = tmp_path / "recipes" / "eval" / "r.yaml"
    with pytest.raises(ConfigError, match="an eval recipe"):
        check_kind(kept, "train", "glade train")
    assert kind_of(kept, None) == "eval"
    (tmp_path / "recipes").mkdir()
    monkeypatch.chdir(tmp_path / "recipes")
    assert kind_of(Path("eval/r.yaml"), None) == "eval"  # named from inside recipes/
    (tmp_path / "recipes" / "generate").mkdir()
    monkeypatch.chdir(tmp_path / "recipes" / "generate")
    assert kind_of(Path("../eval/r.yaml"), None) == "eval"  # `..` resolved: recipes/eval, not recipes/generate/..
    with pytest.raises(ConfigError, match=r"an eval recipe \(recipes/eval/\); glade train takes"):
        check_kind(Path("../eval/r.yaml"), "train", "glade train")
