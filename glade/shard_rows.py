"""The rows of one shard glade wrote, read back: the episodes it holds, each row once (ROW_KEY),
and the prompt protocols its rows name, in words for an error line. glade.resume repairs a folder
by them, glade.traces_ledger refuses a traces folder by them."""

from __future__ import annotations

from pathlib import Path

from glade.shard_rules import NOT_THE_CONTENT, refused_read

ROW_KEY = ("episode_id", "turn", "creature")  # names a row of any shard glade writes (those of its columns it has)


def episodes_in(shard: Path, members: set[str] | None = None, whole: bool = True) -> set[str] | str:
    """The episode ids a shard holds, or why it cannot be used: missing, not Parquet, a row repeated (a
    copy would count twice in every table and figure built from the shards) or, given its part's
    `members`, an episode its part does not list. `whole`: read every column, so a damaged page
    anywhere is found (a rerun's repairs); else ROW_KEY's alone (a reader's quick check)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not shard.exists():
        return "missing"
    try:
        key = [c for c in ROW_KEY if c in pq.read_schema(shard).names]
        table = pq.read_table(shard, columns=None if whole else key)
    except (pa.ArrowException, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno in NOT_THE_CONTENT:  # the file system's refusal, not the rows'
            raise refused_read(shard, exc.errno) from None
        return f"unreadable ({str(exc).splitlines()[0]})"
    if "episode_id" not in key:
        return set()
    if repeated := table.num_rows - table.group_by(key).aggregate([]).num_rows:
        return f"holds {repeated} row(s) repeating another's {', '.join(key)}"
    found = set(table["episode_id"].to_pylist())
    if members is not None and (extra := found - members):
        return f"holds {len(extra)} episode(s) its part does not list"
    return found


def protocol_words(values) -> set[str]:
    """The prompt protocols a protocol_version column names, for an error line: an empty cell (glade
    always writes one; a hand edit emptied it) as such, a value of another type as it reads."""
    return {"none (an empty cell)" if v is None or v == "" else str(v) for v in values}
