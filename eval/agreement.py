"""Comparing two actions good by good: direction (buy / sell / none), quantity, price."""

from __future__ import annotations

NONE = "none"


def directions(action: dict, goods: list[str] | tuple[str, ...]) -> dict[str, str]:
    """The side each good is traded on ('buy', 'sell' or 'none'); a valid action has one side per good."""
    out = dict.fromkeys(goods, NONE)
    for order in action.get("orders", []):
        if order.get("good") in out:
            out[order["good"]] = order["side"]
    return out


def quantities(action: dict, goods) -> dict[str, int]:
    """Signed units per good: + bought, - sold."""
    out = dict.fromkeys(goods, 0)
    for order in action.get("orders", []):
        if order.get("good") in out:
            out[order["good"]] += int(order["qty"]) * (1 if order["side"] == "buy" else -1)
    return out


def direction_agreement(a: dict, b: dict, goods) -> float:
    """Share of goods on which both actions take the same side (none counts as a side)."""
    da, db = directions(a, goods), directions(b, goods)
    return sum(da[g] == db[g] for g in goods) / len(goods) if goods else 1.0
