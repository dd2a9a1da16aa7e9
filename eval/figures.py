"""Outcome figures: one number per world (one episode), one function each, and their catalogue.

A figure reads one row of episodes.parquet (see glade.eval.rows: the price path of every
good, the start prices, the legend good and turn, the gambit's P&L, the final Gini, the
volume traded) and the recipe's thresholds, and gives a float (NaN where it does not
apply, e.g. no legend in the scenario). `FIGURES`, a literal catalogue in the shape of
glade.env.legends.LEGENDS, is what the metrics, the flags, the report and the model card
read: a new figure is one function and one entry below.

The scenario facts figures are measured around live here too: the legend turn (the
gambit's spring, else the first legend), the legend good, the phase of a turn.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from glade.env.legends import LEGENDS
from glade.env.scenario import Scenario, load_scenario

from .stats import bubble, crash
from .thresholds import DEFAULTS, Thresholds

PHASES = ("before", "seam", "after")


# --- what figures are measured around ----------------------------------------------------------


def legend_turn(s: Scenario) -> int | None:
    """The turn the phases are measured from: the gambit's spring, else the first legend."""
    if s.gambit is not None:
        return s.gambit.spring_turn
    return min((ev.turn for ev in s.legends), default=None)


def legend_good(s: Scenario) -> str | None:
    if s.gambit is not None:
        return LEGENDS[s.gambit.legend].good
    first = min(s.legends, key=lambda ev: ev.turn, default=None)
    return LEGENDS[first.legend].good if first else None


def phase(turn: int, legend: int | None) -> str:
    if legend is None or turn < legend:
        return "before"
    return "seam" if turn == legend else "after"


def mechanism(scenario: str, turns=None) -> str | None:
    """The gambit's mechanism (rumour / shock / override), if the scenario still loads."""
    try:
        s = load_scenario(scenario, **({"turns": int(turns)} if turns else {}))
    except (ValueError, OSError):  # a moved or changed scenario file: the label goes without it
        return None
    return s.gambit.mechanism if s.gambit is not None else None


# --- the figures ------------------------------------------------------------------------------


def _legend_path(ep: Mapping) -> tuple[list[float], int, float] | None:
    """(the legend good's price path, the legend turn, its price before the legend), or None
    when there is no legend or it falls after the last turn played."""
    good, turn = ep.get("legend_good"), ep.get("legend_turn")
    if not isinstance(good, str) or turn is None or (isinstance(turn, float) and math.isnan(turn)):
        return None
    paths, start = _load(ep["price_path"]), _load(ep["start_prices"])
    turn = int(turn)
    if good not in paths or not 0 <= turn < len(paths[good]):
        return None
    path = paths[good]
    return path, turn, (path[turn - 1] if turn > 0 else start[good])


def _load(value) -> dict:
    return json.loads(value) if isinstance(value, str) else value


def legend_ratio(ep: Mapping, thresholds: Thresholds = DEFAULTS) -> float:
    found = _legend_path(ep)
    if found is None:
        return math.nan
    path, turn, before = found
    return path[turn] / before


def gambit_pnl(ep: Mapping, thresholds: Thresholds = DEFAULTS) -> float:
    value = ep["gambit_pnl"]
    return math.nan if value is None else float(value)  # None: the scenario has no gambit


def final_gini(ep: Mapping, thresholds: Thresholds = DEFAULTS) -> float:
    return float(ep["final_gini"])


def volume(ep: Mapping, thresholds: Thresholds = DEFAULTS) -> float:
    return float(ep["volume"])


def crash_figure(ep: Mapping, thresholds: Thresholds = DEFAULTS) -> float:
    found = _legend_path(ep)
    if found is None:
        return math.nan
    path, turn, before = found
    drop, within = thresholds.crash_drop, thresholds.crash_within
    return float(crash(path, turn, drop, within, start=before))


def bubble_figure(ep: Mapping, thresholds: Thresholds = DEFAULTS) -> float:
    found = _legend_path(ep)
    if found is None:
        return math.nan
    path, turn, before = found
    return float(bubble(path, turn, thresholds.bubble_rise, start=before))


def _seam_ratio(ep: Mapping) -> float:
    value = ep.get("seam_ratio")
    return math.nan if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def seam_move(ep: Mapping, thresholds: Thresholds = DEFAULTS) -> float:
    """log of the legend good's price after the seam's write over before it, at the legend turn."""
    if _legend_path(ep) is None:
        return math.nan
    return math.log(_seam_ratio(ep))


def traded_move(ep: Mapping, thresholds: Thresholds = DEFAULTS) -> float:
    """log of the legend good's price after clearing and repricing at the legend turn (before
    the seam) over the price before the legend: what the seats' trading made of it."""
    found = _legend_path(ep)
    if found is None:
        return math.nan
    path, turn, before = found
    return math.log(path[turn] / _seam_ratio(ep) / before)


@dataclass(frozen=True)
class Figure:
    name: str
    about: str  # one line: what the number is, for reports and cards
    measure: Callable[[Mapping, Thresholds], float]  # (episode row, thresholds) -> value; NaN where it does not apply
    relative: bool = False  # in units (pebbles, goods): a flag's threshold is relative to the stand-in's magnitude
    key: bool = True  # named in the model card's prose
    rate: bool = False  # 0 or 1 per world: its mean is a rate with an exact binomial interval
    bounds: tuple[float | None, float | None] | None = None  # values it cannot pass (None: no bound), as intervals take


FIGURES: dict[str, Figure] = {
    f.name: f
    for f in (
        Figure(
            "legend_ratio",
            "the legend good's price at the legend turn's settlement over the turn before",
            legend_ratio,
            bounds=(0.0, None),
        ),
        Figure("gambit_pnl", "the patron's gambit P&L at the end, in pebbles", gambit_pnl, relative=True),
        Figure("final_gini", "the Gini of wealth after the last turn", final_gini, bounds=(0.0, 1.0)),
        Figure("volume", "units traded over the episode, all goods", volume, relative=True, bounds=(0.0, None)),
        Figure(
            "crash",
            "1 if the legend good fell by crash_drop within crash_within turns of the legend",
            crash_figure,
            rate=True,
            bounds=(0.0, 1.0),
        ),
        Figure(
            "bubble",
            "1 if the legend good rose by bubble_rise after the legend, then fell back",
            bubble_figure,
            rate=True,
            bounds=(0.0, 1.0),
        ),
        Figure(
            "traded_move",
            "log price move of the legend good at the legend turn made by clearing and repricing (the seats' trading)",
            traded_move,
            key=False,
        ),
        Figure(
            "seam_move",
            "log price move of the legend good at the legend turn written at the settlement seam (authored)",
            seam_move,
            key=False,
        ),
    )
}
LEGEND_RATIO_HEADING = "legend_ratio (price at settlement / before)"  # its column heading, saying what it is
PHENOMENA = tuple(name for name, f in FIGURES.items() if f.rate)  # the named phenomena: crash, bubble
PATH_DISTANCE = "path_distance_"  # + good: mean |log price gap| to the paired all-stand-in world, per turn


def figure_bounds(name: str) -> tuple[float | None, float | None] | None:
    """The values a figure's value (not an effect: a difference can go either way) cannot pass,
    as stats.interval takes them: a catalogue figure's own, a price-path distance's (0, None)."""
    if name.startswith(PATH_DISTANCE):
        return (0.0, None)
    return FIGURES[name].bounds if name in FIGURES else None
