"""Reading decisions.parquet lean, for flag and report: the long texts (the prompts, the answers, the observations)
are most of a results table's size and neither verb reads them row by row. `read_lean` leaves the observations out,
holds the prompts and answers as 64-bit hashes of their text (what the play comparisons need: equal text, equal
hash), and reads the rest with read_table's checks; `example_texts` reads the texts of the few rows a flag shows.

The columns glade flag picks its examples from are made one Arrow chunk each (`combined`): pandas reads a column of
more than 131,072 rows in several chunks, and a take on a chunked column costs in proportion to the whole table, so a
row subset per flag made glade flag quadratic in the run's size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

LEFT_OUT = ("observation",)  # read by glade calibrate and export only
HASHED = ("prompt", "completion")  # compared (cells.shared_play, decision_metrics.seat_validity), never shown
BATCH = 8192  # rows hashed at a time


def combined(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with each Arrow-backed column of several chunks made one chunk (in place; returned)."""
    for column in frame.columns:
        array = frame[column].array
        if not isinstance(array, pd.arrays.ArrowExtensionArray):  # numpy-backed: one block already
            continue
        chunked = array.__arrow_array__()  # the Arrow protocol: the column's ChunkedArray, not a copy
        if chunked.num_chunks > 1:
            frame[column] = pd.Series(pd.array(chunked.combine_chunks(), dtype=array.dtype), index=frame.index)
    return frame


def distinct_cells(values: pd.Series, step: int = 8192):
    """(row, cell) of each row, counted from 0 and in order, less those whose cell already appeared among the `step`
    rows before it: results_folder.check_json_cells parses a text repeated nearby once (a stand-in's actions repeat),
    and holds `step` rows as Python strings at a time, not the column."""
    for start in range(0, len(values), step):
        seen = set()
        for row, cell in enumerate(values.iloc[start : start + step].tolist(), start):
            try:
                if cell in seen:
                    continue
                seen.add(cell)
            except TypeError:  # unhashable (a list, where a hand edit put one): checked as it is
                pass
            yield row, cell


def read_lean(path: Path, needs: tuple[str, ...] = ()) -> pd.DataFrame:
    """decisions.parquet as read_table reads it (its checks, its refusals), less LEFT_OUT, with each HASHED column
    as uint64 hashes of its cells (a missing one stays missing)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .results_folder import check_columns, read_table

    path = Path(path)
    check_columns(path, needs)
    try:
        names = pq.read_schema(path).names
    except (pa.ArrowException, OSError):  # unreadable: read_table names it
        names = None
    if names is None:
        return read_table(path, needs=needs)
    frame = read_table(path, [c for c in names if c not in LEFT_OUT + HASHED], needs=needs)
    for column in (c for c in HASHED if c in names):
        frame[column] = _hashes(path, column, len(frame))
    return frame


def _hashes(path: Path, column: str, rows: int) -> np.ndarray:
    import pyarrow.parquet as pq

    out = np.empty(rows, dtype=np.uint64)
    at = 0
    parquet = pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False)  # a column's pages streamed, not held
    for batch in parquet.iter_batches(batch_size=BATCH, columns=[column]):
        values = batch.column(0).to_pandas()
        out[at : at + len(values)] = pd.util.hash_pandas_object(values, index=False).to_numpy()
        at += len(values)
    return out


KEY = ["episode_id", "turn", "creature"]


def example_texts(path: Path, keys: pd.DataFrame) -> dict[tuple, tuple]:
    """(episode_id, turn, creature) -> (prompt, completion) of decisions.parquet, for the rows `keys` names: only their
    episodes are read (a Parquet filter), and only these columns."""
    if not len(keys):
        return {}
    episodes = sorted(set(map(str, keys["episode_id"])))
    frame = pd.read_parquet(path, columns=[*KEY, *HASHED], filters=[("episode_id", "in", episodes)])
    return {
        (str(e), int(t), str(c)): (p, a)
        for e, t, c, p, a in zip(
            frame["episode_id"], frame["turn"], frame["creature"], frame["prompt"], frame["completion"]
        )
    }
