#!/usr/bin/env python3
"""Simulation load: time and model calls per simulated conversation, and how many run at once.

    python3 Benchmarks/simulation-load.py [--bin PATH] [--latency 0.4] [--concurrency 1,2,4,8,16]
                                          [--runs 16] [--user-turns 3] [--keep]

For each concurrency N of the sweep: a fresh `compadre serve` (`compadre init` first, SQLite in a temporary
directory) with COMPADRE_SIMULATIONS_CONCURRENCY=N, COMPADRE_RATE_LIMITS=off and the language model at a
fake OpenAI-compatible server this script runs on 127.0.0.1. Every chat completion waits --latency seconds
before it answers (a stand-in for a remote model; streamed or not), then:

  json_schema `simulated_user_turn`  a user message while the transcript it is shown has fewer than
                                     --user-turns "You:" lines, then {"finished": true}: each simulated
                                     conversation has --user-turns user messages (so as many interactions)
  json_schema `judgement`            {"value": true, ...}
  any other structured request       a schema-valid instance (tests/compat/fake_openai.py `instance_for`)
  plain text (the agent's reply)     one short sentence, in 3 pieces when streamed

Then, through raw HTTP as the administrator `init` made: an agent, a two-state context graph (the
compatibility tests' conversation graph) and a service; a boolean metric; a persona; a scenario (the
simulated user opens); a unit test (max_interactions 10, the metric's criterion true); a set running it
--runs times (a set runs one unit test at most 100 times: above that, identical unit tests of 100 each); the
run. It polls the run until `is_completed`, then waits for its archive and reads
`unit_tests/*/run-*/outcome.json` from the tar at the signed link.

Per N it records: wall time (POST of the run to `is_completed` seen: polled every 2 s, then every 0.05 s
once the fake has sent the run's last judgement, so polling costs compadre little CPU), per repetition
its seconds and interactions (outcome.json), the model requests the fake received during the run by kind,
compadre's CPU seconds (utime + stime of /proc/PID/stat, from before the POST to completion; also its idle
rate over --idle-seconds before the run, subtracted for the "idle subtracted" figure), this script's own
CPU (the fake model and the poller, on the same cores), the rest of the machine's busy CPU (other
processes: the machine may be shared) and the most model calls in flight at once. The
table printed at the end: N, R, wall s, repetitions/min, speed-up vs the first N of the sweep, mean s per
repetition, interactions and model calls per repetition, compadre CPU s per repetition, CPU % of one core
during the run. --json FILE also writes the raw figures.

Binary: --bin, else $COMPADRE_BIN, else .build/release/compadre if it exists, else .build/debug/compadre.
Needs httpx (tests/compat/requirements.txt). Every process it starts is stopped before it exits.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "compat"))
from fake_openai import instance_for  # noqa: E402  (standard library only)

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
USER_TURN = "simulated_user_turn"
JUDGEMENT = "judgement"
AGENT_TEXT = "Thanks, I can help you with that right away."
USER_TEXT = "I would like my last invoice corrected, please."
MAX_RUN_COUNT = 100  # the most repetitions of one unit test in a set (`run_count`)

# --------------------------------------------------------------------------
# The remote model stand-in
# --------------------------------------------------------------------------


class RemoteModel:
    """Counts and answers chat completions; every answer starts after `latency` seconds."""

    def __init__(self, latency: float, user_turns: int) -> None:
        self.latency = latency
        self.user_turns = user_turns
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.finished_turns = 0
        self.judged = 0  # judgement answers sent (the last step of a repetition)
        self.changed = threading.Condition(self.lock)
        self.in_flight = 0
        self.max_in_flight = 0
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> "RemoteModel":
        model = self

        class Handler(_Handler):
            owner = model

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="remote-model", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)
            self.thread = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()
            self.finished_turns = 0
            self.judged = 0
            self.max_in_flight = self.in_flight

    def snapshot(self) -> tuple[Counter[str], int, int]:
        with self.lock:
            return Counter(self.counts), self.finished_turns, self.max_in_flight

    def wait_judged(self, count: int, timeout: float) -> bool:
        """Whether `count` judgement answers were sent (waits at most `timeout` seconds)."""
        with self.changed:
            return self.changed.wait_for(lambda: self.judged >= count, timeout)

    def judgement_sent(self) -> None:
        with self.changed:
            self.judged += 1
            self.changed.notify_all()

    def enter(self, delta: int) -> None:
        with self.lock:
            self.in_flight += delta
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def answer(self, body: dict) -> tuple[str, str, bool]:
        """(kind, content, structured) of the answer to a chat completion request."""
        fmt = body.get("response_format")
        structured = isinstance(fmt, dict) and fmt.get("type") in ("json_schema", "json_object")
        if not structured:
            kind, content = "text", AGENT_TEXT
        elif fmt.get("type") == "json_object":
            kind, content = "json_object", json.dumps(instance_for(fmt.get("schema") or {}))
        else:
            spec = fmt.get("json_schema") or {}
            kind = spec.get("name") or "json_schema"
            if kind == USER_TURN:
                said = sum(len(re.findall(r"^You: ", m.get("content") or "", re.MULTILINE))
                           for m in body.get("messages", []) if isinstance(m.get("content"), str))
                if said >= self.user_turns:
                    content = json.dumps({"finished": True, "message": ""})
                    with self.lock:
                        self.finished_turns += 1
                else:
                    content = json.dumps({"finished": False, "message": f"{USER_TEXT} (turn {said + 1})"})
            elif kind == JUDGEMENT:
                content = json.dumps({"value": True, "justification": "The agent helped the user.", "messages": [1]})
            else:
                content = json.dumps(instance_for(spec.get("schema") or {}))
        with self.lock:
            self.counts[kind] += 1
        return kind, content, structured


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # compadre went away mid-answer (it was stopped)
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    owner: RemoteModel
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_GET(self) -> None:  # noqa: N802
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "bench"}]})
        else:
            self._json(404, {"error": {"message": f"no route GET {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:  # noqa: N802
        raw = self._read_body()
        if not self.path.split("?")[0].rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": f"no route POST {self.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._json(400, {"error": {"message": "invalid JSON", "type": "invalid_request_error"}})
            return
        self.owner.enter(1)
        try:
            self._complete(body)
        except (ConnectionError, OSError):
            self.close_connection = True
        finally:
            self.owner.enter(-1)

    def _complete(self, body: dict) -> None:
        kind, content, structured = self.owner.answer(body)
        time.sleep(self.owner.latency)
        try:
            self._send(body, content)
        finally:
            if kind == JUDGEMENT:
                self.owner.judgement_sent()

    def _send(self, body: dict, content: str) -> None:
        model = body.get("model") or "fake-model"
        cid = f"chatcmpl-bench-{uuid.uuid4().hex[:12]}"
        usage = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
        if not body.get("stream"):
            self._json(200, {
                "id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop",
                             "logprobs": None}],
                "usage": usage,
            })
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def event(delta: dict | None, finish: str | None = None, extra: dict | None = None) -> None:
            payload: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
                                       "model": model, "choices": []}
            if delta is not None:
                payload["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
            payload.update(extra or {})
            self._chunk(f"data: {json.dumps(payload)}\n\n".encode())

        event({"role": "assistant", "content": ""})
        pieces = 3
        size = max(1, -(-len(content) // pieces))
        for start in range(0, len(content), size):
            event({"content": content[start:start + size]})
        event({}, "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            event(None, extra={"usage": usage})
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")


# --------------------------------------------------------------------------
# compadre serve
# --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields 14 and 15 of stat(5)


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores; /proc/stat, idle and iowait excluded)."""
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / CLOCK_TICKS


class Compadre:
    def __init__(self, binary: str, workdir: Path, env: dict[str, str]) -> None:
        self.binary = binary
        self.workdir = workdir
        self.env = env
        self.database_url = f"sqlite:{workdir / 'compadre.sqlite'}"
        self.port = free_port()
        self.log_path = workdir / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.org = "simload" + secrets.token_hex(4)
        self.creds: dict[str, str] = {}

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def init(self) -> None:
        out = subprocess.run(
            [self.binary, "init", "--org", self.org, "--database", self.database_url, "--admin-email", f"admin@{self.org}.example.com"],
            capture_output=True, text=True, env=self.env, cwd=self.workdir, timeout=120, stdin=subprocess.DEVNULL,
        )
        if out.returncode != 0:
            raise SystemExit(f"compadre init exited {out.returncode}:\n{out.stdout}\n{out.stderr}")
        self.creds = json.loads(out.stdout)

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [self.binary, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--database", self.database_url],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env, cwd=self.workdir,
                start_new_session=True,  # its own process group: whatever it starts goes with it
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

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # anything left in its process group
        except (ProcessLookupError, PermissionError):
            pass

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def token(self) -> str:
        resp = httpx.post(
            f"{self.base}/v1/{self.org}/user/signin_with_api_key", timeout=30,
            headers={"x-api-key": self.creds["api_key"], "x-api-key-id": self.creds["api_key_id"], "x-user-id": self.creds["user_id"]},
        )
        resp.raise_for_status()
        return resp.json()["id_token"]


def call(http: httpx.Client, method: str, path: str, body: Any = None, status: int | None = None, **params: Any) -> Any:
    resp = http.request(method, path, json=body, params=params or None)
    if resp.status_code >= 300 or (status is not None and resp.status_code != status):
        raise SystemExit(f"{method} {path} -> HTTP {resp.status_code}: {resp.text[:2000]}")
    return resp.json() if resp.content else None


# The compatibility tests' agent and conversation graph (tests/compat/test_sdk_management.py AGENT_V1,
# tests/compat/conversation_helpers.py conversation_graph): one action state the conversation stays in, a
# terminal state, no memory retrieval.
AGENT = {
    "initials": "CB", "background": "A small assistant used by the compatibility tests.",
    "behaviors": ["Be brief.", "Be polite."], "communication_patterns": ["Short sentences."], "voice_config": None,
    "identity": {"name": "Compat Bot", "role": "Test assistant", "developed_by": "Compadre", "default_spoken_language": "eng",
                 "relationship_to_developer": {"ownership": "Compadre", "type": "assistant",
                                               "conversation_visibility": "The developer can read the conversations.",
                                               "thought_visibility": "The developer can read the inner thoughts."}},
}


def graph() -> dict:
    def state(name: str, objective: str, actions: list[str], exits: list[dict]) -> dict:
        return {"type": "action", "name": name, "objective": objective, "actions": actions,
                "intra_state_navigation_guidelines": [], "action_guidelines": ["Answer in one or two sentences."],
                "boundary_constraints": [], "exit_conditions": exits, "action_tool_call_specs": [],
                "exit_condition_tool_call_specs": [], "skip_active_memory_retrieval": True}

    return {
        "description": "Conversation graph of the simulation benchmark.",
        "states": [
            state("start", "Help the user with whatever they ask.", ["Greet the user, then answer their questions."],
                  [{"description": "The user explicitly says they want to end the conversation.", "next_state": "goodbye"}]),
            state("goodbye", "Close the conversation.", ["Say goodbye."], []),
        ],
        "new_user_initial_state": "start", "returning_user_initial_state": "start", "terminal_state": "goodbye",
        "references": {}, "global_intra_state_navigation_guidelines": [], "global_action_guidelines": [],
        "global_boundary_constraints": [],
    }


def prepare(http: httpx.Client, runs: int, max_interactions: int) -> str:
    """Service, metric, persona, scenario, unit test and set; the set's id."""
    tag = {"suite": "simulation_load"}
    agent = call(http, "POST", "/organization/agent", {"agent_name": "simload-agent"})["id"]
    call(http, "POST", f"/organization/agent/{agent}/", AGENT)
    sm = call(http, "POST", "/organization/service_hierarchical_state_machine", {"state_machine_name": "simload-graph"})["id"]
    call(http, "POST", f"/organization/service_hierarchical_state_machine/{sm}/", graph())
    service = call(http, "POST", "/service/", {
        "name": "simload-service", "description": "Simulation benchmark.", "is_active": True, "agent_id": agent,
        "service_hierarchical_state_machine_id": sm, "keyterms": [], "tags": {}})["id"]
    metric = call(http, "POST", "/metric/", {
        "name": "Resolved", "description": "Whether the user's request was resolved.", "applied_to_services": [],
        "additional_notes": None, "tags": tag, "metric_value": {"type": "boolean"}}, 201)["id"]
    persona = call(http, "POST", "/simulation/persona/", {
        "name": "Pat", "role": "Customer", "tags": tag,
        "initial_version": {"background": "A customer of the shop.", "user_models": ["Prefers short answers."],
                            "nonsensitive_user_variables": {"city": "Lyon"}, "sensitive_user_variables": {}}},
        201)["simulation_persona_id"]
    scenario = call(http, "POST", "/simulation/scenario/", {
        "name": "Invoice", "tags": tag,
        "initial_version": {"objective": "Get the invoice corrected.", "instructions": "Be brief and polite.",
                            "initial_message_type": "user-message", "conversation_starts_at": None}},
        201)["simulation_scenario_id"]
    # A set runs each unit test at most 100 times: more repetitions take more (identical) unit tests.
    entries = []
    for index, start in enumerate(range(0, runs, MAX_RUN_COUNT)):
        unit = call(http, "POST", "/simulation/unit_test/", {
            "name": f"Invoice fix {index + 1}", "description": "Checks the invoice fix", "service_id": service,
            "service_version_set_name": "release", "persona_id": persona, "scenario_id": scenario,
            "max_interactions": max_interactions, "tags": tag,
            "success_criterions": [{"name": "resolved", "metric_id": metric, "criterion": {"type": "boolean", "expected_value": True}}]},
            201)["simulation_unit_test_id"]
        entries.append({"unit_test_id": unit, "run_count": min(MAX_RUN_COUNT, runs - start)})
    return call(http, "POST", "/simulation/unit_test_set/", {
        "name": "Load", "description": None, "tags": tag, "unit_test_runs": entries}, 201)["simulation_unit_test_set_id"]


def get_run(http: httpx.Client, run_id: str) -> dict:
    return call(http, "GET", "/simulation/unit_test_set_run/", id=run_id)["simulation_unit_test_set_runs"][0]


def outcomes(http: httpx.Client, run_id: str) -> list[dict]:
    link = call(http, "GET", f"/simulation/unit_test_set_run/{run_id}/artifacts/")
    resp = httpx.get(link["presigned_url"], timeout=60)
    resp.raise_for_status()
    found = []
    with tarfile.open(fileobj=io.BytesIO(resp.content)) as tar:
        for member in tar.getmembers():
            if member.isfile() and re.fullmatch(r"unit_tests/[^/]+/run-\d+/outcome\.json", member.name):
                found.append(json.loads(tar.extractfile(member).read()))
    return found


# --------------------------------------------------------------------------
# One point of the sweep
# --------------------------------------------------------------------------


def measure(args: argparse.Namespace, model: RemoteModel, concurrency: int) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"compadre-simload-{concurrency}-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPADRE_", "AMIGO_", "OTEL_"))}
    env.update({
        "COMPADRE_SIMULATIONS_CONCURRENCY": str(concurrency),
        "COMPADRE_RATE_LIMITS": "off",
        "COMPADRE_LLM_BASE_URL": model.base_url,
        "COMPADRE_LLM_API_KEY": "bench",
        "COMPADRE_LLM_MODEL": "fake-model",
        "COMPADRE_TOOLS_DIR": str(workdir / "tools"),
    })
    server = Compadre(args.bin, workdir, env)
    try:
        server.init()
        server.start()
        with httpx.Client(base_url=f"{server.base}/v1/{server.org}", timeout=60,
                          headers={"Authorization": f"Bearer {server.token()}"}) as http:
            set_id = prepare(http, args.runs, args.max_interactions)
            time.sleep(1.0)  # let start-up work settle before the CPU baseline
            pid = server.proc.pid
            # What the idle server costs (background refreshes, the job runners' polling), to subtract.
            idle0, idle_t0 = cpu_seconds(pid), time.monotonic()
            time.sleep(args.idle_seconds)
            idle_rate = (cpu_seconds(pid) - idle0) / (time.monotonic() - idle_t0)
            model.reset()
            busy0 = machine_busy_seconds()
            cpu0, own0, wall0 = cpu_seconds(pid), time.process_time(), time.monotonic()
            run_id = call(http, "POST", "/simulation/unit_test_set_run/", {"simulation_unit_test_set_id": set_id},
                          201)["simulation_unit_test_set_run_id"]
            deadline = wall0 + args.timeout
            # Polling costs compadre CPU (a few ms a request in a debug build): poll every 2 s until the model
            # has sent the last judgement (the last step of the last repetition), then every 0.05 s.
            polls = 1
            run = get_run(http, run_id)
            while not run["is_completed"]:
                if time.monotonic() > deadline:
                    raise SystemExit(f"run {run_id} not completed within {args.timeout:.0f} s:\n{server.log_tail()}")
                if model.wait_judged(args.runs, 2.0):
                    time.sleep(0.05)
                polls += 1
                run = get_run(http, run_id)
            wall = time.monotonic() - wall0
            cpu, own = cpu_seconds(pid) - cpu0, time.process_time() - own0
            others = max(0.0, machine_busy_seconds() - busy0 - cpu - own)
            counts, finished, max_in_flight = model.snapshot()
            while not run["artifacts_generated"]:
                if time.monotonic() > deadline + 60:
                    raise SystemExit(f"run {run_id}: no archive:\n{server.log_tail()}")
                time.sleep(0.2)
                run = get_run(http, run_id)
            done = outcomes(http, run_id)
        if len(done) != args.runs:
            raise SystemExit(f"N={concurrency}: {len(done)} outcomes for {args.runs} repetitions")
        failed = [o for o in done if not o["passed"] or o["errored"]]
        if failed:
            print(f"N={concurrency}: {len(failed)} repetitions did not pass, e.g. {failed[0]}", file=sys.stderr)
        seconds = [o["seconds"] for o in done]
        return {
            "concurrency": concurrency, "runs": args.runs, "wall_s": wall, "cpu_s": cpu, "idle_cpu_per_s": idle_rate,
            "net_cpu_s": cpu - idle_rate * wall, "harness_cpu_s": own, "polls": polls,
            "others_cpu_s": others,
            "seconds": seconds, "interactions": [o["interactions"] for o in done],
            "outcome_model_calls": [o["model_calls"] for o in done], "failed": len(failed),
            "model_calls": dict(counts), "finished_turns": finished, "max_in_flight": max_in_flight,
        }
    finally:
        server.stop()
        if args.keep:
            print(f"N={concurrency}: kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def find_binary(given: str | None) -> tuple[str, str]:
    for candidate in (given, os.environ.get("COMPADRE_BIN"), REPO_ROOT / ".build/release/compadre",
                      REPO_ROOT / ".build/debug/compadre"):
        if candidate and os.access(candidate, os.X_OK) and Path(candidate).is_file():
            path = str(Path(candidate).resolve())
            kind = "release" if "/release/" in path else "debug" if "/debug/" in path else "unknown build"
            return path, kind
    raise SystemExit("no compadre binary: pass --bin or set COMPADRE_BIN")


def table(results: list[dict], latency: float) -> str:
    base = results[0]
    base_rate = base["runs"] / base["wall_s"]
    kinds = sorted({k for r in results for k in r["model_calls"]})
    lines = [
        f"| N | R | wall s | repetitions/min | speed-up vs N={base['concurrency']} | mean s per repetition (p50 / max) "
        "| interactions per repetition | model calls per repetition | compadre CPU s per repetition (idle subtracted) "
        "| compadre CPU % of one core during the run (idle) | harness CPU % of one core | other processes, % of one core "
        "| model calls in flight (max) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        n = r["runs"]
        rate = n / r["wall_s"]
        calls = sum(r["model_calls"].values()) / n
        lines.append(
            f"| {r['concurrency']} | {n} | {r['wall_s']:.1f} | {60 * rate:.1f} | {rate / base_rate:.2f}× "
            f"| {statistics.mean(r['seconds']):.2f} ({statistics.median(r['seconds']):.2f} / {max(r['seconds']):.2f}) "
            f"| {statistics.mean(r['interactions']):.1f} | {calls:.1f} | {r['cpu_s'] / n:.3f} ({r['net_cpu_s'] / n:.3f}) "
            f"| {100 * r['cpu_s'] / r['wall_s']:.0f} % ({100 * r['idle_cpu_per_s']:.1f} %) "
            f"| {100 * r['harness_cpu_s'] / r['wall_s']:.0f} % | {100 * r['others_cpu_s'] / r['wall_s']:.0f} % "
            f"| {r['max_in_flight']} |"
        )
    lines.append("")
    lines.append("Model calls per repetition by kind (json_schema name, or `text` for the agent's replies):")
    lines.append("")
    lines.append("| N | " + " | ".join(f"`{k}`" for k in kinds) + " | total | counted by compadre (`model_calls` of outcome.json) |")
    lines.append("| ---: | " + " | ".join("---:" for _ in kinds) + " | ---: | ---: |")
    for r in results:
        n = r["runs"]
        lines.append(f"| {r['concurrency']} | " + " | ".join(f"{r['model_calls'].get(k, 0) / n:.2f}" for k in kinds)
                     + f" | {sum(r['model_calls'].values()) / n:.2f} | {statistics.mean(r['outcome_model_calls']):.2f} |")
    serial = sum(base["model_calls"].values()) / base["runs"] * latency
    lines.append("")
    lines.append(f"Model-bound floor of one repetition: {sum(base['model_calls'].values()) / base['runs']:.1f} calls in sequence "
                 f"× {latency:.3f} s = {serial:.2f} s.")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", help="the compadre executable (default: $COMPADRE_BIN, .build/release, .build/debug)")
    parser.add_argument("--latency", type=float, default=0.4, help="seconds before every model answer (default 0.4)")
    parser.add_argument("--concurrency", default="1,2,4,8,16", help="COMPADRE_SIMULATIONS_CONCURRENCY values (default 1,2,4,8,16)")
    parser.add_argument("--runs", type=int, default=16, help="repetitions per run, R (the set's run_count; default 16)")
    parser.add_argument("--user-turns", type=int, default=3, help="simulated user messages per conversation (default 3)")
    parser.add_argument("--max-interactions", type=int, default=10, help="the unit test's max_interactions (default 10)")
    parser.add_argument("--idle-seconds", type=float, default=5.0,
                        help="seconds the idle server's CPU is measured before the run, to subtract (default 5)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds a run may take (default 900)")
    parser.add_argument("--json", help="also write the raw figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep each server's work directory (log, SQLite)")
    args = parser.parse_args()
    args.bin, build = find_binary(args.bin)
    sweep = [int(x) for x in args.concurrency.split(",") if x.strip()]

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt  # unwinds through the finally blocks: the server and the fake stop

    signal.signal(signal.SIGTERM, on_signal)
    print(f"simulation-load: {args.bin} ({build}), {os.cpu_count()} CPUs, model latency {args.latency:.3f} s, "
          f"R={args.runs}, {args.user_turns} user turns, sweep N={sweep}; load average {os.getloadavg()[0]:.2f}", flush=True)
    model = RemoteModel(args.latency, args.user_turns).start()
    results = []
    try:
        for n in sweep:
            result = measure(args, model, n)
            results.append(result)
            print(f"N={n}: wall {result['wall_s']:.1f} s, {60 * args.runs / result['wall_s']:.1f} repetitions/min, "
                  f"mean {statistics.mean(result['seconds']):.2f} s per repetition, "
                  f"{sum(result['model_calls'].values()) / args.runs:.1f} model calls each {result['model_calls']}, "
                  f"compadre CPU {result['cpu_s']:.2f} s ({100 * result['cpu_s'] / result['wall_s']:.0f} % of a core; "
                  f"idle {100 * result['idle_cpu_per_s']:.1f} %), "
                  f"harness CPU {result['harness_cpu_s']:.2f} s, other processes {result['others_cpu_s']:.2f} s, "
                  f"{result['polls']} polls, max {result['max_in_flight']} model calls in flight, "
                  f"load average {os.getloadavg()[0]:.2f}", flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        model.stop()
    print()
    print(table(results, args.latency))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "binary": args.bin, "build": build, "cpus": os.cpu_count(), "latency_s": args.latency,
            "user_turns": args.user_turns, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
