"""The outcome check of a calibration: does the calibrated stand-in world predict the live council?

For every council world of an evaluation in which the policy sat and whose (scenario, seed) the
fit never saw, two stand-in worlds are played on the same scenario and seed:

- original: every seat on its scenario's disposition (the paired all-stand-in world);
- calibrated: the policy's seats on the fitted disposition, every other seat as before (a seat
  another live policy held in the council sits as its scenario's stand-in in both).

Each is compared with the council world on the outcome figures: the legend good's price at
settlement over the turn before (legend_ratio), the crash, the gambit's P&L (glade.eval.figures)
and the price path (the path distance of glade.eval.stats to the council's, averaged over goods;
the council has no figure of its own there). A stand-in world's error is |its figure - the
council's| (for the path, the distance itself); the change in error is the calibrated's minus
the original's, paired by world (negative: the calibrated world is closer), with its interval
over seeds: the worlds of one seed share its original stand-in world, and twin scenarios share
its play before the legend, so a seed's worlds (every scenario's) are averaged first, as a
council's casts are in the evaluation (glade.eval.metrics.per_seed);
glade.eval.stats.interval, the t interval widened by Hall's skewness correction (a crash's,
on the lattice of 0/1 outcomes, the exact split interval: glade.eval.exact.lattice_bounds).
Each world's figures and errors are summarised the same way (`describe`), the crash with the
exact Clopper-Pearson interval where each seed holds one world (0/1), else the split one.

A held-out scenario that parts from a fitted twin only at the legend is played on the fit seeds
too: its decisions after the legend were never fitted, but the turns before it replay fitted
play, which the price path (and the legend ratio's turn before) still includes.
"""

from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from glade.env.scenario import Scenario, load_scenario
from glade.env.standin import Disposition
from glade.rollout import EpisodeSpec, run_lockstep
from glade.seats import StandIn, standin_council
from glade.traces import unreadable_parquet

from .faults import without_faults
from .figures import FIGURES
from .live_decisions import recipe_scenarios, recipe_turns
from .recipe import STANDIN
from .results_folder import read_recipe, read_summary, read_table, rebuild
from .rows import PlannedWorld, episode_rows
from .stats import MIN_N, NO_DIFFERENCE, Interval, ci_text, describe, interval, path_distance
from .thresholds import run_settings

CHECKED = ("legend_ratio", "crash", "gambit_pnl", "price_path")
ABOUT = {
    "legend_ratio": "legend good at settlement / before",
    "crash": "crash (0 or 1)",
    "gambit_pnl": "gambit P&L (pebbles)",
    "price_path": "price-path distance to the council (mean over goods)",
}
FORMAT = {"legend_ratio": ".3f", "crash": ".3f", "gambit_pnl": ".2f", "price_path": ".3f"}  # decimals per figure
CALIBRATED_CLOSER, ORIGINAL_CLOSER = "calibrated closer", "original closer"
NO_CLEAR, NO_DIFFERENCE_WORD, TOO_FEW = "no clear difference", "no difference", "too few seeds"
BATCH = 32  # worlds played in lockstep at a time


def outcome_check(live, fitted: Disposition, fit_pairs: set, on_total=None, on_turn=None, *, level: float) -> dict:
    """The check's figures per scenario and over all held-out worlds, and its verdict; intervals
    at `level` (calibration's own, which its text states, not the recipe's ci_level)."""
    if live.kind != "results":
        return {
            "skipped": "a traces dataset holds no council outcome figures; calibrate from a glade eval results folder "
            "to check whether the calibrated stand-in predicts the council"
        }
    folder = live.folder
    check_episodes(folder)
    _, episodes, excluded = without_faults(None, read_table(folder / "episodes.parquet"))
    episodes = episodes.drop_duplicates("episode_id")
    # the run's thresholds, checked as glade flag and report check them (recipe.yaml's, else summary.json's)
    thresholds, _ = run_settings(read_recipe(folder), read_summary(folder), folder)
    seats = live.rows.groupby("episode_id")["creature"].agg(lambda c: sorted(set(c)))
    council = episodes[episodes["episode_id"].isin(seats.index)]
    council = council[[(s, int(k)) not in fit_pairs for s, k in zip(council["scenario"], council["seed"])]]
    if not len(council):
        return {"skipped": "no council world of the policy lies on a held-out seed or scenario"}
    scenarios = _scenarios(folder, council)
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
        worlds.append({"scenario": ep["scenario"], "seed": int(ep["seed"]), **_errors(ep, original, mine, thresholds)})
    frame = pd.DataFrame(worlds)
    focal = read_table(folder / "episodes.parquet", ["episode_id", "creature", "focal"])
    focal = focal[focal["focal"] & focal["episode_id"].isin(council["episode_id"])]
    others = sum(c not in seats[e] for e, c in zip(focal["episode_id"], focal["creature"]))
    groups = [("all held-out worlds", frame)] + [(name, frame[frame["scenario"] == name]) for name in sorted(scenarios)]
    fit_scenarios = {s for s, _ in fit_pairs}
    out = {
        "worlds": len(frame),
        "fault_worlds": excluded["fault_worlds"],  # council worlds left out: a seat failed to answer
        "other_live_seats": int(others),
        "groups": [
            {
                "group": label,
                "scenario_in_fit": None if label.startswith("all") else label in fit_scenarios,
                **_summarise(part, level),
            }
            for label, part in groups
        ],
    }
    out["verdict"] = verdict(out["groups"][0])
    return out


def check_episodes(source) -> None:
    """Refuses (ValueError) a results folder whose episodes.parquet, the council's outcomes, is
    missing or unreadable: checked before the search, which would otherwise run first. A traces
    dataset (or no source at all) is left to the loader, which names it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(source)
    if not (folder / "decisions.parquet").is_file():
        return
    path = folder / "episodes.parquet"
    if not path.is_file():
        raise ValueError(
            f"{path}: missing, and the outcome check compares with the council worlds it holds; {rebuild(folder)}; "
            "or calibrate with --no-outcome"
        )
    try:
        pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        why = str(exc).strip().splitlines()[0]  # the whole first line: a reason cut short misleads
        raise ValueError(
            f"{unreadable_parquet(path, why)}; {rebuild(folder)}; or calibrate with --no-outcome"
        ) from None


def _scenarios(folder, council: pd.DataFrame) -> dict[str, Scenario]:
    """The scenarios the council played, as they ran (checked against the stored hashes): as the
    recipe names them (a name or a path), else shipped ones by name."""
    overrides = recipe_turns(folder, read_recipe(folder))
    named = recipe_scenarios(folder)
    out = {}
    for name, digest in council[["scenario", "scenario_hash"]].drop_duplicates().itertuples(index=False):
        try:
            s = named.get(name) or load_scenario(name, **overrides)
        except (ValueError, OSError) as exc:
            raise ValueError(
                f"{folder}: the outcome check cannot find scenario {name!r} ({exc}); run glade calibrate from the "
                "folder the evaluation was made in, so its recipe.yaml's relative paths resolve, or with --no-outcome"
            ) from None
        if s.hash() != digest and not (folder / "recipe.yaml").is_file():
            # read_recipe gives {} without it: the run's `turns` and scenario paths are lost, not the scenario changed
            raise ValueError(
                f"{folder}: scenario {name!r} does not load as these results ran it (hash {s.hash()}, results "
                f"{digest}): the folder has no recipe.yaml, so its scenarios load at their shipped settings; put back "
                "the recipe.yaml glade eval wrote there, or calibrate with --no-outcome"
            )
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
    """One stand-in world's outcome row (glade.eval.rows.episode_rows: the figures of the catalogue)."""
    e = played.spec
    w = PlannedWorld(e.episode_id, f"{e.scenario.name}.s{e.seed}", e.scenario.name, council, 0, e.seed, {})
    return episode_rows(w, e.scenario, played.rows, played.history)[0]


def _errors(council: dict, original, calibrated, thresholds) -> dict:
    rows = {
        "council": council,
        "original": _figures(original, STANDIN),
        "calibrated": _figures(calibrated, "calibrated"),
    }
    out = {}
    for name in CHECKED[:-1]:
        values = {world: float(FIGURES[name].measure(row, thresholds)) for world, row in rows.items()}
        out[f"{name}.council"] = values["council"]
        for world in ("original", "calibrated"):
            out[f"{name}.{world}"] = values[world]
            out[f"{name}.error_{world}"] = abs(values[world] - values["council"])
    paths = {world: json.loads(row["price_path"]) for world, row in rows.items()}
    for world in ("original", "calibrated"):
        distance = float(np.mean([path_distance(paths[world][g], paths["council"][g]) for g in paths["council"]]))
        out[f"price_path.{world}"] = out[f"price_path.error_{world}"] = distance
    return out


def _summarise(part: pd.DataFrame, level: float) -> dict:
    """The group's figures over its seeds, each seed's worlds averaged across its scenarios: `n`
    counts seeds (`unit`), `worlds` the worlds played."""
    worlds = len(part)
    part = part.groupby("seed", sort=True).mean(numeric_only=True)
    single = len(part) == worlds  # one world a seed: a crash is 0/1, else a share of the seed's worlds
    unit = "seeds" if single else "seeds (their worlds averaged)"
    out = {"n": len(part), "unit": "seeds", "worlds": worlds, "figures": {}}
    for name in CHECKED:
        o, k = (part[f"{name}.{w}"].to_numpy(dtype=float) for w in ("original", "calibrated"))
        err_o, err_k = (part[f"{name}.error_{w}"].to_numpy(dtype=float) for w in ("original", "calibrated"))
        ok = np.isfinite(err_o) & np.isfinite(err_k)
        if not ok.any():
            out["figures"][name] = {"n": 0, "verdict": "does not apply here"}
            continue
        # rounded to 1e-12: a difference of a few ulps is no difference (it would make an interval of zeros "below 0")
        change = interval(
            np.round(err_k[ok], 12) - np.round(err_o[ok], 12),
            level=level,
            unit=unit,
            bounds=(-1.0, 1.0) if name == "crash" else None,  # a change between two errors in [0, 1]
            lattice=name == "crash",  # crash shares per seed: on the lattice of 0/1 outcomes (eval/exact.py)
        )
        told = partial(_described, crash=name == "crash", single=single, level=level, unit=unit)
        council = part[f"{name}.council"].to_numpy(dtype=float)[ok] if f"{name}.council" in part else None
        out["figures"][name] = {
            "n": int(ok.sum()),
            "council": None if council is None else told(council),
            "original": told(o[ok]),
            "calibrated": told(k[ok]),
            "error_original": told(err_o[ok], error=True),
            "error_calibrated": told(err_k[ok], error=True),
            "error_change": change.as_dict(),
            "verdict": _figure_verdict(change),
        }
    return out


def _described(values: np.ndarray, *, crash: bool, single: bool, level: float, unit: str, error: bool = False) -> dict:
    """A figure over seeds (a crash's values in [0, 1]; an `error`, a distance, never below 0); a
    crash 0/1 per seed (one world a seed, a council's casts agreeing) gets the exact binomial
    interval: a share of a seed's worlds or casts is no count."""
    rate = crash and single and bool(np.isin(values, (0.0, 1.0)).all())
    bounds = (0.0, 1.0) if crash else (0.0, math.inf) if error else None
    return describe(values, level=level, unit=unit, rate=rate, bounds=bounds, lattice=crash and not rate)


def _figure_verdict(change: Interval) -> str:
    """From the change in error (calibrated minus original) over seeds, by one rule for every
    figure (Interval.excludes_zero, as every verdict of glade): the word follows the interval
    where there is one (a crash's exact one even where every seed moved alike); a figure with the
    same value on every one of at least MIN_N seeds has none, and that value decides (0: no
    difference); below MIN_N seeds there is neither."""
    if change.excludes_zero():
        return CALIBRATED_CLOSER if change.mean < 0 else ORIGINAL_CLOSER
    if change.low is not None:
        return NO_CLEAR
    if change.n >= MIN_N and change.same and abs(change.mean) <= NO_DIFFERENCE:
        return NO_DIFFERENCE_WORD
    return TOO_FEW


def verdict(group: dict) -> str:
    """One sentence over all held-out worlds."""
    figures = {k: v for k, v in group["figures"].items() if "error_change" in v}
    closer = [k for k, v in figures.items() if v["verdict"] == CALIBRATED_CLOSER]
    worse = [k for k, v in figures.items() if v["verdict"] == ORIGINAL_CLOSER]
    n, worlds = group["n"], group.get("worlds", group["n"])
    few = sum(v["verdict"] == TOO_FEW for v in figures.values())
    if n < 2 or few == len(figures):
        return (
            f"{worlds} held-out world(s) on {n} seed(s): too few for an interval, so it cannot say whether the "
            "calibrated stand-in predicts the council better; hold out more seeds"
        )
    parts = [f"{ABOUT[k]} {ci_text(figures[k]['error_change'], '+' + FORMAT[k])}" for k in closer + worse]
    head = (
        f"on {worlds} held-out worlds ({n} seeds) the calibrated stand-in predicts the council better on "
        f"{len(closer)} of {len(figures)} figures and worse on {len(worse)}" + (f" ({few} {TOO_FEW})" if few else "")
    )
    return head + (" (change in error: " + "; ".join(parts) + ")" if parts else "; no difference is clear")
