"""Server seats against what real servers do past the happy path: an answer that drips in
for longer than the seat's timeout, a rate limit that says how long to wait, and https
spoken to a port that does not speak it. Loopback only (tests/fake_server.py)."""

from __future__ import annotations

import socketserver
import threading
import time

import pytest
from fake_server import completion
from seat_checks import assert_all_held, assert_valid, observations, server_seat

from glade.faults import fault_hint
from glade.seats.server import MAX_RETRY_AFTER, retry_after

GOOD = (200, completion('{"orders": [], "gossip": "Quiet day at the stall."}'))


@pytest.fixture(autouse=True)
def no_api_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def test_an_answer_dripping_past_the_timeout_is_a_timeout_not_a_wait_without_end(fake_server):
    # each byte comes well inside the timeout, so a per-read timeout alone never fires:
    # the whole answer would take 60 s; the seat gives up after its 0.5 s
    body = completion('{"orders": []}')
    server = fake_server(lambda n, b, h: ("drip", (body, 60.0 / len(body))))
    batch = observations()[:2]
    policy = server_seat(server.base_url, timeout=0.5, retries=0)
    started = time.perf_counter()
    decisions = policy.act(batch)
    elapsed = time.perf_counter() - started
    assert_all_held(decisions, "server_timeout")
    assert policy.faults == {"timeout": 2}
    assert elapsed < 2.0


def test_a_slow_but_complete_answer_inside_the_timeout_is_read_whole(fake_server):
    body = completion('{"orders": [], "gossip": "slow and steady"}')
    server = fake_server(lambda n, b, h: ("drip", (body, 0.2 / len(body))))
    batch = observations()[:1]
    [decision] = server_seat(server.base_url, timeout=5.0, retries=0).act(batch)
    assert decision.error is None and decision.action["gossip"] == "slow and steady"
    assert_valid(decision, batch[0])


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_waited_instead_of_the_backoff(fake_server, status):
    def script(n, body, headers):
        return (status, b'{"error": "slow down"}', {"Retry-After": "0.4"}) if n == 0 else GOOD

    server = fake_server(script)
    batch = observations()[:1]
    policy = server_seat(server.base_url, retries=1, backoff=5.0)  # the backoff alone would wait 5 s
    started = time.perf_counter()
    [decision] = policy.act(batch)
    elapsed = time.perf_counter() - started
    assert decision.error is None and server.count == 2
    assert 0.4 <= elapsed < 2.0


def test_without_retry_after_the_backoff_applies(fake_server):
    server = fake_server(lambda n, b, h: (429, b"{}") if n == 0 else GOOD)
    started = time.perf_counter()
    [decision] = server_seat(server.base_url, retries=1, backoff=0.6).act(observations()[:1])
    assert decision.error is None and time.perf_counter() - started >= 0.6


@pytest.mark.parametrize(
    "value, seconds",
    [("3", 3.0), ("0", 0.0), ("1.5", 1.5), ("86400", MAX_RETRY_AFTER), (None, None), ("soon", None),
     ("Wed, 21 Oct 2026 07:28:00 GMT", None), ("-4", None), ("nan", None), ("inf", None)],
)  # fmt: skip
def test_retry_after_reads_seconds_and_caps_them(value, seconds):
    assert retry_after(value) == seconds


def test_https_to_a_plain_http_port_is_a_named_tls_fault_and_not_retried(fake_server):
    server = fake_server(lambda n, b, h: GOOD)
    https = server.base_url.replace("http://", "https://")
    policy = server_seat(https, retries=2)
    decisions = policy.act(observations()[:2])
    assert_all_held(decisions, "server_tls")
    assert policy.faults == {"tls": 2}
    assert fault_hint({"server_tls": 2}).startswith("https failed: http or https in base_url?")


def test_a_body_cut_short_of_its_content_length_is_a_bad_response_even_when_it_parses():
    # the server promises 100 bytes more than it sends, then closes: what came may be valid JSON
    body = completion('{"orders": []}')

    class Short(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.recv(65536)
            head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body) + 100}\r\n\r\n"
            self.request.sendall(head.encode() + body)

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Short) as tcp:
        tcp.daemon_threads = True
        threading.Thread(target=tcp.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        try:
            policy = server_seat(f"http://127.0.0.1:{tcp.server_address[1]}/v1", retries=0)
            decisions = policy.act(observations()[:1])
        finally:
            tcp.shutdown()
    assert_all_held(decisions, "server_bad_response")
    assert policy.faults == {"bad_response": 1}


def test_a_server_dripping_its_status_line_and_headers_is_cut_at_the_timeout():
    # each byte comes well inside the timeout (a per-read timeout never fires): the headers
    # alone would take 60 s; the whole try is held to the seat's 0.5 s
    class Drip(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.recv(65536)
            head = b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 1200
            try:
                for i in range(len(head)):
                    self.request.sendall(head[i : i + 1])
                    time.sleep(0.05)
            except OSError:  # the seat cut the connection
                pass

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Drip) as tcp:
        tcp.daemon_threads = True
        threading.Thread(target=tcp.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        try:
            policy = server_seat(f"http://127.0.0.1:{tcp.server_address[1]}/v1", timeout=0.5, retries=1, backoff=0.1)
            started = time.perf_counter()
            decisions = policy.act(observations()[:2])
            elapsed = time.perf_counter() - started
        finally:
            tcp.shutdown()
    assert_all_held(decisions, "server_timeout")
    assert policy.faults == {"timeout": 2}  # one per seat, after its retry
    assert elapsed < 2.5  # two tries of 0.5 s and the 0.1 s backoff, the seats side by side
