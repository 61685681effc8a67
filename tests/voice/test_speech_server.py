"""End-to-end check of scripts/speech-server.py with the real offline engines.

Uses the install of scripts/setup-voice (COMPADRE_VOICE_PYTHON / COMPADRE_VOICE_MODELS when set, else what
`scripts/setup-voice --check` reports); skips when it is missing. Needs only the standard library here:
the server runs in the voice venv. About 3 s on 2 cores (start ≈ 2 s, then a few requests).

    python3 -m pytest -q tests/voice
"""

import io
import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.error
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


@pytest.fixture(scope="module")
def server():
    install = voice_install()
    if install is None:
        pytest.skip("the offline speech engines are not installed: run scripts/setup-voice (about 30 s, from PyPI)")
    python, models = install
    process = subprocess.Popen(
        [python, SERVER, "--port", "0", "--models", models],
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


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
