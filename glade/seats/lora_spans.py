"""Mixed-adapter batches whose rows are grouped by adapter, each group one slice of the batch.

PEFT's own mixed batch (`generate(adapter_names=...)`) finds each adapter's rows with a Python
index list and gathers and scatters them, in every LoRA layer at every decoding step. On a
small model on CPU that bookkeeping cost about as much as the model itself (the quickstart's
eval: 16 s of 53 s of generate in PEFT's mixed-batch function alone). With the batch's rows
sorted by adapter, each adapter's rows are one contiguous slice, so the same LoRA arithmetic
runs on views: the base layer on the whole batch, then each adapter's low-rank update on its
slice, added in place. Same rows, same order within a group, same operations: answers match
PEFT's path bit for bit (tests/test_lora_spans.py).

Plain LoRA on linear layers only; a model with anything else (LoRA on embeddings,
modules_to_save, variants) keeps PEFT's own path (`supported`). DoRA, which PEFT's path
cannot batch either, is refused when its seat is loaded (glade.seats.spec).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import torch
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
    layers = [m for m in model.modules() if isinstance(m, LoraLinear)]
    hooks = [layer.register_forward_hook(partial(_add_updates, runs=runs, base=base)) for layer in layers]
    try:
        with model.disable_adapter():
            yield
    finally:
        for hook in hooks:
            hook.remove()


def _add_updates(layer: LoraLinear, args: tuple, result: torch.Tensor, runs: list[Span], base: str) -> torch.Tensor:
    # As PEFT's _mixed_batch_forward does it, on a slice instead of a gathered copy.
    x = args[0]
    for name, start, stop in runs:
        if name == base or name not in layer.lora_A:
            continue
        rows = x[start:stop].contiguous().to(layer.lora_A[name].weight.dtype)
        update = layer.lora_B[name](layer.lora_A[name](layer.lora_dropout[name](rows))) * layer.scaling[name]
        result[start:stop] += update.to(result.dtype)
    return result
