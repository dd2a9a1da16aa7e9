"""A seat played by any Python object with a `name` and a batched `act`, from an entry point:

    {kind: python, entry_point: "module:factory", kwargs: {...}}

`factory(**kwargs)` returns the object; glade wraps it into a Policy (one batch per object).
"""

from __future__ import annotations

import importlib
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .base import Decision, Policy, SeatSpecError, check_keys


@runtime_checkable
class Scripted(Protocol):
    """What an entry point's factory returns."""

    name: str

    def act(self, observations: list[dict]) -> list[Decision]: ...


@dataclass(frozen=True)
class PythonSeat:
    scripted: Scripted

    @property
    def name(self) -> str:
        return self.scripted.name

    def act(self, observations: list[dict]) -> list[Decision]:
        return self.scripted.act(observations)

    def batch_key(self) -> Hashable:
        return id(self.scripted)

    def act_batch(self, seats: list[tuple[Policy, dict]]) -> list[Decision]:
        return self.scripted.act([obs for _, obs in seats])


def load_python(spec: dict) -> PythonSeat:
    check_keys(spec, {"kind", "entry_point", "kwargs"})
    entry = spec.get("entry_point")
    if not isinstance(entry, str) or ":" not in entry:
        raise SeatSpecError(f"seat spec entry_point: expected 'module:factory', got {entry!r}")
    module_name, attr = entry.split(":", 1)
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise SeatSpecError(f"seat spec entry_point {entry!r}: {exc}") from None
    scripted = factory(**(spec.get("kwargs") or {}))
    if not isinstance(scripted, Scripted):
        raise SeatSpecError(f"seat spec entry_point {entry!r}: the factory must return a Policy (name, act)")
    return PythonSeat(scripted)
