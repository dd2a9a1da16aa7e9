"""`glade calibrate`'s edges: mistakes refused before the search with one line that names the
option; a run of a scenario of one's own (by path, with a disposition file) calibrates; the
outcome check's intervals are the 95% its text states; --no-outcome is said in the summary and
the report; the report says what the command printed."""

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
from glade.config import Seeds
from glade.eval.calibrate import NOT_RUN, calibrate, split, with_outcome, without_outcome, write
from glade.eval.report.calibration import lines
from glade.traces import GenerateRecipe, generate

TINY = ["--popsize", "3", "--maxiter", "3"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """The changed stand-in on every creature, two gambit scenarios, four seeds, six turns."""
    return play_changed(tmp_path_factory.mktemp("calibrate_review"))


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    out = tmp_path_factory.mktemp("calibrate_review_traces") / "traces"
    generate(GenerateRecipe(out=str(out), scenarios=("gambit_rumour",), seeds=Seeds(0, 3), turns=4))
    return out


def test_mistakes_in_out_and_name_are_refused_before_the_search(traces, tmp_path, capsys):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("mine")
    argv = ["calibrate", str(traces), "--policy", "standin:balanced", *TINY]
    assert main([*argv, "--out", str(blocker / "fit.yaml")]) == 2
    err = capsys.readouterr().err
    assert f"--out {blocker / 'fit.yaml'}: {blocker}: is a file" in err and "Errno" not in err
    assert "generations" not in err  # refused before the search, not by mkdir after it
    assert main([*argv, "--out", str(tmp_path / "fit.yaml"), "--name", "my/fit"]) == 2
    err = capsys.readouterr().err
    assert "error: --name 'my/fit': a disposition name is 1 to 64 letters" in err and "Traceback" not in err
    assert not (tmp_path / "fit.yaml").exists()


def test_one_seed_says_what_to_do():
    import pandas as pd

    with pytest.raises(ValueError, match=r"1 seed\(s\); holding out needs at least 2: calibrate on a run of more"):
        split(pd.DataFrame({"seed": [0, 0], "scenario": ["a", "a"]}))


def test_a_scenario_of_ones_own_with_a_disposition_file_calibrates(tmp_path, monkeypatch):
    """The stored counterfactual names the file's disposition ('mine'), which is no shipped name:
    the scenario is found as the recipe names it (a relative path, from where the run was made)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sc").mkdir()
    (tmp_path / "sc" / "mine.yaml").write_text("name: mine\nsurplus: 12\non_fall: dump\n")
    (tmp_path / "sc" / "myscen.yaml").write_text(
        "extends: gambit_rumour\nname: myscen\ncreatures:\n  oona: {disposition: mine.yaml}\n"
    )
    councils = {"bal": {"*": {"kind": "standin", "disposition": "balanced"}}}
    generate(GenerateRecipe(out="traces", scenarios=("sc/myscen.yaml",), councils=councils, seeds=Seeds(0, 3), turns=4))
    cal = calibrate("traces", "standin:balanced", "oona", popsize=3, maxiter=2)
    assert cal.summary["start"]["name"] == "mine" and cal.summary["rebuilt"] == cal.summary["decisions"] > 0


def test_the_outcome_check_gives_the_95_percent_its_text_states(results, tmp_path):
    cal = calibrate(results, "changed", popsize=3, maxiter=3)
    want = with_outcome(cal)["outcome"]
    other = tmp_path / "results"
    shutil.copytree(results, other, ignore=shutil.ignore_patterns("calibration"))
    recipe = yaml.safe_load((other / "recipe.yaml").read_text())
    recipe["thresholds"]["ci_level"] = 0.5  # the evaluation's own level: not what calibration states
    (other / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    got = with_outcome(calibrate(other, "changed", popsize=3, maxiter=3))["outcome"]
    assert got["groups"][0]["figures"] == want["groups"][0]["figures"]
    assert cal.summary["level"] == 0.95


def test_no_outcome_is_said_in_the_summary_and_the_report(results, tmp_path, capsys):
    out = tmp_path / "fit.yaml"
    assert main(["calibrate", str(results), "--policy", "changed", "--out", str(out), "--no-outcome", *TINY]) == 0
    printed = capsys.readouterr().out
    report = json.loads((results / "calibration" / "calibrated_changed.json").read_text())
    assert report["outcome"] == {"skipped": NOT_RUN}
    said = "Outcome check skipped: not run (--no-outcome)."
    assert said in lines(report) and said in printed


def test_the_report_says_what_the_command_printed(results):
    """The search, the seats left on their scenario's disposition (with --creature, the policy's
    own on the other creatures) and a single held-out seed, in the report's lines and on the console."""
    cal = calibrate(results, "changed", "oona", popsize=3, maxiter=3)
    s = with_outcome(cal)
    said = lines(s)
    assert len(s["split"]["heldout_seeds"]) == 1 and f"held out seed {s['split']['heldout_seeds'][0]} and" in said[0]
    assert any(
        line.startswith(f"Search: {s['search']['evaluations']:,} candidates in 3 generations (seed 0, ")
        for line in said
    )
    others = s["outcome"]["other_live_seats"]
    assert others == 4 * s["outcome"]["worlds"]  # the four other creatures of each held-out world
    assert f"{others} live seats of other live policies or this policy on other creatures sat" in " ".join(said)
    printed = io.StringIO()
    show(Console(file=printed, width=400), s)
    for line in said:
        assert line in printed.getvalue()


def test_a_results_folder_that_cannot_take_the_report_copy_leaves_nothing_half_written(results, tmp_path):
    cal = calibrate(results, "changed", popsize=3, maxiter=2)
    other = tmp_path / "results"
    shutil.copytree(results, other, ignore=shutil.ignore_patterns("calibration"))
    (other / "calibration").write_text("not a folder")
    summary = {**without_outcome(cal), "source": str(other)}
    with pytest.raises(ValueError, match="calibration: is a file"):
        write(summary, tmp_path / "fit.yaml")
    assert not (tmp_path / "fit.yaml").exists() and not (tmp_path / "fit.json").exists()
    (other / "calibration").unlink()
    (other / "calibration").mkdir()
    (other / "calibration" / "calibrated_changed.json").write_text('{"my": "notes"}')  # not calibrate's
    with pytest.raises(ValueError, match="exists and is not a calibration summary glade wrote.*another --name"):
        write(summary, tmp_path / "fit.yaml")
    assert (other / "calibration" / "calibrated_changed.json").read_text() == '{"my": "notes"}'
    assert not (tmp_path / "fit.yaml").exists()


def test_an_unfinished_evaluation_is_named(results, tmp_path, capsys):
    other = tmp_path / "results"
    shutil.copytree(results, other)
    for name in ("decisions.parquet", "episodes.parquet", "summary.json"):
        (other / name).unlink()
    assert main(["calibrate", str(other), "--policy", "changed", "--out", str(tmp_path / "f.yaml")]) == 2
    assert "an interrupted `glade eval` run: rerun the same eval command to finish it" in capsys.readouterr().err


def test_a_scenario_the_outcome_check_cannot_find_says_where_to_run_it(results, tmp_path):
    """A recipe's scenario path that does not resolve from here (the run was made elsewhere)."""
    import pandas as pd

    other = tmp_path / "results"
    shutil.copytree(results, other, ignore=shutil.ignore_patterns("calibration"))
    for table in ("decisions.parquet", "episodes.parquet"):
        frame = pd.read_parquet(other / table)
        frame["scenario"] = frame["scenario"].replace({"gambit_shock": "myscen"})
        frame.to_parquet(other / table)
    recipe = yaml.safe_load((other / "recipe.yaml").read_text())
    recipe["scenarios"] = ["gambit_override", "elsewhere/myscen.yaml"]
    (other / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    cal = calibrate(other, "changed", popsize=3, maxiter=2)
    with pytest.raises(ValueError, match="cannot find scenario 'myscen'.*run glade calibrate from the folder the"):
        with_outcome(cal)


def test_the_outcome_checks_worlds_on_one_seed_are_one_unit():
    """Two council worlds on each of 4 seeds share the seed's original stand-in world: the
    figures count 4 seeds (the worlds averaged), a crash is a share of the seed's worlds."""
    import pandas as pd

    from glade.eval.outcome_check import CHECKED, _summarise

    rows = []
    for seed in range(4):
        for cast in (0, 1):
            row = {"scenario": "sc", "seed": seed}
            for name in CHECKED:
                for world in ("council", "original", "calibrated"):
                    row[f"{name}.{world}"] = float(cast) if name == "crash" else 1.0 + seed + cast
                crash = name == "crash"  # a crash's error is a share in [0, 1]
                row[f"{name}.error_original"] = 1.0 if crash else 2.0 + seed
                row[f"{name}.error_calibrated"] = 0.5 * cast if crash else 1.0 + seed + 0.5 * cast
            rows.append(row)
    out = _summarise(pd.DataFrame(rows), 0.95)
    assert out["n"] == 4 and out["worlds"] == 8
    crash = out["figures"]["crash"]
    assert crash["n"] == 4 and crash["council"]["mean"] == 0.5 and "of 4" not in (crash["council"]["note"] or "")
    assert crash["error_change"]["note"] == "same value in all 4 seeds (their worlds averaged)"  # -0.75 in each


def _check_rows(seeds: int, change):
    import pandas as pd

    from glade.eval.outcome_check import CHECKED

    rows = []
    for seed in range(seeds):
        row = {"scenario": "sc", "seed": seed}
        for name in CHECKED:
            for world in ("council", "original", "calibrated"):
                row[f"{name}.{world}"] = 0.5
            # errors within [0, 1] (a crash's is a share), their change `change(seed)`
            row[f"{name}.error_original"] = 1.0 - max(change(seed), 0.0)
            row[f"{name}.error_calibrated"] = row[f"{name}.error_original"] + change(seed)
        rows.append(row)
    return pd.DataFrame(rows)


def test_the_outcome_check_says_too_few_seeds_instead_of_no_clear_difference():
    from glade.eval.outcome_check import _summarise, verdict

    group = _summarise(_check_rows(3, lambda seed: 0.1 * seed), 0.95)  # 3 seeds: no interval
    text = verdict(group)
    assert "too few for an interval" in text and "hold out more seeds" in text and "no difference" not in text
    group = _summarise(_check_rows(6, lambda seed: 0.1 * seed - 0.25), 0.95)
    assert "no difference is clear" in verdict(group)


def test_the_crash_error_change_interval_stays_within_minus_one_and_one():
    from glade.eval.outcome_check import _summarise

    # errors of a 0/1 crash: changes of -1 on four seeds, 0 on one: the t interval would pass -1
    group = _summarise(_check_rows(5, lambda seed: 0.0 if seed == 0 else -1.0), 0.95)
    low, high = group["figures"]["crash"]["error_change"]["ci"]
    assert low >= -1.0 and high <= 1.0
