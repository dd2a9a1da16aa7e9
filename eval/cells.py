"""The cells the flags test: every (scenario, council, cast, creature, phase, good, direction)
of the decisions and every (scenario, council, figure) of the outcomes, each with its effect,
interval, support, n and sign-flip p-value (eval/flags.py adds the q-values and picks the flags).

Decision cells of several scenarios built from the same play are one cell: scenarios that share
a world and its seeds and part only at the legend play the same decisions before it, and those
were tested (and flagged, and counted into the FDR pool) once per scenario. The same play is
read from the rows, not from phase names: the same (council, cast, creature, phase) whose rows
hash alike, every one of them (seed, turn, prompt, policy, live and stand-in action and
completion, and the sides taken). Such a cell is tested once, under the first scenario by name,
and lists every scenario it stands for in `scenarios`. Outcome cells are never merged.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from .decision_metrics import DIRECTIONS, goods_of
from .fdr import sign_flip
from .figures import FIGURES, PATH_DISTANCE
from .metrics import (
    figure_names,
    paired_worlds,
    pairs_of,
    per_seed,
    world_figures,
    world_unit,
)
from .recipe import STANDIN
from .stats import interval, support
from .thresholds import DEFAULTS, Thresholds

CELL = ["scenario", "council", "cast", "creature", "phase"]
PLAY = ["seed", "turn", "policy", "prompt", "completion", "action", "standin_action"]  # what a decision was


def shared_play(decisions: pd.DataFrame, goods) -> dict[tuple, list[str]]:
    """CELL key -> the scenarios (sorted) whose rows for the same (council, cast, creature,
    phase) are the same play as this one's, row for row (PLAY and the sides taken, live and
    stand-in); a scenario alone with its play maps to [itself]. Effects are not compared: two
    cells that merely happen to have equal effects are not the same play."""
    columns = [c for c in PLAY if c in decisions] + [f"{p}dir_{g}" for g in goods for p in ("", "standin_")]
    hashes = np.stack(
        [pd.util.hash_pandas_object(decisions[c].astype(str), index=False).to_numpy() for c in columns], axis=1
    )
    order = np.lexsort(hashes.T[::-1])  # the rows' order does not matter, only which rows there are
    keyed = decisions[CELL].iloc[order]
    prints = {}
    for key, rows in keyed.groupby(CELL, sort=True).indices.items():
        prints[key] = hashlib.sha256(np.ascontiguousarray(hashes[order[rows]]).tobytes()).hexdigest()
    alike: dict[tuple, list[str]] = {}
    for key, digest in prints.items():
        alike.setdefault((*key[1:], digest), []).append(key[0])
    return {key: sorted(alike[(*key[1:], digest)]) for key, digest in prints.items()}


def _cell(
    kind: str,
    key: dict,
    diffs: np.ndarray,
    live: float,
    ref: float,
    effect: float,
    scaled: float,
    *,
    level: float,
    seed: int,
    unit: str,
    draws: int,
    bounds: tuple[float, float] | None,
    lattice: bool = False,
    **extra,
) -> dict:
    """One tested cell: effect, interval, support, n and the sign-flip p-value (q comes later).
    `bounds`: where the paired differences cannot go (shares and rates differ by -1 to 1);
    `lattice`: a rate figure's differences, given stats.interval's exact interval for them."""
    iv = interval(diffs, level=level, unit=unit, bounds=bounds, lattice=lattice)
    p, p_min = sign_flip(diffs, seed=seed, draws=draws)
    sup = support(diffs, effect)
    return {
        "kind": kind,
        **key,
        **extra,
        "standin_value": ref,
        "live_value": live,
        "effect": effect,
        "scaled_effect": scaled,
        "ci_low": iv.low,
        "ci_high": iv.high,
        "ci_note": iv.note,
        "support": sup,
        "n": int(iv.n),
        "p": p,
        "p_min": p_min,
        "q": None,
        "score": abs(scaled) * sup,
    }


def _least(means: dict[str, float]) -> str:
    """The side the live seat takes less often than the stand-in does, most of all: "buy", or
    "buy or none" when two fall alike (a seat that always sells where the stand-in buys in half
    the states and holds in the rest)."""
    low = min(means.values())
    return " or ".join(d for d in DIRECTIONS if means[d] - low <= 1e-12)


def decision_cells(decisions: pd.DataFrame, thresholds: Thresholds = DEFAULTS, seed: int = 0) -> list[dict]:
    """Every (scenario, council, cast, creature, phase, good, direction) cell, tested; the same
    play in several scenarios once (shared_play), its `scenarios` naming them all."""
    if decisions is None or len(decisions) == 0:
        return []
    level, draws = thresholds.ci_level, thresholds.resamples
    goods = goods_of(decisions)
    indicators = {}
    for g in goods:
        for d in DIRECTIONS:
            indicators[f"L|{g}|{d}"] = (decisions[f"dir_{g}"] == d).astype(float)
            indicators[f"S|{g}|{d}"] = (decisions[f"standin_dir_{g}"] == d).astype(float)
    frame = pd.concat([decisions[CELL + ["episode_id"]], pd.DataFrame(indicators, index=decisions.index)], axis=1)
    per_episode = frame.groupby(CELL + ["episode_id"], sort=True).mean(numeric_only=True)
    policies = decisions.groupby(CELL, sort=True)["policy_name"].first()
    shared = shared_play(decisions, goods)
    # a scenario's own goods: a mixed-goods eval's other worlds' goods would be cells of two NaN sides, no test
    goods_in = {scenario: goods_of(rows) for scenario, rows in decisions.groupby("scenario", sort=False)}
    cells = []
    for cell, episodes in per_episode.groupby(level=list(range(len(CELL))), sort=True):
        scenarios = shared[cell]
        if cell[0] != scenarios[0]:  # the same play as the first scenario's: tested there, once
            continue
        key = dict(zip(CELL, cell))
        key["cast"] = int(key["cast"])
        key["scenarios"] = scenarios
        for g in goods_in[cell[0]]:
            live = {d: episodes[f"L|{g}|{d}"].to_numpy() for d in DIRECTIONS}
            ref = {d: episodes[f"S|{g}|{d}"].to_numpy() for d in DIRECTIONS}
            means = {d: float((live[d] - ref[d]).mean()) for d in DIRECTIONS}
            for d in DIRECTIONS:
                cells.append(
                    _cell(
                        "decision",
                        key,
                        live[d] - ref[d],
                        float(live[d].mean()),
                        float(ref[d].mean()),
                        means[d],
                        means[d],
                        policy=policies.get(cell),
                        metric=f"{g}: {d} share",
                        good=g,
                        direction=d,
                        instead=_least(means),
                        level=level,
                        seed=seed,
                        unit="episodes",
                        draws=draws,
                        bounds=(-1.0, 1.0),
                    )
                )
    return cells


def outcome_cells(episodes: pd.DataFrame, thresholds: Thresholds = DEFAULTS, seed: int = 0) -> list[dict]:
    """Every (scenario, council, figure) cell: the paired effect council - stand-in world, tested."""
    if episodes is None or len(episodes) == 0:
        return []
    level, draws = thresholds.ci_level, thresholds.resamples
    worlds = world_figures(episodes, thresholds)
    cells = []
    for scenario in sorted(set(worlds["scenario"])):
        here = worlds[worlds["scenario"] == scenario]
        good, turn = here["legend_good"].iloc[0], here["legend_turn"].iloc[0]
        for council in sorted(set(here["council"]) - {STANDIN}):
            casts = int(here.loc[here["council"] == council, "cast"].nunique())
            paired = paired_worlds(worlds, scenario, council)
            for figure in figure_names(worlds):
                if figure.startswith(PATH_DISTANCE):  # a distance from the stand-in world, 0 for that world itself:
                    continue  # never below 0, so a sign test of it cannot fail; the summary describes it instead
                pairs = pairs_of(paired, figure)  # per world: the flag's examples are worlds
                if len(pairs) == 0:
                    continue
                seeds = per_seed(pairs, ["live", "standin", "diff"])  # tested over seeds, casts averaged
                effect = float(seeds["diff"].mean())
                relative = figure in FIGURES and FIGURES[figure].relative
                rate = figure in FIGURES and FIGURES[figure].rate
                scale = max(float(seeds["standin"].abs().mean()), 1.0) if relative else 1.0
                cells.append(
                    _cell(
                        "outcome",
                        {
                            "scenario": scenario,
                            "council": council,
                            "cast": None,
                            "creature": None,
                            "phase": None,
                            "scenarios": [scenario],
                        },
                        seeds["diff"].to_numpy(),
                        float(seeds["live"].mean()),
                        float(seeds["standin"].mean()),
                        effect,
                        effect / scale,
                        policy=None,
                        metric=figure,
                        good=good if isinstance(good, str) else None,
                        direction=None,
                        instead=None,
                        legend_turn=None if pd.isna(turn) else int(turn),
                        pairs=pairs,
                        level=level,
                        seed=seed,
                        unit=world_unit(casts),
                        draws=draws,
                        bounds=(-1.0, 1.0) if rate else None,
                        lattice=rate,
                    )
                )
    return cells
