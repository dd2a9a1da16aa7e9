"""A checkpoint copied away from the checkout that trained it: a base given as `shipped:NAME`
sits on this install's shipped NAME, and a base that is gone is named by the checkpoint's
meta.json, as a mistake (FAIL), not an input still to be made. And a council file's relative
disposition paths are found next to the file, as a scenario file's are."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from test_validate import EVAL  # a small eval recipe that validates

from glade import checkpoint
from glade.cli import main
from glade.env.scenario import load_scenario
from glade.seats import SeatSpecError, anchored, load
from glade.seats.spec import check_inputs, checkpoint_model

SHIPPED = "shipped:tiny-base"


def adapter(folder: Path, base: str, given: str) -> Path:
    """A LoRA checkpoint folder as glade train writes one (weights of no tensors), trained on `base`."""
    folder.mkdir(parents=True)
    meta = {"name": "moved", "seed": 0, "kind": "lora", "base_model": base, "base_model_given": given}
    (folder / "meta.json").write_text(json.dumps(meta))
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4, "target_modules": ["q_proj"]}))
    header = b"{}"
    (folder / "adapter_model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
    (folder / "tokenizer_config.json").write_text("{}")
    return folder


def test_a_shipped_base_of_a_checkout_that_is_gone_is_this_installs(tmp_path):
    here = checkpoint.shipped("tiny-base")
    folder = adapter(tmp_path / "ck", str(tmp_path / "gone" / "models" / "tiny-base"), SHIPPED)
    assert checkpoint.read(folder).base_model == str(here)
    assert checkpoint_model(str(folder)) == {"model": str(here), "adapter": str(folder)}
    check_inputs({"kind": "checkpoint", "path": str(folder)})  # nothing missing


def test_a_shipped_base_is_this_installs_while_another_checkouts_identical_copy_is_there(tmp_path):
    # portable: the checkpoint does not follow the training checkout, which may be deleted later
    other = shutil.copytree(checkpoint.shipped("tiny-base"), tmp_path / "other" / "models" / "tiny-base")
    folder = adapter(tmp_path / "ck", str(other), SHIPPED)
    assert checkpoint.read(folder).base_model == str(checkpoint.shipped("tiny-base"))


def test_another_shipped_base_of_that_name_still_there_is_the_one_it_trained_on(tmp_path):
    other = shutil.copytree(checkpoint.shipped("tiny-base"), tmp_path / "other" / "models" / "tiny-base")
    weights = other / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # another tiny-base: this install's is not what the adapter was trained on
    weights.write_bytes(bytes(data))
    folder = adapter(tmp_path / "ck", str(other), SHIPPED)
    assert checkpoint.read(folder).base_model == str(other)


def test_a_recorded_folder_that_holds_no_model_is_not_what_it_trained_on(tmp_path):
    (tmp_path / "empty").mkdir()
    folder = adapter(tmp_path / "ck", str(tmp_path / "empty"), SHIPPED)
    assert checkpoint.read(folder).base_model == str(checkpoint.shipped("tiny-base"))
    unshipped = adapter(tmp_path / "ck2", str(tmp_path / "empty"), "latest:base")  # no shipped name to fall back on
    with pytest.raises(SeatSpecError, match=r"base_model '.*empty' \(given as 'latest:base'\) holds no model"):
        check_inputs({"kind": "checkpoint", "path": str(unshipped)})


def test_a_base_that_is_gone_names_the_meta_json_and_what_to_do(tmp_path):
    gone = str(tmp_path / "gone" / "base")
    folder = adapter(tmp_path / "ck", gone, "latest:base")
    message = (
        f"seat spec checkpoint path: {folder / 'meta.json'}: base_model '{gone}' (given as 'latest:base') is no folder "
        "here, so the adapter has no base to sit on; restore that folder, or seat it on a copy of its base as "
        f"{{kind: hf, model: BASE_FOLDER, adapter: {folder}}}"
    )
    with pytest.raises(SeatSpecError) as info:
        check_inputs({"kind": "checkpoint", "path": str(folder)})
    assert str(info.value) == message
    assert type(info.value) is SeatSpecError  # not MissingInput: nothing will make it


def test_a_shipped_base_this_glade_lacks_and_gone_says_so(tmp_path):
    folder = adapter(tmp_path / "ck", str(tmp_path / "gone" / "models" / "big-base"), "shipped:big-base")
    with pytest.raises(SeatSpecError, match=r"\(given as 'shipped:big-base', which this glade does not ship\)"):
        checkpoint_model(str(folder))


def test_validate_says_fail_for_a_gone_base_not_needs(tmp_path, capsys):
    folder = adapter(tmp_path / "ck", str(tmp_path / "gone" / "base"), "latest:base")
    recipe = tmp_path / "e.yaml"
    recipe.write_text(yaml.safe_dump({**EVAL, "policies": {"p": {"kind": "checkpoint", "path": str(folder)}}}))
    assert main(["validate", "--kind", "eval", str(recipe)]) == 2  # a FAIL, as NEEDS would be 1
    out = capsys.readouterr().out
    assert out.startswith(f"FAIL   {recipe}: policies.p: seat spec checkpoint path: {folder / 'meta.json'}: base_model")


def test_a_council_files_relative_dispositions_are_found_next_to_it(tmp_path):
    seats = {"oona": "only_here.yaml", "thorn": {"kind": "standin", "disposition": "d/x.yaml"}, "bramble": "hoarder"}
    seats["ash"] = str(tmp_path / "abs.yaml")
    assert anchored(seats, tmp_path / "sub") == {
        "oona": str(tmp_path / "sub" / "only_here.yaml"),
        "thorn": {"kind": "standin", "disposition": str(tmp_path / "sub" / "d" / "x.yaml")},
        "bramble": "hoarder",
        "ash": str(tmp_path / "abs.yaml"),
    }
    assert anchored({"oona": "x.yaml"}, Path("c.yaml").parent) == {"oona": "x.yaml"}  # a file in the current folder


def test_a_missing_disposition_file_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SeatSpecError) as info:
        load({"kind": "standin", "disposition": "sub/nowhere.yaml"})
    looked = tmp_path.resolve() / "sub" / "nowhere.yaml"
    assert str(info.value) == f"seat spec disposition: sub/nowhere.yaml: no such disposition file (looked for {looked})"


def test_simulate_reads_a_council_files_disposition_next_to_it(tmp_path, monkeypatch):
    from glade.cli.simulate import parse_council

    monkeypatch.chdir(tmp_path)
    sub = tmp_path / "t2" / "sub"
    sub.mkdir(parents=True)
    (sub / "only_here.yaml").write_text("name: only_here\nbudget: 0.2\n")
    (sub / "c.yaml").write_text("oona: only_here.yaml\n")
    assert parse_council("t2/sub/c.yaml", load_scenario("default"))["oona"].disposition.name == "only_here"
    (sub / "c.yaml").write_text("oona: gone.yaml\n")
    looked = tmp_path.resolve() / "t2" / "sub" / "gone.yaml"
    message = f"t2/sub/gone.yaml: no such disposition file (looked for {looked})"
    with pytest.raises(SeatSpecError) as info:
        parse_council("t2/sub/c.yaml", load_scenario("default"))
    assert str(info.value) == f"--council t2/sub/c.yaml: oona: seat spec disposition: {message}"


def test_a_council_files_home_path_is_the_users_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "mine.yaml").write_text(yaml.safe_dump({"name": "mine", "surplus": 8}))
    seats = anchored({"oona": "~/mine.yaml"}, tmp_path / "sub")
    assert seats == {"oona": "~/mine.yaml"}  # not taken from the council file's folder
    assert load(seats["oona"]).disposition.surplus == 8
