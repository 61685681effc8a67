"""A webhook receiver for the compatibility suite: a stdlib HTTP server on 127.0.0.1 (a thread) that
records every request it gets and answers each path with scripted status codes (200 when the script
is empty).

    with Receiver() as receiver:
        url = receiver.url("/hooks/a")          # http://127.0.0.1:PORT/hooks/a
        receiver.answer("/hooks/a", 500, 500)   # the next two requests to it get 500, then 200
        ...
        got = receiver.wait_for("/hooks/a", 3, timeout=30)

Compadre delivers to it only when its server runs with COMPADRE_WEBHOOKS_ALLOW_PLAIN_HTTP=on and
COMPADRE_WEBHOOKS_ALLOW_PRIVATE_NETWORKS=on (`WEBHOOK_ENV`).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# What a server needs to deliver to a loopback http:// receiver.
WEBHOOK_ENV = {
    "COMPADRE_WEBHOOKS_ALLOW_PLAIN_HTTP": "on",
    "COMPADRE_WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "on",
}

ALL_TYPES = ["conversation-post-processing-complete", "api-key-expiration-soon", "agent-framework-resource-updated"]


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names lowercased
    body: str
    at: float  # time.monotonic() when it arrived
    answered: int

    @property
    def key(self) -> str:
        return self.headers.get("x-amigo-idempotent-key", "")

    @property
    def timestamp(self) -> str:
        return self.headers.get("x-amigo-request-timestamp", "")

    @property
    def signature(self) -> str:
        return self.headers.get("x-amigo-request-signature", "")


def hmac_signature(secret: str, timestamp: str, body: str) -> str:
    """Hex HMAC-SHA256 of `v1:{timestamp}:{body}` keyed by the destination's secret (as documented)."""
    return hmac.new(secret.encode(), f"v1:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep quiet
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
        receiver = self.server.receiver
        status = receiver._next_status(self.path)
        payload = b'{"ok": true}' if 200 <= status < 300 else b'{"error": "scripted"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        receiver._record(Received(
            method=self.command, path=self.path, headers={k.lower(): v for k, v in self.headers.items()},
            body=body, at=time.monotonic(), answered=status,
        ))

    do_POST = _handle  # noqa: N815
    do_PUT = _handle  # noqa: N815
    do_GET = _handle  # noqa: N815


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: "Receiver"


class Receiver:
    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._received: list[Received] = []
        self._scripts: dict[str, deque[int]] = defaultdict(deque)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.receiver = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)

    def __enter__(self) -> "Receiver":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def answer(self, path: str, *statuses: int) -> None:
        """The next requests to `path` are answered `statuses`, in order (then 200)."""
        with self._lock:
            self._scripts[path].extend(statuses)

    def received(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._received if path is None or r.path == path]

    def wait_for(self, path: str, count: int, timeout: float) -> list[Received]:
        """The requests to `path` once there are `count` of them; fewer if `timeout` passes first."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                got = [r for r in self._received if r.path == path]
                left = deadline - time.monotonic()
                if len(got) >= count or left <= 0:
                    return got
                self._lock.wait(timeout=left)

    def _next_status(self, path: str) -> int:
        with self._lock:
            script = self._scripts.get(path)
            return script.popleft() if script else 200

    def _record(self, received: Received) -> None:
        with self._lock:
            self._received.append(received)
            self._lock.notify_all()
