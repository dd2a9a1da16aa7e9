"""A finished traces folder is read as its ledger lists it: a shard copied into data/ (or left by
a second run) would be read as more episodes, and one lost as fewer, so both are named."""

import shutil

import pytest

from glade.traces import GenerateRecipe, generate, load_traces


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    out = tmp_path_factory.mktemp("t") / "traces"
    generate(GenerateRecipe(out=str(out), councils={"h": {"*": "hoarder"}}, turns=2, worlds=2))
    return out


def test_a_shard_the_ledger_does_not_list_is_named_not_read(traces, tmp_path):
    folder = shutil.copytree(traces, tmp_path / "copy")
    assert len(load_traces(folder)) == 4 * 2 * 5  # 4 seeds, 2 turns, 5 creatures
    shutil.copy(folder / "data" / "part-00000.parquet", folder / "data" / "part-00000-copy.parquet")
    with pytest.raises(ValueError) as raised:
        load_traces(folder)
    assert str(raised.value) == (
        f"{folder}/data/part-00000-copy.parquet: a shard the folder's ledger (progress.json) does not list; move it out of data/"
    )


def test_a_listed_shard_that_is_gone_is_named(traces, tmp_path):
    folder = shutil.copytree(traces, tmp_path / "copy")
    (folder / "data" / "part-00001.parquet").unlink()
    with pytest.raises(ValueError) as raised:
        load_traces(folder)
    assert str(raised.value) == (
        f"{folder}/data/part-00001.parquet: listed in the folder's ledger (progress.json) but not there; rerun the "
        "`glade generate` command that wrote the folder: it plays those episodes again"
    )
    generate(GenerateRecipe(out=str(folder), councils={"h": {"*": "hoarder"}}, turns=2, worlds=2))
    assert len(load_traces(folder)) == 4 * 2 * 5  # as it says
