"""The benchmarks' own arithmetic and argument checks (benchmarks/*.py): headline counts, bad
options refused with a named error, scratch folders removed."""

import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    """Import a benchmark script by name (they import their siblings from beside them)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_parser_fuzz_headline_counts_invalid_actions_not_kinds(bench, monkeypatch, capsys):
    # every action fails two checks: 5 invalid actions, 2 kinds of problem, 10 problems
    fuzz = bench("parser_fuzz")
    from glade.env import parallel_env

    observations = list(parallel_env("default").reset(seed=0)[0].values())
    monkeypatch.setattr(fuzz, "collect_observations", lambda seed: observations)
    monkeypatch.setattr(fuzz, "check", lambda result, obs: ["one", "two"])
    assert fuzz.main(["--n", "5"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert " 5 invalid actions" in out[-1]
    assert any(line.startswith("  actions not validating cleanly") and " 5 " in line for line in out)


@pytest.mark.parametrize("argv", [["--n", "0"], ["--mutation-sample", "0"]])
def test_parser_fuzz_refuses_empty_runs(bench, capsys, argv):
    with pytest.raises(SystemExit) as exc:
        bench("parser_fuzz").main(argv)
    assert exc.value.code == 2
    assert "at least 1" in capsys.readouterr().err


def test_interval_coverage_refuses_an_outcome_that_matches_none(bench, capsys):
    with pytest.raises(SystemExit) as exc:
        bench("interval_coverage").main(["--outcome", "no such outcome"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "matches no outcome" in err and "paired effect, skewed" in err


def test_cast_coverage_refuses_negative_draws(bench, capsys):
    with pytest.raises(SystemExit) as exc:
        bench("cast_coverage").main(["--draws", "-5"])
    assert exc.value.code == 2
    assert "--draws -5" in capsys.readouterr().err


@pytest.mark.parametrize("engine", ["vlm", "hf,hf", ","])
def test_gpu_council_refuses_unknown_engines(bench, capsys, engine):
    with pytest.raises(SystemExit) as exc:
        bench("gpu_council").parse_args(["--dry-run", "--engine", engine])
    assert exc.value.code == 2
    assert "give hf, vllm or hf,vllm" in capsys.readouterr().err


def test_gpu_council_dry_run_keeps_off_the_real_figures(bench):
    args = bench("gpu_council").parse_args(["--dry-run", "--engine", "hf"])
    assert Path(args.out).name == "gpu_council.dry-run.json"


def test_base_levers_evaluates_the_last_step(bench):
    due = bench("base_levers").due
    assert [s for s in range(1, 601) if due(s, 250, 600)] == [250, 500, 600]
    assert [s for s in range(1, 31) if due(s, 30, 30)] == [30]
    assert [s for s in range(1, 101) if due(s, 250, 100)] == [100]  # fewer steps than --every


def test_base_levers_refuses_every_zero(bench, capsys):
    with pytest.raises(SystemExit) as exc:
        bench("base_levers").main(["--every", "0"])
    assert exc.value.code == 2
    assert "at least 1" in capsys.readouterr().err


@pytest.mark.slow  # imports torch, transformers and trl first: about 8 s
def test_train_throughput_removes_its_scratch_folder_on_failure(bench, monkeypatch, tmp_path):
    import glade.traces

    def fail(recipe):
        raise RuntimeError("generate failed")

    monkeypatch.setattr(glade.traces, "generate", fail)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["train_throughput.py", "--quick"])
    with pytest.raises(RuntimeError, match="generate failed"):
        bench("train_throughput").main()
    assert list(tmp_path.glob("glade-train-bench-*")) == []


def test_chaos_reads_kill_counts(bench):
    assert bench("chaos").kill_counts("2,0,1") == {"generate": 2, "eval": 0, "train": 1}


@pytest.mark.parametrize("kills", ["2,2", "a,b,c", "1,-1,1", "1,2,3,4"])
def test_chaos_refuses_bad_kill_counts(bench, capsys, kills):
    # before: "2,2" left the train job out of the counts (a KeyError mid-run), "a,b,c" a traceback
    with pytest.raises(SystemExit) as exc:
        bench("chaos").main(["--kills", kills])
    assert exc.value.code == 2
    assert "give three counts" in capsys.readouterr().err


def test_the_structured_headline_judges_no_target_between_answers_of_unlike_lengths(bench):
    # random weights: free rows run to max_new_tokens while held rows stop when their object closes
    from collections import Counter

    lines = bench("council_structured").structured_lines
    run = {"paired_mean": 0.87, "paired_ci": None, "cpu_ratio": 0.9, "paired": [0.8, 0.94], "best_ratio": 0.94}
    run |= {"grammar_share": 0.1, "plain_errors": Counter(), "structured_errors": Counter()}
    run |= {"plain": {"rate": 1.0, "mean_completion": 80.0, "full": 1.0}}
    unlike = run | {"structured": {"rate": 0.9, "mean_completion": 55.2, "full": 0.0}}
    assert lines(unlike, 32, 0.15)[-1].endswith(
        "target at most 15%: not judged: the answers' lengths differ, --base DIR compares like for like)"
    )
    alike = run | {"structured": {"rate": 0.9, "mean_completion": 78.0, "full": 0.0}}
    assert lines(alike, 32, 0.15)[-1].endswith("(overhead +13%; target at most 15%: meets)")
    assert lines(alike | {"paired_mean": 0.8}, 32, 0.15)[-1].endswith("target at most 15%: MISSED)")
