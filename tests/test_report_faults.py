"""The report reads the tables as the summary does: worlds with seat faults and fault rows are
left out of every table and figure (and the page says how many); a broken summary.json,
recipe.yaml or a missing decisions.parquet is a named error, not a page without them; a run
whose flags could test nothing says so; a resumed run's decision count says it is a part; a
rank.json or calibration summary glade did not write is named before any file changes."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from test_report import _md_rows, _section, results  # noqa: F401  (results: the module's eval folder)

from glade.cli import main
from glade.eval import report


@pytest.fixture
def copy(results, tmp_path):  # noqa: F811
    out = tmp_path / "results"
    shutil.copytree(results[0], out)
    return out


def test_worlds_with_seat_faults_are_left_out_of_the_tables(copy):
    episodes = pd.read_parquet(copy / "episodes.parquet")
    decisions = pd.read_parquet(copy / "decisions.parquet")
    hit = episodes[(episodes["scenario"] == "gambit_rumour") & (episodes["council"] == "all_panic")]
    faulted = set(hit.loc[hit["seed"] == 0, "episode_id"])
    episodes.loc[episodes["episode_id"].isin(faulted), "faults"] = 3
    in_faulted = decisions["episode_id"].isin(faulted)
    decisions.loc[in_faulted, "error"] = "server_http_503"
    decisions.to_parquet(copy / "decisions.parquet")
    episodes.to_parquet(copy / "episodes.parquet")
    summary = json.loads((copy / "summary.json").read_text())
    del summary["verdicts"]  # as glade eval reads them with these faults: from the tables, faults left out
    (copy / "summary.json").write_text(json.dumps(summary))

    md = report.write_report(copy)[0].read_text()
    rows = {(r[0].split(" ")[0], r[1]): r for r in _md_rows(_section(md, "Results"))}
    assert rows[("gambit_rumour", "all_panic")][5] == "3 of 4"  # seeds: seed 0's world left out
    assert rows[("gambit_rumour", "mixed")][5] == "4" and rows[("gambit_rumour", "all stand-in")][5] == "4"
    assert "('7 of 8': the council's worlds on one seed were all left out for seat faults)" in _section(md, "Results")
    robust = {(r[0], r[1], r[2]): r for r in _md_rows(_section(md, "Robustness across casts and seeds"))}
    assert robust[("gambit_rumour", "crash of honey", "all_panic")][5] == "n 3 of 4 seeds"
    assert robust[("gambit_rumour", "crash of honey", "mixed")][5] == "n 4 seeds"
    seats = _section(md, "Valid answers per live seat")
    assert "server_http_503" not in seats
    live = len(decisions) - int(in_faulted.sum())  # every decision of those worlds was marked a fault here
    run = _section(md, "The run")
    assert f"- **decisions**: {live:,} live (decisions.parquet" in run
    assert f"; {len(faulted)} more left out: a seat failed to answer in them (seat faults)" in run
    rows = int(in_faulted.sum())  # the fault rows go; the faulted worlds' other decisions stay, as in summary.json
    assert f"; its {rows:,} seat-fault rows left out, as summary.json leaves them out)" in run


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("summary.json", '{"broken', "summary.json: not readable JSON"),
        ("summary.json", "[1, 2]", "summary.json: not a summary glade eval wrote"),
        ("recipe.yaml", "a: [1,\n", "recipe.yaml: not readable YAML"),
    ],
)
def test_a_broken_summary_or_recipe_is_named(copy, capsys, name, text, message):
    (copy / name).write_text(text)
    before = (copy / "report.md").read_text()
    assert main(["report", str(copy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {copy / name.split('/')[0]}") and message in err and "glade eval" in err
    assert (copy / "report.md").read_text() == before  # nothing rewritten


def test_a_missing_decisions_table_is_named(copy, capsys):
    (copy / "decisions.parquet").unlink()
    assert main(["report", str(copy)]) == 2
    assert f"error: {copy / 'decisions.parquet'}: missing; rerun `glade eval`" in capsys.readouterr().err


def test_flags_that_could_test_nothing_say_add_seeds(copy):
    method = {"cells": 40, "testable": 0, "flags": 0, "fdr_q": 0.1, "flag_min_effect": 0.15, "flag_support": 0.6}
    method |= {"test": "sign-flip", "fdr": "BH"}
    cells = [{"n": 2, "p_min": 0.5, "effect": 0.3}]  # two seeds: the smallest p is 2 / 2^2
    (copy / "flags.json").write_text(json.dumps({"method": method, "families": [], "flags": [], "cells": cells}))
    md = report.write_report(copy)[0].read_text()
    assert (
        "no flags possible: no cell could be tested at this n" in md
        and "Rerun glade eval with more seeds into a new folder (seeds.count=N out=DIR; at least 5 differing pairs"
        in md
    )
    assert "no disagreement survived" not in md


def test_a_resumed_run_counts_its_decisions_as_a_part(copy):
    summary = json.loads((copy / "summary.json").read_text())
    summary["cost"] = {**summary["cost"], "episodes": 5}
    (copy / "summary.json").write_text(json.dumps(summary))
    run = _section(report.write_report(copy)[0].read_text(), "The run")
    played = f"{summary['cost']['decisions']:,} in the run that played the last 5 of the {summary['worlds']:,} worlds"
    assert played in run and " in all," not in run


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "rank.json",
            "{}",
            "rank.json: not a leaderboard glade rank wrote; move it aside (or remove it), then rerun `glade rank",
        ),
        ("rank.json", "{bad", "rank.json: not a leaderboard glade rank wrote"),
        ("calibration/x.json", '{"policy": "x"}', "x.json: not a calibration summary glade calibrate wrote"),
    ],
)
def test_a_leaderboard_or_calibration_glade_did_not_write_is_named(copy, capsys, name, text, message):
    (copy / name).parent.mkdir(exist_ok=True)
    (copy / name).write_text(text)
    pngs = {p.name: p.stat().st_mtime_ns for p in (copy / "report_files").glob("*.png")}
    assert main(["report", str(copy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {copy / name}: ") and message in err
    assert {p.name: p.stat().st_mtime_ns for p in (copy / "report_files").glob("*.png")} == pngs  # nothing rewritten
