"""Management API through the official Python SDK (`amigo-sdk`), unchanged.

Every call goes through `AmigoClient` the way an application makes it: the SDK
signs in with the API key `compadre init` printed, attaches the bearer token,
and parses every response with its own pydantic models (a response the models
reject fails the test with a pydantic ValidationError).
"""

from __future__ import annotations

import copy
import re
import secrets
import uuid
from datetime import datetime

import httpx
import pytest

from amigo_sdk import AmigoClient
from amigo_sdk.errors import AuthenticationError, ConflictError, ValidationError
from amigo_sdk.generated.model import (
    GetAgentsParametersQuery,
    GetAgentVersionsParametersQuery,
    GetServiceHierarchicalStateMachinesParametersQuery,
    GetServiceHierarchicalStateMachineVersionsParametersQuery,
    GetServicesParametersQuery,
    GetUsersParametersQuery,
    OrganizationCreateAgentRequest,
    OrganizationCreateAgentVersionRequest,
    OrganizationCreateServiceHierarchicalStateMachineRequest,
    OrganizationCreateServiceHierarchicalStateMachineVersionRequest,
    OrganizationGetOrganizationResponse,
    ServiceCreateServiceRequest,
    ServiceCreateServiceResponse,
    UserCreateInvitedUserRequest,
    UserUpdateUserInfoRequest,
)

from conftest import Compadre, database_url_for, init_org, random_org_id, run_init

OBJECT_ID = re.compile(r"^[a-f0-9]{24}$")


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


# --------------------------------------------------------------------------
# Request bodies
# --------------------------------------------------------------------------

AGENT_V1 = {
    "initials": "CB",
    "identity": {
        "name": "Compat Bot",
        "role": "Test assistant",
        "developed_by": "Compadre",
        "default_spoken_language": "eng",
        "relationship_to_developer": {
            "ownership": "Compadre",
            "type": "assistant",
            "conversation_visibility": "The developer can read the conversations.",
            "thought_visibility": "The developer can read the inner thoughts.",
        },
    },
    "background": "A small assistant used by the compatibility tests.",
    "behaviors": ["Be brief.", "Be polite."],
    "communication_patterns": ["Short sentences."],
    "voice_config": None,
}


def _action_state(name: str, actions: list[str], exits: list[dict]) -> dict:
    return {
        "type": "action",
        "name": name,
        "objective": f"Objective of {name}.",
        "actions": actions,
        "intra_state_navigation_guidelines": [],
        "action_guidelines": [],
        "boundary_constraints": [],
        "exit_conditions": exits,
        "action_tool_call_specs": [],
        "exit_condition_tool_call_specs": [],
        "skip_active_memory_retrieval": False,
    }


def valid_graph() -> dict:
    """action initial state -> decision state -> action terminal state."""
    return {
        "description": "A tiny greeting graph used by the compatibility tests.",
        "states": [
            _action_state(
                "start",
                ["Greet the user and ask what they need."],
                [{"description": "The user said what they need.", "next_state": "route"}],
            ),
            {
                "type": "decision",
                "name": "route",
                "objective": "Decide whether the conversation is over.",
                "exit_conditions": [
                    {"description": "The user wants to stop.", "next_state": "goodbye"},
                    {"description": "The user wants to go on.", "next_state": "start"},
                ],
                "decision_guidelines": ["Prefer going on when unsure."],
                "tool_call_specs": [],
                "audio_fillers": [],
                "audio_filler_triggered_after": 2.0,
            },
            _action_state("goodbye", ["Say goodbye."], []),
        ],
        "new_user_initial_state": "start",
        "returning_user_initial_state": "start",
        "terminal_state": "goodbye",
        "references": {},
        "global_intra_state_navigation_guidelines": [],
        "global_action_guidelines": ["Stay on topic."],
        "global_boundary_constraints": ["Never ask for passwords."],
    }


def _state(graph: dict, name: str) -> dict:
    return next(s for s in graph["states"] if s["name"] == name)


def _invalid_terminal_two_actions(g: dict) -> None:
    _state(g, "goodbye")["actions"] = ["Say goodbye.", "Wave."]


def _invalid_terminal_with_exit(g: dict) -> None:
    _state(g, "goodbye")["exit_conditions"] = [
        {"description": "Back to the start.", "next_state": "start"}
    ]


def _invalid_unknown_next_state(g: dict) -> None:
    _state(g, "start")["exit_conditions"][0]["next_state"] = "nowhere"


def _invalid_self_transition(g: dict) -> None:
    _state(g, "start")["exit_conditions"][0]["next_state"] = "start"


def _invalid_initial_is_decision(g: dict) -> None:
    g["new_user_initial_state"] = "route"


def _invalid_unknown_terminal(g: dict) -> None:
    g["terminal_state"] = "missing"


INVALID_GRAPHS = {
    "terminal-two-actions": _invalid_terminal_two_actions,
    "terminal-with-exit-condition": _invalid_terminal_with_exit,
    "unknown-next-state": _invalid_unknown_next_state,
    "self-transition": _invalid_self_transition,
    "initial-state-not-action": _invalid_initial_is_decision,
    "unknown-terminal-state": _invalid_unknown_terminal,
}


# --------------------------------------------------------------------------
# Steps shared by several tests
# --------------------------------------------------------------------------


def create_agent_with_version(client: AmigoClient) -> str:
    created = client.agents.create_agent(
        OrganizationCreateAgentRequest(agent_name=unique("compat-agent"))
    )
    assert OBJECT_ID.match(created.id), created.id
    version = client.agents.create_agent_version(
        created.id, OrganizationCreateAgentVersionRequest.model_validate(AGENT_V1)
    )
    assert version.version == 1
    return created.id


def create_graph_with_version(client: AmigoClient) -> str:
    created = client.context_graphs.create_context_graph(
        OrganizationCreateServiceHierarchicalStateMachineRequest(
            state_machine_name=unique("compat-graph")
        )
    )
    assert OBJECT_ID.match(created.id), created.id
    version = client.context_graphs.create_context_graph_version(
        created.id,
        OrganizationCreateServiceHierarchicalStateMachineVersionRequest.model_validate(
            valid_graph()
        ),
    )
    assert version.version == 1
    return created.id


def service_body(agent_id: str, graph_id: str, name: str, tags: dict) -> dict:
    return {
        "service_hierarchical_state_machine_id": graph_id,
        "agent_id": agent_id,
        "name": name,
        "description": "Service of the compatibility tests.",
        "is_active": True,
        "keyterms": ["compadre", "context graph"],
        "tags": tags,
    }


def create_service(
    client: AmigoClient, agent_id: str, graph_id: str, name: str | None = None
) -> str:
    """Through `client.services.create_service`, without tags.

    amigo-sdk 2.5.0 cannot build a ServiceCreateServiceRequest with tags: its
    tag keys are RootModel instances, which are unhashable (TypeError). Tagged
    services go through `create_tagged_service` below.
    """
    created = client.services.create_service(
        ServiceCreateServiceRequest.model_validate(
            service_body(agent_id, graph_id, name or unique("compat-service"), {})
        )
    )
    assert OBJECT_ID.match(created.id), created.id
    return created.id


def create_tagged_service(
    client: AmigoClient, agent_id: str, graph_id: str, name: str, tags: dict
) -> str:
    """POST /v1/{org}/service/ through the SDK's own HTTP client (auth, retries,
    error mapping) with the same JSON the SDK method would send, parsed with
    the SDK's response model."""
    response = client._http.request(
        "POST",
        f"/v1/{client.config.organization_id}/service/",
        json=service_body(agent_id, graph_id, name, tags),
    )
    assert response.status_code == 201, response.text
    created = ServiceCreateServiceResponse.model_validate_json(response.text)
    assert OBJECT_ID.match(created.id), created.id
    return created.id


def invite_user(client: AmigoClient) -> tuple[str, str]:
    email = f"{unique('user')}@example.com"
    created = client.users.create_user(
        UserCreateInvitedUserRequest(
            first_name="Ada",
            last_name="Lovelace",
            email=email,
            role_name="DefaultUserRole",
        )
    )
    assert OBJECT_ID.match(created.user_id), created.user_id
    assert created.verify_link is None  # no login_link was sent
    return created.user_id, email


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


def test_init_twice_for_same_org_fails(compadre_bin, db_backend, tmp_path):
    database_url = database_url_for(db_backend, tmp_path)
    org = random_org_id()
    creds = init_org(compadre_bin, org, database_url)
    assert creds.organization_id == org
    assert OBJECT_ID.match(creds.user_id), creds.user_id
    assert creds.api_key_id and creds.api_key

    again = run_init(compadre_bin, org, database_url)
    assert again.returncode != 0, f"second init succeeded: {again.stdout}"
    assert again.stderr.strip(), "second init must explain the failure on stderr"
    assert creds.api_key not in again.stdout + again.stderr


# --------------------------------------------------------------------------
# Authentication
# --------------------------------------------------------------------------


def test_sign_in_and_get_organization(compadre: Compadre, client: AmigoClient):
    org = client.organizations.get()
    assert isinstance(org, OrganizationGetOrganizationResponse)
    assert org.org_id == compadre.org
    assert org.org_name


def test_one_hundred_clients_a_minute_with_one_key_all_work(compadre: Compadre):
    """The SDK signs in once per client object: an application that makes a client per task signs in
    often. Valid keys are not held to the document's 5 sign-ins a minute (failed ones are limited)."""
    for _ in range(100):
        with compadre.client() as client:
            assert client.organizations.get().org_id == compadre.org


@pytest.mark.parametrize("wrong", ["api_key", "api_key_id", "user_id"])
def test_wrong_credentials_raise_authentication_error(compadre: Compadre, wrong: str):
    bad = {
        "api_key": "not-the-key-" + secrets.token_hex(8),
        "api_key_id": str(uuid.uuid4()),
        "user_id": secrets.token_hex(12),
    }[wrong]
    with compadre.client(**{wrong: bad}) as bad_client:
        with pytest.raises(AuthenticationError) as info:
            bad_client.organizations.get()
    # The SDK wraps the failed exchange; the server must have said 401.
    cause = info.value.__cause__
    while cause is not None and not isinstance(cause, httpx.HTTPStatusError):
        cause = cause.__cause__
    assert cause is not None, f"no HTTP error behind {info.value!r}"
    assert cause.response.status_code == 401, (
        f"POST {cause.request.url} -> {cause.response.status_code}: {cause.response.text}"
    )


def test_request_without_token_is_401(compadre: Compadre):
    # get-organization is public in the reference (no security), so probe a protected listing.
    url = f"{compadre.server.base_url}/v1/{compadre.org}/service/"
    resp = httpx.get(url)
    assert resp.status_code == 401, resp.text
    assert "detail" in resp.json()


# --------------------------------------------------------------------------
# Agents
# --------------------------------------------------------------------------


def test_agent_and_versions(compadre: Compadre, client: AmigoClient):
    agent_id = create_agent_with_version(client)

    listed = client.agents.get_agents(GetAgentsParametersQuery(id=[agent_id]))
    assert [a.id for a in listed.agents] == [agent_id]
    assert listed.agents[0].latest_version == 1
    assert listed.agents[0].deprecated is False
    assert listed.has_more is False

    versions = client.agents.get_agent_versions(agent_id)
    assert len(versions.agent_versions) == 1
    v1 = versions.agent_versions[0]
    assert v1.agent_id == agent_id
    assert v1.org_id == compadre.org
    assert v1.version == 1
    assert v1.initials == AGENT_V1["initials"]
    assert v1.identity.model_dump() == AGENT_V1["identity"]
    assert v1.background == AGENT_V1["background"]
    assert v1.behaviors == AGENT_V1["behaviors"]
    assert v1.communication_patterns == AGENT_V1["communication_patterns"]
    assert v1.voice_config is None
    assert isinstance(v1.created_at, datetime) and v1.created_at.tzinfo is not None
    assert v1.creator.user_id == client.config.user_id
    assert v1.creator.org_id == compadre.org


def test_agent_version_patch_and_expected_version(client: AmigoClient):
    agent_id = create_agent_with_version(client)

    # Later versions are patches: omitted fields come from the latest version.
    v2 = client.agents.create_agent_version(
        agent_id,
        OrganizationCreateAgentVersionRequest(background="Second background."),
        version=2,
    )
    assert v2.version == 2

    latest = client.agents.get_agent_versions(
        agent_id, GetAgentVersionsParametersQuery(version="latest")
    )
    assert [v.version for v in latest.agent_versions] == [2]
    assert latest.agent_versions[0].background == "Second background."
    assert latest.agent_versions[0].identity.model_dump() == AGENT_V1["identity"]
    assert latest.agent_versions[0].behaviors == AGENT_V1["behaviors"]

    # ?version=N must be the next number, else 409.
    with pytest.raises(ConflictError):
        client.agents.create_agent_version(
            agent_id,
            OrganizationCreateAgentVersionRequest(background="Stale write."),
            version=2,
        )

    both = client.agents.get_agent_versions(
        agent_id, GetAgentVersionsParametersQuery(version="1-latest", sort_by=["+version"])
    )
    assert [v.version for v in both.agent_versions] == [1, 2]


# --------------------------------------------------------------------------
# Context graphs
# --------------------------------------------------------------------------


def test_a_graph_with_recall_states_is_created_through_the_sdk(client: AmigoClient):
    """The SDK drops None fields: each recall state arrives without the null one of `queries` and
    `requested_information`, and the graph is still accepted."""
    graph = valid_graph()
    start = _state(graph, "start")
    start["exit_conditions"] = [{"description": "The user said what they need.", "next_state": "remember"}]
    graph["states"] += [
        {"type": "recall", "name": "remember", "queries": ["the user's favourite colour"],
         "requested_information": None, "next_state": "ask"},
        {"type": "recall", "name": "ask", "queries": None,
         "requested_information": "What the user needs today.", "next_state": "route"},
    ]
    created = client.context_graphs.create_context_graph(
        OrganizationCreateServiceHierarchicalStateMachineRequest(state_machine_name=unique("compat-recall"))
    )
    request = OrganizationCreateServiceHierarchicalStateMachineVersionRequest.model_validate(graph)
    sent = request.model_dump(mode="json", exclude_none=True)
    recalls = [state for state in sent["states"] if state["type"] == "recall"]
    assert [sorted(state) for state in recalls] == [
        ["name", "next_state", "queries", "type"],
        ["name", "next_state", "requested_information", "type"],
    ], "the SDK omits the null field"
    version = client.context_graphs.create_context_graph_version(created.id, request)
    assert version.version == 1
    stored = client.context_graphs.get_context_graph_versions(created.id).state_machine_versions[0]
    by_name = {s.root.name: s.root for s in stored.states}
    assert by_name["remember"].queries == ["the user's favourite colour"]
    assert by_name["ask"].requested_information == "What the user needs today."


def test_context_graph_and_versions(compadre: Compadre, client: AmigoClient):
    graph_id = create_graph_with_version(client)

    listed = client.context_graphs.get_context_graphs(
        GetServiceHierarchicalStateMachinesParametersQuery(id=[graph_id])
    )
    assert [g.id for g in listed.service_hierarchical_state_machines] == [graph_id]
    assert listed.service_hierarchical_state_machines[0].latest_version == 1
    assert listed.service_hierarchical_state_machines[0].deprecated is False

    versions = client.context_graphs.get_context_graph_versions(graph_id)
    assert len(versions.state_machine_versions) == 1
    v1 = versions.state_machine_versions[0]
    expected = valid_graph()
    assert v1.service_hierarchical_state_machine_id == graph_id
    assert v1.org_id == compadre.org
    assert v1.version == 1
    assert v1.creator.user_id == client.config.user_id
    assert v1.description == expected["description"]
    assert v1.new_user_initial_state == "start"
    assert v1.returning_user_initial_state == "start"
    assert v1.terminal_state == "goodbye"
    assert v1.references == {}
    assert v1.global_action_guidelines == expected["global_action_guidelines"]
    assert v1.global_boundary_constraints == expected["global_boundary_constraints"]
    by_name = {s.root.name: s.root for s in v1.states}
    assert set(by_name) == {"start", "route", "goodbye"}
    assert by_name["start"].type == "action"
    assert by_name["start"].actions == _state(expected, "start")["actions"]
    assert [e.next_state for e in by_name["start"].exit_conditions] == ["route"]
    assert by_name["route"].type == "decision"
    assert [e.next_state for e in by_name["route"].exit_conditions] == ["goodbye", "start"]
    assert by_name["route"].audio_filler_triggered_after == 2.0
    assert by_name["goodbye"].actions == ["Say goodbye."]
    assert by_name["goodbye"].exit_conditions == []


@pytest.mark.parametrize("breakage", sorted(INVALID_GRAPHS))
def test_invalid_graph_version_is_422(client: AmigoClient, breakage: str):
    graph_id = create_graph_with_version(client)
    body = copy.deepcopy(valid_graph())
    INVALID_GRAPHS[breakage](body)

    with pytest.raises(ValidationError) as info:
        client.context_graphs.create_context_graph_version(
            graph_id,
            OrganizationCreateServiceHierarchicalStateMachineVersionRequest.model_validate(
                body
            ),
        )
    assert info.value.status_code == 422
    assert isinstance(info.value.response_body, dict)
    assert "detail" in info.value.response_body

    # Bad input changes nothing.
    versions = client.context_graphs.get_context_graph_versions(graph_id)
    assert [v.version for v in versions.state_machine_versions] == [1]


# --------------------------------------------------------------------------
# Services
# --------------------------------------------------------------------------


def test_service_create_and_list_with_filters(compadre: Compadre, client: AmigoClient):
    agent_id = create_agent_with_version(client)
    graph_id = create_graph_with_version(client)
    stem = unique("compat-service")
    first = create_tagged_service(
        client, agent_id, graph_id, f"{stem}-a", {"team": "compat", "tier": None}
    )
    second = create_service(client, agent_id, graph_id, name=f"{stem}-b")

    found = client.services.get_services(
        GetServicesParametersQuery(is_active=True, id=[first], sort_by=["-name"])
    )
    assert [s.id for s in found.services] == [first]
    svc = found.services[0]
    assert svc.name == f"{stem}-a"
    assert svc.description == "Service of the compatibility tests."
    assert svc.is_active is True
    assert svc.agent_id == agent_id
    assert svc.service_hierarchical_state_machine_id == graph_id
    assert sorted(svc.keyterms) == ["compadre", "context graph"]
    assert sorted((t.key, t.value) for t in svc.tags) == [
        ("team", "compat"),
        ("tier", None),
    ]
    assert svc.creator.user_id == client.config.user_id
    assert svc.updated_by.user_id == client.config.user_id
    assert {"edge", "release"} <= set(svc.version_sets)
    edge = svc.version_sets["edge"]
    assert edge.agent_version_number is None
    assert edge.service_hierarchical_state_machine_version_number is None
    assert edge.llm_model_preferences == {}

    # sort_by in both directions ("+name" travels percent-encoded as %2Bname).
    desc = client.services.get_services(
        GetServicesParametersQuery(id=[first, second], sort_by=["-name"])
    )
    assert [s.id for s in desc.services] == [second, first]
    asc = client.services.get_services(
        GetServicesParametersQuery(id=[first, second], sort_by=["+name"])
    )
    assert [s.id for s in asc.services] == [first, second]

    # tags filter "key:value".
    tagged = client.services.get_services(
        GetServicesParametersQuery(id=[first, second], tags=["team:compat"])
    )
    assert [s.id for s in tagged.services] == [first]

    # is_active=false excludes them.
    inactive = client.services.get_services(
        GetServicesParametersQuery(is_active=False, id=[first, second])
    )
    assert inactive.services == []

    # Unfiltered listing (SDK defaults: limit=10, continuation_token=0) sees them too.
    everything = client.services.get_services(GetServicesParametersQuery(limit=20))
    assert {first, second} <= {s.id for s in everything.services}


# --------------------------------------------------------------------------
# Users
# --------------------------------------------------------------------------


def test_user_invite_update_and_user_model(compadre: Compadre, client: AmigoClient):
    user_id, email = invite_user(client)

    users = client.users.get_users(GetUsersParametersQuery(user_id=[user_id]))
    assert [u.user_id for u in users.users] == [user_id]
    assert users.users[0].email == email
    assert users.users[0].first_name == "Ada"
    assert users.users[0].org_id == compadre.org

    context = ["Prefers short answers.", "Lives in Lisbon."]
    result = client.users.update_user(
        user_id, UserUpdateUserInfoRequest(additional_context=context)
    )
    assert result is None  # 204

    model = client.users.get_user_model(user_id)
    assert model.additional_context == context
    assert isinstance(model.user_models, list)

    # Fields left out (and the SDK's `{}` "not set" markers) change nothing.
    client.users.update_user(user_id, UserUpdateUserInfoRequest(last_name="Byron"))
    assert client.users.get_user_model(user_id).additional_context == context
    users = client.users.get_users(GetUsersParametersQuery(user_id=[user_id]))
    assert users.users[0].last_name == "Byron"
    assert users.users[0].first_name == "Ada"


# --------------------------------------------------------------------------
# Durability
# --------------------------------------------------------------------------


def test_data_survives_server_restart(fresh_compadre: Compadre):
    with fresh_compadre.client() as client:
        agent_id = create_agent_with_version(client)
        graph_id = create_graph_with_version(client)
        service_id = create_service(client, agent_id, graph_id)
        user_id, _ = invite_user(client)
        client.users.update_user(
            user_id, UserUpdateUserInfoRequest(additional_context=["Remember me."])
        )
        old_token = client._http._ensure_token()

    fresh_compadre.server.restart()

    # A token issued before the restart is still accepted (replicas share the
    # signing key through the database).
    resp = httpx.get(
        f"{fresh_compadre.server.base_url}/v1/{fresh_compadre.org}/organization/",
        headers={"Authorization": f"Bearer {old_token}"},
    )
    assert resp.status_code == 200, resp.text

    with fresh_compadre.client() as client:
        agents = client.agents.get_agents(GetAgentsParametersQuery(id=[agent_id]))
        assert [(a.id, a.latest_version) for a in agents.agents] == [(agent_id, 1)]
        assert [
            v.version for v in client.agents.get_agent_versions(agent_id).agent_versions
        ] == [1]
        graphs = client.context_graphs.get_context_graph_versions(graph_id)
        assert [v.version for v in graphs.state_machine_versions] == [1]
        services = client.services.get_services(
            GetServicesParametersQuery(id=[service_id], is_active=True)
        )
        assert [s.id for s in services.services] == [service_id]
        assert client.users.get_user_model(user_id).additional_context == ["Remember me."]
