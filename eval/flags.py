"""Flags: disagreements between the council and the stand-in worth a person's look.

Decision flags, per (scenario, council, cast, creature, phase, good, direction): the share of
the live seat's decisions on that side of the good minus the stand-in counterfactual's share
in the same states. Each episode (one seed of the cast) gives one difference; the effect is
their mean, its CI a bootstrap over episodes (clustered: whole episodes are resampled), its
support the share of episodes whose difference has the effect's sign. Only directions the
live seat takes MORE often are flagged (shares sum to one, so every divergence has such a
side); `instead` names the side it takes less often.

Outcome flags, per (scenario, council) and figure (the catalogue in eval/figures.py and the
price path distance of each good): the paired difference council - stand-in world over
seeds x casts. Figures in units (the catalogue's `relative` ones: gambit P&L, volume) are
measured against `flag_min_effect` relative to the stand-in's mean magnitude (at least 1);
the others are ratios, shares and rates and are compared as is.

A flag needs |effect| >= flag_min_effect, a CI that excludes 0 and support >= flag_support.
Score = |scaled effect| x support; flags are ranked by it. Each points at up to three example
trace rows (episode, turn, creature) with the prompt, the live response and the stand-in action.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from glade.config import build, read_yaml

from .faults import excluded_text, without_faults
from .figures import FIGURES, PHASES
from .metrics import DIRECTIONS, figure_names, goods_of, paired_effects, world_figures
from .recipe import STANDIN, Thresholds
from .stats import bootstrap_ci, clean, support, threshold

CELL = ["scenario", "council", "cast", "creature", "phase"]
EXAMPLES = 3
FLAG_KEYS = (
    "kind",
    "scenario",
    "council",
    "cast",
    "creature",
    "phase",
    "metric",
    "standin_value",
    "live_value",
    "effect",
    "ci_low",
    "ci_high",
    "support",
    "n",
    "score",
    "examples",
)


def _passes(
    effect: float, scaled: float, low: float, high: float, sup: float, min_effect: float, min_support: float
) -> bool:
    if not all(math.isfinite(v) for v in (effect, scaled, low, high)):
        return False
    excludes_zero = low > 0 or high < 0
    return abs(scaled) >= min_effect and excludes_zero and sup >= min_support and (low > 0) == (effect > 0)


def _example(row) -> dict:
    return {
        "episode_id": str(row["episode_id"]),
        "turn": int(row["turn"]),
        "creature": str(row["creature"]),
        "prompt": str(row["prompt"]),
        "response": str(row["completion"]),
        "action": str(row["action"]),
        "standin_action": str(row["standin_action"]),
    }


def _examples(rows: pd.DataFrame, limit: int = EXAMPLES) -> list[dict]:
    """Up to `limit` rows, one per episode first (then more from the same episodes)."""
    if len(rows) == 0:
        return []
    rows = rows.sort_values(["episode_id", "turn", "creature"])
    first = rows.drop_duplicates("episode_id")
    picked = pd.concat([first, rows.drop(first.index)]).head(limit)
    return [_example(r) for _, r in picked.iterrows()]


def decision_flags(decisions: pd.DataFrame, thresholds=None, seed: int = 0) -> list[dict]:
    if decisions is None or len(decisions) == 0:
        return []
    min_effect, min_support = threshold(thresholds, "flag_min_effect"), threshold(thresholds, "flag_support")
    level, resamples = threshold(thresholds, "ci_level"), threshold(thresholds, "resamples")
    goods = goods_of(decisions)
    indicators = {}
    for g in goods:
        for d in DIRECTIONS:
            indicators[f"L|{g}|{d}"] = (decisions[f"dir_{g}"] == d).astype(float)
            indicators[f"S|{g}|{d}"] = (decisions[f"standin_dir_{g}"] == d).astype(float)
    frame = pd.concat(
        [decisions[CELL + ["episode_id", "policy_name"]], pd.DataFrame(indicators, index=decisions.index)], axis=1
    )
    per_episode = frame.groupby(CELL + ["episode_id"], sort=True).mean(numeric_only=True)
    flags = []
    for cell, episodes in per_episode.groupby(level=list(range(len(CELL))), sort=True):
        n = len(episodes)
        for g in goods:
            live_shares = {d: episodes[f"L|{g}|{d}"].to_numpy() for d in DIRECTIONS}
            ref_shares = {d: episodes[f"S|{g}|{d}"].to_numpy() for d in DIRECTIONS}
            diffs = {d: live_shares[d] - ref_shares[d] for d in DIRECTIONS}
            means = {d: float(diffs[d].mean()) for d in DIRECTIONS}
            for d in DIRECTIONS:
                effect = means[d]
                if effect <= 0 or effect < min_effect:
                    continue
                sup = support(diffs[d], effect)
                if sup < min_support:
                    continue
                low, high = bootstrap_ci(diffs[d], seed=seed, level=level, resamples=resamples)
                if not _passes(effect, effect, low, high, sup, min_effect, min_support):
                    continue
                instead = min(DIRECTIONS, key=lambda k: means[k])
                key = dict(zip(CELL, cell))
                mask = np.ones(len(decisions), dtype=bool)
                for column, value in key.items():
                    mask &= (decisions[column] == value).to_numpy()
                here = decisions[mask]
                diverging = here[(here[f"dir_{g}"] == d) & (here[f"standin_dir_{g}"] != d)]
                flags.append(
                    {
                        "kind": "decision",
                        **key,
                        "cast": int(key["cast"]),
                        "policy": sorted(set(here["policy_name"]))[0] if len(here) else None,
                        "metric": f"{g}: {d} share",
                        "good": g,
                        "direction": d,
                        "instead": instead,
                        "standin_value": float(ref_shares[d].mean()),
                        "live_value": float(live_shares[d].mean()),
                        "effect": effect,
                        "scaled_effect": effect,
                        "ci_low": low,
                        "ci_high": high,
                        "support": sup,
                        "n": n,
                        "rows": int(len(here)),
                        "score": abs(effect) * sup,
                        "examples": _examples(diverging),
                    }
                )
    return flags


def _outcome_examples(
    decisions: pd.DataFrame, pairs: pd.DataFrame, effect: float, legend_good, legend_turn
) -> list[dict]:
    """Live decisions from the worlds that moved most in the effect's direction: the least
    agreeing ones, nearest the legend turn, disagreements on the legend good first."""
    if decisions is None or len(decisions) == 0 or len(pairs) == 0:
        return []
    top = pairs.assign(moved=pairs["diff"] * np.sign(effect)).sort_values("moved", ascending=False)
    episodes = list(top["episode_id"].head(EXAMPLES))
    rows = decisions[decisions["episode_id"].isin(episodes)]
    if len(rows) == 0:
        return []
    rows = rows.assign(
        _rank=rows["episode_id"].map({e: i for i, e in enumerate(episodes)}),
        _legend=(rows[f"dir_{legend_good}"] == rows[f"standin_dir_{legend_good}"]).astype(int)
        if isinstance(legend_good, str) and f"dir_{legend_good}" in rows
        else 0,
        _near=(rows["turn"] - (legend_turn if legend_turn is not None and not pd.isna(legend_turn) else 0)).abs(),
    )
    rows = rows.sort_values(["_legend", "agreement", "_near", "_rank", "turn", "creature"])
    first = rows.drop_duplicates("episode_id")
    picked = pd.concat([first, rows.drop(first.index)]).head(EXAMPLES)
    return [_example(r) for _, r in picked.iterrows()]


def outcome_flags(decisions: pd.DataFrame, episodes: pd.DataFrame, thresholds=None, seed: int = 0) -> list[dict]:
    if episodes is None or len(episodes) == 0:
        return []
    min_effect, min_support = threshold(thresholds, "flag_min_effect"), threshold(thresholds, "flag_support")
    level, resamples = threshold(thresholds, "ci_level"), threshold(thresholds, "resamples")
    worlds = world_figures(episodes, thresholds)
    flags = []
    for scenario in sorted(set(worlds["scenario"])):
        here = worlds[worlds["scenario"] == scenario]
        for council in sorted(set(here["council"]) - {STANDIN}):
            for figure in figure_names(worlds):
                pairs = paired_effects(worlds, scenario, council, figure)
                if len(pairs) == 0:
                    continue
                effect = float(pairs["diff"].mean())
                relative = figure in FIGURES and FIGURES[figure].relative
                scale = max(float(pairs["standin"].abs().mean()), 1.0) if relative else 1.0
                scaled = effect / scale
                sup = support(pairs["diff"], effect)
                if abs(scaled) < min_effect or sup < min_support:
                    continue
                low, high = bootstrap_ci(pairs["diff"], seed=seed, level=level, resamples=resamples)
                if not _passes(effect, scaled, low, high, sup, min_effect, min_support):
                    continue
                good, turn = here["legend_good"].iloc[0], here["legend_turn"].iloc[0]
                flags.append(
                    {
                        "kind": "outcome",
                        "scenario": scenario,
                        "council": council,
                        "cast": None,
                        "creature": None,
                        "phase": None,
                        "policy": None,
                        "metric": figure,
                        "good": figure[len("path_distance_") :]
                        if figure.startswith("path_distance_")
                        else (good if isinstance(good, str) else None),
                        "direction": None,
                        "instead": None,
                        "standin_value": float(pairs["standin"].mean()),
                        "live_value": float(pairs["live"].mean()),
                        "effect": effect,
                        "scaled_effect": scaled,
                        "ci_low": low,
                        "ci_high": high,
                        "support": sup,
                        "n": int(len(pairs)),
                        "rows": None,
                        "score": abs(scaled) * sup,
                        "examples": _outcome_examples(decisions, pairs, effect, good, turn),
                    }
                )
    return flags


def find_flags(decisions: pd.DataFrame, episodes: pd.DataFrame, thresholds=None, seed: int = 0) -> list[dict]:
    """All decision and outcome flags, best first (score, then a stable order); JSON-ready. Seat
    faults are left out first (glade.eval.faults)."""
    decisions, episodes, _ = without_faults(decisions, episodes)
    flags = decision_flags(decisions, thresholds, seed) + outcome_flags(decisions, episodes, thresholds, seed)
    phase_order = {p: i for i, p in enumerate(PHASES)}
    flags.sort(
        key=lambda f: (
            -f["score"],
            f["kind"],
            f["scenario"],
            f["council"],
            f["cast"] if f["cast"] is not None else -1,
            f["creature"] or "",
            phase_order.get(f["phase"], 9),
            f["metric"],
        )
    )
    for rank, f in enumerate(flags, 1):
        f["rank"] = rank
    return [clean(f) for f in flags]


# --- writing -----------------------------------------------------------------------------------


def _fence(text: str) -> str:
    """A Markdown code block around `text`, its fence longer than any backtick run inside."""
    ticks = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        ticks = max(ticks, run)
    fence = "`" * max(3, ticks + 1)
    return f"{fence}\n{text.rstrip()}\n{fence}"


def number(value, digits: int = 3) -> str:
    """A flag's value for a table: 3 digits, '-' when missing."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) >= 1000 else f"{value:.{digits}f}"
    return str(value)


def load_thresholds(results: Path) -> tuple[Thresholds, int]:
    """(thresholds, bootstrap seed) from RESULTS/recipe.yaml (validated like the recipe), else
    the defaults."""
    path = Path(results) / "recipe.yaml"
    if not path.exists():
        return Thresholds(), 0
    data = read_yaml(path)
    given = data.get("thresholds") or {}
    if not isinstance(given, dict):
        raise ValueError(f"{path}: thresholds: expected a mapping")
    return build(Thresholds, given, str(path), "thresholds"), int(data.get("seed", 0) or 0)


def where(flag: dict) -> str:
    """scenario / council[.cN] / creature / phase, leaving out what an outcome flag lacks."""
    council = flag["council"] + (f".c{flag['cast']}" if flag.get("cast") is not None else "")
    parts = [flag["scenario"], council, flag.get("creature"), flag.get("phase")]
    return " / ".join(p for p in parts if p)


def effect_text(flag: dict) -> str:
    return f"{flag['effect']:+.3f} [{flag['ci_low']:+.3f}, {flag['ci_high']:+.3f}]"


def where_lines(flag: dict) -> str:
    """`where` in two short lines, for narrow terminal tables."""
    if flag["kind"] == "decision":
        return f"{flag['scenario']}\n{flag['council']}.c{flag['cast']} {flag['creature']} {flag['phase']}"
    return f"{flag['scenario']}\n{flag['council']}"


def metric_lines(flag: dict) -> str:
    """`metric_text` in two short lines, for narrow terminal tables."""
    if flag["kind"] == "decision":
        return f"{flag['good']} {flag['direction']}\n(not {flag['instead']})"
    return flag["metric"]


def metric_text(flag: dict) -> str:
    if flag["kind"] == "decision" and flag.get("instead"):
        return f"{flag['metric']} (instead of {flag['instead']})"
    return flag["metric"]


def markdown(flags: list[dict], top: int = 10, thresholds=None, excluded: dict | None = None) -> str:
    lines = ["# Flags", ""]
    if excluded and excluded["fault_rows"]:
        lines += [f"Left out: {excluded_text(excluded)}.", ""]
    if thresholds is not None:
        lines += [
            f"A flag needs |effect| >= {threshold(thresholds, 'flag_min_effect')}, a "
            f"{threshold(thresholds, 'ci_level'):.0%} CI excluding 0 and support >= {threshold(thresholds, 'flag_support')}.",
            "",
        ]
    if not flags:
        return "\n".join(lines + ["No flags: the council and the stand-in do not part ways beyond the thresholds.", ""])
    lines += [
        "| # | kind | scenario | council | cast | creature | phase | metric | stand-in | live | effect [CI] | support | n | score |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in flags:
        cells = [
            f["rank"],
            f["kind"],
            f["scenario"],
            f["council"],
            f["cast"],
            f["creature"],
            f["phase"],
            metric_text(f),
            number(f["standin_value"]),
            number(f["live_value"]),
            effect_text(f),
            f"{f['support']:.2f}",
            f["n"],
            f"{f['score']:.3f}",
        ]
        lines.append("| " + " | ".join("-" if c is None else str(c).replace("|", "\\|") for c in cells) + " |")
    lines.append("")
    for f in flags[:top]:
        lines += [f"## {f['rank']}. {f['kind']}: {where(f)}: {metric_text(f)}", ""]
        lines += [f"effect {effect_text(f)}, support {f['support']:.2f}, n {f['n']}", ""]
        if not f["examples"]:
            lines += ["(no live decisions to show)", ""]
        for e in f["examples"]:
            lines += [f"### episode {e['episode_id']}, turn {e['turn']}, {e['creature']}", ""]
            lines += ["Prompt:", "", _fence(e["prompt"]), ""]
            lines += ["Live response:", "", _fence(e["response"]), ""]
            lines += ["Stand-in action:", "", _fence(e["standin_action"]), ""]
    return "\n".join(lines)


def write_flags(flags: list[dict], out_dir, top: int = 10, thresholds=None, excluded=None) -> tuple[Path, Path]:
    """OUT/flags.json (the list of flags, JSON) and OUT/flags.md (a table, then the top flags'
    examples). Returns both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "flags.json", out / "flags.md"
    json_path.write_text(json.dumps(clean(flags), indent=2, allow_nan=False) + "\n")
    md_path.write_text(markdown(flags, top=top, thresholds=thresholds, excluded=excluded))
    return json_path, md_path
