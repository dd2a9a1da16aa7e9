"""One run at a time writes a folder: a second generate or eval into a folder another run is
writing is refused at once (two runs used to interleave their shards and ledgers, listing some
episodes twice), and a killed run leaves no lock behind (the kernel drops it)."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from glade.env.scenario import load_scenario
from glade.eval.recipe import CouncilSpec, EvalRecipe, Seeds
from glade.eval.run import evaluate, run_recipe
from glade.files import only_writer
from glade.traces import GenerateRecipe, generate

HOLD = "import sys, time; from pathlib import Path; from glade.files import only_writer\n" + (
    "with only_writer(Path(sys.argv[1])):\n    print('held', flush=True)\n    time.sleep(600)\n"
)


def held_elsewhere(folder):
    """A process that holds `folder`'s lock until killed."""
    other = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert other.stdout.readline().strip() == "held"
    return other


def test_a_second_generate_into_a_folder_being_written_is_refused_and_runs_once_it_ends(tmp_path):
    out = tmp_path / "traces"
    recipe = GenerateRecipe(out=str(out), councils={"h": {"*": "hoarder"}}, turns=2, worlds=2)
    other = held_elsewhere(out)
    try:
        with pytest.raises(ValueError) as refused:
            generate(recipe)
        assert str(refused.value) == (
            f"{out}: another glade run (pid {other.pid}) is writing it now; let it finish, or choose another "
            "out (out=DIR)"
        )
        assert not out.exists()  # refused before anything was written
    finally:
        other.send_signal(signal.SIGKILL)
        other.wait()
    assert (tmp_path / ".traces.lock").exists()  # a killed holder leaves its file, not its lock
    summary = generate(recipe)
    assert summary["episodes"] == summary["played_now"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["traces"]  # the lock file goes with the run


def test_an_eval_into_a_folder_being_written_is_refused_and_its_figures_are_its_own(tmp_path):
    s = load_scenario("gambit_rumour")
    focal = {c: spec.disposition for c, spec in s.creatures.items()}
    recipe = EvalRecipe(
        name="w",
        out=str(tmp_path / "results"),
        policies={d: d for d in set(focal.values())},
        councils={"same": CouncilSpec(focal=focal)},
        scenarios=("gambit_rumour",),
        seeds=Seeds(0, 2),
    )
    other = held_elsewhere(tmp_path / "results")
    try:
        with pytest.raises(ValueError, match=rf"another glade run \(pid {other.pid}\) is writing it now"):
            evaluate(recipe)
    finally:
        other.kill()
        other.wait()
    summary = run_recipe(recipe)
    decisions = pd.read_parquet(tmp_path / "results" / "decisions.parquet")
    assert len(decisions) == 2 * s.turns * len(focal)  # 2 seeds: no world counted twice
    assert not decisions.duplicated(["episode_id", "turn", "creature"]).any()
    assert sum(d["decisions"] for d in summary["decision"]) == len(decisions)


def test_two_generate_processes_at_once_leave_each_episode_once(tmp_path):
    """The race the lock closes, run for real: two CLI runs started together into one folder."""
    out = tmp_path / "traces"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"out: {out}\ncouncils: {{h: {{'*': hoarder}}}}\nturns: 2\nworlds: 1\nseeds: {{count: 6}}\n")
    command = [sys.executable, "-m", "glade.cli", "generate", str(recipe)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in "ab"]
    said = [r.communicate(timeout=300) for r in runs]
    codes = sorted(r.returncode for r in runs)
    assert codes[0] == 0
    if codes[1] != 0:  # the usual case: one played, the other was refused (else it started after)
        assert codes[1] == 2 and "is writing it now" in "".join(err for _, err in said)
    rows = pd.read_parquet(out / "data")
    assert rows["episode_id"].nunique() == 6
    assert (rows.groupby("episode_id")["turn"].count() == 2 * 5).all()  # each episode once: 2 turns x 5 creatures


def test_one_folder_named_two_ways_has_one_lock_and_a_run_in_it_is_not_refused(tmp_path, monkeypatch):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    monkeypatch.chdir(tmp_path / "real")
    with only_writer(tmp_path / "link"):
        for other in (".", tmp_path / "real"):
            with only_writer(other):  # the same process: it holds that folder's lock already
                pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]  # the lock went with the run
    other = held_elsewhere(tmp_path / "link")
    try:
        with pytest.raises(ValueError, match=rf"^\.: another glade run \(pid {other.pid}\) is writing it now"):
            with only_writer(Path(".")):
                pass
    finally:
        other.kill()
        other.wait()
    summary = generate(GenerateRecipe(out=".", councils={"h": {"*": "hoarder"}}, turns=2, worlds=2))
    assert summary["episodes"] == 4  # out=. writes the working folder, its lock beside it


def test_a_lock_left_to_a_child_of_a_run_that_exited_says_so(tmp_path):
    out = tmp_path / "traces"
    # one write per line: two prints racing on one pipe could interleave ('held0')
    fork = "import os\n    sys.stdout.write('held\\n' if os.fork() else 'child\\n'); sys.stdout.flush()"
    spawn = HOLD.replace("print('held', flush=True)", fork)
    parent = subprocess.Popen([sys.executable, "-c", spawn, str(out)], stdout=subprocess.PIPE, text=True)
    lines = [parent.stdout.readline().strip() for _ in range(2)]
    assert "held" in lines
    parent.kill()  # the child it forked keeps the open lock file, and the lock
    parent.wait()
    try:
        with pytest.raises(ValueError) as refused:
            with only_writer(out):
                pass
        lock = tmp_path / ".traces.lock"
        assert str(refused.value) == (
            f"{out}: glade run pid {parent.pid} has exited, but a process it started still holds its lock ({lock}); "
            f"end that process (`fuser {lock}` names it), then rerun"
        )
    finally:
        subprocess.run(["pkill", "-f", f"only_writer.*{out}"], check=False)
