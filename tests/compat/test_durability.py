"""A server killed in the middle of an interaction.

The process dies (SIGKILL: no shutdown hook runs) while the agent's answer is
streaming. A new process on the same database must show the conversation as
it was before that interaction: no user message, no partial answer, not
finished, and ready for the next interaction (no lock left behind).
"""

from __future__ import annotations

import threading
import time

from amigo_sdk.errors import ConflictError

import pytest

from conftest import Compadre
from conversation_helpers import (
    Blueprint,
    check_agent_message,
    get_conversation,
    interact,
    raw_interact_lines,
    start_conversation,
    stored_messages,
)
from fake_openai import FakeOpenAI

GREETING = "Hello, I will survive crashes."
LONG_REPLY = " ".join(f"word{i}" for i in range(1, 41)) + "."
QUESTION = "Tell me a long story."
AFTER_RESTART = "I am back."


def test_kill_during_interaction_keeps_conversation_as_before(
    fresh_compadre: Compadre, fake_openai: FakeOpenAI
):
    server = fresh_compadre.server
    with fresh_compadre.client() as client:
        service_id = Blueprint(client).new_service(client)
        fake_openai.script({"when": "text", "text": GREETING})
        created = start_conversation(client, service_id)
        check_agent_message(created)
        cid = created[0].conversation_id
        before = stored_messages(client, cid)
        token = client._http._ensure_token()
    assert [(t, text) for _, t, text in before] == [("agent-message", GREETING)]

    # A slow answer: 20 pieces, 0.5 s apart (10 s in all).
    fake_openai.script({"when": "text", "text": LONG_REPLY, "chunks": 20, "delay": 0.5})
    lines: list[dict] = []
    failure: list[BaseException] = []
    speaking = threading.Event()

    def read_stream() -> None:
        try:
            for line in raw_interact_lines(server.base_url, fresh_compadre.org, token, cid, QUESTION):
                lines.append(line)
                if line.get("type") == "new-message":
                    speaking.set()
        except BaseException as exc:  # the connection drops when the server dies
            failure.append(exc)

    reader = threading.Thread(target=read_stream, daemon=True)
    reader.start()
    if not speaking.wait(timeout=60):
        pytest.fail(
            f"no new-message within 60 s (failure: {failure!r}); lines so far: {lines}\n"
            f"--- server log ---\n{server.log_tail()}"
        )

    server.kill()
    reader.join(timeout=30)
    assert not reader.is_alive(), "the client stream did not end when the server died"
    types = [line.get("type") for line in lines]
    assert "interaction-complete" not in types, (
        f"the interaction finished before the kill (the test needs it mid-stream): {types}"
    )

    server.start()  # same database, new process
    fake_openai.reset()

    with fresh_compadre.client() as client:
        assert stored_messages(client, cid) == before, (
            "after the crash, the conversation must hold exactly the messages from "
            "before the interrupted interaction (no user message, no partial answer)"
        )
        conversation = get_conversation(client, cid)
        assert conversation.is_finished is False
        assert conversation.num_messages == len(before)

        fake_openai.script({"when": "text", "text": AFTER_RESTART})
        # On SQLite the restarted server clears the dead process's lease at start; on PostgreSQL (shared
        # by replicas) it expires COMPADRE_LEASE_SECONDS after the crash. Until then: 409, nothing stored.
        deadline = time.monotonic() + 10
        while True:
            try:
                events = interact(client, cid, "Are you still there?")
                break
            except ConflictError:
                assert time.monotonic() < deadline, "the crashed process's lease never expired"
                assert stored_messages(client, cid) == before
                time.sleep(0.25)
        complete = check_agent_message(events)
        assert complete.full_message == AFTER_RESTART
        assert [(t, text) for _, t, text in stored_messages(client, cid)] == [
            ("agent-message", GREETING),
            ("user-message", "Are you still there?"),
            ("agent-message", AFTER_RESTART),
        ]
