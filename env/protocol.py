"""The protocol between the Wood and a language model: observation -> chat, completion -> action.

`render(observation)` gives chat messages: a system message that opens with the role card
(`role_card`: who the creature is, what it makes and must never buy, the action schema;
the same all episode, so its attention cache can be reused), then what it is short of and
one worked example, and a user message for this turn. `parse(text, observation)` gives back a
`Parsed` whose `.action` is always valid for that observation (a hold at worst),
`.error` a short name or None, `.repaired` whether anything had to be fixed. It never
raises. `glade.env.action_schema.action_schema(observation)` is a JSON Schema of the valid
actions in that state, for structured decoding. `PROTOCOL_VERSION` is derived from the rendered prompts of fixed observations
(and the parser's limits), so any change to the wording changes the version recorded in
every trace row.

Free text that other parties wrote (gossip, whispers, news) is rendered only after
`sanitise_gossip`, line by line, whatever produced the observation: no chat-role marker
or control character reaches a prompt from there.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field

from .creatures import sanitise_gossip
from .jsonfix import extract_json_object
from .legends import TALK_WORDS
from .market import MAX_PRICE, MIN_PRICE, validate_orders

ACTION_SCHEMA = (
    '{"orders": [{"side": "buy" | "sell", "good": GOOD, "qty": WHOLE_NUMBER, "price": PEBBLES}], '
    '"gossip": "optional short message to the Wood", "thought": "optional private note"}'
)
# The parser's own limits, hashed into PROTOCOL_VERSION: a scenario's market and social limits
# (env/scenario.py) default to the same numbers but may differ without changing the protocol.
MAX_ORDERS = 8
MAX_QTY = 500
GOSSIP_CHARS = 200
THOUGHT_CHARS = 2000
LINE_MAX_CHARS = 1000  # any one line of rendered free text (gossip, whispers, news)


def goods_of(obs: dict) -> list[str]:
    return list(obs["inventory"])


def _listing(items: list[str]) -> str:
    return ", ".join(items) if items else "nothing"


def with_article(word: str) -> str:
    """`an owl`, `a beaver`, `an int`: the word after its article (the prompt's species, glade's errors)."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def _cents(value: float) -> float:
    """A price an order can name: to the cent, within [MIN_PRICE, MAX_PRICE]."""
    return min(MAX_PRICE, max(MIN_PRICE, round(value, 2)))


def _example(obs: dict) -> str:
    """One worked example built from the creature's own state: it sells only what it holds,
    buys only what its pebbles cover (a good it is short of, if any), never buys a good it
    makes, so it parses back as a valid action with no error."""
    goods = goods_of(obs)
    inventory = obs["inventory"]
    made = [g for g in goods if obs["produces"][g]]
    other = [g for g in goods if not obs["produces"][g]]
    other.sort(key=lambda g: not obs["short_of"][g])  # stable: goods it is short of first
    orders = []
    held = [g for g in made if int(inventory[g]) > 0] or [g for g in other if int(inventory[g]) > 0]
    if held:
        good = held[0]
        orders.append(
            {
                "side": "sell",
                "good": good,
                "qty": min(2, int(inventory[good])),
                "price": _cents(float(obs["prices"][good]) * 0.95),
            }
        )
    sold = orders[0]["good"] if orders else None
    for good in other:
        price = _cents(float(obs["prices"][good]) * 1.05)
        if good != sold and price <= float(obs["pebbles"]):
            orders.append({"side": "buy", "good": good, "qty": 1, "price": price})
            break
    return json.dumps({"orders": orders, "gossip": "Fair trades at my stall today."})


def _clean(text) -> str:
    """Free text written by others, one sanitised line per line (no role markers or control
    characters); the env sanitises gossip already, this holds whatever built the observation."""
    if not isinstance(text, str):
        return ""
    lines = (sanitise_gossip(line, LINE_MAX_CHARS) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def role_card(obs: dict) -> str:
    """The part of the system message that stays the same for a creature all episode: who it
    is, what it makes and must never buy, its goods and diet, the action schema. It leads the
    prompt so a model server can reuse its attention cache across turns and worlds (the hf
    seat's prefix cache, vLLM's automatic prefix caching)."""
    goods = goods_of(obs)
    made = [g for g in goods if obs["produces"][g]]
    foods = [g for g in goods if obs["needs"][g] and g != obs["fuel"]]
    if made:
        them = "it" if len(made) == 1 else "them"
        makes = f"You make {_listing(made)}. Never buy {_listing(made)}: you make {them} yourself."
    else:
        makes = "You make nothing yourself: you live by trade."
    return "\n".join(
        [
            f"You are {obs['name']}, {with_article(obs['species'])} trading in the Wood, "
            "a woodland market paid in pebbles.",
            makes,
            f"Goods: {', '.join(goods)}.",
            f"Each turn you eat up to {obs['appetite']} different foods (one of each) from: {_listing(foods)}; "
            f"and you burn {obs['fuel']} to stay warm."
            if foods  # a scenario may give a creature no diet: it still burns fuel
            else f"You eat no food. Each turn you burn {obs['fuel']} to stay warm.",
            "Each turn, answer with ONE JSON object and nothing else:",
            ACTION_SCHEMA,
            'Use {"orders": []} to hold. You can only sell what you hold and buy what your pebbles cover.',
        ]
    )


def render(obs: dict) -> list[dict]:
    """Chat messages for one creature's turn: the system message is the role card, then what
    this turn changes in it (the goods it is short of, a worked example valid right now);
    the user message is the turn."""
    goods = goods_of(obs)
    short = [g for g in goods if obs["short_of"][g]]
    system = "\n".join(
        [
            role_card(obs),
            f"You are short of: {_listing(short)}.",
            f"Example answer: {_example(obs)}",
        ]
    )
    inventory = ", ".join(f"{g} {obs['inventory'][g]}" for g in goods)
    prices = ", ".join(f"{g} {float(obs['prices'][g]):.2f} ({float(obs['price_moves'][g]) * 100:+.0f}%)" for g in goods)
    events, gossip, whispers = _clean(obs["events"]), _clean(obs["gossip"]), _clean(obs["whispers"])
    lines = [
        f"Turn {obs['turn'] + 1} of {obs['turns']}.",
        f"Pebbles: {float(obs['pebbles']):.2f}. Mood: {float(obs['mood']):.2f} (0 miserable, 1 content).",
        f"You hold: {inventory}.",
        f"You burn {obs['needs'][obs['fuel']]} {obs['fuel']} this turn.",
        f"Reference prices (change since last turn): {prices}.",
        f"News: {events or 'nothing new'}",
    ]
    # A legend's news is printed on its turn only, but its talk stays in the air for a few
    # turns and the stand-in still reacts to it: say so, or a model cannot see what it meets.
    said = obs.get("talk", {})
    talk = [f"{g} will {TALK_WORDS[int(said[g])]}" for g in goods if int(said.get(g, 0))]
    if talk:
        lines.append(f"Talk in the Wood: {', '.join(talk)}.")
    if whispers:
        lines.append(f"Whispered to you: {whispers}")
    lines.append(f"Gossip heard: {gossip or 'none'}")
    lines.append(f"Your feelings: {obs['memory']}.")
    lines.append("Your action as JSON:")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(lines)}]


@dataclass(frozen=True)
class Parsed:
    action: dict  # always valid for the observation: {"orders": [...], "gossip"?, "thought"?}
    error: str | None  # first problem that cost the action something, or None
    repaired: bool
    # jsonfix.REPAIRS names, then single_order, orders_not_list, side_word, good_name,
    # qty_string, price_string, qty_cut, gossip_cut, duplicate_text (one entry per fix, so they can be counted)
    repairs: tuple[str, ...] = ()
    # {"order": i, "reason": name, ...}: validate_orders' reasons, or bad_key / duplicate_key (_key_fault)
    dropped: tuple[dict, ...] = field(default_factory=tuple)
    notes: tuple[dict, ...] = ()  # every order note of the check, in order: the dropped ones and the cuts


HOLD = {"orders": []}
# A key holding JSON punctuation swallowed what followed a dropped quote ("price:2.5},{side"):
# the rest of that object is two orders run together, not one the model wrote.
_KEY_PUNCTUATION = frozenset("{}[]:,\"'“”‘’")
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


def _key_fault(raw, named_twice: bool) -> str | None:
    """Why an order's keys make it unreadable (dropped whole), or None: `bad_key` for a key
    holding JSON punctuation, `duplicate_key` for a key named twice (which value was meant?)."""
    if not isinstance(raw, dict):
        return None
    if any(isinstance(key, str) and not _KEY_PUNCTUATION.isdisjoint(key) for key in raw):
        return "bad_key"
    return "duplicate_key" if named_twice else None


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
    price = order.get("price")
    if isinstance(price, (int, float)) and not isinstance(price, bool) and not MIN_PRICE <= price <= MAX_PRICE:
        order["price"] = None  # outside the action space (and 1e-320 overflows the budget maths): bad_price
    return order


def parse(text, obs: dict) -> Parsed:
    """A completion -> a valid action for `obs`. Never raises (a hold with an error at worst)."""
    try:
        return _parse(text, obs)
    except Exception:  # noqa: BLE001 - the simulation must never see a parser fault
        return Parsed(dict(HOLD), "parser_fault", False)


def _extras(value: dict, twice: frozenset, repairs: list[str]) -> dict:
    """The optional free-text fields: gossip sanitised as the Wood will (named `gossip_cut`
    when that took more than spacing: role markers, control characters, length), thought capped.
    One named twice (in `twice`) is dropped, both copies (`duplicate_text`): which was meant is unknown."""
    value = {key: text for key, text in value.items() if key not in twice}
    repairs.extend("duplicate_text" for key in ("gossip", "thought") if key in twice)
    out = {}
    raw = value.get("gossip")
    gossip = sanitise_gossip(raw, GOSSIP_CHARS)
    if gossip:
        out["gossip"] = gossip
    if isinstance(raw, str) and gossip != " ".join(raw.split()):
        repairs.append("gossip_cut")
    thought = value.get("thought")
    if isinstance(thought, str) and thought.strip():
        out["thought"] = thought[:THOUGHT_CHARS]
    return out


def _parse(text, obs: dict) -> Parsed:
    found = extract_json_object(text)
    if found.value is None:
        return Parsed(dict(HOLD), found.error or "no_json", False, tuple(found.repairs))
    value, repairs = found.value, list(found.repairs)
    top = found.twice.get((), frozenset())  # value's own keys named twice
    goods = goods_of(obs)
    raw_orders, paths = value.get("orders"), None  # paths: where each order sits in found.value
    if raw_orders is None and {"side", "good"} <= set(value):
        raw_orders, paths, value, top = [value], [()], {}, frozenset()
        repairs.append("single_order")
    if raw_orders is None:  # a hold, keeping any gossip or thought
        action = {**HOLD, **_extras(value, top, repairs)}
        return Parsed(action, "no_orders", bool(repairs), tuple(repairs))
    if isinstance(raw_orders, dict):
        raw_orders, paths = [raw_orders], [("orders",)]
        repairs.append("orders_not_list")
    if not isinstance(raw_orders, list):
        action = {**HOLD, **_extras(value, top, repairs)}
        return Parsed(action, "orders_not_list", bool(repairs), tuple(repairs))
    paths = paths or [("orders", i) for i in range(len(raw_orders))]
    faults = {i: fault for i, o in enumerate(raw_orders) if (fault := _key_fault(o, paths[i] in found.twice))}
    # A faulty order goes in as None, so the market names it not_an_order at its own index
    # (the order limit still counts it); that note then takes the fault's name.
    normalised = [None if i in faults else _normalise_order(o, goods, repairs) for i, o in enumerate(raw_orders)]
    valid, notes = validate_orders(
        obs["creature"], normalised, tuple(goods), obs["inventory"], float(obs["pebbles"]), MAX_ORDERS, MAX_QTY
    )
    notes = [
        {**n, "reason": faults[n["order"]]} if n["reason"] == "not_an_order" and n["order"] in faults else n
        for n in notes
    ]
    action: dict = {"orders": [{"side": o.side, "good": o.good, "qty": o.qty, "price": o.price} for o in valid]}
    action.update(_extras(value, top, repairs))
    dropped = tuple(n for n in notes if n["outcome"] == "rejected")
    if any(n["outcome"] == "cut" for n in notes):
        repairs.append("qty_cut")
    error = dropped[0]["reason"] if dropped else None
    return Parsed(action, error, bool(repairs), tuple(repairs), dropped, tuple(notes))


def _canonical_observations() -> list[dict]:
    """Fixed observations whose prompts define PROTOCOL_VERSION: one busy turn (news, gossip,
    a whisper, a shortage) and one quiet turn of a creature that makes nothing, so every
    branch of the wording is covered but one: a creature with no diet (no shipped scenario has
    one), whose line was reworded after the version had shipped in models' cards."""
    goods = ["honey", "firewood", "acorns"]
    busy = {
        "creature": "oona",
        "name": "Oona",
        "species": "owl",
        "turn": 2,
        "turns": 30,
        "fuel": "firewood",
        "appetite": 2,
        "pebbles": 40.0,
        "mood": 0.6,
        "inventory": {"honey": 12, "firewood": 1, "acorns": 0},
        "produces": {"honey": 1, "firewood": 0, "acorns": 0},
        "needs": {"honey": 1, "firewood": 1, "acorns": 1},
        "short_of": {"honey": 0, "firewood": 0, "acorns": 1},
        "prices": dict.fromkeys(goods, 4.0),
        "price_moves": dict.fromkeys(goods, 0.05),
        "talk": {"honey": 1, "firewood": 0, "acorns": 2},
        "whisper": dict.fromkeys(goods, 0),
        "events": "A legend.",
        "gossip": "Thorn: wood for sale.",
        "whispers": "A tip.",
        "memory": "warm toward Thorn",
    }
    quiet = {
        **busy,
        "creature": "moss",
        "name": "Moss",
        "species": "badger",
        "turn": 0,
        "pebbles": 0.0,
        "inventory": {"honey": 0, "firewood": 0, "acorns": 0},
        "produces": dict.fromkeys(goods, 0),
        "short_of": dict.fromkeys(goods, 0),
        "talk": dict.fromkeys(goods, 0),
        "events": "",
        "gossip": "",
        "whispers": "",
        "memory": "no strong feelings",
    }
    return [busy, quiet]


def _version() -> str:
    """The protocol version: a hash of the canonical prompts and the parser's limits."""
    prompts = [render(obs) for obs in _canonical_observations()]
    limits = [MAX_ORDERS, MAX_QTY, GOSSIP_CHARS, THOUGHT_CHARS, MIN_PRICE, MAX_PRICE]
    digest = hashlib.sha256(json.dumps([prompts, limits]).encode()).hexdigest()[:8]
    return "wood-chat-2+" + digest


PROTOCOL_VERSION = _version()
