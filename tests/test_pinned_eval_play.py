"""Tests written by a mutation audit of playing an evaluation's worlds (glade.eval.run, locally,
and glade.eval.distributed, as Ray shards): each pins a behaviour that a plausible one-line
change (a comparison flipped, a clause dropped, a filter removed, a constant changed) left
untested. The comment on each names what it guards. The distributed tests need no cluster:
they call the driver-side helpers with ray.nodes and the runtime context stood in."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from types import SimpleNamespace

import pandas as pd
import pytest

pytest.importorskip("ray")

from resume_setup import eval_recipe  # noqa: E402
from test_eval_review import dead_seat, dead_url  # noqa: E402, F401  (dead_url: a fixture)

from glade.eval import distributed, ray_join  # noqa: E402
from glade.eval import run as eval_run  # noqa: E402
from glade.eval.recipe import load_eval_recipe  # noqa: E402
from glade.faults import SeatsFailing  # noqa: E402

# --------------------------------------------------------------------------- distributed


def with_policies(tmp_path, policies):
    return replace(load_eval_recipe(eval_recipe(tmp_path)), policies=policies)


def test_shipped_makes_local_model_folders_absolute_and_leaves_hub_names(tmp_path, monkeypatch):
    # guards shipped's checkpoint branch, ("model", "adapter") and _absolute's os.path.exists
    monkeypatch.chdir(tmp_path)
    for folder in ("base", "adapter", "ckpt"):
        (tmp_path / folder).mkdir()
    recipe = with_policies(
        tmp_path,
        {
            "local": {"kind": "hf", "model": "base", "adapter": "adapter", "max_new_tokens": 12},
            "hub": {"kind": "hf", "model": "org/not-a-folder-here"},
            "trained": {"kind": "checkpoint", "path": "ckpt"},
            "panic": "panic_seller",
        },
    )
    policies = distributed.shipped(recipe).policies
    assert policies["local"] == {
        "kind": "hf",
        "model": str(tmp_path / "base"),
        "adapter": str(tmp_path / "adapter"),
        "max_new_tokens": 12,
    }
    assert policies["hub"] == {"kind": "hf", "model": "org/not-a-folder-here"}
    assert policies["trained"] == {"kind": "checkpoint", "path": str(tmp_path / "ckpt")}
    assert policies["panic"] == "panic_seller"


def test_uses_models_is_true_when_any_policy_is_a_model_seat(tmp_path):
    # guards uses_models' any(): one model seat among stand-ins still needs the SeatServers
    mixed = {"m": {"kind": "hf", "model": "x"}, "panic": "panic_seller", "s": {"kind": "standin"}}
    assert distributed.uses_models(with_policies(tmp_path, mixed))
    assert not distributed.uses_models(with_policies(tmp_path, {"panic": "panic_seller"}))


def test_served_council_loads_only_the_other_seats_and_serves_the_model_ones(tmp_path):
    # guards served_council's `c not in models`: a model seat is never loaded inside the task
    missing = {"kind": "checkpoint", "path": str(tmp_path / "no-such-checkpoint")}
    server = object()
    council = distributed.served_council({"oona": "panic_seller", "thorn": missing}, server)
    assert set(council) == {"oona", "thorn"}
    assert not isinstance(council["oona"], distributed.ServedSeat)
    served = council["thorn"]
    assert isinstance(served, distributed.ServedSeat)
    assert (served.server, served.creature, served.council) == (server, "thorn", {"thorn": missing})


def test_served_seats_of_one_server_share_a_batch_key(tmp_path):
    # guards ServedSeat.batch_key's id(self.server): one turn's model seats go to the server in one call
    one, other = object(), object()
    seat = lambda server, creature: distributed.ServedSeat(server, "k", {}, creature)
    assert seat(one, "oona").batch_key() == seat(one, "thorn").batch_key()
    assert seat(one, "oona").batch_key() != seat(other, "oona").batch_key()


NODES = [
    {"NodeID": "alive", "Alive": True, "Resources": {"CPU": 4.0, "GPU": 1.0}},
    {"NodeID": "dead", "Alive": False, "Resources": {"CPU": 8.0, "GPU": 2.0}},
]


@pytest.fixture
def fake_cluster(monkeypatch):
    import ray

    monkeypatch.setattr(ray, "nodes", lambda: NODES)
    monkeypatch.setattr(ray, "get_runtime_context", lambda: SimpleNamespace(get_job_id=lambda: "job1"))
    monkeypatch.setattr(distributed, "_SERVERS", {})
    started = []
    monkeypatch.setattr(distributed, "_start_server", lambda node: started.append(node["NodeID"]) or node["NodeID"])
    return started


def test_seat_servers_start_one_per_alive_node_once(fake_cluster):
    # guards seat_servers' Alive filter and its `key not in _SERVERS` reuse
    assert distributed.seat_servers() == {"alive": "alive"}
    assert distributed.seat_servers() == {"alive": "alive"}
    assert fake_cluster == ["alive"]


def test_describe_counts_only_alive_nodes(fake_cluster):
    # guards describe's Alive filter: a dead node's CPUs and GPUs are not on offer
    assert ray_join.describe("here") == "here: 1 node(s), 4 CPU(s), 1 GPU(s)"


def test_a_seat_server_takes_a_gpu_on_a_node_with_exactly_one(monkeypatch):
    # guards _start_server's `>= 1`: a one-GPU node's server must hold that GPU
    asked = []
    options = lambda **kw: asked.append(kw["num_gpus"]) or SimpleNamespace(remote=lambda: None)
    monkeypatch.setattr(distributed, "SeatServer", SimpleNamespace(options=options))
    distributed._start_server({"NodeID": "ab" * 28, "Resources": {"CPU": 2.0, "GPU": 1.0}})
    distributed._start_server({"NodeID": "cd" * 28, "Resources": {"CPU": 2.0}})
    assert asked == [1, 0]


def test_check_address_leaves_ray_urls_to_ray_and_reads_a_bare_port_as_loopback():
    # guards check_address's `"://" in address` and `host or "127.0.0.1"`
    ray_join.check_address("ray://nothing-listens-here:1")  # no socket opened, no error
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        ray_join.check_address(f":{s.getsockname()[1]}")


# --------------------------------------------------------------------------- run


def two_dead_seats(tmp_path, url, **changes):
    return load_eval_recipe(
        eval_recipe(
            tmp_path,
            policies={"live": dead_seat(url)},
            councils={"two": {"focal": {"oona": "live", "thorn": "live"}}},
            **changes,
        )
    )


def test_a_worlds_faults_in_the_ledger_are_the_sum_over_its_seats(tmp_path, dead_url):  # noqa: F811
    # guards evaluate's groupby(...)["faults"].sum(): two dead seats fault twice a turn
    recipe = two_dead_seats(tmp_path, dead_url, seeds={"start": 0, "count": 1}, max_fault_share=1.0)
    result = eval_run.evaluate(recipe)
    assert (result.worlds, result.played_now) == (2, 2)
    ledger = json.loads((tmp_path / "results" / "progress.json").read_text())["episodes"]
    assert {k: v["faults"] for k, v in ledger.items()} == {
        "gambit_override.standin.s0": 0,
        "gambit_override.two.c0.s0": 12,
    }


def test_a_resumed_run_stopped_by_a_failing_seat_counts_only_its_own_shards(tmp_path, dead_url):  # noqa: F811
    # guards stop_if_failing's `part - first`: a rerun's first shard is "the first 1", not its part number
    recipe = two_dead_seats(tmp_path, dead_url)
    with pytest.raises(SeatsFailing, match=r"in the first 1 of 3 shards"):
        eval_run.evaluate(recipe)
    with pytest.raises(SeatsFailing, match=r"in the first 1 of 3 shards"):
        eval_run.evaluate(recipe)


def test_played_now_counts_worlds_not_shards(tmp_path):
    # guards evaluate's played_now: 3 seeds x (stand-in + council) worlds in shards of 2
    recipe = load_eval_recipe(eval_recipe(tmp_path))
    result = eval_run.evaluate(recipe)
    assert (result.worlds, result.played_now) == (6, 6)
    assert eval_run.evaluate(recipe).played_now == 0


def test_the_summary_uses_the_recipes_seed(tmp_path):
    # guards write_results passing recipe.seed to summarize: the bootstrap intervals follow it
    from glade.eval.metrics import summarize

    recipe = load_eval_recipe(eval_recipe(tmp_path, seed=7))
    result = eval_run.evaluate(recipe)
    summary = eval_run.write_results(recipe, result)
    expected = summarize(result.decisions, result.episodes, recipe.thresholds, 7)
    assert expected != summarize(result.decisions, result.episodes, recipe.thresholds, 0)
    assert json.loads(json.dumps({k: summary[k] for k in expected}, default=float)) == json.loads(
        json.dumps(expected, default=float)
    )


def test_a_column_with_no_value_is_written_typed(tmp_path):
    # guards _write's schema: an all-null error column is a string, not type null
    import pyarrow.parquet as pq

    frame = pd.DataFrame({"episode_id": ["a", "b"], "error": [None, None], "legend_turn": [None, None]})
    eval_run._write(frame, tmp_path / "t.parquet")
    schema = pq.read_schema(tmp_path / "t.parquet")
    assert (str(schema.field("error").type), str(schema.field("legend_turn").type)) == ("string", "int64")


def test_in_order_keeps_only_planned_worlds_in_plan_order():
    # guards _in_order's isin filter and its stable sort by plan place
    frame = pd.DataFrame({"episode_id": ["b", "x", "a", "b"], "row": [1, 2, 3, 4]})
    ordered = eval_run._in_order(frame, {"a": 0, "b": 1})
    assert list(ordered["episode_id"]) == ["a", "b", "b"] and list(ordered["row"]) == [3, 1, 4]
    assert list(ordered.index) == [0, 1, 2]


def test_on_total_hears_each_shards_longest_scenario(tmp_path):
    # guards evaluate's max(turns) per shard: a shard plays until its longest world ends
    recipe = load_eval_recipe(
        eval_recipe(
            tmp_path, scenarios=["default", "gambit_override"], turns=None, seeds={"start": 0, "count": 1}, worlds=4
        )
    )
    totals, turns = [], []
    result = eval_run.evaluate(recipe, on_total=totals.append, progress=turns.append)
    assert result.played_now == 4 and totals == [sum(turns)] == [2 * 30 + 2 * 12] and len(turns) == 30


def test_provenance_lists_the_policies_sorted_and_each_scenarios_hash():
    # guards provenance's sorted(set(...)): the summary's policy list does not follow hash order
    decisions = pd.DataFrame({"policy": ["e", "d", "c", "b", "a", "a"]})
    episodes = pd.DataFrame({"scenario": ["s", "s", "t"], "scenario_hash": ["h1", "h1", "h2"]})
    found = eval_run.provenance(decisions, episodes)
    assert found["policies"] == ["a", "b", "c", "d", "e"]
    assert found["scenario_hashes"] == {"s": "h1", "t": "h2"}


def test_live_seats_are_metered_under_the_recipes_policy_names(tmp_path):
    # guards play's seats=dict(w.focal): a council seat's meter is its policy name, not the stand-in's
    recipe = load_eval_recipe(
        eval_recipe(
            tmp_path,
            policies={"panic": "panic_seller", "hoard": "hoarder"},
            councils={"c": {"focal": {"oona": "panic", "thorn": "hoard"}}},
        )
    )
    seats = eval_run.evaluate(recipe).stats.seats
    assert (seats["panic"].decisions, seats["hoard"].decisions) == (18, 18)  # 3 seeds x 6 turns
    assert seats["standin:hoarder"].decisions == 18  # thorn in the 3 stand-in worlds only


def test_tables_come_back_in_plan_order(tmp_path):
    # guards evaluate's order = plan order: rows follow the plan, not the order shards were read
    from glade.eval.plan import plan
    from glade.eval.recipe import load_played

    recipe = load_eval_recipe(eval_recipe(tmp_path))
    result = eval_run.evaluate(recipe)
    planned = [w.episode_id for w in plan(recipe, load_played(recipe))]
    assert list(dict.fromkeys(result.episodes["episode_id"])) == planned
    assert list(dict.fromkeys(result.decisions["episode_id"])) == [e for e in planned if ".standin." not in e]


def test_a_folder_whose_parts_have_no_attribution_files_still_reads(tmp_path):
    # guards evaluate's `if p.exists()`: attribution parts are optional (folders written before them)
    recipe = load_eval_recipe(eval_recipe(tmp_path))
    eval_run.evaluate(recipe)
    parts = sorted((tmp_path / "results").rglob("*attribution*"))
    assert len(parts) == 3
    for part in parts:
        part.unlink()
    result = eval_run.evaluate(recipe)
    assert (result.worlds, result.played_now, len(result.attribution)) == (6, 0, 0)


def test_a_second_rerun_after_an_unrecorded_cost_still_records_none(tmp_path):
    # guards write_results' `kept.get("cost")`: a kept summary with cost null is not a cost to keep
    recipe = load_eval_recipe(eval_recipe(tmp_path))
    eval_run.evaluate(recipe)  # played, never summarised: its cost is lost
    assert eval_run.run_recipe(recipe)["cost"] is None
    assert eval_run.run_recipe(recipe)["cost"] is None


def test_a_cluster_that_will_not_take_the_driver_is_named_with_both_likely_causes(monkeypatch):
    # something answers at the address but is not a Ray head that lets this driver in: both the
    # address and token authentication are named (before, only the token)
    monkeypatch.setattr(distributed.ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray_join, "check_address", lambda address: None)

    def refuse(**kwargs):
        raise ConnectionError("Failed to get cluster ID\nmore")

    monkeypatch.setattr(distributed.ray, "init", refuse)
    with pytest.raises(
        OSError,
        match=r"^--ray 10.0.0.1:6379: could not join a Ray cluster there \(Failed to get "
        r"cluster ID\); check that it is a Ray head's address .* that this machine has its token",
    ):
        ray_join.connect("10.0.0.1:6379")
