"""Simulations, as an organization uses them, against a real server with its default settings.

The 28 operations under `/v1/{organization}/simulation/`: personas and scenarios (numbered versions,
listing, search, tags, soft delete), unit tests (a service's version set, a persona, a scenario and
success criteria on metrics), unit test sets, and their runs: each unit test of a set is played
`run_count` times as a real conversation between the service and a user played by the model, then
judged by its criteria's metrics; the run's results, its metric results (source `simulation`) and an
archive of it (a tar file at a signed link) are read back. Also: the 400/404/409 rules between
personas, scenarios, metrics, unit tests, sets, services and version sets; what a run shows to roles
that may read only part of it; the three ways a scenario opens a conversation; failing, erring and
cancelled runs; a run cut by a crash; and rules the server applies that its document must state
(found by Benchmarks/fuzz.sh).

The fake model plays both sides. It answers by the name of the request's JSON schema
(`fake_openai.on_schema`): `simulated_user_turn` (the simulated user: one message, then
`finished: true` once the agent has answered) and `judgement` (the metric judge: a value per metric,
found by the metric's name in the question). The agent's own requests get the fake's generic answers.
Runs are polled until complete (at most 60 s); nothing waits on a timer otherwise.

The official SDK (amigo-sdk 2.5.0) has no simulation resource, so calls are raw HTTP and answers are
checked against the shapes of Compadre's own `GET /openapi.json`. Each test acts as an administrator
of its own (per-user rate limits) and names what it makes with a word of its own.
"""

from __future__ import annotations

import io
import json
import secrets
import tarfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from conftest import Compadre
from conversation_helpers import Blueprint
from fake_openai import FakeOpenAI
from test_sdk_management import OBJECT_ID
from tool_helpers import ok

RUN_DEADLINE_S = 60.0
USER_TURN = "simulated_user_turn"
JUDGEMENT = "judgement"


def word() -> str:
    return "w" + secrets.token_hex(5)


def api(compadre: Compadre, role: str = "DefaultAdministratorRole") -> httpx.Client:
    """`/v1/{org}` with the token of a user invited now (a rate-limit budget of its own)."""
    token = compadre.user_token(role)
    return httpx.Client(
        base_url=f"{compadre.server.base_url}/v1/{compadre.org}", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


@pytest.fixture(scope="module")
def document(compadre: Compadre) -> dict:
    return httpx.get(f"{compadre.server.base_url}/openapi.json", timeout=30).json()


def assert_shape(document: dict, schema_name: str, value: dict) -> None:
    """`value` has every required field of the document's schema and no field it does not declare."""
    schema = document["components"]["schemas"][schema_name]
    missing = set(schema.get("required", [])) - set(value)
    unknown = set(value) - set(schema.get("properties", {}))
    assert not missing and not unknown, f"{schema_name}: missing {sorted(missing)}, undeclared {sorted(unknown)} in {value}"


# --------------------------------------------------------------------------
# Request bodies
# --------------------------------------------------------------------------


def persona_version(background: str, **extra: Any) -> dict:
    return {"background": background, "user_models": ["Prefers short answers."], "nonsensitive_user_variables": {"city": "Lyon"},
            "sensitive_user_variables": {"account_number": "12345"}, **extra}


def persona_body(name: str, tag: str, role: str = "Customer", background: str = "A customer of the shop.") -> dict:
    return {"name": name, "role": role, "tags": {"suite": tag}, "initial_version": persona_version(background)}


def scenario_version(objective: str, initial: str = "user-message", starts_at: str | None = None) -> dict:
    return {"objective": objective, "instructions": "Be brief and polite.", "initial_message_type": initial,
            "conversation_starts_at": starts_at}


def scenario_body(name: str, tag: str, objective: str = "Get the invoice corrected.") -> dict:
    return {"name": name, "tags": {"suite": tag}, "initial_version": scenario_version(objective)}


def boolean(expected: bool = True) -> dict:
    return {"type": "boolean", "expected_value": expected}


def unit_test_body(name: str, tag: str, service: str, persona: str, scenario: str, criteria: list[dict],
                   version_set: str = "release", max_interactions: int = 5) -> dict:
    return {"name": name, "description": f"Checks {name}", "service_id": service, "service_version_set_name": version_set,
            "persona_id": persona, "scenario_id": scenario, "max_interactions": max_interactions,
            "success_criterions": criteria, "tags": {"suite": tag}}


def criterion(name: str, metric: str, value: dict) -> dict:
    return {"name": name, "metric_id": metric, "criterion": value}


def set_body(name: str, tag: str, runs: list[tuple[str, int]], description: str | None = None) -> dict:
    return {"name": name, "description": description, "unit_test_runs": [{"unit_test_id": u, "run_count": n} for u, n in runs],
            "tags": {"suite": tag}}


class Sim:
    """The simulation resources of one test, made through `http` (an administrator of its own)."""

    def __init__(self, compadre: Compadre, http: httpx.Client, tag: str) -> None:
        self.compadre, self.http, self.tag = compadre, http, tag
        self._service: str | None = None

    @property
    def service(self) -> str:
        """A service (agent + the tests' conversation graph) with its `release` version set."""
        if self._service is None:
            with self.compadre.user_client() as client:
                self._service = Blueprint(client).new_service(client)
        return self._service

    def metric(self, name: str, value: dict) -> str:
        return ok(self.http.post("/metric/", json={
            "name": name, "description": f"Measures {name}", "applied_to_services": [], "additional_notes": None,
            "tags": {"suite": self.tag}, "metric_value": value,
        }), 201)["id"]

    def persona(self, name: str, **kwargs: Any) -> str:
        return ok(self.http.post("/simulation/persona/", json=persona_body(name, self.tag, **kwargs)), 201)["simulation_persona_id"]

    def scenario(self, name: str, **kwargs: Any) -> str:
        return ok(self.http.post("/simulation/scenario/", json=scenario_body(name, self.tag, **kwargs)), 201)["simulation_scenario_id"]

    def unit_test(self, name: str, persona: str, scenario: str, criteria: list[dict], **kwargs: Any) -> str:
        body = unit_test_body(name, self.tag, self.service, persona, scenario, criteria, **kwargs)
        return ok(self.http.post("/simulation/unit_test/", json=body), 201)["simulation_unit_test_id"]

    def unit_test_set(self, name: str, runs: list[tuple[str, int]], description: str | None = None) -> str:
        body = set_body(name, self.tag, runs, description)
        return ok(self.http.post("/simulation/unit_test_set/", json=body), 201)["simulation_unit_test_set_id"]

    def start(self, set_id: str) -> str:
        created = ok(self.http.post("/simulation/unit_test_set_run/", json={"simulation_unit_test_set_id": set_id}), 201)
        assert set(created) == {"simulation_unit_test_set_run_id"} and OBJECT_ID.match(created["simulation_unit_test_set_run_id"]), created
        return created["simulation_unit_test_set_run_id"]


# --------------------------------------------------------------------------
# The fake model's two parts
# --------------------------------------------------------------------------


def play_user(fake: FakeOpenAI, message: str, gate: threading.Event | None = None, finishes: bool = True) -> None:
    """The simulated user says `message`, then is finished once the agent has answered (its answer is
    in the transcript the request shows; never, without `finishes`). With `gate`, every turn waits
    until the gate opens."""
    agent_text = fake.default_text

    def turn(body: dict) -> dict:
        if gate is not None:
            gate.wait(RUN_DEADLINE_S)
        if finishes and agent_text in json.dumps(body.get("messages", [])):
            return {"json": {"finished": True, "message": ""}}
        return {"json": {"finished": False, "message": message}}

    fake.on_schema(USER_TURN, turn)


def judge(fake: FakeOpenAI, values: dict[str, Any]) -> None:
    """The judge answers each metric (found by its name in the question) with its value in `values`."""

    def judgement(body: dict) -> dict | None:
        question = json.dumps(body.get("messages", []))
        for name, value in values.items():
            if f"Metric: {name}" in question:
                return {"json": {"value": value, "justification": f"Judged {name}.", "messages": [1]}}
        return None  # not one of ours: the generic answer

    fake.on_schema(JUDGEMENT, judgement)


def user_turn_requests(fake: FakeOpenAI) -> list[dict]:
    return [r for r in fake.requests if ((r.get("response_format") or {}).get("json_schema") or {}).get("name") == USER_TURN]


class Runs:
    """Reads runs with tokens of their own: polling would otherwise spend the test's budget of
    `get-simulation-unit-test-set-runs` (50 a minute per user); a 429 moves on to a new user."""

    def __init__(self, compadre: Compadre) -> None:
        self.compadre = compadre
        self.http = api(compadre)

    def close(self) -> None:
        self.http.close()

    def get(self, run_id: str) -> dict:
        for _ in range(3):
            resp = self.http.get("/simulation/unit_test_set_run/", params={"id": run_id})
            if resp.status_code == 429:
                self.http.close()
                self.http = api(self.compadre)
                continue
            runs = ok(resp)["simulation_unit_test_set_runs"]
            assert [r["id"] for r in runs] == [run_id], runs
            return runs[0]
        raise AssertionError("rate limited three times in a row")

    def wait(self, run_id: str, until: Callable[[dict], bool], what: str) -> dict:
        deadline = time.monotonic() + RUN_DEADLINE_S
        run = self.get(run_id)
        while not until(run):
            assert time.monotonic() < deadline, f"run {run_id} not {what} within {RUN_DEADLINE_S:.0f} s: {json.dumps(run)[:3000]}"
            time.sleep(0.2)
            run = self.get(run_id)
        return run

    def completed(self, run_id: str) -> dict:
        return self.wait(run_id, lambda r: r["is_completed"], "completed")

    def archived(self, run_id: str) -> dict:
        return self.wait(run_id, lambda r: r["is_completed"] and r["artifacts_generated"], "completed with its artifacts")


@pytest.fixture
def runs(compadre: Compadre):
    reader = Runs(compadre)
    try:
        yield reader
    finally:
        reader.close()


def download(http: httpx.Client, run_id: str) -> tuple[dict, dict[str, bytes]]:
    """The artifacts link of a run and the files of the archive it serves (fetched without credentials)."""
    link = ok(http.get(f"/simulation/unit_test_set_run/{run_id}/artifacts/"))
    resp = httpx.get(link["presigned_url"], timeout=30)
    assert resp.status_code == 200, f"GET {link['presigned_url']} -> {resp.status_code}: {resp.text[:500]}"
    assert resp.headers["content-type"] == "application/x-tar", resp.headers
    with tarfile.open(fileobj=io.BytesIO(resp.content)) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    return link, files


# --------------------------------------------------------------------------
# Personas and scenarios
# --------------------------------------------------------------------------


def test_personas_have_versions_and_are_listed_searched_tagged_and_deleted(compadre: Compadre, document: dict):
    tag = word()
    with api(compadre) as http:
        sim = Sim(compadre, http, tag)
        first = sim.persona(f"Pat {tag}", role="Customer", background=f"Runs a bakery {tag}a.")
        second = sim.persona(f"Sam {tag}", role="Supplier")
        assert OBJECT_ID.match(first) and OBJECT_ID.match(second)
        duplicate = http.post("/simulation/persona/", json=persona_body(f"Pat {tag}", tag))
        assert duplicate.status_code == 409, duplicate.text
        # Names are compared as stored (stripped).
        assert http.post("/simulation/persona/", json=persona_body(f"  Pat {tag} ", tag)).status_code == 409

        # Versions: the next number, or 400 for a caller that names another.
        versions = f"/simulation/persona/{first}/version/"
        assert ok(http.post(versions, params={"version": 2}, json=persona_version(f"Runs two bakeries {tag}b.",
                                                                               preferred_language="fra", timezone="Europe/Paris")), 201) == {"version": 2}
        stale = http.post(versions, params={"version": 2}, json=persona_version("Again."))
        assert stale.status_code == 400, stale.text
        assert http.post(versions, params={"version": 9}, json=persona_version("Ahead.")).status_code == 400
        assert ok(http.post(versions, json=persona_version(f"Runs three bakeries {tag}c.")), 201) == {"version": 3}
        listed = ok(http.get(versions))
        assert [v["version"] for v in listed["simulation_persona_versions"]] == [1, 2, 3], listed
        assert listed["has_more"] is False
        v2 = listed["simulation_persona_versions"][1]
        assert_shape(document, "SimulationPersonaVersion", v2)
        assert (v2["simulation_persona_id"], v2["background"], v2["preferred_language"], v2["timezone"]) == (
            first, f"Runs two bakeries {tag}b.", "fra", "Europe/Paris")
        assert (v2["user_models"], v2["nonsensitive_user_variables"], v2["sensitive_user_variables"]) == (
            ["Prefers short answers."], {"city": "Lyon"}, {"account_number": "12345"})
        assert listed["simulation_persona_versions"][0]["preferred_language"] is None
        assert [v["version"] for v in ok(http.get(versions, params={"version": "latest"}))["simulation_persona_versions"]] == [3]
        assert [v["version"] for v in ok(http.get(versions, params={"version": "1-2"}))["simulation_persona_versions"]] == [1, 2]
        bad_language = http.post(versions, json=persona_version("Bad.", preferred_language="fr"))
        assert bad_language.status_code == 422, bad_language.text
        assert http.get(f"/simulation/persona/{'0' * 24}/version/").status_code == 404

        # Listing: filters and filter values.
        page = ok(http.get("/simulation/persona/", params={"tag": f"suite:{tag}"}))
        assert [p["id"] for p in page["simulation_personas"]] == [first, second], page
        for item in page["simulation_personas"]:
            assert_shape(document, "SimulationPersonaInstance", item)
        assert page["simulation_personas"][0]["tags"] == {"suite": tag}
        values = page["filter_values"]
        assert values["roles"] == ["Customer", "Supplier"] and values["tags"] == ["suite"], values
        assert [c["user_id"] for c in values["creators"]] == [page["simulation_personas"][0]["creator"]["user_id"]]
        creator = page["simulation_personas"][0]["creator"]["user_id"]
        assert [p["id"] for p in ok(http.get("/simulation/persona/", params={"tag": f"suite:{tag}", "role": "Supplier"}))["simulation_personas"]] == [second]
        one = ok(http.get("/simulation/persona/", params={"tag": f"suite:{tag}", "limit": 1}))
        assert [p["id"] for p in one["simulation_personas"]] == [first] and one["has_more"] is True, one
        rest = ok(http.get("/simulation/persona/", params={"tag": f"suite:{tag}", "limit": 1, "continuation_token": one["continuation_token"]}))
        assert [p["id"] for p in rest["simulation_personas"]] == [second] and rest["has_more"] is False, rest
        assert [p["id"] for p in ok(http.get("/simulation/persona/", params={"tag": f"suite:{tag}", "sort_by": "-updated_at"}))["simulation_personas"]] == [second, first]
        assert [p["id"] for p in ok(http.get("/simulation/persona/", params={"id": first}))["simulation_personas"]] == [first]
        assert [p["id"] for p in ok(http.get("/simulation/persona/", params={"tag": f"suite:{tag}", "creator": creator}))["simulation_personas"]] == [first, second]
        assert ok(http.get("/simulation/persona/", params={"tag": f"suite:{tag}", "creator": "0" * 24}))["simulation_personas"] == []

        # Search: the name, or the latest version's background (not an older one's).
        found = ok(http.get("/simulation/persona/search", params={"query": f"Sam {tag}"}))["simulation_personas"]
        assert found and found[0]["id"] == second, found
        assert [p["id"] for p in ok(http.get("/simulation/persona/search", params={"query": f"{tag}c"}))["simulation_personas"]] == [first]
        assert ok(http.get("/simulation/persona/search", params={"query": f"{tag}a"}))["simulation_personas"] == []
        assert http.get("/simulation/persona/search", params={"query": " "}).status_code == 422

        # Update: the tags only.
        ok(http.post(f"/simulation/persona/{second}/", json={"tags": {"suite": tag, "tier": "gold"}}), 204)
        updated = ok(http.get("/simulation/persona/", params={"id": second}))["simulation_personas"][0]
        assert updated["tags"] == {"suite": tag, "tier": "gold"} and updated["name"] == f"Sam {tag}", updated
        assert updated["updated_at"] >= updated["created_at"]
        assert [p["id"] for p in ok(http.get("/simulation/persona/", params={"tag": "tier:gold"}))["simulation_personas"]] == [second]

        # Soft delete: readable by id, gone from search, unchangeable, name free again.
        ok(http.delete(f"/simulation/persona/{second}/"), 204)
        assert http.delete(f"/simulation/persona/{second}/").status_code == 404
        gone = ok(http.get("/simulation/persona/", params={"id": second}))["simulation_personas"][0]
        assert gone["is_deleted"] is True
        assert [p["id"] for p in ok(http.get("/simulation/persona/", params={"tag": f"suite:{tag}", "is_deleted": "false"}))["simulation_personas"]] == [first]
        assert [p["id"] for p in ok(http.get("/simulation/persona/", params={"tag": f"suite:{tag}", "is_deleted": "true"}))["simulation_personas"]] == [second]
        assert [p["id"] for p in ok(http.get("/simulation/persona/search", params={"query": f"Sam {tag}"}))["simulation_personas"]] == [first]
        assert http.post(f"/simulation/persona/{second}/", json={"tags": {}}).status_code == 404
        assert http.post(f"/simulation/persona/{second}/version/", json=persona_version("Late.")).status_code == 404
        assert [v["version"] for v in ok(http.get(f"/simulation/persona/{second}/version/"))["simulation_persona_versions"]] == [1]
        assert OBJECT_ID.match(sim.persona(f"Sam {tag}"))
        assert http.delete(f"/simulation/persona/{'0' * 24}/").status_code == 404

    with api(compadre, "DefaultUserRole") as user:
        assert user.post("/simulation/persona/", json=persona_body(f"Mine {tag}", tag)).status_code == 403
        assert ok(user.get("/simulation/persona/"))["simulation_personas"] == []
        assert ok(user.get("/simulation/persona/search", params={"query": f"Pat {tag}"}))["simulation_personas"] == []
        assert user.delete(f"/simulation/persona/{first}/").status_code == 403


def test_scenarios_have_versions_and_are_listed_searched_tagged_and_deleted(compadre: Compadre, document: dict):
    tag = word()
    with api(compadre) as http:
        sim = Sim(compadre, http, tag)
        first = sim.scenario(f"Invoice {tag}")
        second = sim.scenario(f"Refund {tag}")
        assert http.post("/simulation/scenario/", json=scenario_body(f"Invoice {tag}", tag)).status_code == 409
        wrong_kind = scenario_body(f"Other {tag}", tag)
        wrong_kind["initial_version"]["initial_message_type"] = "agent-message"
        assert http.post("/simulation/scenario/", json=wrong_kind).status_code == 422

        versions = f"/simulation/scenario/{first}/version/"
        starts = "2024-05-01T09:30:00Z"
        assert ok(http.post(versions, params={"version": 2}, json=scenario_version(
            "Get the invoice corrected quickly.", "external-event", starts)), 201) == {"version": 2}
        assert http.post(versions, params={"version": 2}, json=scenario_version("Again.")).status_code == 400
        assert ok(http.post(versions, json=scenario_version("Agent starts.", "skip")), 201) == {"version": 3}
        listed = ok(http.get(versions, params={"sort_by": "-version"}))["simulation_scenario_versions"]
        assert [v["version"] for v in listed] == [3, 2, 1], listed
        for item in listed:
            assert_shape(document, "SimulationScenarioVersion", item)
        assert (listed[1]["initial_message_type"], listed[1]["objective"]) == ("external-event", "Get the invoice corrected quickly.")
        assert listed[1]["conversation_starts_at"].startswith("2024-05-01T09:30:00"), listed[1]
        assert listed[0]["conversation_starts_at"] is None and listed[0]["initial_message_type"] == "skip"

        page = ok(http.get("/simulation/scenario/", params={"tag": f"suite:{tag}"}))
        assert [s["id"] for s in page["simulation_scenarios"]] == [first, second]
        for item in page["simulation_scenarios"]:
            assert_shape(document, "SimulationScenarioInstance", item)
        assert page["filter_values"]["tags"] == ["suite"] and len(page["filter_values"]["creators"]) == 1, page["filter_values"]
        assert [s["id"] for s in ok(http.get("/simulation/scenario/", params={"tag": f"suite:{tag}", "limit": 1}))["simulation_scenarios"]] == [first]

        found = ok(http.get("/simulation/scenario/search", params={"query": f"refund {tag}"}))["simulation_scenarios"]
        assert found and found[0]["id"] == second, found

        ok(http.post(f"/simulation/scenario/{first}/", json={"tags": {"suite": tag, "area": None}}), 204)
        assert ok(http.get("/simulation/scenario/", params={"id": first}))["simulation_scenarios"][0]["tags"] == {"suite": tag, "area": None}

        ok(http.delete(f"/simulation/scenario/{second}/"), 204)
        assert http.delete(f"/simulation/scenario/{second}/").status_code == 404
        assert ok(http.get("/simulation/scenario/", params={"id": second}))["simulation_scenarios"][0]["is_deleted"] is True
        assert [s["id"] for s in ok(http.get("/simulation/scenario/search", params={"query": f"refund {tag}"}))["simulation_scenarios"]] == [first]
        assert http.post(f"/simulation/scenario/{second}/version/", json=scenario_version("Late.")).status_code == 404
        assert OBJECT_ID.match(sim.scenario(f"Refund {tag}"))


# --------------------------------------------------------------------------
# Unit tests and sets
# --------------------------------------------------------------------------


def test_unit_tests_and_sets_check_what_they_name_and_what_uses_them(compadre: Compadre, document: dict):
    tag = word()
    with api(compadre) as http:
        sim = Sim(compadre, http, tag)
        resolved = sim.metric(f"Resolved {tag}", {"type": "boolean"})
        score = sim.metric(f"Score {tag}", {"type": "numerical", "lower_bound": 1, "upper_bound": 5})
        topic = sim.metric(f"Topic {tag}", {"type": "categorical", "categories": ["billing", "booking"]})
        persona = sim.persona(f"Pat {tag}")
        scenario = sim.scenario(f"Invoice {tag}")
        criteria = [
            criterion("resolved", resolved, boolean()),
            criterion("good score", score, {"type": "numerical", "verb": ">=", "threshold": 3}),
            criterion("about billing", topic, {"type": "categorical", "expected_values": ["billing"]}),
        ]

        def create(**changes: Any) -> httpx.Response:
            body = unit_test_body(f"Unit {tag}", tag, sim.service, persona, scenario, criteria)
            body.update(changes)
            return http.post("/simulation/unit_test/", json=body)

        # What a unit test names must exist (404), and each criterion must fit its metric (400).
        missing = "0" * 24
        for changes in ({"service_id": missing}, {"service_version_set_name": f"nowhere{tag}"}, {"persona_id": missing},
                        {"scenario_id": missing}, {"success_criterions": [criterion("ghost", missing, boolean())]}):
            refused = create(**changes)
            assert refused.status_code == 404, (changes, refused.text)
        mismatch = create(success_criterions=[criterion("resolved", resolved, {"type": "numerical", "verb": ">", "threshold": 1})])
        assert mismatch.status_code == 400, mismatch.text
        assert create(success_criterions=[criterion("topic", topic, boolean())]).status_code == 400
        for changes in ({"max_interactions": 0}, {"max_interactions": 101}, {"success_criterions": []},
                        {"success_criterions": [criterion("x", resolved, {"type": "numerical", "verb": "~", "threshold": 1})]}):
            assert create(**changes).status_code == 422, changes

        unit = ok(create(), 201)["simulation_unit_test_id"]
        assert create().status_code == 409
        other_persona = sim.persona(f"Sam {tag}")
        other = sim.unit_test(f"Second {tag}", other_persona, scenario, [criterion("resolved", resolved, boolean(False))],
                              version_set="edge", max_interactions=100)

        # Listing, filters, filter values, search.
        page = ok(http.get("/simulation/unit_test/", params={"tag": f"suite:{tag}"}))
        assert [t["id"] for t in page["simulation_unit_tests"]] == [unit, other]
        first = page["simulation_unit_tests"][0]
        assert_shape(document, "SimulationUnitTestInstance", first)
        assert first["success_criterions"][1] == {"name": "good score", "metric_id": score,
                                                  "criterion": {"type": "numerical", "verb": ">=", "threshold": 3}}, first
        assert first["tags"] == [{"key": "suite", "value": tag}] and first["service_version_set_name"] == "release"
        values = page["filter_values"]
        assert values["service_ids"] == [sim.service] and values["scenario_ids"] == [scenario], values
        assert values["persona_ids"] == sorted([persona, other_persona]) and values["metric_ids"] == sorted([resolved, score, topic])
        for name, value, expected in (("persona_id", other_persona, [other]), ("metric_id", topic, [unit]),
                                      ("metric_id", resolved, [unit, other]), ("scenario_id", missing, [])):
            got = ok(http.get("/simulation/unit_test/", params={"tag": f"suite:{tag}", name: value}))["simulation_unit_tests"]
            assert [t["id"] for t in got] == expected, (name, value, got)
        found = ok(http.get("/simulation/unit_test/search/", params={"query": f"second {tag}"}))["simulation_unit_tests"]
        assert found and found[0]["_id"] == other, found
        assert_shape(document, "SimulationUnitTest", found[0])
        assert [t["_id"] for t in ok(http.get("/simulation/unit_test/search/", params={"query": tag, "persona_id": persona}))["simulation_unit_tests"]] == [unit]

        # Update: the same rules as creation.
        ok(http.post(f"/simulation/unit_test/{other}/", json={"description": "Checks again", "max_interactions": 7, "run_count": 3}), 204)
        changed = ok(http.get("/simulation/unit_test/", params={"id": other}))["simulation_unit_tests"][0]
        assert (changed["description"], changed["max_interactions"], changed["name"]) == ("Checks again", 7, f"Second {tag}")
        assert http.post(f"/simulation/unit_test/{other}/", json={"persona_id": missing}).status_code == 404
        assert http.post(f"/simulation/unit_test/{other}/", json={
            "success_criterions": [criterion("topic", topic, boolean())]}).status_code == 400

        # What a unit test uses cannot be deleted while it is not deleted.
        for path in (f"/simulation/persona/{persona}/", f"/simulation/scenario/{scenario}/", f"/metric/{resolved}/"):
            refused = http.delete(path)
            assert refused.status_code == 400, (path, refused.text)

        # Sets: they name unit tests that exist; a unit test in a set cannot be deleted.
        assert http.post("/simulation/unit_test_set/", json=set_body(f"Set {tag}", tag, [(missing, 1)])).status_code == 404
        assert http.post("/simulation/unit_test_set/", json=set_body(f"Set {tag}", tag, [(unit, 0)])).status_code == 422
        assert http.post("/simulation/unit_test_set/", json=set_body(f"Set {tag}", tag, [])).status_code == 422
        kept = sim.unit_test_set(f"Set {tag}", [(unit, 2), (other, 1)], description=f"Nightly {tag}")
        spare = sim.unit_test_set(f"Spare {tag}", [(other, 1)])
        assert http.post("/simulation/unit_test_set/", json=set_body(f"Set {tag}", tag, [(unit, 1)])).status_code == 409
        assert http.delete(f"/simulation/unit_test/{unit}/").status_code == 400

        sets = ok(http.get("/simulation/unit_test_set/", params={"tag": f"suite:{tag}"}))
        assert [s["id"] for s in sets["simulation_unit_test_sets"]] == [kept, spare]
        for item in sets["simulation_unit_test_sets"]:
            assert_shape(document, "SimulationUnitTestSetInstance", item)
        assert sets["simulation_unit_test_sets"][0]["unit_test_runs"] == [{"unit_test_id": unit, "run_count": 2},
                                                                          {"unit_test_id": other, "run_count": 1}]
        assert sets["simulation_unit_test_sets"][1]["description"] is None
        assert sets["simulation_unit_test_sets"][0]["last_triggered_run_id"] is None
        assert sets["filter_values"]["unit_test_ids"] == sorted([unit, other]) and sets["filter_values"]["tags"] == ["suite"]
        assert [s["id"] for s in ok(http.get("/simulation/unit_test_set/", params={"unit_test_id": unit}))["simulation_unit_test_sets"]] == [kept]
        found = ok(http.get("/simulation/unit_test_set/search/", params={"query": f"nightly {tag}"}))["simulation_unit_test_sets"]
        assert [s["_id"] for s in found] == [kept, spare], found  # the description's word first
        assert_shape(document, "SimulationUnitTestSet", found[0])

        # Set updates: a name taken is 409, `description: null` erases it, runs must name live unit tests.
        assert http.post(f"/simulation/unit_test_set/{spare}", json={"name": f"Set {tag}"}).status_code == 409
        ok(http.post(f"/simulation/unit_test_set/{kept}", json={"description": None, "name": f"Renamed {tag}"}), 204)
        renamed = ok(http.get("/simulation/unit_test_set/", params={"id": kept}))["simulation_unit_test_sets"][0]
        assert (renamed["name"], renamed["description"]) == (f"Renamed {tag}", None), renamed
        ok(http.post(f"/simulation/unit_test_set/{kept}", json={"tags": {"suite": tag, "nightly": None}}), 204)
        assert ok(http.get("/simulation/unit_test_set/", params={"id": kept}))["simulation_unit_test_sets"][0]["unit_test_runs"][0]["run_count"] == 2
        assert http.post(f"/simulation/unit_test_set/{kept}", json={"unit_test_runs": [{"unit_test_id": missing, "run_count": 1}]}).status_code == 404

        # Deleting in order: the sets, then the unit tests, then what they used.
        ok(http.delete(f"/simulation/unit_test_set/{kept}"), 204)
        assert http.delete(f"/simulation/unit_test_set/{kept}").status_code == 404
        assert http.post(f"/simulation/unit_test_set/{kept}", json={"name": f"Back {tag}"}).status_code == 404
        assert [s["id"] for s in ok(http.get("/simulation/unit_test_set/", params={"tag": f"suite:{tag}"}))["simulation_unit_test_sets"]] == [spare]
        assert http.post("/simulation/unit_test_set_run/", json={"simulation_unit_test_set_id": kept}).status_code == 404
        ok(http.delete(f"/simulation/unit_test/{unit}/"), 204)
        assert http.delete(f"/simulation/unit_test/{unit}/").status_code == 404
        assert http.post(f"/simulation/unit_test/{unit}/", json={"description": "Late"}).status_code == 404
        assert ok(http.get("/simulation/unit_test/", params={"id": unit}))["simulation_unit_tests"][0]["is_deleted"] is True
        assert http.post("/simulation/unit_test_set/", json=set_body(f"Late {tag}", tag, [(unit, 1)])).status_code == 404
        ok(http.delete(f"/simulation/persona/{persona}/"), 204)
        ok(http.delete(f"/metric/{topic}/"), 200)
        # `other` still uses the scenario and `resolved`; a deleted persona cannot be named again.
        assert http.delete(f"/simulation/scenario/{scenario}/").status_code == 400
        assert http.delete(f"/metric/{resolved}/").status_code == 400
        assert http.post(f"/simulation/unit_test/{other}/", json={"persona_id": persona}).status_code == 404


def test_the_service_and_version_set_a_unit_test_uses_stay(compadre: Compadre):
    """The document (Compadre's and the reference): deleting a version set that a unit test uses is 400,
    and so is deactivating a service that one uses."""
    tag = word()
    with api(compadre) as http:
        sim = Sim(compadre, http, tag)
        resolved = sim.metric(f"Resolved {tag}", {"type": "boolean"})
        persona = sim.persona(f"Pat {tag}")
        scenario = sim.scenario(f"Invoice {tag}")
        nightly = f"nightly{tag}"
        ok(http.put(f"/service/{sim.service}/version_sets/{nightly}/", json={"version_set": {
            "agent_version_number": 1, "service_hierarchical_state_machine_version_number": 1, "llm_model_preferences": {}}}), 204)
        unit = sim.unit_test(f"Unit {tag}", persona, scenario, [criterion("resolved", resolved, boolean())], version_set=nightly)

        removed = http.delete(f"/service/{sim.service}/version_sets/{nightly}/")
        deactivated = http.post(f"/service/{sim.service}/", json={"is_active": False})
        assert (removed.status_code, deactivated.status_code) == (400, 400), (
            f"deleting a version set a unit test uses: {removed.status_code} {removed.text}; "
            f"deactivating a service a unit test uses: {deactivated.status_code} {deactivated.text}")

        # Once the unit test is deleted, both are allowed.
        ok(http.delete(f"/simulation/unit_test/{unit}/"), 204)
        ok(http.delete(f"/service/{sim.service}/version_sets/{nightly}/"), 204)
        ok(http.post(f"/service/{sim.service}/", json={"is_active": False}))


def body_property(document: dict, method: str, path: str, *names: str) -> dict:
    """The schema of a (nested) property of an operation's JSON body in the served document, `$ref`s followed."""
    schemas = document["components"]["schemas"]

    def resolve(schema: dict) -> dict:
        while "$ref" in schema:
            schema = schemas[schema["$ref"].split("/")[-1]]
        return schema

    schema = resolve(document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"])
    for name in names:
        schema = resolve(schema["properties"][name])
    return schema


def test_the_served_document_states_the_rules_the_server_applies(compadre: Compadre, document: dict):
    """Found by Benchmarks/fuzz.sh (ST202, a schema-valid request answered 422): what the server checks,
    the document must say, or the server must not check it."""
    tag = word()
    base = "/v1/{organization}/simulation"
    problems = []
    with api(compadre) as http:
        sim = Sim(compadre, http, tag)
        # A persona's time zone is an IANA name (as the reference's enum says); the document says any string.
        body = persona_body(f"Zoned {tag}", tag)
        body["initial_version"]["timezone"] = "00"
        persona = sim.persona(f"Pat {tag}")
        for method, path, names, refused in (
            ("post", f"{base}/persona/", ("initial_version", "timezone"), http.post("/simulation/persona/", json=body)),
            ("post", f"{base}/persona/{{simulation_persona_id}}/version/", ("timezone",),
             http.post(f"/simulation/persona/{persona}/version/", json=persona_version("Zoned.", timezone="00"))),
        ):
            assert refused.status_code == 422, (path, refused.text)
            zone = json.dumps(body_property(document, method, path, *names))
            if "TimeZoneName" not in zone and '"enum"' not in zone:
                problems.append(f"{method.upper()} {path}: the server answers 422 to timezone \"00\" "
                                f"({refused.text[:200]}), the document allows any string: {zone[:200]}")

        # Unit test and set tags: the document (as the reference) allows any key; the server checks ^[\w\s]+$.
        resolved = sim.metric(f"Resolved {tag}", {"type": "boolean"})
        scenario = sim.scenario(f"Invoice {tag}")
        tags = {"team-a": "x"}
        unit_body = unit_test_body(f"Tagged {tag}", tag, sim.service, persona, scenario, [criterion("r", resolved, boolean())])
        unit_body["tags"] = tags
        unit = http.post("/simulation/unit_test/", json=unit_body)
        plain = sim.unit_test(f"Plain {tag}", persona, scenario, [criterion("r", resolved, boolean())])
        tagged_set = set_body(f"Tagged {tag}", tag, [(plain, 1)])
        tagged_set["tags"] = tags
        attempts = [
            ("post", f"{base}/unit_test/", unit),
            ("post", f"{base}/unit_test/{{simulation_unit_test_id}}/",
             http.post(f"/simulation/unit_test/{plain}/", json={"tags": tags})),
            ("post", f"{base}/unit_test_set/", http.post("/simulation/unit_test_set/", json=tagged_set)),
        ]
        set_id = sim.unit_test_set(f"Plain {tag}", [(plain, 1)])
        attempts.append(("post", f"{base}/unit_test_set/{{simulation_unit_test_set_id}}",
                         http.post(f"/simulation/unit_test_set/{set_id}", json={"tags": tags})))
        for method, path, resp in attempts:
            documented = body_property(document, method, path, "tags")
            if resp.status_code == 422 and "propertyNames" not in json.dumps(documented):
                problems.append(f"{method.upper()} {path}: tags {tags} answered 422 ({resp.text[:200]}), "
                                f"the document allows any key: {json.dumps(documented)[:200]}")
    assert not problems, "\n".join(problems)


def test_the_document_states_a_persona_language_is_three_letters(compadre: Compadre, document: dict):
    tag = word()
    base = "/v1/{organization}/simulation"
    problems = []
    with api(compadre) as http:
        persona = Sim(compadre, http, tag).persona(f"Pat {tag}")
        body = persona_body(f"Digits {tag}", tag)
        body["initial_version"]["preferred_language"] = "000"
        for method, path, names, refused in (
            ("post", f"{base}/persona/", ("initial_version", "preferred_language"), http.post("/simulation/persona/", json=body)),
            ("post", f"{base}/persona/{{simulation_persona_id}}/version/", ("preferred_language",),
             http.post(f"/simulation/persona/{persona}/version/", json=persona_version("Digits.", preferred_language="000"))),
        ):
            assert refused.status_code == 422, (path, refused.text)
            language = json.dumps(body_property(document, method, path, *names))
            if "^[a-z]{3}$" not in language:
                problems.append(f"{method.upper()} {path}: the server answers 422 to preferred_language \"000\", "
                                f"the document allows any three characters: {language[:200]}")
    assert not problems, "\n".join(problems)


def test_a_run_count_past_any_reasonable_bound_is_422(compadre: Compadre, document: dict):
    tag = word()
    with api(compadre) as http:
        sim = Sim(compadre, http, tag)
        metric = sim.metric(f"Resolved {tag}", {"type": "boolean"})
        unit = sim.unit_test(f"Huge {tag}", sim.persona(f"Pat {tag}"), sim.scenario(f"Invoice {tag}"),
                             [criterion("r", metric, boolean())])
        answer = http.post("/simulation/unit_test_set/", json=set_body(f"Huge {tag}", tag, [(unit, 2**63 - 1)]))
        if answer.status_code == 201:  # never run it: the server would abort
            http.delete(f"/simulation/unit_test_set/{answer.json()['simulation_unit_test_set_id']}")
        assert answer.status_code == 422, answer.text
        run_count = body_property(document, "post", "/v1/{organization}/simulation/unit_test_set/", "unit_test_runs")["items"]
        bound = document["components"]["schemas"][run_count["$ref"].split("/")[-1]]["properties"]["run_count"]
        assert "maximum" in bound, bound


# --------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------


def test_a_run_plays_each_unit_test_judges_it_and_archives_it(compadre: Compadre, fake_openai: FakeOpenAI, runs: Runs, document: dict):
    tag = word()
    said = f"My invoice {tag} is wrong."
    with api(compadre) as http:
        sim = Sim(compadre, http, tag)
        resolved = sim.metric(f"Resolved {tag}", {"type": "boolean"})
        score = sim.metric(f"Score {tag}", {"type": "numerical", "lower_bound": 1, "upper_bound": 5})
        topic = sim.metric(f"Topic {tag}", {"type": "categorical", "categories": ["billing", "booking"]})
        persona = sim.persona(f"Pat {tag}", background=f"Old background {tag}.")
        # The run plays the latest versions.
        ok(http.post(f"/simulation/persona/{persona}/version/", json=persona_version(f"Runs a bakery {tag}.")), 201)
        scenario = sim.scenario(f"Invoice {tag}", objective=f"Get invoice {tag} corrected.")
        criteria = [
            criterion("resolved", resolved, boolean()),
            criterion("good score", score, {"type": "numerical", "verb": ">=", "threshold": 3}),
            criterion("about billing", topic, {"type": "categorical", "expected_values": ["billing"]}),
        ]
        unit = sim.unit_test(f"Unit {tag}", persona, scenario, criteria)
        short = sim.unit_test(f"Short {tag}", persona, scenario, [criterion("resolved", resolved, boolean())])
        set_id = sim.unit_test_set(f"Set {tag}", [(unit, 2), (short, 1)])

        play_user(fake_openai, said)
        judge(fake_openai, {f"Resolved {tag}": True, f"Score {tag}": 4, f"Topic {tag}": "billing"})
        run_id = sim.start(set_id)
        run = runs.archived(run_id)

        assert_shape(document, "SimulationUnitTestSetRunInstance", run)
        assert (run["is_completed"], run["failed_metrics"], run["errored"], run["simulation_unit_test_set_id"]) == (True, False, False, set_id), run
        spec = run["unit_test_run_specs"][0]
        assert_shape(document, "UnitTestRunSpec", spec)
        assert (spec["unit_test_id"], spec["run_count"], spec["persona_version_info"], spec["scenario_version_info"], spec["max_interactions"]) == (
            unit, 2, [persona, 2], [scenario, 1], 5), spec
        assert [m["metric_id"] for m in spec["metrics_to_evaluate"]] == [resolved, score, topic]
        assert spec["metrics_to_evaluate"][2] == {"metric_id": topic, "success_criterion_name": "about billing",
                                                  "success_criterion": {"type": "categorical", "expected_values": ["billing"]}}
        assert [s["unit_test_id"] for s in run["unit_test_run_specs"]] == [unit, short]

        results = run["unit_test_run_results"]
        assert [r["unit_test_id"] for r in results] == [unit, short], results
        assert results[0]["run_errors"] == [None, None] and results[1]["run_errors"] == [None], results
        by_metric = {m["metric_id"]: m["results"] for m in results[0]["metric_evaluation_results"]}
        assert list(by_metric) == [resolved, score, topic], results[0]
        assert all(len(v) == 2 and all(passed is True for _, passed in v) for v in by_metric.values()), by_metric
        verdict_ids = {rid for v in by_metric.values() for rid, _ in v} | {
            rid for m in results[1]["metric_evaluation_results"] for rid, _ in m["results"]}
        assert len(verdict_ids) == 7

        # The simulated user was played from the persona's latest version and the scenario.
        turns = user_turn_requests(fake_openai)
        assert len(turns) >= 6, f"{len(turns)} simulated-user requests for 3 conversations"
        prompt = json.dumps(turns[0]["messages"])
        assert f"Runs a bakery {tag}." in prompt and f"Get invoice {tag} corrected." in prompt, prompt[:2000]
        assert f"Old background {tag}" not in prompt

        # The metric results of the run: source `simulation`, one per criterion and repetition.
        listed = ok(http.get("/metric/metric_evaluation_result", params={"simulation_unit_test_set_run_id": run_id}))
        stored = listed["metric_evaluation_results"]
        assert {r["id"] for r in stored} == verdict_ids, stored
        assert all(r["source"]["type"] == "simulation" and r["source"]["simulation_unit_test_set_run_id"] == run_id for r in stored)
        assert sorted((r["source"]["unit_test_id"], r["source"]["run_index"], r["metric_id"], json.dumps(r["result"])) for r in stored) == sorted(
            [(unit, i, m, v) for i in (0, 1) for m, v in ((resolved, "true"), (score, "4"), (topic, '"billing"'))] + [(short, 0, resolved, "true")])
        for r in stored:
            assert_shape(document, "SimulationEvaluationSource", r["source"])
            assert r["justification"].startswith("Judged ")
        assert {r["id"] for r in ok(http.get("/metric/metric_evaluation_result", params={
            "simulation_unit_test_set_run_id": run_id, "source_type": "simulation", "metric_id": topic}))["metric_evaluation_results"]} == {
            rid for rid, _ in by_metric[topic]}

        # The set remembers its last run; the runs listing filters.
        assert ok(http.get("/simulation/unit_test_set/", params={"id": set_id}))["simulation_unit_test_sets"][0]["last_triggered_run_id"] == run_id
        listing = ok(http.get("/simulation/unit_test_set_run/", params={"simulation_unit_test_set_id": set_id}))
        assert [r["id"] for r in listing["simulation_unit_test_set_runs"]] == [run_id]
        assert listing["filter_values"]["simulation_unit_test_set_ids"] == [set_id]
        assert listing["filter_values"]["creators"] == [run["creator"]]
        for params, expected in (({"is_completed": "true"}, [run_id]), ({"is_completed": "false"}, []),
                                 ({"failed_metrics": "false"}, [run_id]), ({"failed_metrics": "true"}, []),
                                 ({"errored": "true"}, []), ({"creator": run["creator"]["user_id"]}, [run_id]),
                                 ({"creator": "0" * 24}, [])):
            got = ok(http.get("/simulation/unit_test_set_run/", params={"simulation_unit_test_set_id": set_id, **params}))
            assert [r["id"] for r in got["simulation_unit_test_set_runs"]] == expected, (params, got)

        # What a run shows depends on what the caller may read of sets and unit tests.
        partial = f"RunReader{tag}"
        for name, grants in ((partial, ["Simulation:GetSimulationUnitTestSetRun"]),
                             (partial + "Sets", ["Simulation:GetSimulationUnitTestSetRun", "Simulation:GetSimulationUnitTestSet"])):
            ok(http.post("/role/", json={"role_name": name, "description": "Reads simulation runs.", "frontend_view": "client",
                                         "permission_grants": [{"permission_name": g, "conditions": {}} for g in grants]}), 201)
        with api(compadre, partial) as reader:
            seen = ok(reader.get("/simulation/unit_test_set_run/", params={"id": run_id}))["simulation_unit_test_set_runs"]
            assert [(r["id"], r["failed_metrics"], r["unit_test_run_specs"], r["unit_test_run_results"]) for r in seen] == [(run_id, False, [], [])], seen
            assert reader.post("/simulation/unit_test_set_run/", json={"simulation_unit_test_set_id": set_id}).status_code == 403
            assert reader.delete(f"/simulation/unit_test_set_run/{run_id}/").status_code == 403
            assert ok(reader.get("/simulation/unit_test_set/"))["simulation_unit_test_sets"] == []
        with api(compadre, partial + "Sets") as reader:
            seen = ok(reader.get("/simulation/unit_test_set_run/", params={"id": run_id}))["simulation_unit_test_set_runs"][0]
            assert [(s["unit_test_id"], s["persona_version_info"], s["scenario_version_info"], s["metrics_to_evaluate"])
                    for s in seen["unit_test_run_specs"]] == [(unit, None, None, []), (short, None, None, [])], seen
            assert seen["unit_test_run_specs"][0]["agent_version_info"] == spec["agent_version_info"]
            assert [(r["unit_test_id"], r["metric_evaluation_results"], r["run_errors"]) for r in seen["unit_test_run_results"]] == [
                (unit, [], [None, None]), (short, [], [None])], seen
        with api(compadre, "DefaultUserRole") as user:
            assert ok(user.get("/simulation/unit_test_set_run/", params={"id": run_id}))["simulation_unit_test_set_runs"] == []
            assert user.get(f"/simulation/unit_test_set_run/{run_id}/artifacts/").status_code == 403

        # The archive, at a signed link anyone holding it may read.
        link, files = download(http, run_id)
        assert_shape(document, "GetSimulationUnitTestSetRunArtifactsResponse", link)
        expected_files = {"run.json"} | {
            f"unit_tests/{n}-{u}/run-{k}/{f}" for n, u, count in ((1, unit, 2), (2, short, 1)) for k in range(1, count + 1)
            for f in ("outcome.json", "metric_results.json", "transcript.json", "interactions.json")}
        assert set(files) == expected_files, sorted(files)
        archived_run = json.loads(files["run.json"])
        assert archived_run["run"]["id"] == run_id and archived_run["state"] == "completed", archived_run
        for k in (1, 2):
            folder = f"unit_tests/1-{unit}/run-{k}"
            outcome = json.loads(files[f"{folder}/outcome.json"])
            assert outcome["passed"] is True and outcome["errored"] is False and outcome["interactions"] >= 1, outcome
            transcript = json.loads(files[f"{folder}/transcript.json"])
            kinds = [(m["message_type"], m["message"]) for m in transcript]
            assert ("user-message", said) in kinds and ("agent-message", fake_openai.default_text) in kinds, kinds
            judged = json.loads(files[f"{folder}/metric_results.json"])
            assert sorted(r["metric_id"] for r in judged) == sorted([resolved, score, topic])
            assert {r["source"]["run_index"] for r in judged} == {k - 1}
            assert json.loads(files[f"{folder}/interactions.json"]), folder

        # A link is good only as signed.
        url = link["presigned_url"]
        parts = urllib.parse.urlsplit(url)
        query = dict(urllib.parse.parse_qsl(parts.query))
        flipped = query["signature"][:-1] + ("0" if query["signature"][-1] != "0" else "1")
        for forged in ({**query, "signature": flipped}, {"expires": query["expires"]},
                       {**query, "expires": str(int(query["expires"]) + 60)}):
            resp = httpx.get(urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(forged))), timeout=30)
            assert resp.status_code == 403, (forged, resp.status_code, resp.text[:300])
            assert said not in resp.text
        other_run = parts.path.replace(run_id, "0" * 24)
        resp = httpx.get(urllib.parse.urlunsplit(parts._replace(path=other_run)), timeout=30)
        assert resp.status_code == 403, resp.text
        assert http.get(f"/simulation/unit_test_set_run/{'0' * 24}/artifacts/").status_code == 404


def test_a_criterion_that_is_not_met_fails_the_run(compadre: Compadre, fake_openai: FakeOpenAI, runs: Runs):
    tag = word()
    with api(compadre) as http:
        sim = Sim(compadre, http, tag)
        resolved = sim.metric(f"Resolved {tag}", {"type": "boolean"})
        score = sim.metric(f"Score {tag}", {"type": "numerical", "lower_bound": 1, "upper_bound": 5})
        persona = sim.persona(f"Pat {tag}")
        scenario = sim.scenario(f"Invoice {tag}")
        unit = sim.unit_test(f"Unit {tag}", persona, scenario, [criterion("resolved", resolved, boolean(True))])
        # A metric judged "not applicable" (null) does not meet its criterion either.
        vague = sim.unit_test(f"Vague {tag}", persona, scenario, [criterion("score", score, {"type": "numerical", "verb": "<", "threshold": 5})])
        set_id = sim.unit_test_set(f"Set {tag}", [(unit, 1), (vague, 1)])

        play_user(fake_openai, f"Help me with {tag}.")
        judge(fake_openai, {f"Resolved {tag}": False, f"Score {tag}": None})
        run_id = sim.start(set_id)
        run = runs.completed(run_id)
        assert (run["failed_metrics"], run["errored"]) == (True, False), run
        first, second = run["unit_test_run_results"]
        assert first["run_errors"] == [None], first
        assert [(m["metric_id"], [passed for _, passed in m["results"]]) for m in first["metric_evaluation_results"]] == [(resolved, [False])]
        assert [passed for _, passed in second["metric_evaluation_results"][0]["results"]] == [False]
        assert second["run_errors"][0] and "not applicable" in second["run_errors"][0], second
        results = ok(http.get("/metric/metric_evaluation_result", params={"simulation_unit_test_set_run_id": run_id}))["metric_evaluation_results"]
        assert sorted((r["metric_id"], json.dumps(r["result"])) for r in results) == sorted([(resolved, "false"), (score, "null")]), results
        listed = ok(http.get("/simulation/unit_test_set_run/", params={"simulation_unit_test_set_id": set_id, "failed_metrics": "true"}))
        assert [r["id"] for r in listed["simulation_unit_test_set_runs"]] == [run_id]


def test_scenarios_open_the_conversation_as_they_say(compadre: Compadre, fake_openai: FakeOpenAI, runs: Runs):
    """`user-message`: the simulated user's first message; `external-event`: an event it describes;
    `skip`: the agent speaks first."""
    tag = word()
    said = f"Something happened {tag}."
    with api(compadre) as http:
        sim = Sim(compadre, http, tag)
        resolved = sim.metric(f"Resolved {tag}", {"type": "boolean"})
        persona = sim.persona(f"Pat {tag}")
        units = []
        for kind in ("user-message", "external-event", "skip"):
            scenario = ok(http.post("/simulation/scenario/", json={
                "name": f"{kind} {tag}", "tags": {}, "initial_version": scenario_version("Get help.", kind, "2024-05-01T09:30:00Z"),
            }), 201)["simulation_scenario_id"]
            # One interaction is enough: a conversation that ends exactly at max_interactions passes.
            units.append(sim.unit_test(f"Opens with {kind} {tag}", persona, scenario, [criterion("resolved", resolved, boolean())],
                                       max_interactions=1))
        set_id = sim.unit_test_set(f"Set {tag}", [(u, 1) for u in units])
        play_user(fake_openai, said)
        judge(fake_openai, {f"Resolved {tag}": True})
        run_id = sim.start(set_id)
        run = runs.archived(run_id)
        assert (run["failed_metrics"], run["errored"]) == (False, False), run
        _, files = download(http, run_id)
        transcripts = [[(m["message_type"], m["message"]) for m in json.loads(files[f"unit_tests/{n}-{u}/run-1/transcript.json"])]
                       for n, u in enumerate(units, 1)]
        agent = ("agent-message", fake_openai.default_text)
        assert transcripts == [[("user-message", said), agent], [("external-event", said), agent], [agent]], transcripts
        # The simulated user lives at the scenario's time.
        prompts = " ".join(json.dumps(r["messages"]) for r in user_turn_requests(fake_openai))
        assert "2024-05-01T09:30:00" in prompts, prompts[:2000]


def test_a_conversation_that_goes_on_too_long_fails_and_a_judge_that_cannot_answer_errs(
    compadre: Compadre, fake_openai: FakeOpenAI, runs: Runs
):
    tag = word()
    with api(compadre) as http:
        sim = Sim(compadre, http, tag)
        resolved = sim.metric(f"Resolved {tag}", {"type": "boolean"})
        score = sim.metric(f"Score {tag}", {"type": "numerical", "lower_bound": 1, "upper_bound": 5})
        persona = sim.persona(f"Pat {tag}")
        scenario = sim.scenario(f"Invoice {tag}")
        chatty = sim.unit_test(f"Chatty {tag}", persona, scenario, [criterion("resolved", resolved, boolean())], max_interactions=2)
        long_set = sim.unit_test_set(f"Long {tag}", [(chatty, 1)])
        play_user(fake_openai, f"And another thing {tag}.", finishes=False)
        judge(fake_openai, {f"Resolved {tag}": True, f"Score {tag}": 9})  # 9 is outside 1..5: never a valid judgement
        run = runs.completed(sim.start(long_set))
        assert (run["failed_metrics"], run["errored"]) == (True, False), run
        result = run["unit_test_run_results"][0]
        assert result["run_errors"][0] and "max_interactions" in result["run_errors"][0], result
        # The conversation was still judged; its criterion was met, the run still did not pass.
        assert [passed for _, passed in result["metric_evaluation_results"][0]["results"]] == [True], result

        play_user(fake_openai, f"Hello {tag}.")
        unjudged = sim.unit_test(f"Unjudged {tag}", persona, scenario, [
            criterion("resolved", resolved, boolean()), criterion("score", score, {"type": "numerical", "verb": ">", "threshold": 1})])
        bad_set = sim.unit_test_set(f"Bad {tag}", [(unjudged, 1)])
        run_id = sim.start(bad_set)
        run = runs.completed(run_id)
        assert (run["failed_metrics"], run["errored"]) == (True, True), run
        result = run["unit_test_run_results"][0]
        assert "score" in (result["run_errors"][0] or ""), result
        by_metric = {m["metric_id"]: [passed for _, passed in m["results"]] for m in result["metric_evaluation_results"]}
        assert by_metric == {resolved: [True], score: []}, result
        stored = ok(http.get("/metric/metric_evaluation_result", params={"simulation_unit_test_set_run_id": run_id}))["metric_evaluation_results"]
        assert [r["metric_id"] for r in stored] == [resolved], stored
        errored = ok(http.get("/simulation/unit_test_set_run/", params={"simulation_unit_test_set_id": bad_set, "errored": "true"}))
        assert [r["id"] for r in errored["simulation_unit_test_set_runs"]] == [run_id]


def test_one_unfinished_run_per_caller_and_set_and_the_cancel_rules(compadre: Compadre, fake_openai: FakeOpenAI, runs: Runs):
    """The simulated user waits at a gate, so the runs stay in progress until the test opens it."""
    tag = word()
    gate = threading.Event()
    try:
        with api(compadre) as http, api(compadre) as colleague:
            sim = Sim(compadre, http, tag)
            resolved = sim.metric(f"Resolved {tag}", {"type": "boolean"})
            persona = sim.persona(f"Pat {tag}")
            scenario = sim.scenario(f"Invoice {tag}")
            unit = sim.unit_test(f"Unit {tag}", persona, scenario, [criterion("resolved", resolved, boolean())])
            set_id = sim.unit_test_set(f"Set {tag}", [(unit, 1)])
            play_user(fake_openai, f"Hello {tag}.", gate)
            judge(fake_openai, {f"Resolved {tag}": True})

            first = sim.start(set_id)
            assert fake_openai.wait_for_requests(1, timeout=30), "the run never asked the simulated user"
            again = http.post("/simulation/unit_test_set_run/", json={"simulation_unit_test_set_id": set_id})
            assert again.status_code == 409, again.text
            # The rule is per caller: a colleague may run the same set meanwhile.
            theirs = ok(colleague.post("/simulation/unit_test_set_run/", json={"simulation_unit_test_set_id": set_id}), 201)[
                "simulation_unit_test_set_run_id"]
            in_progress = ok(http.get("/simulation/unit_test_set_run/", params={"simulation_unit_test_set_id": set_id, "is_completed": "false"}))
            assert {r["id"] for r in in_progress["simulation_unit_test_set_runs"]} == {first, theirs}
            assert all(r["unit_test_run_results"] == [None] for r in in_progress["simulation_unit_test_set_runs"]), in_progress
            assert http.get(f"/simulation/unit_test_set_run/{first}/artifacts/").status_code == 400

            # Cancel: 204 while in progress, then the run is complete (errored) and cancel is 409.
            ok(http.delete(f"/simulation/unit_test_set_run/{first}/"), 204)
            assert http.delete(f"/simulation/unit_test_set_run/{first}/").status_code == 409
            ok(http.delete(f"/simulation/unit_test_set_run/{theirs}/"), 204)
            assert http.delete(f"/simulation/unit_test_set_run/{'0' * 24}/").status_code == 404
            cancelled = runs.get(first)
            assert (cancelled["is_completed"], cancelled["errored"]) == (True, True), cancelled
            assert cancelled["unit_test_run_results"][0]["unit_test_id"] == unit
            assert len(cancelled["unit_test_run_results"][0]["run_errors"]) == 1 and cancelled["unit_test_run_results"][0]["run_errors"][0]

            # A cancelled run is finished: the caller may run the set again.
            second = sim.start(set_id)
            gate.set()
            done = runs.completed(second)
            assert (done["failed_metrics"], done["errored"]) == (False, False), done
            assert http.delete(f"/simulation/unit_test_set_run/{second}/").status_code == 409

            # The cancelled run's archive holds what ran: at most the repetition the cancel cut, as cancelled.
            archived = runs.archived(first)
            assert archived["errored"] is True
            _, files = download(http, first)
            assert json.loads(files["run.json"])["state"] == "cancelled", files["run.json"][:500]
            for name in [name for name in files if name.endswith("/outcome.json")]:
                assert "cancelled" in json.loads(files[name])["error"], files[name]
            # The repetition cut by the cancel stopped there: still one repetition, still an error, never a pass.
            after = runs.get(first)
            assert (after["is_completed"], after["errored"]) == (True, True), after
            errors = after["unit_test_run_results"][0]["run_errors"]
            assert len(errors) == 1 and "cancelled" in errors[0], errors
    finally:
        gate.set()


def test_a_run_cut_by_a_crash_goes_on_after_the_restart(fresh_compadre: Compadre, fake_openai: FakeOpenAI):
    """The server is killed while a repetition waits for the simulated user; after the restart the
    repetition runs again from the start (once the killed server's lease has expired) and the run completes."""
    compadre = fresh_compadre
    tag = word()
    gate = threading.Event()
    try:
        with api(compadre) as http:
            sim = Sim(compadre, http, tag)
            resolved = sim.metric(f"Resolved {tag}", {"type": "boolean"})
            unit = sim.unit_test(f"Unit {tag}", sim.persona(f"Pat {tag}"), sim.scenario(f"Invoice {tag}"),
                                 [criterion("resolved", resolved, boolean())])
            set_id = sim.unit_test_set(f"Set {tag}", [(unit, 1)])
            play_user(fake_openai, f"Hello {tag}.", gate)
            judge(fake_openai, {f"Resolved {tag}": True})
            run_id = sim.start(set_id)
            assert fake_openai.wait_for_requests(1, timeout=30), "the run never asked the simulated user"
        compadre.server.kill()
        gate.set()
        compadre.server.restart()
        reader = Runs(compadre)
        try:
            run = reader.archived(run_id)
        finally:
            reader.close()
        assert (run["failed_metrics"], run["errored"]) == (False, False), run
        assert run["unit_test_run_results"][0]["run_errors"] == [None], run
    finally:
        gate.set()
