"""What a bad-input fuzz of export, export-traces, lm-eval, merge and python seats found: a user's
seat that calls sys.exit ended glade with its status (0: a run that wrote nothing read as a success);
an earlier lm-eval results.json that is no object threw a finished run's scores away; `shipped:`
took a path out of the shipped models' folder; `--out .` and a symlink loop were tracebacks."""

from __future__ import annotations

import json
import textwrap

import pytest

from glade import checkpoint
from glade.eval.harness import keep_previous
from glade.hub.cards import check_license_file
from glade.hub.export_traces import check_out
from glade.seats import SeatAnswerError, SeatSpecError, load

SEAT = """
class Seat:
    name = "quits"

    def act(self, observations):
        raise SystemExit(3)


def factory(quit_now=False):
    if quit_now:
        raise SystemExit(0)
    return Seat()
"""


def test_a_python_seat_that_calls_sys_exit_is_a_named_seat_error_not_glades_exit(tmp_path, monkeypatch):
    (tmp_path / "quitter.py").write_text(textwrap.dedent(SEAT))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SeatSpecError, match=r"entry_point 'quitter:factory': the factory raised SystemExit"):
        load({"kind": "python", "entry_point": "quitter:factory", "kwargs": {"quit_now": True}})
    seat = load({"kind": "python", "entry_point": "quitter:factory"})
    with pytest.raises(SeatAnswerError, match=r"python seat quits: act raised SystemExit"):
        seat.act([{"turn": 2}])


@pytest.mark.parametrize("earlier", ["[1]", '"text"', '{"scores": {}}', '{"written": 5}', "not json"])
def test_an_earlier_results_file_that_is_not_glades_is_moved_aside(tmp_path, earlier):
    results = tmp_path / "results.json"
    results.write_text(earlier)
    aside = keep_previous(results)
    assert aside is not None and not results.exists()
    assert open(aside).read() == earlier  # kept, not lost; the new scores then go to results.json


def test_keep_previous_names_the_aside_file_by_its_written_stamp(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"written": "2026-12-05T10:00:00Z"}))
    assert keep_previous(results) == str(tmp_path / "results-20261205T100000Z.json")


@pytest.mark.parametrize("name", ["", "../models/tiny-base", ".", "tiny-base/../tiny-base"])
def test_shipped_takes_a_model_name_not_a_path(name):
    with pytest.raises(ValueError, match=r"glade ships no such model \(shipped: .*tiny-base"):
        checkpoint.shipped(name)
    assert checkpoint.shipped("tiny-base").name == checkpoint.shipped("tiny-base/").name == "tiny-base"


def test_an_out_that_names_no_folder_of_its_own_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"^\.: names no folder of its own \(it is .*\); give a new folder's path$"):
        checkpoint.staging_folder(".")
    assert checkpoint.staging_folder("new").name == ".new.partial"


def test_a_symlink_loop_as_export_traces_out_is_named(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(
        ValueError, match=r"--out .*loop: a symlink loop \(it leads back to itself\); give another path"
    ):
        check_out(tmp_path / "traces", loop)


def test_a_license_file_that_is_a_folder_or_empty_is_named_as_such(tmp_path):
    with pytest.raises(ValueError, match=r"^--license-file .*: a folder; give the file that holds the license text$"):
        check_license_file("other", tmp_path)
    (tmp_path / "EMPTY").write_text("")
    with pytest.raises(ValueError, match=r"^--license-file .*EMPTY: an empty file; give the file"):
        check_license_file("other", tmp_path / "EMPTY")
    with pytest.raises(ValueError, match=r"^--license-file .*NONE: no such file$"):
        check_license_file("other", tmp_path / "NONE")
    (tmp_path / "TERMS").write_text("Use it kindly.\n")
    assert check_license_file("other", tmp_path / "TERMS") == tmp_path / "TERMS"
