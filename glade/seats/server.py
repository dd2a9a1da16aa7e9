"""Seats played by an OpenAI-compatible chat server (vLLM, `transformers serve`, llama.cpp).

Requests for one batch go out concurrently. Each has a timeout and a bounded number of
retries with exponential backoff; a seat whose server still fails holds for the turn with
a named error and the fault is counted in `policy.faults` (one count per failed seat, not
per attempt). The run goes on.

    server_refused       nothing listens (or the connection dropped): retried
    server_timeout       no answer within `timeout` seconds: retried
    server_http_NNN      an HTTP error status; 408, 429, 500, 502, 503, 504 are retried,
                         others (400, 401, 404, 422 ...) are not; a redirect (3xx) is not followed
    server_bad_response  an answer that is not an OpenAI chat completion (not HTTP, not
                         JSON, no choices, over MAX_BODY bytes ...): not retried, asking
                         again will not help
    server_tls           https failed (a certificate not trusted, https spoken to a plain
                         http port, a client certificate refused): not retried

`timeout` bounds the whole try, not only each wait for data: the connect, the status line,
the headers and the body must all arrive within `timeout` seconds of the request. A server
that sends a byte now and then, which a per-read timeout alone would wait on without end, is
cut off at the deadline while its status line and headers come, and at the first piece of
its body past it. A server that never answers costs `(retries + 1) * timeout` plus the
backoff sleeps. A 429 or 503 that says
`Retry-After: N` (seconds) waits N seconds before the next try instead of the backoff, up to
MAX_RETRY_AFTER.

The request carries only fields every OpenAI-compatible server accepts: model, messages,
max_tokens, temperature and (when set) seed; with `structured: true`, also
`response_format: {type: json_schema, json_schema: {name, schema}}`, the state's action
schema in the portable form `glade.env.action_schema.portable_schema` writes (vLLM and llama.cpp hold the answer
to it; `transformers serve` accepts the field and ignores it, logging that it does). With `transformers serve DIR`, the server is
pinned to DIR and `model` must be that same string (or the server answers 400, which is
not retried): `{kind: server, base_url: "http://127.0.0.1:8000/v1", model: DIR}`.

The API key is read from the environment variable named by `api_key_env` at request time
and sent as a Bearer header to base_url's host only (a redirect is a fault, not followed); it
is never stored on the policy, in a Decision or in a fault. Loopback servers are reached
directly, never through an http(s)_proxy from the environment.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from glade.env.action_schema import action_schema, portable_schema
from glade.env.protocol import parse, render
from glade.env.schema import printable
from glade.faults import fault_hint

from .base import STRUCTURED, Decision, Policy, answer_error, is_loopback, parser_notes, utf8_text
from .spec import SERVER, check_fields

SERVER_FIELDS = tuple(SERVER)  # the spec keys, each a field below
RETRYABLE = {"refused", "timeout", "http_408", "http_429", "http_500", "http_502", "http_503", "http_504"}
MAX_RETRY_AFTER = 60.0  # seconds: a longer Retry-After is waited only this long (a turn waits on it)
CHUNK = 65_536  # bytes read at a time
MAX_BODY = 8 * 2**20  # bytes: a completion is a few kB; more is not one, and would fill memory unread
CUT_EVERY = 0.05  # seconds between cuts once the deadline has passed (a connect may still be opening)
CANCEL_EVERY = 0.1  # seconds: how soon a Ctrl-C cuts the tries in flight

# The connections this thread's current try opened, for its deadline guard to cut. urllib
# builds them inside `open`, out of reach; the handlers below hand each one over as it is made.
_opened = threading.local()


def _handed_over(connection_class):
    def build(*args, **kwargs):
        connection = connection_class(*args, **kwargs)
        _opened.connections.append(connection)
        return connection

    return build


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_handed_over(http.client.HTTPConnection), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):  # no context given: http.client's default, as urllib's own handler
        return self.do_open(_handed_over(http.client.HTTPSConnection), req)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Follows none (urllib's sends the API key to the host named, as a GET): a 3xx is an HTTPError."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _guard(connections: list, done: threading.Event, seconds: float, cancel: threading.Event) -> None:
    """At the deadline, or at once when the run is interrupted (`cancel`), shut every socket of
    the try (and keep at it until the try ends): a read blocked on a server that drips its
    answer, or never answers, returns at once."""
    deadline = time.monotonic() + seconds
    while not cancel.is_set() and (left := deadline - time.monotonic()) > 0:
        if done.wait(min(left, CANCEL_EVERY)):
            return
    while not done.is_set():
        for connection in connections:
            if connection.sock is not None:
                try:
                    connection.sock.shutdown(socket.SHUT_RDWR)
                except OSError:  # already closed
                    pass
        done.wait(CUT_EVERY)


def _pause(cancel: threading.Event, seconds: float) -> bool:
    """Wait `seconds` before the next try; True when the run was interrupted meanwhile."""
    return cancel.wait(seconds)


@dataclass
class ServerPolicy:
    base_url: str  # e.g. http://127.0.0.1:8000/v1
    model: str
    timeout: float = 60.0
    retries: int = 2
    backoff: float = 0.5  # seconds before the first retry, doubling after
    concurrency: int = 8
    max_tokens: int = 256
    temperature: float = 0.0
    seed: int | None = None
    api_key_env: str = "OPENAI_API_KEY"  # read at request time; never stored or logged
    structured: bool = False  # send each state's action schema as response_format
    faults: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)
    _opener: urllib.request.OpenerDirector | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_fields("server", {k: getattr(self, k) for k in SERVER_FIELDS})
        parts = urllib.parse.urlsplit(self.base_url)
        # A local server is never reached through a proxy from the environment.
        handlers = [_HTTPHandler, _HTTPSHandler, _NoRedirect]
        if is_loopback(parts.hostname):
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)

    @property
    def name(self) -> str:
        return server_name(self.model, self.structured)

    def act(self, observations: list[dict]) -> list[Decision]:
        if not observations:
            return []
        self._cancel.clear()
        pool = ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(observations))))
        try:
            return list(pool.map(self._decide, observations))
        except BaseException:  # Ctrl-C: cut the tries in flight rather than wait out their timeouts and retries
            self._cancel.set()
            raise
        finally:
            pool.shutdown(wait=not self._cancel.is_set(), cancel_futures=True)

    def batch_key(self) -> Hashable:
        """Seats of one spec share a call: a council's `"*"` on a server loads a policy per
        creature, and their requests go out together (up to `concurrency`), not one creature
        after another (which also made a hung server cost a timeout per creature per turn)."""
        return ("server", *(getattr(self, k) for k in SERVER_FIELDS))

    def act_batch(self, seats: list[tuple[Policy, dict]]) -> list[Decision]:
        return self.act([obs for _, obs in seats])

    def _decide(self, obs: dict) -> Decision:
        started = time.perf_counter()
        messages = render(obs)
        schema = portable_schema(action_schema(obs)) if self.structured else None
        fault, wait = "refused", None
        for attempt in range(self.retries + 1):
            if attempt and _pause(self._cancel, self.backoff * 2 ** (attempt - 1) if wait is None else wait):
                break  # the run was interrupted: no more tries
            reply, fault, wait = self._request(messages, schema)
            if reply is not None:
                text, prompt_tokens, completion_tokens, finish = reply
                parsed = parse(text, obs)
                latency = time.perf_counter() - started
                cut = finish == "length" or completion_tokens >= self.max_tokens  # usage may be missing: finish
                error = answer_error(parsed, text, cut)
                notes = parser_notes(parsed)
                return Decision(
                    parsed.action, text, error, latency, prompt_tokens, completion_tokens, parsed.repaired, notes=notes
                )
            if fault not in RETRYABLE:
                break
        with self._lock:
            self.faults[fault] += 1
        return Decision({"orders": []}, None, f"server_{fault}", time.perf_counter() - started)

    def _request(
        self, messages: list[dict], schema: dict | None = None
    ) -> tuple[tuple[str, int, int, str | None] | None, str, float | None]:
        """One try: (the completion or None, the fault if None, seconds the server asked to wait)."""
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }
        if self.seed is not None:
            body["seed"] = self.seed
        if schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "wood_action", "schema": schema}}
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(
            self.base_url.rstrip("/") + "/chat/completions", json.dumps(body).encode(), headers, method="POST"
        )
        deadline = time.monotonic() + self.timeout
        _opened.connections = []
        done = threading.Event()
        guarded = (_opened.connections, done, self.timeout, self._cancel)
        threading.Thread(target=_guard, args=guarded, daemon=True).start()
        try:
            reply, fault, wait = self._exchange(request, deadline)
        finally:
            done.set()
        if reply is None and time.monotonic() >= deadline:  # whatever the cut connection raised
            return None, "timeout", None
        return reply, fault, wait

    def _exchange(
        self, request: urllib.request.Request, deadline: float
    ) -> tuple[tuple[str, int, int, str | None] | None, str, float | None]:
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                chunks, size = [], 0
                if (response.length or 0) > MAX_BODY:
                    return None, "bad_response", None
                while chunk := response.read1(CHUNK):  # urllib has let go of the socket: the guard cannot cut it
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > MAX_BODY:
                        return None, "bad_response", None
                    if time.monotonic() > deadline:
                        return None, "timeout", None
                if response.length:  # closed before its Content-Length (read1 does not raise IncompleteRead)
                    return None, "bad_response", None
                raw = b"".join(chunks)
        except urllib.error.HTTPError as exc:
            wait = retry_after(exc.headers.get("Retry-After")) if exc.code in (429, 503) else None
            if 300 <= exc.code < 500:  # a refusal's own words say what in the request to fix; a redirect's, where
                said = _refusal(exc) if exc.code >= 400 else _redirect(exc)
                _remember((self.name, self.base_url), f"server_http_{exc.code}", said)
            exc.close()
            return None, f"http_{exc.code}", wait
        except TimeoutError:
            return None, "timeout", None
        except ssl.SSLError:  # after the handshake (TLS 1.3 refuses a client certificate on the first read)
            return None, "tls", None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                return None, "timeout", None
            if isinstance(exc.reason, ssl.SSLError):  # the handshake: urllib wraps it, certificates included
                return None, "tls", None
            return None, "refused", None
        except ConnectionError:  # reset, or closed without an answer (RemoteDisconnected)
            return None, "refused", None
        except http.client.HTTPException:  # not HTTP at all (BadStatusLine), a cut-off chunked body
            return None, "bad_response", None
        except OSError:
            return None, "refused", None
        return _completion(raw), "bad_response", None


SAID_CHARS = 200  # of a refusal's explanation, kept for the end-of-run fault line
# fault -> (seat name, base_url) -> the first explanation that server gave this run
_said: dict[str, dict[tuple[str, str], str]] = {}
_said_lock = threading.Lock()


def _refusal(exc: urllib.error.HTTPError) -> str:
    """The explanation in a 4xx's body (OpenAI's and vLLM's `error.message`, `message` or `detail`, else the text)."""
    try:
        raw = exc.read(CHUNK).decode(errors="replace")
    except (OSError, http.client.HTTPException, ValueError):
        return ""
    try:
        data = json.loads(raw)
    except ValueError:
        data = raw
    if isinstance(data, dict):
        inner = data.get("error") if isinstance(data.get("error"), dict) else data
        data = next((inner[k] for k in ("message", "detail", "error") if isinstance(inner.get(k), str)), raw)
    return str(data)


def _redirect(exc: urllib.error.HTTPError) -> str:
    """What a 3xx said to do: go to its Location's host."""
    try:
        host = urllib.parse.urlsplit(urllib.parse.urljoin(exc.geturl(), exc.headers.get("Location") or "")).netloc
    except ValueError:  # a Location no URL parser takes
        host = "an unreadable Location"
    return f"redirected to {host[:80]}; glade does not follow redirects: give the final base_url"


def _remember(seat: tuple[str, str], fault: str, text: str) -> None:
    """Keep what a server said on one line, at most SAID_CHARS, escaped where it would drive the terminal."""
    text = printable(" ".join(text.split()))
    text = text if len(text) <= SAID_CHARS else text[: SAID_CHARS - 3] + "..."
    if text:
        with _said_lock:
            _said.setdefault(fault, {}).setdefault(seat, text)


def forget_said() -> None:
    """Drop what servers said: a run's fault line tells only that run's refusals."""
    with _said_lock:
        _said.clear()


def server_said(seat: str, fault: str, base_url: str | None = None) -> str:
    """What a server answered with `fault` (a 4xx) said in this run to the server seat named
    `seat` (ServerPolicy.name), at `base_url` when given; "" when none, or when two servers of
    that name said something (eval may seat one name at two) and `base_url` does not pick one."""
    with _said_lock:
        said = [t for (name, url), t in _said.get(fault, {}).items() if name == seat and base_url in (None, url)]
    return said[0] if len(said) == 1 else ""


def seat_fault_hint(seat: str, faults: dict[str, int], spec: dict | None = None) -> str:
    """glade.faults.fault_hint for a seat's faults, and, when its most frequent one is a refusal
    (a 4xx) or a redirect (a 3xx), what the server said (its own words say what to fix). `spec`: the seat's, where it is
    not named as its server (eval names seats by the recipe's policy names)."""
    hint = fault_hint(faults)
    worst = max(sorted(faults), key=lambda kind: faults[kind]) if faults else ""
    url = None
    if isinstance(spec, dict) and spec.get("kind") == "server":
        seat, url = server_name(spec.get("model"), bool(spec.get("structured"))), spec.get("base_url")
    said = server_said(seat, worst, url) if worst.startswith(("server_http_3", "server_http_4")) else ""
    return f"{hint}; it said: {said}" if said and hint else said or hint


def server_name(model, structured: bool) -> str:
    """A server seat's policy identity in the rows (ServerPolicy.name)."""
    return f"server:{model}" + (STRUCTURED if structured else "")


def retry_after(value: str | None) -> float | None:
    """Seconds a Retry-After header asks for, at most MAX_RETRY_AFTER; None when it is absent
    or not a number of seconds (an HTTP date is rare from model servers: the backoff applies)."""
    try:
        seconds = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return min(seconds, MAX_RETRY_AFTER) if 0 <= seconds < math.inf else None


def _completion(raw: bytes) -> tuple[str, int, int, str | None] | None:
    """(text, prompt_tokens, completion_tokens, finish_reason) from an OpenAI chat completion
    body, or None."""
    try:
        data = json.loads(raw)
        choice = data["choices"][0]
        message = choice["message"]
        if not isinstance(message, dict):
            return None
        content = message.get("content")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    elif isinstance(content, list):  # content parts: [{"type": "text", "text": ...}]
        text = "".join(p.get("text") or "" for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    else:
        return None
    usage = data.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    finish = choice.get("finish_reason")
    finish = finish if isinstance(finish, str) else None
    return utf8_text(text), _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens")), finish


def _count(value) -> int:
    """A token count from usage; a missing or malformed count is 0, not a lost completion."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return 0  # json.loads takes NaN and Infinity
    return max(0, int(value))
