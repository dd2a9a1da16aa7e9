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

from .scenario_check import check
from .schema import RECIPES, ConfigError, apply_overrides, as_plain, build, did_you_mean, read_yaml
from .standin import disposition, is_disposition_path

SCENARIO_DIR = RECIPES / "scenarios"
MECHANISMS = ("rumour", "shock", "override")
# The Wood's own rules, the ones in code rather than in a scenario file: bumped when a change
# to them changes what an episode can do, and part of every scenario hash from 2 on (version
# 1's hashes are the ones runs recorded before there was a version).
# 2 (2026-12-03): only units bid at or above the reference, or offered at or below it, press on it.
# 3 (2026-12-03): a reference price never climbs past MAX_PRICE (repricing and the seam).
# 4 (2026-12-03): the hash counts the order of goods and creatures, which sets the agents'
#   order and the order of the draws: reordered, a file is another world.
# 5 (2026-12-05): overlapping production shocks average rate x their product (a fraction of a
#   flip is one more flip with that chance), and a position opened while a true tip on its good
#   is still in the air heats the magistrate. No shipped scenario plays differently.
RULES_VERSION = 5


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
        if RULES_VERSION > 3:  # sort_keys below would drop the mappings' order
            rules["order"] = {"goods": list(self.goods), "creatures": list(self.creatures)}
        for c in rules["creatures"].values():
            if is_disposition_path(c["disposition"]):
                c["disposition"] = as_plain(disposition(c["disposition"]))
        blob = json.dumps(rules, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


LOCAL_SCENARIO_DIR = Path("recipes") / "scenarios"  # your own, found first (relative to the working folder)


def resolve_path(scenario: str | Path, unlisted: Path | None = None) -> Path:
    """A scenario name (./recipes/scenarios/NAME.yaml if there is one, else the shipped
    recipes/scenarios/NAME.yaml), or a path to a YAML file. `unlisted`: a file left out of the
    names an unknown one's error lists (the file that extends it)."""
    text = str(scenario)
    if text.endswith((".yaml", ".yml")) or "/" in text:
        return Path(text)
    local, shipped = LOCAL_SCENARIO_DIR / f"{text}.yaml", SCENARIO_DIR / f"{text}.yaml"
    if local.is_file() and not (shipped.is_file() and local.samefile(shipped)):
        return local
    if shipped.is_file():
        return shipped
    skip = unlisted.resolve() if unlisted else None
    folders = (LOCAL_SCENARIO_DIR, SCENARIO_DIR)
    known = sorted({p.stem for folder in folders for p in folder.glob("*.yaml") if p.resolve() != skip})
    raise ConfigError(f"scenario {text!r}: no such scenario (known: {', '.join(known)})" + did_you_mean(text, known))


# A scenario's mappings of named entries: an override's dotted key may set a key of an entry
# there, not start a new one (apply_overrides).
NAMED = {"creatures": "creature", "goods": "good"}


def load_scenario(scenario: str | Path | Scenario = "default", **overrides: Any) -> Scenario:
    # An error names the overrides with the file, so a bad value given is not blamed on the file.
    given = f" with {', '.join(f'{k}={v!r}' for k, v in overrides.items())}" if overrides else ""
    if isinstance(scenario, Scenario):
        if not overrides:
            return scenario
        source = f"{scenario.name}{given}"
        data = scenario.to_dict()
    else:
        path = resolve_path(scenario)
        source = f"{path}{given}"
        data = read_raw(path)
    if data.get("gambit") is None and (key := next((k for k in overrides if str(k).startswith("gambit.")), None)):
        # else the dotted key would conjure a whole default gambit around the one value given
        raise ConfigError(
            f"{source}: {key}: this scenario has no gambit to change; give a whole one (gambit={{...}}, its keys as "
            "in recipes/scenarios/gambit_override.yaml) or start from a gambit scenario (gambit_override, "
            "gambit_rumour, gambit_shock)"
        )
    return scenario_from_dict(apply_overrides(data, overrides, source, NAMED), source)


def read_raw(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """The file's mapping; `extends: NAME` first reads that scenario and merges this one over it.
    A file that sets no `name:` is named by its file stem, not its base's name, so its runs and
    rows never pass for the base's. `seen`: the files that extend this one, the first first."""
    data = read_yaml(path)
    if not data:  # else `goods` would be named missing, as if the rest were there
        raise ConfigError(f"{path}: the file is empty; expected a scenario (see recipes/scenarios/default.yaml)")
    data.setdefault("name", path.stem)
    _anchor_dispositions(data, path)
    base = data.pop("extends", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"{path}: extends: expected a scenario name or path, got {base!r}")
    is_file = "/" in base or base.endswith((".yaml", ".yml"))
    try:
        base_path = path.parent / base if is_file else resolve_path(base, unlisted=path)
    except ConfigError as exc:
        raise ConfigError(f"{path}: extends: {exc}") from None
    if is_file and not base_path.is_file():  # else read_yaml names the missing file but not who named it
        raise ConfigError(
            f"{path}: extends: {base!r}: no such file; looked for {base_path.absolute()} (a path in extends is read from "
            "the folder of the file that names it)"
        )
    chain = (*seen, path)
    if base_path.resolve() == path.resolve():
        raise ConfigError(f"{path}: extends: {base!r} extends itself")
    resolved = [p.resolve() for p in chain]
    if base_path.resolve() in resolved:  # named from the file given, where the user would look first
        loop = (*chain, chain[resolved.index(base_path.resolve())])
        names = [p.name for p in loop]
        if len(set(names)) != len(set(resolved)):  # two files of one name: their paths tell them apart
            names = [str(p) for p in loop]
        raise ConfigError(f"{chain[0]}: extends: cycle {' -> '.join(names)}; one of them must extend something else")
    return apply_overrides(read_raw(base_path, chain), data)


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
