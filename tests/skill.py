"""Scripted `python` seats with a known order of skill, for the rank tests.

    {kind: python, entry_point: "tests.skill:stand_in", kwargs: {name: NAME, ...Disposition fields}}

Each plays the rule-based stand-in with the given disposition fields (glade.env.standin.
Disposition), under its own name, so that a leaderboard can tell them apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from glade.env import standin
from glade.seats import Decision


@dataclass(frozen=True)
class Scripted:
    disposition: standin.Disposition

    @property
    def name(self) -> str:
        return f"skill:{self.disposition.name}"

    def act(self, observations: list[dict]) -> list[Decision]:
        return [Decision(standin.act(obs, self.disposition)) for obs in observations]


def stand_in(name: str, **fields) -> Scripted:
    return Scripted(standin.Disposition(name, **fields))
