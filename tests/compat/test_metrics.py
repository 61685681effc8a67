"""Metrics, as an organization manages them, against a real server with its default settings.

The five operations served so far under `/v1/{organization}/metric/`: create (boolean, numerical with
bounds, categorical), list (filters, filter values), search (name first), update (name and value
type stay) and soft delete (readable by id, name free again). Evaluation and the results listing
come with the model judge.

The official SDK (amigo-sdk 2.5.0) has no metric resource, and its generated metric models follow a
later API (metric versions, `metric_value_type`) than the document Compadre implements, so calls are
raw HTTP and answers are checked against the document's shapes. Each test acts as an administrator
of its own (per-user rate limits) and names its metrics with a word of its own.
"""

from __future__ import annotations

import secrets

import httpx

from conftest import Compadre
from test_sdk_management import OBJECT_ID
from tool_helpers import ok

INSTANCE_FIELDS = {
    "id", "org_id", "created_at", "updated_at", "name", "description", "applied_to_services", "additional_notes",
    "tags", "creator", "updated_by", "metric_value", "is_deleted",
}


def word() -> str:
    return "w" + secrets.token_hex(5)


def api(compadre: Compadre, role: str = "DefaultAdministratorRole") -> httpx.Client:
    token = compadre.user_token(role)
    return httpx.Client(
        base_url=f"{compadre.server.base_url}/v1/{compadre.org}/metric", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def test_metrics_of_three_types_are_created_listed_searched_updated_and_deleted(compadre: Compadre):
    tag = word()
    with api(compadre) as http:
        bodies = [
            {"name": f"Resolved {tag}", "description": f"Whether the issue was resolved {tag}", "metric_value": {"type": "boolean"}},
            {"name": f"Satisfaction {tag}", "description": "How satisfied the user sounds",
             "metric_value": {"type": "numerical", "lower_bound": 1, "upper_bound": 5}},
            {"name": f"Topic {tag}", "description": "What it was about",
             "metric_value": {"type": "categorical", "categories": ["billing", "booking"]}},
        ]
        ids = []
        for body in bodies:
            # `additional_notes` is required but nullable: as the SDK drops None fields, absent means null.
            created = ok(http.post("/", json={**body, "applied_to_services": [], "tags": {"suite": tag}}), 201)
            assert OBJECT_ID.match(created["id"]), created
            ids.append(created["id"])
        duplicate = http.post("/", json={**bodies[0], "applied_to_services": [], "tags": {}})
        assert duplicate.status_code == 409, duplicate.text

        listed = ok(http.get("/", params={"tag": f"suite:{tag}"}))
        assert [m["id"] for m in listed["metrics"]] == ids
        assert all(set(m) == INSTANCE_FIELDS for m in listed["metrics"]), listed["metrics"][0]
        assert listed["metrics"][0]["additional_notes"] is None
        assert listed["metrics"][1]["metric_value"] == {"type": "numerical", "lower_bound": 1, "upper_bound": 5}
        assert listed["filter_values"]["types"] == ["boolean", "categorical", "numerical"]
        assert [m["id"] for m in ok(http.get("/", params={"tag": f"suite:{tag}", "type": "categorical"}))["metrics"]] == ids[2:]

        found = ok(http.get("/search/", params={"query": f"resolved {tag}"}))["metrics"]
        assert found and found[0]["_id"] == ids[0], found

        ok(http.post(f"/{ids[1]}/", json={"description": "How happy the user sounds", "additional_notes": "From 1 to 5"}))
        changed = ok(http.get("/", params={"id": ids[1]}))["metrics"][0]
        assert (changed["description"], changed["additional_notes"], changed["name"]) == (
            "How happy the user sounds", "From 1 to 5", f"Satisfaction {tag}")

        assert http.delete(f"/{ids[0]}/").status_code == 200
        gone = ok(http.get("/", params={"id": ids[0]}))["metrics"][0]
        assert gone["is_deleted"] is True
        assert http.delete(f"/{ids[0]}/").status_code == 404
        # The name is free again.
        ok(http.post("/", json={**bodies[0], "applied_to_services": [], "tags": {}}), 201)


def test_bad_metrics_are_refused_and_plain_users_see_none(compadre: Compadre):
    tag = word()
    with api(compadre) as http:
        for value in ({"type": "numerical", "lower_bound": 5, "upper_bound": 1}, {"type": "categorical", "categories": []},
                      {"type": "percent"}, {"type": "numerical"}):
            refused = http.post("/", json={"name": f"Bad {tag}", "description": "d", "applied_to_services": [], "tags": {},
                                           "metric_value": value})
            assert refused.status_code == 422, (value, refused.text)
        missing_service = http.post("/", json={"name": f"Bad {tag}", "description": "d", "applied_to_services": ["0" * 24],
                                               "tags": {}, "metric_value": {"type": "boolean"}})
        assert missing_service.status_code == 404, missing_service.text
        metric = ok(http.post("/", json={"name": f"Kept {tag}", "description": "d", "applied_to_services": [], "tags": {},
                                         "metric_value": {"type": "boolean"}}), 201)["id"]
    with api(compadre, "DefaultUserRole") as user:
        assert user.post("/", json={"name": f"Mine {tag}", "description": "d", "applied_to_services": [], "tags": {},
                                    "metric_value": {"type": "boolean"}}).status_code == 403
        assert ok(user.get("/"))["metrics"] == []
        assert ok(user.get("/search/", params={"query": "kept"}))["metrics"] == []
        assert user.delete(f"/{metric}/").status_code == 403


def test_a_conversation_is_judged_by_metrics_and_the_results_are_listed(compadre: Compadre, fake_openai):
    """evaluate through a real server: the judge (the fake model, scripted) answers each metric in
    request order; the results are stored as `manual` and listed; an answer that never fits the metric
    is a 503 that stores nothing."""
    from conversation_helpers import Blueprint, interact, start_conversation
    from conversation_helpers import InteractionCompleteEvent

    tag = word()
    with compadre.user_client() as client, api(compadre) as http:
        service = Blueprint(client).new_service(client)
        fake_openai.script({"when": "text", "text": "Hello! How can I help?"})
        created = start_conversation(client, service)
        conversation = next(e.conversation_id for e in created if hasattr(e, "conversation_id"))
        fake_openai.script({"when": "text", "text": "I can fix that invoice."})
        events = interact(client, conversation, "My invoice is wrong")
        assert isinstance(events[-1], InteractionCompleteEvent), events
        user_message = events[0].message_id

        resolved = ok(http.post("/", json={"name": f"Resolved {tag}", "description": "Was it resolved?", "applied_to_services": [],
                                           "tags": {}, "metric_value": {"type": "boolean"}}), 201)["id"]
        score = ok(http.post("/", json={"name": f"Score {tag}", "description": "How helpful", "applied_to_services": [],
                                        "tags": {}, "metric_value": {"type": "numerical", "lower_bound": 1, "upper_bound": 5}}), 201)["id"]
        fake_openai.script(
            {"when": "json", "json": {"value": 4, "justification": "Helpful answer.", "messages": [3]}},
            {"when": "json", "json": {"value": True, "justification": "The agent will fix it.", "messages": [2, 3]}},
        )
        answer = ok(http.post("/evaluate", json={"metric_ids": [score, resolved], "conversation_id": conversation}))
        assert [(m["metric_id"], m["value"]) for m in answer["metrics"]] == [(score, 4), (resolved, True)], answer
        assert answer["metrics"][1]["references"][0] == user_message
        assert set(answer["metrics"][0]) == {"metric_id", "name", "value", "references", "justification"}

        listed = ok(http.get("/metric_evaluation_result", params={"conversation_id": conversation}))
        assert {(r["metric_id"], r["result"]) for r in listed["metric_evaluation_results"]} == {(score, 4), (resolved, True)}
        assert all(r["source"]["type"] == "manual" for r in listed["metric_evaluation_results"])

        fake_openai.script(*[{"when": "json", "json": {"value": 9, "justification": "Off the scale.", "messages": []}}] * 3)
        failed = http.post("/evaluate", json={"metric_ids": [score], "conversation_id": conversation})
        assert failed.status_code == 503, failed.text
        again = ok(http.get("/metric_evaluation_result", params={"metric_id": score}))
        assert [r["result"] for r in again["metric_evaluation_results"]] == [4]
