"""The hf seat: creatures seated on one SharedModel (glade.seats.hf), each with its own LoRA
adapter or the bare base, every seat of a turn that shares the model answered in one batched
generate."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field, replace

from glade.env.protocol import role_card

from .base import Decision, Generation, Policy, model_identity
from .hf import SharedModel
from .model_policy import answer_seats


@dataclass
class HFPolicy:
    """Creatures seated on one base model; `adapters` maps creature -> adapter path (or None).

    `default_adapter` serves creatures not in `adapters`."""

    shared: SharedModel
    default_adapter: str | None = None
    adapters: dict[str, str | None] = field(default_factory=dict)
    gen: Generation = field(default_factory=Generation)

    @property
    def name(self) -> str:
        return model_identity("hf", self.shared.model_id, self.default_adapter, self.gen.structured)

    def seat_identity(self, creature: str) -> str:
        return model_identity(
            "hf", self.shared.model_id, self.adapters.get(creature, self.default_adapter), self.gen.structured
        )

    def act(self, observations: list[dict]) -> list[Decision]:
        return self.act_batch([(self, obs) for obs in observations])

    def batch_key(self) -> Hashable:
        """Seats on one base model with one generation config share a batch, whichever
        council, cast or adapter they come from, structured or not (a row's own schema
        constrains it, or nothing does)."""
        return ("hf", id(self.shared), replace(self.gen, structured=False))

    def act_batch(self, seats: list[tuple[Policy, dict]]) -> list[Decision]:
        """Answer (policy, observation) pairs from policies that share this one's model and
        Generation in ONE batched generate: councils and casts that differ only in which
        adapter sits where still cost one call per turn."""
        if not seats:
            return []
        if any(
            not isinstance(p, HFPolicy) or p.shared is not self.shared or p.batch_key() != self.batch_key()
            for p, _ in seats
        ):
            raise ValueError("act_batch: every policy must share one model and one generation config")
        names = [self.shared.adapter_name(p.adapters.get(o["creature"], p.default_adapter)) for p, o in seats]
        heads = [role_card(obs) for _, obs in seats]

        def answer(conversations, schemas):  # all None: unconstrained (SharedModel's own test)
            replies, copied = self.shared.generate_once(conversations, names, self.gen, heads=heads, schemas=schemas)
            return replies, copied, None

        return answer_seats(seats, self.gen, answer)
