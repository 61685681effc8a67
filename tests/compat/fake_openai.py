"""A fake OpenAI-compatible chat-completions server for the compatibility suite.

Standard library only. It listens on 127.0.0.1 (a free port) in a background
thread and answers `POST /v1/chat/completions` the way OpenAI does, streaming
(server-sent events) or not, so `compadre serve` can run its agent engine
against it deterministically:

    with FakeOpenAI() as fake:
        env["COMPADRE_LLM_BASE_URL"] = fake.base_url     # http://127.0.0.1:PORT/v1
        fake.script({"when": "text", "text": "Welcome!", "chunks": 3})
        ...
        assert fake.requests[-1]["model"] == "fake-model"

Generic behaviour (no script, or the script's next reply does not apply):

* structured request (`response_format` is `{"type": "json_schema",
  "json_schema": {"name": ..., "schema": S}}` or `{"type": "json_object",
  "schema": S}`): a JSON instance generated from S (see `instance_for`),
  streamed in 3 pieces;
* any other request: "Hello! I am the fake model." in 4 pieces.

Scripted replies (`fake.script(*replies)`) are consumed first in, first out,
one per request. Each reply is a dict:

    {"text": "...", "chunks": 4, "delay": 0.0}   content text; `chunks` pieces
                                                  when streaming, `delay`
                                                  seconds before each piece
    {"json": {...}}                               json.dumps(...) as the content
    {"tool_calls": [{"name": "f", "arguments": {...}}]}
                                                  the assistant calls tools
    {"status": 500, "body": {...}}                an HTTP error (body optional,
                                                  "headers" optional)
    {"when": "json" | "text", ...}                only for structured / plain
                                                  requests: a request of the
                                                  other kind gets the generic
                                                  answer and leaves this reply
                                                  at the head of the queue

`chunks` and `delay` apply to every kind of reply that has content. A reply
with `delay` but no content key gets the generic content, slowly.

Rules by schema name (`fake.on_schema(name, reply)`) answer every structured
request whose `response_format` is `{"type": "json_schema", "json_schema":
{"name": name, ...}}`, before the FIFO script (which such a request leaves
untouched). `reply` is a reply dict as above (`when` is not allowed), or a
callable that gets the request body and returns a reply dict, or None for
the usual answer (the script, else the generic one). A rule stays until it is
replaced, removed (`fake.on_schema(name, None)`) or `fake.reset()`. Requests
in the `json_object` form carry no name: rules never apply to them.

`fake.requests` holds the parsed JSON bodies received (in order),
`fake.request_headers` their headers, `fake.pending()` counts scripted replies
not yet consumed, `fake.in_flight` / `fake.max_in_flight` count the
completions being answered now / at most at once since the last reset,
`fake.reset()` clears script, rules and history. All of it is thread-safe
(a rule's callable runs on the request's handler thread, outside the lock).
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_TEXT = "Hello! I am the fake model."
DEFAULT_TEXT_CHUNKS = 4
DEFAULT_JSON_CHUNKS = 3
DEFAULT_MODEL = "fake-model"

_REPLY_KEYS = {"text", "json", "tool_calls", "status", "body", "headers", "when", "chunks", "delay"}


# --------------------------------------------------------------------------
# JSON Schema -> instance
# --------------------------------------------------------------------------


def instance_for(schema: Any, root: Any = None, _depth: int = 0) -> Any:
    """A JSON value valid under `schema`, built generically and deterministically.

    object -> every property (recursively); enum -> first value; const -> it;
    string -> "fake text" within minLength/maxLength; integer/number ->
    max(minimum, 1) (clamped to maximum); boolean -> false; null -> null;
    array -> max(minItems, 1) items, at most maxItems; anyOf/oneOf -> first
    branch (the first non-null one); allOf -> the branches merged; local
    `$ref`s are followed; a type list uses its first non-null type.
    """
    root = schema if root is None else root
    if _depth > 32:
        return None
    if schema is True or not isinstance(schema, dict):
        return "fake text"
    if "$ref" in schema:
        return instance_for(_resolve_ref(root, schema["$ref"]), root, _depth + 1)
    if "const" in schema:
        return copy.deepcopy(schema["const"])
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        value = copy.deepcopy(schema["enum"][0])
        if schema.get("type") == "integer" and isinstance(value, float) and value.is_integer():
            value = int(value)  # 1.0 in an integer enum is the integer 1
        return value
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            branches = [b for b in schema[key] if not _is_null_schema(b)] or schema[key]
            return instance_for(branches[0], root, _depth + 1)
    if isinstance(schema.get("allOf"), list) and schema["allOf"]:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            if isinstance(part, dict) and "$ref" in part:
                part = _resolve_ref(root, part["$ref"])
            if isinstance(part, dict):
                for k, v in part.items():
                    if k in ("properties",) and isinstance(v, dict):
                        merged.setdefault("properties", {}).update(v)
                    else:
                        merged.setdefault(k, v)
        return instance_for(merged, root, _depth + 1)

    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((t for t in kind if t != "null"), kind[0] if kind else None)
    if kind is None:
        if "properties" in schema:
            kind = "object"
        elif "items" in schema or "prefixItems" in schema:
            kind = "array"
        else:
            kind = "string"

    if kind == "object":
        props = schema.get("properties") or {}
        return {name: instance_for(sub, root, _depth + 1) for name, sub in props.items()}
    if kind == "array":
        prefix = schema.get("prefixItems") or []
        count = max(int(schema.get("minItems", 0)), 1, len(prefix))
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        items = []
        for i in range(count):
            sub = prefix[i] if i < len(prefix) else schema.get("items", {})
            value = instance_for(sub, root, _depth + 1)
            if schema.get("uniqueItems") and isinstance(value, str) and i > 0:
                value = _fit_string(f"{value} {i + 1}", sub if isinstance(sub, dict) else {})
            items.append(value)
        return items
    if kind == "string":
        if schema.get("format") == "date-time":
            return "2024-01-01T00:00:00Z"
        if schema.get("format") == "date":
            return "2024-01-01"
        return _fit_string("fake text", schema)
    if kind in ("integer", "number"):
        value: float = 1
        if "minimum" in schema:
            value = max(schema["minimum"], 1)
        if "exclusiveMinimum" in schema and isinstance(schema["exclusiveMinimum"], (int, float)):
            value = max(value, schema["exclusiveMinimum"] + 1)
        if "maximum" in schema:
            value = min(value, schema["maximum"])
        if "exclusiveMaximum" in schema and isinstance(schema["exclusiveMaximum"], (int, float)):
            value = min(value, schema["exclusiveMaximum"] - 1)
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return "fake text"


def _fit_string(text: str, schema: dict) -> str:
    min_len = int(schema.get("minLength", 0))
    if len(text) < min_len:
        text = (text + " ") * (min_len // (len(text) + 1) + 1)
        text = text[:min_len]
    if "maxLength" in schema:
        text = text[: int(schema["maxLength"])]
    return text


def _is_null_schema(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null"


def _resolve_ref(root: Any, ref: str) -> Any:
    if not ref.startswith("#"):
        return {}
    node = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return {}
        node = node[part]
    return node


def split_pieces(text: str, n: int) -> list[str]:
    """`text` in `n` non-empty consecutive pieces (fewer if text is shorter)."""
    if not text:
        return [""]
    n = max(1, min(int(n), len(text)))
    size, extra = divmod(len(text), n)
    pieces, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


def schema_name(body: dict) -> str | None:
    """The `json_schema.name` of a structured request in the `json_schema` form, else None."""
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        name = (fmt.get("json_schema") or {}).get("name")
        return name if isinstance(name, str) else None
    return None


def request_schema(body: dict) -> tuple[bool, Any]:
    """(is_structured, schema or None) of a chat-completions request body."""
    fmt = body.get("response_format")
    if not isinstance(fmt, dict):
        return False, None
    kind = fmt.get("type")
    if kind == "json_schema":
        spec = fmt.get("json_schema") or {}
        return True, spec.get("schema", {})
    if kind == "json_object":
        return True, fmt.get("schema")
    return False, None


def _check_reply(reply: Any, rule: bool = False) -> None:
    """A scripted reply (or a rule's reply) has the known keys only."""
    what = "rule reply" if rule else "scripted reply"
    if not isinstance(reply, dict):
        raise TypeError(f"a {what} is a dict, not {type(reply).__name__}")
    unknown = set(reply) - _REPLY_KEYS
    if unknown:
        raise ValueError(f"unknown keys in {what}: {sorted(unknown)}")
    if rule and "when" in reply:
        raise ValueError("a rule reply has no 'when': it applies to its schema's requests")
    if reply.get("when") not in (None, "json", "text"):
        raise ValueError(f"'when' must be 'json' or 'text', not {reply['when']!r}")


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


class _Disconnected(Exception):
    pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    # Room for many simultaneous connections (the crash test opens ~100 at once); the default
    # listen backlog of 5 would drop SYNs and turn a burst into connect retries.
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client (compadre) going away mid-answer is expected, e.g. when a test
        # kills the server; anything else is still reported.
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, _Disconnected)):
            return
        super().handle_error(request, client_address)


class FakeOpenAI:
    """Fake OpenAI-compatible endpoint; use as a context manager or start()/stop()."""

    def __init__(self, text: str = DEFAULT_TEXT, text_chunks: int = DEFAULT_TEXT_CHUNKS) -> None:
        self.default_text = text
        self.default_text_chunks = text_chunks
        self._lock = threading.Lock()
        self._script: deque[dict] = deque()
        self._rules: dict[str, Any] = {}
        self._requests: list[dict] = []
        self._embedding_requests: list[list[str]] = []
        self._headers: list[dict[str, str]] = []
        self._received = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._counter = 0
        self._in_flight = 0
        self._max_in_flight = 0

    # ---- lifecycle -------------------------------------------------------

    def start(self, port: int = 0) -> "FakeOpenAI":
        assert self._server is None, "already started"
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = _QuietServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "fake not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # ---- scripting and inspection ---------------------------------------

    def script(self, *replies: dict) -> None:
        """Queue replies for the next requests (FIFO). See the module docstring."""
        for reply in replies:
            _check_reply(reply)
        with self._lock:
            self._script.extend(copy.deepcopy(r) for r in replies)

    def on_schema(self, name: str, reply: "dict | Callable[[dict], dict | None] | None") -> None:
        """Answer structured requests whose json_schema is named `name` with `reply` (a reply dict
        without `when`, or a callable of the request body returning one or None), before the script;
        None removes the rule. See the module docstring."""
        if reply is not None and not callable(reply):
            _check_reply(reply, rule=True)
            reply = copy.deepcopy(reply)
        with self._lock:
            if reply is None:
                self._rules.pop(name, None)
            else:
                self._rules[name] = reply

    def pending(self) -> int:
        """How many scripted replies have not been consumed yet."""
        with self._lock:
            return len(self._script)

    @property
    def requests(self) -> list[dict]:
        """The JSON bodies received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def request_headers(self) -> list[dict[str, str]]:
        with self._lock:
            return list(self._headers)

    def reset(self) -> None:
        """Forget the script, the rules and the request history."""
        with self._lock:
            self._script.clear()
            self._rules.clear()
            self._requests.clear()
            self._embedding_requests.clear()
            self._headers.clear()
            self._max_in_flight = self._in_flight

    @property
    def in_flight(self) -> int:
        """Chat completions being answered right now."""
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The most chat completions answered at once since the last reset."""
        with self._lock:
            return self._max_in_flight

    def _enter(self, delta: int) -> None:
        with self._lock:
            self._in_flight += delta
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def wait_for_requests(self, count: int, timeout: float = 30.0) -> bool:
        """Block until at least `count` requests were received since the last reset."""
        deadline = time.monotonic() + timeout
        with self._received:
            while len(self._requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._received.wait(left)
            return True

    # ---- request handling (called from handler threads) ------------------

    @property
    def embedding_requests(self) -> list[list[str]]:
        """The texts of each `/v1/embeddings` request, oldest first (not part of `requests`)."""
        with self._lock:
            return list(self._embedding_requests)

    def _record_embedding(self, texts: list[str]) -> None:
        with self._lock:
            self._embedding_requests.append(list(texts))

    def _record(self, body: dict, headers: dict[str, str]) -> int:
        with self._received:
            self._requests.append(body)
            self._headers.append(headers)
            self._counter += 1
            self._received.notify_all()
            return self._counter

    def _rule_reply(self, body: dict) -> dict | None:
        """The reply of the rule for the request's schema name, if any applies."""
        name = schema_name(body)
        if name is None:
            return None
        with self._lock:
            rule = self._rules.get(name)
        if rule is None:
            return None
        if callable(rule):
            reply = rule(body)
            if reply is None:
                return None
            _check_reply(reply, rule=True)
            return copy.deepcopy(reply)
        return copy.deepcopy(rule)

    def _next_reply(self, structured: bool) -> dict | None:
        with self._lock:
            if not self._script:
                return None
            head = self._script[0]
            when = head.get("when")
            if when is not None and when != ("json" if structured else "text"):
                return None
            return self._script.popleft()


# Sentence embeddings the way Compadre's WordEmbedder (Swift tests) makes them: each content word in one
# of 4096 buckets (FNV-1a), L2-normalized, so texts that share words are close and others orthogonal.
EMBED_DIMENSION = 4096
_STOP_WORDS = {
    "a", "an", "the", "i", "is", "are", "am", "to", "of", "and", "or", "in", "on", "my", "me", "you", "user", "it",
    "have", "has", "about", "for", "with", "be", "do", "does", "what", "can",
}


def word_vector(text: str) -> list[float]:
    vector = [0.0] * EMBED_DIMENSION
    for word in re.findall(r"[^\W_]+", text.lower()):
        if word in _STOP_WORDS:
            continue
        value = 0xCBF29CE484222325
        for byte in word.encode():
            value ^= byte
            value = (value * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        vector[value % EMBED_DIMENSION] += 1.0
    norm = sum(x * x for x in vector) ** 0.5
    return [x / norm for x in vector] if norm else vector


class _Handler(BaseHTTPRequestHandler):
    # Headers and body go out as separate writes: without TCP_NODELAY the second waits ~40 ms for the
    # client's delayed ACK, which made every non-streamed answer take ~44 ms.
    disable_nagle_algorithm = True
    owner: FakeOpenAI
    protocol_version = "HTTP/1.1"
    server_version = "FakeOpenAI/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep quiet
        pass

    # ---- plumbing ----------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = bytearray()
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, payload: Any, extra_headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra_headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _write_chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError) as exc:
            self.close_connection = True
            raise _Disconnected() from exc

    def _event(self, payload: Any) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        self._write_chunk(f"data: {text}\n\n".encode())

    # ---- routes ------------------------------------------------------------

    def _embeddings(self) -> None:
        try:
            body = json.loads(self._read_body() or b"{}")
        except ValueError:
            self._send_json(400, {"error": {"message": "invalid JSON", "type": "invalid_request_error"}})
            return
        texts = body.get("input")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            self._send_json(400, {"error": {"message": "input must be a string or a list of strings", "type": "invalid_request_error"}})
            return
        self.owner._record_embedding(texts)
        data = [{"object": "embedding", "index": i, "embedding": word_vector(t)} for i, t in enumerate(texts)]
        self._send_json(200, {"object": "list", "data": data, "model": body.get("model", "fake-embedder"),
                              "usage": {"prompt_tokens": 0, "total_tokens": 0}})

    def do_GET(self) -> None:  # noqa: N802
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send_json(
                200,
                {"object": "list", "data": [{"id": DEFAULT_MODEL, "object": "model", "owned_by": "fake"}]},
            )
            return
        if self.path in ("/health", "/healthz"):
            self._send_json(200, {"status": "ok"})
            return
        self._send_json(404, {"error": {"message": f"no route GET {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:  # noqa: N802
        self.owner._enter(1)
        try:
            self._post()
        finally:
            self.owner._enter(-1)

    def _post(self) -> None:
        if self.path.split("?")[0].rstrip("/") in ("/v1/embeddings", "/embeddings"):
            self._embeddings()
            return
        raw = self._read_body()
        if self.path.split("?")[0].rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._send_json(404, {"error": {"message": f"no route POST {self.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body is not an object")
        except ValueError as exc:
            self._send_json(400, {"error": {"message": f"invalid JSON body: {exc}", "type": "invalid_request_error"}})
            return
        number = self.owner._record(body, {k.lower(): v for k, v in self.headers.items()})
        structured, schema = request_schema(body)
        reply = self.owner._rule_reply(body)
        if reply is None:
            reply = self.owner._next_reply(structured) or {}

        if "status" in reply:
            status = int(reply["status"])
            payload = reply.get(
                "body",
                {"error": {"message": f"scripted failure ({status})", "type": "server_error", "code": None}},
            )
            self._send_json(status, payload, reply.get("headers"))
            return

        tool_calls = reply.get("tool_calls")
        if "text" in reply:
            content = str(reply["text"])
        elif "json" in reply:
            content = json.dumps(reply["json"])
        elif tool_calls:
            content = ""
        elif structured:
            content = json.dumps(instance_for(schema) if schema is not None else {})
        else:
            content = self.owner.default_text
        default_chunks = DEFAULT_JSON_CHUNKS if structured else self.owner.default_text_chunks
        pieces = split_pieces(content, reply.get("chunks", default_chunks)) if content else []
        delay = float(reply.get("delay", 0.0))
        calls = [
            {
                "id": f"call_fake_{number}_{i}",
                "type": "function",
                "function": {
                    "name": c["name"],
                    "arguments": c["arguments"] if isinstance(c.get("arguments"), str) else json.dumps(c.get("arguments", {})),
                },
            }
            for i, c in enumerate(tool_calls or [])
        ]
        model = body.get("model") or DEFAULT_MODEL
        completion_id = f"chatcmpl-fake-{number}-{uuid.uuid4().hex[:8]}"
        finish = "tool_calls" if calls else "stop"
        usage = {
            "prompt_tokens": 10,
            "completion_tokens": max(1, len(pieces)),
            "total_tokens": 10 + max(1, len(pieces)),
        }

        if not body.get("stream"):
            time.sleep(delay * max(1, len(pieces)))
            message: dict[str, Any] = {"role": "assistant", "content": content if content or not calls else None}
            if calls:
                message["tool_calls"] = calls
            self._send_json(
                200,
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                    "usage": usage,
                },
            )
            return

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(delta: dict, finish_reason: str | None = None) -> dict:
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
            }

        try:
            self._event(chunk({"role": "assistant", "content": ""}))
            for piece in pieces:
                if delay:
                    time.sleep(delay)
                self._event(chunk({"content": piece}))
            for i, call in enumerate(calls):
                if delay:
                    time.sleep(delay)
                args = call["function"]["arguments"]
                half = len(args) // 2
                self._event(chunk({"tool_calls": [{
                    "index": i, "id": call["id"], "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": args[:half]},
                }]}))
                self._event(chunk({"tool_calls": [{"index": i, "function": {"arguments": args[half:]}}]}))
            self._event(chunk({}, finish))
            if (body.get("stream_options") or {}).get("include_usage"):
                final = chunk({})
                final["choices"] = []
                final["usage"] = usage
                self._event(final)
            self._event("[DONE]")
            self._write_chunk(b"")  # end of the chunked body
        except _Disconnected:
            return


if __name__ == "__main__":  # manual check: python3 fake_openai.py, then curl it
    with FakeOpenAI() as fake:
        print(f"fake OpenAI endpoint at {fake.base_url} (Ctrl-C to stop)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
