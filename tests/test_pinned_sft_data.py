"""Tests written by the eighth mutation audit (see test_pinned_heldout_figures.py) of the SFT data
(glade.train.data: the split, the filters, the conversations, the fingerprint), the inputs check
(glade.train.inputs), the generate recipe (glade.traces) and the trace encoders
(glade.tracejson). The comment on each names what it guards."""

from __future__ import annotations

import json

import pytest
from test_checkpoint import whole
from test_pinned_heldout_figures import heldout, write_traces  # noqa: F401  (heldout: the module's traces)

from glade.traces import load_traces
from glade.train.data import DataConfig, fingerprint, is_held_out, prepare, split_episodes

# --------------------------------------------------------------------------- split


def test_the_split_of_episodes_is_pinned():
    # guards is_held_out's hash (sha256 of "seed:id", its first 8 bytes big-endian over 2**64, below
    # the share): a change would move episodes of existing recipes between training and held-out
    episodes = [f"e{i}" for i in range(8)]
    assert split_episodes(episodes, 0.25, 0) == {"e2"}
    assert split_episodes(episodes, 0.6, 1) == {"e2", "e6"}
    assert sum(is_held_out(f"default.c.s{i}", 0.1, 0) for i in range(400)) in range(20, 61)  # about a tenth


def test_split_edges_hold_none_one_or_all_but_the_first():
    # guards split_episodes: no episode at share 0, one (the least hash) when the share picks none
    # of two or more, none for a lone episode, and all but the first in order when it picks all
    episodes = [f"e{i}" for i in range(5)]
    assert split_episodes(episodes, 0.0, 0) == set()
    assert split_episodes(episodes, 1e-9, 0) == split_episodes(episodes, 1e-9, 3) == {"e2"}  # the largest: e1
    lone = next(e for e in "abcdefgh" if not is_held_out(e, 0.5, 0))
    assert split_episodes([lone], 0.5, 0) == set()
    assert split_episodes(episodes, 1.0, 0) == {"e1", "e2", "e3", "e4"}
    assert split_episodes(["b", "a"], 1.0, 0) == {"b"}


# --------------------------------------------------------------------------- prepare


@pytest.fixture(scope="module")
def crafted(heldout, tmp_path_factory):  # noqa: F811
    """The 30 heldout rows as two episodes (turns 0-2 and 3-5), wealth_change = row index, with a
    parse error (row 0), a self-buy (row 2), a seat fault (row 3), a copy of row 10 (its prompt and
    answer, at a turn of its own: a row repeated whole is refused) and a copy of row 11 with another
    answer: 32 rows."""
    rows = load_traces(heldout).to_list()
    for i, row in enumerate(rows):
        row["wealth_change"] = float(i)
        row["episode_id"] = "early" if row["turn"] < 3 else "late"
    rows[0]["error"] = "bad_json"
    rows[2]["self_buy"] = 1
    rows[3]["error"] = "server_refused"
    rows.append({**rows[10], "turn": 6})
    rows.append({**rows[11], "turn": 7, "action": '{"orders": [], "thought": "mine"}'})
    return write_traces(tmp_path_factory.mktemp("crafted"), rows), rows


def test_each_filter_drops_exactly_its_rows(crafted):
    # guards prepare's fault filter and count, valid_only, no_self_buy (drops the self-buy, not the
    # rest), the creatures and policies filters, and dedupe on (prompt, answer), not the prompt alone
    folder, rows = crafted
    _, _, counts = prepare(DataConfig(traces=(folder,), eval_share=0.0))
    assert counts == {
        "traces": 32, "faults_excluded": 1, "after_rules": 29, "after_dedupe": 28, "train": 28, "eval": 0,
        "eval_episodes": 0,
    }  # fmt: skip
    for valid_only, no_self_buy, kept in ((False, False, 31), (False, True, 30), (True, False, 30)):
        cfg = DataConfig(traces=(folder,), eval_share=0.0, valid_only=valid_only, no_self_buy=no_self_buy)
        assert prepare(cfg)[2]["after_rules"] == kept
    oona = prepare(DataConfig(traces=(folder,), eval_share=0.0, creatures=("oona",)))[0]
    assert set(oona["creature"]) == {"oona"} and len(oona) == 5  # six turns, less the fault at row 3
    balanced = prepare(DataConfig(traces=(folder,), eval_share=0.0, policies=("standin:balanced",)))[0]
    assert set(balanced["policy"]) == {"standin:balanced"} and set(balanced["creature"]) == {"moss", "thorn"}


def test_top_share_keeps_exactly_the_best_share_of_rows(crafted):
    # guards the cut: the int(n * share)-th best wealth change (1-based), kept with `>=`
    folder, _ = crafted
    cfg = DataConfig(traces=(folder,), eval_share=0.0, top_share=0.25, dedupe=False)
    best, _, counts = prepare(cfg)
    assert counts["after_rules"] == 29 and counts["after_outcome"] == 7  # int(29 * 0.25) = 7
    assert sorted(best["wealth_change"]) == [23.0, 24.0, 25.0, 26.0, 27.0, 28.0, 29.0]


def test_train_and_held_out_rows_are_whole_episodes_and_max_rows_caps_training(crafted):
    # guards the split filters (training keeps only the episodes not held out), max_rows, and each
    # conversation: the row's messages then its own action as the assistant turn
    folder, rows = crafted
    train, held, counts = prepare(DataConfig(traces=(folder,), eval_share=0.5))
    assert len(set(train["episode_id"])) == len(set(held["episode_id"])) == counts["eval_episodes"] == 1
    assert len(train) + len(held) == counts["after_dedupe"] == 28

    def conversation(source):
        return [*source["messages"], {"role": "assistant", "content": source["action"]}]

    for row in train:
        key = (row["episode_id"], row["turn"], row["creature"])
        assert row["messages"] in [conversation(r) for r in rows if (r["episode_id"], r["turn"], r["creature"]) == key]
    answers = [m[-1]["content"] for split in (train, held) for m in split["messages"]]
    assert answers.count('{"orders": [], "thought": "mine"}') == 1  # the copy's own answer, not its stand-in's
    capped = prepare(DataConfig(traces=(folder,), eval_share=0.5, max_rows=3))
    assert len(capped[0]) == 3 and capped[2]["train"] == 3 and len(capped[1]) == len(held)


def test_the_fingerprint_tells_the_split_point_and_the_answers_apart():
    # guards fingerprint's split separator and that the answers (the last message) are hashed
    from datasets import Dataset

    def conversations(*answers):
        return Dataset.from_dict({"messages": [[{"role": "assistant", "content": a}] for a in answers]})

    both = fingerprint(conversations("a", "b"), conversations())
    assert len(both) == 16 and both != fingerprint(conversations("a"), conversations("b"))
    assert fingerprint(conversations("a"), conversations("b")) != fingerprint(conversations("a"), conversations("c"))
    assert both == fingerprint(conversations("a", "b"), conversations())


# --------------------------------------------------------------------------- traces


def test_a_generate_recipe_limit_of_zero_is_refused_and_one_is_taken(tmp_path):
    # guards load_generate_recipe's `< 1` on max_decisions and max_tokens (0 would refuse every run)
    import yaml

    from glade.config import ConfigError
    from glade.traces import load_generate_recipe

    path = tmp_path / "gen.yaml"
    path.write_text(yaml.safe_dump({"out": str(tmp_path / "traces")}))
    for key in ("max_decisions", "max_tokens"):
        with pytest.raises(ConfigError, match=rf"{key}: must be at least 1 \(or left out: no limit\)"):
            load_generate_recipe(path, [f"{key}=0"])
        assert getattr(load_generate_recipe(path, [f"{key}=1"]), key) == 1


# --------------------------------------------------------------------------- inputs


def train_recipe(tmp_path, data: DataConfig, base="tiny", **changes):
    from glade.train.recipe import ModelSpec, TrainRecipe

    return TrainRecipe(name="x", model=ModelSpec(base=base), data=data, output_root=str(tmp_path / "ck"), **changes)


def test_held_out_traces_are_checked_against_the_filters_only_when_states_are_answered(
    heldout,  # noqa: F811
    tmp_path,
):
    # guards check_paths' `held_out = ... if recipe.eval.states else ()`: eval.states 0 answers no
    # held-out state, so held-out traces without the filtered policy are no fault then
    from glade.config import ConfigError
    from glade.train.inputs import check_paths
    from glade.train.recipe import EvalSpec

    rows = [{**r, "seed": 7, "policy": "standin:only"} for r in load_traces(heldout).to_list()]
    data = DataConfig(traces=(write_traces(tmp_path / "train", rows),), policies=("standin:only",))
    check_paths(train_recipe(tmp_path, data, eval=EvalSpec(states=0, traces=(heldout,))), None)
    with pytest.raises(ConfigError, match=r"data.policies: standin:only is in none of eval.traces"):
        check_paths(train_recipe(tmp_path, data, eval=EvalSpec(states=4, traces=(heldout,))), None)


def test_of_two_missing_inputs_the_first_is_named(tmp_path):
    # guards `missing(source, *pending[0])`: the traces come before the base model
    from glade.config import MissingInput
    from glade.train.inputs import check_paths

    data = DataConfig(traces=(str(tmp_path / "none"),))
    with pytest.raises(MissingInput, match=r"^data.traces\[0\]: '.*none' has no data/ folder"):
        check_paths(train_recipe(tmp_path, data, base=str(tmp_path / "model")), None)


def test_a_seed_clash_is_named_before_an_input_still_missing(heldout, tmp_path):  # noqa: F811
    # guards check_paths' order: malformed (held-out seeds shared with training) before missing (the base)
    from glade.config import ConfigError
    from glade.train.inputs import check_paths
    from glade.train.recipe import EvalSpec

    recipe = train_recipe(
        tmp_path, DataConfig(traces=(heldout,)), base=str(tmp_path / "model"), eval=EvalSpec(traces=(heldout,))
    )
    with pytest.raises(ConfigError, match=r"eval.traces: seed\(s\) 50 are also in data.traces"):
        check_paths(recipe, None)


class Modules:
    """A model as check_model reads it: its module names."""

    def named_modules(self):
        return [(n, None) for n in ("", "layers", "layers.0", "layers.0.q_proj", "layers.1", "layers.1.q_proj")]


def test_a_lora_target_must_name_a_whole_module(tmp_path):
    # guards check_model's match (the whole last name, after a dot) and the leaves it lists (no
    # layer numbers)
    from glade.config import ConfigError
    from glade.train.inputs import check_model

    for target in ("proj", "_proj"):
        recipe = train_recipe(tmp_path, DataConfig(traces=()), lora={"target_modules": [target]})
        with pytest.raises(ConfigError) as caught:
            check_model(recipe, str(tmp_path), None, lambda: (None, Modules()))
        assert str(caught.value).endswith(
            f"lora.target_modules: {target!r} is no module of the base model (its modules: layers, q_proj); "
            "did you mean q_proj?"
        )
    recipe = train_recipe(tmp_path, DataConfig(traces=()), lora={"target_modules": ["q_proj", "layers"]})
    assert check_model(recipe, str(tmp_path), None, lambda: ("tok", Modules()))[0] == "tok"


# --------------------------------------------------------------------------- tracejson


def test_an_encoder_call_that_failed_leaves_no_marks_on_the_next():
    # guards encoder's `markers.clear()`: a value that failed to encode, fixed, encodes (not "circular")
    from glade.tracejson import dumps

    box = [{"price": object()}]
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps(box)
    box[0]["price"] = 1.5
    assert dumps(box) == json.dumps(box) == '[{"price": 1.5}]'


def test_fills_json_writes_what_json_dumps_writes_for_any_fill():
    # guards fills_json's fast-path conditions: the keys in FILL_KEYS order, an int qty (not a
    # bool) and a float price (not numpy's, whose repr is not JSON)
    import numpy as np

    from glade.tracejson import fills_json

    plain = {"side": "buy", "good": "honey", "qty": 2, "price": 2.5, "with": "oona"}
    odd = (
        {**plain, "price": np.float64(2.5)},
        {**plain, "qty": True},
        dict(reversed(plain.items())),
        {**plain, "n": 1},
    )
    for fill in odd:
        assert fills_json([plain, fill]) == json.dumps([plain, fill])
        assert json.loads(fills_json([plain, fill]))[1] == json.loads(json.dumps(fill))


# --------------------------------------------------------------------------- merge


def test_merge_refuses_a_model_without_an_adapter_and_an_out_that_exists(tmp_path):
    # guards merge's `not found.is_adapter` (a full model and a merged one are each named) and the
    # refusal of an existing out, before any model loads
    from glade.train.merge import merge

    full = tmp_path / "full"
    full.mkdir()
    (full / "config.json").write_text("{}")
    with pytest.raises(ValueError, match=r"full: a full model, with no LoRA adapter to merge"):
        merge(full)
    (full / "meta.json").write_text(json.dumps({"kind": "merged"}))
    with pytest.raises(ValueError, match=r"full: a merged model already, with no LoRA adapter to merge"):
        merge(full)
    adapter = tmp_path / "run"
    adapter.mkdir()
    whole(adapter)
    (adapter / "meta.json").write_text(json.dumps({"kind": "lora", "base_model": str(tmp_path / "gone")}))
    (tmp_path / "run-merged").mkdir()
    with pytest.raises(ValueError, match=r"run-merged: already exists; pass --out or remove it"):
        merge(adapter)


def test_a_merged_model_names_no_base_and_keeps_no_leftover_of_a_killed_merge(tmp_path):
    # guards merge's meta (kind merged, base_model None) and the removal of an earlier partial folder
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from glade.train.merge import merge
    from glade.train.tiny import save_tiny

    save_tiny(tmp_path / "base")
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tmp_path / "base"), LoraConfig(r=2, target_modules=["q_proj"])
    )
    adapter = tmp_path / "run"
    model.save_pretrained(adapter)
    AutoTokenizer.from_pretrained(tmp_path / "base").save_pretrained(adapter)
    (adapter / "meta.json").write_text(json.dumps({"name": "x", "kind": "lora", "base_model": str(tmp_path / "base")}))
    (tmp_path / ".run-merged.partial").mkdir()
    (tmp_path / ".run-merged.partial" / "stale.safetensors").write_text("old")
    out = merge(adapter)
    assert out == tmp_path / "run-merged" and not (out / "stale.safetensors").exists()
    meta = json.loads((out / "meta.json").read_text())
    assert meta["kind"] == "merged" and meta["base_model"] is None and meta["merged_from"] == str(adapter.resolve())
    assert torch.is_tensor(AutoModelForCausalLM.from_pretrained(out).model.embed_tokens.weight)


def test_canonical_sends_an_order_of_odd_names_through_the_encoder_and_circles_are_refused():
    # guards canonical's fast path `type(good) is str`, the encoders' circular check, and that
    # encoder keeps ensure_ascii=False (the rollout's) and an indent (the pure-Python path) as given
    from glade.tracejson import canonical, dumps, encoder

    assert encoder(ensure_ascii=False)({"who": "çoïna"}) == '{"who": "çoïna"}'
    assert encoder(indent=2)({"a": [1]}) == json.dumps({"a": [1]}, indent=2)

    order = {"side": "buy", "good": 7, "qty": 1, "price": 1}
    assert canonical({"orders": [order]}) == '{"orders": [{"side": "buy", "good": 7, "qty": 1, "price": 1.0}]}'
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference detected"):
        dumps(loop)


def test_generate_announces_the_world_turns_and_ticks_each_lockstep_turn(tmp_path):
    # guards generate's on_total: the world-turns of every episode, heard once per lockstep turn of a batch
    from glade.config import Seeds
    from glade.traces import GenerateRecipe, generate

    totals, ticks = [], []
    recipe = GenerateRecipe(out=str(tmp_path / "t"), seeds=Seeds(count=3), turns=2, worlds=2)
    generate(recipe, progress=lambda *_: ticks.append(1), on_total=totals.append)
    assert totals == [6] and len(ticks) == 4  # batches of 2 and 1 episodes, two turns each: 6 world-turns in 4 ticks
