"""The Wood's rules as data: a scenario YAML validated into frozen dataclasses.

`load_scenario("default")` reads `recipes/scenarios/default.yaml`; a path reads that file.
Overrides (`turns=10`, `market.max_step=0.2`) are merged before validation, so the
scenario hash names exactly the rules that ran.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from .creatures import LINE_CHARS
from .legends import LEGENDS
from .market import MAX_PRICE, MIN_PRICE
from .schema import RECIPES, ConfigError, apply_overrides, as_plain, build, fail, read_yaml
from .standin import disposition, is_disposition_path

SCENARIO_DIR = RECIPES / "scenarios"
MECHANISMS = ("rumour", "shock", "override")
MAX_UNITS = 1_000_000  # the observation space's bound on any count (a Discrete: 0 to MAX_UNITS - 1)
# The Wood's own rules, the ones in code rather than in a scenario file: bumped when a change
# to them changes what an episode can do, and part of every scenario hash from 2 on (version
# 1's hashes are the ones runs recorded before there was a version).
# 2 (2026-12-03): only units bid at or above the reference, or offered at or below it, press on it.
RULES_VERSION = 2
MAX_PEBBLES = 1e9  # the observation space's bound on pebbles (env.observation.BIG)


@dataclass(frozen=True)
class Good:
    name: str
    kind: Literal["food", "fuel"]
    price: float  # starting reference price, in pebbles
    spoil_rate: float = 0.0  # each unit rots with this chance per turn
    price_floor: float = 0.25


@dataclass(frozen=True)
class Creature:
    name: str
    species: str
    produces: dict[str, float]  # good -> mean units made per turn
    diet: tuple[str, ...]
    pebbles: float
    inventory: dict[str, int]
    appetite: int = 2  # food units per meal, at most one of any one food
    # The stand-in's disposition when no council says otherwise: a shipped name, or a path to a
    # disposition YAML (relative to the scenario file that names it).
    disposition: str = "balanced"


@dataclass(frozen=True)
class FirewoodStep:
    from_turn: int
    units: int  # firewood each creature burns per turn from `from_turn` on


@dataclass(frozen=True)
class Market:
    max_orders: int = 8  # per creature per turn; later orders are rejected
    max_qty: int = 500  # a larger quantity in one order is absurd and rejected
    trade_weight: float = 0.5  # how far the reference moves toward the clearing price
    pressure: float = 0.1  # how hard residual demand / supply pushes the reference
    max_step: float = 0.15  # the reference moves at most this share per turn
    depth: int = 10  # a one-sided residual of this many units or more, nothing traded, pushes fully


@dataclass(frozen=True)
class Mood:
    start: float = 0.6
    mean: float = 0.6
    reversion: float = 0.1
    fed: float = 0.05
    hungry: float = 0.08
    warm: float = 0.03
    cold: float = 0.1
    floor: float = 0.05  # mood never goes below this


@dataclass(frozen=True)
class Social:
    decay: float = 0.05  # sentiment fades toward neutral by this share per turn
    trade: float = 0.04  # trading partners warm to each other
    gossip: float = 0.02  # hearing a creature's gossip warms you to it
    tip: float = 0.15  # a whispered tip warms you to the patron
    default: float = -0.4  # collecting on a defaulted loan sours you on the patron
    gossip_chars: int = 200
    feelings_shown: int = 2  # how many feelings the memory summary names


@dataclass(frozen=True)
class LegendEvent:
    legend: str
    turn: int
    mechanism: Literal["rumour", "shock", "override"]


@dataclass(frozen=True)
class Patron:
    pebbles: float = 200.0
    margin: float = 0.5  # share of a position's notional held as margin when opened
    maintenance: float = 0.25  # below this share of notional, the position is called
    heat_per_profit: float = 0.02  # magistrate heat per pebble of profit on a true tip
    heat_decay: float = 0.1
    heat_threshold: float = 1.0
    fine: float = 25.0


@dataclass(frozen=True)
class Gambit:
    """A scripted patron plan: short, tip, spring a legend, cover. Its P&L is reported."""

    good: str = "honey"
    size: int = 10  # units shorted (negative would be a long)
    open_turn: int = 1
    tip_creature: str = "oona"
    tip_turn: int = 2
    tip_true: bool = True  # whether the tip is true: known only to the patron's ledger
    legend: str = "run_on_oonas_hoard"
    mechanism: Literal["rumour", "shock", "override"] = "override"
    spring_turn: int = 4
    cover_turn: int | None = None  # default: the spring turn, right after the seam


@dataclass(frozen=True)
class Scenario:
    name: str
    goods: dict[str, Good]
    creatures: dict[str, Creature]
    firewood_need: tuple[FirewoodStep, ...]
    description: str = ""
    turns: int = 30
    market: Market = field(default_factory=Market)
    mood: Mood = field(default_factory=Mood)
    social: Social = field(default_factory=Social)
    legends: tuple[LegendEvent, ...] = ()
    patron: Patron = field(default_factory=Patron)
    gambit: Gambit | None = None

    @cached_property
    def fuel(self) -> str:  # asked several times a turn: worked out once (the rules are frozen)
        return next(g for g, good in self.goods.items() if good.kind == "fuel")

    @cached_property
    def made_goods(self) -> dict[str, dict[str, int]]:
        """creature -> good -> 1 if it produces the good, else 0 (an observation's `produces`)."""
        return {cid: {g: int(c.produces.get(g, 0) > 0) for g in self.goods} for cid, c in self.creatures.items()}

    @cached_property
    def diet_needs(self) -> dict[str, dict[str, int]]:
        """creature -> good -> 1 for each food of its diet, else 0 (its needs before firewood)."""
        out = {}
        for cid, c in self.creatures.items():
            out[cid] = dict.fromkeys(self.goods, 0)
            for food in c.diet:
                out[cid][food] = 1
        return out

    @cached_property
    def spoiling(self) -> tuple[tuple[str, float], ...]:
        """(good, spoil_rate) of every good that spoils, in goods order."""
        return tuple((g, good.spoil_rate) for g, good in self.goods.items() if good.spoil_rate > 0)

    @cached_property
    def names(self) -> dict[str, str]:
        """creature -> its name, as observations and prompts show it."""
        return {cid: c.name for cid, c in self.creatures.items()}

    def firewood_burn(self, turn: int) -> int:
        units = 0
        for step in self.firewood_need:
            if turn >= step.from_turn:
                units = step.units
        return units

    def to_dict(self) -> dict[str, Any]:
        return as_plain(self)

    def hash(self) -> str:
        """sha256 of the resolved rules, so two runs can be compared by what they ran: the
        scenario's, and the version of the rules in code (RULES_VERSION). A disposition given
        as a file counts by its contents, not by where the file lies."""
        if not any(is_disposition_path(c.disposition) for c in self.creatures.values()):
            return self._rules_hash  # nothing but the frozen rules: worked out once
        return self._hash_now()

    @cached_property
    def _rules_hash(self) -> str:
        return self._hash_now()

    def _hash_now(self) -> str:
        rules = self.to_dict()
        if RULES_VERSION > 1:  # the same file under other rules in code is another world
            rules["rules_version"] = RULES_VERSION
        for c in rules["creatures"].values():
            if is_disposition_path(c["disposition"]):
                c["disposition"] = as_plain(disposition(c["disposition"]))
        blob = json.dumps(rules, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


LOCAL_SCENARIO_DIR = Path("recipes") / "scenarios"  # your own, found first (relative to the working folder)


def resolve_path(scenario: str | Path) -> Path:
    """A scenario name (./recipes/scenarios/NAME.yaml if there is one, else the shipped
    recipes/scenarios/NAME.yaml), or a path to a YAML file."""
    text = str(scenario)
    if text.endswith((".yaml", ".yml")) or "/" in text:
        return Path(text)
    local, shipped = LOCAL_SCENARIO_DIR / f"{text}.yaml", SCENARIO_DIR / f"{text}.yaml"
    if local.is_file() and not (shipped.is_file() and local.samefile(shipped)):
        return local
    if shipped.is_file():
        return shipped
    known = ", ".join(sorted({p.stem for folder in (LOCAL_SCENARIO_DIR, SCENARIO_DIR) for p in folder.glob("*.yaml")}))
    raise ConfigError(f"scenario {text!r}: no such scenario (known: {known})")


def load_scenario(scenario: str | Path | Scenario = "default", **overrides: Any) -> Scenario:
    # An error names the overrides with the file, so a bad value given is not blamed on the file.
    given = f" with {', '.join(f'{k}={v!r}' for k, v in overrides.items())}" if overrides else ""
    if isinstance(scenario, Scenario):
        if not overrides:
            return scenario
        return scenario_from_dict(apply_overrides(scenario.to_dict(), overrides), f"{scenario.name}{given}")
    path = resolve_path(scenario)
    return scenario_from_dict(apply_overrides(read_raw(path), overrides), f"{path}{given}")


def read_raw(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """The file's mapping; `extends: NAME` first reads that scenario and merges this one over it.
    A file that sets no `name:` is named by its file stem, not its base's name, so its runs and
    rows never pass for the base's."""
    data = read_yaml(path)
    data.setdefault("name", path.stem)
    _anchor_dispositions(data, path)
    base = data.pop("extends", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"{path}: extends: expected a scenario name or path, got {base!r}")
    is_file = "/" in base or base.endswith((".yaml", ".yml"))
    base_path = path.parent / base if is_file else resolve_path(base)
    if base_path.resolve() in seen:
        raise ConfigError(f"{path}: extends: {base!r} extends itself")
    return apply_overrides(read_raw(base_path, seen + (path.resolve(),)), data)


def _anchor_dispositions(data: dict, path: Path) -> None:
    """A disposition file named by a relative path is found next to the scenario file."""
    creatures = data.get("creatures")
    if not isinstance(creatures, dict):
        return
    for creature in creatures.values():
        ref = creature.get("disposition") if isinstance(creature, dict) else None
        if isinstance(ref, str) and is_disposition_path(ref) and not Path(ref).is_absolute():
            creature["disposition"] = str(path.parent / ref)


def scenario_from_dict(data: dict, source: str | None = None) -> Scenario:
    scenario = build(Scenario, data, source)
    check(scenario, source)
    return scenario


def check(s: Scenario, src: str | None) -> None:
    """Cross-field rules the types alone cannot say."""
    goods = set(s.goods)
    known = ", ".join(s.goods)

    def good_ok(good: str, path: str) -> None:
        if good not in goods:
            fail(src, path, f"unknown good {good!r} (goods are {known})")

    if s.turns < 1:
        fail(src, "turns", "must be at least 1")
    if [g.kind for g in s.goods.values()].count("fuel") != 1:
        fail(src, "goods", "exactly one good must be of kind fuel (the firewood creatures burn)")
    for gid, good in s.goods.items():
        if not 0.0 <= good.spoil_rate <= 1.0:
            fail(src, f"goods.{gid}.spoil_rate", "must be between 0 and 1")
        if good.price <= 0 or good.price_floor <= 0:
            fail(src, f"goods.{gid}.price", "prices must be positive")
        if good.price_floor < MIN_PRICE:  # below it the reference sinks where no order can name a price
            fail(src, f"goods.{gid}.price_floor", f"must be at least {MIN_PRICE:g}, the lowest price an order names")
        if good.price > MAX_PRICE:  # no order could name it
            fail(src, f"goods.{gid}.price", f"must be at most {MAX_PRICE:,g}, the highest price an order names")
        if good.price < good.price_floor:  # else the first reprice jumps to the floor, past max_step
            fail(
                src,
                f"goods.{gid}.price",
                f"must be at least its price_floor ({good.price_floor:g}), got {good.price!r}",
            )
    if len(s.creatures) < 2:
        fail(src, "creatures", "a market needs at least two creatures")
    for cid, c in s.creatures.items():
        base = f"creatures.{cid}"
        for good, rate in c.produces.items():
            good_ok(good, f"{base}.produces.{good}")
            if rate < 0:
                fail(src, f"{base}.produces.{good}", "must not be negative")
            if rate >= MAX_UNITS:  # a larger rate overflows the production draw mid-episode
                fail(src, f"{base}.produces.{good}", f"must be from 0 to {MAX_UNITS - 1:,}, got {rate!r}")
        for good, units in c.inventory.items():
            good_ok(good, f"{base}.inventory.{good}")
            if units < 0:
                fail(src, f"{base}.inventory.{good}", "must not be negative")
            if units >= MAX_UNITS:
                fail(src, f"{base}.inventory.{good}", f"must be from 0 to {MAX_UNITS - 1:,}, got {units!r}")
        for i, good in enumerate(c.diet):
            good_ok(good, f"{base}.diet[{i}]")
            if s.goods[good].kind != "food":
                fail(src, f"{base}.diet[{i}]", f"{good!r} is not a food")
        if not 0 <= c.pebbles < MAX_PEBBLES:
            fail(src, f"{base}.pebbles", f"must be from 0 to below {MAX_PEBBLES:,.0f} (the observation's bound)")
        if not 0 <= c.appetite < 64:
            fail(src, f"{base}.appetite", "must be from 0 to 63")
        try:
            disposition(c.disposition)
        except ValueError as exc:
            fail(src, f"{base}.disposition", str(exc))
        for key in ("name", "species"):
            text = getattr(c, key)
            if not text or len(text) > 64 or not set(text) <= LINE_CHARS:
                fail(src, f"{base}.{key}", "must be 1 to 64 printable ASCII characters")
    if not s.firewood_need:
        fail(src, "firewood_need", "needs at least one step")
    for i, ev in enumerate(s.legends):
        if ev.legend not in LEGENDS:
            fail(src, f"legends[{i}].legend", f"unknown legend {ev.legend!r} (known: {', '.join(LEGENDS)})")
        good_ok(LEGENDS[ev.legend].good, f"legends[{i}].legend")
        if ev.turn < 0:
            fail(src, f"legends[{i}].turn", "must not be negative")
    g = s.gambit
    if g is not None:
        good_ok(g.good, "gambit.good")
        if g.tip_creature not in s.creatures:
            fail(src, "gambit.tip_creature", f"unknown creature {g.tip_creature!r}")
        if g.legend not in LEGENDS:
            fail(src, "gambit.legend", f"unknown legend {g.legend!r} (known: {', '.join(LEGENDS)})")
        good_ok(LEGENDS[g.legend].good, "gambit.legend")  # as for a scheduled legend: its good must trade here
        cover = g.spring_turn if g.cover_turn is None else g.cover_turn
        if not g.open_turn <= g.spring_turn <= cover:
            fail(src, "gambit", "turns must run open_turn <= spring_turn <= cover_turn")
        if g.size == 0:
            fail(src, "gambit.size", "must not be zero")
        if g.open_turn < 0:
            fail(src, "gambit.open_turn", "must not be negative")
    for i, step in enumerate(s.firewood_need):
        if step.from_turn < 0 or step.units < 0:
            fail(src, f"firewood_need[{i}]", "from_turn and units must not be negative")
        if step.units >= MAX_UNITS:
            fail(src, f"firewood_need[{i}].units", f"must be at most {MAX_UNITS - 1:,}, got {step.units!r}")
        if i and step.from_turn <= s.firewood_need[i - 1].from_turn:  # firewood_burn reads them in order
            fail(src, f"firewood_need[{i}].from_turn", "steps must be listed in rising from_turn order")
    for path, value, low, high in _ranges(s):
        above = value > low if low == 0 and path in _ABOVE_ZERO else value >= low
        if not above or value > high:
            lowest = "more than 0" if path in _ABOVE_ZERO else f"at least {low:g}"
            fail(src, path, f"must be {lowest}" + (f" and at most {high:g}" if high < INF else "") + f", got {value!r}")
    if s.patron.maintenance > s.patron.margin:
        fail(src, "patron.maintenance", "must not exceed patron.margin (a position would be called when opened)")


INF = float("inf")
_ABOVE_ZERO = {"market.max_step", "patron.heat_threshold", "mood.floor"}  # mood never hits zero (DESIGN)


def _ranges(s: Scenario) -> list[tuple[str, float, float, float]]:
    """(key, value, lowest, highest) for every number the rules read as a share, a count or a rate."""
    m, mood, so, p = s.market, s.mood, s.social, s.patron
    return [
        ("market.max_orders", m.max_orders, 1, INF),
        ("market.max_qty", m.max_qty, 1, INF),
        ("market.trade_weight", m.trade_weight, 0, 1),
        ("market.pressure", m.pressure, 0, INF),
        ("market.max_step", m.max_step, 0, 1),
        ("market.depth", m.depth, 1, INF),
        *((f"mood.{k}", getattr(mood, k), 0, 1) for k in ("start", "mean", "reversion", "floor")),
        *((f"mood.{k}", getattr(mood, k), 0, INF) for k in ("fed", "hungry", "warm", "cold")),
        ("social.decay", so.decay, 0, 1),
        ("social.gossip_chars", so.gossip_chars, 0, INF),
        ("social.feelings_shown", so.feelings_shown, 0, INF),
        ("patron.pebbles", p.pebbles, 0, INF),
        ("patron.margin", p.margin, 0, 1),
        ("patron.maintenance", p.maintenance, 0, 1),
        ("patron.heat_per_profit", p.heat_per_profit, 0, INF),
        ("patron.heat_decay", p.heat_decay, 0, 1),
        ("patron.heat_threshold", p.heat_threshold, 0, INF),
        ("patron.fine", p.fine, 0, INF),
    ]
