"""Post-conversation analysis, end to end on a real `compadre serve` process.

Ending a conversation (`finish_conversation`, or the graph reaching its terminal state) enqueues the
durable job `extract-memories` in the transaction that ends it; the server's own job runner runs it:
one structured model request over the numbered transcript, the memories stored, then
`generate-user-models`: one structured request for exactly N descriptions (N = the organization's
user dimensions, 1 without any) from the remembered facts and the user's `additional_context`.
Beside it, `compute-metrics` judges the conversation by the metrics applied to its service (none here:
it completes without the model). The conversation then lists `completed_post_processings` with the
three and `is_analyzed`. A later conversation of the user has the user model in
the agent's system prompt and recall states answer from the memories.

The fake model (`fake_openai.py`) is scripted per test; analysis requests are told apart by their
JSON schema (`memories`, `descriptions`, recall's `answers`). Waiting for the job runner first
watches the fake's request log (free), then polls the conversation with a growing interval: the
server allows 15 `get-conversations` a minute per user.

Crashes (kill -9 mid-job, then a new process on the same database) run on SQLite and PostgreSQL: on
SQLite the restarting process queues the jobs left running again, on PostgreSQL another process
claims them once their lease (COMPADRE_LEASE_SECONDS=3 in this suite) has expired.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from amigo_sdk import AmigoClient
from amigo_sdk.errors import ConflictError
from amigo_sdk.generated.model import (
    ConversationInstance,
    OrganizationCreateServiceHierarchicalStateMachineRequest,
    OrganizationCreateServiceHierarchicalStateMachineVersionRequest,
    OrganizationGetUserDimensionsResponse,
    UserGetMemoriesResponse,
    UserGetUserModelResponse,
    UserUpdateUserInfoRequest,
)

from conftest import Compadre, server_env
from conversation_helpers import (
    Blueprint,
    check_agent_message,
    conversation_graph,
    create_service,
    describe,
    get_conversation,
    interact,
    model_calls,
    start_conversation,
    stored_messages,
    unique,
)
from fake_openai import FakeOpenAI, request_schema

EXTRACT = "extract-memories"
USER_MODELS = "generate-user-models"
METRICS = "compute-metrics"  # no metric applies to these services: done without the model
ANALYSED = sorted([EXTRACT, USER_MODELS, METRICS])
# How long the job runner may take to analyse a conversation once the model answered.
ANALYSIS_TIMEOUT = 20.0
MEMORY_SECTION = "What you know of the user from earlier conversations"


# --------------------------------------------------------------------------
# The fake model's analysis requests
# --------------------------------------------------------------------------


def request_kind(body: dict) -> str | None:
    """'memories' (extract-memories), 'descriptions' (generate-user-models), 'answers' (recall's
    answers from memories) or another structured request's key; None for plain text."""
    structured, schema = request_schema(body)
    if not structured:
        return None
    props = (schema or {}).get("properties") or {}
    for key in ("memories", "descriptions", "answers"):
        if key in props:
            return key
    return "other"


def prompt_text(body: dict) -> str:
    parts = []
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [p.get("text", "") for p in content if isinstance(p, dict)]
    return "\n".join(parts)


def requests_of(fake: FakeOpenAI, kind: str) -> list[dict]:
    return [body for body in fake.requests if request_kind(body) == kind]


def wait_for_request(fake: FakeOpenAI, kind: str, count: int = 1, timeout: float = ANALYSIS_TIMEOUT) -> list[dict]:
    """Blocks until the fake received `count` requests of `kind`; fails the test otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = requests_of(fake, kind)
        if len(found) >= count:
            return found
        fake.wait_for_requests(len(fake.requests) + 1, timeout=min(0.5, max(0.01, deadline - time.monotonic())))
    pytest.fail(
        f"the fake model received {len(requests_of(fake, kind))} '{kind}' requests within {timeout:.0f} s, "
        f"expected {count}; model requests:\n{model_calls(fake)}"
    )


def memories_reply(*memories: dict, **extra: Any) -> dict:
    return {"when": "json", "json": {"memories": list(memories)}, "chunks": 1, **extra}


def descriptions_reply(*descriptions: str, **extra: Any) -> dict:
    return {"when": "json", "json": {"descriptions": list(descriptions)}, "chunks": 1, **extra}


def say(fake: FakeOpenAI, text: str) -> None:
    fake.script({"when": "text", "text": text, "chunks": 2})


# --------------------------------------------------------------------------
# Reading analysis state
# --------------------------------------------------------------------------


def wait_analyzed(client: AmigoClient, cid: str, timeout: float = ANALYSIS_TIMEOUT) -> ConversationInstance:
    """Polls GET /conversation/?id= until `is_analyzed` (growing interval: 15 calls a minute per user)."""
    deadline = time.monotonic() + timeout
    pause = 0.05
    while True:
        conversation = get_conversation(client, cid)
        if conversation.is_analyzed:
            return conversation
        if time.monotonic() + pause > deadline:
            pytest.fail(
                f"conversation {cid} not analysed within {timeout:.0f} s: is_finished="
                f"{conversation.is_finished}, completed_post_processings="
                f"{[p.value for p in conversation.completed_post_processings]}"
            )
        time.sleep(pause)
        pause = min(pause * 2, 1.5)


def processings(conversation: ConversationInstance) -> list[str]:
    """The completed post-processings, sorted (compute-metrics runs beside the other two)."""
    return sorted(p.value for p in conversation.completed_post_processings)


def memory_page(client: AmigoClient, org: str, user_id: str, **params: Any) -> UserGetMemoriesResponse:
    """GET /v1/{org}/user/{user_id}/memory (no SDK method), parsed by the SDK's model."""
    resp = client._http.request("GET", f"/v1/{org}/user/{user_id}/memory", params=params or None)
    return UserGetMemoriesResponse.model_validate_json(resp.text)


def memories_of(client: AmigoClient, org: str, user_id: str, **params: Any) -> list:
    page = memory_page(client, org, user_id, **params)
    assert page.has_more is False, f"more than one page of memories: {page}"
    return page.memories


def user_dimensions(client: AmigoClient, org: str) -> list:
    resp = client._http.request("GET", f"/v1/{org}/organization/user_dimensions/")
    return OrganizationGetUserDimensionsResponse.model_validate_json(resp.text).user_dimensions


def raw_get(compadre: Compadre, token: str, path: str, **params: Any) -> httpx.Response:
    return httpx.get(
        f"{compadre.server.base_url}/v1/{compadre.org}{path}",
        params=params or None,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def user_message_ids(client: AmigoClient, cid: str) -> list[str]:
    return [mid for mid, kind, _ in stored_messages(client, cid) if kind == "user-message"]


# --------------------------------------------------------------------------
# Graphs
# --------------------------------------------------------------------------

RECALL_QUERY = "What does the user do for a living?"


def recall_graph() -> dict:
    """The suite's conversation graph with a second exit from the initial state: when the user asks
    what the agent remembers, a recall state (one static query) leads to an action state that answers."""
    graph = copy.deepcopy(conversation_graph())
    start = next(state for state in graph["states"] if state["name"] == "start")
    start["exit_conditions"].append(
        {"description": "The user asks what the agent remembers about them.", "next_state": "remember"}
    )
    answer = copy.deepcopy(start)
    answer.update(
        name="answer", objective="Tell the user what you remember about them.",
        actions=["Say what you remember."], exit_conditions=start["exit_conditions"][:1],
    )
    graph["states"] += [
        {"type": "recall", "name": "remember", "queries": [RECALL_QUERY], "requested_information": None,
         "next_state": "answer"},
        answer,
    ]
    return graph


def recall_service(client: AmigoClient, agent_id: str) -> str:
    created = client.context_graphs.create_context_graph(
        OrganizationCreateServiceHierarchicalStateMachineRequest(state_machine_name=unique("compat-recall-graph"))
    )
    client.context_graphs.create_context_graph_version(
        created.id,
        OrganizationCreateServiceHierarchicalStateMachineVersionRequest.model_validate(recall_graph()),
    )
    return create_service(client, agent_id, created.id)


@pytest.fixture(scope="module")
def blueprint(compadre: Compadre) -> Blueprint:
    with compadre.client() as client:
        return Blueprint(client)


def talk(client: AmigoClient, fake: FakeOpenAI, service_id: str, exchanges: list[tuple[str, str]],
         greeting: str = "Hello, how can I help?") -> str:
    """A conversation: the greeting, then (user says, agent answers) exchanges; its id."""
    say(fake, greeting)
    created = start_conversation(client, service_id)
    check_agent_message(created)
    cid = created[0].conversation_id
    for said, answer in exchanges:
        say(fake, answer)
        events = interact(client, cid, said)
        assert check_agent_message(events).full_message == answer, describe(events)
    return cid


# --------------------------------------------------------------------------
# One user, two conversations: what the first teaches reaches the second
# --------------------------------------------------------------------------

GREETING_1 = "Hello! What brings you here today?"
USER_1 = "I work as a night nurse at the city hospital."
REPLY_1 = "Night shifts must be tiring."
USER_2 = "Also, I am allergic to penicillin."
REPLY_2 = "Thanks, I will keep that in mind."
NURSE = {
    "content": "The user works as a night nurse at the city hospital",
    "context": "Their work hours shape when they can talk.",
    "messages": [2],
}
# Message 42 does not exist (5 messages): it is dropped. A blank memory is dropped.
ALLERGY = {
    "content": "The user is allergic to penicillin",
    "context": "Matters for any advice about medication.",
    "messages": [4, 5, 42],
}
BLANK = {"content": "   ", "context": "", "messages": [1]}
ADDITIONAL_CONTEXT = ["Prefers short answers", "Lives near the harbour"]
MODEL_1 = "A night nurse at the city hospital, allergic to penicillin; likes short answers."

GREETING_2 = "Welcome back! How were your night shifts?"
USER_ASK = "What do you remember about me?"
RECALLED = "They work night shifts as a nurse."
REPLY_ASK = "You work night shifts as a nurse."
USER_3 = "I just moved to Lyon."
REPLY_3 = "Welcome to Lyon!"
MOVED = {"content": "The user just moved to Lyon", "context": "Where they live now.", "messages": [4]}
MODEL_2 = "A night nurse allergic to penicillin who just moved to Lyon."


@dataclass
class History:
    user_id: str
    first: str  # conversation ids
    second: str
    first_ids: list[str]  # message ids, oldest first
    second_ids: list[str]
    first_greeting: list[dict]  # the model requests of the first conversation's greeting
    # after the first conversation was analysed
    first_requests: list[dict]
    first_embeddings: list[list[str]]
    first_conversation: ConversationInstance
    first_memories: list
    first_model: UserGetUserModelResponse
    finish_again: int | None  # status of a second finish, right after the first
    # the second conversation's greeting, and the interaction that went through the recall state
    greeting_requests: list[dict]
    recall_requests: list[dict]
    recall_events: list
    # after the second conversation was analysed
    second_requests: list[dict]
    second_conversation: ConversationInstance
    second_model: UserGetUserModelResponse
    finish_after: int | None  # status of finish on the analysed conversation
    dimensions: list = field(default_factory=list)


@pytest.fixture(scope="module")
def history(compadre: Compadre, blueprint: Blueprint, fake_openai: FakeOpenAI) -> History:
    org = compadre.org
    fake_openai.reset()
    with compadre.client() as admin:
        plain_service = blueprint.new_service(admin)
        memory_service = recall_service(admin, blueprint.agent_id)
        dimensions = user_dimensions(admin, org)
        user_id = compadre.invite_user()
        admin.users.update_user(user_id, UserUpdateUserInfoRequest(additional_context=ADDITIONAL_CONTEXT))

    with compadre.client(user_id=user_id) as client:
        # ---- the first conversation, finished and analysed
        first = talk(client, fake_openai, plain_service, [], GREETING_1)
        first_greeting = fake_openai.requests
        for said, answer in [(USER_1, REPLY_1), (USER_2, REPLY_2)]:
            say(fake_openai, answer)
            check_agent_message(interact(client, first, said))
        first_ids = [mid for mid, _, _ in stored_messages(client, first)]
        fake_openai.reset()
        fake_openai.script(memories_reply(NURSE, BLANK, ALLERGY), descriptions_reply(MODEL_1))
        assert client.conversations.finish_conversation(first) is None  # 204
        try:
            client.conversations.finish_conversation(first)
            finish_again = 204
        except ConflictError as exc:
            finish_again = exc.status_code
        wait_for_request(fake_openai, "descriptions")
        first_conversation = wait_analyzed(client, first)
        first_requests = fake_openai.requests
        first_embeddings = fake_openai.embedding_requests
        first_memories = memories_of(client, org, user_id, sort_by="+created_at")
        first_model = client.users.get_user_model(user_id)

        # ---- the second conversation starts knowing what the first taught
        fake_openai.reset()
        second = talk(client, fake_openai, memory_service, [], GREETING_2)
        greeting_requests = fake_openai.requests
        fake_openai.reset()
        fake_openai.script(
            # start: 1 action, then the exits "goodbye" (2) and "remember" (3)
            {"when": "json", "json": {"reason": "The user asks what I remember.", "choice": 3}},
            {"when": "json", "json": {"answers": [RECALLED]}},
        )
        say(fake_openai, REPLY_ASK)
        recall_events = interact(client, second, USER_ASK)
        recall_requests = fake_openai.requests
        say(fake_openai, REPLY_3)
        events = interact(client, second, USER_3)
        check_agent_message(events)
        second_ids = [mid for mid, _, _ in stored_messages(client, second)]
        fake_openai.reset()
        fake_openai.script(memories_reply(MOVED), descriptions_reply(MODEL_2))
        client.conversations.finish_conversation(second)
        wait_for_request(fake_openai, "descriptions")
        second_conversation = wait_analyzed(client, second)
        second_requests = fake_openai.requests
        second_model = client.users.get_user_model(user_id)
        try:
            client.conversations.finish_conversation(second)
            finish_after = 204
        except ConflictError as exc:
            finish_after = exc.status_code

    return History(
        user_id=user_id, first=first, second=second, first_ids=first_ids, second_ids=second_ids,
        first_greeting=first_greeting, first_requests=first_requests, first_embeddings=first_embeddings,
        first_conversation=first_conversation, first_memories=first_memories,
        first_model=first_model, finish_again=finish_again, greeting_requests=greeting_requests,
        recall_requests=recall_requests, recall_events=recall_events,
        second_requests=second_requests, second_conversation=second_conversation, second_model=second_model,
        finish_after=finish_after, dimensions=dimensions,
    )


def test_finishing_runs_both_analysis_jobs_once(history: History):
    assert history.dimensions == [], "this module's organization starts without user dimensions"
    for requests, conversation in (
        (history.first_requests, history.first_conversation),
        (history.second_requests, history.second_conversation),
    ):
        kinds = [request_kind(body) for body in requests]
        assert kinds.count("memories") == 1 and kinds.count("descriptions") == 1, (
            f"one extract-memories and one generate-user-models request per analysis, "
            f"in that order; got {kinds}"
        )
        assert kinds.index("memories") < kinds.index("descriptions"), kinds
        assert conversation.is_finished is True
        assert conversation.is_analyzed is True
        assert processings(conversation) == ANALYSED


def test_finish_on_a_finished_conversation_is_409(history: History):
    assert history.finish_again == 409, (
        "finishing again while the analysis is queued or running must be 409, "
        f"got {history.finish_again}"
    )
    assert history.finish_after == 409, (
        f"finishing an analysed conversation must be 409, got {history.finish_after}"
    )


def test_extract_memories_prompt_has_the_numbered_transcript(history: History):
    (body,) = [b for b in history.first_requests if request_kind(b) == "memories"]
    prompt = prompt_text(body)
    for number, line in [
        (1, f"Agent: {GREETING_1}"), (2, f"User: {USER_1}"), (3, f"Agent: {REPLY_1}"),
        (4, f"User: {USER_2}"), (5, f"Agent: {REPLY_2}"),
    ]:
        assert f"{number}. {line}" in prompt, (
            f"the transcript line '{number}. {line}' is missing from the extract-memories prompt:\n{prompt}"
        )
    _, schema = request_schema(body)
    item = schema["properties"]["memories"]["items"]
    assert set(item["properties"]) == {"content", "context", "messages"}, schema


def test_memories_are_stored_with_their_message_references(compadre: Compadre, history: History):
    ids = history.first_ids
    # Memories of one conversation share their created_at: their order is not the point here.
    memories = sorted(history.first_memories, key=lambda m: m.content != NURSE["content"])
    assert [(m.content, m.context) for m in memories] == [
        (NURSE["content"], NURSE["context"]),
        (ALLERGY["content"], ALLERGY["context"]),
    ], "the two memories the model found, the blank one dropped"
    assert memories[0].references == [ids[1]], "message 2 is the user's first message"
    assert memories[1].references == [ids[3], ids[4]], (
        "messages 4 and 5; 42 does not exist and is dropped"
    )
    assert {m.conversation_id for m in memories} == {history.first}
    assert [NURSE["content"], ALLERGY["content"]] in history.first_embeddings, (
        f"the memories are embedded (recall finds them by meaning): {history.first_embeddings}"
    )
    assert len({m.id for m in memories}) == 2
    for m in memories:
        assert m.created_at.tzinfo is not None


def test_user_model_request_and_result(history: History):
    (body,) = [b for b in history.first_requests if request_kind(b) == "descriptions"]
    prompt = prompt_text(body)
    for text in [NURSE["content"], ALLERGY["content"], *ADDITIONAL_CONTEXT]:
        assert text in prompt, f"{text!r} is missing from the generate-user-models prompt:\n{prompt}"
    _, schema = request_schema(body)
    descriptions = schema["properties"]["descriptions"]
    assert (descriptions.get("minItems"), descriptions.get("maxItems")) == (1, 1), (
        f"without user dimensions the model writes exactly one description: {descriptions}"
    )

    model = history.first_model
    assert model.additional_context == ADDITIONAL_CONTEXT
    assert [(m.content, m.dimensions) for m in model.user_models] == [(MODEL_1, [])]
    assert sorted(model.user_models[0].insight_ids) == sorted(m.id for m in history.first_memories), (
        "the user model cites the memories it was made from"
    )


def test_next_conversation_knows_the_user_model(history: History):
    before = [b for b in history.first_greeting if request_kind(b) is None]
    assert before and MEMORY_SECTION not in prompt_text(before[-1]), (
        "the user's first conversation knows nothing from earlier ones"
    )
    greeting = [b for b in history.greeting_requests if request_kind(b) is None]
    assert greeting, f"no plain-text request for the greeting: {model_calls_of(history.greeting_requests)}"
    system = prompt_text(greeting[-1])
    assert f"{MEMORY_SECTION}:\n- {MODEL_1}" in system, (
        f"the greeting's prompt must carry the user model under '{MEMORY_SECTION}':\n{system}"
    )


def test_recall_state_answers_from_the_memories(history: History):
    requests = history.recall_requests
    assert check_agent_message(history.recall_events).full_message == REPLY_ASK
    recall = [b for b in requests if request_kind(b) == "answers"]
    assert len(recall) == 1, (
        f"the recall state answers its query from the memories in one structured request: "
        f"{model_calls_of(requests)}"
    )
    prompt = prompt_text(recall[0])
    for text in (RECALL_QUERY, NURSE["content"], ALLERGY["content"]):
        assert text in prompt, f"{text!r} is missing from the recall request:\n{prompt}"
    replies = [b for b in requests if request_kind(b) is None]
    assert replies, f"no plain-text request for the reply: {model_calls_of(requests)}"
    system = prompt_text(replies[-1])
    assert RECALLED in system, f"the recalled answer {RECALLED!r} must reach the reply's prompt:\n{system}"


def model_calls_of(requests: list[dict]) -> list:
    return [request_kind(b) for b in requests]


def test_second_analysis_adds_memories_and_rewrites_the_user_model(history: History):
    (body,) = [b for b in history.second_requests if request_kind(b) == "memories"]
    assert f"4. User: {USER_3}" in prompt_text(body)
    assert USER_1 not in prompt_text(body), "only the finished conversation's transcript is analysed"

    (body,) = [b for b in history.second_requests if request_kind(b) == "descriptions"]
    prompt = prompt_text(body)
    for text in (NURSE["content"], ALLERGY["content"], MOVED["content"], MODEL_1):
        assert text in prompt, (
            f"{text!r} is missing from the second generate-user-models prompt (all the user's memories "
            f"and the model so far):\n{prompt}"
        )
    assert [m.content for m in history.second_model.user_models] == [MODEL_2], (
        "the user model is rewritten, not appended to"
    )


def test_memory_listing_filters_sorting_and_pages(compadre: Compadre, client: AmigoClient, history: History):
    org, uid = compadre.org, history.user_id
    first_two = sorted([NURSE["content"], ALLERGY["content"]])
    everything = memories_of(client, org, uid, sort_by="+created_at")
    # The first conversation's two memories share their created_at (the order between them is the server's).
    assert sorted(m.content for m in everything[:2]) == first_two and everything[2].content == MOVED["content"], (
        [m.content for m in everything]
    )
    assert sorted(everything[:2], key=lambda m: m.id) == sorted(history.first_memories, key=lambda m: m.id), (
        "the first conversation's memories are kept as they were"
    )
    assert everything[2].conversation_id == history.second
    assert everything[2].references == [history.second_ids[3]]
    assert sorted(history.second_model.user_models[0].insight_ids) == sorted(m.id for m in everything)

    newest = memories_of(client, org, uid, sort_by="-created_at")
    assert [m.content for m in newest][0] == MOVED["content"]
    assert sorted(m.content for m in newest[1:]) == sorted(first_two)
    by_conversation = memories_of(client, org, uid, sort_by=["-conversation_id", "+created_at"])
    assert [m.conversation_id for m in by_conversation] == [history.second, history.first, history.first]
    by_conversation = memories_of(client, org, uid, sort_by="+conversation_id")
    assert [m.conversation_id for m in by_conversation] == [history.first, history.first, history.second]

    assert [m.content for m in memories_of(client, org, uid, conversation_id=history.second)] == [MOVED["content"]]
    picked = everything[1]
    assert memories_of(client, org, uid, id=picked.id) == [picked]
    assert memories_of(client, org, uid, id=[everything[0].id, everything[2].id], sort_by="+created_at") == [
        everything[0], everything[2]
    ]

    # Pages of 2, following the continuation token.
    page = memory_page(client, org, uid, limit=2, sort_by="+created_at")
    assert len(page.memories) == 2 and page.has_more is True and page.continuation_token is not None, page
    rest = memory_page(client, org, uid, limit=2, sort_by="+created_at", continuation_token=page.continuation_token)
    assert rest.has_more is False and rest.continuation_token is None, rest
    assert page.memories + rest.memories == everything

    empty = memory_page(client, org, uid, limit=0)
    assert empty.memories == [] and empty.has_more is False, empty

    token = compadre.access_token()
    for params, what in (({"limit": 51}, "limit above 50"), ({"sort_by": "content"}, "an unsupported sort field"),
                         ({"id": "not-an-id"}, "a malformed id")):
        resp = raw_get(compadre, token, f"/user/{uid}/memory", **params)
        assert resp.status_code == 422, f"{what} ({params}) must be 422, got {resp.status_code}: {resp.text}"


# --------------------------------------------------------------------------
# Ending without finish, finishing without user messages, 409 while running
# --------------------------------------------------------------------------


def test_reaching_the_terminal_state_enqueues_the_analysis(
    compadre: Compadre, blueprint: Blueprint, fake_openai: FakeOpenAI
):
    with compadre.client() as admin:
        service_id = blueprint.new_service(admin)
    user_id = compadre.invite_user()
    with compadre.client(user_id=user_id) as client:
        cid = talk(client, fake_openai, service_id, [("I love sailing on weekends.", "Sounds lovely.")])
        # The user asks to end: the model picks the exit (option 2 after the one action), the agent says goodbye.
        fake_openai.reset()
        fake_openai.script({"when": "json", "json": {"reason": "The user wants to end.", "choice": 2}})
        say(fake_openai, "Goodbye!")
        fake_openai.script(
            memories_reply({"content": "The user loves sailing on weekends", "context": "hobby", "messages": [2]}),
            descriptions_reply("A weekend sailor."),
        )
        events = interact(client, cid, "That is all, I want to end the conversation now.")
        complete = check_agent_message(events)
        assert complete.conversation_completed is True, (
            f"the graph reached its terminal state:\n{describe(events)}\nmodel requests:\n{model_calls(fake_openai)}"
        )
        wait_for_request(fake_openai, "descriptions")
        conversation = wait_analyzed(client, cid)
        assert conversation.is_finished is True
        assert processings(conversation) == ANALYSED
        (body,) = requests_of(fake_openai, "memories")
        assert "4. User: That is all, I want to end the conversation now." in prompt_text(body), (
            "the transcript includes the interaction that ended the conversation"
        )
        assert "5. Agent: Goodbye!" in prompt_text(body)
        assert [m.content for m in memories_of(client, compadre.org, user_id)] == ["The user loves sailing on weekends"]
        assert [m.content for m in client.users.get_user_model(user_id).user_models] == ["A weekend sailor."]
        with pytest.raises(ConflictError):
            client.conversations.finish_conversation(cid)


def test_conversation_without_user_messages_is_analysed_without_the_model(
    compadre: Compadre, blueprint: Blueprint, fake_openai: FakeOpenAI
):
    with compadre.client() as admin:
        service_id = blueprint.new_service(admin)
    user_id = compadre.invite_user()
    with compadre.client(user_id=user_id) as client:
        cid = talk(client, fake_openai, service_id, [])  # the greeting only
        fake_openai.reset()
        client.conversations.finish_conversation(cid)
        conversation = wait_analyzed(client, cid)
        assert processings(conversation) == ANALYSED
        assert fake_openai.requests == [], (
            f"nothing the user said, nothing to ask the model:\n{model_calls(fake_openai)}"
        )
        assert memories_of(client, compadre.org, user_id) == []
        model = client.users.get_user_model(user_id)
        assert model.user_models == [] and model.additional_context == []


def test_finish_is_409_while_the_analysis_runs(
    compadre: Compadre, blueprint: Blueprint, fake_openai: FakeOpenAI
):
    with compadre.client() as admin:
        service_id = blueprint.new_service(admin)
    user_id = compadre.invite_user()
    with compadre.client(user_id=user_id) as client:
        cid = talk(client, fake_openai, service_id, [("My name is Ada.", "Nice to meet you, Ada.")])
        fake_openai.reset()
        fake_openai.script(
            memories_reply({"content": "The user is called Ada", "context": "name", "messages": [2]}, delay=1.0),
            descriptions_reply("Ada."),
        )
        client.conversations.finish_conversation(cid)
        wait_for_request(fake_openai, "memories")  # the job is running, its model call under way
        with pytest.raises(ConflictError) as info:
            client.conversations.finish_conversation(cid)
        assert info.value.status_code == 409
        running = get_conversation(client, cid)
        assert running.is_finished is True and running.is_analyzed is False, running
        assert EXTRACT not in processings(running) and USER_MODELS not in processings(running), processings(running)
        with pytest.raises(ConflictError):
            interact(client, cid, "Still there?")
        conversation = wait_analyzed(client, cid)
        assert processings(conversation) == ANALYSED
        assert len(requests_of(fake_openai, "memories")) == 1, model_calls(fake_openai)


# --------------------------------------------------------------------------
# Who reads memories and user models
# --------------------------------------------------------------------------


def test_a_user_reads_their_own_memories_and_model_only(
    compadre: Compadre, blueprint: Blueprint, fake_openai: FakeOpenAI
):
    secret = "The user keeps a diary in a locked drawer"
    with compadre.client() as admin:
        service_id = blueprint.new_service(admin)
    owner = compadre.invite_user("DefaultUserRole")
    other = compadre.invite_user("DefaultUserRole")
    with compadre.client(user_id=owner) as client:
        cid = talk(client, fake_openai, service_id, [("I keep a diary in a locked drawer.", "Noted.")])
        fake_openai.reset()
        fake_openai.script(
            memories_reply({"content": secret, "context": "privacy", "messages": [2]}),
            descriptions_reply("Keeps a private diary."),
        )
        client.conversations.finish_conversation(cid)
        wait_analyzed(client, cid)

    owner_token = compadre.access_token(owner)
    other_token = compadre.access_token(other)
    admin_token = compadre.access_token()
    missing_user = "0" * 24

    for path in ("memory", "user_model"):
        mine = raw_get(compadre, owner_token, f"/user/{owner}/{path}")
        assert mine.status_code == 200, f"a user reads their own {path}: {mine.status_code} {mine.text}"
        assert secret in mine.text or "Keeps a private diary." in mine.text, mine.text

        theirs = raw_get(compadre, other_token, f"/user/{owner}/{path}")
        assert theirs.status_code in (403, 404), (
            f"GET /user/{{another user}}/{path} as a plain user: expected 403 or 404, got "
            f"{theirs.status_code}: {theirs.text}"
        )
        assert secret not in theirs.text and "diary" not in theirs.text, theirs.text
        nobody = raw_get(compadre, other_token, f"/user/{missing_user}/{path}")
        assert nobody.status_code == theirs.status_code, (
            f"another user's {path} ({theirs.status_code}) and a missing user's ({nobody.status_code}) must "
            "look alike to a plain user: the answer must not tell which users exist"
        )

        admin_view = raw_get(compadre, admin_token, f"/user/{owner}/{path}")
        assert admin_view.status_code == 200, f"an administrator reads a user's {path}: {admin_view.text}"
        assert raw_get(compadre, admin_token, f"/user/{missing_user}/{path}").status_code == 404

    # The other user has nothing of their own.
    empty = raw_get(compadre, other_token, f"/user/{other}/memory")
    assert empty.status_code == 200 and empty.json()["memories"] == [], empty.text


# --------------------------------------------------------------------------
# User dimensions (last in the module: the organization keeps them)
# --------------------------------------------------------------------------

DIMENSIONS = [
    {"description": "Health and symptoms", "tags": ["health"]},
    {"description": "Work and schedule", "tags": ["work", "time"]},
]


def test_user_dimensions_shape_the_user_model(
    compadre: Compadre, blueprint: Blueprint, fake_openai: FakeOpenAI
):
    org = compadre.org
    with compadre.client() as admin:
        service_id = blueprint.new_service(admin)
        resp = admin._http.request("POST", f"/v1/{org}/organization/", json={"user_dimensions": DIMENSIONS})
        assert resp.status_code == 204, resp.text
        listed = user_dimensions(admin, org)
        assert [d.model_dump() for d in listed] == DIMENSIONS
    user_id = compadre.invite_user()
    with compadre.client(user_id=user_id) as client:
        cid = talk(client, fake_openai, service_id, [("I have had a cough for a week; I work mornings.", "Get well.")])
        fake_openai.reset()
        fake_openai.script(
            memories_reply(
                {"content": "The user has had a cough for a week", "context": "health", "messages": [2]},
                {"content": "The user works mornings", "context": "schedule", "messages": [2]},
            ),
            descriptions_reply("Coughing for a week.", "Works mornings."),
        )
        client.conversations.finish_conversation(cid)
        (body,) = wait_for_request(fake_openai, "descriptions")
        conversation = wait_analyzed(client, cid)
        assert processings(conversation) == ANALYSED

        _, schema = request_schema(body)
        descriptions = schema["properties"]["descriptions"]
        assert (descriptions.get("minItems"), descriptions.get("maxItems")) == (2, 2), (
            f"one description per user dimension: {descriptions}"
        )
        prompt = prompt_text(body)
        for d in DIMENSIONS:
            assert d["description"] in prompt, f"dimension {d['description']!r} missing from:\n{prompt}"

        model = client.users.get_user_model(user_id)
        assert [(m.content, [d.model_dump() for d in m.dimensions]) for m in model.user_models] == [
            ("Coughing for a week.", [DIMENSIONS[0]]),
            ("Works mornings.", [DIMENSIONS[1]]),
        ]
        memory_ids = sorted(m.id for m in memories_of(client, org, user_id))
        assert all(sorted(m.insight_ids) == memory_ids for m in model.user_models)


# --------------------------------------------------------------------------
# kill -9 while an analysis job runs
# --------------------------------------------------------------------------

CRASH_MEMORY = {"content": "The user restores old clocks", "context": "hobby", "messages": [2]}
SLOW = 30.0  # the killed process's model call never ends before the kill


def restart_after_kill(compadre: Compadre) -> None:
    compadre.server.kill()
    compadre.server.start()


@pytest.fixture
def alone(compadre: Compadre, db_backend: str):
    """On PostgreSQL every server of the session shares one database, and any live server's job runner
    claims a job whose lease expired: this module's shared server is stopped while a crash test runs,
    so the job runs where the test kills it."""
    if db_backend == "sqlite":
        yield
        return
    compadre.server.stop()
    try:
        yield
    finally:
        compadre.server.start()


def test_kill_9_during_analysis_completes_it_exactly_once(
    alone, fresh_compadre: Compadre, fake_openai: FakeOpenAI, db_backend: str
):
    """Killed once while extract-memories waits for the model, once while generate-user-models does:
    after each restart the job runs again, and in the end the memories are stored once."""
    compadre = fresh_compadre
    org, user_id = compadre.org, compadre.credentials.user_id
    lease = float({**server_env(), **compadre.server.extra_env}["COMPADRE_LEASE_SECONDS"])
    with compadre.client() as client:
        service_id = Blueprint(client).new_service(client)
        cid = talk(client, fake_openai, service_id, [("I restore old clocks.", "What a craft!")])
        fake_openai.reset()
        fake_openai.script(
            memories_reply(CRASH_MEMORY, delay=SLOW),  # the first attempt: killed mid-call
            memories_reply(CRASH_MEMORY),
            descriptions_reply("Restores clocks.", delay=SLOW),  # killed mid-call
            descriptions_reply("Restores old clocks."),
        )
        client.conversations.finish_conversation(cid)
        wait_for_request(fake_openai, "memories")

    t0 = time.monotonic()
    restart_after_kill(compadre)
    # SQLite: queued again at start; PostgreSQL: claimed once the dead runner's lease expired.
    wait_for_request(fake_openai, "descriptions", timeout=lease + ANALYSIS_TIMEOUT)
    restart_after_kill(compadre)
    wait_for_request(fake_openai, "descriptions", count=2, timeout=lease + ANALYSIS_TIMEOUT)
    with compadre.client() as client:
        conversation = wait_analyzed(client, cid, timeout=lease + ANALYSIS_TIMEOUT)
        elapsed = time.monotonic() - t0
        assert processings(conversation) == ANALYSED
        memories = memories_of(client, org, user_id)
        assert [(m.content, m.conversation_id) for m in memories] == [(CRASH_MEMORY["content"], cid)], (
            f"[{db_backend}] the memories of the conversation are stored once: {memories}"
        )
        assert memories[0].references == [user_message_ids(client, cid)[0]]
        model = client.users.get_user_model(user_id)
        assert [m.content for m in model.user_models] == ["Restores old clocks."]
        assert model.user_models[0].insight_ids == [memories[0].id]
        kinds = [request_kind(b) for b in fake_openai.requests]
        assert (kinds.count("memories"), kinds.count("descriptions")) == (2, 2), (
            f"[{db_backend}] each job ran once more after its kill, no more: {kinds}"
        )
        assert fake_openai.pending() == 0
        with pytest.raises(ConflictError):
            client.conversations.finish_conversation(cid)
    print(f"[{db_backend}] analysis done {elapsed:.1f} s after the first kill")


def test_analysis_failed_for_good_is_queued_again_by_finish(
    alone, fresh_compadre: Compadre, fake_openai: FakeOpenAI, db_backend: str
):
    """A job whose runner died 5 times (its 5 attempts) fails for good when claimed again; finishing
    the conversation again queues it (204) and the analysis completes."""
    if db_backend != "sqlite":
        pytest.skip("five lease expiries on PostgreSQL take too long; SQLite re-queues at start")
    compadre = fresh_compadre
    org, user_id = compadre.org, compadre.credentials.user_id
    with compadre.client() as client:
        service_id = Blueprint(client).new_service(client)
        cid = talk(client, fake_openai, service_id, [("I grow tomatoes.", "Lovely.")])
        fake_openai.reset()
        fake_openai.script(*(memories_reply(CRASH_MEMORY, delay=SLOW) for _ in range(5)))
        client.conversations.finish_conversation(cid)
    for attempt in range(1, 6):
        wait_for_request(fake_openai, "memories", count=attempt)
        restart_after_kill(compadre)
    # The sixth claim finds the attempts used up: the job fails for good without asking the model
    # (GET /metrics counts it; polling it costs no rate limit).
    failed = 'compadre_jobs_total{kind="extract-memories",outcome="failed"} 1'
    deadline = time.monotonic() + 15
    while failed not in metrics_text(compadre):
        assert time.monotonic() < deadline, (
            f"the job whose runner died 5 times did not fail for good; server log:\n{compadre.server.log_tail(20)}"
        )
        time.sleep(0.1)
    assert len(requests_of(fake_openai, "memories")) == 5, model_calls(fake_openai)
    with compadre.client() as client:
        stuck = get_conversation(client, cid)
        assert (stuck.is_analyzed, processings(stuck)) == (False, [METRICS]), stuck
        fake_openai.script(
            memories_reply({"content": "The user grows tomatoes", "context": "garden", "messages": [2]}),
            descriptions_reply("A gardener."),
        )
        assert client.conversations.finish_conversation(cid) is None  # 204: queued again
        wait_for_request(fake_openai, "descriptions")
        conversation = wait_analyzed(client, cid)
        assert processings(conversation) == ANALYSED
        assert [m.content for m in memories_of(client, org, user_id)] == ["The user grows tomatoes"]
        with pytest.raises(ConflictError):
            client.conversations.finish_conversation(cid)


def metrics_text(compadre: Compadre) -> str:
    return httpx.get(f"{compadre.server.base_url}/metrics", timeout=10).text
