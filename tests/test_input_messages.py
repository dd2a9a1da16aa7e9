"""Bad-input messages that named the wrong thing or too little (review revC): each names the key,
flag or file as the user wrote it, and what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_checkpoint import whole

from glade.cli import main
from glade.config import ConfigError

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


# --------------------------------------------------------------------------- lora.target_modules


class Modules:
    """A model as check_model reads it: its module names."""

    def named_modules(self):
        names = ("", "model", "model.layers", "model.layers.0", "model.layers.0.self_attn")
        leaves = ("model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj", "lm_head")
        return [(n, None) for n in (*names, *leaves)]


def lora_recipe(tmp_path, targets):
    from glade.train.data import DataConfig
    from glade.train.recipe import ModelSpec, TrainRecipe

    return TrainRecipe(
        name="x",
        model=ModelSpec(base="tiny"),
        data=DataConfig(traces=()),
        output_root=str(tmp_path / "ck"),
        lora={"target_modules": targets},
    )


def test_a_string_target_modules_that_matches_no_whole_module_name_is_named(tmp_path):
    # guards check_targets' string branch: PEFT full-matches a string against whole module names, so
    # `q_proj` as a string matches nothing, and PEFT's own message names neither key nor file
    from glade.train.inputs import check_model

    with pytest.raises(ConfigError) as caught:
        check_model(lora_recipe(tmp_path, "q_proj"), str(tmp_path), "t.yaml", lambda: (None, Modules()))
    assert str(caught.value) == (
        "t.yaml: lora.target_modules: 'q_proj' as a string is a regex matched against whole module names (such "
        "as model.layers.0.self_attn.q_proj) and matches none; give a list ([q_proj]) or all-linear; its "
        "modules: layers, lm_head, model, q_proj, self_attn, v_proj"
    )
    with pytest.raises(ConfigError, match=r"'nope' as a string is a regex .* give a list \(\[q_proj, v_proj\]\)"):
        check_model(lora_recipe(tmp_path, "nope"), str(tmp_path), None, lambda: (None, Modules()))
    with pytest.raises(ConfigError, match=r"lora.target_modules: '\(' as a string is a regex, and it does not compile"):
        check_model(lora_recipe(tmp_path, "("), str(tmp_path), None, lambda: (None, Modules()))
    for good in ("all-linear", "ALL-LINEAR", r".*\.(q|v)_proj", "lm_head"):
        assert check_model(lora_recipe(tmp_path, good), str(tmp_path), None, lambda: ("tok", Modules()))[0] == "tok"


def test_the_string_target_modules_check_agrees_with_peft(tmp_path, tiny):
    # guards that check_targets matches a string as PEFT does (re.fullmatch, "all-linear"): what it
    # refuses PEFT refuses, what it takes PEFT takes
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from glade.train.inputs import check_targets

    model = AutoModelForCausalLM.from_pretrained(tiny)
    names = [name for name, _ in model.named_modules()]
    with pytest.raises(ConfigError, match=r"'q_proj' as a string is a regex"):
        check_targets("q_proj", names, None)
    with pytest.raises(ValueError, match="not found in the base model"):
        get_peft_model(AutoModelForCausalLM.from_pretrained(tiny), LoraConfig(r=2, target_modules="q_proj"))
    for good in ("all-linear", r".*\.q_proj"):
        check_targets(good, names, None)
        get_peft_model(AutoModelForCausalLM.from_pretrained(tiny), LoraConfig(r=2, target_modules=good))


# --------------------------------------------------------------------------- lora / sft ranges


@pytest.mark.parametrize(
    "override, message",
    [
        ("lora.lora_dropout=2.0", "lora.lora_dropout: out of range: 2.0; must be in [0, 1)"),
        ("lora.r=0", "lora.r: out of range: 0; must be at least 1"),
        ("sft.max_steps=-40", "sft.max_steps: out of range: -40; must be -1 (no limit) or at least 1"),
        ("sft.logging_steps=0", "sft.logging_steps: out of range: 0; must be above 0"),
    ],
)
def test_a_lora_or_sft_value_out_of_range_states_the_range(override, message):
    # guards check_fields' range message: it says which values are allowed, as every other range error does
    from glade.train.recipe import load_train_recipe

    with pytest.raises(ConfigError) as caught:
        load_train_recipe(RECIPES / "train" / "tiny-hoarder.yaml", [override])
    assert str(caught.value).endswith(message)


# --------------------------------------------------------------------------- merge --out


def lora_checkpoint(tmp_path) -> Path:
    adapter = tmp_path / "run"
    adapter.mkdir()
    whole(adapter)
    (adapter / "meta.json").write_text(json.dumps({"kind": "lora", "base_model": str(tmp_path / "gone")}))
    return adapter


def test_merge_names_the_out_that_was_given_when_it_exists(tmp_path, capsys):
    # guards merge's refusal of a given --out: it said "pass --out" although --out was passed
    adapter = lora_checkpoint(tmp_path)
    (tmp_path / "taken").mkdir()
    assert main(["merge", str(adapter), "--out", str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err
    assert f"--out {tmp_path / 'taken'}: already exists; choose another --out" in err and "pass --out" not in err
    assert main(["merge", str(adapter), "--out", str(adapter)]) == 2
    assert f"--out {adapter}: is the checkpoint itself; choose another --out" in capsys.readouterr().err


def test_merge_shows_its_out_as_dir_like_every_other_verb(capsys):
    # guards merge's `metavar="DIR"` (argparse's default showed OUT)
    with pytest.raises(SystemExit):
        main(["merge", "--help"])
    text = capsys.readouterr().out
    assert "[--out DIR]" in text and "--out OUT" not in text


# --------------------------------------------------------------------------- progress.json


@pytest.mark.parametrize("text", ["[]", "[1, 2]", '"x"', "null"])
def test_a_ledger_that_is_no_json_object_is_named_without_an_exception_class(tmp_path, text):
    # guards _ledger's `isinstance(data, dict)`: it said "(AttributeError)"
    from glade.resume import ShardLog

    log = ShardLog(tmp_path / "out", {"data": "data/part-{part:05d}.parquet"})
    log.root.mkdir()
    (log.root / "progress.json").write_text(text)
    with pytest.raises(ValueError) as caught:
        log.start({})
    assert str(caught.value) == (
        f"{log.root / 'progress.json'}: not a glade progress ledger (not a JSON object); move the folder aside "
        "to start afresh"
    )


def test_a_ledger_whose_episodes_are_malformed_is_named_without_an_exception_class(tmp_path):
    # guards _read's message: it said "(KeyError)" or "(ValueError)"
    from glade.resume import ShardLog

    log = ShardLog(tmp_path / "out", {"data": "data/part-{part:05d}.parquet"})
    log.root.mkdir()
    (log.root / "progress.json").write_text(json.dumps({"format": 2, "recipe": {}, "episodes": {"e": {}}}))
    with pytest.raises(ValueError, match=r"progress.json: not a glade progress ledger \(its episodes are not listed"):
        log.start({})


# --------------------------------------------------------------------------- eval policies


def test_an_eval_recipe_with_no_policies_says_so():
    # guards load_eval_recipe's `not recipe.policies`: it said "unknown policy 'panic_model' (policies: )"
    from glade.eval.recipe import load_eval_recipe

    with pytest.raises(ConfigError) as caught:
        load_eval_recipe(RECIPES / "eval" / "crash-gambit.yaml", ["policies={}"])
    assert str(caught.value).endswith(
        "policies: needs at least one policy (NAME: a seat spec or a disposition name) for the councils to seat"
    )


def test_a_tiny_model_size_on_a_base_that_is_not_tiny_is_refused():
    # model.tiny sizes the model `base: tiny` builds; on any other base they were read by nothing
    from glade.train.recipe import load_train_recipe

    with pytest.raises(ConfigError) as caught:
        load_train_recipe(RECIPES / "train" / "tiny-hoarder.yaml", ["model.tiny.layers=8"])
    assert str(caught.value).endswith(
        "model.tiny: is read only when model.base is tiny (it is 'shipped:tiny-base'); drop it"
    )
    load_train_recipe(RECIPES / "train" / "tiny-base.yaml", ["model.tiny.layers=8"])  # its base is tiny
