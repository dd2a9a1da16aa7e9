"""Server seats (glade.seats.server.ServerPolicy) against fake chat servers, loopback only.

These tests run against small stdlib `http.server` doubles speaking the OpenAI
chat-completions JSON (and one raw TCP server speaking no HTTP at all). The real
`transformers serve` tests are in test_transformers_serve.py.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time

import pytest
from fake_server import completion
from seat_checks import assert_all_held, assert_valid, observations, server_seat

from glade.env.scenario import load_scenario
from glade.rollout import EpisodeSpec, run_lockstep
from glade.seats import SeatSpecError, load

# --- helpers ------------------------------------------------------------------------------


GOOD = (200, completion('{"orders": [], "gossip": "Quiet day at the stall."}'))


@pytest.fixture
def refused_port():
    """A loopback port that refuses connections: bound (so nobody else takes it), never listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture(autouse=True)
def no_api_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


# --- the happy path (fast double of the real server) ---------------------------------------


def test_fake_server_answers_a_batch_of_real_observations(fake_server):
    server = fake_server(lambda n, body, headers: GOOD)
    batch = observations()
    policy = server_seat(server.base_url, model="/models/tiny")

    started = time.perf_counter()
    decisions = policy.act(batch)
    elapsed = time.perf_counter() - started

    assert len(decisions) == len(batch) == 5
    for d, obs in zip(decisions, batch):
        assert_valid(d, obs)
        assert d.error is None
        assert d.action == {"orders": [], "gossip": "Quiet day at the stall."}
        assert (d.prompt_tokens, d.completion_tokens) == (600, 7)
        assert 0 < d.latency_s <= elapsed
    assert policy.faults == {}
    assert server.count == len(batch)  # one request per seat, none retried
    for request in server.requests:
        assert request["path"] == "/v1/chat/completions"
        body = request["body"]
        # only fields every OpenAI-compatible server (and transformers serve) accepts
        assert set(body) == {"model", "messages", "max_tokens", "temperature"}
        assert body["model"] == "/models/tiny" and body["max_tokens"] == 32 and body["temperature"] == 0.0
        assert [m["role"] for m in body["messages"]] == ["system", "user"]
        assert "Authorization" not in request["headers"]
    # every creature's own prompt went out, once each
    names = sorted(r["body"]["messages"][0]["content"].split(",")[0] for r in server.requests)
    assert names == sorted(f"You are {o['name']}" for o in batch)


def test_junk_completion_is_a_parse_error_not_a_fault(fake_server):
    server = fake_server(lambda n, body, headers: (200, completion("boursboursbours", completion_tokens=32)))
    batch = observations()
    decisions = server_seat(server.base_url).act(batch)
    for d, _obs in zip(decisions, batch):
        assert d.action == {"orders": []}
        assert d.error == "no_json"
        assert d.text == "boursboursbours"
        assert d.completion_tokens == 32
    assert server.count == len(batch)


def test_seed_is_sent_when_set(fake_server):
    server = fake_server(lambda n, body, headers: GOOD)
    server_seat(server.base_url, seed=7).act(observations()[:1])
    assert server.requests[0]["body"]["seed"] == 7


def test_structured_seats_send_the_state_schema_as_response_format(fake_server):
    from glade.env.action_schema import action_schema, portable_schema
    from glade.env.observation import plain

    server = fake_server(lambda n, body, headers: GOOD)
    batch = observations()
    policy = server_seat(server.base_url, structured=True, concurrency=1)
    assert policy.name == "server:fake+structured"
    decisions = policy.act(batch)
    assert [d.error for d in decisions] == [None] * len(batch)
    for request, obs in zip(server.requests, batch):
        sent = request["body"]["response_format"]
        assert sent["type"] == "json_schema" and sent["json_schema"]["name"] == "wood_action"
        assert sent["json_schema"]["schema"] == portable_schema(action_schema(plain(obs)))
    server_seat(server.base_url).act(batch[:1])
    assert "response_format" not in server.requests[-1]["body"]


# --- failure modes ---------------------------------------------------------------------------


def test_refused_port_holds_every_seat_after_bounded_retries(refused_port):
    batch = observations()
    policy = server_seat(f"http://127.0.0.1:{refused_port}/v1", retries=2, backoff=0.05)

    started = time.perf_counter()
    decisions = policy.act(batch)
    elapsed = time.perf_counter() - started

    assert len(decisions) == len(batch)
    assert_all_held(decisions, "server_refused")
    assert policy.faults == {"refused": len(batch)}  # one count per seat, not per attempt
    backoff_total = 0.05 + 0.10  # retries=2: sleep 0.05, then 0.10 (seats in parallel)
    assert backoff_total * 0.9 <= elapsed < backoff_total + 1.0


def test_stalled_server_times_out_and_is_retried(fake_server):
    server = fake_server(lambda n, body, headers: ("stall", 5.0))
    batch = observations()
    policy = server_seat(server.base_url, timeout=0.5, retries=1, backoff=0.05)

    started = time.perf_counter()
    decisions = policy.act(batch)
    elapsed = time.perf_counter() - started

    assert_all_held(decisions, "server_timeout")
    assert policy.faults == {"timeout": len(batch)}
    assert server.count == 2 * len(batch)  # timeouts are retried
    # two attempts of 0.5 s and one 0.05 s backoff, all seats at once
    assert 1.0 <= elapsed < 2.5


@pytest.mark.parametrize(
    "payload",
    [
        b"this is not json",
        b'{"object": "chat.completion", "usage": {"completion_tokens": 3}}',  # JSON, no choices
        b'{"choices": []}',
        b'{"choices": [{"message": {"content": {"not": "text"}}}]}',
        b"[1, 2, 3]",
    ],
    ids=["not-json", "no-choices", "empty-choices", "content-not-text", "json-list"],
)
def test_garbage_is_a_bad_response_and_not_retried(fake_server, payload):
    server = fake_server(lambda n, body, headers: (200, payload))
    batch = observations()
    policy = server_seat(server.base_url, retries=2)

    decisions = policy.act(batch)

    assert_all_held(decisions, "server_bad_response")
    assert policy.faults == {"bad_response": len(batch)}
    assert server.count == len(batch)  # asked once each: asking again will not help


def test_a_server_that_does_not_speak_http_is_a_bad_response():
    """Raw bytes that are not an HTTP status line: counted, not retried, never an exception."""
    hits = []

    class Junk(socketserver.BaseRequestHandler):
        def handle(self):
            hits.append(1)
            self.request.recv(65536)
            self.request.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Junk) as tcp:
        tcp.daemon_threads = True
        thread = threading.Thread(target=tcp.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            batch = observations()[:2]
            policy = server_seat(f"http://127.0.0.1:{tcp.server_address[1]}/v1", retries=2)
            decisions = policy.act(batch)
        finally:
            tcp.shutdown()
    assert_all_held(decisions, "server_bad_response")
    assert policy.faults == {"bad_response": 2}
    assert len(hits) == 2


@pytest.mark.parametrize("length", ["10000000000", None], ids=["says-10-GB", "no-length"])
def test_a_server_that_floods_its_body_is_a_bad_response_not_a_full_memory(length, monkeypatch):
    """A body past MAX_BODY is no completion: the try stops there (it once read on until the
    timeout, gigabytes, and a MemoryError ended the run with a traceback)."""
    from glade.seats import server as server_module

    monkeypatch.setattr(server_module, "MAX_BODY", 2**20)
    sent = []

    class Flood(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.recv(65536)
            head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            head += f"Content-Length: {length}\r\n" if length else "Connection: close\r\n"
            self.request.sendall(head.encode() + b"\r\n")
            block = b" " * 65536
            try:
                while sum(sent) < 50 * 2**20:  # 50 MiB at most, so a broken cap still ends the test
                    self.request.sendall(block)
                    sent.append(len(block))
            except OSError:  # the seat hung up
                pass

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Flood) as tcp:
        tcp.daemon_threads = True
        thread = threading.Thread(target=tcp.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            policy = server_seat(f"http://127.0.0.1:{tcp.server_address[1]}/v1", retries=2, timeout=20)
            started = time.monotonic()
            decisions = policy.act(observations()[:1])
            took = time.monotonic() - started
        finally:
            tcp.shutdown()
    assert_all_held(decisions, "server_bad_response")
    assert policy.faults == {"bad_response": 1}
    assert took < 10  # not the 20 s timeout
    assert sum(sent) < 20 * 2**20  # hung up at the cap (or at the header), long before the 50 MiB


def test_500_then_good_answer_is_retried_and_succeeds(fake_server):
    server = fake_server(lambda n, body, headers: (500, b'{"error": "boom"}') if n == 0 else GOOD)
    [obs] = observations()[:1]
    policy = server_seat(server.base_url, retries=2, backoff=0.05)

    started = time.perf_counter()
    [decision] = policy.act([obs])
    elapsed = time.perf_counter() - started

    assert server.count == 2
    assert policy.faults == {}
    assert decision.error is None
    assert decision.completion_tokens == 7
    assert_valid(decision, obs)
    assert 0.05 <= decision.latency_s <= elapsed < 1.0  # one backoff sleep inside


def test_500_every_time_exhausts_the_retries(fake_server):
    server = fake_server(lambda n, body, headers: (500, b"{}"))
    batch = observations()[:2]
    policy = server_seat(server.base_url, retries=2, backoff=0.05)
    assert_all_held(policy.act(batch), "server_http_500")
    assert server.count == 2 * 3
    assert policy.faults == {"http_500": 2}


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_client_errors_are_not_retried(fake_server, status):
    server = fake_server(lambda n, body, headers: (status, b'{"detail": "no"}'))
    batch = observations()
    policy = server_seat(server.base_url, retries=2)

    decisions = policy.act(batch)

    assert_all_held(decisions, f"server_http_{status}")
    assert policy.faults == {f"http_{status}": len(batch)}
    assert server.count == len(batch)


def test_a_whole_episode_runs_with_a_failing_server_seat(fake_server):
    server = fake_server(lambda n, body, headers: (503, b"{}"))
    turns = 3
    scenario = load_scenario("default", turns=turns)
    creatures = list(scenario.creatures)
    seat = server_seat(server.base_url, retries=1, backoff=0.01)
    stand_in = load("balanced")
    served = creatures[:2]
    council = {c: (seat if c in served else stand_in) for c in creatures}

    rows = run_lockstep([EpisodeSpec("ep0", scenario, 0, council)])["ep0"].rows

    assert len(rows) == turns * len(creatures)  # every turn played, every creature decided
    assert sorted({r["turn"] for r in rows}) == list(range(turns))
    for r in rows:
        if r["creature"] in served:
            assert r["error"] == "server_http_503"
            assert r["policy"] == "server:fake"
            assert json.loads(r["action"])["orders"] == []
        else:
            assert r["policy"] == "standin:balanced"
            assert r["error"] is None
    assert seat.faults == {"http_503": turns * len(served)}
    assert server.count == turns * len(served) * 2  # retries=1: two attempts each


# --- the API key ------------------------------------------------------------------------------


SECRET = "sk-test-7f3a9c-DO-NOT-LEAK"


def test_an_empty_api_key_sends_no_authorization(fake_server, monkeypatch):
    # OPENAI_API_KEY="" is no key: "Bearer " with nothing after it is refused by some keyless servers
    monkeypatch.setenv("OPENAI_API_KEY", "")
    server = fake_server(lambda n, body, headers: GOOD)
    server_seat(server.base_url).act(observations()[:1])
    assert server.count == 1 and "Authorization" not in server.requests[-1]["headers"]


def _leaks(value) -> bool:
    return SECRET in repr(value) or SECRET in str(value)


def test_api_key_is_sent_as_bearer_and_kept_out_of_decisions(fake_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server = fake_server(lambda n, body, headers: GOOD)
    batch = observations()
    policy = server_seat(server.base_url)

    decisions = policy.act(batch)

    assert server.count == len(batch)
    for request in server.requests:
        assert request["headers"]["Authorization"] == f"Bearer {SECRET}"
        assert SECRET not in json.dumps(request["body"])
    assert not _leaks(policy) and not _leaks(vars(policy)) and not _leaks(policy.name)
    for d in decisions:
        assert not _leaks(d)


def test_api_key_stays_out_of_faults(fake_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server = fake_server(lambda n, body, headers: (401, json.dumps({"detail": f"bad key {SECRET}"}).encode()))
    policy = server_seat(server.base_url)
    decisions = policy.act(observations()[:2])
    assert_all_held(decisions, "server_http_401")
    assert server.requests[0]["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert not any(_leaks(d) for d in decisions)
    assert not _leaks(policy) and not _leaks(policy.faults)


def test_api_key_env_is_configurable_and_read_at_request_time(fake_server, monkeypatch):
    server = fake_server(lambda n, body, headers: GOOD)
    policy = server_seat(server.base_url, api_key_env="GLADE_TEST_KEY")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-this-one")
    monkeypatch.delenv("GLADE_TEST_KEY", raising=False)
    policy.act(observations()[:1])
    assert "Authorization" not in server.requests[-1]["headers"]
    monkeypatch.setenv("GLADE_TEST_KEY", SECRET)  # set after the policy was built
    policy.act(observations()[:1])
    assert server.requests[-1]["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert not _leaks(policy)


# --- configuration ----------------------------------------------------------------------------


def test_loopback_servers_bypass_environment_proxies(fake_server, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # a proxy that would refuse
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    server = fake_server(lambda n, body, headers: GOOD)
    policy = server_seat(server.base_url)
    [decision] = policy.act(observations()[:1])
    assert decision.error is None and policy.faults == {}
    assert server.count == 1


@pytest.mark.parametrize(
    "overrides",
    [
        {"base_url": "127.0.0.1:8000/v1"},
        {"base_url": "ftp://127.0.0.1/v1"},
        {"base_url": "http://127.0.0.1:notaport/v1"},
        {"timeout": 0},
        {"retries": -1},
        {"concurrency": 0},
        {"max_tokens": 0},
    ],
)
def test_bad_server_specs_fail_at_load(overrides):
    spec = {"kind": "server", "base_url": "http://127.0.0.1:8000/v1", "model": "m", **overrides}
    with pytest.raises(SeatSpecError):
        load(spec)


def test_empty_batch_sends_nothing(fake_server):
    server = fake_server(lambda n, body, headers: GOOD)
    assert server_seat(server.base_url).act([]) == []
    assert server.count == 0
