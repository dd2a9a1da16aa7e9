"""A fake OpenAI chat server on loopback for the server-seat tests: `completion` builds a
chat-completion body, `FakeServer` answers by script (the `fake_server` fixture, conftest.py,
starts them and closes them after the test)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def completion(content: str, prompt_tokens: int = 600, completion_tokens: int = 7) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": "fake",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    ).encode()


class FakeServer:
    """A threaded OpenAI-ish chat server on 127.0.0.1. `script(n, body, headers)` gives the
    answer to the n-th request (0-based): (status, bytes), (status, bytes, {header: value}),
    ("stall", seconds), or ("drip", (bytes, seconds)): a 200 whose body arrives a byte at a
    time, `seconds` apart."""

    def __init__(self, script):
        self.script = script
        self.requests: list[dict] = []  # {"path", "headers", "body"}
        self.release = threading.Event()  # set on close, so stalled handlers end at once
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep the test output clean
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                with fake._lock:
                    n = len(fake.requests)
                    fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, payload, *extra = fake.script(n, body, self.headers)
                if status == "stall":
                    fake.release.wait(payload)
                    return  # the client has given up; nothing to answer
                gap = None
                if status == "drip":
                    status, (payload, gap) = 200, payload
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for key, value in (extra[0] if extra else {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    if gap is None:
                        self.wfile.write(payload)
                        return
                    for i in range(len(payload)):
                        self.wfile.write(payload[i : i + 1])
                        self.wfile.flush()
                        if fake.release.wait(gap):
                            return
                except OSError:
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
