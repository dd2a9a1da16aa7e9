"""Nothing lost, nothing faked (issue 14): what a rerun into an existing folder keeps, refuses and
repairs (glade.resume), and what a dead model server does to a run."""

from __future__ import annotations

import json
import shutil
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
import yaml

from glade import traces as gen
from glade.cli import main
from glade.config import load_recipe
from glade.eval import run as eval_run
from glade.eval.recipe import load_eval_recipe


def generate_recipe(tmp_path, **changes):
    data = {
        "out": str(tmp_path / "traces"),
        "scenarios": ["default"],
        "councils": {"scenario": {}, "hoarders": {"*": "hoarder"}},
        "seeds": {"start": 0, "count": 3},
        "turns": 3,
        "worlds": 2,
        **changes,
    }
    path = tmp_path / "generate.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def eval_recipe(tmp_path, **changes):
    data = {
        "name": "t",
        "out": str(tmp_path / "results"),
        "policies": {"panic": "panic_seller"},
        "councils": {"all_panic": {"focal": {"*": "panic"}}},
        "scenarios": ["gambit_override"],
        "seeds": {"start": 0, "count": 3},
        "turns": 6,
        "worlds": 2,
        **changes,
    }
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def rows(folder):
    return pd.read_parquet(folder / "data").sort_values(["episode_id", "turn", "creature"]).reset_index(drop=True)


def interrupt_second_batch(monkeypatch, module):
    real, calls = module.run_lockstep, []

    def dies(specs, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(specs, **kw)

    monkeypatch.setattr(module, "run_lockstep", dies)
    return lambda: monkeypatch.setattr(module, "run_lockstep", real)


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
    (tmp_path / "results" / "summary.json").unlink()  # the playing run died before writing its summary
    assert main(["eval", str(path)]) == 0
    assert "no earlier summary, so no cost to show" in capsys.readouterr().out


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
    err = capsys.readouterr().err
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


def test_export_traces_refuses_a_corrupt_shard(tmp_path):
    from glade.hub.export_traces import export_traces

    gen.generate(load_recipe(gen.GenerateRecipe, generate_recipe(tmp_path)))
    (tmp_path / "traces" / "data" / "part-00002.parquet").write_bytes(b"PAR1 garbage")
    with pytest.raises(ValueError, match=r"part-00002.parquet: not a readable Parquet file"):
        export_traces(tmp_path / "traces", "me/t", out=tmp_path / "export")
    assert not (tmp_path / "export").exists()


# --- 3. a dead model server is a fault, not behaviour ------------------------------------------


class HoldServer:
    """An OpenAI-compatible chat server on loopback that always answers a deliberate hold; on
    `sock` (bound, not yet listening) when given, else on a free port."""

    def __init__(self, sock=None):
        answer = json.dumps(
            {
                "choices": [{"index": 0, "message": {"role": "assistant", "content": '{"orders": []}'}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 4},
            }
        ).encode()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=sock is None)
        if sock is not None:
            self.httpd.socket.close()
            self.httpd.socket = sock
            self.httpd.server_address = sock.getsockname()
            self.httpd.server_activate()
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def closed_socket():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    yield sock
    sock.close()


@pytest.fixture
def closed_port(closed_socket):
    return closed_socket.getsockname()[1]


def server_policy(url):
    return {"kind": "server", "base_url": url, "model": "tiny", "retries": 0, "timeout": 2}


def test_a_dead_server_fails_the_run_is_reported_and_left_out_then_fixing_it_replays(tmp_path, closed_socket, capsys):
    dead = f"http://127.0.0.1:{closed_socket.getsockname()[1]}/v1"
    path = eval_recipe(
        tmp_path,
        policies={"live": server_policy(dead)},
        councils={"one": {"focal": {"oona": "live"}}},
        seeds={"start": 0, "count": 2},
    )
    results = tmp_path / "results"
    assert main(["eval", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(
        "error: seat 'live': 12 of 12 decisions (100%) failed: server_refused 12, more than max_fault_share 0.2"
    )
    summary = json.loads((results / "summary.json").read_text())
    assert summary["faults"]["live"] == {"decisions": 12, "faults": {"server_refused": 12}, "fault_share": 1.0}
    assert summary["excluded"] == {"fault_rows": 12, "fault_worlds": 2}
    assert main(["report", str(results)]) == 0
    report = (results / "report.md").read_text()
    assert report.index("Seat faults: live: 12 of 12 decisions (100%) failed: server_refused 12") < report.index(
        "**recipe**"
    )
    assert main(["flag", str(results)]) == 0
    out = capsys.readouterr().out
    assert "left out: 12 live decision(s) whose seat failed to answer" in out
    assert json.loads((results / "flags.json").read_text())["flags"] == []  # the holds are not ranked as behaviour
    assert "Left out: 12 live decision(s)" in (results / "flags.md").read_text()
    # a higher threshold accepts the run; the faults are still counted
    assert main(["eval", str(path), "max_fault_share=1.0"]) == 0
    capsys.readouterr()
    # the server is back at the same URL: the episodes with faults play again, the clean
    # stand-in worlds are kept
    server = HoldServer(closed_socket)
    try:
        assert main(["eval", str(path)]) == 0
        assert "2 episode(s) with 12 seat fault(s) play again" in capsys.readouterr().out
        summary = json.loads((results / "summary.json").read_text())
        assert summary["faults"]["live"]["faults"] == {} and summary["worlds"] == 4
        decisions = pd.read_parquet(results / "decisions.parquet")
        assert len(decisions) == 12 and decisions["error"].isna().all()
        assert main(["eval", str(path)]) == 0  # and now nothing is left to play
        assert "play again" not in capsys.readouterr().out
    finally:
        server.close()


def test_a_fixed_seat_url_resumes_the_same_folder(tmp_path, closed_port):
    path = eval_recipe(
        tmp_path,
        policies={"live": server_policy(f"http://127.0.0.1:{closed_port}/v1")},
        councils={"one": {"focal": {"oona": "live"}}},
        seeds={"start": 0, "count": 1},
    )
    assert main(["eval", str(path)]) == 1
    server = HoldServer()
    try:  # a server's URL cannot change its answers: the folder is this recipe's, its faults replay
        assert main(["eval", str(path), f"policies.live.base_url={server.base_url}"]) == 0
    finally:
        server.close()
    assert json.loads((tmp_path / "results" / "summary.json").read_text())["faults"]["live"]["faults"] == {}


def test_a_part_whose_episodes_all_faulted_does_not_block_the_next_rerun(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from glade.env.protocol import PROTOCOL_VERSION
    from glade.resume import ShardLog

    log = ShardLog(tmp_path / "out", {"traces": "data/part-{part:05d}.parquet"})

    def finish(state, part, episode, faults):
        table = pa.table({"episode_id": [episode], "protocol_version": [PROTOCOL_VERSION]})
        pq.write_table(table, log.path("traces", part))
        log.finish(state, part, {episode: faults})

    state = log.start({"r": 1})
    finish(state, 0, "a", 0)
    finish(state, 1, "b", 3)  # the server was down for this whole part
    finish(state, 2, "c", 0)
    state = log.start({"r": 1})
    assert state.replayed == ["1 episode(s) with 3 seat fault(s) play again"] and state.done == {"a", "c"}
    assert not log.path("traces", 1).exists()
    finish(state, state.next_part(), "b", 0)
    assert log.start({"r": 1}).done == {"a", "b", "c"}  # refused before: part 1 was left empty and unlisted
    # such an empty, unlisted part that an older glade left below the next part is moved aside too
    pq.write_table(pa.table({"episode_id": pa.array([], pa.string())}), log.path("traces", 1))
    state = log.start({"r": 1})
    assert state.done == {"a", "b", "c"} and not log.path("traces", 1).exists()
    assert any("part-00001.parquet: a shard the ledger never listed" in line for line in state.replayed)


def test_fault_rows_never_become_training_rows(tmp_path, closed_port):
    from glade.train.data import DataConfig, prepare

    path = generate_recipe(
        tmp_path, councils={"live": {"oona": server_policy(f"http://127.0.0.1:{closed_port}/v1")}}, seeds={"count": 1}
    )
    assert main(["generate", str(path), "max_fault_share=1.0"]) == 0
    train, held, counts = prepare(DataConfig(traces=(str(tmp_path / "traces"),), valid_only=False, eval_share=0.0))
    assert counts["traces"] == 15 and counts["faults_excluded"] == 3
    assert "oona" not in set(train["creature"])
    assert main(["generate", str(path)]) == 1  # the default threshold fails it


def test_simulate_counts_a_dead_seat_and_exits_1(tmp_path, closed_port, capsys):
    council = tmp_path / "council.yaml"
    council.write_text(yaml.safe_dump({"oona": server_policy(f"http://127.0.0.1:{closed_port}/v1")}))
    argv = ["simulate", "--turns", "4", "--council", str(council), "--out", str(tmp_path / "sim"), "--quiet"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "seat faults: server:tiny: 4 of 4 decisions (100%) failed: server_refused 4" in captured.out
    assert captured.err.count("error:") == 1 and "seat 'server:tiny': 4 of 4 decisions (100%) failed" in captured.err
    summary = json.loads((tmp_path / "sim" / "summary.json").read_text())
    assert summary["faults"]["server:tiny"]["faults"] == {"server_refused": 4}
    assert summary["faults"]["standin:balanced"]["faults"] == {}
    assert main([*argv, "--max-fault-share", "1"]) == 0
