"""A JSON Schema of the actions the parser (glade.env.protocol.parse) accepts in one state,
for structured decoding: a seat held to it cannot answer an invalid order. `portable_schema`
writes the same set of answers in the keywords a server's schema compiler accepts."""

from __future__ import annotations

from itertools import permutations

from .market import MAX_PRICE, MIN_PRICE, PRICE_CAP, cents_at_most
from .protocol import GOSSIP_CHARS, MAX_ORDERS, MAX_QTY, THOUGHT_CHARS, goods_of

PORTABLE_GOODS = 5  # up to this many tradeable goods "one order per good" is spelled out (5! = 120 sequences)


def _order_form(side: str, good: str, max_qty: int, max_price: float) -> dict:
    return {
        "type": "object",
        "properties": {
            "side": {"const": side},
            "good": {"const": good},
            "qty": {"type": "integer", "minimum": 1, "maximum": max_qty},
            "price": {"type": "number", "minimum": MIN_PRICE, "maximum": max_price},
        },
        "required": ["side", "good", "qty", "price"],
        "additionalProperties": False,
    }


def action_schema(obs: dict) -> dict:
    """A JSON Schema (draft 2020-12) of the valid actions in this state, for structured decoding.

    An order sells a good the creature holds (qty 1..held) or buys a good it does not make
    (qty >= 1, and a price its pebbles cover once, so a lone buy is never dropped as
    `no_pebbles`; whether it fills depends on the sellers); a
    price is at least MIN_PRICE and at most PRICE_CAP x the reference; at most one order per
    good (two on one side are redundant, one each side is `both_sides`), hence `contains` /
    `maxContains` per good; gossip and thought are optional strings within the parser's caps.
    What it cannot say: several buys together may still overspend the pebbles, which the
    parser cuts (`overspend`) or drops (`no_pebbles`), as for any answer."""
    goods = goods_of(obs)
    pebbles = float(obs["pebbles"])
    forms, tradeable = [], []
    for good in goods:
        cap = min(MAX_PRICE, max(MIN_PRICE, cents_at_most(PRICE_CAP * float(obs["prices"][good]))))
        held = int(obs["inventory"][good])
        sides = []
        if held >= 1:
            sides.append(_order_form("sell", good, min(held, MAX_QTY), cap))
        if not obs["produces"][good] and pebbles >= MIN_PRICE:
            sides.append(_order_form("buy", good, MAX_QTY, min(cap, cents_at_most(pebbles))))
        forms += sides
        tradeable += [good] if sides else []
    orders: dict = {"type": "array", "maxItems": min(MAX_ORDERS, len(tradeable))}
    if forms:
        orders["items"] = {"anyOf": forms}
        orders["allOf"] = [
            {"contains": {"properties": {"good": {"const": good}}}, "minContains": 0, "maxContains": 1}
            for good in tradeable
        ]
    return {
        "type": "object",
        "properties": {
            "orders": orders,
            "gossip": {"type": "string", "maxLength": GOSSIP_CHARS},
            "thought": {"type": "string", "maxLength": THOUGHT_CHARS},
        },
        "required": ["orders"],
        "additionalProperties": False,
    }


def portable_schema(schema: dict) -> dict:
    """An action schema (glade.env.action_schema.action_schema) in keywords servers compile.

    Its "at most one order per good" is `contains`/`maxContains`, which llguidance refuses
    and xgrammar silently drops (with the whole orders array). Here the orders array is an
    `anyOf` over every sequence of distinct goods (`prefixItems` of `$ref`s to each good's
    order forms): the same set of answers. Past PORTABLE_GOODS tradeable goods that list
    grows too long, and the limit is left to the parser (`both_sides`)."""
    orders = schema["properties"]["orders"]
    forms = orders.get("items", {}).get("anyOf", [])
    goods = list(dict.fromkeys(form["properties"]["good"]["const"] for form in forms))
    if not goods:
        return schema
    defs = {f"order_{g}": {"anyOf": [f for f in forms if f["properties"]["good"]["const"] == g]} for g in goods}
    portable = {"type": "array", "items": orders["items"], "maxItems": orders["maxItems"]}
    if len(goods) <= PORTABLE_GOODS:
        # Without minItems a sequence also admits each of its prefixes: the longest ones suffice.
        longest = permutations(goods, orders["maxItems"])
        refs = [{"prefixItems": [{"$ref": f"#/$defs/order_{g}"} for g in s], "items": False} for s in longest]
        portable = {"type": "array", "anyOf": refs}
    return {**schema, "properties": {**schema["properties"], "orders": portable}, "$defs": defs}
