"""Files a council evaluation or a checkpoint passed on and edited by hand: `glade export` publishes
their figures in the model-index, so it checks each field it reads for the type glade writes. A
rate outside 0 to 1, a text or NaN where a number goes, a row without its council: one error
naming the file and the field, and nothing written. Before, a valid-action rate of -1 was
published with exit 0 and a missing key was a traceback."""

from __future__ import annotations

import copy
import json

import pytest
from test_walk_hub import BASE, lora, one_error  # noqa: F401  (lora: a fixture)

from glade.cli import main


def interval(mean):
    return {"mean": mean, "ci": None, "n": 4, "note": "same value in all 4 seeds"}


def council_folder(ckpt, folder):
    """A results folder as glade eval (summary.json) and glade rank (rank.json) write them, in which
    this checkpoint sat as `creature_model` in council `mixed`."""
    folder.mkdir()
    identity = f"hf:{BASE}+{ckpt.name}"
    summary = {
        "recipe": "crash-gambit",
        "policies": [identity],
        "decision": [{"council": "mixed", "policy": "creature_model", "policy_identity": [identity]}],
        "seats": [
            {
                "council": "mixed",
                "policy": "creature_model",
                "decisions": 40,
                "errors": {},
                "valid_action": interval(0.5),
                "self_buy": interval(0.1),
            }
        ],
        "outcome": [
            {
                "scenario": "gambit_rumour",
                "council": "mixed",
                "figures": {"gambit_pnl": {"effect": {**interval(-2.5), "ci": [-3.5, -1.5], "support": 0.8}}},
            }
        ],
    }
    entry = {"rank": 1, "entry": identity, "strength": 0.25, "ci": None, "rank_ci": None, "note": None}
    board = {"board": [{**entry, "wins": 3.0, "comparisons": 4.0}], "method": "Bradley-Terry", "outcome": "seat"}
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "rank.json").write_text(json.dumps({**board, "level": 0.95, "note": None}))
    return folder


def edited(folder, name, keys, value):
    if not keys:  # the whole file
        (folder / name).write_text(json.dumps(value))
        return
    data = json.loads((folder / name).read_text())
    inner = data
    for key in keys[:-1]:
        inner = inner[key]
    if value is KeyError:
        del inner[keys[-1]]
    else:
        inner[keys[-1]] = copy.deepcopy(value)
    (folder / name).write_text(json.dumps(data))


def export(ckpt, council, out):
    argv = ["export", str(ckpt), "--repo-id", "alice/creature", "--out", str(out), "--base-model", BASE]
    return main([*argv, "--council", str(council)])


def test_the_unedited_folder_exports_its_figures(lora, tmp_path):  # noqa: F811
    council = council_folder(lora, tmp_path / "council")
    assert export(lora, council, tmp_path / "out") == 0
    card = (tmp_path / "out" / "README.md").read_text()
    assert "value: 0.5\n" in card and "value: 0.25\n" in card and "value: -2.5\n" in card


@pytest.mark.parametrize(
    ("name", "keys", "value", "said"),
    [
        ("summary.json", ["seats", 0, "valid_action", "mean"], -1, "seats[0].valid_action.mean must be a rate between 0 and 1, not -1"),
        ("summary.json", ["seats", 0, "self_buy", "ci"], [0.1, 1.5], "seats[0].self_buy.ci must be a list of two rates between 0 and 1"),
        ("summary.json", ["seats", 0, "valid_action", "mean"], "0.5", "seats[0].valid_action.mean must be a rate between 0 and 1, not a text"),
        ("summary.json", ["seats", 0, "valid_action"], [1], "seats[0].valid_action must be an object, not a list"),
        ("summary.json", ["seats", 0, "council"], KeyError, "seats[0].council must be a text, not missing"),
        ("summary.json", ["seats"], {"a": 1}, "seats must be a list, not an object"),
        ("summary.json", ["outcome", 0, "figures", "gambit_pnl", "effect", "mean"], float("inf"), "outcome[0].figures.gambit_pnl.effect.mean must be a number, not inf"),
        ("summary.json", ["outcome", 0, "figures", "gambit_pnl", "effect", "ci"], [1], "outcome[0].figures.gambit_pnl.effect.ci must be a list of two numbers"),
        ("summary.json", ["outcome", 0, "council"], KeyError, "outcome[0].council must be a text, not missing"),
        ("summary.json", ["decision", 0, "policy_identity"], [3], "decision[0].policy_identity must be a list of texts"),
        ("summary.json", ["recipe"], 5, "recipe must be a text, not an integer"),
        ("rank.json", ["board", 0, "strength"], "abc", "board[0].strength must be a number, not a text"),
        ("rank.json", ["board", 0, "rank_ci"], [1, None], "board[0].rank_ci must be a list of two numbers"),
        ("rank.json", ["level"], None, "level must be a number, not null"),
        ("rank.json", [], [1], "the file must be an object, not a list"),
        ("rank.json", ["board", 0, "ci"], [0.1, 0.4], "board[0] must give rank_ci where it gives ci"),
        ("rank.json", ["level"], 10**400, "level must be a number, not an integer of 401 digits"),
    ],
)  # fmt: skip
def test_a_hand_edited_council_file_is_named_and_nothing_is_written(lora, tmp_path, capsys, name, keys, value, said):  # noqa: F811
    council = council_folder(lora, tmp_path / "council")
    edited(council, name, keys, value)
    assert export(lora, council, tmp_path / "out") == 2
    writer = "glade eval" if name == "summary.json" else "glade rank"
    assert f"error: --council {council / name}: {said} ({writer} never writes that); " in one_error(capsys)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("metrics", "said"),
    [
        ({"valid_action_rate": 7}, "metrics.valid_action_rate must be a rate between 0 and 1, not 7"),
        ({"structured_self_buy_rate": -0.5}, "metrics.structured_self_buy_rate must be a rate between 0 and 1, not -0.5"),
        ({"direction_agreement": "0.7"}, "metrics.direction_agreement must be a rate between 0 and 1, not a text"),
        ({"eval_loss": "0.3"}, "metrics.eval_loss must be a number, not a text"),
        ({"valid_json_rate": float("nan")}, "metrics.valid_json_rate must be a rate between 0 and 1, not nan"),
        ({"eval_loss": -3}, "metrics.eval_loss must not be negative, not -3"),
        ([0.5], "metrics must be an object, not a list"),
    ],
)  # fmt: skip
def test_a_hand_edited_metric_in_meta_json_is_named_and_nothing_is_written(lora, tmp_path, capsys, metrics, said):  # noqa: F811
    import shutil

    ckpt = tmp_path / lora.name
    shutil.copytree(lora, ckpt)
    meta = json.loads((ckpt / "meta.json").read_text())
    (ckpt / "meta.json").write_text(json.dumps({**meta, "metrics": metrics}))
    argv = ["export", str(ckpt), "--repo-id", "alice/creature", "--out", str(tmp_path / "out"), "--base-model", BASE]
    assert main(argv) == 2
    assert f"error: {ckpt / 'meta.json'}: {said} (glade train never writes that); restore meta.json" in one_error(
        capsys
    )
    assert not (tmp_path / "out").exists()


def test_a_flag_without_its_kind_is_named(tmp_path):
    from glade.eval.flags import load_flags

    flag = {"kind": "decision", "council": "mixed", "policy": "creature_model", "metric": "honey: sell share"}
    flag |= {"effect": 0.5, "support": 0.9, "examples": []}
    path = tmp_path / "flags.json"
    path.write_text(json.dumps({"flags": [flag, {k: v for k, v in flag.items() if k != "kind"}]}))
    with pytest.raises(ValueError, match=r"flags\.json: flags\[1\]\.kind must be a text, not missing; move it aside"):
        load_flags(path)
    path.write_text(json.dumps({"flags": [flag, {**flag, "ci_low": 0.1}]}))
    with pytest.raises(
        ValueError, match=r"flags\[1\] must give both ends of its interval \(ci_low, ci_high\) or neither"
    ):
        load_flags(path)
    path.write_text(json.dumps({"flags": [{**flag, "support": 10**400}]}))  # Python's json reads it; no float holds it
    with pytest.raises(ValueError, match=r"flags\[0\]\.support must be a number, not an integer of 401 digits"):
        load_flags(path)


def test_a_diverged_runs_nan_loss_exports_and_is_left_out_of_the_model_index(lora, tmp_path):  # noqa: F811
    """glade train writes the trainer's eval_loss as it is: NaN where training diverged. That is true, so
    the export goes on, but a NaN is no figure for the model-index."""
    import shutil

    from huggingface_hub import ModelCard

    ckpt = tmp_path / lora.name
    shutil.copytree(lora, ckpt)
    meta = json.loads((ckpt / "meta.json").read_text())
    (ckpt / "meta.json").write_text(
        json.dumps({**meta, "metrics": {"eval_loss": float("nan"), "valid_json_rate": 0.5}})
    )
    argv = ["export", str(ckpt), "--repo-id", "alice/creature", "--out", str(tmp_path / "out"), "--base-model", BASE]
    assert main(argv) == 0
    published = {
        r.metric_type: r.metric_value for r in ModelCard.load(tmp_path / "out" / "README.md").data.eval_results
    }
    assert published == {"valid_json_rate": 0.5}


@pytest.mark.parametrize(
    ("keys", "value"),
    [(["seats"], None), (["decision", 0, "policy_identity"], None), (["recipe"], None), (["outcome"], [])],
)
def test_what_glade_eval_may_leave_empty_exports(lora, tmp_path, keys, value):  # noqa: F811
    """A null list reads as none (as a missing key does), a null recipe name as the folder's; an
    identity left null seats nobody, so the export names that instead of a TypeError."""
    council = council_folder(lora, tmp_path / "council")
    edited(council, "summary.json", keys, value)
    expected = 2 if keys[-1] == "policy_identity" else 0
    assert export(lora, council, tmp_path / "out") == expected


def test_flags_flagged_at_other_thresholds_than_the_runs_are_not_published(lora, tmp_path, capsys):  # noqa: F811
    """glade eval may run again at other thresholds: a model card carried the old flags as the run's."""
    council = council_folder(lora, tmp_path / "council")
    method = {"fdr_q": 0.05, "flag_min_effect": 0.15, "flag_support": 0.6}  # the run's (summary.json): the defaults
    (council / "flags.json").write_text(json.dumps({"method": method, "families": [], "flags": [], "cells": []}))
    assert export(lora, council, tmp_path / "out") == 2
    assert (
        f"{council / 'flags.json'}: out of date (flagged at fdr_q 0.05, where the run's thresholds are now fdr_q 0.1); "
        f"rerun `glade flag {council}` first"
    ) in one_error(capsys)
    assert not (tmp_path / "out").exists()
    method["fdr_q"] = 0.1
    (council / "flags.json").write_text(json.dumps({"method": method, "families": [], "flags": [], "cells": []}))
    assert export(lora, council, tmp_path / "out") == 0
