"""Observability of a running server: traces exported over OTLP/HTTP to a
collector (a fake one here, reading OTLP JSON), Prometheus metrics at
`GET /metrics`, and a request ID on every response.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from conftest import _start_compadre
from conversation_helpers import Blueprint, check_agent_message, interact, start_conversation
from fake_openai import FakeOpenAI


class FakeCollector:
    """An OTLP/HTTP trace collector on 127.0.0.1 that keeps every span it receives (JSON encoding)."""

    def __init__(self) -> None:
        self.spans: list[dict] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path == "/v1/traces":
                    document = json.loads(body or b"{}")
                    with collector.lock:
                        for resource in document.get("resourceSpans", []):
                            for scope in resource.get("scopeSpans", []):
                                collector.spans.extend(scope.get("spans", []))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FakeCollector":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()

    def named(self, name: str) -> list[dict]:
        with self.lock:
            return [span for span in self.spans if span.get("name") == name]


@pytest.fixture
def traced(compadre_bin: Path, db_backend: str, tmp_path: Path, fake_openai: FakeOpenAI):
    with FakeCollector() as collector:
        instance = _start_compadre(compadre_bin, db_backend, tmp_path, extra_env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        })
        try:
            yield instance, collector
        finally:
            instance.server.stop()


def test_an_interaction_span_with_its_model_calls_reaches_the_collector(traced, fake_openai: FakeOpenAI):
    compadre, collector = traced
    with compadre.client() as client:
        service_id = Blueprint(client).new_service(client)
        fake_openai.script({"when": "text", "text": "Traced hello."})
        created = start_conversation(client, service_id)
        check_agent_message(created)
        conversation_id = created[0].conversation_id

    deadline = time.monotonic() + 30
    interaction = None
    while time.monotonic() < deadline:
        spans = [
            span for span in collector.named("interaction")
            if any(a.get("key") == "compadre.conversation_id" and a.get("value", {}).get("stringValue") == conversation_id
                   for a in span.get("attributes", []))
        ]
        if spans:
            interaction = spans[0]
            children = [s for s in collector.named("model.call") if s.get("parentSpanId") == interaction.get("spanId")]
            if children:
                break
        time.sleep(0.1)
    assert interaction is not None, f"no interaction span; received: {[s.get('name') for s in collector.spans]}"
    children = [s for s in collector.named("model.call") if s.get("parentSpanId") == interaction.get("spanId")]
    assert children, "the interaction's model calls must be its children"
    assert all(child.get("traceId") == interaction.get("traceId") for child in children)
    kinds = {a["value"].get("stringValue") for c in children for a in c.get("attributes", []) if a.get("key") == "compadre.prompt_kind"}
    assert "engage-user" in kinds, kinds


def test_metrics_count_what_the_server_did(compadre, fake_openai: FakeOpenAI):
    with compadre.client() as client:
        service_id = Blueprint(client).new_service(client)
        fake_openai.script({"when": "text", "text": "Counted hello."})
        created = start_conversation(client, service_id)
        check_agent_message(created)
        check_agent_message(interact(client, created[0].conversation_id, "And again."))
    with urllib.request.urlopen(f"{compadre.server.base_url}/metrics", timeout=10) as resp:
        assert resp.status == 200
        text = resp.read().decode()

    def total(name: str, **labels: str) -> float:
        value = 0.0
        for line in text.splitlines():
            series, _, number = line.rpartition(" ")
            if series.split("{")[0] == name and all(f'{k}="{v}"' in series for k, v in labels.items()):
                value += float(number)
        return value

    assert total("compadre_interactions_total", outcome="completed") >= 2
    assert total("compadre_model_calls_total") >= 2
    assert total("compadre_http_requests_total", operation="create-conversation", status="201") >= 1
    assert total("compadre_interaction_server_added_seconds_count") >= 2


def test_every_response_has_a_request_id_that_errors_repeat(compadre):
    answer = httpx.get(f"{compadre.server.base_url}/v1/{compadre.org}/service/", timeout=10)
    assert answer.status_code == 401
    request_id = answer.headers.get("x-request-id")
    assert request_id
    assert answer.json()["request_id"] == request_id
