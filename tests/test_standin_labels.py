"""A stand-in seat is named the same in the dry run's plan and in the rows: a disposition file
by the name inside it, a seed other than 0 (which plays otherwise) after an @; and a traces
card's load line names its own folder."""

import datasets
import yaml

from glade.cli import main
from glade.meter import spec_label
from glade.rollout import run_episode
from glade.seats import load


def test_a_seed_other_than_0_is_part_of_a_stand_ins_name():
    assert load({"kind": "standin", "disposition": "hoarder"}).name == "standin:hoarder"
    assert load({"kind": "standin", "disposition": "hoarder", "seed": 3}).name == "standin:hoarder@3"
    played = run_episode(
        "default", seed=7, turns=2, council={"oona": {"kind": "standin", "disposition": "hoarder", "seed": 3}}
    )
    assert {r["seat"] for r in played.rows if r["creature"] == "oona"} == {"standin:hoarder@3"}


def test_the_plan_labels_a_stand_in_as_its_seat_does(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump({"name": "other", "bid": 1.0}))
    assert spec_label({"kind": "standin", "disposition": "mine.yaml"}) == "standin:other"
    assert spec_label({"kind": "standin", "disposition": "hoarder", "seed": 2}) == "standin:hoarder@2"
    assert spec_label("panic_seller") == "standin:panic_seller"
    assert spec_label({"kind": "standin", "disposition": "gone.yaml"}) == "standin:gone.yaml"  # the run names it


def test_the_traces_card_loads_its_own_folder(tmp_path, capsys):
    out = tmp_path / "traces"
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump({"out": str(out), "scenarios": ["default"], "seeds": {"count": 1}, "turns": 2}))
    assert main(["generate", str(path)]) == 0
    card = (out / "README.md").read_text()
    assert f'Load with `datasets.load_dataset("{out}", split="train")`' in card
    assert len(datasets.load_dataset(str(out), split="train")) == 10  # 5 creatures x 2 turns


def test_simulate_takes_a_creature_as_its_table_prints_it(tmp_path, capsys):
    # guards the pairs' lower(): the scoreboard prints Oona, and --council Oona=hoarder seats her
    assert main(["simulate", "--council", "Oona=hoarder", "--turns", "2", "--out", str(tmp_path / "s"), "--quiet"]) == 0
    summary = (tmp_path / "s" / "summary.json").read_text()
    assert '"oona": "standin:hoarder"' in summary


def test_an_eval_plan_labels_a_scenario_disposition_file_by_its_name(tmp_path, monkeypatch):
    # guards estimate.labels' spec_label: the rows say standin:NAME for a file naming NAME
    from glade.env.scenario import load_scenario
    from glade.eval.estimate import labels
    from glade.eval.rows import PlannedWorld

    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump({"name": "my_hoarder", "bid": 1.0}))
    scenario = load_scenario("default", **{"creatures.oona.disposition": "mine.yaml"})
    world = PlannedWorld("e", "c", scenario.name, "c", 0, 1, {})
    assert labels(scenario, world)["oona"] == "standin:my_hoarder"


def test_a_spec_recording_a_creature_the_scenario_lacks_is_refused():
    import pytest

    from glade.env.scenario import load_scenario
    from glade.rollout import EpisodeSpec
    from glade.seats import standin_council

    s = load_scenario("default")
    with pytest.raises(ValueError, match="recorded names zed, not creatures of default"):
        EpisodeSpec("e", s, 0, standin_council(s), recorded=frozenset({"oona", "zed"}))
    played = run_episode("default", seed=1, turns=1)
    assert "messages" in played.rows[0]
