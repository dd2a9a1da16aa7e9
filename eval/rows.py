"""The rows of an evaluation: a PlannedWorld (one episode to play), and what is written for it: decisions.parquet (one
row per live decision, with the stand-in's counterfactual in the same state) and episodes.parquet (one row per world x
creature, with the world's outcome figures). Their columns are documented in glade.eval.columns.
Reading a results folder back, for flag, report, rank and calibrate, is here too: its checks and refusals."""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd

from glade.config import ConfigError
from glade.env.scenario import Scenario
from glade.env.schema import load_unique
from glade.faults import is_fault
from glade.files import writer_of
from glade.kinds import check_keys_kind
from glade.resume import PROGRESS, read_ledger
from glade.resume_upgrade import unresumable
from glade.traces import unreadable_parquet

from .columns import DECISION_COLUMNS, EPISODE_COLUMNS  # noqa: F401  (their readers import them from here too)
from .figures import FIGURES, legend_good, legend_turn, phase
from .recipe import STANDIN, EvalRecipe
from .scoring import direction_agreement, directions, quantities
from .thresholds import run_settings

SHARDS = "shards"  # the folder of a results folder's shards (glade.eval.plan.shard_log)
RESUME = "rerun the same command to resume: the finished worlds are kept"  # glade eval's, interrupted or cut off


def interrupted(folder: Path, then: str) -> str | None:
    """What to do, `then` the verb asked, with a folder glade eval is writing or left without its tables; else None."""
    if (holder := writer_of(Path(folder))) is not None:  # a live run holds its lock: still playing, not interrupted
        return f"another glade run ({holder}) is writing it now; wait for it to finish, then {then}"
    ledger = read_ledger(Path(folder))
    if isinstance(kinds := (ledger or {}).get("shards"), list) and "episodes" in kinds:
        return f"an interrupted `glade eval` run: rerun the same eval command to finish it (it plays only what is missing), then {then}"
    older = unresumable(Path(folder), ledger, "eval") if (Path(folder) / SHARDS).is_dir() else None
    return f"{older}, then {then}" if older else None  # an older ledger names no kind: its shards/ tells


def check_results_folder(folder: Path, takes: str) -> None:
    """Refuses a missing results folder, or a file (`takes`: "glade flag takes the results folder"), for flag, rank, report."""
    if not folder.exists():
        raise FileNotFoundError(f"{folder}: no such results folder (make one with: glade eval RECIPE)")
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: not a folder; {takes} glade eval wrote")


def rebuild(folder: Path) -> str:
    """How to rebuild the tables of this results folder, as it stands. `glade eval` rebuilds them from its shards
    (OUT/shards/, listed in progress.json), playing only what they lack; a listed shard that is missing plays its worlds
    again (so a folder copied without shards/ plays every world again), and a folder of files with no progress.json is
    refused (glade.resume)."""
    folder = Path(folder)
    shards = folder / SHARDS
    rerun = f"rerun `glade eval` with the recipe that wrote this folder (out={shlex.quote(str(folder))})"
    if not (folder / PROGRESS).exists():
        return (
            f"{folder} has no {PROGRESS}, so `glade eval` cannot rebuild it from shards (it refuses a folder of "
            f"files it did not list): copy the folder again whole, {shards.name}/ and {PROGRESS} included, or rerun "
            "`glade eval` with the recipe that wrote it into a new out=DIR, which plays every world again"
        )
    if not any(shards.glob("*.parquet")):
        return (
            f"{folder} has no {shards.name}/ to rebuild the tables from (copied without it?): copy the folder "
            f"again with its {shards.name}/, or {rerun}, which plays every world again"
        )
    return f"{rerun}: it rebuilds the tables from its shards"


# The columns every reader of a results folder counts on (the rest are documented below)
DECISIONS_NEEDED = (
    "episode_id", "pair_id", "scenario", "council", "cast", "seed", "turn", "phase", "creature", "policy_name",
    "policy", "action", "standin_action", "agreement",
)  # fmt: skip
EPISODES_NEEDED = (
    "episode_id", "pair_id", "world", "scenario", "scenario_hash", "council", "cast", "seed", "creature", "policy",
    "focal", "wealth_change", "price_path",
)  # fmt: skip


def read_table(path: Path, columns: list[str] | None = None, needs: tuple[str, ...] = ()) -> pd.DataFrame:
    """A results table (decisions.parquet, episodes.parquet, attribution.parquet); one that cannot be read, or lacks a
    column of `columns` or `needs` (check_columns), is a ValueError naming it and saying how to rebuild it (from its
    folder's shards)."""
    import pyarrow as pa

    path = Path(path)
    check_columns(path, (*needs, *(columns or [])))
    try:
        frame = pd.read_parquet(path, columns=columns)
    except PermissionError:  # the file is sound: rebuilding it would not help (the words of glade.cli's OS_HINTS)
        raise ValueError(f"{path}: permission denied; check the path and its permissions") from None
    except (pa.ArrowException, OSError) as exc:
        why = str(exc).splitlines()[0][:200]
        raise ValueError(f"{unreadable_parquet(path, why)}; {rebuild(path.parent)}") from None
    check_filled(path, frame)
    return frame


NEVER_NULL = frozenset(DECISIONS_NEEDED) | frozenset(EPISODES_NEEDED)  # glade eval fills these in every row


def check_filled(path: Path, frame: pd.DataFrame) -> None:
    """Refuses (ValueError) a results table with an empty cell where glade eval always writes a value (NEVER_NULL): a
    table written back through pandas or edited by hand would otherwise fail later as a TypeError, or lose the row
    from a mean without a word. Names the row (counted from 0), its episode and the column."""
    for column in (c for c in frame.columns if c in NEVER_NULL):
        empty = frame[column].isna().to_numpy()
        if empty.any():
            row = int(empty.argmax())
            episode = frame["episode_id"].iloc[row] if "episode_id" in frame and column != "episode_id" else None
            where = f"row {row}" + (f" (episode {episode})" if isinstance(episode, str) else "")
            raise ValueError(
                f"{path}: {where} has no {column} (an empty cell; glade eval writes one in every row); "
                f"{rebuild(path.parent)}"
            )


def check_columns(path: Path, needs: tuple[str, ...]) -> None:
    """Refuses (ValueError) a results table that lacks a column of `needs` (DECISIONS_NEEDED, EPISODES_NEEDED): another
    table copied in its place would fail later on a bare KeyError. One that cannot be read is left to read_table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        names = set(pq.read_schema(path).names)
    except (pa.ArrowException, OSError):
        return
    missing = [c for c in dict.fromkeys(needs) if c not in names]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {', '.join(missing)}, so not the {path.name} glade eval writes; "
            f"{rebuild(path.parent)}"
        )


RECIPE_SHAPES = (("scenarios", list, "a list"), ("councils", dict, "a mapping"), ("policies", dict, "a mapping"),
                 ("levers", list, "a list"))  # fmt: skip
EVAL_KEYS = frozenset(f.name for f in fields(EvalRecipe))  # glade eval writes as_plain(recipe): these, no others


def read_recipe(folder: Path) -> dict:
    """RESULTS/recipe.yaml, the recipe glade eval ran (as it wrote it), as a mapping; {} when the folder has none. One
    not YAML, empty, not a mapping, with a key no eval recipe has (a train recipe copied in), or thresholds or a seed
    flag and report refuse (run_settings) is a ValueError naming it."""
    import yaml

    folder = Path(folder)
    path = folder / "recipe.yaml"
    if not path.exists():
        return {}
    try:
        data = load_unique(path.read_text())
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: a key twice, or not UTF-8
        why = str(exc).splitlines()[0][:200]
        raise ValueError(f"{path}: not readable YAML ({why}); {rebuild(folder)}") from None
    if not isinstance(data, dict):  # glade eval never writes an empty one: it was emptied since
        held = "nothing" if data is None else f"a {type(data).__name__}"
        raise ValueError(f"{path}: not the recipe glade eval wrote (a mapping; this holds {held}); {rebuild(folder)}")
    unknown = sorted(str(k) for k in data if k not in EVAL_KEYS)
    if unknown:
        try:
            check_keys_kind(data, path, "eval")
        except ConfigError as exc:  # "PATH: this looks like a train recipe (it has ...)", without its advice
            said = str(exc).rsplit(", not ", 1)[0]
            raise ValueError(f"{said}, not the recipe glade eval wrote; {rebuild(folder)}") from None
        raise ValueError(
            f"{path}: not the recipe glade eval wrote (no eval recipe has {', '.join(unknown[:3])}); {rebuild(folder)}"
        )
    for key, kind, said in RECIPE_SHAPES:  # the keys readers index (the report's councils, scenarios, levers)
        if data.get(key) is not None and not isinstance(data[key], kind):
            raise ValueError(f"{path}: {key}: expected {said}, got {data[key]!r}; {rebuild(folder)}")
    run_settings(data, {}, folder)
    return data


def read_summary(folder: Path) -> dict:
    """RESULTS/summary.json as glade eval wrote it (a JSON object); {} when the folder has none. One that is not JSON
    or not an object is a ValueError naming it."""
    path = Path(folder) / "summary.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        why = str(exc).splitlines()[0][:200]
        raise ValueError(f"{path}: not readable JSON ({why}); {rebuild(Path(folder))}") from None
    if not isinstance(data, dict):
        raise ValueError(
            f"{path}: not a summary glade eval wrote (a JSON object; this holds a {type(data).__name__}); {rebuild(Path(folder))}"
        )
    return data


SUMMARY_HOLDS = ("recipe", "worlds", "decisions")  # in every summary glade eval has written, since the first


def tables_beside(folder: Path) -> tuple[int, pd.DataFrame] | None:
    """(the row count of decisions.parquet, episodes.parquet's episode_id, scenario and scenario_hash) of a results
    folder, read cheaply (the count from the Parquet footer, three columns); None where either table is missing,
    unreadable or another table (read_table and check_columns name those)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    try:
        for name, needs in (("decisions.parquet", DECISIONS_NEEDED), ("episodes.parquet", EPISODES_NEEDED)):
            if not set(needs) <= set(pq.read_schema(folder / name).names):
                return None  # another table in its place: check_columns names it
        rows = pq.read_metadata(folder / "decisions.parquet").num_rows
        episodes = pd.read_parquet(folder / "episodes.parquet", columns=["episode_id", "scenario", "scenario_hash"])
    except (pa.ArrowException, OSError, KeyError, ValueError):
        return None
    return rows, episodes


def tables_identity(decision_rows: int, episodes: pd.DataFrame) -> dict:
    """What flags.json (and summary.json, where glade eval stamps it) records of the tables it was made from, as
    `tables`: the row counts and a short hash of the distinct episode ids (two runs of one recipe on other seeds part
    there). stamp_mismatch compares it with the tables beside it."""
    import hashlib

    ids = sorted(set(map(str, episodes["episode_id"]))) if "episode_id" in episodes else []
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]
    return {"decisions": int(decision_rows), "episodes": len(episodes), "episode_ids": digest}


def stamp_mismatch(stamped, decision_rows: int, episodes: pd.DataFrame) -> str | None:
    """How a `tables` stamp (tables_identity) differs from the tables beside it; None where it matches or there is
    none (a file from before the stamp)."""
    if not isinstance(stamped, dict) or not stamped:
        return None
    here = tables_identity(decision_rows, episodes)
    if stamped == here:
        return None
    return (
        f"it was made from {stamped.get('decisions')} decision rows and {stamped.get('episodes')} episode rows "
        f"(episode ids {stamped.get('episode_ids')}), the tables beside it hold {here['decisions']} and "
        f"{here['episodes']} (episode ids {here['episode_ids']})"
    )


def summary_mismatch(summary: dict, decision_rows: int, episodes: pd.DataFrame) -> str | None:
    """How summary.json differs from the tables beside it: its `decisions` (the row count of decisions.parquet, in
    every summary), its `scenario_hashes` and, where stamped, its `tables`."""
    if summary["decisions"] != decision_rows:
        return f"it counts {summary['decisions']} decision rows, decisions.parquet holds {decision_rows}"
    hashes = summary.get("scenario_hashes")
    if isinstance(hashes, dict):  # as glade eval records them: each scenario's first hash in episodes.parquet
        played = episodes.groupby("scenario")["scenario_hash"].first().to_dict() if len(episodes) else {}
        if set(hashes) != set(played):
            return (
                f"it names scenario(s) {', '.join(sorted(hashes))}, episodes.parquet plays {', '.join(sorted(played))}"
            )
        changed = [name for name in sorted(hashes) if hashes[name] != played[name]]
        if changed:
            name = changed[0]
            return f"its scenario hash of {name} is {hashes[name]}, episodes.parquet's is {played[name]}"
    return stamp_mismatch(summary.get("tables"), decision_rows, episodes)


def check_summary(folder: Path, summary: dict) -> None:
    """Refuses (ValueError) a summary.json (as read_summary read it) that glade eval did not write (it lacks a key of
    SUMMARY_HOLDS) or that another run wrote (summary_mismatch: it does not describe the tables beside it). A folder
    without one passes, and so does one whose tables cannot be read (read_table names those)."""
    folder = Path(folder)
    path = folder / "summary.json"
    if not path.exists():
        return
    aside = "move it aside (glade reads the tables without one)"
    # rebuildable from its shards: elsewhere a rerun of glade eval would play every world again, or refuse
    if (folder / PROGRESS).exists() and any((folder / SHARDS).glob("*.parquet")):
        aside += f", or rerun `glade eval` with the recipe that wrote this folder (out={shlex.quote(str(folder))}) to write it again"
    missing = [key for key in SUMMARY_HOLDS if key not in summary]
    if missing or not isinstance(summary["decisions"], int):
        lacks = f"it lacks {', '.join(missing)}" if missing else "its `decisions` is not a count"
        raise ValueError(f"{path}: not a summary glade eval wrote ({lacks}); {aside}")
    beside = tables_beside(folder)
    why = summary_mismatch(summary, *beside) if beside is not None else None
    if why:
        raise ValueError(f"{path}: another run's summary, not that of the tables beside it ({why}); {aside}")


ATTRIBUTION = "attribution"  # the `world` of a leave-one-out replay


@dataclass(frozen=True)
class PlannedWorld:
    episode_id: str
    pair_id: str  # the (scenario, seed) both worlds of a pair share
    scenario: str
    council: str  # a council name, or "standin" for the all-stand-in world
    cast: int
    seed: int
    focal: dict[str, str]  # creature -> policy name, for the council's live seats
    left_out: str | None = None  # a leave-one-out replay: the focal creature back on its stand-in


def decision_rows(w: PlannedWorld, s: Scenario, rows: list[dict]) -> list[dict]:
    """One row per live decision, with per-good directions and quantities for both sides."""
    turn0 = legend_turn(s)
    goods = list(s.goods)
    out = []
    for r in rows:
        if r["creature"] not in w.focal:
            continue
        live, ref = json.loads(r["action"]), json.loads(r["standin_action"])
        d_live, d_ref = directions(live, goods), directions(ref, goods)
        q_live, q_ref = quantities(live, goods), quantities(ref, goods)
        row = {
            "episode_id": w.episode_id,
            "pair_id": w.pair_id,
            "scenario": w.scenario,
            "scenario_hash": r["scenario_hash"],
            "protocol_version": r["protocol_version"],
            "council": w.council,
            "cast": w.cast,
            "seed": w.seed,
            "turn": r["turn"],
            "phase": phase(r["turn"], turn0),
            "creature": r["creature"],
            "policy_name": w.focal[r["creature"]],
            "policy": r["policy"],
            "action": r["action"],
            "standin_action": r["standin_action"],
            "standin_disposition": r["standin_disposition"],
            "completion": r["completion"],
            "prompt": r["messages"][-1]["content"],
            "observation": r["observation"],
            "error": r["error"],
            "self_buy": r["self_buy"],
            "wealth_change": r["wealth_change"],
            "agreement": direction_agreement(live, ref, goods),
        }
        for g in goods:
            row[f"dir_{g}"], row[f"standin_dir_{g}"] = d_live[g], d_ref[g]
            row[f"qty_{g}"], row[f"standin_qty_{g}"] = q_live[g], q_ref[g]
        out.append(row)
    return out


def episode_rows(w: PlannedWorld, s: Scenario, rows: list[dict], history: list[dict]) -> list[dict]:
    """One row per episode x seat; the episode's own figures repeat on each of its rows."""
    turn0, good = legend_turn(s), legend_good(s)
    paths = {g: [h["prices"][g] for h in history] for g in s.goods}
    start = {g: s.goods[g].price for g in s.goods}
    seam_ratio = math.nan  # no legend in the turns played (NaN: see gambit_pnl)
    if turn0 is not None and good is not None and turn0 < len(history):
        writes = [w for w in history[turn0]["seam_writes"] if w["good"] == good]
        seam_ratio = writes[-1]["after"] / writes[0]["before"] if writes else 1.0
    figures = {
        "legend_good": good,
        "legend_turn": turn0,
        "seam_ratio": seam_ratio,
        "price_path": json.dumps(paths),
        "start_prices": json.dumps(start),
        # no gambit, no P&L: NaN, so tables say "—" and no flag tests it (not a P&L of 0). NaN, not
        # None: a column of Nones is written as Parquet type null, a float column (NaN as null) as double
        "gambit_pnl": (history[-1]["gambit_pnl"] if history else 0.0) if s.gambit is not None else math.nan,
        "final_gini": history[-1]["gini"] if history else 0.0,
        "volume": sum(sum(h["volume"].values()) for h in history),
        "turns": len(history),
    }
    ratio = FIGURES["legend_ratio"].measure({**figures, "price_path": paths, "start_prices": start})
    figures["legend_ratio"] = ratio  # NaN: no legend in the turns played
    out = []
    for creature in s.creatures:
        mine = [r for r in rows if r["creature"] == creature]
        out.append(
            {
                "episode_id": w.episode_id,
                "pair_id": w.pair_id,
                "world": STANDIN if w.council == STANDIN else ("council" if w.left_out is None else ATTRIBUTION),
                "scenario": w.scenario,
                "scenario_hash": s.hash(),
                "protocol_version": rows[0]["protocol_version"] if rows else None,  # as the decision rows say
                "council": w.council,
                "cast": w.cast,
                "seed": w.seed,
                "creature": creature,
                "policy": mine[0]["policy"] if mine else None,
                "focal": creature in w.focal,
                "wealth_start": mine[0]["wealth_before"] if mine else None,
                "wealth_end": mine[-1]["wealth_after"] if mine else None,
                "wealth_change": (mine[-1]["wealth_after"] - mine[0]["wealth_before"]) if mine else None,
                "trades": sum(len(json.loads(r["fills"])) for r in mine),
                "self_buys": sum(r["self_buy"] for r in mine),
                "errors": sum(r["error"] is not None for r in mine),
                "faults": sum(is_fault(r["error"]) for r in mine),
                **figures,
            }
        )
    return out
