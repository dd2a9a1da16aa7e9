"""A scenario's cross-field rules, the ones its types alone cannot say, and the bounds of the
observation and action spaces they keep every episode inside (a count, a price, a text)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .creatures import LINE_CHARSET, heard_line, production_trials
from .legends import LEGENDS, legend_words
from .market import MAX_PRICE, MIN_PRICE
from .schema import control_character, did_you_mean, fail, shown
from .standin import disposition

if TYPE_CHECKING:
    from .scenario import Scenario

MAX_UNITS = 1_000_000  # the observation space's bound on any count (a Discrete: 0 to MAX_UNITS - 1)
MAX_PEBBLES = 1e9  # the observation space's bound on pebbles (env.observation.BIG)
MAX_TEXT = 8_000  # the observation space's bound on a text (events, gossip, whispers)
MAX_ID = 64  # a good or creature id, as a name: it heads columns, prompts and rows


# A scenario's name becomes a folder name (runs/simulate/NAME-seedS) and starts episode ids: no
# separator or leading dot that would put a run's files outside its folder, no C0 control (check
# refuses every other control character, naming it).
FOLDER_NAME = re.compile(r"[^/\\\x00-\x1f.][^/\\\x00-\x1f]{0,127}")


def check(s: Scenario, src: str | None) -> None:
    """Cross-field rules the types alone cannot say, in the order a scenario file reads."""
    _check_names(s, src)
    if s.turns < 1:
        fail(src, "turns", "must be at least 1")
    _check_goods(s, src)
    _check_creatures(s, src)
    if not s.firewood_need:
        fail(src, "firewood_need", "needs at least one step")
    _check_legends(s, src)
    if s.gambit is not None:
        _check_gambit(s, src)
    _check_firewood(s, src)
    _check_ranges(s, src)
    check_reach(s, src)


def _good_ok(s: Scenario, src: str | None, good: str, path: str) -> None:
    if good not in s.goods:
        fail(src, path, f"unknown good {shown(good)} (goods are {', '.join(s.goods)})")


def _check_names(s: Scenario, src: str | None) -> None:
    """The scenario's name (a folder name) and its goods' and creatures' ids (prompts, rows, the terminal)."""
    if not FOLDER_NAME.fullmatch(s.name):
        fail(
            src,
            "name",
            f"{s.name!r} cannot name a run folder: 1 to 128 characters, no '/' or '\\', not starting with '.'",
        )
    if control := control_character(s.name):  # what FOLDER_NAME lets through: DEL, C1 controls, bidi overrides
        fail(src, "name", f"{s.name!r} cannot name a run folder: {control}")
    for kind, ids in (("goods", s.goods), ("creatures", s.creatures)):
        for key in ids:  # ids reach prompts, rows and the terminal as written
            if not 1 <= len(key) <= MAX_ID:
                fail(src, kind, f"an id must be 1 to {MAX_ID} characters, got {shown(key)}")
            if control := control_character(key):
                fail(src, kind, f"the id {key!r} has a {control}")


def _check_goods(s: Scenario, src: str | None) -> None:
    if [g.kind for g in s.goods.values()].count("fuel") != 1:
        fail(src, "goods", "exactly one good must be of kind fuel (the firewood creatures burn)")
    for gid, good in s.goods.items():
        if not 0.0 <= good.spoil_rate <= 1.0:
            fail(src, f"goods.{gid}.spoil_rate", "must be between 0 and 1")
        for key, price in (("price", good.price), ("price_floor", good.price_floor)):
            if price <= 0:
                fail(src, f"goods.{gid}.{key}", "prices must be positive")
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


def _check_creatures(s: Scenario, src: str | None) -> None:
    if len(s.creatures) < 2:
        fail(src, "creatures", "a market needs at least two creatures")
    named: dict = {}  # disposition name -> (the first disposition of that name, its reference)
    for cid, c in s.creatures.items():
        base = f"creatures.{cid}"
        for good, rate in c.produces.items():
            _good_ok(s, src, good, f"{base}.produces.{good}")
            if rate < 0:
                fail(src, f"{base}.produces.{good}", "must not be negative")
            if rate >= MAX_UNITS:  # a larger rate overflows the production draw mid-episode
                fail(src, f"{base}.produces.{good}", f"must be from 0 to {MAX_UNITS - 1:,}, got {rate!r}")
            # production is 2 x rate x factor coin flips of 1/2 (creatures.produced), as the README
            # says: kept whole for a rate and for one shock, so only stacked shocks take a fractional flip
            if (2 * rate) % 1:
                fail(
                    src,
                    f"{base}.produces.{good}",
                    f"must be a multiple of 0.5 (each half unit is a coin flip), got {rate!r}",
                )
            for legend in LEGENDS.values():  # a shock the patron springs may be any legend's
                if legend.good == good and (2 * rate * legend.shock_production) % 1:
                    fail(
                        src,
                        f"{base}.produces.{good}",
                        f"{rate!r} times legend {legend.id}'s shock on production (x {legend.shock_production:g}) is "
                        f"{rate * legend.shock_production:g}, not a multiple of 0.5 (each half unit is a coin flip): "
                        f"give a rate that stays one",
                    )
        for good, units in c.inventory.items():
            _good_ok(s, src, good, f"{base}.inventory.{good}")
            if units < 0:
                fail(src, f"{base}.inventory.{good}", "must not be negative")
            if units >= MAX_UNITS:
                fail(src, f"{base}.inventory.{good}", f"must be from 0 to {MAX_UNITS - 1:,}, got {units!r}")
        for i, good in enumerate(c.diet):
            _good_ok(s, src, good, f"{base}.diet[{i}]")
            if s.goods[good].kind != "food":
                fail(src, f"{base}.diet[{i}]", f"{good!r} is not a food")
            if good in c.diet[:i]:  # eaten once per listing: a unit held once would be eaten twice
                fail(src, f"{base}.diet[{i}]", f"{good!r} is listed twice; list each food once")
        if not 0 <= c.pebbles < MAX_PEBBLES:
            fail(src, f"{base}.pebbles", f"must be from 0 to below {MAX_PEBBLES:,.0f} (the observation's bound)")
        if not 0 <= c.appetite < 64:
            fail(src, f"{base}.appetite", "must be from 0 to 63")
        try:
            found = disposition(c.disposition)
        except ValueError as exc:
            fail(src, f"{base}.disposition", str(exc))
        # rows tell stand-ins apart by name: two files under one name would merge (glade.seats check_stand_in_names)
        first, ref = named.setdefault(found.name, (found, c.disposition))
        if first != found:
            fail(
                src,
                f"{base}.disposition",
                f"{c.disposition} and {ref} are two different dispositions named {found.name!r}; results tell "
                "stand-ins apart by name, so give one of the files a name of its own (name: ...)",
            )
        for key in ("name", "species"):
            text = getattr(c, key)
            if not text or len(text) > 64 or not set(text) <= LINE_CHARSET:
                fail(src, f"{base}.{key}", "must be 1 to 64 printable ASCII characters")


def _check_legends(s: Scenario, src: str | None) -> None:
    for i, ev in enumerate(s.legends):
        if ev.legend not in LEGENDS:
            fail(src, f"legends[{i}].legend", f"unknown legend {shown(ev.legend)} (known: {', '.join(LEGENDS)})")
        _legend_ok(s, src, ev.legend, f"legends[{i}].legend", "or leave the legend out")
        if ev.turn < 0:
            fail(src, f"legends[{i}].turn", "must not be negative")


def _legend_ok(s: Scenario, src: str | None, legend_id: str, path: str, leave: str, good: str | None = None) -> None:
    """A legend's good must trade in this Wood, and the creature its story names live here: both are
    fixed by the legend (env.legends), not by the scenario, so the error names them and what to do
    (`good`: a gambit's, whose legend is to be one on the good it shorts)."""
    legend = LEGENDS[legend_id]
    lacks, adds = [], []
    if legend.good not in s.goods:
        lacks.append(f"the good {legend.good} (goods are {', '.join(s.goods)})")
        adds.append(f"a good {legend.good}")
    if legend.creature is not None and legend.creature not in s.creatures:
        lacks.append(f"the creature {legend.creature} (creatures are {', '.join(s.creatures)})")
        adds.append(f"a creature {legend.creature}")
    if not lacks:
        return
    fits = [
        name
        for name, other in LEGENDS.items()
        if other.good in s.goods
        and (other.creature is None or other.creature in s.creatures)
        and (good is None or other.good == good)  # a gambit's legend: one on the good it shorts
    ]
    on = f" on {good}" if good else ""
    choose = f", choose a legend{on} this Wood can play ({', '.join(fits)})" if fits else ""
    fail(
        src,
        path,
        f"legend {legend_words(legend_id)}, but this Wood lacks {' and '.join(lacks)}; a legend's goods and "
        f"creatures are fixed, so add {' and '.join(adds)}{choose} {leave}",
    )


def _check_gambit(s: Scenario, src: str | None) -> None:
    g = s.gambit
    _good_ok(s, src, g.good, "gambit.good")
    if g.tip_creature not in s.creatures:
        known = ", ".join(s.creatures)
        hint = did_you_mean(g.tip_creature, s.creatures)
        fail(src, "gambit.tip_creature", f"unknown creature {shown(g.tip_creature)} (creatures are {known}){hint}")
    if g.legend not in LEGENDS:
        fail(src, "gambit.legend", f"unknown legend {shown(g.legend)} (known: {', '.join(LEGENDS)})")
    # as for a scheduled legend: its good must trade here (run_on_oonas_hoard unless the file names another)
    _legend_ok(s, src, g.legend, "gambit.legend", "or leave the gambit out", g.good)
    cover = g.spring_turn if g.cover_turn is None else g.cover_turn
    if not g.open_turn <= g.spring_turn <= cover:
        turns = f"got {g.open_turn}, {g.spring_turn}, {cover}"
        fail(src, "gambit", f"turns must run open_turn <= spring_turn <= cover_turn, {turns}")
    if g.size == 0 or abs(g.size) >= MAX_UNITS:  # a count of units, like every other in the Wood
        fail(src, "gambit.size", f"must be from -{MAX_UNITS - 1:,} to {MAX_UNITS - 1:,} and not zero, got {g.size!r}")
    if g.open_turn < 0:
        fail(src, "gambit.open_turn", "must not be negative")
    # Any other tip turn plays: before the short, after the spring (the position may stay
    # open to cover_turn), past a short run's last turn as a spring may; turns start at 0.
    if g.tip_turn < 0:
        fail(src, "gambit.tip_turn", "must not be negative")


def _check_firewood(s: Scenario, src: str | None) -> None:
    for i, step in enumerate(s.firewood_need):
        for key in ("from_turn", "units"):
            if getattr(step, key) < 0:
                fail(src, f"firewood_need[{i}].{key}", "must not be negative")
        if step.units >= MAX_UNITS:
            fail(src, f"firewood_need[{i}].units", f"must be at most {MAX_UNITS - 1:,}, got {step.units!r}")
        if i and step.from_turn <= s.firewood_need[i - 1].from_turn:  # firewood_burn reads them in order
            fail(src, f"firewood_need[{i}].from_turn", "steps must be listed in rising from_turn order")


def _check_ranges(s: Scenario, src: str | None) -> None:
    """Each number inside its range (_ranges), and the pairs of numbers that bound each other."""
    for path, value, low, high in _ranges(s):
        above = value > low if low == 0 and path in _ABOVE_ZERO else value >= low
        if not above or value > high:
            lowest = "more than 0" if path in _ABOVE_ZERO else f"at least {low:g}"
            fail(
                src,
                path,
                f"must be {lowest}" + (f" and at most {high:g}" if high < INF else "") + f", got {shown(value)}",
            )
    if s.mood.start < s.mood.floor:  # the first observation shows the start: no meal has clamped it yet
        fail(
            src,
            "mood.start",
            f"must be at least mood.floor ({s.mood.floor:g}), got {s.mood.start!r}: mood never drops below its "
            "floor; raise mood.start or lower mood.floor",
        )
    if s.patron.maintenance > s.patron.margin:
        fail(src, "patron.maintenance", "must not exceed patron.margin (a position would be called when opened)")


def check_reach(s: Scenario, src: str | None) -> None:
    """What a whole episode can grow to stays inside the observation space: a creature's
    holding of a good (at most the Wood's whole stock of it), its pebbles (at most all the
    creatures' together: trades move them, nothing makes them) and the gossip one creature
    hears. The scenario's own schedule is covered here; `patron.spring` checks a windfall it
    adds (patron.windfall_reach), and the events and whispers texts are cut to fit."""
    n = len(s.creatures)
    fired = [(ev.legend, ev.mechanism) for ev in s.legends if ev.turn < s.turns]  # later ones never fire
    if s.gambit is not None and s.gambit.spring_turn < s.turns:
        fired.append((s.gambit.legend, s.gambit.mechanism))
    windfalls = [LEGENDS[legend] for legend, mechanism in fired if mechanism == "shock"]
    for good in s.goods:
        stores = sum(c.inventory.get(good, 0) for c in s.creatures.values())
        # at most production_trials units a turn; no legend raises production (a test pins it)
        made = sum(production_trials(c.produces.get(good, 0)) for c in s.creatures.values())
        gifts = n * sum(legend.shock_units for legend in windfalls if legend.good == good and legend.shock_units > 0)
        most = stores + s.turns * made + gifts
        if most >= MAX_UNITS:
            windfall = f", the legends' windfalls ({gifts:,})" if gifts else ""
            fail(
                src,
                f"goods.{good}",
                f"the creatures' stores ({stores:,}){windfall} and {s.turns} turn(s) of production (up to {made:,} "
                f"units a turn) could reach {most:,} units, past the observation's bound of {MAX_UNITS - 1:,}: "
                "lower the produces rates, the inventories" + (", the shock legends" if gifts else "") + " or turns",
            )
    pebbles = sum(c.pebbles for c in s.creatures.values())
    if pebbles >= MAX_PEBBLES:
        fail(
            src,
            "creatures",
            f"their pebbles together ({pebbles:,.0f}) must be below {MAX_PEBBLES:,.0f}, the observation's bound: "
            "trading can gather them all in one purse",
        )
    cap = s.social.gossip_chars
    if cap and n > 1:
        # the gossip one creature hears: every other creature's heard_line, one per line
        lines = [len(heard_line(c.name, "")) for c in s.creatures.values()]
        fixed = sum(lines) - min(lines) + n - 2
        if fixed + (n - 1) * cap > MAX_TEXT:
            allowed = max(0, (MAX_TEXT - fixed) // (n - 1))
            fail(
                src,
                "social.gossip_chars",
                f"must be at most {allowed:,} with these {n} creatures, got {cap!r}: the gossip one creature "
                f"hears (every other's line, name included) must fit the observation's {MAX_TEXT:,} characters",
            )


def schedule_notes(s: Scenario, turns: int | None = None) -> list[str]:
    """One line for each scheduled part of the plan that the last turn cuts off (of `turns`, the
    scenario's by default). Notes, not errors: cutting a gambit or a legend's scenario short
    with --turns is a normal thing to run, but its P&L or its calm must not read as a result."""
    last = (s.turns if turns is None else turns) - 1
    notes = []
    g = s.gambit
    if g is not None:
        cover = g.spring_turn if g.cover_turn is None else g.cover_turn
        side = "short" if g.size > 0 else "long"
        plan = f"gambit {g.legend} ({g.mechanism}, "
        if g.open_turn > last:
            notes.append(f"{plan}opens at turn {g.open_turn}): after the last turn ({last}): it never played")
        elif g.spring_turn > last:
            notes.append(
                f"{plan}turn {g.spring_turn}): after the last turn ({last}): it never sprang, and the {side} "
                f"opened at turn {g.open_turn} was never covered (its P&L counts only what settled)"
            )
        elif cover > last:
            notes.append(
                f"{plan}covers at turn {cover}): after the last turn ({last}): the {side} opened at turn "
                f"{g.open_turn} was never covered (its P&L counts only what settled)"
            )
    for ev in s.legends:
        if ev.turn > last:
            notes.append(
                f"legend {ev.legend} ({ev.mechanism}, turn {ev.turn}): after the last turn ({last}): it never happened"
            )
    return notes


INF = float("inf")
_ABOVE_ZERO = {"market.max_step", "patron.heat_threshold", "mood.floor"}  # mood never hits zero (DESIGN)


def _ranges(s: Scenario) -> list[tuple[str, float, float, float]]:
    """(key, value, lowest, highest) for every number the rules read as a share, a count or a rate."""
    m, mood, so, p = s.market, s.mood, s.social, s.patron
    return [
        ("market.max_orders", m.max_orders, 1, INF),
        ("market.max_qty", m.max_qty, 1, MAX_UNITS - 1),  # the action space's Discrete takes a C long
        ("market.trade_weight", m.trade_weight, 0, 1),
        ("market.pressure", m.pressure, 0, INF),
        ("market.max_step", m.max_step, 0, 1),
        ("market.depth", m.depth, 1, INF),
        *((f"mood.{k}", getattr(mood, k), 0, 1) for k in ("start", "mean", "reversion", "floor")),
        *((f"mood.{k}", getattr(mood, k), 0, INF) for k in ("fed", "hungry", "warm", "cold")),
        ("social.decay", so.decay, 0, 1),
        *(
            (f"social.{k}", getattr(so, k), -1, 1) for k in ("trade", "gossip", "tip", "default")
        ),  # feelings are in [-1, 1]
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
