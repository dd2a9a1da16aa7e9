"""The rule-based stand-in (glade.env.standin) as a seat."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from glade.env import standin

from .base import Decision, Policy

PREFIX = "standin:"  # every stand-in's label starts so: rows, plans and cards tell the free seats by it


def label(disposition_name: str, seed: int = 0) -> str:
    """`standin:NAME`, or `standin:NAME@SEED`: a seed other than 0 plays otherwise, so its rows and
    faults say which."""
    return PREFIX + disposition_name + (f"@{seed}" if seed else "")


@dataclass(frozen=True)
class StandIn:
    disposition: standin.Disposition
    seed: int = 0

    @property
    def name(self) -> str:
        return label(self.disposition.name, self.seed)

    def act(self, observations: list[dict]) -> list[Decision]:
        # a rule, no model: none of the call's time is model time
        return [Decision(standin.act(obs, self.disposition, self.seed), model_s=0.0) for obs in observations]

    def batch_key(self) -> Hashable:
        return id(self)

    def act_batch(self, seats: list[tuple[Policy, dict]]) -> list[Decision]:
        return self.act([obs for _, obs in seats])
