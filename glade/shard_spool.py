"""A traces shard packed as its episodes play, so a batch's rows are never held whole as Python dicts.

`glade generate` hands each trace row to `ShardSpool.add` as run_lockstep makes it (its `sink`). A world's
rows wait as dicts only until CHUNK_ROWS of them have come, then become one Arrow record batch of the
shard's schema (dataset_schema, the same columns and types `datasets` gave them) compressed into that
world's zstd Arrow IPC stream; the dicts go. At the batch's end `write` unpacks the worlds in the shard's
order (episode by episode, each in the order its rows were made) and writes them with pyarrow's Parquet
writer, a row group of whole worlds at a time up to about ROW_GROUP_BYTES of Arrow data (one row group for a
batch under that, as before). The rows, their order, the schema and its `huggingface` features metadata are
those `datasets.Dataset.from_list` wrote (tests/test_stop63_generate_memory.py); a large shard is only cut
in more row groups, which no reader sees. Held per world-turn: the compressed rows, some hundreds of bytes.
"""

from __future__ import annotations

from pathlib import Path

from glade.faults import is_fault
from glade.files import atomic
from glade.rollout import ROW_COLUMNS

# The dataset keeps every trace column but the simulate trace's per-turn extras.
DATASET_COLUMNS = tuple(c for c in ROW_COLUMNS if c not in ("inventory", "sentiment", "events"))
CHUNK_ROWS = 80  # a world's rows kept as dicts before they are packed
ROW_GROUP_BYTES = 16 << 20  # Arrow bytes of whole worlds gathered into one row group, at most one world more


def dataset_schema():
    """The Arrow schema of every traces shard. Written explicitly: inferred from the rows, a
    column that is null in every row of a shard (`error` in a batch with no errors) would be
    typed null there and string in the next shard, and no reader could load the folder whole."""
    import pyarrow as pa

    text, whole, real = pa.string(), pa.int64(), pa.float64()
    types = {
        "seed": whole, "turn": whole, "self_buy": whole, "prompt_tokens": whole, "completion_tokens": whole,
        "repaired": pa.bool_(), "latency_s": real, "pebbles": real, "wealth_before": real, "wealth_after": real,
        "wealth_change": real, "mood": real,
        "messages": pa.list_(pa.struct([("role", text), ("content", text)])),
    }  # fmt: skip
    return pa.schema([(c, types.get(c, text)) for c in DATASET_COLUMNS])


def shard_schema():
    """dataset_schema with the `huggingface` features metadata `datasets` writes beside it."""
    from datasets import Features  # heavy import, only when writing

    return Features.from_arrow_schema(dataset_schema()).arrow_schema


class ShardSpool:
    """The rows of one batch's episodes (`episode_ids`, in the shard's order), packed as they come."""

    def __init__(self, episode_ids: list[str]):
        import pyarrow as pa

        self.schema = shard_schema()
        self.faults = dict.fromkeys(episode_ids, 0)  # episode -> its rows' seat faults (the ledger's)
        self._waiting: dict[str, list[dict]] = {e: [] for e in episode_ids}
        self._packed: dict[str, tuple] = {}  # episode -> (its IPC sink, the stream writer on it)
        self._options = pa.ipc.IpcWriteOptions(compression="zstd")

    def add(self, episode_id: str, row: dict) -> None:
        """run_lockstep's `sink`: one row of an episode, in the order the shard holds them."""
        self.faults[episode_id] += is_fault(row["error"])
        waiting = self._waiting[episode_id]
        waiting.append(row)
        if len(waiting) >= CHUNK_ROWS:
            self._pack(episode_id)

    def _pack(self, episode_id: str) -> None:
        import pyarrow as pa

        rows = self._waiting[episode_id]
        if not rows:
            return
        arrays = [pa.array([r[f.name] for r in rows], type=f.type) for f in self.schema]
        if episode_id not in self._packed:
            sink = pa.BufferOutputStream()
            self._packed[episode_id] = (sink, pa.ipc.new_stream(sink, self.schema, options=self._options))
        self._packed[episode_id][1].write_batch(pa.record_batch(arrays, schema=self.schema))
        rows.clear()

    def _episode(self, episode_id: str):
        """One episode's rows as an Arrow table (its packed chunks, their buffers freed here)."""
        import pyarrow as pa

        self._pack(episode_id)
        if episode_id not in self._packed:
            return self.schema.empty_table()
        sink, writer = self._packed.pop(episode_id)
        writer.close()
        return pa.ipc.open_stream(sink.getvalue()).read_all()

    def write(self, path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        # pyarrow opens the file by its path: a Python file (Dataset.to_parquet's), called from Arrow's C++
        # writer, aborts the process on a Ctrl-C there
        with atomic(path) as tmp, pq.ParquetWriter(str(tmp), self.schema) as writer:
            group, wrote = [], False
            for episode_id in list(self._waiting):
                group.append(self._episode(episode_id))
                if sum(t.nbytes for t in group) >= ROW_GROUP_BYTES:
                    writer.write_table(pa.concat_tables(group).combine_chunks())  # contiguous, as from_list's
                    group, wrote = [], True
            if group or not wrote:  # a shard of no rows still gets its (empty) row group
                writer.write_table(pa.concat_tables(group or [self.schema.empty_table()]).combine_chunks())
