"""What the two model policies share (glade.seats.hf_policy's HFPolicy on transformers,
glade.seats.vllm's VLLMPolicy on vLLM): the body of `act_batch`, which
renders every seat's prompt, gives each structured seat its state's schema, answers them all in
one engine call and reads the replies as Decisions."""

from __future__ import annotations

import time
from collections.abc import Callable

from glade.env.action_schema import action_schema
from glade.env.protocol import render

from .base import Decision, Generation, ModelSeat, model_decisions

# (conversations, schemas) -> (replies, copied, cut or None): one engine call for every seat given
Answer = Callable[[list[list[dict]], list[dict | None]], tuple[list, list[bool], list[bool] | None]]


def answer_seats(seats: list[tuple[ModelSeat, dict]], gen: Generation, answer: Answer) -> list[Decision]:
    """(policy, observation) pairs answered by `answer` in one call (the caller has checked that
    every policy shares its engine and `gen`), as Decisions, each with its seat's share of the
    call's time."""
    started = time.perf_counter()
    conversations = [render(obs) for _, obs in seats]
    schemas = [action_schema(obs) if p.gen.structured else None for p, obs in seats]
    replies, copied, cut = answer(conversations, schemas)
    share = (time.perf_counter() - started) / len(seats)
    identities = [p.seat_identity(obs["creature"]) for p, obs in seats]
    return model_decisions([obs for _, obs in seats], replies, identities, share, gen.max_new_tokens, copied, cut)
