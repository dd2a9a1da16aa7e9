"""The cells a verb reads from a traces dataset, checked before it reads them: a folder written back
through pandas (a column dropped, a missing value written as null) or edited by hand would
otherwise fail deep inside `glade train` or `glade lm-eval` as a KeyError or a TypeError, at
times after the training steps had run. The check names the shard, the row and the column."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pyarrow loads with the rows, not with glade.traces
    import pyarrow as pa

NULLABLE = ("error",)  # None: the decision had no error; every other cell glade generate writes holds a value

# What each reader takes from a row (train/data.py prepare; eval/lm_docs.py write_tasks and trained_on).
TRAIN_NEEDS = (
    "episode_id", "scenario", "scenario_hash", "seed", "turn", "creature", "policy", "protocol_version",
    "messages", "observation", "action", "error", "self_buy", "standin_action", "rejected", "wealth_change",
)  # fmt: skip
LM_EVAL_NEEDS = ("episode_id", "seed", "turn", "creature", "messages", "observation", "standin_action")

REGENERATE = "regenerate the folder with the `glade generate` recipe that wrote it"


def check_cells(table: pa.Table, files: Sequence[str], needs: Sequence[str], reader: str) -> None:
    """A ValueError for the first of `needs` missing from `table` (the shards' rows, in `files`'
    order), the first null cell of one (but NULLABLE's), or the first `messages` that is not a
    conversation with a user turn, each role and content a text. `reader` (`glade train`) is who
    reads them, for the words."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if not needs:
        return
    for file in files:  # each shard's own columns: the rows read as one fill a column one shard lacks with nulls
        names = set(pq.read_schema(file).names)
        if missing := [column for column in needs if column not in names]:
            raise ValueError(
                f"{file}: no {missing[0]} column, which {reader} reads (a column dropped on the way?); {REGENERATE}"
            )
    for column in needs:
        if column not in NULLABLE and (found := table.column(column)).null_count:
            bad = pc.index(pc.is_null(found), True).as_py()
            raise ValueError(f"{_where(table, files, bad)}: {column} is null, which {reader} reads; {REGENERATE}")
    if "messages" in needs:
        bad, start = None, 0
        for chunk in table.column("messages").chunks:  # chunk by chunk: combining them would copy every prompt
            if (found := _first_bad_conversation(chunk)) is not None:
                bad = start + found
                break
            start += len(chunk)
        if bad is not None:
            raise ValueError(
                f"{_where(table, files, bad)}: messages is not a conversation with a user turn (a list of "
                f"{{role, content}} texts), which {reader} reads; {REGENERATE}"
            )


def _first_bad_conversation(messages: pa.ListArray) -> int | None:
    """The first row whose messages hold no user turn, or a message without a role or a content."""
    import numpy as np
    import pyarrow.compute as pc

    flat = pc.list_flatten(messages)
    rows = pc.list_parent_indices(messages).to_numpy()
    broken = pc.or_(pc.is_null(flat.field("role")), pc.is_null(flat.field("content"))).to_numpy(zero_copy_only=False)
    user = np.zeros(len(messages), dtype=bool)
    user[rows[pc.equal(flat.field("role"), "user").fill_null(False).to_numpy(zero_copy_only=False)]] = True
    bad = np.concatenate([rows[broken], np.flatnonzero(~user)])
    return int(bad.min()) if bad.size else None


def _where(table: pa.Table, files: Sequence[str], index: int) -> str:
    """`SHARD: row N (episode E, turn T)`: the row counted from 0 within its shard."""
    import pyarrow.parquet as pq

    found = table.slice(index, 1).to_pylist()[0]
    said = [
        f"{word} {found[key]}"
        for key, word in (("episode_id", "episode"), ("turn", "turn"))
        if found.get(key) is not None
    ]
    said_text = f" ({', '.join(said)})" if said else ""
    row = index
    for file in files:
        if row < (rows := pq.ParquetFile(file).metadata.num_rows):
            return f"{file}: row {row}{said_text}"
        row -= rows
    return f"row {index}{said_text}"
