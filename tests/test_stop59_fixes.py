"""Fixes of stop 59: each test fails on the code before its fix."""

from __future__ import annotations

import json

from resume_setup import eval_recipe

from glade.cli import main
from glade.eval.flags_fields import stale_thresholds
from glade.eval.thresholds import DEFAULTS


def test_flags_record_their_draws_and_level_and_a_rerun_at_others_is_stale(tmp_path, capsys, monkeypatch):
    """flags.json did not record `resamples` or `ci_level`, so flags of a run evaluated again at
    other draws were reported as the run's (their Monte Carlo p values and intervals differ)."""
    monkeypatch.setenv("COLUMNS", "200")
    path = eval_recipe(tmp_path)
    results = tmp_path / "results"
    assert main(["eval", str(path)]) == 0
    assert main(["flag", str(results)]) == 0
    method = json.loads((results / "flags.json").read_text())["method"]
    assert (method["resamples"], method["ci_level"]) == (2000, 0.95)
    assert "exact up to 14 differing pairs and Monte Carlo beyond (2,000 draws);" in (results / "flags.md").read_text()
    assert main(["eval", str(path), "thresholds={resamples: 500}"]) == 0
    capsys.readouterr()
    assert main(["report", str(results)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "out of date (flagged at resamples 2000, where the run's thresholds are now resamples 500)" in err


def test_stale_thresholds_names_the_interval_level_and_skips_what_an_older_file_lacks():
    assert stale_thresholds({"ci_level": 0.9, "fdr_q": 0.1}, DEFAULTS) == (
        "flagged at ci_level 0.9, where the run's thresholds are now ci_level 0.95"
    )
    assert stale_thresholds({"fdr_q": 0.1}, DEFAULTS) is None  # a flags.json from before ci_level was recorded
