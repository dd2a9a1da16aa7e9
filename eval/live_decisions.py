"""The live decisions `glade calibrate` fits (step 1 of glade.eval.calibrate): one policy's
decisions, optionally on one creature, from an eval results folder (decisions.parquet) or a
traces dataset (data/*.parquet), each with its observation rebuilt from the stored JSON and
its seat faults left out (a held turn is not the policy's play)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from glade.env import standin
from glade.env.scenario import Scenario, load_scenario
from glade.env.schema import read_yaml
from glade.faults import is_fault
from glade.provenance import written_by
from glade.trace_cells import REGENERATE
from glade.tracejson import canonical
from glade.traces import readable_shards

from .results_folder import interrupted, read_recipe, read_table, rebuild

RESULT_COLUMNS = ["episode_id", "scenario", "seed", "turn", "creature", "observation", "action", "standin_action"]


@dataclass(frozen=True)
class Live:
    """One policy's live decisions: one row per decision with the rebuilt observation (a dict),
    the live action (a dict) and the creature's scenario disposition (`reference`)."""

    kind: str  # "results" (a glade eval folder) or "traces" (a glade generate dataset)
    folder: Path
    policy: str
    creature: str | None
    rows: pd.DataFrame
    references: dict[tuple[str, str], str] = field(default_factory=dict)  # (scenario, creature) -> disposition ref
    faults: int = 0  # decisions left out: turns the policy's seat failed to answer (held, not its play)


def load_live(source: str | Path, policy: str, creature: str | None = None) -> Live:
    folder = Path(source)
    if (folder / "decisions.parquet").is_file():
        kind, names, files = "results", ("policy_name", "policy"), [folder / "decisions.parquet"]
    elif sorted((folder / "data").glob("*.parquet")):
        kind, names, files = "traces", ("policy", "seat"), [Path(f) for f in readable_shards(folder)]
    elif unfinished := interrupted(folder, "calibrate"):
        raise ValueError(f"{folder}: {unfinished}")
    elif (folder / "data").is_dir():
        raise ValueError(
            f"{folder}: data/ holds no parquet files and there is no decisions.parquet: nothing to calibrate on"
        )
    elif folder.exists():
        raise ValueError(f"{folder}: neither an eval results folder (decisions.parquet) nor a traces dataset (data/)")
    else:
        raise FileNotFoundError(f"{folder}: no such folder (give a glade eval results folder or a traces dataset)")
    fix = None if kind == "results" else REGENERATE  # a results table's own: rebuild it from its shards
    frame = _read(files, [*RESULT_COLUMNS, *names, "standin_disposition", "error"], fix)
    if "observation" not in frame.columns:
        raise ValueError(
            f"{folder}: the decisions carry no observation column (written by {written_by(folder)}); run it again to calibrate"
        )
    _check_columns(folder, kind, frame, names)
    if not len(frame):
        raise ValueError(
            f"{folder}: {'decisions.parquet' if kind == 'results' else 'data/'} holds no decisions (0 rows)"
        )
    mine = np.zeros(len(frame), dtype=bool)
    for column in names:
        if column in frame.columns:
            mine |= (frame[column] == policy).to_numpy()
    if not mine.any():
        known = sorted({str(v) for c in names if c in frame.columns for v in frame[c].dropna().unique()})
        raise ValueError(f"{folder}: no decisions of policy {policy!r} (policies here: {', '.join(known)})")
    frame = frame[mine]
    if creature is not None:
        if creature not in set(frame["creature"]):
            raise ValueError(
                f"{folder}: policy {policy!r} never sat on {creature!r} (it sat on: {', '.join(sorted(set(frame['creature'])))})"
            )
        frame = frame[frame["creature"] == creature]
    faulted = frame["error"].map(is_fault).astype(bool) if "error" in frame.columns else pd.Series(False, frame.index)
    if faulted.all():
        raise ValueError(
            f"{folder}: every one of the {len(frame)} decisions of policy {policy!r} is a seat fault (its seat failed "
            "to answer, so the turn was held): nothing to calibrate on; fix the seat and rerun the evaluation"
        )
    frame = frame[~faulted]
    rows = frame[RESULT_COLUMNS].reset_index(drop=True).copy()
    source = folder / ("decisions.parquet" if kind == "results" else "data")
    rows["observation"] = _observations(rows, source, fix or rebuild(folder))
    rows["action"] = [json.loads(a) for a in rows["action"]]  # checked as it was read (JSON_CELLS)
    references, named = {}, recipe_scenarios(folder, kind)
    for scenario, c, stored in (
        frame[["scenario", "creature", "standin_disposition"]].drop_duplicates().itertuples(index=False)
    ):
        references[(scenario, c)] = _reference(folder, named, scenario, c, stored)
    return Live(kind, folder, policy, creature, rows, references, int(faulted.sum()))


def _check_columns(folder: Path, kind: str, frame: pd.DataFrame, names: tuple[str, str]) -> None:
    """Refuses (ValueError) decisions lacking a column calibration reads, naming each, rather than
    failing on a bare KeyError after they are read (`observation` is checked before, in its own words)."""
    missing = [c for c in (*RESULT_COLUMNS, "standin_disposition") if c not in frame.columns]
    if not any(c in frame.columns for c in names):
        missing.append(" or ".join(names))
    if not missing:
        return
    if kind == "results":
        raise ValueError(
            f"{folder / 'decisions.parquet'}: missing column(s) {', '.join(missing)}, so not the decisions.parquet "
            f"glade eval writes; {rebuild(folder)}"
        )
    raise ValueError(
        f"{folder / 'data'}: the traces lack column(s) {', '.join(missing)} (written by {written_by(folder)}); "
        "run glade generate again to calibrate on them"
    )


# what the stand-in reads of an observation (glade.env.standin), to score a decision against it
OBSERVATION_KEYS = ("prices", "inventory", "pebbles", "produces", "needs", "appetite", "fuel", "talk", "whisper")


def _observations(rows: pd.DataFrame, source: Path, fix: str) -> list[dict]:
    """Each row's observation, rebuilt from its JSON; one that is not an object holding OBSERVATION_KEYS (a hand
    edit cut it short) is a ValueError naming its episode, turn and creature, then `fix`."""
    found = []
    for i, text in enumerate(rows["observation"]):
        try:
            obs = json.loads(text)
        except (TypeError, ValueError):
            obs = None
        if not isinstance(obs, dict) or not all(key in obs for key in OBSERVATION_KEYS):
            where = f"episode {rows['episode_id'][i]}, turn {rows['turn'][i]}, {rows['creature'][i]}"
            raise ValueError(f"{source}: the observation of {where} is not the one glade writes (an object of "
                             f"{', '.join(OBSERVATION_KEYS)} and more); {fix}")  # fmt: skip
        found.append(obs)
    return found


def _read(files: list[Path], wanted: list[str], fix: str | None) -> pd.DataFrame:
    """Only the columns calibration reads (a traces dataset also holds every prompt)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        have = set(pq.read_schema(files[0]).names)
    except (pa.ArrowException, OSError):  # traces shards were checked (readable_shards); a results table is named
        have = set(read_table(files[0]).columns)
    columns = [c for c in dict.fromkeys(wanted) if c in have]
    return pd.concat([read_table(p, columns, fix=fix) for p in files], ignore_index=True)


def run_recipe(folder: Path, kind: str = "results") -> dict:
    """The recipe beside the live decisions, {} when there is none: a results folder's as every
    reader of one reads it (glade.eval.results_folder.read_recipe); a traces dataset's, which glade generate
    wrote, as strictly (a damaged one would silently lose a user's own scenario paths)."""
    if kind == "results":
        return read_recipe(folder)
    path = Path(folder) / "recipe.yaml"
    if not path.is_file():
        return {}
    try:
        return read_yaml(path)
    except ValueError as exc:
        raise ValueError(f"{exc}; {_remedy(folder, kind)}") from None


def _remedy(folder: Path, kind: str) -> str:
    """What to do about a damaged recipe.yaml beside the live decisions."""
    if kind == "results":
        return rebuild(Path(folder))
    return "it is the recipe glade generate wrote beside this traces dataset: restore it, or run glade generate again"


def recipe_turns(folder: Path, data: dict, kind: str = "results") -> dict:
    """The recipe's `turns` as load_scenario's override ({} when it sets none); one that is no
    positive integer (a hand edit) is named rather than failing as a bare int() error."""
    turns = data.get("turns")
    if turns is None:
        return {}
    if isinstance(turns, bool) or not isinstance(turns, int) or turns < 1:
        raise ValueError(
            f"{Path(folder) / 'recipe.yaml'}: turns: expected a positive integer, got {turns!r}; {_remedy(folder, kind)}"
        )
    return {"turns": turns}


def recipe_list(folder: Path, data: dict, key: str, kind: str = "results") -> list:
    """The recipe's `scenarios` or `levers` ([] when it sets none); one that is no list (a hand
    edit) is named rather than failing as a bare TypeError wherever it is read."""
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(
            f"{Path(folder) / 'recipe.yaml'}: {key}: expected a list, got {value!r}; {_remedy(folder, kind)}"
        )
    return value


def recipe_scenarios(folder: Path, kind: str = "results") -> dict[str, Scenario]:
    """The scenarios the folder's recipe names (a shipped name or a path, as the run was given
    them, with its `turns`; its levers' too), by their `name`; one that does not load from here is left out (a
    shipped scenario is then found by its name). `kind`: Live.kind, which says who wrote the recipe."""
    data = run_recipe(folder, kind)
    overrides = recipe_turns(folder, data, kind)
    given = {key: recipe_list(folder, data, key, kind) for key in ("scenarios", "levers")}
    levers = [v for lever in given["levers"] if isinstance(lever, dict) for v in (lever.get("from"), lever.get("to"))]
    named = {}
    # a spec that is no text (a hand edit) is left out like one that does not load
    specs = [spec for spec in [*given["scenarios"], *levers] if isinstance(spec, str)]
    for spec in dict.fromkeys(specs):  # a lever's are played too
        try:
            s = load_scenario(spec, **overrides)
        except (ValueError, OSError, TypeError):
            continue
        named[s.name] = s
    return named


def _reference(folder: Path, named: dict[str, Scenario], scenario: str, creature: str, stored: str) -> str:
    """The disposition the creature's scenario seats it on (a name or a file), which the stored
    counterfactual names: from the scenario as the recipe names it (a path to a scenario of
    one's own), else a shipped scenario of that name, else the stored name when it is shipped."""
    try:
        ref = (named.get(scenario) or load_scenario(scenario)).creatures[creature].disposition
    except (ValueError, OSError, KeyError):
        ref = stored
    if ref not in standin.DISPOSITIONS and not standin.is_disposition_path(ref):
        raise ValueError(
            f"{folder}: scenario {scenario!r} seats {creature} on disposition {stored!r}, and neither is found from "
            "here (the recipe.yaml's scenario paths do not load): run glade calibrate from the folder the run was "
            "made in, so its recipe's relative paths resolve"
        )
    if standin.disposition(ref).name != stored:
        raise ValueError(
            f"{folder}: scenario {scenario!r} now seats {creature} on {ref!r}, the decisions on {stored!r}"
        )
    return ref


def rebuilt(live: Live) -> int:
    """How many stored stand-in counterfactuals the rebuilt observations reproduce exactly."""
    return sum(
        canonical(standin.act(obs, standin.disposition(live.references[(s, c)]))) == stored
        for obs, s, c, stored in zip(
            live.rows["observation"], live.rows["scenario"], live.rows["creature"], live.rows["standin_action"]
        )
    )
