"""Shards edited by hand to repeat a row, or to hold another part's episode (glade.shard_rows): a rerun of
generate or eval plays that part again, and every reader of a traces folder refuses it, naming the shard,
since each such row would count twice (or as another run's) in the card, the tables, training and calibration."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from resume_setup import eval_recipe, generate_recipe, rows

from glade import traces as gen
from glade.cli import main
from glade.resume import ShardLog


def _refused_by_readers(traces, said: str, export) -> None:
    """Training's reader and export-traces both refuse the folder, naming the shard; export writes nothing."""
    from glade.hub.export_traces import export_traces

    with pytest.raises(ValueError, match=said):
        gen.load_traces(traces)
    with pytest.raises(ValueError, match=said):
        export_traces(traces, "me/t", out=export)
    assert not export.exists()


def test_a_traces_shard_with_a_row_copied_in_is_refused_by_its_readers_and_replayed(tmp_path, capsys):
    """A row repeated by hand: the card, training and calibration would count it twice (the card's
    decisions disagreed with the rows, exit 0); a rerun of generate plays that part again."""
    path = generate_recipe(tmp_path)
    assert main(["generate", str(path)]) == 0
    clean = rows(tmp_path / "traces")
    shard = tmp_path / "traces" / "data" / "part-00001.parquet"
    _copy_rows(shard, [4])
    said = r"part-00001.parquet: holds 1 row\(s\) repeating another's episode_id, turn, creature; rerun the `glade generate`"
    _refused_by_readers(tmp_path / "traces", said, tmp_path / "export")
    capsys.readouterr()
    assert main(["generate", str(path)]) == 0
    out = capsys.readouterr().out
    assert (
        "data/part-00001.parquet: holds 1 row(s) repeating another's episode_id, turn, creature; its 2 episode(s) play again"
        in out
    )
    pd.testing.assert_frame_equal(rows(tmp_path / "traces").drop(columns="latency_s"), clean.drop(columns="latency_s"))
    assert len(gen.load_traces(tmp_path / "traces")) == len(clean)


def test_a_traces_shard_holding_another_parts_episode_is_refused_by_its_readers(tmp_path):
    path = generate_recipe(tmp_path)
    assert main(["generate", str(path)]) == 0
    data = tmp_path / "traces" / "data"
    first, second = pd.read_parquet(data / "part-00000.parquet"), pd.read_parquet(data / "part-00001.parquet")
    stray = first[first["episode_id"] == first["episode_id"].iloc[0]]
    pd.concat([second, stray]).to_parquet(data / "part-00001.parquet", index=False)
    with pytest.raises(ValueError, match=r"part-00001.parquet: holds 1 episode\(s\) its part does not list; rerun"):
        gen.load_traces(tmp_path / "traces")
    (tmp_path / "traces" / "progress.json").unlink()  # the Hub's copy has no ledger: a repeated row is still found
    _copy_rows(data / "part-00001.parquet", [0, 1])
    with pytest.raises(ValueError, match=r"holds 2 row\(s\) repeating .*; restore it from where the folder came from"):
        gen.load_traces(tmp_path / "traces")


def test_a_shard_copied_under_another_name_in_a_folder_without_its_ledger_is_refused(tmp_path, capsys):
    """The Hub's copy (no progress.json) with a shard copied to part-00077: export-traces wrote 70 rows
    whose card said 60, and validate passed a train recipe reading it (each shard alone was whole)."""
    path = generate_recipe(tmp_path)
    assert main(["generate", str(path)]) == 0
    data = tmp_path / "traces" / "data"
    (tmp_path / "traces" / "progress.json").unlink()
    (data / "part-00077.parquet").write_bytes((data / "part-00000.parquet").read_bytes())
    said = r"part-00077.parquet: holds 2 episode\(s\) that .*part-00000.parquet holds too \(a copy: their rows would count twice\); restore it from where the folder came from"
    _refused_by_readers(tmp_path / "traces", said, tmp_path / "export")
    (data / "part-00077.parquet").unlink()
    assert len(gen.load_traces(tmp_path / "traces")) == len(rows(tmp_path / "traces"))


def test_an_eval_shard_with_rows_copied_in_is_replayed_and_the_run_keeps_its_cost(tmp_path, capsys):
    """Before: 45 episode rows for 40 seats, and a rerun said the runs were interrupted before writing a
    summary (its cost and timing lost), since nothing played."""
    path = eval_recipe(tmp_path)
    assert main(["eval", str(path)]) == 0
    first = pd.read_parquet(tmp_path / "results" / "episodes.parquet")
    shard = tmp_path / "results" / "shards" / "episodes-00001.parquet"
    _copy_rows(shard, [0, 1, 2])
    capsys.readouterr()
    assert main(["eval", str(path)]) == 0
    out = capsys.readouterr().out
    assert (
        "shards/episodes-00001.parquet: holds 3 row(s) repeating another's episode_id, creature; its 2 episode(s)"
        in out
    )
    assert "left no summary of what that cost" not in out
    again = pd.read_parquet(tmp_path / "results" / "episodes.parquet")
    assert len(again) == len(first) == 30 and again["episode_id"].value_counts().eq(5).all()
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert summary["cost"]["episodes"] == 2 and summary["timing"] is not None


def test_a_protocol_of_another_type_is_named_as_it_reads(tmp_path):
    # an int where glade writes a text: named (it was a TypeError while the error line was built)
    log = ShardLog(tmp_path / "out", {"data": "data/part-{part:05d}.parquet"})
    state = log.start({})
    pq.write_table(pa.table({"episode_id": ["a"], "protocol_version": pa.array([2])}), log.path("data", 0))
    log.finish(state, 0, {"a": 0})
    with pytest.raises(ValueError, match=r"rendered with prompt protocol 2, this glade renders"):
        log.start({})


def _copy_rows(shard, rows: list[int]) -> None:
    """Append copies of these rows of `shard` to it, as a hand edit would."""
    table = pd.read_parquet(shard)
    pd.concat([table, table.iloc[rows]]).to_parquet(shard, index=False)
