"""Nothing lost, nothing faked (issue 14): what a rerun into an existing folder keeps, refuses and
repairs (glade.resume). What a dead model server does to a run: tests/test_seat_faults.py."""

from __future__ import annotations

import json
import re
import shutil

import pandas as pd
import pytest
from resume_setup import eval_recipe, files, generate_recipe, interrupt_second_batch, rows

from glade import traces as gen
from glade.cli import main
from glade.config import load_recipe
from glade.eval import run as eval_run
from glade.eval.recipe import load_eval_recipe

# --- 1. never delete what glade did not write ------------------------------------------------


def test_generate_refuses_a_dataset_it_did_not_write_and_keeps_every_file(tmp_path, capsys):
    path = generate_recipe(tmp_path)
    assert main(["generate", str(path)]) == 0
    exported = tmp_path / "exported"  # what export-traces or a Hub download leaves: no progress.json
    shutil.copytree(tmp_path / "traces", exported)
    (exported / "progress.json").unlink()
    before = files(exported)
    capsys.readouterr()
    assert main(["generate", str(path), f"out={exported}", "seeds.count=1"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and str(exported) in err and "no progress.json" in err
    assert "choose another out" in err and "move the folder aside" in err
    assert files(exported) == before


def test_a_run_killed_while_writing_its_first_ledger_is_resumed(tmp_path):
    # what kill -9 left in benchmarks/chaos.py: the shard folder, and the ledger's temporary file
    (tmp_path / "traces" / "data").mkdir(parents=True)
    (tmp_path / "traces" / ".progress.json.tmp").write_text('{"format": 2, "rec')
    assert gen.generate(load_recipe(gen.GenerateRecipe, generate_recipe(tmp_path)))["episodes"] == 6


def test_a_file_glade_did_not_write_beside_the_shards_is_refused_and_kept(tmp_path):
    path = generate_recipe(tmp_path)
    recipe = load_recipe(gen.GenerateRecipe, path)
    gen.generate(recipe)
    stranger = tmp_path / "traces" / "data" / "train-00000-of-00001.parquet"
    shutil.copy(tmp_path / "traces" / "data" / "part-00000.parquet", stranger)
    with pytest.raises(ValueError, match=r"train-00000-of-00001.parquet: not a shard this folder lists"):
        gen.generate(recipe)
    assert stranger.exists()


def test_an_unlisted_part_is_moved_aside_and_named_never_deleted(tmp_path, capsys):
    path = generate_recipe(tmp_path)
    assert main(["generate", str(path)]) == 0
    data = tmp_path / "traces" / "data"
    copied = (data / "part-00000.parquet").read_bytes()
    (data / "part-00007.parquet").write_bytes(copied)  # a copy, or a part a kill left unlisted
    capsys.readouterr()
    assert main(["generate", str(path)]) == 0
    said = capsys.readouterr()
    said = " ".join((said.out + said.err).split())  # the console may wrap the line
    assert "data/part-00007.parquet: a shard the ledger never listed" in said and "moved to corrupt/data" in said
    assert (tmp_path / "traces" / "corrupt" / "data" / "part-00007.parquet").read_bytes() == copied
    assert not (data / "part-00007.parquet").exists()


def test_a_rerun_with_nothing_to_play_keeps_what_playing_cost(tmp_path, capsys):
    path = eval_recipe(tmp_path, seeds={"start": 0, "count": 1})
    assert main(["eval", str(path)]) == 0
    summary = tmp_path / "results" / "summary.json"
    played = json.loads(summary.read_text())
    assert played["cost"]["episodes"] == 2 and played["cost"]["decisions"] == 60
    capsys.readouterr()
    assert main(["eval", str(path), "--dry-run"]) == 0
    assert "nothing left to play; every episode is finished in" in " ".join(capsys.readouterr().out.split())
    assert main(["eval", str(path)]) == 0
    assert "nothing left to play: every episode was finished" in capsys.readouterr().out
    again = json.loads(summary.read_text())
    assert again["cost"] == played["cost"] | {"kept": True} and again["timing"] == played["timing"]  # was 0 s
    for broken in ("", '{"cost": {"episo'):  # the playing run died before (or while) writing its summary
        summary.write_text(broken)
        assert main(["eval", str(path)]) == 0
        out = " ".join(capsys.readouterr().out.split())
        assert "left no summary of what that cost (interrupted before writing one" in out and "cost: " not in out
        rewritten = json.loads(summary.read_text())
        assert rewritten["cost"] is None and rewritten["timing"] is None  # not zeros: nothing was recorded
        assert main(["report", str(tmp_path / "results")]) == 0
        assert "## Cost" not in (tmp_path / "results" / "report.md").read_text()


def test_a_resumed_run_says_its_cost_is_its_own_part(tmp_path, monkeypatch, capsys):
    path = eval_recipe(tmp_path)
    restore = interrupt_second_batch(monkeypatch, eval_run)
    with pytest.raises(KeyboardInterrupt):
        eval_run.evaluate(load_eval_recipe(path))
    restore()
    capsys.readouterr()
    assert main(["eval", str(path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"this run played 4 of the 6 worlds; its timing and cost are those: [\d.]+ s wall: ", out)
    assert re.search(r"\n6 worlds, \d+ live decisions in all; results in ", out)
    assert not re.search(r"live decisions in [\d.]+ s", out)  # the totals never beside this run's time
    assert main(["report", str(tmp_path / "results")]) == 0
    report = " ".join((tmp_path / "results" / "report.md").read_text().split())
    assert "(the cost of the run that played the last 4 of the 6 worlds (an earlier run played the others" in report
    assert main(["eval", str(path)]) == 0  # nothing left: the kept cost still covers 4 of the 6
    assert "timing and cost are those of the run that played the last 4 of them" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "results")]) == 0
    kept = " ".join((tmp_path / "results" / "report.md").read_text().split())
    assert "(the cost of the run that played the last 4 of the 6 worlds" in kept  # kept: not a run of 0


def test_a_failed_run_leaves_no_empty_out_folder(tmp_path, capsys):
    # the module is there, its factory is not: found only when the council is seated, mid-run
    path = generate_recipe(tmp_path, councils={"x": {"*": {"kind": "python", "entry_point": "glade.env.standin:nope"}}})
    assert main(["generate", str(path)]) == 2
    assert not (tmp_path / "traces").exists()


# --- 4. resume only the same recipe ----------------------------------------------------------


def test_eval_resume_refuses_another_recipe_and_names_what_changed(tmp_path, monkeypatch):
    path = eval_recipe(tmp_path, turns=8)
    restore = interrupt_second_batch(monkeypatch, eval_run)
    with pytest.raises(KeyboardInterrupt):
        eval_run.evaluate(load_eval_recipe(path))
    restore()
    before = files(tmp_path / "results")
    with pytest.raises(ValueError, match=r"holds a run of another recipe \(turns: 8 -> 6\); rerun it as it was"):
        eval_run.evaluate(load_eval_recipe(path, ["turns=6"]))
    assert files(tmp_path / "results") == before


def test_a_folder_another_verb_wrote_is_named_as_such(tmp_path, capsys):
    eval_run.evaluate(load_eval_recipe(eval_recipe(tmp_path, seeds={"start": 0, "count": 1})))
    before = files(tmp_path / "results")
    assert main(["generate", str(generate_recipe(tmp_path)), f"out={tmp_path / 'results'}"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "holds another kind of glade results (decisions shards, where this run writes traces)" in err
    assert "recipe" not in err  # not a list of recipe keys that differ
    assert files(tmp_path / "results") == before
    # a dry run refuses it alike
    assert main(["generate", str(generate_recipe(tmp_path)), f"out={tmp_path / 'results'}", "--dry-run"]) == 2

    gen.generate(load_recipe(gen.GenerateRecipe, generate_recipe(tmp_path)))
    with pytest.raises(ValueError, match=r"traces: holds another kind of glade results \(traces shards"):
        eval_run.evaluate(load_eval_recipe(eval_recipe(tmp_path), [f"out={tmp_path / 'traces'}"]))


def test_a_dry_run_refuses_another_recipe_as_the_run_would(tmp_path, capsys):
    path = eval_recipe(tmp_path, seeds={"start": 0, "count": 1})
    assert main(["eval", str(path)]) == 0
    capsys.readouterr()
    assert main(["eval", str(path), "turns=5", "--dry-run"]) == 2  # said "nothing left to play"
    assert "holds a run of another recipe (turns: 6 -> 5)" in " ".join(capsys.readouterr().err.split())


def test_a_folder_whose_shard_folder_was_deleted_resumes(tmp_path, capsys):
    path = generate_recipe(tmp_path)
    assert main(["generate", str(path)]) == 0
    shutil.rmtree(tmp_path / "traces" / "data")
    capsys.readouterr()
    assert main(["generate", str(path)]) == 0
    said = " ".join((lambda c: c.out + c.err)(capsys.readouterr()).split())
    assert "data/part-00000.parquet: missing" in said and "play again" in said
    assert len(rows(tmp_path / "traces")) == 3 * 2 * 3 * 5  # every episode played again


def test_generate_into_a_dataset_of_other_scenarios_is_refused(tmp_path):
    path = generate_recipe(tmp_path)
    gen.generate(load_recipe(gen.GenerateRecipe, path))
    with pytest.raises(ValueError, match=r"scenarios: \[\"default\"\] -> \[\"gambit_rumour\"\]"):
        gen.generate(load_recipe(gen.GenerateRecipe, path, ["scenarios=[gambit_rumour]"]))


def test_a_resume_may_change_what_cannot_change_the_rows(tmp_path, monkeypatch):
    path = generate_recipe(tmp_path)
    restore = interrupt_second_batch(monkeypatch, gen)
    with pytest.raises(KeyboardInterrupt):
        gen.generate(load_recipe(gen.GenerateRecipe, path))
    restore()
    summary = gen.generate(load_recipe(gen.GenerateRecipe, path, ["worlds=5", "max_fault_share=0.5"]))
    assert summary["episodes"] == 6 and summary["played_now"] == 4
    gen.generate(load_recipe(gen.GenerateRecipe, path, [f"out={tmp_path / 'clean'}"]))
    pd.testing.assert_frame_equal(
        rows(tmp_path / "traces").drop(columns="latency_s"), rows(tmp_path / "clean").drop(columns="latency_s")
    )


def test_a_lever_added_to_a_finished_evaluation_plays_only_the_worlds_it_adds(tmp_path):
    path = eval_recipe(tmp_path, scenarios=["gambit_rumour", "gambit_override"], seeds={"start": 0, "count": 2})
    eval_run.run_recipe(load_eval_recipe(path))
    progress = tmp_path / "results" / "progress.json"
    ledger = json.loads(progress.read_text())
    ledger["recipe"]["levers"] = []  # as written before levers were free to change: still read
    progress.write_text(json.dumps(ledger))
    over_listed = ["levers=[{name: o, from: gambit_rumour, to: gambit_override}]"]
    result = eval_run.evaluate(load_eval_recipe(path, over_listed))
    assert result.played_now == 0 and result.worlds == 8  # 2 scenarios x 2 seeds x (stand-in + council)
    summary = eval_run.write_results(load_eval_recipe(path, over_listed), result)
    assert [e["lever"] for e in summary["verdicts"]["levers"]] == ["o"]
    glut = ["levers=[{name: g, from: gambit_rumour, to: gambit_shock}]"]  # shock is not listed: its worlds play
    result = eval_run.evaluate(load_eval_recipe(path, glut))
    assert result.played_now == 4 and result.worlds == 12


def test_an_older_ledger_is_read_and_kept(tmp_path):
    recipe = load_recipe(gen.GenerateRecipe, generate_recipe(tmp_path))
    gen.generate(recipe)
    progress = tmp_path / "traces" / "progress.json"
    episodes = json.loads(progress.read_text())["episodes"]
    # what glade wrote before the ledger held the recipe: episode id -> shard path
    progress.write_text(json.dumps({e: f"data/part-{v['part']:05d}.parquet" for e, v in episodes.items()}))
    assert gen.generate(recipe)["played_now"] == 0
    ledger = json.loads(progress.read_text())
    assert ledger["format"] == 2 and {e: v["part"] for e, v in ledger["episodes"].items()} == {
        e: v["part"] for e, v in episodes.items()
    }


# --- 10. unreadable shards are named and played again -----------------------------------------


def test_a_corrupt_traces_shard_is_named_and_replayed(tmp_path, capsys):
    path = generate_recipe(tmp_path)
    assert main(["generate", str(path)]) == 0
    clean = rows(tmp_path / "traces")
    shard = tmp_path / "traces" / "data" / "part-00001.parquet"
    shard.write_bytes(shard.read_bytes()[: len(shard.read_bytes()) // 2])  # cut off, as a full disk leaves it
    with pytest.raises(ValueError, match=r"part-00001.parquet: not a readable Parquet file"):
        gen.load_traces([str(tmp_path / "traces")])  # what training reads: the file is named
    capsys.readouterr()
    assert main(["generate", str(path)]) == 0
    err = capsys.readouterr().out  # what the rerun repaired is part of its report (stdout)
    assert "data/part-00001.parquet: unreadable" in err and "its 2 episode(s) play again" in err
    assert "wrote 6 episodes (2 played now" in err
    pd.testing.assert_frame_equal(rows(tmp_path / "traces").drop(columns="latency_s"), clean.drop(columns="latency_s"))
    assert (tmp_path / "traces" / "corrupt" / "data" / "part-00001.parquet").exists()  # kept aside, not read


def test_a_corrupt_eval_shard_does_not_leave_the_results_stuck(tmp_path):
    path = eval_recipe(tmp_path)
    first = eval_run.evaluate(load_eval_recipe(path))
    (tmp_path / "results" / "shards" / "episodes-00001.parquet").write_bytes(b"not parquet at all")
    again = eval_run.evaluate(load_eval_recipe(path))
    assert again.played_now == 2 and again.worlds == first.worlds == 6
    assert any("shards/episodes-00001.parquet: unreadable" in line for line in again.replayed)
    key = ["episode_id", "turn", "creature"]
    pd.testing.assert_frame_equal(
        again.decisions.sort_values(key).reset_index(drop=True), first.decisions.sort_values(key).reset_index(drop=True)
    )
    assert again.episodes["episode_id"].value_counts().eq(5).all()  # nothing counted twice


def test_a_shard_overwritten_without_some_of_its_episodes_is_replayed(tmp_path, capsys):
    """Valid Parquet that lacks a listed episode (a shard copied over from another run, or
    rewritten by hand): the part plays again, so the dataset holds what the summary counts."""
    path = generate_recipe(tmp_path)
    assert main(["generate", str(path)]) == 0
    clean = rows(tmp_path / "traces")
    shard = tmp_path / "traces" / "data" / "part-00001.parquet"
    table = pd.read_parquet(shard)
    table[table["episode_id"] != table["episode_id"].iloc[0]].to_parquet(shard, index=False)
    capsys.readouterr()
    assert main(["generate", str(path)]) == 0
    err = capsys.readouterr().out
    assert "data/part-00001.parquet: lacks 1 episode(s) its part lists; its 2 episode(s) play again" in err
    assert "wrote 6 episodes (2 played now" in err
    pd.testing.assert_frame_equal(rows(tmp_path / "traces").drop(columns="latency_s"), clean.drop(columns="latency_s"))


def test_an_eval_episodes_shard_without_a_world_is_replayed(tmp_path):
    path = eval_recipe(tmp_path)
    first = eval_run.evaluate(load_eval_recipe(path))
    shard = tmp_path / "results" / "shards" / "episodes-00001.parquet"
    table = pd.read_parquet(shard)
    table[table["episode_id"] != table["episode_id"].iloc[0]].to_parquet(shard, index=False)
    again = eval_run.evaluate(load_eval_recipe(path))
    assert any("shards/episodes-00001.parquet: lacks 1 episode(s) its part lists" in line for line in again.replayed)
    assert again.played_now == 2 and again.episodes["episode_id"].nunique() == first.worlds == 6


def test_export_traces_refuses_a_corrupt_shard(tmp_path):
    from glade.hub.export_traces import export_traces

    gen.generate(load_recipe(gen.GenerateRecipe, generate_recipe(tmp_path)))
    (tmp_path / "traces" / "data" / "part-00002.parquet").write_bytes(b"PAR1 garbage")
    with pytest.raises(ValueError, match=r"part-00002.parquet: not a readable Parquet file"):
        export_traces(tmp_path / "traces", "me/t", out=tmp_path / "export")
    assert not (tmp_path / "export").exists()


# --- the ledger's rules, on a bare ShardLog ------------------------------------------------------


def bare_log(tmp_path):
    from glade.resume import ShardLog

    return ShardLog(tmp_path / "out", {"data": "data/part-{part:05d}.parquet"})


def test_a_dry_run_does_not_count_faulted_episodes_as_finished(tmp_path):
    from glade.resume import finished

    log, recipe = bare_log(tmp_path), {"name": "r", "seeds": 3}
    state = log.start(recipe)
    log.finish(state, 0, {"e0": 0, "e1": 2, "e2": 0})
    assert finished(log, recipe) == {"e0", "e2"}  # e1's seat failed twice: it plays again
    ledger = json.loads((tmp_path / "out" / "progress.json").read_text())
    assert ledger["episodes"]["e1"] == {"part": 0, "faults": 2}  # the dry run touched nothing


@pytest.mark.timeout(20)
def test_a_shard_moved_aside_twice_gets_a_second_name(tmp_path):
    log, recipe = bare_log(tmp_path), {"name": "r"}
    log.start(recipe)
    stray, corrupt = tmp_path / "out" / "data" / "part-00004.parquet", tmp_path / "out" / "corrupt" / "data"
    stray.write_bytes(b"first")
    assert "moved to corrupt/data/part-00004.parquet" in " ".join(log.start(recipe).replayed)
    stray.write_bytes(b"second")
    assert "moved to corrupt/data/part-00004.2.parquet" in " ".join(log.start(recipe).replayed)
    stray.write_bytes(b"third")
    log.start(recipe)
    assert sorted(p.name for p in corrupt.iterdir()) == [
        "part-00004.2.parquet",
        "part-00004.3.parquet",
        "part-00004.parquet",
    ]
    assert (corrupt / "part-00004.parquet").read_bytes() == b"first"  # never over an earlier one
    assert (corrupt / "part-00004.2.parquet").read_bytes() == b"second"
    assert (corrupt / "part-00004.3.parquet").read_bytes() == b"third" and not stray.exists()


def test_another_recipes_long_values_are_cut_to_sixty_characters(tmp_path):
    log = bare_log(tmp_path)
    old, new = "a" * 61, "b" * 100
    log.start({"note": old, "seeds": [0, 1], "short": "x" * 60})
    with pytest.raises(ValueError) as caught:
        log.check({"note": new, "seeds": [0, 1], "short": "y" * 60})
    want = f"note: {'a' * 28}...{'a' * 29} -> {'b' * 28}...{'b' * 29}, short: {'x' * 60} -> {'y' * 60}"  # 60 fit
    assert f"holds a run of another recipe ({want}); rerun it as it was" in str(caught.value)


def test_a_rerun_with_nothing_to_play_draws_no_empty_bar(tmp_path, capsys):
    path = generate_recipe(tmp_path, seeds={"start": 0, "count": 1})
    assert main(["generate", str(path)]) == 0
    assert "generate" in capsys.readouterr().err  # the playing run's bar
    assert main(["generate", str(path)]) == 0
    captured = capsys.readouterr()
    assert "nothing left to play" in captured.out and "0/0" not in captured.err and "generate" not in captured.err
