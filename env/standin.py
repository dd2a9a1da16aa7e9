"""The rule-based stand-in: wants-thresholds, with dispositions as parameters.

It is the fast offline policy and the reference live models are compared against, so
every choice follows from its parameters. For each good, in order:

1. want = needs[good] * horizon, for firewood and for the `appetite` cheapest diet foods
   (a food it makes counts among them); other goods: want 0. Below want, and not a good
   it makes: buy the gap.
2. Above want + surplus: sell the excess.
3. Talk or a whispered tip about the good (talk > whisper when both): the disposition's
   reaction replaces the above. `dump` sells all but `dump_keep` units at a deep
   discount; `hoard` buys `hoard_units` at a premium (unless it makes the good);
   `ignore` keeps rules 1-2.
4. momentum > 0 (speculator): after a reference move above +momentum buy `swing_units`,
   below -momentum sell them (when no rule above fired).

Limits sit at the reference price, plus `bid` for buys, minus `ask` for sells, plus a
jitter in [-jitter, +jitter] that is a CRC-32 of (seed, turn, creature, good): deterministic,
stateless, so asking "what would the stand-in do here?" never changes a later answer.
Buys are then cut, last good first, to spend at most `budget` of the pebbles held.
It never buys a good it makes.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Literal

from .legends import FALL, RISE

Reaction = Literal["ignore", "dump", "hoard"]


@dataclass(frozen=True)
class Disposition:
    name: str
    horizon: int = 2  # turns of use it keeps in store
    surplus: int = 3  # units above want it keeps before selling
    bid: float = 0.05
    ask: float = 0.05
    jitter: float = 0.03
    budget: float = 0.5  # share of pebbles it spends in a turn, at most
    on_fall: Reaction = "ignore"  # reaction to talk that a good will fall
    on_rise: Reaction = "ignore"  # reaction to talk that a good will rise
    dump_keep: int = 0
    dump_discount: float = 0.3
    hoard_units: int = 5
    hoard_premium: float = 0.2
    momentum: float = 0.0
    swing_units: int = 3


DISPOSITIONS: dict[str, Disposition] = {
    d.name: d
    for d in (
        Disposition("balanced"),
        Disposition("panic_seller", on_fall="dump", on_rise="hoard", surplus=2),
        Disposition("hoarder", on_fall="hoard", on_rise="hoard", horizon=3, surplus=30, budget=0.7),
        Disposition("speculator", momentum=0.04, on_rise="hoard", budget=0.6),
    )
}


def disposition(name: str) -> Disposition:
    try:
        return DISPOSITIONS[name]
    except KeyError:
        raise ValueError(f"unknown disposition {name!r} (known: {', '.join(DISPOSITIONS)})") from None


def _unit(h: int) -> float:
    return h / 0x7FFFFFFF - 1.0  # a 32-bit hash -> [-1, 1]


def act(obs: dict, d: Disposition, seed: int = 0) -> dict:
    """The stand-in's action (the JSON action form) for one observation."""
    inventory, needs, makes, fuel = obs["inventory"], obs["needs"], obs["produces"], obs["fuel"]
    talk, whisper, prices = obs["talk"], obs["whisper"], obs["prices"]
    eats = [g for g in inventory if needs[g] and g != fuel]
    appetite = obs["appetite"]
    if len(eats) > appetite:  # the foods it makes first, then the cheapest (ties: goods order)
        eats.sort(key=lambda g: (-makes[g], float(prices[g])))
        del eats[appetite:]
    horizon, surplus, momentum = d.horizon, d.surplus, d.momentum
    key = None  # CRC-32 of "seed|turn|creature|", the jitter's stem, made when first needed
    buys, sells = [], []
    for good, held in inventory.items():
        own = makes[good] == 1
        want = needs[good] * horizon if good == fuel or good in eats else 0
        side, qty, premium = None, 0, 0.0
        if held < want and not own:
            side, qty = "buy", want - held
        elif held > want + surplus:
            side, qty = "sell", held - want - surplus
        signal = talk[good] or whisper[good]
        reaction = "ignore" if not signal else d.on_fall if signal == FALL else d.on_rise if signal == RISE else "ignore"
        if reaction == "dump" and held > d.dump_keep:
            side, qty, premium = "sell", held - d.dump_keep, d.dump_discount
        elif reaction == "hoard" and not own:
            side, qty, premium = "buy", max(qty if side == "buy" else 0, d.hoard_units), d.hoard_premium
        elif side is None and momentum > 0:
            move = float(obs["price_moves"][good])
            if move > momentum and not own:
                side, qty = "buy", d.swing_units
            elif move < -momentum and held > 0:
                side, qty = "sell", min(held, d.swing_units)
        if side is None or qty <= 0:
            continue
        if key is None:
            key = zlib.crc32(f"{seed}|{obs['turn']}|{obs['creature']}|".encode())
        noise = d.jitter * _unit(zlib.crc32(good.encode(), key))
        ref = float(prices[good])
        if side == "buy":
            buys.append([good, qty, round(ref * (1.0 + d.bid + premium + noise), 2)])
        else:
            sells.append([good, qty, round(max(0.01, ref * (1.0 - d.ask - premium + noise)), 2)])
    budget = d.budget * max(0.0, float(obs["pebbles"]))
    spend = sum(q * p for _, q, p in buys)
    for order in reversed(buys):  # needs come first in goods order; trim from the back
        if spend <= budget:
            break
        over = spend - budget
        cut = min(order[1], int(-(-over // order[2])))
        order[1] -= cut
        spend -= cut * order[2]
    orders = [{"side": "buy", "good": g, "qty": q, "price": p} for g, q, p in buys if q > 0]
    orders += [{"side": "sell", "good": g, "qty": q, "price": p} for g, q, p in sells]
    return {"orders": orders}
