"""Fixes from a new user's walk: family order at equal scores, the scoreboard's buys and sells
against the summary's trades, and `glade generate`'s bar counting world-turns."""

from __future__ import annotations

import re

from rich.console import Console

from glade.cli import main
from glade.config import Seeds
from glade.console_tables import scoreboard, summary_lines
from glade.env import load_scenario
from glade.eval.families import families
from glade.rollout import EpisodeSpec, run_lockstep
from glade.seats import standin_council
from glade.traces import GenerateRecipe, generate


def flag(rank: int, score: float, creature: str, good: str = "honey") -> dict:
    return {
        "kind": "decision", "scenario": "gambit_shock", "council": "one_model", "creature": creature,
        "phase": "seam", "cast": 0, "policy": "panic_model", "good": good, "direction": "sell",
        "instead": "buy", "effect": score, "score": score, "n": 8, "q": 0.01, "rank": rank, "examples": [],
    }  # fmt: skip


def test_families_of_equal_score_follow_their_best_flag_not_their_size():
    # the family holding flag #4 came after a bigger one whose best flag is #17
    flags = [flag(4, 0.9, "oona"), flag(17, 0.9, "hazel"), flag(18, 0.5, "hazel", "acorns")]
    flags += [flag(19, 0.4, "hazel", "berries")]
    ranked = families(flags)
    assert [(f["members"], f["family"]) for f in ranked] == [([4], 1), ([17, 18, 19], 2)]
    # a higher score still comes first, whatever its rank
    assert [f["members"] for f in families([flag(1, 0.5, "oona"), flag(2, 0.9, "hazel")])] == [[2], [1]]


def shown(renderable, width: int) -> str:
    con = Console(width=width, record=True, emoji=False)
    con.print(renderable)
    return con.export_text()


def test_the_scoreboards_buys_and_sells_each_sum_to_the_summarys_trades():
    # each trade is one creature's buy and another's sell: one "trades" column summed to twice "trades N"
    s = load_scenario("gambit_shock", turns=6)
    played = run_lockstep([EpisodeSpec("e", s, 3, standin_council(s))], full=False)["e"]
    trades = played.summary["trades"]
    assert trades > 0
    for width in (100, 80):
        text = shown(scoreboard(s, played.rows, width), width)
        header = next(line.split() for line in text.splitlines() if line.startswith("creature"))
        rows = [
            line.split() for line in text.splitlines() if line.split()[:1] in ([c.name] for c in s.creatures.values())
        ]
        assert len(rows) == len(s.creatures)
        at = header.index("buys")
        assert header[at + 1] == "sells" and "trades" not in header
        assert sum(int(r[at]) for r in rows) == trades == sum(int(r[at + 1]) for r in rows)
        assert "so the buys (and the sells) sum to the trades below" in " ".join(text.split())
    assert f"trades {trades} " in summary_lines(s, played.summary)[0]


def test_generate_hears_the_world_turns_each_lockstep_turn_played(tmp_path):
    # a batch of a 12-turn and a 30-turn episode: 12 lockstep turns of 2 worlds, then 18 of 1
    totals, played = [], []
    recipe = GenerateRecipe(
        out=str(tmp_path / "t"), scenarios=("gambit_shock", "default"), seeds=Seeds(count=1), worlds=2
    )
    generate(recipe, progress=played.append, on_total=totals.append)
    assert totals == [12 + 30] and played == [2] * 12 + [1] * 18


def test_the_generate_bar_counts_world_turns_to_the_dry_runs_total(tmp_path, capsys):
    # 3 episodes of 2 turns in batches of 2 and 1: 6 world-turns, as --dry-run says (4 lockstep turns)
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(f"out: {tmp_path / 't'}\nscenarios: [default]\nseeds: {{count: 3}}\nturns: 2\nworlds: 2\n")
    args = ["generate", str(recipe)]
    assert main([*args, "--dry-run"]) == 0
    assert "3 episodes (6 world-turns)" in " ".join(capsys.readouterr().out.split())
    assert main(args) == 0
    assert re.search(r"generate .*\b6/6 world-turns\b", capsys.readouterr().err)
