"""`glade simulate`'s episode folder: trace.parquet (one row per creature-turn, TRACE_COLUMNS,
taken from the rollout's trace rows) and summary.json, written so that a rerun replaces its
own earlier episode and never a folder glade did not write. Both carry where the episode
came from (PROVENANCE: glade version, git commit, prompt protocol; the scenario hash and
seed are the summary's own): summary.json as keys, trace.parquet in its schema's metadata
(key b"glade"), so a trace copied away still says what rules and prompt played it."""

from __future__ import annotations

import json
from pathlib import Path

from glade.files import arrow_path, atomic, check_folder_path, temp_of
from glade.provenance import stamp
from glade.resume import check_outside_runs
from glade.rollout import Played

# `glade simulate`'s trace.parquet: one row per creature-turn, columns from the trace row.
TRACE_COLUMNS = (
    "turn", "creature", "seat", "action", "notes", "fills", "pebbles", "inventory",
    "wealth", "mood", "self_buy", "sentiment", "events", "error",
)  # fmt: skip
_TRACE_FROM = {"notes": "rejected", "wealth": "wealth_after"}  # renamed for the simulate trace
PROVENANCE = ("glade_version", "git_commit", "git_dirty", "protocol_version")  # of glade.provenance.stamp


def write_episode(episode: Played, out: str | Path) -> Path:
    """trace.parquet (TRACE_COLUMNS) and summary.json into `out` (created). An earlier episode
    written there is replaced; a file, or a folder holding anything else, is refused
    (ValueError) before anything is written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    check_episode_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    made = stamp()
    summary = {**episode.summary, **{k: made[k] for k in PROVENANCE}}
    where = {k: summary[k] for k in ("scenario", "scenario_hash", "seed", "turns", *PROVENANCE)}
    schema = pa.schema(
        [
            ("turn", pa.int32()), ("creature", pa.string()), ("seat", pa.string()),
            ("action", pa.string()), ("notes", pa.string()), ("fills", pa.string()),
            ("pebbles", pa.float64()), ("inventory", pa.string()), ("wealth", pa.float64()),
            ("mood", pa.float64()), ("self_buy", pa.int32()), ("sentiment", pa.string()),
            ("events", pa.string()), ("error", pa.string()),
        ],
        metadata={b"glade": json.dumps(where).encode()},
    )  # fmt: skip
    rows = [{c: r[_TRACE_FROM.get(c, c)] for c in TRACE_COLUMNS} for r in episode.rows]
    # both new files are written whole to temporaries before the earlier episode is touched, so a
    # full disk leaves that episode as it was; then its trace goes first, so a kill never leaves
    # this summary beside the earlier trace, and the summary (which marks the folder) replaces first
    with atomic(out / "trace.parquet") as trace, atomic(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), arrow_path(trace))
        (out / "trace.parquet").unlink(missing_ok=True)
    return out


def check_episode_folder(out: Path) -> None:
    """Refuses `out` (ValueError) unless it is new, empty, or holds only an episode
    write_episode wrote (its summary.json is written first, so a trace alone is not one), or
    the part of one a kill left."""
    check_folder_path(out)
    check_outside_runs(out)
    if not out.is_dir():
        return
    found = sorted(p.name for p in out.iterdir() if not _killed_write(p.name))
    foreign = [name for name in found if name not in ("trace.parquet", "summary.json")]
    if found and not foreign and "summary.json" not in found:
        foreign = ["trace.parquet"]  # without the summary written before it: not ours
    elif not foreign and "summary.json" in found:
        try:
            summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            summary = None
        if not (isinstance(summary, dict) and {"scenario_hash", "seed", "conservation_problems"} <= set(summary)):
            foreign = ["summary.json"]  # not one write_episode wrote
    if foreign:
        raise ValueError(
            f"{out}: holds files that are not an episode glade simulate wrote ({', '.join(foreign[:3])}"
            f"{', ...' if len(foreign) > 3 else ''}); give a new or empty folder"
        )


def _killed_write(name: str) -> bool:
    """A hidden temporary of write_episode's (glade.files.atomic names it .NAME.[...].tmp) that a
    kill left: it never replaced its file, so the folder still holds an episode, or part of one."""
    return temp_of(name) in ("summary.json", "trace.parquet")
