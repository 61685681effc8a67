#!/usr/bin/env python3
"""Voice latency of one `compadre serve` with the embedded speech engines and an INSTANT language model.

    eval "$(scripts/setup-voice)"
    python3 Benchmarks/voice-latency.py [--bin PATH] [--turns 20] [--levels 1,2,4,8] [--level-seconds 60]

Needs the packages of tests/compat/requirements.txt (amigo-sdk for the set-up, httpx, websockets).

What it does, on a fresh SQLite database in a temporary directory:
  0. starts its own scripts/speech-server.py (not Compadre's) to make the user's utterance with Piper
     (16 kHz PCM16 WAV, ~4.2 s; kept only if Whisper hears it right) and to time the engines directly:
     transcription of the utterance, synthesis of each sentence of the reply; then stops it;
  1. starts tests/compat/fake_openai.py in a subprocess: every plain completion answers REPLY at once (two
     sentences, so two audio pieces), structured ones a generic instance — the model adds ~nothing;
  2. starts `compadre serve` with COMPADRE_VOICE_ENGINES=embedded (its own speech server as a child),
     COMPADRE_RATE_LIMITS=off, the fake model; waits for "local model server ready";
  3. REST (raw httpx, the SDK's multipart form): `interact?request_format=voice&response_format=voice`
     --turns times (after --warmup turns not counted; the very first, cold, is printed apart): request sent
     → user-message-available / first non-empty `new-message` audio piece / second piece /
     interaction-complete; then response_format=text: → user-message-available;
  4. realtime, manual mode, one socket: the utterance as 20 ms chunks paced like a microphone, then
     `audio: null` → server.user-message-available / first server.new-message audio / interaction-complete;
     again with the utterance sent all at once (one frame);
  5. concurrency: for each of --levels, that many sockets (one user each) each take a turn every
     --interval s (random phase, paced audio) for --level-seconds: p50/p99 of `audio: null` → first audio.

Since the model is instant (about 2 ms per call; the baseline row, text in and text out, shows what the engine
and the model take without speech), everything measured is the server's and its speech engines' own time.
With a debug build the REST rows also carry the multipart form parse, about 0.9 ms per KB there (≈ 120 ms for
the 4 s WAV) against ≈ 0.005 ms per KB in a release build.
p99 of ~20 samples is their maximum (nearest rank). Prints what else the machine was doing (load average,
busiest other processes), since 2 cores shared with a build move these figures a lot.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import math
import os
import random
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
import wave
from contextlib import ExitStack
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPAT = REPO_ROOT / "tests" / "compat"

UTTERANCE = "Hi, I would like to book a visit with the doctor on Tuesday morning, please."
UTTERANCE_KEY_WORDS = {"visit", "doctor", "tuesday", "morning"}
REPLY = "Tuesday morning works for us. I booked your visit for nine o'clock, see you then."
RATE = 16_000
CHUNK_BYTES = RATE * 2 // 50  # 20 ms of PCM16 mono
FIRST_AUDIO_TARGET_S = 2.0


def run_fake_model() -> None:
    """`voice-latency.py --fake-model`: serves the compat fake until stdin closes."""
    sys.path.insert(0, str(COMPAT))
    import fake_openai
    from fake_openai import FakeOpenAI

    # Its handler writes the head and the body of a non-streamed answer separately: with Nagle's algorithm
    # and the client's delayed ACK, each such answer (the engine's decisions) waits ~40 ms on a kept-alive
    # connection. Off, the model answers in ~2 ms.
    fake_openai._Handler.disable_nagle_algorithm = True
    fake = FakeOpenAI(text=REPLY, text_chunks=6).start()
    print(fake.base_url, flush=True)

    def forget() -> None:  # it keeps every request body
        while True:
            time.sleep(10)
            fake.reset()

    threading.Thread(target=forget, daemon=True).start()
    sys.stdin.read()
    fake.stop()


if __name__ == "__main__" and sys.argv[1:2] == ["--fake-model"]:
    run_fake_model()
    sys.exit(0)

import httpx  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402
from websockets.sync.client import connect as ws_connect  # noqa: E402

sys.path.insert(0, str(COMPAT))


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]  # nearest rank


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wav_of_pcm(pcm: bytes) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)
    return out.getvalue()


def pcm_of_wav(data: bytes) -> bytes:
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE)
        return w.readframes(w.getnframes())


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _cpu_ticks() -> dict[int, tuple[str, int]]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    raw = f.read()
            except OSError:
                continue
            name = raw[raw.index("(") + 1:raw.rindex(")")]
            fields = raw[raw.rindex(")") + 2:].split()
            out[int(entry)] = (name, int(fields[11]) + int(fields[12]))  # utime + stime
    return out


def machine_state(sample_s: float = 1.0) -> str:
    """Load average and the processes that used ≥ 5 % of a core over the last second."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    before = _cpu_ticks()
    time.sleep(sample_s)
    after = _cpu_ticks()
    hz = os.sysconf("SC_CLK_TCK")
    busy = sorted(((after[p][1] - before[p][1]) / hz / sample_s * 100, after[p][0])
                  for p in after if p in before)
    shown = [f"{name}({pcpu:.0f}%)" for pcpu, name in reversed(busy) if pcpu >= 5][:6]
    return f"load {load}; cores {os.cpu_count()}; busy over 1 s: {', '.join(shown) or 'nothing'}"


def voice_install() -> dict[str, str]:
    names = ("COMPADRE_VOICE_PYTHON", "COMPADRE_VOICE_SERVER", "COMPADRE_VOICE_MODELS")
    found = {n: os.environ[n] for n in names if os.environ.get(n)}
    if len(found) < 3:
        done = subprocess.run([str(REPO_ROOT / "scripts" / "setup-voice"), "--check"], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit("the embedded speech engines are not installed: run scripts/setup-voice\n" + done.stderr)
        for line in done.stdout.splitlines():
            m = re.match(r"export (COMPADRE_VOICE_\w+)=(.*)$", line)
            if m:
                found.setdefault(m.group(1), shlex.split(m.group(2))[0])
    return {n: found[n] for n in names}


def find_binary(given: str | None) -> str:
    for candidate in (given, os.environ.get("COMPADRE_BIN"), REPO_ROOT / ".build/release/compadre",
                      REPO_ROOT / ".build/debug/compadre"):
        if candidate and os.access(str(candidate), os.X_OK):
            return str(candidate)
    sys.exit("no compadre binary: pass --bin or set COMPADRE_BIN")


# --------------------------------------------------------------------------
# Phase 0: our own speech server (the user's voice, and the engines alone)
# --------------------------------------------------------------------------


class SpeechServer:
    def __init__(self, install: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [install["COMPADRE_VOICE_PYTHON"], install["COMPADRE_VOICE_SERVER"], "--port", "0",
             "--models", install["COMPADRE_VOICE_MODELS"], "--exit-with-parent"],
            stdout=subprocess.PIPE, text=True,
        )
        line = self.process.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if not m:
            sys.exit(f"the speech server did not start: {line!r}")
        self.base_url = m.group(1)

    def speak(self, text: str, rate: int = RATE) -> tuple[bytes, float]:
        body = json.dumps({"model": "tts-1", "input": text, "voice": "joe", "response_format": "wav",
                           "sample_rate": rate}).encode()
        request = urllib.request.Request(self.base_url + "/v1/audio/speech", data=body,
                                         headers={"Content-Type": "application/json"})
        t = time.monotonic()
        with urllib.request.urlopen(request, timeout=60) as r:
            data = r.read()
        return data, time.monotonic() - t

    def transcribe(self, wav: bytes) -> tuple[str, float]:
        b = uuid.uuid4().hex
        body = (f'--{b}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
                f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
                "Content-Type: audio/wav\r\n\r\n").encode() + wav + f"\r\n--{b}--\r\n".encode()
        request = urllib.request.Request(self.base_url + "/v1/audio/transcriptions", data=body,
                                         headers={"Content-Type": f"multipart/form-data; boundary={b}"})
        t = time.monotonic()
        with urllib.request.urlopen(request, timeout=60) as r:
            text = json.loads(r.read())["text"]
        return text, time.monotonic() - t

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def prepare_audio(install: dict[str, str], runs: int) -> tuple[bytes, dict[str, Any]]:
    speech = SpeechServer(install)
    try:
        for _ in range(6):
            wav, _ = speech.speak(UTTERANCE)
            heard, _ = speech.transcribe(wav)
            if UTTERANCE_KEY_WORDS <= set(words(heard)):
                break
        else:
            sys.exit(f"Whisper never heard {UTTERANCE!r} right (last: {heard!r})")
        stt = [speech.transcribe(wav)[1] for _ in range(runs)]
        sentences = re.findall(r"[^.!?]+[.!?]", REPLY)
        tts = {s.strip(): [speech.speak(s.strip())[1] for _ in range(runs)] for s in sentences}
        return wav, {"heard": heard, "stt": stt, "tts": tts}
    finally:
        speech.stop()


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


class Server:
    def __init__(self, binary: str, install: dict[str, str], model_url: str, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not (k.startswith("COMPADRE_") or k.startswith("AMIGO_"))}
        env.update(install)
        env.update({
            "COMPADRE_LLM_BASE_URL": model_url, "COMPADRE_LLM_API_KEY": "bench", "COMPADRE_LLM_MODEL": "fake-model",
            "COMPADRE_RATE_LIMITS": "off", "COMPADRE_VOICE_ENGINES": "embedded",
            "COMPADRE_TOOLS_DIR": str(workdir / "tools"),
        })
        database = f"sqlite:{workdir / 'compadre.sqlite'}"
        self.org = "voicebench"
        init = subprocess.run([binary, "init", "--org", self.org, "--database", database,
                               "--admin-email", "admin@voicebench.example.com"],
                              capture_output=True, text=True, env=env, timeout=120)
        if init.returncode != 0:
            sys.exit(f"compadre init failed:\n{init.stderr}")
        self.credentials = json.loads(init.stdout)
        self.log_path = workdir / "serve.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [binary, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--database", database],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=workdir,
                start_new_session=True,
            )
        started = time.monotonic()
        while "local model server ready" not in self.log():
            if self.process.poll() is not None or time.monotonic() - started > 60:
                sys.exit(f"compadre serve did not get ready:\n{self.log()[-3000:]}")
            time.sleep(0.05)
        self.ready_s = time.monotonic() - started

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def speech_pid(self) -> int | None:
        m = re.findall(r"pid=(\d+) port=\d+ \[Models\] started local model server", self.log())
        return int(m[-1]) if m else None

    def token(self, user_id: str | None = None) -> str:
        c = self.credentials
        r = httpx.post(f"{self.base_url}/v1/{self.org}/user/signin_with_api_key", timeout=30, headers={
            "x-api-key": c["api_key"], "x-api-key-id": c["api_key_id"], "x-user-id": user_id or c["user_id"]})
        r.raise_for_status()
        return r.json()["id_token"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class Setup:
    """The agent (voice `joe`), graph and services, made through the SDK as the compat tests do."""

    def __init__(self, server: Server) -> None:
        from amigo_sdk import AmigoClient
        from amigo_sdk.generated.model import (
            OrganizationCreateAgentRequest,
            OrganizationCreateAgentVersionRequest,
            UserCreateInvitedUserRequest,
        )
        from conversation_helpers import create_conversation_graph, create_service
        from test_sdk_management import AGENT_V1

        c = server.credentials
        self._client = AmigoClient(api_key=c["api_key"], api_key_id=c["api_key_id"], user_id=c["user_id"],
                                   organization_id=c["organization_id"], base_url=server.base_url)
        self._invite = lambda: self._client.users.create_user(UserCreateInvitedUserRequest(
            first_name="Bench", last_name="User", email=f"bench-{uuid.uuid4().hex[:10]}@example.com",
            role_name="DefaultAdministratorRole")).user_id
        agent = self._client.agents.create_agent(OrganizationCreateAgentRequest(agent_name="voice-bench"))
        body = {**AGENT_V1, "voice_config": {"voice_id": "joe", "stability": 0.5, "similarity_boost": 0.75}}
        self._client.agents.create_agent_version(agent.id, OrganizationCreateAgentVersionRequest.model_validate(body))
        graph = create_conversation_graph(self._client)
        self.new_service = lambda: create_service(self._client, agent.id, graph)
        self.server = server

    def user_token(self) -> str:
        return self.server.token(self._invite())


# --------------------------------------------------------------------------
# REST
# --------------------------------------------------------------------------


def ndjson(server: Server, token: str, method: str, path: str, params: dict, files: list | None = None,
           json_body: Any = None) -> list[tuple[float, dict]]:
    """(seconds since the request was sent, event) for each NDJSON line."""
    t0 = time.monotonic()
    out = []
    with httpx.stream(method, server.base_url + path, params=params, files=files, json=json_body,
                      headers={"Authorization": f"Bearer {token}", "Accept": "application/x-ndjson"},
                      timeout=httpx.Timeout(120, connect=10)) as resp:
        if not 200 <= resp.status_code < 300:
            resp.read()
            raise RuntimeError(f"{method} {path} {params} -> HTTP {resp.status_code}: {resp.text[:500]}")
        for line in resp.iter_lines():
            if line.strip():
                out.append((time.monotonic() - t0, json.loads(line)))
    return out


def rest_turn(server: Server, token: str, conversation_id: str, wav: bytes, response_format: str) -> dict:
    events = ndjson(server, token, "POST", f"/v1/{server.org}/conversation/{conversation_id}/interact",
                    {"request_format": "voice", "response_format": response_format},
                    files=[("initial_message_type", (None, "user-message")),
                           ("recorded_message", ("utterance.wav", wav, "audio/wav"))])
    return timings(events, prefix="")


def rest_text_turn(server: Server, token: str, conversation_id: str) -> dict:
    """A text message, text reply: what the engine and the (instant) fake model take without speech."""
    events = ndjson(server, token, "POST", f"/v1/{server.org}/conversation/{conversation_id}/interact",
                    {"request_format": "text", "response_format": "text"},
                    files=[("initial_message_type", (None, "user-message")),
                           ("recorded_message", ("message.txt", UTTERANCE.encode(), "text/plain; charset=utf-8"))])
    return timings(events, prefix="")


def timings(events: list[tuple[float, dict]], prefix: str) -> dict:
    """user-message-available, first / second non-empty audio piece, interaction-complete; errors."""
    result: dict[str, Any] = {"pieces": []}
    for t, e in events:
        kind = e.get("type", "")
        if kind == prefix + "user-message-available":
            result.setdefault("uma", t)
            result["transcript"] = e.get("user_message")
        elif kind == prefix + "new-message":
            if e.get("message"):
                result["pieces"].append(t)
        elif kind == prefix + "interaction-complete":
            result["complete"] = t
            result["full_message"] = e.get("full_message")
        elif kind == prefix + "error":
            result["error"] = e
    p = result["pieces"]
    result["first_piece"] = p[0] if p else None
    result["gap"] = p[1] - p[0] if len(p) > 1 else None
    return result


def start_rest_conversation(server: Server, token: str, service_id: str) -> str:
    events = ndjson(server, token, "POST", f"/v1/{server.org}/conversation/", {"response_format": "text"},
                    json_body={"service_id": service_id, "service_version_set_name": "release"})
    return next(e["conversation_id"] for _, e in events if e.get("type") == "conversation-created")


# --------------------------------------------------------------------------
# Realtime
# --------------------------------------------------------------------------


class Socket:
    def __init__(self, server: Server, token: str) -> None:
        url = f"ws://127.0.0.1:{server.port}/v1/{server.org}/conversation/converse_realtime?response_format=voice"
        self._stack = ExitStack()
        self.ws = self._stack.enter_context(ws_connect(
            url, subprotocols=[f"bearer.authorization.amigo.ai.{token}"], open_timeout=15, close_timeout=5,
            max_size=16 * 1024 * 1024))

    def send(self, **m: Any) -> None:
        self.ws.send(json.dumps(m))

    def until(self, kind: str, t0: float, timeout: float = 60) -> list[tuple[float, dict]]:
        out = []
        deadline = time.monotonic() + timeout
        while True:
            frame = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            out.append((time.monotonic() - t0, frame))
            if frame.get("type") == kind:
                return out
            if frame.get("type") == "server.error":
                raise RuntimeError(f"server.error: {frame}")

    def start(self, service_id: str) -> None:
        self.send(type="client.start-conversation", service_id=service_id)
        self.until("server.interaction-complete", time.monotonic())  # the spoken greeting

    def turn(self, pcm: bytes, paced: bool) -> dict:
        config = {"format": "pcm", "sample_rate": RATE, "sample_width": 2, "n_channels": 1}
        if paced:
            started = time.monotonic()
            for i, offset in enumerate(range(0, len(pcm), CHUNK_BYTES)):
                m: dict[str, Any] = {"type": "client.new-audio-message",
                                     "audio": base64.b64encode(pcm[offset:offset + CHUNK_BYTES]).decode()}
                if i == 0:
                    m["audio_config"] = config
                self.ws.send(json.dumps(m))
                time.sleep(max(0.0, started + (i + 1) * 0.02 - time.monotonic()))
        else:
            self.send(type="client.new-audio-message", audio=base64.b64encode(pcm).decode(), audio_config=config)
        t0 = time.monotonic()
        self.send(type="client.new-audio-message", audio=None)
        return timings(self.until("server.interaction-complete", t0), prefix="server.")

    def close(self) -> None:
        try:
            self.send(type="client.close-connection")
        except ConnectionClosed:
            pass
        self._stack.close()


def concurrency_level(setup: Setup, pcm: bytes, sessions: int, seconds: float, interval: float) -> dict:
    services = [setup.new_service() for _ in range(1)]
    sockets = []
    for _ in range(sessions):
        s = Socket(setup.server, setup.user_token())
        s.start(services[0])
        sockets.append(s)
    results: list[dict] = []
    failures: list[str] = []
    lock = threading.Lock()
    begin = time.monotonic() + 0.5
    end = begin + seconds

    def run(s: Socket, phase: float) -> None:
        next_turn = begin + phase
        while next_turn < end:
            time.sleep(max(0.0, next_turn - time.monotonic()))
            try:
                r = s.turn(pcm, paced=True)
            except Exception as exc:  # noqa: BLE001 - reported
                with lock:
                    failures.append(repr(exc)[:300])
                return
            with lock:
                results.append(r)
            next_turn += interval
            # Keep the socket alive between turns if a turn took longer than the interval.
            while next_turn < time.monotonic():
                next_turn += interval

    threads = [threading.Thread(target=run, args=(s, random.uniform(0, interval)), daemon=True) for s in sockets]
    state: list[str] = []
    sampler = threading.Thread(target=lambda: (time.sleep(seconds / 2), state.append(machine_state())), daemon=True)
    sampler.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 180)
    for s in sockets:
        s.close()
    first = [r["first_piece"] for r in results if r.get("first_piece") is not None]
    return {"sessions": sessions, "turns": len(results), "first": first,
            "uma": [r["uma"] for r in results if "uma" in r], "failures": failures,
            "no_audio": sum(1 for r in results if r.get("first_piece") is None),
            "during": state[0] if state else "?"}


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def row(name: str, values: list[float], note: str = "") -> str:
    mean = statistics.fmean(values) if values else None
    return (f"| {name} | {len(values)} | {ms(pct(values, 0.5))} | {ms(pct(values, 0.99))} | {ms(mean)} | "
            f"{ms(min(values) if values else None)} | {note} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin")
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--levels", default="1,2,4,8")
    parser.add_argument("--level-seconds", type=float, default=60)
    parser.add_argument("--interval", type=float, default=10)
    parser.add_argument("--engine-runs", type=int, default=7)
    args = parser.parse_args()

    install = voice_install()
    binary = find_binary(args.bin)
    print(f"binary {binary}")
    print(f"before: {machine_state()}", flush=True)

    wav, engines = prepare_audio(install, args.engine_runs)
    pcm = pcm_of_wav(wav)
    seconds = len(pcm) / 2 / RATE
    print(f"utterance {seconds:.2f} s ({len(wav)} bytes WAV), Whisper alone heard {engines['heard']!r}", flush=True)

    fake = subprocess.Popen([sys.executable, __file__, "--fake-model"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    model_url = fake.stdout.readline().strip()
    workdir = Path(tempfile.mkdtemp(prefix="voice-latency-"))
    server = None
    lines: list[str] = []
    try:
        server = Server(binary, install, model_url, workdir)
        print(f"compadre ready, speech server ready {server.ready_s:.2f} s after start", flush=True)
        setup = Setup(server)

        # REST voice in, voice out.
        token = server.token()
        conversation = start_rest_conversation(server, token, setup.new_service())
        cold = rest_turn(server, token, conversation, wav, "voice")
        for _ in range(args.warmup - 1):
            rest_turn(server, token, conversation, wav, "voice")
        rest = [rest_turn(server, token, conversation, wav, "voice") for _ in range(args.turns)]
        bad = [r for r in rest + [cold] if r.get("error") or r.get("first_piece") is None]
        transcripts = sorted({r.get("transcript") for r in rest})
        print(f"REST voice->voice done ({len(bad)} without audio/with errors); transcripts: {transcripts}", flush=True)

        # REST voice in, text out.
        conversation = start_rest_conversation(server, token, setup.new_service())
        text_turns = [rest_turn(server, token, conversation, wav, "text") for _ in range(args.turns)]
        print("REST voice->text done", flush=True)

        # Baseline: text in, text out (no speech at all).
        conversation = start_rest_conversation(server, token, setup.new_service())
        text_only = [rest_text_turn(server, token, conversation) for _ in range(args.turns)]

        # Realtime, one socket, paced then burst.
        sock = Socket(server, setup.user_token())
        sock.start(setup.new_service())
        paced = [sock.turn(pcm, paced=True) for _ in range(args.turns)]
        print("realtime paced done", flush=True)
        burst = [sock.turn(pcm, paced=False) for _ in range(args.turns)]
        sock.close()
        print("realtime burst done", flush=True)
        during = machine_state()

        levels = []
        for n in [int(x) for x in args.levels.split(",") if x]:
            level = concurrency_level(setup, pcm, n, args.level_seconds, args.interval)
            levels.append(level)
            p99 = pct(level["first"], 0.99)
            print(f"  {n} sessions: {level['turns']} turns, first audio p50 {ms(pct(level['first'], 0.5))} "
                  f"p99 {ms(p99)} ms, failures {level['failures'] or 0}", flush=True)

        rss = (rss_mb(server.process.pid), rss_mb(server.speech_pid() or 0))

        def col(rs: list[dict], key: str) -> list[float]:
            return [r[key] for r in rs if r.get(key) is not None]

        lines += [
            "",
            f"utterance {seconds:.2f} s; reply {REPLY!r} (2 sentences); instant model; {args.turns} turns per row",
            "",
            "| measure | n | p50 ms | p99 ms | mean ms | min ms | note |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            row("engine alone: transcribe the utterance", engines["stt"], "own speech server, compadre not running"),
        ]
        for sentence, times in engines["tts"].items():
            lines.append(row(f"engine alone: synthesize {sentence!r}", times, f"{len(sentence)} chars"))
        lines += [
            row("baseline REST text→text: request → first new-message", col(text_only, "first_piece"),
                "engine + fake model, no speech"),
            row("REST voice→voice: request → user-message-available", col(rest, "uma")),
            row("REST voice→voice: request → first audio new-message", col(rest, "first_piece"),
                f"cold first turn {ms(cold.get('first_piece'))} ms"),
            row("REST voice→voice: 1st → 2nd audio piece (synthesis of sentence 2)", col(rest, "gap")),
            row("REST voice→voice: request → interaction-complete", col(rest, "complete")),
            row("REST voice→text: request → user-message-available", col(text_turns, "uma")),
            row("REST voice→text: request → interaction-complete", col(text_turns, "complete")),
            row("realtime paced 20 ms: audio:null → user-message-available", col(paced, "uma")),
            row("realtime paced 20 ms: audio:null → first audio", col(paced, "first_piece")),
            row("realtime paced: 1st → 2nd audio piece", col(paced, "gap")),
            row("realtime paced: audio:null → interaction-complete", col(paced, "complete")),
            row("realtime one frame: audio:null → user-message-available", col(burst, "uma")),
            row("realtime one frame: audio:null → first audio", col(burst, "first_piece")),
            "",
            f"concurrent realtime voice sessions, a turn every {args.interval:.0f} s each, paced audio, "
            f"{args.level_seconds:.0f} s per level:",
            "",
            "| sessions | turns | null → first audio p50 ms | p99 ms | null → user-message p50 ms | p99 ms | failures |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for level in levels:
            over = " **over 2 s**" if (pct(level["first"], 0.99) or 0) > FIRST_AUDIO_TARGET_S else ""
            lines.append(f"| {level['sessions']} | {level['turns']} | {ms(pct(level['first'], 0.5))} | "
                         f"{ms(pct(level['first'], 0.99))}{over} | {ms(pct(level['uma'], 0.5))} | "
                         f"{ms(pct(level['uma'], 0.99))} | {len(level['failures']) + level['no_audio']} |")
        held = [lv["sessions"] for lv in levels
                if not lv["failures"] and (pct(lv["first"], 0.99) or 99) <= FIRST_AUDIO_TARGET_S]
        lines += [
            "",
            f"sessions held with p99 first audio ≤ 2 s: {max(held) if held else 0} (of {args.levels})",
            f"RSS after: compadre {rss[0]:.0f} MB, its speech server {rss[1]:.0f} MB",
            f"during the single-stream rows: {during}",
            f"after: {machine_state()}",
        ]
        for level in levels:
            lines.append(f"during {level['sessions']} sessions: {level['during']}")
        for level in levels:
            for failure in level["failures"][:3]:
                lines.append(f"failure ({level['sessions']} sessions): {failure}")
        print("\n".join(lines))
    finally:
        if server is not None:
            server.stop()
            warnings = [l for l in server.log().splitlines() if re.search(r"\b(warning|error|critical)\b", l)]
            if warnings:
                print(f"\nserver log warnings/errors ({len(warnings)}):")
                print("\n".join(warnings[:20]))
        fake.stdin.close()
        fake.wait(timeout=10)


if __name__ == "__main__":
    main()
