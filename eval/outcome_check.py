"""The outcome check of a calibration: does the calibrated stand-in world predict the live council?

For every council world of an evaluation in which the policy sat and whose (scenario, seed) the
fit never saw, two stand-in worlds are played on the same scenario and seed:

- original: every seat on its scenario's disposition (the paired all-stand-in world);
- calibrated: the policy's seats on the fitted disposition, every other seat as before (a seat
  another live policy held in the council sits as its scenario's stand-in in both).

Each is compared with the council world on the outcome figures: the legend good's price at
settlement over the turn before (legend_ratio), the crash, the gambit's P&L (glade.eval.figures)
and the price path (the path distance of glade.eval.stats, averaged over goods). A stand-in
world's error is |its figure - the council's| (for the path, the distance itself); the
improvement is the original's error minus the calibrated's, paired by world, with a bootstrap
interval over worlds (seeds x casts).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import yaml

from glade.env.scenario import Scenario, load_scenario
from glade.env.standin import Disposition
from glade.rollout import EpisodeSpec, run_lockstep
from glade.seats import StandIn, standin_council

from .figures import FIGURES
from .recipe import STANDIN
from .rows import World, episode_rows
from .stats import describe, path_distance

CHECKED = ("legend_ratio", "crash", "gambit_pnl", "price_path")
ABOUT = {
    "legend_ratio": "legend good at settlement / before",
    "crash": "crash (0 or 1)",
    "gambit_pnl": "gambit P&L (pebbles)",
    "price_path": "price-path distance to the council (mean over goods)",
}
BATCH = 32  # worlds played in lockstep at a time


def outcome_check(live, fitted: Disposition, fit_pairs: set, seed: int = 0, on_total=None, on_turn=None) -> dict:
    """The check's figures per scenario and over all held-out worlds, and its verdict."""
    if live.kind != "results":
        return {
            "skipped": "a traces dataset holds no council outcome figures; calibrate from a glade eval results folder "
            "to check whether the calibrated stand-in predicts the council"
        }
    folder = live.folder
    episodes = pd.read_parquet(folder / "episodes.parquet").drop_duplicates("episode_id")
    recipe = yaml.safe_load((folder / "recipe.yaml").read_text()) if (folder / "recipe.yaml").exists() else {}
    thresholds = (recipe or {}).get("thresholds") or {}
    level = float(thresholds.get("ci_level", 0.95))
    seats = live.rows.groupby("episode_id")["creature"].agg(lambda c: sorted(set(c)))
    council = episodes[episodes["episode_id"].isin(seats.index)]
    council = council[[(s, int(k)) not in fit_pairs for s, k in zip(council["scenario"], council["seed"])]]
    if not len(council):
        return {"skipped": "no council world of the policy lies on a held-out seed or scenario"}
    scenarios = _scenarios(folder, council, recipe or {})
    specs = {}
    for name, s_seed in sorted(set(zip(council["scenario"], council["seed"].astype(int)))):
        s = scenarios[name]
        specs[f"{name}.original.s{s_seed}"] = EpisodeSpec(f"{name}.original.s{s_seed}", s, s_seed, standin_council(s))
    calibrated = StandIn(fitted)
    for ep in council.itertuples(index=False):
        s = scenarios[ep.scenario]
        seated = {**standin_council(s), **dict.fromkeys(seats[ep.episode_id], calibrated)}
        specs[f"{ep.episode_id}.calibrated"] = EpisodeSpec(f"{ep.episode_id}.calibrated", s, int(ep.seed), seated)
    played = _play(list(specs.values()), on_total, on_turn)
    worlds = []
    for ep in council.to_dict("records"):
        original = played[f"{ep['scenario']}.original.s{int(ep['seed'])}"]
        mine = played[f"{ep['episode_id']}.calibrated"]
        worlds.append({"scenario": ep["scenario"], **_errors(ep, original, mine, thresholds)})
    frame = pd.DataFrame(worlds)
    focal = pd.read_parquet(folder / "episodes.parquet", columns=["episode_id", "creature", "focal"])
    focal = focal[focal["focal"] & focal["episode_id"].isin(council["episode_id"])]
    others = sum(c not in seats[e] for e, c in zip(focal["episode_id"], focal["creature"]))
    groups = [("all held-out worlds", frame)] + [(name, frame[frame["scenario"] == name]) for name in sorted(scenarios)]
    fit_scenarios = {s for s, _ in fit_pairs}
    out = {
        "worlds": len(frame),
        "other_live_seats": int(others),
        "groups": [
            {
                "group": label,
                "scenario_in_fit": None if label.startswith("all") else label in fit_scenarios,
                **_summarise(part, seed, level),
            }
            for label, part in groups
        ],
    }
    out["verdict"] = verdict(out["groups"][0])
    return out


def _scenarios(folder, council: pd.DataFrame, recipe: dict) -> dict[str, Scenario]:
    """The scenarios the council played, as they ran (checked against the stored hashes); the
    recipe names them (a name or a path), the results by their `name`."""
    overrides = {"turns": int(recipe["turns"])} if recipe.get("turns") else {}
    named = {}
    for spec in recipe.get("scenarios") or []:
        try:
            s = load_scenario(spec, **overrides)
        except (ValueError, OSError):
            continue
        named[s.name] = s
    out = {}
    for name, digest in council[["scenario", "scenario_hash"]].drop_duplicates().itertuples(index=False):
        s = named.get(name) or load_scenario(name, **overrides)
        if s.hash() != digest:
            raise ValueError(
                f"{folder}: scenario {name!r} is not the one these results ran (hash {s.hash()}, results {digest}); "
                "run glade eval again, or calibrate with --no-outcome"
            )
        out[name] = s
    return out


def _play(specs: list[EpisodeSpec], on_total, on_turn) -> dict:
    batches = [specs[i : i + BATCH] for i in range(0, len(specs), BATCH)]
    if on_total is not None:
        on_total(sum(max(e.scenario.turns for e in batch) for batch in batches))
    played = {}
    for batch in batches:
        played.update(run_lockstep(batch, on_turn=on_turn, full=False))
    return played


def _figures(played, council: str) -> dict:
    """One stand-in world's outcome row (glade.eval.run.episode_rows: the figures of the catalogue)."""
    e = played.spec
    w = World(e.episode_id, f"{e.scenario.name}.s{e.seed}", e.scenario.name, council, 0, e.seed, {})
    return episode_rows(w, e.scenario, played.rows, played.history)[0]


def _errors(council: dict, original, calibrated, thresholds) -> dict:
    rows = {
        "council": council,
        "original": _figures(original, STANDIN),
        "calibrated": _figures(calibrated, "calibrated"),
    }
    out = {}
    for name in CHECKED[:-1]:
        for world, row in rows.items():
            out[f"{name}.{world}"] = float(FIGURES[name].measure(row, thresholds))
    paths = {world: json.loads(row["price_path"]) for world, row in rows.items()}
    out["price_path.council"] = 0.0
    for world in ("original", "calibrated"):
        out[f"price_path.{world}"] = float(
            np.mean([path_distance(paths[world][g], paths["council"][g]) for g in paths["council"]])
        )
    return out


def _summarise(part: pd.DataFrame, seed: int, level: float) -> dict:
    out = {"n": len(part), "figures": {}}
    for name in CHECKED:
        c, o, k = (part[f"{name}.{w}"].to_numpy(dtype=float) for w in ("council", "original", "calibrated"))
        ok = np.isfinite(c) & np.isfinite(o) & np.isfinite(k)
        if not ok.any():
            out["figures"][name] = {"n": 0, "verdict": "does not apply here"}
            continue
        # rounded to 1e-12: a difference of a few ulps is no difference (it would make an interval of zeros "above 0")
        err_o, err_k = np.round(np.abs(o[ok] - c[ok]), 12), np.round(np.abs(k[ok] - c[ok]), 12)
        better = describe(err_o - err_k, level=level, unit="worlds")
        rate = name == "crash"  # 0/1 per world: the exact binomial interval
        out["figures"][name] = {
            "n": int(ok.sum()),
            "council": describe(c[ok], level=level, unit="worlds", rate=rate),
            "original": describe(o[ok], level=level, unit="worlds", rate=rate),
            "calibrated": describe(k[ok], level=level, unit="worlds", rate=rate),
            "error_original": describe(err_o, level=level, unit="worlds", rate=rate),
            "error_calibrated": describe(err_k, level=level, unit="worlds", rate=rate),
            "improvement": better,
            "verdict": _figure_verdict(better),
        }
    return out


def _figure_verdict(better: dict) -> str:
    if better["ci"] is None:
        return f"n = {better['n']}: no interval ({better['note']})"
    low, high = better["ci"]
    if low is not None and low > 0:
        return "calibrated closer"
    if high is not None and high < 0:
        return "original closer"
    return "no clear difference"


def verdict(group: dict) -> str:
    """One sentence over all held-out worlds."""
    figures = {k: v for k, v in group["figures"].items() if "improvement" in v}
    closer = [k for k, v in figures.items() if v["verdict"] == "calibrated closer"]
    worse = [k for k, v in figures.items() if v["verdict"] == "original closer"]
    n = group["n"]
    if n < 2:
        return f"{n} held-out world: too few to say whether the calibrated stand-in predicts the council better"
    parts = []
    for k in closer + worse:
        imp = figures[k]["improvement"]
        parts.append(f"{ABOUT[k]}: error {_num(-imp['mean'])} [{_num(-imp['ci'][1])}, {_num(-imp['ci'][0])}]")
    head = (
        f"on {n} held-out worlds the calibrated stand-in predicts the council better on {len(closer)} of "
        f"{len(figures)} figures and worse on {len(worse)}"
    )
    return head + (" (" + "; ".join(parts) + ", calibrated minus original)" if parts else "; no difference is clear")


def _num(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:+.3g}"
