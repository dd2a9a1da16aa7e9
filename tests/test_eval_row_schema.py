"""glade eval's tables have one Arrow schema whatever the run played and whichever pandas wrote them, say what each
column means and which glade made them, are listed in the README, and resume from the shards of an older glade."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from glade.env.protocol import PROTOCOL_VERSION
from glade.eval import run as eval_run
from glade.eval.columns import DECISION_COLUMNS, EPISODE_COLUMNS, EVERY_COLUMN, column_of, readme_columns
from glade.eval.recipe import load_eval_recipe
from tests.resume_setup import eval_recipe, interrupt_second_batch

ROOT = Path(__file__).resolve().parents[1]
TABLES = {"decisions": DECISION_COLUMNS, "episodes": EPISODE_COLUMNS, "attribution": EPISODE_COLUMNS}
PAIR = {"pair": {"focal": {"oona": "panic", "thorn": "panic"}}}  # two focal seats: attribution replays them


def played(root: Path, **changes) -> Path:
    """The results folder of a small eval (two focal seats, attribution on) in `root`."""
    root.mkdir(parents=True, exist_ok=True)
    recipe = load_eval_recipe(eval_recipe(root, councils=PAIR, attribution=True, **changes))
    eval_run.write_results(recipe, eval_run.evaluate(recipe))
    return Path(recipe.out)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A run with a legend (gambit_override) and one without (the default Wood with its legend taken out)."""
    root = tmp_path_factory.mktemp("schema")
    wood = yaml.safe_load((ROOT / "recipes" / "scenarios" / "default.yaml").read_text())
    (root / "quiet.yaml").write_text(yaml.safe_dump({**wood, "name": "quiet", "legends": []}, sort_keys=False))
    return {
        "legend": played(root / "legend"),
        "no_legend": played(root / "quiet", scenarios=[str(root / "quiet.yaml")], turns=3),
    }


@pytest.mark.parametrize("table", sorted(TABLES))
def test_a_run_with_a_legend_and_one_without_write_one_schema_that_concatenates(runs, table):
    # legend_turn was int64 with a legend and double without; text large_string under pandas 3
    schemas = {name: pq.read_schema(folder / f"{table}.parquet") for name, folder in runs.items()}
    assert schemas["legend"].equals(schemas["no_legend"], check_metadata=False)
    assert not [f.name for f in schemas["legend"] if pa.types.is_large_string(f.type)]
    if table != "decisions":
        assert schemas["no_legend"].field("legend_turn").type == pa.int64()
    both = pa.concat_tables([pq.read_table(folder / f"{table}.parquet") for folder in runs.values()])
    assert both.num_rows == sum(pq.read_metadata(folder / f"{table}.parquet").num_rows for folder in runs.values())


def test_the_written_types_do_not_depend_on_how_pandas_held_the_rows(tmp_path):
    # pandas 2 holds text as object (string in Parquet), pandas 3 as str (large_string); a figure that was a
    # whole number in every row of a run (gambit_pnl 0) or a count with a good missing (NaN) changed type too
    rows = {"episode_id": ["a", "b"], "error": [None, "bad"], "qty_honey": [1.0, None], "gambit_pnl": [0, 2]}
    held = {
        "object": pd.DataFrame(rows).astype({"episode_id": object, "error": object}),
        "arrow": pd.DataFrame(rows).astype({"episode_id": "string[pyarrow]", "error": "string[pyarrow]"}),
        "large": pd.DataFrame(rows).astype({"episode_id": pd.ArrowDtype(pa.large_string())}),
    }
    for name, frame in held.items():
        eval_run._write(frame, tmp_path / f"{name}.parquet", EVERY_COLUMN)
    schemas = [pq.read_schema(tmp_path / f"{name}.parquet") for name in held]
    assert all(s.equals(schemas[0], check_metadata=True) for s in schemas)
    assert [str(f.type) for f in schemas[0]] == ["string", "string", "int64", "double"]
    assert pq.read_table(tmp_path / "object.parquet").to_pydict()["qty_honey"] == [1, None]  # the value kept


def test_a_column_no_longer_documented_keeps_its_rows_as_string_not_large_string(tmp_path):
    # a shard an older glade wrote may hold a column since dropped: resumed, its rows are kept
    frame = pd.DataFrame({"episode_id": ["a"], "dropped": ["x"], "empty": [None]}).astype({"dropped": "str"})
    eval_run._write(frame, tmp_path / "t.parquet", EPISODE_COLUMNS)
    schema = pq.read_schema(tmp_path / "t.parquet")
    assert (schema.field("dropped").type, schema.field("empty").type) == (pa.string(), pa.string())


def test_a_name_in_both_tables_has_one_type():
    shared = set(DECISION_COLUMNS) & set(EPISODE_COLUMNS)
    assert "protocol_version" in shared and "wealth_change" in shared
    assert {n: DECISION_COLUMNS[n].kind for n in shared} == {n: EPISODE_COLUMNS[n].kind for n in shared}
    assert {EVERY_COLUMN[n].kind for n in EVERY_COLUMN} <= {"string", "int64", "double", "bool"}


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_column_carries_its_meaning_and_the_table_which_glade_made_it(runs, table):
    path = runs["legend"] / f"{table}.parquet"
    schema = pq.read_schema(path)
    for f in schema:
        assert f.metadata[b"description"].decode() == column_of(f.name, TABLES[table]).meaning, f.name
    assert schema.field("qty_honey" if table == "decisions" else "legend_turn").metadata[b"description"]
    made = json.loads(schema.metadata[b"glade"])
    summary = json.loads((runs["legend"] / "summary.json").read_text())
    assert made["protocol_version"] == PROTOCOL_VERSION and made["recipe"] == "t"
    assert made["scenario_hashes"] == summary["scenario_hashes"] and list(made["scenario_hashes"]) == [
        "gambit_override"
    ]
    assert {k: made[k] for k in ("glade_version", "git_commit", "git_dirty")} == {
        k: summary[k] for k in ("glade_version", "git_commit", "git_dirty")
    }
    assert b"pandas" not in schema.metadata  # what pandas held is not the file's to say


def test_episode_rows_say_their_prompt_protocol(runs):
    for name in ("episodes", "attribution"):
        table = pd.read_parquet(runs["legend"] / f"{name}.parquet")
        assert set(table["protocol_version"]) == {PROTOCOL_VERSION}, name


def readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    found = re.search(r"^#+ The columns of the results tables\n(.*?)(?=^#|\Z)", text, re.S | re.M)
    assert found, 'README.md has no section "The columns of the results tables"'
    return found.group(1)


@pytest.mark.parametrize("columns", [DECISION_COLUMNS, EPISODE_COLUMNS], ids=["decisions", "episodes"])
def test_the_readme_lists_every_documented_column(columns):
    section = readme_section()
    missing = [name for name in columns if f"`{name}`" not in section]  # a per-good one as its pattern: `qty_<good>`
    assert not missing, f"README.md's columns section lacks {missing}: paste glade.eval.columns.readme_columns()"


def test_the_readme_list_is_generated_whole():
    listed = readme_columns()
    assert "| `legend_turn` | int64 |" in listed and "| `qty_<good>` | int64 |" in listed
    assert listed.count("| --- | --- | --- |") == 2  # decisions.parquet's table, then episodes.parquet's
    assert listed in readme_section(), "README.md's columns section is stale: paste glade.eval.columns.readme_columns()"


def test_a_run_resumes_from_the_shards_an_older_glade_wrote(tmp_path, monkeypatch):
    # an older glade's shards: text large_string (pandas 3), legend_turn double, episode rows with no protocol_version
    path = eval_recipe(tmp_path, councils=PAIR, attribution=True)
    restore = interrupt_second_batch(monkeypatch, eval_run)
    with pytest.raises(KeyboardInterrupt):
        eval_run.evaluate(load_eval_recipe(path))
    restore()
    shards = sorted((tmp_path / "results" / "shards").glob("*.parquet"))
    assert shards
    for shard in shards:
        table = pq.read_table(shard)
        if "protocol_version" in table.column_names and not shard.name.startswith("decisions"):
            table = table.drop_columns(["protocol_version"])
        older = [
            pa.field(
                f.name,
                pa.large_string() if f.type == pa.string() else pa.float64() if f.name == "legend_turn" else f.type,
            )
            for f in table.schema
        ]
        pq.write_table(table.cast(pa.schema(older)), shard)
    recipe = load_eval_recipe(path)
    result = eval_run.evaluate(recipe)
    assert 0 < result.played_now < result.worlds
    eval_run.write_results(recipe, result)
    fresh = played(tmp_path / "fresh")
    for name in TABLES:
        resumed = tmp_path / "results" / f"{name}.parquet"
        assert pq.read_schema(resumed).equals(pq.read_schema(fresh / f"{name}.parquet"), check_metadata=False)
        pd.testing.assert_frame_equal(pd.read_parquet(resumed), pd.read_parquet(fresh / f"{name}.parquet"))


def test_the_report_names_replays_copied_in_from_another_folder(runs, tmp_path, capsys):
    """attribution.parquet copied over from another results folder was counted as this folder's replays."""
    import shutil

    from glade.cli import main
    from glade.eval.report.data import load_results

    out = tmp_path / "results"
    shutil.copytree(runs["legend"], out)
    shutil.copy(runs["no_legend"] / "attribution.parquet", out / "attribution.parquet")
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err
    stray = sorted(pd.read_parquet(out / "attribution.parquet")["episode_id"])[0].rsplit(".without-", 1)[0]
    assert err.startswith(f"error: {out / 'attribution.parquet'}: holds replays of ")
    assert f"world(s) that episodes.parquet does not hold (first {stray}; copied from another results folder?)" in err
    shutil.copy(runs["legend"] / "attribution.parquet", out / "attribution.parquet")
    assert len(load_results(out).attribution) == len(pd.read_parquet(out / "attribution.parquet"))  # its own
