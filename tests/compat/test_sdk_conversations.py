"""Conversations through the official Python SDK (`amigo-sdk`), unchanged.

An application's whole conversation, made the way it makes it: create the
conversation (the agent greets), interact twice, read the messages page by
page, ask for insights, recommended responses and conversation starters, tag
it, finish it. Every event and response is parsed by the SDK's own models.

The language model is the suite's fake (`fake_openai.py`): structured
requests get a JSON instance of their schema, the agent's words are scripted
per test, so what the user sees is known exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from amigo_sdk import AmigoClient
from amigo_sdk.errors import (
    AmigoError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from amigo_sdk.generated.model import (
    ConversationCreatedEvent,
    ConversationGenerateConversationStarterRequest,
    CurrentAgentActionEvent,
    ErrorEvent,
    Format,
    GetConversationMessagesParametersQuery,
    GetConversationsParametersQuery,
    InteractionCompleteEvent,
    MessageType,
    NewMessageEvent,
    UserMessageAvailableEvent,
)

from conftest import Compadre
from conversation_helpers import (
    BackgroundInteraction,
    INITIAL_OBJECTIVE,
    INITIAL_STATE,
    OBJECT_ID,
    Blueprint,
    action_type,
    all_messages,
    assert_script_consumed,
    check_agent_message,
    describe,
    get_conversation,
    interact,
    model_calls,
    of_type,
    start_conversation,
    stored_messages,
    unique,
)
from fake_openai import FakeOpenAI, request_schema

GREETING = "Welcome to the compatibility test! How can I help you today?"
USER_1 = "What is the capital of France?"
REPLY_1 = "The capital of France is Paris."
USER_2 = "And how many people live there?"
REPLY_2 = "About two million people live in Paris itself."


def say(fake: FakeOpenAI, text: str, chunks: int = 4, delay: float | None = None) -> None:
    """Script the agent's next message (the next plain-text model request)."""
    reply = {"when": "text", "text": text, "chunks": chunks}
    if delay is not None:
        reply["delay"] = delay
    fake.script(reply)


def agent_actions(events: list) -> list[str]:
    return [action_type(e) for e in of_type(events, CurrentAgentActionEvent)]


def first_index(events: list, cls: type) -> int:
    return next(i for i, e in enumerate(events) if isinstance(e, cls))


# --------------------------------------------------------------------------
# Module setup: one conversation, greeting plus two interactions
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def blueprint(compadre: Compadre) -> Blueprint:
    with compadre.client() as client:
        return Blueprint(client)


@dataclass
class Talk:
    service_id: str
    conversation_id: str
    created: list  # events of create_conversation
    first: list  # events of the first interaction
    second: list  # events of the second interaction

    @property
    def interaction_ids(self) -> list[str]:
        return [events[-1].interaction_id for events in (self.created, self.first, self.second)]


@pytest.fixture(scope="module")
def talk(compadre: Compadre, blueprint: Blueprint, fake_openai: FakeOpenAI) -> Talk:
    """A conversation as an app has it: the greeting, then two exchanges."""
    fake_openai.reset()
    with compadre.client() as client:
        service_id = blueprint.new_service(client)

        say(fake_openai, GREETING)
        created = start_conversation(client, service_id)
        assert_script_consumed(fake_openai, "create_conversation")
        assert created and isinstance(created[0], ConversationCreatedEvent), (
            f"create_conversation must start with conversation-created:\n{describe(created)}"
        )
        conversation_id = created[0].conversation_id

        say(fake_openai, REPLY_1)
        first = interact(client, conversation_id, USER_1)
        assert_script_consumed(fake_openai, "the first interaction")

        say(fake_openai, REPLY_2)
        second = interact(client, conversation_id, USER_2)
        assert_script_consumed(fake_openai, "the second interaction")

    for name, events in (("create", created), ("first interact", first), ("second interact", second)):
        assert events and isinstance(events[-1], InteractionCompleteEvent), (
            f"{name}: the stream must end with interaction-complete:\n{describe(events)}"
        )
    return Talk(service_id, conversation_id, created, first, second)


# --------------------------------------------------------------------------
# Creating and interacting
# --------------------------------------------------------------------------


def test_create_conversation_streams_the_greeting(talk: Talk):
    events = talk.created
    shown = describe(events)

    assert OBJECT_ID.match(talk.conversation_id), talk.conversation_id
    assert len(of_type(events, ConversationCreatedEvent)) == 1, shown
    assert of_type(events, CurrentAgentActionEvent), (
        f"no current-agent-action event (the default filter ^.*$ lets all through):\n{shown}"
    )
    assert first_index(events, CurrentAgentActionEvent) < first_index(events, NewMessageEvent), (
        f"the agent acts (navigates its graph) before it speaks:\n{shown}"
    )

    complete = check_agent_message(events)
    assert complete.full_message == GREETING, (
        f"the greeting is what the model said:\n{shown}"
    )
    assert complete.conversation_completed is False


def test_second_unfinished_conversation_for_a_service_is_400(
    compadre: Compadre, talk: Talk
):
    with compadre.client() as client, pytest.raises(BadRequestError) as info:
        start_conversation(client, talk.service_id)  # the user who started `talk`
    assert info.value.status_code == 400, (
        f"the user already has an unfinished conversation with this service: expected 400, "
        f"got {info.value.status_code} ({type(info.value).__name__})"
    )


@pytest.mark.parametrize(
    "which, said, answer",
    [("first", USER_1, REPLY_1), ("second", USER_2, REPLY_2)],
    ids=["first", "second"],
)
def test_interaction_streams_user_message_then_reply(
    talk: Talk, which: str, said: str, answer: str
):
    events = getattr(talk, which)
    shown = describe(events)

    assert isinstance(events[0], UserMessageAvailableEvent), (
        f"interact must start with user-message-available:\n{shown}"
    )
    user_event = events[0]
    assert user_event.user_message == said, shown
    assert OBJECT_ID.match(user_event.message_id), user_event.message_id
    assert len(of_type(events, UserMessageAvailableEvent)) == 1, shown
    assert not of_type(events, ConversationCreatedEvent), shown

    assert of_type(events, CurrentAgentActionEvent), f"no current-agent-action event:\n{shown}"
    assert first_index(events, CurrentAgentActionEvent) < first_index(events, NewMessageEvent), (
        f"the agent acts before it speaks:\n{shown}"
    )

    complete = check_agent_message(events)
    assert complete.full_message == answer, shown
    assert complete.message_id != user_event.message_id, shown
    assert complete.conversation_completed is False, (
        f"nothing asked to end the conversation:\n{shown}"
    )


def test_every_interaction_has_its_own_ids(talk: Talk):
    ids = talk.interaction_ids
    assert len(set(ids)) == 3, f"interaction ids of create, interact, interact: {ids}"
    message_ids = [events[-1].message_id for events in (talk.created, talk.first, talk.second)]
    message_ids += [talk.first[0].message_id, talk.second[0].message_id]
    assert len(set(message_ids)) == 5, f"message ids must be distinct: {message_ids}"


# --------------------------------------------------------------------------
# current_agent_action_type
# --------------------------------------------------------------------------


def test_current_agent_action_type_filters_events(
    client: AmigoClient, blueprint: Blueprint, fake_openai: FakeOpenAI
):
    service_id = blueprint.new_service(client)

    say(fake_openai, GREETING)
    created = start_conversation(client, service_id, current_agent_action_type="^$")
    assert not of_type(created, CurrentAgentActionEvent), (
        f"current_agent_action_type=^$ matches no action type, yet:\n{describe(created)}"
    )
    check_agent_message(created)
    conversation_id = created[0].conversation_id

    say(fake_openai, REPLY_1)
    silent = interact(client, conversation_id, USER_1, current_agent_action_type="^$")
    assert not of_type(silent, CurrentAgentActionEvent), (
        f"current_agent_action_type=^$ matches no action type, yet:\n{describe(silent)}"
    )
    assert isinstance(silent[0], UserMessageAvailableEvent), describe(silent)
    check_agent_message(silent)

    say(fake_openai, REPLY_2)
    navigation = interact(client, conversation_id, USER_2, current_agent_action_type="navigate-.*")
    types = agent_actions(navigation)
    assert types, (
        f"the agent navigates its graph every interaction, but no navigate-* action came "
        f"through current_agent_action_type=navigate-.*:\n{describe(navigation)}"
    )
    assert all(t.startswith("navigate-") for t in types), (
        f"only navigate-* actions may pass the filter navigate-.*: {types}"
    )
    check_agent_message(navigation)


def test_invalid_action_type_regex_is_422_and_changes_nothing(
    client: AmigoClient, blueprint: Blueprint, fake_openai: FakeOpenAI
):
    service_id = blueprint.new_service(client)

    with pytest.raises(ValidationError) as info:
        start_conversation(client, service_id, current_agent_action_type="(")
    assert info.value.status_code == 422

    # No conversation was created: the service still takes one.
    say(fake_openai, GREETING)
    created = start_conversation(client, service_id)
    check_agent_message(created)
    conversation_id = created[0].conversation_id
    before = stored_messages(client, conversation_id)

    with pytest.raises(ValidationError) as info:
        interact(client, conversation_id, USER_1, current_agent_action_type="(")
    assert info.value.status_code == 422
    assert stored_messages(client, conversation_id) == before, "a rejected interact stored messages"


# --------------------------------------------------------------------------
# Reading the conversation back
# --------------------------------------------------------------------------


def expected_messages(talk: Talk) -> list[tuple[str, str, str, str]]:
    """(id, message_type, text, interaction_id), oldest first."""
    greet, first, second = talk.created[-1], talk.first[-1], talk.second[-1]
    return [
        (greet.message_id, "agent-message", GREETING, greet.interaction_id),
        (talk.first[0].message_id, "user-message", USER_1, first.interaction_id),
        (first.message_id, "agent-message", REPLY_1, first.interaction_id),
        (talk.second[0].message_id, "user-message", USER_2, second.interaction_id),
        (second.message_id, "agent-message", REPLY_2, second.interaction_id),
    ]


def as_rows(messages) -> list[tuple[str, str, str, str]]:
    return [(m.id, m.message_type.value, m.message, m.interaction_id) for m in messages]


def test_messages_page_by_page_in_order(client: AmigoClient, talk: Talk):
    expected = expected_messages(talk)

    oldest_first, sizes = all_messages(
        client, talk.conversation_id, page_size=2, sort_by=["+created_at"]
    )
    assert sizes == [2, 2, 1], f"5 messages in pages of 2, got pages of {sizes}"
    assert as_rows(oldest_first) == expected, (
        "messages (oldest first) must be: greeting, question, answer, question, answer, "
        "with the ids the streams announced"
    )
    for m in oldest_first:
        assert m.format == Format.text
        assert m.sender, f"message {m.id} has no sender"
        assert m.created_at.tzinfo is not None
    assert [m.created_at for m in oldest_first] == sorted(m.created_at for m in oldest_first)

    newest_first, sizes = all_messages(
        client, talk.conversation_id, page_size=2, sort_by=["-created_at"]
    )
    assert sizes == [2, 2, 1]
    assert as_rows(newest_first) == expected[::-1]

    # The default order, whatever it is, pages through the same messages.
    default, sizes = all_messages(client, talk.conversation_id, page_size=2)
    assert sizes == [2, 2, 1]
    assert sorted(as_rows(default)) == sorted(expected)
    # Oldest or newest first, the types read the same.
    assert [m.message_type.value for m in default] == [
        "agent-message", "user-message", "agent-message", "user-message", "agent-message"
    ]


def test_messages_filters(client: AmigoClient, talk: Talk):
    expected = expected_messages(talk)
    cid = talk.conversation_id

    users, _ = all_messages(
        client, cid, message_type=[MessageType.user_message], sort_by=["+created_at"]
    )
    assert as_rows(users) == [row for row in expected if row[1] == "user-message"]

    agents, _ = all_messages(
        client, cid, message_type=[MessageType.agent_message], sort_by=["+created_at"]
    )
    assert as_rows(agents) == [row for row in expected if row[1] == "agent-message"]

    first_iid = talk.first[-1].interaction_id
    of_first, _ = all_messages(client, cid, interaction_id=[first_iid], sort_by=["+created_at"])
    assert as_rows(of_first) == [row for row in expected if row[3] == first_iid]

    by_id = client.conversations.get_conversation_messages(
        cid, GetConversationMessagesParametersQuery(id=[expected[2][0]])
    )
    assert as_rows(by_id.messages) == [expected[2]]
    assert by_id.has_more is False


def test_interaction_insights(client: AmigoClient, talk: Talk):
    last = talk.second[-1].interaction_id
    insights = client.conversations.get_interaction_insights(talk.conversation_id, last)
    assert insights.current_state_name == INITIAL_STATE, (
        f"the conversation stays in its initial action state, insights say "
        f"{insights.current_state_name!r}"
    )
    assert insights.current_state_objective == INITIAL_OBJECTIVE
    assert isinstance(insights.state_transition_logs, list)
    assert isinstance(insights.working_memory, list)
    assert isinstance(insights.reflections, list)

    with pytest.raises(NotFoundError):
        client.conversations.get_interaction_insights(talk.conversation_id, "0" * 24)


def test_recommend_responses(client: AmigoClient, talk: Talk, fake_openai: FakeOpenAI):
    last = talk.second[-1].interaction_id
    result = client.conversations.recommend_responses_for_interaction(talk.conversation_id, last)
    responses = result.recommended_responses
    assert isinstance(responses, list) and responses, (
        f"expected at least one recommended response, got {responses!r}\n"
        f"model requests:\n{model_calls(fake_openai)}"
    )
    assert all(isinstance(r, str) and r.strip() for r in responses), responses
    assert any(request_schema(body)[0] for body in fake_openai.requests), (
        f"recommendations are a structured model answer; model requests:\n{model_calls(fake_openai)}"
    )


def test_get_conversations(compadre: Compadre, client: AmigoClient, talk: Talk):
    conversation = get_conversation(client, talk.conversation_id)
    assert conversation.is_finished is False
    assert conversation.num_messages == 5, (
        f"greeting + 2 x (question, answer) = 5 messages, listed {conversation.num_messages}"
    )
    assert conversation.service_id == talk.service_id
    assert conversation.user_id == compadre.credentials.user_id
    assert conversation.final_message == REPLY_2
    assert conversation.created_at.tzinfo is not None
    assert conversation.is_analyzed is False

    def ids(**query) -> list[str]:
        found = client.conversations.get_conversations(GetConversationsParametersQuery(**query))
        return [c.id for c in found.conversations]

    assert ids(id=[talk.conversation_id], is_finished=False) == [talk.conversation_id]
    assert ids(id=[talk.conversation_id], is_finished=True) == []
    assert ids(service_id=[talk.service_id]) == [talk.conversation_id]
    assert talk.conversation_id in ids(is_finished=False)
    assert talk.conversation_id not in ids(is_finished=True)


def test_conversation_starters(client: AmigoClient, talk: Talk):
    facets = ["travel", "weather"]
    result = client.conversations.generate_conversation_starters(
        ConversationGenerateConversationStarterRequest(
            service_id=talk.service_id,
            facets=facets,
            min_count=2,
            max_count=4,
            generation_instructions="Suggest questions a tourist would ask.",
        )
    )
    prompts = result.prompts
    assert 2 <= len(prompts) <= 4, f"asked for 2 to 4 starters, got {len(prompts)}: {prompts}"
    for p in prompts:
        assert p.prompt.strip(), f"empty starter: {p}"
        assert set(p.facets) <= set(facets), (
            f"a starter's facets must be among the requested {facets}: {p.facets}"
        )


def test_modify_tags_then_filter(compadre: Compadre, client: AmigoClient, talk: Talk):
    """POST /v1/{org}/conversation/{id}/tags/ (no SDK method): through the SDK's
    HTTP client, then list conversations by tag."""
    cid = talk.conversation_id
    # Tag values must match ^[\w\s]+$ (no dashes).
    topic = unique("topic").replace("-", "_")

    def modify(body: dict) -> None:
        resp = client._http.request(
            "POST", f"/v1/{compadre.org}/conversation/{cid}/tags/", json=body
        )
        assert resp.status_code == 204, f"{resp.status_code}: {resp.text}"

    def tagged(*tags: str) -> list[str]:
        found = client.conversations.get_conversations(
            GetConversationsParametersQuery(tag=list(tags))
        )
        return [c.id for c in found.conversations]

    modify({"updates": {"topic": topic, "flagged": None}})
    assert get_conversation(client, cid).tags == {"topic": topic, "flagged": None}
    assert tagged(f"topic:{topic}") == [cid]
    assert cid in tagged("topic:*")
    assert cid in tagged("flagged:"), "an empty value matches a tag whose value is null"
    assert tagged(f"topic:{topic}_other") == []

    modify({"updates": {"topic": f"{topic}_2"}, "deletes": ["flagged"]})
    assert get_conversation(client, cid).tags == {"topic": f"{topic}_2"}
    assert tagged(f"topic:{topic}") == []
    assert cid not in tagged("flagged:*")


# --------------------------------------------------------------------------
# Finishing
# --------------------------------------------------------------------------


def test_finish_conversation(client: AmigoClient, blueprint: Blueprint, fake_openai: FakeOpenAI):
    service_id = blueprint.new_service(client)
    say(fake_openai, GREETING)
    created = start_conversation(client, service_id)
    check_agent_message(created)
    cid = created[0].conversation_id
    before = stored_messages(client, cid)

    assert client.conversations.finish_conversation(cid) is None  # 204
    assert get_conversation(client, cid).is_finished is True

    with pytest.raises(ConflictError) as info:
        client.conversations.finish_conversation(cid)
    assert info.value.status_code == 409

    with pytest.raises(ConflictError) as info:
        interact(client, cid, USER_1)
    assert info.value.status_code == 409
    assert stored_messages(client, cid) == before

    # Finished, it no longer blocks a new conversation with the service.
    say(fake_openai, GREETING)
    again = start_conversation(client, service_id)
    check_agent_message(again)
    assert again[0].conversation_id != cid


# --------------------------------------------------------------------------
# Failures and concurrency
# --------------------------------------------------------------------------


def test_model_failure_ends_stream_with_error_event_and_stores_nothing(
    client: AmigoClient, blueprint: Blueprint, fake_openai: FakeOpenAI
):
    service_id = blueprint.new_service(client)
    say(fake_openai, GREETING)
    created = start_conversation(client, service_id)
    check_agent_message(created)
    cid = created[0].conversation_id
    before = stored_messages(client, cid)

    # Every model request fails, retries included.
    fake_openai.script(*({"status": 500} for _ in range(10)))
    try:
        events = interact(client, cid, "This question meets a broken model.")
    except AmigoError as exc:
        pytest.fail(
            f"interact must answer 200 and report the model failure as an error event "
            f"in the stream; the SDK raised {type(exc).__name__}: {exc}"
        )
    shown = describe(events)
    assert events and isinstance(events[-1], ErrorEvent), (
        f"the stream must end with an error event:\n{shown}\nmodel requests:\n{model_calls(fake_openai)}"
    )
    assert 500 <= events[-1].http_error_code < 600, shown
    assert events[-1].error_description.strip(), shown
    assert not of_type(events, InteractionCompleteEvent), shown

    assert stored_messages(client, cid) == before, (
        "nothing of a failed interaction is stored (neither the user message nor a partial answer)"
    )
    conversation = get_conversation(client, cid)
    assert conversation.num_messages == len(before)
    assert conversation.is_finished is False

    # The model is back: the conversation goes on.
    fake_openai.reset()
    say(fake_openai, REPLY_1)
    events = interact(client, cid, USER_1)
    complete = check_agent_message(events)
    assert complete.full_message == REPLY_1
    assert [(t, text) for _, t, text in stored_messages(client, cid)] == [
        ("agent-message", GREETING),
        ("user-message", USER_1),
        ("agent-message", REPLY_1),
    ]


SLOW_REPLY = "One, two, three, four, five, six, seven, eight, nine, ten."


def test_concurrent_interaction_is_409(
    compadre: Compadre, client: AmigoClient, blueprint: Blueprint, fake_openai: FakeOpenAI
):
    service_id = blueprint.new_service(client)
    say(fake_openai, GREETING)
    created = start_conversation(client, service_id)
    check_agent_message(created)
    cid = created[0].conversation_id

    # The first interaction streams slowly (10 pieces, 0.3 s apart) in a thread.
    say(fake_openai, SLOW_REPLY, chunks=10, delay=0.3)
    with compadre.client() as other:
        other._http._ensure_token()  # signed in before the race starts
        slow = BackgroundInteraction(other, cid, "Count to ten, slowly.").start()
        try:
            try:
                second = interact(client, cid, "Are you there?")
            except ConflictError as exc:
                assert exc.status_code == 409
            else:
                pytest.fail(
                    "a second interact was accepted while another was streaming "
                    f"(first still streaming when it returned: {not slow.done.is_set()}):\n"
                    f"{describe(second)}"
                )

            with pytest.raises(ConflictError):
                client.conversations.finish_conversation(cid)
        finally:
            slow.join()

    complete = check_agent_message(slow.events)
    assert complete.full_message == SLOW_REPLY
    assert len(of_type(slow.events, NewMessageEvent)) >= 2, (
        f"a slowly generated message arrives in several pieces:\n{describe(slow.events)}"
    )

    assert [(t, text) for _, t, text in stored_messages(client, cid)] == [
        ("agent-message", GREETING),
        ("user-message", "Count to ten, slowly."),
        ("agent-message", SLOW_REPLY),
    ], "the rejected interaction stored nothing"

    # Once the stream is over the conversation takes messages again.
    say(fake_openai, REPLY_1)
    events = interact(client, cid, USER_1)
    assert check_agent_message(events).full_message == REPLY_1
