"""The vLLM engine's stop rule (glade.seats.vllm): a row ends at the model's end token or once its
first top-level JSON object has closed, as the hf engine's `JsonEnd` ends it, here as a vLLM
logits processor (`JsonStop`) that rows whose SamplingParams carry STOP_AT_JSON_END turn on.
Imported by glade.seats.vllm, which sets vLLM's environment before vLLM loads."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import AutoTokenizer
from vllm import SamplingParams
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor
from vllm.v1.sample.logits_processor.builtin import process_dict_updates

from .structured import JsonScan

STOP_AT_JSON_END = "glade_json_stop"  # SamplingParams.extra_args key that turns JsonStop on for a row


@dataclass
class _Row:
    """JsonStop's state for one row: the scanner and how many of its output ids it has read."""

    scan: JsonScan
    output_ids: list[int]  # vLLM's live list of the row's generated ids
    eos: int
    read: int = 0


class JsonStop(LogitsProcessor):
    """Ends a row once the first top-level JSON object it generated has closed (`JsonScan`,
    fed token by token exactly as the hf engine's JsonEnd feeds it): from then on only the
    row's end token can be sampled (a schema's grammar allows nothing else there either).
    Rows whose SamplingParams lack STOP_AT_JSON_END are left alone."""

    def __init__(self, vllm_config, device: torch.device, is_pin_memory: bool):
        config = vllm_config.model_config
        self.tokenizer = AutoTokenizer.from_pretrained(config.tokenizer, trust_remote_code=config.trust_remote_code)
        self.rows: dict[int, _Row] = {}
        self.pieces: dict[int, str] = {}  # token id -> its text alone, as JsonEnd decodes it

    def is_argmax_invariant(self) -> bool:
        return False  # it forces the end token, which changes greedy picks

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        process_dict_updates(self.rows, batch_update, self._new_row)

    def _new_row(self, params: SamplingParams, _prompt_ids, output_ids: list[int]) -> _Row | None:
        if not (params.extra_args or {}).get(STOP_AT_JSON_END) or params.eos_token_id is None:
            return None
        return _Row(JsonScan(), output_ids, params.eos_token_id)

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        closed = []
        for index, row in self.rows.items():
            ids = row.output_ids
            # -1 marks a token still in flight under async scheduling: read up to it
            while not row.scan.done and row.read < len(ids) and ids[row.read] >= 0:
                row.scan.feed(self._piece(ids[row.read]))
                row.read += 1
            if row.scan.done:
                closed.append(index)
        if closed:
            rows = torch.tensor(closed, device=logits.device)
            eos = torch.tensor([self.rows[i].eos for i in closed], device=logits.device)
            logits[rows] = float("-inf")
            logits[rows, eos] = 0.0
        return logits

    def _piece(self, token: int) -> str:
        if token not in self.pieces:
            self.pieces[token] = self.tokenizer.decode([token], skip_special_tokens=True)
        return self.pieces[token]
