"""Fixes from the stop-58 audits of eval, flag, report and the run's reliability: each test
fails on the code before its fix."""

from __future__ import annotations

import pytest
from resume_setup import eval_recipe

from glade.cli import main


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    return " ".join(capsys.readouterr().err.split())


def test_report_refuses_flags_flagged_at_thresholds_the_run_no_longer_has(tmp_path, capsys):
    """glade eval may run again at other thresholds (they are not in the ledger): the report
    used to lead with the old flags and their old fdr_q as if they were the run's."""
    path = eval_recipe(tmp_path)
    results = tmp_path / "results"
    assert main(["eval", str(path)]) == 0
    assert main(["flag", str(results)]) == 0
    assert main(["report", str(results)]) == 0
    assert main(["eval", str(path), "thresholds={flag_min_effect: 0.9, fdr_q: 0.01}"]) == 0
    capsys.readouterr()
    err = _error(capsys, ["report", str(results)])
    assert (
        f"error: {results / 'flags.json'}: out of date (flagged at fdr_q 0.1, flag_min_effect 0.15, where the run's "
        f"thresholds are now fdr_q 0.01, flag_min_effect 0.9); rerun `glade flag {results}` to flag at them"
    ) in err
    assert main(["flag", str(results)]) == 0  # as the line says: then the report goes
    assert main(["report", str(results)]) == 0
    assert "cannot reach q = 0.01" in (results / "report.md").read_text()  # the flags of the run's thresholds


@pytest.fixture(autouse=True)
def _columns(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def test_a_second_ctrl_c_while_the_first_is_said_is_no_traceback(monkeypatch, capsys, tmp_path):
    """Two Ctrl-C 10 ms apart: the second landed while main() said the first, and a traceback
    followed the `error: interrupted` line (2 of 4 tries in the audit)."""
    import os
    import signal

    import glade.cli as cli
    from glade.cli import validate

    def interrupted(args):
        raise KeyboardInterrupt("rerun the same command to resume")

    said = cli.error

    def second_ctrl_c_then_say(text):
        os.kill(os.getpid(), signal.SIGINT)
        said(text)

    monkeypatch.setattr(validate, "run", interrupted)
    monkeypatch.setattr(cli, "error", second_ctrl_c_then_say)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("out: x\n")
    assert cli.main(["validate", str(recipe)]) == 130
    assert "error: interrupted; rerun the same command to resume" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Ctrl-C stops this process again


def test_an_eval_recipe_with_too_few_resamples_for_a_p_is_refused_by_name(tmp_path, capsys):
    """thresholds.resamples=1 passed, and glade flag then said "no flags" where 2,000 found 37."""
    path = eval_recipe(tmp_path)
    err = _error(capsys, ["eval", str(path), "thresholds.resamples=99"])
    assert "thresholds.resamples: must be at least 100 (a Monte Carlo p is at least 1/(resamples+1)), got 99" in err
    assert not (tmp_path / "results").exists()


def test_a_seeds_list_is_refused_saying_what_a_seeds_mapping_holds(tmp_path, capsys):
    path = eval_recipe(tmp_path, seeds=[3, 4, 5])
    assert "seeds: expected a mapping of start and count, got [3, 4, 5]" in _error(capsys, ["eval", str(path)])


def test_a_rerun_drops_the_temporary_files_a_kill_left_in_the_run_folder(tmp_path):
    """A kill during an atomic write left .summary.json.PID-HEX.tmp (as big as the table, for
    decisions.parquet) in the run folder; only the shard folders were cleaned."""
    path = eval_recipe(tmp_path)
    results = tmp_path / "results"
    assert main(["eval", str(path)]) == 0
    import os
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)  # the pid of a writer a kill stopped
    left = [results / f".decisions.parquet.{dead}-0badc0de.tmp", results / f".summary.json.{dead}-deadbeef.tmp"]
    for leftover in left:
        leftover.write_bytes(b"half a write")
    mine = results / ".notes.tmp"  # no PID-HEX: not atomic's, so not glade's to delete
    mine.write_text("a user's")
    live = results / f".rank.json.{os.getppid()}-0123abcd.tmp"  # a live writer's (glade rank --out beside it)
    live.write_text("{}")
    assert main(["eval", str(path)]) == 0
    assert not any(p.exists() for p in left) and mine.exists() and live.exists()


def test_a_share_the_same_wherever_the_figure_moved_is_said_in_words_not_a_zero_width_interval():
    """Two seeds where the council moved nothing (0/0) made the same-share test fail, and
    Fieller then gave hazel 100% [100%, 100%], which the README promises never to show."""
    from test_pinned_verdicts import _attribute

    _, seats = _attribute([0.0, 0.6, 0.0, 1.2, 0.9, 0.3], {"hazel": 1.0, "thorn": 0.0})
    hazel, thorn = seats[(0, "hazel")], seats[(0, "thorn")]
    assert hazel["share"] == 1.0 and hazel["share_ci"] is None
    assert hazel["share_note"] == "same share in all 4 seeds where the figure moved (in 2 of 6 it did not)"
    assert thorn["share"] == 0.0 and thorn["share_ci"] is None and thorn["share_note"].startswith("same share")


def test_a_cast_effect_of_float_noise_gets_no_share():
    """An effect of about 1e-16 (sums that differ in the last bit) gave share 0.0 beside a share
    interval of [0.85, 1.05]: the point outside its own interval."""
    from test_pinned_verdicts import _attribute

    ulp = 1.7763568394002505e-15  # of the stand-in's volume, 10: the council's 10 - ulp differs in the last bit
    _, seats = _attribute([ulp, ulp, 2 * ulp, ulp], {"hazel": 1.0, "thorn": 0.0})
    assert seats[(0, "hazel")]["share"] is None and seats[(0, "hazel")]["cast_effect"] == 0.0


def test_a_leaderboard_every_seed_orders_alike_says_so_instead_of_a_zero_width_interval(tmp_path):
    """Every seed ordering a > b > c: every refit was the same, and the board printed
    +0.23 [+0.23, +0.23]."""
    import pandas as pd
    from test_rank_intervals import _seat

    from glade.eval.rank import rank

    rows = [_seat("s", seed, p, v) for seed in range(12) for p, v in (("a", 3.0), ("b", 2.0), ("c", 0.0))]
    folder = tmp_path / "r"
    folder.mkdir()
    pd.DataFrame(rows).to_parquet(folder / "episodes.parquet")
    board = rank([folder], resamples=2000, seed=0)
    assert [row["entry"] for row in board["board"]] == ["a", "b", "c"]
    for row in board["board"]:
        assert row["ci"] is None and row["rank_ci"] == [row["rank"], row["rank"]]
        assert (
            row["note"] == "the same strength in every resample (every seed orders it alike): no spread for an interval"
        )
    from glade.hub.council_view import wrong_entry  # glade export takes the board as glade rank wrote it

    assert [wrong_entry(row, f"board[{i}]") for i, row in enumerate(board["board"])] == [None, None, None]


@pytest.mark.parametrize("damage", ["repeated-rows", "episodes-missing"])
def test_tables_that_disagree_are_refused_by_flag_and_report_and_eval_rebuilds_them(tmp_path, capsys, damage):
    """Five repeated decision rows were counted (653 live where 648 were played); decisions of
    episodes episodes.parquet lacked passed flag, and report then looped on its advice."""
    import pandas as pd

    path = eval_recipe(tmp_path)
    results = tmp_path / "results"
    assert main(["eval", str(path)]) == 0
    decisions = pd.read_parquet(results / "decisions.parquet")
    if damage == "repeated-rows":
        pd.concat([decisions, decisions.head(5)]).to_parquet(results / "decisions.parquet")
        said = f"{results / 'decisions.parquet'}: 5 row(s) repeat another's episode_id, turn, creature ("
    else:
        episodes = pd.read_parquet(results / "episodes.parquet")
        gone = decisions["episode_id"].iloc[0]
        episodes[episodes["episode_id"] != gone].to_parquet(results / "episodes.parquet")
        said = f"{results / 'decisions.parquet'}: decisions of 1 episode(s) episodes.parquet lacks ({gone} first)"
    (results / "summary.json").rename(tmp_path / "summary.json")  # as the summary's own mismatch line advises
    capsys.readouterr()
    for argv in (["flag", str(results)], ["report", str(results)]):
        err = _error(capsys, argv)
        assert said in err and "it rebuilds the tables from its shards" in err
    assert main(["eval", str(path)]) == 0  # what the line says to do
    assert main(["flag", str(results)]) == 0 and main(["report", str(results)]) == 0
    assert len(pd.read_parquet(results / "decisions.parquet")) == len(decisions)


def test_rank_refuses_an_episodes_table_with_repeated_rows(tmp_path, capsys):
    import pandas as pd
    from test_rank_intervals import _seat

    rows = [_seat("s", seed, p, v) for seed in range(8) for p, v in (("a", 3.0), ("b", 2.0))]
    folder = tmp_path / "r"
    folder.mkdir()
    pd.DataFrame(rows + rows[:3]).to_parquet(folder / "episodes.parquet")
    err = _error(capsys, ["rank", str(folder)])
    assert f"{folder / 'episodes.parquet'}: 3 row(s) repeat another's episode_id, creature (s.a.s0, c1 first)" in err


@pytest.mark.parametrize("verb", ["flag", "report", "rank"])
def test_an_interrupted_flag_report_or_rank_says_its_files_are_whole_and_what_to_do(
    tmp_path, monkeypatch, capsys, verb
):
    """They said only `error: interrupted`, not whether anything was written or what to rerun."""
    import glade.eval.flags
    import glade.eval.rank
    import glade.eval.report

    path = eval_recipe(tmp_path)
    results = tmp_path / "results"
    assert main(["eval", str(path)]) == 0
    assert main(["flag", str(results)]) == 0

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    module, name = {"flag": (glade.eval.flags, "write_flags"), "report": (glade.eval.report, "write_report")}.get(
        verb, (glade.eval.rank, "write_rank")
    )
    monkeypatch.setattr(module, name, interrupted)
    capsys.readouterr()
    assert main([verb, str(results), *(["--resamples", "100"] if verb == "rank" else [])]) == 130
    assert (
        "error: interrupted; each file it writes is whole, this run's or the one before; rerun the same command to "
        "write them all"
    ) in " ".join(capsys.readouterr().err.split())


def test_a_fault_row_of_a_traces_dataset_has_no_completion_the_server_never_sent(tmp_path, capsys):
    """A fault row stored completion '{"orders": []}', as if the model had answered a hold."""
    import pandas as pd
    from resume_setup import generate_recipe

    dead = {"kind": "server", "base_url": "http://127.0.0.1:9/v1", "model": "tiny", "retries": 0, "timeout": 2}
    path = generate_recipe(tmp_path, councils={"live": {"oona": dead}}, seeds={"count": 1}, max_fault_share=1.0)
    assert main(["generate", str(path)]) == 0
    rows = pd.concat(pd.read_parquet(p) for p in sorted((tmp_path / "traces" / "data").glob("*.parquet")))
    faults = rows[rows["error"] == "server_refused"]
    assert len(faults) == 3 and (faults["completion"] == "").all() and (faults["action"] == '{"orders": []}').all()
    others = rows[rows["creature"] != "oona"]
    assert (others["completion"] == others["action"]).all()  # a stand-in's completion is its action


def test_report_says_on_the_terminal_that_flags_json_is_unreadable(tmp_path, capsys):
    """The complaint was only in italics inside the pages; the terminal said nothing."""
    path = eval_recipe(tmp_path)
    results = tmp_path / "results"
    assert main(["eval", str(path)]) == 0
    (results / "flags.json").write_text('{"a": 1}\n')
    capsys.readouterr()
    assert main(["report", str(results)]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert f"warning: {results / 'flags.json'}: not what glade flag writes" in err
    assert "(the report says so where the flags would be)" in err


def test_a_results_folder_an_older_glade_ran_at_few_resamples_says_how_to_mend_it(tmp_path, capsys):
    import yaml

    path = eval_recipe(tmp_path)
    results = tmp_path / "results"
    assert main(["eval", str(path)]) == 0
    recipe = yaml.safe_load((results / "recipe.yaml").read_text())
    (results / "recipe.yaml").write_text(yaml.safe_dump({**recipe, "thresholds": {"resamples": 20}}))
    capsys.readouterr()
    err = _error(capsys, ["flag", str(results)])
    assert (
        f"{results / 'recipe.yaml'}: thresholds.resamples: must be at least 100 (a Monte Carlo p is at least "
        "1/(resamples+1)), got 20, which an older glade took; rerun glade eval with thresholds.resamples=2000 "
        "(thresholds are not in the ledger: nothing plays again)"
    ) in err
    assert main(["eval", str(path), "thresholds.resamples=2000"]) == 0 and main(["flag", str(results)]) == 0


DEAD = {"kind": "server", "base_url": "http://127.0.0.1:9/v1", "model": "tiny", "retries": 0, "timeout": 2}


def test_a_seat_failing_every_decision_stops_generate_mid_shard_once_the_grace_is_over(tmp_path, capsys, monkeypatch):
    """A hung server was noticed only after a whole shard: every turn of it at (retries + 1) x
    timeout, about 90 minutes at the defaults before the early stop."""
    from resume_setup import generate_recipe

    from glade import faults

    monkeypatch.setattr(faults, "GRACE_S", 0.0)  # as if the seat had failed for a minute already
    path = generate_recipe(tmp_path, councils={"live": {"oona": DEAD}}, seeds={"count": 3}, worlds=1)
    assert main(["generate", str(path)]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "error: seat 'server:tiny': 2 of 2 decisions (100%) failed (server_refused 2) in its first 2 turns" in err
    assert not list((tmp_path / "traces" / "data").glob("part-*.parquet"))  # before the first shard's third turn


def test_the_eval_stop_counts_the_seats_own_turns_not_the_stand_in_worlds(tmp_path, capsys, monkeypatch):
    from glade import faults

    monkeypatch.setattr(faults, "GRACE_S", 0.0)
    path = eval_recipe(
        tmp_path, policies={"live": DEAD}, councils={"one": {"focal": {"oona": "live"}}}, worlds=1
    )  # shards of one world: the stand-in world's 6 turns come first
    assert main(["eval", str(path)]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "seat 'live': 2 of 2 decisions (100%) failed (server_refused 2) in its first 2 turns" in err
