"""The pretrained tiny base glade ships (models/tiny-base): how it was made, what it
weighs, and that it trades: valid actions and no self-buys on held-out states."""

import json

import pytest

from glade import checkpoint
from glade.env.protocol import PROTOCOL_VERSION
from glade.env.scenario import RECIPES

BASE = checkpoint.shipped("tiny-base")


def test_one_folder_of_safetensors_under_25_mb_that_says_how_it_was_made():
    weights = list(BASE.glob("*.safetensors"))
    assert [w.name for w in weights] == ["model.safetensors"]
    assert weights[0].stat().st_size <= 25 * 2**20
    assert all(p.stat().st_size <= 2_000_000 for p in BASE.iterdir() if p.suffix != ".safetensors")
    meta = json.loads((BASE / "meta.json").read_text())
    assert meta["name"] == "tiny-base" and meta["kind"] == "full" and meta["wall_seconds"] > 0
    shipped_recipe = (RECIPES / "train" / "tiny-base.yaml").read_text()
    assert all(f"{k}: {v}" in shipped_recipe for k, v in (("max_steps", meta["metrics"]["train_steps"]),))
    card = (BASE / "README.md").read_text()
    assert "glade train recipes/train/tiny-base.yaml" in card and meta["data_fingerprint"] in card
    assert meta["heldout"]["seeds"] and set(meta["targets"]) >= {"valid_action_rate", "self_buy_rate"}


def test_trained_on_the_prompt_this_glade_renders():
    meta = json.loads((BASE / "meta.json").read_text())
    assert meta["protocol_version"] == PROTOCOL_VERSION, (
        "the prompt changed since models/tiny-base was trained: rebuild it with `glade quickstart --train-base` "
        "and copy the new checkpoint's files into models/tiny-base (README: Training)"
    )


def test_a_shipped_name_that_is_not_there_is_a_clear_error():
    with pytest.raises(ValueError, match=r"shipped:nope: glade ships no such model \(shipped: tiny-base\)"):
        checkpoint.resolve("shipped:nope")


@pytest.mark.slow
def test_meets_the_valid_action_and_self_buy_targets_on_32_heldout_states(tmp_path):
    from glade.config import load_recipe
    from glade.traces import GenerateRecipe, generate
    from glade.train.evaluate import evaluate_checkpoint
    from glade.train.recipe import EvalSpec, load_train_recipe

    heldout = tmp_path / "heldout"  # the shipped held-out recipe: seeds no training run used
    generate(load_recipe(GenerateRecipe, RECIPES / "generate" / "heldout.yaml", [f"out={heldout}"]))
    data = load_train_recipe(RECIPES / "train" / "tiny-base.yaml").data
    spec = EvalSpec(traces=(str(heldout),), states=32, probe_states=0, max_new_tokens=160)
    metrics = evaluate_checkpoint(BASE, None, spec, data)
    assert metrics["heldout_states"] == 32
    assert metrics["valid_action_rate"] >= 0.95, metrics
    assert metrics["self_buy_rate"] <= 0.01, metrics
