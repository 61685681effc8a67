"""A server asked to stop (SIGTERM) while it works.

The grace period is 1 s here (COMPADRE_SHUTDOWN_GRACE_SECONDS). An interaction
that ends within it completes and is stored; one still running when it is over
is cut and stores nothing; an open realtime socket is closed with 1001 (going
away); the process exits 0 either way.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest

from conftest import Compadre, _start_compadre
from conversation_helpers import (
    Blueprint,
    check_agent_message,
    raw_interact_lines,
    start_conversation,
    stored_messages,
)
from fake_openai import FakeOpenAI
from test_scale_out import Socket

GREETING = "Hello, I stop gracefully."
QUESTION = "Tell me something."
SHORT_REPLY = "A short answer that ends in time."
LONG_REPLY = " ".join(f"word{i}" for i in range(1, 21)) + "."


@pytest.fixture
def server_with_grace(compadre_bin: Path, db_backend: str, tmp_path: Path, fake_openai: FakeOpenAI):
    instance = _start_compadre(
        compadre_bin, db_backend, tmp_path, extra_env={"COMPADRE_SHUTDOWN_GRACE_SECONDS": "1"}
    )
    try:
        yield instance
    finally:
        instance.server.stop()


def _conversation(compadre: Compadre, fake: FakeOpenAI) -> tuple[str, str, list]:
    with compadre.client() as client:
        service_id = Blueprint(client).new_service(client)
        fake.script({"when": "text", "text": GREETING})
        created = start_conversation(client, service_id)
        check_agent_message(created)
        cid = created[0].conversation_id
        token = client._http._ensure_token()
        return cid, token, stored_messages(client, cid)


def _interact_in_background(compadre: Compadre, token: str, cid: str):
    lines: list[dict] = []
    failure: list[BaseException] = []
    speaking = threading.Event()

    def read() -> None:
        try:
            for line in raw_interact_lines(compadre.server.base_url, compadre.org, token, cid, QUESTION):
                lines.append(line)
                if line.get("type") == "new-message":
                    speaking.set()
        except BaseException as exc:
            failure.append(exc)
        speaking.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader, lines, failure, speaking


def _terminate(compadre: Compadre) -> int:
    """SIGTERM; the exit code (the server must exit by itself, well within 15 s)."""
    proc = compadre.server.proc
    assert proc is not None
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=15)
    compadre.server.proc = None
    return code


def _terminate_while_answering(
    compadre: Compadre, fake: FakeOpenAI, reply: str, chunks: int, delay: float
) -> tuple[str, list, list[dict]]:
    """A conversation whose next reply streams `chunks` pieces `delay` apart; SIGTERM once the first
    piece arrived. Returns the conversation, its messages before, and the lines the client read."""
    cid, token, before = _conversation(compadre, fake)
    fake.script({"when": "text", "text": reply, "chunks": chunks, "delay": delay})
    reader, lines, failure, speaking = _interact_in_background(compadre, token, cid)
    assert speaking.wait(timeout=60), f"no new-message; lines: {lines}, failure: {failure}"
    assert _terminate(compadre) == 0, compadre.server.log_tail()
    reader.join(timeout=15)
    return cid, before, lines


def test_an_interaction_that_ends_within_the_grace_period_completes_and_is_stored(
    server_with_grace: Compadre, fake_openai: FakeOpenAI
):
    compadre = server_with_grace
    # 4 pieces, 0.15 s apart: about 0.6 s, inside the 1 s grace period.
    cid, before, lines = _terminate_while_answering(compadre, fake_openai, SHORT_REPLY, chunks=4, delay=0.15)
    types = [line.get("type") for line in lines]
    assert types[-1] == "interaction-complete", f"{types}\n{compadre.server.log_tail()}"
    assert lines[-1]["full_message"] == SHORT_REPLY

    compadre.server.start()
    fake_openai.reset()
    with compadre.client() as client:
        after = [(t, text) for _, t, text in stored_messages(client, cid)]
    assert after == [(t, text) for _, t, text in before] + [
        ("user-message", QUESTION),
        ("agent-message", SHORT_REPLY),
    ]


def test_an_interaction_still_running_after_the_grace_period_is_cut_and_stores_nothing(
    server_with_grace: Compadre, fake_openai: FakeOpenAI
):
    compadre = server_with_grace
    # 20 pieces, 0.5 s apart: 10 s, far beyond the grace period.
    cid, before, lines = _terminate_while_answering(compadre, fake_openai, LONG_REPLY, chunks=20, delay=0.5)
    types = [line.get("type") for line in lines]
    assert "interaction-complete" not in types, types
    assert types[-1] == "error", f"the stream must end with an error event: {types}"
    assert lines[-1]["http_error_code"] == 503, lines[-1]

    compadre.server.start()
    fake_openai.reset()
    with compadre.client() as client:
        assert stored_messages(client, cid) == before, "a cut interaction stores nothing"


def test_an_open_realtime_socket_is_closed_with_going_away(
    server_with_grace: Compadre, fake_openai: FakeOpenAI
):
    compadre = server_with_grace
    cid, token, _ = _conversation(compadre, fake_openai)
    with Socket(compadre.server, compadre.org, token, "socket") as socket:
        socket.send(type="client.continue-conversation", conversation_id=cid)
        socket.next("server.conversation-continued")
        proc = compadre.server.proc
        assert proc is not None
        proc.send_signal(signal.SIGTERM)
        assert socket.wait_closed() == 1001, socket.transcript()
    assert proc.wait(timeout=15) == 0, compadre.server.log_tail()
    compadre.server.proc = None
