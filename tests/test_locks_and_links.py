"""Odd out paths and concurrent writers: a symlink loop or a symlink to nothing is bad input
(one line, exit 2, nothing made); flag, report, rank and calibrate take a lock as eval does;
two writers of one file never share a temporary; a folder eval is playing is not "interrupted"."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from glade.cli import main
from glade.eval.recipe import CouncilSpec, EvalRecipe, Seeds
from glade.eval.results_folder import interrupted
from glade.eval.run import run_recipe
from glade.files import atomic, check_folder_path, only_writer, resolved, temp_of

HOLD = (
    "import sys, time; from pathlib import Path; from glade.files import only_writer, only_writer_of_file\n"
    "hold = only_writer_of_file(Path(sys.argv[1]), 'x') if sys.argv[2] == 'file' else only_writer(Path(sys.argv[1]))\n"
    "with hold:\n    print('held', flush=True)\n    time.sleep(600)\n"
)


@pytest.fixture
def held():
    """Starts a process that holds the lock of a folder (or, with 'file', of one file) until the test ends."""
    started = []

    def hold(path: Path, kind: str = "folder") -> subprocess.Popen:
        other = subprocess.Popen([sys.executable, "-c", HOLD, str(path), kind], stdout=subprocess.PIPE, text=True)
        started.append(other)
        assert other.stdout.readline().strip() == "held"
        return other

    yield hold
    for other in started:
        other.kill()
        other.wait()


def eval_recipe(out: Path) -> EvalRecipe:
    return EvalRecipe(
        name="w",
        out=str(out),
        policies={"panic": "panic_seller"},
        councils={"one": CouncilSpec(focal={"*": "panic"})},
        scenarios=("gambit_rumour",),
        seeds=Seeds(0, 2),
        turns=6,
    )


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "results"
    run_recipe(eval_recipe(out))
    return out


def loop(folder: Path) -> Path:
    (folder / "loopA").symlink_to("loopB")
    (folder / "loopB").symlink_to("loopA")
    return folder / "loopA"


def test_a_symlink_loop_is_bad_input_at_every_resolve(tmp_path):
    looped = loop(tmp_path)
    for path in (looped, looped / "x"):
        with pytest.raises(ValueError, match="symlink loop"):
            check_folder_path(path)
        with pytest.raises(ValueError, match="symlink loop"):
            with only_writer(path):
                pass
    with pytest.raises(ValueError, match=rf"^{looped}: a symlink loop \(it leads back to itself\); give another path$"):
        resolved(looped)
    from glade.eval.calibrate import same_file

    with pytest.raises(ValueError, match="symlink loop"):
        same_file(looped / "c.json", tmp_path / "c.json")


def test_eval_and_calibrate_into_a_symlink_loop_say_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    loop(tmp_path)
    (tmp_path / "ev.yaml").write_text(
        "name: ev\npolicies: {panic: panic_seller}\ncouncils: {one: {focal: {'*': panic}}}\n"
        "scenarios: [gambit_rumour]\nseeds: {count: 2}\nturns: 6\n"
    )
    assert main(["eval", "ev.yaml", "out=loopA"]) == 2
    assert (
        capsys.readouterr().err.strip().endswith("loopA: a symlink loop (it leads back to itself); give another path")
    )
    assert main(["calibrate", "nowhere", "--policy", "p", "--out", "loopA/c.yaml"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --out loopA/c.yaml: loopA: a symlink loop (it leads back to itself); give another path"
    )


def test_a_symlink_to_nothing_is_refused_before_anything_is_made(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("dang3").symlink_to("nowhere3")
    Path("dang2").symlink_to("nowhere2/deep")
    with pytest.raises(ValueError) as refused:
        check_folder_path(Path("dang3"))
    assert (
        str(refused.value) == "dang3: a symlink to nowhere3, which does not exist; create nowhere3 or give another path"
    )
    with pytest.raises(ValueError, match="^dang2/x: dang2 is a symlink to nowhere2/deep, which does not exist"):
        check_folder_path(Path("dang2/x"))
    with pytest.raises(ValueError, match="dang2: a symlink to nowhere2/deep"):
        run_recipe(eval_recipe(Path("dang2")))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dang2", "dang3"]  # no nowhere2/ made by the lock


def test_folders_made_for_a_lock_go_when_the_run_wrote_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with only_writer(tmp_path / "new" / "deep" / "out"):
            raise RuntimeError("failed before writing")
    assert list(tmp_path.iterdir()) == []


def test_a_lock_that_cannot_be_made_names_the_folder_the_user_gave():
    if not Path("/proc/self").exists():
        pytest.skip("needs Linux /proc, where no file can be made")
    with pytest.raises(ValueError) as refused:
        with only_writer(Path("/proc/glade_out")):
            pass
    assert str(refused.value) == (
        "/proc/glade_out: cannot make its lock file beside it (/proc/.glade_out.lock): no such file or directory"
    )


def test_two_writers_of_one_file_never_share_a_temporary(tmp_path):
    target = tmp_path / "flags.json"
    with atomic(target) as first:
        with atomic(target) as second:  # another process writing it at once
            assert first != second and temp_of(first.name) == temp_of(second.name) == "flags.json"
            second.write_text("2")
        first.write_text("1")
    assert target.read_text() == "1" and [p.name for p in tmp_path.iterdir()] == ["flags.json"]
    assert temp_of(".part-00001.parquet.tmp") == "part-00001.parquet"  # an older glade's
    assert temp_of(".notes.txt") is None and temp_of("part.tmp") is None


def test_a_killed_writes_pid_named_temporary_among_shards_is_dropped_on_resume(tmp_path):
    from test_resume import bare_log

    log = bare_log(tmp_path)
    log.start({})
    stale = log.root / "data" / ".part-00000.parquet.999999-0123abcd.tmp"
    stale.write_bytes(b"half")
    assert log.start({}).replayed == [] and not stale.exists()


def test_flag_report_and_rank_wait_for_the_run_writing_the_folder(results, held, capsys):
    other = held(results)
    for verb, advice in (("flag", "glade flag"), ("report", "glade report"), ("rank", "glade rank")):
        assert main([verb, str(results)]) == 2
        assert capsys.readouterr().err.strip() == (
            f"error: {results}: another glade run (pid {other.pid}) is writing it now; let it finish, then rerun {advice}"
        )
    assert not {"flags.json", "report.md", "rank.json"} & {p.name for p in results.iterdir()}


def test_rank_and_calibrate_hold_their_out_file(results, tmp_path, held, capsys):
    other = held(tmp_path / "r.json", "file")
    assert main(["rank", str(results), "--out", str(tmp_path / "r.json")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {tmp_path / 'r.json'}: another glade run (pid {other.pid}) is writing it now; let it finish, "
        "or give another --out"
    )
    other = held(tmp_path / "c.yaml", "file")
    argv = ["calibrate", str(results), "--policy", "panic", "--out", str(tmp_path / "c.yaml"), "--no-outcome"]
    assert main([*argv, "--popsize", "1", "--maxiter", "1"]) == 2
    assert f"another glade run (pid {other.pid}) is writing it now" in capsys.readouterr().err
    assert not (tmp_path / "c.yaml").exists() and not (results / "calibration").exists()


def test_a_folder_eval_is_still_playing_is_not_called_interrupted(tmp_path, held, capsys):
    partial = tmp_path / "results"
    partial.mkdir()
    (partial / "progress.json").write_text(json.dumps({"format": 2, "shards": ["episodes", "decisions"]}))
    assert interrupted(partial, "flag it").startswith("an interrupted `glade eval` run")
    other = held(partial)
    assert (
        interrupted(partial, "flag it")
        == f"another glade run (pid {other.pid}) is writing it now; wait for it to finish, then flag it"
    )
    assert main(["flag", str(partial)]) == 2
    assert f"(another glade run (pid {other.pid}) is writing it now; wait for it to finish" in capsys.readouterr().err


def test_rank_out_under_a_file_is_named_as_every_verb_names_it(results, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert main(["rank", str(results), "--out", str(tmp_path / "afile" / "r.json")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: --out {tmp_path / 'afile' / 'r.json'}: {tmp_path / 'afile'}: is a file; give a folder to write into"
    )


def test_a_writer_of_probe_in_flight_does_not_refuse_a_real_writer(tmp_path):
    # guards _hold's probes: writer_of's shared lock for an instant is not another writer
    import fcntl
    import os
    import threading

    folder = tmp_path / "results"
    lock = tmp_path / ".results.lock"
    lock.write_text("")
    probe = open(lock)
    fcntl.flock(probe, fcntl.LOCK_SH)
    threading.Timer(0.005, lambda: (fcntl.flock(probe, fcntl.LOCK_UN), probe.close())).start()
    with only_writer(folder):
        assert lock.read_text() == f"pid {os.getpid()}"
