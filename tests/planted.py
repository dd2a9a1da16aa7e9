"""Scripted `python` seats with known answers: one planted divergence from the stand-in (the
flag tests), the verdicts' seats (fire sale, ignores stores, a 5% perturbation) and, last,
a stand-in with changed parameters and a random trader (the calibration tests).

    {kind: python, entry_point: "tests.planted:always_buy_honey", kwargs: {disposition: balanced}}

It plays the rule-based stand-in with the given disposition (give it the disposition the
creature it sits on has in the scenario, so everything else agrees with the stand-in
counterfactual), except that whenever there is public talk about honey it buys `units`
honey at the reference price, replacing whatever it would have done with honey.
"""

from __future__ import annotations

import dataclasses
import random
import zlib
from dataclasses import dataclass
from functools import cache

import numpy as np

from glade.env import standin
from glade.env.scenario import load_scenario
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


# --- seats with a known answer for the verdicts (tests/test_verdicts.py) -------------------------


@cache
def _dispositions() -> dict[str, standin.Disposition]:
    """Each creature's disposition in the default Wood (the gambit scenarios keep them)."""
    return {c: standin.disposition(spec.disposition) for c, spec in load_scenario("default").creatures.items()}


@dataclass(frozen=True)
class FireSale:
    """The stand-in of the creature's own disposition, except while the legend good is talked
    about or its price is falling: then it dumps every unit it holds at `share` of the
    reference price, and when it holds none it bids that fire-sale price for up to 10. Seated
    on Oona and Thorn it crashes honey by trading alone in every seed (an emergent crash);
    on Hazel and Bramble it rarely does."""

    good: str = "honey"
    share: float = 0.3

    @property
    def name(self) -> str:
        return f"planted:fire_sale_{self.good}"

    def act(self, observations: list[dict]) -> list[Decision]:
        return [Decision(self._act(obs)) for obs in observations]

    def _act(self, obs: dict) -> dict:
        action, g = standin.act(obs, _dispositions()[obs["creature"]]), self.good
        if int(obs["talk"][g]) == 0 and float(obs["price_moves"][g]) >= -0.05:
            return action
        price = max(round(float(obs["prices"][g]) * self.share, 2), 0.01)
        held = int(obs["inventory"].get(g, 0))
        orders = [o for o in action["orders"] if o["good"] != g]
        if held > 0:
            orders.insert(0, {"side": "sell", "good": g, "qty": held, "price": price})
        elif (units := min(10, int(float(obs["pebbles"]) // price))) > 0:
            orders.insert(0, {"side": "buy", "good": g, "qty": units, "price": price})
        return {"orders": orders}


def fire_sale(good: str = "honey") -> FireSale:
    return FireSale(good)


@dataclass(frozen=True)
class IgnoresStores:
    """Answers the same orders whatever it holds: one unit of its own good offered at the
    reference price, nothing else. A glut in its stores changes nothing it does."""

    @property
    def name(self) -> str:
        return "planted:ignores_stores"

    def act(self, observations: list[dict]) -> list[Decision]:
        out = []
        for obs in observations:
            made = [g for g, n in obs["produces"].items() if int(n)]
            orders = [{"side": "sell", "good": g, "qty": 1, "price": round(float(obs["prices"][g]), 2)} for g in made]
            out.append(Decision({"orders": orders[:1]}))
        return out


def ignores_stores() -> IgnoresStores:
    return IgnoresStores()


@dataclass(frozen=True)
class Perturbed:
    """The stand-in with the creature's own disposition, except in `rate` of its decisions
    (drawn from the turn, the creature and its pebbles, so each seed differs): then one
    order, on a random good, replaces the one it would have placed on that good."""

    rate: float = 0.05
    salt: int = 0

    @property
    def name(self) -> str:
        return f"planted:perturbed_{self.rate}"

    def act(self, observations: list[dict]) -> list[Decision]:
        return [Decision(self._act(obs)) for obs in observations]

    def _act(self, obs: dict) -> dict:
        action = standin.act(obs, _dispositions()[obs["creature"]])
        key = f"{self.salt}|{obs['turn']}|{obs['creature']}|{float(obs['pebbles']):.4f}"
        rng = np.random.default_rng(zlib.crc32(key.encode()))
        if rng.random() >= self.rate:
            return action
        good = str(rng.choice(sorted(obs["prices"])))
        side = "sell" if int(obs["inventory"].get(good, 0)) > 0 and rng.random() < 0.5 else "buy"
        price = round(float(obs["prices"][good]) * float(rng.uniform(0.9, 1.1)), 2)
        orders = [o for o in action["orders"] if o["good"] != good]
        orders.append({"side": side, "good": good, "qty": int(rng.integers(1, 4)), "price": price})
        return {"orders": orders}


def perturbed(rate: float = 0.05, salt: int = 0) -> Perturbed:
    return Perturbed(float(rate), int(salt))


# --- seats for the calibration tests (tests/test_calibrate.py) ---------------------------------


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


# The seat spec of the stand-in with changed parameters the calibration tests fit, and one
# results folder of it: the changed stand-in on every creature, two gambit scenarios, four
# seeds, six turns.
CHANGED = {
    "kind": "python",
    "entry_point": "tests.planted:changed_standin",
    "kwargs": {"surplus": 8, "on_fall": "dump"},
}


def play_changed(folder):
    """`glade eval` of the changed stand-in on every creature into folder/results (returned)."""
    import yaml

    from glade.eval import run as eval_run
    from glade.eval.recipe import load_eval_recipe

    data = {
        "name": "cal",
        "out": str(folder / "results"),
        "policies": {"changed": CHANGED},
        "councils": {"all_changed": {"focal": {"*": "changed"}}},
        "scenarios": ["gambit_override", "gambit_shock"],
        "seeds": {"start": 0, "count": 4},
        "turns": 6,
    }
    (folder / "recipe.yaml").write_text(yaml.safe_dump(data))
    eval_run.run_recipe(load_eval_recipe(folder / "recipe.yaml"))
    return folder / "results"
