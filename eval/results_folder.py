"""Reading a results folder back (what glade eval wrote: decisions.parquet, episodes.parquet, recipe.yaml,
summary.json), for flag, report, rank, calibrate and export: its checks and refusals, each naming the file and
how to make it again (`rebuild`). The rows themselves are written by glade.eval.rows."""

from __future__ import annotations

import json
import shlex
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd

from glade.config import ConfigError
from glade.env.strict_yaml import load_unique
from glade.files import writer_of
from glade.kinds import check_keys_kind
from glade.resume import PROGRESS, read_ledger
from glade.resume_upgrade import unresumable
from glade.traces import unreadable_parquet

from .json_fields import INTEGER, NUMBER, OBJECT, TEXT, is_kind, wrong_fields
from .lean_tables import distinct_cells
from .recipe import EvalRecipe
from .rows import SHARDS
from .thresholds import run_settings


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


def read_table(
    path: Path, columns: list[str] | None = None, needs: tuple[str, ...] = (), fix: str | None = None
) -> pd.DataFrame:
    """A results table (decisions.parquet, episodes.parquet, attribution.parquet); one that cannot be read, or lacks a
    column of `columns` or `needs` (check_columns), is a ValueError naming it and saying how to rebuild it (from its
    folder's shards), and so is an empty cell (check_filled; `fix` says what to do instead for a traces shard)."""
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
    check_filled(path, frame, fix or rebuild(path.parent))
    check_json_cells(path, frame, fix or rebuild(path.parent))
    check_unique(path, frame, fix or rebuild(path.parent))
    return frame


# What names a row of each table glade eval writes: no two rows share it
ROW_KEYS = {
    "decisions.parquet": ("episode_id", "turn", "creature"),
    "episodes.parquet": ("episode_id", "creature"),
    "attribution.parquet": ("episode_id", "creature"),
}


def check_unique(path: Path, frame: pd.DataFrame, fix: str) -> None:
    """A row that repeats another's key (ROW_KEYS; a hand-made concat) is a ValueError: it would count twice."""
    key = list(ROW_KEYS.get(path.name, ()))
    if not key or not set(key) <= set(frame.columns):
        return
    if (twice := frame.duplicated(key)).any():
        first = ", ".join(str(v) for v in frame.loc[twice, key].iloc[0])
        raise ValueError(f"{path}: {int(twice.sum())} row(s) repeat another's {', '.join(key)} ({first} first); {fix}")


def check_tables_agree(folder: Path, decisions: pd.DataFrame, episodes: pd.DataFrame) -> None:
    """Decisions of an episode episodes.parquet lacks (tables of two runs, or one cut short) are a ValueError."""
    lacking = sorted(set(decisions["episode_id"]) - set(episodes["episode_id"]))
    if lacking:
        raise ValueError(
            f"{folder / 'decisions.parquet'}: decisions of {len(lacking)} episode(s) episodes.parquet lacks "
            f"({lacking[0]} first); {rebuild(folder)}"
        )


NEVER_NULL = frozenset(DECISIONS_NEEDED) | frozenset(EPISODES_NEEDED)  # glade eval fills these in every row
NUMBERS = frozenset(  # the columns glade eval writes as numbers (with qty_GOOD and standin_qty_GOOD)
    {"cast", "seed", "turn", "self_buy", "wealth_change", "agreement", "wealth_start", "wealth_end", "trades"}
    | {"self_buys", "errors", "faults", "legend_turn", "seam_ratio", "gambit_pnl", "final_gini", "volume", "turns"}
    | {"legend_ratio"}
)


def check_filled(path: Path, frame: pd.DataFrame, fix: str) -> None:
    """Refuses (ValueError) a table with text in a column of numbers (NUMBERS: a table saved from a spreadsheet), or
    an empty or infinite cell where glade always writes a value (NEVER_NULL): a table written back through pandas or
    edited by hand would otherwise fail later as a TypeError, lose the row from a mean without a word, or win every
    comparison. Names the column, and for a cell its row (counted from 0) and episode, then `fix`."""
    for column in frame.columns:
        numbers = column in NUMBERS or column.startswith(("qty_", "standin_qty_"))
        if numbers and len(frame) and not pd.api.types.is_numeric_dtype(frame[column]):  # an empty column has no type
            held = "text" if pd.api.types.is_string_dtype(frame[column]) else f"{frame[column].dtype} values"
            raise ValueError(f"{path}: column {column} holds {held}, not the numbers glade writes there; {fix}")
    for column in (c for c in frame.columns if c in NEVER_NULL):
        infinite = np.isinf(frame[column].to_numpy()) if pd.api.types.is_float_dtype(frame[column]) else None
        if infinite is not None and infinite.any():
            row = int(infinite.argmax())
            raise ValueError(f"{path}: row {row} has an infinite {column} (glade writes a finite one); {fix}")
        empty = frame[column].isna().to_numpy()
        if empty.any():
            row = int(empty.argmax())
            episode = frame["episode_id"].iloc[row] if "episode_id" in frame and column != "episode_id" else None
            where = f"row {row}" + (f" (episode {episode})" if isinstance(episode, str) else "")
            raise ValueError(f"{path}: {where} has no {column} (an empty cell; glade writes one in every row); {fix}")


def _numbers(values) -> bool:
    return all(is_kind(v, NUMBER) for v in values)  # finite: Python's json reads NaN and Infinity as numbers


ACTION = ("an action, an object with a list of orders", lambda v: isinstance(v.get("orders"), list))
# The JSON texts a results table holds, by column: what each must read as, in words and as a test
JSON_CELLS = {
    "price_path": ("an object of price lists by good", lambda v: all(_numbers(p) for p in v.values())),
    "start_prices": ("an object of prices by good", lambda v: _numbers(v.values())),
    "action": ACTION,
    "standin_action": ACTION,
}


def check_json_cells(path: Path, frame: pd.DataFrame, fix: str) -> None:
    """Refuses (ValueError) a table whose JSON text in a cell of JSON_CELLS does not read as what glade writes there
    (a hand edit cut it short, or wrote a list): the verbs that read it would fail on it without naming the table.
    Names the row (counted from 0), its episode and the column, then `fix`."""
    for column in (c for c in frame.columns if c in JSON_CELLS):
        words, fits = JSON_CELLS[column]
        for row, text in distinct_cells(frame[column]):
            try:
                value = json.loads(text)
                fine = isinstance(value, dict) and fits(value)
            except (TypeError, ValueError, AttributeError):  # not JSON; not a text
                fine = False
            if not fine:
                episode = f" (episode {frame['episode_id'].iloc[row]})" if "episode_id" in frame else ""
                raise ValueError(f"{path}: row {row}{episode}: {column} is not {words}, as glade writes it; {fix}")


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
        data = load_unique(path.read_text(encoding="utf-8"))
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
        data = json.loads(path.read_text(encoding="utf-8"))
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
    if why := wrong_run_record(summary):
        raise ValueError(f"{path}: {why} (glade eval never writes that); {aside}")
    beside = tables_beside(folder)
    why = summary_mismatch(summary, *beside) if beside is not None else None
    if why:
        raise ValueError(f"{path}: another run's summary, not that of the tables beside it ({why}); {aside}")


# What flag, report and rank read of summary.json besides the tables' figures: the recipe's name, the run's cost
# (glade.meter) and its seat faults (glade.faults.tally_faults), each field of the type glade eval writes
RECORD_FIELDS = {"recipe": (TEXT,), "worlds": (INTEGER,), "cost": (OBJECT, None), "faults": (OBJECT, None)}
COST_FIELDS = {key: (INTEGER,) for key in ("episodes", "decisions", "faults", "prompt_tokens", "completion_tokens")}
COST_FIELDS |= {key: (NUMBER,) for key in ("wall_seconds", "play_seconds", "model_share")}
COST_FIELDS |= {"episodes_per_s": (NUMBER, None), "shared": (INTEGER, None), "cluster": (OBJECT, None)}
COST_FIELDS |= {"seats": (OBJECT, None)}
CLUSTER_FIELDS = {"nodes": (INTEGER,), "cpus": (NUMBER,)}
FAULT_FIELDS = {"decisions": (INTEGER,), "faults": (OBJECT,), "fault_share": (NUMBER,)}  # a seat's tally
SEAT_COST_FIELDS = FAULT_FIELDS | {key: (INTEGER,) for key in ("prompt_tokens", "completion_tokens")}
SEAT_COST_FIELDS |= {"model_seconds": (NUMBER,), "decisions_per_s": (NUMBER, None), "shared": (INTEGER, None)}


def wrong_run_record(summary: dict) -> str | None:
    """The first field of summary.json's run record (RECORD_FIELDS: its recipe's name, cost and seat faults) not of the
    type glade eval writes, in words ("cost.seats.panic.decisions must be an integer, not a text"); None where all
    are. A hand edit would otherwise be a TypeError in the middle of the report."""
    if why := wrong_fields(summary, RECORD_FIELDS, ""):
        return why
    cost, faults = summary.get("cost") or {}, summary.get("faults") or {}
    if cost and (why := wrong_fields(cost, COST_FIELDS, "cost")):
        return why
    if cost.get("cluster") and (why := wrong_fields(cost["cluster"], CLUSTER_FIELDS, "cost.cluster")):
        return why
    seats = [(f"cost.seats.{seat}", row, SEAT_COST_FIELDS) for seat, row in (cost.get("seats") or {}).items()]
    for where, row, kinds in seats + [(f"faults.{seat}", tally, FAULT_FIELDS) for seat, tally in faults.items()]:
        if why := wrong_fields(row, kinds, where):
            return why
        if not all(is_kind(count, INTEGER) for count in row["faults"].values()):
            return f"{where}.faults must count each kind of fault in an integer"
    return None
