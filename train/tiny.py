"""A tiny Qwen2-architecture causal LM and byte-level BPE tokenizer, built fully offline.

The Hub is not reachable here, so tests and smoke runs use a model built locally that has
the same architecture, tokenizer pipeline and chat format as the real Qwen2 family:

    tok = build_tokenizer()            # byte-level BPE, ~1.1k tokens on the built-in corpus
    model = build_model(tok)           # ~1.1M-parameter Qwen2ForCausalLM, random weights
    path = save_tiny("checkpoints/tiny")  # reloads with AutoTokenizer / AutoModelForCausalLM

Special tokens (ids 0, 1, 2) follow Qwen2.5-Instruct: eos is `<|im_end|>`, so generation
stops at the end of an assistant turn; pad is `<|endoftext|>`, distinct from eos, so
collators that mask pad positions never mask the real end of a turn; there is no bos
token prepended (as in Qwen2), but config.bos_token_id points at `<|endoftext|>` as Qwen2's
config does.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from .folder_defaults import answer_budget, greedy_config

ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [ENDOFTEXT, IM_START, IM_END]
MODEL_MAX_LENGTH = 2048

# Qwen2's pre-tokenizer regex, copied from transformers' Qwen2Tokenizer. transformers 5
# reloads a model_type=qwen2 folder as Qwen2Tokenizer, which keeps only vocab + merges and
# rebuilds this exact pipeline; training with any other pipeline silently changes ids.
QWEN2_PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# ChatML, in plain Jinja2: no transformers-only {% generation %} markers, which llama.cpp,
# text-generation-webui and other plain-Jinja2 renderers refuse as unknown tags. glade trains
# prompt/completion rows (TRL masks the prompt), so it never asks for an assistant-token mask.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{{- message['content'] + '<|im_end|>' }}"
    "{{- '\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

# --- built-in corpus ----------------------------------------------------------------------
# Prose and JSON actions mixed: JSON alone gives a tiny vocabulary, prose alone gives no
# tokens for JSON punctuation, keys and prices.

CREATURES = ["Oona", "Thorn", "Hazel", "Bramble", "Moss"]
GOODS = ["honey", "firewood", "acorns", "berries", "mushrooms"]
PLACES = ["the old oak", "the mossy bank", "the mill pond", "the fern hollow", "the stone bridge"]
TIMES = ["at dawn", "before the rain", "after the frost", "on market day", "by lantern light"]
MOODS = ["cheerful", "worried", "sleepy", "greedy", "generous", "suspicious"]

PROSE_TEMPLATES = [
    "{a} sold {n} jars of {g} to {b} at {p} {t}.",
    "{a} wants {n} baskets of {g} but will pay no more than {price} pennies each.",
    "At {p}, the price of {g} rose from {price} to {price2} when {a} started buying.",
    "{b} whispered that {a} is hoarding {g}; nobody believes it.",
    "Why would {a} trade {g} for {g2} {t}? Because winter is coming.",
    "The {m} {a} counted {n} {g} twice and still found one missing.",
    "{a} and {b} argued over {n} bundles of {g} until the owls woke up.",
    "Rumour says {g} will be scarce {t}, so {a} is {m}.",
    "{a} keeps {n} coins under {p} and trusts no one, least of all {b}.",
    '"Fair prices!" cried {a}. "{price} for {g}, {price2} for {g2}!"',
    "{b} thinks {a}'s {g} is overpriced, and {a} doesn't care.",
    "If {a} buys {n} {g} now, {b} will have to sell {g2} cheaply {t}.",
]

# Free-form lines widen the vocabulary beyond the template words.
SENTENCES = [
    "The market opens when the first thrush sings and closes when the badgers yawn.",
    "Every stall is a tree stump, and every stump has a story.",
    "Honey is sticky, expensive, and worth every penny in the cold months.",
    "Firewood is cheap in summer; nobody remembers that in December.",
    "Acorns are the common coin of squirrels, though hedgehogs prefer mushrooms.",
    "A fox once tried to sell painted pebbles as berries. The Wood still laughs about it.",
    "Prices drift like leaves on a stream: slowly, then all at once.",
    "The ledger is kept by an elderly toad who never forgets a debt.",
    "Storms wash out the bridge, and then the traders on the far bank go hungry.",
    "Gossip travels faster than goods, and it is rarely accurate.",
    "Some creatures buy whatever is rising; others wait for panic and pounce.",
    "The wise trader asks what everyone else believes, then checks for herself.",
    "Mushrooms spoil within a week, so their sellers are always in a hurry.",
    "Berries are sweetest in August and scarcest in February.",
    "Nobody knows who first wrote down the rules of the market, or why.",
    "A heron watches the pond, patient as a banker, and says nothing.",
    "Trust is slow to build and quick to lose, especially between neighbours.",
    "When snow falls early, firewood doubles in value overnight.",
    "Young rabbits learn arithmetic by counting carrots they are not allowed to eat.",
    "The moon was full, the lanterns were lit, and the bargaining was fierce.",
    "Quarrels are settled under the great beech, where shouting is forbidden.",
    "A good deal leaves both sides a little unhappy, as the toad likes to say.",
    "Debts are paid in spring, with interest measured in jars of honey.",
    "Thieves are rare, but rumours of thieves are everywhere.",
    "Each creature keeps a private diary of prices, though few admit it.",
    "Ravens carry news from distant valleys, for a fee.",
    "Oona likes to haggle; Thorn would rather walk away than bargain.",
    "Hazel's barrow squeaks, so everyone hears her coming.",
    "Bramble never sells on Tuesdays, superstitious about the number two.",
    "Moss sleeps through most mornings and misses the best prices.",
]

THOUGHTS = [
    "prices are high, so I sell",
    "winter is near; keep the {g}",
    "{b} looks desperate, offer less",
    "buy cheap now and sell later",
    "I trust {b} more than {c}",
]
GOSSIP = [
    "{b} is hoarding {g}",
    "the {g} harvest failed",
    "{b} paid {price} for {g} yesterday",
    "nobody wants {g} this week",
    "",
]


def _fill(rng: random.Random, template: str) -> str:
    a, b, c = rng.sample(CREATURES, 3)
    g, g2 = rng.sample(GOODS, 2)
    price = round(rng.uniform(0.5, 40.0), rng.choice([0, 1, 2]))
    return template.format(
        a=a,
        b=b,
        c=c,
        g=g,
        g2=g2,
        n=rng.randint(1, 120),
        p=rng.choice(PLACES),
        t=rng.choice(TIMES),
        m=rng.choice(MOODS),
        price=price,
        price2=round(price * rng.uniform(0.5, 2.0), 1),
    )


def _action(rng: random.Random) -> str:
    orders = [
        {
            "side": rng.choice(["buy", "sell"]),
            "good": rng.choice(GOODS),
            "qty": rng.randint(1, 20),
            "price": round(rng.uniform(0.5, 30.0), 1),
        }
        for _ in range(rng.randint(0, 3))
    ]
    action = {"orders": orders, "gossip": _fill(rng, rng.choice(GOSSIP)), "thought": _fill(rng, rng.choice(THOUGHTS))}
    return json.dumps(action)  # default separators: `{"orders": [...], ...}` as in the action format


def default_corpus(n: int = 600, seed: int = 0) -> Iterator[str]:
    """Deterministic mix: half JSON actions, half prose (templated and free-form)."""
    rng = random.Random(seed)
    for i in range(n):
        if i % 2 == 0:
            yield _action(rng)
        elif i % 3 == 0:
            yield SENTENCES[(i // 6) % len(SENTENCES)]
        else:
            yield _fill(rng, rng.choice(PROSE_TEMPLATES))


# --- tokenizer ----------------------------------------------------------------------------


def build_tokenizer(texts: Iterable[str] | None = None, vocab_size: int = 3000) -> PreTrainedTokenizerFast:
    """Train a Qwen2-pipeline byte-level BPE on `texts` (default: the built-in corpus).

    The vocabulary stops growing when the corpus runs out of merges, so a small corpus
    gives fewer than `vocab_size` tokens.
    """
    tok = Tokenizer(models.BPE())  # no unk: byte-level covers every input
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,  # ids 0, 1, 2
        # All 256 byte symbols, so text outside the corpus (emoji, CJK) still encodes.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(default_corpus() if texts is None else texts, trainer=trainer)

    # padding_side / model_max_length go to the constructor: set afterwards they are not saved.
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        unk_token=None,
        extra_special_tokens=[IM_START],  # so skip_special_tokens drops it, as in Qwen2.5
        padding_side="left",  # decoder-only batched generation needs left padding
        model_max_length=MODEL_MAX_LENGTH,
        chat_template=CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,  # otherwise decode(encode(x)) != x
    )


# --- model --------------------------------------------------------------------------------


def build_model(
    tokenizer: PreTrainedTokenizerFast,
    hidden_size: int = 128,
    layers: int = 4,
    heads: int = 4,
    kv_heads: int = 2,
    seed: int = 0,
) -> Qwen2ForCausalLM:
    """A randomly initialised fp32 Qwen2ForCausalLM sized to `tokenizer`."""
    ids = {
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "bos_token_id": tokenizer.convert_tokens_to_ids(ENDOFTEXT),  # as Qwen2's config
    }
    config = Qwen2Config(
        vocab_size=len(tokenizer),  # len() counts added tokens, vocab_size may not
        hidden_size=hidden_size,
        intermediate_size=4 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=tokenizer.model_max_length,
        tie_word_embeddings=True,
        use_sliding_window=False,
        dtype="float32",
        **ids,
    )
    torch.manual_seed(seed)  # init draws from torch's global RNG
    model = Qwen2ForCausalLM(config).to(torch.float32).eval()
    # greedy in a seat's default budget, as glade answers: pipeline() would sample, generate() stop at 20 tokens
    model.generation_config = GenerationConfig(**greedy_config(ids, answer_budget(None)))
    return model


# --- save ---------------------------------------------------------------------------------


def save_tiny(out_dir: str | os.PathLike, texts: Iterable[str] | None = None, seed: int = 0) -> Path:
    """Build tokenizer + model and write them to `out_dir` (replacing it if it exists).

    Written into a sibling temp dir first and renamed into place, so `out_dir` is never
    seen half-written.
    """
    out = Path(out_dir).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(texts)
    model = build_model(tokenizer, seed=seed)

    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        tokenizer.save_pretrained(tmp)
        model.save_pretrained(tmp)  # writes model.safetensors (v5 has no safe_serialization arg)
        old = None
        if out.exists():  # rename() cannot replace a non-empty dir: move the old one aside
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            out.rename(old / out.name)
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
