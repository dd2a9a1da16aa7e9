"""Tests written by a mutation audit of the training recipe, the training bars, the tiny model
and the run's bookkeeping (glade.train.recipe, progress, tiny, sft): each pins a behaviour that a
plausible one-line change (a comparison flipped, an off-by-one, a clause dropped, a constant
changed) left untested. The comment on each names what it guards. Recipes are validated as
`glade train` validates them (load_train_recipe, SFTConfig and LoraConfig built); nothing here
trains for more than a few tiny steps."""

from __future__ import annotations

import random
import string

import pytest

from glade.config import ConfigError
from glade.train.recipe import fits, load_train_recipe

RECIPE = "name: t\nmodel: {{base: {base}}}\ndata: {{traces: [x]}}\n"


def load(tmp_path, *overrides, base="tiny"):
    path = tmp_path / "t.yaml"
    path.write_text(RECIPE.format(base=base))
    return load_train_recipe(path, list(overrides))


# --------------------------------------------------------------------------- recipe


@pytest.mark.parametrize(
    "override, base",
    [
        ("sft.max_steps=0", "tiny"),  # -1 means "by epochs"; 0 steps trains nothing
        ("sft.num_train_epochs=0", "tiny"),
        ("sft.eval_steps=0", "tiny"),
        ("lora.r=0", "org/model"),
        ("lora.lora_dropout=1.0", "org/model"),  # drops every activation
        ("model.tiny.kv_heads=0", "tiny"),
        ("eval.max_new_tokens=0", "tiny"),
        ("eval.batch_size=0", "tiny"),
        ("data.max_rows=0", "tiny"),
        ("data.eval_share=1.0", "tiny"),  # nothing left to train on
        ("data.top_share=0", "tiny"),
    ],
)
def test_each_range_refuses_its_first_value_outside_and_names_the_key(tmp_path, override, base):
    # guards the bounds of SFT_RANGES, LORA_RANGES and check's own ranges at their edge
    key = override.split("=")[0]
    with pytest.raises(ConfigError, match=rf"{key}: (out of range|must be)"):
        load(tmp_path, override, base=base)


@pytest.mark.parametrize(
    "override, base",
    [
        ("sft.max_steps=-1", "tiny"),
        ("sft.max_steps=1", "tiny"),
        ("sft.learning_rate=0", "tiny"),  # a frozen run (a baseline) is allowed
        ("sft.warmup_steps=0", "tiny"),
        ("sft.dataloader_num_workers=0", "tiny"),
        ("lora.r=1", "org/model"),
        ("lora.lora_dropout=0", "org/model"),
        ("eval.states=0", "tiny"),  # no held-out figures
        ("eval.probe_states=0", "tiny"),
        ("data.max_rows=1", "tiny"),
        ("data.eval_share=0", "tiny"),
        ("data.top_share=1.0", "tiny"),
        ("seed=4294967295", "tiny"),  # the largest seed numpy takes
        ("model.tiny.kv_heads=1", "tiny"),
    ],
)
def test_each_range_accepts_its_edge_value(tmp_path, override, base):
    # guards the bounds (>= vs >, < vs <=) on the side a recipe may use
    key, value = override.split("=")
    recipe = load(tmp_path, override, base=base)
    section, _, field = key.rpartition(".")
    got = getattr(recipe, field) if not section else None
    if section in ("sft", "lora"):
        got = getattr(recipe, section)[field]
    elif section:
        obj = recipe
        for part in section.split("."):
            obj = getattr(obj, part)
        got = getattr(obj, field)
    assert float(got) == float(value)


def test_heads_that_kv_heads_do_not_divide_are_refused(tmp_path):
    # guards check's `t.heads % t.kv_heads` (grouped-query attention needs whole groups)
    with pytest.raises(ConfigError, match=r"model.tiny: hidden_size must divide by heads, and heads by kv_heads"):
        load(tmp_path, "model.tiny.kv_heads=3")


@pytest.mark.parametrize(
    "override, message",
    [
        ("sft.max_steps=true", r"sft.max_steps: expected an integer, got True"),
        ("sft.learning_rate=true", r"sft.learning_rate: expected a number, got True"),
        ("sft.liger_kernel_config=[1]", r"sft.liger_kernel_config: expected a mapping or null, got \[1\]"),
        ("sft.include_for_metrics=5", r"sft.include_for_metrics: expected a list, got 5"),
        ("sft.logging_strategy=5", r"sft.logging_strategy: expected IntervalStrategy or a string, got 5"),
        ("sft.use_cpu=1", r"sft.use_cpu: expected true or false, got 1"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_naming_the_key(tmp_path, override, message):
    # guards fits(): a bool is no number, dict[...] and list[...] hints are dicts and lists, an
    # Enum field takes a string, a bool field takes no 1
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, override)


def test_a_union_with_an_option_yaml_cannot_spell_is_left_to_the_class():
    # guards fits()'s union: no option fits but one it cannot judge -> None (the class judges), not False
    class Custom:
        pass

    assert fits("x", int | Custom) is None
    assert fits("x", int | None) is False
    assert fits(3, int | Custom) is True


def test_a_literal_field_refuses_a_value_it_does_not_list_naming_the_key(tmp_path):
    # guards fits()'s Literal clause: the refusal names lora.bias, not LoraConfig's own message
    with pytest.raises(ConfigError, match=r"lora.bias: expected .*got 'some'"):
        load(tmp_path, "lora.bias=some", base="org/model")
    assert load(tmp_path, "lora.bias=all", base="org/model").lora["bias"] == "all"


def test_validation_does_not_depend_on_this_machines_hardware(tmp_path):
    # guards sft_config's `{**sft, **extra}`: the neutral hardware switches the check passes win over
    # the recipe's, so tf32 (refused by SFTConfig off an Ampere GPU) validates on a CPU machine
    assert load(tmp_path, "sft.tf32=true").sft["tf32"] is True


def test_a_key_that_goes_by_its_old_name_is_still_named_as_the_recipe_wrote_it(tmp_path, monkeypatch):
    # guards sft_config's `spelled`: on transformers 5.19 (the vllm extra) activation_checkpointing
    # goes to SFTConfig as gradient_checkpointing, and a wrong value was reported under that name.
    # Here a made-up recipe name stands for the new one, so this runs on any transformers.
    from glade.train import recipe

    monkeypatch.setattr(recipe, "OLD_NAMES", {**recipe.OLD_NAMES, "max_step_count": "max_steps"})
    with pytest.raises(ConfigError, match=r"sft\.max_step_count: expected an integer, got 'many'"):
        load(tmp_path, "sft.max_step_count=many")
    with pytest.raises(ConfigError, match=r"sft\.max_step_count: out of range: 0"):
        load(tmp_path, "sft.max_step_count=0")
    assert load(tmp_path, "sft.max_step_count=3").sft == {"max_step_count": 3}


def test_lora_is_a_causal_lm_adapter_unless_the_recipe_names_another_task(tmp_path):
    # guards lora_config's `{"task_type": "CAUSAL_LM", **recipe.lora}`: a default, not an override
    from glade.train.recipe import lora_config

    assert str(lora_config(load(tmp_path, "lora.r=4", base="org/model")).task_type) == "CAUSAL_LM"
    with pytest.raises(ConfigError, match=r"lora.task_type: 'SEQ_CLS': glade trains causal language models"):
        load(tmp_path, "lora.task_type=SEQ_CLS", base="org/model")


# --------------------------------------------------------------------------- progress


class Bar:
    """A glade.console.Bar that records what it is told."""

    def __init__(self, calls, name="train"):
        self.calls, self.name = calls, name

    def total(self, n):
        self.calls.append((self.name, "total", n))

    def advance(self, n=1):
        self.calls.append((self.name, "advance", n))

    def note(self, text):
        self.calls.append((self.name, "note", text))

    def stage(self, label, unit):
        self.calls.append((self.name, "stage", label, unit))
        return Bar(self.calls, label)


def test_the_bar_starts_part_way_on_resume_notes_the_loss_and_counts_eval_batches_after_training():
    # guards progress_callback: total = max_steps and advance(global_step) at the start, only a
    # logged `loss` is noted, and evaluation batches get their own bar only once training ended
    from types import SimpleNamespace as NS

    from glade.train.progress import progress_callback

    calls = []
    cb = progress_callback(Bar(calls))
    cb.on_train_begin(None, NS(max_steps=6, global_step=2), None)
    cb.on_step_end(None, None, None)
    cb.on_log(None, None, None, logs={"eval_loss": 1.0})
    cb.on_log(None, None, None, logs={"loss": 0.25})
    cb.on_prediction_step(None, None, None, eval_dataloader=[1, 2, 3])  # an evaluation during training
    cb.on_train_end(None, None, None)
    for _ in range(2):
        cb.on_prediction_step(None, None, None, eval_dataloader=[1, 2, 3])
    assert calls == [
        ("train", "total", 6),
        ("train", "advance", 2),
        ("train", "advance", 1),
        ("train", "note", "loss 0.250"),
        ("train", "stage", "eval loss", "batches"),
        ("eval loss", "total", 3),
        ("eval loss", "advance", 1),
        ("eval loss", "advance", 1),
    ]


def test_each_checkpoint_keeps_the_earlier_seconds_plus_this_runs_to_the_millisecond(tmp_path):
    # guards seconds_callback: `before +` this run's seconds from on_train_begin (not from when the
    # callback was made), rounded to 3 places, written by rank 0 only; seconds_before reads it back
    import json
    import time
    from types import SimpleNamespace as NS

    from glade.train.progress import SECONDS, seconds_before, seconds_callback

    cb = seconds_callback(100.0)
    time.sleep(0.3)  # before training begins: not training time
    cb.on_train_begin(None, None, None)
    time.sleep(0.02)
    (tmp_path / "checkpoint-2").mkdir()
    (tmp_path / "checkpoint-4").mkdir()
    cb.on_save(NS(output_dir=str(tmp_path)), NS(is_world_process_zero=True, global_step=2), None)
    cb.on_save(NS(output_dir=str(tmp_path)), NS(is_world_process_zero=False, global_step=4), None)
    seconds = json.loads((tmp_path / "checkpoint-2" / SECONDS).read_text())["seconds"]
    assert 100.02 <= seconds < 100.25 and seconds == round(seconds, 3)
    assert not (tmp_path / "checkpoint-4" / SECONDS).exists()
    assert seconds_before(str(tmp_path / "checkpoint-2")) == seconds
    assert seconds_before(str(tmp_path / "checkpoint-4")) == 0.0  # a checkpoint from before glade kept them
    assert seconds_before(None) == 0.0


# --------------------------------------------------------------------------- tiny


@pytest.fixture(scope="module")
def tok():
    from glade.train.tiny import build_tokenizer

    return build_tokenizer()


def test_the_corpus_alternates_actions_and_prose_and_walks_the_sentences_in_order():
    # guards default_corpus: n=600 lines, every even one a JSON action, every sixth from 3 the next SENTENCE
    from glade.train.tiny import SENTENCES, default_corpus

    lines = list(default_corpus())
    assert len(lines) == 600
    assert [i for i, line in enumerate(lines) if line.startswith('{"orders"')] == list(range(0, 600, 2))
    assert [lines[i] for i in range(3, 600, 6)] == [SENTENCES[k % len(SENTENCES)] for k in range(100)]


def test_the_tiny_model_is_sized_by_its_arguments_and_the_tokenizer(tok):
    # guards build_model's config: 4x MLP, kv heads as given, tied embeddings, Qwen2's ids, the
    # tokenizer's length and max length, the generation config's pad/eos
    from glade.train.tiny import ENDOFTEXT, IM_END, build_model

    model = build_model(tok, hidden_size=32, layers=2, heads=4, kv_heads=1)
    c = model.config
    assert (c.hidden_size, c.intermediate_size, c.num_hidden_layers) == (32, 128, 2)
    assert (c.num_attention_heads, c.num_key_value_heads) == (4, 1)
    assert c.vocab_size == len(tok) and c.max_position_embeddings == tok.model_max_length == 2048
    assert c.tie_word_embeddings and model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    assert (c.pad_token_id, c.eos_token_id, c.bos_token_id) == (0, 2, 0)
    assert tok.convert_ids_to_tokens([0, 2]) == [ENDOFTEXT, IM_END]
    g = model.generation_config
    assert (g.pad_token_id, g.eos_token_id, g.bos_token_id) == (0, 2, 0)


def test_the_seed_decides_the_weights(tok):
    # guards build_model's `torch.manual_seed(seed)`: same seed same weights, another seed others
    import torch

    from glade.train.tiny import build_model

    a, b, c = (build_model(tok, hidden_size=16, layers=1, heads=2, kv_heads=1, seed=s) for s in (0, 0, 1))
    wa, wb, wc = (m.model.embed_tokens.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_save_tiny_passes_its_seed_to_the_model(tmp_path):
    # guards save_tiny's `build_model(tokenizer, seed=seed)`
    from safetensors.torch import load_file

    from glade.train.tiny import save_tiny

    texts = ["a small corpus of words for the tokenizer"] * 3
    w = [load_file(str(save_tiny(tmp_path / f"s{s}", texts, seed=s) / "model.safetensors")) for s in (0, 1)]
    assert not (w[0]["model.embed_tokens.weight"] == w[1]["model.embed_tokens.weight"]).all()


def test_the_tokenizer_learns_its_own_texts_and_stops_at_vocab_size():
    # guards build_tokenizer: `texts` replace the built-in corpus, vocab_size defaults to 3000,
    # NFC (not NFKC: a ligature survives), left padding for batched generation
    from glade.train.tiny import build_tokenizer

    rng = random.Random(0)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 9))) for _ in range(6000)]
    big = build_tokenizer([" ".join(words[i : i + 50]) for i in range(0, len(words), 50)] * 2)
    assert len(big) == 3000
    small = build_tokenizer(["zebra quokka " * 20])
    assert "zebra" in "".join(small.convert_ids_to_tokens(small("zebra")["input_ids"]))
    assert len(small("zebra quokka")["input_ids"]) <= 3  # merged: learnt from these texts
    assert small.decode(small("ﬁne")["input_ids"]) == "ﬁne"
    assert small.padding_side == "left"


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.base='  '", r"model.base: needs a model: tiny, a hub id, a folder or latest:RECIPE"),
        ("sft.seed=3", r"sft.seed: is set by glade \(the run folder and the recipe's seed\)"),
        ("name=a/b", r"name: 'a/b' is not a plain folder name"),
        ("name=.hidden", r"name: '.hidden' is not a plain folder name"),
    ],
)
def test_what_glade_decides_itself_is_refused_naming_the_key(tmp_path, override, message):
    # guards check's blank-base test (strip), SET_BY_GLADE's seed, PLAIN_NAME's fullmatch and first character
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, override)
