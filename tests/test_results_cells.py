"""A results table with an empty cell where glade eval always writes one (a table written back
through pandas, a hand edit) is refused by every verb that reads it, naming the table, the row,
its episode and the column, and saying how to rebuild it; calibrate raised a TypeError from
deep inside, flag and rank dropped the row from their means without a word."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from glade.cli import main
from glade.eval.results_folder import NEVER_NULL, read_table
from tests.test_calibrate_readers import results  # noqa: F401  (a fixture: a small results folder)
from tests.test_calibrate_review import traces  # noqa: F401  (a fixture: a small traces dataset)


def argv(verb: str, out, tmp_path) -> list[str]:
    """The command line of a verb that reads the results folder `out`."""
    more = ["--policy", "panic", "--out", str(tmp_path / "fit.yaml"), "--no-outcome"] if verb == "calibrate" else []
    return [verb, str(out), *more]


def emptied(folder, tmp_path, table: str, column: str, row: int):
    out = tmp_path / "results"
    shutil.copytree(folder, out)
    path = out / f"{table}.parquet"
    frame = pd.read_parquet(path)
    episode = frame["episode_id"].iloc[row]
    frame[column] = frame[column].astype(object)
    frame.loc[row, column] = None
    frame.to_parquet(path)
    return out, episode


@pytest.mark.parametrize(
    ("table", "column", "row", "verbs"),
    [
        ("decisions", "action", 5, ("flag", "report", "calibrate")),
        ("decisions", "seed", 0, ("flag", "calibrate")),
        ("decisions", "agreement", 3, ("flag", "report")),
        ("episodes", "wealth_change", 2, ("flag", "report", "rank")),
        ("episodes", "price_path", 1, ("flag", "rank")),
    ],
)
def test_an_empty_cell_is_named_by_every_verb_that_reads_it(results, tmp_path, capsys, table, column, row, verbs):  # noqa: F811
    out, episode = emptied(results, tmp_path, table, column, row)
    for verb in verbs:
        assert main(argv(verb, out, tmp_path)) == 2, verb
        err = capsys.readouterr().err.strip()
        assert err.startswith(
            f"error: {out / table}.parquet: row {row} (episode {episode}) has no {column} (an empty cell; "
            "glade writes one in every row); rerun `glade eval` with the recipe that wrote this folder"
        ), (verb, err)
    assert (
        not (out / "flags.json").exists()
        and not (out / "report.html").exists()
        and not (tmp_path / "fit.yaml").exists()
    )


def test_the_cells_glade_eval_may_leave_empty_are_read(results, tmp_path):  # noqa: F811
    """`error` is null where a decision had none, gambit_pnl and the legend figures where a world has none."""
    out, _ = emptied(results, tmp_path, "decisions", "error", 0)
    assert read_table(out / "decisions.parquet")["error"].isna().all()
    assert main(["flag", str(out)]) == 0


def test_every_row_glade_eval_writes_fills_what_it_always_fills(results):  # noqa: F811
    for table in ("decisions", "episodes"):
        frame = pd.read_parquet(results / f"{table}.parquet")
        filled = [c for c in frame.columns if not frame[c].isna().any()]
        assert NEVER_NULL & set(frame.columns) <= set(filled), table


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (lambda s: s.__setitem__("cost", "x"), "cost must be an object, not a text"),
        (lambda s: s["cost"].__setitem__("prompt_tokens", 1.5), "cost.prompt_tokens must be an integer, not a number"),
        (lambda s: s["cost"]["seats"]["panic"].__setitem__("decisions", "x"), "cost.seats.panic.decisions must be an integer, not a text"),
        (lambda s: s["faults"].__setitem__("panic", []), "faults.panic must be an object, not a list"),
        (lambda s: s["faults"]["panic"]["faults"].__setitem__("server_refused", "3"), "faults.panic.faults must count each kind of fault in an integer"),
    ],
)  # fmt: skip
def test_a_hand_edited_run_record_in_summary_json_is_named(results, tmp_path, capsys, edit, said):  # noqa: F811
    """The report prints summary.json's cost and seat faults: a hand edit there was a TypeError mid-report."""
    out = tmp_path / "results"
    shutil.copytree(results, out)
    summary = json.loads((out / "summary.json").read_text())
    edit(summary)
    (out / "summary.json").write_text(json.dumps(summary))
    for verb in ("report", "flag"):
        assert main([verb, str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: {out / 'summary.json'}: {said} (glade eval never writes that); move it aside"), (
            err
        )
    assert not (out / "report.html").exists() and not (out / "flags.json").exists()
    (out / "summary.json").unlink()  # as the error says: the tables read without it
    assert main(["report", str(out)]) == 0


def test_a_run_record_as_glade_eval_writes_it_passes():
    """A cost of null (nothing played this run) and a Ray run's cluster record are glade eval's own."""
    from glade.eval.results_folder import wrong_run_record

    seat = {"decisions": 8, "faults": {"server_refused": 1}, "fault_share": 0.125, "shared": 0, "prompt_tokens": 10}
    seat |= {"completion_tokens": 5, "model_seconds": 0.5, "decisions_per_s": None}
    cost = {"episodes": 2, "decisions": 8, "faults": 1, "prompt_tokens": 10, "completion_tokens": 5, "shared": 0}
    cost |= {"wall_seconds": 1.0, "play_seconds": 0.5, "model_share": 0.0, "episodes_per_s": None, "kept": True}
    cost |= {"cluster": {"nodes": 2, "cpus": 4.0, "gpus": 0.0}, "seats": {"m": seat}}
    faults = {"m": {"decisions": 8, "faults": {"server_refused": 1}, "fault_share": 0.125}}
    assert wrong_run_record({"recipe": "r", "worlds": 2, "cost": None, "faults": faults}) is None
    assert wrong_run_record({"recipe": "r", "worlds": 2, "cost": cost, "faults": faults}) is None
    assert (
        wrong_run_record({"recipe": "r", "worlds": 2, "cost": {**cost, "faults": [1]}})
        == "cost.faults must be an integer, not a list"
    )
    cluster = {**cost, "cluster": {"nodes": "2", "cpus": 4.0}}
    assert (
        wrong_run_record({"recipe": "r", "worlds": 2, "cost": cluster})
        == "cost.cluster.nodes must be an integer, not a text"
    )


def test_an_empty_cell_in_a_traces_shard_says_to_regenerate_it(traces, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "traces"
    shutil.copytree(traces, out)
    shard = sorted((out / "data").glob("*.parquet"))[0]
    frame = pd.read_parquet(shard)
    frame["action"] = frame["action"].astype(object)
    frame.loc[2, "action"] = None
    frame.to_parquet(shard)
    policy = frame["policy"].iloc[0]
    argv = ["calibrate", str(out), "--policy", policy, "--out", str(tmp_path / "fit.yaml"), "--no-outcome"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {shard}: row 2 (episode ") and "has no action (an empty cell" in err
    assert err.endswith("regenerate the folder with the `glade generate` recipe that wrote it"), err


@pytest.mark.parametrize(
    ("table", "column", "how", "said"),
    [
        ("episodes", "seed", "text", "column seed holds text, not the numbers glade writes there"),
        ("decisions", "agreement", "text", "column agreement holds text, not the numbers glade writes there"),
        ("episodes", "wealth_change", "inf", "row 3 has an infinite wealth_change (glade writes a finite one)"),
    ],
)
def test_numbers_saved_as_text_or_an_infinite_cell(results, tmp_path, capsys, table, column, how, said):  # noqa: F811
    """A table saved from a spreadsheet (numbers as text) was a TypeError in rank and report; an
    infinite wealth change won every comparison of the leaderboard without a word."""
    out = tmp_path / "results"
    shutil.copytree(results, out)
    frame = pd.read_parquet(out / f"{table}.parquet")
    if how == "text":
        frame[column] = frame[column].astype(str)
    else:
        frame.loc[3, column] = float("inf")
    frame.to_parquet(out / f"{table}.parquet")
    for verb in ("flag", "report", "rank") if table == "episodes" else ("flag", "report"):
        assert main([verb, str(out)]) == 2, verb
        assert capsys.readouterr().err.startswith(f"error: {out / table}.parquet: {said}; rerun `glade eval`")


def test_rank_names_a_summary_whose_recipe_is_no_name(results, tmp_path, capsys):  # noqa: F811
    """rank labels each folder's councils by its recipe's name: one of another type lost them from the board."""
    out = tmp_path / "results"
    shutil.copytree(results, out)
    summary = json.loads((out / "summary.json").read_text())
    (out / "summary.json").write_text(json.dumps({**summary, "recipe": {"a": 1}}))
    assert main(["rank", str(out)]) == 2
    assert capsys.readouterr().err.startswith(
        f"error: {out / 'summary.json'}: recipe must be a text, not an object (glade eval never writes that)"
    )


@pytest.mark.parametrize(
    ("table", "column", "text", "said", "verbs"),
    [
        ("episodes", "price_path", '{"honey": [10.0, 9.', "price_path is not an object of price lists by good", ("flag", "report", "rank")),
        ("episodes", "price_path", "[1, 2]", "price_path is not an object of price lists by good", ("flag", "rank")),
        ("episodes", "price_path", '{"honey": [10.0, NaN]}', "price_path is not an object of price lists by good", ("rank",)),
        ("episodes", "start_prices", '{"honey": Infinity}', "start_prices is not an object of prices by good", ("report",)),
        ("episodes", "start_prices", '{"honey": "ten"}', "start_prices is not an object of prices by good", ("report",)),
        ("decisions", "action", "[]", "action is not an action, an object with a list of orders", ("flag", "calibrate")),
        ("decisions", "standin_action", "null", "standin_action is not an action, an object with a list of orders", ("report",)),
    ],
)  # fmt: skip
def test_json_not_as_glade_writes_it(results, tmp_path, capsys, table, column, text, said, verbs):  # noqa: F811
    """JSON cut short gave `error: Expecting ',' delimiter` naming no file; valid JSON of another shape a traceback."""
    out = tmp_path / "results"
    shutil.copytree(results, out)
    frame = pd.read_parquet(out / f"{table}.parquet")
    frame.loc[2, column] = text
    frame.to_parquet(out / f"{table}.parquet")
    episode = frame["episode_id"].iloc[2]
    for verb in verbs:
        assert main(argv(verb, out, tmp_path)) == 2, verb
        err = capsys.readouterr().err
        assert err.startswith(
            f"error: {out / table}.parquet: row 2 (episode {episode}): {said}, as glade writes it; "
        ), err


def test_calibrate_names_an_observation_that_is_not_glades(results, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "results"
    shutil.copytree(results, out)
    frame = pd.read_parquet(out / "decisions.parquet")
    frame.loc[0, "observation"] = frame.loc[0, "observation"][:60]  # cut short
    frame.to_parquet(out / "decisions.parquet")
    argv = ["calibrate", str(out), "--policy", "panic", "--out", str(tmp_path / "fit.yaml"), "--no-outcome"]
    assert main(argv) == 2
    where = f"episode {frame['episode_id'][0]}, turn {frame['turn'][0]}, {frame['creature'][0]}"
    assert capsys.readouterr().err.startswith(
        f"error: {out / 'decisions.parquet'}: the observation of {where} is not the one glade writes (an object of prices, "
    )


def test_rank_reads_a_ledger_whose_focal_seat_is_a_list_as_no_ledger(results, tmp_path):  # noqa: F811
    """A focal seat edited into a list in progress.json was `unhashable type: 'list'` from `rank --outcome team`."""
    out = tmp_path / "results"
    shutil.copytree(results, out)
    ledger = json.loads((out / "progress.json").read_text())
    ledger["recipe"]["councils"]["one"]["focal"] = {"*": ["panic"]}
    (out / "progress.json").write_text(json.dumps(ledger))
    assert main(["rank", str(out), "--outcome", "team", "--out", str(tmp_path / "rank.json")]) == 0
    assert json.loads((tmp_path / "rank.json").read_text())["outcome"] == "team"
