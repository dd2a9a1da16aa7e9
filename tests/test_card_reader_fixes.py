"""The model card read as a stranger reads it: a snippet that runs, the card's own terms, its
limitations and size, the base it needs, and lm-eval figures said in words (glade.hub)."""

import json
import math
import re
import shutil
import struct
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from glade.hub.card_sections import lm_eval_section
from glade.hub.card_usage import SNIPPET_TOKENS, limitations_section, model_size, safetensors_count, usage_section
from glade.hub.model_card import heldout_words, render_card, reproduce_lines, what_it_is
from glade.hub.model_index import eval_results

pytestmark = pytest.mark.usefixtures("one_thread")

META = {
    "name": "creature",
    "seed": 0,
    "kind": "lora",
    "protocol_version": "wood-chat-2+abc",
    "base_fingerprint": "f" * 64,
    "data_counts": {"train": 1079, "eval": 263},
    "metrics": {"train_steps": 6, "heldout_states": 16, "valid_action_rate": 0.75},
    "targets": {"valid_action_rate": {"target": ">= 0.95", "measured": 0.75, "met": False}},
    "wall_seconds": 32.9,
    "train_seconds": 6.6,
}
RECIPE = {"name": "creature", "model": {"base": "me/base", "tiny": {"layers": 4}}, "eval": {"max_new_tokens": 24}}


def card(**extra) -> str:
    given = dict(meta=META, recipe=RECIPE, lm_scores=[], repo_id="me/creature", exported_kind="lora")
    given.update(base="me/base", council=None)
    return render_card(**(given | extra))


def test_the_how_to_use_snippet_answers_one_traces_prompt(tiny, adapters, tmp_path):
    from glade.env.protocol import _canonical_observations, render

    adapter = tmp_path / "adapter"
    shutil.copytree(adapters["hoarder"], adapter)
    for path in Path(tiny).glob("tokenizer*"):  # an export holds the tokenizer beside the adapter
        shutil.copy(path, adapter / path.name)
    for path in Path(tiny).glob("chat_template*"):
        shutil.copy(path, adapter / path.name)
    traces = tmp_path / "traces"
    traces.mkdir()
    pq.write_table(pa.table({"messages": [render(_canonical_observations()[0])]}), traces / "rows.parquet")
    text = card(dataset="me/traces")
    snippet = re.search(r"## How to use\n\n```python\n(.*?)```", text, re.S).group(1)
    assert "return_dict=True" in snippet and "max_new_tokens=24" in snippet  # the recipe's own budget
    for hub, local in (("me/base", tiny), ("me/creature", adapter), ("me/traces", traces)):
        snippet = snippet.replace(json.dumps(hub), json.dumps(str(local)))
    scope = {}
    exec(compile(snippet.replace("print(answer)", ""), "card", "exec"), scope)
    assert isinstance(scope["answer"], str)
    assert '{"orders": [{"side": "buy" | "sell", "good": GOOD' in text and "`wood-chat-2+abc`" in text


def test_the_card_defines_its_terms_and_says_what_it_is_not():
    text = card()
    for term in ("stand-in", "disposition", "seat", "council", "valid action", "self-buy", "cut_off_rate"):
        assert f"- **{term}" in text
    for term in ("best constant answer", "hold baseline", "`structured_*`", "standin_agreement", "direction_agreement"):
        assert f"- **{term}" in text
    assert "## Limitations" in text and "It plays glade's simulated Wood market only" in text
    assert "- Training: 6 steps on 1,079 rows." in text
    assert "- Targets not met: `valid_action_rate` (the Targets table)." in text
    assert "Not evaluated in a council (a multi-creature market run)." in text and "--council RESULTS" not in text


def test_size_is_counted_from_the_weights_base_and_adapter(tiny, adapters):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    size = model_size(adapters["hoarder"], {"base_model": tiny, "base_model_given": tiny})
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny), adapters["hoarder"])
    lora = sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)
    assert size["adapter"] == lora and size["base"] + lora == sum(p.numel() for p in model.parameters())
    text = card(size=size)
    assert f"- Size: {size['base'] + lora:,} parameters: the base's {size['base']:,} (Qwen2ForCausalLM" in text


def test_training_words_fingerprint_timing_and_the_unused_tiny_block():
    text = card(base_origin="named by --base-model; the adapter was trained on `x/y`", base_unverified=True)
    assert f"| base fingerprint | `{'f' * 64}` (the adapter needs exactly these base weights) |" in text
    assert "Unverified base: nothing offline showed that `me/base` on the Hub holds the base weights" in text
    assert "tiny:" not in text and "The resolved recipe (less `model.tiny`" in text
    (line, _) = reproduce_lines(META, RECIPE, None)
    assert line.endswith("The run that made this one took 33 s, 7 s of it in the trainer, 6 steps.")
    assert "It was trained from scratch by imitation" in what_it_is({"model": {"base": "tiny"}})
    assert "It was fine-tuned by imitation" in what_it_is(RECIPE)


def test_states_left_out_say_why_and_how_many_were_sampled():
    meta = {"metrics": {"heldout_states": 16}, "heldout": {"trained_on": {"rows": 27, "of": 1332}}}
    assert heldout_words(meta) == (
        "; 27 of its 1332 states were left out before the 16 held-out states were sampled, because the same prompt occurs in a "
        "training split"
    )


def test_targets_set_after_training_are_told_apart_from_the_recipe_s():
    meta = {**META, "targets": {**META["targets"], "structured_valid_action_rate": {"target": ">= 0.99"}}}
    meta["targets"]["structured_valid_action_rate"].update(measured=1.0, met=True)
    text = card(meta=meta | {"structured_measured": "after training"}, recipe=RECIPE | {"eval": {"targets": {}}})
    assert "`valid_action_rate`, `structured_valid_action_rate`: not in this repository's `recipe.yaml`" in text


ROWS = [
    {"task": "glade_decision_gen", "metric": "self_buy", "value": 0.0833, "stderr": 0.08, "n": 12},
    {"task": "glade_direction_mc", "metric": "acc", "value": 0.1667, "stderr": 0.11, "n": 12},
]
for row, n in zip(ROWS, (3, 2), strict=True):
    row["interval"] = {"mean": 0.1, "ci": None, "n": n, "note": "too few episodes for an interval: 0, 0.2"}
RECORD = {
    "data": {"held_out": "the checkpoint's held-out split (data/eval.parquet)", "held_out_episodes": 3},
    "baselines": {
        "glade_decision_gen": {"empty_answer": {"self_buy": 0.0}},
        "glade_direction_mc": {"chance": 1 / 3, "best_constant": {"answer": "hold", "acc": 0.5}},
    },
    "n_samples": {"glade_decision_gen": {"original": 263, "effective": 12}},
    "limit": 12,
}


def test_lm_eval_says_its_limit_its_intervals_and_a_worse_self_buy_in_words():
    text = "\n".join(lm_eval_section(ROWS, RECORD))
    assert "turns of one episode are not independent draws" in text
    assert "Scored (run with `--limit 12`, the same seeded sample on every run): glade_decision_gen: 12 of 263" in text
    assert "| 0.1000, too few episodes for an interval | 3 |" in text
    assert "glade_decision_gen self_buy 0.0833 > an empty answer 0.0000 (lower is better)" in text
    assert "On glade_direction_mc read `acc`" in text


HELD_OUT = (
    "the episodes glade train set aside from these traces (not trained on), of the rows its recipe's filters kept"
)


def test_the_model_index_counts_each_task_s_scored_episodes_and_names_the_hub_dataset():
    found = {r.task_name: r for r in eval_results({"metrics": {"eval_loss": 0.4}}, ROWS, None, RECORD, "me/traces")}
    assert found["glade_decision_gen"].dataset_args == {"held_out": HELD_OUT, "episodes": 3, "limit": 12}
    assert found["glade_direction_mc"].dataset_args == {"held_out": HELD_OUT, "episodes": 2, "limit": 12}
    assert found["glade_direction_mc"].dataset_type == "me/traces"
    # the config and split glade export-traces writes (tests/test_stop63_export_hub_meta.py loads them)
    assert (found["glade_direction_mc"].dataset_config, found["glade_direction_mc"].dataset_split) == (
        "default",
        "train",
    )
    assert found["creature decisions (the trainer's loss)"].dataset_type == "me/traces"


def write_safetensors(path: Path, shapes: dict[str, list[int]]) -> int:
    """A safetensors file of zero float32 tensors of these shapes; its parameter count."""
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = 4 * math.prod(shape)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(offset))
    return offset // 4


def adapter_folder(root: Path) -> Path:
    folder = root / "adapter"
    folder.mkdir()
    write_safetensors(folder / "adapter_model.safetensors", {"lora_A": [2, 8]})
    return folder


def test_an_adapter_with_no_recorded_base_counts_nothing_of_the_current_folder(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    write_safetensors(tmp_path / "model.safetensors", {"w": [4, 4]})
    monkeypatch.chdir(tmp_path)  # Path("") is this folder
    assert model_size(adapter_folder(tmp_path), {}) is None


def test_the_shipped_base_is_counted_only_where_its_weights_are_the_ones_the_adapter_trained_on(tmp_path):
    from glade.checkpoint import base_fingerprint, shipped

    adapter, base = adapter_folder(tmp_path), shipped("tiny-base")
    meta = {"base_model_given": "shipped:tiny-base", "base_model": str(tmp_path / "gone")}
    assert model_size(adapter, meta | {"base_fingerprint": "0" * 64}) is None
    size = model_size(adapter, meta | {"base_fingerprint": base_fingerprint(base)})
    assert (size["base"], size["adapter"]) == (safetensors_count(base / "model.safetensors"), 16)


def test_a_hub_base_in_the_local_cache_is_counted(tmp_path, monkeypatch):
    from huggingface_hub import constants

    snapshot = tmp_path / "hub" / "models--me--base" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("abc")
    (snapshot / "config.json").write_text(json.dumps({"architectures": ["Qwen2ForCausalLM"], "num_hidden_layers": 2}))
    count = write_safetensors(snapshot / "model.safetensors", {"embed": [10, 4], "head": [4, 10]})
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    size = model_size(adapter_folder(tmp_path), {"base_model": "me/base", "base_model_given": "me/base"})
    assert (size["base"], size["adapter"], size["architecture"], size["layers"]) == (count, 16, "Qwen2ForCausalLM", 2)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    assert model_size(tmp_path / "adapter", {"base_model": "me/base"}) is None  # nothing is downloaded


def test_a_budget_the_recipe_does_not_name_is_not_called_the_recipe_s_and_unknown_steps_are_not_said():
    text = "\n".join(usage_section(META, {"model": {"base": "me/base"}}, "me/creature", "lora", "me/base", None))
    assert f"max_new_tokens={SNIPPET_TOKENS}, do_sample=False" in text and "eval.max_new_tokens" not in text
    assert f"the snippet allows {SNIPPET_TOKENS} new tokens (the recipe names no budget)." in text
    assert "with 24 new tokens at most (the recipe's `eval.max_new_tokens`)." in "\n".join(
        usage_section(META, RECIPE, "me/creature", "lora", "me/base", None)
    )
    lines = limitations_section({"data_counts": {"train": 10}}, {"model": {"base": "tiny"}}, None)
    assert "- Training: on 10 rows, from random initialisation (`model.base: tiny`)." in lines
    assert "- Training: 1,200 steps on 10 rows." in limitations_section(
        {"data_counts": {"train": 10}, "metrics": {"train_steps": 1200}}, {}, None
    )
