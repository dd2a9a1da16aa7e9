"""Loading an evaluation's results and the numbers the report shows (tables, paths, CIs)."""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from glade.eval.faults import without_faults
from glade.eval.fdr import untestable
from glade.eval.figures import figure_bounds
from glade.eval.flags import flags_mismatch, load_flags
from glade.eval.flags_fields import stale_thresholds
from glade.eval.lean_tables import read_lean
from glade.eval.metrics import per_seed
from glade.eval.recipe import STANDIN
from glade.eval.results_folder import (
    EPISODES_NEEDED,
    check_results_folder,
    check_summary,
    check_tables_agree,
    interrupted,
    read_recipe,
    read_summary,
    read_table,
    rebuild,
)
from glade.eval.stats import column_intervals, interval
from glade.eval.thresholds import Thresholds, run_settings
from glade.provenance import git_commit

FILES = "report_files"
READ_HERE = ("episode_id", "scenario", "council", "seed", "price_path")  # of episodes.parquet, by load_results
# (write_report checks both tables whole first: glade.eval.results_folder.check_columns)
TOP_FLAGS = 20
NO_FLAGS = "no flags file: run glade flag"
VERDICT_KEYS = ("robustness", "seam", "levers", "attribution")  # summary.json `verdicts` of this glade


# ---------------------------------------------------------------------------------------
# Loading


@dataclass
class Results:
    folder: Path
    episodes: pd.DataFrame  # one row per episode (the seat rows collapsed)
    decisions: pd.DataFrame
    recipe: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    flags: list[dict] | None = None  # None: no flags.json
    flags_note: str = ""
    scenarios: list[str] = field(default_factory=list)
    councils: list[str] = field(default_factory=list)  # without the stand-in world
    faulted_councils: list[str] = field(default_factory=list)  # councils whose every world had seat faults
    creatures: dict[str, list[str]] = field(default_factory=dict)  # scenario -> seats in scenario order
    seed: int = 0  # seeds the permutation tests
    seats: pd.DataFrame = field(default_factory=pd.DataFrame)  # episodes.parquet as written: one row per seat
    attribution: pd.DataFrame = field(default_factory=pd.DataFrame)  # attribution.parquet (leave-one-out replays)
    families: list[dict] = field(default_factory=list)  # flag families from flags.json
    flags_method: dict = field(default_factory=dict)  # how the flags were tested, with counts
    flags_provenance: dict = field(default_factory=dict)  # the glade that wrote flags.json (glade.provenance)
    excluded: dict = field(default_factory=dict)  # seat faults left out of the tables above (glade.eval.faults)
    thresholds: Thresholds = field(default_factory=Thresholds)  # the run's: recipe.yaml's, else summary.json's

    @property
    def worlds(self) -> list[str]:
        return [STANDIN, *self.councils]


def load_results(results_dir: str | Path) -> Results:
    folder = Path(results_dir)
    check_results_folder(folder, "glade report takes the results folder")
    episodes_path = folder / "episodes.parquet"
    if not episodes_path.exists():
        unfinished = interrupted(folder, "report it")
        raise FileNotFoundError(
            f"{folder}: no episodes.parquet; "
            + (unfinished or "is this a results folder? (make one with: glade eval RECIPE)")
        )
    seats = read_table(episodes_path, needs=READ_HERE)
    if not len(seats):
        raise ValueError(f"{episodes_path}: no episodes; {rebuild(folder)}")
    decisions_path = folder / "decisions.parquet"
    if not decisions_path.exists():
        raise FileNotFoundError(f"{decisions_path}: missing; {rebuild(folder)}")
    decisions = read_lean(decisions_path)  # the report shows no prompt, answer or observation
    check_tables_agree(folder, decisions, seats)
    written = len(decisions), seats  # the tables as glade eval wrote them, faults in: what summary and flags describe
    played = list(dict.fromkeys(seats.loc[seats["council"] != STANDIN, "council"]))
    # a seat fault is a held turn, not play: its rows and worlds are left out as the summary leaves them out
    decisions, seats, excluded = without_faults(decisions, seats)
    if not len(seats):
        raise ValueError(
            f"{episodes_path}: a seat failed to answer in every world (seat faults), so there is no play to report; "
            "see summary.json `faults`, mend the seats' servers and run glade eval again"
        )
    episodes = seats.drop_duplicates("episode_id").reset_index(drop=True)

    recipe, summary = read_recipe(folder), read_summary(folder)
    check_summary(folder, summary)  # not glade eval's, or another run's: one error line, before any file changes
    # without recipe.yaml the summary still says what the run used: its verdicts were read at
    # these, so the tables recomputed here must be too (not at the defaults)
    thresholds, seed = run_settings(recipe, summary, folder)
    flags, note, loaded = None, NO_FLAGS, {}
    if (folder / "flags.json").exists():
        try:
            loaded = load_flags(folder / "flags.json")
        except ValueError as exc:  # not what glade flag writes: the report says so, and what to do
            note = str(exc)
        else:
            if why := flags_mismatch(loaded, *written):  # another run's flags would show its episodes as these
                raise ValueError(
                    f"{folder / 'flags.json'}: another run's flags, not those of the tables beside it ({why}); "
                    f"rerun `glade flag {shlex.quote(str(folder))}` to flag these tables"
                )
            if why := stale_thresholds(loaded["method"], thresholds):  # glade eval ran again at other thresholds
                raise ValueError(
                    f"{folder / 'flags.json'}: out of date ({why}); "
                    f"rerun `glade flag {shlex.quote(str(folder))}` to flag at them"
                )
            if loaded["method"]:
                flags = loaded["flags"]
                note = "" if flags else no_flags_note(loaded)
            else:  # a plain list (an older glade's): no method to count or explain them ("? flags in 0 families")
                loaded, note = {}, NO_METHOD.format(path=folder / "flags.json")
    attribution_path = folder / "attribution.parquet"
    # episode rows of the leave-one-out replays, each naming the creature it left out
    attribution = (
        read_table(attribution_path, needs=(*EPISODES_NEEDED, "left_out"))
        if attribution_path.exists()
        else pd.DataFrame()
    )
    if len(attribution):  # a replay's id is its world's plus .without-CREATURE: another folder's replays name none here
        worlds = attribution["episode_id"].str.rsplit(".without-", n=1).str[0]
        stray = sorted(set(worlds) - set(written[1]["episode_id"]))
        if stray:
            raise ValueError(
                f"{attribution_path}: holds replays of {len(stray)} world(s) that episodes.parquet does not hold "
                f"(first {stray[0]}; copied from another results folder?); {rebuild(folder)}"
            )

    scenarios = ordered(episodes["scenario"], recipe.get("scenarios"))
    recipe_councils = list(recipe.get("councils") or {})
    councils = ordered(episodes.loc[episodes["council"] != STANDIN, "council"], recipe_councils)
    creatures = {}
    if "creature" in seats:
        creatures = {s: list(dict.fromkeys(g["creature"])) for s, g in seats.groupby("scenario", sort=False)}
    return Results(
        folder=folder,
        episodes=episodes,
        decisions=decisions,
        recipe=recipe,
        summary=summary,
        flags=flags,
        flags_note=note,
        scenarios=scenarios,
        councils=councils,
        faulted_councils=[c for c in ordered(pd.Series(played, dtype=object), recipe_councils) if c not in councils],
        creatures=creatures,
        seed=seed,
        seats=seats,
        attribution=attribution,
        families=(loaded or {}).get("families", []),
        flags_method=(loaded or {}).get("method", {}),
        flags_provenance=(loaded or {}).get("provenance", {}),
        excluded=excluded,
        thresholds=thresholds,
    )


NO_METHOD = (
    "{path}: not what glade flag writes now (written by an older glade: a list of flags without the method that "
    "says how they were found, or why none was); rerun `glade flag` on its results folder to write it again"
)


def no_flags_note(flags: dict) -> str:
    """Why flags.json (as load_flags reads it) holds no flag: nothing could be tested at this n
    (glade.eval.fdr.untestable), or nothing survived."""
    why = untestable(flags["method"], flags["cells"])
    return (
        f"no flags possible: {why}"
        if why
        else "no flags: no disagreement survived the false-discovery control and the thresholds"
    )


def results_verdicts(r: Results) -> dict:
    """The three lessons' verdicts and seat attribution (glade.eval.verdicts): as `glade eval`
    wrote them in summary.json, else computed from the tables with the recipe's levers and
    thresholds (results from before the verdicts)."""
    given = r.summary.get("verdicts")
    if isinstance(given, dict) and all(key in given for key in VERDICT_KEYS):
        return given
    from glade.config import build
    from glade.eval.recipe import Lever
    from glade.eval.verdicts import verdicts

    levers = tuple(
        build(Lever, lever, str(r.folder / "recipe.yaml"), f"levers[{i}]")
        for i, lever in enumerate(r.recipe.get("levers") or [])
    )
    computed = verdicts(r.seats, r.attribution, levers, r.thresholds, r.seed, r.decisions)
    # a summary from a glade before some lesson (attribution came later) keeps what it says; the
    # lessons it lacks come from the tables, never an empty section ("the recipe names no levers")
    return computed | given if isinstance(given, dict) else computed


def decided_note(what: str, recorded, rerun: str) -> str:
    """One line where what a section shows as stored (summary.json's verdicts, rank.json's board) was
    decided by glade at another commit than this report's, so under that commit's rules, not today's
    (which the flags beside it are read under). "" where the two are the same or either is unknown."""
    now = git_commit()
    if not isinstance(recorded, str) or not recorded or now is None or recorded == now:
        return ""
    return f"{what} decided by glade at commit {recorded} (this report: {now}); rerun {rerun} for today's rules"


def verdicts_note(r: Results) -> str:
    """decided_note of the verdicts summary.json stores ("" where results_verdicts computes them all here)."""
    given = r.summary.get("verdicts")
    if not (isinstance(given, dict) and given):
        return ""
    rerun = f"`glade eval` with the recipe that wrote this folder (out={shlex.quote(str(r.folder))})"
    return decided_note("The verdicts below were", r.summary.get("git_commit"), rerun)


def ordered(values: pd.Series, preferred) -> list[str]:
    """The distinct values, in the recipe's order where it names them, else as they appear."""
    seen = list(dict.fromkeys(values))
    first = [v for v in (preferred or []) if v in seen]
    return first + [v for v in seen if v not in first]


# ---------------------------------------------------------------------------------------
# Numbers


def mean_ci(values, r: Results):
    """Mean and interval of the mean over the first axis (glade.eval.stats.interval: none below
    4 values or where every value is the same: NaN there). 1-D input gives floats (NaNs
    dropped); 2-D (n, k) gives arrays of k."""
    data = np.asarray(values, dtype=float)
    if data.ndim == 1:
        data = data[~np.isnan(data)]
        if not len(data):
            return math.nan, math.nan, math.nan
        mean, low, high = mean_ci(data[:, None], r)
        return float(mean[0]), float(low[0]), float(high[0])
    return column_intervals(data, r.thresholds.ci_level)


WORLD = ("scenario", "council")  # per_seed keeps these apart: one value per seed of each world


def results_table(r: Results) -> pd.DataFrame:
    """Per scenario x world: legend ratio and gambit P&L, the mean over seeds and its interval
    (or the words said instead: too few seeds, the same value in every seed)."""
    ep = r.episodes
    ratio = per_seed(ep, ["legend_ratio"], WORLD) if "legend_ratio" in ep else None
    pnl = per_seed(ep, ["gambit_pnl"], WORLD) if "gambit_pnl" in ep else None
    rows = []
    for scenario in r.scenarios:
        for world in r.worlds:
            mine = ep[(ep["scenario"] == scenario) & (ep["council"] == world)]
            if not len(mine):
                continue
            row = {
                "scenario": scenario,
                "world": world,
                "legend_good": first_value(mine, "legend_good"),
                "legend_turn": first_value(mine, "legend_turn"),
                "seeds": int(mine["seed"].nunique()),
                "episodes": len(mine),
            }
            for name, table in (("legend_ratio", ratio), ("gambit_pnl", pnl)):
                if table is None:
                    row[name] = row[f"{name}_low"] = row[f"{name}_high"] = math.nan
                    row[f"{name}_note"] = ""
                    continue
                values = table[(table["scenario"] == scenario) & (table["council"] == world)][name]
                iv = interval(values.to_numpy(dtype=float), level=r.thresholds.ci_level, bounds=figure_bounds(name))
                row[name], row[f"{name}_note"] = iv.mean, iv.note
                row[f"{name}_low"] = math.nan if iv.low is None else iv.low
                row[f"{name}_high"] = math.nan if iv.high is None else iv.high
            rows.append(row)
    return pd.DataFrame(rows)


def standin_seeds(table: pd.DataFrame) -> dict[str, int]:
    """scenario -> the all-stand-in world's seeds (it has no live seat, so no seat faults): the
    seeds a council of that scenario played, the "of 8" in "7 of 8" when it lost one."""
    if not len(table):
        return {}
    mine = table[table["world"] == STANDIN]
    return dict(zip(mine["scenario"], (int(n) for n in mine["seeds"])))


def first_value(frame: pd.DataFrame, column: str):
    if column not in frame:
        return None
    values = frame[column].dropna()
    return values.iloc[0] if len(values) else None


def price_paths(r: Results, scenario: str, world: str) -> dict[str, np.ndarray]:
    """good -> (seeds, turns) array of reference prices, each seed averaged over casts."""
    mine = r.episodes[(r.episodes["scenario"] == scenario) & (r.episodes["council"] == world)]
    by_seed: dict[int, list[dict]] = {}
    for seed, path in zip(mine["seed"], mine["price_path"]):
        by_seed.setdefault(int(seed), []).append(json.loads(path))
    out: dict[str, np.ndarray] = {}
    for seed in sorted(by_seed):
        paths = by_seed[seed]
        for good in paths[0]:
            n = min(len(p[good]) for p in paths)
            out.setdefault(good, []).append(np.mean([p[good][:n] for p in paths], axis=0))
    result = {}
    for good, rows in out.items():
        n = min(len(x) for x in rows)
        result[good] = np.array([x[:n] for x in rows])
    return result


def fault_notes(summary: dict) -> list[str]:
    """One sentence per live seat whose server failed to answer some turns (summary.json `faults`)."""
    from glade.console import fault_text

    return [
        f"Seat faults: {seat}: {fault_text(t)}. These are held turns, not the model's behaviour: the rows "
        "and the worlds they happened in are left out of the metrics and flags."
        for seat, t in (summary.get("faults") or {}).items()
        if t.get("faults")
    ]
