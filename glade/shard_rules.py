"""What a listed shard's rows say of the rules they were played under (the prompt protocols and the
scenario hashes they record), read for glade.resume's check before a rerun plays anything; and a
shard the file system will not let glade read, refused rather than moved aside as corrupt."""

from __future__ import annotations

import errno
import os
from pathlib import Path

# A read refused by the file system says nothing of the shard's rows: moved aside, its episodes would
# play again (paid again, on API seats) while the file may be whole. What to do about each.
NOT_THE_CONTENT = {
    errno.EACCES: "fix its permissions, then rerun",
    errno.EPERM: "fix its permissions, then rerun",
    errno.EIO: "check the disk it is on, then rerun",
}


def shard_rules(shard: Path) -> tuple[set, set[tuple]] | None:
    """The protocol_version values and the (scenario, scenario_hash) pairs a shard's rows hold; None when it is
    missing or not Parquet (the repairs move it aside and its episodes play again). A ValueError naming the shard
    when the file system refuses the read (NOT_THE_CONTENT)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        wanted = {"protocol_version", "scenario", "scenario_hash"} & set(pq.read_schema(shard).names)
        table = pq.read_table(shard, columns=sorted(wanted))
    except (pa.ArrowException, OSError) as exc:  # pyarrow's own errors about the content are OSErrors with no errno
        if isinstance(exc, OSError) and exc.errno in NOT_THE_CONTENT:
            raise refused_read(shard, exc.errno) from None
        return None
    protocols = set(table["protocol_version"].to_pylist()) if "protocol_version" in table.column_names else set()
    seen = set()
    if "scenario_hash" in table.column_names:
        seen = set(zip(table["scenario"].to_pylist(), table["scenario_hash"].to_pylist(), strict=True))
    return protocols, seen


def refused_read(shard: Path, code: int) -> ValueError:
    """The error for a shard the file system would not let glade read (`code`, an errno of NOT_THE_CONTENT)."""
    return ValueError(
        f"{shard}: {os.strerror(code).lower()}, so its rows cannot be read; {NOT_THE_CONTENT[code]} "
        "(glade moves aside only shards whose content is damaged, and plays their episodes again)"
    )
