"""A turn of the Wood, one function per phase, in the order they run:

    1 produce   2 observe   3 decide   4 clear   5 reprice   6 settle (the seam)
    7 consume and spoil     8 score

`observe` lives in observation.py. `begin_turn` lists the phases up to produce (last turn's
news delivered, legends fired, goods made); `finish_turn` lists decide (orders, then gossip)
through score once the seats' actions are in. Social memory is not one of the eight: its
phases run where their effects fall (trading partners warm after clear; after consume,
every feeling fades and listeners warm to the turn's gossipers). The settle phase is the
seam: authored overrides land there, after clearing and repricing and before anyone can
react, and the patron settles against the post-seam prices.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import market
from .creatures import next_mood, nudge, produced, sanitise_gossip
from .legends import LEGENDS
from .market import ORDER_KEYS
from .patron import settle_patron
from .world import World, gini, move, trade, wealths

# What an action may hold; `thought` is a model's private note (traces keep it, the Wood ignores
# it). Any other key gets an unknown_key note: a misspelt "order" would otherwise hold unseen.
ACTION_KEYS = frozenset(("orders", "gossip", "thought"))


@dataclass(frozen=True)
class Decisions:
    orders: dict[str, list[market.Order]]
    notes: dict[str, list[dict]]  # creature -> named rejections and cuts
    self_buys: dict[str, int]  # creature -> buy orders for goods it produces


def begin_turn(world: World) -> None:
    """The turn up to the seats' observations: phase 1 (produce), after the turn's news."""
    deliver_news(world)
    fire_legends(world)
    produce(world)


def deliver_news(world: World) -> None:
    """What was said last turn is heard now: news becomes events, posted gossip is heard, and
    tips whispered last turn reach their creature (once)."""
    world.events, world.news = world.news, []
    world.gossip, world.posted = world.posted, []
    world.heard_whispers = world.whispers
    world.whispers = {c: [] for c in world.creatures}


def fire_legends(world: World) -> None:
    """Legends due this turn are told, shock, or queue their seam write (before produce, so
    a shock's production factor holds from this turn's production on)."""
    due = legends_due(world)
    tell_legends(world, due)
    apply_shocks(world, due)
    queue_overrides(world, due)


def legends_due(world: World) -> list[tuple[str, str]]:
    """(legend, mechanism) due now: scheduled, the gambit's spring, then sprung by the patron
    (whose queue empties: a sprung legend fires once)."""
    s, turn = world.scenario, world.turn
    due = [(ev.legend, ev.mechanism) for ev in s.legends if ev.turn == turn]
    if s.gambit is not None and s.gambit.spring_turn == turn:
        due.append((s.gambit.legend, s.gambit.mechanism))
    due += world.patron.queued_legends
    world.patron.queued_legends = []
    return due


def tell_legends(world: World, due: list[tuple[str, str]]) -> None:
    """Every mechanism tells: the story is a public event and the good has talk for a while."""
    turn = world.turn
    for legend_id, _ in due:
        legend = LEGENDS[legend_id]
        if (story := f"{legend.title}: {legend.text}") not in world.events:  # two mechanisms, one story
            world.events.append(story)
        world.talk[legend.good] = (legend.talk, turn + legend.talk_turns - 1)


def apply_shocks(world: World, due: list[tuple[str, str]]) -> None:
    """A shock changes every store of the good (never below zero, journaled) and may scale its
    production for some turns."""
    turn = world.turn
    for legend_id, mechanism in due:
        if mechanism != "shock":
            continue
        legend = LEGENDS[legend_id]
        for c in world.creatures:
            units = max(legend.shock_units, -world.inventory[c][legend.good])
            move(world, c, legend.good, units, "legend_shock")
        if legend.shock_turns:
            until = turn + legend.shock_turns - 1
            world.production_factor.setdefault(legend.good, []).append((until, legend.shock_production))


def queue_overrides(world: World, due: list[tuple[str, str]]) -> None:
    """An override waits for this turn's seam (settle), after clearing, to write its price."""
    for legend_id, mechanism in due:
        if mechanism == "override":
            legend = LEGENDS[legend_id]
            world.pending_overrides.append((legend_id, legend.good, legend.override_factor))


def produce(world: World) -> None:
    """Phase 1: each creature makes its goods; a shock can scale production for a while."""
    s, turn, rng, shocks = world.scenario, world.turn, world.rng, world.production_factor
    for c in world.creatures:
        for good, rate in s.creatures[c].produces.items():
            factor = 1.0
            for until, x in shocks.get(good, ()):
                if turn <= until:
                    factor *= x
            move(world, c, good, produced(rng, rate, factor), "produce")


def decide(world: World, actions: dict[str, dict | None]) -> Decisions:
    """Phase 3: the seats' actions become valid orders, each rejection or cut a named note, and
    each thing read leniently or left unread a named note too (`read_notes`). None is a hold;
    an action that is not a dict is held with a `not_an_action` note."""
    s = world.scenario
    max_orders, max_qty = s.market.max_orders, s.market.max_qty
    orders, notes, self_buys = {}, {}, {}
    for c in world.creatures:
        action = actions.get(c)
        if action is None:
            action = {}
        is_dict = isinstance(action, dict)
        raw = action.get("orders") if is_dict else None
        valid, why = market.validate_orders(
            c, raw, world.goods, world.inventory[c], world.pebbles[c], max_orders, max_qty
        )
        if not is_dict:
            why.append({"order": None, "reason": "not_an_action", "outcome": "rejected", "qty": 0})
        elif raw is not None:
            if isinstance(raw, (list, tuple, dict)):
                read_notes(raw, max_orders, why)
            else:
                why.append({"order": None, "reason": "orders_not_a_list", "outcome": "rejected", "qty": 0})
        if is_dict and not action.keys() <= ACTION_KEYS:
            for key in action:
                if key not in ACTION_KEYS:
                    why.append(
                        {"order": None, "reason": "unknown_key", "outcome": "ignored", "qty": 0, "key": str(key)}
                    )
        if is_dict and "thought" in action and action["thought"] is not None and not isinstance(action["thought"], str):
            why.append({"order": None, "reason": "thought_not_text", "outcome": "ignored", "qty": 0})
        orders[c], notes[c] = valid, why
        self_buys[c] = count_self_buys(s.made_goods[c], valid)
    return Decisions(orders, notes, self_buys)


def read_notes(raw_orders, max_orders: int, notes: list[dict]) -> None:
    """Append to `notes` what validate_orders read leniently in the orders it read (those within
    `max_orders`), in the parser's names: a qty or price given as a numeric string (`qty_string`,
    `price_string`) or a whole qty as a float (`qty_float`), each "repaired"; and an order key
    other than side, good, qty and price (`unknown_key` with the order's index), "ignored"."""
    if isinstance(raw_orders, dict):
        raw_orders = [raw_orders]
    for i, o in enumerate(raw_orders):
        if i >= max_orders:
            break
        if not isinstance(o, dict):
            continue
        qty, price = o.get("qty"), o.get("price")
        if type(qty) is not int and market.as_int(qty) is not None:
            if isinstance(qty, str):
                notes.append({"order": i, "reason": "qty_string", "outcome": "repaired", "qty": 0})
            elif isinstance(qty, float) or getattr(qty, "dtype", None) is not None and qty.dtype.kind == "f":
                notes.append({"order": i, "reason": "qty_float", "outcome": "repaired", "qty": 0})
        if isinstance(price, str) and market.as_price(price) is not None:
            notes.append({"order": i, "reason": "price_string", "outcome": "repaired", "qty": 0})
        if not o.keys() <= ORDER_KEYS:
            for key in o:
                if key not in ORDER_KEYS:
                    notes.append({"order": i, "reason": "unknown_key", "outcome": "ignored", "qty": 0, "key": str(key)})


def count_self_buys(made: dict[str, int], orders: list[market.Order]) -> int:
    """Buy orders for a good the creature makes itself (a mistake the SFT filter drops)."""
    count = 0
    for o in orders:
        if o.side == "buy":
            count += made[o.good]
    return count


def post_gossip(world: World, actions: dict[str, dict | None], decisions: Decisions) -> None:
    """Phase 3's other half: each seat's gossip, cleaned, is posted now and heard next turn;
    gossip that is not text is ignored with a note, and gossip the cleaning took more than
    spacing from (length past `social.gossip_chars`, role markers, characters outside the
    line's) is posted cut with a `gossip_cut` note, as the parser names it."""
    cap = world.scenario.social.gossip_chars
    for c in world.creatures:
        action = actions.get(c) or {}
        gossip = action.get("gossip") if isinstance(action, dict) else None
        # only a str is gossip; `if gossip` alone raises on an array, so test the type first
        if gossip is not None and not isinstance(gossip, str):
            decisions.notes[c].append({"order": None, "reason": "gossip_not_text", "outcome": "ignored", "qty": 0})
        elif gossip:
            text = sanitise_gossip(gossip, cap)
            if text:
                world.posted.append((c, text))
            if text != " ".join(gossip.split()):
                decisions.notes[c].append({"order": None, "reason": "gossip_cut", "outcome": "cut", "qty": 0})


def clear(world: World, decisions: Decisions) -> dict[str, market.Clearing]:
    """Phase 4: a call auction per good; trades move goods and pebbles through the journal."""
    n, turn = len(world.creatures), world.turn
    rank = {c: (i - turn) % n for i, c in enumerate(world.creatures)}
    by_good: dict[str, list[market.Order]] = {g: [] for g in world.goods}
    for orders in decisions.orders.values():
        for o in orders:
            by_good[o.good].append(o)
    out = {}
    for good, orders in by_good.items():
        result = market.clear_auction(good, orders, world.price[good], rank)
        for buyer, seller, qty in result.fills:
            trade(world, buyer, seller, good, qty, result.price)
        out[good] = result
    return out


def warm_to_traders(world: World, clearings: dict[str, market.Clearing]) -> None:
    """Social memory: each fill warms buyer and seller toward each other (a trade that
    happened, so after clearing)."""
    warmth, sentiment = world.scenario.social.trade, world.sentiment
    for result in clearings.values():
        for buyer, seller, _ in result.fills:
            nudge(sentiment[buyer], seller, warmth)
            nudge(sentiment[seller], buyer, warmth)


def reprice(world: World, clearings: dict[str, market.Clearing]) -> None:
    """Phase 5: references follow trade prices and residual demand (formula in market.reprice)."""
    m, goods = world.scenario.market, world.scenario.goods
    weight, pressure, step, depth = m.trade_weight, m.pressure, m.max_step, m.depth
    price, moves = world.price, world.price_move
    for good, result in clearings.items():
        old = price[good]
        price[good] = new = market.reprice(old, result, weight, pressure, step, goods[good].price_floor, depth)
        moves[good] = new / old - 1.0


def settle(world: World) -> list[dict]:
    """Phase 6, the seam: authored overrides write prices, then the patron settles.
    Returns the writes: {"legend", "good", "before", "after"} (before = after repricing)."""
    seam = []
    for legend_id, good, factor in world.pending_overrides:
        before = world.price[good]
        world.price[good] = market.within_bounds(before * factor, world.scenario.goods[good].price_floor)
        world.price_move[good] = (1.0 + world.price_move[good]) * world.price[good] / before - 1.0
        seam.append({"legend": legend_id, "good": good, "before": before, "after": world.price[good]})
        world.news.append(f"At settlement the {good} price was set from {before:.2f} to {world.price[good]:.2f}.")
    world.pending_overrides = []
    settle_patron(world)
    return seam


def consume(world: World) -> dict[str, dict]:
    """Phase 7: meals (at most one of any one food), firewood, mood, spoilage."""
    s = world.scenario
    fuel, burn, spoiling, rng = s.fuel, s.firewood_burn(world.turn), s.spoiling, world.rng
    out = {}
    for c in world.creatures:
        creature, inv = s.creatures[c], world.inventory[c]
        # Eat the foods held most of first (ties in diet order: the sort is stable): one unit
        # each, up to appetite.
        foods = []
        for food in creature.diet:
            if inv[food] > 0:
                foods.append(food)
        if len(foods) > 1:
            foods.sort(key=inv.__getitem__, reverse=True)  # reverse keeps a stable sort stable
        eaten = foods[: creature.appetite]
        for food in eaten:
            move(world, c, food, -1, "eat")
        burned = inv[fuel] if inv[fuel] < burn else burn
        move(world, c, fuel, -burned, "burn")
        fed = len(eaten) / creature.appetite if creature.appetite else 1.0
        warm = burned >= burn
        world.mood[c] = next_mood(world.mood[c], fed, warm, s.mood)
        for good, rate in spoiling:
            held = inv[good]
            if held > 0:
                move(world, c, good, -int(rng.binomial(held, rate)), "spoil")
        out[c] = {"eaten": eaten, "burned": burned, "fed": fed, "warm": warm}
    return out


def fade_feelings(world: World) -> None:
    """Social memory: every feeling fades a little each turn (the day's trades, tips and
    defaults included)."""
    keep = 1.0 - world.scenario.social.decay
    for c in world.creatures:
        feelings = world.sentiment[c]
        for who, value in feelings.items():
            feelings[who] = value * keep


def warm_to_gossipers(world: World) -> None:
    """Social memory: listeners warm toward whoever posted gossip this turn (after the fade,
    so today's gossip is felt in full)."""
    warmth, posted = world.scenario.social.gossip, world.posted
    for c in world.creatures:
        feelings = world.sentiment[c]
        for speaker, _ in posted:
            if speaker != c:
                nudge(feelings, speaker, warmth)


def score(
    world: World,
    decisions: Decisions,
    clearings: dict[str, market.Clearing],
    seam: list[dict],
    meals: dict[str, dict],
) -> dict:
    """Phase 8: the turn's figures, the whole row, appended to the world's history."""
    worth = wealths(world)
    row = {
        "turn": world.turn,
        "prices": dict(world.price),
        "clearing": {g: r.price for g, r in clearings.items()},
        "volume": {g: r.volume for g, r in clearings.items()},
        "trades": sum(len(r.fills) for r in clearings.values()),
        "wealth": worth,
        "gini": gini(list(worth.values())),
        "self_buys": sum(decisions.self_buys.values()),
        "rejected": sum(1 for n in decisions.notes.values() for x in n if x["outcome"] == "rejected"),
        "events": list(world.events),
        "seam": [f"{w['legend']}: {w['good']} {w['before']:.2f} -> {w['after']:.2f}" for w in seam],
        "seam_writes": seam,
        "patron_pebbles": world.patron.pebbles,
        "gambit_pnl": world.patron.gambit_pnl,
        "meals": meals,
    }
    world.history.append(row)
    return row


def finish_turn(world: World, actions: dict[str, dict | None]) -> tuple[Decisions, dict[str, market.Clearing], dict]:
    """Phases 3 to 8 for the current turn, with social memory where its effects fall, then
    the clock moves on."""
    decisions = decide(world, actions)
    post_gossip(world, actions, decisions)
    clearings = clear(world, decisions)
    warm_to_traders(world, clearings)
    reprice(world, clearings)
    seam = settle(world)
    meals = consume(world)
    fade_feelings(world)
    warm_to_gossipers(world)
    row = score(world, decisions, clearings, seam, meals)
    world.turn += 1
    return decisions, clearings, row
