"""Damaged files the verbs that read a checkpoint or a traces folder met without naming them: a
checkpoint without tokenizer.json (merged and exported with an empty tokenizer), a tokenizer.json
that is not JSON, a dataset card that is not UTF-8 text; and two options that did nothing silently
or harm: --merge on a full model, an export-traces --out inside its own dataset."""

import json
import re
import shutil

import pytest
from test_walk_hub import one_error

from glade.checkpoint_files import loadable
from glade.cli import main

BASE = "alice/tiny-base"
FIX = "copy the whole folder glade train (or glade merge) wrote again, or train the checkpoint again"


@pytest.fixture(scope="module")
def lora(tiny, adapters, tmp_path_factory):
    """A LoRA checkpoint as glade train writes one (meta.json, adapter, tokenizer) on the tiny base."""
    folder = tmp_path_factory.mktemp("ckpt") / "creature__0__20261204-120000"
    shutil.copytree(adapters["hoarder"], folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(f"{tiny}/{name}", folder / name)
    (folder / "meta.json").write_text(json.dumps({"name": "creature", "kind": "lora", "base_model": tiny}))
    return folder


def argv_for(verb: str, folder, out) -> list[str]:
    argv = [verb.split()[0], str(folder)]
    if verb.startswith("export"):
        return argv + ["--repo-id", "alice/creature", "--out", str(out), "--base-model", BASE, *verb.split()[1:]]
    return argv + (["--out", str(out)] if verb == "merge" else [])


DAMAGE = {
    # tokenizer_config.json alone: transformers 5 built a 3-token tokenizer, merged and exported without an error
    "no_tokenizer_json": "no tokenizer.json (nor vocab.json with merges.txt, or tokenizer.model), "
    "so the tokenizer would load with no vocabulary",
    "tokenizer_json_binary": "tokenizer.json is not readable JSON ('utf-8' codec can't decode byte 0xff",
    "tokenizer_json_a_list": "tokenizer.json is a JSON list, not an object",
    # export wrote a folder its card said held the chat template; lm-eval failed in transformers' words
    "no_chat_template": "no chat template (chat_template.jinja, or chat_template in tokenizer_config.json), so no "
    "prompt of the Wood can be rendered for it",
}


def damaged(lora, tmp_path, how: str):
    folder = tmp_path / lora.name
    shutil.copytree(lora, folder)
    tokenizer = folder / "tokenizer.json"
    if how == "no_tokenizer_json":
        tokenizer.unlink()
    elif how == "tokenizer_json_binary":
        tokenizer.write_bytes(b"\xff\xfe\x00binary junk")
    elif how == "tokenizer_json_a_list":
        tokenizer.write_text("[1]")
    elif how == "no_chat_template":
        (folder / "chat_template.jinja").unlink()
    return folder


@pytest.mark.parametrize("how", sorted(DAMAGE))
@pytest.mark.parametrize("verb", ["merge", "export", "export --merge", "lm-eval"])
def test_a_damaged_or_missing_tokenizer_json_is_named_before_anything_is_written(lora, tmp_path, capsys, verb, how):
    folder = damaged(lora, tmp_path, how)
    out = tmp_path / "out"
    assert main(argv_for(verb, folder, out)) == 2
    err = one_error(capsys)
    assert f"{folder}: {DAMAGE[how]}" in err and FIX in err
    assert not out.exists() and not (folder / "lm_eval").exists()


def test_vocab_json_with_merges_txt_is_a_tokenizer_without_tokenizer_json(lora, tmp_path):
    # what transformers 5 builds a BPE tokenizer from when tokenizer.json is absent: not refused
    folder = damaged(lora, tmp_path, "no_tokenizer_json")
    model = json.loads((lora / "tokenizer.json").read_text())["model"]
    (folder / "vocab.json").write_text(json.dumps(model["vocab"]))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in model["merges"]) + "\n")
    assert loadable(folder).kind == "lora"
    (folder / "merges.txt").unlink()  # vocab.json alone: a BPE tokenizer with no merges
    with pytest.raises(ValueError, match="no tokenizer.json"):
        loadable(folder)


def test_export_merge_of_a_full_model_warns_that_it_merged_nothing(tmp_path, capsys):
    # was exit 0 in silence, while glade merge refuses the same model
    out = tmp_path / "out"
    argv = ["export", "shipped:tiny-base", "--repo-id", "alice/base", "--out", str(out)]
    assert main([*argv, "--merge"]) == 0
    err = capsys.readouterr().err
    assert (
        "warning: --merge has nothing to merge: shipped:tiny-base is a full model, not a LoRA adapter; "
        "exported as it is" in " ".join(err.split())
    )
    assert json.loads((out / "meta.json").read_text())["kind"] == "full"
    assert main(argv) == 0
    assert "--merge" not in capsys.readouterr().err


# --------------------------------------------------------------------------- export-traces


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    from glade.traces import GenerateRecipe, generate

    out = tmp_path_factory.mktemp("traces") / "traces"
    generate(GenerateRecipe(out=str(out), scenarios=("default",), councils={"h": {"*": "hoarder"}}, turns=2, worlds=1))
    return out


CARD = "it is the dataset card glade generate writes: restore it from a copy, or delete it and rerun"


@pytest.mark.parametrize(
    "card, problem",
    [
        (b"---\nlicense: apache-2.0\n---\n# caf\xe9\n", "not readable as UTF-8 text ('utf-8' codec can't decode"),
        (b"---\nlicense: [apache\n---\n# x\n", "its front matter (between the --- lines) is not valid YAML"),
        (b"---\n- a\n---\n# x\n", "its front matter (between the --- lines) is not a YAML mapping"),
    ],
)
def test_export_traces_names_a_dataset_card_it_cannot_read(traces, tmp_path, capsys, card, problem):
    # was the bare 'utf-8' codec error, no file named (and a yaml traceback for bad front matter)
    folder = tmp_path / "traces"
    shutil.copytree(traces, folder)
    (folder / "README.md").write_bytes(card)
    out = tmp_path / "out"
    assert main(["export-traces", str(folder), "--repo-id", "alice/traces", "--out", str(out)]) == 2
    err = one_error(capsys)
    assert f"{folder / 'README.md'}: {problem}" in err and CARD in err
    assert not out.exists() and not list(tmp_path.glob(".*partial"))


@pytest.mark.parametrize("where, says", [("inside", "is inside"), ("same", "is"), ("around", "holds")])
def test_export_traces_refuses_an_out_inside_or_around_its_dataset(traces, tmp_path, capsys, where, says):
    # inside: the export nested in its own source; around: replacing --out would delete the source
    folder = tmp_path / "runs" / "traces"
    shutil.copytree(traces, folder)
    out = {"inside": folder / "exp", "same": folder, "around": tmp_path / "runs"}[where]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert main(["export-traces", str(folder), "--repo-id", "alice/traces", "--out", str(out)]) == 2
    err = one_error(capsys)
    assert f"error: --out {out}: {says} the dataset it exports ({folder}); choose an --out outside it" == err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_a_model_folder_without_its_vocabulary_is_named_as_a_seat_and_as_a_train_base(tiny, tmp_path):
    # guards tokenizer_gap's use by the hf seat spec and train's model.base, not only by loadable
    from glade.config import ConfigError
    from glade.seats.base import SeatSpecError
    from glade.seats.spec import model_inputs
    from glade.train.inputs import _check_model_folder

    folder = tmp_path / "base"
    shutil.copytree(tiny, folder)
    (folder / "tokenizer.json").unlink()
    gap = "has no tokenizer.json (nor vocab.json with merges.txt, or tokenizer.model), so the tokenizer would load"
    with pytest.raises(SeatSpecError, match=re.escape(f"seat spec hf model: '{folder}' {gap}")):
        model_inputs(str(folder))
    with pytest.raises(ConfigError, match=re.escape(f"model.base: '{folder}' {gap}")):
        _check_model_folder(folder, str(folder), "t.yaml")
