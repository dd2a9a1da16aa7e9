"""Tests written by the stop-60 mutation audit of modules no earlier audit mutated: rank's council
comparison and the calibration summary's fields (glade.eval.rank_councils, calibration_fields). Each
pins a behaviour that a plausible one-line change (a comparison flipped, a term dropped, a key left
out of a table of fields) left untested. The comment on each names what it guards."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from glade.eval.calibrate import BOUNDS
from glade.eval.calibration_fields import wrong_calibration, wrong_origin
from glade.eval.rank_councils import (
    Seating,
    _deciding,
    check_councils,
    check_identities,
    folder_versions,
    seating,
    seating_differs,
)
from glade.eval.recipe import STANDIN


def _interval(mean: float) -> dict:
    return {"mean": mean, "ci": [mean - 0.1, mean + 0.1], "n": 4, "note": ""}


def _part() -> dict:
    return {"seeds": 4} | {
        f: {"before": _interval(0.5), "after": _interval(0.6), "change": _interval(0.1)} for f in BOUNDS
    }


def calibration_summary() -> dict:
    """A small calibration summary with every field the report reads, as glade calibrate writes them."""
    figure = {"n": 4, "verdict": "no clear difference", "council": _interval(0.5), "error_change": _interval(-0.1)}
    return {
        "policy": "p",
        "decisions": 10,
        "split": {"heldout_seeds": [3], "heldout_scenario": "gambit_shock"},
        "outcome": {"groups": [{"group": "all", "n": 4, "scenario_in_fit": False, "figures": {"crash": figure}}]},
        "creature": None,
        "kind": "results",
        "source": "runs/x",
        "faults_left_out": 0,
        "seeds": [0, 1],
        "scenarios": ["gambit_shock"],
        "rebuilt": 10,
        "verdict": "fits",
        "fitted": {"name": "calibrated_p"},
        "search": {"evaluations": 5, "generations": 2},
        "parts": {"fit": _part(), "heldout": _part()},
        "moved": [{"parameter": "bid", "before": 0.1, "after": 0.2}],
        "start": {"name": "balanced"},
        "fit_dispositions": {"balanced": 3},
    }


_GONE = object()


_FIGURE = ("outcome", "groups", 0, "figures", "crash")


def _changed(keys: tuple, value) -> dict:
    summary = calibration_summary()
    *inner, last = keys
    item = summary
    for key in inner:
        item = item[key]
    if value is _GONE:
        del item[last]
    else:
        item[last] = value
    return summary


# eval/calibration_fields.py:81 -- the summary the tests below change one key of is whole as it stands
def test_the_small_calibration_summary_is_whole():
    assert wrong_calibration(calibration_summary()) is None
    assert wrong_origin(calibration_summary()) is None


# eval/calibration_fields.py:16-34, 47, 65-75, 80, 104, 123 -- each key of the tables of fields (ORIGIN, SHOWN, FIELDS),
# of the lists read item by item, and of the loops over fitted/search/start, parts and a figure's intervals
@pytest.mark.parametrize(
    ("keys", "value", "said"),
    [
        (("decisions",), None, "decisions must be an integer, not null"),
        (("source",), 3, "source must be a text, not an integer"),
        (("faults_left_out",), 1.5, "faults_left_out must be an integer, not a number"),
        (("search",), _GONE, "search must be an object, not missing"),
        (("fit_dispositions",), [1], "fit_dispositions must be an object, not a list"),
        (("split", "heldout_seeds"), None, "split.heldout_seeds must be a list, not null"),
        (("start", "name"), 3, "start.name must be a text, not an integer"),
        (("search", "generations"), _GONE, "search.generations must be an integer, not missing"),
        (("moved", 0, "after"), [1], "moved[0].after must be a number, not a list"),
        (("parts", "fit", "agreement"), 1, "parts.fit.agreement must be an object, not an integer"),
        ((*_FIGURE, "verdict"), _GONE, "outcome.groups[0].figures.crash.verdict must be a text, not missing"),
        (
            ("parts", "fit", "agreement", "before", "n"),
            2.5,
            "parts.fit.agreement.before.n must be an integer, not a number",
        ),
        ((*_FIGURE, "error_change", "mean"), "x", "outcome.groups[0].figures.crash.error_change.mean must be a number"),
        (("scenarios",), [3], "scenarios must be a list of texts"),
        (("parts", "heldout"), _GONE, "parts.heldout must be an object, not missing"),
        ((*_FIGURE, "improvement"), {"mean": "x"}, "outcome.groups[0].figures.crash.improvement.mean must be a number"),
        (
            ("parts", "fit", "agreement", "after", "ci"),
            [None, 0.2],
            "parts.fit.agreement.after.ci must be a list of two",
        ),
    ],
)
def test_a_wrong_calibration_field_is_named(keys, value, said):
    assert (wrong_calibration(_changed(keys, value)) or "").startswith(said)


# eval/calibration_fields.py:118 -- a mean at a figure's upper bound (an agreement of 1) is within it
def test_an_agreement_of_one_is_within_its_bounds():
    summary = _changed(("parts", "heldout", "agreement", "after"), {"mean": 1.0, "ci": [0.9, 1.0], "n": 4, "note": ""})
    assert wrong_calibration(summary) is None
    summary["parts"]["heldout"]["agreement"]["change"]["mean"] = 1.5
    assert wrong_calibration(summary) == "parts.heldout.agreement.change.mean must be between -1 and 1, not 1.5"


# eval/calibration_fields.py:56 -- the report's first read (wrong_origin) checks a group's scenario_in_fit itself
def test_wrong_origin_names_a_groups_scenario_in_fit():
    summary = _changed(("outcome", "groups", 0, "scenario_in_fit"), "yes")
    assert wrong_origin(summary) == "outcome.groups[0].scenario_in_fit must be true or false, not a text"
    assert wrong_origin(_changed((*_FIGURE,), _GONE)) is None  # the rest of a group is left to wrong_calibration


def _ledger(folder, recipe) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "progress.json").write_text(json.dumps({"format": 2, "recipe": recipe}))
    return str(folder)


def _seats(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["cast", "creature", "policy"])


# eval/rank_councils.py:39 -- a ledger whose recipe is no mapping (a hand edit) reads as none, not as a recipe
def test_a_ledger_recipe_that_is_a_list_reads_as_no_recipe(tmp_path):
    folder = _ledger(tmp_path / "r", ["councils"])
    got = seating(Path(folder), "c", _seats((0, "oona", "standin:hoarder")))
    assert (got.names, got.specs, got.rotate) == ({}, None, None)


# eval/rank_councils.py:48 -- a seat's `adapter` folder is compared as the folder it names, like `model` and `path`
def test_an_adapter_spelled_relative_is_the_absolute_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "adapters" / "a").mkdir(parents=True)
    spec = _deciding({"kind": "hf", "model": "nowhere", "adapter": "adapters/a", "device": "cpu"})
    assert spec == {"kind": "hf", "model": "nowhere", "adapter": str(tmp_path / "adapters" / "a")}


# eval/rank_councils.py:92, 97, 99 -- the focal map shown is the first cast's; `*` names every creature; the
# ledger's rotate is kept
def test_seating_reads_the_first_cast_the_star_and_rotate(tmp_path):
    recipe = {"policies": {"spec": "speculator"}, "councils": {"c": {"focal": {"*": "spec"}, "rotate": 5}}}
    seats = _seats((1, "hazel", "standin:speculator"), (0, "oona", "standin:speculator"))
    got = seating(Path(_ledger(tmp_path / "r", recipe)), "c", seats)
    assert got.shown == {"oona": "standin:speculator"}
    assert got.names == {"oona": "spec", "*": "spec"}
    assert got.rotate == 5 and got.specs == {"*": {"kind": "standin", "disposition": "speculator"}}


# eval/rank_councils.py:94 -- a focal map naming a list (a hand edit) is read as no ledger, not a TypeError
def test_a_focal_map_of_lists_reads_as_no_ledger(tmp_path):
    recipe = {"policies": {"a": "hoarder"}, "councils": {"c": {"focal": {"oona": ["a", "b"]}}}}
    got = seating(Path(_ledger(tmp_path / "r", recipe)), "c", _seats((0, "oona", "standin:hoarder")))
    assert (got.names, got.specs) == ({}, None)


_SEATS = frozenset({(0, "oona", "standin:hoarder"), (1, "hazel", "standin:hoarder")})


_SPECS = {"oona": {"kind": "standin", "disposition": "hoarder"}}


# eval/rank_councils.py:109, 122, 124 -- specs are compared only where both ledgers record them; seats that
# differ only in other casts are said so (not a rotate nobody recorded, not nothing)
def test_seatings_one_without_a_ledger_differ_only_in_their_seats():
    blind = Seating(_SEATS, {"oona": "standin:hoarder"}, {}, None, None)
    same = Seating(_SEATS, {"oona": "standin:hoarder"}, {"oona": "h"}, _SPECS, 5)
    assert seating_differs(blind, same) == ""
    other = dataclasses.replace(
        same, seats=frozenset({(0, "oona", "standin:hoarder"), (1, "hazel", "standin:speculator")})
    )
    assert seating_differs(blind, other) == "other policies in their other casts"


# eval/rank_councils.py:110 -- two ledgers that differ only in their council's rotate are two councils
def test_seatings_that_differ_only_in_rotate_are_told_apart():
    five = Seating(_SEATS, {"oona": "standin:hoarder"}, {"oona": "h"}, _SPECS, 5)
    assert seating_differs(five, dataclasses.replace(five, rotate=0)) == "rotate 5 vs 0"
    assert seating_differs(five, dataclasses.replace(five, names={})) == ""


# eval/rank_councils.py:112 -- a policy name comes from either folder's ledger, the later one's too
def test_a_difference_is_named_by_the_policy_name_either_ledger_gives():
    blind = Seating(frozenset({(0, "oona", "standin:hoarder")}), {"oona": "standin:hoarder"}, {}, None, None)
    named = Seating(
        frozenset({(0, "oona", "standin:speculator")}), {"oona": "standin:speculator"}, {"oona": "s"}, {}, 0
    )
    assert seating_differs(blind, named) == "s on oona: standin:hoarder vs standin:speculator"


# eval/rank_councils.py:140 -- a creature one folder seats and the other does not is said to have no focal seat
def test_a_creature_seated_in_one_folder_only_has_no_focal_seat_in_the_other():
    one = Seating(frozenset({(0, "oona", "a")}), {"oona": "a"}, {}, None, None)
    two = Seating(frozenset({(0, "oona", "a"), (0, "hazel", "b")}), {"oona": "a", "hazel": "b"}, {}, None, None)
    assert seating_differs(one, two) == "hazel: no focal seat vs b"


# eval/rank_councils.py:148-152 -- only the council's own focal seats decide its seating (one council played over
# two scenarios whose stand-in worlds, and whose other creatures, sit on other stand-ins is one council), and a
# council is one of its recipe: two recipes' councils of one name are two entries
def test_check_councils_compares_a_recipes_council_by_its_focal_seats(tmp_path):
    rows = [
        (source, world, creature, policy, focal)
        for source, standin in ((0, "standin:hoarder"), (1, "standin:speculator"))
        for world, creature, policy, focal in (
            ("council", "oona", "hf:a", True),
            ("council", "hazel", standin, False),
            (STANDIN, "oona", standin, True),
        )
    ]
    episodes = pd.DataFrame(rows, columns=["source", "world", "creature", "policy", "focal"]).assign(
        recipe="r", council="c", cast=0
    )
    folders = [str(tmp_path / "one"), str(tmp_path / "two")]
    check_councils(folders, episodes)  # no refusal
    other = episodes.assign(recipe=episodes["source"].map({0: "r", 1: "q"}))
    other.loc[(other["source"] == 1) & (other["world"] == "council") & other["focal"], "policy"] = "hf:b"
    check_councils(folders, other)  # r/c and q/c: no refusal
    episodes.loc[(episodes["source"] == 1) & (episodes["world"] == "council") & episodes["focal"], "policy"] = "hf:b"
    with pytest.raises(ValueError, match=r"both hold council r/c, seating different policies \(oona: hf:a vs hf:b\)"):
        check_councils(folders, episodes)


# eval/rank_councils.py:210 -- a stand-in of a shipped disposition (no parameters recorded) is not compared with a
# disposition file of that name: nothing to compare
def test_a_shipped_stand_in_is_not_compared_with_a_file_of_its_name(tmp_path):
    fitted = {"kind": "standin", "disposition": "x.yaml", "parameters": {"name": "hoarder", "budget": 0.9}}
    folders = [
        _ledger(tmp_path / "a", {"policies": {"h": "hoarder"}}),
        _ledger(tmp_path / "b", {"policies": {"h": fitted}}),
    ]
    named = pd.DataFrame({"source": [0, 1], "policy": ["standin:hoarder"] * 2, "policy_name": ["h"] * 2})
    assert check_identities(folders, named) is None  # no refusal
    # two disposition files of one name with other parameters are compared, and refused
    refit = {**fitted, "parameters": {"name": "hoarder", "budget": 0.5}}
    folders[0] = _ledger(tmp_path / "c", {"policies": {"h": refit}})
    with pytest.raises(ValueError, match="different parameters"):
        check_identities(folders, named)


# eval/rank_councils.py:225, 231 -- the summary's protocol first; else every protocol the rows name, joined; else None
def test_folder_versions_take_the_summarys_protocol_before_the_rows(tmp_path):
    rows = pd.DataFrame(
        {"scenario": ["s", "s", "t"], "scenario_hash": ["h1", "h1", "h2"], "protocol_version": ["p2", None, "p1"]}
    )
    got = folder_versions(tmp_path, {"protocol_version": "p9", "git_commit": "abc", "git_dirty": True}, rows)
    assert got == {
        "results": str(tmp_path),
        "glade_version": None,
        "git_commit": "abc",
        "git_dirty": True,
        "protocol_version": "p9",
        "scenario_hashes": {"s": "h1", "t": "h2"},
    }
    assert folder_versions(tmp_path, {}, rows)["protocol_version"] == "p1 + p2"
    assert folder_versions(tmp_path, {}, rows.drop(columns="protocol_version"))["protocol_version"] is None
    assert folder_versions(tmp_path, {}, rows.assign(protocol_version=None))["protocol_version"] is None
