"""glade flag and glade report on large results folders: pandas reads a Parquet column of more than 131,072 rows in
several Arrow chunks, and a row subset of such a column cost the whole table, once per flag (flag time grew with the
square of the run); and both verbs read every column whole (the prompts, answers and observations: most of the
table), so memory ran to 25-40x the Parquet size. The tables are now read one chunk a column, flag and report read
no observations and hold the prompts and answers as hashes, and the examples' texts are read for their rows alone.
None of it changes what they write, and a damaged cell in a column they read is still refused."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from glade.cli import main


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A small results folder with decision and outcome flags (a panic-selling and a random council), flagged."""
    from glade.eval.recipe import load_eval_recipe
    from glade.eval.run import run_recipe

    root = tmp_path_factory.mktemp("results_scale")
    data = {
        "name": "scale",
        "out": str(root / "results"),
        "policies": {
            "panic": {"kind": "standin", "disposition": "panic_seller"},
            "rnd": {"kind": "python", "entry_point": "tests.planted:random_trader", "kwargs": {"seed": 3}},
        },
        "councils": {"one": {"focal": {"*": "panic"}}, "two": {"focal": {"*": "rnd"}}},
        "scenarios": ["gambit_rumour"],
        "seeds": {"start": 500, "count": 6},
        "turns": 12,
    }
    (root / "recipe.yaml").write_text(yaml.safe_dump(data))
    run_recipe(load_eval_recipe(root / "recipe.yaml"))
    out = root / "results"
    assert main(["flag", str(out), "--top", "0"]) == 0
    return out


def _flags(folder) -> dict:
    data = json.loads((folder / "flags.json").read_text())
    data.pop("provenance")
    return data


def _chunked(results, tmp_path):
    """The folder with decisions.parquet rewritten in row groups of 50 rows: pandas reads each column in chunks."""
    out = tmp_path / "chunked"
    shutil.copytree(results, out)
    table = pq.read_table(out / "decisions.parquet")
    pq.write_table(table, out / "decisions.parquet", row_group_size=50)
    assert pd.read_parquet(out / "decisions.parquet")["episode_id"].array.__arrow_array__().num_chunks > 1
    return out


def test_flag_picks_its_examples_from_columns_of_one_chunk(results, tmp_path, monkeypatch):
    import glade.eval.flag_examples as examples

    made = []
    real = examples.combined

    def spy(frame):
        made.append(real(frame))
        return made[-1]

    monkeypatch.setattr(examples, "combined", spy)
    assert main(["flag", str(_chunked(results, tmp_path)), "--top", "0"]) == 0
    assert made
    for frame in made:
        arrow = [c for c in frame if isinstance(frame[c].array, pd.arrays.ArrowExtensionArray)]
        chunks = {c: frame[c].array.__arrow_array__().num_chunks for c in arrow}
        assert chunks and set(chunks.values()) == {1}, chunks


def test_the_flags_of_a_chunked_table_are_those_of_the_table_whole(results, tmp_path):
    flags = _flags(results)
    assert any(f["kind"] == "decision" for f in flags["flags"]) and any(f["kind"] == "outcome" for f in flags["flags"])
    assert all(f["examples"] for f in flags["flags"] if f["kind"] == "decision")
    out = _chunked(results, tmp_path)
    md = (results / "flags.md").read_text()
    assert main(["flag", str(out), "--top", "0"]) == 0
    assert _flags(out) == flags
    assert (out / "flags.md").read_text() == md


def test_flag_of_a_frame_read_whole_equals_flag_of_the_lean_read(results):
    """The API's flag() on a table read whole gives the examples the CLI's lean read gives."""
    from glade.eval.flags import flag
    from glade.eval.lean_tables import example_texts, read_lean
    from glade.eval.results_folder import read_table

    episodes = read_table(results / "episodes.parquet")
    whole = flag(read_table(results / "decisions.parquet"), episodes)
    lean = flag(
        read_lean(results / "decisions.parquet"),
        episodes,
        texts=lambda k: example_texts(results / "decisions.parquet", k),
    )
    assert whole.as_json() == lean.as_json()
    assert lean.flags and all("prompt" in e and len(e["prompt"]) > 50 for f in lean.flags for e in f["examples"])


@pytest.fixture
def reads(monkeypatch):
    """Every pandas read of a decisions table: (columns, filters)."""
    seen = []
    real = pd.read_parquet

    def spy(path, *args, **kwargs):
        if str(path).endswith("decisions.parquet"):
            seen.append((kwargs.get("columns"), kwargs.get("filters")))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(pd, "read_parquet", spy)
    return seen


LONG = {"prompt", "completion", "observation"}


def test_flag_reads_the_long_texts_only_for_its_examples(results, tmp_path, reads):
    out = tmp_path / "results"
    shutil.copytree(results, out)
    assert main(["flag", str(out), "--top", "0"]) == 0
    assert reads and all(columns is not None for columns, _ in reads), reads
    whole = [columns for columns, filters in reads if not filters]
    assert whole and all(not LONG & set(columns) for columns in whole), whole
    texts = [(columns, filters) for columns, filters in reads if filters]
    assert len(texts) == 1 and "observation" not in texts[0][0]
    episodes = set(pd.read_parquet(out / "episodes.parquet")["episode_id"])
    assert len(texts[0][1][0][2]) < len(episodes)  # the examples' episodes alone


def test_report_reads_no_long_text(results, tmp_path, reads):
    from glade.eval.report.data import load_results

    r = load_results(results)
    assert "observation" not in r.decisions.columns
    assert r.decisions["prompt"].dtype == "uint64" and r.decisions["completion"].dtype == "uint64"
    assert reads and all(columns is not None and not LONG & set(columns) for columns, _ in reads), reads


def _damaged(results, tmp_path, column: str, rows: list[int], text: str):
    out = tmp_path / "results"
    shutil.copytree(results, out)
    frame = pd.read_parquet(out / "decisions.parquet")
    for row in rows:
        frame.loc[row, column] = text
    frame.to_parquet(out / "decisions.parquet")
    return out, frame["episode_id"].iloc[min(rows)]


@pytest.mark.parametrize("verb", ["flag", "report"])
@pytest.mark.parametrize("column", ["action", "standin_action"])
def test_a_damaged_json_cell_is_still_refused_at_its_first_row(results, tmp_path, capsys, verb, column):
    """Each distinct text is parsed once now: the row named is still the first bad one, though it repeats."""
    out, episode = _damaged(results, tmp_path, column, [7, 3, 40], '{"orders": 5')
    capsys.readouterr()
    assert main([verb, str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {out}/decisions.parquet: row 3 (episode {episode}): {column} is not an action"), err


def test_a_table_without_observations_still_flags(results, tmp_path):
    """flag never needed the observations: a table without them (cut down by hand) flags alike."""
    out = tmp_path / "results"
    shutil.copytree(results, out)
    frame = pd.read_parquet(out / "decisions.parquet")
    frame.drop(columns=["observation"]).to_parquet(out / "decisions.parquet")
    assert main(["flag", str(out), "--top", "0"]) == 0
    assert _flags(out) == _flags(results)


def test_the_sign_flip_test_takes_more_than_1023_seeds():
    """Its smallest attainable p, 2 / 2**k, overflowed a float past 1,023 differing pairs (an OverflowError out of
    glade flag on a run of 1,024 seeds or more); it is the same number below that."""
    import numpy as np

    from glade.eval.fdr import DRAWS, sign_flip

    p, p_min = sign_flip(np.ones(1500), draws=200)
    assert p == 1 / 201 and p_min == 1 / 201
    assert sign_flip(np.ones(15))[1] == max(2.0 / 2**15, 1 / (DRAWS + 1))
