"""Interrupts that end a verb cleanly: the SFT split written by pyarrow alone (a Ctrl-C inside
datasets' to_parquet aborted in Arrow's C++ writer), SIGTERM stopping a verb as Ctrl-C does
(exit 143, the resume line), and `glade train` stopped before its first trainer checkpoint
saying that the same command starts over."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datasets import Dataset, load_dataset
from test_train import FAST_SFT, recipe_file, workdir  # noqa: F401  (workdir: the module's traces and base)
from test_train_resume import interrupt_at_start

from glade.cli import main
from glade.cli.train import resume_hint
from glade.resume import read_ledger
from glade.train.data import DataConfig, save_prepared
from glade.train.sft import TRAINED

ROOT = Path(__file__).resolve().parent.parent


def test_save_prepared_writes_with_pyarrow_not_to_parquet(tmp_path, monkeypatch):
    def refused(*args, **kwargs):
        raise AssertionError("Dataset.to_parquet writes through a Python file inside Arrow's C++ writer")

    monkeypatch.setattr(Dataset, "to_parquet", refused)
    rows = Dataset.from_list(
        [{"messages": [{"role": "user", "content": str(i)}], "episode_id": f"e{i}"} for i in range(4)]
    )
    train = rows.filter(lambda r: r["episode_id"] != "e1")  # an indices mapping: only the kept rows are written
    save_prepared(tmp_path / "data", train, rows.select([]), {"train": 3, "eval": 0}, DataConfig(traces=("t",)))
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["README.md", "eval.parquet", "train.parquet"]
    back = load_dataset("parquet", data_files=str(tmp_path / "data" / "train.parquet"), split="train")
    assert back["episode_id"] == ["e0", "e2", "e3"] and back.features == train.features  # features kept
    empty = pq.read_metadata(tmp_path / "data" / "eval.parquet")
    assert (empty.num_rows, empty.num_row_groups) == (0, 0)  # as datasets wrote an empty split


def slow_hoarder():
    """A python seat: the hoarder stand-in, a little slow while GLADE_TEST_PAUSE is set (so a
    run is still playing when the test stops it; the rerun plays at full speed)."""
    from glade.env import standin
    from glade.seats import Decision

    pause = float(os.environ.get("GLADE_TEST_PAUSE", "0"))
    hoarder = standin.disposition("hoarder")

    class Slow:
        name = "slow_hoarder"

        def act(self, observations: list[dict]) -> list[Decision]:
            time.sleep(pause)
            return [Decision(standin.act(obs, hoarder)) for obs in observations]

    return Slow()


def test_sigterm_stops_generate_as_ctrl_c_does_and_a_rerun_finishes(tmp_path):
    out = tmp_path / "traces"
    recipe = tmp_path / "r.yaml"
    seat = "{kind: python, entry_point: 'test_interrupt_fixes:slow_hoarder'}"
    recipe.write_text(f"out: {out}\ncouncils: {{h: {{'*': {seat}}}}}\nturns: 2\nworlds: 1\nseeds: {{count: 30}}\n")
    command = [sys.executable, "-m", "glade.cli", "generate", str(recipe)]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "tests"), GLADE_TEST_PAUSE="0.05")
    run = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    # until the ledger lists a finished episode (its shard is written a moment before: a signal between the
    # two finds nothing finished, and says so)
    while not (read_ledger(out) or {}).get("episodes") and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGTERM)  # as docker stop, Slurm or a CI cancel send it
    _, err = run.communicate(timeout=120)
    assert run.returncode == 143, err
    assert err.splitlines()[-1] == (
        "error: interrupted; rerun the same command to resume: the finished episodes are kept"
    ), err
    assert not (out / "README.md").exists()  # not finished: the card is written last
    env.pop("GLADE_TEST_PAUSE")
    again = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert len(set(pq.read_table(out / "data", columns=["episode_id"]).column(0).to_pylist())) == 30


def test_main_puts_the_sigterm_handler_back(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    assert main(["generate", str(tmp_path / "missing.yaml")]) == 2
    assert signal.getsignal(signal.SIGTERM) is before  # main() run inside a test leaves no handler behind


def test_train_help_documents_the_sigterm_exit_status(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    said = " ".join(capsys.readouterr().out.split())
    assert "130 interrupted (rerun with --resume). A SIGTERM (docker stop, Slurm, a cancelled CI job) stops" in said
    assert "stops it the same way, with 143." in said


def test_train_interrupted_before_a_checkpoint_says_the_same_command_starts_over(
    workdir,  # noqa: F811
    tmp_path,
    monkeypatch,
    capsys,
):
    path = recipe_file(workdir, tmp_path)
    interrupt_at_start(monkeypatch, str(path), *FAST_SFT)
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: interrupted; no training step was saved yet: rerun the same command to start over"
    )


def test_a_plain_rerun_of_a_run_stopped_before_a_checkpoint_starts_over(workdir, tmp_path, monkeypatch, capsys):  # noqa: F811
    path = recipe_file(workdir, tmp_path)
    interrupt_at_start(monkeypatch, str(path), *FAST_SFT)
    partial = tmp_path / "checkpoints" / ".lora__0.partial"
    capsys.readouterr()
    interrupt_at_start(monkeypatch, str(path), *FAST_SFT)  # not refused: started over, and stopped again
    err = capsys.readouterr().err
    assert f"{partial}: an interrupted run of this recipe saved no training step; starting over" in err
    assert "--resume" not in err


def test_resume_hint_names_resume_only_with_something_to_resume(tmp_path):
    work = tmp_path / ".lora__0.partial"
    (work / "trainer" / "checkpoint-2").mkdir(parents=True)  # cut short: no trainer_state.json yet
    assert resume_hint(work) == "no training step was saved yet: rerun the same command to start over"
    (work / "trainer" / "checkpoint-2" / "trainer_state.json").write_text(json.dumps({"global_step": 2}))
    assert resume_hint(work) == (
        f"rerun with --resume to continue from the last trainer checkpoint ({work}); it saved step 2, and the steps "
        "after it run again"
    )
    (work / TRAINED).write_text("{}")
    assert resume_hint(work) == f"training had finished: rerun with --resume to write the checkpoint ({work})"


@pytest.mark.slow
def test_a_local_ray_cluster_leaves_sigterm_to_glade(monkeypatch, tmp_path):
    """ray.init starting a local cluster installs its own SIGTERM handler (which exits 1 with no
    resume line); connect puts glade's back."""
    import signal

    import ray

    from glade.eval import ray_join

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ray of this machine's

    def mine(signum, frame):
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, mine)
    try:
        assert "started a local one" in ray_join.connect("auto")
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        ray.shutdown()
        signal.signal(signal.SIGTERM, before)


def test_a_checkpoint_cut_short_is_no_progress_for_the_hint_nor_the_rerun(tmp_path):
    from glade.train.sft import holds_progress

    work = tmp_path / ".lora__0.partial"
    (work / "trainer" / "checkpoint-2").mkdir(parents=True)  # stopped while the trainer saved it
    assert not holds_progress(work) and resume_hint(work).startswith("no training step was saved yet")
    (work / "trainer" / "checkpoint-2" / "trainer_state.json").write_text("{}")
    assert holds_progress(work) and resume_hint(work).startswith("rerun with --resume")


def test_only_rank_0_of_a_torchrun_training_turns_sigterm_into_the_resume_line(monkeypatch):
    import signal

    from glade.cli import stop_on_sigterm

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setenv("RANK", "1")
    stop_on_sigterm([])()
    assert signal.getsignal(signal.SIGTERM) is before  # left alone: torchrun's agent ends rank 1
    monkeypatch.setenv("RANK", "0")
    restore = stop_on_sigterm([])
    assert signal.getsignal(signal.SIGTERM) is not before
    restore()
    assert signal.getsignal(signal.SIGTERM) is before or before is None


@pytest.mark.parametrize("verb", ["generate", "eval"])
def test_an_interrupt_before_anything_finished_does_not_promise_kept_work(verb, tmp_path, monkeypatch, capsys):
    """It said "the finished episodes are kept" where nothing had finished and the folder was removed."""
    from resume_setup import eval_recipe, generate_recipe

    from glade import traces
    from glade.eval import run as eval_run

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(traces if verb == "generate" else eval_run, "run_lockstep", interrupted)
    path = generate_recipe(tmp_path) if verb == "generate" else eval_recipe(tmp_path)
    assert main([verb, str(path)]) == 130
    said = "error: interrupted; nothing had finished, so nothing was kept; rerun the same command to start"
    assert capsys.readouterr().err.strip().splitlines()[-1] == said
    assert not (tmp_path / ("traces" if verb == "generate" else "results")).exists()


def test_the_glade_command_ignores_ctrl_c_once_its_verb_has_finished(monkeypatch):
    # a Ctrl-C while the interpreter wound down (about a second with torch loaded) exited 130 with no word
    import signal
    import tomllib
    from pathlib import Path

    import glade.cli as cli

    monkeypatch.setattr(cli, "main", lambda: 3)
    before = signal.getsignal(signal.SIGINT)
    try:
        assert cli.entry() == 3  # the verb's own status
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
    scripts = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"glade": "glade.cli:entry"}
    assert "sys.exit(entry())" in (Path(cli.__file__).parent / "__main__.py").read_text()
