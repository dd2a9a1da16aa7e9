"""The cost meter: what a run spent per seat (summary.json, report, dataset card, the closing
line), `glade eval --dry-run` with its calibrated estimate, and the recipe's limits."""

from __future__ import annotations

import json
import re

import pytest
import torch
import yaml

from glade.cli import main


@pytest.fixture(scope="module")
def tiny_seat(tmp_path_factory):
    torch.set_num_threads(1)
    from glade.train.tiny import save_tiny

    base = save_tiny(tmp_path_factory.mktemp("cost") / "base")
    return {"kind": "hf", "model": str(base), "max_new_tokens": 8}


def recipe(tmp_path, seat, **changes) -> str:
    data = {
        "name": "cost",
        "out": str(tmp_path / "results"),
        "policies": {"model": seat, "panic": "panic_seller"},
        "councils": {"mixed": {"focal": {"oona": "model", "bramble": "panic"}}},
        "scenarios": ["gambit_override"],
        "seeds": {"start": 0, "count": 3},
        "turns": 5,  # the legend and the cover at turn 4
        "worlds": 3,
        "thresholds": {"resamples": 100},
        **changes,
    }
    path = tmp_path / "cost.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_dry_run_counts_the_plan_and_its_estimate_tracks_the_run(tiny_seat, tmp_path, capsys):
    path = recipe(tmp_path, tiny_seat)
    assert main(["eval", path, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert not (tmp_path / "results").exists()  # a dry run writes nothing
    # 3 seeds x (stand-in world + mixed) = 6 episodes x 5 turns x 5 creatures; the model: 3 worlds x 5 turns,
    # answered in 2 shards of 3 worlds (both hold a model world) x 5 turns = 10 batched calls
    assert "6 episodes (30 world-turns), 150 decisions (15 by model seats), 10 batched model calls" in out
    expected = int(out.split("about ")[1].split(" tokens")[0].replace(",", ""))
    assert "estimated wall time" in out and "measured on" in out

    assert main(["eval", path]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("cost: 6 episodes, 150 decisions by every seat in")
    cost = json.loads((tmp_path / "results" / "summary.json").read_text())["cost"]
    seat = cost["seats"]["model"]  # a live seat is metered under the recipe's policy name
    assert seat["decisions"] == 15 and seat["completion_tokens"] <= 15 * 8 and seat["prompt_tokens"] > 15 * 100
    assert seat["decisions_per_s"] > 0 and seat["faults"] == {}
    assert cost["seats"]["panic"]["model_seconds"] == 0  # the stand-ins cost nothing
    assert cost["decisions"] == 150 and cost["episodes"] == 6 and 0 < cost["model_share"] <= 1
    actual = seat["prompt_tokens"] + seat["completion_tokens"]
    assert abs(expected - actual) <= 0.15 * actual  # extrapolated from 2 turns of the first shard


def test_a_run_over_its_limits_stops_before_starting(tiny_seat, tmp_path, capsys):
    path = recipe(tmp_path, tiny_seat, max_decisions=11)
    assert main(["eval", path]) == 2
    err = capsys.readouterr().err
    assert "max_decisions: this run would ask model seats for 15 decisions, more than the 11 allowed" in err
    assert "warning: seeds.count 3: fewer than 4 seeds give no intervals" in err  # said before the plan's limits
    errors = [line for line in err.strip().splitlines() if not line.startswith("warning: seeds.count")]
    assert len(errors) == 1 and not (tmp_path / "results" / "progress.json").exists()
    path = recipe(tmp_path, tiny_seat, max_decisions=15, max_tokens=500)
    assert main(["eval", path]) == 2
    err = capsys.readouterr().err
    assert "max_tokens: this run would use about" in err and "more than the 500 allowed" in err
    assert not list((tmp_path / "results").glob("shards/*.parquet"))
    path = recipe(tmp_path, tiny_seat, max_decisions=15, max_tokens=100_000)
    assert main(["eval", path]) == 0
    with pytest.raises(ValueError, match="max_tokens: must be at least 1"):
        from glade.eval.recipe import load_eval_recipe

        load_eval_recipe(recipe(tmp_path, tiny_seat, max_tokens=0))


def test_generate_records_its_cost_in_the_card(tmp_path, capsys):
    path = tmp_path / "gen.yaml"
    path.write_text(yaml.safe_dump({"out": str(tmp_path / "traces"), "seeds": {"count": 2}, "turns": 3}))
    assert main(["generate", str(path)]) == 0
    out = capsys.readouterr().out  # results on stdout, bars on stderr
    assert "cost: 2 episodes, 30 decisions by every seat" in out and re.search(
        r"s of it play, [\d.]+% of that inside the models, [\d,]+\.\d\d episodes/s", out
    )
    said = re.search(r"wrote 2 episodes \(2 played now, 30 decisions in (\d+\.\d) s\)", out)
    assert said and f"in {said[1]} s wall" in out  # one time for one run: the cost line's wall time
    card = (tmp_path / "traces" / "README.md").read_text()
    assert "## Cost of the last run" in card and "| standin:hoarder | 6 | 0 | 0 | 0.00 | - | 0 |" in card


def test_generate_dry_run_and_limits(tiny_seat, tmp_path, capsys):
    data = {
        "out": str(tmp_path / "traces"),
        "councils": {"model": {"oona": tiny_seat}, "scenario": {}},
        "seeds": {"count": 2},
        "turns": 3,
        "worlds": 4,
    }
    path = tmp_path / "gen.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["generate", str(path), "--dry-run"]) == 0
    plan = capsys.readouterr().out  # the plan is a result: `glade generate R --dry-run > plan.txt` keeps it
    assert not (tmp_path / "traces").exists()
    # 2 councils x 2 seeds = 4 episodes x 3 turns x 5 creatures; the model: oona in 2 episodes x 3 turns
    assert "4 episodes (12 world-turns), 60 decisions (6 by model seats)" in plan and "hf:base" in plan
    path.write_text(yaml.safe_dump({**data, "max_decisions": 5}))
    assert main(["generate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "max_decisions: this run would ask model seats for 6 decisions, more than the 5 allowed" in err
    assert not list((tmp_path / "traces").glob("data/*.parquet"))


def test_estimate_lines_name_a_limit_the_plan_is_over_and_count_one_world():
    from glade.meter import Calibration, Plan, estimate, estimate_lines
    from glade.rollout import RolloutStats

    plan = Plan(episodes=3, world_turns=15, decisions={"model": 15, "standin:balanced": 60}, free={"standin:balanced"})
    expected = estimate(plan, Calibration(RolloutStats(), world_turns=2, worlds=1))
    lines = estimate_lines(expected, {"max_decisions": 10, "max_tokens": 100})
    assert "measured on 0 trial decisions: 1 world, 2 measured world-turns (up to 2 a world)" in lines[1]
    assert (
        lines[2]
        == "over the recipe's max_decisions 10 (this plan: 15): a run would stop before starting, with nothing written"
    )
    assert len(estimate_lines(expected, {"max_decisions": 15, "max_tokens": None})) == 2  # at the limit: fine
