"""Tests written by a mutation audit of the seat specs, the seats and fault counting (glade.seats,
glade.seats.spec, names, python, glade.faults, glade.run_limits): each pins what a one-line change
(a clause dropped, a comparison loosened, a key left out of a list) changed unnoticed. The comment
on each names what it guards."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from glade import checkpoint
from glade.config import MissingInput
from glade.faults import SeatMeter, SeatsFailing, parse_errors, stop_if_failing
from glade.meter import Calibration, Plan
from glade.rollout import RolloutStats
from glade.run_limits import check
from glade.seats import SeatSpecError, anchored, load, results_spec
from glade.seats.names import check_model_names
from glade.seats.python import _action_keys, _plain, _turns
from glade.seats.spec import check_inputs, check_spec
from glade.traces import GenerateRecipe

# --------------------------------------------------------------------------- faults


def test_faults_at_exactly_max_share_of_the_total_do_not_stop_the_run():
    # guards stop_if_failing's `failed <= max_share * total`: 2 faults of the 8 it will make at
    # 0.25 is not more than the share, so the run plays on; of 7 it is, and says so
    meters = {"s": SeatMeter(decisions=4, faults=Counter({"server_timeout": 2}))}
    stop_if_failing(meters, 0.25, 1, 4, {"s": 8})
    with pytest.raises(SeatsFailing, match=r"2 of 4 decisions \(50%\) failed .* of the 7 it will make in all"):
        stop_if_failing(meters, 0.25, 1, 4, {"s": 7})


def test_parse_errors_skip_an_empty_or_missing_error():
    # guards parse_errors' `isinstance(error, str) and error`: "" and a table's NaN are no error
    rows = [
        {"creature": "o", "error": ""},
        {"creature": "o", "error": float("nan")},
        {"creature": "o", "error": "bad_json"},
        {"creature": "t", "error": None},
    ]
    assert parse_errors(rows) == {"o": Counter({"bad_json": 1})}


def test_a_seat_meters_faults_are_listed_by_name():
    # guards SeatMeter.as_dict's `dict(sorted(...))`: the faults read in one order whatever came first
    meter = SeatMeter(faults=Counter({"server_timeout": 1, "server_refused": 2}))
    assert list(meter.as_dict()["faults"]) == ["server_refused", "server_timeout"]


# --------------------------------------------------------------------------- seat specs


@pytest.mark.parametrize("key", ["base_url", "model"])
def test_a_server_spec_without_its_url_or_model_is_refused(key):
    # guards REQUIRED["server"]: both base_url and model must be given
    spec = {"kind": "server", "base_url": "http://127.0.0.1:8000/v1", "model": "m"}
    del spec[key]
    with pytest.raises(SeatSpecError, match=rf"^seat spec server {key}: missing '{key}'"):
        check_spec(spec)


def test_a_model_with_a_backslash_is_looked_for_as_a_folder(tmp_path, monkeypatch):
    # guards looks_local's `"\\" in model`: a Windows-style path is no hub id, so its absence is named
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MissingInput, match=r"^seat spec hf model: 'models\\\\gone': no such folder"):
        check_inputs({"kind": "hf", "model": "models\\gone"})


def test_a_python_entry_points_factory_is_one_name():
    # guards the entry_point rule's `[\w.]+:\w+`: the factory after the colon has no dots
    with pytest.raises(SeatSpecError, match=r"expected 'module:factory', got 'm:a\.b'"):
        check_spec({"kind": "python", "entry_point": "m:a.b"})
    check_spec({"kind": "python", "entry_point": "pkg.mod:make"})


# --------------------------------------------------------------------------- model names


def test_two_sampled_seats_of_one_model_at_two_seeds_are_refused():
    # guards SAMPLING's seed: a sampled seat's seed changes its answers, so one name is refused
    seat = {"kind": "hf", "model": "m", "temperature": 1.0}
    with pytest.raises(SeatSpecError, match=r"^a \(seed 0\) and b \(seed 5\) are two seats that answer differently"):
        check_model_names({"a": seat, "b": {**seat, "seed": 5}})


def test_one_folder_spelled_two_ways_is_one_model(tmp_path, monkeypatch):
    # guards _folder's resolve: ./m and its absolute path are one folder, not two models named m
    (tmp_path / "m").mkdir()
    monkeypatch.chdir(tmp_path)
    specs = {"a": {"kind": "hf", "model": "./m"}, "b": {"kind": "hf", "model": str(tmp_path / "m")}}
    assert check_model_names(specs) is None


def test_two_folders_of_one_name_are_named_as_two_models(tmp_path, monkeypatch):
    # guards check_model_names' {"model", "adapter"} branch: folders differ, so the folders are named
    monkeypatch.chdir(tmp_path)
    for run in ("a", "b"):
        (tmp_path / "runs" / run / "final").mkdir(parents=True)
    specs = {"a": {"kind": "hf", "model": "runs/a/final"}, "b": {"kind": "hf", "model": "runs/b/final"}}
    with pytest.raises(SeatSpecError, match=r"are two models that would both write policy hf:final in the rows"):
        check_model_names(specs)


# --------------------------------------------------------------------------- loading and results specs


def test_a_lone_seats_device_error_names_no_creature(tiny):
    # guards load_council's `str(exc) if creature == LONE`: a lone seat sits on no creature, so
    # its error starts with the spec, not with the placeholder creature
    with pytest.raises(SeatSpecError, match=r"^seat spec device: 'cuda' is not available"):
        load({"kind": "hf", "model": tiny, "device": "cuda"})


def test_a_home_path_stays_as_given_and_a_relative_one_is_anchored():
    # guards anchored's `not ref.startswith("~")`: ~/x.yaml is the user's, not the council file's folder's
    assert anchored({"o": "~/x.yaml", "b": "d/x.yaml"}, "/f") == {"o": "~/x.yaml", "b": "/f/d/x.yaml"}


def test_a_disposition_files_parameters_are_in_its_results_spec(tmp_path):
    # guards results_spec's `parameters`: an edited disposition file is another stand-in
    path = tmp_path / "mine.yaml"
    path.write_text("surplus: 8\non_fall: dump\n")
    before = results_spec(str(path))
    assert before["kind"] == "standin" and before["disposition"] == str(path)
    assert before["parameters"]["surplus"] == 8 and before["parameters"]["on_fall"] == "dump"
    path.write_text("surplus: 9\non_fall: dump\n")
    assert results_spec(str(path)) != before


def test_a_latest_checkpoint_is_resolved_in_its_results_spec(tmp_path, monkeypatch):
    # guards results_spec's `latest:NAME` resolution: a retrained recipe is another model
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / checkpoint.ROOT / "n__0__20240101-000000"
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text(json.dumps({"name": "n", "seed": 0}))
    found = results_spec({"kind": "checkpoint", "path": "latest:n", "batch_size": 4})
    assert found == {"kind": "checkpoint", "path": str(checkpoint.resolve("latest:n"))}
    assert found["path"] == "checkpoints/n__0__20240101-000000"


# --------------------------------------------------------------------------- run limits


def test_check_does_not_calibrate_when_nothing_is_left_to_play():
    # guards check's `and counted.episodes`: max_tokens with no episode left asks no calibration
    calls = []
    plan = Plan(episodes=0, world_turns=0, decisions={}, free=frozenset())
    calibrate = lambda: calls.append("calibrate") or Calibration(RolloutStats(), world_turns=1, worlds=1)  # noqa: E731
    check(GenerateRecipe(out="o", max_tokens=5), lambda: plan, calibrate, "r.yaml")
    assert calls == []


# --------------------------------------------------------------------------- python seats


def test_the_turns_a_python_seat_failed_on_are_named():
    # guards _turns' plural and join: each turn, in order, "turns" only for more than one
    assert _turns([{"turn": 3}, {"turn": 2}, {"turn": 3}]) == " on turns 2, 3"
    assert _turns([{"turn": 4}]) == " on turn 4"
    assert _turns([{"creature": "oona"}]) == ""


def test_a_python_seats_null_gossip_is_kept_as_null():
    # guards _action_keys' `value is not None`: a None gossip is no gossip, not a gossip_not_text
    assert _action_keys({"orders": [], "gossip": None}) == ({"orders": [], "gossip": None}, ())


def test_a_python_seats_answer_keeps_only_text_keys():
    # guards _plain's `isinstance(k, str)`: a key JSON cannot name is dropped
    assert _plain({"a": 1, 2: 3}) == {"a": 1}
