"""The stand-in's version (env/standin.py STANDIN_VERSION): derived from its decisions, recorded in a run's
ledger, and a rerun under another stand-in than the one that played the folder's episodes is refused."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
from resume_setup import eval_recipe, files, generate_recipe, interrupt_second_batch

from glade import traces as gen
from glade.cli import main
from glade.config import load_recipe
from glade.env import standin

OLD = "standin-1+00000000"


def _tiny(tmp_path, verb: str):
    if verb == "generate":  # two batches of worlds, stand-ins only, two turns (an eval: to its legend)
        return generate_recipe(tmp_path, turns=2, seeds={"start": 0, "count": 2}, worlds=1), tmp_path / "traces"
    recipe = eval_recipe(tmp_path, turns=5, seeds={"start": 0, "count": 1}, worlds=1)
    return recipe, tmp_path / "results"


def _ledger(folder) -> dict:
    return json.loads((folder / "progress.json").read_text(encoding="utf-8"))


def _write_ledger(folder, ledger: dict) -> None:
    (folder / "progress.json").write_text(json.dumps(ledger, sort_keys=True), encoding="utf-8")


def test_the_version_is_a_hash_of_the_decisions_and_the_same_between_two_calls():
    assert re.fullmatch(r"standin-1\+[0-9a-f]{8}", standin.STANDIN_VERSION)
    assert standin._version() == standin._version() == standin.STANDIN_VERSION


def test_the_version_follows_each_shipped_disposition_and_the_code(monkeypatch):
    now = standin.STANDIN_VERSION
    for name, field, value in [
        ("balanced", "bid", 0.2),
        ("panic_seller", "dump_discount", 0.5),
        ("hoarder", "hoard_units", 9),
        ("speculator", "swing_units", 5),
    ]:
        monkeypatch.setitem(standin.DISPOSITIONS, name, replace(standin.DISPOSITIONS[name], **{field: value}))
        assert standin._version() != now, (name, field)
        monkeypatch.undo()
        assert standin._version() == now
    monkeypatch.setattr(standin, "PRICE_CAP", 20.0)  # the finding: a cap added without any version bump
    assert standin._version() != now
    monkeypatch.undo()
    monkeypatch.setattr(standin, "MAX_QTY", 400)  # an order past the parser's limit, cut
    assert standin._version() != now


@pytest.mark.parametrize("verb", ["generate", "eval"])
def test_a_folder_of_another_stand_in_version_is_refused_and_kept(tmp_path, capsys, verb):
    path, out = _tiny(tmp_path, verb)
    assert main([verb, str(path)]) == 0
    ledger = _ledger(out)
    assert ledger["standin_version"] == standin.STANDIN_VERSION
    _write_ledger(out, {**ledger, "standin_version": OLD})
    before = files(out)
    capsys.readouterr()
    assert main([verb, str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and err.count("\n") == 1, err
    assert f"its finished episodes were played by stand-ins of version {OLD}" in err
    assert f"this glade's are {standin.STANDIN_VERSION}; move the folder aside (or set another out)" in err
    assert main([verb, str(path), "--dry-run"]) == 2  # the dry run asks the same
    assert OLD in capsys.readouterr().err
    assert files(out) == before


@pytest.mark.parametrize("verb", ["generate", "eval"])
def test_a_folder_of_todays_version_or_of_none_resumes(tmp_path, capsys, verb):
    path, out = _tiny(tmp_path, verb)
    assert main([verb, str(path)]) == 0
    assert main([verb, str(path)]) == 0  # today's version: resumed, nothing left to play
    ledger = _ledger(out)
    assert ledger["standin_version"] == standin.STANDIN_VERSION
    del ledger["standin_version"]  # an older glade's ledger: it cannot tell, so it is not refused
    _write_ledger(out, ledger)
    assert main([verb, str(path)]) == 0
    assert _ledger(out)["standin_version"] == standin.STANDIN_VERSION
    assert _ledger(out)["episodes"] == ledger["episodes"]


def test_a_run_interrupted_under_another_stand_in_is_not_finished_under_todays(tmp_path, monkeypatch, capsys):
    # the audit's case: generate cut short under an older stand-in, rerun under a newer one, left mixed rows
    path, out = _tiny(tmp_path, "generate")
    now = standin.STANDIN_VERSION
    monkeypatch.setattr(standin, "STANDIN_VERSION", OLD)
    restore = interrupt_second_batch(monkeypatch, gen)
    with pytest.raises(KeyboardInterrupt):
        gen.generate(load_recipe(gen.GenerateRecipe, path))
    restore()
    assert _ledger(out)["standin_version"] == OLD and _ledger(out)["episodes"]
    monkeypatch.setattr(standin, "STANDIN_VERSION", now)
    before = files(out)
    capsys.readouterr()
    assert main(["generate", str(path)]) == 2
    assert f"played by stand-ins of version {OLD}, this glade's are {now}" in capsys.readouterr().err
    assert files(out) == before
