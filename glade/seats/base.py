"""The Policy protocol: anything that picks actions for seats, batched. Imports no seat.

A policy takes a list of observations (as `glade.env.parallel_env` returns them) and
returns one Decision per observation. Rollouts answer many seats at once: seats whose
policies share a `batch_key()` are answered together, in one `act_batch` call of the first
of them, so that a council of LoRA adapters on one base model costs one generate per turn.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from glade.env.protocol import Parsed, parse
from glade.env.schema import LONE_SURROGATE, did_you_mean

STRUCTURED = "+structured"  # ends the identity of a seat with structured decoding


def utf8_text(text: str) -> str:
    """`text` with each lone surrogate as U+FFFD: a server's JSON or a python seat's string may
    hold one, which no UTF-8 row or file can, and the run would stop while writing the batch."""
    return LONE_SURROGATE.sub("\ufffd", text)


@dataclass(frozen=True)
class Generation:
    """How a model seat decodes (the seat spec's generation keys), for either engine. Here, with
    no torch, so that a spec check can read its defaults."""

    max_new_tokens: int = 160
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int = 0
    batch_size: int = 32  # rows per generate call; larger batches are split (32 measured best on CPU)
    prefix_cache: bool = True  # reuse each role card's keys/values instead of prefilling it every turn
    structured: bool = False  # hold each answer to its state's action schema (glade.seats.structured)


def one_device(device: str) -> str:
    """`cpu` for `cpu:N` (one CPU, whatever index torch is told): seats on it share one model."""
    return "cpu" if device.split(":")[0] == "cpu" else device


def is_loopback(host: str | None) -> bool:
    """localhost, 127.x.x.x or ::1: this machine, however it is spelt."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def model_of(identity: str) -> str:
    """The model a seat identity names (`hf:BASE+ADAPTER[+structured]`, `server:MODEL`): its
    last part after the kind, a checkpoint folder's name for a checkpoint seat (a server's
    model name may hold a colon itself: `server:qwen2.5:0.5b` is `qwen2.5:0.5b`)."""
    return identity.removesuffix(STRUCTURED).split(":", 1)[-1].split("+")[-1]


@dataclass(frozen=True)
class Decision:
    action: dict  # the JSON action form: {"orders": [...], "gossip": "..."}
    text: str | None = None  # the raw completion, for model seats
    error: str | None = None  # a named parse error or fault, None when clean
    latency_s: float = 0.0  # the trace row's latency: a server seat's round trip, a model seat's share of its generate
    prompt_tokens: int = 0
    completion_tokens: int = 0
    repaired: bool = False  # the parser had to fix the completion
    policy: str | None = None  # identity of what decided, when it differs per seat
    shared: bool = False  # the answer of an identical request in the same call, not generated again
    # The model seconds this decision took as the policy measured them in another process (a
    # Ray seat server's share of its batched generate), counted by glade.policy_calls.act_timed in
    # place of an equal share of the call's wall time, which there includes the network. None:
    # act_timed times the call. Unlike latency_s it reaches no trace row: it is run cost only.
    model_s: float | None = None
    # The parser's notes on the answer's orders (`parser_notes`): what it rejected or cut before
    # the Wood saw the action, which the trace row's `rejected` holds ahead of the Wood's own.
    notes: tuple[dict, ...] = ()


@runtime_checkable
class Policy(Protocol):
    name: str

    def act(self, observations: list[dict]) -> list[Decision]:
        """One Decision per observation, in order."""
        ...

    def batch_key(self) -> Hashable:
        """Policies with equal keys are answered together by `act_batch`."""
        ...

    def act_batch(self, seats: list[tuple[Policy, dict]]) -> list[Decision]:
        """One Decision per (policy, observation) pair; every policy here shares this one's key."""
        ...


class ModelSeat(Policy, Protocol):
    """A policy that answers with a model (HFPolicy, VLLMPolicy): what answer_seats reads of each."""

    gen: Generation

    def seat_identity(self, creature: str) -> str:
        """What the creature's rows name as its seat: the model, and its adapter there."""
        ...


PARSER = "parser"  # a note's `by` where the parser made it: its `order` counts the answer's orders


def parser_notes(parsed: Parsed) -> tuple[dict, ...]:
    """The notes the parser's order check made on an answer, in validate_orders' form and order,
    each marked `"by": "parser"`: its rejections and its cuts. Without them a cut or refused order
    is named nowhere in the row: the Wood sees the clean action."""
    return tuple({**n, "by": PARSER} for n in parsed.notes)


CUT_OFF = "cut_off"  # an answer the token budget ended, which the parser could not use whole


def answer_error(parsed: Parsed, text: str, cut: bool) -> str | None:
    """A model answer's error: the parser's, except where the token budget cut the answer off
    (`cut`: it spent the whole budget) and what failed is what was cut: a think block never
    closed, JSON the parser had to close (or could not parse) whose last order or whole
    object failed. That is named `cut_off`, since the budget (max_new_tokens, max_tokens), not
    the model's format, is then what to raise. So is an answer read from before a think block
    opened after it and never closed (`late_think`): the budget ended the model mid-thought, so
    what it meant is unknown. An earlier order's own error, or none, stays."""
    if not cut:
        return parsed.error
    if parsed.error == "unclosed_think" or "late_think" in parsed.repairs:  # a think block never closed
        return CUT_OFF  # still thinking when the budget ran out
    if parsed.error is None:
        return None
    if "closed_braces" not in parsed.repairs and parsed.error != "bad_json":
        return parsed.error  # the answer closed on its own: whatever failed was not cut
    last = len(parsed.action.get("orders", [])) + len(parsed.dropped) - 1  # every order is kept or dropped
    if parsed.dropped and parsed.dropped[0]["order"] != last:
        return parsed.error
    return CUT_OFF


def model_identity(engine: str, model: str, adapter: str | None, structured: bool) -> str:
    """A model seat's identity in rows: `ENGINE:BASE[+ADAPTER][+structured]`, by folder names."""
    base = os.path.basename(str(model).rstrip("/")) or str(model)
    adapter_part = f"+{os.path.basename(str(adapter).rstrip('/'))}" if adapter else ""
    return f"{engine}:{base}{adapter_part}" + (STRUCTURED if structured else "")


def identity_clash(seats: Iterable[tuple[Hashable, str, object]]) -> tuple[tuple, tuple, str] | None:
    """Two seats that write one identity in rows but differ in what decides their answers (two
    models in folders of one name: `model_identity` keeps names only), which every reader of the
    rows would take as one policy. `seats`: (where, identity, what decides it); the first such
    pair, as ((where, what), (where, what), identity), or None."""
    first: dict[str, tuple[Hashable, object]] = {}
    for where, identity, deciding in seats:
        other, theirs = first.setdefault(identity, (where, deciding))
        if theirs != deciding:
            return (other, theirs), (where, deciding), identity
    return None


def model_decisions(
    observations: list[dict],
    replies: list[tuple[str, int, int]],
    identities: list[str],
    share_s: float,
    cap: int,
    copied: list[bool],
    cut: list[bool] | None = None,
) -> list[Decision]:
    """One batched generate's replies (text, prompt tokens, completion tokens) as Decisions:
    each parsed against its own observation, a reply that spent the whole budget (`cap` new
    tokens) or that `cut` says the engine cut (vLLM's context full) judged by `answer_error`,
    each named by its seat's identity, each marked shared where `copied` says its reply was
    another row's."""
    decisions = []
    for row, (obs, (text, prompt_tokens, completion_tokens), identity, shared) in enumerate(
        zip(observations, replies, identities, copied, strict=True)
    ):
        parsed = parse(text, obs)
        error = answer_error(parsed, text, completion_tokens >= cap or (cut is not None and cut[row]))
        decisions.append(
            Decision(
                parsed.action,
                text,
                error,
                share_s,
                prompt_tokens,
                completion_tokens,
                parsed.repaired,
                identity,
                shared,
                notes=parser_notes(parsed),
            )
        )
    return decisions


def distinct_rows(keys: list[Hashable]) -> tuple[list[int], list[int]]:
    """The first row of each distinct key, and for every row the place of its key among them.
    Greedy decoding answers identical requests alike, so an engine generates each once: the
    worlds of an evaluation play identical turns (a council's worlds of one seed in scenarios
    that part at the legend, before it; at turn 0, worlds whose seeds open alike): 1,136 of
    the crash-gambit recipe's 2,880 live decisions. Benchmarks that time every row they count
    turn it off (the engines' `share_identical`)."""
    place: dict[Hashable, int] = {}
    firsts: list[int] = []
    for row, key in enumerate(keys):
        if key not in place:
            place[key] = len(firsts)
            firsts.append(row)
    return firsts, [place[key] for key in keys]


def copies(firsts: list[int], place: list[int]) -> list[bool]:
    """For each row of `distinct_rows(keys)`, whether it copies an earlier row's answer."""
    return [firsts[j] != row for row, j in enumerate(place)]


def once_each(rows: int, keys: list[Hashable] | None, generate: Callable[[list[int]], list]) -> tuple[list, list[bool]]:
    """Every row's reply, and whether it is a copy: `generate(firsts)` answers the first row of
    each distinct key (`keys` None: every one of the `rows`, as sampled rows must be)."""
    firsts, place = distinct_rows(keys) if keys is not None else (list(range(rows)), list(range(rows)))
    replies = generate(firsts)
    return [replies[j] for j in place], copies(firsts, place)


def request_key(conversation: list[dict], adapter: Hashable, schema: dict | None) -> Hashable:
    """What decides a greedy answer: the messages, the adapter and the schema (or None)."""
    messages = tuple((m["role"], m["content"]) for m in conversation)
    return messages, adapter, None if schema is None else json.dumps(schema, sort_keys=True)


class SeatSpecError(ValueError):
    """A seat spec that cannot be loaded; the message says which key and why."""


def first_line(exc: BaseException) -> str:
    """`Type: the first line of its text` (transformers, PEFT and users' code write pages)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


class SeatAnswerError(TypeError, ValueError):
    """A python seat whose `act` raised, or answered in a form no row can hold; the message
    names the seat. A TypeError (a wrong answer is a wrong type) and a ValueError, so the CLI
    prints it as one `error:` line, as it does every other mistake in what the user gave."""


def check_keys(spec: dict, allowed: set[str]) -> None:
    for key in spec:
        if key not in allowed:
            raise SeatSpecError(
                f"seat spec {spec['kind']}: unknown key {key!r} (known: {', '.join(sorted(allowed))})"
                + did_you_mean(key, allowed)
            )
