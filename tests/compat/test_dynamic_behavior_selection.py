"""Dynamic behaviors selected in conversations.

Every interaction (REST `interact` and the realtime socket) selects a dynamic behavior: the server
embeds what just happened (the user message and the interaction's external events, the agent's latest
inner thoughts, its last reply), retrieves the active sets applied to the conversation's service whose
latest version's `conversation_triggers` are close (cosine >= 0.25, top 5), and asks the model to
choose one of them or "none of these" (a structured request, schema `select_dynamic_behavior`: a
Choice whose `choice` enum is 1..N+1, the last being "none"). With no candidate retrieved the model is
not asked. The selected behavior's instruction reaches the navigation and reply prompts; the
selection is reported by `select-dynamic-behavior-*` events, by `dynamic-behavior-triggered` (on
REST only to a filter other than the SDK's default `^.*$`: amigo-sdk 2.5.0 cannot parse it), by the
interaction's insights and by one invocation record per selection.

The embedder is the suite's fake (`fake_openai.word_vector`: content words hashed into buckets, so
texts sharing words are close, others orthogonal). Triggers, user messages and scripted replies are
worded so that exactly the intended sets are close; the greeting and replies share no word with any
trigger. The model's structured answers are scripted per interaction (selection first, then
select-next-action, then the reply), so every test is deterministic.

The official SDK (amigo-sdk 2.5.0) drives conversations; dynamic behavior sets, their invocations and
streams with a non-default filter are raw HTTP, parsed with the SDK's models. Every test acts as users
of its own (the server runs with its default per-user rate limits) on services of its own, so the
tests do not depend on each other or on their order.

Found here and fixed: an interaction opened by an external event (`initial_message_type=external-event`)
with further external events recorded the first of those as the invocation's initial message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pydantic
import pytest

from amigo_sdk import AmigoClient
from amigo_sdk.generated.model import (
    ConversationInteractWithConversationResponse,
    CurrentAgentActionEvent,
    DynamicBehaviorSetGetDynamicBehaviorInvocationsResponse,
    EngageUserDynamicBehaviorOverrideEvent,
    InteractWithConversationParametersQuery,
    NavigateStateMachineDynamicBehaviorOverrideEvent,
    NewMessageEvent,
    SelectDynamicBehaviorCompletedEvent,
    TriggeredDynamicBehaviorSetVersionInfo,
    UserMessageAvailableEvent,
)
from pydantic import RootModel

from conftest import Compadre, _start_compadre
from conversation_helpers import (
    TEXT,
    Blueprint,
    action_type,
    all_messages,
    check_agent_message,
    describe,
    interact,
    model_calls,
    start_conversation,
)
from fake_openai import FakeOpenAI, request_schema, word_vector
from test_dynamic_behaviors import BehaviorAPI, instruction, parse, set_body, version, word
from test_scale_out import Socket
from tool_helpers import ok

GREETING = "Welcome! Tell me what brings you here."
STATE_ACTION = "Greet the user, then answer their questions."  # the graph's one action (conversation_helpers)
STATE_GUIDELINE = "Answer in one or two sentences."
SELECTION = "select_dynamic_behavior"
NEXT_ACTION = "select_next_action"
SELECT_EVENTS = [
    "select-dynamic-behavior-vector-generated",
    "select-dynamic-behavior-relevance-retrieval-completed",
    "select-dynamic-behavior-completed",
]


# --------------------------------------------------------------------------
# Users of a test's own
# --------------------------------------------------------------------------


@dataclass
class Actor:
    """A user invited for one test: an SDK client, a bearer token and the behavior API, all theirs."""

    compadre: Compadre
    user_id: str
    token: str
    client: AmigoClient
    api: BehaviorAPI

    def close(self) -> None:
        self.client.close()
        self.api.close()


def new_actor(compadre: Compadre, role: str = "DefaultAdministratorRole") -> Actor:
    user_id = compadre.invite_user(role)
    token = compadre.access_token(user_id)
    client = compadre.client(user_id=user_id)
    return Actor(compadre, user_id, token, client, BehaviorAPI(compadre, user_id, token))


@pytest.fixture(scope="module")
def blueprint(compadre: Compadre) -> Blueprint:
    with compadre.client() as admin:
        return Blueprint(admin)


@pytest.fixture
def actor(compadre: Compadre):
    """An administrator of the test's own (its own per-user rate-limit budget)."""
    someone = new_actor(compadre)
    yield someone
    someone.close()


def new_set(actor: Actor, services: list[str], triggers: list[str], text: str, *, overrides: bool = False,
            active: bool = True) -> str:
    """An active (unless told) set on `services` whose one action injects `text`."""
    return actor.api.created(set_body(f"Behavior {word()}", services, active=active, triggers=triggers,
                                      actions=[instruction(text, overrides)]))


# --------------------------------------------------------------------------
# The fake model
# --------------------------------------------------------------------------


def choose(fake: FakeOpenAI, option: int, reason: str = "Scripted by the test.") -> None:
    """The next structured answer: option `option` (1-based) of a numbered-options question."""
    fake.script({"when": "json", "json": {"reason": reason, "choice": option}})


def say(fake: FakeOpenAI, text: str) -> None:
    fake.script({"when": "text", "text": text, "chunks": 3})


def script_turn(fake: FakeOpenAI, reply: str, selection: int | None = None) -> None:
    """One interaction's model answers, in the order the engine asks: the behavior selection (when
    a candidate is retrieved), select-next-action (1: the state's action), the reply."""
    if selection is not None:
        choose(fake, selection)
    choose(fake, 1)
    say(fake, reply)


def kinds(fake: FakeOpenAI) -> list[str]:
    """Each model request: the JSON schema's name of a structured one, else "text"."""
    out = []
    for body in fake.requests:
        structured, _ = request_schema(body)
        fmt = body.get("response_format") or {}
        out.append(((fmt.get("json_schema") or {}).get("name") or "structured") if structured else "text")
    return out


def requests_named(fake: FakeOpenAI, name: str) -> list[dict]:
    return [body for body, kind in zip(fake.requests, kinds(fake)) if kind == name]


def prompt_text(body: dict) -> str:
    return "\n".join(str(m.get("content") or "") for m in body.get("messages", []))


def system_prompt(body: dict) -> str:
    return "\n".join(str(m.get("content") or "") for m in body.get("messages", []) if m.get("role") == "system")


def reply_prompt(fake: FakeOpenAI) -> str:
    """The system prompt of the interaction's reply (its one plain-text request)."""
    texts = [body for body, kind in zip(fake.requests, kinds(fake)) if kind == "text"]
    assert len(texts) == 1, f"one reply request per interaction:\n{model_calls(fake)}"
    return system_prompt(texts[0])


def selection_options(body: dict) -> list[int]:
    _, schema = request_schema(body)
    return [int(v) for v in schema["properties"]["choice"]["enum"]]


def consumed(fake: FakeOpenAI, during: str) -> None:
    assert fake.pending() == 0, (
        f"{fake.pending()} scripted model answers unused after {during}; requests:\n{model_calls(fake)}"
    )


# --------------------------------------------------------------------------
# Conversations
# --------------------------------------------------------------------------


def greet(actor: Actor, fake: FakeOpenAI, service_id: str) -> str:
    """A new conversation of `actor` on `service_id`, greeting only; its id."""
    say(fake, GREETING)
    created = start_conversation(actor.client, service_id)
    assert check_agent_message(created).full_message == GREETING
    consumed(fake, "the greeting")
    return created[0].conversation_id


def turn(actor: Actor, fake: FakeOpenAI, conversation_id: str, text: str, reply: str,
         selection: int | None = None) -> list[Any]:
    """One SDK interaction (default parameters: the SDK sends `^.*$`), with a fresh model history."""
    fake.reset()
    script_turn(fake, reply, selection)
    events = interact(actor.client, conversation_id, text)
    assert check_agent_message(events).full_message == reply, describe(events)
    consumed(fake, f"the interaction {text!r}")
    return events


def unwrap(node: Any) -> Any:
    """The concrete model inside the SDK's (nested) RootModel unions."""
    while isinstance(node, RootModel):
        node = node.root
    return node


def action_of(event: CurrentAgentActionEvent) -> Any:
    return unwrap(event.action)


def actions(events: Iterable[Any]) -> list[Any]:
    return [action_of(e) for e in events if isinstance(e, CurrentAgentActionEvent)]


def action_types(events: Iterable[Any]) -> list[str]:
    return [action_type(e) for e in events if isinstance(e, CurrentAgentActionEvent)]


def selection_event(events: list[Any]) -> SelectDynamicBehaviorCompletedEvent:
    found = [a for a in actions(events) if isinstance(a, SelectDynamicBehaviorCompletedEvent)]
    assert len(found) == 1, f"one select-dynamic-behavior-completed per interaction:\n{describe(events)}"
    return found[0]


def info(value: Any) -> tuple[str, int] | None:
    """A version info as the SDK models hold it ([id, version] RootModel, tuple or None) as a tuple."""
    if value is None:
        return None
    if isinstance(value, RootModel):
        value = value.root
    set_id, number = value
    return (set_id, number)


def selected(events: list[Any]) -> tuple[tuple[str, int] | None, tuple[str, int] | None]:
    """(selected, previous) of the interaction's select-dynamic-behavior-completed."""
    event = selection_event(events)
    return info(event.selected_dynamic_behavior_set_version_info), info(
        event.previous_selected_dynamic_behavior_set_version_info)


def check_selection_events(events: list[Any]) -> None:
    """The three select events come once each, in order, before the agent navigates or speaks."""
    types = action_types(events)
    shown = describe(events)
    assert [t for t in types if t.startswith("select-dynamic-behavior")] == SELECT_EVENTS, shown
    first_other = next(i for i, t in enumerate(types) if not t.startswith("select-dynamic-behavior"))
    assert types.index(SELECT_EVENTS[-1]) < first_other, f"the selection comes first:\n{shown}"


def check_no_behavior(events: list[Any]) -> None:
    types = action_types(events)
    assert not [t for t in types if "dynamic-behavior-override" in t or t == "dynamic-behavior-triggered"], (
        f"no behavior was selected, yet:\n{describe(events)}")


def raw_interact(actor: Actor, conversation_id: str, text: str, action_filter: str) -> list[dict]:
    """POST …/interact without the SDK, with `current_agent_action_type`; every NDJSON line, parsed."""
    params = {**TEXT, "current_agent_action_type": action_filter}
    with httpx.stream(
        "POST",
        f"{actor.compadre.server.base_url}/v1/{actor.compadre.org}/conversation/{conversation_id}/interact",
        params=params,
        headers={"Authorization": f"Bearer {actor.token}", "Accept": "application/x-ndjson"},
        files=[
            ("initial_message_type", (None, "user-message")),
            ("recorded_message", ("message.txt", text.encode(), "text/plain; charset=utf-8")),
        ],
        timeout=httpx.Timeout(60.0, connect=10.0),
    ) as resp:
        if resp.status_code != 200:
            resp.read()
            raise AssertionError(f"interact -> HTTP {resp.status_code}: {resp.text}")
        return [json.loads(line) for line in resp.iter_lines() if line.strip()]


def invocations(actor: Actor, set_id: str, **params: Any) -> DynamicBehaviorSetGetDynamicBehaviorInvocationsResponse:
    return parse(DynamicBehaviorSetGetDynamicBehaviorInvocationsResponse, ok(actor.api.invocations(set_id, **params)))


def interaction_messages(actor: Actor, conversation_id: str, interaction_id: str, kind: str) -> list[str]:
    """Ids of the interaction's stored messages of type `kind`, oldest first."""
    messages, _ = all_messages(actor.client, conversation_id, sort_by=["+created_at"],
                               message_type=[kind], interaction_id=[interaction_id])
    return [m.id for m in messages]


# --------------------------------------------------------------------------
# 1. The SDK with its defaults
# --------------------------------------------------------------------------


def test_a_selected_behavior_reaches_the_prompts_and_the_sdk_parses_every_event(
    actor: Actor, blueprint: Blueprint, fake_openai: FakeOpenAI
):
    service_id = blueprint.new_service(actor.client)
    trigger = "The user has a persistent cough."
    advice = "Suggest warm honey tea and ask how long it has lasted."
    set_id = new_set(actor, [service_id], [trigger], advice)  # merges with the state's instructions
    conversation_id = greet(actor, fake_openai, service_id)

    said = "My cough keeps me awake at night."
    # interact_with_conversation with its defaults: the SDK sends current_agent_action_type=^.*$ and
    # parses every event with its models (an event it cannot parse raises here).
    events = turn(actor, fake_openai, conversation_id, said, "Warm tea helps; how long has it lasted?", selection=1)
    shown = describe(events)

    # The model was asked to choose, among the one retrieved set and "none", before anything else.
    assert kinds(fake_openai) == [SELECTION, NEXT_ACTION, "text"], model_calls(fake_openai)
    [ask] = requests_named(fake_openai, SELECTION)
    assert selection_options(ask) == [1, 2], ask["response_format"]
    assert trigger in prompt_text(ask), prompt_text(ask)
    assert said in prompt_text(ask), "the selection prompt shows the conversation"
    # What was embedded: what just happened (the user's message, the agent's last reply).
    assert fake_openai.embedding_requests, "the interaction embedded nothing"
    embedded = [t for texts in fake_openai.embedding_requests for t in texts]
    assert said in embedded and GREETING in embedded, fake_openai.embedding_requests

    check_selection_events(events)
    assert selected(events) == ((set_id, 1), None), shown
    types = action_types(events)
    assert "dynamic-behavior-triggered" not in types, (
        f"the SDK's default filter ^.*$ must not receive dynamic-behavior-triggered (it cannot parse it):\n{shown}")
    # The overrides: in the action state's navigation, then before the reply.
    navigate = [a for a in actions(events) if isinstance(a, NavigateStateMachineDynamicBehaviorOverrideEvent)]
    engage = [a for a in actions(events) if isinstance(a, EngageUserDynamicBehaviorOverrideEvent)]
    assert len(navigate) == 1 and len(engage) == 1, shown
    for override in navigate + engage:
        assert (override.overriding_instructions, override.overriding_tool_candidates) == (True, False), override
    first_piece = next(i for i, e in enumerate(events) if isinstance(e, NewMessageEvent))
    assert types.index(SELECT_EVENTS[-1]) < types.index("navigate-state-machine-dynamic-behavior-override") < (
        types.index("navigate-state-machine-action-state-action-selected")), shown
    engage_at = next(i for i, e in enumerate(events) if isinstance(e, CurrentAgentActionEvent)
                     and action_type(e) == "engage-user-dynamic-behavior-override")
    assert engage_at < first_piece, f"engage-user-dynamic-behavior-override comes before the reply:\n{shown}"

    # The instruction joins the state's guidelines, in navigation and in the reply; the action stays.
    [navigation] = requests_named(fake_openai, NEXT_ACTION)
    assert advice in system_prompt(navigation), system_prompt(navigation)
    reply = reply_prompt(fake_openai)
    assert advice in reply and STATE_ACTION in reply and STATE_GUIDELINE in reply, reply


# --------------------------------------------------------------------------
# 2. Raw HTTP asking for dynamic-behavior-triggered
# --------------------------------------------------------------------------


def test_a_filter_naming_it_receives_dynamic_behavior_triggered_for_the_latest_version(
    actor: Actor, blueprint: Blueprint, fake_openai: FakeOpenAI
):
    service_id = blueprint.new_service(actor.client)
    old_advice = "Talk about the weather."
    set_id = new_set(actor, [service_id], ["The user mentions sunshine."], old_advice)
    # Version 2 is the latest: its triggers are the ones compared, its instruction the one applied
    # (replacing the state's action).
    new_trigger = "The user asks about a lost suitcase."
    new_advice = "Explain how to file a baggage claim at the airline desk."
    assert actor.api.versioned(set_id, version([new_trigger], [instruction(new_advice, overrides=True)])) == 2
    conversation_id = greet(actor, fake_openai, service_id)

    fake_openai.reset()
    reply = "Go to the airline desk with your ticket."
    script_turn(fake_openai, reply, selection=1)
    lines = raw_interact(actor, conversation_id, "The airline lost my suitcase.", "^dynamic-behavior-triggered$")
    consumed(fake_openai, "the raw interaction")
    shown = "\n".join(json.dumps(line)[:200] for line in lines)

    agent_actions = [line["action"] for line in lines if line.get("type") == "current-agent-action"]
    assert agent_actions == [
        {"type": "dynamic-behavior-triggered", "dynamic_behavior_set_version_info": [set_id, 2]}
    ], f"exactly the triggered event, naming version 2:\n{shown}"
    # amigo-sdk 2.5.0 cannot parse that action (why the default filter never carries it) ...
    with pytest.raises(pydantic.ValidationError):
        ConversationInteractWithConversationResponse.model_validate(
            next(line for line in lines if line.get("type") == "current-agent-action"))
    triggered = TriggeredDynamicBehaviorSetVersionInfo.model_validate(agent_actions[0]["dynamic_behavior_set_version_info"])
    assert info(triggered) == (set_id, 2)
    # ... and every other line is one it parses.
    others = [unwrap(ConversationInteractWithConversationResponse.model_validate(line))
              for line in lines if line.get("type") != "current-agent-action"]
    assert isinstance(others[0], UserMessageAvailableEvent), shown
    assert check_agent_message(others).full_message == reply

    [ask] = requests_named(fake_openai, SELECTION)
    assert new_trigger in prompt_text(ask) and "sunshine" not in prompt_text(ask), prompt_text(ask)
    prompt = reply_prompt(fake_openai)
    assert new_advice in prompt, prompt
    assert STATE_ACTION not in prompt, f"an overriding instruction replaces the state's action:\n{prompt}"
    assert old_advice not in prompt, prompt


# --------------------------------------------------------------------------
# 3. Insights and invocation records
# --------------------------------------------------------------------------


def own_conversations_role(actor: Actor) -> str:
    """A role that may read dynamic behavior sets and converse as itself (the conversation permissions
    of DefaultUserRole plus DynamicBehaviorInstruction:Get); its name."""
    name = f"BehaviorReader{word()}"
    own = {"user_id": {"type": "Equals", "value": "{self_user_id}"}}
    grants = [{"permission_name": f"Conversation:{p}", "conditions": own} for p in (
        "CreateConversation", "GetConversation", "GetMessage", "InteractWithConversation",
        "FinishConversation", "GetInteractionInsights")]
    grants += [{"permission_name": p, "conditions": {}} for p in (
        "Service:GetService", "DynamicBehaviorInstruction:GetDynamicBehaviorInstruction")]
    ok(actor.api.http.post(f"{actor.compadre.server.base_url}/v1/{actor.compadre.org}/role/", json={
        "role_name": name, "description": "Reads dynamic behavior sets; converses as itself.",
        "frontend_view": "client", "permission_grants": grants}), 201)
    return name


def test_insights_and_one_invocation_record_per_selection_visible_to_whom_it_may_concern(
    compadre: Compadre, actor: Actor, blueprint: Blueprint, fake_openai: FakeOpenAI
):
    service_id = blueprint.new_service(actor.client)
    set_id = new_set(actor, [service_id], ["The user lost a wallet."], "Suggest calling the bank first.")
    plain = new_actor(compadre, "DefaultUserRole")
    reader = new_actor(compadre, own_conversations_role(actor))
    try:
        started = datetime.now(timezone.utc)
        triggered: dict[str, tuple[str, list[Any]]] = {}  # user id -> (conversation id, interaction events)
        for who in (actor, plain, reader):
            conversation_id = greet(who, fake_openai, service_id)
            events = turn(who, fake_openai, conversation_id, "I think I lost my wallet.",
                          "Call your bank and block the cards.", selection=1)
            assert selected(events) == ((set_id, 1), None), describe(events)
            triggered[who.user_id] = (conversation_id, events)
        finished = datetime.now(timezone.utc)

        # Insights: the selecting interaction names the set; the greeting selected nothing.
        conversation_id, events = triggered[actor.user_id]
        insights = actor.client.conversations.get_interaction_insights(conversation_id, events[-1].interaction_id)
        assert info(insights.triggered_dynamic_behavior_set_version_info) == (set_id, 1), insights
        messages, _ = all_messages(actor.client, conversation_id, sort_by=["+created_at"])
        greeting = messages[0]
        assert greeting.message == GREETING, [m.message for m in messages]
        before = actor.client.conversations.get_interaction_insights(conversation_id, greeting.interaction_id)
        assert before.triggered_dynamic_behavior_set_version_info is None, before

        # An administrator sees every invocation: one per selection, each naming what led to it.
        page = invocations(actor, set_id)
        assert (page.has_more, page.continuation_token) == (False, None), page
        records = {r.user_id: r for r in page.dynamic_behavior_invocations}
        assert len(page.dynamic_behavior_invocations) == 3 and set(records) == set(triggered), page
        for user_id, (conversation_id, events) in triggered.items():
            record = records[user_id]
            complete = events[-1]
            assert record.org_id == compadre.org
            assert (record.conversation_id, record.service_id) == (conversation_id, service_id), record
            assert record.initial_message_id == events[0].message_id, "the user's message led to it"
            assert record.agent_message_id == complete.message_id, record
            assert record.agent_inner_thoughts_ids == interaction_messages(
                actor, conversation_id, complete.interaction_id, "agent-inner-thought"), record
            assert tuple(record.dynamic_behavior_set_version_info) == (set_id, 1), record
            assert record.external_event_message_ids == [], record
            assert started - timedelta(seconds=1) <= record.invoked_at <= finished + timedelta(seconds=1), (
                started, record.invoked_at, finished)
        newest_first = invocations(actor, set_id, sort_by="-invoked_at").dynamic_behavior_invocations
        assert [r.user_id for r in newest_first] == [reader.user_id, plain.user_id, actor.user_id], newest_first

        # A plain user may not read a set's invocations at all (no DynamicBehaviorInstruction:Get) ...
        refused = plain.api.invocations(set_id)
        assert refused.status_code == 403, refused.text
        assert triggered[plain.user_id][0] not in refused.text, refused.text
        # ... a user who may read sets but only their own conversations sees only their own invocation.
        mine = invocations(reader, set_id).dynamic_behavior_invocations
        assert [(r.user_id, r.conversation_id) for r in mine] == [(reader.user_id, triggered[reader.user_id][0])], mine
    finally:
        plain.close()
        reader.close()


def test_external_events_are_part_of_what_just_happened(
    actor: Actor, blueprint: Blueprint, fake_openai: FakeOpenAI
):
    service_id = blueprint.new_service(actor.client)
    set_id = new_set(actor, [service_id], ["The payment was declined."], "Offer another payment method.")
    conversation_id = greet(actor, fake_openai, service_id)

    time.sleep(0.05)
    event = "Payment declined by the bank."
    stamp = datetime.now(timezone.utc) - timedelta(milliseconds=20)
    fake_openai.reset()
    reply = "Let us try another card."
    script_turn(fake_openai, reply, selection=1)
    # The user's words share nothing with the trigger: the event is what selects the set.
    stream = actor.client.conversations.interact_with_conversation(
        conversation_id, InteractWithConversationParametersQuery(**TEXT), text_message="Why did that not work?",
        external_event_message_content=[event], external_event_message_timestamp=[stamp],
    )
    events = [e.root for e in stream]
    consumed(fake_openai, "the interaction with an external event")
    complete = check_agent_message(events)
    assert selected(events) == ((set_id, 1), None), describe(events)
    embedded = [t for texts in fake_openai.embedding_requests for t in texts]
    assert event in embedded and "Why did that not work?" in embedded, fake_openai.embedding_requests

    [record] = invocations(actor, set_id).dynamic_behavior_invocations
    external = interaction_messages(actor, conversation_id, complete.interaction_id, "external-event")
    assert len(external) == 1, external
    assert record.initial_message_id == events[0].message_id, "the user's message is the initial one"
    assert record.external_event_message_ids == external, record




def test_an_external_event_as_initial_message_is_the_invocations_initial_message(
    actor: Actor, blueprint: Blueprint, fake_openai: FakeOpenAI
):
    service_id = blueprint.new_service(actor.client)
    set_id = new_set(actor, [service_id], ["The payment was declined."], "Offer another payment method.")
    conversation_id = greet(actor, fake_openai, service_id)

    time.sleep(0.05)
    before = "The user opened the billing page."
    initial = "Payment declined by the bank."
    fake_openai.reset()
    script_turn(fake_openai, "Let us try another card.", selection=1)
    # POST …/interact, form: initial_message_type=external-event, recorded_message=`initial`,
    # external_event_message_content=[`before`] (with its timestamp).
    stream = actor.client.conversations.interact_with_conversation(
        conversation_id, InteractWithConversationParametersQuery(**TEXT), initial_message_type="external-event",
        text_message=initial, external_event_message_content=[before],
        external_event_message_timestamp=[datetime.now(timezone.utc) - timedelta(milliseconds=20)],
    )
    events = [e.root for e in stream]
    consumed(fake_openai, "the interaction opened by an external event")
    complete = check_agent_message(events)
    assert selected(events) == ((set_id, 1), None), describe(events)

    messages, _ = all_messages(actor.client, conversation_id, sort_by=["+created_at"],
                               interaction_id=[complete.interaction_id])
    ids = {m.message: m.id for m in messages}
    assert [(m.message_type.value, m.message) for m in messages] == [
        ("external-event", before), ("external-event", initial), ("agent-message", "Let us try another card.")]
    [record] = invocations(actor, set_id).dynamic_behavior_invocations
    # Expected: initial = the recorded message, others = [before]. Got: initial = before, others = [initial].
    assert (record.initial_message_id, record.external_event_message_ids) == (ids[initial], [ids[before]]), (
        f"initial_message_id {record.initial_message_id}, external_event_message_ids "
        f"{record.external_event_message_ids}; messages {ids}")


# --------------------------------------------------------------------------
# 4. What is never selected
# --------------------------------------------------------------------------


def test_unrelated_inactive_and_other_services_sets_are_never_selected(
    actor: Actor, blueprint: Blueprint, fake_openai: FakeOpenAI
):
    service_id, other_service = blueprint.new_service(actor.client), blueprint.new_service(actor.client)
    passport = new_set(actor, [service_id], ["The user asks about passport renewal."], "Mention the renewal form.")
    throat = ["The patient reports a sore throat."]
    inactive = new_set(actor, [service_id], throat, "Recommend throat lozenges.", active=False)
    elsewhere = new_set(actor, [other_service], throat, "Recommend gargling salt water.")
    conversation_id = greet(actor, fake_openai, service_id)

    # Close only to the inactive set and the other service's: nothing retrieved, the model not asked.
    events = turn(actor, fake_openai, conversation_id, "My throat is sore.", "Sorry to hear that.")
    assert fake_openai.embedding_requests, "the service has a candidate: what happened is embedded"
    assert kinds(fake_openai) == [NEXT_ACTION, "text"], model_calls(fake_openai)
    check_selection_events(events)
    assert selected(events) == (None, None), describe(events)
    check_no_behavior(events)
    for advice in ("lozenges", "gargling"):
        assert advice not in reply_prompt(fake_openai)

    # Close to all three: only the active set of this service is offered; the model says "none".
    events = turn(actor, fake_openai, conversation_id, "Sore throat, and my passport renewal too.",
                  "One thing at a time.", selection=2)
    assert kinds(fake_openai) == [SELECTION, NEXT_ACTION, "text"], model_calls(fake_openai)
    [ask] = requests_named(fake_openai, SELECTION)
    assert selection_options(ask) == [1, 2], "one candidate, then none of these"
    assert "passport renewal" in prompt_text(ask) and throat[0] not in prompt_text(ask), prompt_text(ask)
    assert selected(events) == (None, None), describe(events)
    check_no_behavior(events)
    assert "renewal form" not in reply_prompt(fake_openai), "none was chosen: no instruction applies"
    insights = actor.client.conversations.get_interaction_insights(conversation_id, events[-1].interaction_id)
    assert insights.triggered_dynamic_behavior_set_version_info is None, insights

    # Once active, the set that was inactive is a candidate (the other service's still is not).
    ok(actor.api.update(inactive, {"is_active": True}), 204)
    events = turn(actor, fake_openai, conversation_id, "My throat is sore again.", "Try lozenges.", selection=1)
    [ask] = requests_named(fake_openai, SELECTION)
    assert selection_options(ask) == [1, 2], prompt_text(ask)
    assert selected(events) == ((inactive, 1), None), describe(events)
    assert "lozenges" in reply_prompt(fake_openai) and "gargling" not in reply_prompt(fake_openai)

    assert invocations(actor, passport).dynamic_behavior_invocations == []
    assert invocations(actor, elsewhere).dynamic_behavior_invocations == []
    assert len(invocations(actor, inactive).dynamic_behavior_invocations) == 1


def test_a_service_without_sets_embeds_nothing_and_asks_nothing(
    actor: Actor, blueprint: Blueprint, fake_openai: FakeOpenAI
):
    service_id, other_service = blueprint.new_service(actor.client), blueprint.new_service(actor.client)
    new_set(actor, [other_service], ["The user asks about the weather."], "Talk about the forecast.")
    conversation_id = greet(actor, fake_openai, service_id)

    events = turn(actor, fake_openai, conversation_id, "What about the weather?", "It is sunny.")
    assert fake_openai.embedding_requests == [], "no candidate on this service: nothing to compare"
    assert kinds(fake_openai) == [NEXT_ACTION, "text"], model_calls(fake_openai)
    check_selection_events(events)
    assert selected(events) == (None, None), describe(events)
    check_no_behavior(events)


def test_an_embedder_that_fails_selects_nothing_and_the_interaction_goes_on(
    compadre_bin: Path, db_backend: str, tmp_path: Path, fake_openai: FakeOpenAI
):
    # A server of its own whose embedder is a dead port (the model is still the suite's fake).
    dead = _start_compadre(compadre_bin, db_backend, tmp_path,
                           extra_env={"COMPADRE_EMBEDDINGS_BASE_URL": "http://127.0.0.1:9/v1"})
    someone = new_actor(dead)
    try:
        with dead.client() as admin:
            service_id = Blueprint(admin).new_service(admin)
        # The set is stored even though its triggers cannot be embedded now.
        set_id = new_set(someone, [service_id], ["The user has a persistent cough."], "Suggest honey tea.")
        conversation_id = greet(someone, fake_openai, service_id)
        events = turn(someone, fake_openai, conversation_id, "My cough is persistent.", "Rest well.")
        assert kinds(fake_openai) == [NEXT_ACTION, "text"], model_calls(fake_openai)
        assert fake_openai.embedding_requests == [], "the embedder configured is not the fake"
        check_selection_events(events)
        assert selected(events) == (None, None), describe(events)
        check_no_behavior(events)
        assert "honey" not in reply_prompt(fake_openai)
        assert invocations(someone, set_id).dynamic_behavior_invocations == []
    finally:
        someone.close()
        dead.server.stop()


def cosine(a: str, b: str) -> float:
    """The fake embedder's cosine of two texts (its vectors are L2-normalized)."""
    return sum(x * y for x, y in zip(word_vector(a), word_vector(b)))


def appearance(prompt: str, texts: list[str]) -> list[str]:
    """Those of `texts` that `prompt` mentions, in the order it mentions them."""
    return sorted((t for t in texts if t in prompt), key=prompt.index)


def test_at_most_five_candidates_at_or_above_the_threshold_are_offered(
    actor: Actor, blueprint: Blueprint, fake_openai: FakeOpenAI
):
    service_id = blueprint.new_service(actor.client)
    fruit = "Orange kiwi mango."
    # Six sets ever less close to `fruit` (cosine 0.87, 0.77, 0.71, 0.65, 0.61, 0.57: the fruit and 1 to
    # 6 words of their own, so that no trigger is part of another), and one far from it (0.13).
    extras = ["violin", "tractor glacier", "lantern harbor rowan", "saffron tundra umber velvet",
              "yarrow zephyr cobalt dune fjord", "gravel heron indigo juniper kelp larch"]
    ranked = [f"Orange kiwi mango {words}" for words in extras]
    far = "Orange " + " ".join(f"filler{i}" for i in range(20))
    # Exactly at the threshold (one word in common with a one-word message, sixteen words: 1/4), and
    # just under it (seventeen words). The edge set's other trigger is unrelated: the best one counts.
    edge = "Pineapple " + " ".join(["anchor", "bishop", "canyon", "dolphin", "ember", "falcon", "granite", "hollow",
                                    "island", "jasper", "walnut", "lilac", "meadow", "nickel", "opal"])
    under = "Pineapple quartz " + edge.removeprefix("Pineapple ")
    unrelated = "The user talks about taxes."
    # The premises, with the fake's own vectors (no hash collision spoils them).
    scores = [cosine(fruit, t) for t in ranked]
    assert all(a > b for a, b in zip(scores, scores[1:])) and scores[-1] >= 0.25 > cosine(fruit, far), scores
    assert (cosine("Pineapple.", edge), cosine("Pineapple.", unrelated)) == (0.25, 0.0)
    assert cosine("Pineapple.", under) < 0.25
    triggers = ranked + [far, edge, under, unrelated]
    assert not [(a, b) for a in triggers for b in triggers if a != b and a in b], "no trigger is part of another"
    for text in triggers:
        assert cosine(GREETING, text) == cosine("Noted.", text) == 0, f"the greeting or the reply is close to {text!r}"
    for text in [edge, under, unrelated]:
        assert cosine(fruit, text) == 0, text
    for text in ranked + [far]:
        assert cosine("Pineapple.", text) == 0, text

    sets = {trigger: new_set(actor, [service_id], [trigger], f"Instruction {i}.") for i, trigger in enumerate(ranked)}
    new_set(actor, [service_id], [far], "Instruction far.")
    edge_set = new_set(actor, [service_id], [unrelated, edge], "Instruction edge.")
    new_set(actor, [service_id], [under], "Instruction under.")
    conversation_id = greet(actor, fake_openai, service_id)

    # The five closest are offered, then "none"; the third option is the third set the prompt names.
    events = turn(actor, fake_openai, conversation_id, fruit, "Noted.", selection=3)
    [ask] = requests_named(fake_openai, SELECTION)
    assert selection_options(ask) == [1, 2, 3, 4, 5, 6], prompt_text(ask)
    offered = appearance(prompt_text(ask), ranked + [far, edge, under])
    assert sorted(offered) == sorted(ranked[:5]), f"the five closest, not {set(offered) ^ set(ranked[:5])}"
    assert selected(events) == ((sets[offered[2]], 1), None), describe(events)
    assert f"Instruction {ranked.index(offered[2])}." in reply_prompt(fake_openai)

    # A cosine of exactly 0.25 is retrieved, 0.24 is not.
    events = turn(actor, fake_openai, conversation_id, "Pineapple.", "Noted.", selection=1)
    [ask] = requests_named(fake_openai, SELECTION)
    assert selection_options(ask) == [1, 2], prompt_text(ask)
    assert appearance(prompt_text(ask), ranked + [far, edge, under]) == [edge], prompt_text(ask)
    assert selected(events) == ((edge_set, 1), (sets[offered[2]], 1)), describe(events)


# --------------------------------------------------------------------------
# 5. The previous selection
# --------------------------------------------------------------------------


def test_each_selection_reports_the_most_recent_one_before_it(
    actor: Actor, blueprint: Blueprint, fake_openai: FakeOpenAI
):
    service_id = blueprint.new_service(actor.client)
    cough = new_set(actor, [service_id], ["The user mentions a cough."], "Ask about the cough.")
    rash = new_set(actor, [service_id], ["The user mentions a rash."], "Ask about the rash.")
    conversation_id = greet(actor, fake_openai, service_id)

    steps = [
        # (user message, scripted selection, expected selected, expected previous)
        ("I have a cough.", 1, (cough, 1), None),
        ("Thanks, noted.", None, None, (cough, 1)),  # nothing retrieved: the previous one stays
        ("Now a rash appeared.", 1, (rash, 1), (cough, 1)),
        ("And the cough came back.", 1, (cough, 1), (rash, 1)),
    ]
    for said, selection, expected, previous in steps:
        events = turn(actor, fake_openai, conversation_id, said, "Noted, go on.", selection=selection)
        assert selected(events) == (expected, previous), f"{said!r}:\n{describe(events)}\n{model_calls(fake_openai)}"
        assert (SELECTION in kinds(fake_openai)) == (selection is not None), (said, model_calls(fake_openai))

    assert len(invocations(actor, cough).dynamic_behavior_invocations) == 2
    assert len(invocations(actor, rash).dynamic_behavior_invocations) == 1


# --------------------------------------------------------------------------
# 6. The realtime socket
# --------------------------------------------------------------------------


def test_the_realtime_socket_sends_dynamic_behavior_triggered_to_its_default_filter(
    actor: Actor, blueprint: Blueprint, fake_openai: FakeOpenAI
):
    service_id = blueprint.new_service(actor.client)
    set_id = new_set(actor, [service_id], ["The user wants to book a flight."], "Ask for the travel dates.")
    with Socket(actor.compadre.server, actor.compadre.org, actor.token, "realtime") as socket:
        say(fake_openai, GREETING)
        socket.send(type="client.start-conversation", service_id=service_id)
        socket.next("server.conversation-created")
        assert socket.next("server.interaction-complete")["full_message"] == GREETING, socket.transcript()

        fake_openai.reset()
        script_turn(fake_openai, "When do you want to travel?", selection=1)
        start = len(socket.received)
        socket.send(type="client.new-text-message", text="Please book a flight to Lisbon.", message_type="user-message")
        socket.next("server.interaction-complete")
        consumed(fake_openai, "the realtime interaction")
        frames = socket.received[start:]

    agent = [f["action"] for f in frames if f.get("type") == "server.current-agent-action"]
    types = [a["type"] for a in agent]
    assert types[:3] == SELECT_EVENTS, socket.transcript()
    completed = SelectDynamicBehaviorCompletedEvent.model_validate(agent[2])
    assert info(completed.selected_dynamic_behavior_set_version_info) == (set_id, 1), agent[2]
    assert completed.previous_selected_dynamic_behavior_set_version_info is None, agent[2]
    # Right after the selection, whatever the filter (here the default): a socket guards no SDK parser.
    assert types.count("dynamic-behavior-triggered") == 1, types
    assert agent[3] == {"type": "dynamic-behavior-triggered", "dynamic_behavior_set_version_info": [set_id, 1]}, agent[3]
    for override in ("navigate-state-machine-dynamic-behavior-override", "engage-user-dynamic-behavior-override"):
        assert types.count(override) == 1, types
    assert "Ask for the travel dates." in reply_prompt(fake_openai)
