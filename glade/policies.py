"""The Policy protocol: anything that picks actions for seats, batched.

A policy takes a list of observations (as `glade.env.parallel_env` returns them) and
returns one Decision per observation. Seat specs are small dicts, the same ones the YAML
recipes use:

    {kind: standin, disposition: hoarder}
    {kind: python, entry_point: "module:factory", kwargs: {...}}
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from glade.env import standin


@dataclass(frozen=True)
class Decision:
    action: dict  # the JSON action form: {"orders": [...], "gossip": "..."}
    text: str | None = None  # the raw completion, for model seats
    error: str | None = None  # a named parse error or fault, None when clean
    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0


@runtime_checkable
class Policy(Protocol):
    name: str

    def act(self, observations: list[dict]) -> list[Decision]: ...


@dataclass(frozen=True)
class StandIn:
    """The rule-based stand-in (glade.env.standin) behind the Policy protocol."""

    disposition: standin.Disposition
    seed: int = 0

    @property
    def name(self) -> str:
        return f"standin:{self.disposition.name}"

    def act(self, observations: list[dict]) -> list[Decision]:
        return [Decision(standin.act(obs, self.disposition, self.seed)) for obs in observations]


class SeatSpecError(ValueError):
    """A seat spec that cannot be loaded; the message says which key and why."""


SEAT_KINDS = ("standin", "python")


def load(spec: dict[str, Any] | str) -> Policy:
    """Build a Policy from a seat spec. A bare string is a stand-in disposition name."""
    if isinstance(spec, str):
        spec = {"kind": "standin", "disposition": spec}
    if not isinstance(spec, dict) or "kind" not in spec:
        raise SeatSpecError(f"seat spec {spec!r}: expected a mapping with a 'kind' ({', '.join(SEAT_KINDS)})")
    kind = spec["kind"]
    if kind == "standin":
        _check_keys(spec, {"kind", "disposition", "seed"})
        try:
            return StandIn(standin.disposition(spec.get("disposition", "balanced")), int(spec.get("seed", 0)))
        except ValueError as exc:
            raise SeatSpecError(f"seat spec disposition: {exc}") from None
    if kind == "python":
        _check_keys(spec, {"kind", "entry_point", "kwargs"})
        return _load_python(spec)
    raise SeatSpecError(f"seat spec kind: unknown kind {kind!r} (known: {', '.join(SEAT_KINDS)})")


def _check_keys(spec: dict, allowed: set[str]) -> None:
    for key in spec:
        if key not in allowed:
            raise SeatSpecError(f"seat spec {spec['kind']}: unknown key {key!r} (known: {', '.join(sorted(allowed))})")


def _load_python(spec: dict) -> Policy:
    entry = spec.get("entry_point")
    if not isinstance(entry, str) or ":" not in entry:
        raise SeatSpecError(f"seat spec entry_point: expected 'module:factory', got {entry!r}")
    module_name, attr = entry.split(":", 1)
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise SeatSpecError(f"seat spec entry_point {entry!r}: {exc}") from None
    policy = factory(**(spec.get("kwargs") or {}))
    if not isinstance(policy, Policy):
        raise SeatSpecError(f"seat spec entry_point {entry!r}: the factory must return a Policy (name, act)")
    return policy
