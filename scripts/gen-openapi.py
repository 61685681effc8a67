#!/usr/bin/env python3
"""Generate Compadre's own OpenAPI document from the Amigo Classic reference.

    python3 scripts/gen-openapi.py [--reference PATH] [--output PATH]

Reads the reference document (default ../shared/reference/amigo-classic-openapi.json,
relative to the repository root, or $COMPADRE_REFERENCE_OPENAPI) and writes
Sources/Server/Resources/openapi.json with only the operations listed in OPERATIONS below.

What is taken from the reference: paths, methods, operationIds, parameters (name, in,
required, schema), request bodies, status codes, response schemas and the per-operation
rate limits. What is added: the rules the server enforces that the reference leaves unsaid
(patterns, enums, bounds; see "Rules the server enforces" below), which Benchmarks/fuzz.sh
holds the server to. What is not: any prose. Every description, summary, title and example is
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
    ("get-user-dimensions", "The dimensions the organization's user models track", {
        404: "No such organization."}),
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
        404: "No such organization or message, or its audio is not stored."}),
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
    # Dynamic behaviors
    ("create-dynamic-behavior-set", "Create a dynamic behavior set with its first version", {
        404: "No such organization, service or tool.",
        409: "The set is to be active and an active set with this name exists."}),
    ("get-dynamic-behavior-sets", "List dynamic behavior sets", {}),
    ("search-dynamic-behavior-sets", "Find dynamic behavior sets by name and latest triggers", {}),
    ("update-dynamic-behavior-set", "Change a set's name, tags, services or activity", {
        404: "No such organization, dynamic behavior set or service.",
        409: "Another active set has this name."}),
    ("delete-dynamic-behavior-instruction", "Delete a dynamic behavior set with its versions", {
        404: "No such organization or dynamic behavior set."}),
    ("create-dynamic-behavior-set-version", "Create the next version of a dynamic behavior set", {
        400: "The given version number is not the next one.",
        404: "No such organization, dynamic behavior set or tool."}),
    ("get-dynamic-behavior-set-versions", "List a dynamic behavior set's versions", {
        404: "No such organization or dynamic behavior set."}),
    ("get-dynamic-behavior-invocations", "List the times a set was selected in conversations", {
        404: "No such organization or dynamic behavior set."}),
    # Metrics
    ("create-metric", "Create a metric (boolean, numerical with bounds, or categorical)", {
        404: "No such organization or service.",
        409: "A metric that is not deleted has this name."}),
    ("get-metrics", "List metrics", {}),
    ("search-metrics", "Find metrics by name and description", {}),
    ("update-metric", "Change a metric's description, services, notes or tags", {
        404: "No such organization, metric or service, or the metric was deleted."}),
    ("evaluate-metrics", "Judge a conversation by metrics with the model; stored as manual results", {
        400: "Nothing to judge: the conversation has had no interaction yet.",
        404: "No such organization, conversation, interaction or metric, or the metric was deleted.",
        503: "The model could not judge a metric (no answer that fits it after retries)."}),
    ("get-metric-evaluation-results", "List stored metric results", {}),
    ("delete-metric", "Delete a metric (it stays readable by id)", {
        400: "A simulation unit test uses the metric.",
        404: "No such organization or metric, or it was already deleted."}),
    # Email sign-in
    ("sign-in-with-email", "Mail a one-time sign-in link (the answer is the same for unknown addresses)", {
        503: "This server sends no email (no SMTP server configured)."}),
    # Organizations
    ("create-organization", "Create an organization with its default roles and super administrator (credentials shown once)", {
        400: "The organization id is reserved or not valid.",
        403: "Only a super administrator (of the organization that issued the token) may.",
        409: "An organization with this id exists."}),
    ("delete-organization", "Erase an organization: all of its data, tool repository and environments", {
        404: "No such organization."}),
    # Temporary permission grants
    ("create-temporary-permission-grant", "Give a user one permission for a while, beside their role", {
        403: "A permission is missing, or the caller's own role does not allow what the grant gives.",
        404: "No such organization or user."}),
    ("get-temporary-permission-grants", "List temporary permission grants", {}),
    # Admin
    ("get-models", "The server's language models and which prompt kinds each version set routes to them", {}),
    ("submit-sql-query", "Run a read-only SQL query over a snapshot of the organization's data (documented views)", {
        400: "The query is not valid, writes, or reads outside the views.",
        403: "Only a caller more privileged than an organization's administrator may.",
        408: "The query did not finish within 10 seconds."}),
    ("get-prompt-logs", "A zip of the model calls whose log keys start with a prefix (last 30 days)", {
        400: "More than 1,000 logs start with the prefix."}),
    # Webhooks
    ("create-webhook-destination", "Add a webhook destination (its secret is shown once)", {
        400: "The organization has 10 destinations already, or the URL is not HTTPS or names a private address.",
        404: "No such organization."}),
    ("get_webhook_destinations", "List webhook destinations (never their secrets)", {}),
    ("update-webhook-destination", "Change a destination's accepted types or retries", {
        404: "No such organization or webhook destination."}),
    ("delete-webhook-destination", "Remove a webhook destination (deliveries still due are dropped)", {
        404: "No such organization or webhook destination."}),
    ("rotate-webhook-destination-secret", "Issue a new secret; both sign for 30 minutes", {
        400: "The secret was made less than an hour ago.",
        404: "No such organization or webhook destination."}),
    ("get-webhook-deliveries", "List the deliveries to a destination with their attempts", {
        404: "No such organization or webhook destination."}),
    # Simulations
    ("create-simulation-persona", "Create a simulation persona with its first version", {
        404: "No such organization.",
        409: "A simulation persona that is not deleted has this name."}),
    ("get-simulation-personas", "List simulation personas", {}),
    ("search-simulation-personas", "Find simulation personas by name and latest background", {}),
    ("update-simulation-persona", "Change a simulation persona's tags", {
        404: "No such organization or simulation persona, or it was deleted."}),
    ("delete-simulation-persona", "Delete a simulation persona (it stays readable by id)", {
        400: "A simulation unit test uses the persona.",
        404: "No such organization or simulation persona, or it was already deleted."}),
    ("create-simulation-persona-version", "Create the next version of a simulation persona", {
        400: "The given version number is not the next one.",
        404: "No such organization or simulation persona, or it was deleted."}),
    ("get-simulation-persona-versions", "List a simulation persona's versions", {
        404: "No such organization or simulation persona."}),
    ("create-simulation-scenario", "Create a simulation scenario with its first version", {
        404: "No such organization.",
        409: "A simulation scenario that is not deleted has this name."}),
    ("get-simulation-scenarios", "List simulation scenarios", {}),
    ("search-simulation-scenarios", "Find simulation scenarios by name", {}),
    ("update-simulation-scenario", "Change a simulation scenario's tags", {
        404: "No such organization or simulation scenario, or it was deleted."}),
    ("delete-simulation-scenario", "Delete a simulation scenario (it stays readable by id)", {
        400: "A simulation unit test uses the scenario.",
        404: "No such organization or simulation scenario, or it was already deleted."}),
    ("create-simulation-scenario-version", "Create the next version of a simulation scenario", {
        400: "The given version number is not the next one.",
        404: "No such organization or simulation scenario, or it was deleted."}),
    ("get-simulation-scenario-versions", "List a simulation scenario's versions", {
        404: "No such organization or simulation scenario."}),
    ("create-simulation-unit-test", "Make a simulation unit test: a service against a persona in a scenario", {
        400: "A success criterion's type is not its metric's type.",
        404: "No such organization, service, version set, persona, scenario or metric (or one was deleted).",
        409: "A simulation unit test that is not deleted has this name."}),
    ("get-simulation-unit-tests", "List simulation unit tests", {}),
    ("search-simulation-unit-tests", "Find simulation unit tests by name and description", {}),
    ("update-simulation-unit-test", "Change a simulation unit test", {
        400: "A success criterion's type is not its metric's type.",
        404: "No such organization, unit test, service, version set, persona, scenario or metric (or one was deleted)."}),
    ("delete-simulation-unit-test", "Delete a simulation unit test (it stays readable by id)", {
        400: "A simulation unit test set uses the unit test.",
        404: "No such organization or simulation unit test, or it was already deleted."}),
    ("create-simulation-unit-test-set", "Make a set of simulation unit tests", {
        404: "No such organization or unit test (or it was deleted).",
        409: "A simulation unit test set that is not deleted has this name."}),
    ("get-simulation-unit-test-sets", "List simulation unit test sets", {}),
    ("search-simulation-unit-test-sets", "Find simulation unit test sets by name and description", {}),
    ("update-simulation-unit-test-set", "Change a simulation unit test set", {
        404: "No such organization, unit test set or unit test (or it was deleted).",
        409: "Another simulation unit test set has this name."}),
    ("delete-simulation-unit-test-set", "Remove a set of simulation unit tests (its runs go on)", {
        404: "No such organization or simulation unit test set, or it was already deleted."}),
    ("create-simulation-unit-test-set-run", "Run a simulation unit test set (as durable jobs)", {
        400: "A unit test's service is not active.",
        404: "No such organization, unit test set, unit test or service version set.",
        409: "The caller already has an unfinished run of this set."}),
    ("get-simulation-unit-test-set-runs", "List simulation unit test set runs", {}),
    ("cancel-simulation-unit-test-set-run", "Stop a run of a simulation unit test set", {
        404: "No such organization or run.",
        409: "The run is not in progress."}),
    ("get-simulation-unit-test-set-run-artifacts", "A signed, expiring link to a run's archive (tar)", {
        400: "The run's archive is not built yet.",
        404: "No such organization or run."}),
]

# Reference operationIds used by more than one method (each extra one gets `-<method>`).
SHARED_OPERATION_IDS = {"access-git-interface"}

# Operations that need no credentials. The reference also marks some operations public
# (security: []); those keep that marking.
PUBLIC_OPERATIONS = {"sign-in-with-api-key", "healthz", "get-openapi-document", "get-server-metrics"}

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
# Header parameters of the reference that mean nothing to Compadre. A `Content-Type` header parameter
# is ignored by OpenAPI (the request body's media type says it); a client that fills it in as a
# parameter sends a multipart boundary that does not match its body.
DROPPED_PARAMETERS = {("header", "x-mongo-cluster-name"), ("header", "sec-websocket-protocol"), ("header", "content-type")}
# ... except where the reference requires one: (operationId, header name).
KEPT_PARAMETERS = {("create-organization", "x-mongo-cluster-name")}

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
    "CreateReplayRequest": {
        "type": "object",
        "required": ["conversation_id", "service_version_set_name"],
        "properties": {
            "conversation_id": {"type": "string", "pattern": "^[a-f0-9]{24}$",
                                "description": "The recorded conversation whose user turns are replayed."},
            "service_version_set_name": {"type": "string", "minLength": 1, "pattern": "\\S",
                                         "description": "The version set of the conversation's service to replay against."},
        },
        "additionalProperties": False,
    },
    "CreateReplayResponse": {
        "type": "object",
        "required": ["replay_id"],
        "properties": {"replay_id": {"type": "string"}},
    },
    "ReplaySide": {
        "type": "object",
        "required": ["states", "agent_message"],
        "properties": {
            "states": {"type": "array", "items": {"type": "string"},
                       "description": "The state the interaction started in, then each state the agent moved to."},
            "agent_message": {"type": "string"},
        },
    },
    "ReplayStep": {
        "type": "object",
        "required": ["index", "input", "original", "replay", "diverged"],
        "properties": {
            "index": {"type": "integer", "description": "0-based position of the interaction in the original."},
            "input": {"type": "array", "items": {"type": "string"},
                      "description": "What the user sent (`user: …`) and the events (`event: …`)."},
            "original": {"$ref": "#/components/schemas/ReplaySide"},
            "replay": {"anyOf": [{"$ref": "#/components/schemas/ReplaySide"}, {"type": "null"}],
                       "description": "Null when the replay ended before this interaction."},
            "diverged": {"type": "boolean"},
        },
    },
    "ReplayMetric": {
        "type": "object",
        "required": ["metric_id", "name", "before", "after", "error"],
        "properties": {
            "metric_id": {"type": "string"},
            "name": {"type": "string"},
            "before": {"description": "The original's value (a stored result, else judged for the replay).",
                       "anyOf": [{"type": "boolean"}, {"type": "number"}, {"type": "string"}, {"type": "null"}]},
            "after": {"description": "The replay's value.",
                      "anyOf": [{"type": "boolean"}, {"type": "number"}, {"type": "string"}, {"type": "null"}]},
            "error": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
    },
    "ReplayReport": {
        "type": "object",
        "required": ["id", "org_id", "created_at", "creator", "status", "error", "conversation_id", "replay_conversation_id",
                     "service_id", "original_version_set_info", "replay_version_set_info", "steps", "first_divergence",
                     "ended_early", "metrics"],
        "properties": {
            "id": {"type": "string"},
            "org_id": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "creator": {"type": "object", "required": ["org_id", "user_id"],
                        "properties": {"org_id": {"type": "string"}, "user_id": {"type": "string"}}},
            "status": {"type": "string", "enum": ["running", "completed", "failed"]},
            "error": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "conversation_id": {"type": "string"},
            "replay_conversation_id": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "service_id": {"type": "string"},
            "original_version_set_info": {"type": "object"},
            "replay_version_set_info": {"type": "object"},
            "steps": {"type": "array", "items": {"$ref": "#/components/schemas/ReplayStep"}},
            "first_divergence": {"anyOf": [{"type": "integer"}, {"type": "null"}],
                                 "description": "Index of the first interaction whose states differ; null when none does."},
            "ended_early": {"type": "boolean"},
            "metrics": {"type": "array", "items": {"$ref": "#/components/schemas/ReplayMetric"}},
        },
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
# Rules the server enforces that the reference leaves unsaid.
#
# The reference states some rules only in prose (dropped here) or in server code, or states one that
# its own server does not hold to. Compadre's server enforces the rules below, so its document says
# so: a client reads them here, and Benchmarks/fuzz.sh (schemathesis) holds the server to exactly what
# the document says, in both directions: what the document allows is accepted, what it forbids is
# rejected. Each rule is what the server checks, no more and no less; nothing is added where neither
# the reference nor the server has a rule. A rule JSON Schema cannot state (one field compared with
# another, a number range across units) is left to prose and to Benchmarks/fuzz_hooks.py.
# ---------------------------------------------------------------------------

# White space as the server trims and tests it (Swift's Character.isWhitespace, Foundation's
# .whitespacesAndNewlines: the Unicode White_Space property), spelled out rather than `\s`, which
# means different sets in ECMA, Python and Rust regular expressions.
WHITESPACE = r"\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
WS = f"[{WHITESPACE}]"
# Foundation's .whitespaces (tabs and spaces, no line breaks): what query values are trimmed of.
HSPACE = r"[\t \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]"

# A `StrippedNonemptyString`: something other than white space.
NOT_BLANK = f"[^{WHITESPACE}]"

# A PEP 440 version specifier set as tool versions use it (Sources/AmigoWire/Tools/VersionSpecifier.swift):
# comma-separated clauses, empty ones skipped (so "" matches every version); `~=` needs two release
# numbers; `.*` only after `==`/`!=`; `===` takes any text without white space, `;` or `)`.
# Numbers have at most 18 digits: the server reads them as 64-bit integers.
_NUMBER = "[0-9]{1,18}"
_RELEASE = f"[vV]?(?:{_NUMBER}!)?{_NUMBER}(?:\\.{_NUMBER})*"
_RELEASE2 = f"[vV]?(?:{_NUMBER}!)?{_NUMBER}(?:\\.{_NUMBER})+"
_CLAUSE = (f"(?:==={WS}*[^,;){WHITESPACE}]*|~={WS}*{_RELEASE2}|(?:==|!=){WS}*{_RELEASE}(?:\\.\\*)?"
           f"|(?:<=|>=|<|>){WS}*{_RELEASE})")
_PIECE = f"{WS}*(?:{_CLAUSE}{WS}*)?"
VERSION_SPECIFIER = f"^{_PIECE}(?:,{_PIECE})*$"

# Which versions of an agent or context graph to list: a number, `latest`, `N-M` or `N-latest`, with
# numbers from 1 (the server also needs N <= M, which no pattern can say).
_VERSION_NUMBER = r"\+?0*[1-9][0-9]{0,17}"
VERSION_SELECTOR = f"^{HSPACE}*(?:latest|{_VERSION_NUMBER}(?:-(?:{_VERSION_NUMBER}|latest))?){HSPACE}*$"

# Base64 as the server decodes it (Foundation's Data(base64Encoded:)): groups of four, the last one
# padded; Foundation also takes `=` after the padding, and four or more `=` alone, as nothing.
BASE64 = r"^(?:={4,}|(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)=*)?$"

# Tag keys and values: word characters and white space, stripped, so not white space alone.
TAG_TEXT = f"^[\\w{WHITESPACE}]*\\w[\\w{WHITESPACE}]*$"

# The largest continuation token (an offset) the server reads.
MAX_CONTINUATION_TOKEN = 2**31 - 1
# Integers in a JSON body are read as 64-bit integers.
INT64 = {"minimum": -2**63, "maximum": 2**63 - 1}

# `sort_by` fields each listing accepts; each may be prefixed `+` (ascending, the default) or `-`.
SORT_FIELDS = {
    "get-conversations": ["created_at"],
    "get-conversation-messages": ["created_at", "interaction_id"],
    "get-agent-versions": ["version"],
    "get-service-hierarchical-state-machine-versions": ["version"],
    "get-services": ["is_active", "name"],
    "get-tools": ["deprecated", "name"],
    "get-tool-versions": ["created_at", "deprecated", "version.major", "version.minor", "version.patch"],
    "get-tool-invocations": ["created_at", "invocation_source.type", "invocation_status.succeeded", "tool_id",
                             "version.major", "version.minor", "version.patch"],
    "get-users": ["email", "first_name", "last_name", "user_stats.last_message_time",
                  "user_stats.num_conversations", "user_stats.num_messages"],
    "get-memories": ["conversation_id", "created_at"],
    "get-dynamic-behavior-sets": ["updated_at"],
    "get-dynamic-behavior-set-versions": ["version"],
    "get-dynamic-behavior-invocations": ["invoked_at"],
    "get-metrics": ["updated_at"],
    "get-metric-evaluation-results": ["created_at"],
    "get-webhook-deliveries": ["created_at", "status", "type"],
    "get-temporary-permission-grants": ["expires_at", "permission_grant.permission_name", "user_id"],
    "get-simulation-personas": ["updated_at"],
    "get-simulation-scenarios": ["updated_at"],
    "get-simulation-unit-tests": ["updated_at"],
    "get-simulation-unit-test-sets": ["updated_at"],
    "get-simulation-unit-test-set-runs": ["created_at"],
    "get-simulation-persona-versions": ["version"],
    "get-simulation-scenario-versions": ["version"],
}

# Parameter rules: (operationId, in, name) -> keywords merged into the parameter's schema (into its
# string branch when it is `anyOf` string/null; into `items` when it is an array).
PARAMETER_RULES = {
    # A tag filter is `key:value` (`key:` matches a tag without value, `key:*` any value).
    ("get-conversations", "query", "tag"): {"pattern": ":"},
    ("get-tools", "query", "tag"): {"pattern": ":"},
    ("get-dynamic-behavior-sets", "query", "tag"): {"pattern": ":"},
    ("search-dynamic-behavior-sets", "query", "tag"): {"pattern": ":"},
    ("get-metrics", "query", "tag"): {"pattern": ":"},
    ("search-metrics", "query", "tag"): {"pattern": ":"},
    ("get-simulation-personas", "query", "tag"): {"pattern": ":"},
    ("get-temporary-permission-grants", "query", "tag"): {"pattern": ":"},
    ("search-simulation-personas", "query", "tag"): {"pattern": ":"},
    ("get-simulation-scenarios", "query", "tag"): {"pattern": ":"},
    ("search-simulation-scenarios", "query", "tag"): {"pattern": ":"},
    ("get-simulation-unit-tests", "query", "tag"): {"pattern": ":"},
    ("search-simulation-unit-tests", "query", "tag"): {"pattern": ":"},
    ("get-simulation-unit-test-sets", "query", "tag"): {"pattern": ":"},
    ("search-simulation-unit-test-sets", "query", "tag"): {"pattern": ":"},
    ("get-simulation-persona-versions", "query", "version"): {"pattern": VERSION_SELECTOR},
    ("get-simulation-scenario-versions", "query", "version"): {"pattern": VERSION_SELECTOR},
    ("create-simulation-persona-version", "query", "version"): {"minimum": 1, "maximum": MAX_CONTINUATION_TOKEN},
    ("create-simulation-scenario-version", "query", "version"): {"minimum": 1, "maximum": MAX_CONTINUATION_TOKEN},
    ("get-dynamic-behavior-set-versions", "query", "version"): {"pattern": VERSION_SELECTOR},
    ("create-dynamic-behavior-set-version", "query", "version"): {"maximum": MAX_CONTINUATION_TOKEN},
    ("get-agent-versions", "query", "version"): {"pattern": VERSION_SELECTOR},
    ("get-service-hierarchical-state-machine-versions", "query", "version"): {"pattern": VERSION_SELECTOR},
    ("create-agent-version", "query", "version"): {"maximum": MAX_CONTINUATION_TOKEN},
    ("create-service-hierarchical-state-machine-version", "query", "version"): {"maximum": MAX_CONTINUATION_TOKEN},
    ("get-tool-versions", "query", "versions"): {"pattern": VERSION_SPECIFIER},
    ("get-tool-invocations", "query", "version"): {"pattern": VERSION_SPECIFIER},
    # A path segment cannot be empty.
    ("deprecate-tool-version", "path", "versions"): {"pattern": VERSION_SPECIFIER, "minLength": 1},
    ("invoke-tool-version", "path", "version"): {"pattern": f"^{_NUMBER}\\.{_NUMBER}\\.{_NUMBER}$"},
    # Voice needs speech engines (`stt.*`, `tts.*`); a server without them answers `voice` with 415
    # (input) or 400 (output), as the fuzzed server does, so the document offers `text` only.
    ("create-conversation", "query", "response_format"): {"enum": ["text"]},
    ("interact-with-conversation", "query", "request_format"): {"enum": ["text"]},
    ("interact-with-conversation", "query", "response_format"): {"enum": ["text"]},
    # Which agent actions to stream: a regular expression.
    ("create-conversation", "query", "current_agent_action_type"): {"format": "regex"},
    ("interact-with-conversation", "query", "current_agent_action_type"): {"format": "regex"},
    # An empty credential header counts as a missing one.
    ("sign-in-with-api-key", "header", "x-api-key"): {"minLength": 1},
    ("sign-in-with-api-key", "header", "x-api-key-id"): {"minLength": 1},
    ("sign-in-with-api-key", "header", "x-user-id"): {"minLength": 1},
}

# Path parameters the reference names differently for two methods of one path. OpenAPI treats
# `/x/{a}/` and `/x/{b}/` as the same path, which must not appear twice: both methods are listed
# under the first name.
RENAMED_PATH_PARAMETERS = {
    "/v1/{organization}/organization/service_hierarchical_state_machine/{state_machine_id}/":
        ("state_machine_id", "service_hierarchical_state_machine_id"),
}

# Schema rules: (schema name, property or None for the schema itself) -> keywords merged into it (into
# every string or integer branch of an `anyOf`). A property may be a path: `references/additionalProperties/prefixItems/1`.
LANGUAGE_3 = {"pattern": "^[a-z]{3}$"}
SCHEMA_RULES = {
    ("NonEmptyString", None): {"pattern": NOT_BLANK},
    ("NonEmptyStringMax100", None): {"pattern": NOT_BLANK},
    ("NonEmptyStringMax256", None): {"pattern": NOT_BLANK},
    ("NonEmptyStringMax3", None): {"pattern": NOT_BLANK},
    # The reference writes `[A-Z_]+`, which Pydantic reads as "contains one"; the whole name must match.
    ("UpperSnakeName", None): {"pattern": "^[A-Z_]+$"},
    ("TagText", None): {"pattern": TAG_TEXT},
    ("ConversationTagKey", None): {"pattern": TAG_TEXT},
    ("CreateToolRequest", "name"): {"maxLength": 100},
    ("AssignRoleRequest", "user_id"): {"pattern": NOT_BLANK},
    ("PermissionGrantInput", "permission_name"): {"pattern": "^(?:\\*|[^:]+:[^:]+)$"},
    # A message type needs a message.
    ("CreateConversationRequest", None): {
        "if": {"required": ["initial_message_type"], "properties": {"initial_message_type": {"type": "string"}}},
        "then": {"required": ["initial_message"], "properties": {"initial_message": {"type": "string"}}},
    },
    ("VersionSetInput", "agent_version_number"): {"minimum": 1, "maximum": INT64["maximum"]},
    ("VersionSetInput", "service_hierarchical_state_machine_version_number"): {"minimum": 1, "maximum": INT64["maximum"]},
    ("ReflectionStateInput", "word_limit"): {"maximum": INT64["maximum"]},
    ("CreateServiceHierarchicalStateMachineVersionRequest", "references/additionalProperties/prefixItems/1"): INT64,
    ("IdentityInput", "default_spoken_language"): LANGUAGE_3,
    ("UpdateUserInfoRequest", "preferred_language"): LANGUAGE_3,
    ("ModifyOrganizationPreferences", "preferred_language"): LANGUAGE_3,
    ("CreateSimulationPersonaInitialVersion", "preferred_language"): LANGUAGE_3,
    ("CreateOrganizationPreferences", "preferred_language"): LANGUAGE_3,
    ("CreateSimulationPersonaVersionRequest", "preferred_language"): LANGUAGE_3,
    ("UnitTestRunDescriptorInput", "run_count"): {"maximum": 100},
    ("UpdateSimulationUnitTestRequest", "run_count"): {"maximum": 100},
    ("ModifyOrganizationRequest", "favicon"): {"pattern": BASE64},
    ("ModifyOrganizationRequest", "logo"): {"pattern": BASE64},
    ("ModifyOrganizationRequest", "signup_page_headshot"): {"pattern": BASE64},
    ("ModifyOrganizationRequest", "square_logo"): {"pattern": BASE64},
    ("CreateOrganizationRequest", "logo"): {"pattern": BASE64},
    ("CreateOrganizationRequest", "square_logo"): {"pattern": BASE64},
    ("CreateOrganizationRequest", "favicon"): {"pattern": BASE64},
    ("CreateOrganizationRequest", "signup_page_headshot"): {"pattern": BASE64},
    # Tools named by version constraints, as tool versions read them.
    ("CreateServiceHierarchicalStateMachineVersionToolCallSpec", "version_constraint"): {"pattern": VERSION_SPECIFIER},
    ("CreateDynamicBehaviorSetInitialVersionChangeToolCandidatesActionToolCallSpec", "version_constraint"): {"pattern": VERSION_SPECIFIER},
    ("CreateDynamicBehaviorSetVersionChangeToolCandidatesActionToolCallSpec", "version_constraint"): {"pattern": VERSION_SPECIFIER},
}
# Properties whose 3-letter branch is LANGUAGE_3 and whose 2-letter branch is ASCII letters.
TWO_OR_THREE_LETTER_LANGUAGES = {("CreateInvitedUserPreferences", "preferred_language")}
# Properties that hold an IANA time zone name (the TimeZoneName schema).
TIME_ZONE_PROPERTIES = {
    ("ModifyOrganizationPreferences", "timezone"),
    ("CreateInvitedUserPreferences", "timezone"),
    ("UpdateUserInfoRequest", "timezone"),
    ("CreateSimulationPersonaInitialVersion", "timezone"),
    ("CreateOrganizationPreferences", "timezone"),
    ("CreateSimulationPersonaVersionRequest", "timezone"),
}
# Time zone names of the reference that the server does not take: `localtime` is a file of the
# time zone database standing for the machine's own zone, not a zone.
DROPPED_TIME_ZONES = {"localtime"}

# Responses the reference describes as JSON that are not: operationId -> {status: content}.
GIT_MEDIA_TYPES = ["application/x-git-upload-pack-advertisement", "application/x-git-receive-pack-advertisement",
                   "application/x-git-upload-pack-result", "application/x-git-receive-pack-result",
                   "application/x-git-loose-object", "application/x-git-packed-objects",
                   "application/x-git-packed-objects-toc", "text/plain"]
RESPONSE_CONTENT = {
    "get-tool-scaffold-release": {"200": {"application/gzip": {}}},
    "access-git-interface": {"200": {media: {} for media in GIT_MEDIA_TYPES}},
    "access-git-interface-get": {"200": {media: {} for media in GIT_MEDIA_TYPES}},
    "get-prompt-logs": {"200": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}},
}
# Error responses an operation gives that the reference does not list: operationId -> {status: description}.
EXTRA_ERRORS = {
    "access-git-interface": {
        401: "No credentials: git is asked for Basic ones (a plain-text body).",
        403: "The caller may not access the tool repository.",
        404: "No such file or service in the repository.",
    },
}
EXTRA_ERRORS["access-git-interface-get"] = EXTRA_ERRORS["access-git-interface"]
# Responses whose body is plain text besides the usual JSON error.
PLAIN_TEXT_ERRORS = {("access-git-interface", 401), ("access-git-interface-get", 401)}


def merge_rule(schema, rule, where):
    """Merges `rule` into `schema`: its string branches when it is an `anyOf`, its items when an array."""
    if "anyOf" in schema:
        targets = [s for s in schema["anyOf"] if s.get("type") in ("string", "integer") or "$ref" in s]
        if not targets:
            raise SystemExit(f"{where}: no branch to take {rule}")
        for target in targets:
            merge_rule(target, rule, where)
    elif schema.get("type") == "array":
        merge_rule(schema["items"], rule, where)
    else:
        for key, value in rule.items():
            narrows = key == "enum" and set(value) <= set(schema.get(key, []))
            if key in schema and schema[key] != value and key != "pattern" and not narrows:
                raise SystemExit(f"{where}: {key} is {schema[key]!r} in the reference, not {value!r}")
        schema.update(rule)


def apply_rules(paths, schemas, reference):
    """The rules above, applied to the generated paths and schemas (in place)."""
    for old_path, (old, new) in RENAMED_PATH_PARAMETERS.items():
        item = paths.pop(old_path)
        new_path = old_path.replace("{" + old + "}", "{" + new + "}")
        for method, op in item.items():
            if method in paths.get(new_path, {}):
                raise SystemExit(f"{method.upper()} {new_path} listed twice")
            for p in op.get("parameters", []):
                if p["in"] == "path" and p["name"] == old:
                    p["name"] = new
            paths.setdefault(new_path, {})[method] = op

    used = set()
    for path, item in paths.items():
        for method, op in item.items():
            op_id = op["operationId"]
            for p in op.get("parameters", []):
                schema = p["schema"]
                where = f"{op_id} {p['in']} {p['name']}"
                if p["in"] == "query":
                    # The reference's `uniqueItems` on query lists comes from Pydantic sets, which
                    # accept repeated values and merge them; so do its server and Compadre.
                    schema.pop("uniqueItems", None)
                if p["name"] == "continuation_token" and schema.get("type") == "integer":
                    merge_rule(schema, {"minimum": 0, "maximum": MAX_CONTINUATION_TOKEN}, where)
                if p["name"] == "sort_by" and p["in"] == "query":
                    fields = SORT_FIELDS.get(op_id)
                    if fields is None:
                        raise SystemExit(f"{where}: add its fields to SORT_FIELDS")
                    merge_rule(schema, {"enum": sorted(prefix + f for f in fields for prefix in ("", "+", "-"))}, where)
                rule = PARAMETER_RULES.get((op_id, p["in"], p["name"]))
                if rule is not None:
                    used.add((op_id, p["in"], p["name"]))
                    merge_rule(schema, rule, where)
            for code, content in RESPONSE_CONTENT.get(op_id, {}).items():
                op["responses"][code]["content"] = content
            for code, description in EXTRA_ERRORS.get(op_id, {}).items():
                if str(code) in op["responses"]:
                    raise SystemExit(f"{op_id}: the reference has {code} now; drop it from EXTRA_ERRORS")
                op["responses"][str(code)] = error_response(code, description)
                if (op_id, code) in PLAIN_TEXT_ERRORS:
                    op["responses"][str(code)]["content"]["text/plain"] = {"schema": {"type": "string"}}
            op["responses"] = dict(sorted(op["responses"].items()))
    unused = set(PARAMETER_RULES) - used
    if unused:
        raise SystemExit(f"parameter rules for no parameter: {sorted(unused)}")

    for (name, prop), rule in SCHEMA_RULES.items():
        schema = schemas[name]
        for step in [] if prop is None else ["properties"] + prop.split("/"):
            schema = schema[int(step)] if isinstance(schema, list) else schema[step]
        merge_rule(schema, rule, f"{name}.{prop}")
    for name, prop in TWO_OR_THREE_LETTER_LANGUAGES:
        for branch in schemas[name]["properties"][prop]["anyOf"]:
            if branch.get("minLength") == 3:
                branch.update(LANGUAGE_3)
            elif branch.get("type") == "string":
                branch["pattern"] = "^[A-Za-z]{2}$"

    zones = None
    for s in reference["components"]["schemas"].values():
        for branch in [s.get("properties", {}).get("timezone", {})] + s.get("properties", {}).get("timezone", {}).get("anyOf", []):
            if is_timezone_enum(branch.get("enum", [])):
                if zones is not None and zones != branch["enum"]:
                    raise SystemExit("the reference has two lists of time zones")
                zones = branch["enum"]
    if zones is None:
        raise SystemExit("no time zone list in the reference")
    schemas["TimeZoneName"] = {"type": "string", "enum": [z for z in zones if z not in DROPPED_TIME_ZONES]}
    for name, prop in TIME_ZONE_PROPERTIES:
        branches = schemas[name]["properties"][prop]["anyOf"]
        strings = [i for i, b in enumerate(branches) if b.get("type") == "string"]
        if len(strings) != 1:
            raise SystemExit(f"{name}.{prop}: expected one string branch")
        branches[strings[0]] = {"$ref": "#/components/schemas/TimeZoneName"}

    # The official SDK leaves out request fields whose value is None, so a field the reference marks
    # required but nullable may be absent, meaning null: it is not required here, and the schema lists
    # it under `x-compadre-absent-means-null` (RequiredNullableTests proves each one).
    request_schemas = set()

    def reach(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref and ref.startswith("#/components/schemas/"):
                name = ref.split("/")[-1]
                if name not in request_schemas:
                    request_schemas.add(name)
                    reach(schemas[name])
            for value in node.values():
                reach(value)
        elif isinstance(node, list):
            for value in node:
                reach(value)

    for item in paths.values():
        for op in item.values():
            if "requestBody" in op:
                reach(op["requestBody"])
    for name in sorted(request_schemas):
        schema = schemas[name]
        properties = schema.get("properties", {})
        nullable = [f for f in schema.get("required", []) if any(b.get("type") == "null" for b in properties.get(f, {}).get("anyOf", []))]
        if nullable:
            schema["required"] = [f for f in schema["required"] if f not in nullable]
            schema["x-compadre-absent-means-null"] = nullable

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
        if (p["in"], p["name"].lower()) in DROPPED_PARAMETERS and (operation_id, p["name"].lower()) not in KEPT_PARAMETERS:
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
        if code_str in DROPPED_STATUS_CODES and int(code_str) not in error_overrides:
            continue
        code = int(code_str)
        if 200 <= code < 300:
            resp = {"description": SUCCESS_DESCRIPTIONS[code]}
            if "content" in r:
                resp["content"] = {media: {"schema": cleaner.schema(c.get("schema", {}))}
                                   for media, c in r["content"].items()}
            responses[code_str] = resp
        elif 400 <= code < 500 or code == 503:
            responses[code_str] = error_response(code, error_overrides.get(code, ERROR_DESCRIPTIONS.get(code, "")))
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
            "operationId": "get-server-metrics",
            "summary": "The server's metrics in the Prometheus text format",
            "tags": ["Compadre"],
            "security": [],
            "responses": {
                "200": {"description": "Requests, interactions, model calls, tool runs, realtime connections, lease conflicts.",
                        "content": {"text/plain": {"schema": {"type": "string"}}}},
            },
        }},
        "/media/conversation/{organization}/{conversation_id}/{message_id}": {"get": {
            "operationId": "get-message-audio",
            "summary": "The audio of a voice message, at the signed link its source gave",
            "description": "The link from `GET …/messages/{message_id}/source` is the credential: it works without a token "
                           "until its `expires` time, and answers 403 when it was changed or has expired.",
            "tags": ["Compadre"],
            "security": [],
            "parameters": [
                {"name": "organization", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "conversation_id", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "message_id", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "expires", "in": "query", "required": True, "schema": {"type": "string"},
                 "description": "Unix time after which the link no longer works."},
                {"name": "signature", "in": "query", "required": True, "schema": {"type": "string"},
                 "description": "HMAC-SHA256 of the path and `expires`, made by the server."},
            ],
            "responses": {
                "200": {"description": "The audio as it was sent or spoken.",
                        "content": {"audio/wav": {"schema": {"type": "string", "format": "binary"}},
                                    "audio/mpeg": {"schema": {"type": "string", "format": "binary"}}}},
                "403": {"description": "The link is not valid or has expired.",
                        "content": json_content({"$ref": "#/components/schemas/ErrorBody"})},
                "404": {"description": "The audio is no longer stored.",
                        "content": json_content({"$ref": "#/components/schemas/ErrorBody"})},
            },
        }},
        "/media/simulation/{organization}/{run_id}/artifacts.tar": {"get": {
            "operationId": "get-simulation-run-archive",
            "summary": "The archive of a simulation run, at the signed link its artifacts gave",
            "description": "The link from `GET …/unit_test_set_run/{id}/artifacts/` is the credential: it works without a "
                           "token until its `expires` time, and answers 403 when it was changed or has expired. The tar "
                           "holds `run.json` and, per unit test and repetition, the outcome, metric results, transcript "
                           "and interactions (state transitions, tool calls).",
            "tags": ["Compadre"],
            "security": [],
            "parameters": [
                {"name": "organization", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "run_id", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "expires", "in": "query", "required": True, "schema": {"type": "string"},
                 "description": "Unix time after which the link no longer works."},
                {"name": "signature", "in": "query", "required": True, "schema": {"type": "string"},
                 "description": "HMAC-SHA256 of the path and `expires`, made by the server."},
            ],
            "responses": {
                "200": {"description": "The archive.",
                        "content": {"application/x-tar": {"schema": {"type": "string", "format": "binary"}}}},
                "403": {"description": "The link is not valid or has expired.",
                        "content": json_content({"$ref": "#/components/schemas/ErrorBody"})},
                "404": {"description": "The archive is no longer stored.",
                        "content": json_content({"$ref": "#/components/schemas/ErrorBody"})},
            },
        }},
        "/v1/{organization}/user/signin/redeem": {"get": {
            "operationId": "redeem-email-sign-in",
            "summary": "Redeem a sign-in link from sign-in-with-email and go on to its redirect link",
            "description": "The link mailed by `POST /v1/{organization}/user/signin` opens this route: a token good for 15 minutes "
                           "and once. It answers 303 to the `redirect_link` that was given, with `#id_token=…&expires_at=…` in "
                           "the fragment (an access token as the API-key sign-in issues), or 403 for a token that is not valid, "
                           "was used, or expired.",
            "tags": ["Compadre"],
            "security": [],
            "parameters": [
                {"name": "organization", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "token", "in": "query", "required": True, "schema": {"type": "string"}},
            ],
            "responses": {
                "303": {"description": "Signed in: on to the redirect link, the access token in its fragment."},
                "403": {"description": "The link is not valid, was used, or has expired.",
                        "content": json_content({"$ref": "#/components/schemas/ErrorBody"})},
            },
        }},
        "/v1/{organization}/compadre/replay/": {"post": {
            "operationId": "create-conversation-replay",
            "summary": "Replay a recorded conversation's user turns against another version set of its service",
            "description": "Starts a replay (a durable job): the conversation's user messages and external events are played, "
                           "interaction by interaction, by a synthetic user against the named version set, with tools in "
                           "simulation mode and no analysis. `GET …/compadre/replay/{replay_id}/` reports where the agent's "
                           "path diverges. Needs `Simulation:CreateSimulationUnitTestSetRun` and `Conversation:GetMessage` "
                           "on the conversation. `compadre replay CONVERSATION_ID --version-set NAME` does both and prints the diff.",
            "tags": ["Compadre"],
            "parameters": [{"name": "organization", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": {"required": True, "content": json_content({"$ref": "#/components/schemas/CreateReplayRequest"})},
            "responses": {
                "201": {"description": "The replay was started.",
                        "content": json_content({"$ref": "#/components/schemas/CreateReplayResponse"})},
                "400": {"description": "The conversation has no interactions, or the service is not active.",
                        "content": json_content({"$ref": "#/components/schemas/ErrorBody"})},
                "401": {"description": "Missing or invalid token.", "content": json_content({"$ref": "#/components/schemas/ErrorBody"})},
                "403": {"description": "A permission is missing.", "content": json_content({"$ref": "#/components/schemas/ErrorBody"})},
                "404": {"description": "No such organization, conversation or version set.",
                        "content": json_content({"$ref": "#/components/schemas/ErrorBody"})},
                "422": {"description": "The body is not valid.", "content": json_content({"$ref": "#/components/schemas/ValidationErrorBody"})},
            },
        }},
        "/v1/{organization}/compadre/replay/{replay_id}/": {"get": {
            "operationId": "get-conversation-replay",
            "summary": "A replay's report: interactions side by side, the first divergence, metrics before and after",
            "tags": ["Compadre"],
            "parameters": [
                {"name": "organization", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "replay_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[a-f0-9]{24}$"}},
            ],
            "responses": {
                "200": {"description": "The replay (its report once `status` is `completed`).",
                        "content": json_content({"$ref": "#/components/schemas/ReplayReport"})},
                "401": {"description": "Missing or invalid token.", "content": json_content({"$ref": "#/components/schemas/ErrorBody"})},
                "403": {"description": "A permission is missing.", "content": json_content({"$ref": "#/components/schemas/ErrorBody"})},
                "404": {"description": "No such organization or replay.", "content": json_content({"$ref": "#/components/schemas/ErrorBody"})},
                "422": {"description": "The replay id is not valid.", "content": json_content({"$ref": "#/components/schemas/ValidationErrorBody"})},
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
    apply_rules(paths, schemas, reference)

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
