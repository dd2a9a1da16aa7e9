"""The patron: a financier who shorts and goes long, whispers tips, lends and springs legends.

Positions are cash-settled against the reference price (the patron owns no goods), so a
position's P&L comes from outside the Wood and is journaled as `patron_pnl`. Everything
runs in the settlement phase, against post-seam prices. Whether a tip is true is kept
only in `world.patron.tips`; a creature hears the same words either way.
"""

from __future__ import annotations

import math
import numbers

from .creatures import nudge, production_trials
from .legends import FALL, LEGENDS, RISE
from .scenario import MECHANISMS
from .scenario_check import MAX_PEBBLES, MAX_UNITS
from .world import PATRON, PEBBLES, Loan, Position, World, move, transfer

TIP_WORDS = {FALL: "will fall", RISE: "will rise"}


class PatronError(ValueError):
    """A patron move the rules refuse (not enough margin, unknown creature...)."""


def _whole(value) -> bool:
    """An int (numpy's too) but not a bool: True would pass as 1 (a count, a turn, FALL)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _real(value) -> bool:
    """A number (numpy's too) but not a bool; a string would fail later, mid-step."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def equity(world: World) -> float:
    ledger = world.patron
    return ledger.pebbles + sum(p.qty * (world.price[p.good] - p.entry_price) for p in ledger.positions)


def open_position(world: World, good: str, qty: int, gambit: bool = False) -> Position:
    """Go long (qty > 0) or short (qty < 0) `good` at its current reference price."""
    if not isinstance(good, str) or good not in world.price:
        raise PatronError(f"unknown good {good!r}")
    if not _whole(qty) or qty == 0:  # a NaN qty made equity NaN, and every margin check after it passed
        raise PatronError(f"cannot open {qty!r} {good}: qty must be a whole number of units, not 0 (+ long, - short)")
    qty = int(qty)
    notional = abs(qty) * world.price[good]
    held = sum(abs(p.qty) * world.price[p.good] for p in world.patron.positions)
    if equity(world) < world.scenario.patron.margin * (held + notional):
        raise PatronError(f"not enough margin to open {qty:+d} {good}")
    # A true tip still in the air heats this position as it heats one already open (tip, below):
    # a tip is in the air from the turn it is whispered to the turn it is heard, the next one
    # (begin_turn delivers whispers once), so shorting right after a true tip counts too.
    tipped = any(t["true"] and t["good"] == good and t["turn"] >= world.turn - 1 for t in world.patron.tips)
    position = Position(good, qty, world.price[good], tipped_true=tipped, gambit=gambit)
    world.patron.positions.append(position)
    return position


def close_position(world: World, position: Position) -> float:
    """Settle a position at the current reference price; returns its P&L in pebbles."""
    if position not in world.patron.positions:
        raise PatronError(f"no such open position: {position!r}")
    pnl = position.qty * (world.price[position.good] - position.entry_price)
    world.patron.positions.remove(position)
    move(world, PATRON, PEBBLES, pnl, "patron_pnl")
    world.patron.realized_pnl += pnl
    if pnl > 0 and position.tipped_true:
        world.patron.heat += pnl * world.scenario.patron.heat_per_profit
    return pnl


def tip(world: World, creature: str, good: str, direction: int, true: bool) -> None:
    """Whisper to one creature that `good` will rise or fall; `true` stays in the ledger."""
    if not isinstance(creature, str) or creature not in world.inventory:
        raise PatronError(f"unknown creature {creature!r}")
    if not isinstance(good, str) or good not in world.price:
        raise PatronError(f"unknown good {good!r}")
    if not _whole(direction) or direction not in TIP_WORDS:
        raise PatronError(f"direction must be FALL or RISE ({FALL} or {RISE}), got {direction!r}")
    if not isinstance(true, bool):  # the ledger keeps it, and a true tip's profit heats the magistrate
        raise PatronError(f"true must be True or False, got {true!r}")
    direction = int(direction)
    text = f"A stranger in a dark cloak whispers to you: {good} {TIP_WORDS[direction]} soon."
    world.whispers[creature].append((good, direction, text))
    world.patron.tips.append(
        {"turn": world.turn, "creature": creature, "good": good, "direction": direction, "true": true}
    )
    if true:
        for position in world.patron.positions:
            if position.good == good:
                position.tipped_true = True
    nudge(world.sentiment[creature], PATRON, world.scenario.social.tip)


def lend(world: World, creature: str, amount: float, rate: float, due_turn: int) -> None:
    if not isinstance(creature, str) or creature not in world.pebbles:
        raise PatronError(f"unknown creature {creature!r}")
    if not _real(amount) or not 0 < amount <= world.patron.pebbles:  # also refuses NaN
        raise PatronError(
            f"cannot lend {amount!r} pebbles: amount must be a number above 0 and at most the patron's pebbles "
            f"({world.patron.pebbles:,.2f})"
        )
    if not _real(rate) or not 0 <= rate < math.inf:  # a NaN rate would make the debtor's pebbles NaN at collection
        raise PatronError(f"cannot lend at rate {rate!r}: rate must be a finite number >= 0")
    if not _whole(due_turn) or due_turn < world.turn:  # a string failed at the next collection, mid-step
        raise PatronError(
            f"cannot lend with due_turn {due_turn!r}: it must be a whole turn from this one ({world.turn}) on"
        )
    if world.pebbles[creature] + amount >= MAX_PEBBLES:  # its observation could not hold them
        raise PatronError(f"cannot lend {amount} pebbles: {creature} would hold {MAX_PEBBLES:,.0f} or more")
    amount, rate, due_turn = float(amount), float(rate), int(due_turn)  # the ledger holds plain numbers
    transfer(world, PATRON, creature, PEBBLES, amount, "loan")
    world.patron.loans.append(Loan(creature, amount, rate, due_turn))


def spring(world: World, legend: str, mechanism: str) -> None:
    """Spring a legend: it fires at the start of the next turn."""
    if not isinstance(legend, str) or legend not in LEGENDS:
        raise PatronError(f"unknown legend {legend!r}")
    if not isinstance(mechanism, str) or mechanism not in MECHANISMS:
        raise PatronError(f"unknown mechanism {mechanism!r}")
    if LEGENDS[legend].good not in world.price:  # it would fail next turn, mid-episode
        raise PatronError(f"legend {legend!r} is about {LEGENDS[legend].good}, which this Wood does not trade")
    if mechanism == "shock":
        most = windfall_reach(world, legend)
        if most >= MAX_UNITS:
            raise PatronError(
                f"cannot spring {legend!r} as a shock: with the Wood's {LEGENDS[legend].good} now, the windfalls "
                f"still to come and the turns left, a creature could hold {most:,} units, past the observation's "
                f"bound of {MAX_UNITS - 1:,}"
            )
    world.patron.queued_legends.append((legend, mechanism))


def windfall_reach(world: World, legend: str) -> int:
    """The most units of a legend's good one creature could hold by the episode's end if it
    is sprung as a shock now: the whole Wood's stock, every windfall queued or scheduled (this
    one included) and full production on every turn left. scenario_check.check_reach bounds
    the same sum for the scenario's own schedule, from the opening stores."""
    s, turn, good = world.scenario, world.turn, LEGENDS[legend].good
    coming = [legend] + [name for name, mechanism in world.patron.queued_legends if mechanism == "shock"]
    coming += [ev.legend for ev in s.legends if ev.mechanism == "shock" and turn < ev.turn < s.turns]
    if s.gambit is not None and s.gambit.mechanism == "shock" and turn < s.gambit.spring_turn < s.turns:
        coming.append(s.gambit.legend)
    gifts = len(world.creatures) * sum(
        max(LEGENDS[name].shock_units, 0) for name in coming if LEGENDS[name].good == good
    )
    stock = sum(world.inventory[c][good] for c in world.creatures)
    made = sum(production_trials(s.creatures[c].produces.get(good, 0)) for c in world.creatures)
    return stock + gifts + max(s.turns - turn, 0) * made


def settle_patron(world: World) -> None:
    """The patron's part of the settlement seam, in order: gambit, margin, loans, magistrate."""
    run_gambit_step(world)
    call_margin(world)
    collect_loans(world)
    magistrate(world)


def run_gambit_step(world: World) -> None:
    g = world.scenario.gambit
    if g is None:
        return
    turn = world.turn
    cover = g.spring_turn if g.cover_turn is None else g.cover_turn
    if turn == g.open_turn:
        try:
            open_position(world, g.good, -g.size, gambit=True)
        except PatronError as exc:
            world.patron.refused.append(f"turn {turn}: gambit: {exc}")
    if turn == g.tip_turn:
        tip(world, g.tip_creature, g.good, FALL if g.size > 0 else RISE, g.tip_true)
    if turn == cover:
        for position in [p for p in world.patron.positions if p.gambit]:
            world.patron.gambit_pnl += close_position(world, position)


def call_margin(world: World) -> None:
    positions = world.patron.positions
    notional = sum(abs(p.qty) * world.price[p.good] for p in positions)
    if positions and equity(world) < world.scenario.patron.maintenance * notional:
        for position in list(positions):
            pnl = close_position(world, position)
            if position.gambit:
                world.patron.gambit_pnl += pnl
        world.news.append("A financier's positions were called in by the lenders of the Wood.")


def collect_loans(world: World) -> None:
    for loan in list(world.patron.loans):
        loan.balance *= 1.0 + loan.rate
        if world.turn < loan.due_turn:
            continue
        paid = min(loan.balance, max(0.0, world.pebbles[loan.creature]))
        transfer(world, loan.creature, PATRON, PEBBLES, paid, "repay")
        world.patron.loans.remove(loan)
        if paid < loan.balance - 1e-9:
            name = world.scenario.creatures[loan.creature].name
            world.news.append(f"{name} could not repay a loan to the patron.")
            nudge(world.sentiment[loan.creature], PATRON, world.scenario.social.default)


def magistrate(world: World) -> None:
    """Heat decays first and is compared after: a fine comes when the turn's heat, this turn's
    true-tip profit included, passes heat_threshold / (1 - heat_decay) before the decay (1.11
    with the shipped 1.0 and 0.1: a true-tip profit above about 55.6 pebbles; the shipped gambit
    makes +50 to +54 under override on most seeds, more on a few, which are fined)."""
    cfg, ledger = world.scenario.patron, world.patron
    ledger.heat *= 1.0 - cfg.heat_decay
    if ledger.heat > cfg.heat_threshold:
        move(world, PATRON, PEBBLES, -cfg.fine, "fine")
        ledger.fines += cfg.fine
        ledger.heat = 0.0
        # Not public news: heat comes only from TRUE tips, so a public fine would tell the
        # creatures which whispers were true. The fine stays in the patron's ledger.
