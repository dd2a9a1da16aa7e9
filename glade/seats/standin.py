"""The rule-based stand-in (glade.env.standin) as a seat."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from glade.env import standin

from .base import Decision, Policy


@dataclass(frozen=True)
class StandIn:
    disposition: standin.Disposition
    seed: int = 0

    @property
    def name(self) -> str:  # a seed other than 0 plays otherwise, so its rows and faults say which
        return f"standin:{self.disposition.name}" + (f"@{self.seed}" if self.seed else "")

    def act(self, observations: list[dict]) -> list[Decision]:
        return [Decision(standin.act(obs, self.disposition, self.seed)) for obs in observations]

    def batch_key(self) -> Hashable:
        return id(self)

    def act_batch(self, seats: list[tuple[Policy, dict]]) -> list[Decision]:
        return self.act([obs for _, obs in seats])
