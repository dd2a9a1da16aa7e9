"""Scripted `python` seats: one planted divergence from the stand-in (the flag tests), a
stand-in with changed parameters and a random trader (the calibration tests).

    {kind: python, entry_point: "tests.planted:always_buy_honey", kwargs: {disposition: balanced}}

It plays the rule-based stand-in with the given disposition (give it the disposition the
creature it sits on has in the scenario, so everything else agrees with the stand-in
counterfactual), except that whenever there is public talk about honey it buys `units`
honey at the reference price, replacing whatever it would have done with honey.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

from glade.env import standin
from glade.seats import Decision


@dataclass(frozen=True)
class AlwaysBuyHoney:
    disposition: standin.Disposition
    units: int = 3
    good: str = "honey"

    @property
    def name(self) -> str:
        return f"planted:always_buy_{self.good}:{self.disposition.name}"

    def act(self, observations: list[dict]) -> list[Decision]:
        return [Decision(self._act(obs)) for obs in observations]

    def _act(self, obs: dict) -> dict:
        action = standin.act(obs, self.disposition)
        if int(obs["talk"][self.good]) == 0 or int(obs["produces"][self.good]) == 1:
            return action
        price = round(float(obs["prices"][self.good]), 2)
        units = min(self.units, int(float(obs["pebbles"]) // price)) if price > 0 else 0
        orders = [o for o in action["orders"] if o["good"] != self.good]
        if units > 0:  # first, so the pebbles go to it before the stand-in's other buys
            orders.insert(0, {"side": "buy", "good": self.good, "qty": units, "price": price})
        return {"orders": orders}


def always_buy_honey(disposition: str = "balanced", units: int = 3) -> AlwaysBuyHoney:
    return AlwaysBuyHoney(standin.disposition(disposition), int(units))


@dataclass(frozen=True)
class ChangedStandIn:
    """The stand-in itself, on a disposition with some parameters changed: calibration must find them."""

    disposition: standin.Disposition

    @property
    def name(self) -> str:
        return f"changed:{self.disposition.name}"

    def act(self, observations: list[dict]) -> list[Decision]:
        return [Decision(standin.act(obs, self.disposition)) for obs in observations]


def changed_standin(base: str = "balanced", **changes) -> ChangedStandIn:
    """{kind: python, entry_point: "tests.planted:changed_standin", kwargs: {surplus: 8, on_fall: dump}}"""
    return ChangedStandIn(dataclasses.replace(standin.disposition(base), name="changed", **changes))


@dataclass(frozen=True)
class RandomTrader:
    """Buys, sells or holds each good at random (seeded by the state, so the same state gets the
    same answer): no disposition explains it."""

    seed: int = 0

    @property
    def name(self) -> str:
        return f"random:{self.seed}"

    def act(self, observations: list[dict]) -> list[Decision]:
        out = []
        for obs in observations:
            rng = random.Random(
                f"{self.seed}|{obs['turn']}|{obs['creature']}|{float(obs['pebbles'])}|{obs['inventory']}"
            )
            orders = []
            for good, price in obs["prices"].items():
                side = rng.choice(("buy", "sell", "none"))
                if side != "none":
                    limit = round(float(price) * rng.uniform(0.8, 1.2), 2)
                    orders.append({"side": side, "good": good, "qty": rng.randint(1, 6), "price": limit})
            out.append(Decision({"orders": orders}))
        return out


def random_trader(seed: int = 0) -> RandomTrader:
    return RandomTrader(int(seed))
