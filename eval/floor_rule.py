"""The floor rule the verdicts' three lessons share: where an interval lies against a floor on
its size (beyond it, inside it, or across it and undecided), with floating-point dust at the
floor taken as on it; and the stored intervals the verdict words read it back from. The lessons
and their verdicts are glade.eval.verdicts.
"""

from __future__ import annotations

import math

from .stats import MIN_N, Interval

AT_FLOOR = "at the floor"  # an interval across the floor and narrower than it: more seeds alone may not settle it
AT_FLOOR_RULE = (
    "an interval across the floor and narrower than it: the effect is about the floor's size, which more seeds alone "
    "may not settle"
)


def against_floor(iv: Interval, floor: float) -> str | None:
    """Where an interval lies against a floor on its size: "beyond" (every value in it at least
    `floor` from 0, all on one side of 0), "inside" (every value less than `floor` from 0, or the
    same 0 in every seed), or None: it straddles the floor, or there is no interval (fewer than
    MIN_N seeds, a value not finite). A same value with no interval (a rate's has one) is its own."""
    if iv.n < MIN_N or math.isnan(iv.mean):
        return None
    if iv.low is not None:
        low, high = iv.low, iv.high
    elif iv.same:
        low = high = iv.mean
    else:
        return None
    low, high, floor = _sig(low), _sig(high), _sig(floor)  # 0.90 - 0.95 is -0.04999999999999999: at a 0.05 floor
    if (low >= floor and low > 0) or (high <= -floor and high < 0):
        return "beyond"
    if (-floor < low and high < floor) or low == high == 0:
        return "inside"
    return None


def _sig(x: float) -> float:  # 12 significant digits: a bound off the floor by floating-point dust is at it
    return float(f"{x:.12g}")


def narrower(low: float, high: float, floor: float) -> bool:  # the at-the-floor width test, dust aside
    return _sig(high - low) < _sig(floor)


def stored_interval(d: dict) -> Interval:
    """An interval back from its `as_dict` (the verdicts' stored entries)."""
    ci, note = d.get("ci") or (None, None), d.get("note") or ""
    mean = math.nan if d.get("mean") is None else d["mean"]
    # a stored interval keeps only its words: "same value in all N" is how `interval` says `same`
    return Interval(mean, ci[0], ci[1], int(d.get("n") or 0), note, same=note.startswith("same value"))


def straddles_floor(d: dict, floor: float) -> bool:
    """An interval (not too few seeds) that reaches both sides of the floor: against_floor's None."""
    return bool(d.get("ci")) and against_floor(stored_interval(d), floor) is None
