"""glade.train.tiny: offline tiny Qwen2 model + tokenizer that reload identically."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from glade.train.tiny import IM_END, build_model, build_tokenizer, default_corpus, save_tiny

TEXTS = [
    "Oona sold 3 jars of honey to Thorn at the old oak.",
    json.dumps(
        {
            "orders": [{"side": "buy", "good": "honey", "qty": 3, "price": 9.5}],
            "gossip": "Moss is hoarding acorns",
            "thought": "buy cheap, sell dear",
        }
    ),
    '{"orders":[],"gossip":"","thought":""}',
    "Ünïcödé: café, naïve, 日本語, Ελληνικά, 🦔🍯🌰, \u00a0nbsp, zero\u200bwidth",
    "",
    " ",
    "  leading and trailing  ",
    "tabs\tand\nnewlines\r\n\n\nand   runs   of   spaces",
    "numbers 0 12 345.678 -9 1e10 3,000",
    "it's they're we'LL I'M shouldn't",
    "<|im_start|>user\nHow much for berries?<|im_end|>\n",
]


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    # Module-scoped, so a MonkeyPatch context rather than the function-scoped fixture.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HOME", str(tmp_path_factory.mktemp("hf_home")))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        yield


@pytest.fixture(scope="module")
def tok(offline):
    return build_tokenizer()


@pytest.fixture(scope="module")
def saved(offline, tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("models") / "tiny", seed=0)


@pytest.fixture(scope="module")
def reloaded(saved):
    return AutoTokenizer.from_pretrained(saved), AutoModelForCausalLM.from_pretrained(saved).eval()


def test_reloaded_tokenizer_gives_identical_ids(tok, reloaded):
    tok2, _ = reloaded
    assert len(tok2) == len(tok)
    assert (tok2.padding_side, tok2.model_max_length) == ("left", 2048)
    assert (tok2.pad_token, tok2.eos_token, tok2.bos_token) == ("<|endoftext|>", IM_END, None)
    for text in TEXTS:
        ids = tok.encode(text)
        assert tok2.encode(text) == ids, text
        # NFC leaves these texts unchanged, so decoding is exact.
        assert tok.decode(ids) == text
        assert tok2.decode(ids) == text


def test_nfc_normalizer_matches_reload(tok, reloaded):
    decomposed, composed = "cafe\u0301", "caf\u00e9"
    assert tok.encode(decomposed) == tok.encode(composed) == reloaded[0].encode(decomposed)
    assert tok.decode(tok.encode(decomposed)) == composed


def test_chatml_special_tokens_are_single_ids(tok):
    ids = tok.encode("<|im_start|>assistant\nhi<|im_end|>")
    assert ids[0] == tok.convert_tokens_to_ids("<|im_start|>")
    assert ids[-1] == tok.eos_token_id
    assert tok.decode(ids, skip_special_tokens=True) == "assistant\nhi"


def test_vocab_is_capped_and_covers_the_domain(tok):
    small = build_tokenizer(default_corpus(), vocab_size=400)
    assert len(small) == 400
    assert 400 < len(tok) <= 3000
    for word in ["honey", " honey", "orders", " Bramble"]:  # learned as single tokens
        assert len(tok.encode(word)) == 1, word


def test_saved_model_reloads_with_identical_logits(tok, saved, reloaded):
    _, model2 = reloaded
    model = build_model(tok, seed=0).eval()
    assert model2.config.model_type == "qwen2"
    assert model2.config.tie_word_embeddings
    assert model2.lm_head.weight.data_ptr() == model2.model.embed_tokens.weight.data_ptr()
    assert model2.dtype == torch.float32
    assert model2.config.vocab_size == len(tok)
    assert (model2.config.pad_token_id, model2.config.eos_token_id) == (tok.pad_token_id, tok.eos_token_id)
    assert model2.generation_config.pad_token_id == tok.pad_token_id
    assert model2.generation_config.eos_token_id == tok.eos_token_id
    n_params = sum(p.numel() for p in model2.parameters())
    assert 1_000_000 <= n_params <= 2_000_000, n_params

    batch = tok(TEXTS[:3], return_tensors="pt", padding=True)
    with torch.no_grad():
        a = model(**batch).logits
        b = model2(**batch).logits
    assert torch.allclose(a, b, atol=1e-6)


def test_save_tiny_replaces_in_place_without_leftovers(saved):
    parent = saved.parent
    again = save_tiny(saved, seed=0)
    assert again == saved
    assert sorted(p.name for p in parent.iterdir()) == ["tiny"]  # no temp or old dirs
    assert (saved / "model.safetensors").is_file()
    assert json.loads((saved / "config.json").read_text())["model_type"] == "qwen2"


CHAT = [
    {"role": "system", "content": "You are Hazel, a trader in the Wood."},
    {"role": "user", "content": "Honey is 9.5 today. What do you do?"},
    {
        "role": "assistant",
        "content": '{"orders": [{"side": "buy", "good": "honey", "qty": 3, "price": 9.5}], '
        '"gossip": "", "thought": "cheap"}',
    },
    {"role": "user", "content": "And now?"},
    {"role": "assistant", "content": "Hold.\n  Wait for frost."},
]


@pytest.mark.parametrize("which", ["memory", "reloaded"])
def test_the_template_renders_in_plain_jinja2_as_transformers_renders_it(tok, reloaded, which):
    # llama.cpp, text-generation-webui and other plain-Jinja2 renderers refused transformers' own
    # {% generation %} tag ("Encountered unknown tag 'generation'"); glade never asks for its mask
    import jinja2

    t = tok if which == "memory" else reloaded[0]
    plain = jinja2.Environment().from_string(t.chat_template)
    for chat in (CHAT, CHAT[:2], CHAT[:3], CHAT[1:2]):
        for prompt in (False, True):
            expected = t.apply_chat_template(chat, tokenize=False, add_generation_prompt=prompt)
            assert plain.render(messages=chat, add_generation_prompt=prompt) == expected
    text = t.apply_chat_template(CHAT, tokenize=False)
    assert text.startswith("<|im_start|>system\nYou are Hazel")
    assert text.endswith("<|im_start|>assistant\nHold.\n  Wait for frost.<|im_end|>\n")
    assert t.apply_chat_template(CHAT[:2], tokenize=False, add_generation_prompt=True).endswith(
        "<|im_start|>user\nHoney is 9.5 today. What do you do?<|im_end|>\n<|im_start|>assistant\n"
    )


def test_left_padded_batch_generation_equals_single(reloaded):
    tok, model = reloaded
    prompts = [
        [{"role": "user", "content": "Sell?"}],
        [
            {"role": "system", "content": "You are Thorn."},
            {"role": "user", "content": "Berries cost 4.25 and firewood 12. Buy or sell, and how many?"},
        ],
        [{"role": "user", "content": "Moss says mushrooms are scarce."}],
    ]
    texts = [tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
    # Compare the logits of every step too: a random model repeats one token, so equal ids
    # alone would be a weak check of the padding/position handling.
    kw = dict(max_new_tokens=12, do_sample=False, return_dict_in_generate=True, output_logits=True)

    batch = tok(texts, return_tensors="pt", padding=True)
    assert len({int(n) for n in batch["attention_mask"].sum(1)}) == 3  # really different lengths
    assert (batch["attention_mask"][:, -1] == 1).all()  # left padding
    with torch.no_grad():
        together = model.generate(**batch, **kw)
    new_ids = together.sequences[:, batch["input_ids"].shape[1] :]

    for i, text in enumerate(texts):
        single = tok(text, return_tensors="pt")
        with torch.no_grad():
            alone = model.generate(**single, **kw)
        alone_ids = alone.sequences[0, single["input_ids"].shape[1] :].tolist()
        # After eos a batch row is filled with pad; compare up to the single run's length.
        assert new_ids[i, : len(alone_ids)].tolist() == alone_ids
        assert all(t == tok.pad_token_id for t in new_ids[i, len(alone_ids) :].tolist())
        for step, logits in enumerate(alone.logits):
            assert torch.allclose(together.logits[step][i], logits[0], atol=1e-5), (i, step)


def test_a_completion_holds_the_answer_and_its_stop_token(tok):
    # glade trains prompt/completion rows (glade.train.data.to_prompt_completion): TRL renders the
    # prompt with the generation prompt and the whole chat, and trains on what the second adds, so
    # the end-of-turn token is trained (no {% generation %} markers needed, and the template has none)
    from trl.chat_template_utils import has_generation_markers

    assert not has_generation_markers(tok.chat_template)
    for end in (3, 5):
        prompt = tok.apply_chat_template(CHAT[: end - 1], tokenize=False, add_generation_prompt=True)
        whole = tok.apply_chat_template(CHAT[:end], tokenize=False)
        assert whole.startswith(prompt) and whole[len(prompt) :] == CHAT[end - 1]["content"] + IM_END + "\n"
