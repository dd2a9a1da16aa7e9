"""`glade rank`: folders of another prompt protocol or scenario version are refused and each
folder's versions recorded; too few refits for an interval's ends are refused; strengths equal
as printed are ordered by name; `--outcome team` names its entry column "council"."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_pinned_cli_arguments import recorder  # tests/ is on sys.path under pytest
from test_pinned_cli_dispatch import Stop

from glade.cli import main
from glade.eval.rank import min_resamples, rank
from glade.eval.stats import resample_intervals


def _seat(seed, policy, value, creature="c1", scenario="s", digest="h"):
    return {
        "episode_id": f"e.{scenario}.{creature}.{policy}.s{seed}", "scenario": scenario, "scenario_hash": digest,
        "seed": seed, "creature": creature, "world": "council", "focal": True, "policy": policy,
        "wealth_change": value, "council": "k", "cast": 0,
    }  # fmt: skip


def _folder(root, name, protocol="wood-chat-2+446217fa", digest="h", seeds=3):
    """A results folder of two policies on `seeds` seeds, with the summary.json glade eval writes."""
    folder = root / name
    folder.mkdir()
    rows = [_seat(seed, p, v, digest=digest) for seed in range(seeds) for p, v in (("a", 2.0), ("b", 1.0))]
    pd.DataFrame(rows).to_parquet(folder / "episodes.parquet")
    summary = {"recipe": name, "worlds": seeds, "decisions": 0, "glade_version": "0.1.0", "git_commit": "abc"}
    summary["git_dirty"] = False
    (folder / "summary.json").write_text(json.dumps({**summary, "protocol_version": protocol}))
    return folder


def test_folders_of_two_prompt_protocols_are_refused_naming_both(tmp_path):
    one, two = _folder(tmp_path, "one"), _folder(tmp_path, "two", protocol="wood-chat-1+00000000")
    with pytest.raises(ValueError) as info:
        rank([one, two], resamples=10)
    assert str(info.value) == (
        f"{one} and {two} were evaluated under different prompt protocols (wood-chat-2+446217fa vs "
        "wood-chat-1+00000000), so their policies read other prompts: rank them separately, or evaluate both "
        "with one glade (glade eval RECIPE out=NEW)"
    )


def test_two_versions_of_one_scenario_name_are_refused_naming_both(tmp_path):
    one, two = _folder(tmp_path, "one"), _folder(tmp_path, "two", digest="h2")
    with pytest.raises(ValueError) as info:
        rank([one, two], resamples=10)
    assert str(info.value) == (
        f"{one} and {two} hold two versions of scenario s (hash h vs h2: its file, the recipes' turns, or glade's "
        "rules changed), so their games differ under one name: rank them separately, "
        "or evaluate both with one scenario file and the same turns (glade eval RECIPE out=NEW)"
    )


def test_the_board_records_what_each_folder_was_played_with(tmp_path):
    one, two = _folder(tmp_path, "one"), _folder(tmp_path, "two")
    (two / "summary.json").unlink()  # an older folder: its rows still give the scenario hashes
    board = rank([one, two], resamples=10)
    assert board["folders"] == [
        {
            "results": str(one), "glade_version": "0.1.0", "git_commit": "abc", "git_dirty": False,
            "protocol_version": "wood-chat-2+446217fa", "scenario_hashes": {"s": "h"},
        },
        {
            "results": str(two), "glade_version": None, "git_commit": None, "git_dirty": None,
            "protocol_version": None, "scenario_hashes": {"s": "h"},
        },
    ]  # fmt: skip


@pytest.mark.parametrize("refits", ["1", "10", "1742"])
def test_too_few_refits_for_a_95_interval_are_refused_before_any_refit(tmp_path, capsys, refits):
    # 1 refit printed +2.64 [+3.02, +3.02]; 10 an interval that excluded 0 where 4,000 did not
    assert main(["rank", str(_folder(tmp_path, "r", seeds=8)), "--resamples", refits]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: --resamples {refits}: at least 1743 refits for a 95% interval's ends (about 10 beyond each at 8 "
        "seeds; fewer and the ends are a few refits' noise)"
    )


def test_the_least_refits_grow_with_the_level(tmp_path, capsys):
    assert [min_resamples(level) for level in (0.8, 0.9, 0.95, 0.99)] == [154, 467, 1743, 109163]
    assert main(["rank", str(_folder(tmp_path, "r", seeds=8)), "--level", "0.99", "--resamples", "4000"]) == 2
    assert "error: --resamples 4000: at least 109163 refits for a 99% interval's ends" in capsys.readouterr().err


@pytest.mark.parametrize("level", [0.8, 0.95])
def test_the_least_refits_leave_ten_outside_each_end_at_8_seeds(level):
    # ties min_resamples to the quantiles resample_intervals takes: refit k returns k, so the
    # ends' places count the refits beyond them; one refit fewer leaves fewer than 10 on a side
    for refits, beyond in ((min_resamples(level), True), (min_resamples(level) - 1, False)):
        count = iter(range(refits))
        draw = lambda _, count=count: np.array([next(count)], float)
        low, high, _ = resample_intervals(8, draw, seed=0, level=level, resamples=refits)
        below, above = int(low[0]), refits - 1 - int(high[0])
        assert (min(below, above) >= 10) is beyond


def _tied_folder(root):
    """Four policies whose wins make a, b and d tie exactly (0.17 each) and c trail: the fit puts
    b 1e-16 above a, which used to list b first."""
    wins = {("a", "b"): 3, ("a", "c"): 5, ("a", "d"): 2, ("b", "a"): 3, ("b", "c"): 5, ("b", "d"): 2}
    wins |= {("c", "a"): 1, ("c", "b"): 1, ("c", "d"): 4, ("d", "a"): 4, ("d", "b"): 4, ("d", "c"): 2}
    rows, k = [], 0
    for (winner, loser), n in wins.items():
        for _ in range(n):
            k += 1
            rows += [_seat(0, winner, 1.0, creature=f"c{k}"), _seat(0, loser, 0.0, creature=f"c{k}")]
    (root / "r").mkdir()
    pd.DataFrame(rows).to_parquet(root / "r" / "episodes.parquet")
    return root / "r"


def test_strengths_equal_as_printed_are_listed_by_name(tmp_path):
    board = rank([_tied_folder(tmp_path)], resamples=10)
    listed = [(row["rank"], row["entry"], f"{row['strength']:+.2f}") for row in board["board"]]
    assert listed == [(1, "a", "+0.17"), (1, "b", "+0.17"), (1, "d", "+0.17"), (4, "c", "-0.52")]


def test_team_names_its_entry_column_council(tmp_path, capsys):
    rows = []
    for seed in range(3):
        for world, council, policy, value in (("standin", "standin", "standin:x", 1.0), ("council", "k", "m", 2.0)):
            row = _seat(seed, policy, value) | {"world": world, "council": council}
            rows.append(row | {"episode_id": f"{world}.{seed}"})
    (tmp_path / "r").mkdir()
    pd.DataFrame(rows).to_parquet(tmp_path / "r" / "episodes.parquet")
    assert main(["rank", str(tmp_path / "r"), "--outcome", "team"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("rank "))
    assert header.split()[:2] == ["rank", "council"] and "r/k" in out and "all stand-ins" in out
    assert main(["rank", str(tmp_path / "r")]) == 0  # seat: its entries are policies
    assert (
        next(line for line in capsys.readouterr().out.splitlines() if line.startswith("rank ")).split()[1] == "policy"
    )


def test_rank_at_99_percent_takes_the_refits_it_needs_by_default(monkeypatch):
    # the default 4000 refits leave too few past a 99% interval's ends: the default grows to the least
    import glade.eval.rank

    ranked = []
    monkeypatch.setattr(glade.eval.rank, "check_out", recorder([], None))
    monkeypatch.setattr(glade.eval.rank, "rank", recorder(ranked))
    with pytest.raises(Stop):
        main(["rank", "a", "--level", "0.99"])
    [(_, kwargs)] = ranked
    assert kwargs["resamples"] == glade.eval.rank.min_resamples(0.99) == 109163


def test_rank_refuses_a_level_whose_ends_need_weeks_of_refits(capsys):
    assert main(["rank", "a", "--level", "0.999"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --level 0.999: its interval's ends need at least 2,697,636,646 refits at 8 seeds, more than the "
        "200,000 rank runs; ask for --level 0.99 or less"
    )


def test_rank_refuses_a_recipe_yaml_flag_and_report_refuse(tmp_path):
    # guards load_episodes' read_recipe: a misspelt threshold is refused by rank as by flag and report
    one = _folder(tmp_path, "one")
    (one / "recipe.yaml").write_text("name: one\nthresholds: {flag_min_efect: 0.2}\n")
    with pytest.raises(ValueError, match=r"thresholds.flag_min_efect: unknown key .*did you mean flag_min_effect\?"):
        rank([one], resamples=10)


def test_a_folder_without_its_summary_is_compared_on_the_protocol_its_rows_name(tmp_path):
    """rank compared prompt protocols only through summary.json: without it, folders of two protocols were pooled."""
    one, two = _folder(tmp_path, "one"), _folder(tmp_path, "two")
    (two / "summary.json").unlink()
    episodes = pd.read_parquet(two / "episodes.parquet")
    episodes.assign(protocol_version="wood-chat-1+00000000").to_parquet(two / "episodes.parquet")
    with pytest.raises(
        ValueError, match=r"were evaluated under different prompt protocols \(wood-chat-2\+446217fa vs "
    ):
        rank([one, two], resamples=10)
