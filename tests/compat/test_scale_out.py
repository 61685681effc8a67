"""Scale-out: two `compadre serve` processes sharing one PostgreSQL database.

A load balancer may send a user's requests to either replica, so the rules
that keep a conversation consistent must hold across processes, not just
inside one:

* one operation at a time per conversation: an interact through server B
  while server A is streaming a reply for the same conversation is 409, and
  stores nothing;
* one realtime connection per user and service: a socket on B for the same
  user and service as an open socket on A is closed with 4009;
* a crashed replica does not lock users out for good: its leases expire
  COMPADRE_LEASE_SECONDS (3 s here) after their last renewal, then B takes
  over the conversation.

PostgreSQL only (SQLite is single-process by nature): the module is skipped
when COMPADRE_TEST_POSTGRES_URL is unset. It makes a database of its own on
that server (CREATE DATABASE through `psql`) and drops it at the end.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.parse
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from amigo_sdk import AmigoClient
from amigo_sdk.errors import ConflictError
from amigo_sdk.generated.model import NewMessageEvent

from conftest import (
    CLI_TIMEOUT_S,
    CompadreServer,
    Credentials,
    database_url_for,
    init_org,
    random_org_id,
)
from conversation_helpers import (
    BackgroundInteraction,
    Blueprint,
    check_agent_message,
    describe,
    interact,
    of_type,
    start_conversation,
    stored_messages,
)
from fake_openai import FakeOpenAI

pytestmark = pytest.mark.skipif(
    not os.environ.get("COMPADRE_TEST_POSTGRES_URL"),
    reason=(
        "scale-out needs a PostgreSQL database both servers share: set "
        "COMPADRE_TEST_POSTGRES_URL (eval \"$(scripts/postgres-up)\" starts one)"
    ),
)

LEASE_SECONDS = 3
GREETING = "Hello from whichever replica you reached."
SLOW_REPLY = "One, two, three, four, five, six, seven, eight, nine, ten."
REPLY = "Server B answers just as well."


def say(fake: FakeOpenAI, text: str, chunks: int = 4, delay: float | None = None) -> None:
    """Script the agent's next message (the next plain-text model request)."""
    reply: dict[str, Any] = {"when": "text", "text": text, "chunks": chunks}
    if delay is not None:
        reply["delay"] = delay
    fake.script(reply)


# --------------------------------------------------------------------------
# A fresh database on the test PostgreSQL server
# --------------------------------------------------------------------------


def _psql(url: str, sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def shared_database_url(tmp_path_factory: pytest.TempPathFactory):
    """postgres://… of a database made for this module (dropped afterwards)."""
    base = database_url_for("postgres", tmp_path_factory.mktemp("scale-out-db"))
    if shutil.which("psql") is None:
        pytest.skip("scale-out tests create their own database with `psql`, which is not installed")
    name = "compadre_scale_out_" + secrets.token_hex(4)
    created = _psql(base, f'CREATE DATABASE "{name}"')
    if created.returncode != 0:
        pytest.fail(
            f"cannot create database {name} on {base} (the role needs CREATEDB):\n{created.stderr}",
            pytrace=False,
        )
    parts = urllib.parse.urlsplit(base)
    url = urllib.parse.urlunsplit(parts._replace(path="/" + name))
    try:
        yield url
    finally:
        # Both servers are stopped by now; FORCE also ends a connection a
        # killed server's pool might have left for the backend to notice.
        dropped = _psql(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if dropped.returncode != 0:
            _psql(base, f'DROP DATABASE IF EXISTS "{name}"')


# --------------------------------------------------------------------------
# Two servers on that database
# --------------------------------------------------------------------------


@dataclass
class Replicas:
    a: CompadreServer
    b: CompadreServer
    credentials: Credentials
    org: str

    def client(self, server: CompadreServer) -> AmigoClient:
        return AmigoClient(
            api_key=self.credentials.api_key,
            api_key_id=self.credentials.api_key_id,
            user_id=self.credentials.user_id,
            organization_id=self.credentials.organization_id,
            base_url=server.base_url,
        )

    def logs(self) -> str:
        return (
            f"--- server A log ---\n{self.a.log_tail(40)}\n"
            f"--- server B log ---\n{self.b.log_tail(40)}"
        )


@pytest.fixture(scope="module")
def replicas(
    compadre_bin: Path,
    shared_database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    fake_openai: FakeOpenAI,
):
    """Servers A and B: two processes, one database, leases of 3 s."""
    org = random_org_id()
    credentials = init_org(compadre_bin, org, shared_database_url)
    env = {"COMPADRE_LEASE_SECONDS": str(LEASE_SECONDS)}
    a = CompadreServer(compadre_bin, shared_database_url, tmp_path_factory.mktemp("server-a"), env)
    b = CompadreServer(compadre_bin, shared_database_url, tmp_path_factory.mktemp("server-b"), env)
    try:
        a.start()
        b.start()
        yield Replicas(a=a, b=b, credentials=credentials, org=org)
    finally:
        a.stop()
        b.stop()


@pytest.fixture(scope="module")
def blueprint(replicas: Replicas) -> Blueprint:
    with replicas.client(replicas.a) as client:
        return Blueprint(client)


# --------------------------------------------------------------------------
# Realtime sockets
# --------------------------------------------------------------------------


def sign_in(server: CompadreServer, credentials: Credentials) -> str:
    """A JWT from POST /v1/{org}/user/signin_with_api_key."""
    resp = httpx.post(
        f"{server.base_url}/v1/{credentials.organization_id}/user/signin_with_api_key",
        headers={
            "x-api-key": credentials.api_key,
            "x-api-key-id": credentials.api_key_id,
            "x-user-id": credentials.user_id,
        },
        timeout=30,
    )
    assert resp.status_code == 200, f"sign-in -> HTTP {resp.status_code}: {resp.text}"
    return resp.json()["id_token"]


class Socket:
    """A realtime connection (`converse_realtime`, text) with a transcript of
    what it received, for assertion messages. Use it in a `with` block."""

    def __init__(self, server: CompadreServer, org: str, token: str, name: str) -> None:
        self.name = name
        self.received: list[dict] = []
        self.close_code: int | None = None
        url = (
            f"ws://127.0.0.1:{server.port}/v1/{org}/conversation/converse_realtime"
            "?response_format=text"
        )
        protocol = f"bearer.authorization.amigo.ai.{token}"
        self._stack = ExitStack()
        self.ws: ClientConnection = self._stack.enter_context(
            connect(url, subprotocols=[protocol], open_timeout=15, close_timeout=5)
        )
        assert self.ws.subprotocol == protocol, (
            f"{name}: the server must echo the bearer subprotocol, got {self.ws.subprotocol!r}"
        )

    def send(self, **message: Any) -> None:
        self.ws.send(json.dumps(message))

    def transcript(self) -> str:
        lines = [f"  {m.get('type')}: {json.dumps(m)[:160]}" for m in self.received]
        if self.close_code is not None:
            lines.append(f"  (closed {self.close_code})")
        return "\n".join(lines) or "  (nothing received)"

    def _recv(self, timeout: float) -> dict | None:
        """The next frame, or None once the socket is closed (close_code set)."""
        try:
            frame = self.ws.recv(timeout=timeout)
        except ConnectionClosed as closed:
            self.close_code = closed.rcvd.code if closed.rcvd is not None else None
            return None
        message = json.loads(frame)
        self.received.append(message)
        return message

    def next(self, kind: str, timeout: float = 30.0) -> dict:
        """Reads until a `kind` frame arrives; fails on close, server.error or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                message = self._recv(max(left, 0.01))
            except TimeoutError:
                raise AssertionError(
                    f"{self.name}: no {kind} within {timeout:.0f} s; received:\n{self.transcript()}"
                ) from None
            if message is None:
                raise AssertionError(
                    f"{self.name}: the socket closed with {self.close_code} while waiting "
                    f"for {kind}; received:\n{self.transcript()}"
                )
            if message.get("type") == kind:
                return message
            if message.get("type") == "server.error":
                raise AssertionError(
                    f"{self.name}: server.error while waiting for {kind}; received:\n{self.transcript()}"
                )

    def wait_closed(self, timeout: float = 15.0) -> int | None:
        """Reads until the server closes the socket; returns the close code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self._recv(max(deadline - time.monotonic(), 0.01)) is None:
                    return self.close_code
            except TimeoutError:
                break
        raise AssertionError(
            f"{self.name}: the server did not close the socket within {timeout:.0f} s; "
            f"received:\n{self.transcript()}"
        )

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> "Socket":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def refused_with(
    replicas: Replicas, server: CompadreServer, token: str, name: str, **start: Any
) -> tuple[int | None, list[dict]]:
    """Opens a socket, sends one start/continue message, returns (close code, frames)."""
    with Socket(server, replicas.org, token, name) as socket:
        socket.send(**start)
        code = socket.wait_closed()
        return code, socket.received


def start_on(socket: Socket, service_id: str) -> str:
    """client.start-conversation, then the agent's greeting to the end; the conversation id."""
    socket.send(type="client.start-conversation", service_id=service_id)
    created = socket.next("server.conversation-created")
    complete = socket.next("server.interaction-complete")
    assert complete["full_message"] == GREETING, socket.transcript()
    return created["conversation_id"]


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------


def test_interact_on_b_while_a_streams_is_409_and_stores_nothing(
    replicas: Replicas, blueprint: Blueprint, fake_openai: FakeOpenAI
):
    with replicas.client(replicas.a) as on_a, replicas.client(replicas.b) as on_b:
        service_id = blueprint.new_service(on_a)
        say(fake_openai, GREETING)
        created = start_conversation(on_a, service_id)
        check_agent_message(created)
        cid = created[0].conversation_id
        on_b._http._ensure_token()  # signed in before the race starts

        # A streams a slow reply (10 pieces, 0.3 s apart) in a thread.
        say(fake_openai, SLOW_REPLY, chunks=10, delay=0.3)
        slow = BackgroundInteraction(on_a, cid, "Count to ten, slowly.").start(replicas.logs())
        try:
            try:
                second = interact(on_b, cid, "Are you there?")
            except ConflictError as exc:
                assert exc.status_code == 409
            else:
                pytest.fail(
                    "server B accepted an interact while server A was streaming a reply "
                    "for the same conversation: the 'one operation at a time' rule does "
                    f"not hold across processes (A still streaming when B returned: "
                    f"{not slow.done.is_set()}):\n{describe(second)}"
                )
            assert not slow.done.is_set(), (
                "A's reply finished before B's interact was rejected: the 409 above "
                "proves nothing about the race; make the reply slower"
            )
        finally:
            slow.join()

        assert check_agent_message(slow.events).full_message == SLOW_REPLY
        assert len(of_type(slow.events, NewMessageEvent)) >= 2, describe(slow.events)

        # B reads the same database: it sees A's interaction, and nothing of its own.
        assert [(t, text) for _, t, text in stored_messages(on_b, cid)] == [
            ("agent-message", GREETING),
            ("user-message", "Count to ten, slowly."),
            ("agent-message", SLOW_REPLY),
        ], "the interact B rejected stored nothing (no 'Are you there?')"

        # A's stream is over: B takes the next interaction.
        say(fake_openai, REPLY)
        events = interact(on_b, cid, "Are you there now?")
        assert check_agent_message(events).full_message == REPLY
        assert [(t, text) for _, t, text in stored_messages(on_a, cid)][-2:] == [
            ("user-message", "Are you there now?"),
            ("agent-message", REPLY),
        ], "A sees the interaction B ran"


def test_second_realtime_connection_on_b_is_4009(
    replicas: Replicas, blueprint: Blueprint, fake_openai: FakeOpenAI
):
    with replicas.client(replicas.a) as client:
        service_id = blueprint.new_service(client)
    # One sign-in, on A: the token is accepted by B too (the signing secret is
    # in the shared database).
    token = sign_in(replicas.a, replicas.credentials)

    say(fake_openai, GREETING)
    with Socket(replicas.a, replicas.org, token, "socket on A") as first:
        cid = start_on(first, service_id)

        code, frames = refused_with(
            replicas, replicas.b, token, "start on B",
            type="client.start-conversation", service_id=service_id,
        )
        assert code == 4009, (
            f"a second socket (on server B) starting a conversation for the service whose "
            f"socket is open on server A must be closed with 4009, got {code}; it received "
            f"{frames}\n{replicas.logs()}"
        )
        assert not [f for f in frames if f.get("type") == "server.conversation-created"], frames

        code, frames = refused_with(
            replicas, replicas.b, token, "continue on B",
            type="client.continue-conversation", conversation_id=cid,
        )
        assert code == 4009, (
            f"a second socket (on server B) continuing the conversation open on server A "
            f"must be closed with 4009, got {code}; it received {frames}\n{replicas.logs()}"
        )

        # A's connection is unaffected by the refused ones.
        say(fake_openai, REPLY)
        first.send(type="client.new-text-message", text="Still there?", message_type="user-message")
        assert first.next("server.interaction-complete")["full_message"] == REPLY

        # A closes cleanly: its lease is released at once, B may continue now.
        first.send(type="client.close-connection")
        assert first.wait_closed() == 1000, first.transcript()

    with Socket(replicas.b, replicas.org, token, "continue on B after A closed") as second:
        second.send(type="client.continue-conversation", conversation_id=cid)
        continued = second.next("server.conversation-continued", timeout=15)
        assert continued["conversation_id"] == cid, second.transcript()


def test_crashed_servers_realtime_lease_expires_and_b_takes_over(
    replicas: Replicas, blueprint: Blueprint, fake_openai: FakeOpenAI
):
    # Runs last: it kills server A.
    with replicas.client(replicas.b) as client:
        service_id = blueprint.new_service(client)
    token = sign_in(replicas.b, replicas.credentials)

    say(fake_openai, GREETING)
    with Socket(replicas.a, replicas.org, token, "socket on A") as on_a:
        cid = start_on(on_a, service_id)
        replicas.a.kill()  # SIGKILL to A's process group: no lease is released
        killed_at = time.monotonic()

    code, frames = refused_with(
        replicas, replicas.b, token, "continue on B right after the crash",
        type="client.continue-conversation", conversation_id=cid,
    )
    refused_after = time.monotonic() - killed_at
    assert code == 4009, (
        f"right after server A crashed ({refused_after:.1f} s) its realtime lease is still "
        f"valid, so a socket on B continuing the conversation must be closed with 4009, "
        f"got {code}; it received {frames}\n{replicas.logs()}"
    )
    assert refused_after < LEASE_SECONDS - 1, (
        f"the refusal came {refused_after:.1f} s after the crash; too late to tell a live "
        "lease from an expired one"
    )

    # A's lease is no longer renewed: it expires at most LEASE_SECONDS after the
    # kill. From then on B takes the conversation over (polled every 0.5 s).
    time.sleep(max(0.0, killed_at + LEASE_SECONDS + 1 - time.monotonic()))
    refusals: list[str] = []
    while True:
        socket = Socket(replicas.b, replicas.org, token, "continue on B after the lease expired")
        socket.send(type="client.continue-conversation", conversation_id=cid)
        try:
            first = socket._recv(timeout=15)
        except TimeoutError:
            socket.close()
            pytest.fail(f"server B answered nothing to client.continue-conversation within 15 s\n{replicas.logs()}")
        if first is not None and first.get("type") == "server.conversation-continued":
            break
        code = socket.close_code if first is None else socket.wait_closed()
        socket.close()
        refusals.append(f"{time.monotonic() - killed_at:.1f} s after the kill: closed {code}, got {first}")
        if time.monotonic() - killed_at >= 10:
            pytest.fail(
                f"server A was killed {time.monotonic() - killed_at:.1f} s ago and its leases "
                f"last {LEASE_SECONDS} s, yet server B still will not continue the conversation:\n"
                + "\n".join(refusals)
                + f"\n{replicas.logs()}"
            )
        time.sleep(0.5)
    took_over = time.monotonic() - killed_at

    with socket:
        assert first["conversation_id"] == cid, socket.transcript()
        # B carries the conversation on.
        say(fake_openai, REPLY)
        socket.send(type="client.new-text-message", text="Are you still there?", message_type="user-message")
        assert socket.next("server.interaction-complete")["full_message"] == REPLY
    print(
        f"\nserver A killed; a socket on B was refused with 4009 {refused_after:.1f} s later; "
        f"B continued the conversation {took_over:.1f} s after the kill "
        f"(refusals while polling: {refusals or 'none'})"
    )

    with replicas.client(replicas.b) as client:
        assert [(t, text) for _, t, text in stored_messages(client, cid)] == [
            ("agent-message", GREETING),
            ("user-message", "Are you still there?"),
            ("agent-message", REPLY),
        ], "the conversation A started goes on through B"
