"""Stopping a run early on seat faults counts the decisions each seat will make in all (its
plan, and in generate the rows kept from an earlier run), not a guess scaled from the shards
played; two server seats that would write one `server:MODEL` are refused before they play;
a checkpoint is not read as traces."""

from __future__ import annotations

import json

import pytest
from resume_setup import eval_recipe, generate_recipe, interrupt_second_batch

from glade import faults
from glade.cli import main
from glade.seats import Decision, SeatSpecError, check_model_names

FAULT = "server_http_500"  # what a server answering HTTP 500 leaves in a row


class Flaky:
    """A python seat whose n-th decision of the run (0-based, in the order it is asked) is a
    fault where `faults` names n: a server answering 500 to those requests only."""

    def __init__(self, faults=(), name="flaky"):
        self.name, self.faults, self.asked = name, set(faults), 0

    def act(self, observations):
        out = []
        for _ in observations:
            out.append(Decision({"orders": []}, error=FAULT if self.asked in self.faults else None))
            self.asked += 1
        return out


def flaky(faults=(), name="flaky"):
    return Flaky(faults, name)


def seat(faults):
    return {"kind": "python", "entry_point": "test_fault_stop_plan:flaky", "kwargs": {"faults": list(faults)}}


def run_eval(tmp_path, faults_at, worlds):
    """oona on the flaky seat in gambit_rumour, 6 turns, 4 seeds: 8 worlds (4 of them stand-in
    worlds, with no live decision), 24 live decisions."""
    path = eval_recipe(
        tmp_path,
        policies={"live": seat(faults_at)},
        councils={"one": {"focal": {"oona": "live"}}},
        scenarios=["gambit_rumour"],
        seeds={"start": 0, "count": 4},
        turns=6,
        worlds=worlds,
    )
    return main(["eval", str(path)])


@pytest.mark.parametrize("worlds", [1, 2])
def test_eval_faults_under_the_share_of_the_whole_plan_play_to_the_end_and_pass(tmp_path, capsys, worlds):
    # 4 faults in the second council world: 4 of its first 12 decisions (33%) after 4 of 8 shards;
    # scaled by shards that was "of the about 19", and stopped; the seat makes 24 (4/24 < 0.2)
    assert run_eval(tmp_path, range(7, 11), worlds) == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert summary["faults"]["live"] == {"decisions": 24, "faults": {FAULT: 4}, "fault_share": round(4 / 24, 6)}


@pytest.mark.parametrize(("worlds", "shards"), [(1, "4 of 8"), (2, "2 of 4")])
def test_eval_faults_over_the_share_of_the_whole_plan_stop_early_naming_it(tmp_path, capsys, worlds, shards):
    # 5 faults in the second council world: 5 of its 24 (21%), so the end check fails whatever follows
    assert run_eval(tmp_path, range(7, 12), worlds) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(
        f"error: seat 'live': 5 of 12 decisions (42%) failed ({FAULT} 5) in the first {shards} shards, more than "
        "max_fault_share 0.2 of the 24 it will make in all: stopped early"
    )
    assert not (tmp_path / "results" / "summary.json").exists()


def generate_run(tmp_path, faults_at, worlds, **changes):
    """The flaky seat on oona in the second council (its episodes play last), 3 turns, 4 seeds:
    12 decisions of 8 episodes."""
    return generate_recipe(
        tmp_path,
        councils={"scenario": {}, "shaky": {"oona": seat(faults_at)}},
        seeds={"start": 0, "count": 4},
        turns=3,
        worlds=worlds,
        **changes,
    )


@pytest.mark.parametrize("worlds", [1, 2])
def test_generate_faults_under_the_share_of_the_whole_plan_pass(tmp_path, capsys, worlds):
    # 2 faults in the flaky seat's first episode: 2 of 3 (67%) after 5 of 8 shards, "of the about
    # 5" scaled by shards; of its 12 they are 17%, under 0.2
    path = generate_run(tmp_path, (1, 2), worlds)
    assert main(["generate", str(path)]) == 0, capsys.readouterr().err
    assert (tmp_path / "traces" / "README.md").exists()


@pytest.mark.parametrize(("worlds", "shards"), [(1, "6 of 8"), (2, "3 of 4")])
def test_generate_faults_over_the_share_stop_early_naming_the_true_count(tmp_path, capsys, worlds, shards):
    path = generate_run(tmp_path, (1, 2, 3), worlds)
    assert main(["generate", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(
        f"error: seat 'flaky': 3 of 6 decisions (50%) failed ({FAULT} 3) in the first {shards} shards, more than "
        "max_fault_share 0.2 of the 12 it will make in all: stopped early"
    )


def test_generate_counts_the_rows_a_resumed_folder_keeps_as_its_end_tally_does(tmp_path, monkeypatch):
    import glade.traces as gen

    recipe = gen.load_generate_recipe(generate_run(tmp_path, (), 2))
    resume = interrupt_second_batch(monkeypatch, gen)
    with pytest.raises(KeyboardInterrupt):
        gen.generate(recipe)
    resume()
    asked = []
    real = gen.stop_if_failing
    monkeypatch.setattr(gen, "stop_if_failing", lambda *a: asked.append(a[4]) or real(*a))
    summary = gen.generate(recipe)  # keeps the first batch's 2 episodes, plays the other 6
    assert summary["played_now"] == 6 and len(asked) == 2
    counted = {s: t["decisions"] for s, t in summary["faults"].items()}
    assert all(dict(totals) == counted for totals in asked), (asked, counted)


def test_the_end_tally_of_eval_is_what_the_early_stop_counts(tmp_path, monkeypatch):
    from glade.eval import run as eval_run
    from glade.eval.recipe import load_eval_recipe

    recipe = load_eval_recipe(
        eval_recipe(
            tmp_path,
            policies={"live": seat(()), "panic": "panic_seller"},
            councils={"one": {"focal": {"oona": "live", "thorn": "panic"}}},
            scenarios=["gambit_rumour"],
            seeds={"start": 0, "count": 2},
            worlds=1,
            attribution=True,  # leave-one-out replays: played, but not in the decisions table
        )
    )
    asked = []
    real = eval_run.stop_if_failing
    monkeypatch.setattr(eval_run, "stop_if_failing", lambda *a: asked.append(a[4]) or real(*a))
    summary = eval_run.run_recipe(recipe)
    counted = {s: t["decisions"] for s, t in summary["faults"].items()}
    assert counted == {"live": 12, "panic": 12}
    assert asked and all({s: n for s, n in totals.items() if s in counted} == counted for totals in asked)


def test_the_stop_rule_counts_the_seats_total_and_leaves_a_seat_without_one_to_the_every_decision_rule():
    def meter(decisions, failed):
        m = faults.SeatMeter(decisions=decisions)
        m.faults[FAULT] = failed
        return m

    faults.stop_if_failing({"s": meter(12, 4)}, 0.2, 4, 8, {"s": 24})  # 4 of 24: not more than 4.8
    with pytest.raises(faults.SeatsFailing, match=r"5 of 12 decisions \(42%\).* of the 24 it will make in all: "):
        faults.stop_if_failing({"s": meter(12, 5)}, 0.2, 4, 8, {"s": 24})
    faults.stop_if_failing({"s": meter(12, 11)}, 0.2, 4, 8, {})  # no total: only every decision stops it
    with pytest.raises(faults.SeatsFailing, match=r"\(every decision so far\): stopped early"):
        faults.stop_if_failing({"s": meter(12, 12)}, 0.2, 4, 8, {})


def test_the_turn_watch_stops_a_seat_that_failed_every_decision_in_two_turns_not_one(monkeypatch):
    monkeypatch.setattr(faults, "GRACE_S", 0.0)
    meters = {"s": faults.SeatMeter(), "ok": faults.SeatMeter()}
    watch = faults.failing_watch(meters, 0.2)

    def turn(failed: int, answered: int = 0, left: bool = True) -> None:
        for _ in range(failed):
            meters["s"].count(FAULT)
        for _ in range(answered):
            meters["s"].count(None)
        meters["ok"].count(None)
        watch(left)

    turn(failed=4)  # one turn's tries fall in one window: not yet
    turn(failed=4, left=False)  # the run's last turn: it ends anyway, keeping its rows
    with pytest.raises(faults.SeatsFailing, match=r"'s': 12 of 12 decisions .* in its first 3 turns, more than"):
        turn(failed=4)
    meters = {"s": faults.SeatMeter(), "ok": faults.SeatMeter()}
    watch = faults.failing_watch(meters, 0.2)
    turn(failed=4)
    turn(failed=3, answered=1)  # one answer: left to the between-shard and end-of-run checks
    turn(failed=4)
    meters = {"s": faults.SeatMeter(), "ok": faults.SeatMeter()}
    watch = faults.failing_watch(meters, 1.0)  # every fault accepted: never stopped
    turn(failed=4)
    turn(failed=4)
    monkeypatch.setattr(faults, "GRACE_S", 3600.0)  # within the grace a server may still be starting: never stopped
    meters = {"s": faults.SeatMeter(), "ok": faults.SeatMeter()}
    watch = faults.failing_watch(meters, 0.2)
    turn(failed=4)
    turn(failed=4)
    turn(failed=4)


# --------------------------------------------------------------------------- two servers, one name


def server(url, model="m", **more):
    return {"kind": "server", "base_url": url, "model": model, **more}


def test_two_servers_writing_one_policy_name_are_refused_naming_both():
    with pytest.raises(SeatSpecError) as err:
        check_model_names(
            {"a.oona": server("http://127.0.0.1:8000/v1"), "a.thorn": server("http://127.0.0.1:8001/v1")},
            servers=True,
        )
    assert str(err.value) == (
        "a.oona (base_url http://127.0.0.1:8000/v1) and a.thorn (base_url http://127.0.0.1:8001/v1) are two servers "
        "that would both write policy server:m in the rows, so the rows and the fault tally could not tell them "
        "apart; serve one under another model name (vLLM: --served-model-name) and give that name as its seat's model"
    )
    fine = {
        "a.oona": server("http://127.0.0.1:8000/v1"),
        "b.oona": server("http://127.0.0.1:8000/v1/"),  # one server, spelt with its last /
        "a.thorn": server("http://127.0.0.1:8001/v1", model="n"),  # another name
        "a.hazel": server("http://127.0.0.1:8002/v1", structured=True),  # server:m+structured
    }
    check_model_names(fine, servers=True)
    # eval names its seats by the recipe's policy names: two such servers are two policies there
    check_model_names({"x": server("http://127.0.0.1:8000/v1"), "y": server("http://127.0.0.1:8001/v1")})


def test_generate_refuses_two_servers_of_one_name_before_playing(tmp_path, capsys):
    path = generate_recipe(
        tmp_path,
        councils={"a": {"oona": server("http://127.0.0.1:8000/v1"), "thorn": server("http://127.0.0.1:8001/v1")}},
    )
    assert main(["generate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "councils: a.oona (base_url http://127.0.0.1:8000/v1) and a.thorn (base_url http://127.0.0.1:8001/v1)" in err
    assert not (tmp_path / "traces").exists()


def test_simulate_refuses_two_servers_of_one_name_in_a_council_file(tmp_path, capsys):
    import yaml

    council = tmp_path / "council.yaml"
    council.write_text(
        yaml.safe_dump({"oona": server("http://127.0.0.1:8000/v1"), "thorn": server("http://127.0.0.1:8001/v1")})
    )
    assert main(["simulate", "--council", str(council), "--turns", "2", "--out", str(tmp_path / "sim")]) == 2
    err = capsys.readouterr().err
    assert f"--council {council}: oona (base_url http://127.0.0.1:8000/v1) and --council {council}: thorn" in err
    assert "serve one under another model name" in err
    assert not (tmp_path / "sim").exists()


def test_eval_still_takes_two_server_policies_of_one_model_at_two_urls(tmp_path, capsys):
    path = eval_recipe(
        tmp_path,
        policies={"a": server("http://127.0.0.1:8000/v1"), "b": server("http://127.0.0.1:8001/v1")},
        councils={"one": {"focal": {"oona": "a", "thorn": "b"}}},
    )
    assert main(["validate", str(path), "--kind", "eval"]) == 0, capsys.readouterr().out


# --------------------------------------------------------------------------- a checkpoint is not traces


def sft_checkpoint(folder):
    """A folder shaped as glade train leaves one: meta.json, an adapter, and data/ holding its SFT
    split (train.data.to_conversation's columns: no seed, no scenario, no action)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (folder / "data").mkdir(parents=True)
    (folder / "meta.json").write_text(json.dumps({"kind": "lora", "base_model": "tiny"}))
    (folder / "adapter_config.json").write_text("{}")
    split = {
        "messages": [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": '{"orders": []}'}]],
        "episode_id": ["default.hoarders.s0"], "creature": ["oona"], "policy": ["standin:hoarder"], "turn": [0],
        "observation": ["{}"], "standin_action": ['{"orders": []}'], "wealth_change": [0.0],
    }  # fmt: skip
    for name in ("train", "eval"):
        pq.write_table(pa.table(split), folder / "data" / f"{name}.parquet")
    return folder


def test_a_checkpoint_folder_is_refused_as_traces_in_one_line(tmp_path):
    from glade.traces import load_traces, readable_shards

    ckpt = sft_checkpoint(tmp_path / "ckpt")
    for marker in ("meta.json", "adapter_config.json", "config.json"):
        for other in ("meta.json", "adapter_config.json", "config.json"):
            (ckpt / other).unlink(missing_ok=True)
        (ckpt / marker).write_text("{}")  # any one of them marks a checkpoint (a full model has config.json)
        with pytest.raises(ValueError) as err:
            load_traces(ckpt)
        assert str(err.value) == (
            f"{ckpt}: a checkpoint, not a traces dataset; give a folder glade generate wrote (runs/traces/NAME)"
        )
    # its split without the checkpoint's files: the shard names what it lacks
    (ckpt / "config.json").unlink()
    with pytest.raises(ValueError) as err:
        readable_shards(ckpt)
    assert str(err.value) == (
        f"{ckpt / 'data' / 'eval.parquet'}: not a traces shard (no seed or scenario column); give a folder glade generate "
        "wrote (runs/traces/NAME)"
    )


def test_lm_eval_given_a_checkpoint_as_traces_exits_2_naming_it(tmp_path, capsys, tiny):
    ckpt = sft_checkpoint(tmp_path / "ckpt")
    assert main(["lm-eval", tiny, "--traces", str(ckpt)]) == 2  # was a KeyError: 'seed' from the split's rows
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: {ckpt}: a checkpoint, not a traces dataset; give a folder glade generate wrote (runs/traces/NAME)"
    )


def test_a_shard_naming_its_scenario_but_no_seed_is_refused_too(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from glade.traces import readable_shards

    (tmp_path / "data").mkdir()
    pq.write_table(pa.table({"scenario": ["default"]}), tmp_path / "data" / "part-00000.parquet")
    with pytest.raises(ValueError, match=r"part-00000\.parquet: not a traces shard \(no seed column\)"):
        readable_shards(tmp_path)
