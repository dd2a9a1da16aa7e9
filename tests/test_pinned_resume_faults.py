"""Tests written by a mutation audit of resume, seat faults, the meter, the eval plan and the
files glade writes (glade.resume, glade.faults, glade.eval.faults, glade.meter, glade.eval.plan,
glade.episode_folder, glade.files): each pins a behaviour that a plausible one-line change (a
comparison flipped, an off-by-one, a clause dropped, a constant changed) left untested. The
comment on each names what it guards. Resume is tested on the real shard logs of both verbs
(glade.traces_ledger.shard_log, glade.eval.plan.shard_log) with shards written by hand, so each test
is fast and says exactly which file an interrupted run left."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_resume import bare_log

from glade.eval.plan import shard_log as eval_log
from glade.eval.plan import shards
from glade.eval.rows import PlannedWorld
from glade.traces_ledger import shard_log as traces_log

# --------------------------------------------------------------------------- resume


def write(log, kind: str, part: int, episodes: list[str]) -> None:
    """A shard of `kind` for `part`, one row per episode id (what episodes_in reads)."""
    path = log.path(kind, part)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"episode_id": pa.array(episodes, type=pa.string())}), path)


def ids(path) -> list[str]:
    return sorted(pq.read_table(path)["episode_id"].to_pylist())


def ledger(log) -> dict:
    return json.loads((log.root / "progress.json").read_text())["episodes"]


def test_a_shard_holding_an_episode_its_part_does_not_list_is_replayed(tmp_path):
    # guards _replay_unreadable's `elif found - members`: a part's shard with rows of an episode
    # the ledger lists elsewhere (or not at all) would count that episode's rows twice
    log = traces_log(tmp_path / "out")
    state = log.start({})
    write(log, "traces", 0, ["a"])
    log.finish(state, 0, {"a": 0})
    write(log, "traces", 1, ["b", "a"])  # a part overwritten by another run's rows
    log.finish(state, 1, {"b": 0})
    again = log.start({})
    assert again.done == {"a"} and ledger(log) == {"a": {"part": 0, "faults": 0}}
    assert "data/part-00001.parquet: holds 1 episode(s) its part does not list; its 1 episode(s) play again" in (
        again.replayed
    )
    assert (log.root / "corrupt" / "data" / "part-00001.parquet").exists()
    assert not log.path("traces", 1).exists()


def test_an_eval_part_lacking_a_world_in_its_episodes_shard_is_replayed_though_decisions_hold_it(tmp_path):
    # guards `held |= found if kind in self.complete`: decisions hold live worlds only, so a world
    # found there but missing from the episodes shard is still a part that lost rows
    log = eval_log(tmp_path / "out")
    state = log.start({})
    write(log, "decisions", 0, ["w1", "w2"])
    write(log, "episodes", 0, ["w1"])  # w2's episode row lost
    write(log, "attribution", 0, [])
    log.finish(state, 0, {"w1": 0, "w2": 0})
    again = log.start({})
    assert again.done == set() and again.next_part() == 0
    assert again.replayed == [
        "shards/episodes-00000.parquet: lacks 1 episode(s) its part lists; its 2 episode(s) play again"
    ]


def test_a_replayed_eval_part_moves_every_kind_of_its_shards_aside(tmp_path):
    # guards the loop over every shard kind that moves a replayed part aside: a kind left behind
    # stays in shards/ unlisted, and the part played again would sit beside it
    log = eval_log(tmp_path / "out")
    state = log.start({})
    write(log, "decisions", 0, ["w1"])
    write(log, "episodes", 0, ["w1"])
    write(log, "attribution", 0, [])
    log.finish(state, 0, {"w1": 0})
    log.path("decisions", 0).write_bytes(b"not parquet")
    again = log.start({})
    assert again.done == set() and sorted(p.name for p in (log.root / "shards").iterdir()) == []
    moved = sorted(p.name for p in (log.root / "corrupt" / "shards").iterdir())
    assert moved == ["attribution-00000.parquet", "decisions-00000.parquet", "episodes-00000.parquet"]


def test_a_part_of_leave_one_out_replays_only_resumes(tmp_path):
    # guards eval shard_log's complete=("episodes", ATTRIBUTION): a replay's rows are only in the
    # attribution shard, and a part of replays must not be read as one that lost its worlds
    log = eval_log(tmp_path / "out")
    state = log.start({})
    write(log, "decisions", 0, ["w1.without-oona"])
    write(log, "episodes", 0, [])
    write(log, "attribution", 0, ["w1.without-oona"])
    log.finish(state, 0, {"w1.without-oona": 0})
    again = log.start({})
    assert again.done == {"w1.without-oona"} and again.replayed == []


def test_one_faulted_episode_replays_alone_and_its_partners_rows_stay(tmp_path):
    # guards _replay_faulted's `emptied = all(...)`: a part with some faulted episodes keeps the
    # others' rows; dropping the whole shard would lose rows of episodes the ledger keeps
    log = eval_log(tmp_path / "out")
    state = log.start({})
    for kind in ("decisions", "episodes", "attribution"):
        write(log, kind, 0, ["w1", "w2"])
    log.finish(state, 0, {"w1": 0, "w2": 1})  # a single fault is enough
    again = log.start({})
    assert again.done == {"w1"} and again.replayed == ["1 episode(s) with 1 seat fault(s) play again"]
    for kind in ("decisions", "episodes", "attribution"):
        assert ids(log.path(kind, 0)) == ["w1"]
    assert ledger(log) == {"w1": {"part": 0, "faults": 0}} and again.next_part() == 1


def test_shard_names_are_matched_whole_and_to_five_digits(tmp_path):
    # guards _patterns' `(\d{5})` and its closing `$`: part-1.parquet or part-00000.parquet.bak
    # beside a listed part 0 or 1 are not its shard; read as one they would be kept unread
    for stray in ("part-1.parquet", "part-00000.parquet.bak", "part-000001.parquet"):
        log = bare_log(tmp_path / stray)
        state = log.start({})
        write(log, "data", 0, ["a"])
        write(log, "data", 1, ["b"])
        log.finish(state, 0, {"a": 0})
        log.finish(state, 1, {"b": 0})
        (log.root / "data" / stray).write_bytes(b"x")
        with pytest.raises(ValueError, match=rf"{stray}: not a shard this folder lists"):
            log.start({})
        assert (log.root / "data" / stray).read_bytes() == b"x"


def test_only_a_hidden_temporary_shard_is_dropped_never_another_tmp_file(tmp_path):
    # guards `names.match(item.name[1:-4])`: a kill's .part-NNNNN.parquet.tmp goes, a user's
    # .notes.tmp beside the shards is refused and kept
    log = bare_log(tmp_path)
    log.start({})
    (log.root / "data" / ".part-00000.parquet.tmp").write_bytes(b"half")
    assert log.start({}).replayed == [] and not (log.root / "data" / ".part-00000.parquet.tmp").exists()
    (log.root / "data" / ".notes.tmp").write_text("mine")
    with pytest.raises(ValueError, match=r"\.notes\.tmp: not a shard this folder lists"):
        log.start({})
    assert (log.root / "data" / ".notes.tmp").read_text() == "mine"


def test_abandon_keeps_a_folder_the_run_did_not_create(tmp_path):
    # guards abandon's `not state.created`: an out folder that was there before the run (empty,
    # made by the user) stays, and so does its ledger; one the run created goes
    (tmp_path / "mine" / "out").mkdir(parents=True)
    log = bare_log(tmp_path / "mine")
    log.abandon(log.start({}))
    assert (tmp_path / "mine" / "out" / "progress.json").exists()
    fresh = bare_log(tmp_path / "fresh")
    state = fresh.start({})
    assert state.created
    fresh.abandon(state)
    assert not (tmp_path / "fresh" / "out").exists() and (tmp_path / "fresh").is_dir()


def test_a_folder_written_when_levers_decided_the_rows_resumes_without_them(tmp_path):
    # guards eval shard_log's dropped=("levers",): a ledger written before 2026-12-03 holds the
    # key, and the same recipe now must not read as another one
    log = eval_log(tmp_path / "out")
    log.start({"policies": {"p": "panic_seller"}, "levers": ["gambit"]})
    log.check({"policies": {"p": "panic_seller"}})
    with pytest.raises(ValueError, match=r"holds a run of another recipe \(policies"):
        log.check({"policies": {"p": "hoarder"}})


# --------------------------------------------------------------------------- eval plan


def world(i: int) -> PlannedWorld:
    return PlannedWorld(f"w{i}", f"p{i}", "s", "c", 0, i, {})


def test_shards_are_cut_from_the_whole_plan_and_never_empty():
    # guards shards' blocks of the plan (not of what is left) and its `if todo`: a rerun's
    # shards hold the same worlds as the first run's, and a finished block is no shard at all
    planned = [world(i) for i in range(6)]
    names = lambda todo: [[w.episode_id for w in shard] for shard in todo]  # noqa: E731
    assert names(shards(planned, set(), 2)) == [["w0", "w1"], ["w2", "w3"], ["w4", "w5"]]
    assert names(shards(planned, {"w1"}, 2)) == [["w0"], ["w2", "w3"], ["w4", "w5"]]
    assert names(shards(planned, {"w2", "w3"}, 2)) == [["w0", "w1"], ["w4", "w5"]]


def eval_inputs(tmp_path, **changes):
    from resume_setup import eval_recipe

    from glade.eval.recipe import load_eval_recipe, load_played

    recipe = load_eval_recipe(eval_recipe(tmp_path, **changes))
    return recipe, load_played(recipe)


def test_attribution_replays_each_focal_seat_of_a_council_of_two_and_none_of_one(tmp_path):
    # guards plan's `len(focal) > 1` and the replay's `c != creature`: a council of one focal
    # seat left out is its stand-in world (no replay); of two, each replay keeps the other
    from glade.eval.plan import plan

    councils = {"one": {"focal": {"oona": "panic"}}, "two": {"focal": {"oona": "panic", "thorn": "panic"}}}
    recipe, scenarios = eval_inputs(tmp_path, councils=councils, attribution=True, seeds={"start": 0, "count": 1})
    worlds = {w.episode_id: w for w in plan(recipe, scenarios)}
    replays = sorted(e for e, w in worlds.items() if w.left_out)
    assert replays == ["gambit_override.two.c0.s0.without-oona", "gambit_override.two.c0.s0.without-thorn"]
    assert worlds[replays[0]].focal == {"thorn": "panic"} and worlds[replays[1]].focal == {"oona": "panic"}
    assert len(worlds) == 5  # the stand-in world, a world of each council, two replays


@pytest.mark.parametrize("key, value", [("attribution", True), ("max_fault_share", 0.5)])
def test_keys_that_cannot_change_the_rows_leave_the_results_recipe_alone(tmp_path, key, value):
    # guards RUN_ONLY_KEYS' attribution and max_fault_share: switching either on a finished
    # folder resumes it (attribution then plays only its replays) rather than refusing it
    from glade.run_limits import results_recipe

    base, _ = eval_inputs(tmp_path)
    changed, _ = eval_inputs(tmp_path, **{key: value})
    assert getattr(changed, key) == value and results_recipe(changed) == results_recipe(base)


# --------------------------------------------------------------------------- eval faults


def test_fault_rows_and_the_worlds_they_were_in_are_left_out_and_counted():
    # guards without_faults: only fault rows go (a parse error stays), only worlds with
    # faults > 0 go, and both are counted
    import pandas as pd

    from glade.eval.faults import without_faults

    decisions = pd.DataFrame(
        {"episode_id": ["a", "a", "b", "b"], "error": [None, "server_refused", "bad_json", "server_timeout"]}
    )
    episodes = pd.DataFrame({"episode_id": ["a", "b", "c"], "faults": [1, 1, 0]})
    kept, worlds, excluded = without_faults(decisions, episodes)
    assert kept.index.tolist() == [0, 2] and worlds["episode_id"].tolist() == ["c"]
    assert excluded == {"fault_rows": 2, "fault_worlds": 2}


# --------------------------------------------------------------------------- meter


def meter(decisions: int, faults: int = 0, prompt: int = 0, completion: int = 0, seconds: float = 0.0):
    from glade.faults import SeatMeter

    m = SeatMeter(decisions, prompt_tokens=prompt, completion_tokens=completion, model_seconds=seconds)
    if faults:
        m.faults["server_refused"] = faults
    return m


def test_the_estimate_scales_answered_decisions_and_the_time_outside_the_models_by_world_turns():
    # guards estimate's `m.decisions - m.fault_count` (a faulted turn has no tokens), the time
    # outside the models (total less model seconds, per world-turn x planned world-turns) and
    # Estimate.seconds adding the seats' loading
    from glade.meter import Calibration, Plan, estimate
    from glade.rollout import RolloutStats

    stats = RolloutStats(decisions=4, model_seconds=4.0, total_seconds=10.0)
    stats.seats["hf:tiny"] = meter(4, faults=1, prompt=30, completion=6, seconds=3.0)
    plan = Plan(episodes=2, world_turns=12, decisions={"hf:tiny": 6})
    expected = estimate(plan, Calibration(stats, world_turns=3, worlds=1, setup_seconds=5.0))
    assert (expected.prompt_tokens, expected.completion_tokens) == (60, 12)  # 6 planned / 3 answered
    assert expected.model_seconds == pytest.approx(6.0) and expected.outside_seconds == pytest.approx(24.0)
    assert expected.seconds == pytest.approx(35.0)


def test_a_calibration_counts_the_world_turns_a_short_scenario_really_plays():
    # guards calibrate's `min(1 + CALIBRATION_TURNS, e.scenario.turns)` and `turns - 1`: a 1-turn
    # world's only turn is the warm-up, so it is played again, measured; a 5-turn world measures
    # turns 1 and 2
    from glade.env import load_scenario
    from glade.meter import calibrate
    from glade.rollout import EpisodeSpec
    from glade.seats import load_council

    def specs():
        out = []
        for i, turns in enumerate((1, 5)):
            scenario = load_scenario("default", turns=turns)
            council = load_council({c: k.disposition for c, k in scenario.creatures.items()})
            out.append(EpisodeSpec(f"e{i}", scenario, i, council))
        return out

    measured = calibrate(specs)
    assert (measured.world_turns, measured.worlds) == (3, 2)  # 1 + 2 measured turns
    assert measured.stats.decisions == 3 * len(load_scenario("default").creatures)
    assert measured.stats.seats["standin:hoarder"].decisions == 3  # Oona: once in each measured world-turn


def test_worlds_of_one_turn_are_timed_on_that_turn():
    # guards calibrate's replay of one-turn worlds: with nothing after the opening, the opening is measured
    from glade.env import load_scenario
    from glade.meter import calibrate
    from glade.rollout import EpisodeSpec
    from glade.seats import load_council

    scenario = load_scenario("default", turns=1)
    council = load_council({c: k.disposition for c, k in scenario.creatures.items()})
    measured = calibrate(lambda: [EpisodeSpec(f"e{i}", scenario, i, council) for i in range(2)])
    assert (measured.world_turns, measured.worlds, measured.stats.decisions) == (2, 2, 2 * len(scenario.creatures))


def test_run_cost_rates_episodes_by_wall_time_and_a_whole_run_is_no_part():
    # guards run_cost's `episodes / wall_seconds` (not the summed play time) and cost_part's
    # `0 < episodes < worlds`: a run that played every world is not called a part
    from glade.rollout import RolloutStats
    from glade.run_cost import cost_part, run_cost

    stats = RolloutStats(decisions=8, model_seconds=1.0, total_seconds=8.0)
    cost = run_cost(stats, wall_seconds=2.0, episodes=4)
    assert cost["episodes_per_s"] == 2.0 and cost["model_share"] == 0.125
    assert cost_part(cost, 4) is None and cost_part(cost, 5).startswith("the run that played the last 4 of the 5")


def test_adding_a_processs_stats_folds_in_its_faults():
    # guards add's `into.faults.update(m.faults)`: a Ray shard's seat faults count in the run's
    from glade.rollout import RolloutStats
    from glade.run_cost import add

    total, part = RolloutStats(), RolloutStats(decisions=3, policy_calls=2)
    total.seats["live"] = meter(2, faults=1)
    part.seats["live"] = meter(3, faults=2)
    add(total, part)
    assert total.seats["live"].fault_count == 3 and total.seats["live"].decisions == 5 and total.policy_calls == 2


# --------------------------------------------------------------------------- episode folder, files


def test_an_episode_folder_is_new_empty_or_a_whole_episode_glade_wrote(tmp_path):
    # guards check_episode_folder: an empty folder is fine; a trace alone, or a summary.json
    # lacking any of the keys write_episode writes, is refused and named
    from glade.episode_folder import check_episode_folder

    check_episode_folder(tmp_path)
    (tmp_path / "trace.parquet").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"holds files that are not an episode glade simulate wrote \(trace.parquet\)"):
        check_episode_folder(tmp_path)
    (tmp_path / "summary.json").write_text(json.dumps({"scenario_hash": "h", "seed": 0}))
    with pytest.raises(ValueError, match=r"holds files that are not an episode glade simulate wrote \(summary.json\)"):
        check_episode_folder(tmp_path)
    (tmp_path / "summary.json").write_text(json.dumps({"scenario_hash": "h", "seed": 0, "conservation_problems": []}))
    check_episode_folder(tmp_path)


def test_an_atomic_write_cut_short_leaves_neither_file_and_writes_a_hidden_sibling(tmp_path):
    # guards atomic's hidden temporary name (readers and resume skip .NAME.tmp) and its cleanup
    from glade.files import atomic

    target = tmp_path / "part.parquet"
    with pytest.raises(RuntimeError):
        with atomic(target) as tmp:
            assert tmp.name.startswith(".part.parquet.") and tmp.name.endswith(".tmp")  # .NAME.PID-HEX.tmp
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_check_replaceable_refuses_a_folder_and_json_with_keys_wants_every_key(tmp_path):
    # guards check_replaceable's folder refusal and json_with_keys' `keys <= set(data)`
    from glade.files import check_replaceable, json_with_keys

    with pytest.raises(ValueError, match=r"--out .*: is a folder; --out names the board file to write"):
        check_replaceable(tmp_path, json_with_keys({"a"}), "board")
    holds = json_with_keys({"a", "b"})
    assert holds('{"a": 1, "b": 2}') and not holds('{"a": 1}') and not holds("[1]")
    (tmp_path / "mine.json").write_text('{"a": 1}')
    with pytest.raises(ValueError, match=r"exists and is not a board glade wrote"):
        check_replaceable(tmp_path / "mine.json", holds, "board")
