"""Resumable runs: finished work kept as Parquet shards and listed in OUT/progress.json.

Shared by `glade generate` (OUT/data/part-NNNNN.parquet) and `glade eval`
(OUT/shards/decisions-NNNNN.parquet and episodes-NNNNN.parquet). progress.json maps every
finished episode id to the number of the part that holds it. A part's shards are written
atomically and only then listed, so a rerun after an interruption keeps what is listed,
plays the rest, and plays again any shard written but not yet listed (killed between the two).

A rerun refuses (one ValueError, nothing touched) when the listed rows were rendered under
another prompt protocol version, so one folder never mixes two prompt formats.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from glade.env import protocol

PROGRESS = "progress.json"


@contextmanager
def atomic(path: Path) -> Iterator[Path]:
    """Write to a temporary sibling of `path`; it replaces `path` only when the block ends cleanly."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, data) -> None:
    with atomic(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))


@dataclass(frozen=True)
class ShardLog:
    root: Path
    shards: dict[str, str]  # kind -> shard path under root with a {part} field, first kind holds protocol_version

    def path(self, kind: str, part: int) -> Path:
        return self.root / self.shards[kind].format(part=part)

    def start(self) -> dict[str, int]:
        """The finished episodes (episode id -> part), after dropping shards that no entry
        lists and checking the prompt protocol of what is listed."""
        progress = self.root / PROGRESS
        done = {k: _part_number(v) for k, v in json.loads(progress.read_text()).items()} if progress.exists() else {}
        listed = {self.path(kind, part) for part in set(done.values()) for kind in self.shards}
        for _kind, pattern in self.shards.items():
            folder = (self.root / pattern).parent
            folder.mkdir(parents=True, exist_ok=True)
            for stale in folder.glob("*.tmp"):
                stale.unlink()
            for shard in folder.glob(Path(pattern).name.replace("{part:05d}", "*")):
                if shard not in listed:  # written but not listed: that batch is played again
                    shard.unlink()
        if done:
            self.check_protocol(self.path(next(iter(self.shards)), min(done.values())))
        return done

    def check_protocol(self, shard: Path) -> None:
        """Raises ValueError naming both protocol versions when `shard` was rendered under another."""
        import pyarrow.parquet as pq

        if "protocol_version" not in pq.read_schema(shard).names:  # an empty part: nothing to compare
            return
        seen = set(pq.read_table(shard, columns=["protocol_version"]).column(0).to_pylist())
        if seen - {protocol.PROTOCOL_VERSION}:  # read at call time: a test stands in a later version
            raise ValueError(
                f"{self.root}: its finished episodes were rendered with prompt protocol {', '.join(sorted(map(str, seen)))}, "
                f"this glade renders {protocol.PROTOCOL_VERSION}; move the folder aside (or set another out) to start afresh"
            )

    def finish(self, done: dict[str, int], part: int, episode_ids: list[str]) -> None:
        """List a part whose shards are written: its episodes count as finished from now on."""
        done.update(dict.fromkeys(episode_ids, part))
        write_json(self.root / PROGRESS, done)

    def listed(self, kind: str, done: dict[str, int]) -> list[Path]:
        """The listed shards of one kind, in part order."""
        return [self.path(kind, part) for part in sorted(set(done.values()))]


def next_part(done: dict[str, int]) -> int:
    return max(done.values(), default=-1) + 1


def _part_number(value) -> int:
    """A part number; older traces folders listed the shard path (data/part-00003.parquet)."""
    if isinstance(value, str):
        return int(Path(value).stem.split("-")[-1])
    return int(value)
