"""Searching the stand-in's parameters for the ones that best reproduce a live policy's actions.

`Features` holds, for every live decision and good, what the stand-in's rules read from the
observation that does not depend on the disposition (held, the units it wants per turn of
horizon, whether it makes the good, the talk, the reference price and its move, the jitter's
hash) and what the live seat did (its direction, quantity and limit price). `predict` is
`glade.env.standin.act` for all of them at once, in numpy: the same rules in the same order
(tests check it against `act` decision by decision); it exists because a search asks the
stand-in about every decision thousands of times.

`search` runs scipy's differential evolution (integers and the two talk reactions as integer
variables, seeded, the scenario's own disposition as the first candidate) to maximise

    agreement + closeness / (cells + 1)


where agreement is the share of (decision, good) cells on which the stand-in takes the live
seat's side (buy, sell or none) and closeness in [0, 1] the mean quantity and price closeness
where both trade a good on the same side: direction first, closeness breaks its ties. Then
`prune` puts back, one by one (largest move first), every parameter whose starting value
scores as well: a parameter the decisions say nothing about (a reaction to talk there never
was) stays where it started instead of drifting with the search.

`decision_scores`, `base_rate_agreement` and `moved` score a disposition against the live
decisions one decision at a time, through `act` itself (what glade calibrate reports).
"""

from __future__ import annotations

import dataclasses
import math
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from glade.env.legends import FALL, RISE
from glade.env.market import MAX_PRICE, MIN_PRICE
from glade.env.protocol import MAX_QTY
from glade.env.standin import Disposition, act, check_disposition

from .scoring import directions, quantities

NONE, BUY, SELL = 0, 1, 2
SIDE = {"none": NONE, "buy": BUY, "sell": SELL}
REACTIONS = ("ignore", "dump", "hoard")
MOMENTUM_OFF = 0.005  # a searched momentum below this is 0: no momentum rule at all


@dataclass(frozen=True)
class Param:
    name: str
    low: float
    high: float
    kind: str = "float"  # float | int | reaction


# What the search may move, within these bounds (all inside the dispositions' own ranges).
SPACE = (
    Param("horizon", 0, 6, "int"),
    Param("surplus", 0, 40, "int"),
    Param("bid", -0.2, 0.5),
    Param("ask", -0.2, 0.5),
    Param("jitter", 0.0, 0.2),
    Param("budget", 0.05, 1.0),
    Param("on_fall", 0, 2, "reaction"),
    Param("on_rise", 0, 2, "reaction"),
    Param("dump_keep", 0, 20, "int"),
    Param("dump_discount", 0.0, 0.8),
    Param("hoard_units", 0, 20, "int"),
    Param("hoard_premium", 0.0, 0.8),
    Param("momentum", 0.0, 0.3),
    Param("swing_units", 0, 10, "int"),
)


def decode(x, name: str) -> Disposition:
    """A search vector -> a Disposition named `name`."""
    values = {}
    for p, v in zip(SPACE, x, strict=True):
        if p.kind == "int":
            values[p.name] = int(round(float(v)))
        elif p.kind == "reaction":
            values[p.name] = REACTIONS[int(round(float(v)))]
        else:
            values[p.name] = round(float(v), 4)
    if values["momentum"] < MOMENTUM_OFF:
        values["momentum"] = 0.0
    return check_disposition(Disposition(name=name, **values))


def moves(a: Disposition, b: Disposition) -> dict[str, float]:
    """Per parameter, the share of its search range it moved from a to b (a reaction: 0 or 1)."""
    out = {}
    for p in SPACE:
        x, y = getattr(a, p.name), getattr(b, p.name)
        out[p.name] = float(x != y) if p.kind == "reaction" else min(1.0, abs(float(x) - float(y)) / (p.high - p.low))
    return out


def encode(d: Disposition) -> np.ndarray:
    """A Disposition -> a search vector, clipped into the search's bounds."""
    out = []
    for p in SPACE:
        value = getattr(d, p.name)
        value = REACTIONS.index(value) if p.kind == "reaction" else float(value)
        out.append(min(max(value, p.low), p.high))
    return np.array(out, dtype=float)


@dataclass(frozen=True)
class Features:
    goods: tuple[str, ...]
    held: np.ndarray  # (rows, goods) int
    want_units: np.ndarray  # units wanted per turn of horizon (needs where it eats or burns the good, else 0)
    own: np.ndarray  # bool: it makes the good
    signal: np.ndarray  # talk, else whisper: 0, FALL or RISE
    move: np.ndarray  # the reference's move last turn
    ref: np.ndarray  # the reference price
    unit: np.ndarray  # the jitter's hash in [-1, 1]
    pebbles: np.ndarray  # (rows,)
    live_side: np.ndarray  # (rows, goods) NONE / BUY / SELL
    live_qty: np.ndarray  # units on that side
    live_price: np.ndarray  # quantity-weighted limit price on that side (NaN where none)


def features(observations: list[dict], actions: list[dict], seed: int = 0) -> Features:
    """Features of decisions: plain observations (JSON) and the live actions taken in them."""
    goods = tuple(observations[0]["inventory"])
    shape = (len(observations), len(goods))
    held, want, own, signal = (np.zeros(shape, dtype=np.int64) for _ in range(4))
    move, ref, unit, live_price = (np.zeros(shape) for _ in range(4))
    live_side, live_qty = np.zeros(shape, dtype=np.int8), np.zeros(shape, dtype=np.int64)
    pebbles = np.zeros(shape[0])
    for r, (obs, action) in enumerate(zip(observations, actions, strict=True)):
        if tuple(obs["inventory"]) != goods:
            raise ValueError("the decisions' observations hold different goods; calibrate one set of goods at a time")
        eats, fuel = _eats(obs), obs["fuel"]
        key = zlib.crc32(f"{seed}|{obs['turn']}|{obs['creature']}|".encode())
        pebbles[r] = float(obs["pebbles"])
        sides, units, limits = directions(action, goods), quantities(action, goods), limit_prices(action)
        for g, good in enumerate(goods):
            held[r, g] = obs["inventory"][good]
            want[r, g] = obs["needs"][good] if good == fuel or good in eats else 0
            own[r, g] = obs["produces"][good] == 1
            signal[r, g] = obs["talk"][good] or obs["whisper"][good]
            move[r, g] = float(obs["price_moves"][good])
            ref[r, g] = float(obs["prices"][good])
            unit[r, g] = zlib.crc32(good.encode(), key) / 0x7FFFFFFF - 1.0
            live_side[r, g] = SIDE[sides[good]]
            live_qty[r, g] = abs(units[good])
            live_price[r, g] = limits.get((good, sides[good]), np.nan)
    return Features(
        goods, held, want, own.astype(bool), signal, move, ref, unit, pebbles, live_side, live_qty, live_price
    )


def _eats(obs: dict) -> list[str]:
    """The foods the stand-in wants a horizon of (as glade.env.standin.act picks them)."""
    needs, makes, prices, fuel = obs["needs"], obs["produces"], obs["prices"], obs["fuel"]
    eats = [g for g in obs["inventory"] if needs[g] and g != fuel]
    eats.sort(key=lambda g: (-makes[g], float(prices[g])))
    return eats[: obs["appetite"]]


def limit_prices(action: dict) -> dict[tuple[str, str], float]:
    """(good, side) -> quantity-weighted limit price of the action's orders."""
    sums: dict[tuple[str, str], list[float]] = {}
    for o in action.get("orders", []):
        s = sums.setdefault((o["good"], o["side"]), [0.0, 0.0])
        s[0] += float(o["qty"])
        s[1] += float(o["qty"]) * float(o["price"])
    return {k: s[1] / s[0] for k, s in sums.items() if s[0] > 0}


def predict(f: Features, d: Disposition) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(side, qty, limit price) per decision and good: glade.env.standin.act, vectorised."""
    held, own = f.held, f.own
    want = f.want_units * d.horizon
    side = np.zeros(held.shape, dtype=np.int8)
    qty = np.zeros(held.shape, dtype=np.int64)
    premium = np.zeros(held.shape)
    buy = (held < want) & ~own  # rule 1: buy the gap
    sell = ~buy & (held > want + d.surplus)  # rule 2: sell the excess
    side[buy], qty[buy] = BUY, (want - held)[buy]
    side[sell], qty[sell] = SELL, (held - want - d.surplus)[sell]
    codes = {r: i for i, r in enumerate(REACTIONS)}
    reaction = np.where(f.signal == FALL, codes[d.on_fall], np.where(f.signal == RISE, codes[d.on_rise], 0))
    dump = (reaction == 1) & (held > d.dump_keep)  # rule 3: talk replaces rules 1-2
    hoard = ~dump & (reaction == 2) & ~own
    momentum = ~dump & ~hoard & (side == NONE)  # rule 4, when nothing above fired
    hoard_qty = np.maximum(np.where(side == BUY, qty, 0), d.hoard_units)
    side[dump], qty[dump], premium[dump] = SELL, (held - d.dump_keep)[dump], d.dump_discount
    side[hoard], qty[hoard], premium[hoard] = BUY, hoard_qty[hoard], d.hoard_premium
    if d.momentum > 0:
        up = momentum & (f.move > d.momentum) & ~own
        down = momentum & ~up & (f.move < -d.momentum) & (held > 0)
        side[up], qty[up] = BUY, d.swing_units
        side[down], qty[down] = SELL, np.minimum(held, d.swing_units)[down]
    side[qty <= 0] = NONE
    qty = np.minimum(qty, MAX_QTY)  # as act: a larger order is rejected whole, so it asks for the most one can
    noise = d.jitter * f.unit
    price = np.where(
        side == BUY,
        np.round(np.clip(f.ref * (1.0 + d.bid + premium + noise), MIN_PRICE, MAX_PRICE), 2),
        np.round(np.clip(f.ref * (1.0 - d.ask - premium + noise), MIN_PRICE, MAX_PRICE), 2),
    )
    # the budget: buys cut from the last good back until the spend fits
    buys = side == BUY
    spend = np.zeros(held.shape[0])
    for g in range(held.shape[1]):
        spend = spend + np.where(buys[:, g], qty[:, g] * price[:, g], 0.0)
    budget = d.budget * np.maximum(0.0, f.pebbles)
    for g in reversed(range(held.shape[1])):
        over = buys[:, g] & (spend > budget)
        if not over.any():
            continue
        steps = -(-(spend - budget) // np.where(over, price[:, g], 1.0))
        cut = np.where(over, np.minimum(qty[:, g], steps.astype(np.int64)), 0)
        qty[:, g] -= cut
        spend = spend - cut * price[:, g]
    side[buys & (qty <= 0)] = NONE
    return side, qty, price


def score(f: Features, d: Disposition) -> tuple[float, float]:
    """(agreement, closeness) of the disposition with the live decisions."""
    side, qty, price = predict(f, d)
    agree = side == f.live_side
    both = agree & (side != NONE)
    if not both.any():
        return float(agree.mean()), 0.0
    q_live, q_pred = f.live_qty[both], qty[both]
    q_close = 1.0 - np.abs(q_live - q_pred) / np.maximum(np.maximum(q_live, q_pred), 1)
    p_close = 1.0 - np.minimum(1.0, np.abs(price[both] / f.live_price[both] - 1.0))
    return float(agree.mean()), float(np.mean((q_close + np.nan_to_num(p_close)) / 2.0))


def prune(f: Features, fitted: Disposition, start: Disposition) -> Disposition:
    """`fitted` with every parameter put back to its value in `start` that scores no worse
    (agreement, then closeness), trying the largest moves first."""
    best, best_score = fitted, score(f, fitted)
    for name, share in sorted(moves(start, fitted).items(), key=lambda kv: -kv[1]):
        if share == 0:
            continue
        trial = dataclasses.replace(best, **{name: getattr(start, name)})
        trial_score = score(f, trial)
        if trial_score >= best_score:
            best, best_score = trial, trial_score
    return best


@dataclass(frozen=True)
class Search:
    disposition: Disposition
    agreement: float  # on the decisions searched
    closeness: float
    evaluations: int
    generations: int
    seconds: float
    settings: dict


def search(
    f: Features,
    start: Disposition,
    name: str,
    seed: int = 0,
    popsize: int = 10,
    maxiter: int = 60,
    on_generation: Callable[[], None] | None = None,
) -> Search:
    """The disposition that best reproduces the live decisions in `f`; `start` is the first
    candidate (the scenario's own disposition), so the result never agrees less than it."""
    from scipy.optimize import differential_evolution

    cells = f.held.size
    calls = [0]

    def loss(x) -> float:
        calls[0] += 1
        agreement, closeness = score(f, decode(x, name))
        return -(agreement + closeness / (cells + 1))

    def callback(intermediate_result) -> None:
        if on_generation is not None:
            on_generation()

    settings = {"popsize": popsize, "maxiter": maxiter, "seed": seed, "strategy": "best1bin"}
    t0 = time.perf_counter()
    result = differential_evolution(
        loss,
        bounds=[(p.low, p.high) for p in SPACE],
        integrality=[p.kind != "float" for p in SPACE],
        x0=encode(start),
        rng=np.random.default_rng(seed),
        popsize=popsize,
        maxiter=maxiter,
        tol=0.0,
        polish=False,
        callback=callback,
    )
    best = prune(f, decode(result.x, name), start)  # never worse than `start`: it was in the first population
    agreement, closeness = score(f, best)
    return Search(best, agreement, closeness, calls[0], int(result.nit), time.perf_counter() - t0, settings)


# --- the stand-in against live decisions, one decision at a time (glade calibrate's scores) ---


def decision_scores(observations, actions, dispositions) -> pd.DataFrame:
    """Per decision, the stand-in (one disposition per decision) against the live action:
    agreement (share of goods on the same side: buy, sell or none), qty_error (mean over goods
    of |live - stand-in| signed units) and price_error (mean |live limit / stand-in limit - 1|
    over goods both trade on the same side; NaN where there is none)."""
    out = []
    for obs, live, d in zip(observations, actions, dispositions, strict=True):
        goods = list(obs["inventory"])
        ref = act(obs, d)
        d_live, d_ref = directions(live, goods), directions(ref, goods)
        q_live, q_ref = quantities(live, goods), quantities(ref, goods)
        p_live, p_ref = limit_prices(live), limit_prices(ref)
        gaps = [
            abs(p_live[(g, side)] / p_ref[(g, side)] - 1.0)
            for g, side in d_live.items()
            if side == d_ref[g] != "none" and (g, side) in p_live and (g, side) in p_ref
        ]
        out.append(
            {
                "agreement": sum(d_live[g] == d_ref[g] for g in goods) / len(goods),
                "qty_error": sum(abs(q_live[g] - q_ref[g]) for g in goods) / len(goods),
                "price_error": float(np.mean(gaps)) if gaps else math.nan,
            }
        )
    return pd.DataFrame(out)


def base_rate_agreement(fit: pd.DataFrame, heldout: pd.DataFrame) -> np.ndarray:
    """Per held-out decision: the agreement of always taking each good's most common live side
    in the fit part (a predictor that knows base rates and nothing about the state)."""
    goods = list(fit["observation"].iloc[0]["inventory"])
    counts = {g: {} for g in goods}
    for action in fit["action"]:
        for g, side in directions(action, goods).items():
            counts[g][side] = counts[g].get(side, 0) + 1
    usual = {g: max(sorted(c), key=c.get) for g, c in counts.items()}
    return np.array(
        [sum(d[g] == usual[g] for g in goods) / len(goods) for d in (directions(a, goods) for a in heldout["action"])]
    )


def moved(start: Disposition, fitted: Disposition, top: int = 5) -> list[dict]:
    """The parameters that moved most, by the share of their search range they moved."""
    out = [
        {"parameter": k, "before": getattr(start, k), "after": getattr(fitted, k), "share_of_range": round(share, 4)}
        for k, share in moves(start, fitted).items()
        if share > 0
    ]
    return sorted(out, key=lambda m: -m["share_of_range"])[:top]
