"""`glade generate`: rows, schema, dataset card, and resume after an interruption."""

import json
import re

import pytest
import yaml
from datasets import load_dataset

from glade import traces as gen
from glade.config import ConfigError, load_recipe
from glade.env.protocol import PROTOCOL_VERSION
from glade.env.scenario import load_scenario

SCHEMA = {
    "episode_id",
    "scenario",
    "scenario_hash",
    "seed",
    "turn",
    "creature",
    "seat",
    "policy",
    "protocol_version",
    "messages",
    "observation",
    "completion",
    "action",
    "error",
    "repaired",
    "self_buy",
    "standin_action",
    "standin_disposition",
    "latency_s",
    "prompt_tokens",
    "completion_tokens",
    "rejected",
    "fills",
    "pebbles",
    "wealth_before",
    "wealth_after",
    "wealth_change",
    "mood",
}


def recipe(tmp_path, **changes):
    data = {
        "out": str(tmp_path / "traces"),
        "scenarios": ["default", "gambit_override"],
        "councils": {"scenario": {}, "hoarders": {"*": {"kind": "standin", "disposition": "hoarder"}}},
        "seeds": {"start": 3, "count": 2},
        "turns": 4,
        "worlds": 3,
        **changes,
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_recipe(gen.GenerateRecipe, path)


def test_rows_schema_and_card(tmp_path):
    r = recipe(tmp_path)
    summary = gen.generate(r)
    assert summary["episodes"] == 2 * 2 * 2 and summary["played_now"] == 8
    ds = load_dataset("parquet", data_dir=str(tmp_path / "traces" / "data"), split="train")
    assert len(ds) == 8 * 4 * 5  # episodes x turns x creatures
    assert set(ds.column_names) == SCHEMA
    row = ds[0]
    assert row["protocol_version"] == PROTOCOL_VERSION
    assert row["messages"][0]["role"] == "system" and row["messages"][1]["role"] == "user"
    hashes = {load_scenario(n, turns=4).hash() for n in ("default", "gambit_override")}
    assert set(ds["scenario_hash"]) == hashes
    hoarder_rows = ds.filter(lambda x: x["episode_id"].startswith("default.hoarders."))
    assert set(hoarder_rows["policy"]) == {"standin:hoarder"}
    # a stand-in seat's completion is its action; the counterfactual is the scenario disposition
    assert all(c == a for c, a in zip(ds["completion"], ds["action"]))
    same = ds.filter(lambda x: x["episode_id"].startswith("default.scenario."))
    assert all(a == s for a, s in zip(same["action"], same["standin_action"]))
    assert all(json.loads(a)["orders"] is not None for a in ds["action"])
    # the stored observation renders back to the stored prompt
    from glade.env.protocol import render

    assert render(json.loads(row["observation"])) == row["messages"]
    # one folder, as a str or a Path, reads like a list of one
    assert gen.load_traces(str(tmp_path / "traces"))["episode_id"] == ds["episode_id"]
    assert len(gen.load_traces(tmp_path / "traces")) == len(ds)
    card = (tmp_path / "traces" / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert front["configs"][0]["data_files"][0]["path"] == "data/*.parquet"
    assert PROTOCOL_VERSION in card and "standin_action" in card


def test_resume_keeps_finished_episodes(tmp_path, monkeypatch):
    r = recipe(tmp_path)
    real = gen.run_lockstep
    calls = []

    def dies_on_second_batch(specs, **kw):
        calls.append([e.episode_id for e in specs])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(specs, **kw)

    monkeypatch.setattr(gen, "run_lockstep", dies_on_second_batch)
    with pytest.raises(KeyboardInterrupt):
        gen.generate(r)
    done = json.loads((tmp_path / "traces" / "progress.json").read_text())["episodes"]
    assert sorted(done) == sorted(calls[0])
    # what it wrote so far is no dataset to train on: training, lm-eval and calibrate say so
    with pytest.raises(ValueError, match=r"traces: an interrupted `glade generate` run \(\d+ episode\(s\) written"):
        gen.load_traces(tmp_path / "traces")
    monkeypatch.setattr(gen, "run_lockstep", real)
    summary = gen.generate(r)
    assert summary["played_now"] == 8 - len(calls[0])
    ds = load_dataset("parquet", data_dir=str(tmp_path / "traces" / "data"), split="train")
    assert len(ds) == 8 * 4 * 5
    assert len(set(ds["episode_id"])) == 8
    assert len(gen.load_traces(tmp_path / "traces")) == len(ds)  # finished: its card is written
    # a third run plays nothing and changes nothing
    assert gen.generate(r)["played_now"] == 0


def test_resume_refuses_rows_of_another_prompt_protocol(tmp_path, monkeypatch):
    from glade.env import protocol

    r = recipe(tmp_path, seeds={"start": 3, "count": 1}, scenarios=["default"])
    gen.generate(r)
    progress = (tmp_path / "traces" / "progress.json").read_text()
    monkeypatch.setattr(protocol, "PROTOCOL_VERSION", "wood-chat-9+deadbeef")  # a later glade's prompts
    with pytest.raises(
        ValueError,
        match=rf"rendered with prompt protocol {re.escape(PROTOCOL_VERSION)}, this glade renders "
        r"wood-chat-9\+deadbeef; move the folder aside",
    ):
        gen.generate(r)
    assert (tmp_path / "traces" / "progress.json").read_text() == progress  # nothing lost or played


def test_an_emptied_protocol_cell_is_named_as_empty_not_as_protocol_none(tmp_path):
    import pandas as pd

    from glade.hub.export_traces import export_traces

    r = recipe(tmp_path, seeds={"start": 3, "count": 1}, scenarios=["default"])
    gen.generate(r)
    shard = tmp_path / "traces" / "data" / "part-00000.parquet"
    table = pd.read_parquet(shard)
    table.loc[0, "protocol_version"] = None
    table.to_parquet(shard, index=False)
    with pytest.raises(ValueError, match=r"rendered with prompt protocol none \(an empty cell\), wood-chat"):
        gen.generate(r)
    warned = []
    export_traces(tmp_path / "traces", "me/t", out=tmp_path / "export", warn=warned.append)
    assert any("rendered with prompt protocol none (an empty cell), wood-chat" in line for line in warned)


def test_same_recipe_same_rows(tmp_path):
    a = recipe(tmp_path / "a")
    b = recipe(tmp_path / "b")
    gen.generate(a)
    gen.generate(b)
    load = lambda p: load_dataset("parquet", data_dir=str(p / "traces" / "data"), split="train")  # noqa: E731
    ra, rb = load(tmp_path / "a"), load(tmp_path / "b")
    assert ra["action"] == rb["action"] and ra["wealth_after"] == rb["wealth_after"]


def test_bad_recipe_names_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("out: x\nseeds: {start: 0, cout: 2}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: seeds.cout: unknown key"):
        load_recipe(gen.GenerateRecipe, path)


def test_unknown_creature_in_council(tmp_path):
    r = recipe(tmp_path, councils={"x": {"owl": "hoarder"}})
    with pytest.raises(ValueError, match=r"councils.x: unknown creature\(s\) owl"):
        gen.generate(r)


def test_shipped_recipe_validates():
    r = load_recipe(gen.GenerateRecipe, "recipes/generate/standin.yaml", ["seeds.count=1"])
    assert len(gen.episode_plan(r)) == 4 * 5 * 1


def junk_seat(tmp_path, monkeypatch) -> dict:
    """A council seating oona on a python seat that answers a good the Wood has not: every answer an error."""
    (tmp_path / "glade_test_junk.py").write_text(
        "class Junk:\n    name = 'junk'\n\n    def act(self, observations):\n"
        "        return [{'orders': [{'side': 'buy', 'good': 'gold', 'qty': 1, 'price': 1}]} for _ in observations]\n\n\n"
        "def junk():\n    return Junk()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return {"oona": {"kind": "python", "entry_point": "glade_test_junk:junk"}}


def test_shards_share_one_schema_and_a_folder_of_clean_and_failed_answers_loads_whole(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    junk = junk_seat(tmp_path, monkeypatch)
    r = recipe(tmp_path, scenarios=["default"], councils={"clean": {}, "junk": junk}, seeds={"start": 0, "count": 1})
    gen.generate(gen.GenerateRecipe(**{**r.__dict__, "worlds": 1}))  # part 0: no errors; part 1: oona's
    data = tmp_path / "traces" / "data"
    parts = sorted(data.glob("part-*.parquet"))
    assert len(parts) == 2 and {str(pq.read_schema(p).field("error").type) for p in parts} == {
        "string"
    }  # was null, string
    rows = gen.load_traces(tmp_path / "traces")
    assert len(rows) == 2 * 4 * 5 and sum(e == "unknown_good" for e in rows["error"]) == 4
    # a folder written before the schema was fixed, its clean part's error typed null, loads too
    clean = pq.read_table(parts[0])
    at = clean.schema.get_field_index("error")
    pq.write_table(clean.set_column(at, "error", pa.nulls(len(clean))), parts[0])
    assert str(pq.read_schema(parts[0]).field("error").type) == "null"
    assert len(gen.load_traces(tmp_path / "traces")) == 40


def test_a_scenario_listed_twice_is_refused_not_played_twice(tmp_path):
    r = recipe(tmp_path, scenarios=["default", "gambit_override", "default"])  # the file, read as it is
    plan = gen.episode_plan(r)
    assert len(plan) == 12 and len(set(plan)) == 8  # default's episodes twice: its rows would double
    with pytest.raises(ConfigError, match=r"recipe.yaml: scenarios: default listed twice; list each scenario once"):
        gen.load_generate_recipe(tmp_path / "recipe.yaml")  # what generate and validate read


def test_a_rerun_with_nothing_left_keeps_the_cards_cost(tmp_path, capsys):
    from glade.cli import main

    recipe(tmp_path, scenarios=["default"], seeds={"start": 0, "count": 1})
    path = str(tmp_path / "recipe.yaml")
    assert main(["generate", path]) == 0
    card = (tmp_path / "traces" / "README.md").read_text()
    assert "cost: 2 episodes, 40 decisions by every seat" in card
    capsys.readouterr()
    assert main(["generate", path]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "nothing left to play: all 2 episodes of" in out and "cost: 0 episodes" not in out
    assert "its dataset card keeps the cost of the run that played them" in out
    assert (tmp_path / "traces" / "README.md").read_text() == card  # was rewritten with a cost of 0 episodes
    # killed after its last part, before its card: the card written now has no cost, and the line says so
    (tmp_path / "traces" / "README.md").unlink()
    assert main(["generate", path]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "stopped before writing its dataset card, and its cost with it; the card is written now, without" in out
    assert "## Cost of the last run" not in (tmp_path / "traces" / "README.md").read_text()
    assert main(["generate", path, "--dry-run"]) == 0
    assert "nothing left to play; every episode is finished" in " ".join(capsys.readouterr().out.split())
