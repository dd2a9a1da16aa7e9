"""Tests written by a second mutation audit of resume, the meter, the eval plan and the files
glade writes (glade.resume, glade.meter, glade.eval.plan, glade.files), after the first
(tests/test_pinned_resume_faults.py): each pins a behaviour that a plausible one-line change (a
comparison flipped, an off-by-one, a clause dropped, a constant changed, two steps swapped) left
untested. The comment on each names what it guards. Resume is tested on the real shard logs of
both verbs and on bare ShardLogs, with shards written by hand, so each test is fast and says
exactly which file an interrupted run left."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_pinned_resume_faults import eval_inputs, ids, ledger, meter, write
from test_resume import bare_log

from glade.eval.plan import shard_log as eval_log
from glade.resume import ShardLog

# --------------------------------------------------------------------------- resume


def test_a_part_both_unreadable_and_faulted_is_moved_aside_before_any_faulted_row_is_read(tmp_path):
    # guards start's order, _replay_unreadable before _replay_faulted: a faulted episode's part
    # must be read to drop its rows, and an unreadable one would stop the rerun with a raw error
    log = bare_log(tmp_path)
    state = log.start({})
    write(log, "data", 0, ["a", "b"])
    log.finish(state, 0, {"a": 1, "b": 0})
    log.path("data", 0).write_bytes(b"PAR1 garbage")
    again = log.start({})
    assert again.done == set() and len(again.replayed) == 1
    assert again.replayed[0].startswith("data/part-00000.parquet: unreadable (")
    assert again.replayed[0].endswith("; its 2 episode(s) play again")
    assert (log.root / "corrupt" / "data" / "part-00000.parquet").read_bytes() == b"PAR1 garbage"


def test_abandon_removes_nested_shard_folders_deepest_first(tmp_path):
    # guards abandon's sort by `-len(p.parts)`: a parent folder tried before the folder inside it
    # is not yet empty, so the run's folders would stay behind
    log = ShardLog(tmp_path / "out", {"a": "x/a-{part:05d}.parquet", "b": "x/y/b-{part:05d}.parquet"})
    state = log.start({})
    assert (log.root / "x" / "y").is_dir()
    log.abandon(state)
    assert not (tmp_path / "out").exists()


def test_rows_of_a_scenario_the_run_passes_no_hash_for_are_not_called_stale(tmp_path):
    # guards check_rows' `name in now`: with no hashes (a dry run of a bare log) or hashes of
    # other scenarios only, finished rows are not refused as played under other rules
    log = bare_log(tmp_path)
    state = log.start({})
    path = log.path("data", 0)
    pq.write_table(pa.table({"episode_id": ["a"], "scenario": ["gambit"], "scenario_hash": ["h1"]}), path)
    log.finish(state, 0, {"a": 0})
    assert log.start({}).done == {"a"}
    assert log.start({}, {"other": {"h9"}}).done == {"a"}
    with pytest.raises(
        ValueError, match=r"episodes of gambit were played under other rules \(scenario hash h1, now h2"
    ):
        log.start({}, {"gambit": {"h2"}})


def test_a_faulted_episode_of_a_part_without_its_optional_shard_replays(tmp_path):
    # guards _replay_faulted's skip of a missing optional kind: an eval folder from before
    # attribution has no attribution shard, and reading it would stop the rerun
    log = eval_log(tmp_path / "out")
    state = log.start({})
    write(log, "decisions", 0, ["w1", "w2"])
    write(log, "episodes", 0, ["w1", "w2"])
    log.finish(state, 0, {"w1": 2, "w2": 0})
    again = log.start({})
    assert again.done == {"w2"} and again.replayed == ["1 episode(s) with 2 seat fault(s) play again"]
    assert ids(log.path("episodes", 0)) == ["w2"] and ids(log.path("decisions", 0)) == ["w2"]
    assert not log.path("attribution", 0).exists() and ledger(log) == {"w2": {"part": 0, "faults": 0}}


def test_a_folder_holding_a_plain_tmp_file_and_no_ledger_is_refused(tmp_path):
    # guards _holds_files' `startswith(".") and endswith(".tmp")`: only the hidden temporary a
    # killed first ledger leaves is nothing to lose; a user's notes.tmp is a file glade never wrote
    log = bare_log(tmp_path)
    log.root.mkdir()
    (log.root / ".progress.json.tmp").write_text("{")
    log.check({})
    (log.root / "notes.tmp").write_text("mine")
    with pytest.raises(
        ValueError,
        match=r"holds files but no progress.json, so nothing this verb can resume \(a glade simulate episode",
    ):
        log.check({})
    assert (log.root / "notes.tmp").read_text() == "mine"


def test_a_ledger_that_is_a_json_list_is_named_not_a_ledger(tmp_path):
    # guards _ledger's `isinstance(data, dict)`: a progress.json holding a list is refused in one line
    # naming the file and what is wrong, not with a raw AttributeError or its class name
    log = bare_log(tmp_path)
    log.root.mkdir()
    (log.root / "progress.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"progress.json: not a glade progress ledger \(not a JSON object\); move"):
        log.start({})


def test_rows_whose_protocol_version_is_null_are_refused(tmp_path):
    # guards check_rows' `protocols - {PROTOCOL_VERSION}` counting a null: rows that do not say
    # which protocol rendered them cannot be resumed beside rows of this one
    log = bare_log(tmp_path)
    state = log.start({})
    pq.write_table(
        pa.table({"episode_id": ["a"], "protocol_version": pa.array([None], type=pa.int64())}), log.path("data", 0)
    )
    log.finish(state, 0, {"a": 0})
    with pytest.raises(ValueError, match=r"rendered with prompt protocol none \(an empty cell\), this glade renders"):
        log.start({})


def test_a_shard_holding_other_episodes_than_its_part_lists_is_replayed_though_as_many(tmp_path):
    # guards _replay_unreadable's `found - members` (a set difference, not a count): a shard
    # overwritten by another part's rows holds as many episodes as the ledger lists, none of them
    log = bare_log(tmp_path)
    state = log.start({})
    write(log, "data", 0, ["z"])
    log.finish(state, 0, {"a": 0})
    again = log.start({})
    assert again.done == set()
    assert again.replayed == [
        "data/part-00000.parquet: holds 1 episode(s) its part does not list; its 1 episode(s) play again"
    ]


def test_listed_shards_come_in_part_order_whatever_order_the_parts_were_listed(tmp_path):
    # guards Resumed.parts' sort: a set of part numbers iterates 8 before 1, and the rows a
    # folder is read back in would then depend on which parts a rerun replayed
    log = bare_log(tmp_path)
    state = log.start({})
    log.finish(state, 8, {"a": 0})
    log.finish(state, 1, {"b": 0})
    assert state.parts() == [1, 8] and state.next_part() == 9
    assert [p.name for p in log.listed("data", state)] == ["part-00001.parquet", "part-00008.parquet"]


def test_a_fault_count_of_a_numpy_integer_is_listed_as_a_plain_one(tmp_path):
    # guards finish's int(count): counts summed by pandas or numpy are not JSON, and the ledger
    # would fail to write after the part's shards were
    import numpy as np

    log = bare_log(tmp_path)
    state = log.start({})
    log.finish(state, 0, {"a": np.int64(2)})
    assert ledger(log) == {"a": {"part": 0, "faults": 2}}


# --------------------------------------------------------------------------- meter


def test_a_seat_spec_is_labelled_by_the_last_part_of_its_model_and_adapter():
    # guards spec_label's rstrip("/") before the last path part, of the model and of the adapter,
    # and a bare stand-in spec's "balanced"
    from glade.meter import spec_label

    assert spec_label({"kind": "hf", "model": "org/tiny-lm/", "adapter": "runs/a/lora/"}) == "hf:tiny-lm+lora"
    assert spec_label({"kind": "checkpoint", "path": "ckpt/step-9"}) == "checkpoint:step-9"
    assert spec_label({"kind": "standin"}) == "standin:balanced" and spec_label("hoarder") == "standin:hoarder"


def estimate_of(seats: dict, decisions: dict, free=frozenset(), model_calls=None, total=10.0, model=4.0):
    from glade.meter import Calibration, Plan, estimate
    from glade.rollout import RolloutStats

    stats = RolloutStats(decisions=sum(m.decisions for m in seats.values()), model_seconds=model, total_seconds=total)
    stats.seats.update(seats)
    plan = Plan(episodes=1, world_turns=4, decisions=decisions, free=frozenset(free), model_calls=model_calls)
    return estimate(plan, Calibration(stats, world_turns=2, worlds=1))


def test_the_estimate_rounds_tokens_and_never_counts_negative_time_outside_the_models():
    # guards estimate's round() of the scaled tokens (not int()), Estimate.tokens summing both
    # kinds, and `max(total - model, 0.0)`: a Ray calibration can measure more model seconds
    # than its wall time
    expected = estimate_of({"hf:a": meter(3, prompt=7, completion=2, seconds=1.0)}, {"hf:a": 5}, total=1.0, model=2.0)
    assert (expected.prompt_tokens, expected.completion_tokens) == (12, 3)  # 7 x 5/3 = 11.7, 2 x 5/3 = 3.3
    assert expected.tokens == 15  # both kinds: what max_tokens is checked against
    assert expected.outside_seconds == 0.0 and expected.seconds == pytest.approx(5 / 3)


def test_fault_lines_name_only_faulted_seats_and_tell_all_failed_from_some():
    # guards fault_lines' `if not failed` and `failed == measured_decisions`, and the estimate
    # keeping each seat's measured faults
    from glade.meter import fault_lines

    seats = {"hf:all": meter(2, faults=2), "hf:some": meter(3, faults=2), "hf:none": meter(3)}
    lines = fault_lines(estimate_of(seats, {"hf:all": 4, "hf:none": 4, "hf:some": 4}))
    assert len(lines) == 2
    assert lines[0].startswith("hf:all: 2 of 2 trial decisions failed (server_refused 2); its tokens and time")
    assert "check that its server is up" in lines[0]
    assert lines[1] == (
        "hf:some: 2 of 3 trial decisions failed (server_refused 2); "
        "its tokens and time are estimated from the answered ones"
    )


def test_the_estimate_table_dashes_a_stand_ins_tokens_and_lines_count_zero_model_calls():
    # guards estimate_table's `label in plan.free`, estimate_lines' `model_calls is not None` (a
    # plan of stand-ins only makes 0 batched model calls, and says so) and its set limits only
    from glade.meter import estimate_lines, estimate_table

    expected = estimate_of({"standin:balanced": meter(4)}, {"standin:balanced": 8}, {"standin:balanced"}, 0)
    assert estimate_table(expected)[1] == [["standin:balanced (stand-in)", "8", "-", "-", "-"]]
    assert ", 0 batched model calls, about 0 tokens" in estimate_lines(expected, {})[0]
    lines = estimate_lines(expected, {"max_decisions": 1000, "max_tokens": None})
    assert lines[1].endswith("; limits: max_decisions 1,000")  # an unset limit is not named


def test_a_token_limit_without_an_estimate_is_not_checked():
    # guards over_limits' `planned[k] is not None`: before calibrating there is no token figure
    # to compare, so a max_tokens limit waits for the estimate rather than failing
    from glade.meter import Plan, check_limits, over_limits

    plan = Plan(episodes=1, world_turns=2, decisions={"hf:a": 5})
    assert over_limits(plan, {"max_decisions": 5, "max_tokens": 1}) == {}
    check_limits(plan, "r.yaml", None, 1)
    with pytest.raises(ValueError, match=r"r.yaml: max_decisions: this run would ask model seats for 5 decisions"):
        check_limits(plan, "r.yaml", 4, 1)


def test_run_cost_counts_completion_tokens_and_faults_and_a_seat_without_time_has_no_rate():
    # guards run_cost's sums of completion tokens and faults, seat_cost's None rate at 0 model
    # seconds, and closing_line's sum of both token kinds and its "-" for no rate
    from glade.rollout import RolloutStats
    from glade.run_cost import closing_line, cost_table, run_cost

    stats = RolloutStats(decisions=5, total_seconds=2.0)
    stats.seats.update({"a": meter(2, faults=1, prompt=10, completion=3), "b": meter(3, prompt=5, completion=4)})
    cost = run_cost(stats, wall_seconds=0.0, episodes=1)
    assert (cost["prompt_tokens"], cost["completion_tokens"], cost["faults"]) == (15, 7, 1)
    assert cost["seats"]["a"]["decisions_per_s"] is None and cost["episodes_per_s"] is None
    assert (
        "(2.0 s of it play, 0.0% of that inside the models, - episodes/s); 22 tokens (15 prompt + 7 completion); 1 faults"
        in (closing_line(cost))
    )
    rows = cost_table(cost)[1]
    assert rows[0][5:] == ["-", "1 (50%)"] and rows[1][5:] == ["-", "0"]


def test_a_nan_rate_in_a_folders_cost_shows_as_a_dash():
    # guards cost_table's isnan: a summary.json read back may hold NaN for a seat's rate
    from glade.run_cost import cost_table

    seat = {"decisions": 1, "prompt_tokens": 0, "completion_tokens": 0, "model_seconds": 0.0, "faults": {}}
    assert cost_table({"seats": {"a": seat | {"decisions_per_s": float("nan")}}})[1][0][5] == "-"


def test_adding_a_processs_stats_sums_every_figure():
    # guards add's `+=` of the run's decisions, total seconds and policy calls, and of each
    # seat's decisions and tokens (a Ray run folds in one process's stats per shard)
    from glade.rollout import RolloutStats
    from glade.run_cost import add

    total = RolloutStats(decisions=2, model_seconds=1.0, total_seconds=3.0, policy_calls=1)
    total.seats["a"] = meter(2, prompt=10, completion=1, seconds=1.0)
    part = RolloutStats(decisions=5, model_seconds=2.0, total_seconds=4.0, policy_calls=2)
    part.seats.update({"a": meter(3, prompt=5, completion=2, seconds=2.0), "b": meter(2, completion=6)})
    add(total, part)
    assert (total.decisions, total.model_seconds, total.total_seconds, total.policy_calls) == (7, 3.0, 7.0, 3)
    a, b = total.seats["a"], total.seats["b"]
    assert (a.decisions, a.prompt_tokens, a.completion_tokens, a.model_seconds) == (5, 15, 3, 3.0)
    assert (b.decisions, b.completion_tokens) == (2, 6)


# --------------------------------------------------------------------------- eval plan


def test_each_scenario_and_seed_has_one_stand_in_world_that_its_council_worlds_pair_with(tmp_path):
    # guards plan's all-stand-in world per (scenario, seed) and the pair id its council worlds share
    from glade.eval.plan import plan

    recipe, scenarios = eval_inputs(tmp_path, seeds={"start": 4, "count": 2})
    worlds = plan(recipe, scenarios)
    assert [(w.episode_id, w.pair_id, w.council, w.focal) for w in worlds] == [
        ("gambit_override.standin.s4", "gambit_override.s4", "standin", {}),
        ("gambit_override.all_panic.c0.s4", "gambit_override.s4", "all_panic", worlds[1].focal),
        ("gambit_override.standin.s5", "gambit_override.s5", "standin", {}),
        ("gambit_override.all_panic.c0.s5", "gambit_override.s5", "all_panic", worlds[3].focal),
    ]
    assert set(worlds[1].focal.values()) == {"panic"} and len(worlds[1].focal) == len(
        scenarios["gambit_override"].creatures
    )


def test_a_worlds_seats_are_its_focal_policies_and_each_other_creatures_own_disposition(tmp_path):
    # guards seat_specs' scenario disposition for creatures not focal, and seat_council's cache
    # key naming the scenario: the same focal seats in two scenarios are two councils
    from glade.env import load_scenario
    from glade.eval.plan import seat_council, seat_specs

    recipe, scenarios = eval_inputs(tmp_path)
    scenario = scenarios["gambit_override"]
    first, *rest = scenario.creatures
    specs = seat_specs(recipe, scenario, {first: "panic"})
    assert specs == {first: "panic_seller"} | {c: scenario.creatures[c].disposition for c in rest}
    assert len({scenario.creatures[c].disposition for c in rest}) > 1  # not one stand-in for all
    other = load_scenario("default")
    cache, calls = {}, []
    load = lambda specs: calls.append(specs) or len(calls)  # noqa: E731
    assert seat_council(recipe, scenario, {first: "panic"}, cache, load) == 1
    assert seat_council(recipe, scenario, {first: "panic"}, cache, load) == 1
    assert seat_council(recipe, other, {first: "panic"}, cache, load) == 2
    assert calls[1] == seat_specs(recipe, other, {first: "panic"})


@pytest.mark.parametrize(
    "key, value",
    [("max_decisions", 10), ("max_tokens", 10), ("thresholds", {"fdr_q": 0.2}), ("seed", 7), ("worlds", 1)],
)
def test_more_keys_that_cannot_change_the_rows_leave_the_results_recipe_alone(tmp_path, key, value):
    # guards RUN_ONLY_KEYS' limits, thresholds, the resampling seed and worlds: changing one on a
    # finished folder resumes it rather than refusing it as another recipe
    from glade.run_limits import results_recipe

    base, _ = eval_inputs(tmp_path)
    changed, _ = eval_inputs(tmp_path, **{key: value})
    assert changed != base and results_recipe(changed) == results_recipe(base)


def test_a_server_seats_transport_keys_leave_the_results_recipe_alone(tmp_path):
    # guards results_recipe's results_spec of each policy: a server's URL or timeout cannot change
    # its answers, its model can
    from glade.run_limits import results_recipe

    def policies(**spec):
        return {"panic": "panic_seller", "live": {"kind": "server", "model": "m", "base_url": "http://a:1"} | spec}

    councils = {"all_panic": {"focal": {"*": "live"}}}
    base, _ = eval_inputs(tmp_path, policies=policies(), councils=councils)
    moved, _ = eval_inputs(tmp_path, policies=policies(base_url="http://b:2", timeout=9), councils=councils)
    other, _ = eval_inputs(tmp_path, policies=policies(model="n"), councils=councils)
    assert results_recipe(moved) == results_recipe(base) != results_recipe(other)
    assert "base_url" not in results_recipe(base)["policies"]["live"]


# --------------------------------------------------------------------------- files


def test_check_replaceable_lets_a_new_file_be_written_and_refuses_a_binary_one(tmp_path):
    # guards check_replaceable's `not path.exists()` return and its UnicodeDecodeError catch: a
    # file that is not text is not one glade wrote, and is refused in one line, not a traceback
    from glade.files import check_replaceable, json_with_keys

    holds = json_with_keys({"a"})
    check_replaceable(tmp_path / "new.json", holds, "board")
    (tmp_path / "photo.json").write_bytes(b"\xff\xd8\xff\xe0 not text")
    with pytest.raises(ValueError, match=r"--board .*photo.json: exists and is not a board glade wrote; glade never"):
        check_replaceable(tmp_path / "photo.json", holds, "board", "--board")
    assert not holds('["a"]')  # a JSON list naming the keys is no object holding them


def test_check_folder_path_refuses_a_file_and_a_path_under_one(tmp_path):
    # guards check_folder_path's two refusals: the folder is a file, or lies under one
    from glade.files import check_folder_path

    (tmp_path / "s.json").write_text("{}")
    check_folder_path(tmp_path / "new" / "deeper")
    with pytest.raises(ValueError, match=r"s.json: is a file; give a folder to write into"):
        check_folder_path(tmp_path / "s.json")
    with pytest.raises(ValueError, match=r"out: .*s.json is a file, so no folder can be made under it; give another"):
        check_folder_path(tmp_path / "s.json" / "deep" / "out")
