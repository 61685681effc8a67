"""Voice over REST through the official Python SDK (`amigo-sdk`), unchanged.

An application sends a recorded WAV with `interact_with_conversation(...,
request_format=voice, audio_bytes=..., audio_content_type="audio/wav")`,
gets the transcript back as `user-message-available`, and the agent's answer
as text or as spoken audio (`response_format=voice`: base64 PCM16 pieces);
`get_message_source` then links to the audio of either message.

The speech engines are a fake OpenAI-compatible audio API (`FakeSpeech`
below), wired into a server of this module through COMPADRE_STT_BASE_URL /
COMPADRE_TTS_BASE_URL: transcription answers a scripted transcript, speech
answers a 22,050 Hz WAV whose length follows the text, so what the server
resamples and stores is known exactly. A server without speech engines
(COMPADRE_VOICE_ENGINES=off) must refuse voice with an error the SDK raises.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import struct
import threading
import urllib.error
import urllib.parse
import urllib.request
import wave
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from amigo_sdk import AmigoClient
from amigo_sdk.errors import AmigoError, BadRequestError
from amigo_sdk.generated.model import (
    ConversationCreatedEvent,
    ErrorEvent,
    Format,
    GetConversationMessagesParametersQuery,
    InteractionCompleteEvent,
    InteractWithConversationParametersQuery,
    MessageType,
    NewMessageEvent,
    OrganizationCreateAgentRequest,
    OrganizationCreateAgentVersionRequest,
    UserMessageAvailableEvent,
)

from conftest import Compadre, _start_compadre
from conversation_helpers import (
    OBJECT_ID,
    check_agent_message,
    create_conversation_graph,
    create_service,
    describe,
    interact,
    of_type,
    start_conversation,
    stored_messages,
    unique,
)
from fake_openai import FakeOpenAI
from test_sdk_management import AGENT_V1

TRANSCRIPT = "I would like a visit on Tuesday"
GREETING = "Hello! When would you like to visit?"
TEXT_REPLY = "Tuesday works. Morning or afternoon?"
VOICE_REPLY = "Tuesday morning it is. I booked your visit for ten o'clock."
VOICE_SENTENCES = ["Tuesday morning it is.", "I booked your visit for ten o'clock."]

AGENT_VOICE_ID = "amy-voice"
ENGINE_VOICE = "alloy"  # COMPADRE_VOICE_VOICES maps the agent's voice id to it
STT_MODEL = "fake-whisper"
TTS_MODEL = "fake-tts"
# The service's key terms (test_sdk_management.service_body), sent to STT as the prompt.
KEYTERMS_PROMPT = "compadre, context graph"

TTS_RATE = 22_050
TTS_FRAMES_PER_CHAR = 441  # 20 ms at 22,050 Hz, exactly 320 frames at 16 kHz
PCM_BYTES_PER_CHAR = 320 * 2


# --------------------------------------------------------------------------
# Audio
# --------------------------------------------------------------------------


def wav_file(rate: int, frames: int, freq: float = 440.0) -> bytes:
    """A mono 16-bit WAV file: a sine tone of `frames` frames at `rate` Hz."""
    samples = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * i / rate))) for i in range(frames)
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples)
    return out.getvalue()


# What the user "says": half a second at 16 kHz.
USER_WAV = wav_file(16_000, 8_000, freq=300.0)


def read_wav(data: bytes) -> tuple[int, int, int, bytes]:
    """(channels, sample width, rate, frames) of a WAV file."""
    with wave.open(io.BytesIO(data), "rb") as w:
        return w.getnchannels(), w.getsampwidth(), w.getframerate(), w.readframes(w.getnframes())


# --------------------------------------------------------------------------
# The fake speech engines
# --------------------------------------------------------------------------


def parse_multipart(body: bytes, content_type: str) -> dict[str, dict[str, Any]]:
    """name -> {"data": bytes, "filename": str | None, "content_type": str | None}."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    assert match, f"multipart request without a boundary: {content_type!r}"
    delimiter = b"--" + match.group(1).encode()
    fields: dict[str, dict[str, Any]] = {}
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        head, _, data = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = re.search(r'\bname="([^"]*)"', disposition)
        filename = re.search(r'\bfilename="([^"]*)"', disposition)
        fields[name.group(1) if name else ""] = {
            "data": data.removesuffix(b"\r\n"),
            "filename": filename.group(1) if filename else None,
            "content_type": headers.get("content-type"),
        }
    return fields


class FakeSpeech:
    """An OpenAI-compatible audio API on 127.0.0.1 (a free port), in a thread.

    `POST /v1/audio/transcriptions` answers `{"text": transcript}` and records
    the form (`transcriptions`: name -> field); `POST /v1/audio/speech` answers
    a mono 16-bit 22,050 Hz WAV of TTS_FRAMES_PER_CHAR frames per input
    character and records the JSON body (`speeches`). `reset()` clears both.
    """

    def __init__(self, transcript: str) -> None:
        self.transcript = transcript
        self._lock = threading.Lock()
        self._transcriptions: list[dict[str, dict[str, Any]]] = []
        self._speeches: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/v1/audio/transcriptions":
                    form = parse_multipart(body, self.headers.get("Content-Type", ""))
                    with fake._lock:
                        fake._transcriptions.append(form)
                    self._answer(200, "application/json", json.dumps({"text": fake.transcript}).encode())
                elif self.path == "/v1/audio/speech":
                    request = json.loads(body)
                    with fake._lock:
                        fake._speeches.append(request)
                    frames = TTS_FRAMES_PER_CHAR * len(request.get("input", ""))
                    self._answer(200, "audio/wav", wav_file(TTS_RATE, frames))
                else:
                    self._answer(404, "application/json", b'{"error": {"message": "no such route"}}')

            def _answer(self, status: int, content_type: str, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-speech", daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def transcriptions(self) -> list[dict[str, dict[str, Any]]]:
        with self._lock:
            return list(self._transcriptions)

    @property
    def speeches(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._speeches)

    def reset(self) -> None:
        with self._lock:
            self._transcriptions.clear()
            self._speeches.clear()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# --------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------


def create_voice_agent(client: AmigoClient) -> str:
    """An agent whose version has a voice (the management tests' agent, plus voice_config)."""
    created = client.agents.create_agent(
        OrganizationCreateAgentRequest(agent_name=unique("compat-voice-agent"))
    )
    body = {
        **AGENT_V1,
        "voice_config": {
            "voice_id": AGENT_VOICE_ID,
            "stability": 0.5,
            "similarity_boost": 0.75,
            "style": 0.1,
        },
    }
    version = client.agents.create_agent_version(
        created.id, OrganizationCreateAgentVersionRequest.model_validate(body)
    )
    assert version.version == 1
    return created.id


def voice_service(client: AmigoClient) -> str:
    return create_service(client, create_voice_agent(client), create_conversation_graph(client))


def greet(client: AmigoClient, fake_openai: FakeOpenAI, service_id: str) -> str:
    """create_conversation (text), the agent greets; the conversation id."""
    fake_openai.script({"when": "text", "text": GREETING, "chunks": 3})
    events = start_conversation(client, service_id)
    check_agent_message(events)
    assert isinstance(events[0], ConversationCreatedEvent), describe(events)
    return events[0].conversation_id


def interact_voice(
    client: AmigoClient, conversation_id: str, audio: bytes, response_format: str
) -> list[Any]:
    """interact_with_conversation with a WAV recording, the whole stream."""
    stream = client.conversations.interact_with_conversation(
        conversation_id,
        InteractWithConversationParametersQuery(request_format="voice", response_format=response_format),
        initial_message_type="user-message",
        audio_bytes=audio,
        audio_content_type="audio/wav",
    )
    return [event.root for event in stream]


def fetch(url: str) -> tuple[int, str, bytes]:
    """GET without credentials: (status, content type, body)."""
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def message_by_id(client: AmigoClient, conversation_id: str, message_id: str):
    page = client.conversations.get_conversation_messages(
        conversation_id, GetConversationMessagesParametersQuery(id=[message_id])
    )
    assert [m.id for m in page.messages] == [message_id], (
        f"GET …/messages/?id={message_id} returned {[m.id for m in page.messages]}"
    )
    return page.messages[0]


# --------------------------------------------------------------------------
# Module setup: a server with speech engines, one conversation, two voice turns
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake_speech():
    fake = FakeSpeech(TRANSCRIPT)
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="module")
def voice_compadre(
    compadre_bin: Path,
    db_backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    fake_openai: FakeOpenAI,
    fake_speech: FakeSpeech,
):
    """A server of this module that transcribes and speaks through `fake_speech`."""
    workdir = tmp_path_factory.mktemp("compadre-voice")
    instance = _start_compadre(compadre_bin, db_backend, workdir, extra_env={
        "COMPADRE_STT_BASE_URL": fake_speech.base_url,
        "COMPADRE_TTS_BASE_URL": fake_speech.base_url,
        "COMPADRE_STT_MODEL": STT_MODEL,
        "COMPADRE_TTS_MODEL": TTS_MODEL,
        "COMPADRE_TTS_VOICE": "default-voice",
        "COMPADRE_VOICE_VOICES": json.dumps({AGENT_VOICE_ID: ENGINE_VOICE}),
    })
    try:
        yield instance
    finally:
        instance.server.stop()


@pytest.fixture(scope="module")
def silent_compadre(
    compadre_bin: Path,
    db_backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    fake_openai: FakeOpenAI,
):
    """A server without speech engines: no COMPADRE_STT_/TTS_ endpoints and the embedded speech
    server off (it would start when scripts/setup-voice installed it)."""
    workdir = tmp_path_factory.mktemp("compadre-silent")
    instance = _start_compadre(compadre_bin, db_backend, workdir, extra_env={"COMPADRE_VOICE_ENGINES": "off"})
    try:
        yield instance
    finally:
        instance.server.stop()


@dataclass
class VoiceTalk:
    conversation_id: str
    heard: list  # voice in, text out
    heard_transcriptions: list  # what the STT engine received during `heard`
    heard_speeches: list  # what the TTS engine received during `heard`
    spoken: list  # voice in, voice out
    spoken_transcriptions: list
    spoken_speeches: list


@pytest.fixture(scope="module")
def talk(voice_compadre: Compadre, fake_openai: FakeOpenAI, fake_speech: FakeSpeech) -> VoiceTalk:
    fake_openai.reset()
    fake_speech.reset()  # shared by the servers of every backend
    with voice_compadre.user_client() as client:
        conversation_id = greet(client, fake_openai, voice_service(client))

        fake_openai.script({"when": "text", "text": TEXT_REPLY, "chunks": 3})
        heard = interact_voice(client, conversation_id, USER_WAV, "text")
        heard_transcriptions, heard_speeches = fake_speech.transcriptions, fake_speech.speeches

        fake_openai.script({"when": "text", "text": VOICE_REPLY, "chunks": 5})
        spoken = interact_voice(client, conversation_id, USER_WAV, "voice")

    for name, events in (("voice -> text", heard), ("voice -> voice", spoken)):
        assert events and isinstance(events[-1], InteractionCompleteEvent), (
            f"{name}: the stream must end with interaction-complete:\n{describe(events)}\n"
            f"--- server log ---\n{voice_compadre.server.log_tail(40)}"
        )
    transcriptions, speeches = fake_speech.transcriptions, fake_speech.speeches
    return VoiceTalk(
        conversation_id,
        heard, heard_transcriptions, heard_speeches,
        spoken, transcriptions[len(heard_transcriptions):], speeches[len(heard_speeches):],
    )


@pytest.fixture
def voice_client(voice_compadre: Compadre):
    with voice_compadre.client() as c:
        yield c


# --------------------------------------------------------------------------
# Voice in, text out
# --------------------------------------------------------------------------


def test_voice_message_is_transcribed_and_answered_in_text(talk: VoiceTalk):
    events = talk.heard
    shown = describe(events)

    assert isinstance(events[0], UserMessageAvailableEvent), (
        f"interact must start with user-message-available:\n{shown}"
    )
    assert events[0].user_message == TRANSCRIPT, (
        f"user-message-available carries the transcript:\n{shown}"
    )
    assert OBJECT_ID.match(events[0].message_id), events[0].message_id
    complete = check_agent_message(events)  # text pieces, no transcript alignment
    assert complete.full_message == TEXT_REPLY, shown
    assert talk.heard_speeches == [], "response_format=text must not call text-to-speech"


def test_transcription_request(talk: VoiceTalk):
    assert len(talk.heard_transcriptions) == 1, (
        f"one voice message, one transcription; got {len(talk.heard_transcriptions)}"
    )
    form = talk.heard_transcriptions[0]
    fields = {name: f["data"].decode("utf-8", "replace") for name, f in form.items() if name != "file"}
    assert "file" in form, f"no `file` part in the transcription request: {sorted(form)}"
    assert form["file"]["data"] == USER_WAV, "the engine gets the WAV the client sent, unchanged"
    assert form["file"]["content_type"] == "audio/wav", form["file"]
    assert fields.get("model") == STT_MODEL, fields
    assert fields.get("response_format") == "json", fields
    assert fields.get("language") == "en", (
        f"the agent speaks `eng`: the engine is told `en`; fields {fields}"
    )
    assert fields.get("prompt") == KEYTERMS_PROMPT, (
        f"the service's key terms are the prompt; fields {fields}"
    )


def test_voice_user_message_is_stored_as_voice(voice_client: AmigoClient, talk: VoiceTalk):
    user_id = talk.heard[0].message_id
    agent_id = talk.heard[-1].message_id
    user = message_by_id(voice_client, talk.conversation_id, user_id)
    assert user.message_type == MessageType.user_message
    assert user.format == Format.voice, f"a voice message is stored with format voice, got {user.format}"
    assert user.message == TRANSCRIPT
    assert user.interaction_id == talk.heard[-1].interaction_id

    agent = message_by_id(voice_client, talk.conversation_id, agent_id)
    assert agent.format == Format.text, "the reply was asked for in text"
    assert agent.message == TEXT_REPLY


# --------------------------------------------------------------------------
# Voice in, voice out
# --------------------------------------------------------------------------


def audio_pieces(events: list[Any]) -> list[bytes]:
    return [base64.b64decode(p.message, validate=True) for p in of_type(events, NewMessageEvent)]


def test_voice_reply_streams_pcm_pieces(talk: VoiceTalk):
    events = talk.spoken
    shown = describe(events)

    assert not of_type(events, ErrorEvent), shown
    assert isinstance(events[0], UserMessageAvailableEvent), shown
    assert events[0].user_message == TRANSCRIPT, shown
    complete = events[-1]
    assert isinstance(complete, InteractionCompleteEvent), shown
    assert complete.full_message == VOICE_REPLY, (
        f"interaction-complete carries the reply's text, even when it is spoken:\n{shown}"
    )
    assert len(of_type(events, InteractionCompleteEvent)) == 1, shown

    pieces = of_type(events, NewMessageEvent)
    assert pieces, f"no new-message piece:\n{shown}"
    assert {p.message_id for p in pieces} == {complete.message_id}, shown
    numbers = [p.sequence_number for p in pieces]
    assert all(a < b for a, b in zip(numbers, numbers[1:])), f"sequence numbers {numbers}"
    assert pieces[-1].stop is True, f"the last audio piece has stop=true:\n{shown}"
    assert all(not p.stop for p in pieces[:-1]), f"a piece follows one marked stop:\n{shown}"

    audio = audio_pieces(events)
    assert all(len(a) % 2 == 0 for a in audio), f"PCM16 pieces have an even length: {[len(a) for a in audio]}"
    assert sum(len(a) for a in audio) > 0, "the spoken reply has no audio"
    assert VOICE_REPLY not in "".join(p.message for p in pieces), "the pieces carry audio, not the text"


def test_voice_reply_is_spoken_a_sentence_at_a_time_in_the_agents_voice(talk: VoiceTalk):
    speeches = talk.spoken_speeches
    assert [s.get("input") for s in speeches] == VOICE_SENTENCES, (
        f"text-to-speech inputs: {[s.get('input') for s in speeches]}"
    )
    assert {s.get("voice") for s in speeches} == {ENGINE_VOICE}, (
        f"the agent's voice id {AGENT_VOICE_ID!r} maps to {ENGINE_VOICE!r} (COMPADRE_VOICE_VOICES): {speeches}"
    )
    assert {s.get("model") for s in speeches} == {TTS_MODEL}, speeches
    assert {s.get("response_format") for s in speeches} == {"wav"}, speeches

    # 22,050 Hz from the engine, 16 kHz on the wire: 320 frames per character.
    audio = [a for a in audio_pieces(talk.spoken) if a]
    expected = [PCM_BYTES_PER_CHAR * len(s) for s in VOICE_SENTENCES]
    assert len(audio) == len(expected), f"audio piece lengths {[len(a) for a in audio]}, expected {expected}"
    for got, want in zip((len(a) for a in audio), expected):
        assert abs(got - want) <= 4, (
            f"audio resampled to 16 kHz: {got} bytes for a sentence the engine spoke in "
            f"{want // 2 * TTS_RATE // 16_000} frames at 22,050 Hz (expected ~{want})"
        )
    assert any(any(a) for a in audio), "the audio is all silence: the engine's tone was lost"


def test_voice_reply_is_stored_with_its_text(voice_client: AmigoClient, talk: VoiceTalk):
    user = message_by_id(voice_client, talk.conversation_id, talk.spoken[0].message_id)
    assert user.format == Format.voice and user.message == TRANSCRIPT
    agent = message_by_id(voice_client, talk.conversation_id, talk.spoken[-1].message_id)
    assert agent.message_type == MessageType.agent_message
    assert agent.format == Format.voice, f"a spoken reply is stored with format voice, got {agent.format}"
    assert agent.message == VOICE_REPLY

    rows = [(t, text) for _, t, text in stored_messages(voice_client, talk.conversation_id)]
    assert rows == [
        ("agent-message", GREETING),
        ("user-message", TRANSCRIPT),
        ("agent-message", TEXT_REPLY),
        ("user-message", TRANSCRIPT),
        ("agent-message", VOICE_REPLY),
    ]


# --------------------------------------------------------------------------
# Message sources
# --------------------------------------------------------------------------


def check_source(source, voice_compadre: Compadre) -> None:
    assert source.content_type == "audio/wav", source
    assert source.expires_at.tzinfo is not None, source.expires_at
    assert source.expires_at > datetime.now(timezone.utc), f"the link is already expired: {source}"
    url = str(source.url)
    assert url.startswith(voice_compadre.server.base_url + "/"), (
        f"the link points at the server the client called ({voice_compadre.server.base_url}): {url}"
    )


@pytest.mark.parametrize("which", ["heard", "spoken"])
def test_user_message_source_is_the_wav_sent(
    voice_compadre: Compadre, voice_client: AmigoClient, talk: VoiceTalk, which: str
):
    message_id = getattr(talk, which)[0].message_id
    source = voice_client.conversations.get_message_source(talk.conversation_id, message_id)
    check_source(source, voice_compadre)

    status, content_type, body = fetch(str(source.url))
    assert status == 200, f"GET {source.url} (no credentials) -> {status}: {body[:200]!r}"
    assert content_type.startswith("audio/wav"), content_type
    assert body == USER_WAV, f"the source is the recording the client sent ({len(body)} vs {len(USER_WAV)} bytes)"


def test_agent_message_source_is_the_spoken_reply_as_wav(
    voice_compadre: Compadre, voice_client: AmigoClient, talk: VoiceTalk
):
    source = voice_client.conversations.get_message_source(
        talk.conversation_id, talk.spoken[-1].message_id
    )
    check_source(source, voice_compadre)

    status, content_type, body = fetch(str(source.url))
    assert status == 200, f"GET {source.url} (no credentials) -> {status}: {body[:200]!r}"
    assert content_type.startswith("audio/wav"), content_type
    assert body[:4] == b"RIFF" and body[8:12] == b"WAVE", f"not a WAV file: {body[:16]!r}"
    channels, width, rate, frames = read_wav(body)
    assert (channels, width, rate) == (1, 2, 16_000), (channels, width, rate)
    assert frames == b"".join(audio_pieces(talk.spoken)), (
        "the stored reply is the audio that was streamed, piece after piece"
    )


def test_source_link_is_signed(voice_client: AmigoClient, talk: VoiceTalk):
    source = voice_client.conversations.get_message_source(
        talk.conversation_id, talk.heard[0].message_id
    )
    parts = urllib.parse.urlsplit(str(source.url))
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert "signature" in query, f"the link carries a signature: {source.url}"
    query["signature"] = ("0" if query["signature"][0] != "0" else "1") + query["signature"][1:]
    tampered = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
    status, _, _ = fetch(tampered)
    assert status == 403, f"a link with a changed signature must be refused (403), got {status}"


def test_text_message_has_no_source(voice_client: AmigoClient, talk: VoiceTalk):
    with pytest.raises(BadRequestError) as info:
        voice_client.conversations.get_message_source(talk.conversation_id, talk.heard[-1].message_id)
    assert info.value.status_code == 400, (
        f"a text message has no source: expected 400, got {info.value.status_code}"
    )


# --------------------------------------------------------------------------
# A server without speech engines
# --------------------------------------------------------------------------


def test_server_without_speech_engines_refuses_voice(
    silent_compadre: Compadre, fake_openai: FakeOpenAI
):
    """A server without speech engines: voice input is 415, voice output 400, both raised by the
    SDK, and nothing is stored."""
    with silent_compadre.user_client() as client:
        conversation_id = greet(client, fake_openai, voice_service(client))
        before = stored_messages(client, conversation_id)

        with pytest.raises(AmigoError) as info:
            interact_voice(client, conversation_id, USER_WAV, "text")
        error = info.value
        assert error.status_code == 415, (
            f"voice input without a speech-to-text engine: expected 415, got "
            f"{error.status_code} ({type(error).__name__}: {error})"
        )
        assert isinstance(error, BadRequestError), (
            f"amigo-sdk maps an unlisted 4xx to BadRequestError, got {type(error).__name__}"
        )
        # (amigo-sdk 2.5.0 raises streaming errors before reading the body, so the exception
        # carries no server message: "HTTP 415 error".)

        with pytest.raises(BadRequestError) as info:
            list(client.conversations.interact_with_conversation(
                conversation_id,
                InteractWithConversationParametersQuery(request_format="text", response_format="voice"),
                text_message="Hello there.",
            ))
        assert info.value.status_code == 400, (
            f"voice output without a text-to-speech engine: expected 400, got {info.value.status_code}"
        )

        assert stored_messages(client, conversation_id) == before, "a refused interaction stored messages"

        # Text still works on this server.
        fake_openai.script({"when": "text", "text": TEXT_REPLY, "chunks": 2})
        events = interact(client, conversation_id, TRANSCRIPT)
        assert check_agent_message(events).full_message == TEXT_REPLY
