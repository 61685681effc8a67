"""Requests schemathesis (Benchmarks/fuzz.sh) found answered wrongly, each with the right answer.

Every case is one exact request and the status (and, where it matters, the header or body) the server
must answer, as the served /openapi.json describes it. Two kinds:

- `DOCUMENTED`: the server was right and the document did not say so; scripts/gen-openapi.py now
  states the rule (a pattern, an enum, a bound). These pin the server to the rule the document states.
- `SWIFT`: the server's answer is wrong. Each is marked `xfail(strict=True)` with what to change, so
  the suite stays green until the fix lands and then fails until the mark is removed with it.

The fuzzer's own regression list is its seed: `Benchmarks/fuzz.sh --seed N` repeats a run exactly.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx
import pytest

from conftest import Compadre

GRAPH = {
    "description": "regression graph", "new_user_initial_state": "start", "returning_user_initial_state": "start",
    "terminal_state": "end", "references": {}, "global_intra_state_navigation_guidelines": [],
    "global_action_guidelines": [], "global_boundary_constraints": [],
    "states": [
        {"type": "action", "name": name, "objective": "o", "actions": ["a"], "intra_state_navigation_guidelines": [],
         "action_guidelines": [], "boundary_constraints": [], "action_tool_call_specs": [],
         "exit_condition_tool_call_specs": [], "skip_active_memory_retrieval": False,
         "exit_conditions": [{"description": "done", "next_state": "end"}] if name == "start" else []}
        for name in ("start", "end")
    ],
}
AGENT_V1 = {
    "initials": "RG", "background": "Regression agent.", "behaviors": [], "communication_patterns": [],
    "identity": {"name": "Reg", "role": "r", "developed_by": "d", "default_spoken_language": "eng",
                 "relationship_to_developer": {"ownership": "o", "type": "t", "conversation_visibility": "c",
                                               "thought_visibility": "t"}},
}


@dataclass
class World:
    """What the cases refer to: ids created once for the module."""

    http: httpx.Client
    org: str
    user: str
    agent: str  # with a version, used by `service`
    graph: str  # with a version, used by `service`
    service: str
    tool: str
    role: str
    spare_agents: list[str] = field(default_factory=list)  # no version, no service: deletable
    spare_graphs: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def world(compadre: Compadre):
    org = compadre.org
    token = compadre.access_token()
    with httpx.Client(base_url=compadre.server.base_url, headers={"Authorization": f"Bearer {token}"},
                      timeout=60) as http:

        def created(method: str, path: str, body: Any) -> dict:
            response = http.request(method, f"/v1/{org}{path}", json=body)
            assert response.status_code in (200, 201), f"{method} {path}: {response.status_code} {response.text}"
            return response.json() if response.content else {}

        agent = created("POST", "/organization/agent", {"agent_name": f"reg-{secrets.token_hex(4)}"})["id"]
        created("POST", f"/organization/agent/{agent}/", AGENT_V1)
        graph = created("POST", "/organization/service_hierarchical_state_machine",
                        {"state_machine_name": f"reg-{secrets.token_hex(4)}"})["id"]
        created("POST", f"/organization/service_hierarchical_state_machine/{graph}/", GRAPH)
        service = created("POST", "/service/", {
            "name": f"reg-{secrets.token_hex(4)}", "description": "regression", "is_active": True, "agent_id": agent,
            "service_hierarchical_state_machine_id": graph, "keyterms": [], "tags": {}})["id"]
        tool = created("POST", "/tool/", {"name": f"reg_{secrets.token_hex(4)}", "description": "regression",
                                          "tags": {}})["id"]
        role = f"RegressionRole{secrets.token_hex(4)}"
        created("POST", "/role/", {"role_name": role, "description": "regression", "frontend_view": "client",
                                   "permission_grants": []})
        spare_agents = [created("POST", "/organization/agent", {"agent_name": f"spare-{i}-{secrets.token_hex(4)}"})["id"]
                        for i in range(1)]
        spare_graphs = [created("POST", "/organization/service_hierarchical_state_machine",
                                {"state_machine_name": f"spare-{i}-{secrets.token_hex(4)}"})["id"] for i in range(1)]
        yield World(http=http, org=org, user=compadre.credentials.user_id, agent=agent, graph=graph, service=service,
                    tool=tool, role=role, spare_agents=spare_agents, spare_graphs=spare_graphs)


@dataclass
class Case:
    id: str
    method: str
    path: str  # formatted with the World's fields: {org}, {agent}, {service}...
    expect: int
    params: list[tuple[str, str]] = field(default_factory=list)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    allow: str | None = None  # the Allow header a 405 must carry
    json_body: bool = False  # the answer must be JSON with Content-Type application/json
    swift: str | None = None  # what the server must change; None when it answers right already

    def param(self):
        marks = [pytest.mark.xfail(strict=True, reason=self.swift)] if self.swift else []
        return pytest.param(self, id=self.id, marks=marks)


A = "a" * 24  # an object id nothing has
COMBINING_COLON = ":\u0301"  # ':' and a combining mark: one Swift Character, two Unicode scalars
SKIN_TONE_COLON = ":\U0001F3FB"  # ':' and an emoji modifier, as schemathesis sent it

DOCUMENTED = [
    # Tag filters are key:value (document: pattern ":").
    Case("tool-tag-without-colon", "GET", "/v1/{org}/tool/", 422, params=[("tag", "team")]),
    Case("tool-tag-with-colon", "GET", "/v1/{org}/tool/", 200, params=[("tag", "team:")]),
    Case("conversation-tag-without-colon", "GET", "/v1/{org}/conversation/", 422, params=[("tag", "")]),
    # sort_by fields (document: enum with +/- prefixes).
    Case("sort-plus-field", "GET", "/v1/{org}/service/", 200, params=[("sort_by", "+name")]),
    Case("sort-unknown-field", "GET", "/v1/{org}/service/", 422, params=[("sort_by", "")]),
    Case("user-sort-nested-field", "GET", "/v1/{org}/user/", 200, params=[("sort_by", "-user_stats.num_messages")]),
    # Continuation tokens are offsets up to 2**31-1 (document: minimum/maximum).
    Case("continuation-token-too-large", "GET", "/v1/{org}/organization/service_hierarchical_state_machine", 422,
         params=[("continuation_token", "2147483648")]),
    Case("continuation-token-negative", "GET", "/v1/{org}/tool/", 422, params=[("continuation_token", "-1")]),
    # Version selectors of agent / graph version listings (document: pattern).
    Case("agent-versions-empty-selector", "GET", "/v1/{org}/organization/agent/{agent}/version", 422,
         params=[("version", "")]),
    Case("agent-versions-open-range", "GET", "/v1/{org}/organization/agent/{agent}/version", 200,
         params=[("version", "1-latest")]),
    Case("graph-versions-zero", "GET",
         "/v1/{org}/organization/service_hierarchical_state_machine/{graph}/version", 422, params=[("version", "0")]),
    # PEP 440 specifiers (document: pattern).
    Case("deprecate-versions-no-operator", "DELETE", "/v1/{org}/tool/{tool}/version/0", 422),
    Case("deprecate-versions-specifier", "DELETE", "/v1/{org}/tool/{tool}/version/%3E%3D1.0%2C%3C2", 204),
    Case("tool-versions-number-too-large", "GET", "/v1/{org}/tool/{tool}/version", 422,
         params=[("versions", "==" + "9" * 20)]),
    Case("invoke-version-not-semver", "POST", "/v1/{org}/tool/{tool}/version/0/invoke", 422,
         body={"inputs": [{"input_parameters": {}, "invocation_mode": "regular", "nonsensitive_user_variables": {},
                           "sensitive_user_variables": {}}]}),
    # An empty credential header is a missing one (document: minLength 1).
    Case("signin-empty-headers", "POST", "/v1/{org}/user/signin_with_api_key", 422,
         headers={"x-api-key": "k", "x-api-key-id": "i", "x-user-id": ""}),
    # Stripped strings must keep a character (document: pattern).
    Case("blank-description", "POST", "/v1/{org}/tool/", 422,
         body={"name": "blank_description", "description": "   ", "tags": {}}),
    Case("blank-tag-key", "POST", "/v1/{org}/tool/", 422,
         body={"name": "blank_tag_key", "description": "d", "tags": {" ": "v"}}),
    Case("tool-name-101", "POST", "/v1/{org}/tool/", 400, body={"name": "a" * 101, "description": "d", "tags": {}}),
    Case("permission-name-form", "POST", "/v1/{org}/role/", 422,
         body={"role_name": "bad-grant", "description": "d", "frontend_view": "client",
               "permission_grants": [{"permission_name": "", "conditions": {}}]}),
    Case("envvar-name-anchored", "POST", "/v1/{org}/tool/{tool}/envvar", 422,
         body={"inserts": [{"name": "lowerUPPER", "value": "v", "is_secret": False}]}),
    Case("version-number-zero", "POST", "/v1/{org}/service/", 422,
         body={"name": "zero", "description": "d", "is_active": False, "agent_id": "{agent}",
               "service_hierarchical_state_machine_id": "{graph}", "keyterms": [], "tags": {},
               "release_version_set": {"agent_version_number": None, "llm_model_preferences": {},
                                       "service_hierarchical_state_machine_version_number": 0}}),
    Case("version-number-past-int64", "PUT", "/v1/{org}/service/{service}/version_sets/big/", 422,
         body={"version_set": {"agent_version_number": 2**63, "llm_model_preferences": {},
                               "service_hierarchical_state_machine_version_number": 1}}),
    # Languages and time zones (document: pattern, enum).
    Case("language-not-letters", "POST", "/v1/{org}/user/{user}", 422, body={"preferred_language": "000"}),
    Case("time-zone-localtime", "POST", "/v1/{org}/user/{user}", 422, body={"timezone": "localtime"}),
    Case("time-zone-known", "POST", "/v1/{org}/user/{user}", 204, body={"timezone": "Europe/Kyiv"}),
    # Base64 (document: pattern).
    Case("base64-unpadded", "POST", "/v1/{org}/organization/", 422, body={"logo": "QQ"}),
    Case("base64-padded", "POST", "/v1/{org}/organization/", 204, body={"logo": "QQ=="}),
    # A message type needs a message (document: if/then).
    Case("message-type-without-message", "POST", "/v1/{org}/conversation/", 422,
         params=[("response_format", "text")], body={"service_id": "{service}", "initial_message_type": "user-message"}),
    # Voice is not supported yet (document: enum ["text"]).
    Case("voice-output", "POST", "/v1/{org}/conversation/", 400, params=[("response_format", "voice")],
         body={"service_id": "{service}"}),
    Case("voice-input", "POST", "/v1/{org}/conversation/{service}/interact", 415,
         params=[("request_format", "voice"), ("response_format", "text")]),
    # The agent-action filter is a regular expression (document: format regex).
    Case("action-filter-not-a-regex", "POST", "/v1/{org}/conversation/", 422,
         params=[("response_format", "text"), ("current_agent_action_type", "*")], body={"service_id": "{service}"}),
]

SWIFT = [
    # An undeclared method on a path is a 405 whose Allow lists that path's methods. RouteMethods unions
    # every pattern that matches (so /tool/test also gets /tool/{tool_id}'s DELETE); it must take only the
    # routes the router would pick (a literal segment before a parameter), and answer 405, not 404, when
    # those lack the method.
    Case("options-tool-test", "OPTIONS", "/v1/{org}/tool/test", 405, allow="POST"),
    Case("delete-tool-test", "DELETE", "/v1/{org}/tool/test", 405, allow="POST"),
    Case("options-signin", "OPTIONS", "/v1/{org}/user/signin_with_api_key", 405, allow="POST"),
    Case("post-scaffold", "POST", "/v1/{org}/tool/amigo_tool_scaffold.tar.gz", 405, allow="GET"),
    Case("post-invocations", "POST", "/v1/{org}/tool/invocation", 405, allow="GET"),
    Case("post-user-search", "POST", "/v1/{org}/user/search/", 405, allow="GET", params=[("query", "x")]),
    # The document (and the reference) says these 200s carry JSON; FastAPI sends `null`.
    Case("delete-agent-json", "DELETE", "/v1/{org}/organization/agent/{spare_agent}/", 200, json_body=True),
    Case("delete-graph-json", "DELETE", "/v1/{org}/organization/service_hierarchical_state_machine/{spare_graph}/",
         200, json_body=True),
    Case("update-service-json", "POST", "/v1/{org}/service/{service}/", 200, body={"description": "updated"},
         json_body=True),
    # A path git does not serve is a 404 like any other: JSON ErrorBody.
    Case("git-get-unknown-path", "GET", "/v1/{org}/tool/git/0", 404, json_body=True),
    Case("git-post-unknown-path", "POST", "/v1/{org}/tool/git/0", 404, json_body=True),
    # `null` for a field the document does not make nullable is a 422, as Pydantic answers; decodeIfPresent
    # reads it as absent.
    Case("api-key-role-name-null", "POST", "/v1/{org}/organization/api_key/", 422,
         body={"name": None, "duration": "P1D", "role_name": None}),
    Case("invited-user-sensitive-variables-null", "POST", "/v1/{org}/user/", 422,
         body={"email": "null-vars@example.com", "first_name": "N", "last_name": "V", "role_name": "DefaultUserRole",
               "sensitive_user_variables": None}),
    Case("preferences-boolean-null", "POST", "/v1/{org}/organization/", 422,
         body={"default_user_preferences": {"user_model_visible_to_admins": None}}),
    Case("condition-type-null", "POST", "/v1/{org}/role/", 422,
         body={"role_name": "null-condition", "description": "d", "frontend_view": "client",
               "permission_grants": [{"permission_name": "*", "conditions": {"user_id": {"type": None, "values": []}}}]}),
    Case("modify-role-condition-type-null", "POST", "/v1/{org}/role/{role}", 422,
         body={"permission_grants": [{"permission_name": "Service:GetService",
                                      "conditions": {"user_id": {"type": None, "value": "x"}}}]}),
    Case("envvar-updates-null", "POST", "/v1/{org}/tool/{tool}/envvar", 422, body={"updates": None}),
    # `:` is found by Character; a colon followed by a combining mark or emoji modifier is one Character.
    # Split on Unicode scalars (or UTF-8), as Python does.
    Case("tag-colon-combining", "GET", "/v1/{org}/conversation/", 200, params=[("tag", "a" + COMBINING_COLON + "b")]),
    Case("tool-tag-colon-modifier", "GET", "/v1/{org}/tool/", 200, params=[("tag", "a" + SKIN_TONE_COLON)]),
    Case("permission-colon-modifier", "POST", "/v1/{org}/role/", 201,
         body={"role_name": "modifier-colon", "description": "d", "frontend_view": "client",
               "permission_grants": [{"permission_name": "Res" + SKIN_TONE_COLON + "Act", "conditions": {}}]}),
    # Query.objectIDs means to merge repeated ids (as a Pydantic set does), but on Linux
    # `Array(NSOrderedSet(array:)) as? [String]` fails and the repeats stay.
    Case("invocations-repeated-tool-id", "GET", "/v1/{org}/tool/invocation", 200,
         params=[("tool_id", A), ("tool_id", A), ("version", ">=1")]),
    # update-service: an agent or graph in the body that does not exist makes an invalid service, a 400 in
    # the reference; its 404 is for the organization or the service only.
    Case("update-service-unknown-agent", "POST", "/v1/{org}/service/{service}/", 400, body={"agent_id": A}),
    # The e-mail filter is `format: email` (Pydantic EmailStr in the reference).
    Case("users-email-filter-not-an-email", "GET", "/v1/{org}/user/", 422, params=[("email", "not-an-email")]),
    # Pydantic reads ISO 8601 years and months as 365 and 30 days: P1M is a valid 30-day key.
    Case("api-key-duration-months", "POST", "/v1/{org}/organization/api_key/", 201,
         body={"name": "months", "duration": "P1M"}),
    # Languages and zones outside the reference's lists (low priority).
    Case("org-language-two-letters", "POST", "/v1/{org}/organization/", 422,
         body={"default_user_preferences": {"preferred_language": "en"}}),
    Case("time-zone-abbreviation", "POST", "/v1/{org}/user/{user}", 422, body={"timezone": "PST"},
         swift="204: TimeZone(identifier:) also takes abbreviations and GMT offsets; check the document's list"),
]


def _fill(value: Any, world: World) -> Any:
    names = {"org": world.org, "agent": world.agent, "graph": world.graph, "service": world.service,
             "tool": world.tool, "user": world.user, "role": world.role,
             "spare_agent": world.spare_agents[0], "spare_graph": world.spare_graphs[0]}
    if isinstance(value, str):
        return value.format(**names) if "{" in value else value
    if isinstance(value, list):
        return [_fill(v, world) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    return value


def _check(case: Case, world: World) -> None:
    request = world.http.build_request(
        case.method, _fill(case.path, world), params=case.params or None,
        content=None if case.body is None else json.dumps(_fill(case.body, world)).encode(),
        headers={**({"Content-Type": "application/json"} if case.body is not None else {}), **case.headers},
    )
    if case.id == "voice-input":  # a multipart form, as the SDK sends one
        request = world.http.build_request(case.method, _fill(case.path, world), params=case.params,
                                           files={"initial_message_type": (None, "user-message"),
                                                  "recorded_message": (None, "hello")})
    response = world.http.send(request)
    detail = f"{case.method} {request.url}: {response.status_code} {response.headers.get('content-type')} {response.text[:300]}"
    assert response.status_code == case.expect, detail
    if case.allow is not None:
        assert response.headers.get("allow") == case.allow, detail
    if case.json_body:
        assert response.headers.get("content-type", "").startswith("application/json"), detail
        json.loads(response.content)


@pytest.mark.parametrize("case", [c.param() for c in DOCUMENTED])
def test_documented_rule(case: Case, world: World) -> None:
    _check(case, world)


@pytest.mark.parametrize("case", [c.param() for c in SWIFT])
def test_server_answer(case: Case, world: World) -> None:
    _check(case, world)


def test_document_states_the_rules(world: World) -> None:
    """The served document carries the rules above (a binary built with the regenerated document)."""
    document = world.http.get("/openapi.json").json()
    paths = document["paths"]
    graph = "/v1/{organization}/organization/service_hierarchical_state_machine/{service_hierarchical_state_machine_id}/"
    assert set(paths[graph]) == {"post", "delete"}, "one path item for a graph's POST and DELETE"
    interact = paths["/v1/{organization}/conversation/{conversation_id}/interact"]["post"]
    assert not [p for p in interact["parameters"] if p["name"].lower() == "content-type"]
    tools = {p["name"]: p["schema"] for p in paths["/v1/{organization}/tool/"]["get"]["parameters"]}
    assert tools["tag"]["items"]["pattern"] == ":"
    assert "+name" in tools["sort_by"]["items"]["enum"]
    assert tools["continuation_token"]["maximum"] == 2**31 - 1
    assert "localtime" not in document["components"]["schemas"]["TimeZoneName"]["enum"]
