"""`compadre replay`: a recorded conversation replayed against a version set, the diff printed.

The server plays the conversation's user turns under a synthetic user (the real user's conversation
stays unfinished and theirs), and the command prints the interactions side by side.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import Compadre
from conversation_helpers import Blueprint, get_conversation, interact, start_conversation
from fake_openai import FakeOpenAI


def run_replay(compadre: Compadre, compadre_bin: Path, *args: str) -> subprocess.CompletedProcess:
    creds = compadre.credentials
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMIGO_")}
    return subprocess.run(
        [str(compadre_bin), "replay", *args, "--url", compadre.server.base_url, "--org", creds.organization_id,
         f"--api-key={creds.api_key}", "--api-key-id", creds.api_key_id, "--user-id", creds.user_id],
        env=env, capture_output=True, text=True, timeout=120,
    )


def test_replay_prints_the_interactions_side_by_side(compadre: Compadre, compadre_bin: Path, fake_openai: FakeOpenAI) -> None:
    with compadre.client() as client:
        service_id = Blueprint(client).new_service(client)
        events = start_conversation(client, service_id)
        conversation_id = next(e.conversation_id for e in events if getattr(e, "type", "") == "conversation-created")
        interact(client, conversation_id, "My knee hurts when I run")

        done = run_replay(compadre, compadre_bin, conversation_id, "--version-set", "release")
        assert done.returncode == 0, done.stderr
        assert f"of conversation {conversation_id} on version set `release`" in done.stdout
        assert "No divergence" in done.stdout
        assert "= Interaction 2" in done.stdout
        assert "user: My knee hurts when I run" in done.stdout

        as_json = run_replay(compadre, compadre_bin, conversation_id, "--version-set", "release", "--json")
        assert as_json.returncode == 0, as_json.stderr
        report = json.loads(as_json.stdout)
        assert report["status"] == "completed"
        assert report["conversation_id"] == conversation_id
        assert [step["input"] for step in report["steps"]] == [[], ["user: My knee hurts when I run"]]
        assert report["replay_conversation_id"] not in (None, conversation_id)
        # The user's own conversation is untouched: still unfinished, still theirs.
        assert get_conversation(client, conversation_id).is_finished is False

        missing = run_replay(compadre, compadre_bin, conversation_id, "--version-set", "no-such-set")
        assert missing.returncode == 1
        assert "404" in missing.stderr or "no version set" in missing.stderr.lower()
