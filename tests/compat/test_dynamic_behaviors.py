"""Dynamic behavior sets, as an organization manages them.

The eight operations under `/v1/{organization}/dynamic_behavior_set/`: create a set with its first
version, list (filters, filter values, pages), search (name matches first), update (one active set
per name), delete, versions (create with an expected number, list with selectors and pages) and
invocations (none yet: selection in conversations comes later).

The official SDK (amigo-sdk 2.5.0) has no dynamic behavior resource: calls are raw HTTP with a
bearer token, and every answer is parsed with the SDK's generated models (with no field the models
do not know), the way an SDK user's code would read it. Request bodies are checked against the
SDK's request models too (without tags: amigo-sdk 2.5.0 cannot build a tag dictionary, its keys are
unhashable RootModels).

Services are made through the SDK like the management tests make them; the one tool a
`change-tool-candidates` action names only needs to exist (created, never published). Every test
acts as an administrator of its own (the server runs with its default per-user rate limits) and
scopes what it reads by a tag or a word of its own, so the tests do not depend on each other's sets
or order.

Concurrent creates and versions are raced on purpose: on PostgreSQL (COMPADRE_COMPAT_POSTGRES=1)
they found two check-then-write rules without a lock; both now hold.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from amigo_sdk.generated.model import (
    DynamicBehaviorSetCreateDynamicBehaviorSetRequest,
    DynamicBehaviorSetCreateDynamicBehaviorSetResponse,
    DynamicBehaviorSetCreateDynamicBehaviorSetVersionRequest,
    DynamicBehaviorSetCreateDynamicBehaviorSetVersionResponse,
    DynamicBehaviorSetGetDynamicBehaviorInvocationsResponse,
    DynamicBehaviorSetGetDynamicBehaviorSetsResponse,
    DynamicBehaviorSetGetDynamicBehaviorSetVersionsResponse,
    DynamicBehaviorSetInstance,
    DynamicBehaviorSetSearchDynamicBehaviorSetsResponse,
    DynamicBehaviorSetUpdateDynamicBehaviorSetRequest,
    DynamicBehaviorSetVersion,
    MongoCollectionsDynamicBehaviorSetVersionAction,
)

from conftest import Compadre
from test_sdk_management import OBJECT_ID, create_agent_with_version, create_graph_with_version, create_service
from tool_helpers import ok

UNKNOWN_ID = "0123456789abcdef01234567"


def word() -> str:
    """A word no other test uses (letters and digits: search splits on anything else)."""
    return "w" + secrets.token_hex(5)


# --------------------------------------------------------------------------
# The API
# --------------------------------------------------------------------------


class BehaviorAPI:
    """`/v1/{org}/dynamic_behavior_set/…` with one user's bearer token. Methods return the httpx
    response; the caller asserts on it (the status is part of what is tested)."""

    def __init__(self, compadre: Compadre, user_id: str, token: str) -> None:
        self.compadre = compadre
        self.org = compadre.org
        self.user_id = user_id
        self.token = token
        self.base = f"{compadre.server.base_url}/v1/{compadre.org}/dynamic_behavior_set"
        self.http = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30)

    @property
    def me(self) -> dict:
        return {"org_id": self.org, "user_id": self.user_id}

    def close(self) -> None:
        self.http.close()

    def create(self, body: dict) -> httpx.Response:
        return self.http.post(f"{self.base}/", json=body)

    def sets(self, **params: Any) -> httpx.Response:
        return self.http.get(f"{self.base}/", params=params)

    def search(self, query: str | None, **params: Any) -> httpx.Response:
        if query is not None:
            params["query"] = query
        return self.http.get(f"{self.base}/search", params=params)

    def update(self, set_id: str, body: dict) -> httpx.Response:
        return self.http.post(f"{self.base}/{set_id}/", json=body)

    def delete(self, set_id: str) -> httpx.Response:
        return self.http.delete(f"{self.base}/{set_id}/")

    def create_version(self, set_id: str, body: dict, version: int | None = None) -> httpx.Response:
        params = {} if version is None else {"version": version}
        return self.http.post(f"{self.base}/{set_id}/version/", params=params, json=body)

    def versions(self, set_id: str, **params: Any) -> httpx.Response:
        return self.http.get(f"{self.base}/{set_id}/version/", params=params)

    def invocations(self, set_id: str, **params: Any) -> httpx.Response:
        return self.http.get(f"{self.base}/{set_id}/invocation/", params=params)

    # Steps with the answer checked and parsed.

    def created(self, body: dict) -> str:
        sdk_request(body)
        answer = parse(DynamicBehaviorSetCreateDynamicBehaviorSetResponse, ok(self.create(body), 201))
        assert OBJECT_ID.match(answer.dynamic_behavior_set_id), answer
        return answer.dynamic_behavior_set_id

    def listed(self, **params: Any) -> DynamicBehaviorSetGetDynamicBehaviorSetsResponse:
        return parse(DynamicBehaviorSetGetDynamicBehaviorSetsResponse, ok(self.sets(**params)))

    def one(self, set_id: str) -> DynamicBehaviorSetInstance:
        found = self.listed(id=set_id).dynamic_behavior_sets
        assert [s.id for s in found] == [set_id], found
        return found[0]

    def found(self, query: str, **params: Any) -> list[str]:
        answer = parse(DynamicBehaviorSetSearchDynamicBehaviorSetsResponse, ok(self.search(query, **params)))
        return [s.id for s in answer.dynamic_behavior_sets]

    def versioned(self, set_id: str, body: dict, version: int | None = None) -> int:
        DynamicBehaviorSetCreateDynamicBehaviorSetVersionRequest.model_validate(body)
        answer = parse(DynamicBehaviorSetCreateDynamicBehaviorSetVersionResponse,
                       ok(self.create_version(set_id, body, version), 201))
        return answer.new_version_number

    def version_page(self, set_id: str, **params: Any) -> DynamicBehaviorSetGetDynamicBehaviorSetVersionsResponse:
        return parse(DynamicBehaviorSetGetDynamicBehaviorSetVersionsResponse, ok(self.versions(set_id, **params)))

    def version_numbers(self, set_id: str, **params: Any) -> list[int]:
        return [v.version for v in self.version_page(set_id, **params).dynamic_behavior_set_versions]


def simultaneously(api: BehaviorAPI, count: int, call: Callable[[BehaviorAPI], httpx.Response]) -> list[httpx.Response]:
    """`call` made `count` times at once, each on a connection of its own opened beforehand (so that
    the requests reach the server together, not one connection set-up after the other)."""
    twins = [BehaviorAPI(api.compadre, api.user_id, api.token) for _ in range(count)]
    try:
        for twin in twins:
            ok(twin.sets(limit=0))
        start = threading.Barrier(count)

        def go(twin: BehaviorAPI) -> httpx.Response:
            start.wait(timeout=30)
            return call(twin)

        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(go, twins))
    finally:
        for twin in twins:
            twin.close()


# --------------------------------------------------------------------------
# Parsing with the SDK's models
# --------------------------------------------------------------------------


def _shape(value: Any) -> Any:
    """The keys of `value`, recursively (values themselves left out)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_shape(v) for v in value]
    return None


def parse(model: type[BaseModel], body: Any) -> Any:
    """`body` parsed with the SDK's `model`, which must know every field the server sent (the SDK
    would silently drop the others: a field it drops is a field of no API)."""
    parsed = model.model_validate(body)
    known = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
    assert _shape(body) == _shape(known), (
        f"{model.__name__}: the answer has fields the SDK does not know\n  sent  {body}\n  known {known}"
    )
    return parsed


def sdk_request(body: dict) -> None:
    """The body is one the SDK's request model accepts (tags aside, see the module docstring)."""
    DynamicBehaviorSetCreateDynamicBehaviorSetRequest.model_validate({**body, "tags": {}})


def actions_of(body_actions: list[dict]) -> list[Any]:
    """Actions as the SDK reads them back (to compare what was sent with what is stored)."""
    return [MongoCollectionsDynamicBehaviorSetVersionAction.model_validate(a).root for a in body_actions]


def recent(moment: datetime) -> bool:
    return abs(datetime.now(timezone.utc) - moment) < timedelta(minutes=5)


# --------------------------------------------------------------------------
# Request bodies
# --------------------------------------------------------------------------


def instruction(text: str = "Explain the refund policy in two sentences.", overrides: bool = False) -> dict:
    return {"type": "inject-instruction", "instruction": text, "overrides_instructions": overrides}


def tool_spec(tool_id: str, /, **changes: Any) -> dict:
    spec = {
        "tool_id": tool_id,
        "version_constraint": ">=1.0.0,<2.0.0",
        "additional_instruction": "Use it to look up an order by its number.",
        "audio_fillers": ["One moment, I am looking it up."],
        "audio_filler_triggered_after": 2.5,
        "result_persistence": "persisted-preferred",
        "tool_name": "order lookup",
    }
    return {**spec, **changes}


def tool_candidates(*specs: dict, overrides: bool = False) -> dict:
    return {"type": "change-tool-candidates", "tool_call_specs": list(specs), "overrides_existing_tool_call_specs": overrides}


def version(triggers: list[str] | None = None, actions: list[dict] | None = None) -> dict:
    return {
        "conversation_triggers": triggers if triggers is not None else ["The user asks for a refund."],
        "actions": actions if actions is not None else [instruction()],
    }


def set_body(
    name: str,
    services: list[str],
    *,
    active: bool = True,
    tags: dict | None = None,
    triggers: list[str] | None = None,
    actions: list[dict] | None = None,
) -> dict:
    return {
        "name": name,
        "tags": tags if tags is not None else {},
        "applied_to_services": services,
        "initial_version": {"is_active": active, **version(triggers, actions)},
    }


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@dataclass
class Lab:
    compadre: Compadre
    services: list[str]  # two services made through the SDK
    tool_id: str  # a tool that exists (never published)


@pytest.fixture(scope="module")
def lab(compadre: Compadre) -> Lab:
    with compadre.client() as admin:
        agent_id = create_agent_with_version(admin)
        graph_id = create_graph_with_version(admin)
        services = [create_service(admin, agent_id, graph_id) for _ in range(2)]
    token = compadre.access_token()
    created = httpx.post(
        f"{compadre.server.base_url}/v1/{compadre.org}/tool/",
        headers={"Authorization": f"Bearer {token}"},
        json={"name": f"order_lookup_{secrets.token_hex(3)}", "description": "Looks up an order.", "tags": {}},
        timeout=30,
    )
    return Lab(compadre=compadre, services=services, tool_id=ok(created, 201)["id"])


def new_api(compadre: Compadre, role: str = "DefaultAdministratorRole") -> BehaviorAPI:
    user_id = compadre.invite_user(role)
    return BehaviorAPI(compadre, user_id, compadre.access_token(user_id))


@pytest.fixture
def api(lab: Lab):
    """An administrator of the test's own (its own per-user rate-limit budget)."""
    client = new_api(lab.compadre)
    yield client
    client.close()


@pytest.fixture(scope="module")
def validation_api(lab: Lab):
    """One administrator for the (many, refused) bodies of the validation cases."""
    client = new_api(lab.compadre)
    yield client
    client.close()


# --------------------------------------------------------------------------
# Create, and what every view shows of it
# --------------------------------------------------------------------------


def test_create_then_read_the_set_its_version_and_invocations(api: BehaviorAPI, lab: Lab):
    scope = word()
    actions = [instruction(overrides=True), tool_candidates(tool_spec(lab.tool_id), overrides=False)]
    triggers = ["The user asks where the order is.", "The user gives an order number."]
    body = set_body(f"Order status {scope}", lab.services, tags={"scope": scope, "team": "support", "draft": None},
                    triggers=triggers, actions=actions)
    set_id = api.created(body)

    page = api.listed(id=set_id)
    assert (page.has_more, page.continuation_token) == (False, None)
    [got] = page.dynamic_behavior_sets
    assert got.name == f"Order status {scope}"
    assert got.is_active is True
    assert got.applied_to_services == lab.services
    assert got.tags == {"scope": scope, "team": "support", "draft": None}
    assert got.creator.model_dump() == api.me and got.updated_by.model_dump() == api.me
    assert got.created_at == got.updated_at and recent(got.created_at), (got.created_at, got.updated_at)
    # The first page says which values the filters can take.
    values = page.filter_values
    assert values is not None
    assert set(values.applied_to_services_ids) == set(lab.services)
    assert [c.model_dump() for c in values.creators] == [api.me]
    assert set(values.tags) == {"scope", "team", "draft"}

    versions = api.version_page(set_id)
    assert (versions.has_more, versions.continuation_token) == (False, None)
    [v1] = versions.dynamic_behavior_set_versions
    assert isinstance(v1, DynamicBehaviorSetVersion)
    assert OBJECT_ID.match(v1.field_id), v1.field_id
    assert (v1.org_id, v1.dynamic_behavior_set_id, v1.version) == (api.org, set_id, 1)
    assert v1.conversation_triggers == triggers
    assert [a.root for a in v1.actions] == actions_of(actions)
    assert v1.creator.model_dump() == api.me
    assert v1.created_at is not None and recent(v1.created_at)

    invocations = parse(DynamicBehaviorSetGetDynamicBehaviorInvocationsResponse, ok(api.invocations(set_id)))
    assert (invocations.dynamic_behavior_invocations, invocations.has_more, invocations.continuation_token) == ([], False, None)
    newest_first = parse(DynamicBehaviorSetGetDynamicBehaviorInvocationsResponse,
                         ok(api.invocations(set_id, sort_by="-invoked_at", limit=30)))
    assert newest_first.dynamic_behavior_invocations == []
    assert api.found(scope) == [set_id]


def test_name_and_triggers_are_stored_stripped(api: BehaviorAPI, lab: Lab):
    name = f"Padded {word()}"
    set_id = api.created(set_body(f"  {name}  ", [], triggers=["  The user says hello.  "]))
    assert api.one(set_id).name == name
    [v1] = api.version_page(set_id).dynamic_behavior_set_versions
    assert v1.conversation_triggers == ["The user says hello."]
    # The stripped name is the one a second active set may not have.
    assert api.create(set_body(name + " ", [])).status_code == 409


def test_instruction_is_stored_stripped(api: BehaviorAPI):
    set_id = api.created(set_body(f"Spaces {word()}", [], active=False, actions=[instruction("  Say hello.  ")]))
    [v1] = api.version_page(set_id).dynamic_behavior_set_versions
    assert [a.root for a in v1.actions] == actions_of([instruction("Say hello.")])


def test_tags_are_stored_stripped(api: BehaviorAPI):
    scope = word()
    set_id = api.created(set_body(f"Tags {word()}", [], active=False, tags={"scope": scope, " team ": " billing "}))
    assert api.one(set_id).tags == {"scope": scope, "team": "billing"}
    assert [s.id for s in api.listed(tag=[f"scope:{scope}", "team:billing"]).dynamic_behavior_sets] == [set_id]


# --------------------------------------------------------------------------
# One active set per name (409)
# --------------------------------------------------------------------------


def test_one_active_set_per_name(api: BehaviorAPI, lab: Lab):
    name = f"Refunds {word()}"
    first = api.created(set_body(name, lab.services[:1]))

    conflict = api.create(set_body(name, lab.services[1:]))
    assert conflict.status_code == 409, conflict.text
    assert isinstance(conflict.json().get("detail"), str), conflict.text

    # Inactive sets may share the name; activating one while the other is active is 409 and changes nothing.
    second = api.created(set_body(name, lab.services[1:], active=False))
    before = api.one(second)
    refused = api.update(second, {"is_active": True, "tags": {"changed": "yes"}})
    assert refused.status_code == 409, refused.text
    assert api.one(second) == before

    # An active set may be updated without changing its name (no conflict with itself).
    ok(api.update(first, {"tags": {"kept": None}}), 204)

    # Once the first is inactive, the second may be activated, and then the first may not.
    ok(api.update(first, {"is_active": False}), 204)
    ok(api.update(second, {"is_active": True}), 204)
    assert api.update(first, {"is_active": True}).status_code == 409
    assert (api.one(first).is_active, api.one(second).is_active) == (False, True)

    # Renaming: an inactive set may take the active set's name; an active one may not.
    other = api.created(set_body(f"Other {word()}", []))
    assert api.update(other, {"name": name}).status_code == 409
    assert api.one(other).name != name
    inactive = api.created(set_body(f"Inactive {word()}", [], active=False))
    ok(api.update(inactive, {"name": name}), 204)
    assert api.one(inactive).name == name


def test_concurrent_creates_of_one_active_name_let_exactly_one_through(
    api: BehaviorAPI, request: pytest.FixtureRequest, db_backend: str
):
    scope = word()
    for round_ in range(3):
        body = set_body(f"Race {round_} {scope}", [], tags={"scope": scope, "round": str(round_)})
        answers = simultaneously(api, 8, lambda twin: twin.create(body))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201] + [409] * 7, (round_, [(a.status_code, a.text[:120]) for a in answers])
        assert len(api.listed(tag=[f"scope:{scope}", f"round:{round_}"]).dynamic_behavior_sets) == 1


# --------------------------------------------------------------------------
# Services and tools that do not exist (404)
# --------------------------------------------------------------------------


def test_unknown_services_tools_and_sets_are_404(api: BehaviorAPI, lab: Lab):
    scope = word()
    tags = {"scope": scope}

    unknown_service = api.create(set_body(f"Ghost {scope}", [lab.services[0], UNKNOWN_ID], tags=tags))
    assert unknown_service.status_code == 404, unknown_service.text
    unknown_tool = api.create(set_body(f"Ghost {scope}", lab.services, tags=tags,
                                       actions=[tool_candidates(tool_spec(UNKNOWN_ID))]))
    assert unknown_tool.status_code == 404, unknown_tool.text
    assert api.listed(tag=f"scope:{scope}").dynamic_behavior_sets == [], "a refused create stored a set"

    set_id = api.created(set_body(f"Real {scope}", lab.services[:1], tags=tags))
    before = api.one(set_id)
    assert api.update(set_id, {"applied_to_services": [UNKNOWN_ID], "name": "renamed"}).status_code == 404
    assert api.one(set_id) == before, "a refused update changed the set"
    assert api.create_version(set_id, version(actions=[tool_candidates(tool_spec(UNKNOWN_ID))])).status_code == 404
    assert api.version_numbers(set_id) == [1], "a refused version was stored"

    for answer in (
        api.update(UNKNOWN_ID, {"name": "nobody"}),
        api.delete(UNKNOWN_ID),
        api.create_version(UNKNOWN_ID, version()),
        api.versions(UNKNOWN_ID),
        api.invocations(UNKNOWN_ID),
    ):
        assert answer.status_code == 404, f"{answer.request.method} {answer.request.url}: {answer.status_code} {answer.text}"
        assert isinstance(answer.json().get("detail"), str), answer.text


# --------------------------------------------------------------------------
# Bodies and parameters that break the schema (422)
# --------------------------------------------------------------------------


def _without(key: str):
    return lambda b: b.pop(key)


def _initial(**changes: Any):
    return lambda b: b["initial_version"].update(changes)


def _spec(**changes: Any):
    def change(b: dict) -> None:
        b["initial_version"]["actions"] = [tool_candidates(tool_spec(UNKNOWN_ID, **changes))]
    return change


# Each case: how the valid body is broken, and the field the 422 must name.
INVALID_BODIES = {
    "no name": (_without("name"), "name"),
    "blank name": (lambda b: b.update(name="   "), "name"),
    "no tags": (_without("tags"), "tags"),
    "no applied_to_services": (_without("applied_to_services"), "applied_to_services"),
    "no initial_version": (_without("initial_version"), "initial_version"),
    "service id not an object id": (lambda b: b.update(applied_to_services=["not-an-id"]), "applied_to_services"),
    "tag key with a dash": (lambda b: b.update(tags={"bad-key": "v"}), "tags"),
    "tag value with punctuation": (lambda b: b.update(tags={"key": "v!"}), "tags"),
    "21 tags": (lambda b: b.update(tags={f"k{i}": None for i in range(21)}), "tags"),
    "no is_active": (lambda b: b["initial_version"].pop("is_active"), "is_active"),
    "no triggers": (_initial(conversation_triggers=[]), "conversation_triggers"),
    "51 triggers": (_initial(conversation_triggers=[f"trigger {i}" for i in range(51)]), "conversation_triggers"),
    "blank trigger": (_initial(conversation_triggers=["ok", "  "]), "conversation_triggers"),
    "unknown action type": (_initial(actions=[{"type": "send-email", "to": "x@example.com"}]), "actions"),
    "blank instruction": (_initial(actions=[instruction("   ")]), "instruction"),
    "instruction without overrides_instructions": (
        _initial(actions=[{"type": "inject-instruction", "instruction": "x"}]), "overrides_instructions"),
    "tool id not an object id": (_spec(tool_id="nope"), "tool_id"),
    "audio filler after 0 s": (_spec(audio_filler_triggered_after=0), "audio_filler_triggered_after"),
    "audio filler after 11 s": (_spec(audio_filler_triggered_after=11), "audio_filler_triggered_after"),
    "six audio fillers": (_spec(audio_fillers=[f"filler {i}" for i in range(6)]), "audio_fillers"),
    "unknown result persistence": (_spec(result_persistence="forever"), "result_persistence"),
    "blank tool name": (_spec(tool_name=" "), "tool_name"),
}


@pytest.mark.parametrize("case", list(INVALID_BODIES))
def test_invalid_create_body_is_422_and_stores_nothing(validation_api: BehaviorAPI, lab: Lab, case: str):
    scope = word()
    body = set_body(f"Invalid {scope}", lab.services[:1], tags={"scope": scope})
    breaks, field = INVALID_BODIES[case]
    breaks(body)
    answer = validation_api.create(body)
    assert answer.status_code == 422, f"{case}: {answer.status_code} {answer.text}"
    detail = answer.json()["detail"]
    assert isinstance(detail, list) and detail, answer.text
    assert all(d["loc"][0] == "body" and d["msg"] for d in detail), answer.text
    assert any(field in d["loc"] for d in detail), f"{case}: the 422 does not name `{field}`: {answer.text}"
    assert validation_api.listed(tag=f"scope:{scope}").dynamic_behavior_sets == []


def test_invalid_update_version_and_query_parameters_are_422(api: BehaviorAPI, lab: Lab):
    set_id = api.created(set_body(f"Valid {word()}", lab.services[:1], active=False))
    before = api.one(set_id)
    refused = {
        "blank name": api.update(set_id, {"name": " "}),
        "tag key with a dash": api.update(set_id, {"tags": {"a-b": None}}),
        "service id not an object id": api.update(set_id, {"applied_to_services": ["xyz"]}),
        "is_active not a boolean": api.update(set_id, {"is_active": "very"}),
        "set id not an object id (update)": api.update("not-an-id", {"name": "x"}),
        "set id not an object id (delete)": api.delete("not-an-id"),
        "version without triggers": api.create_version(set_id, version(triggers=[])),
        "version with a blank instruction": api.create_version(set_id, version(actions=[instruction(" ")])),
        "expected version 1 (must be > 1)": api.create_version(set_id, version(), version=1),
        "expected version not a number": api.http.post(f"{api.base}/{set_id}/version/", params={"version": "next"}, json=version()),
        "list limit 51": api.sets(limit=51),
        "list limit -1": api.sets(limit=-1),
        "list sorted by name": api.sets(sort_by="-name"),
        "list id not an object id": api.sets(id="nope"),
        "list tag without a colon": api.sets(tag="nocolon"),
        "list is_active not a boolean": api.sets(is_active="maybe"),
        "search without query": api.search(None),
        "search with a blank query": api.search("   "),
        "versions limit 11": api.versions(set_id, limit=11),
        "versions limit 0": api.versions(set_id, limit=0),
        "versions sorted by created_at": api.versions(set_id, sort_by="-created_at"),
        "versions selector 5-2": api.versions(set_id, version="5-2"),
        "versions selector abc": api.versions(set_id, version="abc"),
        "invocations limit 31": api.invocations(set_id, limit=31),
        "invocations sorted by version": api.invocations(set_id, sort_by="version"),
    }
    wrong = {case: f"{a.status_code} {a.text[:200]}" for case, a in refused.items() if a.status_code != 422}
    assert not wrong, wrong
    no_detail = [case for case, a in refused.items() if not isinstance(a.json().get("detail"), list)]
    assert not no_detail, no_detail
    assert api.one(set_id) == before
    assert api.version_numbers(set_id) == [1]


# --------------------------------------------------------------------------
# Listing: filters, filter values, pages
# --------------------------------------------------------------------------


def test_listing_filters_and_filter_values(api: BehaviorAPI, lab: Lab):
    scope = word()
    s1, s2 = lab.services
    colleague = new_api(lab.compadre)
    try:
        a = api.created(set_body(f"A {scope}", [s1], tags={"scope": scope, "tier": "gold", "note": None}))
        b = api.created(set_body(f"B {scope}", [s2], active=False, tags={"scope": scope, "tier": "silver"}))
        c = colleague.created(set_body(f"C {scope}", [s1, s2], tags={"scope": scope, "note": "x"}))
        d = colleague.created(set_body(f"D {scope}", [], active=False, tags={"scope": scope}))
    finally:
        colleague.close()

    def ids(*tags: str, **params: Any) -> set[str]:
        page = api.listed(tag=[f"scope:{scope}", *tags], **params)
        return {s.id for s in page.dynamic_behavior_sets}

    assert ids() == {a, b, c, d}
    assert ids(is_active="true") == {a, c}
    assert ids(is_active="false") == {b, d}
    assert ids(applied_to_service=s1) == {a, c}
    assert ids(applied_to_service=[s1, s2]) == {a, b, c}
    assert ids(applied_to_service=UNKNOWN_ID) == set()
    assert ids(creator=f"{api.org},{api.user_id}") == {a, b}
    assert ids(creator=f"{api.org},{colleague.user_id}") == {c, d}
    assert ids("tier:gold") == {a}
    assert ids("tier:*") == {a, b}
    assert ids("note:") == {a}, "`key:` matches the sets whose value for key is null"
    assert ids("note:*", "tier:gold") == {a}, "several tags must all match"
    assert ids("missing:*") == set()
    assert ids(id=[a, d]) == {a, d}
    assert ids(id=UNKNOWN_ID) == set()

    page = api.listed(tag=f"scope:{scope}", is_active="true")
    values = page.filter_values
    assert values is not None
    assert set(values.applied_to_services_ids) == {s1, s2}
    assert {(c_.org_id, c_.user_id) for c_ in values.creators} == {(api.org, api.user_id), (api.org, colleague.user_id)}
    assert set(values.tags) == {"scope", "tier", "note"}


def test_listing_pages_with_limit_and_continuation_token(api: BehaviorAPI):
    scope = word()
    created = [api.created(set_body(f"Page {i} {scope}", [], active=False, tags={"scope": scope, "i": str(i)}))
               for i in range(5)]

    seen: list[str] = []
    pages: list[DynamicBehaviorSetGetDynamicBehaviorSetsResponse] = []
    token: int | None = None
    while True:
        params = {"tag": f"scope:{scope}", "limit": 2}
        if token is not None:
            params["continuation_token"] = token
        page = api.listed(**params)
        pages.append(page)
        seen += [s.id for s in page.dynamic_behavior_sets]
        assert len(pages) <= 5, "pagination does not end"
        if not page.has_more:
            assert page.continuation_token is None, page
            break
        assert page.continuation_token is not None, page
        token = page.continuation_token
    assert [len(p.dynamic_behavior_sets) for p in pages] == [2, 2, 1]
    assert sorted(seen) == sorted(created) and len(set(seen)) == 5
    # Filter values on the first page only.
    assert pages[0].filter_values is not None and set(pages[0].filter_values.tags) == {"scope", "i"}
    assert [p.filter_values for p in pages[1:]] == [None, None]

    whole = api.listed(tag=f"scope:{scope}", limit=5)
    assert (len(whole.dynamic_behavior_sets), whole.has_more, whole.continuation_token) == (5, False, None)
    assert api.listed(tag=f"scope:{scope}", limit=0).dynamic_behavior_sets == []

    # Sorted by updated_at: touch the oldest, and it moves to the front of the descending order.
    ok(api.update(created[0], {"tags": {"scope": scope, "i": "touched"}}), 204)
    descending = api.listed(tag=f"scope:{scope}", sort_by="-updated_at").dynamic_behavior_sets
    ascending = api.listed(tag=f"scope:{scope}", sort_by="+updated_at").dynamic_behavior_sets
    stamps = [s.updated_at for s in descending]
    assert stamps == sorted(stamps, reverse=True), stamps
    assert [s.updated_at for s in ascending] == sorted(stamps)
    assert descending[0].id == created[0] or stamps[0] == stamps[1], [(s.id, s.updated_at) for s in descending]


def test_fifty_one_sets_default_limit_and_search_cap(api: BehaviorAPI):
    """The listing's default limit and the search's cap are both 50."""
    scope = word()
    created = [api.created(set_body(f"Bulk {i} {scope}", [], active=False, tags={"scope": scope},
                                    triggers=[f"The user mentions {scope} number {i}."]))
               for i in range(51)]
    first = api.listed(tag=f"scope:{scope}")
    assert (len(first.dynamic_behavior_sets), first.has_more, first.continuation_token) == (50, True, 50)
    rest = api.listed(tag=f"scope:{scope}", continuation_token=first.continuation_token)
    assert (len(rest.dynamic_behavior_sets), rest.has_more, rest.continuation_token) == (1, False, None)
    assert sorted(s.id for s in first.dynamic_behavior_sets + rest.dynamic_behavior_sets) == sorted(created)

    found = api.found(scope)
    assert len(found) == 50 and set(found) <= set(created), len(found)


# --------------------------------------------------------------------------
# Search
# --------------------------------------------------------------------------


def test_search_finds_name_and_latest_trigger_matches_names_first(api: BehaviorAPI, lab: Lab):
    term = word()
    s1, s2 = lab.services
    # Created first (oldest): the name match must still rank above the newer trigger matches.
    by_name = api.created(set_body(f"Warranty {term}", [s1], triggers=["The user asks about warranties."]))
    by_trigger = api.created(set_body(f"Warranty claims {word()}", [s2], active=False,
                                      triggers=[f"The user quotes the {term} clause."]))
    # Matched by its first version's triggers only: search reads the latest version.
    outdated = api.created(set_body(f"Outdated {word()}", [s1], triggers=[f"Old {term} trigger."]))
    assert api.versioned(outdated, version(triggers=["Nothing to see here."])) == 2
    # Matched by neither.
    api.created(set_body(f"Unrelated {word()}", [s1], triggers=["The user says hello."]))
    # Matched by its latest version only.
    updated = api.created(set_body(f"Late {word()}", [s2], active=False, triggers=["Nothing yet."]))
    assert api.versioned(updated, version(triggers=[f"Now about {term}."]), version=2) == 2

    found = api.found(term)
    assert found[0] == by_name, found
    assert set(found) == {by_name, by_trigger, updated}, found
    # Several words: a set matching more of them ranks higher.
    assert api.found(f"{term} Warranty")[:2] == [by_name, by_trigger]
    # The listing's filters apply to the search too.
    assert set(api.found(term, is_active="false")) == {by_trigger, updated}
    assert api.found(term, applied_to_service=s1) == [by_name]
    assert api.found(word()) == []


# --------------------------------------------------------------------------
# Update
# --------------------------------------------------------------------------


def test_update_changes_what_it_names_and_records_who(api: BehaviorAPI, lab: Lab):
    scope = word()
    s1, s2 = lab.services
    set_id = api.created(set_body(f"Before {scope}", [s1], tags={"scope": scope, "old": "yes"}))
    before = api.one(set_id)

    editor = new_api(lab.compadre)
    try:
        body = {"name": f"After {scope}", "tags": {"scope": scope, "new": None}, "applied_to_services": [s2, s1],
                "is_active": False}
        DynamicBehaviorSetUpdateDynamicBehaviorSetRequest.model_validate({**body, "tags": None})
        updated = editor.update(set_id, body)
        assert (updated.status_code, updated.content) == (204, b""), updated.text
        after = editor.one(set_id)
    finally:
        editor.close()
    assert (after.name, after.tags, after.applied_to_services, after.is_active) == (
        f"After {scope}", {"scope": scope, "new": None}, [s2, s1], False)
    assert (after.created_at, after.creator) == (before.created_at, before.creator)
    assert after.updated_by.model_dump() == editor.me
    assert after.updated_at >= before.updated_at

    # Nothing named, nothing changed (but the update is recorded); services may become none.
    ok(api.update(set_id, {}), 204)
    kept = api.one(set_id)
    assert (kept.name, kept.tags, kept.applied_to_services, kept.is_active) == (
        after.name, after.tags, after.applied_to_services, after.is_active)
    ok(api.update(set_id, {"applied_to_services": [], "name": None}), 204)
    assert api.one(set_id).applied_to_services == [] and api.one(set_id).name == after.name
    # Updating the set does not make a version.
    assert api.version_numbers(set_id) == [1]


# --------------------------------------------------------------------------
# Versions
# --------------------------------------------------------------------------


def test_versions_numbers_selectors_sorting_and_pages(api: BehaviorAPI, lab: Lab):
    set_id = api.created(set_body(f"Versions {word()}", [], active=False, triggers=["trigger 1"]))
    # The next number is 2; naming another one is 400 and stores nothing.
    for wrong in (3, 7):
        refused = api.create_version(set_id, version(triggers=["never"]), version=wrong)
        assert refused.status_code == 400, refused.text
        assert isinstance(refused.json().get("detail"), str), refused.text
    assert api.version_numbers(set_id) == [1]
    assert api.versioned(set_id, version(triggers=["trigger 2"]), version=2) == 2
    assert api.create_version(set_id, version(), version=2).status_code == 400, "2 exists already"
    tool_actions = [instruction("Be brief."), tool_candidates(tool_spec(lab.tool_id, result_persistence="ephemeral"))]
    for n in range(3, 13):
        actions = tool_actions if n == 12 else None
        assert api.versioned(set_id, version(triggers=[f"trigger {n}"], actions=actions)) == n

    # Default: ascending, ten a page.
    first = api.version_page(set_id)
    assert [v.version for v in first.dynamic_behavior_set_versions] == list(range(1, 11))
    assert (first.has_more, first.continuation_token) == (True, 10)
    rest = api.version_page(set_id, continuation_token=10)
    assert [v.version for v in rest.dynamic_behavior_set_versions] == [11, 12]
    assert (rest.has_more, rest.continuation_token) == (False, None)
    for v in first.dynamic_behavior_set_versions + rest.dynamic_behavior_set_versions:
        assert v.conversation_triggers == [f"trigger {v.version}"]
        assert (v.dynamic_behavior_set_id, v.org_id, v.creator.model_dump()) == (set_id, api.org, api.me)
    assert len({v.field_id for v in first.dynamic_behavior_set_versions + rest.dynamic_behavior_set_versions}) == 12
    latest = rest.dynamic_behavior_set_versions[-1]
    assert [a.root for a in latest.actions] == actions_of(tool_actions)

    assert api.version_numbers(set_id, version="latest") == [12]
    assert api.version_numbers(set_id, version="3") == [3]
    assert api.version_numbers(set_id, version="2-5") == [2, 3, 4, 5]
    assert api.version_numbers(set_id, version="10-latest") == [10, 11, 12]
    assert api.version_numbers(set_id, version="13") == []
    assert api.version_numbers(set_id, sort_by="-version", limit=3) == [12, 11, 10]
    assert api.version_numbers(set_id, sort_by="+version", limit=3) == [1, 2, 3]
    page = api.version_page(set_id, version="1-latest", sort_by="-version", limit=4, continuation_token=4)
    assert [v.version for v in page.dynamic_behavior_set_versions] == [8, 7, 6, 5]
    assert (page.has_more, page.continuation_token) == (True, 8)
    exact = api.version_page(set_id, version="3-12", limit=10)
    assert (len(exact.dynamic_behavior_set_versions), exact.has_more, exact.continuation_token) == (10, False, None)


def test_concurrent_versions_get_distinct_numbers_and_one_expected_number_wins(
    api: BehaviorAPI, request: pytest.FixtureRequest, db_backend: str
):
    set_id = api.created(set_body(f"Concurrent {word()}", [], active=False))
    for round_ in range(3):
        answers = simultaneously(api, 8, lambda twin: twin.create_version(set_id, version()))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201] * 8, (round_, [(a.status_code, a.text[:160]) for a in answers])
        numbers = sorted(a.json()["new_version_number"] for a in answers)
        assert numbers == list(range(2 + 8 * round_, 10 + 8 * round_)), numbers
    answers = simultaneously(api, 6, lambda twin: twin.create_version(set_id, version(), version=26))
    assert sorted(a.status_code for a in answers) == [201] + [400] * 5, [(a.status_code, a.text) for a in answers]
    assert api.version_numbers(set_id, version="latest") == [26]


# --------------------------------------------------------------------------
# Delete
# --------------------------------------------------------------------------


def test_delete_removes_the_set_everywhere_and_frees_its_name(api: BehaviorAPI, lab: Lab):
    scope = word()
    name = f"Doomed {scope}"
    set_id = api.created(set_body(name, lab.services, tags={"scope": scope}, triggers=[f"About {scope}."]))
    api.versioned(set_id, version(triggers=[f"Still about {scope}."]))

    deleted = api.delete(set_id)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() is None, deleted.text

    assert api.listed(tag=f"scope:{scope}").dynamic_behavior_sets == []
    assert api.listed(id=set_id).dynamic_behavior_sets == []
    assert api.found(scope) == []
    for answer in (
        api.delete(set_id),
        api.update(set_id, {"name": "back"}),
        api.create_version(set_id, version()),
        api.versions(set_id),
        api.invocations(set_id),
    ):
        assert answer.status_code == 404, f"{answer.request.method} {answer.request.url}: {answer.status_code} {answer.text}"
    # The name of the deleted active set is free again.
    again = api.created(set_body(name, lab.services, tags={"scope": scope}))
    assert again != set_id
    assert api.version_numbers(again) == [1]


# --------------------------------------------------------------------------
# Who may do what
# --------------------------------------------------------------------------


def test_a_plain_user_may_not_manage_or_read_sets(api: BehaviorAPI, lab: Lab):
    scope = word()
    set_id = api.created(set_body(f"Private {scope}", lab.services, tags={"scope": scope}, triggers=[f"About {scope}."]))
    before = (api.one(set_id), api.version_page(set_id))

    plain = new_api(lab.compadre, "DefaultUserRole")
    try:
        forbidden = {
            "create": plain.create(set_body(f"Mine {scope}", [], tags={"scope": scope})),
            "update": plain.update(set_id, {"name": "pwned", "is_active": False}),
            "delete": plain.delete(set_id),
            "create version": plain.create_version(set_id, version(triggers=["pwned"])),
            "versions": plain.versions(set_id),
            "invocations": plain.invocations(set_id),
        }
        wrong = {op: f"{a.status_code} {a.text[:200]}" for op, a in forbidden.items() if a.status_code != 403}
        assert not wrong, wrong
        shown = [op for op, a in forbidden.items() if f"About {scope}." in a.text or f"Private {scope}" in a.text]
        assert not shown, f"refusals that show the set: {shown}"

        # Listing and search answer, with nothing in them.
        listing = plain.sets(tag=f"scope:{scope}")
        page = parse(DynamicBehaviorSetGetDynamicBehaviorSetsResponse, ok(listing))
        assert (page.dynamic_behavior_sets, page.has_more) == ([], False)
        assert set_id not in listing.text and lab.services[0] not in listing.text, listing.text
        search = plain.search(scope)
        assert parse(DynamicBehaviorSetSearchDynamicBehaviorSetsResponse, ok(search)).dynamic_behavior_sets == []
    finally:
        plain.close()

    assert (api.one(set_id), api.version_page(set_id)) == before
    assert len(api.listed(tag=f"scope:{scope}").dynamic_behavior_sets) == 1


PERMISSION = "DynamicBehaviorInstruction:{}DynamicBehaviorInstruction"

# Per role (its DynamicBehaviorInstruction permissions): what each operation answers. "seen" / "none":
# the listing and the search show the set or nothing. Creating a set takes Create and Update.
ROLE_ANSWERS = {
    "Get": {"create": 403, "list": "seen", "search": "seen", "versions": 200, "invocations": 200,
            "update": 403, "create version": 403, "delete": 403},
    "Create+Get": {"create": 403, "list": "seen", "search": "seen", "versions": 200, "invocations": 200,
                   "update": 403, "create version": 403, "delete": 403},
    "Create+Update": {"create": 201, "list": "none", "search": "none", "versions": 403, "invocations": 403,
                      "update": 204, "create version": 201, "delete": 403},
    "Delete": {"create": 403, "list": "none", "search": "none", "versions": 403, "invocations": 403,
               "update": 403, "create version": 403, "delete": 200},
}


def test_each_permission_opens_its_operations(api: BehaviorAPI, lab: Lab):
    scope = word()
    got: dict[str, dict[str, Any]] = {}
    for grants in ROLE_ANSWERS:
        role = f"Behaviors{grants.replace('+', '')}{scope}"
        ok(api.http.post(f"{lab.compadre.server.base_url}/v1/{api.org}/role/", json={
            "role_name": role, "description": f"Dynamic behavior sets: {grants}.", "frontend_view": "admin",
            "permission_grants": [{"permission_name": PERMISSION.format(g), "conditions": {}} for g in grants.split("+")],
        }), 201)
        target = api.created(set_body(f"Target {grants} {scope}", [], active=False, tags={"scope": scope},
                                      triggers=[f"About {scope}."]))
        user = new_api(lab.compadre, role)
        try:
            seen = lambda ids: "seen" if target in ids else "none"  # noqa: E731
            got[grants] = {
                "create": user.create(set_body(f"By {grants} {scope}", [], active=False)).status_code,
                "list": seen([s["id"] for s in ok(user.sets(tag=f"scope:{scope}"))["dynamic_behavior_sets"]]),
                "search": seen([s["id"] for s in ok(user.search(scope))["dynamic_behavior_sets"]]),
                "versions": user.versions(target).status_code,
                "invocations": user.invocations(target).status_code,
                "update": user.update(target, {"tags": {"scope": scope, "by": grants.replace("+", " ")}}).status_code,
                "create version": user.create_version(target, version()).status_code,
                "delete": user.delete(target).status_code,
            }
        finally:
            user.close()
    assert got == ROLE_ANSWERS


def test_without_a_token_every_operation_is_401(lab: Lab):
    base = f"{lab.compadre.server.base_url}/v1/{lab.compadre.org}/dynamic_behavior_set"
    calls = [
        ("POST", f"{base}/", set_body("x", [])),
        ("GET", f"{base}/", None),
        ("GET", f"{base}/search?query=x", None),
        ("POST", f"{base}/{UNKNOWN_ID}/", {"name": "x"}),
        ("DELETE", f"{base}/{UNKNOWN_ID}/", None),
        ("POST", f"{base}/{UNKNOWN_ID}/version/", version()),
        ("GET", f"{base}/{UNKNOWN_ID}/version/", None),
        ("GET", f"{base}/{UNKNOWN_ID}/invocation/", None),
    ]
    wrong = []
    for method, url, body in calls:
        answer = httpx.request(method, url, json=body, timeout=30)
        if answer.status_code != 401:
            wrong.append(f"{method} {url}: {answer.status_code} {answer.text[:200]}")
    assert not wrong, wrong
