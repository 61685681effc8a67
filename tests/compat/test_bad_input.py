"""Bad input: how `compadre serve` answers abusive or malformed requests, and that it keeps serving
everybody else meanwhile.

Every probe runs while a side client polls `GET /healthz` (every 0.25 s) and an authenticated
`GET /v1/{org}/organization/agent` (every second) on fresh connections; each answer must come within
SIDE_LATENCY_LIMIT_S. The probes speak raw HTTP/1.1 over sockets, so they control exactly what the server
receives and when.

Limits of the server under test (Sources/Server): JSON bodies `maximumJSONBodySize` = 2 MiB
(HTTP/Request+API.swift), the interact form `InteractForm.maximumSize` = 1 MiB
(Conversations/InteractForm.swift); headers: Hummingbird's HTTP1Channel decoder defaults (80 KiB per field,
80 KiB in all, 1000 fields).

The module's server runs with COMPADRE_RATE_LIMITS=off: fifty slow requests of one user must reach the
handler (and its body read) instead of stopping at the per-user budget with a 429.

A slow client (one byte a second, in the head or in the body) must be disconnected within
SLOW_CLIENT_DEADLINE_S; the test waits no longer than that and then fails, naming the gap.

Run with `-s` to see every probe's measurements as they happen; a table of all probes is printed at the
end of the module either way.
"""

from __future__ import annotations

import http.client
import re
import select
import socket
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import Compadre, _start_compadre
from conversation_helpers import Blueprint, of_type, start_conversation
from amigo_sdk.generated.model import ConversationCreatedEvent

JSON_LIMIT = 2 * 1024 * 1024  # maximumJSONBodySize
FORM_LIMIT = 1024 * 1024  # InteractForm.maximumSize
SIDE_LATENCY_LIMIT_S = 1.0
SERVER_HEAD_TIMEOUT_S = 4
SERVER_BODY_TIMEOUT_S = 4
SLOW_CLIENT_DEADLINE_S = 10.0
SLOW_CONNECTIONS = 50
PARSE_ERROR_WAIT_S = 3.0
MISSING_CONVERSATION = "0123456789abcdef01234567"

# --------------------------------------------------------------------------
# Results table (printed at the end of the module, past pytest's capture)
# --------------------------------------------------------------------------

RESULTS: list[tuple[str, str]] = []


def report(probe: str, text: str) -> None:
    RESULTS.append((probe, text))
    print(f"\n[bad-input] {probe}: {text}", flush=True)


@pytest.fixture(scope="module", autouse=True)
def _print_table(request: pytest.FixtureRequest):
    yield
    capman = request.config.pluginmanager.getplugin("capturemanager")
    lines = ["", "=" * 30 + " bad-input probes " + "=" * 30]
    lines += [f"{probe:<44} {text}" for probe, text in RESULTS]
    if capman is not None:
        with capman.global_and_fixture_disabled():
            print("\n".join(lines), flush=True)
    else:
        print("\n".join(lines), flush=True)


# --------------------------------------------------------------------------
# The server of this module
# --------------------------------------------------------------------------


@dataclass
class Target:
    compadre: Compadre
    token: str  # an administrator's access token for raw calls
    conversation_id: str  # an open conversation of that administrator

    @property
    def port(self) -> int:
        assert self.compadre.server.port is not None
        return self.compadre.server.port

    @property
    def org(self) -> str:
        return self.compadre.org

    @property
    def pid(self) -> int:
        proc = self.compadre.server.proc
        assert proc is not None, "the server is not running"
        return proc.pid

    def alive(self) -> bool:
        return self.compadre.server.running

    def status(self, key: str) -> int:
        """A /proc/<pid>/status value in KiB (VmRSS: resident now, VmHWM: peak resident)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise AssertionError(f"{key} missing from /proc/{self.pid}/status")

    def auth(self) -> bytes:
        return f"Authorization: Bearer {self.token}\r\n".encode()


@pytest.fixture(scope="module")
def target(compadre_bin: Path, db_backend: str, tmp_path_factory: pytest.TempPathFactory, fake_openai):
    workdir = tmp_path_factory.mktemp("bad-input")
    instance = _start_compadre(compadre_bin, db_backend, workdir, extra_env={
        "COMPADRE_RATE_LIMITS": "off",
        # Shorter than the defaults (10 s head, 30 s body) so the slow-client probes finish quickly.
        "COMPADRE_HTTP_HEAD_TIMEOUT_SECONDS": str(SERVER_HEAD_TIMEOUT_S),
        "COMPADRE_HTTP_BODY_TIMEOUT_SECONDS": str(SERVER_BODY_TIMEOUT_S),
    })
    try:
        user_id = instance.invite_user()
        with instance.client(user_id=user_id) as client:
            blueprint = Blueprint(client)
            service_id = blueprint.new_service(client)
            events = start_conversation(client, service_id)
        created = of_type(events, ConversationCreatedEvent)
        assert created, f"create_conversation sent no conversation-created event: {events}"
        yield Target(instance, instance.access_token(user_id), created[0].conversation_id)
    finally:
        instance.server.stop()


# --------------------------------------------------------------------------
# The side client: is the server still answering others?
# --------------------------------------------------------------------------


class SideClient:
    """Polls /healthz and an authenticated GET on fresh connections while a probe runs."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.samples: list[tuple[str, float, str]] = []  # (what, seconds, status or error)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _get(self, what: str, path: str, headers: dict[str, str]) -> None:
        started = time.monotonic()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.target.port, timeout=5)
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            resp.read()
            conn.close()
            outcome = str(resp.status)
        except OSError as exc:
            outcome = f"error {exc!r}"
        self.samples.append((what, time.monotonic() - started, outcome))

    def _run(self) -> None:
        tick = 0
        while not self._stop.is_set():
            self._get("healthz", "/healthz", {})
            if tick % 4 == 0:
                self._get(
                    "agents",
                    f"/v1/{self.target.org}/organization/agent?limit=1",
                    {"Authorization": f"Bearer {self.target.token}"},
                )
            tick += 1
            self._stop.wait(0.25)

    def __enter__(self) -> "SideClient":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def summary(self) -> str:
        if not self.samples:
            return "side client: no sample"
        latencies = [s[1] for s in self.samples]
        bad = [s for s in self.samples if s[2] != "200"]
        text = (
            f"side client {len(self.samples)} GETs, max {max(latencies) * 1000:.0f} ms, "
            f"median {statistics.median(latencies) * 1000:.0f} ms, {len(bad)} not 200"
        )
        if bad:
            text += f" (e.g. {bad[0][0]} after {bad[0][1]:.1f} s: {bad[0][2][:60]})"
        return text

    def check(self) -> None:
        assert self.samples, "the side client made no request"
        bad = [s for s in self.samples if s[2] != "200"]
        assert not bad, f"other clients got errors meanwhile: {bad[:5]}"
        slowest = max(self.samples, key=lambda s: s[1])
        assert slowest[1] < SIDE_LATENCY_LIMIT_S, (
            f"other clients were kept waiting: {slowest[0]} took {slowest[1]:.2f} s "
            f"(limit {SIDE_LATENCY_LIMIT_S} s); {self.summary()}"
        )


# --------------------------------------------------------------------------
# Raw HTTP
# --------------------------------------------------------------------------


@dataclass
class Exchange:
    status: int | None  # None: no response
    seconds: float  # until the status line, or until we gave up
    closed: bool  # the server closed the connection
    data: bytes = b""
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        status = self.status if self.status is not None else "no response"
        closed = "closed by server" if self.closed else "connection left open"
        return f"{status} after {self.seconds * 1000:.0f} ms, {closed}"


def connect(target: Target) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", target.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def status_of(data: bytes) -> int | None:
    if data.startswith(b"HTTP/1.") and len(data) >= 12:
        return int(data[9:12])
    return None


def exchange(target: Target, request: bytes, wait: float) -> Exchange:
    """Sends `request`, reads until the server closes or `wait` seconds pass."""
    sock = connect(target)
    started = time.monotonic()
    data = b""
    first: float | None = None
    closed = False
    notes: list[str] = []
    try:
        try:
            sock.sendall(request)
        except OSError as exc:  # the server may stop reading and reset a huge request
            notes.append(f"send stopped: {exc!r}")
        deadline = started + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            if first is None:
                first = time.monotonic() - started
            data += chunk
    finally:
        sock.close()
    return Exchange(status_of(data), first if first is not None else time.monotonic() - started, closed, data, notes)


def body_text(result: Exchange, limit: int) -> str:
    return result.data.split(b"\r\n\r\n", 1)[-1][:limit].decode(errors="replace")


def request_bytes(
    method: str, path: bytes, headers: bytes = b"", body: bytes = b"", close: bool = True
) -> bytes:
    head = method.encode() + b" " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers
    if body or method == "POST":
        head += b"Content-Length: %d\r\n" % len(body)
    if close:
        head += b"Connection: close\r\n"
    return head + b"\r\n" + body


def json_post(target: Target, path: str, body: bytes) -> bytes:
    return request_bytes(
        "POST", path.encode(), target.auth() + b"Content-Type: application/json\r\n", body
    )


def interact_path(org: str, conversation_id: str) -> bytes:
    return f"/v1/{org}/conversation/{conversation_id}/interact?request_format=text&response_format=text".encode()


def form_part(boundary: bytes, name: bytes, value: bytes) -> bytes:
    return (
        b"--" + boundary + b"\r\nContent-Disposition: form-data; name=\"" + name + b"\"\r\n\r\n"
        + value + b"\r\n"
    )


@dataclass
class Upload:
    status: int | None
    seconds_to_answer: float | None
    sent_before_answer: int | None
    sent: int
    total: int
    ended: str  # how the upload ended
    reused: str  # what a follow-up request on the same connection got
    peak_rss_growth_kib: int

    def describe(self) -> str:
        answered = (
            f"{self.status} after {self.seconds_to_answer * 1000:.0f} ms with "
            f"{self.sent_before_answer / 2**20:.1f} of {self.total / 2**20:.0f} MiB sent"
            if self.seconds_to_answer is not None
            else f"no answer while sending {self.sent / 2**20:.1f} of {self.total / 2**20:.0f} MiB"
        )
        return (
            f"{answered}; then {self.ended}; same connection afterwards: {self.reused}; "
            f"peak RSS growth {self.peak_rss_growth_kib / 1024:.1f} MiB"
        )


def upload(
    target: Target, path: bytes, content_type: bytes, total: int, chunk: int, pause: float, prefix: bytes = b""
) -> Upload:
    """POSTs a body of `total` bytes (`prefix` then filler) in `chunk`s, `pause` seconds apart, watching for
    the answer while sending; keeps sending after it to learn whether the server closes the connection or
    reads and discards the rest; then tries a second request on the same connection."""
    rss_before = target.status("VmRSS")
    peak = [target.status("VmRSS")]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            try:
                peak[0] = max(peak[0], target.status("VmRSS"))
            except (OSError, AssertionError):
                return
            sampling.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    sock = connect(target)
    head = (
        b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + target.auth()
        + b"Content-Type: " + content_type + b"\r\nContent-Length: %d\r\n\r\n" % total
    )
    filler = b"x" * chunk
    started = time.monotonic()
    received = b""
    answered_at: float | None = None
    sent_before: int | None = None
    sent = 0
    ended = "the whole body was accepted (the server read and discarded it)"
    eof = False
    try:
        sock.sendall(head)
        sock.settimeout(10)
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                try:
                    piece = sock.recv(65536)
                except ConnectionResetError:
                    piece = b""
                if not piece:
                    eof = True
                    ended = f"the server closed the connection after {sent / 2**20:.1f} MiB"
                    break
                if answered_at is None:
                    answered_at, sent_before = time.monotonic() - started, sent
                received += piece
            n = min(chunk, total - sent)
            data = prefix[sent : sent + n] if sent < len(prefix) else b""
            data += filler[: n - len(data)]
            try:
                sock.sendall(data)
            except OSError as exc:
                eof = True
                ended = f"the server stopped the upload after {sent / 2**20:.1f} MiB ({type(exc).__name__})"
                break
            sent += n
            if pause:
                time.sleep(pause)
        if answered_at is None and not eof:
            sock.settimeout(10)
            try:
                piece = sock.recv(65536)
            except (socket.timeout, ConnectionResetError):
                piece = b""
            if piece:
                answered_at, sent_before = time.monotonic() - started, sent
                received += piece
        reused = "not tried (connection closed)"
        if not eof:
            # Read the rest of the first answer, then ask again on the same connection.
            sock.settimeout(2)
            try:
                while b"\r\n\r\n" not in received or not received.rstrip().endswith(b"}"):
                    piece = sock.recv(65536)
                    if not piece:
                        break
                    received += piece
            except (socket.timeout, ConnectionResetError):
                pass
            try:
                sock.sendall(request_bytes("GET", b"/healthz"))
                sock.settimeout(5)
                again = sock.recv(65536)
                reused = f"GET /healthz -> {status_of(again) or 'nothing'}" if again else "closed"
            except (OSError, socket.timeout) as exc:
                reused = f"failed ({type(exc).__name__})"
    finally:
        sock.close()
        time.sleep(0.1)
        sampling.set()
        sampler.join(timeout=5)
    return Upload(
        status_of(received), answered_at, sent_before, sent, total, ended, reused, peak[0] - rss_before
    )


# --------------------------------------------------------------------------
# Oversized bodies
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint", ["json", "interact"], ids=["create-agent-json-8MiB", "interact-form-4MiB"]
)
def test_oversized_body_answered_413_before_it_is_sent(target: Target, endpoint: str):
    if endpoint == "json":
        path, ctype, limit = f"/v1/{target.org}/organization/agent".encode(), b"application/json", JSON_LIMIT
    else:
        path = interact_path(target.org, target.conversation_id)
        ctype, limit = b"multipart/form-data; boundary=XX", FORM_LIMIT
    total = 4 * limit
    with SideClient(target) as side:
        # 64 KiB every 10 ms: the body takes about 0.6 s (JSON) / 0.3 s (form) to send.
        result = upload(target, path, ctype, total, chunk=64 * 1024, pause=0.01)
    report(f"oversized body ({endpoint}, {total >> 20} MiB)", f"{result.describe()}; {side.summary()}")
    assert result.status == 413, f"expected 413 for a {total}-byte body over the {limit}-byte limit: {result}"
    assert result.sent_before_answer is not None and result.sent_before_answer < total, (
        f"the 413 came only after the whole body was sent: {result.describe()}"
    )
    assert result.ended.startswith("the server") or result.reused.endswith("200"), (
        f"after the 413 the connection must be closed, or the rest discarded and the connection usable: "
        f"{result.describe()}"
    )
    assert target.alive()
    side.check()


@pytest.mark.parametrize("endpoint", ["json", "interact"], ids=["create-agent-json", "interact-form"])
def test_100mb_upload_is_refused_without_buffering_it(target: Target, endpoint: str):
    if endpoint == "json":
        path, ctype = f"/v1/{target.org}/organization/agent".encode(), b"application/json"
    else:
        path = interact_path(target.org, target.conversation_id)
        ctype = b"multipart/form-data; boundary=XX"
    total = 100 * 1024 * 1024
    rss_before = target.status("VmRSS")
    with SideClient(target) as side:
        result = upload(target, path, ctype, total, chunk=1024 * 1024, pause=0.0)
    rss_after = target.status("VmRSS")
    report(
        f"100 MiB upload ({endpoint})",
        f"{result.describe()}; VmRSS {rss_before / 1024:.0f} -> {rss_after / 1024:.0f} MiB; {side.summary()}",
    )
    assert result.status == 413, f"expected 413: {result.describe()}"
    assert result.peak_rss_growth_kib < 50 * 1024, (
        f"the server's resident memory grew by {result.peak_rss_growth_kib / 1024:.0f} MiB during a 100 MiB "
        f"upload it refuses: it buffered the body"
    )
    assert target.alive()
    side.check()


# --------------------------------------------------------------------------
# Malformed JSON and text
# --------------------------------------------------------------------------

DEPTH = 100_000


@pytest.mark.parametrize(
    "endpoint,body",
    [
        ("agent", b"[" * DEPTH + b"]" * DEPTH),
        ("agent", b'{"agent_name":' * DEPTH + b'"x"' + b"}" * DEPTH),
        ("service", b'{"a":' * DEPTH + b"1" + b"}" * DEPTH),
        ("context_graph", b'{"state_machine_name":[' + b"[" * DEPTH + b"]" * DEPTH + b"]}"),
    ],
    ids=["agent-arrays", "agent-objects", "service-objects", "context-graph-in-field"],
)
def test_deeply_nested_json_is_a_clear_4xx(target: Target, endpoint: str, body: bytes):
    path = {
        "agent": f"/v1/{target.org}/organization/agent",
        "service": f"/v1/{target.org}/service/",
        "context_graph": f"/v1/{target.org}/organization/service_hierarchical_state_machine",
    }[endpoint]
    with SideClient(target) as side:
        result = exchange(target, json_post(target, path, body), wait=10)
    detail = body_text(result, 160)
    report(f"nested JSON x{DEPTH} ({endpoint})", f"{result.describe()}: {detail}; {side.summary()}")
    assert target.alive(), "the server died on deeply nested JSON"
    assert result.status in (400, 413, 422), f"expected 400/413/422: {result.describe()} {detail}"
    assert result.seconds < 2, f"took {result.seconds:.2f} s"
    side.check()


UTF8_CASES = [
    ("JSON body, raw 0xFF 0xFE", lambda t: json_post(t, f"/v1/{t.org}/organization/agent", b'{"agent_name":"a\xff\xfeb"}')),
    ("JSON body, overlong '/' (C0 AF)", lambda t: json_post(t, f"/v1/{t.org}/organization/agent", b'{"agent_name":"a\xc0\xafb"}')),
    ("JSON body, lone surrogate escape", lambda t: json_post(t, f"/v1/{t.org}/organization/agent", b'{"agent_name":"a\\ud800b"}')),
    ("query %FF%FE in limit", lambda t: request_bytes("GET", f"/v1/{t.org}/organization/agent?limit=%ff%fe".encode(), t.auth())),
    ("query %FF%FE in id", lambda t: request_bytes("GET", f"/v1/{t.org}/organization/agent?id=%ff%fe".encode(), t.auth())),
    ("path %FF%FE in agent id", lambda t: request_bytes("GET", f"/v1/{t.org}/organization/agent/%ff%fe/version".encode(), t.auth())),
    ("path %FF%FE in organization", lambda t: request_bytes("GET", b"/v1/%ff%fe/organization/agent", t.auth())),
    ("query raw 0xFF bytes", lambda t: request_bytes("GET", f"/v1/{t.org}/organization/agent?limit=".encode() + b"\xff\xfe", t.auth())),
    ("path raw 0xFF bytes", lambda t: request_bytes("GET", f"/v1/{t.org}/organization/agent/".encode() + b"\xff\xfe/version", t.auth())),
]


@pytest.mark.parametrize("name,build", UTF8_CASES, ids=[c[0] for c in UTF8_CASES])
def test_invalid_utf8_is_a_clear_4xx(target: Target, name: str, build):
    with SideClient(target) as side:
        result = exchange(target, build(target), wait=PARSE_ERROR_WAIT_S)
    detail = body_text(result, 140)
    report(f"invalid UTF-8: {name}", f"{result.describe()} {detail}; {side.summary()}")
    assert target.alive()
    assert result.status is not None, (
        f"no answer within {PARSE_ERROR_WAIT_S} s and the server left the connection "
        f"{'closed' if result.closed else 'open'}: the request is not valid HTTP (raw non-ASCII bytes in the "
        f"request target), and the server neither answers 400 nor closes the connection"
    )
    assert 400 <= result.status < 500, f"expected a 4xx: {result.describe()} {detail}"
    side.check()


def test_invalid_utf8_in_free_text_query_is_answered(target: Target):
    """A free-text filter with an undecodable escape: FastAPI (Amigo) decodes it with replacement
    characters and answers 200; Compadre keeps the raw text. Either way: an answer, no 5xx."""
    with SideClient(target) as side:
        result = exchange(
            target,
            request_bytes("GET", f"/v1/{target.org}/organization/agent?agent_name=%ff%fe".encode(), target.auth()),
            wait=5,
        )
    report("invalid UTF-8: query %FF%FE in a name filter", f"{result.describe()}; {side.summary()}")
    assert result.status is not None and result.status < 500, result.describe()
    side.check()


# --------------------------------------------------------------------------
# Multipart with many parts
# --------------------------------------------------------------------------


def many_parts_form(parts: int) -> bytes:
    boundary = b"XX"
    body = form_part(boundary, b"initial_message_type", b"user-message")
    body += form_part(boundary, b"recorded_message", b"hello")
    body += b"".join(form_part(boundary, b"filler%d" % i, b"v") for i in range(parts - 2))
    return body + b"--" + boundary + b"--\r\n"


def test_multipart_with_10000_parts_is_a_quick_4xx(target: Target):
    body = many_parts_form(10_000)
    assert len(body) < FORM_LIMIT, "the form must be under the size limit, so only the part count is at stake"
    headers = target.auth() + b"Content-Type: multipart/form-data; boundary=XX\r\n"
    path = interact_path(target.org, target.conversation_id)
    one = exchange(target, request_bytes("POST", path, headers, body), wait=30)
    report(
        "multipart 10,000 parts (open conversation)",
        f"{len(body) / 1024:.0f} KiB form: {one.describe()} {body_text(one, 100)!r}",
    )
    # Four at once (to a missing conversation: the form is read and parsed before the lookup), while the
    # side client measures what the parsing costs everybody else.
    # Four different missing ids: one id would answer 409 (the conversation's lease is taken before the lookup).
    others = [
        interact_path(target.org, MISSING_CONVERSATION[:-1] + str(i)) for i in range(4)
    ]
    results: list[Exchange] = []
    with SideClient(target) as side:
        threads = [
            threading.Thread(
                target=lambda p=p: results.append(exchange(target, request_bytes("POST", p, headers, body), wait=30))
            )
            for p in others
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    report(
        "multipart 10,000 parts x4 concurrently",
        f"{sorted((r.status, round(r.seconds, 2), body_text(r, 70)) for r in results)}; {side.summary()}",
    )
    assert target.alive()
    problems = []
    if one.status not in (400, 413, 422):
        problems.append(
            f"a 10,000-part form was not refused: {one.describe()} (the server parsed every part and went on)"
        )
    elif one.seconds >= 1.0:
        problems.append(f"the refusal took {one.seconds:.2f} s")
    try:
        side.check()
    except AssertionError as exc:
        problems.append(f"while four such forms were parsed: {exc}")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------
# Headers
# --------------------------------------------------------------------------


HEADER_CASES = {
    "1 MiB header": lambda: b"X-Big: " + b"a" * (1 << 20) + b"\r\n",
    "5,000 headers": lambda: b"".join(b"X-H%d: v\r\n" % i for i in range(5000)),
}


@pytest.mark.parametrize("name", list(HEADER_CASES))
@pytest.mark.parametrize("position", ["first request", "second request (keep-alive)"])
def test_oversized_headers_are_refused(target: Target, name: str, position: str):
    bad = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + HEADER_CASES[name]() + b"Connection: close\r\n\r\n"
    if position.startswith("second"):
        bad = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + bad
    with SideClient(target) as side:
        result = exchange(target, bad, wait=PARSE_ERROR_WAIT_S)
    statuses = [int(code) for code in re.findall(rb"HTTP/1\.[01] (\d{3}) ", result.data)]
    report(f"{name}, {position}", f"{result.describe()}, statuses {statuses}; {side.summary()}")
    assert target.alive()
    expected = statuses[-1] if statuses else None
    if position.startswith("second"):
        assert statuses[:1] == [200], f"the good first request was not answered: {statuses}"
        expected = statuses[1] if len(statuses) > 1 else None
    assert expected in (400, 431), (
        f"expected 431 (or 400) for a request with {name}; got {expected} within {PARSE_ERROR_WAIT_S} s and the "
        f"connection was left {'closed' if result.closed else 'open'}"
    )
    assert result.closed, "the server must close the connection after refusing the head"
    side.check()


# --------------------------------------------------------------------------
# Slow clients
# --------------------------------------------------------------------------


def slow_clients(target: Target, start: bytes, count: int, deadline: float) -> tuple[list[float | None], int]:
    """Opens `count` connections that send `start`, then one more byte a second each; returns when the
    server closed them all or after `deadline` seconds: when each was closed (None: still open), and how
    many bytes each had sent at most."""
    socks = [connect(target) for _ in range(count)]
    for s in socks:
        s.sendall(start)
        s.setblocking(False)
    opened = time.monotonic()
    closed_at: list[float | None] = [None] * count
    trickled = 0
    try:
        next_byte = opened + 1
        while time.monotonic() - opened < deadline and any(c is None for c in closed_at):
            readable, _, _ = select.select([s for s, c in zip(socks, closed_at) if c is None], [], [], 0.1)
            for s in readable:
                i = socks.index(s)
                try:
                    data = s.recv(65536)
                except (ConnectionResetError, BlockingIOError):
                    data = b""
                if not data:
                    closed_at[i] = time.monotonic() - opened
                # an answer without a close (a 408 on a keep-alive connection) still counts as open
            if time.monotonic() >= next_byte:
                next_byte += 1
                trickled += 1
                for i, s in enumerate(socks):
                    if closed_at[i] is None:
                        try:
                            s.send(b"a")
                        except OSError:
                            closed_at[i] = time.monotonic() - opened
    finally:
        for s in socks:
            s.close()
    return closed_at, trickled


def _slow_probe(target: Target, name: str, start: bytes) -> None:
    with SideClient(target) as side:
        closed_at, trickled = slow_clients(target, start, SLOW_CONNECTIONS, SLOW_CLIENT_DEADLINE_S)
    shut = [c for c in closed_at if c is not None]
    report(
        name,
        f"{len(shut)}/{SLOW_CONNECTIONS} slow connections closed by the server within "
        f"{SLOW_CLIENT_DEADLINE_S:.0f} s"
        + (f" (after {min(shut):.1f}-{max(shut):.1f} s)" if shut else "")
        + f", {trickled} bytes trickled each; {side.summary()}",
    )
    assert target.alive()
    side.check()
    assert len(shut) == SLOW_CONNECTIONS, (
        f"{SLOW_CONNECTIONS - len(shut)} of {SLOW_CONNECTIONS} connections sending one byte a second were still "
        f"open after {SLOW_CLIENT_DEADLINE_S:.0f} s: the server has no read timeout for a request "
        f"{'head' if 'head' in name else 'body'} (each slow client holds a connection, a file descriptor and, "
        f"for a body, a handler task for as long as it likes)"
    )


def test_slowloris_request_head(target: Target):
    start = (
        f"POST /v1/{target.org}/organization/agent HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
        + target.auth() + b"X-Slow: "
    )
    _slow_probe(target, "slowloris: head at 1 byte/s", start)


def test_slowloris_request_body(target: Target):
    start = (
        f"POST /v1/{target.org}/organization/agent HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
        + target.auth() + b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        + b'{"agent_name":"'
    )
    _slow_probe(target, "slowloris: body at 1 byte/s", start)
