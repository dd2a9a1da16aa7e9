"""A traces folder written back through pandas or edited by hand: `glade train` and `glade lm-eval`
name the shard, the row and the column before they read it (they failed as a KeyError or a
TypeError deep inside, `glade train` at times after its steps had run)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from glade.cli import main
from glade.eval.lm_docs import trace_rows
from glade.trace_cells import TRAIN_NEEDS
from glade.traces import GenerateRecipe, generate, load_traces
from glade.train.tiny import save_tiny

REGENERATE = "regenerate the folder with the `glade generate` recipe that wrote it"


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cells")
    generate(
        GenerateRecipe(
            out=str(root / "traces"), scenarios=("default",), councils={"h": {"*": "hoarder"}}, turns=2, worlds=3
        )
    )
    return root


def edited(made: Path, tmp_path: Path, change) -> tuple[Path, str]:
    """A copy of the traces folder with its last shard changed; (folder, that shard)."""
    folder = tmp_path / "edited"
    shutil.copytree(made / "traces", folder)
    shard = sorted((folder / "data").glob("*.parquet"))[-1]
    pq.write_table(change(pq.read_table(shard)), shard)
    return folder, str(shard)


def cell(column: str, row: int, value):
    def change(table: pa.Table) -> pa.Table:
        values = table[column].to_pylist()
        values[row] = value
        at = table.schema.get_field_index(column)
        return table.set_column(at, column, pa.array(values, table.schema.field(column).type))

    return change


USER = {"role": "user", "content": "Your action as JSON:"}


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (
            lambda t: t.drop(["messages"]),
            ": no messages column, which glade train reads (a column dropped on the way?); ",
        ),
        (cell("action", 0, None), ": row 0 (episode default.h.s3, turn 0): action is null, which glade train reads; "),
        (cell("seed", 1, None), ": row 1 (episode default.h.s3, turn 0): seed is null, which glade train reads; "),
        (
            cell("messages", 2, None),
            ": row 2 (episode default.h.s3, turn 0): messages is null, which glade train reads;",
        ),
        (cell("messages", 2, []), ": row 2 (episode default.h.s3, turn 0): messages is not a conversation with a user"),
        (
            cell("messages", 3, [{"role": "system", "content": "x"}]),
            ": row 3 (episode default.h.s3, turn 0): messages is not",
        ),
        (
            cell("messages", 4, [{"role": "user", "content": None}]),
            ": row 4 (episode default.h.s3, turn 0): messages is not",
        ),
        (
            cell("messages", 4, [{"role": None, "content": "x"}, USER]),
            ": row 4 (episode default.h.s3, turn 0): messages is not",
        ),
    ],
)
def test_a_cell_train_reads_that_is_missing_or_null_is_named_by_shard_row_and_column(made, tmp_path, change, said):
    folder, shard = edited(made, tmp_path, change)
    with pytest.raises(ValueError) as info:
        load_traces(folder, TRAIN_NEEDS, "glade train")
    assert str(info.value).startswith(shard + said) and str(info.value).endswith(REGENERATE)


def test_an_error_cell_may_be_null_and_an_unedited_folder_passes(made, tmp_path):
    rows = load_traces(made / "traces", TRAIN_NEEDS, "glade train")
    assert len(rows) == 40 and rows["error"].count(None) == 40
    folder, _ = edited(made, tmp_path, cell("completion", 0, None))  # a column no reader named: left as it is
    assert len(load_traces(folder, TRAIN_NEEDS, "glade train")) == 40


def test_glade_train_names_the_cell_before_it_trains(made, tmp_path, capsys):
    folder, shard = edited(made, tmp_path, cell("rejected", 5, None))
    save_tiny(tmp_path / "base")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "name": "cells",
                "output_root": str(tmp_path / "checkpoints"),
                "model": {"base": str(tmp_path / "base")},
                "data": {"traces": [str(folder)]},
                "lora": {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj"]},
                "sft": {"bf16": False, "use_cpu": True, "report_to": "none", "max_steps": 2},
            }
        )
    )
    assert main(["train", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert f"error: {shard}: row 5 (episode default.h.s3, turn 1): rejected is null, which glade train reads" in err
    assert not list((tmp_path / "checkpoints").glob("cells__*"))  # nothing trained, nothing kept


def test_lm_eval_names_a_null_observation_of_its_traces(made, tmp_path):
    folder, shard = edited(made, tmp_path, cell("observation", 7, None))
    with pytest.raises(
        ValueError, match=rf"^{shard}: row 7 \(episode default.h.s3, turn 1\): observation is null, which glade lm-eval"
    ):
        trace_rows([folder])
    assert len(trace_rows([made / "traces"])) == 40
