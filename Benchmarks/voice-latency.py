#!/usr/bin/env python3
"""Voice latency of one `compadre serve` with the embedded speech engines and an INSTANT language model.

    eval "$(scripts/setup-voice)"
    python3 Benchmarks/voice-latency.py [--bin PATH] [--only STEPS] [--turns 20] [--levels 1,2,4,8] [--level-seconds 60]
        [--vad-cpu-levels 1,8,32] [--vad-cpu-seconds 30] [--vad-levels 4,8,16,32,64,128,256] [--vad-hold-seconds 40]
        [--vad-speakers 2] [--vad-lock-db] [--vad-budget 420]

--only picks steps (comma-separated): engines, rest, realtime, concurrency (steps 0, 3, 4, 5 below; group
`manual`, about 8 minutes) and vad-latency, vad-cpu, vad-hold (steps 6–8; group `vad`: a VAD turn takes ~12 s
because the reply is paced, so about 11 minutes with --turns 10). Default: all.

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
VAD mode (`client.switch-vad-mode`, answered `server.vad-mode-switched`). Every socket is fed like a microphone
by an asyncio task: 20 ms chunks of 16 kHz PCM16 sent in real time, faint white noise (σ 20, ≈ -64 dBFS) when
nobody speaks, never a pause; "end of speech" is when the chunk holding the utterance's last sample above
|300| was sent (Piper's WAV ends with ~0.2 s of near-silence after it):
  6. vad-latency: one voice socket per turn_detection, default (`server_vad`, 500 ms of silence) then
     `{"type": "semantic_vad"}` (Smart Turn asked after 200 ms of silence; an unfinished turn ends after 3 s);
     --turns turns each after --vad-warmup: 0.5 s of silence, the utterance, silence on until
     `server.interaction-complete` (the reply is paced, ~6 s); end of speech → `server.vad-speech-ended` /
     `server.user-message-available` / first non-empty `server.new-message` audio / interaction-complete,
     vad-speech-ended → first audio, the detector's `ts_end` against where speech ended in the stream sent;
     for semantic_vad how many turns ended < 1 s after speech end (Smart Turn said "finished"); utterances cut
     before their end (a vad-speech-ended during it) are counted;
  7. vad-cpu: first 10 s with no stream (what the server burns idle, subtracted in the "net" columns), then
     for each of --vad-cpu-levels that many sockets in VAD mode (one user each; text replies except the
     --vad-speakers first, which are voice) streaming silence for --vad-cpu-seconds: CPU seconds
     (/proc/<pid>/stat utime+stime) of compadre, of its speech server (compadre's child running
     speech-server.py) and of this script, per stream per second of audio; machine busy share (/proc/stat);
     how late sends were against their 20 ms schedule; speech starts the noise caused. With --vad-lock-db a
     write transaction is held on the server's SQLite file during each silent window (and a second idle
     window): silent streams write nothing, so only background writers stop — e.g. a job runner that
     busy-loops (2026-12-04: `JobRunner.work` never waits once its doorbell stream has ended, ~1.2 cores idle);
  8. vad-hold: for each of --vad-levels in order, that many streaming sockets (the streams of the levels before
     stay open and keep streaming; 10 s of silence first for the CPU table), then --vad-speakers of them take
     server_vad speech turns back to back (12 s apart / speakers) for --vad-hold-seconds. Detection keeps up
     when p99 (end of speech → vad-speech-ended) ≤ 500 + 300 ms with no failed turn or closed socket; a level
     holds when, besides, p99 (end of speech → first audio) ≤ 2 s. Levels stop after the first where detection
     does not keep up, or when --vad-budget seconds (steps 7 + 8) are spent.
The client runs on the same cores as the server (its own CPU is reported); at a few hundred sockets its
send lateness shows when it, not the server, is the limit.

Since the model is instant (about 2 ms per call; the baseline row, text in and text out, shows what the engine
and the model take without speech), everything measured is the server's and its speech engines' own time.
With a debug build the REST rows also carry the multipart form parse, about 0.9 ms per KB there (≈ 120 ms for
the 4 s WAV) against ≈ 0.005 ms per KB in a release build.
p99 of ~20 samples is their maximum (nearest rank). Prints what else the machine was doing (load average,
busiest other processes), since 2 cores shared with a build move these figures a lot.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
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
            return os.path.abspath(str(candidate))  # serve runs in a temporary directory
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
# VAD mode (asyncio: up to a few hundred paced sockets from one client process)
# --------------------------------------------------------------------------

SERVER_VAD_SILENCE_S = 0.5  # the server's default silence_duration_ms
HOLD_DETECTION_MARGIN_S = 0.3  # a level holds while p99 (speech end → vad-speech-ended) ≤ silence + this
SEMANTIC_FINISHED_S = 1.0  # semantic_vad: ended sooner than this after speech end = the model said "finished"
SPEECH_LEVEL = 300  # |sample| above this (≈ -41 dBFS) counts as speech when finding where the utterance ends


def speech_end_sample(pcm: bytes) -> int:
    """The sample just after the last one louder than SPEECH_LEVEL (Piper ends its WAV with a little silence)."""
    samples = memoryview(pcm).cast("h")
    for i in range(len(samples) - 1, -1, -1):
        if abs(samples[i]) > SPEECH_LEVEL:
            return i + 1
    return len(samples)


class VadAudio:
    """Pre-encoded 20 ms `client.new-audio-message` frames: faint noise for the silence, the utterance."""

    def __init__(self, pcm: bytes, seed: int = 7) -> None:
        rng = random.Random(seed)

        def noise_chunk() -> bytes:  # white noise, σ = 20 (≈ -64 dBFS): a quiet room through a microphone
            return b"".join(int(max(-32768, min(32767, rng.gauss(0, 20)))).to_bytes(2, "little", signed=True)
                            for _ in range(CHUNK_BYTES // 2))

        def frame(chunk: bytes) -> str:
            return json.dumps({"type": "client.new-audio-message", "audio": base64.b64encode(chunk).decode()})

        self.config = {"format": "pcm", "sample_rate": RATE, "sample_width": 2, "n_channels": 1}
        chunks = [noise_chunk() for _ in range(50)]  # 1 s of noise, cycled
        self.silence = [frame(c) for c in chunks]
        self.first = json.dumps({"type": "client.new-audio-message", "audio": base64.b64encode(chunks[0]).decode(),
                                 "audio_config": self.config})
        self.lead = [self.silence[i % 50] for i in range(25)]  # 0.5 s of silence before the utterance
        padded = pcm + bytes(-len(pcm) % CHUNK_BYTES)
        self.utterance = [frame(padded[o:o + CHUNK_BYTES]) for o in range(0, len(padded), CHUNK_BYTES)]
        end = speech_end_sample(pcm)
        self.speech_end_chunk = (end * 2 - 1) // CHUNK_BYTES  # index of the last chunk with speech in it
        self.end_in_chunk_s = (end * 2 - self.speech_end_chunk * CHUNK_BYTES) / 2 / RATE
        self.trailing_s = (len(pcm) // 2 - end) / RATE
        self.speech_s = end / RATE


class VadStream:
    """One realtime socket in VAD mode, fed 20 ms chunks in real time by `pace` (silence unless scripted)."""

    def __init__(self, index: int, audio: VadAudio, voice: bool) -> None:
        self.index, self.audio, self.voice = index, audio, voice
        self.ws: Any = None
        self.events: list[tuple[float, dict]] = []
        self.new_frame = asyncio.Event()
        self.script: collections.deque = collections.deque()
        self.sent = 0  # chunks sent since VAD mode went on
        self.late: list[float] = []  # how late each send was against its 20 ms schedule
        self.closed: str | None = None
        self.errors: list[dict] = []
        self.stop = False
        self.tasks: list[asyncio.Task] = []

    async def open(self, server: Server, token: str, service_id: str, turn_detection: dict | None) -> None:
        from websockets.asyncio.client import connect as async_connect

        url = (f"ws://127.0.0.1:{server.port}/v1/{server.org}/conversation/converse_realtime"
               f"?response_format={'voice' if self.voice else 'text'}")
        self.ws = await async_connect(url, subprotocols=[f"bearer.authorization.amigo.ai.{token}"], open_timeout=60,
                                      close_timeout=5, max_size=16 * 1024 * 1024, ping_interval=None)
        self.tasks.append(asyncio.create_task(self._read()))
        await self.ws.send(json.dumps({"type": "client.start-conversation", "service_id": service_id}))
        await self.wait_for("server.interaction-complete", 0, timeout=120)  # the greeting
        switch: dict[str, Any] = {"type": "client.switch-vad-mode", "vad_mode_on": True}
        if turn_detection is not None:
            switch["turn_detection"] = turn_detection
        mark = len(self.events)
        await self.ws.send(json.dumps(switch))
        await self.wait_for("server.vad-mode-switched", mark, timeout=30)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                self.events.append((time.monotonic(), frame))
                if frame.get("type") == "server.error":
                    self.errors.append(frame)
                self.new_frame.set()
        except ConnectionClosed as exc:
            if not self.stop:
                self.closed = f"closed: {exc}"[:200]  # the close frame received, or "no close frame received or sent"
        except Exception as exc:  # noqa: BLE001 - reported
            self.closed = f"reader: {exc!r}"[:200]
        self.closed = self.closed or "closed by the client"
        self.new_frame.set()

    async def wait_for(self, kind: str, start: int, timeout: float, after: float = 0.0) -> tuple[int, float, dict]:
        """The first `kind` frame at index ≥ start that arrived at or after `after`."""
        deadline = time.monotonic() + timeout
        i = start
        while True:
            while i < len(self.events):
                t, frame = self.events[i]
                if frame.get("type") == kind and t >= after:
                    return i, t, frame
                if frame.get("type") == "server.error" and kind != "server.error":
                    raise RuntimeError(f"server.error: {frame}")
                i += 1
            if self.closed:
                raise RuntimeError(f"socket {self.closed} while waiting for {kind}")
            self.new_frame.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {kind} within {timeout:.0f} s")
            try:
                await asyncio.wait_for(self.new_frame.wait(), left)
            except asyncio.TimeoutError:
                pass

    def start_pacing(self, phase: float) -> None:
        self.tasks.append(asyncio.create_task(self._pace(time.monotonic() + phase)))

    async def _pace(self, t0: float) -> None:
        k = 0
        try:
            while not self.stop and not self.closed:
                due = t0 + k * 0.02
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                self.late.append(max(0.0, time.monotonic() - due))
                if self.script:
                    message, on_sent = self.script.popleft()
                elif k == 0:
                    message, on_sent = self.audio.first, None
                else:
                    message, on_sent = self.audio.silence[k % len(self.audio.silence)], None
                await self.ws.send(message)
                self.sent += 1
                k += 1
                if on_sent is not None:
                    on_sent(time.monotonic(), self.sent)
        except ConnectionClosed:
            pass
        except Exception as exc:  # noqa: BLE001 - reported
            self.closed = self.closed or f"sender: {exc!r}"[:200]

    async def turn(self, timeout: float = 45) -> dict:
        """0.5 s of silence, the utterance, then silence on: the times after the end of speech."""
        loop = asyncio.get_running_loop()
        ended_speech: asyncio.Future = loop.create_future()
        start = len(self.events)
        a = self.audio
        self.script.extend((m, None) for m in a.lead)
        for i, m in enumerate(a.utterance):
            mark = (lambda t, sent: ended_speech.set_result((t, sent))) if i == a.speech_end_chunk else None
            self.script.append((m, mark))
        end_t, end_chunks = await asyncio.wait_for(ended_speech, timeout)
        result: dict[str, Any] = {"end_t": end_t}
        try:
            _, t, frame = await self.wait_for("server.vad-speech-ended", start, timeout, after=end_t)
            result["ended"] = t - end_t
            # Where the detector put the end of speech, against where it is in the stream we sent.
            result["ts_error"] = frame.get("ts_end", 0) / 1000 - ((end_chunks - 1) * 0.02 + a.end_in_chunk_s)
            ended_at = t
            i, t, frame = await self.wait_for("server.user-message-available", start, timeout, after=ended_at)
            result["uma"] = t - end_t
            result["transcript"] = frame.get("user_message")
            while True:
                i, t, frame = await self.wait_for("server.new-message", i, timeout, after=ended_at)
                if frame.get("message"):
                    result["first_piece"] = t - end_t
                    result["first_after_ended"] = t - ended_at
                    break
                i += 1
            _, t, _ = await self.wait_for("server.interaction-complete", i, timeout, after=ended_at)
            result["complete"] = t - end_t
        except (RuntimeError, TimeoutError) as exc:
            result["error"] = str(exc)[:300]
        kinds = [f.get("type") for t, f in self.events[start:] if t < end_t]
        result["split"] = kinds.count("server.vad-speech-ended")  # the utterance cut before its end
        return result

    async def close(self) -> None:
        self.stop = True
        try:
            await self.ws.send(json.dumps({"type": "client.close-connection"}))
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        try:
            await asyncio.wait_for(self.ws.close(), 10)
        except Exception:  # noqa: BLE001
            pass
        for task in self.tasks:
            task.cancel()


def _proc_cpu_s(pid: int | None) -> float:
    if not pid:
        return float("nan")
    try:
        with open(f"/proc/{pid}/stat") as f:
            raw = f.read()
    except OSError:
        return float("nan")
    fields = raw[raw.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def speech_child(server: Server) -> int | None:
    """compadre's child process whose command line names speech-server.py."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                raw = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        ppid = int(raw[raw.rindex(")") + 2:].split()[1])
        if ppid == server.process.pid and b"speech-server.py" in cmdline:
            return int(entry)
    return server.speech_pid()


class CpuWindow:
    """CPU seconds of compadre, its speech server and this client, and the machine's busy share, over a window."""

    def __init__(self, server_pid: int, speech_pid: int | None) -> None:
        self.pids = (server_pid, speech_pid)
        self.begin = self._sample()

    def _sample(self) -> tuple:
        with open("/proc/stat") as f:
            cpu = [int(x) for x in f.readline().split()[1:]]
        own = os.times()
        return (time.monotonic(), _proc_cpu_s(self.pids[0]), _proc_cpu_s(self.pids[1]), own.user + own.system,
                sum(cpu), cpu[3] + cpu[4])

    def end(self) -> dict:
        e, b = self._sample(), self.begin
        wall = e[0] - b[0]
        total, idle = e[4] - b[4], e[5] - b[5]
        return {"wall": wall, "compadre": e[1] - b[1], "speech": e[2] - b[2], "client": e[3] - b[3],
                "busy": (total - idle) / total * 100 if total else float("nan"), "load": os.getloadavg()[0]}


class DatabaseWriteLock:
    """--vad-lock-db: a write transaction held on the server's SQLite file from outside. Silent VAD streams write
    nothing, so during their CPU windows it only stops background writers: the job runner, which in some builds
    claims jobs in a loop without waiting (each claim then fails after 5 s of `database is locked`)."""

    def __init__(self, path: Path) -> None:
        import sqlite3

        self.db = sqlite3.connect(str(path), isolation_level=None, timeout=30, check_same_thread=False)

    async def hold(self) -> None:
        await asyncio.to_thread(self.db.execute, "BEGIN IMMEDIATE")
        await asyncio.sleep(1.0)  # let the writers that were running finish and back off

    async def release(self) -> None:
        await asyncio.to_thread(self.db.execute, "ROLLBACK")


async def _open_streams(server: Server, setup: Setup, audio: VadAudio, service: str, first_index: int, count: int,
                        voice: bool, turn_detection: dict | None = None) -> list[VadStream]:
    tokens = await asyncio.gather(*[asyncio.to_thread(setup.user_token) for _ in range(count)])
    streams = [VadStream(first_index + i, audio, voice) for i in range(count)]
    gate = asyncio.Semaphore(8)

    async def one(s: VadStream, token: str) -> None:
        async with gate:
            await s.open(server, token, service, turn_detection)
            s.start_pacing(random.uniform(0, 0.02))

    await asyncio.gather(*[one(s, t) for s, t in zip(streams, tokens)])
    return streams


async def vad_latency(server: Server, setup: Setup, audio: VadAudio, turns: int, warmup: int) -> dict:
    """Step 6: one socket per turn_detection, `turns` utterances each."""
    out = {}
    for name, turn_detection in (("server_vad", None), ("semantic_vad", {"type": "semantic_vad"})):
        service = await asyncio.to_thread(setup.new_service)
        [stream] = await _open_streams(server, setup, audio, service, 0, 1, voice=True, turn_detection=turn_detection)
        await asyncio.sleep(1.0)
        cold = [await stream.turn() for _ in range(warmup)]
        results = []
        for _ in range(turns):
            await asyncio.sleep(0.3)
            results.append(await stream.turn())
        late = pct(stream.late, 0.99)
        out[name] = {"turns": results, "cold": cold, "late_p99": late, "closed": stream.closed,
                     "errors": stream.errors}
        await stream.close()
        print(f"VAD {name} done ({sum(1 for r in results if r.get('error'))} errors, "
              f"{sum(r['split'] for r in results)} split utterances)", flush=True)
    return out


async def vad_load(server: Server, setup: Setup, audio: VadAudio, cpu_levels: list[int], hold_levels: list[int],
                   cpu_seconds: float, hold_seconds: float, speakers: int, deadline: float,
                   lock_db: bool = False) -> list[dict]:
    """Steps 7 and 8: N paced silent streams (CPU per stream), then speech turns on `speakers` of them."""
    service = await asyncio.to_thread(setup.new_service)
    speech_pid = speech_child(server)
    streams: list[VadStream] = []
    lock = DatabaseWriteLock(server.workdir / "compadre.sqlite") if lock_db else None
    # No stream at all: what compadre and its speech server burn while idle, subtracted in the "net" columns.
    levels: list[dict] = []
    for locked in ((False, True) if lock else (False,)):
        if locked:
            await lock.hold()
        window = CpuWindow(server.process.pid, speech_pid)
        await asyncio.sleep(10.0)
        c = window.end()
        if locked:
            await lock.release()
        levels.append({"streams": 0, "cpu": c, "locked": locked})
        print(f"  no stream{' (database locked)' if locked else ''}: compadre {c['compadre'] / c['wall'] * 100:.0f} %, "
              f"speech server {c['speech'] / c['wall'] * 100:.0f} % of a core; machine busy {c['busy']:.0f} %",
              flush=True)
    stopped = False
    try:
        for n in sorted(set(cpu_levels) | set(hold_levels)):
            hold = n in hold_levels and not stopped
            if n not in cpu_levels and not hold:
                continue
            if time.monotonic() > deadline:
                print(f"  {n} streams: skipped, past the time budget", flush=True)
                levels.append({"streams": n, "skipped": "time budget"})
                continue
            opened = time.monotonic()
            try:
                while len(streams) < n:
                    voice = len(streams) < speakers
                    batch = min(n - len(streams), 32) if not voice else 1
                    streams += await _open_streams(server, setup, audio, service, len(streams), batch, voice=voice)
            except Exception as exc:  # noqa: BLE001 - reported; the levels stop here
                print(f"  {n} streams: opening failed after {len(streams)}: {exc!r}"[:400], flush=True)
                levels.append({"streams": n, "skipped": f"opening the sockets failed after {len(streams)}: "
                                                         f"{exc!r}"[:300]})
                break
            open_s = time.monotonic() - opened
            await asyncio.sleep(3.0)
            level: dict[str, Any] = {"streams": n, "open_s": open_s}
            # Silence only: what N detectors cost.
            for s in streams:
                s.late.clear()
            marks = [len(s.events) for s in streams]
            if lock:
                await lock.hold()
            window = CpuWindow(server.process.pid, speech_pid)
            await asyncio.sleep(cpu_seconds if n in cpu_levels else min(cpu_seconds, 10.0))
            level["cpu"] = window.end()
            level["locked"] = bool(lock)
            if lock:
                await lock.release()
            level["late_p99"] = pct([x for s in streams for x in s.late], 0.99)
            level["false_starts"] = sum(1 for s, m in zip(streams, marks) for _, f in s.events[m:]
                                        if f.get("type") == "server.vad-speech-started")
            level["closed"] = [s.closed for s in streams if s.closed]
            line = (f"  {n} streams: opened in {open_s:.0f} s; silent {level['cpu']['wall']:.0f} s: compadre "
                    f"{level['cpu']['compadre'] / level['cpu']['wall'] * 100:.0f} %, speech server "
                    f"{level['cpu']['speech'] / level['cpu']['wall'] * 100:.0f} %, client "
                    f"{level['cpu']['client'] / level['cpu']['wall'] * 100:.0f} % of a core; machine busy "
                    f"{level['cpu']['busy']:.0f} %; send lateness p99 {ms(level['late_p99'])} ms")
            if hold:
                for s in streams:
                    s.late.clear()
                window = CpuWindow(server.process.pid, speech_pid)
                stop_at = time.monotonic() + hold_seconds
                talkers = streams[:max(1, min(speakers, n))]

                async def talk(s: VadStream, delay: float) -> list[dict]:
                    await asyncio.sleep(delay)
                    out = []
                    while time.monotonic() < stop_at and not s.closed:
                        out.append(await s.turn())
                        await asyncio.sleep(0.3)
                    return out

                spacing = 12.0 / len(talkers)  # a turn takes ~12 s (the reply is paced): spread the speakers
                results = [r for rs in await asyncio.gather(*[talk(s, i * spacing) for i, s in enumerate(talkers)])
                           for r in rs]
                level["hold_cpu"] = window.end()
                level["turns"] = results
                level["hold_late_p99"] = pct([x for s in streams for x in s.late], 0.99)
                level["closed"] = [s.closed for s in streams if s.closed]
                ended = [r["ended"] for r in results if "ended" in r]
                first = [r["first_piece"] for r in results if "first_piece" in r]
                failed = [r for r in results if r.get("error")]
                sound = bool(results) and not failed and not level["closed"] and len(first) == len(results)
                level["detects"] = sound and pct(ended, 0.99) <= SERVER_VAD_SILENCE_S + HOLD_DETECTION_MARGIN_S
                level["holds"] = level["detects"] and pct(first, 0.99) <= FIRST_AUDIO_TARGET_S
                # Go on while detection keeps up: first audio also measures the speech engines' queue.
                stopped = not level["detects"]
                line += (f"; {len(results)} turns: end→vad-ended p50 {ms(pct(ended, 0.5))} p99 {ms(pct(ended, 0.99))}"
                         f" ms, end→first audio p50 {ms(pct(first, 0.5))} p99 {ms(pct(first, 0.99))} ms, "
                         f"{len(failed)} failed → detection {'keeps up' if level['detects'] else 'does NOT keep up'}"
                         f", {'holds' if level['holds'] else 'does NOT hold'}")
            if level["closed"]:
                line += f"; {len(level['closed'])} sockets closed: {level['closed'][:3]}"
            print(line, flush=True)
            levels.append(level)
    finally:
        await asyncio.gather(*[s.close() for s in streams], return_exceptions=True)
    return levels


def vad_lines(latency: dict | None, load: list[dict] | None, audio: VadAudio, args: argparse.Namespace) -> list[str]:
    lines: list[str] = []
    if latency:
        lines += [
            "",
            f"VAD mode, one socket per row group, 20 ms chunks paced in real time: 0.5 s silence (faint noise), the "
            f"utterance ({audio.speech_s:.2f} s of speech + {audio.trailing_s * 1000:.0f} ms of Piper's trailing "
            f"silence), then silence until the reply; times from the send of the last chunk with speech in it; "
            f"{args.turns} turns each (after {args.vad_warmup} not counted):",
            "",
            "| measure | n | p50 ms | p99 ms | mean ms | min ms | note |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, data in latency.items():
            rs = data["turns"]

            def col(key: str) -> list[float]:
                return [r[key] for r in rs if r.get(key) is not None]

            cold = data["cold"][0] if data["cold"] else {}
            lines += [
                row(f"{name}: end of speech → vad-speech-ended", col("ended"),
                    f"cold first turn {ms(cold.get('ended'))} ms"),
                row(f"{name}: end of speech → user-message-available", col("uma")),
                row(f"{name}: end of speech → first audio new-message", col("first_piece"),
                    f"cold first turn {ms(cold.get('first_piece'))} ms"),
                row(f"{name}: vad-speech-ended → first audio", col("first_after_ended")),
                row(f"{name}: end of speech → interaction-complete", col("complete")),
                row(f"{name}: detector's ts_end − end of speech in the stream", col("ts_error"), "signed"),
            ]
        for name, data in latency.items():
            rs = data["turns"]
            errors = [r["error"] for r in rs if r.get("error")]
            transcripts = sorted({str(r.get("transcript")) for r in rs if r.get("transcript")})
            extra = ""
            if name == "semantic_vad":
                ended = [r["ended"] for r in rs if "ended" in r]
                soon = sum(1 for x in ended if x < SEMANTIC_FINISHED_S)
                extra = (f"; ended < {SEMANTIC_FINISHED_S:.0f} s after speech end (Smart Turn said finished): "
                         f"{soon} of {len(ended)}")
            lines.append(f"{name}: {len(errors)} failed turns, {sum(r['split'] for r in rs)} utterances cut before "
                         f"their end, send lateness p99 {ms(data['late_p99'])} ms, socket "
                         f"{data['closed'] or 'open'}, server errors {len(data['errors'])}{extra}; transcripts "
                         f"{transcripts}")
            for e in errors[:3]:
                lines.append(f"  failure: {e}")
    if load:
        lines += [
            "",
            f"VAD streams, silence with faint noise (no speech, no interactions), 20 ms chunks paced in real time; "
            f"CPU from /proc/<pid>/stat (utime+stime) over the window, per stream per second of audio; "
            f"client = this script (same machine)"
            f"{'; the database write-locked from outside during each window (--vad-lock-db)' if args.vad_lock_db else ''}:",
            "",
            "| streams | window s | compadre ms/s per stream (net of idle) | compadre % core per stream (net) | "
            "speech server ms/s per stream (net) | speech server % core per stream (net) | "
            "compadre / speech server / client % core in all | machine busy % | send late p99 ms | "
            "false speech starts |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        idles = {lv.get("locked"): lv["cpu"] for lv in load if lv["streams"] == 0}
        for lv in load:
            if "cpu" not in lv:
                continue
            c, n = lv["cpu"], lv["streams"]
            total = f"{c['compadre'] / c['wall'] * 100:.0f} / {c['speech'] / c['wall'] * 100:.0f} / " \
                    f"{c['client'] / c['wall'] * 100:.0f}"
            if n == 0:
                lines.append(f"| 0 (idle{', database locked' if lv.get('locked') else ''}) | {c['wall']:.0f} | | | | | "
                             f"{total} | {c['busy']:.0f} | | |")
                continue
            per = n * c["wall"]
            idle = idles.get(lv.get("locked"))

            def net(key: str) -> str:
                base = idle[key] / idle["wall"] * c["wall"] if idle else 0.0
                return f"{c[key] / per * 1000:.1f} ({(c[key] - base) / per * 1000:.1f})"

            def net_pct(key: str) -> str:
                base = idle[key] / idle["wall"] * c["wall"] if idle else 0.0
                return f"{c[key] / per * 100:.2f} ({(c[key] - base) / per * 100:.2f})"

            lines.append(
                f"| {n} | {c['wall']:.0f} | {net('compadre')} | {net_pct('compadre')} | {net('speech')} | "
                f"{net_pct('speech')} | {total} | {c['busy']:.0f} | {ms(lv['late_p99'])} | {lv['false_starts']} |")
        held_rows = [lv for lv in load if "turns" in lv]
        if held_rows:
            lines += [
                "",
                f"VAD streams held: N paced streams, {args.vad_speakers} of them taking speech turns back to back "
                f"for {args.vad_hold_seconds:.0f} s (server_vad); detection keeps up = p99 end of speech → "
                f"vad-speech-ended ≤ {(SERVER_VAD_SILENCE_S + HOLD_DETECTION_MARGIN_S) * 1000:.0f} ms and no "
                f"failure or close; holds = that and p99 end of speech → first audio ≤ "
                f"{FIRST_AUDIO_TARGET_S * 1000:.0f} ms:",
                "",
                "| streams | turns | end → vad-ended p50 / p99 ms | end → first audio p50 / p99 ms | vad-ended → "
                "first audio p99 ms | compadre / speech server / client % core | machine busy % | send late p99 ms "
                "| detection keeps up | holds |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            ]
            for lv in held_rows:
                rs, c = lv["turns"], lv["hold_cpu"]
                ended = [r["ended"] for r in rs if "ended" in r]
                first = [r["first_piece"] for r in rs if "first_piece" in r]
                after = [r["first_after_ended"] for r in rs if "first_after_ended" in r]
                failed = sum(1 for r in rs if r.get("error"))
                lines.append(
                    f"| {lv['streams']} | {len(rs)}{f' ({failed} failed)' if failed else ''} | "
                    f"{ms(pct(ended, 0.5))} / {ms(pct(ended, 0.99))} | {ms(pct(first, 0.5))} / {ms(pct(first, 0.99))} | "
                    f"{ms(pct(after, 0.99))} | {c['compadre'] / c['wall'] * 100:.0f} / "
                    f"{c['speech'] / c['wall'] * 100:.0f} / {c['client'] / c['wall'] * 100:.0f} | {c['busy']:.0f} | "
                    f"{ms(lv['hold_late_p99'])} | {'yes' if lv['detects'] else '**no**'} | "
                    f"{'yes' if lv['holds'] else '**no**'} |")
            held = [lv["streams"] for lv in held_rows if lv["holds"]]
            detected = [lv["streams"] for lv in held_rows if lv["detects"]]
            lines.append("")
            lines.append(f"largest N that holds: {max(held) if held else 'none'}; largest N where detection keeps up: "
                         f"{max(detected) if detected else 'none'} (levels tried: "
                         f"{', '.join(str(lv['streams']) for lv in held_rows)})")
            for lv in held_rows:
                for r in [r for r in lv["turns"] if r.get("error")][:3]:
                    lines.append(f"  failure at {lv['streams']} streams: {r['error']}")
        for lv in load:
            if lv.get("closed"):
                lines.append(f"  {len(lv['closed'])} sockets closed at {lv['streams']} streams: {lv['closed'][:3]}")
            if lv.get("skipped"):
                lines.append(f"  {lv['streams']} streams skipped: {lv['skipped']}")
    return lines


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def row(name: str, values: list[float], note: str = "") -> str:
    mean = statistics.fmean(values) if values else None
    return (f"| {name} | {len(values)} | {ms(pct(values, 0.5))} | {ms(pct(values, 0.99))} | {ms(mean)} | "
            f"{ms(min(values) if values else None)} | {note} |")


STEPS = ("engines", "rest", "realtime", "concurrency", "vad-latency", "vad-cpu", "vad-hold")
STEP_GROUPS = {"all": STEPS, "manual": ("engines", "rest", "realtime", "concurrency"),
               "vad": ("vad-latency", "vad-cpu", "vad-hold")}


def selected_steps(only: str) -> set[str]:
    chosen: set[str] = set()
    for name in (x.strip() for x in only.split(",") if x.strip()):
        if name in STEP_GROUPS:
            chosen |= set(STEP_GROUPS[name])
        elif name in STEPS:
            chosen.add(name)
        else:
            sys.exit(f"--only: unknown step {name!r} (steps: {', '.join(STEPS)}; groups: {', '.join(STEP_GROUPS)})")
    return chosen


def int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin")
    parser.add_argument("--only", default="all",
                        help=f"comma-separated steps ({', '.join(STEPS)}) or groups ({', '.join(STEP_GROUPS)})")
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--levels", default="1,2,4,8")
    parser.add_argument("--level-seconds", type=float, default=60)
    parser.add_argument("--interval", type=float, default=10)
    parser.add_argument("--engine-runs", type=int, default=7)
    parser.add_argument("--vad-warmup", type=int, default=1, help="VAD turns not counted, per turn_detection")
    parser.add_argument("--vad-cpu-levels", default="1,8,32", help="streams for the CPU-per-stream rows")
    parser.add_argument("--vad-cpu-seconds", type=float, default=30)
    parser.add_argument("--vad-levels", default="4,8,16,32,64,128,256",
                        help="streams for the capacity rows, tried in order until one does not hold")
    parser.add_argument("--vad-hold-seconds", type=float, default=40)
    parser.add_argument("--vad-speakers", type=int, default=2, help="streams of each level that take speech turns")
    parser.add_argument("--vad-lock-db", action="store_true",
                        help="hold a write lock on the database during the silent CPU windows (stops background "
                             "writers such as a busy-looping job runner)")
    parser.add_argument("--vad-budget", type=float, default=420,
                        help="seconds for vad-cpu + vad-hold: levels left when it is spent are skipped")
    args = parser.parse_args()
    steps = selected_steps(args.only)

    install = voice_install()
    binary = find_binary(args.bin)
    print(f"binary {binary}; steps {', '.join(s for s in STEPS if s in steps)}")
    print(f"before: {machine_state()}", flush=True)
    started = time.monotonic()

    wav, engines = prepare_audio(install, args.engine_runs if "engines" in steps else 0)
    pcm = pcm_of_wav(wav)
    seconds = len(pcm) / 2 / RATE
    print(f"utterance {seconds:.2f} s ({len(wav)} bytes WAV), Whisper alone heard {engines['heard']!r}", flush=True)

    fake = subprocess.Popen([sys.executable, __file__, "--fake-model"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    model_url = fake.stdout.readline().strip()
    workdir = Path(tempfile.mkdtemp(prefix="voice-latency-"))
    server = None
    lines: list[str] = [""]
    try:
        server = Server(binary, install, model_url, workdir)
        print(f"compadre ready, speech server ready {server.ready_s:.2f} s after start", flush=True)
        setup = Setup(server)

        def col(rs: list[dict], key: str) -> list[float]:
            return [r[key] for r in rs if r.get(key) is not None]

        lines.append(f"utterance {seconds:.2f} s; reply {REPLY!r} (2 sentences); instant model; "
                     f"{args.turns} turns per row")
        table = ["", "| measure | n | p50 ms | p99 ms | mean ms | min ms | note |", "| --- | --- | --- | --- | --- | --- | --- |"]
        rows: list[str] = []
        if "engines" in steps:
            rows.append(row("engine alone: transcribe the utterance", engines["stt"],
                            "own speech server, compadre not running"))
            for sentence, times in engines["tts"].items():
                rows.append(row(f"engine alone: synthesize {sentence!r}", times, f"{len(sentence)} chars"))

        if "rest" in steps:
            # REST voice in, voice out.
            token = server.token()
            conversation = start_rest_conversation(server, token, setup.new_service())
            cold = rest_turn(server, token, conversation, wav, "voice")
            for _ in range(args.warmup - 1):
                rest_turn(server, token, conversation, wav, "voice")
            rest = [rest_turn(server, token, conversation, wav, "voice") for _ in range(args.turns)]
            bad = [r for r in rest + [cold] if r.get("error") or r.get("first_piece") is None]
            transcripts = sorted({r.get("transcript") for r in rest})
            print(f"REST voice->voice done ({len(bad)} without audio/with errors); transcripts: {transcripts}",
                  flush=True)

            # REST voice in, text out.
            conversation = start_rest_conversation(server, token, setup.new_service())
            text_turns = [rest_turn(server, token, conversation, wav, "text") for _ in range(args.turns)]
            print("REST voice->text done", flush=True)

            # Baseline: text in, text out (no speech at all).
            conversation = start_rest_conversation(server, token, setup.new_service())
            text_only = [rest_text_turn(server, token, conversation) for _ in range(args.turns)]
            rows += [
                row("baseline REST text→text: request → first new-message", col(text_only, "first_piece"),
                    "engine + fake model, no speech"),
                row("REST voice→voice: request → user-message-available", col(rest, "uma")),
                row("REST voice→voice: request → first audio new-message", col(rest, "first_piece"),
                    f"cold first turn {ms(cold.get('first_piece'))} ms"),
                row("REST voice→voice: 1st → 2nd audio piece (synthesis of sentence 2)", col(rest, "gap")),
                row("REST voice→voice: request → interaction-complete", col(rest, "complete")),
                row("REST voice→text: request → user-message-available", col(text_turns, "uma")),
                row("REST voice→text: request → interaction-complete", col(text_turns, "complete")),
            ]

        during = None
        if "realtime" in steps:
            # Realtime, manual mode, one socket, paced then burst.
            sock = Socket(server, setup.user_token())
            sock.start(setup.new_service())
            paced = [sock.turn(pcm, paced=True) for _ in range(args.turns)]
            print("realtime paced done", flush=True)
            burst = [sock.turn(pcm, paced=False) for _ in range(args.turns)]
            sock.close()
            print("realtime burst done", flush=True)
            during = machine_state()
            rows += [
                row("realtime paced 20 ms: audio:null → user-message-available", col(paced, "uma")),
                row("realtime paced 20 ms: audio:null → first audio", col(paced, "first_piece")),
                row("realtime paced: 1st → 2nd audio piece", col(paced, "gap")),
                row("realtime paced: audio:null → interaction-complete", col(paced, "complete")),
                row("realtime one frame: audio:null → user-message-available", col(burst, "uma")),
                row("realtime one frame: audio:null → first audio", col(burst, "first_piece")),
            ]
        if rows:
            lines += table + rows

        if "concurrency" in steps:
            levels = []
            for n in int_list(args.levels):
                level = concurrency_level(setup, pcm, n, args.level_seconds, args.interval)
                levels.append(level)
                p99 = pct(level["first"], 0.99)
                print(f"  {n} sessions: {level['turns']} turns, first audio p50 {ms(pct(level['first'], 0.5))} "
                      f"p99 {ms(p99)} ms, failures {level['failures'] or 0}", flush=True)
            lines += [
                "",
                f"concurrent realtime voice sessions (manual mode), a turn every {args.interval:.0f} s each, paced "
                f"audio, {args.level_seconds:.0f} s per level:",
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
            lines += ["", f"sessions held with p99 first audio ≤ 2 s: {max(held) if held else 0} (of {args.levels})"]
            for level in levels:
                lines.append(f"during {level['sessions']} sessions: {level['during']}")
            for level in levels:
                for failure in level["failures"][:3]:
                    lines.append(f"failure ({level['sessions']} sessions): {failure}")

        if steps & set(STEP_GROUPS["vad"]):
            audio = VadAudio(pcm)
            latency = load = None
            vad_state: list[str] = []
            if "vad-latency" in steps:
                latency = asyncio.run(vad_latency(server, setup, audio, args.turns, args.vad_warmup))
                vad_state.append(f"after the VAD latency rows: {machine_state()}")
            if steps & {"vad-cpu", "vad-hold"}:
                cpu_levels = int_list(args.vad_cpu_levels) if "vad-cpu" in steps else []
                hold_levels = int_list(args.vad_levels) if "vad-hold" in steps else []
                load = asyncio.run(vad_load(server, setup, audio, cpu_levels, hold_levels, args.vad_cpu_seconds,
                                            args.vad_hold_seconds, args.vad_speakers,
                                            time.monotonic() + args.vad_budget, args.vad_lock_db))
            lines += vad_lines(latency, load, audio, args)
            lines += [""] + vad_state

        rss = (rss_mb(server.process.pid), rss_mb(speech_child(server) or 0))
        lines += [
            "",
            f"RSS after: compadre {rss[0]:.0f} MB, its speech server {rss[1]:.0f} MB",
        ]
        if during:
            lines.append(f"during the single-stream rows: {during}")
        lines += [f"after: {machine_state()}", f"run took {time.monotonic() - started:.0f} s; binary {binary}; "
                  f"COMPADRE_RATE_LIMITS=off"]
        print("\n".join(lines))
    finally:
        if server is not None:
            server.stop()
            warnings = [l for l in server.log().splitlines() if re.search(r"\b(warning|error|critical)\b", l)]
            if warnings:
                print(f"\nserver log warnings/errors ({len(warnings)}):")
                print("\n".join(warnings[:20]))
            print(f"server log: {server.log_path}")
        fake.stdin.close()
        fake.wait(timeout=10)

if __name__ == "__main__":
    main()
