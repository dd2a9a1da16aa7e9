"""Files glade wrote and then reads again, damaged since: a checkpoint's recipe.yaml, lm_eval/results.json
or a stray config.json read by `glade export`; a results folder's rank.json, calibration/*.json and
flags.json read by `glade report` and `export --council`; a finished run's summary.json read by a rerun of
`glade eval`. Each is one line naming the file and what to do, never a traceback, a bare codec or JSON
message that names no file, or a card that says something untrue (an emptied recipe made an adapter's
card say "TRL SFT of the full model")."""

from __future__ import annotations

import json
import shutil

import pytest
from test_export_hand_edits import council_folder
from test_walk_hub import BASE, lora, one_error  # noqa: F401  (lora: a fixture)

from glade.cli import main

NOT_UTF8 = b"\xfa\xfb\x00garbage\xff"  # not UTF-8 (what a disk error or a binary copied over leaves)


@pytest.fixture
def ckpt(lora, tmp_path):  # noqa: F811
    folder = tmp_path / lora.name
    shutil.copytree(lora, folder)
    return folder


def export(ckpt, out, *extra) -> int:
    return main(["export", str(ckpt), "--repo-id", "alice/creature", "--out", str(out), "--base-model", BASE, *extra])


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "empty"),
        ("{}", "empty"),
        ("model: 5", "model: a number, not a mapping"),
        ("data: [1]", "data: a list, not a mapping"),
        ("data: {traces: 5}", "data.traces: a number, not a list of texts"),
        ("data: {traces: [1]}", "data.traces: a list holding a number, not a list of texts"),
        ("data: {policies: [standin:hoarder, 2]}", "data.policies: a list holding a number, not a list of texts"),
        ("data: {creatures: oona}", "data.creatures: a text, not a list"),
        ("lora: {r: 4, target_modules: q_proj}", "lora.target_modules: a text, not a list of texts"),
        ("eval: [1]", "eval: a list, not a mapping"),
    ],
)
def test_a_damaged_recipe_of_a_checkpoint_is_named_and_nothing_is_written(ckpt, tmp_path, capsys, text, said):
    (ckpt / "recipe.yaml").write_text(text)
    assert export(ckpt, tmp_path / "out") == 2
    assert one_error(capsys) == (
        f"error: {ckpt / 'recipe.yaml'}: {said}; it is the recipe glade train wrote beside it: restore it from a copy"
    )
    assert not (tmp_path / "out").exists()


LM = "not the results glade lm-eval writes"
LM_FIX = "rerun glade lm-eval, or move it aside"
SCORES = {"glade_direction_mc": {"acc": 0.5}}


@pytest.mark.parametrize(
    ("written", "said"),
    [
        (b"", "not JSON: Expecting value: line 1 column 1 (char 0)"),
        (NOT_UTF8, "not JSON: 'utf-8' codec can't decode byte 0xfa in position 0: invalid start byte"),
        ([], "the file must be an object, not a list"),
        ({"results": {"wood": {"acc": 0.5}}}, "scores must be an object, not missing"),
        ({"scores": {"t": [1]}}, "scores.t must be an object, not a list"),
        ({"scores": SCORES, "n_samples": {"glade_direction_mc": 5}}, "n_samples.glade_direction_mc must be an object, not an integer"),
        ({"scores": SCORES, "stderr": {"glade_direction_mc": "x"}}, "stderr.glade_direction_mc must be an object, not a text"),
        ({"scores": SCORES, "intervals": {"glade_direction_mc": {"acc": 5}}}, "intervals.glade_direction_mc.acc must be an object, not an integer"),
        ({"scores": SCORES, "baselines": {"glade_direction_mc": {"best_constant": "hold"}}}, "baselines.glade_direction_mc.best_constant must be an object, not a text"),
        ({"scores": SCORES, "data": {"traces": "runs/traces"}}, "data.traces must be a list, not a text"),
    ],
)  # fmt: skip
def test_a_damaged_lm_eval_results_file_is_named_and_nothing_is_written(ckpt, tmp_path, capsys, written, said):
    (ckpt / "lm_eval").mkdir()
    path = ckpt / "lm_eval" / "results.json"
    path.write_bytes(written if isinstance(written, bytes) else json.dumps(written).encode())
    assert export(ckpt, tmp_path / "out") == 2
    assert one_error(capsys) == f"error: {path}: {LM} ({said}); {LM_FIX}"
    assert not (tmp_path / "out").exists()


def test_lm_eval_results_as_glade_writes_them_still_reach_the_card(ckpt, tmp_path):
    from glade.eval.lm_results import lm_eval_scores

    (ckpt / "lm_eval").mkdir()
    written = {
        "scores": SCORES,
        "stderr": {"glade_direction_mc": {"acc": 0.1}},
        "intervals": {"glade_direction_mc": {"acc": None}},
    }
    (ckpt / "lm_eval" / "results.json").write_text(json.dumps(written))
    assert [(r["task"], r["value"], r["stderr"]) for r in lm_eval_scores(ckpt)] == [("glade_direction_mc", 0.5, 0.1)]
    assert export(ckpt, tmp_path / "out") == 0
    assert "| glade_direction_mc | acc | 0.5000 | 0.1000 |" in (tmp_path / "out" / "README.md").read_text()


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ('{"a": "\x01"}', "is not readable JSON (Invalid control character at: line 1 column 8 (char 7))"),
        ("5", "is a JSON int, not an object"),
    ],
)
def test_a_damaged_stray_config_json_beside_an_adapter_is_named(ckpt, tmp_path, capsys, written, said):
    (ckpt / "config.json").write_text(written)
    assert export(ckpt, tmp_path / "out") == 2
    assert one_error(capsys) == (
        f"error: {ckpt}: config.json {said}; glade train writes no config.json beside an adapter (transformers "
        "reads one there): delete it"
    )
    assert not (tmp_path / "out").exists()
    (ckpt / "config.json").unlink()  # what the message says to do
    assert export(ckpt, tmp_path / "out") == 0


def test_export_council_names_a_flags_json_that_is_not_utf8_and_a_summary_that_is_none_of_glade_evals(
    ckpt, tmp_path, capsys
):
    council = council_folder(ckpt, tmp_path / "council")
    (council / "flags.json").write_bytes(NOT_UTF8)
    assert export(ckpt, tmp_path / "out", "--council", str(council)) == 2
    assert one_error(capsys).startswith(
        f"error: {council / 'flags.json'}: not readable JSON ('utf-8' codec can't decode byte 0xfa in position 0: "
        "invalid start byte); move it aside, then rerun `glade flag`"
    )
    (council / "flags.json").unlink()
    (council / "summary.json").write_text("{}")  # said as glade report and flag say it, not "no seat ran"
    assert export(ckpt, tmp_path / "out", "--council", str(council)) == 2
    said = one_error(capsys)
    assert said.startswith(
        f"error: --council {council / 'summary.json'}: not a summary glade eval wrote (it lacks recipe, worlds, decisions); "
    )
    assert "no seat" not in said and not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- a results folder

RECIPE = """\
name: damaged
out: {out}
policies:
  panic: {{kind: standin, disposition: panic_seller}}
councils:
  one: {{focal: {{"*": panic}}}}
scenarios: [gambit_rumour]
seeds: {{start: 0, count: 2}}
turns: 5
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("damaged_outputs")
    (root / "recipe.yaml").write_text(RECIPE.format(out=root / "results"))
    assert main(["eval", str(root / "recipe.yaml")]) == 0
    return root / "results"


@pytest.fixture
def copy(results, tmp_path):
    out = tmp_path / "results"
    shutil.copytree(results, out)
    return out


@pytest.mark.parametrize(
    ("name", "said"),
    [
        (
            "rank.json",
            "not a leaderboard glade rank wrote; move it aside (or remove it), then rerun `glade rank {folder}` to "
            "write it again",
        ),
        (
            "calibration/x.json",
            "not a calibration summary glade calibrate wrote; move it aside (or remove it), then rerun glade "
            "calibrate to write it again (it never replaces a file it did not write)",
        ),
    ],
)
def test_report_names_a_results_file_that_is_not_utf8(copy, capsys, name, said):
    (copy / name).parent.mkdir(exist_ok=True)
    (copy / name).write_bytes(NOT_UTF8)
    assert main(["report", str(copy)]) == 2
    assert one_error(capsys) == f"error: {copy / name}: {said.format(folder=copy)}"


def test_report_names_a_flags_json_that_is_not_utf8(copy, capsys):
    (copy / "flags.json").write_bytes(NOT_UTF8)
    assert main(["report", str(copy)]) == 0  # the report says so where the flags would be
    err = " ".join(capsys.readouterr().err.split())
    assert f"warning: {copy / 'flags.json'}: not readable JSON ('utf-8' codec can't decode byte 0xfa" in err
    assert f"{copy / 'flags.json'}: not readable JSON" in (copy / "report.md").read_text()


@pytest.mark.parametrize("written", ["[]", '"x"', "cost: [1]"])
def test_a_rerun_of_a_finished_eval_over_a_damaged_summary_writes_it_again(copy, tmp_path, written):
    if written == "cost: [1]":  # its own summary, its cost edited
        written = json.dumps({**json.loads((copy / "summary.json").read_text()), "cost": [1]})
    (copy / "summary.json").write_text(written)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE.format(out=copy))
    assert main(["eval", str(recipe)]) == 0  # nothing to play: what playing cost is not known
    summary = json.loads((copy / "summary.json").read_text())
    assert summary["recipe"] == "damaged" and summary["cost"] is None and summary["timing"] is None


def test_a_lora_checkpoint_whose_recipe_has_no_lora_section_is_still_called_an_adapter(ckpt, tmp_path):
    # meta.json's kind decides: the card said "TRL SFT of the full model" of an adapter whose recipe.yaml
    # (hand-edited, or an older glade's) had no lora section
    assert "lora" not in (ckpt / "recipe.yaml").read_text()
    assert export(ckpt, tmp_path / "out") == 0
    card = (tmp_path / "out" / "README.md").read_text()
    assert "TRL SFT with a PEFT LoRA adapter (adapter_config.json has its settings)" in card
    assert "of the full model" not in card


def test_doing_what_a_damaged_rank_json_message_says_gives_a_report_with_its_leaderboard(copy, capsys):
    # the message said "rerun `glade rank`", which refuses to replace a file it did not write
    (copy / "rank.json").write_bytes(NOT_UTF8)
    assert main(["rank", str(copy)]) == 2
    assert "glade never replaces a file it did not write" in one_error(capsys)
    (copy / "rank.json").rename(copy.parent / "rank.json.bad")  # moved aside, as the report's message says
    assert main(["rank", str(copy)]) == 0
    assert main(["report", str(copy)]) == 0
