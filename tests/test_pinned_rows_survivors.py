"""Rules a mutation audit of the rows' path found no test for: worlds played in lockstep play as each
would alone and keep their own seat labels, a parse error is no seat fault in generate's ledger, a part
is listed only once its shard is written, and the SFT filters judge what they train on."""

from __future__ import annotations

import json

import pytest
from test_generate import junk_seat
from test_pinned_heldout_figures import write_traces

import glade.traces as gen
from glade.config import Seeds
from glade.env.scenario import load_scenario
from glade.resume import finished
from glade.rollout import EpisodeSpec, run_lockstep
from glade.run_limits import results_recipe
from glade.seats import load_council, standin_council
from glade.train.data import DataConfig, prepare

KEYS = ("creature", "turn", "action", "wealth_after", "fills", "pebbles")


def test_worlds_in_lockstep_play_as_each_would_alone():
    sc = load_scenario("default", turns=6)
    council = standin_council(sc)
    both = run_lockstep([EpisodeSpec(f"w{s}", sc, s, council) for s in (0, 1)])
    for s in (0, 1):
        alone = run_lockstep([EpisodeSpec(f"w{s}", sc, s, council)])[f"w{s}"]
        assert [[r[k] for k in KEYS] for r in both[f"w{s}"].rows] == [[r[k] for k in KEYS] for r in alone.rows]
        assert both[f"w{s}"].summary["wealth"] == alone.summary["wealth"]


def test_each_worlds_rows_carry_its_own_councils_seat_label():
    sc = load_scenario("default", turns=3)
    base = standin_council(sc)
    a = {**base, "oona": load_council({"oona": "hoarder"})["oona"]}
    b = {**base, "oona": load_council({"oona": "speculator"})["oona"]}
    p = run_lockstep([EpisodeSpec("A", sc, 0, a), EpisodeSpec("B", sc, 0, b)])
    assert {r["seat"] for r in p["B"].rows if r["creature"] == "oona"} == {"standin:speculator"}
    assert p["B"].summary["council"]["oona"] == "standin:speculator"


def test_a_parse_error_is_not_a_seat_fault_in_the_ledger(tmp_path, monkeypatch):
    junk = junk_seat(tmp_path, monkeypatch)
    r = gen.GenerateRecipe(out=str(tmp_path / "t"), councils={"junk": junk}, seeds=Seeds(start=0, count=1), turns=3)
    gen.generate(r)
    assert json.loads((tmp_path / "t" / "progress.json").read_text())["episodes"]["default.junk.s0"]["faults"] == 0
    assert gen.generate(r)["played_now"] == 0


def test_a_part_killed_while_written_is_not_listed(tmp_path, monkeypatch):
    r = gen.GenerateRecipe(out=str(tmp_path / "t"), seeds=Seeds(start=0, count=2), turns=3, worlds=1)
    real, calls = gen._write_shard, []

    def dying(rows, path):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(rows, path)

    monkeypatch.setattr(gen, "_write_shard", dying)
    with pytest.raises(KeyboardInterrupt):
        gen.generate(r)
    assert set(json.loads((tmp_path / "t" / "progress.json").read_text())["episodes"]) == {"default.scenario.s0"}
    assert finished(gen.shard_log(r.out), results_recipe(r)) == {"default.scenario.s0"}


@pytest.fixture(scope="module")
def standin_rows(tmp_path_factory):
    out = tmp_path_factory.mktemp("src") / "t"
    gen.generate(gen.GenerateRecipe(out=str(out), seeds=Seeds(start=0, count=1), turns=4))
    return gen.load_traces(out).to_list()


def test_valid_only_drops_an_answer_the_rules_cut(standin_rows, tmp_path):
    rows = [dict(r) for r in standin_rows]
    rows[4]["error"] = None
    rows[4]["rejected"] = json.dumps([{"order": 0, "reason": "oversell", "outcome": "cut", "qty": 1, "by": "parser"}])
    folder = write_traces(tmp_path / "x", rows)
    assert prepare(DataConfig(traces=(folder,), eval_share=0.0, dedupe=False))[2]["after_rules"] == len(rows) - 1


def test_relabel_judges_the_relabelled_answers_self_buy(standin_rows, tmp_path):
    rows = [dict(r) for r in standin_rows]
    for r in rows[:5]:
        r["self_buy"] = 1  # the seat's own answer bought what it makes; the stand-in's does not
    folder = write_traces(tmp_path / "x", rows)
    cfg = DataConfig(traces=(folder,), eval_share=0.0, dedupe=False, relabel="hoarder")
    assert prepare(cfg)[2]["after_rules"] == len(rows)
