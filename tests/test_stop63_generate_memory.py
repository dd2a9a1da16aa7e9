"""`glade generate` packs each world's rows as they are made (glade.shard_spool) instead of holding a
whole batch as dicts and copying it twice to write it: the shards it writes are those the dict path
wrote (pinned below from that code, e0acda1), and its Python heap no longer grows by ~84 KB per
world-turn (benchmarks/generate_memory.py measures the process's peak RSS)."""

from __future__ import annotations

import hashlib
import json
import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from glade.config import Seeds
from glade.rollout import EpisodeSpec, run_lockstep
from glade.seats import standin_council
from glade.traces import GenerateRecipe, generate, load_scenarios, load_traces

# The tiny run's shards as e0acda1 (Dataset.from_list of the rows' dicts) wrote them: 3 seeds, 4 turns,
# 2 worlds a batch. Content: the schema with its metadata, then every row in order, as JSON.
PINNED = {
    "part-00000.parquet": "00a33e5c35f5e033021e56099f9cd40df42bf0a72d7e18a6fc7162b5cad5bccf",
    "part-00001.parquet": "d0f05059908f7d6c57a48887916996e243a321e8bf4717e64a877f53bb91eaee",
}
# ... and the files' bytes, with the pyarrow that wrote them then (its version is in every file)
PINNED_BYTES = {
    "part-00000.parquet": "595afd88fb6fecc6bfa4fe9d6e29ee0a48e8106923e0621c63efbc7e7307f842",
    "part-00001.parquet": "27a7330683a3caf70b14a3ab3e3d2396708f1a56583b91a1240ff1b2454e303c",
}
PINNED_PYARROW = "26.0.1"
LEDGER = {f"default.scenario.s{s}": {"faults": 0, "part": s // 2} for s in range(3)}


def tiny_run(out) -> dict:
    generate(GenerateRecipe(out=str(out), seeds=Seeds(start=0, count=3), turns=4, worlds=2))
    return {p.name: p for p in sorted((out / "data").glob("*.parquet"))}


def content_digest(path) -> str:
    table = pq.read_table(path)
    digest = hashlib.sha256(table.schema.to_string(show_schema_metadata=True).encode())
    digest.update(json.dumps(table.to_pylist()).encode())
    return digest.hexdigest()


def test_the_shards_are_those_the_row_dicts_wrote(tmp_path):
    files = tiny_run(tmp_path / "t")
    assert {name: content_digest(p) for name, p in files.items()} == PINNED
    if pa.__version__ == PINNED_PYARROW:  # the same bytes, not only the same rows
        assert {name: hashlib.sha256(p.read_bytes()).hexdigest() for name, p in files.items()} == PINNED_BYTES
    assert json.loads((tmp_path / "t" / "progress.json").read_text())["episodes"] == LEDGER


def test_small_chunks_and_row_groups_keep_the_rows_and_their_order(tmp_path, monkeypatch):
    import glade.shard_spool as spool_mod  # here: the file's other tests also run on the code before it

    monkeypatch.setattr(spool_mod, "CHUNK_ROWS", 3)  # a world's rows packed 3 at a time
    monkeypatch.setattr(spool_mod, "ROW_GROUP_BYTES", 1)  # every world its own row group
    files = tiny_run(tmp_path / "t")
    assert {name: content_digest(p) for name, p in files.items()} == PINNED
    assert pq.ParquetFile(files["part-00000.parquet"]).metadata.num_row_groups == 2
    assert json.loads((tmp_path / "t" / "progress.json").read_text())["episodes"] == LEDGER
    assert load_traces(tmp_path / "t").num_rows == 60  # readers check and load it as one


def test_a_sink_takes_the_rows_a_played_episode_would_hold():
    scenario = load_scenarios(GenerateRecipe(out="x", turns=3))["default"]
    specs = [EpisodeSpec(f"w{s}", scenario, s, standin_council(scenario)) for s in (0, 1)]
    kept = run_lockstep(specs)
    taken: dict[str, list] = {"w0": [], "w1": []}
    sunk = run_lockstep(specs, sink=lambda episode, row: taken[episode].append(row))
    for e in ("w0", "w1"):
        assert sunk[e].rows == [] and taken[e] == kept[e].rows
        assert sunk[e].summary == kept[e].summary and sunk[e].history == kept[e].history


def heap_peak(tmp_path, worlds: int, turns: int) -> int:
    recipe = GenerateRecipe(
        out=str(tmp_path / f"{worlds}x{turns}"), seeds=Seeds(count=worlds), turns=turns, worlds=worlds
    )
    tracemalloc.start()
    try:
        generate(recipe)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.timeout(300)
def test_the_python_heap_grows_by_kilobytes_per_world_turn_not_a_batch_of_dicts(tmp_path):
    heap_peak(tmp_path, 1, 1)  # the imports writing a shard makes, before anything is counted
    floor, peak = heap_peak(tmp_path, 8, 2), heap_peak(tmp_path, 8, 100)
    per_world_turn = (peak - floor) / (8 * 98)
    # the dict path: about 84 KB per world-turn here (the rows, their copy and datasets' conversion);
    # packed: about 10 KB (the unpacked rows of each world's chunk, the worlds' own history)
    assert per_world_turn < 30 * 1024, f"{per_world_turn / 1024:.1f} KB of Python heap per world-turn"
