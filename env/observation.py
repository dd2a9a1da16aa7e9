"""What one creature sees each turn, and the Gymnasium spaces that describe it.

The observation is self-describing (goods are keys, the creature's role is in it) so a
prompt can be rendered from it alone. Numbers that are counts are ints; prices, pebbles
and mood are 0-d float64 arrays, as Box spaces require. Nothing from the patron's ledger
is here: a creature sees a whispered tip's words, never whether it is true.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from gymnasium import spaces

from .creatures import TEXT_CHARSET, heard_line, memory_summary
from .scenario import Creature
from .scenario_check import MAX_PEBBLES, MAX_TEXT, MAX_UNITS
from .world import PATRON, World

BIG = MAX_PEBBLES  # pebbles, prices and moves


def _text(max_length: int = MAX_TEXT) -> spaces.Text:
    return spaces.Text(max_length=max_length, min_length=0, charset=TEXT_CHARSET)


def _scalar(low: float, high: float) -> spaces.Box:
    return spaces.Box(low=low, high=high, shape=(), dtype=np.float64)


def observation_space(goods: tuple[str, ...], turns: int) -> spaces.Dict:
    """The space of `observe`'s dicts. A per-good Dict keeps the scenario's goods order (the
    order of the observations' per-good dicts and of the action space's `good` index), where a
    plain dict would be sorted by name: flattened, feature i of `inventory` is goods[i]."""
    per_good = lambda make: spaces.Dict(OrderedDict((g, make()) for g in goods))  # noqa: E731
    return spaces.Dict(
        {
            "creature": _text(64),
            "name": _text(64),
            "species": _text(64),
            "turn": spaces.Discrete(turns + 1),
            "turns": spaces.Discrete(turns + 1),
            "fuel": _text(64),  # the good burned for warmth
            "appetite": spaces.Discrete(64),  # distinct foods eaten per meal
            "pebbles": _scalar(-BIG, BIG),
            "mood": _scalar(0.0, 1.0),
            "inventory": per_good(lambda: spaces.Discrete(MAX_UNITS)),
            "produces": per_good(lambda: spaces.Discrete(2)),
            "needs": per_good(lambda: spaces.Discrete(MAX_UNITS)),  # units it uses per turn
            "short_of": per_good(lambda: spaces.Discrete(2)),
            "prices": per_good(lambda: _scalar(0.0, BIG)),
            "price_moves": per_good(lambda: _scalar(-1.0, BIG)),  # share change last turn
            "talk": per_good(lambda: spaces.Discrete(3)),  # public talk: 0 none, 1 fall, 2 rise
            "whisper": per_good(lambda: spaces.Discrete(3)),  # a private tip, same coding
            "events": _text(),
            "gossip": _text(),
            "whispers": _text(),
            "memory": _text(512),
        }
    )


def short_of(c: Creature, inv: dict[str, int], need: dict[str, int], out: dict[str, int], fuel: str) -> dict[str, int]:
    """Goods it will run out of this turn, marked 1 in `out` (every good at 0): firewood below
    the burn; diet foods it holds none of while it holds fewer distinct foods than its appetite."""
    if inv[fuel] < need[fuel]:
        out[fuel] = 1
    held, missing = 0, []
    for food in c.diet:
        units = inv[food]
        if units > 0:
            held += 1
        elif units == 0:
            missing.append(food)
    if held < c.appetite:
        for food in missing:
            out[food] = 1
    return out


def _shared(value: float) -> np.ndarray:
    array = np.array(value)
    array.flags.writeable = False
    return array


def observe(world: World) -> dict[str, dict]:
    """Every creature's observation for the current turn."""
    s = world.scenario
    goods, turn = world.goods, world.turn
    names = {**s.names, PATRON: "the patron"}
    # one array per good, shared by every creature's observation: read-only, so that one
    # agent's in-place preprocessing cannot change what the others see
    prices = {g: _shared(world.price[g]) for g in goods}
    moves = {g: _shared(max(-1.0, world.price_move[g])) for g in goods}
    zeros = dict.fromkeys(goods, 0)
    talk = dict(zeros)
    for good, (direction, until) in world.talk.items():
        if turn <= until:
            talk[good] = direction
    # legends and news are bounded by the scenario, a patron driven through the API is not: cut
    events = "\n".join(world.events)[:MAX_TEXT]
    burn, fuel, shown, made = s.firewood_burn(turn), s.fuel, s.social.feelings_shown, s.made_goods
    said = [(who, heard_line(names[who], text)) for who, text in world.gossip]  # each line written once
    out = {}
    for cid in world.creatures:
        c, inv, heard = s.creatures[cid], world.inventory[cid], world.heard_whispers[cid]
        need = dict(s.diet_needs[cid])
        need[fuel] = burn
        whisper = dict(zeros)
        for good, direction, _ in heard:
            whisper[good] = direction
        out[cid] = {
            "creature": cid,
            "name": c.name,
            "species": c.species,
            "turn": turn,
            "turns": s.turns,
            "fuel": fuel,
            "appetite": c.appetite,
            "pebbles": np.array(world.pebbles[cid]),
            "mood": np.array(world.mood[cid]),
            "inventory": dict(inv),
            "produces": dict(made[cid]),
            "needs": need,
            "short_of": short_of(c, inv, need, dict(zeros), fuel),
            "prices": dict(prices),
            "price_moves": dict(moves),
            "talk": dict(talk),
            "whisper": whisper,
            "events": events,
            "gossip": "\n".join([line for who, line in said if who != cid]) if said else "",
            "whispers": "\n".join([text for _, _, text in heard])[:MAX_TEXT] if heard else "",
            "memory": memory_summary(world.sentiment[cid], names, shown),
        }
    return out


def plain(obs: dict) -> dict:
    """The observation with numpy values as Python numbers: JSON-ready, and still accepted
    by `render`, `parse` and the stand-in."""
    return {
        k: plain(v) if isinstance(v, dict) else (v.item() if isinstance(v, np.ndarray) else v) for k, v in obs.items()
    }
