"""The one-line errors of the vLLM engine (glade.seats.vllm), here without vLLM so that the
main test suite checks them: an engine vLLM would not start, and a prompt longer than its
context."""

from __future__ import annotations

import re

from .spec import DTYPE_NAMES


def load_failure(model: str, device: str, exc: Exception) -> str:
    """An engine vLLM would not start: its first line that says why (pydantic opens with `1
    validation error for ModelConfig` and says why on the next), and the way out: the seat's own
    key where that is the cause (engine: hf has no max_model_len), else engine: hf."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    lines = [line for line in lines if not re.fullmatch(r"\d+ validation errors? for \w+", line)]
    reason = (lines or [type(exc).__name__])[0]
    if reason.startswith("Value error, "):  # pydantic's: its first sentence (the rest runs on for lines)
        reason = reason.removeprefix("Value error, ").split(" [type=")[0].split(". ")[0]
    reason = reason.rstrip(".")
    if device == "cpu" and "gpu-memory-utilization" in reason:  # a flag of vLLM's CLI, not of a seat
        reason += "; a seat sizes vLLM's KV cache on CPU with VLLM_CPU_KVCACHE_SPACE=GIB in the environment"
    if "max_model_len" in reason:
        way_out = "lower the seat's max_model_len, or leave it out for the model's own context length"
    elif "dtype" in reason:
        way_out = "give the seat another dtype (" + ", ".join(DTYPE_NAMES) + ")"
    else:
        way_out = "run it on the transformers engine instead (engine: hf)"
    return f"vLLM cannot load {model!r}: {reason}; {way_out}"


def too_long(model: str, max_model_len: int | None, prompt: int, new_tokens: int) -> str:
    """A prompt longer than the engine's context: vLLM refuses the whole call."""
    if max_model_len is None:
        return (
            f"seat spec model {model!r}: a prompt of {prompt:,} tokens is longer than the model's context"
            " length, so vLLM cannot answer it; seat a model with a longer context"
        )
    return (
        f"seat spec max_model_len: a prompt of {prompt:,} tokens does not fit max_model_len {max_model_len:,};"
        f" raise it to at least {prompt + new_tokens:,} (the prompt and max_new_tokens {new_tokens:,}),"
        " or leave it out for the model's own context length"
    )
