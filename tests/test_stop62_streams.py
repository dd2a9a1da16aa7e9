"""The environment a verb runs in: a reader of its output that goes away (`| head -1`), output on a
full disk, a closed stderr, a terminal that closes (SIGHUP), a read-only Hugging Face cache, an
offline switch named right, matplotlib's cache warning. Each run is a real process with real pipes."""

import errno
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from glade.resume import read_ledger

ROOT = Path(__file__).resolve().parent.parent
GLADE = [sys.executable, "-m", "glade.cli"]


def slow_hoarder():
    """A python seat: the hoarder stand-in, a little slow while GLADE_TEST_PAUSE is set (so a run
    is still playing when the test closes its pipe or hangs it up). Where GLADE_TEST_FD2 names a
    file, it first writes there what file descriptor 2 is."""
    from glade.env import standin
    from glade.seats import Decision

    if said := os.environ.get("GLADE_TEST_FD2"):
        try:
            Path(said).write_text(os.readlink("/proc/self/fd/2"))
        except OSError:
            Path(said).write_text("closed")
    pause = float(os.environ.get("GLADE_TEST_PAUSE", "0"))
    hoarder = standin.disposition("hoarder")

    class Slow:
        name = "slow_hoarder"

        def act(self, observations: list[dict]) -> list:
            time.sleep(pause)
            return [Decision(standin.act(obs, hoarder)) for obs in observations]

    return Slow()


SLOW = {"kind": "python", "entry_point": "test_stop62_streams:slow_hoarder"}


def env(**extra) -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'tests'}", **extra)


def eval_recipe(tmp_path: Path) -> Path:
    recipe = {
        "name": "t",
        "out": str(tmp_path / "results"),
        "policies": {"slow": SLOW},
        "councils": {"c": {"focal": {"oona": "slow"}}},
        "scenarios": ["gambit_rumour"],
        "seeds": {"start": 0, "count": 2},  # fewer than 4: a warning on stderr at once, before the play
        "turns": 5,
        "worlds": 2,
    }
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def generate_recipe(tmp_path: Path, seeds: int = 2) -> Path:
    path = tmp_path / "gen.yaml"
    path.write_text(yaml.safe_dump({"out": str(tmp_path / "traces"), "councils": {"h": {"*": SLOW}}, "turns": 2, "worlds": 1, "seeds": {"count": seeds}}))  # fmt: skip
    return path


RESULTS = ("decisions.parquet", "episodes.parquet", "summary.json")


# --- 1. a reader gone never stops the work ---------------------------------------------------------


def test_eval_whose_output_reader_leaves_after_one_line_writes_its_results_and_exits_141(tmp_path):
    """`glade eval R 2>&1 | head -1`: the bar's last draw met the closed pipe, rich raised
    SystemExit(1) and the results step never ran (progress.json and shards/ only)."""
    run = subprocess.Popen(
        [*GLADE, "eval", str(eval_recipe(tmp_path))],
        env=env(GLADE_TEST_PAUSE="0.05"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    first = run.stdout.readline()
    run.stdout.close()  # as `head -1` exits
    assert run.wait(timeout=300) == 141, first
    assert first.startswith(b"warning: seeds.count 2")
    assert all((tmp_path / "results" / name).exists() for name in RESULTS)


def test_quickstart_whose_stdout_reader_leaves_plays_every_step(tmp_path):
    """`glade quickstart --until generate | head -2` stopped silently (exit 1) after simulate."""
    done = subprocess.run(
        ["bash", "-c", f"{' '.join(GLADE)} quickstart --until generate | head -2 >/dev/null; exit ${{PIPESTATUS[0]}}"],
        env=env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 141, done.stderr
    traces = tmp_path / "runs" / "traces"
    assert sorted(p.name for p in traces.iterdir() if (p / "README.md").exists()) == [
        "heldout",
        "panic-seller",
        "speculator",
        "standin",
    ]


def test_a_print_verb_whose_reader_leaves_ends_quietly_with_141(tmp_path):
    """validate, export, merge, report and lm-eval print(): `| true` was exit 2, `error: [Errno 32]`."""
    scenarios = sorted(str(p) for p in (ROOT / "recipes" / "scenarios").glob("*.yaml"))
    run = subprocess.Popen([*GLADE, "validate", *scenarios], env=env(), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    run.stdout.close()  # the reader is gone before the first line
    assert run.wait(timeout=120) == 141
    assert run.stderr.read() == b""  # quiet: no error line, no "Exception ignored" at exit


# --- 2. output that cannot be written for another reason -------------------------------------------


def test_stdout_on_a_full_disk_says_so_in_one_line_and_exits_1(tmp_path):
    scenarios = sorted(str(p) for p in (ROOT / "recipes" / "scenarios").glob("*.yaml"))
    with open("/dev/full", "w") as full:
        done = subprocess.run([*GLADE, "validate", *scenarios], env=env(), cwd=tmp_path, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "error: the output could not be written to stdout (no space left on device); the verb finished and its "
        "files are written: rerun it with stdout on another disk to see what it printed"
    ]


def test_generate_with_stderr_on_a_full_disk_finishes_its_traces(tmp_path):
    """`generate R 2>/dev/full` died with "lost sys.stderr" and no traces card."""
    with open("/dev/full", "w") as full:
        done = subprocess.run([*GLADE, "generate", str(generate_recipe(tmp_path))], env=env(), cwd=tmp_path, stdout=subprocess.PIPE, stderr=full, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 1  # its output was lost: said by the status, as there is nowhere to say it
    assert (tmp_path / "traces" / "README.md").exists()
    assert "wrote" in done.stdout


def test_error_never_raises_on_a_broken_stderr(monkeypatch, capsys):
    from glade.console import error, warning

    class Gone:  # a stderr whose reader went away
        def write(self, text):
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

        def isatty(self):
            return False

        def fileno(self):
            raise io.UnsupportedOperation("fileno")  # as a capture's: no descriptor to put /dev/null on

    monkeypatch.setattr(sys, "stderr", Gone())
    error("a message nobody can read")  # rich raised SystemExit(1) and dup2'd /dev/null onto stdout
    warning("nor this")
    print("stdout is still stdout")
    assert capsys.readouterr().out == "stdout is still stdout\n"


# --- 3. SIGHUP -------------------------------------------------------------------------------------


def test_sighup_stops_generate_with_the_resume_line_and_129(tmp_path):
    out = tmp_path / "traces"
    run = subprocess.Popen(
        [*GLADE, "generate", str(generate_recipe(tmp_path, seeds=30))],
        env=env(GLADE_TEST_PAUSE="0.05"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    # until the ledger lists a finished episode (its shard comes a moment before: test_interrupt_fixes says why)
    while not (read_ledger(out) or {}).get("episodes") and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGHUP)  # its terminal closed
    _, err = run.communicate(timeout=120)
    assert run.returncode == 129, err
    assert err.splitlines()[-1] == (
        "error: interrupted; rerun the same command to resume: the finished episodes are kept"
    ), err


def test_sighup_is_handled_unless_it_was_ignored_at_start(monkeypatch):
    from glade.cli import stop_on_sigterm

    monkeypatch.delenv("RANK", raising=False)
    before = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        restore = stop_on_sigterm([])
        assert signal.getsignal(signal.SIGHUP) not in (signal.SIG_DFL, signal.SIG_IGN)
        restore()
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # `nohup glade train R`
        stop_on_sigterm([])()
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)


def test_help_names_sighup_and_the_output_rule(capsys):
    from glade.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    said = " ".join(capsys.readouterr().out.split())
    assert "A SIGHUP (its terminal closed) too, with 129." in said
    assert "a reader that went away (`| head`) ends it quietly with 141" in said


# --- 4. lm-eval's filter of git's noise ------------------------------------------------------------

FILTERED = """
import os, subprocess, sys
from pathlib import Path
from glade.console import progress_bar, without_lines
err = Path(sys.argv[1])
with without_lines("fatal: not a git repository") as con:
    with progress_bar("lm-eval", "requests", con=con) as bar:
        bar.total(2)
        bar.advance(2)
        subprocess.run(["git", "describe", "--always"], env={"PATH": os.environ["PATH"], "GIT_CEILING_DIRECTORIES": os.getcwd()})
    print(err.read_text(), end="")  # what the user's stderr holds while the filter is still on
"""


def test_the_lm_eval_bar_reaches_the_original_stderr_while_gits_noise_does_not(tmp_path):
    err = tmp_path / "stderr.txt"
    (tmp_path / "cwd").mkdir()
    with open(err, "w") as stream:
        done = subprocess.run([sys.executable, "-c", FILTERED, str(err)], env=env(), cwd=tmp_path / "cwd", stdout=subprocess.PIPE, stderr=stream, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, err.read_text()
    assert "lm-eval" in done.stdout and "2/2 requests" in done.stdout  # drawn at once, not at the block's end
    assert "fatal" not in err.read_text() and err.read_text().count("2/2 requests") == 1


def test_without_lines_with_stderr_closed_runs_the_block(monkeypatch):
    from glade.console import progress_bar, without_lines

    monkeypatch.setattr(sys, "stderr", None)  # `2>&-`: Python starts with sys.stderr None
    with without_lines("fatal: not a git repository") as con:  # sys.stderr.flush() raised AttributeError
        with progress_bar("lm-eval", "requests", con=con) as bar:
            bar.total(1)
            bar.advance()


def test_a_stderr_closed_at_start_is_dev_null_not_the_first_file_glade_opens(tmp_path):
    """With `2>&-` the first file glade opened took descriptor 2: a subprocess's or torch's
    "stderr" writes landed in it (lm-eval's git, a traces file)."""
    said = tmp_path / "fd2"
    command = f"exec 2>&-; exec {' '.join(GLADE)} generate {generate_recipe(tmp_path)}"
    done = subprocess.run(["bash", "-c", command], env=env(GLADE_TEST_FD2=str(said)), cwd=tmp_path, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout
    assert said.read_text() == "/dev/null"


# --- 5. the Hugging Face cache, named as such ------------------------------------------------------


def test_a_read_only_hf_home_is_named_as_the_hugging_face_cache():
    from glade.cli import os_error_line

    home = os.environ["HF_HOME"]  # the tests' own (conftest)
    line = os_error_line(OSError(errno.EROFS, "Read-only file system", f"{home}/datasets"))
    assert line == (
        f"{home}/datasets: read-only file system; it is in the Hugging Face cache (HF_HOME={home}): "
        "set HF_HOME to a folder you can write"
    )


def test_a_read_only_home_is_named_as_where_the_hugging_face_cache_goes(tmp_path):
    """`HOME=/ro glade lm-eval CKPT` said "/ro/.cache: read-only file system; choose a path you can
    write", a path the user never chose."""
    code = (
        "import errno, sys; from glade.cli import os_error_line; "
        "print(os_error_line(OSError(errno.EROFS, 'Read-only file system', sys.argv[1])))"
    )
    plain = {k: v for k, v in env().items() if k not in ("HF_HOME", "XDG_CACHE_HOME", "HF_HUB_CACHE")}
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / ".cache")], env={**plain, "HOME": str(tmp_path)}, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.stdout.strip() == (
        f"{tmp_path}/.cache: read-only file system; the Hugging Face cache goes there (HF_HOME unset: "
        f"{tmp_path}/.cache/huggingface): set HF_HOME to a folder you can write"
    ), done.stderr
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")], env={**plain, "HOME": str(tmp_path)}, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.stdout.strip() == f"{tmp_path}/out: read-only file system; choose a path you can write"


# --- 6. the offline switch that is set ---------------------------------------------------------------


def test_an_offline_push_names_transformers_offline_when_that_is_the_switch(tmp_path, monkeypatch):
    from huggingface_hub.errors import OfflineModeIsEnabled

    from glade.hub.cards import PushFailed, push

    class Offline:
        def create_repo(self, **kwargs):
            raise OfflineModeIsEnabled("offline")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    with pytest.raises(PushFailed) as info:
        push(tmp_path, "alice/creature", "model", api=Offline())
    assert info.value.reason == "offline mode is on (TRANSFORMERS_OFFLINE): unset TRANSFORMERS_OFFLINE to push"


# --- 7. matplotlib's cache warning -----------------------------------------------------------------


def test_report_says_nothing_of_matplotlibs_cache_where_mplconfigdir_is_unwritable(tmp_path):
    from glade.eval import run as eval_run
    from glade.eval.recipe import load_eval_recipe

    path = tmp_path / "standin.yaml"
    recipe = yaml.safe_load(eval_recipe(tmp_path).read_text()) | {"policies": {"slow": "hoarder"}}
    path.write_text(yaml.safe_dump(recipe))
    eval_run.run_recipe(load_eval_recipe(path))
    (tmp_path / "a-file").write_text("")
    done = subprocess.run([*GLADE, "report", str(tmp_path / "results")], env=env(MPLCONFIGDIR=str(tmp_path / "a-file" / "mpl")), cwd=tmp_path, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "results" / "report.html").exists()
    assert "atplotlib" not in done.stderr and "mkdir -p failed" not in done.stderr, done.stderr
