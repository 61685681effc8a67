"""External events sent with an interaction, through the official SDK.

An application reports what happened outside the conversation (the user
opened a page, a payment went through) with the next interact call:
`interact_with_conversation(..., external_event_message_content=[...],
external_event_message_timestamp=[...])`. The events keep the times the
application gives them (in the past, not before the conversation's last
message), are stored before the user's message in the order given, and belong
to the same interaction. Malformed event lists are 400 and store nothing.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from amigo_sdk import AmigoClient
from amigo_sdk.errors import BadRequestError
from amigo_sdk.generated.model import InteractWithConversationParametersQuery

from conftest import Compadre
from conversation_helpers import (
    TEXT,
    Blueprint,
    all_messages,
    check_agent_message,
    describe,
    get_conversation,
    interact,
    model_calls,
    start_conversation,
)
from fake_openai import FakeOpenAI

GREETING = "Hello! Tell me what happened."
QUESTION = "Did my payment go through?"
REPLY = "Yes, your payment of 20 dollars was received."
EVENTS = ["The user opened the billing page.", "Payment of 20 USD received."]


def say(fake: FakeOpenAI, text: str) -> None:
    fake.script({"when": "text", "text": text})


def interact_with_events(
    client: AmigoClient,
    conversation_id: str,
    text: str,
    contents: list[str],
    timestamps: list[datetime],
) -> list:
    """interact_with_conversation with external events, the whole stream."""
    stream = client.conversations.interact_with_conversation(
        conversation_id,
        InteractWithConversationParametersQuery(**TEXT),
        text_message=text,
        external_event_message_content=contents,
        external_event_message_timestamp=timestamps,
    )
    return [event.root for event in stream]


def rows(client: AmigoClient, conversation_id: str) -> list[tuple[str, str]]:
    messages, _ = all_messages(client, conversation_id, sort_by=["+created_at"])
    return [(m.message_type.value, m.message) for m in messages]


@pytest.fixture(scope="module")
def blueprint(compadre: Compadre) -> Blueprint:
    with compadre.client() as client:
        return Blueprint(client)


@pytest.fixture
def conversation(client: AmigoClient, blueprint: Blueprint, fake_openai: FakeOpenAI) -> str:
    """A conversation of its own (a service of its own), greeting only."""
    service_id = blueprint.new_service(client)
    say(fake_openai, GREETING)
    created = start_conversation(client, service_id)
    check_agent_message(created)
    return created[0].conversation_id


def greeting_time(client: AmigoClient, conversation_id: str) -> datetime:
    messages, _ = all_messages(client, conversation_id, sort_by=["+created_at"])
    assert [m.message for m in messages] == [GREETING]
    return messages[0].created_at


def test_external_events_are_stored_before_the_user_message_in_the_same_interaction(
    client: AmigoClient, conversation: str, fake_openai: FakeOpenAI
):
    greeted_at = greeting_time(client, conversation)
    # Two moments between the greeting and now, in order.
    stamps = [greeted_at + timedelta(milliseconds=100), greeted_at + timedelta(milliseconds=200)]
    wait = (stamps[-1] - datetime.now(timezone.utc)).total_seconds() + 0.1
    if wait > 0:
        time.sleep(wait)

    say(fake_openai, REPLY)
    events = interact_with_events(client, conversation, QUESTION, EVENTS, stamps)
    complete = check_agent_message(events)
    assert complete.full_message == REPLY

    messages, _ = all_messages(client, conversation, sort_by=["+created_at"])
    shown = "\n".join(
        f"  {m.created_at.isoformat()} {m.message_type.value:15} {m.interaction_id} {m.message!r}"
        for m in messages
    )
    assert [(m.message_type.value, m.message) for m in messages] == [
        ("agent-message", GREETING),
        ("external-event", EVENTS[0]),
        ("external-event", EVENTS[1]),
        ("user-message", QUESTION),
        ("agent-message", REPLY),
    ], f"the events must come, in the order sent, after the greeting and before the user's message:\n{shown}"

    greeting, first, second, question, reply = messages
    # Wire times have millisecond precision (the server currently truncates
    # rather than rounds: .341 may come back as .340), hence the 1 ms slack.
    for event, sent in ((first, stamps[0]), (second, stamps[1])):
        assert abs((event.created_at - sent).total_seconds()) <= 0.0011, (
            f"an external event keeps the time it happened ({sent.isoformat()}), "
            f"not the time it was received:\n{shown}"
        )
    assert {first.interaction_id, second.interaction_id, question.interaction_id, reply.interaction_id} == {
        complete.interaction_id
    }, f"the events, the question and the answer are one interaction ({complete.interaction_id}):\n{shown}"
    assert greeting.interaction_id != complete.interaction_id, shown
    assert get_conversation(client, conversation).num_messages == 5


def _past(client: AmigoClient, conversation: str) -> datetime:
    """A moment after the greeting and safely in the past."""
    greeted_at = greeting_time(client, conversation)
    moment = greeted_at + timedelta(milliseconds=50)
    wait = (moment - datetime.now(timezone.utc)).total_seconds() + 0.1
    if wait > 0:
        time.sleep(wait)
    return moment


REJECTED = {
    "more contents than timestamps": lambda past: (EVENTS, [past]),
    "more timestamps than contents": lambda past: (EVENTS[:1], [past, past]),
    "a timestamp in the future": lambda past: (EVENTS[:1], [datetime.now(timezone.utc) + timedelta(hours=1)]),
    "a timestamp before the conversation's last message": lambda past: (
        EVENTS[:1],
        [past - timedelta(minutes=5)],
    ),
}


@pytest.mark.parametrize("case", list(REJECTED))
def test_malformed_external_events_are_400_and_store_nothing(
    client: AmigoClient, conversation: str, fake_openai: FakeOpenAI, case: str
):
    contents, stamps = REJECTED[case](_past(client, conversation))
    fake_openai.reset()
    say(fake_openai, REPLY)
    try:
        events = interact_with_events(client, conversation, QUESTION, contents, stamps)
    except BadRequestError as exc:
        assert exc.status_code == 400
    else:
        pytest.fail(f"an interact with {case} was accepted:\n{describe(events)}")

    assert rows(client, conversation) == [("agent-message", GREETING)], (
        f"an interact rejected for {case} stores nothing: no event, no user message"
    )
    assert not fake_openai.requests, (
        f"a rejected interact must not reach the model:\n{model_calls(fake_openai)}"
    )

    # The conversation is unharmed: the same message goes through without the bad events.
    events = interact(client, conversation, QUESTION)
    assert check_agent_message(events).full_message == REPLY
    assert rows(client, conversation) == [
        ("agent-message", GREETING),
        ("user-message", QUESTION),
        ("agent-message", REPLY),
    ]


def test_an_event_stamped_a_moment_ahead_of_the_server_is_stored_at_its_receipt_time(
    client: AmigoClient, conversation: str, fake_openai: FakeOpenAI
):
    """A client whose clock runs 2 s ahead: its event is accepted, stored when the server received it,
    before the user's message; 10 s of difference are allowed by default."""
    greeting_time(client, conversation)
    ahead = datetime.now(timezone.utc) + timedelta(seconds=2)
    say(fake_openai, REPLY)
    events = interact_with_events(client, conversation, QUESTION, EVENTS[:1], [ahead])
    assert check_agent_message(events).full_message == REPLY
    messages, _ = all_messages(client, conversation, sort_by=["+created_at"])
    assert [(m.message_type.value, m.message) for m in messages] == [
        ("agent-message", GREETING),
        ("external-event", EVENTS[0]),
        ("user-message", QUESTION),
        ("agent-message", REPLY),
    ]
    event, question = messages[1], messages[2]
    assert event.created_at <= question.created_at < ahead, (
        f"the event is stored at the server's receipt time: {event.created_at} (sent as {ahead})"
    )
