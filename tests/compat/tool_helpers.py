"""Shared steps of the tool tests: the tool API over raw HTTP (the official SDK
has no tool resource, but its generated models describe every tool response and
are used to parse them), the organization's tool repository through plain `git`,
tool projects made from Compadre's scaffold, and context-graph pieces that use
tools."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

SCAFFOLD_FOLDER = "amigo_tool_scaffold"
GIT_TIMEOUT_S = 60.0
PUBLISH_TIMEOUT_S = 300.0


# --------------------------------------------------------------------------
# The tool API
# --------------------------------------------------------------------------


@dataclass
class Published:
    """The answer to POST /tool/{id}/version and how long it took."""

    status: int
    body: Any
    seconds: float


class ToolAPI:
    """`/v1/{org}/tool/…` with a bearer token. Methods return the httpx response;
    the caller asserts on it (the status is part of what is tested)."""

    def __init__(self, base_url: str, org: str, token: str, fresh_token: Callable[[], str] | None = None) -> None:
        self.base = f"{base_url}/v1/{org}"
        # Invocations are limited to 10 a minute per user: each one runs as a user of its own.
        self.fresh_token = fresh_token
        self.http = httpx.Client(
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(PUBLISH_TIMEOUT_S, connect=10.0),
        )

    def close(self) -> None:
        self.http.close()

    def create_tool(self, name: str, description: str) -> httpx.Response:
        return self.http.post(
            f"{self.base}/tool/", json={"name": name, "description": description, "tags": {}}
        )

    def tools(self, **params: Any) -> httpx.Response:
        return self.http.get(f"{self.base}/tool/", params=params)

    def scaffold(self) -> httpx.Response:
        return self.http.get(f"{self.base}/tool/amigo_tool_scaffold.tar.gz")

    def envvars(
        self,
        tool_id: str,
        inserts: list[dict] | None = None,
        updates: list[dict] | None = None,
        deletes: list[dict] | None = None,
    ) -> httpx.Response:
        return self.http.post(
            f"{self.base}/tool/{tool_id}/envvar",
            json={"inserts": inserts or [], "updates": updates or [], "deletes": deletes or []},
        )

    def publish(self, tool_id: str, project_path: str, bump_type: str) -> Published:
        started = time.monotonic()
        resp = self.http.post(
            f"{self.base}/tool/{tool_id}/version",
            json={"project_path": project_path, "bump_type": bump_type},
        )
        seconds = time.monotonic() - started
        try:
            body = resp.json()
        except ValueError:
            body = resp.text
        return Published(resp.status_code, body, seconds)

    def versions(self, tool_id: str, **params: Any) -> httpx.Response:
        return self.http.get(f"{self.base}/tool/{tool_id}/version", params=params)

    def deprecate_versions(self, tool_id: str, specifier: str) -> httpx.Response:
        quoted = urllib.parse.quote(specifier, safe="")
        return self.http.delete(f"{self.base}/tool/{tool_id}/version/{quoted}")

    def invoke(self, tool_id: str, version: str, *input_parameters: dict, token: str | None = None) -> httpx.Response:
        token = token or (self.fresh_token() if self.fresh_token else None)
        headers = {"Authorization": f"Bearer {token}"} if token else None
        return self.http.post(
            f"{self.base}/tool/{tool_id}/version/{version}/invoke",
            json={"inputs": [invocation_input(p) for p in input_parameters]},
            headers=headers,
        )

    def invocations(self, **params: Any) -> httpx.Response:
        return self.http.get(f"{self.base}/tool/invocation", params=params)

    def search_invocations(self, query: str, **params: Any) -> httpx.Response:
        return self.http.get(
            f"{self.base}/tool/invocation/search", params={"query": query, **params}
        )


def invocation_input(input_parameters: dict) -> dict:
    return {
        "input_parameters": input_parameters,
        "invocation_mode": "regular",
        "nonsensitive_user_variables": {},
        "sensitive_user_variables": {},
    }


def ok(resp: httpx.Response, status: int = 200, *, parse: bool = True) -> Any:
    """The JSON body (or, with parse=False, the bytes) of a response that must
    have `status` (else an assertion error that shows the request and the
    server's answer)."""
    assert resp.status_code == status, (
        f"{resp.request.method} {resp.request.url} -> HTTP {resp.status_code} "
        f"(expected {status}): {resp.text[:2000]}"
    )
    if not parse:
        return resp.content
    if status == 204 or not resp.content:
        return None
    return resp.json()


def version_text(version: dict) -> str:
    """`{"major": 1, "minor": 0, "patch": 0}` -> "1.0.0"."""
    return f"{version['major']}.{version['minor']}.{version['patch']}"


# --------------------------------------------------------------------------
# The scaffold and tool projects
# --------------------------------------------------------------------------


def unpack_scaffold(data: bytes, into: Path) -> Path:
    """Unpacks the scaffold archive into `into`; returns its project folder.
    Refuses members outside the archive's one top folder."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive.getmembers():
            top = member.name.split("/", 1)[0]
            assert top == SCAFFOLD_FOLDER and ".." not in member.name.split("/"), (
                f"scaffold member {member.name!r} is not under {SCAFFOLD_FOLDER}/"
            )
            assert member.isdir() or member.isfile(), f"scaffold member {member.name!r} is not a plain file"
        archive.extractall(into, filter="data")
    return into / SCAFFOLD_FOLDER


def replace_once(text: str, pattern: str, replacement: str, what: str) -> str:
    """`re.sub` that must match exactly once: a scaffold that changed shape fails
    here, loudly, instead of producing a project that silently differs."""
    new, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    assert count == 1, f"the scaffold's {what} matched {pattern!r} {count} times (expected once)"
    return new


def project_from_scaffold(
    scaffold: Path,
    destination: Path,
    *,
    package: str,
    description: str,
    input_schema: dict,
    main_py: str,
    envvars: list[str] = (),
    secret_envvars: list[str] = (),
) -> Path:
    """A tool project made from the scaffold the way its README says: rename the
    package, point `entry` at it, declare its variables, replace schema and code."""
    shutil.copytree(scaffold, destination)
    pyproject = (destination / "pyproject.toml").read_text()
    pyproject = replace_once(pyproject, r'^name = "my_tool"$', f'name = "{package}"', "project name")
    pyproject = replace_once(
        pyproject, r'^description = ".*"$', f"description = {json.dumps(description)}", "description"
    )
    pyproject = replace_once(
        pyproject, r'^entry = "my_tool\.main:run"$', f'entry = "{package}.main:run"', "entry"
    )
    pyproject = replace_once(pyproject, r"^envvars = \[\]$", f"envvars = {json.dumps(list(envvars))}", "envvars")
    pyproject = replace_once(
        pyproject,
        r"^secret-envvars = \[\]$",
        f"secret-envvars = {json.dumps(list(secret_envvars))}",
        "secret-envvars",
    )
    (destination / "pyproject.toml").write_text(pyproject)
    (destination / "input_schema.json").write_text(json.dumps(input_schema, indent=2) + "\n")
    (destination / "src" / "my_tool").rename(destination / "src" / package)
    (destination / "src" / package / "main.py").write_text(main_py)
    return destination


# --------------------------------------------------------------------------
# The organization's tool repository, through git
# --------------------------------------------------------------------------


class GitRepo:
    """A clone of `/v1/{org}/tool/git`, authenticated with the bearer token in
    an `http.extraHeader` (never in the URL, so it is not stored in .git/config)."""

    def __init__(self, url: str, token: str, path: Path) -> None:
        self.url = url
        self.path = path
        self._auth = ["-c", f"http.extraHeader=Authorization: Bearer {token}"]

    def git(self, *args: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": "Compat Test",
            "GIT_AUTHOR_EMAIL": "compat@example.com",
            "GIT_COMMITTER_NAME": "Compat Test",
            "GIT_COMMITTER_EMAIL": "compat@example.com",
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(self.path.parent),  # no user config of the machine
        }
        proc = subprocess.run(
            ["git", *self._auth, *args],
            cwd=cwd or self.path,
            env=env,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
        if check:
            assert proc.returncode == 0, (
                f"`git {' '.join(args)}` exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    def clone(self) -> None:
        self.git("clone", self.url, str(self.path), cwd=self.path.parent)

    def commit_all(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").stdout.strip()

    def remote_main(self) -> str:
        out = self.git("ls-remote", "origin", "refs/heads/main").stdout.split()
        assert out, "the remote has no refs/heads/main"
        return out[0]

    def push(self, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.git("push", *extra, "origin", "main", check=check)


# --------------------------------------------------------------------------
# Context graphs that use tools
# --------------------------------------------------------------------------


def tool_spec(
    tool_id: str,
    version_constraint: str = ">=1.0",
    *,
    persistence: str = "persisted-preferred",
    instruction: str = "Use it when it helps the user.",
    fillers: list[str] = (),
    filler_after: float = 5.0,
) -> dict:
    return {
        "tool_id": tool_id,
        "version_constraint": version_constraint,
        "additional_instruction": instruction,
        "audio_fillers": list(fillers),
        "audio_filler_triggered_after": filler_after,
        "result_persistence": persistence,
    }


def action_state(
    name: str,
    objective: str,
    actions: list[str],
    exits: list[dict],
    helper_tools: list[dict] = (),
) -> dict:
    return {
        "type": "action",
        "name": name,
        "objective": objective,
        "actions": actions,
        "intra_state_navigation_guidelines": [],
        "action_guidelines": ["Answer in one or two sentences."],
        "boundary_constraints": [],
        "exit_conditions": exits,
        "action_tool_call_specs": list(helper_tools),
        "exit_condition_tool_call_specs": [],
        "skip_active_memory_retrieval": True,
    }


def tool_call_state(
    name: str,
    next_state: str,
    designated_tool: dict,
    *,
    objective: str,
    context: str,
    fillers: list[str] = (),
    filler_after: float = 5.0,
) -> dict:
    return {
        "type": "tool-call",
        "name": name,
        "next_state": next_state,
        "designated_tool": designated_tool,
        "designated_tool_call_params_generation_audio_fillers": list(fillers),
        "designated_tool_call_params_generation_audio_filler_triggered_after": filler_after,
        "designated_tool_call_objective": objective,
        "designated_tool_call_context": context,
        "designated_tool_call_guidances": ["Use the city the user named."],
        "designated_tool_call_validations": ["The city is a real city name."],
        "tool_call_specs": [],
    }


def graph(states: list[dict], initial: str, terminal: str, description: str) -> dict:
    return {
        "description": description,
        "states": states,
        "new_user_initial_state": initial,
        "returning_user_initial_state": initial,
        "terminal_state": terminal,
        "references": {},
        "global_intra_state_navigation_guidelines": [],
        "global_action_guidelines": [],
        "global_boundary_constraints": [],
    }


def helper_tool_graph(helper: dict) -> dict:
    """One action state `chat` that offers `helper` while it writes every reply,
    and the terminal state."""
    return graph(
        [
            action_state(
                "chat",
                "Help the user.",
                ["Answer the user, using your tools when they help."],
                [{"description": "The user says goodbye.", "next_state": "goodbye"}],
                [helper],
            ),
            action_state("goodbye", "Close the conversation.", ["Say goodbye."], []),
        ],
        "chat",
        "goodbye",
        "A graph whose only working state offers one helper tool.",
    )


# --------------------------------------------------------------------------
# Model requests
# --------------------------------------------------------------------------


def is_structured(body: dict) -> bool:
    return isinstance(body.get("response_format"), dict)


def schema_name(body: dict) -> str | None:
    fmt = body.get("response_format") or {}
    return (fmt.get("json_schema") or {}).get("name")


def offered_functions(body: dict) -> dict[str, dict]:
    """name -> function definition of the tools a chat-completions request offers."""
    return {
        t["function"]["name"]: t["function"]
        for t in body.get("tools") or []
        if t.get("type") == "function"
    }


def system_text(body: dict) -> str:
    return "\n".join(
        m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "system"
    )


def tool_messages(body: dict) -> list[dict]:
    return [m for m in body.get("messages", []) if m.get("role") == "tool"]
