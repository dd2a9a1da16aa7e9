"""The thresholds of a council recipe (`thresholds:`): what counts as a crash or a bubble,
which effects are flagged, the interval level, the verdicts' floors and the permutation draws,
in one frozen `Thresholds` passed everywhere. Their defaults (`DEFAULTS`) are the one source
of truth, for results folders written before a threshold existed too (`run_settings`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glade.config import build, fail


@dataclass(frozen=True)
class Thresholds:
    crash_drop: float = 0.3  # crash: the legend good falls by at least this share ...
    crash_within: int = 2  # ... within this many turns of the legend turn
    bubble_rise: float = 0.3  # bubble: rises by at least this share, then falls back below the start
    flag_min_effect: float = 0.15  # smallest |effect| worth a person's look
    flag_support: float = 0.6  # share of episodes (decision cells) or seeds (outcome) where the effect has its sign
    fdr_q: float = 0.10  # flags: Benjamini-Hochberg level over every tested cell (eval/fdr.py)
    robust_floor: float = 0.5  # robust: present in every cast, its pooled rate interval at or above this
    move_floor: float = 0.05  # seam split: a legend move smaller than this (|log|, about 5%) is no move
    lever_min_effect: float = 0.05  # a lever moves a world when its effect is at least this (and excludes 0)
    ci_level: float = 0.95
    resamples: int = 2000  # draws of the sign-flip permutation tests beyond exact enumeration


DEFAULTS = Thresholds()  # frozen: safe as a default argument
MIN_RESAMPLES = 100
RESAMPLES_RULE = f"at least {MIN_RESAMPLES} (a Monte Carlo p is at least 1/(resamples+1))"


def check_thresholds(t: Thresholds, source: str | None) -> None:
    rules = {
        "crash_drop": (t.crash_drop, 0 < t.crash_drop <= 1, "between 0 (excluded) and 1"),
        "crash_within": (t.crash_within, t.crash_within >= 0, "0 or more"),
        "bubble_rise": (t.bubble_rise, t.bubble_rise > 0, "more than 0"),
        "flag_min_effect": (t.flag_min_effect, t.flag_min_effect >= 0, "0 or more"),
        "flag_support": (t.flag_support, 0 <= t.flag_support <= 1, "between 0 and 1"),
        "fdr_q": (t.fdr_q, 0 < t.fdr_q < 1, "between 0 and 1, both excluded"),
        "robust_floor": (t.robust_floor, 0 <= t.robust_floor <= 1, "between 0 and 1"),
        "move_floor": (t.move_floor, t.move_floor >= 0, "0 or more"),
        "lever_min_effect": (t.lever_min_effect, t.lever_min_effect >= 0, "0 or more"),
        "ci_level": (t.ci_level, 0 < t.ci_level < 1, "between 0 and 1, both excluded"),
        # a Monte Carlo p is at least 1 / (resamples + 1): with fewer, no cell past exact enumeration
        # could reach a q worth a flag, and `glade flag` would read as an all-clear
        "resamples": (t.resamples, t.resamples >= MIN_RESAMPLES, RESAMPLES_RULE),
    }
    for key, (value, ok, expected) in rules.items():
        if not ok:
            fail(source, f"thresholds.{key}", f"must be {expected}, got {value}")


def run_settings(recipe: Mapping[str, Any], summary: Mapping[str, Any], folder) -> tuple[Thresholds, int]:
    """A results folder's thresholds and the seed of its permutation tests, checked as the eval
    recipe checks them (a hand-edited `fdr_q: 5` would flag at will): RESULTS/recipe.yaml's (as
    read by glade.eval.results_folder.read_recipe), else summary.json's (the run used them), else the defaults."""
    given, source = recipe.get("thresholds"), str(Path(folder) / "recipe.yaml")
    if given is None:
        given, source = summary.get("thresholds"), str(Path(folder) / "summary.json")
    if given is not None and not isinstance(given, Mapping):
        fail(source, "thresholds", f"expected a mapping, got {given!r}")
    thresholds = build(Thresholds, dict(given or {}), source, "thresholds")
    if thresholds.resamples < MIN_RESAMPLES and thresholds.resamples >= 1:  # an older glade took from 1
        fail(
            source,
            "thresholds.resamples",
            f"must be {RESAMPLES_RULE}, got {thresholds.resamples}, which an older glade took; rerun glade eval "
            f"with thresholds.resamples={DEFAULTS.resamples} (thresholds are not in the ledger: nothing plays again)",
        )
    check_thresholds(thresholds, source)
    source = str(Path(folder) / ("recipe.yaml" if "seed" in recipe else "summary.json"))
    seed = recipe["seed"] if "seed" in recipe else summary.get("seed")
    if seed is None:
        return thresholds, 0
    if isinstance(seed, bool) or not isinstance(seed, int):
        fail(source, "seed", f"expected an integer, got {seed!r}")
    if seed < 0:
        fail(source, "seed", f"must be at least 0, got {seed}")
    return thresholds, seed
