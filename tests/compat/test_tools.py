"""Tools, end to end, as an organization uses them.

Once per backend (the module fixture `lab`): create three tools over HTTP,
download Compadre's scaffold, clone the organization's tool repository with
plain `git` (token in an `http.extraHeader`), add three projects made from the
scaffold, push, try to publish one before its environment variables exist
(400), add them (one secret), and publish 1.0.0 of each:

  forecast  the designated tool of a tool-call state; reads a plain and a
            secret variable and proves it got the secret by a hash of it
  weather   a helper tool the agent may call while it writes its reply
  flaky     a helper tool that raises, or sleeps past the server's tool
            timeout (COMPADRE_TOOL_TIMEOUT_SECONDS=3 on this module's server)

Then: direct invocation (and what one costs), a conversation that walks
through a tool-call state and calls a helper tool (events, the model's
prompts, insights, the invocation records and their search), failure paths a
user sees, and version rules (a minor version, deprecation, resolution).

The official SDK has no tool resource: tool calls are raw HTTP, parsed with the
SDK's generated models; conversations, graphs, agents and services go through
the SDK itself. The model is the suite's fake, scripted per scenario.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import RootModel

from amigo_sdk import AmigoClient
from amigo_sdk.errors import NotFoundError
from amigo_sdk.generated.model import (
    ConversationCreatedEvent,
    CurrentAgentActionEvent,
    NewMessageEvent,
    OrganizationCreateServiceHierarchicalStateMachineRequest,
    OrganizationCreateServiceHierarchicalStateMachineVersionRequest,
    ToolCreateToolResponse,
    ToolGetToolInvocationsResponse,
    ToolGetToolsResponse,
    ToolGetToolVersionsResponse,
    ToolInvokeToolVersionResponse,
    ToolPublishToolVersionResponse,
    ToolSearchToolInvocationsResponse,
    ToolTestToolResponse,
)

from conftest import Compadre, _start_compadre
from conversation_helpers import (
    OBJECT_ID,
    assert_script_consumed,
    check_agent_message,
    create_agent_with_version,
    create_service,
    describe,
    interact,
    model_calls,
    start_conversation,
    unique,
)
from fake_openai import FakeOpenAI
from tool_helpers import (
    GitRepo,
    Published,
    ToolAPI,
    action_state,
    graph,
    helper_tool_graph,
    invocation_input,
    is_structured,
    offered_functions,
    ok,
    project_from_scaffold,
    schema_name,
    system_text,
    tool_call_state,
    tool_messages,
    tool_spec,
    unpack_scaffold,
    version_text,
)

TOOL_TIMEOUT_S = 3

# --------------------------------------------------------------------------
# The three tool projects
# --------------------------------------------------------------------------

CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "The city, e.g. Paris."}},
    "required": ["city"],
    "additionalProperties": False,
}

FORECAST_PY = '''\
"""Tomorrow's forecast for a city (a canned answer that proves it got its variables)."""

import hashlib
import os


def run(input_parameters: dict, context) -> str:
    city = input_parameters["city"]
    units = os.environ["FORECAST_UNITS"]
    # Never return the secret itself: a fingerprint proves it arrived.
    fingerprint = hashlib.sha256(os.environ["FORECAST_API_KEY"].encode()).hexdigest()[:16]
    return f"Rain in {city} tomorrow, 14 degrees {units} (key {fingerprint})"
'''

WEATHER_PY = '''\
"""Current weather for a city."""


def run(input_parameters: dict, context) -> str:
    return f"{CONDITIONS} in {input_parameters['city']} right now (weather {RELEASE})"


CONDITIONS = "Sunny"
RELEASE = "1.0"
'''

FLAKY_SCHEMA = {
    "type": "object",
    "properties": {"mode": {"type": "string", "enum": ["ok", "raise", "sleep"]}},
    "required": ["mode"],
    "additionalProperties": False,
}

FLAKY_PY = '''\
"""A backend that fails on demand."""

import time


def run(input_parameters: dict, context) -> str:
    mode = input_parameters["mode"]
    if mode == "raise":
        raise RuntimeError("the flaky backend is down")
    if mode == "sleep":
        time.sleep(120)
    return f"flaky answered {mode}"
'''


def forecast_output(city: str, units: str, secret: str) -> str:
    fingerprint = hashlib.sha256(secret.encode()).hexdigest()[:16]
    return f"Rain in {city} tomorrow, 14 degrees {units} (key {fingerprint})"


def weather_output(city: str, conditions: str = "Sunny", release: str = "1.0") -> str:
    return f"{conditions} in {city} right now (weather {release})"


# --------------------------------------------------------------------------
# Module setup: one server, three tools published
# --------------------------------------------------------------------------


@dataclass
class Lab:
    compadre: Compadre
    api: ToolAPI
    repo: GitRepo
    scaffold_archive: bytes
    scaffold: Path
    tool_ids: dict[str, str]
    pushed_commit: str
    refused_publish: Published  # forecast before its variables existed
    versions_after_refusal: list
    published: dict[str, Published]
    units: str
    secret: str
    envvar_status: int


@pytest.fixture(scope="module")
def lab(
    compadre_bin: Path,
    db_backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    fake_openai: FakeOpenAI,
):
    workdir = tmp_path_factory.mktemp("compadre-tools")
    compadre = _start_compadre(
        compadre_bin,
        db_backend,
        workdir,
        extra_env={"COMPADRE_TOOL_TIMEOUT_SECONDS": str(TOOL_TIMEOUT_S)},
    )
    token = compadre.access_token()
    api = ToolAPI(
        compadre.server.base_url, compadre.org, token,
        fresh_token=lambda: compadre.user_token("DefaultSuperAdministratorRole"),
    )
    try:
        tool_ids = {}
        for name, description in (
            ("forecast", "Tomorrow's weather forecast for a city."),
            ("weather", "The weather in a city right now."),
            ("flaky", "A backend that is sometimes down."),
        ):
            created = ToolCreateToolResponse.model_validate(ok(api.create_tool(name, description), 201))
            assert OBJECT_ID.match(created.id), created.id
            tool_ids[name] = created.id

        archive = api.scaffold()
        ok(archive, parse=False)
        assert archive.headers["content-type"] == "application/gzip", archive.headers
        scaffold = unpack_scaffold(archive.content, workdir / "scaffold")

        repo = GitRepo(f"{compadre.server.base_url}/v1/{compadre.org}/tool/git", token, workdir / "repo")
        repo.clone()
        project_from_scaffold(
            scaffold, repo.path / "forecast", package="forecast",
            description="Tomorrow's forecast.", input_schema=CITY_SCHEMA, main_py=FORECAST_PY,
            envvars=["FORECAST_UNITS"], secret_envvars=["FORECAST_API_KEY"],
        )
        project_from_scaffold(
            scaffold, repo.path / "weather", package="weather",
            description="Current weather.", input_schema=CITY_SCHEMA, main_py=WEATHER_PY,
        )
        project_from_scaffold(
            scaffold, repo.path / "flaky", package="flaky",
            description="Fails on demand.", input_schema=FLAKY_SCHEMA, main_py=FLAKY_PY,
        )
        pushed_commit = repo.commit_all("Add the forecast, weather and flaky tools")
        repo.push()

        refused = api.publish(tool_ids["forecast"], "forecast", "major")
        versions_after_refusal = ok(api.versions(tool_ids["forecast"]))["tool_versions"]

        units, secret = "Celsius", "sk-" + secrets.token_hex(16)
        envvar_status = api.envvars(
            tool_ids["forecast"],
            inserts=[
                {"name": "FORECAST_UNITS", "value": units, "is_secret": False},
                {"name": "FORECAST_API_KEY", "value": secret, "is_secret": True},
            ],
        ).status_code

        published = {}
        for name in ("forecast", "weather", "flaky"):
            published[name] = api.publish(tool_ids[name], name, "major")
            print(f"[{db_backend}] publish {name} 1.0.0: HTTP {published[name].status} "
                  f"in {published[name].seconds:.2f} s")

        yield Lab(
            compadre=compadre, api=api, repo=repo, scaffold_archive=archive.content, scaffold=scaffold,
            tool_ids=tool_ids, pushed_commit=pushed_commit, refused_publish=refused,
            versions_after_refusal=versions_after_refusal, published=published,
            units=units, secret=secret, envvar_status=envvar_status,
        )
    finally:
        api.close()
        compadre.server.stop()


def require_published(lab: Lab) -> Lab:
    for name, result in lab.published.items():
        assert (result.status, result.body) == (201, {"new_version": "1.0.0"}), (
            f"publishing {name} 1.0.0 failed: HTTP {result.status} {result.body}\n"
            f"--- server log ---\n{lab.compadre.server.log_tail(40)}"
        )
    return lab


@pytest.fixture
def ready(lab: Lab) -> Lab:
    """The lab, with every 1.0.0 published (tests that need the tools running)."""
    return require_published(lab)


# --------------------------------------------------------------------------
# Scaffold, repository, publishing
# --------------------------------------------------------------------------


def test_tool_lifecycle(lab: Lab):
    """Create, list, modify, deprecate; names and variables are checked."""
    api = lab.api
    tool_id = ok(api.create_tool("scratch_tool", "A tool that is soon gone."), 201)["id"]
    ok(api.create_tool("scratch_tool", "The same name again."), 409)
    ok(api.create_tool("Scratch-Tool", "Not a valid name."), 422)
    ok(api.envvars(tool_id, inserts=[{"name": "lower_case", "value": "x", "is_secret": False}]), 422)

    ok(api.http.post(f"{api.base}/tool/{tool_id}", json={"description": "Changed.", "tags": {"team": "qa"}}), 204)
    listed = ToolGetToolsResponse.model_validate(ok(api.tools(id=tool_id))).tools
    assert [(t.name, t.description, [(g.key, g.value) for g in t.tags]) for t in listed] == [
        ("scratch_tool", "Changed.", [("team", "qa")])
    ]
    assert tool_id in [t["id"] for t in ok(api.tools(tag="team:qa"))["tools"]]

    ok(api.http.delete(f"{api.base}/tool/{tool_id}"), 204)
    assert [t["deprecated"] for t in ok(api.tools(id=tool_id))["tools"]] == [True]
    assert tool_id not in [t["id"] for t in ok(api.tools(deprecated="false"))["tools"]]
    ok(api.http.post(f"{api.base}/tool/{tool_id}", json={"description": "Too late."}), 404)
    assert api.publish(tool_id, "weather", "major").status == 404

    # A graph may not name a deprecated tool.
    with lab.compadre.client() as client:
        with pytest.raises(NotFoundError):
            create_graph(client, helper_tool_graph(tool_spec(tool_id)))


def test_scaffold_is_a_working_tool_project(lab: Lab, tmp_path: Path):
    root = lab.scaffold
    for path in ("pyproject.toml", "input_schema.json", "src/my_tool/__init__.py", "src/my_tool/main.py"):
        assert (root / path).is_file(), f"the scaffold lacks {path}"

    import tomllib

    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    compadre_table = pyproject["tool"]["compadre"]
    assert compadre_table["entry"] == "my_tool.main:run"
    assert compadre_table["input-schema"] == "input_schema.json"
    assert json.loads((root / "input_schema.json").read_text())["type"] == "object"

    # The template's tool runs as its docstring says, with nothing but Python.
    code = (
        f"import sys; sys.path.insert(0, {str(root / 'src')!r}); from my_tool.main import run; "
        "print(run({'name': ' Ada '}, None))"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-c", code],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )
    assert (proc.returncode, proc.stdout.strip()) == (0, "Hello, Ada!"), proc.stderr

    # The same bytes every time (it can be cached).
    assert ok(lab.api.scaffold(), parse=False) == lab.scaffold_archive


def test_publishing_needs_the_declared_envvars(lab: Lab):
    refused = lab.refused_publish
    assert refused.status == 400, (
        f"publishing a project that reads variables the tool lacks: expected 400, got "
        f"{refused.status} {refused.body}"
    )
    detail = refused.body["detail"]
    assert "FORECAST_UNITS" in detail and "FORECAST_API_KEY" in detail, detail
    assert lab.versions_after_refusal == [], "a refused publish recorded a version"
    assert lab.envvar_status == 204, f"POST /tool/{{id}}/envvar -> HTTP {lab.envvar_status}"


def test_published_versions_record_the_project(ready: Lab):
    lab = ready
    for name, result in lab.published.items():
        ToolPublishToolVersionResponse.model_validate(result.body)
    times = ", ".join(f"{n} {r.seconds:.1f} s" for n, r in lab.published.items())
    print(f"publish times (venv build included): {times}")

    listing = ToolGetToolVersionsResponse.model_validate(ok(lab.api.versions(lab.tool_ids["forecast"])))
    assert [version_text(v.version.model_dump()) for v in listing.tool_versions] == ["1.0.0"]
    raw = ok(lab.api.versions(lab.tool_ids["forecast"]))["tool_versions"][0]
    assert raw["input_schema"] == CITY_SCHEMA, "input_schema must be the project's input_schema.json"
    assert raw["required_envvars"] == ["FORECAST_UNITS"]
    assert raw["required_secret_envvars"] == ["FORECAST_API_KEY"]
    assert raw["tool_commit_hash"] == lab.pushed_commit, "the version pins the pushed commit of main"
    assert raw["project_directory"].strip("/") == "forecast"
    assert raw["deprecated"] is False

    flaky = ok(lab.api.versions(lab.tool_ids["flaky"]))["tool_versions"][0]
    assert flaky["input_schema"] == FLAKY_SCHEMA
    assert flaky["required_envvars"] == [] and flaky["required_secret_envvars"] == []

    tools = ToolGetToolsResponse.model_validate(ok(lab.api.tools(id=lab.tool_ids["forecast"])))
    assert [t.name for t in tools.tools] == ["forecast"]
    assert tools.tools[0].envvars == ["FORECAST_UNITS"]
    assert tools.tools[0].secret_envvars == ["FORECAST_API_KEY"]


def test_secret_value_is_never_shown(ready: Lab):
    lab = ready
    # Used by the tool (its output carries a fingerprint of it) ...
    result = ok(lab.api.invoke(lab.tool_ids["forecast"], "1.0.0", {"city": "Oslo"}))
    output = result["invocation_results"][0].get("output", "")
    assert output == forecast_output("Oslo", lab.units, lab.secret), result
    # ... but nowhere to be read back.
    for what, text in (
        ("GET /tool/", lab.api.tools().text),
        ("GET /tool/{id}/version", lab.api.versions(lab.tool_ids["forecast"]).text),
        ("the server log", lab.compadre.server.log_tail(100_000)),
    ):
        assert lab.secret not in text, f"the secret's value appears in {what}"
    sqlite = lab.compadre.server.workdir / "compadre.sqlite"
    if sqlite.exists():
        assert lab.secret.encode() not in sqlite.read_bytes(), "the secret is stored in clear in SQLite"


def test_force_push_to_main_is_refused(ready: Lab):
    repo = ready.repo
    before = repo.remote_main()
    repo.git("commit", "--amend", "-q", "-m", "Rewrite history")
    try:
        pushed = repo.push("--force", check=False)
        assert pushed.returncode != 0, (
            f"git push --force to main succeeded:\n{pushed.stdout}\n{pushed.stderr}"
        )
        assert "main" in pushed.stderr and "rejected" in pushed.stderr, pushed.stderr
        assert repo.remote_main() == before, "main moved although the push was refused"
    finally:
        repo.git("fetch", "-q", "origin")
        repo.git("reset", "-q", "--hard", "origin/main")


# --------------------------------------------------------------------------
# Direct invocation
# --------------------------------------------------------------------------


def test_invoke_runs_each_input(ready: Lab):
    lab = ready
    resp = ToolInvokeToolVersionResponse.model_validate(
        ok(lab.api.invoke(lab.tool_ids["weather"], "1.0.0", {"city": "Lyon"}, {"city": "Nice"}))
    )
    results = [r.model_dump() for r in resp.invocation_results]
    assert [(r["succeeded"], r.get("output")) for r in results] == [
        (True, weather_output("Lyon")),
        (True, weather_output("Nice")),
    ], results
    assert all(r["duration_ms"] >= 0 for r in results)

    failed = ok(lab.api.invoke(lab.tool_ids["flaky"], "1.0.0", {"mode": "raise"}))["invocation_results"][0]
    assert failed["succeeded"] is False, failed
    assert failed["exception_type"] == "RuntimeError", failed
    assert failed["exception_message"] == "the flaky backend is down", failed
    assert any("flaky" in line for line in failed["exception_stack_trace"]), failed


@pytest.mark.parametrize(
    "inputs, words",
    [({}, ["city"]), ({"city": 7}, ["city", "string"]), ({"city": "Rome", "when": "now"}, ["when"])],
    ids=["missing-required", "wrong-type", "unknown-property"],
)
def test_invoke_checks_inputs_against_the_schema(ready: Lab, inputs: dict, words: list[str]):
    resp = ready.api.invoke(ready.tool_ids["weather"], "1.0.0", {"city": "Rome"}, inputs)
    detail = ok(resp, 400)["detail"]
    assert all(w in detail for w in words), detail


def test_invoke_unknown_version_is_404(ready: Lab):
    ok(ready.api.invoke(ready.tool_ids["weather"], "9.9.9", {"city": "Rome"}), 404)


def test_invocation_overhead(ready: Lab):
    """What one direct invocation costs beyond the tool's own work (the tool
    returns a formatted string: its own run time is negligible)."""
    lab = ready
    lab.api.invoke(lab.tool_ids["weather"], "1.0.0", {"city": "Warmup"})
    walls, durations = [], []
    # Each call as a user of its own (10 invocations a minute per user), signed in before the clock starts.
    tokens = [lab.compadre.user_token("DefaultSuperAdministratorRole") for _ in range(7)]
    for i in range(7):
        started = time.perf_counter()
        body = ok(lab.api.invoke(lab.tool_ids["weather"], "1.0.0", {"city": f"City{i}"}, token=tokens[i]))
        walls.append((time.perf_counter() - started) * 1000)
        result = body["invocation_results"][0]
        assert result["succeeded"], result
        durations.append(result["duration_ms"])
    baselines = []
    for _ in range(7):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        baselines.append((time.perf_counter() - started) * 1000)
    wall, run, base = (statistics.median(x) for x in (walls, durations, baselines))
    print(
        f"\ninvocation (median of 7): HTTP wall {wall:.0f} ms, duration_ms {run:.0f} ms, "
        f"`python -c pass` {base:.0f} ms -> API overhead {wall - run:.0f} ms, "
        f"run overhead beyond a bare interpreter {run - base:.0f} ms"
    )
    # The server cannot report a run longer than the request that carried it.
    assert all(d <= w + 1 for d, w in zip(durations, walls)), (durations, walls)
    # A fresh process per call, not a stuck or serialized queue: well under a second.
    assert wall < 3000, f"one invocation took {wall:.0f} ms"


def test_test_endpoint_runs_a_branch_without_publishing(ready: Lab):
    """POST /tool/test runs a branch's project in a throwaway build."""
    lab = ready
    repo = lab.repo
    repo.git("checkout", "-q", "-b", "experiment")
    try:
        main_py = repo.path / "weather" / "src" / "weather" / "main.py"
        main_py.write_text(WEATHER_PY.replace('"Sunny"', '"Foggy"'))
        repo.commit_all("Try fog")
        repo.git("push", "-q", "origin", "experiment")
    finally:
        repo.git("checkout", "-q", "main")
    resp = lab.api.http.post(
        f"{lab.api.base}/tool/test",
        json={
            "inputs": [invocation_input({"city": "Bern"})],
            "commit_branch": "experiment",
            "project_path": "weather",
            "required_envvars": {},
            "required_secret_envvars": {},
        },
    )
    results = ToolTestToolResponse.model_validate(ok(resp)).invocation_results
    assert [r.model_dump().get("output") for r in results] == [weather_output("Bern", "Foggy")]
    versions = ok(lab.api.versions(lab.tool_ids["weather"]))["tool_versions"]
    assert [version_text(v["version"]) for v in versions] == ["1.0.0"], "a test published a version"


# --------------------------------------------------------------------------
# A conversation through a tool-call state and a helper tool
# --------------------------------------------------------------------------

GREETING = "Hello! Which city would you like a forecast for?"
QUESTION = "What will the weather be like in Paris tomorrow?"
REPLY = "Tomorrow brings rain in Paris, though it is sunny right now."
PARAMS_FILLER = "Let me look that up."

TOOL_EVENTS = (
    "designated-tool-retrieved",
    "designated-tool-call-params-generated",
    "tool-call-started",
    "tool-call-ended",
    "navigate-state-machine-tool-call-state-tool-output-available",
    "action-too-long",
)


def forecast_graph(forecast_id: str, weather_id: str) -> dict:
    return graph(
        [
            action_state(
                "start",
                "Find out which city the user wants a forecast for.",
                ["Greet the user and ask which city they care about."],
                [{"description": "The user asked about the weather in a city.", "next_state": "fetch_forecast"}],
            ),
            tool_call_state(
                "fetch_forecast",
                "report",
                tool_spec(forecast_id, ">=1.0", persistence="persisted"),
                objective="Get tomorrow's forecast for the city the user asked about.",
                context="The user asked about the weather.",
                fillers=[PARAMS_FILLER],
                filler_after=0.5,
            ),
            action_state(
                "report",
                "Tell the user about the weather.",
                ["Tell the user tomorrow's forecast and the weather right now."],
                [{"description": "The user wants to end the conversation.", "next_state": "goodbye"}],
                [tool_spec(weather_id, ">=1.0", instruction="Use it for the conditions right now.")],
            ),
            action_state("goodbye", "Close the conversation.", ["Say goodbye."], []),
        ],
        "start",
        "goodbye",
        "Forecasts through a tool-call state, current weather through a helper tool.",
    )


def create_graph(client: AmigoClient, definition: dict) -> str:
    created = client.context_graphs.create_context_graph(
        OrganizationCreateServiceHierarchicalStateMachineRequest(state_machine_name=unique("tools-graph"))
    )
    version = client.context_graphs.create_context_graph_version(
        created.id,
        OrganizationCreateServiceHierarchicalStateMachineVersionRequest.model_validate(definition),
    )
    assert version.version == 1
    return created.id


def action_of(event: CurrentAgentActionEvent) -> Any:
    node: Any = event.action
    while isinstance(node, RootModel):
        node = node.root
    return node


def agent_actions(events: list) -> list[Any]:
    return [action_of(e) for e in events if isinstance(e, CurrentAgentActionEvent)]


def choose(option: int) -> dict:
    """A scripted answer to a structured select-next-action request."""
    return {"when": "json", "json": {"reason": f"option {option} fits", "choice": option}}


def call_tools(*calls: tuple[str, dict]) -> dict:
    return {"when": "text", "tool_calls": [{"name": n, "arguments": a} for n, a in calls]}


def say(text: str) -> dict:
    return {"when": "text", "text": text, "chunks": 3}


@dataclass
class ForecastTalk:
    graph_id: str
    conversation_id: str
    interaction_id: str
    events: list
    requests: list[dict]  # model requests of the interaction


@pytest.fixture(scope="module")
def forecast_talk(lab: Lab, fake_openai: FakeOpenAI) -> ForecastTalk:
    require_published(lab)
    fake_openai.reset()
    with lab.compadre.client() as client:
        agent_id = create_agent_with_version(client)
        graph_id = create_graph(client, forecast_graph(lab.tool_ids["forecast"], lab.tool_ids["weather"]))
        service_id = create_service(client, agent_id, graph_id)

        fake_openai.script(say(GREETING))
        created = start_conversation(client, service_id)
        assert_script_consumed(fake_openai, "create_conversation")
        assert isinstance(created[0], ConversationCreatedEvent), describe(created)
        check_agent_message(created)
        conversation_id = created[0].conversation_id

        fake_openai.reset()
        fake_openai.script(
            choose(2),  # start: leave through "asked about the weather"
            # generate-tool-params, slowly enough for the filler (after 0.5 s) to play
            {"when": "json", "json": {"city": "Paris"}, "chunks": 2, "delay": 0.75},
            choose(1),  # report: tell the forecast
            call_tools(("weather", {"city": "Paris"})),  # engage-user, round 0
            say(REPLY),  # engage-user, round 1
        )
        events = interact(client, conversation_id, QUESTION)
        assert_script_consumed(fake_openai, "the interaction through the tool-call state")
    complete = check_agent_message(events)
    assert complete.full_message == REPLY, describe(events)
    return ForecastTalk(graph_id, conversation_id, complete.interaction_id, events, fake_openai.requests)


def test_tool_call_state_events(ready: Lab, forecast_talk: ForecastTalk):
    lab, events = ready, forecast_talk.events
    shown = describe(events)
    actions = agent_actions(events)
    types = [a.type for a in actions]
    shown_types = "\n".join(f"  {t}" for t in types)
    forecast_id, weather_id = lab.tool_ids["forecast"], lab.tool_ids["weather"]
    expected_forecast = forecast_output("Paris", lab.units, lab.secret)

    tool_types = [t for t in types if t in TOOL_EVENTS]
    assert tool_types == [
        "designated-tool-retrieved",
        "action-too-long",  # the filler while the model wrote the tool's input
        "designated-tool-call-params-generated",
        "tool-call-started",
        "tool-call-ended",
        "navigate-state-machine-tool-call-state-tool-output-available",
        "tool-call-started",  # the helper, while the reply is written
        "tool-call-ended",
    ], f"tool events out of order:\n{shown_types}"

    by_type: dict[str, list] = {}
    for a in actions:
        by_type.setdefault(a.type, []).append(a)
    retrieved = by_type["designated-tool-retrieved"][0]
    assert (retrieved.tool_id, retrieved.tool_version) == (forecast_id, "1.0.0")
    filler = by_type["action-too-long"][0]
    assert filler.filler == PARAMS_FILLER
    assert filler.previously_started_event["type"] == "designated-tool-retrieved", filler
    params = by_type["designated-tool-call-params-generated"][0]
    assert params.tool_call_params == {"city": "Paris"}

    started, ended = by_type["tool-call-started"], by_type["tool-call-ended"]
    assert [(s.tool_id, s.tool_version, s.input_params) for s in started] == [
        (forecast_id, "1.0.0", {"city": "Paris"}),
        (weather_id, "1.0.0", {"city": "Paris"}),
    ]
    assert [(e.tool_id, e.input_parameters, e.result) for e in ended] == [
        (forecast_id, {"city": "Paris"}, expected_forecast),
        (weather_id, {"city": "Paris"}, weather_output("Paris")),
    ]
    assert all(e.duration > 0 for e in ended), ended
    available = by_type["navigate-state-machine-tool-call-state-tool-output-available"][0]
    assert (available.tool_id, available.tool_output, available.input_arguments) == (
        forecast_id, expected_forecast, {"city": "Paris"}
    )

    transitions = [
        (a.prev_state, a.next_state) for a in actions if a.type == "navigate-state-machine-state-transitioned"
    ]
    assert transitions == [("start", "fetch_forecast"), ("fetch_forecast", "report")], shown_types
    into_tool_state = types.index("navigate-state-machine-state-transitioned")
    out_of_tool_state = len(types) - 1 - types[::-1].index("navigate-state-machine-state-transitioned")
    assert into_tool_state < types.index("designated-tool-retrieved"), shown_types
    assert types.index("navigate-state-machine-tool-call-state-tool-output-available") < out_of_tool_state, shown_types
    assert out_of_tool_state < len(types) - 1 - types[::-1].index("tool-call-started"), shown_types

    last_action = max(i for i, e in enumerate(events) if isinstance(e, CurrentAgentActionEvent)
                      and action_of(e).type == "tool-call-ended")
    first_piece = next(i for i, e in enumerate(events) if isinstance(e, NewMessageEvent))
    assert last_action < first_piece, f"the agent spoke before its helper tool answered:\n{shown}"


def test_model_writes_the_designated_input_under_the_tools_schema(forecast_talk: ForecastTalk):
    requests = forecast_talk.requests
    params = [r for r in requests if is_structured(r) and schema_name(r) == "tool_input"]
    assert len(params) == 1, f"expected one generate-tool-params request:\n{model_calls_of(requests)}"
    schema = params[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"] == CITY_SCHEMA["properties"] and schema["required"] == ["city"], schema
    assert not params[0].get("tools"), "the designated tool is not offered as a function"


def model_calls_of(requests: list[dict]) -> str:
    lines = []
    for i, body in enumerate(requests):
        kind = f"structured {schema_name(body)}" if is_structured(body) else "text"
        lines.append(f"  {i}: {kind}, tools={sorted(offered_functions(body))}")
    return "\n".join(lines)


def test_reply_prompt_carries_both_tool_results(ready: Lab, forecast_talk: ForecastTalk):
    lab = ready
    shown = model_calls_of(forecast_talk.requests)
    replies = [r for r in forecast_talk.requests if not is_structured(r)]
    assert len(replies) == 2, f"two engage-user rounds expected (tool call, then text):\n{shown}"
    first, last = replies

    for body in (first, last):
        functions = offered_functions(body)
        assert set(functions) == {"weather"}, f"the report state offers exactly its helper tool:\n{shown}"
    weather = offered_functions(first)["weather"]
    assert weather["parameters"] == CITY_SCHEMA
    assert "The weather in a city right now." in weather["description"]
    assert "Use it for the conditions right now." in weather["description"], weather

    forecast = forecast_output("Paris", lab.units, lab.secret)
    assert forecast in system_text(first), "the forecast (tool-call state output) is in the reply's prompt"
    assert forecast in system_text(last)

    assistant_calls = [m for m in last["messages"] if m.get("role") == "assistant" and m.get("tool_calls")]
    assert len(assistant_calls) == 1, last["messages"]
    call = assistant_calls[0]["tool_calls"][0]
    assert call["function"]["name"] == "weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    answers = tool_messages(last)
    assert [(m["tool_call_id"], m["content"]) for m in answers] == [(call["id"], weather_output("Paris"))], answers
    assert last["messages"].index(answers[0]) == last["messages"].index(assistant_calls[0]) + 1


def test_insights_log_the_tool_calls(ready: Lab, forecast_talk: ForecastTalk):
    lab = ready
    with lab.compadre.client() as client:
        insights = client.conversations.get_interaction_insights(
            forecast_talk.conversation_id, forecast_talk.interaction_id
        ).model_dump(mode="json")
    assert insights["current_state_name"] == "report"
    tool_logs = [log for log in insights["state_transition_logs"] if log["type"] == "tool-call"]
    assert len(tool_logs) == 1, insights["state_transition_logs"]
    log = tool_logs[0]
    assert (log["previous_state"], log["next_state"]) == ("fetch_forecast", "report")
    assert log["tool_call_logs"] == []
    designated = log["designated_tool_call_log"]
    assert {k: designated[k] for k in ("tool_name", "tool_id", "tool_version", "input", "output")} == {
        "tool_name": "forecast",
        "tool_id": lab.tool_ids["forecast"],
        "tool_version": "1.0.0",
        "input": {"city": "Paris"},
        "output": forecast_output("Paris", lab.units, lab.secret),
    }
    assert designated["duration"] > 0

    rounds = insights["engage_user_tool_call_logs"]
    assert [[(c["tool_name"], c["input"], c["output"]) for c in r] for r in rounds] == [
        [("weather", {"city": "Paris"}, weather_output("Paris"))]
    ], rounds


def invocations_of(lab: Lab, **params: Any) -> list[dict]:
    body = ok(lab.api.invocations(**params))
    ToolGetToolInvocationsResponse.model_validate(body)
    return body["tool_invocations"]


def test_invocations_are_recorded_per_conversation(ready: Lab, forecast_talk: ForecastTalk):
    lab = ready
    found = invocations_of(lab, conversation_id=forecast_talk.conversation_id, sort_by="+created_at")
    summary = [
        (i["tool_id"], version_text(i["tool_version"]), i["inputs"],
         i["invocation_status"].get("output"), i["invocation_source"]["invocation_metadata"]["type"])
        for i in found
    ]
    assert summary == [
        (lab.tool_ids["forecast"], "1.0.0", {"city": "Paris"},
         forecast_output("Paris", lab.units, lab.secret), "tool-call-state"),
        (lab.tool_ids["weather"], "1.0.0", {"city": "Paris"}, weather_output("Paris"), "engage-user"),
    ], json.dumps(found, indent=1)
    for invocation in found:
        source = invocation["invocation_source"]
        assert source["type"] == "regular-conversation"
        assert source["conversation_id"] == forecast_talk.conversation_id
        assert source["interaction_id"] == forecast_talk.interaction_id
        assert source["user_id"] == lab.compadre.credentials.user_id
        assert source["invocation_metadata"]["current_state_machine_and_version"] == [forecast_talk.graph_id, 1]
        assert invocation["invocation_status"]["succeeded"] is True
        assert invocation["duration_ms"] >= 0
    assert found[0]["invocation_source"]["invocation_metadata"]["state_name"] == "fetch_forecast"
    assert found[1]["invocation_source"]["invocation_metadata"]["tool_call_round_index"] == 0

    # Filters narrow it down.
    weather_only = invocations_of(
        lab, conversation_id=forecast_talk.conversation_id, tool_id=lab.tool_ids["weather"], version="==1.0.0"
    )
    assert [i["id"] for i in weather_only] == [found[1]["id"]]
    none = invocations_of(
        lab, conversation_id=forecast_talk.conversation_id, tool_id=lab.tool_ids["weather"], version=">=2"
    )
    assert none == []
    ok(lab.api.invocations(tool_id=[lab.tool_ids["weather"], lab.tool_ids["forecast"]], version="==1.0.0"), 400)


def search(lab: Lab, query_string: str) -> list[dict]:
    """GET /tool/invocation/search?<query_string>, the query string as given."""
    body = ok(lab.api.http.get(f"{lab.api.base}/tool/invocation/search?{query_string}"))
    ToolSearchToolInvocationsResponse.model_validate(body)
    return body["tool_invocations"]


def test_invocation_search_finds_by_output(ready: Lab, forecast_talk: ForecastTalk):
    lab = ready
    cid = forecast_talk.conversation_id
    found = search(lab, f"query=RAIN%20in%20Paris&conversation_id={cid}")  # case-insensitive
    assert [(i["tool_id"], i["inputs"]) for i in found] == [(lab.tool_ids["forecast"], {"city": "Paris"})], found
    found = search(lab, f"query=Paris&conversation_id={cid}&query_against=invocation_status.output")
    assert sorted(i["tool_id"] for i in found) == sorted([lab.tool_ids["forecast"], lab.tool_ids["weather"]])
    assert search(lab, f"query=Paris&conversation_id={cid}&query_against=invocation_status.exception_message") == []
    assert search(lab, "query=no%20tool%20ever%20said%20this") == []
    ok(lab.api.http.get(f"{lab.api.base}/tool/invocation/search"), 422)


def test_invocation_search_query_as_python_clients_encode_it(ready: Lab, forecast_talk: ForecastTalk):
    """httpx (and so the SDK), requests and urllib.parse.urlencode write a space
    in a query string as `+`, which HTML forms and every Python web framework
    read as a space."""
    resp = ready.api.search_invocations("rain in paris", conversation_id=forecast_talk.conversation_id)
    assert "query=rain+in+paris" in str(resp.request.url)
    found = ok(resp)["tool_invocations"]
    assert [i["tool_id"] for i in found] == [ready.tool_ids["forecast"]], (
        f"GET {resp.request.url} found {found}: `+` in the query string must decode to a space"
    )


# --------------------------------------------------------------------------
# A helper tool that fails
# --------------------------------------------------------------------------


def new_helper_service(lab: Lab, client: AmigoClient, helper: dict) -> tuple[str, str]:
    agent_id = create_agent_with_version(client)
    graph_id = create_graph(client, helper_tool_graph(helper))
    return create_service(client, agent_id, graph_id), graph_id


def test_failing_helper_tool_does_not_break_the_reply(ready: Lab, fake_openai: FakeOpenAI):
    lab = ready
    flaky_id = lab.tool_ids["flaky"]
    answer = "Sorry, the weather service is down right now."
    with lab.compadre.client() as client:
        service_id, _ = new_helper_service(lab, client, tool_spec(flaky_id, "==1.0.0"))
        fake_openai.script(
            call_tools(("flaky", {"mode": "raise"}), ("flaky", {"mode": "sleep"})),
            say(answer),
        )
        started = time.monotonic()
        events = start_conversation(client, service_id)
        elapsed = time.monotonic() - started
        assert_script_consumed(fake_openai, "the greeting with two failing tool calls")
    complete = check_agent_message(events)
    assert complete.full_message == answer, describe(events)
    assert elapsed < TOOL_TIMEOUT_S + 20, f"a {TOOL_TIMEOUT_S} s tool timeout took {elapsed:.1f} s"

    ended = [a for a in agent_actions(events) if a.type == "tool-call-ended"]
    assert [e.input_parameters for e in ended] == [{"mode": "raise"}, {"mode": "sleep"}], describe(events)

    last = fake_openai.requests[-1]
    answers = [m["content"] for m in tool_messages(last)]
    assert len(answers) == 2, f"the model must see one tool message per call:\n{model_calls(fake_openai)}"
    raised, timed_out = answers
    assert raised.startswith("Error") and "RuntimeError" in raised and "the flaky backend is down" in raised, raised
    assert timed_out.startswith("Error") and "ToolTimeout" in timed_out, timed_out
    assert [e.result for e in ended] == answers

    conversation_id = events[0].conversation_id
    found = invocations_of(ready, conversation_id=conversation_id, sort_by="+created_at")
    assert [(i["inputs"], i["invocation_status"]["succeeded"], i["invocation_status"].get("exception_type"))
            for i in found] == [({"mode": "raise"}, False, "RuntimeError"), ({"mode": "sleep"}, False, "ToolTimeout")]
    assert found[1]["duration_ms"] >= TOOL_TIMEOUT_S * 1000 - 50, found[1]
    assert invocations_of(ready, conversation_id=conversation_id, succeeded="false") == found
    assert invocations_of(ready, conversation_id=conversation_id, succeeded="true") == []


def test_a_selected_behavior_offers_its_tool_on_a_graph_without_tools(ready: Lab, fake_openai: FakeOpenAI):
    """A dynamic behavior set's `change-tool-candidates` action adds a tool where the context graph names
    none: once the behavior is selected (the fake's generic answer picks the first candidate set), the
    tool is offered while the agent writes its reply, and it runs."""
    from conversation_helpers import Blueprint

    lab = ready
    weather_id = lab.tool_ids["weather"]
    with lab.compadre.client() as client:
        service_id = Blueprint(client).new_service(client)  # the tests' plain conversation graph: no tools
        ok(lab.api.http.post(f"{lab.api.base}/dynamic_behavior_set/", json={
            "name": unique("weather-behavior"), "tags": {}, "applied_to_services": [service_id],
            "initial_version": {"is_active": True, "conversation_triggers": ["The user asks about the weather in a city."],
                                "actions": [{"type": "change-tool-candidates", "overrides_existing_tool_call_specs": False,
                                             "tool_call_specs": [{**tool_spec(weather_id, "==1.0.0"), "tool_name": "weather"}]}]},
        }), 201)
        created = start_conversation(client, service_id)
        check_agent_message(created)
        fake_openai.script(call_tools(("weather", {"city": "Rome"})), say("Sunny in Rome."))
        events = interact(client, created[0].conversation_id, "What is the weather in Rome?")
        check_agent_message(events)
        assert_script_consumed(fake_openai, "the interaction whose behavior offers the weather tool")
    ended = [a for a in agent_actions(events) if a.type == "tool-call-ended"]
    assert [e.result for e in ended] == [weather_output("Rome")], describe(events)


# --------------------------------------------------------------------------
# Versions: a minor release, deprecation, resolution
# --------------------------------------------------------------------------


def test_minor_version_then_deprecation_steer_resolution(ready: Lab, fake_openai: FakeOpenAI):
    lab = ready
    weather_id = lab.tool_ids["weather"]
    repo = lab.repo

    main_py = repo.path / "weather" / "src" / "weather" / "main.py"
    main_py.write_text(WEATHER_PY.replace('"Sunny"', '"Cloudy"').replace('"1.0"', '"1.1"'))
    repo.commit_all("weather: report clouds")
    repo.push()
    minor = lab.api.publish(weather_id, "weather", "minor")
    assert (minor.status, minor.body) == (201, {"new_version": "1.1.0"}), minor
    print(f"publish weather 1.1.0: {minor.seconds:.2f} s")

    new = weather_output("Rome", "Cloudy", "1.1")
    assert ok(lab.api.invoke(weather_id, "1.1.0", {"city": "Rome"}))["invocation_results"][0]["output"] == new
    assert ok(lab.api.invoke(weather_id, "1.0.0", {"city": "Rome"}))["invocation_results"][0]["output"] == (
        weather_output("Rome")
    ), "publishing 1.1.0 changed what 1.0.0 runs"
    listed = ok(lab.api.versions(weather_id, versions=">=1.1"))["tool_versions"]
    assert [version_text(v["version"]) for v in listed] == ["1.1.0"]

    with lab.compadre.client() as client:
        service_id, _ = new_helper_service(lab, client, tool_spec(weather_id, ">=1.0"))
        fake_openai.script(call_tools(("weather", {"city": "Rome"})), say("It is cloudy in Rome."))
        created = start_conversation(client, service_id)
        check_agent_message(created)
        conversation_id = created[0].conversation_id
        first = [a for a in agent_actions(created) if a.type == "tool-call-ended"]
        assert [(e.tool_version, e.result) for e in first] == [("1.1.0", new)], (
            f">=1.0 resolves to the newest version, 1.1.0:\n{describe(created)}"
        )

        ok(lab.api.deprecate_versions(weather_id, "==1.1.*"), 204)
        active = ok(lab.api.versions(weather_id, deprecated="false"))["tool_versions"]
        assert [version_text(v["version"]) for v in active] == ["1.0.0"]
        gone = ok(lab.api.versions(weather_id, deprecated="true"))["tool_versions"]
        assert [(version_text(v["version"]), v["deprecated"]) for v in gone] == [("1.1.0", True)]
        ok(lab.api.invoke(weather_id, "1.1.0", {"city": "Rome"}), 404)

        fake_openai.script(choose(1), call_tools(("weather", {"city": "Rome"})), say("Sunny in Rome."))
        second = interact(client, conversation_id, "And now?")
        assert_script_consumed(fake_openai, "the interaction after the deprecation")
        check_agent_message(second)
        ended = [a for a in agent_actions(second) if a.type == "tool-call-ended"]
        assert [(e.tool_version, e.result) for e in ended] == [("1.0.0", weather_output("Rome"))], (
            f"with 1.1.0 deprecated, >=1.0 must resolve to 1.0.0:\n{describe(second)}"
        )

    records = invocations_of(lab, conversation_id=conversation_id, sort_by="+created_at")
    assert [version_text(r["tool_version"]) for r in records] == ["1.1.0", "1.0.0"], records
