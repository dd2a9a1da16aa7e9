"""The protocol between the Wood and a language model: observation -> chat, completion -> action.

`render(observation)` gives chat messages: a system role card (who the creature is,
what it makes and must never buy, what it is short of, the action schema, one worked
example) and a user message for this turn. `parse(text, observation)` gives back a
`Parsed` whose `.action` is always valid for that observation (a hold at worst),
`.error` a short name or None, `.repaired` whether anything had to be fixed. It never
raises. `PROTOCOL_VERSION` is derived from the rendered prompt of a fixed observation,
so any change to the wording changes the version recorded in every trace row.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field

from .jsonfix import extract_json_object
from .market import validate_orders

ACTION_SCHEMA = (
    '{"orders": [{"side": "buy" | "sell", "good": GOOD, "qty": WHOLE_NUMBER, "price": PEBBLES}], '
    '"gossip": "optional short message to the Wood", "thought": "optional private note"}'
)
MAX_ORDERS = 8
MAX_QTY = 500
GOSSIP_CHARS = 200


def _goods(obs: dict) -> list[str]:
    return list(obs["inventory"])


def _listing(items: list[str]) -> str:
    return ", ".join(items) if items else "nothing"


def _example(obs: dict) -> str:
    """One worked example built from the creature's own goods, so it is never a self-buy."""
    goods = _goods(obs)
    made = [g for g in goods if obs["produces"][g]]
    other = [g for g in goods if not obs["produces"][g]]
    orders = []
    if made:
        orders.append({"side": "sell", "good": made[0], "qty": 2, "price": round(float(obs["prices"][made[0]]) * 0.95, 2)})
    if other:
        orders.append({"side": "buy", "good": other[0], "qty": 1, "price": round(float(obs["prices"][other[0]]) * 1.05, 2)})
    return json.dumps({"orders": orders, "gossip": "Fair trades at my stall today."})


def render(obs: dict) -> list[dict]:
    """Chat messages for one creature's turn (system role card, then the turn)."""
    goods = _goods(obs)
    made = [g for g in goods if obs["produces"][g]]
    short = [g for g in goods if obs["short_of"][g]]
    system = "\n".join(
        [
            f"You are {obs['name']}, a {obs['species']} trading in the Wood, a woodland market paid in pebbles.",
            f"You make {_listing(made)}. Never buy {_listing(made)}: you make it yourself.",
            f"Goods: {', '.join(goods)}.",
            f"Each turn you eat up to {obs['appetite']} different foods (one of each) and burn {obs['fuel']} to stay warm.",
            f"You are short of: {_listing(short)}.",
            "Each turn, answer with ONE JSON object and nothing else:",
            ACTION_SCHEMA,
            'Use {"orders": []} to hold. You can only sell what you hold and buy what your pebbles cover.',
            f"Example answer: {_example(obs)}",
        ]
    )
    inventory = ", ".join(f"{g} {obs['inventory'][g]}" for g in goods)
    prices = ", ".join(
        f"{g} {float(obs['prices'][g]):.2f} ({float(obs['price_moves'][g]) * 100:+.0f}%)" for g in goods
    )
    needs = ", ".join(f"{g} {obs['needs'][g]}" for g in goods if obs["needs"][g])
    lines = [
        f"Turn {obs['turn'] + 1} of {obs['turns']}.",
        f"Pebbles: {float(obs['pebbles']):.2f}. Mood: {float(obs['mood']):.2f} (0 miserable, 1 content).",
        f"You hold: {inventory}.",
        f"You use per turn: {needs}.",
        f"Reference prices (change since last turn): {prices}.",
        f"News: {obs['events'] or 'nothing new'}",
    ]
    if obs["whispers"]:
        lines.append(f"Whispered to you: {obs['whispers']}")
    lines.append(f"Gossip heard: {obs['gossip'] or 'none'}")
    lines.append(f"Your feelings: {obs['memory']}.")
    lines.append("Your action as JSON:")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(lines)}]


@dataclass(frozen=True)
class Parsed:
    action: dict  # always valid for the observation: {"orders": [...], "gossip"?, "thought"?}
    error: str | None  # first problem that cost the action something, or None
    repaired: bool
    repairs: tuple[str, ...] = ()
    dropped: tuple[dict, ...] = field(default_factory=tuple)  # {"order": i, "reason": name, ...}


HOLD = {"orders": []}
_SIDE_WORDS = {"buy": "buy", "bid": "buy", "purchase": "buy", "sell": "sell", "ask": "sell", "offer": "sell"}


def _good_name(raw, goods: list[str]) -> str | None:
    if not isinstance(raw, str):
        return None
    word = raw.strip().lower()
    if word in goods:
        return word
    for g in goods:  # singular and loose plural forms: acorn, berry, mushroom
        if word + "s" == g or (g.endswith("ies") and word == g[:-3] + "y"):
            return g
    return None


def _number(raw) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        return float(raw)
    if isinstance(raw, str):
        token = raw.strip().lower().replace("pebbles", "").replace("pebble", "").strip()
        try:
            return float(token)
        except ValueError:
            return None
    return None


def _normalise_order(raw, goods: list[str], repairs: list[str]):
    """Case, plural and string-number fixes; anything else is left for validation to name."""
    if not isinstance(raw, dict):
        return raw
    order = dict(raw)
    side = order.get("side")
    if isinstance(side, str) and side not in ("buy", "sell") and side.strip().lower() in _SIDE_WORDS:
        order["side"] = _SIDE_WORDS[side.strip().lower()]
        repairs.append("side_word")
    good = order.get("good")
    fixed = _good_name(good, goods)
    if fixed is not None and fixed != good:
        order["good"] = fixed
        repairs.append("good_name")
    for key in ("qty", "price"):
        value = order.get(key)
        if isinstance(value, str):
            number = _number(value)
            if number is not None:
                order[key] = number
                repairs.append(f"{key}_string")
    qty = order.get("qty")
    if isinstance(qty, float) and math.isfinite(qty) and qty == int(qty):
        order["qty"] = int(qty)
    return order


def parse(text, obs: dict) -> Parsed:
    """A completion -> a valid action for `obs`. Never raises (a hold with an error at worst)."""
    try:
        return _parse(text, obs)
    except Exception:  # noqa: BLE001 - the simulation must never see a parser fault
        return Parsed(dict(HOLD), "parser_fault", False)


def _parse(text, obs: dict) -> Parsed:
    found = extract_json_object(text)
    if found.value is None:
        return Parsed(dict(HOLD), found.error or "no_json", False, tuple(found.repairs))
    value, repairs = found.value, list(found.repairs)
    goods = _goods(obs)
    raw_orders = value.get("orders")
    if raw_orders is None and {"side", "good"} <= set(value):
        raw_orders, value = [value], {}
        repairs.append("single_order")
    if raw_orders is None:
        return Parsed(dict(HOLD), "no_orders", True, tuple(repairs + ["no_orders_key"]))
    if isinstance(raw_orders, dict):
        raw_orders = [raw_orders]
        repairs.append("orders_not_list")
    if not isinstance(raw_orders, list):
        return Parsed(dict(HOLD), "orders_not_list", True, tuple(repairs))
    normalised = [_normalise_order(o, goods, repairs) for o in raw_orders]
    valid, notes = validate_orders(
        obs["creature"], normalised, tuple(goods), obs["inventory"], float(obs["pebbles"]), MAX_ORDERS, MAX_QTY
    )
    action: dict = {"orders": [{"side": o.side, "good": o.good, "qty": o.qty, "price": o.price} for o in valid]}
    for key, cap in (("gossip", GOSSIP_CHARS), ("thought", 2000)):
        if isinstance(value.get(key), str) and value[key].strip():
            action[key] = value[key][:cap]
    dropped = tuple(n for n in notes if n["outcome"] == "rejected")
    if any(n["outcome"] == "cut" for n in notes):
        repairs.append("qty_cut")
    error = dropped[0]["reason"] if dropped else None
    return Parsed(action, error, bool(repairs), tuple(repairs), dropped)


def _canonical_observation() -> dict:
    goods = ["honey", "firewood", "acorns"]
    return {
        "creature": "oona", "name": "Oona", "species": "owl", "turn": 2, "turns": 30,
        "fuel": "firewood", "appetite": 2, "pebbles": 40.0, "mood": 0.6,
        "inventory": {"honey": 12, "firewood": 1, "acorns": 0},
        "produces": {"honey": 1, "firewood": 0, "acorns": 0},
        "needs": {"honey": 1, "firewood": 1, "acorns": 1},
        "short_of": {"honey": 0, "firewood": 0, "acorns": 1},
        "prices": dict.fromkeys(goods, 4.0), "price_moves": dict.fromkeys(goods, 0.05),
        "talk": dict.fromkeys(goods, 0), "whisper": dict.fromkeys(goods, 0),
        "events": "A legend.", "gossip": "Thorn: wood for sale.", "whispers": "A tip.",
        "memory": "warm toward Thorn",
    }


PROTOCOL_VERSION = "wood-chat-1+" + hashlib.sha256(
    json.dumps(render(_canonical_observation())).encode()
).hexdigest()[:8]
