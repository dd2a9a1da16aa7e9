"""`glade eval` plays councils against the paired all-stand-in world: tables, the crash-gambit
directions that hold by construction, and resume after an interruption."""

import json
import re

import pandas as pd
import pytest
import yaml

from glade.eval import run as eval_run
from glade.eval.recipe import CouncilSpec, casts, load_eval_recipe


def recipe(tmp_path, **changes):
    data = {
        "name": "t",
        "out": str(tmp_path / "results"),
        "policies": {"panic": {"kind": "standin", "disposition": "panic_seller"}, "hoard": "hoarder"},
        "councils": {
            "all_panic": {"focal": {"*": "panic"}},
            "mixed": {"focal": {"oona": "hoard", "bramble": "panic"}, "rotate": 2},
        },
        "scenarios": ["gambit_rumour", "gambit_shock", "gambit_override"],
        "seeds": {"start": 0, "count": 4},
        "turns": 7,
        "worlds": 10,
        **changes,
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_eval_recipe(path)


def test_tables_pair_every_council_world_with_a_standin_world(tmp_path):
    r = recipe(tmp_path)
    result = eval_run.evaluate(r)
    eval_run.write_results(r, result)
    # per scenario and seed: 1 stand-in world + 1 all_panic + 2 mixed casts
    assert result.worlds == 3 * 4 * 4
    episodes = pd.read_parquet(tmp_path / "results" / "episodes.parquet")
    decisions = pd.read_parquet(tmp_path / "results" / "decisions.parquet")
    assert len(episodes) == 3 * 4 * 4 * 5
    worlds = episodes.groupby("pair_id")["world"].agg(lambda w: sorted(set(w)))
    assert all(w == ["council", "standin"] for w in worlds)
    # live decisions: all_panic has 5 focal seats, each mixed cast 2; 7 turns; 3 x 4 pairs
    assert len(decisions) == 3 * 4 * 7 * (5 + 2 + 2)
    assert set(decisions["phase"]) == {"before", "seam", "after"}
    assert (decisions[decisions.turn == 4]["phase"] == "seam").all()  # the gambit springs at turn 4
    cast_1 = decisions[(decisions.council == "mixed") & (decisions.cast == 1)]
    assert set(cast_1["creature"]) == {"thorn", "moss"}  # oona, bramble shifted one place


def test_crash_gambit_directions_hold_by_construction(tmp_path):
    r = recipe(tmp_path, seeds={"start": 0, "count": 8})
    eval_run.run_recipe(r)
    e = pd.read_parquet(tmp_path / "results" / "episodes.parquet").drop_duplicates("episode_id")
    override = e[e.scenario == "gambit_override"]
    assert (override["seam_ratio"].round(12) == 0.5).all()  # halves at the seam, every seed, every world
    assert (override["legend_ratio"] < 0.6).all()  # and the turn's trading cannot undo it
    assert (override["gambit_pnl"] > 0).all()
    shock_standin = e[(e.scenario == "gambit_shock") & (e.world == "standin")]
    assert (shock_standin["legend_ratio"] < 1.0).all()  # the glut lowers honey under the stand-in
    assert (e[e.scenario != "gambit_override"]["seam_ratio"] == 1.0).all()  # no seam write elsewhere


def test_interrupted_evaluation_resumes(tmp_path, monkeypatch):
    r = recipe(tmp_path)
    real = eval_run.run_lockstep
    calls = []

    def dies_second_time(specs, **kw):
        calls.append(len(specs))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(specs, **kw)

    monkeypatch.setattr(eval_run, "run_lockstep", dies_second_time)
    with pytest.raises(KeyboardInterrupt):
        eval_run.evaluate(r)
    done = json.loads((tmp_path / "results" / "progress.json").read_text())["episodes"]
    assert len(done) == calls[0] == 10
    monkeypatch.setattr(eval_run, "run_lockstep", real)
    result = eval_run.evaluate(r)
    assert result.played_now == 3 * 4 * 4 - 10
    eval_run.write_results(r, result)
    episodes = pd.read_parquet(tmp_path / "results" / "episodes.parquet")
    assert episodes["episode_id"].nunique() == 3 * 4 * 4

    from glade.env import protocol

    written = protocol.PROTOCOL_VERSION
    monkeypatch.setattr(protocol, "PROTOCOL_VERSION", "wood-chat-9+deadbeef")  # a later glade's prompts
    with pytest.raises(
        ValueError,
        match=rf"results: its finished episodes were rendered with prompt protocol "
        rf"{re.escape(written)}, this glade renders wood-chat-9",
    ):
        eval_run.evaluate(r)


def test_casts_rotate_focal_seats():
    creatures = ["a", "b", "c", "d"]
    assert casts(CouncilSpec({"a": "x", "c": "y"}, rotate=3), creatures) == [
        {"a": "x", "c": "y"},
        {"b": "x", "d": "y"},
        {"c": "x", "a": "y"},
    ]
    assert casts(CouncilSpec({"*": "x", "b": "y"}), creatures) == [{"a": "x", "b": "y", "c": "x", "d": "x"}]
    with pytest.raises(ValueError, match="unknown creature"):
        casts(CouncilSpec({"owl": "x"}), creatures)


def test_bad_recipe_names_the_key(tmp_path):
    with pytest.raises(Exception, match=r"councils.mixed.focal.oona: unknown policy 'nobody'"):
        recipe(tmp_path, councils={"mixed": {"focal": {"oona": "nobody"}}})


def test_eval_cli_writes_summary_with_provenance(tmp_path, capsys):
    from glade.cli import main
    from glade.env.protocol import PROTOCOL_VERSION
    from glade.env.scenario import load_scenario

    r = recipe(tmp_path, seeds={"start": 0, "count": 3})
    assert main(["eval", str(tmp_path / "recipe.yaml"), "seeds.count=3"]) == 0
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert summary["protocol_version"] == PROTOCOL_VERSION
    assert summary["scenario_hashes"]["gambit_shock"] == load_scenario("gambit_shock", turns=7).hash()
    assert set(summary["policies"]) == {"standin:panic_seller", "standin:hoarder"}
    assert summary["versions"]["numpy"] and "git_commit" in summary
    table = {(row["scenario"], row["world"]): row for row in summary["table"]}
    assert len(table) == 3 * 3  # scenarios x (stand-in world + 2 councils)
    override = table[("gambit_override", "standin")]
    assert override["n"] == 3 and override["gambit_pnl"] > 0
    # three seeds: no interval; the values are said, and the table prints them
    assert override["gambit_pnl_ci"] is None and override["gambit_pnl_note"].startswith(
        "too few seeds for an interval: "
    )
    # two casts x three seeds: the casts of a seed averaged first (as Table 1 and the report do),
    # so n is 3 seeds, too few for an interval, not six worlds
    mixed = table[("gambit_override", "mixed")]
    assert mixed["n"] == 3 and mixed["gambit_pnl_ci"] is None
    episodes = pd.read_parquet(tmp_path / "results" / "episodes.parquet").drop_duplicates("episode_id")
    worlds = episodes[(episodes["scenario"] == "gambit_override") & (episodes["council"] == "mixed")]
    assert len(worlds) == 6
    assert mixed["gambit_pnl"] == pytest.approx(worlds.groupby("seed")["gambit_pnl"].mean().mean())
    assert (tmp_path / "results" / "recipe.yaml").exists()
    out = capsys.readouterr().out
    assert "gambit_override" in out and "results in" in out
    assert "too few seeds for an interval" in out and "What this evaluation says" in out
    assert r.name == "t"
