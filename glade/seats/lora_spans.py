"""Mixed-adapter batches whose rows are grouped by adapter, each group one slice of the batch.

PEFT's own mixed batch (`generate(adapter_names=...)`) finds each adapter's rows with a Python
index list and gathers and scatters them, in every LoRA layer at every decoding step. On a
small model on CPU that bookkeeping cost about as much as the model itself (a small
crash-gambit eval on the quickstart's adapters: 16 s of 53 s of generate in PEFT's
mixed-batch function alone). With the batch's rows grouped by adapter
(glade.seats.hf.SharedModel.generate), each adapter's rows are one contiguous slice, so the
same LoRA arithmetic runs on views: the base layer on the whole batch, then each adapter's
low-rank update on its slice, added in place. Same rows, same order within a group, same
operations: answers match PEFT's path bit for bit (tests/test_lora_spans.py).

Plain LoRA on linear layers only; a model with anything else (LoRA on embeddings,
modules_to_save, variants) keeps PEFT's own path (`supported`). DoRA, which PEFT's path
cannot batch either, is refused when its seat is loaded (glade.seats.spec).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import torch
import torch.nn.functional as F
from peft import PeftModel
from peft.tuners.lora.layer import Linear as LoraLinear
from peft.tuners.tuners_utils import BaseTunerLayer
from peft.utils import AuxiliaryTrainingWrapper

Span = tuple[str, int, int]  # adapter name, first row, row after the last


def spans(names: list[str]) -> list[Span]:
    """The runs of equal adapter names, in order: ["a", "a", "b"] -> [("a", 0, 2), ("b", 2, 3)]."""
    runs: list[Span] = []
    start = 0
    for row in range(1, len(names) + 1):
        if row == len(names) or names[row] != names[start]:
            runs.append((names[start], start, row))
            start = row
    return runs


def supported(model: torch.nn.Module) -> bool:
    """Whether every adapter on `model` is plain LoRA on linear layers (what `by_spans` does)."""
    if not isinstance(model, PeftModel):
        return False
    for module in model.modules():
        if isinstance(module, AuxiliaryTrainingWrapper):  # modules_to_save, trainable tokens
            return False
        if isinstance(module, BaseTunerLayer) and (not isinstance(module, LoraLinear) or module.lora_variant):
            return False
    return True


@contextmanager
def by_spans(model: PeftModel, runs: list[Span], base: str) -> Iterator[None]:
    """Inside, every forward of `model` reads rows runs[i][1]:runs[i][2] through adapter
    runs[i][0] (`base`: the bare base model). PEFT's layers are switched off and each LoRA
    linear layer adds its adapters' updates to the base output, slice by slice."""
    hooks = []
    for layer in model.modules():
        if isinstance(layer, LoraLinear) and (updates := _updates(layer, runs, base)):
            hooks.append(layer.register_forward_hook(partial(_add_updates, updates=updates)))
    try:
        with model.disable_adapter():
            yield
    finally:
        for hook in hooks:
            hook.remove()


# (first row, row after the last, A's weight and bias, B's weight and bias, scaling, dropout)
Update = tuple[
    int, int, torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None, float, torch.nn.Module | None
]


def _updates(layer: LoraLinear, runs: list[Span], base: str) -> list[Update]:
    """What `layer` adds to each run's rows, looked up once per batch rather than per step.
    Dropout is the identity in eval mode (a seat's model), so it is called only in training."""
    updates = []
    for name, start, stop in runs:
        if name == base or name not in layer.lora_A:
            continue
        a, b = layer.lora_A[name], layer.lora_B[name]
        dropout = layer.lora_dropout[name] if layer.training else None
        updates.append((start, stop, a.weight, a.bias, b.weight, b.bias, layer.scaling[name], dropout))
    return updates


def _add_updates(layer: LoraLinear, args: tuple, result: torch.Tensor, updates: list[Update]) -> torch.Tensor:
    # PEFT's _mixed_batch_forward, operation for operation, on a slice instead of a gathered
    # copy: lora_B(lora_A(dropout(rows))) * scaling, added to the base layer's output.
    x = args[0]
    for start, stop, a, a_bias, b, b_bias, scaling, dropout in updates:
        rows = x[start:stop].contiguous().to(a.dtype)
        if dropout is not None:
            rows = dropout(rows)
        update = F.linear(F.linear(rows, a, a_bias), b, b_bias) * scaling
        result[start:stop].add_(update.to(result.dtype))
    return result
