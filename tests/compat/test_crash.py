"""kill -9 during 100 concurrent streamed interactions.

100 users each have a conversation (greeting done) with one service. All 100
send an `interact` at once; the fake model streams the answers slowly. Once
most of the streams are under way (events flowing, the agent's answer being
streamed for many, some answers already complete), the server is SIGKILLed.
A new process on the same database must show, for EVERY conversation, either
the whole interaction (the user message and the complete agent answer, with
the answer the client was told was complete if it was told) or none of it:
never a partial answer, never a user message without its answer. And every
conversation continues: a new interaction succeeds (once a dead process's
leases are gone: SQLite clears them at start, PostgreSQL lets them expire
after COMPADRE_LEASE_SECONDS) and is stored after what was there.

The 100 interactions must run side by side: a server that runs only a few
model calls at once, and lets the others wait, fails the test (after still
checking the crash) because the kill cannot land inside most answers.

Everything goes through raw HTTP (NDJSON streams), each user with a token of
their own: the server runs with its default per-user rate limits (5
create-conversation, 15 interact, 20 get-messages, 50 create-invited-user a
minute), and each user stays far below them.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from conftest import Compadre, server_env
from conversation_helpers import TEXT, Blueprint
from fake_openai import DEFAULT_TEXT, FakeOpenAI

N = 100
# One administrator invites at most this many users a minute (the limit is 50).
INVITES_PER_INVITER = 40
# How many streams must have started the agent's answer (a new-message piece) before the kill.
SPEAKING_BEFORE_KILL = 60
# The agent's answers: ANSWER_CHUNKS pieces, each after answer_delay(k) seconds, so the answers
# handed out take from 0.6 s to 12 s: some complete (and are being stored) around the kill, most are
# cut mid-stream.
ANSWER_CHUNKS = 12


def answer_delay(k: int) -> float:
    return 0.05 * (1 + k % 20)


# The kill comes once SPEAKING_BEFORE_KILL streams have begun the agent's answer, at the latest this
# many seconds after the requests (and then the test fails: the server did not run the 100
# interactions side by side).
KILL_AFTER = 15.0
WORKERS = 16


def question(i: int) -> str:
    return f"Question {i}: please tell me a long story."


def after_crash(i: int) -> str:
    return f"Still there, {i}?"


def answer(k: int) -> str:
    return f"Answer {k} begins: " + " ".join(f"w{k}.{j}" for j in range(1, 25)) + f" (answer {k} ends)."


# --------------------------------------------------------------------------
# Raw HTTP
# --------------------------------------------------------------------------


class HTTPFailure(AssertionError):
    def __init__(self, what: str, status: int, body: str) -> None:
        super().__init__(f"{what} -> HTTP {status}: {body[:500]}")
        self.status = status


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def invite_users(base_url: str, org: str, token: str, count: int) -> list[str]:
    ids = []
    with httpx.Client(base_url=base_url, headers=bearer(token), timeout=30) as http:
        for i in range(count):
            resp = http.post(
                f"/v1/{org}/user/",
                json={
                    "first_name": "Crash",
                    "last_name": f"User {i}",
                    "email": f"crash-{secrets.token_hex(6)}@example.com",
                    "role_name": "DefaultAdministratorRole",
                },
            )
            if resp.status_code not in (200, 201):
                raise HTTPFailure("create-invited-user", resp.status_code, resp.text)
            ids.append(resp.json()["user_id"])
    return ids


def ndjson(resp: httpx.Response, what: str, ok: int = 200):
    if resp.status_code != ok:
        resp.read()
        raise HTTPFailure(what, resp.status_code, resp.text)
    for line in resp.iter_lines():
        if line.strip():
            yield json.loads(line)


def create_conversation(
    base_url: str, org: str, token: str, service_id: str, version_set: str = "release"
) -> list[dict]:
    with httpx.stream(
        "POST",
        f"{base_url}/v1/{org}/conversation/",
        params={"response_format": "text"},
        headers={**bearer(token), "Accept": "application/x-ndjson"},
        json={"service_id": service_id, "service_version_set_name": version_set},
        timeout=httpx.Timeout(60.0, connect=10.0),
    ) as resp:
        return list(ndjson(resp, "create-conversation", ok=201))


def interact_stream(base_url: str, org: str, token: str, cid: str, text: str, timeout: float = 120.0):
    with httpx.stream(
        "POST",
        f"{base_url}/v1/{org}/conversation/{cid}/interact",
        params=TEXT,
        headers={**bearer(token), "Accept": "application/x-ndjson"},
        files=[
            ("initial_message_type", (None, "user-message")),
            ("recorded_message", ("message.txt", text.encode(), "text/plain; charset=utf-8")),
        ],
        timeout=httpx.Timeout(timeout, connect=10.0),
    ) as resp:
        yield from ndjson(resp, "interact")


def stored_messages(base_url: str, org: str, token: str, cid: str) -> list[dict]:
    resp = httpx.get(
        f"{base_url}/v1/{org}/conversation/{cid}/messages/",
        params={"limit": 500, "sort_by": "+created_at"},
        headers=bearer(token),
        timeout=30,
    )
    if resp.status_code != 200:
        raise HTTPFailure("get-conversation-messages", resp.status_code, resp.text)
    page = resp.json()
    assert not page["has_more"], f"more than 500 messages in {cid}?"
    return page["messages"]


def conversation_info(base_url: str, org: str, token: str, cid: str) -> dict:
    resp = httpx.get(
        f"{base_url}/v1/{org}/conversation/", params={"id": cid}, headers=bearer(token), timeout=30
    )
    if resp.status_code != 200:
        raise HTTPFailure("get-conversations", resp.status_code, resp.text)
    found = resp.json()["conversations"]
    assert [c["id"] for c in found] == [cid], f"GET /conversation/?id={cid} -> {found}"
    return found[0]


def brief(messages: list[dict]) -> list[tuple[str, str]]:
    return [(m["message_type"], m["message"]) for m in messages]


# --------------------------------------------------------------------------
# One user's conversation
# --------------------------------------------------------------------------


@dataclass
class Talk:
    index: int
    user_id: str
    token: str = ""
    cid: str = ""
    before: list[dict] = field(default_factory=list)
    # the interrupted interaction, as the client saw it
    events: list[tuple[float, dict]] = field(default_factory=list)
    failure: BaseException | None = None
    ended: float | None = None
    speaking: threading.Event = field(default_factory=threading.Event)

    def types(self) -> list[str]:
        return [e.get("type", "?") for _, e in self.events]

    def completion(self) -> dict | None:
        """The interaction-complete event the client received, if it did."""
        done = [e for _, e in self.events if e.get("type") == "interaction-complete"]
        return done[-1] if done else None

    def completed_answer(self) -> str | None:
        done = self.completion()
        return done.get("full_message") if done else None


def run_interaction(talk: Talk, base_url: str, org: str, start: threading.Event) -> None:
    start.wait()
    try:
        for event in interact_stream(base_url, org, talk.token, talk.cid, question(talk.index)):
            talk.events.append((time.monotonic(), event))
            if event.get("type") == "new-message":
                talk.speaking.set()
    except BaseException as exc:  # the connection drops when the server dies
        talk.failure = exc
    finally:
        talk.ended = time.monotonic()


def snapshot(talks: list[Talk], fake: FakeOpenAI) -> dict[str, int]:
    return {
        "with events": sum(bool(t.events) for t in talks),
        "speaking": sum(t.speaking.is_set() for t in talks),
        "mid-answer": sum(
            t.speaking.is_set() and t.completed_answer() is None and t.failure is None for t in talks
        ),
        "complete": sum(t.completed_answer() is not None for t in talks),
        "error events": sum(any(e.get("type") == "error" for _, e in t.events) for t in talks),
        "refused": sum(isinstance(t.failure, HTTPFailure) for t in talks),
        "model requests": len(fake.requests),
        "model streams at once": fake.max_in_flight,
    }


def classify(talk: Talk, after: list[dict], answers: set[str]) -> tuple[str, str]:
    """('absent' | 'complete' | 'BROKEN', why) of the interrupted interaction in `after`."""
    before_keys = [(m["id"], m["message_type"], m["message"]) for m in talk.before]
    after_keys = [(m["id"], m["message_type"], m["message"]) for m in after]
    if after_keys[: len(before_keys)] != before_keys:
        return "BROKEN", f"the messages from before the crash changed: {brief(talk.before)} -> {brief(after)}"
    extra = after[len(before_keys):]
    if not extra:
        return "absent", ""
    kinds = [(m["message_type"], m["message"]) for m in extra]
    if (
        len(extra) == 2
        and kinds[0] == ("user-message", question(talk.index))
        and kinds[1][0] == "agent-message"
        and kinds[1][1] in answers
        and extra[0].get("interaction_id") == extra[1].get("interaction_id")
    ):
        return "complete", ""
    return "BROKEN", f"stored after the greeting: {kinds}"


# --------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------


def test_kill_9_during_100_concurrent_streamed_interactions(
    fresh_compadre: Compadre, fake_openai: FakeOpenAI, db_backend: str
):
    with fresh_compadre.client() as admin:
        service_id = Blueprint(admin).new_service(admin)
    crash_during_concurrent_interactions(fresh_compadre, fake_openai, db_backend, [(service_id, "release")])


def crash_during_concurrent_interactions(
    compadre: Compadre, fake_openai: FakeOpenAI, db_backend: str, services: list[tuple[str, str]]
) -> None:
    """The whole scenario; user i talks to services[i % len(services)] (service id, version set)."""
    server, org = compadre.server, compadre.org
    lease_seconds = float({**server_env(), **server.extra_env}["COMPADRE_LEASE_SECONDS"])
    phases: dict[str, float] = {}
    t0 = time.monotonic()

    # ---- 100 users, each with a token of their own ---------------------------------------------
    user_ids = [compadre.credentials.user_id]
    inviter_token = compadre.access_token()
    while len(user_ids) < N:
        batch = invite_users(
            server.base_url, org, inviter_token, min(INVITES_PER_INVITER, N - len(user_ids))
        )
        user_ids += batch
        inviter_token = compadre.access_token(batch[0])
    talks = [Talk(i, uid) for i, uid in enumerate(user_ids)]

    def set_up(talk: Talk) -> None:
        talk.token = compadre.access_token(talk.user_id)
        events = create_conversation(server.base_url, org, talk.token, *services[talk.index % len(services)])
        types = [e.get("type") for e in events]
        assert types and types[0] == "conversation-created" and types[-1] == "interaction-complete", (
            f"greeting of user {talk.index}: {types}"
        )
        talk.cid = events[0]["conversation_id"]
        greeting = events[-1]
        assert greeting.get("full_message") == DEFAULT_TEXT, f"greeting of user {talk.index}: {events}"
        # What the conversation holds now (checked after the restart, with everything else).
        talk.before = [
            {"id": greeting["message_id"], "message_type": "agent-message", "message": DEFAULT_TEXT}
        ]

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(set_up, talks))
    assert len({t.cid for t in talks}) == N
    phases["setup"] = time.monotonic() - t0

    # ---- 100 concurrent streamed interactions, SIGKILL mid-stream ------------------------------
    fake_openai.reset()
    answers = [answer(k) for k in range(N)]
    fake_openai.script(
        *(
            {"when": "text", "text": text, "chunks": ANSWER_CHUNKS, "delay": answer_delay(k)}
            for k, text in enumerate(answers)
        )
    )
    go = threading.Event()
    threads = [
        threading.Thread(target=run_interaction, args=(t, server.base_url, org, go), daemon=True)
        for t in talks
    ]
    for thread in threads:
        thread.start()
    t1 = time.monotonic()
    go.set()
    # Kill once most streams are inside the agent's answer, or at the latest KILL_AFTER seconds
    # after the requests.
    while time.monotonic() < t1 + KILL_AFTER:
        if sum(t.speaking.is_set() for t in talks) >= SPEAKING_BEFORE_KILL:
            break
        time.sleep(0.05)
    at_kill = snapshot(talks, fake_openai)
    server.kill()
    killed_at = time.monotonic()
    phases["streams until the kill"] = killed_at - t1
    killed_log = server.log_tail(100_000)
    for thread in threads:
        thread.join(timeout=30)
    stuck = [t.index for t, th in zip(talks, threads) if th.is_alive()]
    assert not stuck, f"client streams did not end when the server died: {stuck}"

    # ---- a new process on the same database ---------------------------------------------------
    t2 = time.monotonic()
    server.start()
    fake_openai.reset()  # the rest of the slow script is moot; new answers are the default text
    phases["restart"] = time.monotonic() - t2

    answer_set = set(answers)
    outcome: dict[int, tuple[str, str]] = {}
    after_messages: dict[int, list[dict]] = {}
    mismatched: list[str] = []  # conversations whose record disagrees with their messages

    def inspect(talk: Talk) -> None:
        after = stored_messages(server.base_url, org, talk.token, talk.cid)
        after_messages[talk.index] = after
        kind, why = classify(talk, after, answer_set)
        told = talk.completion()
        if told is not None:
            stored = [
                (m["message"], m["interaction_id"])
                for m in after[len(talk.before):] if m["message_type"] == "agent-message"
            ]
            if kind != "complete" or stored != [(told.get("full_message"), told.get("interaction_id"))]:
                kind, why = "BROKEN", (
                    f"the client got interaction-complete {told} before the crash, but the "
                    f"conversation holds {brief(after)}"
                )
        outcome[talk.index] = (kind, why)
        info = conversation_info(server.base_url, org, talk.token, talk.cid)
        if info.get("is_finished") or info.get("num_messages") != len(after):
            mismatched.append(
                f"#{talk.index} {talk.cid}: is_finished={info.get('is_finished')}, "
                f"num_messages={info.get('num_messages')} but {len(after)} messages stored"
            )

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(inspect, talks))

    counts = Counter(kind for kind, _ in outcome.values())
    used = Counter(
        m["message"] for i, (kind, _) in outcome.items() if kind == "complete"
        for m in after_messages[i][len(talks[i].before):] if m["message_type"] == "agent-message"
    )
    summary = (
        f"[{db_backend}] after the restart: {counts.get('complete', 0)} complete, "
        f"{counts.get('absent', 0)} absent, {counts.get('BROKEN', 0)} broken; "
        f"at the kill ({killed_at - t1:.1f} s after the requests): {at_kill}"
    )
    print(summary)

    # ---- every conversation continues ---------------------------------------------------------
    if db_backend != "sqlite":
        # PostgreSQL: the dead process's leases expire lease_seconds after their last renewal.
        time.sleep(max(0.0, killed_at + lease_seconds + 0.5 - time.monotonic()))
    t3 = time.monotonic()
    conflicts: dict[int, int] = {}
    stalled: dict[int, str] = {}

    def continue_talk(talk: Talk) -> None:
        deadline = time.monotonic() + lease_seconds + 15
        while True:
            try:
                events = list(
                    interact_stream(server.base_url, org, talk.token, talk.cid, after_crash(talk.index), 60)
                )
                break
            except HTTPFailure as exc:
                if exc.status == 409 and time.monotonic() < deadline:
                    conflicts[talk.index] = conflicts.get(talk.index, 0) + 1
                    time.sleep(1.0)
                    continue
                stalled[talk.index] = str(exc)
                return
            except httpx.HTTPError as exc:
                stalled[talk.index] = repr(exc)
                return
        done = [e for e in events if e.get("type") == "interaction-complete"]
        if not done or any(e.get("type") == "error" for e in events) or done[-1].get("full_message") != DEFAULT_TEXT:
            stalled[talk.index] = f"the new interaction's stream: {[e.get('type') for e in events]} {events[-1:]}"
            return
        now = stored_messages(server.base_url, org, talk.token, talk.cid)
        expected = brief(after_messages[talk.index]) + [
            ("user-message", after_crash(talk.index)),
            ("agent-message", DEFAULT_TEXT),
        ]
        if brief(now) != expected:
            stalled[talk.index] = f"stored after the new interaction: {brief(now)}, expected {expected}"

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(continue_talk, talks))
    phases["continue"] = time.monotonic() - t3
    print(f"[{db_backend}] phases (s): " + ", ".join(f"{k} {v:.1f}" for k, v in phases.items())
          + f"; 409s while leases expired: {sum(conflicts.values())}")

    # ---- the verdict ----------------------------------------------------------------------------
    def show(items: dict[int, str]) -> str:
        return "\n".join(
            f"  #{i} {talks[i].cid}: {why}\n      client saw: {talks[i].types()} "
            f"(failure {talks[i].failure!r})"
            for i, why in sorted(items.items())[:8]
        ) + (f"\n  … and {len(items) - 8} more" if len(items) > 8 else "")

    problems: list[str] = []
    broken = {i: why for i, (kind, why) in outcome.items() if kind == "BROKEN"}
    if broken:
        problems.append(f"{len(broken)} conversations hold part of the interrupted interaction:\n{show(broken)}")
    if mismatched:
        problems.append(
            f"{len(mismatched)} conversations are finished or miscounted after the crash:\n  "
            + "\n  ".join(mismatched[:8])
        )
    twice = [text for text, c in used.items() if c > 1]
    if twice:
        problems.append(f"one scripted answer stored in two conversations: {twice[:3]}")
    if stalled:
        problems.append(f"{len(stalled)} conversations cannot continue after the crash:\n{show(stalled)}")
    refused = {t.index: str(t.failure) for t in talks if isinstance(t.failure, HTTPFailure)}
    if refused:
        problems.append(f"{len(refused)} interact requests refused before the kill:\n{show(refused)}")
    errored = {
        t.index: repr([e for _, e in t.events if e.get("type") == "error"][0])
        for t in talks if any(e.get("type") == "error" for _, e in t.events)
    }
    if errored:
        problems.append(f"{len(errored)} streams ended with an error event before the kill:\n{show(errored)}")
    if at_kill["speaking"] < SPEAKING_BEFORE_KILL:
        warnings = [line for line in killed_log.splitlines() if " warning " in line or " error " in line]
        problems.append(
            f"only {at_kill['speaking']} of {N} streams had begun the agent's answer {KILL_AFTER:.0f} s "
            f"after the {N} concurrent requests: the server ran at most {at_kill['model streams at once']} "
            f"model calls at once (the fake received {at_kill['model requests']} requests), the other "
            f"interactions waited for the model"
            + (f"; last warnings of the killed server ({len(warnings)} in all):\n" + "\n".join(warnings[-5:])
               if warnings else "")
        )
    assert not problems, f"{summary}\n\n" + "\n\n".join(problems) + (
        f"\n\n--- log of the restarted server ---\n{server.log_tail(30)}" if stalled else ""
    )
