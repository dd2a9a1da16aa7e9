"""What stop 61 fixed in the model folders a user hands glade (an hf seat's model, a train base, a
checkpoint and its base): files transformers reads were checked only for config.json and
tokenizer.json. A tokenizer_config.json, generation_config.json or special_tokens_map.json that was
a JSON list died in transformers with an AttributeError or TypeError; a cut-short
generation_config.json was dropped without a word (its stop tokens with it) and exported as it was;
a cut-short chat template failed at the first answer, an empty one with a reshape error; an
adapter_config.json with `r: "four"` or `target_modules: 5` failed inside PEFT with a TypeError.
Each is now named, with what to do, before anything loads."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from test_damaged_checkpoint_files import FIX, lora  # noqa: F401 (a fixture)
from test_walk_hub import one_error

from glade.checkpoint import shipped
from glade.checkpoint_files import adapter_gap, loadable, settings_gap
from glade.cli import main
from glade.config import ConfigError
from glade.seats.base import SeatSpecError
from glade.seats.spec import check_inputs
from glade.train.inputs import _check_model_folder

COPY = "copy the whole folder save_pretrained wrote"
DAMAGE = {  # file, what is written there, what the check says of it
    "tokenizer_config_a_list": ("tokenizer_config.json", "[]", "tokenizer_config.json is a JSON list, not an object"),
    "tokenizer_json_a_list": ("tokenizer.json", "[]", "tokenizer.json is a JSON list, not an object"),
    "generation_config_a_list": (
        "generation_config.json",
        "[]",
        "generation_config.json is a JSON list, not an object",
    ),
    "generation_config_cut_short": (
        "generation_config.json",
        '{"bos_token_id": 0, "eos_tok',
        "generation_config.json is not readable JSON (Unterminated string starting at: line 1 column 21 (char 20))",
    ),
    "special_tokens_a_string": (
        "special_tokens_map.json",
        '"x"',
        "special_tokens_map.json is a JSON str, not an object",
    ),
    "template_empty": (
        "chat_template.jinja",
        "\n",
        "chat_template.jinja is empty, so no prompt of the Wood can be rendered for it",
    ),
    "template_cut_short": (
        "chat_template.jinja",
        "{%- for message in messages %}{{ message['content'",
        "chat_template.jinja is no template transformers can compile (unexpected end of template, expected ',', "
        "line 1)",
    ),
}


def damaged(source, tmp_path, how: str):
    folder = tmp_path / "m"
    shutil.copytree(source, folder)
    name, text, _ = DAMAGE[how]
    (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_a_damaged_settings_file_is_named_for_a_seat_and_a_train_base(tiny, tmp_path, how):
    folder = damaged(tiny, tmp_path, how)
    said = DAMAGE[how][2]
    assert settings_gap(folder) == said
    with pytest.raises(SeatSpecError) as exc:
        check_inputs({"kind": "hf", "model": str(folder)})
    assert str(exc.value) == f"seat spec hf model: '{folder}': {said}; {COPY}"
    with pytest.raises(ConfigError, match=re.escape(f"t.yaml: model.base: '{folder}': {said}: give a folder")):
        _check_model_folder(folder, str(folder), "t.yaml")


def test_templates_with_the_generation_tag_pass(tiny, tmp_path):
    # a base's chat template may mark the answer with {% generation %}, a tag plain jinja2 does not know
    # (glade's own no longer do: glade export and merge write them without it)
    folder = tmp_path / "tagged"
    shutil.copytree(tiny, folder)
    tagged = "{%- for m in messages %}{%- generation %}{{- m['content'] }}{%- endgeneration %}{%- endfor %}"
    (folder / "chat_template.jinja").write_text(tagged)
    for each in (folder, Path(tiny), shipped("tiny-base")):
        assert settings_gap(each) is None


@pytest.mark.parametrize("how", ["generation_config_cut_short", "template_cut_short", "special_tokens_a_string"])
@pytest.mark.parametrize("verb", ["merge", "export"])
def test_a_checkpoint_with_a_damaged_settings_file_is_named_before_anything_is_written(
    lora,  # noqa: F811 (the fixture)
    tmp_path,
    capsys,
    verb,
    how,
):
    # export copied a cut-short generation_config.json into the Hub folder and exited 0
    folder = tmp_path / lora.name
    shutil.copytree(lora, folder)
    name, text, said = DAMAGE[how]
    (folder / name).write_text(text)
    out = tmp_path / "out"
    argv = [verb, str(folder), "--out", str(out)]
    if verb == "export":
        argv += ["--repo-id", "alice/creature", "--base-model", "alice/tiny-base"]
    assert main(argv) == 2
    assert one_error(capsys) == f"error: {folder}: {said}; {FIX}"
    assert not out.exists()


@pytest.mark.parametrize("verb", ["merge", "lm-eval"])
def test_merge_and_lm_eval_name_a_damaged_settings_file_of_the_base_they_load(
    tiny,
    lora,  # noqa: F811
    tmp_path,
    capsys,
    verb,
):
    base = damaged(tiny, tmp_path, "generation_config_a_list")
    folder = tmp_path / lora.name
    shutil.copytree(lora, folder)
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "base_model": str(base)}))
    assert main([verb, str(folder)] + (["--out", str(tmp_path / "out")] if verb == "merge" else [])) == 2
    assert one_error(capsys) == (
        f"error: {folder}: its base model {base} (meta.json base_model): generation_config.json is a JSON list, not "
        "an object; copy the whole folder save_pretrained wrote there again"
    )
    assert not (tmp_path / "out").exists() and not (folder / "lm_eval").exists()


ADAPTER = {  # a key of adapter_config.json, its hand-edited value, what is said of it
    "r": ("four", "says r 'four', not a whole number of at least 1 (the LoRA rank)"),
    "target_modules": (5, "says target_modules 5, neither a module name nor a list of them"),
    "lora_alpha": ("8", "says lora_alpha '8', not a number"),
    "rank_pattern": ([1], "says rank_pattern [1], not a mapping of module names to ranks"),
}


@pytest.mark.parametrize("key", sorted(ADAPTER))
def test_an_adapter_config_with_a_value_peft_cannot_use_is_named_for_a_seat_and_a_checkpoint(
    tiny,
    lora,  # noqa: F811
    tmp_path,
    key,
):
    folder = tmp_path / lora.name
    shutil.copytree(lora, folder)
    config = json.loads((folder / "adapter_config.json").read_text())
    value, said = ADAPTER[key]
    (folder / "adapter_config.json").write_text(json.dumps({**config, key: value}))
    assert adapter_gap({**config, key: value}) == said
    with pytest.raises(SeatSpecError) as exc:
        check_inputs({"kind": "hf", "model": str(tiny), "adapter": str(folder)})
    assert str(exc.value) == f"seat spec hf adapter: '{folder}': adapter_config.json {said}"
    with pytest.raises(ValueError) as exc:
        loadable(folder)
    assert str(exc.value) == f"{folder}: adapter_config.json {said}; {FIX}"


def test_adapter_values_peft_writes_pass():
    assert adapter_gap({"r": 4, "target_modules": ["q_proj"], "lora_alpha": 8}) is None
    assert adapter_gap({"r": 4, "target_modules": "q_proj", "lora_alpha": 0.5, "rank_pattern": {}}) is None
    assert adapter_gap({"r": 4, "target_modules": None, "rank_pattern": None}) is None
    assert adapter_gap({"r": True}) == "says r True, not a whole number of at least 1 (the LoRA rank)"
    assert adapter_gap({"r": 0}) == "says r 0, not a whole number of at least 1 (the LoRA rank)"
    assert adapter_gap({"r": 4, "rank_pattern": {"q_proj": "8"}}) == (
        "says rank_pattern {'q_proj': '8'}, not a mapping of module names to ranks"
    )
    assert adapter_gap({"r": 4, "alpha_pattern": {"q_proj": None}}) == (
        "says alpha_pattern {'q_proj': None}, not a mapping of module names to numbers"
    )
    assert adapter_gap({"r": 4, "rank_pattern": {"q_proj": 8}, "alpha_pattern": {"q_proj": 16.0}}) is None
    assert adapter_gap({"r": 4, "target_modules": ["q", 1]}) == (
        "says target_modules ['q', 1], neither a module name nor a list of them"
    )
