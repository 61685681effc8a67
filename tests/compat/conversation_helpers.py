"""Shared steps of the conversation tests: the service under test, streaming
calls through the SDK, and readable descriptions of event streams for
assertion messages."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import pytest
from pydantic import RootModel

from amigo_sdk import AmigoClient
from amigo_sdk.generated.model import (
    ConversationCreateConversationRequest,
    ConversationCreatedEvent,
    CreateConversationParametersQuery,
    CurrentAgentActionEvent,
    ErrorEvent,
    GetConversationMessagesParametersQuery,
    GetConversationsParametersQuery,
    InteractionCompleteEvent,
    InteractWithConversationParametersQuery,
    MessageInstance,
    NewMessageEvent,
    OrganizationCreateServiceHierarchicalStateMachineRequest,
    OrganizationCreateServiceHierarchicalStateMachineVersionRequest,
    UserMessageAvailableEvent,
)

from fake_openai import FakeOpenAI, request_schema

# Agents and services are made exactly as the management tests make them.
from test_sdk_management import OBJECT_ID, create_agent_with_version, create_service, unique  # noqa: F401

# --------------------------------------------------------------------------
# The context graph: one action state the conversation stays in, and the
# terminal state.
# --------------------------------------------------------------------------

INITIAL_STATE = "start"
INITIAL_OBJECTIVE = "Help the user with whatever they ask."
TERMINAL_STATE = "goodbye"


def conversation_graph() -> dict:
    def action_state(name: str, objective: str, actions: list[str], exits: list[dict]) -> dict:
        return {
            "type": "action",
            "name": name,
            "objective": objective,
            "actions": actions,
            "intra_state_navigation_guidelines": [],
            "action_guidelines": ["Answer in one or two sentences."],
            "boundary_constraints": [],
            "exit_conditions": exits,
            "action_tool_call_specs": [],
            "exit_condition_tool_call_specs": [],
            "skip_active_memory_retrieval": True,
        }

    return {
        "description": "Conversation graph of the compatibility tests.",
        "states": [
            action_state(
                INITIAL_STATE,
                INITIAL_OBJECTIVE,
                ["Greet the user, then answer their questions."],
                [
                    {
                        "description": "The user explicitly says they want to end the conversation.",
                        "next_state": TERMINAL_STATE,
                    }
                ],
            ),
            action_state(TERMINAL_STATE, "Close the conversation.", ["Say goodbye."], []),
        ],
        "new_user_initial_state": INITIAL_STATE,
        "returning_user_initial_state": INITIAL_STATE,
        "terminal_state": TERMINAL_STATE,
        "references": {},
        "global_intra_state_navigation_guidelines": [],
        "global_action_guidelines": [],
        "global_boundary_constraints": [],
    }


def create_conversation_graph(client: AmigoClient) -> str:
    created = client.context_graphs.create_context_graph(
        OrganizationCreateServiceHierarchicalStateMachineRequest(
            state_machine_name=unique("compat-conversation-graph")
        )
    )
    version = client.context_graphs.create_context_graph_version(
        created.id,
        OrganizationCreateServiceHierarchicalStateMachineVersionRequest.model_validate(
            conversation_graph()
        ),
    )
    assert version.version == 1
    return created.id


class Blueprint:
    """An agent and a context graph; `new_service()` makes a service of them.

    A user may have only one unfinished conversation per service, so every
    scenario that needs its own conversation takes a service of its own.
    """

    def __init__(self, client: AmigoClient) -> None:
        self.agent_id = create_agent_with_version(client)
        self.graph_id = create_conversation_graph(client)

    def new_service(self, client: AmigoClient) -> str:
        return create_service(client, self.agent_id, self.graph_id)


# --------------------------------------------------------------------------
# Streaming calls through the SDK
# --------------------------------------------------------------------------

TEXT = dict(request_format="text", response_format="text")


def start_conversation(
    client: AmigoClient, service_id: str, current_agent_action_type: str | None = None
) -> list[Any]:
    """create_conversation (text), the whole stream, as concrete event models."""
    params: dict[str, Any] = {"response_format": "text"}
    if current_agent_action_type is not None:
        params["current_agent_action_type"] = current_agent_action_type
    stream = client.conversations.create_conversation(
        ConversationCreateConversationRequest(service_id=service_id),
        CreateConversationParametersQuery(**params),
    )
    return [event.root for event in stream]


def interact(
    client: AmigoClient,
    conversation_id: str,
    text: str,
    current_agent_action_type: str | None = None,
) -> list[Any]:
    """interact_with_conversation with a text message, the whole stream."""
    params: dict[str, Any] = dict(TEXT)
    if current_agent_action_type is not None:
        params["current_agent_action_type"] = current_agent_action_type
    stream = client.conversations.interact_with_conversation(
        conversation_id,
        InteractWithConversationParametersQuery(**params),
        text_message=text,
    )
    return [event.root for event in stream]


def iter_interact(client: AmigoClient, conversation_id: str, text: str) -> Iterator[Any]:
    """interact_with_conversation, lazily: events as they arrive."""
    for event in client.conversations.interact_with_conversation(
        conversation_id, InteractWithConversationParametersQuery(**TEXT), text_message=text
    ):
        yield event.root


# --------------------------------------------------------------------------
# Reading event streams
# --------------------------------------------------------------------------


def action_type(event: CurrentAgentActionEvent) -> str:
    """The `type` of the agent action inside a current-agent-action event."""
    node: Any = event.action
    while isinstance(node, RootModel):
        node = node.root
    return node.type


def describe(events: Iterable[Any]) -> str:
    """One line per event, for assertion messages."""
    lines = []
    for i, e in enumerate(events):
        if isinstance(e, CurrentAgentActionEvent):
            lines.append(f"  {i:2}: current-agent-action {action_type(e)}")
        elif isinstance(e, NewMessageEvent):
            lines.append(
                f"  {i:2}: new-message #{e.sequence_number} stop={e.stop} {e.message!r} ({e.message_id})"
            )
        elif isinstance(e, ErrorEvent):
            lines.append(f"  {i:2}: error {e.http_error_code} {e.error_description!r}")
        elif isinstance(e, InteractionCompleteEvent):
            lines.append(
                f"  {i:2}: interaction-complete {e.interaction_id} message {e.message_id} "
                f"completed={e.conversation_completed} {e.full_message!r}"
            )
        elif isinstance(e, UserMessageAvailableEvent):
            lines.append(f"  {i:2}: user-message-available {e.message_id} {e.user_message!r}")
        elif isinstance(e, ConversationCreatedEvent):
            lines.append(f"  {i:2}: conversation-created {e.conversation_id}")
        else:
            lines.append(f"  {i:2}: {getattr(e, 'type', type(e).__name__)}")
    return "\n".join(lines) or "  (no events)"


def of_type(events: Iterable[Any], cls: type) -> list[Any]:
    return [e for e in events if isinstance(e, cls)]


def check_agent_message(events: list[Any]) -> InteractionCompleteEvent:
    """The invariants of an agent message in any stream; returns its
    interaction-complete event.

    - the stream ends with exactly one interaction-complete (no error event);
    - at least one new-message piece, all with the interaction's message_id,
      with strictly increasing sequence numbers, no piece after one marked
      `stop`, text pieces (no transcript alignment);
    - the pieces put together are the full message.
    """
    shown = describe(events)
    errors = of_type(events, ErrorEvent)
    assert not errors, f"the stream carried an error event:\n{shown}"
    assert events and isinstance(events[-1], InteractionCompleteEvent), (
        f"the last event must be interaction-complete:\n{shown}"
    )
    assert len(of_type(events, InteractionCompleteEvent)) == 1, (
        f"exactly one interaction-complete per stream:\n{shown}"
    )
    complete: InteractionCompleteEvent = events[-1]
    assert OBJECT_ID.match(complete.interaction_id), complete.interaction_id
    assert OBJECT_ID.match(complete.message_id), complete.message_id

    pieces = of_type(events, NewMessageEvent)
    assert pieces, f"no new-message event before interaction-complete:\n{shown}"
    assert {p.message_id for p in pieces} == {complete.message_id}, (
        f"every new-message piece carries the agent message id of interaction-complete:\n{shown}"
    )
    numbers = [p.sequence_number for p in pieces]
    assert all(a < b for a, b in zip(numbers, numbers[1:])), (
        f"sequence numbers must increase: {numbers}\n{shown}"
    )
    assert all(not p.stop for p in pieces[:-1]), f"a piece follows one marked stop:\n{shown}"
    assert all(p.transcript_alignment is None for p in pieces), (
        f"text pieces have no transcript alignment:\n{shown}"
    )
    assert "".join(p.message for p in pieces) == complete.full_message, (
        f"the new-message pieces put together must be the full message:\n{shown}"
    )
    return complete


# --------------------------------------------------------------------------
# Reading stored state
# --------------------------------------------------------------------------


def all_messages(
    client: AmigoClient, conversation_id: str, page_size: int = 500, **query: Any
) -> tuple[list[MessageInstance], list[int]]:
    """Every message of a conversation, following continuation tokens.

    Returns the messages and the size of every page."""
    messages: list[MessageInstance] = []
    sizes: list[int] = []
    token: int | None = None
    for _ in range(100):
        page = client.conversations.get_conversation_messages(
            conversation_id,
            GetConversationMessagesParametersQuery(
                limit=page_size, continuation_token=token, **query
            ),
        )
        assert len(page.messages) <= page_size, (
            f"limit={page_size} but the page has {len(page.messages)} messages"
        )
        messages += page.messages
        sizes.append(len(page.messages))
        if not page.has_more:
            return messages, sizes
        assert page.continuation_token is not None, "has_more=true without a continuation_token"
        assert page.continuation_token != token, (
            f"has_more=true but the continuation_token did not move ({token})"
        )
        token = page.continuation_token
    raise AssertionError("more than 100 pages: the continuation tokens never end")


def stored_messages(client: AmigoClient, conversation_id: str) -> list[tuple[str, str, str]]:
    """(id, message_type, text) of every stored message, oldest first."""
    messages, _ = all_messages(client, conversation_id, sort_by=["+created_at"])
    return [(m.id, m.message_type.value, m.message) for m in messages]


def get_conversation(client: AmigoClient, conversation_id: str):
    found = client.conversations.get_conversations(
        GetConversationsParametersQuery(id=[conversation_id])
    )
    assert [c.id for c in found.conversations] == [conversation_id], (
        f"GET /conversation/?id={conversation_id} returned "
        f"{[c.id for c in found.conversations]}"
    )
    return found.conversations[0]


# --------------------------------------------------------------------------
# Raw HTTP
# --------------------------------------------------------------------------


def raw_interact_lines(
    base_url: str, org: str, token: str, conversation_id: str, text: str, timeout: float = 120.0
) -> Iterator[dict]:
    """POST …/interact without the SDK; yields each NDJSON line, parsed."""
    with httpx.stream(
        "POST",
        f"{base_url}/v1/{org}/conversation/{conversation_id}/interact",
        params=TEXT,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/x-ndjson"},
        files=[
            ("initial_message_type", (None, "user-message")),
            ("recorded_message", ("message.txt", text.encode(), "text/plain; charset=utf-8")),
        ],
        timeout=httpx.Timeout(timeout, connect=10.0),
    ) as resp:
        if resp.status_code != 200:
            resp.read()
            raise AssertionError(f"interact -> HTTP {resp.status_code}: {resp.text}")
        for line in resp.iter_lines():
            if line.strip():
                yield json.loads(line)


# --------------------------------------------------------------------------
# The fake model
# --------------------------------------------------------------------------


def model_calls(fake: FakeOpenAI) -> str:
    """The model requests the fake received, one line each, for assertion messages."""
    lines = []
    for i, body in enumerate(fake.requests):
        structured, _ = request_schema(body)
        fmt = body.get("response_format") or {}
        name = (fmt.get("json_schema") or {}).get("name") if structured else None
        kind = f"structured ({fmt.get('type')}{', ' + name if name else ''})" if structured else "text"
        lines.append(f"  {i:2}: {kind}, stream={bool(body.get('stream'))}")
    return "\n".join(lines) or "  (no model request)"


def assert_script_consumed(fake: FakeOpenAI, during: str) -> None:
    """The scripted replies were all used: the engine asked the model for them."""
    left = fake.pending()
    assert left == 0, (
        f"{left} scripted model repl{'y' if left == 1 else 'ies'} unused after {during}: "
        "the agent message is expected to come from a plain-text (no response_format) "
        f"chat completion. Model requests seen:\n{model_calls(fake)}"
    )


class BackgroundInteraction:
    """An interaction streamed in a thread, so a test can act while the agent is still answering.

    `start()` returns once the first `new-message` piece arrived (or fails the test after 60 s);
    `join()` waits for the stream to end and fails the test if it raised.
    """

    def __init__(self, client: AmigoClient, conversation_id: str, text: str) -> None:
        self.client = client
        self.conversation_id = conversation_id
        self.text = text
        self.events: list = []
        self.failure: list[BaseException] = []
        self.speaking = threading.Event()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            for event in iter_interact(self.client, self.conversation_id, self.text):
                self.events.append(event)
                if isinstance(event, NewMessageEvent):
                    self.speaking.set()
        except BaseException as exc:  # reported by the main thread
            self.failure.append(exc)
        finally:
            self.done.set()

    def start(self, context: str = "") -> "BackgroundInteraction":
        self.thread.start()
        if not self.speaking.wait(timeout=60):
            pytest.fail(
                f"the slow interaction never streamed a new-message "
                f"(failure: {self.failure!r}):\n{describe(self.events)}\n{context}"
            )
        return self

    def join(self) -> None:
        self.thread.join(timeout=120)
        assert not self.thread.is_alive(), "the slow interaction did not end"
        assert not self.failure, f"the slow interaction failed: {self.failure[0]!r}\n{describe(self.events)}"
