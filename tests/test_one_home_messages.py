"""Each shared message has one home, and its words stay as they were: the results folder refusals (glade.eval.rows),
the unreadable Parquet line (glade.traces), glade eval's resume sentence (glade.eval.rows) and the legend_ratio
heading (glade.eval.figures). The renamed types keep their fields."""

import pytest

from glade.eval import figures, rank, recipe, results_folder, rows
from glade.eval.calibrate import StandInFit
from glade.eval.report import data, plots, render
from glade.traces import readable_shards, unreadable_parquet


def test_missing_results_folder_is_said_once_for_rank_and_report(tmp_path):
    missing = tmp_path / "nope"
    said = f"{missing}: no such results folder (make one with: glade eval RECIPE)"
    with pytest.raises(FileNotFoundError) as ranked:
        rank.load_episodes([missing])
    with pytest.raises(FileNotFoundError) as reported:
        data.load_results(missing)
    assert str(ranked.value) == str(reported.value) == said


def test_a_file_for_a_results_folder_names_the_verb(tmp_path):
    file = tmp_path / "episodes.parquet"
    file.write_text("x")
    with pytest.raises(NotADirectoryError, match=r"not a folder; glade rank takes results folders glade eval wrote$"):
        rank.load_episodes([file])
    with pytest.raises(NotADirectoryError) as reported:
        data.load_results(file)
    assert str(reported.value) == f"{file}: not a folder; glade report takes the results folder glade eval wrote"


def test_unreadable_parquet_reads_the_same_for_results_and_traces(tmp_path):
    table = tmp_path / "decisions.parquet"
    table.write_bytes(b"not parquet")
    with pytest.raises(ValueError) as results:
        results_folder.read_table(table)
    assert str(results.value).startswith(f"{table}: not a readable Parquet file (")
    shard = tmp_path / "traces" / "data" / "part-00000.parquet"
    shard.parent.mkdir(parents=True)
    shard.write_bytes(b"not parquet")
    with pytest.raises(ValueError) as traces:
        readable_shards(tmp_path / "traces")
    assert str(traces.value).startswith(f"{shard}: not a readable Parquet file (")
    assert str(traces.value).endswith("; rerun `glade generate` with the recipe that wrote it: it replays that shard")
    assert unreadable_parquet("f.parquet", "why") == "f.parquet: not a readable Parquet file (why)"


def test_resume_sentence_and_legend_heading_keep_their_words():
    assert rows.RESUME == "rerun the same command to resume: the finished worlds are kept"
    assert figures.LEGEND_RATIO_HEADING == "legend_ratio (price at settlement / before)"
    header, _ = render.table_rows(render.pd.DataFrame(columns=["scenario", "world", "legend_turn"]), {})
    assert figures.LEGEND_RATIO_HEADING in header


def test_renamed_types_say_what_they_are():
    assert [f for f in plots.Chart.__dataclass_fields__] == ["name", "title", "caption", "png"]
    assert [f for f in StandInFit.__dataclass_fields__] == ["live", "split", "fitted", "summary"]
    assert callable(recipe.check_turns_reach_legend)
    assert not hasattr(plots, "Figure") and not hasattr(recipe, "check_reach")
