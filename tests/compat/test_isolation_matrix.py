"""Isolation matrix, generated from the server's own `GET /openapi.json`.

Every operation of the document (path x method) is called by someone who must
not reach organization A's data, with A's real ids in every path parameter:

1. cross-organization: an administrator of organization B (a second
   `compadre init --org` on the same database) calls every operation
   - with `{organization}` = A and A's ids, and
   - with `{organization}` = B and A's ids (where the operation names any of
     A's resources in its path, body or query);
2. same organization: a plain user of A (DefaultUserRole) calls every
   operation that names another user's conversation, interaction, message or
   user id;
3. tools: A's tool tries to read the server's database, its environment
   (/proc), the tools directory, the secrets key and B's tool repository;
4. B's own organization: B's administrator reads every listing of B's
   organization (get-models among them: its routes name every service and
   version set) and finds nothing of A;
5. webhooks: A's destination (every event type, on a loopback receiver of the
   test: the server allows plain HTTP and private addresses) got every change
   of A's setup; B's destination, made before A's setup began, got none of
   them, and B's deliveries show nothing of A;
6. replays: a user of A who may replay conversations and read replays, but
   read only their own conversations, neither replays the owner's conversation
   nor reads A's replay of it.

A new operation joins the matrix by itself. Each of its path parameters must be
one `PATH_VALUES` knows (else the test fails and names it); anonymous
operations are listed in `ANONYMOUS` with the reason.

Each answer must be 401, 403 or 404 (422 only when the body is what failed
validation; 200 only for a listing that merely filters by A's ids), must not be
429 (tokens are rotated to stay under the per-user per-operation limits), and
must contain none of A's ids and distinctive values (values the request itself
carried are not counted: echoing them leaks nothing). In B's organization the
answer about A's ids must also be the answer about ids that exist nowhere (no
existence oracle across organizations). Afterwards A's resources must read back
exactly as before.

Not in the document, checked by hand: the realtime socket, `git clone` of
A's tool repository and the signed link of a simulation run's artifacts.

ISOLATION_MATRIX_DUMP=<folder> writes every call and its answer there.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import secrets
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from amigo_sdk.generated.model import InteractionCompleteEvent

from conftest import Compadre, _start_compadre, init_org, random_org_id
from conversation_helpers import conversation_graph, create_conversation_graph, interact, start_conversation
from fake_openai import FakeOpenAI
from webhook_helpers import ALL_TYPES, WEBHOOK_ENV, Receiver, hmac_signature
from test_sdk_management import AGENT_V1, create_agent_with_version, create_service
from tool_helpers import GitRepo, ToolAPI, invocation_input, ok, project_from_scaffold, unpack_scaffold

HTTP_METHODS = ("get", "post", "put", "patch", "delete")

# Operations without security: not part of the matrix (each is checked below for what it can show).
ANONYMOUS = {
    "healthz": "liveness probe; says nothing about any organization",
    "get-server-metrics": "Prometheus metrics of the process; checked to carry none of A's ids or names",
    "get-openapi-document": "the static API document",
    "get-organization": "public in the Amigo reference (an organization's branding for its sign-in page)",
    "sign-in-with-api-key": "the API key in its headers is the credential; checked: B's key never signs in to A",
    "get-message-audio": "the signed link (path + expiry, HMAC) is the credential; checked: A's paths without "
                         "a signature, with a forged one and with an expired one answer 403 and show nothing",
    "get-simulation-run-archive": "the signed link (path + expiry, HMAC) is the credential; checked: A's archive without "
                                  "a signature, with a forged or expired one, or with A's signature on another "
                                  "organization's or run's path answers 403 and shows nothing",
    "sign-in-with-email": "answers the same whether the address belongs to a user; the link goes only to that user's own "
                          "address (the compat server sends no mail: 503 for every address alike)",
    "redeem-email-sign-in": "the one-time token mailed to the user is the credential; a token that is not one answers 403",
}

# Operations that act across organizations by design, left out of the cross-organization matrix.
CROSS_ORGANIZATION = {
    "create-organization": "creates the organization in its path, by a super administrator of the token's own "
                           "organization; 409 for an id that exists is its documented answer (Swift tests: "
                           "OrganizationLifecycleTests)",
}

# Statuses that refuse without telling anything.
REFUSED = {401, 403, 404}


def hex_id() -> str:
    return secrets.token_hex(12)


def marker(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(5)}"


# --------------------------------------------------------------------------
# Organization A's resources
# --------------------------------------------------------------------------


@dataclass
class OrgA:
    compadre: Compadre
    admin_token: str
    agent_id: str = ""
    agent_name: str = ""
    graph_id: str = ""
    graph_name: str = ""
    service_id: str = ""
    service_name: str = ""
    version_set_name: str = ""
    owner_id: str = ""  # a plain user (DefaultUserRole) who owns the conversation
    owner_email: str = ""
    owner_first_name: str = ""
    owner_context: str = ""
    owner_variable: str = ""
    other_id: str = ""  # a second plain user of A (the same-organization attacker)
    conversation_id: str = ""
    interaction_ids: list[str] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    user_text: str = ""
    greeting: str = ""
    reply: str = ""
    role_name: str = ""
    role_id: str = ""
    role_description: str = ""
    api_key_id: str = ""
    api_key_secret: str = ""
    api_key_name: str = ""
    tool_id: str = ""
    tool_name: str = ""
    tool_description: str = ""
    tool_project: str = ""
    tool_version: str = "1.0.0"
    tool_plain_value: str = ""
    tool_secret_value: str = ""
    invocation_output: str = ""
    repo_marker: str = ""
    behavior_set_id: str = ""  # a dynamic behavior set applied to A's service, with a tool action
    behavior_set_name: str = ""
    behavior_trigger: str = ""
    behavior_instruction: str = ""
    behavior_tag_value: str = ""
    metric_id: str = ""  # a metric applied to A's service
    metric_name: str = ""
    metric_description: str = ""
    persona_id: str = ""  # a simulation persona (two versions)
    persona_name: str = ""
    persona_background: str = ""
    persona_secret: str = ""  # a sensitive user variable of the persona
    scenario_id: str = ""  # a simulation scenario (two versions)
    scenario_name: str = ""
    scenario_objective: str = ""
    unit_test_id: str = ""  # a unit test of A's service and version set, the persona, the scenario and the metric
    unit_test_name: str = ""
    unit_test_description: str = ""
    unit_test_set_id: str = ""
    unit_test_set_name: str = ""
    unit_test_set_description: str = ""
    run_id: str = ""  # a completed run of the set, its artifacts built
    simulated_message: str = ""  # what the simulated user said in the run
    judge_justification: str = ""  # the justification of the run's metric result
    metric_result_id: str = ""
    webhook_id: str = ""  # a webhook destination of A (loopback receiver), accepting every event type
    webhook_url: str = ""
    webhook_secret: str = ""
    delivery_ids: list[str] = field(default_factory=list)  # A's deliveries to it (agent framework changes of the setup)
    replay_id: str = ""  # a completed replay of the owner's conversation against A's version set
    replay_conversation_id: str = ""
    replayer_id: str = ""  # a user of A who may replay and read replays, and read only their own conversations

    def markers(self) -> dict[str, str]:
        """What of A must never show up in an answer to someone else."""
        values = {
            "A's organization id": self.compadre.org,
            "A's admin user id": self.compadre.credentials.user_id,
            "A's API key id (init)": self.compadre.credentials.api_key_id,
            "A's API key (init)": self.compadre.credentials.api_key,
            "agent id": self.agent_id,
            "agent name": self.agent_name,
            "agent background": AGENT_V1["background"],
            "graph id": self.graph_id,
            "graph name": self.graph_name,
            "service id": self.service_id,
            "service name": self.service_name,
            "version set name": self.version_set_name,
            "owner user id": self.owner_id,
            "owner email": self.owner_email,
            "owner first name": self.owner_first_name,
            "owner additional context": self.owner_context,
            "owner variable value": self.owner_variable,
            "conversation id": self.conversation_id,
            "user message": self.user_text,
            "agent greeting": self.greeting,
            "agent reply": self.reply,
            "role name": self.role_name,
            "role id": self.role_id,
            "role description": self.role_description,
            "API key id": self.api_key_id,
            "API key secret": self.api_key_secret,
            "API key name": self.api_key_name,
            "tool id": self.tool_id,
            "tool name": self.tool_name,
            "tool description": self.tool_description,
            "tool variable value": self.tool_plain_value,
            "tool secret value": self.tool_secret_value,
            "tool invocation output": self.invocation_output,
            "tool repository content": self.repo_marker,
            "dynamic behavior set id": self.behavior_set_id,
            "dynamic behavior set name": self.behavior_set_name,
            "dynamic behavior trigger": self.behavior_trigger,
            "dynamic behavior instruction": self.behavior_instruction,
            "dynamic behavior tag value": self.behavior_tag_value,
            "metric id": self.metric_id,
            "metric name": self.metric_name,
            "metric description": self.metric_description,
            "simulation persona id": self.persona_id,
            "simulation persona name": self.persona_name,
            "simulation persona background": self.persona_background,
            "simulation persona sensitive variable": self.persona_secret,
            "simulation scenario id": self.scenario_id,
            "simulation scenario name": self.scenario_name,
            "simulation scenario objective": self.scenario_objective,
            "simulation unit test id": self.unit_test_id,
            "simulation unit test name": self.unit_test_name,
            "simulation unit test description": self.unit_test_description,
            "simulation unit test set id": self.unit_test_set_id,
            "simulation unit test set name": self.unit_test_set_name,
            "simulation unit test set description": self.unit_test_set_description,
            "simulation run id": self.run_id,
            "simulated user message": self.simulated_message,
            "simulation judge justification": self.judge_justification,
            "simulation metric result id": self.metric_result_id,
            "webhook destination id": self.webhook_id,
            "webhook destination URL": self.webhook_url,
            "webhook destination secret": self.webhook_secret,
            "replay id": self.replay_id,
            "replay conversation id": self.replay_conversation_id,
        }
        for i, value in enumerate(self.interaction_ids):
            values[f"interaction id #{i}"] = value
        for i, value in enumerate(self.message_ids):
            values[f"message id #{i}"] = value
        for i, value in enumerate(self.delivery_ids):
            values[f"webhook delivery id #{i}"] = value
        missing = [name for name, value in values.items() if not value]
        assert not missing, f"setup left these of A's values empty: {missing}"
        return values


@dataclass
class World:
    a: OrgA
    b: Compadre
    doc: dict
    workdir: Path
    canaries: dict[str, str]
    receiver: Receiver  # where A's and B's webhook destinations point (paths of their own)
    a_webhook_path: str
    b_webhook_path: str
    b_webhook_id: str


# --------------------------------------------------------------------------
# The probe tool (A's tool; part 3 runs it to look around)
# --------------------------------------------------------------------------

PROBE_SCHEMA = {
    "type": "object",
    "properties": {
        "echo": {"type": "string"},
        "paths": {"type": "array", "items": {"type": "string"}},
        "urls": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": False,
}

PROBE_PY = '''\
"""Reports what it can see: its environment, files and folders it is asked about, every process's
environment and command line it can find in /proc, and URLs it is asked to fetch."""

import json
import os
import urllib.error
import urllib.request


def look(path):
    try:
        if os.path.isdir(path):
            return "DIR:" + ",".join(sorted(os.listdir(path))[:200])
        with open(path, "rb") as f:
            return "READ:" + f.read(4096).decode("latin-1")
    except Exception as exc:
        return "ERR:" + type(exc).__name__


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return f"HTTP {resp.status}:" + resp.read(4096).decode("latin-1")
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}:" + exc.read(4096).decode("latin-1")
    except Exception as exc:
        return "ERR:" + type(exc).__name__


def run(input_parameters: dict, context) -> str:
    if "echo" in input_parameters:
        return input_parameters["echo"]
    processes = {}
    for pid in sorted(p for p in os.listdir("/proc") if p.isdigit()):
        processes[pid] = {"environ": look(f"/proc/{pid}/environ"), "cmdline": look(f"/proc/{pid}/cmdline")}
    return json.dumps({
        "environment": dict(os.environ),
        "cwd": os.getcwd(),
        "files": {p: look(p) for p in input_parameters.get("paths", [])},
        "processes": processes,
        "urls": {u: fetch(u) for u in input_parameters.get("urls", [])},
    })
'''


def set_up_tools(a: OrgA, b: Compadre, workdir: Path) -> None:
    """A's tool (the probe: two variables, one secret; 1.0.0 published; invoked once) and a commit
    in B's tool repository. Runs in a thread: publishing builds a virtual environment (~15 s)."""
    a_org = a.compadre
    api = ToolAPI(a_org.server.base_url, a_org.org, a.admin_token)
    try:
        a.tool_name = marker("isoprobe_")
        a.tool_description = marker("Isolation probe tool ")
        a.tool_id = ok(api.create_tool(a.tool_name, a.tool_description), 201)["id"]
        scaffold = unpack_scaffold(ok(api.scaffold(), parse=False), workdir / "scaffold")
        repo = GitRepo(f"{a_org.server.base_url}/v1/{a_org.org}/tool/git", a.admin_token, workdir / "repo-a")
        repo.clone()
        a.tool_project = "probe"
        a.repo_marker = marker("isorepo")
        main_py = PROBE_PY + f"\nREPOSITORY_MARKER = {a.repo_marker!r}\n"
        project_from_scaffold(
            scaffold, repo.path / a.tool_project, package="probe", description="Isolation probe.",
            input_schema=PROBE_SCHEMA, main_py=main_py,
            envvars=["ISO_PLAIN"], secret_envvars=["ISO_SECRET"],
        )
        repo.commit_all("Add the probe")
        repo.push()
        a.tool_plain_value = marker("isoplain")
        a.tool_secret_value = marker("isosecret")
        ok(api.envvars(a.tool_id, inserts=[
            {"name": "ISO_PLAIN", "value": a.tool_plain_value, "is_secret": False},
            {"name": "ISO_SECRET", "value": a.tool_secret_value, "is_secret": True},
        ]), 204)
        published = api.publish(a.tool_id, a.tool_project, "major")
        assert (published.status, published.body) == (201, {"new_version": a.tool_version}), (
            f"publishing A's probe tool: HTTP {published.status} {published.body}"
        )
        a.invocation_output = marker("isoinvocation")
        result = ok(api.invoke(a.tool_id, a.tool_version, {"echo": a.invocation_output}))
        assert result["invocation_results"][0].get("output") == a.invocation_output, result

        # B's repository gets a commit of its own (read by nobody but B).
        b_token = b.access_token()
        b_repo = GitRepo(f"{b.server.base_url}/v1/{b.org}/tool/git", b_token, workdir / "repo-b")
        b_repo.clone()
        (b_repo.path / "b_secret.txt").write_text(B_REPO_MARKER)
        b_repo.commit_all("B's own file")
        b_repo.push()
    finally:
        api.close()


B_REPO_MARKER = "b-repository-content-" + secrets.token_hex(6)


def behavior_version(a: OrgA, trigger: str) -> dict:
    """Triggers and actions of a dynamic behavior set version: an instruction, and A's tool as a candidate."""
    return {
        "conversation_triggers": [trigger],
        "actions": [
            {"type": "inject-instruction", "instruction": a.behavior_instruction or "iso", "overrides_instructions": False},
            {"type": "change-tool-candidates", "overrides_existing_tool_call_specs": False, "tool_call_specs": [{
                "tool_id": a.tool_id, "version_constraint": "==" + a.tool_version, "additional_instruction": "iso",
                "audio_fillers": [], "audio_filler_triggered_after": 1.0, "result_persistence": "ephemeral",
                "tool_name": "iso",
            }]},
        ],
    }


# --------------------------------------------------------------------------
# Setup
# --------------------------------------------------------------------------


def raw(compadre: Compadre, token: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(
        method, f"{compadre.server.base_url}/v1/{compadre.org}{path}",
        headers={"Authorization": f"Bearer {token}"}, timeout=60, **kwargs,
    )


def invite(compadre: Compadre, token: str, role: str, first_name: str, email: str) -> str:
    resp = raw(compadre, token, "POST", "/user/", json={
        "first_name": first_name, "last_name": "Isolation", "email": email, "role_name": role,
    })
    return ok(resp, 201)["user_id"]


@pytest.fixture(scope="module")
def world(compadre_bin: Path, db_backend: str, tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI):
    workdir = tmp_path_factory.mktemp("isolation")
    # Secrets of the server's own environment a tool must never see.
    canaries = {
        "COMPADRE_TOKEN_SECRET": "isotokensecret" + secrets.token_hex(16),
        "COMPADRE_SECRETS_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "ISOLATION_CANARY": "isocanary" + secrets.token_hex(8),
    }
    # Webhook destinations on the loopback receiver of this test (plain HTTP, a private address).
    receiver = Receiver().__enter__()
    a_org = _start_compadre(compadre_bin, db_backend, workdir, extra_env={**canaries, **WEBHOOK_ENV})
    try:
        org_b = random_org_id()
        b = Compadre(server=a_org.server, credentials=init_org(compadre_bin, org_b, a_org.server.database_url), org=org_b)
        a = OrgA(compadre=a_org, admin_token=a_org.access_token())

        # Before anything else of A's: a destination of A that every change of A's setup is announced to,
        # and one of B's (every event type) that must never hear of A.
        a_webhook_path, b_webhook_path = f"/{marker('isohook')}", f"/{marker('bhook')}"
        a.webhook_url = receiver.url(a_webhook_path)
        created = ok(raw(a_org, a.admin_token, "POST", "/webhook_destination/", json={
            "url": a.webhook_url, "accepted_types": ALL_TYPES, "retry_attempts": 1}), 201)
        a.webhook_id, a.webhook_secret = created["webhook_destination_id"], created["secret"]
        b_webhook_id = ok(raw(b, b.access_token(), "POST", "/webhook_destination/", json={
            "url": receiver.url(b_webhook_path), "accepted_types": ALL_TYPES}), 201)["webhook_destination_id"]

        tool_failure: list[BaseException] = []

        def tools() -> None:
            try:
                set_up_tools(a, b, workdir)
            except BaseException as exc:  # reported below
                tool_failure.append(exc)

        tool_thread = threading.Thread(target=tools, daemon=True)
        tool_thread.start()

        token = a.admin_token
        with a_org.client() as admin:
            a.agent_id = create_agent_with_version(admin)
            a.graph_id = create_conversation_graph(admin)
            a.service_name = marker("iso-service-")
            a.service_id = create_service(admin, a.agent_id, a.graph_id, name=a.service_name)
        a.agent_name = ok(raw(a_org, token, "GET", "/organization/agent", params={"id": a.agent_id}))["agents"][0]["name"]
        a.graph_name = ok(raw(a_org, token, "GET", "/organization/service_hierarchical_state_machine",
                              params={"id": a.graph_id}))["service_hierarchical_state_machines"][0]["name"]
        a.version_set_name = marker("isoset")
        put = raw(a_org, token, "PUT", f"/service/{a.service_id}/version_sets/{a.version_set_name}/", json={
            "version_set": {"agent_version_number": 1, "service_hierarchical_state_machine_version_number": 1,
                            "llm_model_preferences": {}},
        })
        assert put.status_code in (200, 201, 204), f"upsert version set: {put.status_code} {put.text}"

        a.owner_first_name = marker("Isoowner")
        a.owner_email = f"{marker('iso-owner-')}@example.com"
        a.owner_id = invite(a_org, token, "DefaultUserRole", a.owner_first_name, a.owner_email)
        a.other_id = invite(a_org, token, "DefaultUserRole", "Intruder", f"{marker('iso-other-')}@example.com")
        a.owner_context = marker("iso owner context ")
        ok(raw(a_org, token, "POST", f"/user/{a.owner_id}", json={"additional_context": [a.owner_context]}), 204)
        a.owner_variable = marker("isovar")
        variable = raw(a_org, token, "POST", f"/user/{a.owner_id}/variable", json={
            "upserts": [{"name": "iso_variable", "value": a.owner_variable, "is_secret": False}], "deletes": [],
        })
        assert variable.status_code in (200, 204), f"user variables: {variable.status_code} {variable.text}"

        # The owner's conversation: the greeting, then one exchange (scripted model answers).
        a.greeting, a.user_text, a.reply = marker("Iso greeting "), marker("iso user message "), marker("Iso reply ")
        fake_openai.script({"when": "text", "text": a.greeting}, {"when": "text", "text": a.reply})
        with a_org.client(user_id=a.owner_id) as owner:
            created = start_conversation(owner, a.service_id)
            a.conversation_id = next(e.conversation_id for e in created if getattr(e, "type", "") == "conversation-created")
            second = interact(owner, a.conversation_id, a.user_text)
            for events in (created, second):
                a.interaction_ids += [e.interaction_id for e in events if isinstance(e, InteractionCompleteEvent)]
        messages = ok(raw(a_org, token, "GET", f"/conversation/{a.conversation_id}/messages/"))["messages"]
        a.message_ids = [m["id"] for m in messages]
        texts = " ".join(m["message"] for m in messages)
        assert a.greeting in texts and a.user_text in texts and a.reply in texts, messages
        assert len(a.interaction_ids) == 2, a.interaction_ids

        a.role_name = marker("IsoRole")
        a.role_description = marker("Iso role description ")
        ok(raw(a_org, token, "POST", "/role/", json={
            "role_name": a.role_name, "description": a.role_description, "frontend_view": "client",
            "permission_grants": [{"permission_name": "Conversation:GetConversation", "conditions": {}}],
        }), 201)
        roles = ok(raw(a_org, token, "GET", "/role/", params={"name": a.role_name}))["roles"]
        a.role_id = next(r["id"] for r in roles if r["name"] == a.role_name)

        a.api_key_name = marker("iso-key-")
        key = raw(a_org, token, "POST", "/organization/api_key/", json={"name": a.api_key_name, "duration": "P30D"})
        assert key.status_code in (200, 201), f"create API key: {key.status_code} {key.text}"
        a.api_key_id, a.api_key_secret = key.json()["api_key_id"], key.json()["api_key"]

        tool_thread.join(timeout=600)
        assert not tool_thread.is_alive(), "setting up A's tool took more than 10 minutes"
        if tool_failure:
            raise tool_failure[0]

        # A dynamic behavior set (after the tool: its second action names A's tool), with a second version.
        a.behavior_set_name = marker("isobehavior")
        a.behavior_trigger = marker("iso trigger ")
        a.behavior_instruction = marker("Iso instruction ")
        a.behavior_tag_value = marker("isotag")
        a.behavior_set_id = ok(raw(a_org, token, "POST", "/dynamic_behavior_set/", json={
            "name": a.behavior_set_name, "tags": {"iso": a.behavior_tag_value}, "applied_to_services": [a.service_id],
            "initial_version": {"is_active": True, **behavior_version(a, a.behavior_trigger)},
        }), 201)["dynamic_behavior_set_id"]
        ok(raw(a_org, token, "POST", f"/dynamic_behavior_set/{a.behavior_set_id}/version/", params={"version": 2},
               json=behavior_version(a, a.behavior_trigger)), 201)

        # A metric applied to A's service.
        a.metric_name = marker("isometric")
        a.metric_description = marker("Iso metric description ")
        a.metric_id = ok(raw(a_org, token, "POST", "/metric/", json={
            "name": a.metric_name, "description": a.metric_description, "applied_to_services": [a.service_id],
            "additional_notes": None, "tags": {"iso": a.behavior_tag_value}, "metric_value": {"type": "boolean"},
        }), 201)["id"]

        set_up_simulations(a, fake_openai)
        set_up_replay(a)
        settle_webhooks(a, receiver, a_webhook_path)

        yield World(a=a, b=b, doc=httpx.get(f"{a_org.server.base_url}/openapi.json", timeout=30).json(),
                    workdir=workdir, canaries=canaries, receiver=receiver, a_webhook_path=a_webhook_path,
                    b_webhook_path=b_webhook_path, b_webhook_id=b_webhook_id)
    finally:
        a_org.server.stop()
        receiver.__exit__(None, None, None)


def set_up_replay(a: OrgA) -> None:
    """A replay of the owner's conversation against A's version set, completed (the fake model answers)."""
    a_org, token = a.compadre, a.admin_token
    a.replay_id = ok(raw(a_org, token, "POST", "/compadre/replay/", json={
        "conversation_id": a.conversation_id, "service_version_set_name": a.version_set_name}), 201)["replay_id"]
    deadline = time.monotonic() + 60
    while True:
        report = ok(raw(a_org, token, "GET", f"/compadre/replay/{a.replay_id}/"))
        if report["status"] != "running":
            break
        assert time.monotonic() < deadline, f"A's replay did not complete within 60 s: {report}"
        time.sleep(0.25)
    assert report["status"] == "completed" and report["replay_conversation_id"], report
    a.replay_conversation_id = report["replay_conversation_id"]

    # A user who may run and read simulations (replays among them) but read only their own conversations.
    role = marker("IsoReplayer")
    own = {"user_id": {"type": "Equals", "value": "{self_user_id}"}}
    grants = [{"permission_name": f"Conversation:{p}", "conditions": own}
              for p in ("CreateConversation", "GetConversation", "GetMessage", "InteractWithConversation")]
    grants += [{"permission_name": p, "conditions": {}} for p in (
        "Simulation:CreateSimulationUnitTestSetRun", "Simulation:GetSimulationUnitTestSetRun", "Service:GetService")]
    ok(raw(a_org, token, "POST", "/role/", json={"role_name": role, "description": "Replays; reads its own conversations.",
                                                  "frontend_view": "client", "permission_grants": grants}), 201)
    a.replayer_id = invite(a_org, token, role, "Replayer", f"{marker('iso-replayer-')}@example.com")


def settle_webhooks(a: OrgA, receiver: Receiver, path: str) -> None:
    """Every change of A's agent framework in the setup was announced to A's destination, which answers 200:
    waits until the deliveries stop coming (2 s without one) and each is recorded as a success, so that A's
    baseline is final, and keeps their ids."""
    deadline = time.monotonic() + 60
    while True:
        count = len(receiver.received(path))
        time.sleep(2)
        if len(receiver.received(path)) == count:
            break
        assert time.monotonic() < deadline, f"A's webhook deliveries kept coming for 60 s: {len(receiver.received(path))}"
    keys = {r.key for r in receiver.received(path)}
    assert keys, "no change of A's setup was delivered to A's webhook destination"
    print(f"\nA's setup announced to A's destination: {sorted(Counter(json.loads(r.body)['type'] for r in receiver.received(path)).items())}")
    while True:
        # get-webhook-deliveries allows 5 calls a minute per user: a user of its own for each read.
        listed = ok(raw(a.compadre, a.compadre.user_token(), "GET", f"/webhook_destination/{a.webhook_id}/delivery"))
        deliveries = listed["webhook_deliveries"]
        if {d["id"] for d in deliveries} == keys and all(d["status"] == "success" for d in deliveries):
            break
        assert time.monotonic() < deadline, (
            f"A's deliveries {json.dumps(deliveries)[:2000]} are not the {len(keys)} the receiver answered 200")
        time.sleep(0.5)
    assert not listed["has_more"], "more than a page of A's deliveries: the baseline reads only the first"
    a.delivery_ids = sorted(keys)


def set_up_simulations(a: OrgA, fake_openai: FakeOpenAI) -> None:
    """A's simulations: a persona and a scenario (two versions each), a unit test of A's service, version
    set and metric, a set of it, and a completed run of the set (the fake model plays the user and the
    judge) whose artifacts are built."""
    a_org, token = a.compadre, a.admin_token
    a.persona_name, a.persona_background = marker("isopersona"), marker("Iso persona background ")
    a.persona_secret = marker("isopersonasecret")

    def persona_version(background: str) -> dict:
        return {"background": background, "user_models": [], "nonsensitive_user_variables": {},
                "sensitive_user_variables": {"iso_secret": a.persona_secret}}

    a.persona_id = ok(raw(a_org, token, "POST", "/simulation/persona/", json={
        "name": a.persona_name, "role": "Iso customer", "tags": {"iso": a.behavior_tag_value},
        "initial_version": persona_version(a.persona_background),
    }), 201)["simulation_persona_id"]
    ok(raw(a_org, token, "POST", f"/simulation/persona/{a.persona_id}/version/", json=persona_version(a.persona_background)), 201)
    a.scenario_name, a.scenario_objective = marker("isoscenario"), marker("Iso scenario objective ")

    def scenario_version() -> dict:
        return {"objective": a.scenario_objective, "instructions": "Be brief.", "initial_message_type": "user-message",
                "conversation_starts_at": None}

    a.scenario_id = ok(raw(a_org, token, "POST", "/simulation/scenario/", json={
        "name": a.scenario_name, "tags": {"iso": a.behavior_tag_value}, "initial_version": scenario_version(),
    }), 201)["simulation_scenario_id"]
    ok(raw(a_org, token, "POST", f"/simulation/scenario/{a.scenario_id}/version/", json=scenario_version()), 201)
    a.unit_test_name, a.unit_test_description = marker("isounittest"), marker("Iso unit test description ")
    a.unit_test_id = ok(raw(a_org, token, "POST", "/simulation/unit_test/", json={
        "name": a.unit_test_name, "description": a.unit_test_description, "service_id": a.service_id,
        "service_version_set_name": a.version_set_name, "persona_id": a.persona_id, "scenario_id": a.scenario_id,
        "max_interactions": 3, "tags": {"iso": a.behavior_tag_value},
        "success_criterions": [{"name": "iso", "metric_id": a.metric_id, "criterion": {"type": "boolean", "expected_value": True}}],
    }), 201)["simulation_unit_test_id"]
    a.unit_test_set_name, a.unit_test_set_description = marker("isotestset"), marker("Iso unit test set description ")
    a.unit_test_set_id = ok(raw(a_org, token, "POST", "/simulation/unit_test_set/", json={
        "name": a.unit_test_set_name, "description": a.unit_test_set_description, "tags": {"iso": a.behavior_tag_value},
        "unit_test_runs": [{"unit_test_id": a.unit_test_id, "run_count": 1}],
    }), 201)["simulation_unit_test_set_id"]

    # The run: the simulated user says one thing and is done once the agent answered; the judge says yes.
    a.simulated_message, a.judge_justification = marker("Iso simulated message "), marker("Iso judgement ")
    fake_openai.on_schema("simulated_user_turn", lambda body: {"json": {"finished": True, "message": ""}}
                          if fake_openai.default_text in json.dumps(body.get("messages", []))
                          else {"json": {"finished": False, "message": a.simulated_message}})
    fake_openai.on_schema("judgement", {"json": {"value": True, "justification": a.judge_justification, "messages": [1]}})
    try:
        a.run_id = ok(raw(a_org, token, "POST", "/simulation/unit_test_set_run/", json={
            "simulation_unit_test_set_id": a.unit_test_set_id}), 201)["simulation_unit_test_set_run_id"]
        poller = a_org.user_token()  # a budget of its own for the runs listing
        deadline = time.monotonic() + 60
        while True:
            run = ok(raw(a_org, poller, "GET", "/simulation/unit_test_set_run/", params={"id": a.run_id}))["simulation_unit_test_set_runs"][0]
            if run["is_completed"] and run["artifacts_generated"]:
                break
            assert time.monotonic() < deadline, f"A's simulation run did not complete with its artifacts within 60 s: {run}"
            time.sleep(0.25)
    finally:
        fake_openai.on_schema("simulated_user_turn", None)
        fake_openai.on_schema("judgement", None)
    assert (run["failed_metrics"], run["errored"]) == (False, False), (
        f"A's simulation run did not pass: {json.dumps(run['unit_test_run_results'])}")
    a.metric_result_id = run["unit_test_run_results"][0]["metric_evaluation_results"][0]["results"][0][0]


# --------------------------------------------------------------------------
# Tokens under the rate limits
# --------------------------------------------------------------------------


class Tokens:
    """Access tokens of fresh users of one organization (one role), rotated so that no user calls
    an operation more often than its `x-rate-limit-per-minute` allows."""

    def __init__(self, compadre: Compadre, role: str) -> None:
        self.compadre = compadre
        self.role = role
        self.users: list[tuple[str, Counter]] = []

    def for_operation(self, operation_id: str, limit: int | None) -> str:
        for token, used in self.users:
            if limit is None or used[operation_id] < limit:
                used[operation_id] += 1
                return token
        token = self.compadre.user_token(self.role)
        self.users.append((token, Counter({operation_id: 1})))
        return token


# --------------------------------------------------------------------------
# Requests made from the document
# --------------------------------------------------------------------------


def operations(doc: dict) -> list[tuple[str, str, dict]]:
    return [
        (method, path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in HTTP_METHODS
    ]


def is_anonymous(doc: dict, op: dict) -> bool:
    return op.get("security", doc.get("security")) == []


def resolve(doc: dict, schema: Any) -> Any:
    while isinstance(schema, dict) and "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        schema = {**doc["components"]["schemas"][name], **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


STRING_CANDIDATES = ["iso", "iso_value", "ISO_VALUE", "Iso value", "iso-value", "1.0.0", "==1.0.0"]


def example(doc: dict, schema: Any, refs: dict[str, Any], name: str | None = None) -> Any:
    """A small valid value of `schema`: required properties only, A's ids for fields naming A's
    resources (`refs`, by field name)."""
    if name is not None and name in refs:
        return refs[name]
    schema = resolve(doc, schema)
    if not isinstance(schema, dict):
        return "iso"
    for key in ("oneOf", "anyOf"):
        if key in schema:
            branches = [resolve(doc, s) for s in schema[key]]
            branch = next((s for s in branches if s.get("type") != "null"), branches[0])
            return example(doc, branch, refs, name)
    if "allOf" in schema:
        merged: dict = {}
        for part in schema["allOf"]:
            merged.update(resolve(doc, part))
        return example(doc, merged, refs, name)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties", {})
        return {k: example(doc, props.get(k, {}), refs, k) for k in schema.get("required", [])}
    if kind == "array":
        count = schema.get("minItems", 0)
        return [example(doc, schema.get("items", {}), refs, None) for _ in range(count)]
    if kind == "integer" or kind == "number":
        if "minimum" in schema:
            low = schema["minimum"]
        elif "exclusiveMinimum" in schema:
            low = schema["exclusiveMinimum"] + 1
        else:
            low = 1
        value = max(int(low), 1)
        high = schema.get("maximum")
        return min(value, int(high)) if high is not None else value
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    fmt = schema.get("format")
    if fmt == "email":
        return f"{marker('iso-')}@example.com"
    if fmt == "duration":
        return "P30D"
    if fmt == "date-time":
        return datetime.now(timezone.utc).isoformat()
    if fmt == "uri":
        return "https://example.com/iso"
    pattern = schema.get("pattern")
    if pattern == "^[a-f0-9]{24}$":
        return hex_id()
    if pattern:
        for candidate in STRING_CANDIDATES:
            if re.search(pattern, candidate):
                return candidate
        raise AssertionError(f"no example string for pattern {pattern!r} (field {name!r}): extend STRING_CANDIDATES")
    return "iso"


class Unfillable(Exception):
    pass


@dataclass
class Call:
    method: str
    path: str
    operation_id: str
    url: str
    status: int
    text: str
    headers: str
    sent: str  # everything the request carried, to tell echoes from leaks
    seconds: float = 0.0

    def line(self) -> str:
        excerpt = re.sub(r"\s+", " ", self.text)[:200]
        return f"{self.method.upper()} {self.path} [{self.operation_id}] -> {self.status}: {excerpt}"


def path_values(a: OrgA, org: str, method: str) -> dict[str, str]:
    """Values of path parameters by name: A's real ids (the organization as given)."""
    return {
        "organization": org,
        "agent_id": a.agent_id,
        "service_hierarchical_state_machine_id": a.graph_id,
        "state_machine_id": a.graph_id,
        "service_id": a.service_id,
        "version_set_name": a.version_set_name,
        "api_key_id": a.api_key_id,
        "role_name": a.role_name,
        "conversation_id": a.conversation_id,
        "interaction_id": a.interaction_ids[-1],
        "message_id": a.message_ids[-1],
        "user_id": a.owner_id,
        "requested_user_id": a.owner_id,
        "tool_id": a.tool_id,
        "version": a.tool_version,
        "versions": "==" + a.tool_version,
        "git_path": "info/refs" if method == "get" else "git-upload-pack",
        "dynamic_behavior_set_id": a.behavior_set_id,
        "metric_id": a.metric_id,
        "simulation_persona_id": a.persona_id,
        "simulation_scenario_id": a.scenario_id,
        "simulation_unit_test_id": a.unit_test_id,
        "simulation_unit_test_set_id": a.unit_test_set_id,
        "simulation_unit_test_set_run_id": a.run_id,
        "webhook_destination_id": a.webhook_id,
        "replay_id": a.replay_id,
    }


# Path parameters that do not name one of A's resources (a call in B with only these is B's own business).
NOT_A_REFERENCE = {"organization", "git_path"}


def reference_values(a: OrgA) -> dict[str, Any]:
    """Query and body fields (by name) that name one of A's resources."""
    return {
        "service_id": a.service_id,
        "agent_id": a.agent_id,
        "service_hierarchical_state_machine_id": a.graph_id,
        "user_id": a.owner_id,
        "conversation_id": a.conversation_id,
        "tool_id": a.tool_id,
        "interaction_id": a.interaction_ids[-1],
        "applied_to_service": a.service_id,  # dynamic behavior set listing and search
        "applied_to_services": [a.service_id],  # dynamic behavior set bodies
        "metric_ids": [a.metric_id],  # metric evaluation
        "metric_id": a.metric_id,  # metric results listing, unit test listing and search, success criteria
        "persona_id": a.persona_id,  # unit test bodies, listing and search
        "scenario_id": a.scenario_id,
        "service_version_set_name": a.version_set_name,  # unit test bodies
        "unit_test_id": a.unit_test_id,  # unit test set bodies, listing and search
        "simulation_unit_test_set_id": a.unit_test_set_id,  # run creation and listing
        "simulation_unit_test_set_run_id": a.run_id,  # metric results listing
    }


# Query parameters `id` filter the listing's own resource: which of A's ids to put there.
def id_filter(a: OrgA, path: str) -> str | None:
    last = [s for s in path.strip("/").split("/") if not s.startswith("{")][-1]
    return {
        "conversation": a.conversation_id,
        "agent": a.agent_id,
        "service_hierarchical_state_machine": a.graph_id,
        "service": a.service_id,
        "role": a.role_id,
        "tool": a.tool_id,
        "messages": a.message_ids[-1],
        "dynamic_behavior_set": a.behavior_set_id,
        "metric": a.metric_id,
        "persona": a.persona_id,
        "scenario": a.scenario_id,
        "unit_test": a.unit_test_id,
        "unit_test_set": a.unit_test_set_id,
        "unit_test_set_run": a.run_id,
        "webhook_destination": a.webhook_id,
    }.get(last)


# Fixed bodies where a minimal generic one cannot be valid.
def body_overrides(a: OrgA) -> dict[str, Any]:
    probe = invocation_input({"echo": "iso"})
    return {
        "create-agent-version": AGENT_V1,
        "create-service-hierarchical-state-machine-version": conversation_graph(),
        "invoke-tool-version": {"inputs": [probe]},
        "test-tool": {"inputs": [probe], "commit_branch": "main", "project_path": a.tool_project,
                      "required_envvars": {}, "required_secret_envvars": {}},
        "publish-tool-version": {"project_path": a.tool_project, "bump_type": "patch"},
        "modify-organization": {"title": "pwned"},
        "update-service": {"is_active": False},
        "update-user-info": {"additional_context": ["pwned"]},
        "modify-tool": {"description": "pwned"},
        "modify-tool-envvars": {"updates": [{"name": "ISO_PLAIN", "value": "pwned"}]},
        "modify-tags-of-conversation": {"updates": {"pwned": "yes"}},
        "modify-role": {"description": "pwned"},
        # A's service and tool named in B's own organization must be as unknown there as ids that exist nowhere.
        "create-dynamic-behavior-set": {"name": "pwned", "tags": {}, "applied_to_services": [a.service_id],
                                        "initial_version": {"is_active": True, **behavior_version(a, "pwned")}},
        "create-dynamic-behavior-set-version": behavior_version(a, "pwned"),
        "update-dynamic-behavior-set": {"name": "pwned", "is_active": False},
        "update-simulation-persona": {"tags": {"pwned": "yes"}},
        "update-simulation-scenario": {"tags": {"pwned": "yes"}},
        "update-simulation-unit-test": {"description": "pwned", "max_interactions": 1},
        "update-simulation-unit-test-set": {"name": "pwned", "description": "pwned"},
        "update-webhook-destination": {"accepted_types": ["api-key-expiration-soon"], "retry_attempts": 5},
    }


@dataclass
class Request:
    method: str
    path: str
    op: dict
    url: str
    params: list[tuple[str, str]]
    json_body: Any = None
    files: list | None = None
    content: bytes | None = None
    headers: dict = field(default_factory=dict)
    references_a: bool = False  # some path, query or body value names one of A's resources
    only_query_references: bool = False


def build_request(doc: dict, base_url: str, a: OrgA, org: str, method: str, path: str, op: dict) -> Request:
    values = path_values(a, org, method)
    refs = reference_values(a)
    refs["role_name"] = "DefaultUserRole"  # a role every organization has (a field naming the role to give)
    refs["project_path"] = a.tool_project
    params = op.get("parameters", [])
    url_path = path
    path_refs = False
    for p in params:
        if p["in"] != "path":
            continue
        name = p["name"]
        if name not in values:
            raise Unfillable(
                f"{method.upper()} {path} ({op.get('operationId')}): no value for path parameter {{{name}}}; "
                f"add one of A's resources for it to path_values() in {Path(__file__).name}"
            )
        safe = "/" if name == "git_path" else ""
        url_path = url_path.replace("{" + name + "}", urllib.parse.quote(values[name], safe=safe))
        path_refs = path_refs or name not in NOT_A_REFERENCE
    for p in params:
        if p["in"] == "header" and p.get("required") and p["name"].lower() != "content-type":
            raise Unfillable(f"{method.upper()} {path}: no value for required header {p['name']!r}; add it to build_request()")
    leftover = re.findall(r"\{([^}]+)\}", url_path)
    if leftover:
        raise Unfillable(f"{method.upper()} {path}: path parameters {leftover} are not declared in the document")

    query: list[tuple[str, str]] = []
    query_refs = False
    # Searches look for A's data by a word of it: the owner's name, or the name of A's dynamic behavior set.
    search_term = (a.behavior_set_name if "/dynamic_behavior_set/" in path
                   else a.metric_name if "/metric/" in path
                   else a.persona_name if "/simulation/persona/" in path
                   else a.scenario_name if "/simulation/scenario/" in path
                   else a.unit_test_name if "/simulation/unit_test/" in path
                   else a.unit_test_set_name if "/simulation/unit_test_set/" in path
                   else a.owner_first_name)
    for p in params:
        if p["in"] != "query":
            continue
        name, schema = p["name"], resolve(doc, p.get("schema", {}))
        value: Any = None
        if name == "id":
            value = id_filter(a, path)
        elif name == "query":
            value = search_term
        elif name in refs and name != "role_name":
            value = refs[name]
        if value is not None:
            query_refs = True
        elif p.get("required"):
            value = example(doc, schema, {}, name)
        if value is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            query.append((name, str(item).lower() if isinstance(item, bool) else str(item)))
    if path.endswith("/git/{git_path}") and method == "get":
        query.append(("service", "git-upload-pack"))

    req = Request(method=method, path=path, op=op, url=base_url + url_path, params=query)
    body_refs = False
    body = op.get("requestBody")
    if body:
        content = body.get("content", {})
        op_id = op.get("operationId", "")
        overrides = body_overrides(a)
        if "application/json" in content:
            if op_id in overrides:
                req.json_body = overrides[op_id]
            else:
                req.json_body = example(doc, content["application/json"].get("schema", {}), refs)
            text = json.dumps(req.json_body)
            body_refs = any((v if isinstance(v, str) else json.dumps(v)) in text
                            for k, v in refs.items() if k not in ("role_name", "project_path"))
        elif "multipart/form-data" in content:
            fields = example(doc, content["multipart/form-data"].get("schema", {}), refs)
            req.files = [(k, (None, v if isinstance(v, str) else json.dumps(v))) for k, v in fields.items()]
        else:
            raise AssertionError(f"{method.upper()} {path}: no body builder for {sorted(content)}")
    elif "/git/" in path and method == "post":
        req.content = b"0000"
        req.headers["Content-Type"] = "application/x-git-upload-pack-request"
    req.references_a = path_refs or query_refs or body_refs
    req.only_query_references = query_refs and not path_refs and not body_refs
    return req


_http = httpx.Client(timeout=60)  # keep-alive across the matrix's calls


def send(req: Request, token: str) -> Call:
    headers = {"Authorization": f"Bearer {token}", **req.headers}
    started = time.monotonic()
    resp = _http.request(
        req.method, req.url, params=req.params, json=req.json_body, files=req.files,
        content=req.content, headers=headers,
    )
    sent = " ".join([
        urllib.parse.unquote(str(resp.request.url)),
        json.dumps(req.json_body) if req.json_body is not None else "",
        json.dumps([f[1][1] for f in req.files]) if req.files else "",
    ])
    return Call(req.method, req.path, req.op.get("operationId", "?"), str(resp.request.url),
                resp.status_code, resp.text, json.dumps(dict(resp.headers)), sent, time.monotonic() - started)


def leaks(call: Call, markers: dict[str, str]) -> list[str]:
    shown = call.text + call.headers
    return [name for name, value in markers.items() if value in shown and value not in call.sent]


def body_validation_only(call: Call) -> bool:
    """A 422 that says the request body (nothing else) failed validation."""
    try:
        detail = json.loads(call.text)["detail"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(detail, list) and bool(detail) and all(
        isinstance(d, dict) and (d.get("loc") or [None])[0] == "body" for d in detail
    )


def judge(call: Call, markers: dict[str, str], allow_ok: bool = False) -> str | None:
    """None when the answer is a refusal that tells nothing, else what is wrong."""
    found = leaks(call, markers)
    if call.status == 429:
        return f"429 (rate limited: the test must rotate tokens) {call.line()}"
    if found:
        return f"LEAK of {found}: {call.line()}"
    if call.status in REFUSED:
        return None
    if call.status == 422 and body_validation_only(call):
        return None
    if allow_ok and call.status == 200:
        return None
    return f"status {call.status}: {call.line()}"


def phantom_of(a: OrgA) -> OrgA:
    """A's twin with ids nobody has: what B is told about A's ids must be what it is told about these."""
    return dataclasses.replace(
        a, agent_id=hex_id(), graph_id=hex_id(), service_id=hex_id(), version_set_name=marker("isoset"),
        owner_id=hex_id(), other_id=hex_id(), conversation_id=hex_id(),
        interaction_ids=[hex_id() for _ in a.interaction_ids], message_ids=[hex_id() for _ in a.message_ids],
        role_name=marker("IsoRole"), role_id=hex_id(), api_key_id=str(uuid.uuid4()), tool_id=hex_id(),
        behavior_set_id=hex_id(), metric_id=hex_id(), persona_id=hex_id(), scenario_id=hex_id(), unit_test_id=hex_id(),
        unit_test_set_id=hex_id(), run_id=hex_id(), webhook_id=hex_id(), replay_id=hex_id(),
    )


def same_answer(real: Call, phantom: Call, a: OrgA, twin: OrgA) -> bool:
    """Whether two answers are the same once each side's ids are blanked (and request ids dropped)."""
    pairs = [
        (a.agent_id, twin.agent_id), (a.graph_id, twin.graph_id), (a.service_id, twin.service_id),
        (a.version_set_name, twin.version_set_name), (a.owner_id, twin.owner_id),
        (a.conversation_id, twin.conversation_id), (a.role_name, twin.role_name), (a.role_id, twin.role_id),
        (a.api_key_id, twin.api_key_id), (a.tool_id, twin.tool_id), (a.behavior_set_id, twin.behavior_set_id),
        (a.metric_id, twin.metric_id), (a.persona_id, twin.persona_id), (a.scenario_id, twin.scenario_id),
        (a.unit_test_id, twin.unit_test_id), (a.unit_test_set_id, twin.unit_test_set_id), (a.run_id, twin.run_id),
        (a.webhook_id, twin.webhook_id), (a.replay_id, twin.replay_id),
        *zip(a.interaction_ids, twin.interaction_ids), *zip(a.message_ids, twin.message_ids),
    ]

    def normal(call: Call, side: int) -> tuple[int, str]:
        try:
            body = json.loads(call.text)
            if isinstance(body, dict):
                body.pop("request_id", None)
            text = json.dumps(body, sort_keys=True)
        except ValueError:
            text = call.text
        for i, pair in enumerate(pairs):
            text = text.replace(pair[side], f"<id{i}>")
        return call.status, text

    return normal(real, 0) == normal(phantom, 1)


def rate_limit(op: dict) -> int | None:
    limit = op.get("x-rate-limit-per-minute")
    return int(limit) if limit else None


# --------------------------------------------------------------------------
# A, read back
# --------------------------------------------------------------------------


def snapshot(a: OrgA, token: str) -> dict[str, Any]:
    """Everything of A the matrix could have touched, as A's administrator reads it."""
    c = a.compadre

    def get(path: str, **params: Any) -> Any:
        return ok(raw(c, token, "GET", path, params=params))

    return {
        "organization": get("/organization/"),
        "agents": get("/organization/agent"),
        "agent versions": get(f"/organization/agent/{a.agent_id}/version"),
        "graphs": get("/organization/service_hierarchical_state_machine"),
        "graph versions": get(f"/organization/service_hierarchical_state_machine/{a.graph_id}/version"),
        "services": get("/service/"),
        "users": get("/user/"),
        "owner model": get(f"/user/{a.owner_id}/user_model"),
        "conversations": get("/conversation/"),
        "messages": get(f"/conversation/{a.conversation_id}/messages/"),
        "roles": get("/role/", return_permission_grants="true"),
        "api keys": get("/organization/api_key/"),
        "tools": get("/tool/"),
        "tool versions": get(f"/tool/{a.tool_id}/version"),
        "tool invocations": get("/tool/invocation"),
        "dynamic behavior sets": get("/dynamic_behavior_set/"),
        "dynamic behavior set versions": get(f"/dynamic_behavior_set/{a.behavior_set_id}/version/"),
        "dynamic behavior invocations": get(f"/dynamic_behavior_set/{a.behavior_set_id}/invocation/"),
        "metrics": get("/metric/"),
        "simulation personas": get("/simulation/persona/"),
        "simulation persona versions": get(f"/simulation/persona/{a.persona_id}/version/"),
        "simulation scenarios": get("/simulation/scenario/"),
        "simulation scenario versions": get(f"/simulation/scenario/{a.scenario_id}/version/"),
        "simulation unit tests": get("/simulation/unit_test/"),
        "simulation unit test sets": get("/simulation/unit_test_set/"),
        "simulation runs": get("/simulation/unit_test_set_run/"),
        "simulation metric results": get("/metric/metric_evaluation_result", simulation_unit_test_set_run_id=a.run_id),
        "webhook destinations": get("/webhook_destination/"),
        "webhook deliveries": get(f"/webhook_destination/{a.webhook_id}/delivery"),
        "replay": get(f"/compadre/replay/{a.replay_id}/"),
    }


def changes_since(before: dict, a: OrgA, token: str) -> list[str]:
    """How A's resources differ from `before` (empty when they read back the same)."""
    try:
        after = snapshot(a, token)
    except AssertionError as exc:
        return [f"A's resources no longer read back: {str(exc)[:600]}"]
    return [
        f"{k} changed:\n    before {json.dumps(before[k])[:600]}\n    after  {json.dumps(after[k])[:600]}"
        for k in before if before[k] != after[k]
    ]


@pytest.fixture(scope="module")
def a_reader(world: World) -> str:
    """A token of A's administrator for reading A back (its own rate-limit budget)."""
    return world.a.compadre.access_token()


@pytest.fixture(scope="module")
def baseline(world: World, a_reader: str) -> dict:
    return snapshot(world.a, a_reader)


def dump(name: str, seen: list[Call]) -> None:
    """Every call and its answer, when ISOLATION_MATRIX_DUMP names a folder."""
    folder = os.environ.get("ISOLATION_MATRIX_DUMP")
    if folder:
        Path(folder, f"{name}.txt").write_text(
            "\n".join(f"{c.seconds:6.3f}s {c.line()}  <= {c.url}" for c in seen) + "\n"
        )


def report(title: str, problems: list[str], seen: list[Call], changes: list[str]) -> str:
    lines = [f"{title}: {len(problems)} wrong answer(s) out of {len(seen)} calls"]
    lines += [f"  - {p}" for p in problems]
    if changes:
        lines.append("A's resources changed:")
        lines += [f"  - {c}" for c in changes]
    return "\n".join(lines)


# --------------------------------------------------------------------------
# The tests
# --------------------------------------------------------------------------


def test_anonymous_operations_are_listed_and_show_nothing_of_a(world: World):
    doc, a, b = world.doc, world.a, world.b
    anonymous = {op.get("operationId") for _, _, op in operations(doc) if is_anonymous(doc, op)}
    assert anonymous == set(ANONYMOUS), (
        f"operations without security in /openapi.json {sorted(anonymous)} differ from ANONYMOUS "
        f"{sorted(ANONYMOUS)}: an anonymous operation must be listed with its reason, or join the matrix"
    )
    base = a.compadre.server.base_url
    markers = a.markers()
    for path in ("/metrics", "/healthz", "/openapi.json"):
        text = httpx.get(base + path, timeout=30).text
        found = [n for n, v in markers.items() if v in text]
        assert not found, f"GET {path} (anonymous) shows A's {found}"

    # A voice message's audio is served only at the signed link its source gives.
    media = f"{base}/media/conversation/{a.compadre.org}/{a.conversation_id}/{a.message_ids[-1]}"
    for query in ("", "?expires=9999999999&signature=" + "0" * 64, "?expires=1&signature=" + "0" * 64):
        resp = httpx.get(media + query, timeout=30)
        assert resp.status_code == 403, f"GET {media}{query}: {resp.status_code} {resp.text}"
        assert not [n for n, v in markers.items() if v in resp.text and v not in media], resp.text

    # B's key never signs in to A; B's key never signs in as A's user (two failures: under the free five).
    attempts = [
        (a.compadre.org, b.credentials.user_id),
        (b.org, a.owner_id),
    ]
    for org, user in attempts:
        resp = httpx.post(f"{base}/v1/{org}/user/signin_with_api_key", timeout=30, headers={
            "x-api-key": b.credentials.api_key, "x-api-key-id": b.credentials.api_key_id, "x-user-id": user,
        })
        assert resp.status_code == 401, f"B's key, org {org}, user {user}: {resp.status_code} {resp.text}"
        assert not [n for n, v in markers.items() if v in resp.text and v not in (org, user)], resp.text


def test_b_own_organization_shows_nothing_of_a(world: World):
    """B's administrator reads every listing of B's own organization (GET operations whose one path
    parameter is the organization, required query parameters only): none shows anything of A. Among
    them get-models, whose routes name every service and version set of the organization."""
    doc, a, b = world.doc, world.a, world.b
    base = a.compadre.server.base_url
    markers = a.markers()
    tokens = Tokens(b, "DefaultSuperAdministratorRole")
    problems: list[str] = []
    seen: list[Call] = []
    for method, path, op in operations(doc):
        if method != "get" or is_anonymous(doc, op):
            continue
        if [p["name"] for p in op.get("parameters", []) if p["in"] == "path"] != ["organization"]:
            continue
        params = [(p["name"], str(example(doc, p.get("schema", {}), {}, p["name"])))
                  for p in op.get("parameters", []) if p["in"] == "query" and p.get("required")]
        req = Request(method=method, path=path, op=op, url=base + path.replace("{organization}", b.org), params=params)
        call = send(req, tokens.for_operation(op.get("operationId", path), rate_limit(op)))
        seen.append(call)
        if call.status == 429 or leaks(call, markers):
            problems.append(f"{'429' if call.status == 429 else f'LEAK of {leaks(call, markers)}'}: {call.line()}")
    models = next(c for c in seen if c.operation_id == "get-models")
    assert models.status == 200, models.line()
    routes = [r for m in json.loads(models.text)["models"] for r in m["routes"]]
    print(f"\nB's own listings: {len(seen)} calls; get-models routes in B: {routes}")
    assert not [r for r in routes if r["service_id"] == a.service_id or r["version_set_name"] == a.version_set_name], routes
    dump("b-own-listings", seen)
    assert not problems, report("B's own listings showing A", problems, seen, [])


def test_b_webhook_destination_hears_nothing_of_a(world: World):
    """B's destination accepts every event type from before A's setup began: none of A's events (the
    setup's agent framework changes, the replay) reaches it, and B's own delivery listing shows nothing
    of A. A's deliveries, signed with A's secret, went to A's destination only."""
    a, b, receiver = world.a, world.b, world.receiver
    markers = a.markers()
    to_b = receiver.received(world.b_webhook_path)
    leaked = [(r.body, n) for r in to_b for n, v in markers.items() if v in r.body + json.dumps(r.headers)]
    assert not leaked, f"B's destination received A's data: {leaked}"
    listed = ok(raw(b, b.user_token("DefaultSuperAdministratorRole"), "GET", f"/webhook_destination/{world.b_webhook_id}/delivery"))
    assert not [n for n, v in markers.items() if v in json.dumps(listed)], listed
    destinations = ok(raw(b, b.access_token(), "GET", "/webhook_destination/"))["webhook_destinations"]
    assert [d["id"] for d in destinations] == [world.b_webhook_id], destinations
    to_a = receiver.received(world.a_webhook_path)
    assert to_a and all(json.loads(r.body)["org_id"] == a.compadre.org for r in to_a)
    assert all(hmac_signature(a.webhook_secret, r.timestamp, r.body) == r.signature for r in to_a)


def test_cross_organization_matrix(world: World, baseline: dict, a_reader: str):
    doc, a, b = world.doc, world.a, world.b
    base = a.compadre.server.base_url
    markers = a.markers()
    tokens = Tokens(b, "DefaultSuperAdministratorRole")
    twin = phantom_of(a)
    problems: list[str] = []
    seen: list[Call] = []
    in_b = 0
    started = time.monotonic()
    for method, path, op in operations(doc):
        if is_anonymous(doc, op) or op.get("operationId") in CROSS_ORGANIZATION:
            continue
        op_id = op.get("operationId", f"{method} {path}")
        try:
            in_a = build_request(doc, base, a, a.compadre.org, method, path, op)
            in_own = build_request(doc, base, a, b.org, method, path, op)
            in_own_phantom = build_request(doc, base, twin, b.org, method, path, op)
        except Unfillable as exc:
            pytest.fail(str(exc), pytrace=False)
        # B's token, A's organization and A's ids.
        call = send(in_a, tokens.for_operation(op_id, rate_limit(op)))
        seen.append(call)
        if (problem := judge(call, markers)):
            problems.append(f"[org=A] {problem}")
        # B's token, B's organization, A's ids (where the operation names any).
        if in_own.references_a:
            in_b += 1
            call = send(in_own, tokens.for_operation(op_id, rate_limit(op)))
            seen.append(call)
            allow_ok = method == "get" and in_own.only_query_references
            if (problem := judge(call, markers, allow_ok=allow_ok)):
                problems.append(f"[org=B, A's ids] {problem}")
            # ... and exactly what it says about ids that exist nowhere (no existence oracle across organizations).
            phantom = send(in_own_phantom, tokens.for_operation(op_id, rate_limit(op)))
            seen.append(phantom)
            if not same_answer(call, phantom, a, twin):
                problems.append(
                    f"[org=B, A's ids] tells A's ids from unknown ids: {call.line()}  ||  unknown ids -> {phantom.line()}"
                )
    print(f"\ncross-organization matrix: {len(seen)} calls ({in_b} operations also in B's own organization with A's ids and with unknown ids), "
          f"{len(tokens.users)} tokens of B, {time.monotonic() - started:.1f} s")
    dump("cross-organization", seen)
    changes = changes_since(baseline, a, a_reader)
    assert not problems and not changes, report("B reaching into A", problems, seen, changes)


def test_plain_user_matrix(world: World, baseline: dict, a_reader: str):
    """A DefaultUserRole user of A against another user's conversation, messages and user id."""
    doc, a = world.doc, world.a
    base = a.compadre.server.base_url
    owner_data = {
        k: v for k, v in a.markers().items()
        if k in ("owner user id", "owner email", "owner first name", "owner additional context",
                 "owner variable value", "conversation id", "user message", "agent greeting", "agent reply")
        or k.startswith(("interaction id", "message id"))
    }
    other = a.compadre.access_token(a.other_id)
    twin = phantom_of(a)
    user_scoped = {"conversation_id", "interaction_id", "message_id", "user_id", "requested_user_id"}
    problems: list[str] = []
    seen: list[Call] = []
    for method, path, op in operations(doc):
        if is_anonymous(doc, op):
            continue
        names = {p["name"] for p in op.get("parameters", []) if p["in"] in ("path", "query")}
        body_fields: set[str] = set()
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body:
            body_fields = set(resolve(doc, body.get("schema", {})).get("properties", {}))
        conversation_listing = path.endswith("/conversation/") and method == "get"
        if not (names | body_fields) & user_scoped and not conversation_listing:
            continue
        try:
            req = build_request(doc, base, a, a.compadre.org, method, path, op)
        except Unfillable as exc:
            pytest.fail(str(exc), pytrace=False)
        path_scoped = any(
            p["in"] == "path" and p["name"] in user_scoped for p in op.get("parameters", [])
        )
        call = send(req, other)
        seen.append(call)
        allow_ok = method == "get" and not path_scoped
        if (problem := judge(call, owner_data, allow_ok=allow_ok)):
            problems.append(problem)
        elif allow_ok:
            # A listing filtered by the owner's ids answers as it does for ids that exist nowhere
            # (the ids themselves were sent, so a leaked record may show nothing else of the owner).
            phantom = send(build_request(doc, base, twin, a.compadre.org, method, path, op), other)
            seen.append(phantom)
            if not same_answer(call, phantom, a, twin):
                problems.append(f"answers differently about the owner's ids: {call.line()}  ||  "
                                f"unknown ids -> {phantom.line()}")
    print(f"\nplain-user matrix: {len(seen)} calls")
    assert len(seen) >= 8, [c.line() for c in seen]
    dump("plain-user", seen)
    changes = changes_since(baseline, a, a_reader)
    assert not problems and not changes, report("a plain user reaching another user's data", problems, seen, changes)


def _owner_data_of_replay(a: OrgA) -> dict[str, str]:
    return {k: v for k, v in a.markers().items() if k in (
        "owner user id", "user message", "agent greeting", "agent reply", "replay conversation id")}


def test_a_replayer_does_not_replay_another_users_conversation(world: World, baseline: dict):
    """A user of A who may run and read simulations but read only their own conversations (the conversation
    permissions of DefaultUserRole) cannot replay the owner's conversation."""
    a = world.a
    replayer = a.compadre.access_token(a.replayer_id)
    created = raw(a.compadre, replayer, "POST", "/compadre/replay/", json={
        "conversation_id": a.conversation_id, "service_version_set_name": a.version_set_name})
    assert created.status_code in REFUSED, f"{created.status_code} {created.text}"
    found = [n for n, v in _owner_data_of_replay(a).items() if v in created.text]
    assert not found, created.text
    # No replay was made: A's conversations are as they were (a replay adds one).
    assert ok(raw(a.compadre, a.admin_token, "GET", "/conversation/")) == baseline["conversations"]


def test_a_replayer_does_not_read_the_replay_of_another_users_conversation(world: World):
    """The same user cannot read the report of A's replay of the owner's conversation either: it shows the
    conversation's messages side by side."""
    a = world.a
    report = raw(a.compadre, a.compadre.access_token(a.replayer_id), "GET", f"/compadre/replay/{a.replay_id}/")
    found = [n for n, v in _owner_data_of_replay(a).items() if v in report.text]
    assert not found, f"shows the owner's {found}: {report.status_code} {report.text[:400]}"


def test_realtime_socket_refuses_b_and_other_users(world: World):
    """The realtime socket is not in /openapi.json: the same rules, checked by hand."""
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    a, b = world.a, world.b
    markers = a.markers()
    port = a.compadre.server.port

    answers: list[str] = []

    def attempt(org: str, token: str, message: dict) -> str:
        url = f"ws://127.0.0.1:{port}/v1/{org}/conversation/converse_realtime?response_format=text"
        received: list[str] = []
        try:
            with connect(url, subprotocols=[f"bearer.authorization.amigo.ai.{token}"],
                         open_timeout=10, close_timeout=3) as ws:
                ws.send(json.dumps(message))
                try:
                    while True:
                        frame = ws.recv(timeout=5)
                        received.append(frame)
                        kind = json.loads(frame).get("type", "")
                        if kind in ("server.conversation-created", "server.conversation-continued",
                                    "server.new-message", "server.interaction-complete"):
                            return f"accepted: {frame[:200]}"
                        if kind == "server.error":
                            break
                except ConnectionClosed as closed:
                    code = closed.rcvd.code if closed.rcvd else None
                    received.append(f"closed {code}")
                except TimeoutError:
                    return f"no refusal within 5 s: {received}"
        except InvalidStatus as refused:
            received.append(f"handshake {refused.response.status_code}")
        text = " ".join(received)
        answers.append(f"  {message['type']} in {org}: {text[:200]}")
        found = [n for n, v in markers.items() if v in text and v not in json.dumps(message) + org]
        return f"LEAK {found}: {text[:300]}" if found else ""

    b_token = b.access_token()
    other = a.compadre.access_token(a.other_id)
    cases = {
        "B's token on A's socket, continuing A's conversation": (
            a.compadre.org, b_token, {"type": "client.continue-conversation", "conversation_id": a.conversation_id}),
        "B's token on B's socket, continuing A's conversation": (
            b.org, b_token, {"type": "client.continue-conversation", "conversation_id": a.conversation_id}),
        "B's token on B's socket, starting A's service": (
            b.org, b_token, {"type": "client.start-conversation", "service_id": a.service_id}),
        "another user of A continuing the owner's conversation": (
            a.compadre.org, other, {"type": "client.continue-conversation", "conversation_id": a.conversation_id}),
    }
    problems = [f"{name}: {result}" for name, (org, token, message) in cases.items()
                if (result := attempt(org, token, message))]
    print("\nrealtime refusals:\n" + "\n".join(answers))
    assert not problems, "\n".join(problems)


def test_git_repository_of_a_is_closed_to_b(world: World, tmp_path: Path):
    a, b = world.a, world.b
    url = f"{a.compadre.server.base_url}/v1/{a.compadre.org}/tool/git"
    for who, token in (("B's administrator", b.access_token()),
                       ("a plain user of A", a.compadre.access_token(a.other_id))):
        repo = GitRepo(url, token, tmp_path / f"clone-{secrets.token_hex(3)}")
        cloned = repo.git("clone", url, str(repo.path), cwd=tmp_path, check=False)
        assert cloned.returncode != 0, f"{who} cloned A's tool repository:\n{cloned.stdout}\n{cloned.stderr}"
        assert a.repo_marker not in cloned.stdout + cloned.stderr
        assert not repo.path.exists() or a.repo_marker not in "".join(
            p.read_text(errors="replace") for p in repo.path.rglob("*.py")
        ), f"{who} got A's tool code"


def test_simulation_artifacts_link_of_a_is_good_only_as_signed(world: World):
    """The archive of A's run is served at a link Compadre signs (not in the document): without the
    signature, with a forged or expired one, or with the signature moved to another path, it is 403."""
    a, b = world.a, world.b
    markers = a.markers()
    reader = a.compadre.access_token()
    link = ok(raw(a.compadre, reader, "GET", f"/simulation/unit_test_set_run/{a.run_id}/artifacts/"))["presigned_url"]
    parts = urllib.parse.urlsplit(link)
    query = dict(urllib.parse.parse_qsl(parts.query))
    signed = httpx.get(link, timeout=30)
    assert signed.status_code == 200 and a.simulated_message.encode() in signed.content, signed.status_code

    def url(path: str, params: dict[str, str]) -> str:
        return urllib.parse.urlunsplit(parts._replace(path=path, query=urllib.parse.urlencode(params)))

    flipped = query["signature"][:-1] + ("0" if query["signature"][-1] != "0" else "1")
    attempts = {
        "no signature": url(parts.path, {}),
        "no expiry": url(parts.path, {"signature": query["signature"]}),
        "a forged signature": url(parts.path, {**query, "signature": flipped}),
        "an expired link": url(parts.path, {"expires": "1", "signature": query["signature"]}),
        "A's signature on B's organization": url(parts.path.replace(f"/{a.compadre.org}/", f"/{b.org}/"), query),
        "A's signature on another run": url(parts.path.replace(a.run_id, hex_id()), query),
    }
    problems = []
    for what, attempt in attempts.items():
        resp = httpx.get(attempt, timeout=30)
        shown = resp.text if "text" in resp.headers.get("content-type", "") or "json" in resp.headers.get("content-type", "") else resp.content.decode("latin-1")
        found = [n for n, v in markers.items() if v in shown and v not in attempt]
        if resp.status_code != 403 or found:
            problems.append(f"{what}: {resp.status_code} {shown[:200]!r} (leaks {found})")
    assert not problems, "\n".join(problems)


def test_a_tool_sees_nothing_of_the_server_or_other_organizations(world: World):
    """A's tool looks for the server's database, environment and tools directory, the secrets key,
    B's repository and built tools, and the other processes' environments."""
    a, b = world.a, world.b
    server = a.compadre.server
    tools_dir = server.workdir / "tools"
    # Another organization's built tool, as it would lie on disk.
    b_build = tools_dir / "environments" / b.org / hex_id() / "1.0.0"
    b_build.mkdir(parents=True, exist_ok=True)
    (b_build / "manifest.json").write_text(json.dumps({"secret": B_REPO_MARKER}))
    pid = server.proc.pid
    paths = [
        str(server.workdir / "compadre.sqlite"), str(server.workdir), str(tools_dir), str(tools_dir / "secrets.key"),
        str(tools_dir / "repositories"), str(tools_dir / "repositories" / f"{b.org}.git"),
        str(tools_dir / "repositories" / f"{a.compadre.org}.git"),
        str(tools_dir / "environments"), str(tools_dir / "environments" / b.org), str(b_build / "manifest.json"),
        f"/proc/{pid}/environ", f"/proc/{pid}/cmdline", str(server.log_path),
    ]
    base = server.base_url
    urls = [
        f"{base}/v1/{b.org}/tool/git/info/refs?service=git-upload-pack",
        f"{base}/v1/{a.compadre.org}/tool/git/info/refs?service=git-upload-pack",
    ]
    api = ToolAPI(base, a.compadre.org, a.compadre.user_token("DefaultSuperAdministratorRole"))
    try:
        result = ok(api.invoke(a.tool_id, a.tool_version, {"paths": paths, "urls": urls}))
    finally:
        api.close()
    outcome = result["invocation_results"][0]
    assert outcome["succeeded"], outcome
    seen = json.loads(outcome["output"])

    problems = []
    readable = {p: v[:120] for p, v in seen["files"].items() if not v.startswith("ERR:")}
    # Folders on the way to the tool's own environment exist (empty mount points); nothing else may.
    for p, v in readable.items():
        listing = v.removeprefix("DIR:").split(",") if v.startswith("DIR:") else None
        if listing is not None and set(listing) <= {"", "tools", "environments", a.compadre.org}:
            continue
        problems.append(f"the tool read {p}: {v!r}")
    text = json.dumps(seen)
    secrets_of_server = {**world.canaries, "B's repository or build": B_REPO_MARKER}
    if server.database_url.startswith("postgres"):
        secrets_of_server["database URL"] = server.database_url
    for name, value in secrets_of_server.items():
        if value in text:
            problems.append(f"the tool saw {name}")
    env = seen["environment"]
    leaked_env = sorted(k for k in env if k.startswith(("COMPADRE_", "AMIGO_", "OTEL_")) or k in world.canaries)
    if leaked_env:
        problems.append(f"the tool's environment carries the server's variables {leaked_env}")
    others = {pid: p for pid, p in seen["processes"].items()
              if str(server.binary) in p["cmdline"] or "\x00serve\x00" in p["cmdline"]}
    if others:
        problems.append(f"the tool sees the server's processes: {others}")
    for u, answer in seen["urls"].items():
        if not answer.startswith(("HTTP 401", "HTTP 403", "HTTP 404", "ERR:")):
            problems.append(f"the tool fetched {u} without credentials: {answer[:120]!r}")
    print(f"\ntool sandbox: cwd {seen['cwd']}, environment {sorted(env)}, "
          f"{len(seen['processes'])} visible processes, files {seen['files']}, urls {seen['urls']}")
    assert not problems, "\n".join(problems)
    # The tool does get its own variables (the probe really ran with them).
    assert env.get("ISO_PLAIN") == a.tool_plain_value and env.get("ISO_SECRET") == a.tool_secret_value, env
