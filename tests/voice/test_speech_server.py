"""End-to-end check of scripts/speech-server.py with the real offline engines.

Uses the install of scripts/setup-voice (COMPADRE_VOICE_PYTHON / COMPADRE_VOICE_MODELS when set, else what
`scripts/setup-voice --check` reports); skips when it is missing (the VAD tests also when that install has
no VAD model). Needs only the standard library here: the server runs in the voice venv. About 6 s on 2 cores
(start ≈ 2 s, then a few requests; the VAD tests make ≈ 2,500 small requests on one keep-alive connection).

    python3 -m pytest -q tests/voice
"""

import http.client
import io
import json
import os
import random
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import wave

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER = os.path.join(REPO, "scripts", "speech-server.py")
SENTENCE = "Please book a visit for Tuesday morning."


def voice_install():
    """(python, models) of the cached install, or None."""
    python, models = os.environ.get("COMPADRE_VOICE_PYTHON"), os.environ.get("COMPADRE_VOICE_MODELS")
    if not (python and models):
        try:
            done = subprocess.run(
                [os.path.join(REPO, "scripts", "setup-voice"), "--check"], capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        if done.returncode != 0:
            return None
        found = {}
        for line in done.stdout.splitlines():
            m = re.match(r"export (COMPADRE_VOICE_\w+)=(.*)$", line)
            if m:
                found[m.group(1)] = shlex.split(m.group(2))[0]
        python, models = found.get("COMPADRE_VOICE_PYTHON"), found.get("COMPADRE_VOICE_MODELS")
    if python and models and os.access(python, os.X_OK) and os.path.isdir(models):
        return python, models
    return None


def running_server(*args: str):
    """A speech server on a free port with these extra arguments: yields its base URL, stops it (exit 0)."""
    install = voice_install()
    if install is None:
        pytest.skip("the offline speech engines are not installed: run scripts/setup-voice (about 30 s, from PyPI)")
    python, models = install
    process = subprocess.Popen(
        [python, SERVER, "--port", "0", "--models", models, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()  # blocks until ready (or the process exits)
        m = re.match(r"speech server ready on (http://127\.0\.0\.1:\d+)$", line.strip())
        if not m:
            process.kill()
            raise AssertionError(f"server did not start: {line!r}\n{process.stderr.read()}")
        yield m.group(1)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                assert process.wait(timeout=10) == 0, "the server should exit 0 on SIGTERM"
            except subprocess.TimeoutExpired:
                process.kill()
                raise


@pytest.fixture(scope="module")
def server():
    yield from running_server()


def post(url, body, content_type):
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def multipart(fields, file_bytes, filename):
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
        + file_bytes
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def words(text):
    return re.findall(r"[a-z0-9']+", text.lower())


def test_health(server):
    with urllib.request.urlopen(server + "/healthz", timeout=10) as response:
        assert response.status == 200
        assert json.loads(response.read()) == {"status": "ok"}


def word_errors(heard, said):
    """Word-level edit distance (substitutions, insertions, deletions)."""
    row = list(range(len(said) + 1))
    for i, h in enumerate(heard, 1):
        previous, row[0] = row[0], i
        for j, s in enumerate(said, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (h != s))
    return row[-1]


def test_speech_round_trip(server):
    # Piper samples its output (noise), and Whisper tiny.en mishears about one synthesis in ten of this
    # sentence ("Play a book of visit…"): up to three syntheses, one must come back with at most one word wrong.
    heard_all = []
    for _ in range(3):
        status, headers, audio = post(
            server + "/v1/audio/speech",
            json.dumps({"model": "tts-1", "input": SENTENCE, "voice": "joe", "response_format": "wav"}).encode(),
            "application/json",
        )
        assert status == 200, audio[:300]
        assert headers["Content-Type"] == "audio/wav"
        with wave.open(io.BytesIO(audio)) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 22050)
            seconds = w.getnframes() / w.getframerate()
        assert 1.0 < seconds < 5.0

        alignment = json.loads(headers["x-compadre-alignment"])
        assert "".join(c for _, c in alignment) == SENTENCE
        times = [ms for ms, _ in alignment]
        assert times == sorted(times) and 0 <= times[0] and times[-1] <= seconds * 1000

        body, content_type = multipart({"model": "whisper-1", "language": "eng"}, audio, "speech.wav")
        status, _, answer = post(server + "/v1/audio/transcriptions", body, content_type)
        assert status == 200, answer[:300]
        heard = json.loads(answer)["text"]
        heard_all.append(heard)
        if word_errors(words(heard), words(SENTENCE)) <= 1:
            return
    pytest.fail(f"said {SENTENCE!r}, heard {heard_all}")


def test_pcm_is_24khz(server):
    status, headers, audio = post(
        server + "/v1/audio/speech",
        json.dumps({"model": "tts-1", "input": "Okay.", "voice": "alloy", "response_format": "pcm"}).encode(),
        "application/json",
    )
    assert status == 200 and headers["Content-Type"] == "audio/pcm"
    assert headers["x-compadre-sample-rate"] == "24000"
    assert len(audio) % 2 == 0 and 0.2 < len(audio) / 2 / 24000 < 2.0


def test_not_audio_is_400(server):
    body, content_type = multipart({"model": "whisper-1"}, b"this is not audio at all\n" * 20, "notes.txt")
    status, _, answer = post(server + "/v1/audio/transcriptions", body, content_type)
    assert status == 400
    assert json.loads(answer)["error"]["message"]


# ------------------------------------------------------------------------------------- voice activity detection

FRAME = 512  # samples per VAD frame (32 ms at 16 kHz)


class Connection:
    """One keep-alive HTTP connection to the server."""

    def __init__(self, base):
        self.http = http.client.HTTPConnection(urllib.parse.urlsplit(base).netloc, timeout=60)

    def request(self, method, path, body=b""):
        self.http.request(method, path, body=body, headers={"Content-Type": "application/octet-stream"})
        response = self.http.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else None)

    def vad(self, stream, body, reset=False):
        status, answer = self.request("POST", f"/v1/audio/vad?stream={stream}" + ("&reset=1" if reset else ""), body)
        assert status == 200, answer
        assert answer["frame_samples"] == FRAME
        return answer["probabilities"]

    def feed(self, stream, audio, chunk):
        probabilities = []
        for start in range(0, len(audio), chunk):
            probabilities += self.vad(stream, audio[start:start + chunk])
        return probabilities

    def close(self):
        self.http.close()


@pytest.fixture(scope="module")
def vad(server):
    connection = Connection(server)
    status, answer = connection.request("POST", "/v1/audio/vad?stream=probe&reset=1")
    if status == 404:
        connection.close()
        pytest.skip(f"this install has no VAD model (run scripts/setup-voice): {answer}")
    assert status == 200 and answer == {"frame_samples": FRAME, "probabilities": []}, answer
    connection.request("DELETE", "/v1/audio/vad?stream=probe")
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def speech_16k(server):
    """(silence 1 s + the sentence spoken + silence 1 s as PCM16 LE mono 16 kHz bytes, seconds of speech)."""
    status, headers, speech = post(
        server + "/v1/audio/speech",
        json.dumps({"input": SENTENCE, "response_format": "pcm", "sample_rate": 16000}).encode(),
        "application/json",
    )
    assert status == 200 and headers["x-compadre-sample-rate"] == "16000"
    # Faint noise rather than digital zeros for the silence (± 16 of 32768: -66 dBFS).
    rng = random.Random(7)
    silence = b"".join(rng.randint(-16, 16).to_bytes(2, "little", signed=True) for _ in range(16000))
    return silence + speech + silence, len(speech) / 2 / 16000


def test_vad_finds_the_speech(vad, speech_16k):
    audio, seconds = speech_16k
    frames = len(audio) // 2 // FRAME
    chunked = vad.feed("chunked", audio, 640)  # 20 ms per call
    assert len(chunked) == frames

    def span(t0, t1):
        """The probabilities of the frames wholly inside [t0, t1) seconds."""
        return [p for i, p in enumerate(chunked) if t0 <= i * FRAME / 16000 and (i + 1) * FRAME / 16000 <= t1]

    before, during, after = span(0, 0.8), span(1.0, 1.0 + seconds), span(1.2 + seconds, 1e9)
    assert len(before) >= 24 and len(after) >= 24 and len(during) >= 30
    assert max(before) < 0.5, before
    assert max(after) < 0.5, after
    assert sum(p > 0.5 for p in during) >= 0.8 * len(during), during

    # All at once, and in odd-sized pieces (a sample split across calls): the same frames, the same result.
    for name, chunk in (("whole", len(audio)), ("odd", 1001)):
        again = vad.feed(name, audio, chunk)
        assert len(again) == frames
        assert max(abs(a - b) for a, b in zip(again, chunked)) < 1e-3, name
    for name in ("chunked", "whole", "odd"):
        assert vad.request("DELETE", f"/v1/audio/vad?stream={name}") == (204, None)


def test_vad_reset_and_delete(vad, speech_16k):
    audio, _ = speech_16k
    part = audio[:40 * 2 * FRAME]  # 1 s of silence, then the first 0.28 s of speech
    fresh = vad.vad("fresh", part)
    assert len(fresh) == 40

    vad.vad("reused", audio[len(audio) // 2:][: 30 * 2 * FRAME + 301])  # some state, context and a partial frame
    assert vad.vad("reused", part, reset=True) == fresh  # reset: as a new stream
    vad.vad("reused", b"\x01" * 333)
    assert len(vad.vad("reused", bytes(2 * FRAME), reset=True)) == 1  # the partial frame went with the reset

    assert vad.request("DELETE", "/v1/audio/vad?stream=reused") == (204, None)
    assert vad.vad("reused", part) == fresh  # forgotten: starts again from nothing
    for name in ("reused", "fresh", "never-used"):
        assert vad.request("DELETE", f"/v1/audio/vad?stream={name}") == (204, None)


def test_vad_bad_requests(vad):
    for path in ("/v1/audio/vad", "/v1/audio/vad?stream=", "/v1/audio/vad?other=1"):
        status, answer = vad.request("POST", path, bytes(1024))
        assert status == 400 and "stream" in answer["error"]["message"], (path, answer)
    status, answer = vad.request("POST", "/v1/audio/vad?stream=big", bytes(1024 * 1024 + 2))
    assert status == 400 and answer["error"]["message"], answer
    assert len(vad.vad("big", bytes(1024 * 1024))) == 1024  # 1 MiB is allowed; the connection still works
    assert vad.request("DELETE", "/v1/audio/vad")[0] == 400
    assert vad.request("DELETE", "/v1/audio/vad?stream=big") == (204, None)


def test_vad_stream_limit(vad):
    names = [f"limit-{i}" for i in range(1000)]
    try:
        for name in names:
            assert vad.vad(name, b"") == []
        status, answer = vad.request("POST", "/v1/audio/vad?stream=one-too-many", b"")
        assert status == 429 and answer["error"]["code"] == "rate_limit_exceeded", answer
        assert vad.vad(names[0], bytes(2 * FRAME)) != []  # existing streams still work
    finally:
        for name in names:
            vad.request("DELETE", f"/v1/audio/vad?stream={name}")
    assert vad.vad("one-too-many", b"") == []
    vad.request("DELETE", "/v1/audio/vad?stream=one-too-many")


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


@pytest.fixture(scope="module")
def turn_server():
    """A server with the end-of-turn model (and the voice, to make speech with)."""
    install = voice_install()
    if install is not None and not os.path.isfile(os.path.join(install[1], "smart-turn", "smart-turn-v3.2-cpu.onnx")):
        pytest.skip("this install has no end-of-turn model (run scripts/setup-voice)")
    yield from running_server("--engines", "tts,turn")


def test_end_of_turn_tells_a_finished_question_from_a_sentence_cut_off(turn_server):
    def spoken(text):
        status, _, pcm = post(
            turn_server + "/v1/audio/speech",
            json.dumps({"input": text, "response_format": "pcm", "sample_rate": 16000}).encode(), "application/json",
        )
        assert status == 200
        return pcm + bytes(2 * 3200)  # and 200 ms of silence, as the server asks after that much

    def judged(audio):
        status, _, body = post(turn_server + "/v1/audio/turn", audio, "application/octet-stream")
        assert status == 200, body
        answer = json.loads(body)
        assert answer["complete"] == (answer["probability"] >= 0.5)
        return answer["probability"]

    # Measured with the Piper voice: 6 of 8 phrases judged right (Piper ends every phrase with a falling
    # tone, so some cut-off ones sound finished); these two are far from the line.
    assert judged(spoken("What time do you open tomorrow?")) > 0.8
    assert judged(spoken("I was wondering if maybe")) < 0.2
    # Only the last 8 s count: 10 s of silence before the question changes nothing much.
    question = spoken("What time do you open tomorrow?")
    assert abs(judged(bytes(2 * 160_000) + question) - judged(question)) < 0.05


def test_end_of_turn_bad_requests(turn_server, server):
    for body in (b"", b"\x01\x02\x03"):
        status, _, answer = post(turn_server + "/v1/audio/turn", body, "application/octet-stream")
        assert status == 400 and json.loads(answer)["error"]["message"], answer
    status, _, answer = post(turn_server + "/v1/audio/turn", bytes(1024 * 1024 + 2), "application/octet-stream")
    assert status == 413 or status == 400, answer
    # A server started without the engine says how to get it.
    status, _, answer = post(server + "/v1/audio/turn", bytes(3200), "application/octet-stream")
    assert status == 404 and "turn" in json.loads(answer)["error"]["message"]


def test_encode_makes_mp3_frames_that_decode_to_the_same_length(server, speech_16k):
    audio, _ = speech_16k
    status, headers, mp3 = post(server + "/v1/audio/encode?format=mp3", audio, "application/octet-stream")
    assert status == 200 and headers["Content-Type"] == "audio/mpeg"
    # Whole MPEG-2 Layer III frames at 16 kHz (576 samples each), from the first byte (no ID3 tag) to the last.
    bitrates = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160]
    offset, frames = 0, 0
    while offset < len(mp3):
        header = mp3[offset:offset + 4]
        assert header[0] == 0xFF and header[1] & 0xFE == 0xF2, (offset, header.hex())  # sync, MPEG-2, Layer III
        assert (header[2] >> 2) & 3 == 2  # 16 kHz
        offset += 72 * bitrates[header[2] >> 4] * 1000 // 16000 + ((header[2] >> 1) & 1)
        frames += 1
    assert offset == len(mp3)
    decoded = frames * 576
    samples = len(audio) // 2
    assert samples <= decoded <= samples + 3 * 576, (samples, decoded)  # encoder delay and the last frame's padding
    for body, path in ((b"", "format=mp3"), (b"\x01\x02\x03", "format=mp3"), (bytes(640), "format=ogg")):
        status, _, answer = post(server + "/v1/audio/encode?" + path, body, "application/octet-stream")
        assert status == 400 and json.loads(answer)["error"]["message"], answer
