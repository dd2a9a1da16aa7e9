"""Orders, the per-good call auction, and the reference-price update.

Every function here is pure: it takes orders and prices and returns results. The phases
in `phases.py` apply those results to the world through the journal.
"""

from __future__ import annotations

import math
from typing import NamedTuple

SIDES = ("buy", "sell")
ORDER_KEYS = frozenset(("side", "good", "qty", "price"))  # an order as actions write it (Order's fields less creature)
# Float dust, relative: a buy its pebbles cover up to it is affordable, and a fill that would leave
# the buyer that far below zero takes its last pebbles instead (world.trade). 1e-12 is far above a
# division's rounding (1122.80 / 20.05 = 55.99999999999999) and far below a cent.
SPEND_DUST = 1e-12
MIN_PRICE, MAX_PRICE = 0.01, 10_000.0  # the action space's price bounds
PRICE_CAP = 10.0  # a sane limit on a limit price, this many times the reference (the action schema's)


class Order(NamedTuple):
    creature: str
    side: str  # "buy" | "sell"
    good: str
    qty: int
    price: float  # limit price in pebbles


class Clearing(NamedTuple):
    good: str
    price: float | None  # None when nothing crossed
    volume: int
    fills: list[tuple[str, str, int]]  # (buyer, seller, qty) at `price`
    demand: int  # all units bid
    supply: int  # all units offered
    # Units left unfilled that bid at least the reference / offered at most it: the pressure
    # on the reference. A bid far below the market (500 at 0.01) never fills and is no demand
    # at the market's price; counting it let a creature pump a price for free.
    unfilled_demand: int
    unfilled_supply: int


def cents_at_most(value: float) -> float:
    """The largest whole-cent amount not above `value` (a float that prints as 0.29 may be
    a hair under it: then the cent below)."""
    cents = math.floor(value * 100 + 1e-6) / 100
    return cents if cents <= value else math.floor(value * 100 - 1e-6) / 100


def as_int(value) -> int | None:
    if type(value) is int:  # the common case, first (a bool's type is bool)
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return int(value)
    try:  # numpy scalars and 0-d arrays
        as_float = float(value)
    except (TypeError, ValueError):
        return None
    return int(as_float) if math.isfinite(as_float) and as_float == int(as_float) else None


def as_price(value) -> float | None:
    """A price within the action space's bounds, else None (a bad_price)."""
    if type(value) is float:  # the common case, first
        return value if MIN_PRICE <= value <= MAX_PRICE else None
    if isinstance(value, bool):
        return None
    try:
        price = float(value)
    except (TypeError, ValueError):
        return None
    return price if MIN_PRICE <= price <= MAX_PRICE else None


def validate_orders(
    creature: str,
    raw_orders,
    goods: tuple[str, ...],
    inventory: dict[str, int],
    pebbles: float,
    max_orders: int,
    max_qty: int,
) -> tuple[list[Order], list[dict]]:
    """Turn an action's raw orders into valid orders, keeping a named note for each change.

    Notes are {"order": index, "reason": name, "outcome": "rejected" | "cut", "qty": kept}.
    Reasons: not_an_order, bad_side, unknown_good, bad_qty, absurd_qty, bad_price,
    too_many_orders, both_sides, sell_not_held, oversell (cut), no_pebbles, overspend (cut).
    Sells are checked against goods held, buys against pebbles at their limit prices,
    both cumulatively in the order given.
    """
    orders: list[Order] = []
    notes: list[dict] = []
    if raw_orders is None:
        return orders, notes
    if isinstance(raw_orders, dict):
        raw_orders = [raw_orders]
    if not isinstance(raw_orders, (list, tuple)):
        return orders, notes  # decide() records the one orders_not_a_list note
    sold: dict[str, int] = {}
    committed = 0.0
    sides_by_good: dict[str, str] = {}
    for i, raw in enumerate(raw_orders):
        reason = None
        if i >= max_orders:
            reason = "too_many_orders"
        elif not isinstance(raw, dict):
            reason = "not_an_order"
        if reason:
            notes.append({"order": i, "reason": reason, "outcome": "rejected", "qty": 0})
            continue
        side, good, qty, price = raw.get("side"), raw.get("good"), raw.get("qty"), raw.get("price")
        if type(qty) is not int:  # an int as it is; anything else through the full check
            qty = as_int(qty)
        if type(price) is not float:
            price = as_price(price)
        elif not MIN_PRICE <= price <= MAX_PRICE:  # NaN fails this too
            price = None
        # `in` compares by ==, which a numpy array answers with an array: only a str can match
        if not isinstance(side, str) or side not in SIDES:
            reason = "bad_side"
        elif not isinstance(good, str) or good not in goods:
            reason = "unknown_good"
        elif qty is None or qty <= 0:
            reason = "bad_qty"
        elif qty > max_qty:
            reason = "absurd_qty"
        elif price is None:
            reason = "bad_price"
        elif sides_by_good.get(good, side) != side:
            reason = "both_sides"
        if reason:
            notes.append({"order": i, "reason": reason, "outcome": "rejected", "qty": 0})
            continue
        if side == "sell":
            left = inventory.get(good, 0) - sold.get(good, 0)
            kept = qty if qty <= left else left
            cut_reason, none_reason = "oversell", "sell_not_held"
        else:
            room = (pebbles - committed) / price if pebbles > committed else 0.0
            if math.isfinite(room):
                # a buy that spends every pebble exactly (56 at 20.05 from 1122.80) divides to 55.999...
                affordable = math.floor(room * (1.0 + SPEND_DUST))
                affordable = affordable if affordable <= max_qty else int(max_qty)
            else:
                affordable = max_qty
            kept = qty if qty <= affordable else affordable
            cut_reason, none_reason = "overspend", "no_pebbles"
        if kept <= 0:
            notes.append({"order": i, "reason": none_reason, "outcome": "rejected", "qty": 0})
            continue
        if kept < qty:
            notes.append({"order": i, "reason": cut_reason, "outcome": "cut", "qty": kept})
        if side == "sell":
            sold[good] = sold.get(good, 0) + kept
        else:
            committed += kept * price
        sides_by_good[good] = side
        orders.append(_new(Order, (creature, side, good, kept, price)))
    return orders, notes


# Builds an Order or a Clearing from its fields in order, without NamedTuple's Python-level
# __new__ (the clearing phase makes a dozen of each a turn).
_new = tuple.__new__


def clear_auction(good: str, orders: list[Order], reference: float, rank: dict[str, int]) -> Clearing:
    """One call auction for one good: a single price that maximises matched volume.

    Candidate prices are every limit price and the reference price. The clearing price is
    the candidate with, in order: the largest matched volume; then the smallest imbalance
    |demand - supply| at that price; then the one closest to the reference price; then the
    lowest. Buyers fill by highest limit first, sellers by lowest limit first; equal limits
    fill in `rank` order (the caller rotates it each turn so no creature is always first).
    Partial fills are in whole units.
    """
    # Plain loops rather than comprehensions: an auction has a handful of orders, and a
    # comprehension's setup costs more than its loop here.
    buys, sells = [], []
    demand = supply = firm_demand = firm_supply = 0  # firm: at or through the reference
    best_bid = best_ask = None
    for o in orders:
        if o.side == "buy":
            buys.append(o)
            demand += o.qty
            if o.price >= reference:
                firm_demand += o.qty
            if best_bid is None or o.price > best_bid:
                best_bid = o.price
        else:
            sells.append(o)
            supply += o.qty
            if o.price <= reference:
                firm_supply += o.qty
            if best_ask is None or o.price < best_ask:
                best_ask = o.price
    # Nothing crosses (no bid, no ask, or every bid below every ask): no candidate matches a unit.
    if best_bid is None or best_ask is None or best_bid < best_ask:
        return _new(Clearing, (good, None, 0, [], demand, supply, firm_demand, firm_supply))
    # A candidate outside [best ask, best bid] matches nothing, and one inside matches at
    # least the best bid against the best ask, so only those inside can win.
    candidates = {reference} if best_ask <= reference <= best_bid else set()
    for o in orders:
        if best_ask <= o.price <= best_bid:
            candidates.add(o.price)
    best = None
    for p in candidates:
        d = s = 0
        for o in buys:
            if o.price >= p:
                d += o.qty
        for o in sells:
            if o.price <= p:
                s += o.qty
        key = (-(d if d < s else s), abs(d - s), abs(p - reference), p)
        if best is None or key < best:
            best = key
    volume, price = -best[0], best[3]
    fills = _pair(_queue(buys, price, volume, rank, True), _queue(sells, price, volume, rank, False))
    # the highest bids and lowest offers fill first, so the firm units fill before any other
    left_demand, left_supply = firm_demand - volume, firm_supply - volume
    unfilled = (left_demand if left_demand > 0 else 0, left_supply if left_supply > 0 else 0)
    return _new(Clearing, (good, price, volume, fills, demand, supply, *unfilled))


def _queue(side: list[Order], price: float, volume: int, rank: dict[str, int], buying: bool) -> list[list]:
    """[creature, units] filled on one side at `price`, best limit first (ties by rank, then
    the order given: a creature's two orders at one limit), until `volume` units are taken."""
    eligible = []
    for i, o in enumerate(side):
        if o.price >= price if buying else o.price <= price:
            eligible.append((-o.price if buying else o.price, rank[o.creature], i, o))
    if len(eligible) > 1:
        eligible.sort()
    out, left = [], volume
    for _, _, _, o in eligible:
        if left <= 0:
            break
        take = o.qty if o.qty < left else left
        out.append([o.creature, take])
        left -= take
    return out


def _pair(buys: list[list], sells: list[list]) -> list[tuple[str, str, int]]:
    """Walk both filled queues to name who traded with whom (for the journal and sentiment)."""
    fills, i, j = [], 0, 0
    while i < len(buys) and j < len(sells):
        buy, sell = buys[i], sells[j]
        qty = buy[1] if buy[1] < sell[1] else sell[1]
        fills.append((buy[0], sell[0], qty))
        buy[1] -= qty
        sell[1] -= qty
        if buy[1] == 0:
            i += 1
        if sell[1] == 0:
            j += 1
    return fills


def reprice(
    reference: float, c: Clearing, trade_weight: float, pressure: float, max_step: float, floor: float, depth: int = 10
) -> float:
    """The next reference price of a good.

        anchor   = ref + w * (p* - ref)         if the good traded at p*, else ref
        tilt     = (D_left - S_left) / max(V + D_left + S_left, depth)    in [-1, 1]
        target   = anchor * (1 + k * tilt)      unfilled buying lifts, a glut lowers
        next ref = clip(target, ref * (1 - s), ref * (1 + s)), at least `floor` and at
                   most MAX_PRICE (a reference above it is one no order could name)

    with w = trade_weight, k = pressure, s = max_step; D_left / S_left are the units left
    unfilled that bid at least / offered at most the reference, and V the matched volume.
    `depth` (units) keeps a thin market honest: one unsold unit nudges the price; a residual of
    `depth` or more units on one side pushes it fully only when nothing traded and nothing is
    left on the other side (volume and the other side's residual dilute the push). A bid below
    the reference, or an offer above it, presses on nothing: it was never demand or supply at
    the market's price.
    """
    anchor = reference if c.price is None else reference + trade_weight * (c.price - reference)
    total = c.volume + c.unfilled_demand + c.unfilled_supply
    tilt = (c.unfilled_demand - c.unfilled_supply) / max(total, depth, 1)
    target = anchor * (1.0 + pressure * tilt)
    # min(max(target, low), high), without the builtins' call cost
    low, high = reference * (1.0 - max_step), reference * (1.0 + max_step)
    bounded = low if low > target else target
    return within_bounds(high if high < bounded else bounded, floor)


def within_bounds(price: float, floor: float) -> float:
    """A reference price kept in [floor, MAX_PRICE] (repricing and the seam): above MAX_PRICE
    it would be one no order could name."""
    price = MAX_PRICE if price > MAX_PRICE else price
    return floor if floor > price else price
