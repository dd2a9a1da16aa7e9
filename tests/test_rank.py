"""`glade rank`: Bradley-Terry strengths from paired comparisons, bootstrap intervals over
(scenario, seed); a known order of skill comes out in order; the report and CLI show it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from glade.env.scenario import RECIPES
from glade.eval import run as eval_run
from glade.eval.rank import comparisons, disconnected, fit, rank
from glade.eval.recipe import load_eval_recipe

BUDGETS = {"thrifty": 0.02, "modest": 0.1, "lavish": 0.3}  # share of pebbles a turn: less is better here


@pytest.fixture(scope="module")
def skill(tmp_path_factory):
    """Three scripted stand-ins that differ only in their budget, each on every creature
    (rotate 5) of the default Wood without its legend, 12 seeds of 8 turns: the thriftier
    keeps more wealth."""
    root = tmp_path_factory.mktemp("rank")
    wood = yaml.safe_load((RECIPES / "scenarios" / "default.yaml").read_text())
    (root / "quiet.yaml").write_text(yaml.safe_dump({**wood, "name": "quiet", "legends": []}))
    policies = {
        name: {"kind": "python", "entry_point": "tests.skill:stand_in", "kwargs": {"name": name, "budget": b}}
        for name, b in BUDGETS.items()
    }
    recipe = {
        "name": "skill",
        "out": str(root / "results"),
        "policies": policies,
        "councils": {name: {"focal": {"oona": name}, "rotate": 5} for name in BUDGETS},
        "scenarios": [str(root / "quiet.yaml")],  # no legend: 8 turns need not reach one
        "seeds": {"start": 0, "count": 12},
        "turns": 8,
        "worlds": 64,
        "thresholds": {"resamples": 100},  # the summary's own intervals: not what is tested here
    }
    (root / "skill.yaml").write_text(yaml.safe_dump(recipe))
    eval_run.run_recipe(load_eval_recipe(root / "skill.yaml"))
    return root / "results"


def test_a_known_order_of_skill_comes_out_in_order_with_separate_intervals(skill):
    board = rank([skill], resamples=300)
    rows = {row["entry"]: row for row in board["board"]}
    order = [row["entry"] for row in board["board"] if row["entry"].startswith("skill:")]
    assert order == ["skill:thrifty", "skill:modest", "skill:lavish"]
    ci = [rows[name]["ci"] for name in order]
    assert ci[0][0] > ci[1][1] and ci[1][0] > ci[2][1]  # no overlap, best to worst
    assert rows["skill:thrifty"]["names"] == ["thrifty"]
    # every cell compares the three with each other and with the creature's stand-in: 5 creatures x 12 seeds
    assert board["units"] == 12 and board["comparisons"] == 12 * 5 * 6
    assert rows["skill:modest"]["comparisons"] == 12 * 5 * 3
    assert sum(row["strength"] for row in board["board"]) == pytest.approx(0.0, abs=1e-9)


def test_ties_count_half_and_strengths_follow_the_wins():
    episodes = pd.DataFrame(
        [
            # one cell (scenario s, seed 0, creature c): a > b, b == c
            {"scenario": "s", "scenario_hash": "h", "seed": 0, "creature": "c", "world": "council", "focal": True, **x}
            for x in (
                {"policy": "a", "wealth_change": 3.0},
                {"policy": "b", "wealth_change": 1.0},
                {"policy": "c", "wealth_change": 1.0},
            )
        ]
    )
    c = comparisons(episodes)
    assert c.entries == ["a", "b", "c"]
    assert c.wins[0].tolist() == [[0, 1, 1], [0, 0, 0.5], [0, 0.5, 0]]
    wins = np.array([[0, 8, 9], [2, 0, 6], [1, 4, 0]], float)
    s = fit(wins)
    assert s[0] > s[1] > s[2] and s.sum() == pytest.approx(0.0, abs=1e-9)
    # P(a beats b) under the fit is close to the share a won
    assert 1 / (1 + np.exp(-(s[0] - s[1]))) == pytest.approx(0.8, abs=0.05)


def test_policies_never_compared_are_refused_by_name(tmp_path):
    rows = []
    for creature, pair in (("c1", ("a", "b")), ("c2", ("x", "y"))):
        for policy, value in zip(pair, (1.0, 2.0)):
            rows.append(
                {
                    "episode_id": f"e-{policy}",
                    "scenario": "s",
                    "scenario_hash": "h",
                    "seed": 0,
                    "creature": creature,
                    "world": "council",
                    "focal": True,
                    "policy": policy,
                    "wealth_change": value,
                    "council": "k",
                    "cast": 0,
                }
            )
    (tmp_path / "r").mkdir()
    pd.DataFrame(rows).to_parquet(tmp_path / "r" / "episodes.parquet")
    assert len(disconnected(comparisons(pd.DataFrame(rows)).wins.sum(axis=0))) == 2
    with pytest.raises(ValueError, match=r"never compared with each other: \{a, b\} and \{x, y\}"):
        rank([tmp_path / "r"], resamples=10)


def test_an_entry_a_resample_never_compares_is_left_out_of_that_resample(tmp_path):
    """z sat only on seed 0 of 12 and lost there: in the resamples without seed 0 it has no
    comparison. Fitted anyway, the prior put it near 0 and its interval reached +2.2 beside its
    strength of -4.3; left out there, its interval stays where the data put it, and says how often."""
    rng = np.random.default_rng(0)
    rows = []

    def seat(seed, policy, value):
        return {
            "episode_id": f"e{seed}{policy}", "scenario": "s", "scenario_hash": "h", "seed": seed, "creature": "c1",
            "world": "council", "focal": True, "policy": policy, "wealth_change": value, "council": "k", "cast": 0,
        }  # fmt: skip

    for seed in range(12):
        rows += [seat(seed, p, base + rng.normal()) for p, base in (("a", 10.0), ("b", 0.0), ("c", 0.0))]
    rows.append(seat(0, "z", -50.0))
    (tmp_path / "r").mkdir()
    pd.DataFrame(rows).to_parquet(tmp_path / "r" / "episodes.parquet")
    board = {row["entry"]: row for row in rank([tmp_path / "r"], resamples=400)["board"]}
    z = board["z"]
    assert z["strength"] < -4 and z["ci"] is None and z["rank_ci"] is None  # 1 seed: no interval of its own
    assert z["note"] == "too few seeds for an interval: 1, at least 8"
    assert 0.2 < z["resamples_without"] < 0.5 and board["a"]["resamples_without"] == 0  # (11/12)^12 = 0.35
    assert board["a"]["strength"] - board["a"]["ci"][0] < 0.5  # the others stay on the full fit's scale (was 1.0)


def test_worlds_with_seat_faults_are_left_out(skill, tmp_path):
    """A seat that failed to answer held its turns: that is not its policy's play."""
    import shutil

    from glade.eval.report.leaderboard import board_about

    faulty = tmp_path / "faulty"
    shutil.copytree(skill, faulty)
    episodes = pd.read_parquet(faulty / "episodes.parquet")
    lavish = episodes["council"] == "lavish"
    episodes.loc[lavish, "faults"] = 3
    episodes.to_parquet(faulty / "episodes.parquet")
    board = rank([faulty], resamples=10)
    assert "skill:lavish" not in {row["entry"] for row in board["board"]}
    assert board["excluded"]["fault_worlds"] == episodes.loc[lavish, "episode_id"].nunique() == 60
    assert "Left out: the 60 world(s) in which a seat failed to answer" in board_about(board)
    assert "Left out" not in board_about(rank([skill], resamples=10))
    both = rank([faulty, skill], resamples=10)  # the same episode ids, healthy in the other folder
    assert "skill:lavish" in {row["entry"] for row in both["board"]} and both["excluded"]["fault_worlds"] == 60


def test_two_folders_of_one_recipe_pair_within_each_folder(skill, tmp_path):
    import shutil

    shutil.copytree(skill, tmp_path / "again")
    one = rank([skill], outcome="team", resamples=10)
    two = rank([skill, tmp_path / "again"], outcome="team", resamples=10)
    assert [r["entry"] for r in two["board"]] == [r["entry"] for r in one["board"]]
    assert [r["strength"] for r in two["board"]] == pytest.approx([r["strength"] for r in one["board"]])


def test_rank_cli_writes_rank_json_and_the_report_shows_it(skill, capsys):
    from glade.cli import main
    from glade.eval.report import write_report

    assert main(["rank", str(skill), "--resamples", "1743"]) == 0
    out = capsys.readouterr().out
    assert "skill:thrifty" in out and "wrote" in out
    board = json.loads((skill / "rank.json").read_text())
    assert board["board"][0]["rank"] == 1 and board["resamples"] == 1743
    md, _ = write_report(skill)
    text = md.read_text()
    assert "## Leaderboard" in text and "skill:thrifty" in text and "## Cost" in text
    assert (
        main(["rank", str(skill), "--outcome", "team", "--resamples", "1743", "--out", str(skill / "team.json")]) == 0
    )
    team = json.loads((skill / "team.json").read_text())
    assert {row["entry"] for row in team["board"]} == {"skill/thrifty", "skill/modest", "skill/lavish", "all stand-ins"}
    assert main(["rank", str(skill / "nowhere")]) == 2
    assert "nowhere: no such results folder (make one with: glade eval RECIPE)" in capsys.readouterr().err
    mine = skill.parent / "notes.json"
    mine.write_text('{"my": "notes"}')
    assert main(["rank", str(skill), "--resamples", "1743", "--out", str(mine)]) == 2
    assert f"--out {mine}: exists and is not a leaderboard (rank.json) glade wrote" in capsys.readouterr().err
    assert mine.read_text() == '{"my": "notes"}'
    assert main(["rank", str(skill), "--resamples", "1743", "--out", str(skill)]) == 2
    assert (
        f"--out {skill}: is a folder; --out names the leaderboard (rank.json) file to write" in capsys.readouterr().err
    )


def test_unreadable_results_tables_are_named(skill, tmp_path, capsys):
    import shutil

    from glade.cli import main

    broken = tmp_path / "broken"
    shutil.copytree(skill, broken)
    (broken / "summary.json").write_text('{"recipe": "sk')
    assert main(["rank", str(broken), "--resamples", "1743"]) == 2
    assert f"{broken / 'summary.json'}: not readable JSON (" in capsys.readouterr().err
    shutil.copy(skill / "summary.json", broken / "summary.json")
    (broken / "decisions.parquet").write_bytes(b"PAR1 not really")
    for argv in (["rank", str(broken)], ["flag", str(broken)], ["report", str(broken)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"{broken / 'decisions.parquet'}: not a readable Parquet file (" in err, argv
        assert "it rebuilds the tables from its shards" in err


def test_rank_cli_keeps_each_policy_id_whole_where_the_terminal_has_room(skill, capsys, monkeypatch):
    from glade.cli import main

    monkeypatch.setenv("COLUMNS", "90")
    assert main(["rank", str(skill), "--resamples", "1743", "--out", str(skill / "narrow.json")]) == 0
    out = capsys.readouterr().out
    table = out.split("Bradley-Terry strengths")[0]
    assert max(len(line) for line in table.splitlines()) <= 90
    entries = [row["entry"] for row in json.loads((skill / "narrow.json").read_text())["board"]]
    assert any(len(entry) >= 15 for entry in entries)
    for entry in entries:  # on one line, not folded mid-word ("standin:panic_" / "seller")
        assert any(entry in line.split() for line in table.splitlines()), entry


def test_only_an_id_longer_than_the_room_folds_and_no_other_word_splits():
    from glade.cli.rank import column_widths

    header = ["rank", "policy", "recipe names", "strength", "95% CI", "rank range", "wins / comparisons"]
    row = lambda entry: ["1", entry, "speculator_model", "+0.96", "[+0.54, +1.43]", "2-5", "80 / 120"]
    rows = [row("standin:panic_seller"), row("hf:tiny-base+tiny-panic-seller__0__20261202-132820")]
    assert column_widths(header, rows, 200, 1) is None  # it fits as it is
    widths = column_widths(header, rows, 88, 1)
    assert sum(widths) <= 88
    assert widths[1] >= len("standin:panic_seller")  # the short id whole; the long one folds once
    assert -(-len(rows[1][1]) // widths[1]) == 2
    words = [max(len(w) for cell in col for w in cell.split()) for col in zip(header, *rows)]
    assert all(widths[i] >= words[i] for i in range(len(header)) if i != 1)  # nothing else splits mid-word
