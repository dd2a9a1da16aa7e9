"""`glade calibrate` after a walk through the quickstart: a results folder without its
recipe.yaml says so rather than calling the scenario changed; the outcome tables show the two
errors the change in error is computed from (columns in the report, a line under a terminal
table too narrow for them); an --out inside RESULTS/calibration/ is written and named once, and
is no "replaced" copy; one generation is one."""

from __future__ import annotations

import io
import json
import shutil

import pytest
import yaml
from planted import play_changed  # tests/ is on sys.path under pytest
from rich.console import Console

from glade.cli import main
from glade.cli.calibrate import show
from glade.eval.outcome_check import FORMAT
from glade.eval.report.calibration import ABOUT, OUTCOME, lines, tables

TINY = ["--popsize", "3", "--maxiter", "3"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """The changed stand-in on every creature, two gambit scenarios, four seeds, six turns (not the shipped length)."""
    return play_changed(tmp_path_factory.mktemp("calibrate_walk"))


@pytest.fixture(scope="module")
def summary(results, tmp_path_factory):
    """A calibration with its outcome check, as the command writes it."""
    out = tmp_path_factory.mktemp("calibrate_walk_out") / "fit.yaml"
    assert main(["calibrate", str(results), "--policy", "changed", "--out", str(out), *TINY]) == 0
    return json.loads(out.with_suffix(".json").read_text())


def _copy(results, tmp_path):
    other = tmp_path / "results"
    shutil.copytree(results, other, ignore=shutil.ignore_patterns("calibration"))
    return other


def test_a_folder_without_its_recipe_says_so_not_that_the_scenario_changed(results, tmp_path, capsys):
    other = _copy(results, tmp_path)
    (other / "recipe.yaml").unlink()  # its `turns: 6` goes with it: the shipped scenarios load at their own length
    argv = ["calibrate", str(other), "--policy", "changed", "--out", str(tmp_path / "fit.yaml"), *TINY]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{other}: scenario 'gambit_override' does not load as these results ran it (hash " in err
    assert err.rstrip().endswith(
        "the folder has no recipe.yaml, so its scenarios load at their shipped settings; put back the recipe.yaml "
        "glade eval wrote there, or calibrate with --no-outcome"
    )
    assert "run glade eval again" not in err and not (tmp_path / "fit.yaml").exists()
    # with its recipe.yaml there, a scenario that plays otherwise is still one these results did not run
    recipe = yaml.safe_load((results / "recipe.yaml").read_text())
    (other / "recipe.yaml").write_text(yaml.safe_dump({**recipe, "turns": 5}))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "is not the one these results ran" in err and "run glade eval again" in err and "no recipe.yaml" not in err


def test_the_outcome_tables_show_both_errors_and_the_change_is_their_difference(summary):
    assert OUTCOME in ABOUT  # the report's section says what the columns are, from the one sentence the terminal prints
    assert "not the gap between the means shown" in OUTCOME
    assert "the change in error is calibrated error minus original error" in OUTCOME
    _, *outcome = tables(summary)
    groups = summary["outcome"]["groups"]
    assert len(outcome) == len(groups)
    for (_, header, rows), group in zip(outcome, groups):
        assert header == [
            "figure", "council", "original", "calibrated", "original error", "calibrated error", "change in error",
            "verdict",
        ]  # fmt: skip
        for row in rows:
            name = row[0].split(" (n ")[0]
            f = group["figures"][name]
            assert row[4:6] == [format(f[e]["mean"], FORMAT[name]) for e in ("error_original", "error_calibrated")]
            # the change is the paired mean: the difference of the two errors' means, not of the figures'
            change = f["error_calibrated"]["mean"] - f["error_original"]["mean"]
            assert f["error_change"]["mean"] == pytest.approx(change, abs=1e-9)


def test_a_summary_without_the_errors_shows_a_dash():
    iv = {"mean": 0.5, "ci": [0.4, 0.6], "n": 8, "note": ""}
    part = {k: {"before": iv, "after": iv, "change": iv} for k in ("agreement", "qty_error", "price_error")}
    figure = {"n": 8, "council": None, "original": iv, "calibrated": iv, "error_change": iv, "verdict": "v"}
    group = {"group": "all", "n": 8, "scenario_in_fit": None, "figures": {"price_path": figure}}
    old = {"parts": {"fit": part | {"episodes": 8}, "heldout": part | {"episodes": 8}}, "outcome": {"groups": [group]}}
    [(_, _, rows)] = [t for t in tables(old) if t[0].startswith("Outcome check")]
    assert rows == [["price_path", "—", "0.500", "0.500", "—", "—", "+0.500 [+0.400, +0.600]", "v"]]


def test_a_terminal_too_narrow_for_the_errors_prints_them_under_the_table(summary):
    narrow, wide = io.StringIO(), io.StringIO()
    show(Console(file=narrow, width=100), summary)
    show(Console(file=wide, width=200), summary)
    _, (_, _, rows), *_ = tables(summary)
    under = "Original error → calibrated error (the change in error is their difference): " + "; ".join(
        f"{row[0]} {row[4]} → {row[5]}" for row in rows
    )
    assert under in narrow.getvalue()  # soft-wrapped: one line however long
    assert "calibrated error  change in error" not in narrow.getvalue()
    assert "original error  calibrated error  change in error" in wide.getvalue()
    assert "Original error → calibrated error (" not in wide.getvalue()
    for out in (narrow, wide):
        assert out.getvalue().count(OUTCOME[:60]) == 1


def test_an_out_inside_the_calibration_folder_is_written_and_named_once(results, tmp_path, capsys):
    other = _copy(results, tmp_path)
    out = other / "calibration" / "calibrated_changed.yaml"
    argv = ["calibrate", str(other), "--policy", "changed", "--out", str(out), *TINY]
    for _ in range(2):  # the second run replaces the file its own --out names: no "replaced" line for it
        assert main(argv) == 0
        printed = capsys.readouterr().out
        assert f"wrote {out}, {out.with_suffix('.json')}\n" in printed
        assert "replaced" not in printed
    assert sorted(p.name for p in (other / "calibration").iterdir()) == [
        "calibrated_changed.json", "calibrated_changed.yaml",
    ]  # fmt: skip
    # an --out elsewhere then replaces the report's copy, which it did not name: said
    assert main(["calibrate", str(other), "--policy", "changed", "--out", str(tmp_path / "fit.yaml"), *TINY]) == 0
    printed = capsys.readouterr().out
    assert f"replaced {out.with_suffix('.json')}, written by an earlier calibrate run" in printed


def test_one_generation_is_singular():
    s = {
        "policy": "p", "split": {"heldout_seeds": [3]}, "decisions": 10, "rebuilt": 10, "fitted": {"name": "fit"},
        "moved": [], "verdict": "closer",
        "search": {"evaluations": 28, "generations": 1, "seed": 0, "popsize": 1, "maxiter": 1},
    }  # fmt: skip
    assert lines(s)[2] == "Search: 28 candidates in 1 generation (seed 0, popsize 1, maxiter 1)."
    s["search"] |= {"evaluations": 1, "generations": 2}
    assert lines(s)[2].startswith("Search: 1 candidate in 2 generations (")


def test_an_empty_data_folder_or_table_says_it_holds_nothing(tmp_path):
    import pandas as pd

    from glade.eval.live_decisions import RESULT_COLUMNS, load_live

    (tmp_path / "traces" / "data").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"traces: data/ holds no parquet files and there is no decisions\.parquet"):
        load_live(tmp_path / "traces", "panic_model")
    (tmp_path / "results").mkdir()
    columns = [*RESULT_COLUMNS, "policy_name", "policy", "standin_disposition", "error"]
    pd.DataFrame({c: pd.Series([], dtype=str) for c in columns}).to_parquet(tmp_path / "results" / "decisions.parquet")
    with pytest.raises(ValueError, match=r"results: decisions\.parquet holds no decisions \(0 rows\)$"):
        load_live(tmp_path / "results", "panic_model")
