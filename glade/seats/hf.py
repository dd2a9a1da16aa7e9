"""A local transformers model for the hf seats, optionally through LoRA adapters.

One `SharedModel` per base model holds the weights and every adapter loaded onto it. An `HFPolicy`
(glade.seats.hf_policy) seats that model on creatures, each with its own adapter or the bare base;
`SharedModel.generate` answers all their prompts in ONE batched `generate` (left padding, mixed-adapter batches:
glade.seats.lora_spans), stopping each row at the end of its JSON object. On CPU use float32 (bf16 is far slower
there); on a GPU bf16 is the usual choice.

Prefix cache: every prompt opens with its creature's role card, which stays the same all episode. Its keys and
values are computed once per (adapter, card) and kept; each batch starts from a cache assembled from them, so
only the rest of each prompt is prefilled. A row reads [pad..][card][pad..][this turn]: padding inside the row
is masked and positions follow the mask, so each row reads as its prompt would alone.

Structured decoding (`Generation.structured`, the seat spec's `structured: true`): each row is held to its own
state's action schema by glade.seats.structured, in the same batched generate as every other row (mixed
adapters, unconstrained rows and the prefix cache included); a schema row's answer always parses (budget
overspend aside: the parser's job).

Decoding is exactly what `Generation` says: temperature 0 is plain greedy, and sampling knobs a model folder
ships (top_k, repetition penalty...) are pinned neutral. A sampled call is seeded from `Generation.seed`, so it
is reproducible, and it leaves the caller's torch RNG state as it found it.
"""

from __future__ import annotations

import hashlib
import weakref
from collections import OrderedDict, deque
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    DynamicCache,
    StaticCache,
    StoppingCriteriaList,
)
from transformers.cache_utils import DynamicLayer, StaticLayer

from glade.hub_ids import hub_unreachable

from .base import Generation, SeatSpecError, first_line, once_each, one_device, request_key
from .structured import JsonEnd

BASE = "__base__"  # PEFT's adapter name for rows that use the bare base model
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}  # each of spec.DTYPE_NAMES
PREFIX_CACHE_ENTRIES = 128  # (adapter, role card) pairs kept: 5 creatures x 3 adapters need 15;
# an entry of a 0.5B model in bf16 is about 2 MB


class SharedModel:
    """A base model and its tokenizer, with LoRA adapters loaded by path on demand."""

    def __init__(self, model: str, dtype: str = "float32", device: str = "cpu"):
        if dtype not in DTYPES:
            raise ValueError(f"dtype: expected one of {', '.join(DTYPES)}, got {dtype!r}")
        self.model_id, self.device = model, device
        check_device(device)
        if unreachable := hub_unreachable(model):
            raise SeatSpecError(f"seat spec hf model: {model!r}: {unreachable}")
        try:  # a folder with missing or corrupt files, a hub id not in the cache: the seat's mistake
            self.tokenizer = AutoTokenizer.from_pretrained(model, padding_side="left")
            self.model = AutoModelForCausalLM.from_pretrained(model, dtype=DTYPES[dtype]).to(device).eval()
        except LOAD_ERRORS as exc:
            raise SeatSpecError(
                f"seat spec hf model: {model!r}: transformers could not load it ({first_line(exc)})"
            ) from exc
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.config = self.model.config
        self.adapters: dict[str, str] = {}  # adapter path -> adapter name
        self.spans_supported = False  # every adapter loaded is plain LoRA on linear layers (lora_spans)
        self._prefixes: OrderedDict[tuple, list] = OrderedDict()  # (adapter, head ids) -> per-layer (keys, values)
        self._head_ids: dict[str, list[int]] = {}
        self.prefix_tokens_reused = self.prefix_tokens_computed = 0
        self._grammars = None  # glade.seats.structured.Grammars, made when a structured row first comes
        self.constraint_faults = 0  # structured rows whose grammar failed mid-answer (they went on free)
        self.share_identical = True  # benchmarks set False: they time every row they count
        # Only plain full-attention caches can be assembled row by row (no sliding windows).
        self.prefix_cache_supported = all(
            type(x) is DynamicLayer for x in DynamicCache(config=self.config).layers
        ) and all(type(x) is StaticLayer for x in StaticCache(config=self.config, max_cache_len=8).layers)

    def adapter_name(self, path: str | None) -> str:
        """Load the adapter at `path` once; returns the name PEFT knows it by."""
        if path is None:
            return BASE
        key = str(Path(path).resolve())
        if key not in self.adapters:
            from peft import PeftModel  # PEFT only when an adapter is asked for

            name = "a" + hashlib.sha1(key.encode()).hexdigest()[:10]
            # PEFT draws the new LoRA weights at random before it loads them: not from the caller's RNG streams,
            # which a seat loading its adapter on its first turn would otherwise move
            try:  # an adapter of another base (a shape mismatch), corrupt weights, modules the base lacks
                with torch.random.fork_rng(devices=self._rng_devices()):
                    if isinstance(self.model, PeftModel):
                        self.model.load_adapter(key, adapter_name=name)
                    else:
                        self.model = PeftModel.from_pretrained(self.model, key, adapter_name=name)
            except LOAD_ERRORS as exc:
                # PEFT may have changed the base model in place before it failed: not shared again
                for k in [k for k, m in _MODELS.items() if m is self]:
                    del _MODELS[k]
                if self in _KEPT:
                    _KEPT.remove(self)
                raise SeatSpecError(
                    f"seat spec hf adapter: {path!r}: PEFT could not load it onto {self.model_id!r} ({first_line(exc)});"
                    " is it an adapter of this base model?"
                ) from exc
            self.model.eval()
            self.adapters[key] = name
            from . import lora_spans  # imports PEFT, loaded by now

            self.spans_supported = lora_spans.supported(self.model)
        return self.adapters[key]

    def generate(
        self,
        conversations: list[list[dict]],
        adapters: list[str],
        gen: Generation,
        heads: list[str] | None = None,
        schemas: list[dict | None] | None = None,
    ) -> list[tuple[str, int, int]]:
        """(text, prompt tokens, completion tokens) per conversation, in order.

        `heads`, one per conversation, is text its prompt opens with that recurs across calls (the role card);
        with `gen.prefix_cache` its keys/values are reused. `schemas`, one per conversation (None: unconstrained),
        holds each answer to its JSON Schema (structured decoding)."""
        return self.generate_once(conversations, adapters, gen, heads, schemas)[0]

    @torch.inference_mode()
    def generate_once(
        self,
        conversations: list[list[dict]],
        adapters: list[str],
        gen: Generation,
        heads: list[str] | None = None,
        schemas: list[dict | None] | None = None,
    ) -> tuple[list[tuple[str, int, int]], list[bool]]:
        """`generate`, and for each row whether its reply is a copy: greedy, with
        `share_identical`, each distinct request is generated once (distinct_rows)."""
        keys = None
        if gen.temperature == 0 and self.share_identical:  # greedy: identical requests generated once
            keys = [request_key(c, a, s) for c, a, s in zip(conversations, adapters, schemas or [None] * len(adapters))]
        return once_each(
            len(conversations),
            keys,
            lambda keep: self._generate_chunks(
                [conversations[i] for i in keep],
                [adapters[i] for i in keep],
                gen,
                [heads[i] for i in keep] if heads is not None else None,
                [schemas[i] for i in keep] if schemas else None,
            ),
        )

    def _generate_chunks(self, conversations, adapters, gen: Generation, heads, schemas) -> list[tuple[str, int, int]]:
        """`generate` of every row given, in chunks of `gen.batch_size` rows."""
        out: list[tuple[str, int, int]] = []
        for start in range(0, len(conversations), gen.batch_size):
            # Each chunk's rows go in grouped by adapter, so that each adapter's rows are one
            # slice of the batch (lora_spans), and come back out in their own order. Groups go in
            # the order their adapters first appear, not by name: a name hashes the adapter's
            # path, and a sampled row's draws must not depend on where its adapter was saved.
            rows = range(start, min(start + gen.batch_size, len(conversations)))
            first = {}
            for i in rows:
                first.setdefault(adapters[i], len(first))
            order = sorted(rows, key=lambda i: first[adapters[i]])
            replies = self._generate_rows(
                [conversations[i] for i in order],
                [adapters[i] for i in order],
                gen,
                [heads[i] for i in order] if heads is not None else None,
                [schemas[i] for i in order] if schemas else [],
                seed=gen.seed + start,
            )
            by_row = dict(zip(order, replies, strict=True))
            out.extend(by_row[i] for i in rows)
        return out

    def _generate_rows(self, chunk, names, gen: Generation, heads, schemas, seed: int) -> list[tuple[str, int, int]]:
        """One batched generate over `chunk` (rows grouped by adapter); replies in its order."""
        prompts = [self.tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in chunk]
        # A preallocated KV cache saves re-concatenating the whole cache every step (measured +12% for
        # batches on CPU; it slows single rows, so not for them).
        static = len(chunk) > 1 and self.device == "cpu"
        batch = None
        if heads is not None and gen.prefix_cache and self.prefix_cache_supported:
            batch = self._with_prefix_cache(prompts, heads, names, gen, static)
        if batch is None:
            batch = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
            if static:
                batch["cache_implementation"] = "static"
        width = batch["input_ids"].shape[1]
        kwargs = dict(
            max_new_tokens=gen.max_new_tokens,
            pad_token_id=self.tokenizer.pad_token_id,
            stopping_criteria=StoppingCriteriaList([JsonEnd(self.tokenizer, width, len(chunk))]),
            **_sampling(gen),
        )
        constraint = self.grammars().constraint(schemas) if any(s is not None for s in schemas) else None
        if constraint is not None:
            kwargs.update(constraint.generate_kwargs(gen.temperature, gen.top_p))
            kwargs["stopping_criteria"].append(constraint.advance)
        with self._adapters_for(names, kwargs):
            if gen.temperature > 0:  # seeded, and without disturbing the caller's RNG streams
                with torch.random.fork_rng(devices=self._rng_devices()):
                    torch.manual_seed(seed)
                    ids = self.model.generate(**batch, **kwargs)
            else:
                ids = self.model.generate(**batch, **kwargs)
        self.constraint_faults += constraint.finish() if constraint is not None else 0
        prompt_lengths = batch["attention_mask"].sum(dim=1).tolist()
        replies = []
        for row, new in enumerate(ids[:, width:]):
            keep = new[new != self.tokenizer.pad_token_id]
            text = self.tokenizer.decode(keep, skip_special_tokens=True)
            replies.append((text, int(prompt_lengths[row]), int(keep.numel())))
        return replies

    def _adapters_for(self, names: list[str], kwargs: dict) -> AbstractContextManager:
        """Seat each row's adapter: by slices (rows grouped by adapter) where lora_spans can,
        else through PEFT's `adapter_names` (put into `kwargs`)."""
        if not self.adapters:
            return nullcontext()
        if self.spans_supported:
            from . import lora_spans

            return lora_spans.by_spans(self.model, lora_spans.spans(names), BASE)
        kwargs["adapter_names"] = names
        return nullcontext()

    def grammars(self):
        if self._grammars is None:
            from .structured import Grammars  # llguidance only when a structured seat sits

            self._grammars = Grammars(self.tokenizer, self.config.vocab_size)
        return self._grammars

    def _with_prefix_cache(self, prompts, heads, names, gen: Generation, static: bool) -> dict | None:
        """generate() inputs whose cache already holds each row's cached head; None when no
        row's prompt contains its head (a chat template that rewrites the system message)."""
        rows = self.tokenizer(prompts, add_special_tokens=False)["input_ids"]
        cut = [self._head_length(prompt, head, ids) for prompt, head, ids in zip(prompts, heads, rows, strict=True)]
        if not any(cut):
            return None
        kv = [self._prefix_kv(ids[:n], name) if n else None for ids, n, name in zip(rows, cut, names, strict=True)]
        head_width = max(cut)
        tail_width = max(len(ids) - n for ids, n in zip(rows, cut))
        width = head_width + tail_width
        input_ids = torch.full((len(rows), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(input_ids)
        for i, (ids, n) in enumerate(zip(rows, cut)):
            head_start, tail_start = head_width - n, width - (len(ids) - n)  # each part right-aligned
            input_ids[i, head_start:head_width] = torch.tensor(ids[:n], dtype=torch.long)
            input_ids[i, tail_start:] = torch.tensor(ids[n:], dtype=torch.long)
            mask[i, head_start:head_width] = mask[i, tail_start:] = 1
        like = next(layers for layers in kv if layers is not None)
        layers = []
        for index, (key, value) in enumerate(like):
            empty_key = key.new_zeros(1, key.shape[1], 0, key.shape[3])
            empty_value = value.new_zeros(1, value.shape[1], 0, value.shape[3])
            keys = [F.pad(row[index][0] if row else empty_key, (0, 0, head_width - n, 0)) for row, n in zip(kv, cut)]
            values = [
                F.pad(row[index][1] if row else empty_value, (0, 0, head_width - n, 0)) for row, n in zip(kv, cut)
            ]
            layers.append((torch.cat(keys), torch.cat(values)))
        if static:
            cache = StaticCache(config=self.config, max_cache_len=width + gen.max_new_tokens)
            for layer, (keys, values) in zip(cache.layers, layers, strict=True):
                layer.update(keys, values)
        else:
            cache = DynamicCache(ddp_cache_data=layers)
        self.prefix_tokens_reused += sum(cut)
        return {
            "input_ids": input_ids.to(self.device),
            "attention_mask": mask.to(self.device),
            "past_key_values": cache,
        }

    def _head_length(self, prompt: str, head: str, ids: list[int]) -> int:
        """How many of the prompt's leading tokens cover `head` exactly as the whole prompt tokenizes them (a
        merge across the head's end stops it a token short). At least one token is always left to prefill."""
        at = prompt.find(head)
        if not head or at < 0:
            return 0
        text = prompt[: at + len(head)]
        head_ids = self._head_ids.get(text)
        if head_ids is None:
            head_ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            if len(self._head_ids) >= 4 * PREFIX_CACHE_ENTRIES:
                self._head_ids.clear()
            self._head_ids[text] = head_ids
        n = 0
        for a, b in zip(head_ids, ids):
            if a != b:
                break
            n += 1
        return min(n, len(ids) - 1)

    def _prefix_kv(self, ids: list[int], adapter: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Keys and values of `ids` read alone from position 0, per layer, through `adapter`."""
        key = (adapter, tuple(ids))
        if key in self._prefixes:
            self._prefixes.move_to_end(key)
            return self._prefixes[key]
        cache = DynamicCache(config=self.config)
        kwargs: dict = {}
        with self._adapters_for([adapter], kwargs):
            self.model(
                input_ids=torch.tensor([ids], device=self.device),
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,
                **kwargs,
            )
        entry = [(layer.keys, layer.values) for layer in cache.layers]
        self._prefixes[key] = entry
        self.prefix_tokens_computed += len(ids)
        while len(self._prefixes) > PREFIX_CACHE_ENTRIES:
            self._prefixes.popitem(last=False)
        return entry

    def _rng_devices(self) -> list[int]:
        device = torch.device(self.device)
        if device.type != "cuda":
            return []
        return [device.index if device.index is not None else torch.cuda.current_device()]


# Decoding knobs a model folder's generation_config may set (Qwen2.5-Instruct ships top_k 20 and a repetition
# penalty; transformers fills any knob left unset from there): pinned so that a seat decodes exactly as its
# `Generation` says. eos ids still come from the folder.
_NEUTRAL = dict(
    num_beams=1, repetition_penalty=1.0, no_repeat_ngram_size=0, typical_p=1.0, epsilon_cutoff=0.0, eta_cutoff=0.0
)


# What loading a model or an adapter raises for a bad folder: missing files (OSError), a config of no known
# model (ValueError, KeyError), weights of other shapes (RuntimeError), a corrupt safetensors file (SafetensorError,
# a bare Exception).
LOAD_ERRORS = (OSError, ValueError, KeyError, RuntimeError, SafetensorError)


def check_device(device: str) -> None:
    """A SeatSpecError unless `device` is one this machine has (cuda on a CPU build raises an AssertionError
    deep in torch, after the weights have loaded; hpu without Habana's torch plug-in, a ModuleNotFoundError)."""
    try:
        kind = torch.device(device).type
        if kind == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("torch sees no CUDA device here")
        torch.empty(1, device=device)  # an index past the devices there are, a backend this build lacks
    except (RuntimeError, AssertionError, ValueError, ImportError) as exc:
        raise SeatSpecError(
            f"seat spec device: {device!r} is not available ({first_line(exc)}); use device: cpu"
        ) from None


def _sampling(gen: Generation) -> dict:
    if gen.temperature > 0:  # plain temperature + nucleus sampling: no top-k cut
        return dict(_NEUTRAL, do_sample=True, temperature=gen.temperature, top_p=gen.top_p, top_k=0)
    # Greedy ignores the sampling knobs; transformers' own defaults keep it from warning about
    # a folder's sampling settings on every call.
    return dict(_NEUTRAL, do_sample=False, temperature=1.0, top_p=1.0, top_k=50)


# A model stays loaded while a seated policy holds it, and the models of the last MODELS_KEPT seatings beside
# those: a loop of episodes on one model loads it once, a loop over checkpoints holds no more than that.
MODELS_KEPT = 2
_MODELS: weakref.WeakValueDictionary[tuple, SharedModel] = weakref.WeakValueDictionary()
_KEPT: deque[SharedModel] = deque(maxlen=MODELS_KEPT)


def model_key(model: str) -> tuple:
    """What `model` names now: a local folder by its resolved path and its files' names, sizes and mtimes
    (run from another folder, or rewritten in place, it is another model); else the id."""
    folder = Path(model)
    if not folder.is_dir():
        return (str(model),)
    stats = [(p.name, p.stat()) for p in sorted(folder.iterdir()) if p.is_file()]
    return (str(folder.resolve()), tuple((name, st.st_size, st.st_mtime_ns) for name, st in stats))


def shared_model(model: str, dtype: str = "float32", device: str = "cpu") -> SharedModel:
    """One SharedModel per (model as model_key reads it, dtype, device) in this process: weights load once."""
    key = (model_key(model), dtype, one_device(device))
    found = _MODELS.get(key)
    if found is None:
        found = _MODELS[key] = SharedModel(str(model), dtype, key[2])
    _KEPT.append(found)
    return found
