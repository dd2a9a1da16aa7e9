"""Seat boundaries (stop 64): a lone surrogate from a server, a python seat or a scenario
is not a crash mid-run; a server's redirect is not followed with the API key; a server's words
and a python seat's name reach the terminal and the reports without control characters."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
from fake_server import completion
from resume_setup import eval_recipe
from seat_checks import observations, server_seat

from glade.cli import main
from glade.env.scenario import load_scenario
from glade.env.schema import RECIPES, ConfigError, control_character
from glade.seats.base import Decision, SeatSpecError
from glade.seats.python import PythonSeat, load_python
from glade.seats.server import forget_said, seat_fault_hint

HALF = "\ud800"  # a lone surrogate: what the JSON escape \ud800 alone reads as


class Named:
    """A python seat that holds, answering `answer` for each observation."""

    def __init__(self, name: str = "named", answer=None):
        self.name = name
        self.answer = answer

    def act(self, observations):
        return [self.answer for _ in observations]


def named(name: str = "named") -> Named:
    """An entry point's factory."""
    return Named(name)


def test_a_lone_surrogate_from_a_server_is_a_replacement_character_and_eval_finishes(tmp_path, fake_server):
    server = fake_server(lambda n, body, headers: (200, completion(HALF + ' {"orders": []}')))
    path = eval_recipe(
        tmp_path,
        policies={"live": {"kind": "server", "base_url": server.base_url, "model": "m", "retries": 0}},
        councils={"one": {"focal": {"oona": "live"}}},
        seeds={"start": 0, "count": 1},
        turns=5,
        worlds=1,
    )
    assert main(["eval", str(path)]) == 0
    decisions = pd.read_parquet(tmp_path / "results" / "decisions.parquet")
    assert len(decisions) == 5
    assert set(decisions["completion"]) == {'\ufffd {"orders": []}'}
    assert decisions["error"].isna().all()


def test_a_python_seats_lone_surrogates_become_replacement_characters():
    [obs] = observations()[:1]
    [d] = PythonSeat(Named(answer=Decision({"orders": []}, "a" + HALF, "e" + HALF, policy="p" + HALF))).act([obs])
    assert (d.text, d.error, d.policy) == ("a\ufffd", "e\ufffd", "p\ufffd")
    [d] = PythonSeat(Named(answer={"orders": [], "gossip": "g" + HALF})).act([obs])
    assert d.text == '{"orders": [], "gossip": "g\ufffd"}'


def test_a_lone_surrogate_in_a_scenario_string_is_refused_naming_the_key(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_scenario("default", description="d" + HALF)
    assert "description" in str(caught.value)
    assert "holds a lone surrogate '\\ud800' at position 1 (half a character, from an escape)" in str(caught.value)
    text = (RECIPES / "scenarios" / "default.yaml").read_text(encoding="utf-8")
    path = tmp_path / "s.yaml"
    path.write_text(text.replace("name: default", 'name: "n\\ud800"', 1), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert "name: 'n\\ud800' holds a lone surrogate '\\ud800' at position 1" in message
    assert "LC_ALL" not in message and "\n" not in message
    # a byte this locale could not read (surrogateescape) is still named as that
    assert control_character("n\udc80").startswith("byte this locale cannot read as text")
    assert control_character("n" + HALF).startswith("lone surrogate '\\ud800' at position 1")


class Mover:
    """Two loopback servers: `first` answers 302 to `second`, which records every request's headers."""

    def __init__(self):
        self.seen: list[dict] = []
        seen = self.seen

        class Second(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self):
                seen.append(dict(self.headers))
                body = completion('{"orders": []}')
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = answer

        self.second = ThreadingHTTPServer(("127.0.0.1", 0), Second)
        target = f"http://127.0.0.1:{self.second.server_address[1]}/v1/chat/completions"

        class First(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(302)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.first = ThreadingHTTPServer(("127.0.0.1", 0), First)
        self.base_url = f"http://127.0.0.1:{self.first.server_address[1]}/v1"
        self.second_host = f"127.0.0.1:{self.second.server_address[1]}"
        for httpd in (self.first, self.second):
            threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        for httpd in (self.first, self.second):
            httpd.shutdown()
            httpd.server_close()


def test_a_redirect_is_a_named_fault_and_the_api_key_goes_nowhere_else(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-SECRETabc")
    forget_said()
    mover = Mover()
    try:
        seat = server_seat(mover.base_url, model="m", retries=0)
        [d] = seat.act(observations()[:1])
    finally:
        mover.close()
    assert mover.seen == []  # neither the key nor the request reached the other host
    assert (d.error, d.text, dict(seat.faults)) == ("server_http_302", None, {"http_302": 1})
    hint = seat_fault_hint(seat.name, {d.error: 1})
    assert hint.endswith(
        f"it said: redirected to {mover.second_host}; glade does not follow redirects: give the final base_url"
    )


def test_a_refusals_control_characters_never_reach_the_terminal(fake_server):
    forget_said()
    said = json.dumps({"error": {"message": "bad \x1b]0;PWNED\x07 \x1b[31mred \u202e"}}).encode()
    server = fake_server(lambda n, body, headers: (400, said))
    seat = server_seat(server.base_url, model="m", retries=0)
    [d] = seat.act(observations()[:1])
    assert d.error == "server_http_400"
    hint = seat_fault_hint(seat.name, {d.error: 1})
    assert hint.endswith("it said: 'bad \\x1b]0;PWNED\\x07 \\x1b[31mred \\u202e'")
    assert control_character(hint) is None


@pytest.mark.parametrize(
    "name, where", [("n\x1b[31m", "control character '\\x1b' at position 1"), ("n\u202e", "'\\u202e' at position 1")]
)
def test_a_python_seats_name_with_a_control_character_is_refused(name, where):
    with pytest.raises(SeatSpecError) as caught:
        load_python({"kind": "python", "entry_point": f"{__name__}:named", "kwargs": {"name": name}})
    assert str(caught.value).startswith(f"python seat {name!r}: its name has a ")
    assert where in str(caught.value)
    with pytest.raises(SeatSpecError, match="its name has a control character"):
        PythonSeat(Named(name))


def test_a_server_model_with_a_control_character_is_refused():
    """`server:MODEL` names the seat in rows and reports as the python seat's name does."""
    for model in ("m\x1b[31m", "m" + HALF):
        with pytest.raises(SeatSpecError) as caught:
            server_seat("http://127.0.0.1:9/v1", model=model)
        assert str(caught.value) == (
            f"seat spec server model: expected a non-empty string of printable characters, got {model!r}"
        )
