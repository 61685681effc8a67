#!/usr/bin/env python3
"""Generate Compadre's own OpenAPI document from the Amigo Classic reference.

    python3 scripts/gen-openapi.py [--reference PATH] [--output PATH]

Reads the reference document (default ../shared/reference/amigo-classic-openapi.json,
relative to the repository root, or $COMPADRE_REFERENCE_OPENAPI) and writes
Sources/Server/Resources/openapi.json with only the operations listed in OPERATIONS below.

What is taken from the reference: paths, methods, operationIds, parameters (name, in,
required, schema), request bodies, status codes, response schemas and the per-operation
rate limits. What is not: any prose. Every description, summary, title and example is
dropped; summaries and error descriptions are written here. Schema names are rewritten
to readable ones (see schema_name()). Output is deterministic: sorted keys, indent=1.

To serve another reference operation, add a line to OPERATIONS and run the script again.
The Swift server reads `x-rate-limit-per-minute` from the bundled document at startup.
"""

import argparse
import json
import os
import re
import sys

# ---------------------------------------------------------------------------
# The operations Compadre serves.
#
# Each entry: (reference operationId, summary, error descriptions that differ from
# ERROR_DESCRIPTIONS, our operationId when it differs from the reference's).
# ---------------------------------------------------------------------------
OPERATIONS = [
    # Organization
    ("get-organization", "Fetch the organization's profile and branding", {
        404: "No such organization."}),
    ("modify-organization", "Change the organization's settings", {
        404: "No such organization."}),
    ("create-api-key", "Issue a new organization API key", {
        400: "The organization already holds the most API keys allowed.",
        404: "No such organization or role.",
        409: "Another change to this organization is in progress."}),
    ("get-api-keys", "List the organization's API keys", {
        404: "No such organization."}),
    ("delete-api-key", "Revoke an API key", {
        404: "No such organization or API key."}),
    # Users
    ("create-invited-user", "Invite a user into the organization", {
        404: "No such organization or role.",
        409: "That email is taken in this organization, or another change is in progress."}),
    ("get-users", "List users, with filters", {
        404: "No such organization."}),
    ("search-users", "Find users by a free-text query", {
        404: "No such organization."}),
    ("update-user-info", "Change a user's profile fields", {
        404: "No such organization or user.",
        409: "Another change to this user is in progress."}),
    ("delete-user", "Remove a user from the organization", {
        400: "The user is still in use and cannot be removed.",
        404: "No such organization or user.",
        409: "Another change to this user is in progress."}),
    ("get-user-model", "Read what has been learned about a user", {
        404: "No such organization or user."}),
    ("get-memories", "List the memories kept for a user", {
        404: "No such organization or user."}),
    ("modify-user-variables", "Set or remove a user's variables", {
        400: "A variable to remove does not exist, or the user would exceed 20 non-sensitive variables.",
        404: "No such organization or user."}),
    ("sign-in-with-api-key", "Exchange an API key for a user token", {
        401: "Unknown or wrong API key, or unknown user.",
        404: "No such organization."}),
    # Agents
    ("create-agent", "Register a new agent (it has no versions yet)", {
        404: "No such organization.",
        409: "An agent by that name exists already."}),
    ("get-agents", "List agents", {
        404: "No such organization."}),
    ("create-agent-version", "Publish the next version of an agent", {
        400: "A first version must set every field, or the voice is unknown.",
        404: "No such organization or agent.",
        409: "The version number given is not the next one."}),
    ("get-agent-versions", "List the versions of one agent", {
        404: "No such organization or agent."}),
    ("delete-agent", "Retire an agent", {
        400: "An active service still uses this agent.",
        404: "No such organization or agent.",
        409: "The agent was deleted before."}),
    # Context graphs (service hierarchical state machines)
    ("create-service-hierarchical-state-machine", "Register a new context graph (it has no versions yet)", {
        404: "No such organization.",
        409: "A context graph by that name exists already."}),
    ("get-service-hierarchical-state-machines", "List context graphs", {
        404: "No such organization."}),
    ("create-service-hierarchical-state-machine-version", "Publish the next version of a context graph", {
        400: "The graph refers to another graph that is missing or deprecated.",
        404: "No such organization, context graph or tool.",
        409: "The version number given is not the next one."}),
    ("get-service-hierarchical-state-machine-versions", "List the versions of one context graph", {
        404: "No such organization or context graph."}),
    ("delete-service-hierarchical-state-machine", "Retire a context graph", {
        400: "An active service still uses this context graph.",
        404: "No such organization or context graph.",
        409: "The context graph was deleted before."}),
    # Services
    ("get-services", "List services", {
        404: "No such organization."}),
    ("create-service", "Set up a service from an agent and a context graph", {
        400: "The release version set points outside the service's agent or graph, or its model settings are invalid.",
        404: "No such organization, agent or context graph.",
        409: "An active service by that name exists already."}),
    ("upsert-service-version-set", "Create or replace a named version set of a service", {
        400: "The versions point outside the service's agent or graph, the set is `edge`, or the model settings are invalid.",
        404: "No such organization or service."}),
    ("delete-service-version-set", "Remove a named version set from a service", {
        400: "`edge`, `release` and sets used by unit tests cannot be removed.",
        404: "No such organization, service or version set."}),
    ("update-service", "Change a service's settings", {
        400: "The change would activate a service with deprecated or invalid parts, or deactivate one tests use.",
        404: "No such organization or service.",
        409: "Another active service already has this name."}),
    # Roles
    ("create-role", "Define a new role", {
        404: "No such organization or inherited role.",
        409: "A role by that name exists already."}),
    ("get_roles_v1__organization__role__get", "List roles", {
        404: "No such organization."}, "get-roles"),
    ("modify-role", "Change a role's permissions or inheritance", {
        400: "A base role cannot inherit from another role.",
        404: "No such organization, role or inherited role."}),
    ("assign-role", "Give a role to a user", {
        404: "No such organization, role or user."}),
    # Conversations
    ("create-conversation", "Start a conversation and stream its first interaction", {
        400: "The user has an unfinished conversation for the service, or voice output was requested.",
        404: "No such organization, service or version set.",
        409: "Another create for this user and service is running."}),
    ("get-conversations", "List conversations", {}),
    ("interact-with-conversation", "Send a user turn and stream the agent's reply", {
        400: "Empty message, or external events whose timestamps are inconsistent.",
        404: "No such organization or conversation.",
        409: "The conversation is finished or busy.",
        415: "Unsupported audio."}),
    ("get-conversation-messages", "List a conversation's messages", {
        404: "No such organization or conversation."}),
    ("finish-conversation", "End a conversation", {
        400: "Nothing was said in the conversation yet.",
        404: "No such organization or conversation.",
        409: "The conversation is finished or busy."}),
    ("get-interaction-insights", "What the agent did in one interaction", {
        404: "No such organization, conversation or interaction."}),
    ("recommend-responses-for-interaction", "Suggest replies for the user", {
        400: "Not the latest interaction of an unfinished conversation.",
        404: "No such organization, conversation or interaction."}),
    ("retrieve-message-source", "Where a voice message's audio can be fetched", {
        400: "Text messages have no audio source.",
        404: "No such organization or message."}),
    ("generate-conversation-starter", "Suggest opening messages for a service", {
        404: "No such service or version set."}),
    ("modify-tags-of-conversation", "Add, change or remove conversation tags", {
        400: "More than 20 tags.",
        404: "No such organization or conversation."}),
    # Tools
    ("access-git-interface", "The organization's tool repository over Git smart HTTP", {}),
    ("get-tool-scaffold-release", "Download the tool project template", {}),
    ("create-tool", "Create a tool (usable once a version is published)", {
        400: "The name is longer than 100 characters.",
        409: "A tool with this name exists."}),
    ("get-tools", "List tools", {}),
    ("modify-tool", "Change a tool's description or tags", {
        404: "No such organization or tool."}),
    ("deprecate-tool", "Retire a tool so it can no longer be used", {
        404: "No such organization or tool.",
        409: "Another operation on this tool is in progress."}),
    ("modify-tool-envvars", "Add, change or delete a tool's environment variables", {
        400: "A variable to change does not exist, or one to delete is used by an active version.",
        404: "No such organization or tool.",
        409: "A variable with that name exists or was deleted a moment ago."}),
    ("publish-tool-version", "Build and publish the next version of a tool", {
        400: "Version rules, missing environment variables, or a failed build.",
        404: "No such tool, branch or project directory.",
        409: "Another operation on this tool is in progress."}),
    ("get-tool-versions", "List a tool's versions", {
        404: "No such organization or tool."}),
    ("deprecate-tool-version", "Deprecate the versions matching a constraint", {
        404: "No such organization or tool."}),
    ("invoke-tool-version", "Run a tool version on inputs", {
        400: "An input does not match the tool's input schema.",
        404: "No such tool or usable version."}),
    ("test-tool", "Build a branch's tool and run it on inputs", {
        400: "Variables given both as secret and not, missing variables, a bad input or a failed build.",
        404: "No such branch or project directory."}),
    ("get-tool-invocations", "List tool invocations", {
        400: "`tool_id` and `version` differ in length."}),
    ("search-tool-invocations", "Search tool invocations by output or error", {}),
]

# Reference operationIds used by more than one method (each extra one gets `-<method>`).
SHARED_OPERATION_IDS = {"access-git-interface"}

# Operations that need no credentials. The reference also marks some operations public
# (security: []); those keep that marking.
PUBLIC_OPERATIONS = {"sign-in-with-api-key", "healthz", "get-openapi-document", "get-metrics"}

# Error descriptions used unless an operation gives its own.
ERROR_DESCRIPTIONS = {
    400: "The request cannot be applied in the current state.",
    401: "Missing, malformed or expired credentials.",
    403: "The caller lacks a permission this operation needs.",
    404: "The organization or a referenced resource was not found.",
    408: "The operation took too long.",
    409: "Conflicts with an existing resource or an operation in progress.",
    415: "The body's media type is not accepted here.",
    422: "A path, query, header or body value failed validation.",
    429: "Too many requests to this operation this minute; retry after the indicated delay.",
}
SUCCESS_DESCRIPTIONS = {
    200: "Success.",
    201: "Created.",
    202: "Accepted.",
    204: "Success; no body.",
}
# Status codes of the reference that Compadre does not use (it has no maintenance mode).
DROPPED_STATUS_CODES = {"503"}
# Header parameters of the reference that mean nothing to Compadre.
DROPPED_PARAMETERS = {("header", "x-mongo-cluster-name"), ("header", "sec-websocket-protocol")}

# Readable names for reference schemas whose generated names cannot be turned into one
# mechanically (their names encode a regular expression). Two reference schemas may share a
# name only when their cleaned contents are identical; main() checks that.
SCHEMA_NAME_OVERRIDES = {
    "StrippedNonemptyString_A-Z______": "UpperSnakeName",
    "StrippedNonemptyString_A-Za-z0-9_-______MaxLen_max_length_40_": "VersionSetName",
    "StrippedNonemptyString___w__s_____": "TagText",
    "StrippedNonemptyString___w__s______": "ConversationTagKey",
    "StrippedNonemptyString_a-z-______": "LowerKebabName",
    "StrippedNonemptyString_a-z-_____a-z-____0_2____": "Keyterm",
    "StrippedNonemptyString_a-z0-9______": "ToolName",
    "StrippedNonemptyString_a-z___a-z0-9_______": "VariableName",
    "StrippedNonemptyString_a-z___a-z0-9___lambda__at_0xffff64087480__": "VariableName",
}

# Schemas written for Compadre (not from the reference).
OWN_SCHEMAS = {
    "ErrorBody": {
        "type": "object",
        "required": ["detail"],
        "properties": {"detail": {"type": "string"}},
        "description": "Body of every error response except validation failures.",
    },
    "ValidationErrorBody": {
        "type": "object",
        "required": ["detail"],
        "properties": {"detail": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationIssue"}}},
        "description": "Body of a 422 response: one entry per value that failed validation.",
    },
    "ValidationIssue": {
        "type": "object",
        "required": ["loc", "msg", "type"],
        "properties": {
            "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            "msg": {"type": "string"},
            "type": {"type": "string"},
        },
        "description": "Where a value failed (for example [\"body\", \"name\"]), why, and a machine-readable kind.",
    },
    "HealthStatus": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "enum": ["ok"]}},
    },
}

RATE_LIMIT_HEADERS = {
    "Retry-After": ("RetryAfter", "Seconds to wait before trying again."),
    "X-RateLimit-Limit": ("RateLimitLimit", "Requests allowed per minute for this operation."),
    "X-RateLimit-Remaining": ("RateLimitRemaining", "Requests left in the current window."),
    "X-RateLimit-Reset": ("RateLimitReset", "Seconds until the current window ends."),
}

RATE_LIMIT_PATTERN = re.compile(r"rate limit of (\d+) requests? per minute")

# ---------------------------------------------------------------------------
# Schema names
# ---------------------------------------------------------------------------


def camel(snake):
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_") if part)


def schema_name(name, schema):
    """Readable component name for a reference schema name (deterministic)."""
    if name in SCHEMA_NAME_OVERRIDES:
        return SCHEMA_NAME_OVERRIDES[name]
    parts = name.split("__")
    # src__app__endpoints__<group>__<endpoint>__Request|Response[__Nested...]
    if parts[:3] == ["src", "app", "endpoints"] and len(parts) >= 6:
        endpoint, kind, nested = parts[4], parts[5], parts[6:]
        if nested:
            return camel(endpoint) + "".join(nested)
        return camel(endpoint) + kind
    # amigo_lib__pydantic__base_model__StrippedNonemptyString__N: name by constraints.
    if name.startswith("amigo_lib__pydantic__base_model__StrippedNonemptyString__"):
        if "pattern" in schema:
            raise SystemExit(f"add an override to SCHEMA_NAME_OVERRIDES for {name}")
        suffix = ""
        if "maxLength" in schema:
            suffix += f"Max{schema['maxLength']}"
        if schema.get("minLength", 1) != 1:
            suffix += f"Min{schema['minLength']}"
        return "NonEmptyString" + suffix
    if name.startswith("StrippedNonemptyString"):
        raise SystemExit(f"add an override to SCHEMA_NAME_OVERRIDES for {name}")
    # <package>__<module>...__<Class>[__<Nested>...] (e.g. amigo_lib__mongo__collections__agent__Agent__UserInfo)
    if len(parts) > 1:
        classes = [p for p in parts if p[:1].isupper()]
        modules = [p for p in parts if not p[:1].isupper()]
        if len(classes) == 1:
            return camel(modules[-1]) + classes[0]
        return "".join(classes)
    # Pydantic's -Input / -Output variants, and private names.
    return name.replace("-", "").lstrip("_")


# ---------------------------------------------------------------------------
# Cleaning schemas: drop prose, rename $refs, drop the huge enums.
# ---------------------------------------------------------------------------

PROSE_KEYS = {"description", "summary", "title", "examples", "example", "$comment"}
NAMED_SCHEMA_MAPS = {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
SCHEMA_LISTS = {"anyOf", "oneOf", "allOf", "prefixItems"}
SCHEMA_VALUES = {"items", "additionalProperties", "propertyNames", "not", "if", "then", "else",
                 "contains", "unevaluatedProperties", "unevaluatedItems", "contentSchema"}
LITERAL_KEYS = {"type", "format", "pattern", "minLength", "maxLength", "minimum", "maximum",
                "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems",
                "uniqueItems", "minProperties", "maxProperties", "required", "enum", "const",
                "default", "readOnly", "writeOnly", "deprecated", "contentEncoding",
                "contentMediaType"}

# The reference spells out every ISO 639-3 language code (7,910 values) and every IANA time
# zone (599 values) as enums. Copied, they would make up most of the document's size and of
# any code generated from it. They are kept as plain strings (with their length/pattern
# limits); the server checks languages itself (3 lowercase letters, or a 2-letter code) and
# time zones against the operating system's time zone database.


def is_language_enum(values):
    return len(values) > 1000 and all(isinstance(v, str) and re.fullmatch(r"[a-z]{3}", v) for v in values)


def is_timezone_enum(values):
    return len(values) > 300 and "UTC" in values and "Africa/Abidjan" in values


LARGE_ENUM = 100


class Cleaner:
    def __init__(self, reference_schemas):
        self.reference_schemas = reference_schemas
        self.used = set()  # reference schema names reached

    def ref(self, ref):
        prefix = "#/components/schemas/"
        if not ref.startswith(prefix):
            raise SystemExit(f"unexpected $ref {ref}")
        name = ref[len(prefix):]
        if name not in self.reference_schemas:
            raise SystemExit(f"dangling $ref in reference: {ref}")
        self.used.add(name)
        return prefix + schema_name(name, self.reference_schemas[name])

    def schema(self, s):
        if isinstance(s, bool):
            return s
        if not isinstance(s, dict):
            raise SystemExit(f"not a schema: {s!r:.200}")
        out = {}
        for key, value in s.items():
            if key in PROSE_KEYS:
                continue
            if key == "$ref":
                out[key] = self.ref(value)
            elif key in NAMED_SCHEMA_MAPS:
                out[key] = {k: self.schema(v) for k, v in value.items()}
            elif key in SCHEMA_LISTS:
                out[key] = [self.schema(v) for v in value]
            elif key in SCHEMA_VALUES:
                out[key] = self.schema(value)
            elif key == "discriminator":
                d = {"propertyName": value["propertyName"]}
                if "mapping" in value:
                    d["mapping"] = {k: self.ref(v) for k, v in value["mapping"].items()}
                out[key] = d
            elif key == "enum" and len(value) > LARGE_ENUM:
                if not (is_language_enum(value) or is_timezone_enum(value)):
                    raise SystemExit(f"unexpected enum of {len(value)} values; decide whether to keep it")
                # Dropped on purpose: see the comment above is_language_enum.
            elif key in LITERAL_KEYS:
                out[key] = value
            else:
                raise SystemExit(f"unknown schema keyword {key!r}; teach Cleaner about it")
        return out


# ---------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------


def json_content(schema):
    return {"application/json": {"schema": schema}}


def error_response(code, description):
    body = "ValidationErrorBody" if code == 422 else "ErrorBody"
    response = {"description": description, "content": json_content({"$ref": f"#/components/schemas/{body}"})}
    if code == 429:
        response["headers"] = {header: {"$ref": f"#/components/headers/{component}"}
                               for header, (component, _) in RATE_LIMIT_HEADERS.items()}
    return response


def build_operation(ref_op, summary, error_overrides, operation_id, cleaner):
    op = {"operationId": operation_id, "summary": summary}
    if ref_op.get("tags"):
        op["tags"] = list(ref_op["tags"])

    params = []
    for p in ref_op.get("parameters", []):
        if "$ref" in p:
            raise SystemExit(f"{operation_id}: parameter $ref not supported")
        if (p["in"], p["name"].lower()) in DROPPED_PARAMETERS:
            continue
        param = {"name": p["name"], "in": p["in"], "schema": cleaner.schema(p["schema"])}
        if p.get("required") or p["in"] == "path":
            param["required"] = True
        params.append(param)
    if params:
        op["parameters"] = params

    if "requestBody" in ref_op:
        rb = ref_op["requestBody"]
        op["requestBody"] = {
            "required": bool(rb.get("required", False)),
            "content": {media: {"schema": cleaner.schema(c.get("schema", {}))}
                        for media, c in rb["content"].items()},
        }

    responses = {}
    for code_str, r in ref_op["responses"].items():
        if code_str in DROPPED_STATUS_CODES:
            continue
        code = int(code_str)
        if 200 <= code < 300:
            resp = {"description": SUCCESS_DESCRIPTIONS[code]}
            if "content" in r:
                resp["content"] = {media: {"schema": cleaner.schema(c.get("schema", {}))}
                                   for media, c in r["content"].items()}
            responses[code_str] = resp
        elif 400 <= code < 500:
            responses[code_str] = error_response(code, error_overrides.get(code, ERROR_DESCRIPTIONS[code]))
            if code == 429:
                m = RATE_LIMIT_PATTERN.search(r.get("description", ""))
                if not m:
                    raise SystemExit(f"{operation_id}: no rate limit in its 429 description")
                op["x-rate-limit-per-minute"] = int(m.group(1))
        else:
            raise SystemExit(f"{operation_id}: unexpected status {code_str}")
    op["responses"] = responses

    if operation_id in PUBLIC_OPERATIONS or ref_op.get("security") == []:
        op["security"] = []
    return op


def own_operations():
    """Operations Compadre adds to the Classic API."""
    return {
        "/healthz": {"get": {
            "operationId": "healthz",
            "summary": "Report whether the server can reach its database",
            "tags": ["Compadre"],
            "security": [],
            "responses": {
                "200": {"description": "The database is reachable.",
                        "content": json_content({"$ref": "#/components/schemas/HealthStatus"})},
                "503": {"description": "The database cannot be reached.",
                        "content": json_content({"$ref": "#/components/schemas/ErrorBody"})},
            },
        }},
        "/metrics": {"get": {
            "operationId": "get-metrics",
            "summary": "The server's metrics in the Prometheus text format",
            "tags": ["Compadre"],
            "security": [],
            "responses": {
                "200": {"description": "Requests, interactions, model calls, tool runs, realtime connections, lease conflicts.",
                        "content": {"text/plain": {"schema": {"type": "string"}}}},
            },
        }},
        "/openapi.json": {"get": {
            "operationId": "get-openapi-document",
            "summary": "This API document",
            "tags": ["Compadre"],
            "security": [],
            "responses": {
                "200": {"description": "The OpenAPI document of this server.",
                        "content": json_content({"type": "object"})},
            },
        }},
    }


# ---------------------------------------------------------------------------


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", default=os.environ.get(
        "COMPADRE_REFERENCE_OPENAPI",
        os.path.join(root, "..", "shared", "reference", "amigo-classic-openapi.json")))
    parser.add_argument("--output", default=os.path.join(root, "Sources", "Server", "Resources", "openapi.json"))
    args = parser.parse_args()

    with open(args.reference, encoding="utf-8") as f:
        reference = json.load(f)
    ref_schemas = reference["components"]["schemas"]

    index = {}
    for path, item in reference["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and "operationId" in op:
                index.setdefault(op["operationId"], []).append((path, method, op))

    cleaner = Cleaner(ref_schemas)
    paths = own_operations()
    seen_ids = {"healthz", "get-openapi-document"}
    for entry in OPERATIONS:
        ref_id, summary, overrides = entry[0], entry[1], entry[2]
        our_id = entry[3] if len(entry) > 3 else ref_id
        matches = index.get(ref_id, [])
        if not matches or (len(matches) > 1 and ref_id not in SHARED_OPERATION_IDS):
            raise SystemExit(f"{ref_id}: found {len(matches)} operations in the reference")
        for number, (path, method, ref_op) in enumerate(matches):
            # The reference gives GET and POST of the git interface one id; ids must be unique.
            op_id = our_id if number == 0 else f"{our_id}-{method}"
            if op_id in seen_ids:
                raise SystemExit(f"duplicate operationId {op_id}")
            seen_ids.add(op_id)
            paths.setdefault(path, {})
            if method in paths[path]:
                raise SystemExit(f"{method.upper()} {path} listed twice")
            paths[path][method] = build_operation(ref_op, summary, overrides, op_id, cleaner)

    # Copy every schema reachable from the operations, cleaning as we go.
    schemas = {}
    origin = {}  # our name -> reference name
    done = set()
    while True:
        pending = sorted(cleaner.used - done)
        if not pending:
            break
        for ref_name in pending:
            done.add(ref_name)
            cleaned = cleaner.schema(ref_schemas[ref_name])
            name = schema_name(ref_name, ref_schemas[ref_name])
            if name in OWN_SCHEMAS:
                raise SystemExit(f"{ref_name} renamed to {name}, which is one of our own schemas")
            if name in schemas and schemas[name] != cleaned:
                raise SystemExit(f"name collision: {origin[name]} and {ref_name} both become {name}")
            schemas[name] = cleaned
            origin.setdefault(name, ref_name)

    # The renaming must stay collision-free for every schema of the reference, so that adding
    # operations later never silently merges two different types.
    all_names = {}
    for ref_name, s in ref_schemas.items():
        all_names.setdefault(schema_name(ref_name, s), []).append(ref_name)
    for name, sources in all_names.items():
        if len(sources) > 1:
            contents = {json.dumps(Cleaner(ref_schemas).schema(ref_schemas[s]), sort_keys=True) for s in sources}
            if len(contents) > 1:
                raise SystemExit(f"name collision: {sources} all become {name}")

    schemas.update(OWN_SCHEMAS)

    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "Compadre",
            "version": "0.1.0",
            "description": "Self-hosted conversational-agent server speaking the Amigo Classic API.",
        },
        "security": [{"Bearer": []}, {"Basic": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "headers": {component: {"description": text, "schema": {"type": "integer", "minimum": 0}}
                        for component, text in RATE_LIMIT_HEADERS.values()},
            "securitySchemes": {
                "Bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                           "description": "A user token from sign-in-with-api-key."},
                "Basic": {"type": "http", "scheme": "basic",
                          "description": "User name `{org_id}_{user_id}`, password a user token."},
                "OrganizationId": {"type": "apiKey", "in": "header", "name": "X-ORG-ID",
                                   "description": "Optional: the organization that issued the token, when it differs from the path's."},
            },
        },
    }

    text = json.dumps(document, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    operations = sum(len(item) for item in paths.values())
    print(f"wrote {args.output}: {len(text.encode('utf-8'))} bytes, {operations} operations, {len(schemas)} schemas")


if __name__ == "__main__":
    main()
