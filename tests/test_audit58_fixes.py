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
    left = [results / ".decisions.parquet.4242-0badc0de.tmp", results / ".summary.json.4242-deadbeef.tmp"]
    for leftover in left:
        leftover.write_bytes(b"half a write")
    mine = results / ".notes.tmp"  # no PID-HEX: not atomic's, so not glade's to delete
    mine.write_text("a user's")
    assert main(["eval", str(path)]) == 0
    assert not any(p.exists() for p in left) and mine.exists()
