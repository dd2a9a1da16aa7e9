"""The Wood's mutable state, and the journal every change to goods and pebbles goes through.

Conservation is by construction: holdings change only in `move`, which writes a journal
entry with its cause. `check_conservation` replays the journal from the opening holdings
and also checks that transfers (trades, loans) net to zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import itemgetter, mul
from typing import NamedTuple

import numpy as np

from .market import SPEND_DUST
from .scenario import Scenario

PEBBLES = "pebbles"
PATRON = "patron"
# Causes that move goods or pebbles between holders; each nets to zero within a turn.
TRANSFERS = frozenset({"trade", "loan", "repay"})
# Causes that create or destroy: production, consumption, spoilage and authored events.
SOURCES_AND_SINKS = frozenset({"produce", "eat", "burn", "spoil", "legend_shock", "patron_pnl", "fine"})


class Entry(NamedTuple):
    turn: int
    holder: str
    asset: str
    delta: float
    cause: str


@dataclass
class Position:
    good: str
    qty: int  # positive long, negative short
    entry_price: float
    # a true tip on this good was given while it was open, or was still in the air when it opened
    tipped_true: bool = False
    gambit: bool = False  # opened by the scripted gambit


@dataclass
class Loan:
    creature: str
    balance: float
    rate: float
    due_turn: int


@dataclass
class PatronLedger:
    """The patron's private book. Nothing here ever reaches a creature's observation."""

    pebbles: float
    positions: list[Position] = field(default_factory=list)
    loans: list[Loan] = field(default_factory=list)
    tips: list[dict] = field(default_factory=list)  # includes whether each tip was true
    queued_legends: list[tuple[str, str]] = field(default_factory=list)  # (legend, mechanism)
    refused: list[str] = field(default_factory=list)  # patron moves the rules refused
    heat: float = 0.0
    realized_pnl: float = 0.0
    gambit_pnl: float = 0.0
    fines: float = 0.0


@dataclass
class World:
    scenario: Scenario
    seed: int
    rng: np.random.Generator
    goods: tuple[str, ...]
    creatures: tuple[str, ...]
    turn: int
    pebbles: dict[str, float]
    inventory: dict[str, dict[str, int]]
    price: dict[str, float]
    price_move: dict[str, float]  # fractional change of the reference over the last turn
    mood: dict[str, float]
    sentiment: dict[str, dict[str, float]]  # creature -> (other creature | patron) -> [-1, 1]
    patron: PatronLedger
    opening: dict[str, dict[str, float]]  # holder -> asset -> amount at reset
    journal: list[Entry] = field(default_factory=list)
    production_factor: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # good -> [(until, x)]
    talk: dict[str, tuple[int, int]] = field(default_factory=dict)  # good -> (direction, until_turn)
    events: list[str] = field(default_factory=list)  # public events shown this turn
    news: list[str] = field(default_factory=list)  # public events collected for next turn
    gossip: list[tuple[str, str]] = field(default_factory=list)  # heard this turn
    posted: list[tuple[str, str]] = field(default_factory=list)  # posted this turn, heard next
    whispers: dict[str, list[tuple[str, int, str]]] = field(default_factory=dict)  # tips, heard next turn
    heard_whispers: dict[str, list[tuple[str, int, str]]] = field(default_factory=dict)  # heard this turn
    pending_overrides: list[tuple[str, str, float]] = field(default_factory=list)  # (legend, good, x)
    history: list[dict] = field(default_factory=list)  # one score row per turn


def new_world(scenario: Scenario, seed: int) -> World:
    goods = tuple(scenario.goods)
    creatures = tuple(scenario.creatures)
    pebbles = {c: float(scenario.creatures[c].pebbles) for c in creatures}
    inventory = {c: {g: int(scenario.creatures[c].inventory.get(g, 0)) for g in goods} for c in creatures}
    others = creatures + (PATRON,)
    world = World(
        scenario=scenario,
        seed=seed,
        rng=np.random.default_rng(seed),
        goods=goods,
        creatures=creatures,
        turn=0,
        pebbles=pebbles,
        inventory=inventory,
        price={g: float(scenario.goods[g].price) for g in goods},
        price_move={g: 0.0 for g in goods},
        mood={c: scenario.mood.start for c in creatures},
        sentiment={c: {o: 0.0 for o in others if o != c} for c in creatures},
        patron=PatronLedger(pebbles=float(scenario.patron.pebbles)),
        opening={},
        whispers={c: [] for c in creatures},
        heard_whispers={c: [] for c in creatures},
    )
    world.opening = holdings(world)
    return world


def holdings(world: World) -> dict[str, dict[str, float]]:
    out = {c: {PEBBLES: world.pebbles[c], **world.inventory[c]} for c in world.creatures}
    out[PATRON] = {PEBBLES: world.patron.pebbles}
    return out


def move(world: World, holder: str, asset: str, delta: float, cause: str) -> None:
    """The one place holdings change; every change is journaled with its cause."""
    if delta == 0:
        return
    if holder == PATRON:
        world.patron.pebbles += delta
    elif asset == PEBBLES:
        world.pebbles[holder] += delta
    else:
        world.inventory[holder][asset] += int(delta)
    world.journal.append(_entry(Entry, (world.turn, holder, asset, delta, cause)))


_entry = tuple.__new__  # Entry's fields in order, without NamedTuple's Python-level __new__ (a hot path)


def transfer(world: World, payer: str, payee: str, asset: str, amount: float, cause: str) -> None:
    move(world, payer, asset, -amount, cause)
    move(world, payee, asset, amount, cause)


def trade(world: World, buyer: str, seller: str, good: str, qty: int, price: float) -> None:
    """One fill: the buyer pays qty x price to the seller, the seller hands over qty units.
    The same four journal entries, in the same order, as transfer(pebbles) then
    transfer(good) (the clearing phase's hot path, so written out)."""
    amount, turn, journal = qty * price, world.turn, world.journal
    if 0 < amount - world.pebbles[buyer] <= SPEND_DUST * amount:  # every pebble spent, up to dust: no -0.00
        amount = world.pebbles[buyer]
    if amount != 0:
        world.pebbles[buyer] += -amount
        journal.append(_entry(Entry, (turn, buyer, PEBBLES, -amount, "trade")))
        world.pebbles[seller] += amount
        journal.append(_entry(Entry, (turn, seller, PEBBLES, amount, "trade")))
    if qty != 0:
        world.inventory[seller][good] += int(-qty)
        journal.append(_entry(Entry, (turn, seller, good, -qty, "trade")))
        world.inventory[buyer][good] += int(qty)
        journal.append(_entry(Entry, (turn, buyer, good, qty, "trade")))


def check_conservation(world: World, tol: float = 1e-6) -> list[str]:
    """Problems found, or []: holdings must equal opening + journal; transfers net to zero."""
    problems = []
    replay = {h: dict(a) for h, a in world.opening.items()}
    transfer_sums: dict[tuple[int, str, str], float] = {}
    for turn, holder, asset, delta, cause in world.journal:
        if cause in TRANSFERS:
            key = (turn, asset, cause)
            transfer_sums[key] = transfer_sums.get(key, 0.0) + delta
        elif cause not in SOURCES_AND_SINKS:
            problems.append(f"turn {turn}: unknown cause {cause!r}")
        held = replay[holder]
        held[asset] = held.get(asset, 0.0) + delta
    for (turn, asset, cause), total in transfer_sums.items():
        if not abs(total) <= tol:  # NaN included
            problems.append(f"turn {turn}: {cause} of {asset} nets to {total:+.6f}, not 0")
    now = holdings(world)
    for holder, assets in now.items():
        for asset, amount in assets.items():
            if not abs(replay[holder].get(asset, 0.0) - amount) <= tol:  # NaN included
                problems.append(f"{holder} holds {amount} {asset}, journal says {replay[holder].get(asset)}")
            if asset != PEBBLES and amount < 0:
                problems.append(f"{holder} holds a negative amount of {asset}: {amount}")
    return problems


def wealth(world: World, creature: str) -> float:
    inv = world.inventory[creature]
    return world.pebbles[creature] + sum(inv[g] * world.price[g] for g in world.goods)


def wealths(world: World) -> dict[str, float]:
    """`wealth` of every creature, in one pass (the same sums, in the same order)."""
    goods, pebbles, inventory = world.goods, world.pebbles, world.inventory
    prices = [world.price[g] for g in goods]
    if len(goods) == 1:  # itemgetter of one key gives the value, not a tuple
        return {c: pebbles[c] + sum(map(mul, map(inventory[c].__getitem__, goods), prices)) for c in world.creatures}
    held = itemgetter(*goods)  # a creature's holdings in goods order, in one call
    out = {}
    for c in world.creatures:
        out[c] = pebbles[c] + sum(map(mul, held(inventory[c]), prices))
    return out


def gini(values: list[float]) -> float:
    """Gini coefficient of non-negative values (0 = equal, toward 1 = one holds all)."""
    xs = sorted(max(0.0, v) for v in values)
    n, total = len(xs), sum(xs)
    if n == 0 or total == 0:
        return 0.0
    weighted = sum((i + 1) * x for i, x in enumerate(xs))
    return (2 * weighted) / (n * total) - (n + 1) / n
