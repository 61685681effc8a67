"""`compadre chat` driven through a pseudo-terminal, as a person at a terminal would use it.

The chat signs in with the API key `compadre init` printed, starts a conversation on the service,
streams the agent's reply, and understands /insights, /events, /finish and /quit.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path

from amigo_sdk.generated.model import GetConversationsParametersQuery

from conftest import Compadre
from conversation_helpers import Blueprint, stored_messages
from fake_openai import FakeOpenAI

ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Terminal:
    """A process on a pseudo-terminal: type lines, read what it printed."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
        os.close(slave)
        self.seen = ""

    def read_until(self, needle: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while needle not in ANSI.sub("", self.seen):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {needle!r}; the terminal shows:\n{ANSI.sub('', self.seen)}")
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"the chat exited; it showed:\n{ANSI.sub('', self.seen)}")
                self.seen += chunk.decode(errors="replace")
        return ANSI.sub("", self.seen)

    def type(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    def close(self) -> int:
        try:
            return self.proc.wait(timeout=20)
        finally:
            os.close(self.master)


def test_chat_in_a_terminal(compadre: Compadre, compadre_bin: Path, fake_openai: FakeOpenAI) -> None:
    with compadre.client() as client:
        service_id = Blueprint(client).new_service(client)
    creds = compadre.credentials
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMIGO_")}
    env.update({"TERM": "xterm"})
    fake_openai.script({"when": "text", "text": "Welcome to the clinic!"})
    term = Terminal(
        [str(compadre_bin), "chat", "--url", compadre.server.base_url, "--org", creds.organization_id,
         f"--api-key={creds.api_key}", "--api-key-id", creds.api_key_id, "--user-id", creds.user_id,
         "--service", service_id, "--new"],
        env,
    )
    try:
        term.read_until("Welcome to the clinic!")
        term.read_until("you ›")

        fake_openai.script({"when": "text", "text": "Tuesday works."})
        term.type("Can I come on Tuesday?")
        shown = term.read_until("Tuesday works.")
        assert "action" in shown, "agent actions are shown (dimmed) while the agent works"

        term.type("/insights")
        term.read_until("state: start")

        fake_openai.script({"when": "text", "text": "I see the lab results."})
        term.type("/events Lab results arrived")
        term.read_until("I see the lab results.")

        term.type("/finish")
        term.read_until("conversation finished")
        term.type("/quit")
        assert term.close() == 0
    finally:
        if term.proc.poll() is None:
            term.proc.kill()

    with compadre.client() as client:
        conversations = client.conversations.get_conversations(
            GetConversationsParametersQuery(service_id=[service_id])
        ).conversations
        assert len(conversations) == 1 and conversations[0].is_finished
        kinds = [kind for _, kind, _ in stored_messages(client, conversations[0].id)]
        assert kinds == ["agent-message", "user-message", "agent-message", "external-event", "agent-message"], kinds
