"""Schemathesis hooks for Benchmarks/fuzz.sh (loaded through SCHEMATHESIS_HOOKS).

Three jobs, nothing else:

1. Keep the fuzzing principal usable. Schemathesis learns the signed-in user's id and role from the
   responses and, in the stateful phase, may assign that user a powerless role, strip its role's
   permissions or delete it; every later request would then be a 403 and test nothing. Such a request
   is sent to a decoy instead (an unknown user id, an unknown role name): the server answers 404,
   which every check accepts, and the principal keeps its rights.

2. Rules that JSON Schema cannot state, so the document cannot either. Each one is applied only to a
   request whose fields already have the right types, so what it changes stays schema-valid:
   - generate-conversation-starter: `min_count` <= `max_count`;
   - get-tool-invocations: as many `version` values as distinct `tool_id` values (or none);
   - get-agent-versions, get-service-hierarchical-state-machine-versions, get-dynamic-behavior-set-versions,
     get-simulation-persona-versions, get-simulation-scenario-versions: `version=N-M` with N <= M;
   - create-api-key: `duration` between 1 and 90 days (a duration the server cannot read is left
     alone: that is the server's business);
   - create-metric: a numerical metric's `lower_bound` <= `upper_bound`.

3. Count the requests sent (written to $COMPADRE_FUZZ_COUNT_FILE at exit).
"""

from __future__ import annotations

import atexit
import os
import re
import threading

import schemathesis

FUZZ_USER_ID = os.environ.get("COMPADRE_FUZZ_USER_ID", "")
FUZZ_ROLE = os.environ.get("COMPADRE_FUZZ_ROLE", "DefaultSuperAdministratorRole")
DECOY_USER_ID = "f" * 24
DECOY_ROLE = "FuzzDecoyRoleThatDoesNotExist"

_count = 0
_lock = threading.Lock()


def _operation_id(case) -> str:
    return case.operation.definition.raw.get("operationId", "")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _days(duration: str) -> float | None:
    """Days in an ISO 8601 duration as Pydantic reads one (a year is 365 days, a month 30)."""
    m = re.fullmatch(r"P(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?"
                     r"(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?", duration)
    if not m or duration in ("P", "PT") or duration.endswith("T"):
        return None
    y, mo, w, d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return y * 365 + mo * 30 + w * 7 + d + h / 24 + mi / 1440 + s / 86400


@schemathesis.hook
def before_call(context, case, kwargs):
    global _count
    with _lock:
        _count += 1
    op = _operation_id(case)
    body = case.body if isinstance(case.body, dict) else None
    path = case.path_parameters or {}

    # 1. The principal.
    if op == "assign-role" and body is not None and body.get("user_id") == FUZZ_USER_ID:
        body["user_id"] = DECOY_USER_ID
    if op == "modify-role" and path.get("role_name") == FUZZ_ROLE:
        path["role_name"] = DECOY_ROLE
    if op == "delete-user" and path.get("requested_user_id") == FUZZ_USER_ID:
        path["requested_user_id"] = DECOY_USER_ID

    # 2. Cross-field rules.
    if op == "generate-conversation-starter" and body is not None:
        low, high = body.get("min_count"), body.get("max_count")
        if _is_number(low) and _is_number(high) and low > high:
            body["min_count"], body["max_count"] = high, low
    if op == "get-tool-invocations" and case.query and "version" in case.query:
        ids, versions = case.query.get("tool_id"), case.query["version"]
        ids = ids if isinstance(ids, list) else [] if ids is None else [ids]
        ids = list(dict.fromkeys(map(str, ids)))  # the server merges repeated ids, as a set does
        versions = versions if isinstance(versions, list) else [versions]
        if versions and len(ids) != len(versions):
            if ids:
                case.query["version"] = (versions * len(ids))[: len(ids)]
            else:
                del case.query["version"]
    if op in ("get-agent-versions", "get-service-hierarchical-state-machine-versions",
              "get-dynamic-behavior-set-versions", "get-simulation-persona-versions",
              "get-simulation-scenario-versions") and case.query:
        version = case.query.get("version")
        m = re.fullmatch(r"(\s*\+?)(\d+)-(\+?)(\d+)(\s*)", version) if isinstance(version, str) else None
        if m and int(m.group(2)) > int(m.group(4)):
            case.query["version"] = f"{m.group(1)}{m.group(4)}-{m.group(3)}{m.group(2)}{m.group(5)}"
    if op == "create-metric" and body is not None and isinstance(body.get("metric_value"), dict):
        value = body["metric_value"]
        low, high = value.get("lower_bound"), value.get("upper_bound")
        if value.get("type") == "numerical" and _is_number(low) and _is_number(high) and low > high:
            value["lower_bound"], value["upper_bound"] = high, low
    if op == "create-api-key" and body is not None and isinstance(body.get("duration"), str):
        days = _days(body["duration"])
        if days is not None and not 1 <= days <= 90:
            body["duration"] = "P30D"


@atexit.register
def _write_count() -> None:
    path = os.environ.get("COMPADRE_FUZZ_COUNT_FILE")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"{_count}\n")
