"""Webhooks, end to end: the six destination operations of `/v1/{organization}/webhook_destination/` and
the deliveries a real `compadre serve` makes to a receiver of the test (`webhook_helpers.Receiver`, a
stdlib HTTP server on 127.0.0.1 that records every request and answers scripted status codes).

The server delivering to the receiver runs with COMPADRE_WEBHOOKS_ALLOW_PLAIN_HTTP=on and
COMPADRE_WEBHOOKS_ALLOW_PRIVATE_NETWORKS=on (loopback, plain HTTP); the suite's default server (both
off, as in production) refuses such a destination.

Checked with the official SDK where it has something (`amigo_sdk.webhooks.verify_signature`,
`parse_webhook_event`: amigo-sdk knows only `conversation-post-processing-complete`), else with the
documented signature, hex HMAC-SHA256 of `v1:{timestamp}:{body}` keyed by the destination's secret:
- conversation-post-processing-complete: one delivery per analysis step of a finished conversation;
- agent-framework-resource-updated: a metric created, updated and deleted;
- api-key-expiration-soon: an API key expiring within 7 days, announced by the scheduler's first round
  when the server starts;
- retries with the same idempotency key after 5 s then 10 s, each attempt recorded;
- the rules: 10 destinations per organization, HTTPS and public addresses only (unless allowed),
  retry_attempts 1-5, known event types, secret rotation at most once an hour.
Isolation between organizations is tests/compat/test_isolation_matrix.py's.

Each test acts as an administrator of its own (per-user rate limits) and deletes its destinations, so
that the next test's events reach only its own.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from amigo_sdk.webhooks import ConversationPostProcessingCompleteEvent, parse_webhook_event, verify_signature

from conftest import Compadre, _start_compadre, init_org
from conversation_helpers import Blueprint, interact, start_conversation
from fake_openai import FakeOpenAI
from tool_helpers import ok
from webhook_helpers import ALL_TYPES, WEBHOOK_ENV, Received, Receiver, hmac_signature

POST_PROCESSING = "conversation-post-processing-complete"
RESOURCE_UPDATED = "agent-framework-resource-updated"
KEY_EXPIRING = "api-key-expiration-soon"
# How long a delivery may take to arrive once its event happened (the job runner is rung at once).
DELIVERY_TIMEOUT_S = 30.0


def word() -> str:
    return "w" + secrets.token_hex(5)


def api(compadre: Compadre, org: Compadre | None = None) -> httpx.Client:
    """`/v1/{org}` with the token of an administrator invited now (a rate-limit budget of their own)."""
    target = org or compadre
    return httpx.Client(base_url=f"{target.server.base_url}/v1/{target.org}",
                        headers={"Authorization": f"Bearer {target.user_token()}"}, timeout=30)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture(scope="module")
def hooks(compadre_bin: Path, db_backend: str, tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI):
    """A server that may deliver to http:// and loopback addresses (the receiver)."""
    instance = _start_compadre(compadre_bin, db_backend, tmp_path_factory.mktemp("webhooks"), extra_env=WEBHOOK_ENV)
    try:
        yield instance
    finally:
        instance.server.stop()


@contextmanager
def destination(http: httpx.Client, receiver: Receiver, types: list[str], **extra) -> Iterator[tuple[str, str, str]]:
    """A destination on a path of the receiver of its own: (id, secret, path); deleted afterwards."""
    path = f"/{word()}"
    created = ok(http.post("/webhook_destination/", json={"url": receiver.url(path), "accepted_types": types, **extra}), 201)
    assert set(created) == {"webhook_destination_id", "secret"}, created
    try:
        yield created["webhook_destination_id"], created["secret"], path
    finally:
        gone = http.delete(f"/webhook_destination/{created['webhook_destination_id']}")
        assert gone.status_code in (204, 404), gone.text


def delivery_page(compadre: Compadre, destination_id: str, **params) -> dict:
    """A page of the destination's deliveries (get-webhook-deliveries allows 5 calls a minute: a user of its own
    each time)."""
    with api(compadre) as http:
        return ok(http.get(f"/webhook_destination/{destination_id}/delivery", params=params))


def deliveries(compadre: Compadre, destination_id: str, **params) -> list[dict]:
    return delivery_page(compadre, destination_id, **params)["webhook_deliveries"]


def check_signed(received: Received, secret: str) -> None:
    """The headers every attempt carries, and the signature of its body at its timestamp."""
    headers = received.headers
    assert received.method == "POST" and headers.get("content-type", "").startswith("application/json"), headers
    assert received.key and received.timestamp.isdigit() and received.signature, headers
    # Milliseconds, and recent.
    assert abs(int(received.timestamp) - time.time() * 1000) < 120_000, received.timestamp
    assert received.signature == hmac_signature(secret, received.timestamp, received.body), (received.headers, received.body)
    # No rotation yet: one signature only.
    assert "x-compadre-request-signature-new" not in headers, headers


# --------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------


def test_post_processing_complete_is_delivered_once_per_step(hooks: Compadre, receiver: Receiver):
    """A finished conversation is analysed in three steps; each, once done, is delivered, signed as the SDK
    verifies it, with exactly {type, post_processing_type, conversation_id, org_id}."""
    with api(hooks) as http, hooks.user_client() as client, destination(http, receiver, [POST_PROCESSING]) as (hook, secret, path):
        service = Blueprint(client).new_service(client)
        events = start_conversation(client, service)
        cid = next(e.conversation_id for e in events if getattr(e, "type", "") == "conversation-created")
        interact(client, cid, "What are your opening hours?")
        assert not receiver.received(path), "nothing is delivered before the conversation is finished"
        client.conversations.finish_conversation(cid)

        got = receiver.wait_for(path, 3, DELIVERY_TIMEOUT_S)
        assert len(got) == 3, f"{len(got)} deliveries within {DELIVERY_TIMEOUT_S:.0f} s: {[r.body for r in got]}"
        kinds = []
        for received in got:
            check_signed(received, secret)
            verify_signature(received.body, received.timestamp, received.signature, secret)  # raises if wrong
            event = parse_webhook_event(received.body, received.signature, received.timestamp, secret)
            assert isinstance(event, ConversationPostProcessingCompleteEvent), event
            assert (event.type, event.conversation_id, event.org_id) == (POST_PROCESSING, cid, hooks.org), event
            assert set(json.loads(received.body)) == {"type", "post_processing_type", "conversation_id", "org_id"}, received.body
            kinds.append(event.post_processing_type)
        assert sorted(kinds) == ["compute-metrics", "extract-memories", "generate-user-models"], kinds
        assert len({r.key for r in got}) == 3, "each delivery has an idempotency key of its own"

        # A wrong secret does not verify.
        with pytest.raises(Exception):
            parse_webhook_event(got[0].body, got[0].signature, got[0].timestamp, secret[::-1])

        # The listing: three successes, one attempt each, the body as content.
        listed = deliveries(hooks, hook)
        assert sorted(d["id"] for d in listed) == sorted(r.key for r in got), listed
        for d in listed:
            assert (d["type"], d["status"], d["dual_signed"]) == (POST_PROCESSING, "success", False), d
            assert [a["status_code"] for a in d["delivery_attempts"]] == [200], d
            body = next(json.loads(r.body) for r in got if r.key == d["id"])
            assert d["webhook_content"] == body, (d, body)

        # Nothing more comes (each step is announced once).
        time.sleep(1)
        assert len(receiver.received(path)) == 3, [r.body for r in receiver.received(path)]


def test_failed_attempts_are_retried_with_the_same_idempotency_key(hooks: Compadre, receiver: Receiver):
    """The receiver answers 500, 500, then 200: three attempts of one delivery, the same idempotency key,
    each signed at its own timestamp, the second 5 s after the first and the third 10 s after the second.
    (This test waits out those back-offs: about 15 s.)"""
    with api(hooks) as http, destination(http, receiver, [RESOURCE_UPDATED], retry_attempts=3) as (hook, secret, path):
        receiver.answer(path, 500, 500)
        metric = ok(http.post("/metric/", json=metric_body(word())), 201)["id"]
        got = receiver.wait_for(path, 3, 15 + DELIVERY_TIMEOUT_S)
        assert [r.answered for r in got] == [500, 500, 200], [(r.answered, r.body) for r in got]
        assert len({r.key for r in got}) == 1, [r.key for r in got]
        assert len({r.body for r in got}) == 1, "every attempt sends the same body"
        assert json.loads(got[0].body)["resource_id"] == metric
        for received in got:
            check_signed(received, secret)
        gaps = [later.at - earlier.at for earlier, later in zip(got, got[1:])]
        assert gaps[0] >= 4.5 and gaps[1] >= 9.5, f"back-offs of {gaps} s (5 s, then 10 s)"

        # The attempt answered 200 is recorded right after the answer: poll the listing briefly.
        deadline = time.monotonic() + 10
        while True:
            listed = deliveries(hooks, hook)
            if listed and listed[0]["status"] == "success" or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert [d["id"] for d in listed] == [got[0].key], listed
        assert listed[0]["status"] == "success", listed
        assert [a["status_code"] for a in listed[0]["delivery_attempts"]] == [500, 500, 200], listed
        # The filter by status agrees.
        assert deliveries(hooks, hook, status="failed") == []
        time.sleep(1)
        assert len(receiver.received(path)) == 3, "no attempt after the one answered 200"


def test_a_failed_delivery_stops_after_its_retries(hooks: Compadre, receiver: Receiver):
    """retry_attempts 1: the first attempt and one retry (5 s later), both answered 503; the delivery
    stays `failed` with both attempts, and no third one comes. (About 10 s.)"""
    with api(hooks) as http, destination(http, receiver, [RESOURCE_UPDATED], retry_attempts=1) as (hook, secret, path):
        receiver.answer(path, 503, 503, 503)
        ok(http.post("/metric/", json=metric_body(word())), 201)
        got = receiver.wait_for(path, 2, 5 + DELIVERY_TIMEOUT_S)
        assert [r.answered for r in got] == [503, 503], [(r.answered, r.body) for r in got]
        time.sleep(12)  # the next back-off would be 10 s
        assert len(receiver.received(path)) == 2, "retried more often than retry_attempts says"
        listed = deliveries(hooks, hook)
        assert [(d["status"], [a["status_code"] for a in d["delivery_attempts"]]) for d in listed] == [("failed", [503, 503])], listed
        assert [d["id"] for d in deliveries(hooks, hook, status="failed")] == [got[0].key]
        assert deliveries(hooks, hook, status="success") == []


def metric_body(name: str) -> dict:
    return {"name": name, "description": f"Metric {name}", "applied_to_services": [], "additional_notes": None,
            "tags": {}, "metric_value": {"type": "boolean"}}


def test_resource_updated_for_a_metric(hooks: Compadre, receiver: Receiver):
    """Creating, updating and deleting a metric: one delivery each, with exactly {type, org_id, resource_type,
    resource_id, action, operation_id}, signed with the destination's secret (checked by hand: the SDK does
    not know this event type)."""
    with api(hooks) as http, destination(http, receiver, [RESOURCE_UPDATED]) as (hook, secret, path):
        metric = ok(http.post("/metric/", json=metric_body(word())), 201)["id"]
        got = receiver.wait_for(path, 1, DELIVERY_TIMEOUT_S)
        assert len(got) == 1, "no delivery of the metric's creation"
        check_signed(got[0], secret)
        assert json.loads(got[0].body) == {
            "type": RESOURCE_UPDATED, "org_id": hooks.org, "resource_type": "metric", "resource_id": metric,
            "action": "created", "operation_id": "create-metric",
        }, got[0].body

        ok(http.post(f"/metric/{metric}/", json={"description": "Changed."}))
        ok(http.delete(f"/metric/{metric}/"))
        got = receiver.wait_for(path, 3, DELIVERY_TIMEOUT_S)
        bodies = [json.loads(r.body) for r in got]
        assert sorted((b["action"], b["operation_id"]) for b in bodies[1:]) == [("deleted", "delete-metric"), ("updated", "update-metric")], bodies
        assert all(b["resource_id"] == metric and b["resource_type"] == "metric" for b in bodies), bodies
        for received in got:
            check_signed(received, secret)
        listed = deliveries(hooks, hook, type=RESOURCE_UPDATED)
        assert sorted(d["webhook_content"]["action"] for d in listed) == ["created", "deleted", "updated"], listed
        assert deliveries(hooks, hook, type=POST_PROCESSING) == []

        # Sorting and pages.
        oldest_first = [d["webhook_content"]["action"] for d in deliveries(hooks, hook, sort_by="created_at")]
        assert oldest_first[0] == "created" and oldest_first[-1] == "deleted", oldest_first
        newest_first = [d["webhook_content"]["action"] for d in deliveries(hooks, hook, sort_by="-created_at")]
        assert newest_first == oldest_first[::-1], (oldest_first, newest_first)
        first = delivery_page(hooks, hook, limit=2, sort_by="created_at")
        assert (len(first["webhook_deliveries"]), first["has_more"], first["continuation_token"]) == (2, True, 2), first
        rest = delivery_page(hooks, hook, limit=2, sort_by="created_at", continuation_token=2)
        assert (len(rest["webhook_deliveries"]), rest["has_more"]) == (1, False), rest
        assert [d["webhook_content"]["action"] for d in first["webhook_deliveries"] + rest["webhook_deliveries"]] == oldest_first
        assert deliveries(hooks, hook, created_after="2999-01-01T00:00:00Z") == []
        assert len(deliveries(hooks, hook, created_before="2999-01-01T00:00:00Z")) == 3


def test_events_reach_only_the_destinations_that_accept_them(hooks: Compadre, receiver: Receiver):
    """Two destinations, one accepting resource updates and one only key expirations: a metric's creation
    reaches the first only; changing the second's accepted types (update) makes it hear the next one."""
    with api(hooks) as http, destination(http, receiver, [RESOURCE_UPDATED]) as (_, _s, wanted), \
            destination(http, receiver, [KEY_EXPIRING]) as (other, secret, unwanted):
        ok(http.post("/metric/", json=metric_body(word())), 201)
        assert len(receiver.wait_for(wanted, 1, DELIVERY_TIMEOUT_S)) == 1
        time.sleep(1)
        assert receiver.received(unwanted) == []

        assert http.post(f"/webhook_destination/{other}", json={"accepted_types": [RESOURCE_UPDATED, KEY_EXPIRING]}).status_code == 204
        listed = ok(http.get("/webhook_destination/", params={"id": other}))["webhook_destinations"]
        assert [(d["id"], sorted(d["accepted_types"]), d["retry_attempts"]) for d in listed] == [
            (other, sorted([RESOURCE_UPDATED, KEY_EXPIRING]), 3)], listed
        ok(http.post("/metric/", json=metric_body(word())), 201)
        got = receiver.wait_for(unwanted, 1, DELIVERY_TIMEOUT_S)
        assert len(got) == 1 and json.loads(got[0].body)["type"] == RESOURCE_UPDATED, got
        check_signed(got[0], secret)


def test_api_key_expiration_soon(compadre_bin: Path, db_backend: str, tmp_path: Path, receiver: Receiver):
    """A key expiring within 7 days is announced once by the scheduler, which runs a round when the server
    starts and then every 10 minutes: the key is made, then the server restarted. The event is
    {type, org_id, api_key_id, expires_at} (amigo-sdk cannot parse it: the signature is checked by hand)."""
    instance = _start_compadre(compadre_bin, db_backend, tmp_path, extra_env=WEBHOOK_ENV)
    try:
        with api(instance) as http, destination(http, receiver, [KEY_EXPIRING]) as (hook, secret, path):
            key = ok(http.post("/organization/api_key/", json={"name": word(), "duration": "P2D"}), 201)
            instance.server.restart(port=instance.server.port)  # the same port: `http` keeps working
            got = receiver.wait_for(path, 1, DELIVERY_TIMEOUT_S)
            assert len(got) == 1, "no api-key-expiration-soon after a restart"
            check_signed(got[0], secret)
            body = json.loads(got[0].body)
            assert set(body) == {"type", "org_id", "api_key_id", "expires_at"}, body
            assert (body["type"], body["org_id"], body["api_key_id"]) == (KEY_EXPIRING, instance.org, key["api_key_id"]), body
            expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
            left = (expires - datetime.now(timezone.utc)).total_seconds()
            assert 86_400 < left <= 2 * 86_400 + 60, body
            # Once per key: a second restart says nothing more.
            instance.server.restart(port=instance.server.port)
            time.sleep(2)
            assert len(receiver.received(path)) == 1, [r.body for r in receiver.received(path)]
    finally:
        instance.server.stop()


# --------------------------------------------------------------------------
# The destination operations and their rules
# --------------------------------------------------------------------------


def test_destination_lifecycle(hooks: Compadre, receiver: Receiver):
    """Create (the secret once), list (never the secret), update (204; null keeps a field), delete (204, then
    404 everywhere); an unknown id is 404 for each operation."""
    with api(hooks) as http:
        url = receiver.url(f"/{word()}")
        created = ok(http.post("/webhook_destination/", json={"url": url, "accepted_types": [RESOURCE_UPDATED]}), 201)
        hook, secret = created["webhook_destination_id"], created["secret"]
        assert len(secret) >= 32, secret
        listed = ok(http.get("/webhook_destination/"))["webhook_destinations"]
        mine = [d for d in listed if d["id"] == hook]
        assert len(mine) == 1 and secret not in json.dumps(listed), listed
        assert (mine[0]["url"], mine[0]["accepted_types"], mine[0]["retry_attempts"]) == (url, [RESOURCE_UPDATED], 3), mine
        assert set(mine[0]) == {"id", "url", "secret_generated_at", "retry_attempts", "accepted_types"}, mine
        generated = datetime.fromisoformat(mine[0]["secret_generated_at"].replace("Z", "+00:00"))
        assert abs((datetime.now(timezone.utc) - generated).total_seconds()) < 120, mine

        assert http.post(f"/webhook_destination/{hook}", json={"retry_attempts": 5, "accepted_types": None}).status_code == 204
        after = ok(http.get("/webhook_destination/", params={"id": hook}))["webhook_destinations"]
        assert [(d["retry_attempts"], d["accepted_types"], d["url"]) for d in after] == [(5, [RESOURCE_UPDATED], url)], after
        assert ok(http.get(f"/webhook_destination/{hook}/delivery"))["webhook_deliveries"] == []

        assert http.delete(f"/webhook_destination/{hook}").status_code == 204
        assert hook not in json.dumps(ok(http.get("/webhook_destination/")))
        unknown = "a" * 24
        for target in (hook, unknown):
            answers = {
                "delete": http.delete(f"/webhook_destination/{target}").status_code,
                "update": http.post(f"/webhook_destination/{target}", json={"retry_attempts": 2}).status_code,
                "rotate": http.post(f"/webhook_destination/{target}/rotate-secret").status_code,
                "deliveries": http.get(f"/webhook_destination/{target}/delivery").status_code,
            }
            assert set(answers.values()) == {404}, (target, answers)


def test_secret_rotation_is_at_most_hourly(hooks: Compadre, receiver: Receiver):
    """rotate-secret right after creation is 400 (once an hour), and the secret stays as it was.
    Rotation itself (a new secret; for 30 minutes the old one signs x-amigo-request-signature and the new
    one x-compadre-request-signature-new, the delivery `dual_signed`) needs a secret an hour old, which a
    compatibility test cannot wait for: Compadre's Swift tests cover it with a manual clock."""
    with api(hooks) as http, destination(http, receiver, [RESOURCE_UPDATED]) as (hook, secret, path):
        before = ok(http.get("/webhook_destination/", params={"id": hook}))["webhook_destinations"]
        refused = http.post(f"/webhook_destination/{hook}/rotate-secret")
        assert refused.status_code == 400, refused.text
        assert "hour" in refused.json()["detail"], refused.text
        assert ok(http.get("/webhook_destination/", params={"id": hook}))["webhook_destinations"] == before
        # The old secret still signs.
        ok(http.post("/metric/", json=metric_body(word())), 201)
        got = receiver.wait_for(path, 1, DELIVERY_TIMEOUT_S)
        assert got, "no delivery"
        check_signed(got[0], secret)


def test_at_most_ten_destinations(hooks: Compadre, compadre_bin: Path, receiver: Receiver):
    """An organization has at most 10 destinations: the 11th is 400; after a deletion there is room again.
    (In an organization of its own on the same server, so that other tests' destinations do not count.)"""
    org = init_org(compadre_bin, f"hooks{secrets.token_hex(5)}", hooks.server.database_url)
    own = Compadre(server=hooks.server, credentials=org, org=org.organization_id)
    with api(own) as http:
        body = lambda: {"url": receiver.url(f"/{word()}"), "accepted_types": [KEY_EXPIRING]}  # noqa: E731
        ids = [ok(http.post("/webhook_destination/", json=body()), 201)["webhook_destination_id"] for _ in range(10)]
        eleventh = http.post("/webhook_destination/", json=body())
        assert eleventh.status_code == 400, eleventh.text
        assert "10" in eleventh.json()["detail"], eleventh.text
        assert len(ok(http.get("/webhook_destination/"))["webhook_destinations"]) == 10
        assert http.delete(f"/webhook_destination/{ids[0]}").status_code == 204
        ok(http.post("/webhook_destination/", json=body()), 201)


@pytest.mark.parametrize("body, field", [
    ({"retry_attempts": 9}, "retry_attempts"),
    ({"retry_attempts": 0}, "retry_attempts"),
    ({"accepted_types": ["conversation-finished"]}, "accepted_types"),
    ({"url": ""}, "url"),
    ({"url": "not a url"}, "url"),
])
def test_invalid_destination_is_422(hooks: Compadre, body: dict, field: str):
    with api(hooks) as http:
        full = {"url": "https://hooks.example.com/a", "accepted_types": [RESOURCE_UPDATED], **body}
        answer = http.post("/webhook_destination/", json=full)
        assert answer.status_code == 422, answer.text
        locations = [d["loc"] for d in answer.json()["detail"]]
        assert all(loc[:2] == ["body", field] for loc in locations), locations
        if "url" not in body:
            # The same rules on update.
            created = ok(http.post("/webhook_destination/", json={"url": "https://hooks.example.com/a", "accepted_types": []}), 201)
            hook = created["webhook_destination_id"]
            try:
                update = http.post(f"/webhook_destination/{hook}", json=body)
                assert update.status_code == 422, update.text
            finally:
                http.delete(f"/webhook_destination/{hook}")


@pytest.mark.parametrize("url, why", [
    ("http://hooks.example.com/a", "HTTPS"),
    ("https://127.0.0.1/a", "loopback"),
    ("https://10.1.2.3/a", "private"),
    ("https://172.16.0.1/a", "private"),
    ("https://192.168.1.1/a", "private"),
    ("https://100.64.0.1/a", "carrier-grade NAT"),
    ("https://169.254.169.254/latest/meta-data", "link-local"),
    ("https://0.0.0.0/a", "unspecified"),
    ("https://224.0.0.1/a", "multicast"),
    ("https://[::1]/a", "loopback"),
    ("https://[::]/a", "unspecified"),
    ("https://[::ffff:127.0.0.1]/a", "IPv4-mapped loopback"),
    ("https://[fd00::1]/a", "unique local"),
    ("https://[fe80::1]/a", "link-local"),
    ("https://user@127.0.0.1/a", "loopback behind user info"),
    ("https://localhost/a", "a name of the loopback address"),
    ("https://[fe80::1%25eth0]/a", "link-local with a zone"),
    ("https://localhost./a", "the loopback name, fully qualified"),
    ("https://127.1/a", "loopback, short form"),
    ("https://2130706433/a", "loopback, one number"),
    ("https://[::127.0.0.1]/a", "IPv4-compatible loopback"),
    ("https://[64:ff9b::a01:203]/a", "NAT64 of a private address"),
    ("https://[2002:a01:203::1]/a", "6to4 of a private address"),
])
def test_plain_http_and_private_addresses_are_refused_by_default(compadre: Compadre, url: str, why: str):
    """The suite's default server (neither setting on): 400."""
    with api(compadre) as http:
        answer = http.post("/webhook_destination/", json={"url": url, "accepted_types": ALL_TYPES})
        if answer.status_code == 201:  # keep the organization clean for the other cases
            http.delete(f"/webhook_destination/{answer.json()['webhook_destination_id']}")
        assert answer.status_code == 400, f"{url} ({why}): {answer.status_code} {answer.text}"
        assert ok(http.get("/webhook_destination/"))["webhook_destinations"] == []
