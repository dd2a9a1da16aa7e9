"""Seats played by an OpenAI-compatible chat server (vLLM, `transformers serve`, llama.cpp).

Requests for one batch go out concurrently. Each has a timeout and a bounded number of
retries with exponential backoff; a seat whose server still fails holds for the turn with
a named error (`server_refused`, `server_timeout`, `server_http_500`, `server_bad_response`)
and the fault is counted in `policy.faults`. The run goes on.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from glade.env.protocol import parse, render
from glade.policies import Decision

RETRYABLE = {"refused", "timeout", "http_429", "http_500", "http_502", "http_503", "http_504"}


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
    faults: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def name(self) -> str:
        return f"server:{self.model}"

    def act(self, observations: list[dict]) -> list[Decision]:
        if not observations:
            return []
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(observations)))) as pool:
            return list(pool.map(self._decide, observations))

    def _decide(self, obs: dict) -> Decision:
        started = time.perf_counter()
        fault = "refused"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            reply, fault = self._request(render(obs))
            if reply is not None:
                text, prompt_tokens, completion_tokens = reply
                parsed = parse(text, obs)
                latency = time.perf_counter() - started
                return Decision(parsed.action, text, parsed.error, latency, prompt_tokens, completion_tokens, parsed.repaired)
            if fault not in RETRYABLE:
                break
        with self._lock:
            self.faults[fault] += 1
        return Decision({"orders": []}, None, f"server_{fault}", time.perf_counter() - started)

    def _request(self, messages: list[dict]) -> tuple[tuple[str, int, int] | None, str]:
        body = {"model": self.model, "messages": messages, "max_tokens": self.max_tokens, "temperature": self.temperature}
        if self.seed is not None:
            body["seed"] = self.seed
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(
            self.base_url.rstrip("/") + "/chat/completions", json.dumps(body).encode(), headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            return None, f"http_{exc.code}"
        except (TimeoutError, socket.timeout):
            return None, "timeout"
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                return None, "timeout"
            return None, "refused"
        except (ConnectionError, OSError):
            return None, "refused"
        try:
            data = json.loads(raw)
            text = data["choices"][0]["message"]["content"] or ""
            usage = data.get("usage") or {}
            return (str(text), int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)), ""
        except (ValueError, KeyError, IndexError, TypeError):
            return None, "bad_response"
