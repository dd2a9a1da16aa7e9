"""The rule-based stand-in: wants-thresholds, with dispositions as parameters.

It is the fast offline policy and the reference live models are compared against, so
every choice follows from its parameters. For each good, in order:

1. want = needs[good] * horizon, for firewood and for the `appetite` cheapest diet foods
   (a food it makes counts among them); other goods: want 0. Below want, and not a good
   it makes: buy the gap.
2. Above want + surplus: sell the excess.
3. Talk or a whispered tip about the good (talk > whisper when both): the disposition's
   reaction replaces the above. `dump` sells all but `dump_keep` units at a deep
   discount; `hoard` buys at least `hoard_units` (the gap of rule 1 if larger) at a premium
   (unless it makes the good); `ignore` keeps rules 1-2.
4. momentum > 0 (speculator): after a reference move above +momentum buy `swing_units`,
   below -momentum sell them (when no rule above fired).

Limits sit at the reference price, plus `bid` for buys, minus `ask` for sells, plus a
jitter in [-jitter, +jitter] that is a CRC-32 of (seed, turn, creature, good): deterministic,
stateless, so asking "what would the stand-in do here?" never changes a later answer.
Buys are then cut, last good first, to spend at most `budget` of the pebbles held.
It never buys a good it makes.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from .legends import FALL, RISE
from .market import MAX_PRICE, MIN_PRICE, PRICE_CAP, cents_at_most
from .protocol import MAX_QTY, _canonical_observations
from .schema import RECIPES, ConfigError, build, fail, finite, read_yaml, shown

Reaction = Literal["ignore", "dump", "hoard"]
DISPOSITION_DIR = RECIPES / "dispositions"
LOCAL_DISPOSITION_DIR = Path("recipes") / "dispositions"  # a checkout's own: named by path, never by name
SHIPPED = ("balanced", "panic_seller", "hoarder", "speculator")  # recipes/dispositions/<name>.yaml, in this order


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


DISPOSITION_KEYS = frozenset(Disposition.__dataclass_fields__)  # what a disposition YAML may say

# field -> (lowest, highest) allowed; None: no bound on that side
BOUNDS = {
    "horizon": (0, None),
    "surplus": (0, None),
    "bid": (-0.99, 10.0),
    "ask": (-10.0, 0.99),
    "jitter": (0.0, 0.99),
    "budget": (0.0, 1.0),
    "dump_keep": (0, None),
    "dump_discount": (0.0, 0.99),
    # a quantity past the parser's and the default market's limit (500) is rejected whole (absurd_qty)
    "hoard_units": (0, MAX_QTY),
    "hoard_premium": (0.0, 10.0),
    "momentum": (0.0, None),
    "swing_units": (0, MAX_QTY),
}
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def check_disposition(d: Disposition, source: str | None = None) -> Disposition:
    """The ranges the types alone cannot say; a ConfigError names the file and the key."""
    if not d.name or len(d.name) > 64 or not set(d.name) <= NAME_CHARS:
        fail(source, "name", "must be 1 to 64 letters, digits, '_', '-' or '.'")
    for key, (low, high) in BOUNDS.items():
        value = getattr(d, key)
        if isinstance(value, float):  # NaN passes the comparisons below; YAML's are refused earlier
            finite(value, source, key)
        if (low is not None and value < low) or (high is not None and value > high):
            fail(source, key, f"must be {_range(low, high)}, got {shown(value)}")
    return d


def _range(low, high) -> str:
    return f"at least {low}" if high is None else f"from {low} to {high}"


def load_disposition(path: str | Path) -> Disposition:
    """A disposition YAML file: any fields of Disposition (`name` defaults to the file's stem);
    an unknown key, a wrong type or a value out of range is a one-line ConfigError."""
    path = Path(path)
    data = read_yaml(path)
    if not data:  # every default is the balanced stand-in's: an empty file is a save that went wrong
        raise ConfigError(
            f"{path}: is empty; a disposition sets its parameters (see {DISPOSITION_DIR / 'balanced.yaml'})"
        )
    data.setdefault("name", path.stem)
    return check_disposition(build(Disposition, data, str(path)), str(path))


DISPOSITIONS: dict[str, Disposition] = {name: load_disposition(DISPOSITION_DIR / f"{name}.yaml") for name in SHIPPED}


def is_disposition_path(ref: str) -> bool:
    """A disposition reference that names a file rather than a shipped disposition."""
    return ref.endswith((".yaml", ".yml")) or "/" in ref or os.sep in ref


def disposition(ref: str) -> Disposition:
    """A shipped disposition by name (recipes/dispositions/), or a disposition YAML by path."""
    if not isinstance(ref, str):
        raise ValueError(f"disposition: expected a name or a path to a .yaml file, got {ref!r}")
    if ref in DISPOSITIONS:
        return DISPOSITIONS[ref]
    if is_disposition_path(ref):
        path = Path(ref).expanduser()
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            raise ConfigError(f"{ref}: no such disposition file") from None
        return _not_shadowing(_load_once(str(path.resolve()), stamp), ref)
    known = ", ".join(DISPOSITIONS)
    local = LOCAL_DISPOSITION_DIR / f"{ref}.yaml"
    # only a path names a file: a name is hashed into a scenario as written, so a name found in the
    # working folder would let two different files run under one scenario hash
    there = (
        f"; {local} exists: pass its path (in a scenario file, a path from that file's folder)"
        if local.is_file()
        else ""
    )
    raise ValueError(f"unknown disposition {ref!r} (known: {known}; or a path to a disposition .yaml){there}")


def read_disposition(path: str | Path) -> Disposition:
    """A disposition file as every run reads it (glade validate asks the same): load_disposition,
    then refused where it changes a shipped disposition under the shipped name."""
    return _not_shadowing(load_disposition(path), str(path))


def _not_shadowing(d: Disposition, ref: str) -> Disposition:
    """A file may repeat a shipped disposition but not change it under the shipped name:
    rows, ranks and calibrations tell stand-ins apart by name, so the two would merge."""
    shipped = DISPOSITIONS.get(d.name)
    if shipped is None or d == shipped:
        return d
    written = _written_keys(ref)
    differ = []
    for key in Disposition.__dataclass_fields__:
        mine, theirs = getattr(d, key), getattr(shipped, key)
        if mine != theirs:  # a key left out takes the Disposition default, not the shipped value
            how = "" if key in written else "a default: not in the file; "
            differ.append(f"{key} {mine!r} ({how}shipped {theirs!r})")
    named = "" if "name" in written else " (from its file's name: it writes no name:)"
    raise ConfigError(
        f"{ref}: its name {d.name!r}{named} is a shipped disposition's, but it differs from the shipped one in "
        f"{', '.join(differ)}; results tell stand-ins apart by name, so give the file a name of its own "
        "(name: ...), or write the shipped values"
    )


def _written_keys(ref: str) -> set[str]:
    """The keys the file sets (read again: only for a refusal's message)."""
    try:
        return set(read_yaml(Path(ref)))
    except (ValueError, OSError):
        return set(DISPOSITION_KEYS)  # unreadable now: say nothing of defaults


@lru_cache(maxsize=64)
def _load_once(path: str, stamp: int) -> Disposition:
    """One read per file version: rollouts ask for the same file once a decision."""
    return load_disposition(path)


def act(obs: dict, d: Disposition | str, seed: int = 0) -> dict:
    """The stand-in's action (the JSON action form) for one observation; `d` is a Disposition
    or a name `disposition()` takes."""
    if type(d) is not Disposition:
        d = disposition(d)
    inventory, needs, makes, fuel = obs["inventory"], obs["needs"], obs["produces"], obs["fuel"]
    talk, whisper, prices = obs["talk"], obs["whisper"], obs["prices"]
    eats = []
    for g in inventory:
        if needs[g] and g != fuel:
            eats.append(g)
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
        if side is None and not signal and momentum <= 0:
            continue  # no rule fires for this good (most goods, most turns)
        reaction = d.on_fall if signal == FALL else d.on_rise if signal == RISE else "ignore"
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
        if qty > MAX_QTY:  # a larger order is rejected whole (absurd_qty): sell or buy the most one can
            qty = MAX_QTY
        if key is None:
            key = zlib.crc32(f"{seed}|{obs['turn']}|{obs['creature']}|".encode())
        noise = d.jitter * (zlib.crc32(good.encode(), key) / 0x7FFFFFFF - 1.0)  # a 32-bit hash -> [-1, 1]
        ref = float(prices[good])
        limit = ref * (1.0 + d.bid + premium + noise) if side == "buy" else ref * (1.0 - d.ask - premium + noise)
        # within the action space's prices, as the Wood takes them (comparisons: min/max cost more),
        # and the action schema's cap, so a bold disposition's answer is one a held seat could give
        limit = round(MIN_PRICE if limit < MIN_PRICE else MAX_PRICE if limit > MAX_PRICE else limit, 2)
        if limit > PRICE_CAP * ref:  # after rounding: 33.336 rounds to 33.34 over a cap of 33.33
            limit = max(MIN_PRICE, cents_at_most(PRICE_CAP * ref))  # as the schema's cap
        (buys if side == "buy" else sells).append([good, qty, limit])
    pebbles = float(obs["pebbles"])
    budget = d.budget * (pebbles if pebbles > 0.0 else 0.0)
    spend = sum([q * p for _, q, p in buys])
    for order in reversed(buys):  # needs come first in goods order; trim from the back
        if spend <= budget:
            break
        over = spend - budget
        cut = min(order[1], int(-(-over // order[2])))
        order[1] -= cut
        spend -= cut * order[2]
    orders = []  # plain loops: a comprehension's setup costs more than two or three orders
    for g, q, p in buys:
        if q > 0:
            orders.append({"side": "buy", "good": g, "qty": q, "price": p})
    for g, q, p in sells:
        orders.append({"side": "sell", "good": g, "qty": q, "price": p})
    return {"orders": orders}


# beside the shipped dispositions: bold enough that the price cap and MAX_PRICE bind and dumps keep some units,
# branches no shipped one reaches but a disposition file may
_PROBE = Disposition(
    "probe", bid=9.5, budget=1.0, dump_keep=1, on_fall="dump", on_rise="hoard", momentum=0.1, swing_units=4
)


def _canonical_cases() -> list[tuple[dict, int]]:
    """Fixed (observation, seed) pairs whose decisions define STANDIN_VERSION: the protocol's busy and quiet turns
    (rising and falling talk, a shortage, a surplus of what it makes), another seed, whispers, holdings at want with
    moves past any momentum either way, a budget that cuts a buy and one that cuts none, an order past MAX_QTY and
    extreme references."""
    busy, quiet = _canonical_observations()
    goods = list(busy["inventory"])
    calm = dict.fromkeys(goods, 0)
    whispered = {**busy, "talk": calm, "whisper": {"honey": 2, "firewood": 1, "acorns": 1}}
    at_want = {"honey": 2, "firewood": 2, "acorns": 2}
    moving = {
        **busy,
        "talk": calm,
        "inventory": at_want,
        "price_moves": {"honey": -0.5, "firewood": 0.5, "acorns": 0.5},
    }
    tight, rich = {**busy, "pebbles": 20.0}, {**busy, "pebbles": 1e6}
    extreme = {"honey": 4.0, "firewood": 0.001, "acorns": 3000.0}
    flooded = {**busy, "inventory": {"honey": 2000, "firewood": 0, "acorns": 9}, "prices": extreme, "pebbles": 1e6}
    return [(busy, 0), (busy, 7), (quiet, 0), (whispered, 3), (moving, 0), (tight, 0), (rich, 0), (flooded, 0)]


def _version() -> str:
    """The stand-in's version: a hash of its decisions on the canonical cases, for every shipped disposition and the
    probe, so a change to its code or to a shipped disposition changes the version a ledger records (glade.resume)."""
    named = [*DISPOSITIONS.values(), _PROBE]
    decisions = [[d.name, [act(obs, d, seed) for obs, seed in _canonical_cases()]] for d in named]
    digest = hashlib.sha256(json.dumps(decisions, sort_keys=True).encode()).hexdigest()[:8]
    return "standin-1+" + digest


STANDIN_VERSION = _version()
