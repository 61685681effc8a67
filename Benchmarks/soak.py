"""Soak test: long mixed traffic against ONE `compadre serve`, watching for leaks.

Run it through Benchmarks/soak.sh (which finds the binary and the Python packages):

    Benchmarks/soak.sh [--bin PATH] [--minutes 30] [options]   # see --help

One server on a fresh SQLite database in a temporary directory (PostgreSQL when
COMPADRE_BENCH_POSTGRES_URL is set; a fresh organization in it), talking to the compatibility
suite's fake OpenAI-compatible model (tests/compat/fake_openai.py, in a subprocess: a short
streamed reply, answered at once). The server runs with its defaults except
COMPADRE_RATE_LIMITS=off (the per-user API budgets would throttle the load, they are not what is
measured), the fake model, and its tools directory in the temporary directory; other COMPADRE_*
variables of the caller's environment are not passed on (add settings with --server-env K=V).

Traffic, all at once, for --minutes:
  management  --mgmt-threads threads, each at --mgmt-rate requests/s, rotating GET service list,
              agents, users, roles, context graphs; one request in 20 carries a bad token
              (401 expected, counted apart)
  REST        --conversation-workers workers, each its own user: create (NDJSON), --interacts
              raw multipart interacts (NDJSON streamed and checked), messages page, finish
  realtime    --realtime-workers workers, each its own user: open the socket, start a
              conversation, --interacts text messages, close-connection; reopen, continue it,
              one message, finish-conversation; again

Every --sample-seconds (30): the server's RSS, open fds, threads, database size, and per kind the
requests, errors and p50/p99 latency of the window. The baselines are taken with the traffic paused
(every worker between two cycles, 2 s of quiet): "start" after the warm-up (the first 2 minutes, or
10 % of the run if shorter), "end" at the end of the run.

Fails (exit 1) if any request failed unexpectedly (a non-2xx other than the 401 probes, an error
event, a wrong close code, a timeout), RSS grew by 5 % or more from start to end, or the open fds
grew by more than 10 %. Exit 2: the set-up or the server broke.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPAT = REPO_ROOT / "tests" / "compat"

# --------------------------------------------------------------------------
# The fake model, as a subprocess of this script (`soak.py --fake-model`)
# --------------------------------------------------------------------------


def run_fake_model() -> None:
    """Serves tests/compat/fake_openai.py's fake until stdin closes (the parent went away)."""
    sys.path.insert(0, str(COMPAT))
    from fake_openai import FakeOpenAI

    fake = FakeOpenAI().start()
    print(fake.base_url, flush=True)
    # The fake keeps every request body; a soak sends hundreds of thousands. Forget them now and then.
    def forget() -> None:
        while True:
            time.sleep(10)
            fake.reset()

    threading.Thread(target=forget, daemon=True).start()
    sys.stdin.read()
    fake.stop()


if __name__ == "__main__" and sys.argv[1:2] == ["--fake-model"]:
    run_fake_model()
    sys.exit(0)

import httpx  # noqa: E402  (tests/compat/requirements.txt)
from websockets.exceptions import ConnectionClosed  # noqa: E402
from websockets.sync.client import connect as ws_connect  # noqa: E402

# --------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}"


class Stats:
    """Requests, latencies and errors per kind; a window for the periodic samples."""

    MAX_EXAMPLES = 40

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.total: dict[str, int] = defaultdict(int)
        self.errors: dict[str, int] = defaultdict(int)
        self.expected: dict[str, int] = defaultdict(int)
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.window_total: dict[str, int] = defaultdict(int)
        self.window_errors: dict[str, int] = defaultdict(int)
        self.window_latencies: dict[str, list[float]] = defaultdict(list)
        self.error_kinds: dict[tuple[str, str], int] = defaultdict(int)
        self.examples: list[str] = []
        self.started = time.monotonic()

    def ok(self, kind: str, seconds: float, expected_failure: bool = False) -> None:
        with self.lock:
            self.total[kind] += 1
            self.window_total[kind] += 1
            self.latencies[kind].append(seconds)
            self.window_latencies[kind].append(seconds)
            if expected_failure:
                self.expected[kind] += 1

    def error(self, kind: str, what: str, detail: str, seconds: float | None = None) -> None:
        """An unexpected failure: `what` is a short class (HTTP 500, timeout, close 1011…)."""
        with self.lock:
            self.total[kind] += 1
            self.window_total[kind] += 1
            self.errors[kind] += 1
            self.window_errors[kind] += 1
            self.error_kinds[(kind, what)] += 1
            if seconds is not None:
                self.latencies[kind].append(seconds)
                self.window_latencies[kind].append(seconds)
            # A few examples of each kind of failure, so a flood of one does not hide the others.
            if self.error_kinds[(kind, what)] <= 3 and len(self.examples) < self.MAX_EXAMPLES:
                at = time.monotonic() - self.started
                self.examples.append(f"[t={at:.0f}s] {kind}: {what}: {detail[:600]}")

    def take_window(self) -> dict[str, tuple[int, int, float | None, float | None]]:
        with self.lock:
            out = {
                k: (n, self.window_errors.get(k, 0), pct(self.window_latencies[k], 0.5), pct(self.window_latencies[k], 0.99))
                for k, n in self.window_total.items()
            }
            self.window_total.clear()
            self.window_errors.clear()
            self.window_latencies.clear()
            return out


# --------------------------------------------------------------------------
# Pausing the traffic for a clean baseline
# --------------------------------------------------------------------------


class Gate:
    """Workers call checkpoint() between cycles; pause() returns once all of them wait there."""

    def __init__(self) -> None:
        self.cv = threading.Condition()
        self.paused = False
        self.parked = 0
        self.workers = 0
        self.stop = threading.Event()

    def register(self) -> None:
        with self.cv:
            self.workers += 1

    def unregister(self) -> None:
        with self.cv:
            self.workers -= 1
            self.cv.notify_all()

    def checkpoint(self) -> bool:
        """False once the run is over."""
        with self.cv:
            if self.paused and not self.stop.is_set():
                self.parked += 1
                self.cv.notify_all()
                while self.paused and not self.stop.is_set():
                    self.cv.wait()
                self.parked -= 1
        return not self.stop.is_set()

    def pause(self, timeout: float = 90.0) -> bool:
        deadline = time.monotonic() + timeout
        with self.cv:
            self.paused = True
            while self.parked < self.workers:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cv.wait(left)
        return True

    def resume(self) -> None:
        with self.cv:
            self.paused = False
            self.cv.notify_all()

    def finish(self) -> None:
        with self.cv:
            self.stop.set()
            self.paused = False
            self.cv.notify_all()

    def sleep(self, seconds: float) -> bool:
        """Sleeps unless the run ends first; False once it ended."""
        return not self.stop.wait(seconds)


# --------------------------------------------------------------------------
# The server and its numbers
# --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, binary: str, database_url: str, workdir: Path, env: dict[str, str]) -> None:
        self.binary = binary
        self.database_url = database_url
        self.workdir = workdir
        self.env = env
        self.port = free_port()
        self.log_path = workdir / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [self.binary, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--database", self.database_url],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env, cwd=self.workdir,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"compadre serve exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"compadre serve not healthy within 60 s:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # anything it left in its process group
        except (ProcessLookupError, PermissionError):
            pass
        return proc.returncode

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def proc_numbers(self) -> dict[str, int]:
        """RSS (bytes), open fds, threads of the server process."""
        assert self.proc is not None
        pid = self.proc.pid
        out = {"rss": 0, "fds": 0, "threads": 0}
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    out["rss"] = int(line.split()[1]) * 1024
                elif line.startswith("Threads:"):
                    out["threads"] = int(line.split()[1])
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
        return out

    def database_size(self) -> int | None:
        if self.database_url.startswith("sqlite:"):
            path = self.database_url[len("sqlite:"):]
            return sum(os.path.getsize(p) for p in (path, path + "-wal", path + "-shm") if os.path.exists(p))
        try:
            out = subprocess.run(
                ["psql", self.database_url, "-Atc", "select pg_database_size(current_database())"],
                capture_output=True, text=True, timeout=20, check=True,
            ).stdout.strip()
            return int(out)
        except (OSError, subprocess.SubprocessError, ValueError):
            return None

    def metric(self, name: str) -> float | None:
        try:
            text = httpx.get(f"{self.base}/metrics", timeout=10).text
        except httpx.HTTPError:
            return None
        total = None
        for line in text.splitlines():
            if line.startswith(name) and (line[len(name):len(name) + 1] in (" ", "{")):
                total = (total or 0.0) + float(line.rsplit(" ", 1)[1])
        return total

    def log_levels(self) -> tuple[dict[str, int], list[str]]:
        """Lines per level; the warnings and errors grouped by message (ids stripped), first seen first."""
        import re

        counts: dict[str, int] = defaultdict(int)
        groups: dict[str, list] = {}
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return counts, []
        for line in lines:
            parts = line.split(" ", 2)
            if len(parts) >= 2 and parts[1] in ("trace", "debug", "info", "notice", "warning", "error", "critical"):
                counts[parts[1]] += 1
                if parts[1] in ("warning", "error", "critical"):
                    shape = re.sub(r"\b[0-9a-f]{24,32}\b", "…", parts[1] + " " + parts[2].split(": ", 1)[-1])
                    shape = re.sub(r"\d+(\.\d+)?", "N", shape)
                    group = groups.setdefault(shape, [0, line])
                    group[0] += 1
        return counts, [f"{n} x  first: {first[:400]}" for n, first in list(groups.values())[:12]]


def mb(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 1048576:.1f} MB"


# --------------------------------------------------------------------------
# API helpers
# --------------------------------------------------------------------------


class Setup:
    def __init__(self, base: str, org: str, creds: dict[str, str], stats: Stats) -> None:
        self.base = base
        self.org = org
        self.creds = creds
        self.stats = stats

    def sign_in(self, user_id: str, http: httpx.Client | None = None) -> str:
        started = time.monotonic()
        resp = (http or httpx).post(
            f"{self.base}/v1/{self.org}/user/signin_with_api_key",
            headers={"x-api-key": self.creds["api_key"], "x-api-key-id": self.creds["api_key_id"], "x-user-id": user_id},
            timeout=30,
        )
        took = time.monotonic() - started
        if resp.status_code != 200:
            self.stats.error("auth.signin", f"HTTP {resp.status_code}", resp.text, took)
            raise RuntimeError(f"sign-in -> HTTP {resp.status_code}: {resp.text}")
        self.stats.ok("auth.signin", took)
        return resp.json()["id_token"]

    def call(self, token: str, method: str, path: str, body: Any = None) -> Any:
        resp = httpx.request(method, f"{self.base}/v1/{self.org}{path}", json=body, timeout=30,
                             headers={"Authorization": f"Bearer {token}"})
        if resp.status_code >= 300:
            raise SystemExit(f"set-up: {method} {path} -> HTTP {resp.status_code}: {resp.text}")
        return resp.json() if resp.content else None

    def invite(self, token: str, role: str) -> str:
        return self.call(token, "POST", "/user/", {
            "first_name": "Soak", "last_name": "User", "email": f"soak-{secrets.token_hex(6)}@example.com", "role_name": role,
        })["user_id"]

    def seed(self, token: str, services: int) -> list[str]:
        agent = self.call(token, "POST", "/organization/agent", {"agent_name": "soak"})["id"]
        self.call(token, "POST", f"/organization/agent/{agent}/", {
            "initials": "SK", "background": "Soak agent.", "behaviors": [], "communication_patterns": [],
            "identity": {"name": "Soak", "role": "assistant", "developed_by": "bench", "default_spoken_language": "eng",
                         "relationship_to_developer": {"ownership": "o", "type": "t", "conversation_visibility": "c",
                                                       "thought_visibility": "t"}}})
        graph = self.call(token, "POST", "/organization/service_hierarchical_state_machine", {"state_machine_name": "soak"})["id"]
        action = {"type": "action", "intra_state_navigation_guidelines": [], "action_guidelines": ["Answer in one sentence."],
                  "boundary_constraints": [], "action_tool_call_specs": [], "exit_condition_tool_call_specs": [],
                  "skip_active_memory_retrieval": True}
        self.call(token, "POST", f"/organization/service_hierarchical_state_machine/{graph}/", {
            "description": "soak", "new_user_initial_state": "start", "returning_user_initial_state": "start",
            "terminal_state": "end", "references": {}, "global_intra_state_navigation_guidelines": [],
            "global_action_guidelines": [], "global_boundary_constraints": [],
            "states": [
                dict(action, name="start", objective="Help the user.", actions=["Answer the user."],
                     exit_conditions=[{"description": "The user explicitly asks to end the conversation.", "next_state": "end"}]),
                dict(action, name="end", objective="Say goodbye.", actions=["Say goodbye."], exit_conditions=[]),
            ]})
        ids = []
        for i in range(services):
            ids.append(self.call(token, "POST", "/service/", {
                "name": f"soak service {i}", "description": "soak", "is_active": True, "agent_id": agent,
                "service_hierarchical_state_machine_id": graph, "keyterms": [], "tags": {"team": "soak"}})["id"])
        return ids


class Token:
    """A user's access token, renewed well before it expires."""

    RENEW_AFTER = 1200.0

    def __init__(self, setup: Setup, user_id: str) -> None:
        self.setup = setup
        self.user_id = user_id
        self.value = setup.sign_in(user_id)
        self.at = time.monotonic()

    def get(self) -> str:
        if time.monotonic() - self.at > self.RENEW_AFTER:
            self.value = self.setup.sign_in(self.user_id)
            self.at = time.monotonic()
        return self.value


def short(resp: httpx.Response) -> str:
    try:
        body = resp.text
    except httpx.ResponseNotRead:
        body = ""
    return f"HTTP {resp.status_code} request_id={resp.headers.get('x-request-id')} {body[:300]}"


# --------------------------------------------------------------------------
# Workers
# --------------------------------------------------------------------------

MGMT_READS = [
    ("mgmt.services", "/service/"),
    ("mgmt.agents", "/organization/agent"),
    ("mgmt.users", "/user/"),
    ("mgmt.roles", "/role/"),
    ("mgmt.graphs", "/organization/service_hierarchical_state_machine"),
]


def worker(gate: Gate, stats: Stats, name: str, body) -> threading.Thread:
    def run() -> None:
        try:
            body()
        except Exception as exc:  # a bug of this script or a broken set-up: count it, keep the rest going
            stats.error(f"{name}.crash", type(exc).__name__, traceback.format_exc(limit=3))
        finally:
            gate.unregister()

    gate.register()
    thread = threading.Thread(target=run, name=name, daemon=True)
    return thread


def management_loop(gate: Gate, stats: Stats, setup: Setup, token: Token, rate: float, offset: int) -> None:
    i = offset
    next_at = time.monotonic()
    with httpx.Client(base_url=f"{setup.base}/v1/{setup.org}", timeout=30) as http:
        while gate.checkpoint():
            i += 1
            if i % 20 == 0:
                kind, path, auth = "mgmt.unauthorized", "/service/", "Bearer not-a-token"
            else:
                kind, path = MGMT_READS[i % len(MGMT_READS)]
                auth = f"Bearer {token.get()}"
            started = time.monotonic()
            try:
                resp = http.get(path, headers={"Authorization": auth})
                took = time.monotonic() - started
                if kind == "mgmt.unauthorized":
                    if resp.status_code == 401:
                        stats.ok(kind, took, expected_failure=True)
                    else:
                        stats.error(kind, f"HTTP {resp.status_code} (401 expected)", short(resp), took)
                elif resp.status_code == 200:
                    resp.json()
                    stats.ok(kind, took)
                else:
                    stats.error(kind, f"HTTP {resp.status_code}", short(resp), took)
            except (httpx.HTTPError, ValueError) as exc:
                stats.error(kind, type(exc).__name__, f"GET {path}: {exc}", time.monotonic() - started)
            next_at += 1.0 / rate
            now = time.monotonic()
            if next_at < now - 1.0:
                next_at = now  # fell behind: don't burst to catch up
            if not gate.sleep(max(0.0, next_at - now)):
                return


def read_stream(resp: httpx.Response) -> list[dict]:
    events = []
    for line in resp.iter_lines():
        if line.strip():
            events.append(json.loads(line))
    return events


def check_turn(events: list[dict], prefix: str = "") -> str | None:
    """None if the events end with one interaction-complete and carry no error; else what is wrong."""
    errors = [e for e in events if e.get("type") == f"{prefix}error"]
    if errors:
        return f"error event: {json.dumps(errors[0])[:300]}"
    if not events or events[-1].get("type") != f"{prefix}interaction-complete":
        return f"no final interaction-complete; last events: {json.dumps(events[-3:])[:300]}"
    if not events[-1].get("full_message"):
        return "empty full_message"
    return None


def conversation_loop(gate: Gate, stats: Stats, setup: Setup, token: Token, service_id: str, interacts: int,
                      think: float) -> None:
    with httpx.Client(base_url=f"{setup.base}/v1/{setup.org}", timeout=httpx.Timeout(60.0, connect=10.0)) as http:
        def auth() -> dict[str, str]:
            return {"Authorization": f"Bearer {token.get()}"}

        def finish(cid: str) -> bool:
            started = time.monotonic()
            try:
                resp = http.post(f"/conversation/{cid}/finish/", headers=auth())
                took = time.monotonic() - started
                if resp.status_code // 100 == 2:
                    stats.ok("conv.finish", took)
                    return True
                stats.error("conv.finish", f"HTTP {resp.status_code}", short(resp), took)
            except httpx.HTTPError as exc:
                stats.error("conv.finish", type(exc).__name__, f"{cid}: {exc}", time.monotonic() - started)
            return False

        def clean_up() -> None:
            """Finishes this user's unfinished conversations of the service after a failed cycle."""
            try:
                resp = http.get("/conversation/", headers=auth(), params={
                    "service_id": service_id, "is_finished": "false", "user_id": token.user_id, "limit": 50})
                for conversation in resp.json().get("conversations", []) if resp.status_code == 200 else []:
                    finish(conversation["id"])
            except (httpx.HTTPError, ValueError):
                pass

        while gate.checkpoint():
            cid = None
            ok = True
            # create: the agent speaks first
            started = time.monotonic()
            try:
                with http.stream("POST", "/conversation/", params={"response_format": "text"}, headers=auth(),
                                 json={"service_id": service_id}) as resp:
                    if resp.status_code != 201:
                        resp.read()
                        stats.error("conv.create", f"HTTP {resp.status_code}", short(resp), time.monotonic() - started)
                        ok = False
                    else:
                        events = read_stream(resp)
                        created = [e for e in events if e.get("type") == "conversation-created"]
                        cid = created[0]["conversation_id"] if created else None
                        problem = check_turn(events) or (None if cid else "no conversation-created event")
                        if problem:
                            stats.error("conv.create", "bad stream", problem, time.monotonic() - started)
                            ok = False
                        else:
                            stats.ok("conv.create", time.monotonic() - started)
            except (httpx.HTTPError, ValueError) as exc:
                stats.error("conv.create", type(exc).__name__, str(exc), time.monotonic() - started)
                ok = False
            completed = False
            answered = 0
            for n in range(interacts if ok and cid else 0):
                if not gate.sleep(think):
                    break
                started = time.monotonic()
                try:
                    with http.stream(
                        "POST", f"/conversation/{cid}/interact",
                        params={"request_format": "text", "response_format": "text"},
                        headers={**auth(), "Accept": "application/x-ndjson"},
                        files=[("initial_message_type", (None, "user-message")),
                               ("recorded_message", ("message.txt", f"Question {n + 1}: what can you do?".encode(),
                                                     "text/plain; charset=utf-8"))],
                    ) as resp:
                        if resp.status_code != 200:
                            resp.read()
                            stats.error("conv.interact", f"HTTP {resp.status_code}", short(resp), time.monotonic() - started)
                            ok = False
                            break
                        events = read_stream(resp)
                    problem = check_turn(events)
                    if problem:
                        stats.error("conv.interact", "bad stream", f"{cid}: {problem}", time.monotonic() - started)
                        ok = False
                        break
                    stats.ok("conv.interact", time.monotonic() - started)
                    answered += 1
                    if events[-1].get("conversation_completed"):
                        completed = True
                        break
                except (httpx.HTTPError, ValueError) as exc:
                    stats.error("conv.interact", type(exc).__name__, f"{cid}: {exc}", time.monotonic() - started)
                    ok = False
                    break
            if cid and ok:
                started = time.monotonic()
                try:
                    resp = http.get(f"/conversation/{cid}/messages/", headers=auth(), params={"limit": 50})
                    took = time.monotonic() - started
                    if resp.status_code == 200 and len(resp.json().get("messages", [])) >= 1 + 2 * answered:
                        stats.ok("conv.messages", took)
                    elif resp.status_code == 200:
                        stats.error("conv.messages", "too few messages", resp.text[:300], took)
                    else:
                        stats.error("conv.messages", f"HTTP {resp.status_code}", short(resp), took)
                except (httpx.HTTPError, ValueError) as exc:
                    stats.error("conv.messages", type(exc).__name__, str(exc), time.monotonic() - started)
            if cid and not completed:
                ok = finish(cid) and ok
            if not ok:
                clean_up()
            # After a failure, back off: a broken server is reported, not hammered.
            if not gate.sleep(think if ok else max(think, 2.0)):
                return


class RealtimeFailure(Exception):
    def __init__(self, what: str, detail: str) -> None:
        super().__init__(f"{what}: {detail}")
        self.what = what
        self.detail = detail


class Socket:
    def __init__(self, url: str, token: str) -> None:
        self.received: list[str] = []
        protocol = f"bearer.authorization.amigo.ai.{token}"
        try:
            self._connect = ws_connect(url, subprotocols=[protocol], open_timeout=15, close_timeout=5)
            self.ws = self._connect.__enter__()
        except Exception as exc:  # InvalidHandshake, OSError, TimeoutError
            raise RealtimeFailure(type(exc).__name__, str(exc)) from None
        if self.ws.subprotocol != protocol:
            self.close()
            raise RealtimeFailure("subprotocol", f"not echoed: {self.ws.subprotocol!r}")

    def send(self, **message: Any) -> None:
        try:
            self.ws.send(json.dumps(message))
        except ConnectionClosed as closed:
            raise RealtimeFailure(f"close {closed.rcvd.code if closed.rcvd else None}", f"sending {message['type']}") from None

    def transcript(self) -> str:
        return " | ".join(self.received[-6:])

    def until(self, kind: str, timeout: float = 30.0) -> tuple[dict, list[dict]]:
        """Frames up to the first `kind` frame (included); fails on server.error, close or timeout."""
        frames = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                raw = self.ws.recv(timeout=max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                raise RealtimeFailure("timeout", f"no {kind} within {timeout:.0f} s; got: {self.transcript()}") from None
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
                raise RealtimeFailure(f"close {code}", f"waiting for {kind}; got: {self.transcript()}") from None
            message = json.loads(raw)
            frames.append(message)
            self.received.append(message.get("type", "?"))
            if message.get("type") == "server.error":
                raise RealtimeFailure("server.error", f"waiting for {kind}: {raw[:300]}")
            if message.get("type") == kind:
                return message, frames

    def closed_with(self, timeout: float = 15.0) -> int | None:
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.received.append(json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic()))).get("type", "?"))
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
        except TimeoutError:
            pass
        raise RealtimeFailure("timeout", f"the server did not close within {timeout:.0f} s; got: {self.transcript()}")

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass


def realtime_loop(gate: Gate, stats: Stats, setup: Setup, token: Token, service_id: str, messages: int,
                  think: float) -> None:
    url = f"ws://{setup.base.removeprefix('http://')}/v1/{setup.org}/conversation/converse_realtime?response_format=text"
    cid: str | None = None  # an unfinished conversation left by a failed cycle

    def step(kind: str, action) -> Any:
        started = time.monotonic()
        try:
            result = action()
        except RealtimeFailure as failure:
            stats.error(kind, failure.what, failure.detail, time.monotonic() - started)
            raise
        stats.ok(kind, time.monotonic() - started)
        return result

    def turn(sock: Socket) -> None:
        complete, frames = sock.until("server.interaction-complete")
        problem = check_turn(frames, "server.")
        if problem:
            raise RealtimeFailure("bad turn", problem)

    def message(sock: Socket, n: int) -> None:
        sock.send(type="client.new-text-message", text=f"Realtime question {n}?", message_type="user-message")
        turn(sock)

    def expect_close(sock: Socket) -> None:
        code = sock.closed_with()
        if code != 1000:
            raise RealtimeFailure(f"close {code}", f"1000 expected; got: {sock.transcript()}")

    while gate.checkpoint():
        sock = None
        try:
            if cid is None:
                # Session 1: start a conversation, talk, close the connection without finishing.
                sock = step("rt.connect", lambda: Socket(url, token.get()))
                def start() -> str:
                    sock.send(type="client.start-conversation", service_id=service_id)
                    created, _ = sock.until("server.conversation-created")
                    turn(sock)
                    return created["conversation_id"]
                cid = step("rt.start", start)
                sock.send(type="client.extend-timeout")
                for n in range(messages):
                    if not gate.sleep(think):
                        break
                    step("rt.message", lambda: message(sock, n + 1))
                def close_connection() -> None:
                    sock.send(type="client.close-connection")
                    expect_close(sock)
                step("rt.close", close_connection)
                sock.close()
                sock = None
                if not gate.sleep(think):
                    break
            # Session 2: continue it, one more message, finish it (the server closes with 1000).
            sock = step("rt.connect", lambda: Socket(url, token.get()))
            def cont() -> None:
                sock.send(type="client.continue-conversation", conversation_id=cid)
                sock.until("server.conversation-continued")
            step("rt.continue", cont)
            if not gate.sleep(think):
                break
            step("rt.message", lambda: message(sock, 0))
            def finish() -> None:
                sock.send(type="client.finish-conversation")
                expect_close(sock)
            step("rt.finish", finish)
            cid = None
        except RealtimeFailure as failure:
            # An unknown state: if the conversation cannot be continued, start over.
            if failure.what in ("close 4004", "close 4009") or cid is None:
                cid = None
            if not gate.sleep(max(think, 2.0)):
                return
        finally:
            if sock is not None:
                sock.close()
        if not gate.sleep(think):
            return


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------


def server_env(args: argparse.Namespace, fake_base: str, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPADRE_", "AMIGO_", "OTEL_"))}
    env.update({
        "COMPADRE_RATE_LIMITS": "off",
        "COMPADRE_LLM_BASE_URL": fake_base,
        "COMPADRE_LLM_API_KEY": "soak",
        "COMPADRE_LLM_MODEL": "fake-model",
        "COMPADRE_TOOLS_DIR": str(workdir / "tools"),
    })
    for item in args.server_env:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=os.environ.get("COMPADRE_BIN"), help="the compadre executable")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--sample-seconds", type=float, default=30.0)
    parser.add_argument("--warmup-seconds", type=float, default=None,
                        help="default: 120, or 10%% of the run if shorter")
    parser.add_argument("--mgmt-threads", type=int, default=4)
    parser.add_argument("--mgmt-rate", type=float, default=10.0, help="requests/s per management thread")
    parser.add_argument("--conversation-workers", type=int, default=4)
    parser.add_argument("--realtime-workers", type=int, default=2)
    parser.add_argument("--interacts", type=int, default=3, help="user messages per conversation / realtime session")
    parser.add_argument("--think", type=float, default=0.3, help="seconds between a worker's steps")
    parser.add_argument("--services", type=int, default=6)
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--rss-limit", type=float, default=5.0, help="max RSS growth, %%")
    parser.add_argument("--fd-limit", type=float, default=10.0, help="max open-fd growth, %%")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (server log, SQLite)")
    args = parser.parse_args()
    if not args.bin or not os.access(args.bin, os.X_OK):
        print(f"soak: no compadre executable ({args.bin!r}); pass --bin or set COMPADRE_BIN", file=sys.stderr)
        return 2

    duration = args.minutes * 60
    warmup = args.warmup_seconds if args.warmup_seconds is not None else min(120.0, 0.1 * duration)
    postgres = os.environ.get("COMPADRE_BENCH_POSTGRES_URL")
    workdir = Path(tempfile.mkdtemp(prefix="compadre-soak-"))
    database_url = postgres or f"sqlite:{workdir / 'soak.sqlite'}"
    stats = Stats()
    gate = Gate()
    fake = None
    server = None
    interrupted = []

    def on_signal(signum: int, _frame: Any) -> None:
        interrupted.append(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    try:
        fake = subprocess.Popen([sys.executable, __file__, "--fake-model"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True, start_new_session=True)
        fake_base = fake.stdout.readline().strip()
        if not fake_base.startswith("http"):
            print("soak: the fake model did not start", file=sys.stderr)
            return 2
        env = server_env(args, fake_base, workdir)
        org = "soak" + secrets.token_hex(5)
        init = subprocess.run([args.bin, "init", "--org", org, "--database", database_url], capture_output=True,
                              text=True, env=env, cwd=workdir, timeout=120)
        if init.returncode != 0:
            print(f"soak: compadre init failed ({init.returncode}):\n{init.stdout}\n{init.stderr}", file=sys.stderr)
            return 2
        creds = json.loads(init.stdout)
        server = Server(args.bin, database_url, workdir, env)
        server.start()
        backend = "PostgreSQL" if postgres else "SQLite"
        print(f"soak: {args.bin}, {backend} ({database_url if not postgres else 'COMPADRE_BENCH_POSTGRES_URL'}), "
              f"org {org}, server pid {server.proc.pid} on {server.base}, fake model {fake_base}")
        print(f"soak: settings: defaults except COMPADRE_RATE_LIMITS=off, COMPADRE_LLM_* = the fake model, "
              f"COMPADRE_TOOLS_DIR in the work dir{'; ' + ', '.join(args.server_env) if args.server_env else ''}")
        print(f"soak: {args.minutes:g} min, warm-up {warmup:.0f} s, samples every {args.sample_seconds:.0f} s; "
              f"{args.mgmt_threads} management threads x {args.mgmt_rate:g}/s, {args.conversation_workers} REST "
              f"conversation workers, {args.realtime_workers} realtime workers, {args.interacts} messages each, "
              f"think {args.think:g} s; work dir {workdir}", flush=True)

        setup = Setup(server.base, org, creds, stats)
        admin = setup.sign_in(creds["user_id"])
        services = setup.seed(admin, args.services)
        threads = []
        for i in range(args.mgmt_threads):
            token = Token(setup, setup.invite(admin, "DefaultAdministratorRole"))
            threads.append(worker(gate, stats, f"mgmt{i}", lambda t=token, i=i: management_loop(gate, stats, setup, t, args.mgmt_rate, i)))
        for i in range(args.conversation_workers):
            token = Token(setup, setup.invite(admin, "DefaultUserRole"))
            sid = services[i % len(services)]
            threads.append(worker(gate, stats, f"conv{i}", lambda t=token, s=sid: conversation_loop(
                gate, stats, setup, t, s, args.interacts, args.think)))
        for i in range(args.realtime_workers):
            token = Token(setup, setup.invite(admin, "DefaultUserRole"))
            sid = services[(args.conversation_workers + i) % len(services)]
            threads.append(worker(gate, stats, f"rt{i}", lambda t=token, s=sid: realtime_loop(
                gate, stats, setup, t, s, args.interacts, args.think)))

        def sample(label: str) -> dict[str, Any]:
            numbers = server.proc_numbers()
            numbers["db"] = server.database_size()
            numbers["label"] = label
            return numbers

        def quiesced(label: str) -> dict[str, Any]:
            complete = gate.pause()
            time.sleep(2.0)
            numbers = sample(label)
            numbers["complete"] = complete
            numbers["realtime_connections"] = server.metric("compadre_realtime_connections")
            return numbers

        def print_sample(at: float, numbers: dict[str, Any], window: dict) -> None:
            requests = sum(n for n, _, _, _ in window.values())
            errors = sum(e for _, e, _, _ in window.values())
            print(f"[{at:6.0f}s] rss {mb(numbers['rss'])}  fds {numbers['fds']}  threads {numbers['threads']}  "
                  f"db {mb(numbers['db'])}  requests {requests} ({requests / args.sample_seconds:.0f}/s)  errors {errors}")
            parts = [f"{k} {n}{'!' + str(e) if e else ''} {ms(p50)}/{ms(p99)}" for k, (n, e, p50, p99) in sorted(window.items())]
            print("         " + "  ".join(parts) + "   (kind count[!errors] p50/p99 ms)", flush=True)

        begin = time.monotonic()
        stats.started = begin
        for thread in threads:
            thread.start()
        end_at = begin + duration
        warmup_at = begin + warmup
        next_sample = begin + args.sample_seconds
        baseline: dict[str, Any] | None = None
        samples = []
        crashed = None
        while not interrupted:
            now = time.monotonic()
            if not server.alive():
                crashed = server.proc.returncode if server.proc else None
                break
            if baseline is None and now >= warmup_at:
                baseline = quiesced("start")
                print(f"[{now - begin:6.0f}s] baseline after warm-up (traffic paused{'' if baseline['complete'] else ', NOT all workers paused'}): "
                      f"rss {mb(baseline['rss'])}  fds {baseline['fds']}  threads {baseline['threads']}  db {mb(baseline['db'])}", flush=True)
                gate.resume()
                continue
            if now >= next_sample and now < end_at:
                numbers = sample("sample")
                samples.append((now - begin, numbers))
                print_sample(now - begin, numbers, stats.take_window())
                next_sample += args.sample_seconds
                continue
            if now >= end_at:
                break
            time.sleep(min(1.0, max(0.05, min(next_sample, end_at, warmup_at if baseline is None else end_at) - now)))

        ran = time.monotonic() - begin
        final = None
        if crashed is None and server.alive():
            window = stats.take_window()
            final = quiesced("end")
            print_sample(ran, final, window)
        gate.finish()
        for thread in threads:
            thread.join(timeout=60)

        # ------------------------------------------------------------ the report
        print("\n================ soak report ================")
        print(f"backend {backend}; ran {ran / 60:.1f} of {args.minutes:g} min"
              f"{' (interrupted)' if interrupted else ''}; warm-up {warmup:.0f} s")
        failures = []
        if crashed is not None or (final is None and not interrupted):
            failures.append(f"the server exited during the run (status {crashed})")
            print(f"SERVER EXITED with {crashed}; log tail:\n{server.log_tail()}")
        if baseline and final:
            growth = 100.0 * (final["rss"] - baseline["rss"]) / baseline["rss"]
            fd_growth = 100.0 * (final["fds"] - baseline["fds"]) / max(1, baseline["fds"])
            print(f"RSS      start {mb(baseline['rss'])}  end {mb(final['rss'])}  growth {growth:+.2f} % (limit < {args.rss_limit:g} %)")
            peak = max([baseline["rss"], final["rss"]] + [n["rss"] for _, n in samples])
            print(f"         peak sample {mb(peak)}; samples (MB): "
                  + " ".join(f"{n['rss'] / 1048576:.1f}" for _, n in samples))
            print(f"fds      start {baseline['fds']}  end {final['fds']}  growth {fd_growth:+.1f} % (limit {args.fd_limit:g} %)"
                  f"; samples under load: {min((n['fds'] for _, n in samples), default='-')}..{max((n['fds'] for _, n in samples), default='-')}")
            print(f"threads  start {baseline['threads']}  end {final['threads']}")
            print(f"db size  start {mb(baseline['db'])}  end {mb(final['db'])}")
            print(f"realtime connections gauge when paused: start {baseline['realtime_connections']}  end {final['realtime_connections']}")
            if not baseline["complete"] or not final["complete"]:
                print("note: some workers did not reach their pause point within 90 s (a hung request?)")
            if growth >= args.rss_limit:
                failures.append(f"RSS grew {growth:.2f} % (limit {args.rss_limit:g} %)")
            if fd_growth > args.fd_limit:
                failures.append(f"open fds grew {fd_growth:.1f} % (limit {args.fd_limit:g} %)")
            if final["realtime_connections"]:
                print(f"WARNING: {final['realtime_connections']:g} realtime connections counted with no socket open")
        elif not interrupted or baseline is None:
            print("no baseline/end pair (the run ended before the warm-up, or the server died)")
            if not interrupted:
                failures.append("no start/end measurement")

        total = sum(stats.total.values())
        print(f"\nrequests {total} ({total / max(ran, 1):.0f}/s), unexpected errors {sum(stats.errors.values())}, "
              f"expected non-2xx (401 probes) {sum(stats.expected.values())}")
        print(f"{'kind':<20}{'count':>8}{'errors':>8}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
        for kind in sorted(stats.total):
            lat = stats.latencies[kind]
            print(f"{kind:<20}{stats.total[kind]:>8}{stats.errors.get(kind, 0):>8}{ms(pct(lat, 0.5)):>10}"
                  f"{ms(pct(lat, 0.99)):>10}{ms(max(lat) if lat else None):>10}")
        if stats.errors:
            failures.append(f"{sum(stats.errors.values())} unexpected request errors")
            print("\nerrors by kind and class:")
            for (kind, what), n in sorted(stats.error_kinds.items()):
                print(f"  {kind:<20} {what:<40} {n}")
            print("examples:")
            for example in stats.examples:
                print(f"  {example}")
        levels, log_examples = server.log_levels()
        print(f"\nserver log lines by level: {dict(levels)}")
        for line in log_examples:
            print(f"  {line}")
        print("\nRESULT: " + ("PASS" if not failures else "FAIL: " + "; ".join(failures)))
        if interrupted and not failures:
            print("(interrupted: the criteria were checked on a shortened run)")
        return 1 if failures else 0
    finally:
        gate.finish()
        if server is not None:
            code = server.stop()
            if code not in (0, None):
                print(f"soak: compadre serve exited with {code} on SIGTERM", file=sys.stderr)
        if fake is not None:
            try:
                fake.stdin.close()
                fake.wait(timeout=10)
            except Exception:
                fake.kill()
        if args.keep:
            print(f"soak: kept {workdir}")
        else:
            import shutil
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
