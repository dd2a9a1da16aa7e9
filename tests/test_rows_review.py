"""The results as rows: every column the eval tables, the simulate trace and the traces card
write is documented (and every documented one written), with one type whatever the run
played, and each file says which rules and prompt made it."""

from __future__ import annotations

import json
import math

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from glade.cli import main
from glade.env.protocol import PROTOCOL_VERSION
from glade.env.scenario import load_scenario
from glade.eval import run as eval_run
from glade.eval.recipe import load_eval_recipe
from glade.eval.rows import DECISION_COLUMNS, EPISODE_COLUMNS, PlannedWorld, episode_rows
from glade.rollout import ROW_COLUMNS, run_episode
from glade.shard_spool import DATASET_COLUMNS
from glade.traces_card import COLUMNS as CARD_COLUMNS
from tests.resume_setup import eval_recipe


def documented(columns: dict, goods) -> set[str]:
    """The column names a {"a / b": meaning} table documents, `<good>` once per good."""
    names = {n.strip() for key in columns for n in key.split(" / ")}
    return {n.replace("<good>", g) for n in names for g in goods} | {n for n in names if "<good>" not in n}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rows")
    recipe = load_eval_recipe(
        eval_recipe(tmp, councils={"pair": {"focal": {"oona": "panic", "thorn": "panic"}}}, attribution=True)
    )
    eval_run.write_results(recipe, eval_run.evaluate(recipe))
    return recipe.out


def test_every_decision_column_written_is_documented_and_every_documented_one_written(results):
    goods = list(load_scenario("gambit_override").goods)
    written = set(pd.read_parquet(f"{results}/decisions.parquet").columns)
    # dir_/standin_dir_/qty_/standin_qty_<good> were written but left out of DECISION_COLUMNS
    assert written == documented(DECISION_COLUMNS, goods)


def test_every_episode_and_attribution_column_is_documented(results):
    episodes = set(pd.read_parquet(f"{results}/episodes.parquet").columns)
    attribution = set(pd.read_parquet(f"{results}/attribution.parquet").columns)
    names = documented(EPISODE_COLUMNS, [])
    assert episodes == names - {"left_out"}  # left_out: attribution.parquet only
    assert attribution == names


def test_the_rows_agree_across_files(results):
    decisions = pd.read_parquet(f"{results}/decisions.parquet")
    episodes = pd.read_parquet(f"{results}/episodes.parquet")
    summary = json.loads(open(f"{results}/summary.json").read())
    focal = episodes[episodes["focal"]].set_index(["episode_id", "creature"])
    per_seat = decisions.groupby(["episode_id", "creature"]).agg(n=("turn", "size"), change=("wealth_change", "sum"))
    joined = focal.join(per_seat, how="outer")
    assert (joined["n"] == joined["turns"]).all()  # one decision per live seat per turn played
    assert joined["change"].to_numpy() == pytest.approx(joined["wealth_change"].to_numpy())
    assert summary["decisions"] == len(decisions)
    assert summary["scenario_hashes"] == episodes.groupby("scenario")["scenario_hash"].first().to_dict()
    assert {summary["protocol_version"]} == set(decisions["protocol_version"]) == {PROTOCOL_VERSION}
    assert {"glade_version", "git_commit"} <= set(summary)


def test_a_figure_that_does_not_apply_is_a_null_double_not_a_column_of_type_null():
    # no gambit in the default scenario, and its legend (turn 12) after the 3 turns played:
    # None in every row made Parquet columns of type null, and double in the runs that had them
    s = load_scenario("default", turns=3)
    played = run_episode(s, seed=1)
    w = PlannedWorld("default.standin.s1", "default.s1", "default", "standin", 0, 1, {})
    rows = episode_rows(w, s, played.rows, played.history)
    assert all(math.isnan(r[c]) for r in rows for c in ("gambit_pnl", "legend_ratio", "seam_ratio"))
    table = pa.Table.from_pandas(pd.DataFrame(rows))
    for column in ("gambit_pnl", "legend_ratio", "seam_ratio"):
        assert table.schema.field(column).type == pa.float64()
        assert table.column(column).null_count == len(rows)  # NaN is written as null: "empty"


def test_simulate_summary_and_trace_say_which_glade_and_prompt_played(tmp_path):
    out = tmp_path / "sim"
    assert main(["simulate", "--scenario", "default", "--seed", "2", "--turns", "2", "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["protocol_version"] == PROTOCOL_VERSION
    assert {"glade_version", "git_commit", "git_dirty"} <= set(summary)
    meta = json.loads(pq.read_schema(out / "trace.parquet").metadata[b"glade"])
    assert meta["scenario_hash"] == summary["scenario_hash"] == load_scenario("default", turns=2).hash()
    assert meta["protocol_version"] == PROTOCOL_VERSION and meta["seed"] == 2
    # and a rerun into the same folder still takes it for its own episode
    assert main(["simulate", "--scenario", "default", "--seed", "3", "--turns", "2", "--out", str(out), "--quiet"]) == 0


def test_the_traces_card_documents_exactly_the_dataset_columns():
    card = {n.strip() for key in CARD_COLUMNS for n in key.split(" / ")}
    assert card == set(DATASET_COLUMNS)
    assert set(DATASET_COLUMNS) < set(ROW_COLUMNS)


def test_a_column_with_no_value_in_a_run_keeps_its_type(tmp_path):
    """decisions.parquet's `error` was type null in a run without errors (string in one with):
    two runs' files then did not read as one table."""
    import pyarrow.parquet as pq

    from glade.eval import run as eval_run

    frame = pd.DataFrame({"episode_id": ["a", "b"], "error": [None, None], "legend_turn": [None, None]})
    eval_run._write(frame, tmp_path / "rows.parquet")
    schema = pq.read_schema(tmp_path / "rows.parquet")
    assert str(schema.field("error").type) == "string" and str(schema.field("legend_turn").type) == "int64"


def test_flags_and_rank_files_say_which_glade_wrote_them(tmp_path, monkeypatch):
    import json

    from glade.env.protocol import PROTOCOL_VERSION
    from glade.eval import flags
    from glade.eval.flags import Flagging, write_flags
    from glade.eval.rank import rank

    monkeypatch.setattr(flags, "markdown", lambda flagging, top: "")  # flags.md is not what is tested
    flags_json, _ = write_flags(Flagging(method={}, excluded={}, families=[], flags=[], cells=[]), tmp_path)
    assert json.loads(flags_json.read_text())["provenance"]["protocol_version"] == PROTOCOL_VERSION
    rows = [
        {"episode_id": f"e{s}{p}", "scenario": "s", "scenario_hash": "h", "seed": s, "creature": "c1", "world": "council",
         "focal": True, "policy": p, "wealth_change": v, "council": "k", "cast": 0}
        for s in range(4) for p, v in (("a", 2.0), ("b", 1.0))
    ]  # fmt: skip
    (tmp_path / "r").mkdir()
    pd.DataFrame(rows).to_parquet(tmp_path / "r" / "episodes.parquet")
    assert rank([tmp_path / "r"], resamples=10)["provenance"]["glade_version"]
