"""Seats played by a local transformers model, optionally through LoRA adapters.

One `SharedModel` per base model holds the weights and every adapter loaded onto it.
An `HFPolicy` seats that model on creatures, each with its own adapter or the bare base;
its `act` renders every observation, and answers them all in ONE batched `generate`
(left padding, PEFT mixed-adapter batches), stopping each row at the end of its JSON
object. On CPU use float32 (bf16 is far slower there); on a GPU bf16 is the usual choice.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, StoppingCriteria, StoppingCriteriaList

from glade.env.protocol import parse, render
from glade.policies import Decision

BASE = "__base__"  # PEFT's adapter name for rows that use the bare base model
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class Generation:
    max_new_tokens: int = 160
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int = 0
    batch_size: int = 64  # rows per generate call; larger batches are split


class JsonEnd(StoppingCriteria):
    """Stops each row once the first top-level JSON object it generated has closed."""

    def __init__(self, tokenizer, prompt_length: int, batch: int):
        self.tokenizer = tokenizer
        self.start = prompt_length
        self.state = [[0, False, False, False] for _ in range(batch)]  # depth, in_string, escape, opened

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        done = []
        for row, ids in enumerate(input_ids):
            state = self.state[row]
            if not (state[3] and state[0] == 0):
                for ch in self.tokenizer.decode(ids[-1:], skip_special_tokens=True):
                    _scan(state, ch)
            done.append(state[3] and state[0] == 0)
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def _scan(state: list, ch: str) -> None:
    depth, in_string, escape, opened = state
    if in_string:
        if escape:
            escape = False
        elif ch == "\\":
            escape = True
        elif ch == '"':
            in_string = False
    elif ch == '"' and opened:
        in_string = True
    elif ch == "{":
        depth, opened = depth + 1, True
    elif ch == "}" and depth > 0:
        depth -= 1
    state[:] = [depth, in_string, escape, opened]


class SharedModel:
    """A base model and its tokenizer, with LoRA adapters loaded by path on demand."""

    def __init__(self, model: str, dtype: str = "float32", device: str = "cpu"):
        if dtype not in DTYPES:
            raise ValueError(f"dtype: expected one of {', '.join(DTYPES)}, got {dtype!r}")
        self.model_id, self.device = model, device
        self.tokenizer = AutoTokenizer.from_pretrained(model, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=DTYPES[dtype]).to(device).eval()
        self.adapters: dict[str, str] = {}  # adapter path -> adapter name

    def adapter_name(self, path: str | None) -> str:
        """Load the adapter at `path` once; returns the name PEFT knows it by."""
        if path is None:
            return BASE
        key = str(Path(path).resolve())
        if key not in self.adapters:
            from peft import PeftModel  # PEFT only when an adapter is asked for

            name = "a" + hashlib.sha1(key.encode()).hexdigest()[:10]
            if isinstance(self.model, PeftModel):
                self.model.load_adapter(key, adapter_name=name)
            else:
                self.model = PeftModel.from_pretrained(self.model, key, adapter_name=name)
            self.model.eval()
            self.adapters[key] = name
        return self.adapters[key]

    @torch.inference_mode()
    def generate(self, conversations: list[list[dict]], adapters: list[str], gen: Generation) -> list[tuple[str, int, int]]:
        """(text, prompt tokens, completion tokens) per conversation, in order."""
        out: list[tuple[str, int, int]] = []
        for start in range(0, len(conversations), gen.batch_size):
            chunk = conversations[start : start + gen.batch_size]
            names = adapters[start : start + gen.batch_size]
            prompts = [self.tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in chunk]
            enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
            width = enc["input_ids"].shape[1]
            kwargs = dict(
                max_new_tokens=gen.max_new_tokens,
                do_sample=gen.temperature > 0,
                pad_token_id=self.tokenizer.pad_token_id,
                stopping_criteria=StoppingCriteriaList([JsonEnd(self.tokenizer, width, len(chunk))]),
            )
            if gen.temperature > 0:
                kwargs.update(temperature=gen.temperature, top_p=gen.top_p)
                torch.manual_seed(gen.seed + start)
            if self.adapters:
                kwargs["adapter_names"] = names
            ids = self.model.generate(**enc, **kwargs)
            prompt_lengths = enc["attention_mask"].sum(dim=1).tolist()
            for row, new in enumerate(ids[:, width:]):
                keep = new[new != self.tokenizer.pad_token_id]
                text = self.tokenizer.decode(keep, skip_special_tokens=True)
                out.append((text, int(prompt_lengths[row]), int(keep.numel())))
        return out


_MODELS: dict[tuple[str, str, str], SharedModel] = {}


def shared_model(model: str, dtype: str = "float32", device: str = "cpu") -> SharedModel:
    """One SharedModel per (model, dtype, device) in this process: weights load once."""
    key = (str(model), dtype, device)
    if key not in _MODELS:
        _MODELS[key] = SharedModel(model, dtype, device)
    return _MODELS[key]


@dataclass
class HFPolicy:
    """Creatures seated on one base model; `adapters` maps creature -> adapter path (or None).

    `default_adapter` serves creatures not in `adapters`."""

    shared: SharedModel
    default_adapter: str | None = None
    adapters: dict[str, str | None] = field(default_factory=dict)
    gen: Generation = field(default_factory=Generation)

    @property
    def name(self) -> str:
        return _identity(self.shared.model_id, self.default_adapter)

    def seat_identity(self, creature: str) -> str:
        return _identity(self.shared.model_id, self.adapters.get(creature, self.default_adapter))

    def act(self, observations: list[dict]) -> list[Decision]:
        if not observations:
            return []
        started = time.perf_counter()
        conversations = [render(obs) for obs in observations]
        names = [self.shared.adapter_name(self.adapters.get(o["creature"], self.default_adapter)) for o in observations]
        replies = self.shared.generate(conversations, names, self.gen)
        share = (time.perf_counter() - started) / len(observations)
        decisions = []
        for obs, (text, prompt_tokens, completion_tokens) in zip(observations, replies, strict=True):
            parsed = parse(text, obs)
            decisions.append(
                Decision(
                    parsed.action, text, parsed.error, share, prompt_tokens, completion_tokens,
                    parsed.repaired, self.seat_identity(obs["creature"]),
                )
            )
        return decisions


def _identity(model: str, adapter: str | None) -> str:
    base = os.path.basename(str(model).rstrip("/")) or str(model)
    return f"hf:{base}" + (f"+{os.path.basename(str(adapter).rstrip('/'))}" if adapter else "")
