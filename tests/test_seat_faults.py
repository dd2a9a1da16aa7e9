"""A dead model server is a fault, not behaviour (issue 14): counted, left out of the metrics
and flags, never training rows, and played again once the server is back."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
import yaml
from resume_setup import eval_recipe, generate_recipe

from glade.cli import main


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
        worlds=4,  # one shard: played to the end (with more, the run stops early: the next test)
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
    # simulate keeps nothing to resume: it says to run again, not that faulted episodes replay
    assert "and run it again" in captured.err and "play again" not in captured.err
    summary = json.loads((tmp_path / "sim" / "summary.json").read_text())
    assert summary["faults"]["server:tiny"]["faults"] == {"server_refused": 4}
    assert summary["faults"]["standin:balanced"]["faults"] == {}
    assert main([*argv, "--max-fault-share", "1"]) == 0


def test_a_dry_run_says_when_a_seat_failed_its_calibration_turns(tmp_path, closed_socket, capsys):
    dead = f"http://127.0.0.1:{closed_socket.getsockname()[1]}/v1"
    path = eval_recipe(
        tmp_path, policies={"live": server_policy(dead)}, councils={"one": {"focal": {"oona": "live"}}}, max_tokens=10
    )
    assert main(["eval", str(path), "--dry-run"]) == 1  # a script that dry-runs first stops here
    out = " ".join(capsys.readouterr().out.split())
    assert re.search(r"live: (\d+) of \1 trial decisions failed \(server_refused \1\); its tokens", out)
    assert "and the run would fail the same way: check that its server is up" in out


def test_the_failing_line_says_what_to_check_for_the_seats_faults(tmp_path, closed_port, capsys):
    """A 404 is a wrong base_url or model, not a server that is down: the line says so."""

    class NotFound(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_error(404)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        for url, says in (
            (f"http://127.0.0.1:{httpd.server_address[1]}/v1", "fix the seat (is base_url the API root"),
            (f"http://127.0.0.1:{closed_port}/v1", "fix the seat (is its server up, at its base_url?)"),
        ):
            council = tmp_path / "council.yaml"
            council.write_text(yaml.safe_dump({"oona": server_policy(url)}))
            argv = ["simulate", "--turns", "2", "--council", str(council), "--out", str(tmp_path / "sim"), "--quiet"]
            assert main(argv) == 1
            assert says in capsys.readouterr().err
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_seat_failing_from_the_start_stops_generate_early_and_a_rerun_finishes(tmp_path, closed_port, capsys):
    """A dead server costs its timeout on every turn: with shards left to play, the run stops
    once a seat's faults pass max_fault_share, keeps what it finished, and exits 1."""
    dead = server_policy(f"http://127.0.0.1:{closed_port}/v1")
    path = generate_recipe(tmp_path, councils={"live": {"oona": dead}}, seeds={"count": 3}, worlds=1)
    assert main(["generate", str(path)]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "error: seat 'server:tiny': 3 of 3 decisions (100%) failed (server_refused 3) in the first 1 of 3 shards, "
        "more than max_fault_share 0.2 (every decision so far): stopped early, keeping the finished shards; fix the "
        "seat (is its server up"
    ) in err
    traces = tmp_path / "traces"
    assert len(list((traces / "data").glob("part-*.parquet"))) == 1 and not (traces / "README.md").exists()
    assert main(["generate", str(path), "max_fault_share=1.0"]) == 0  # accepted: every episode played
    assert "1 episode(s) with 3 seat fault(s) play again" in capsys.readouterr().out
    assert (traces / "README.md").exists()


def test_a_seat_failing_from_the_start_stops_eval_early(tmp_path, closed_socket, capsys):
    dead = f"http://127.0.0.1:{closed_socket.getsockname()[1]}/v1"
    path = eval_recipe(
        tmp_path,
        policies={"live": server_policy(dead)},
        councils={"one": {"focal": {"oona": "live"}}},
        seeds={"start": 0, "count": 3},
        worlds=1,
    )
    assert main(["eval", str(path)]) == 1
    err = " ".join(capsys.readouterr().err.split())
    found = re.search(r"seat 'live': 6 of 6 decisions \(100%\) failed \(server_refused 6\) in the first (\d) of 6", err)
    assert found and "stopped early" in err
    assert not (tmp_path / "results" / "summary.json").exists()  # an interrupted eval: a rerun finishes it
    server = HoldServer(closed_socket)
    try:
        assert main(["eval", str(path)]) == 0
    finally:
        server.close()
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert summary["worlds"] == 6 and summary["faults"]["live"]["faults"] == {}


def test_ctrl_c_cuts_a_hung_server_at_once_not_after_its_timeouts_and_retries():
    """A server that accepts and never answers, a 20 s timeout and 2 retries: a Ctrl-C used to
    wait out the try in flight and its retries (about a minute); now the tries are cut at once."""
    import signal
    import time

    from glade.env import parallel_env
    from glade.seats import load

    hung = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    hung.bind(("127.0.0.1", 0))
    hung.listen()  # accepts (the kernel does), never answers
    try:
        policy = load({**server_policy(f"http://127.0.0.1:{hung.getsockname()[1]}/v1"), "timeout": 20, "retries": 2})
        observations, _ = parallel_env("default", turns=1).reset(seed=0)
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        started = time.perf_counter()
        with pytest.raises(KeyboardInterrupt):
            policy.act(list(observations.values()))
        # well under one try's 20 s (the uncut path waits out 3 tries), with room for a loaded machine
        assert time.perf_counter() - started < 10
        cut = time.perf_counter() + 10  # the workers' tries are cut too: none is left waiting on the server
        while [t for t in threading.enumerate() if t.name.startswith("ThreadPoolExecutor")]:
            assert time.perf_counter() < cut, "a worker still waits on the hung server"
            time.sleep(0.05)
    finally:
        hung.close()
