"""A LoRA checkpoint on `shipped:NAME` records the fingerprint of the base it trained on: this
install's shipped NAME is used only where it has those weights (the recorded folder, where it
still holds them, otherwise), and a shipped base of that name with other weights is refused,
by checkpoint.read and as a FAIL by validate, rather than used silently."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from test_moved_checkpoint import SHIPPED, adapter
from test_train_heldout_fixes import trained, workdir  # noqa: F401  (a two-step LoRA run on a local base)
from test_validate import EVAL

from glade import checkpoint
from glade.cli import main
from glade.seats import SeatSpecError
from glade.seats.spec import check_inputs


def fingerprinted(folder, base, fingerprint):
    ck = adapter(folder, base, SHIPPED)
    meta = json.loads((ck / "meta.json").read_text())
    (ck / "meta.json").write_text(json.dumps(meta | {"base_fingerprint": fingerprint}))
    return ck


def other_tiny_base(tmp_path):
    """A copy of the shipped tiny-base with one weight byte changed: another release's tiny-base."""
    other = shutil.copytree(checkpoint.shipped("tiny-base"), tmp_path / "other" / "models" / "tiny-base")
    data = bytearray((other / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (other / "model.safetensors").write_bytes(bytes(data))
    return other


def test_the_shipped_base_with_the_fingerprint_it_trained_on_is_used_when_the_recorded_folder_is_gone(tmp_path):
    here = checkpoint.shipped("tiny-base")
    ck = fingerprinted(tmp_path / "ck", str(tmp_path / "gone" / "tiny-base"), checkpoint.base_fingerprint(here))
    assert checkpoint.read(ck).base_model == str(here)


def test_a_shipped_base_with_other_weights_is_refused_when_the_recorded_folder_is_gone(tmp_path):
    here = checkpoint.shipped("tiny-base")
    gone = str(tmp_path / "gone" / "tiny-base")
    ck = fingerprinted(tmp_path / "ck", gone, checkpoint.base_fingerprint(other_tiny_base(tmp_path)))
    message = (
        f"{ck / 'meta.json'}: this glade's {SHIPPED} ({here}) has weights that differ from the ones the adapter was "
        f"trained on (base_fingerprint), and its recorded base_model {gone!r} is no model folder here; retrain the "
        f"adapter on this base, or seat it on a copy of its own base as {{kind: hf, model: BASE_FOLDER, adapter: {ck}}}"
    )
    with pytest.raises(ValueError) as info:
        checkpoint.read(ck)
    assert str(info.value) == message
    with pytest.raises(SeatSpecError) as seat:
        check_inputs({"kind": "checkpoint", "path": str(ck)})
    assert str(seat.value) == f"seat spec checkpoint path: {message}"
    recipe = tmp_path / "e.yaml"
    recipe.write_text(yaml.safe_dump({**EVAL, "policies": {"p": {"kind": "checkpoint", "path": str(ck)}}}))
    assert main(["validate", "--kind", "eval", str(recipe)]) == 2  # a FAIL


def test_a_recorded_folder_that_holds_the_trained_on_weights_is_used_when_the_shipped_one_differs(tmp_path):
    other = other_tiny_base(tmp_path)
    ck = fingerprinted(tmp_path / "ck", str(other), checkpoint.base_fingerprint(other))
    assert checkpoint.read(ck).base_model == str(other)
    # a recorded folder with the same weights as the shipped one (the fingerprint holds no tokenizer): the shipped one
    same = shutil.copytree(checkpoint.shipped("tiny-base"), tmp_path / "same")
    (same / "tokenizer_config.json").write_text("{}")
    ck = fingerprinted(tmp_path / "ck2", str(same), checkpoint.base_fingerprint(same))
    assert checkpoint.read(ck).base_model == str(checkpoint.shipped("tiny-base"))


def test_a_recorded_folder_with_other_weights_than_the_fingerprint_is_refused_too(tmp_path):
    other = other_tiny_base(tmp_path)
    ck = fingerprinted(tmp_path / "ck", str(other), "0" * 64)
    with pytest.raises(ValueError, match=r"base_model '.*other.*' holds other weights too; retrain the adapter"):
        checkpoint.read(ck)


def test_a_local_base_whose_weights_changed_since_training_is_refused_by_every_reader(tmp_path, capsys):
    # merge, export --merge and lm-eval loaded the adapter onto the new weights without a word
    base = shutil.copytree(checkpoint.shipped("tiny-base"), tmp_path / "my" / "base")
    ck = fingerprinted(tmp_path / "ck", str(base), checkpoint.base_fingerprint(base))
    meta = json.loads((ck / "meta.json").read_text())
    (ck / "meta.json").write_text(json.dumps(meta | {"base_model_given": str(base)}))  # a local base, not shipped:
    assert checkpoint.read(ck).base_model == str(base)
    data = bytearray((base / "model.safetensors").read_bytes())
    data[-1] ^= 1  # the same shapes, other weights: a base trained again in place
    (base / "model.safetensors").write_bytes(bytes(data))
    message = (
        f"{ck / 'meta.json'}: its base_model {base} now holds other weights than the ones the adapter was trained on "
        "(base_fingerprint), and the adapter would load onto them without a word (or fail on their sizes); put that "
        "base back there, or retrain the adapter on this one"
    )
    with pytest.raises(ValueError) as info:
        checkpoint.read(ck)
    assert str(info.value) == message
    assert main(["merge", str(ck), "--out", str(tmp_path / "merged")]) == 2
    assert " ".join(capsys.readouterr().err.split()) == f"error: {message}"
    assert not (tmp_path / "merged").exists()
    older = json.loads((ck / "meta.json").read_text())
    del older["base_fingerprint"]  # a meta.json from before the record: nothing to hold the folder to
    (ck / "meta.json").write_text(json.dumps(older))
    assert checkpoint.read(ck).base_model == str(base)


def test_the_fingerprint_covers_config_and_weights_and_is_cached_until_a_file_changes(tmp_path, monkeypatch):
    folder = shutil.copytree(checkpoint.shipped("tiny-base"), tmp_path / "base")
    first = checkpoint.base_fingerprint(folder)
    assert first == checkpoint.base_fingerprint(checkpoint.shipped("tiny-base"))
    (folder / "tokenizer_config.json").write_text("{}")  # not part of it
    assert checkpoint.base_fingerprint(folder) == first
    calls = []
    real = checkpoint.hashlib.file_digest
    monkeypatch.setattr(checkpoint.hashlib, "file_digest", lambda *a: calls.append(1) or real(*a))
    assert checkpoint.base_fingerprint(folder) == first and calls == []  # cached: nothing read again
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"glade_note": "another"}))
    assert checkpoint.base_fingerprint(folder) != first and calls  # changed: read again


def test_glade_train_records_the_fingerprint_of_the_local_base_it_trained_on(workdir, trained):  # noqa: F811
    _, ckpt = trained
    meta = json.loads((ckpt / "meta.json").read_text())
    assert meta["base_fingerprint"] == checkpoint.base_fingerprint(workdir / "base")
