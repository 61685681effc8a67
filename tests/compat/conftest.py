"""Fixtures for the compatibility suite: a real `compadre` process driven by the
official Python SDK (`amigo-sdk`), exactly as an application would use it.

The binary is taken from $COMPADRE_BIN, else from `swift build --show-bin-path`
(debug build) of this repository. Every server gets a fresh temporary database
and a fresh organization created with `compadre init`.

Every server keeps its tools (COMPADRE_TOOLS_DIR: git repositories, built
tool versions, the secrets key) in `tools/` of its own workdir.

Every server talks to one fake OpenAI-compatible model (`fake_openai.py`),
started once per test session on a loopback port; tests script its answers
through the `fake_openai` fixture.

Environment knobs:
  COMPADRE_BIN                 path to the compadre executable
  COMPADRE_COMPAT_POSTGRES=1   also run the suite against PostgreSQL, using
                               COMPADRE_TEST_POSTGRES_URL (scripts/test sets it)
  COMPADRE_COMPAT_KEEP_LOGS=1  print the server log of every server at teardown
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from amigo_sdk import AmigoClient

from fake_openai import FakeOpenAI

REPO_ROOT = Path(__file__).resolve().parents[2]
HEALTH_TIMEOUT_S = 60.0
CLI_TIMEOUT_S = 120.0


# --------------------------------------------------------------------------
# Locating the binary
# --------------------------------------------------------------------------


def _find_binary() -> Path:
    env = os.environ.get("COMPADRE_BIN")
    if env:
        path = Path(env)
        if not (path.is_file() and os.access(path, os.X_OK)):
            pytest.fail(f"COMPADRE_BIN={env} is not an executable file", pytrace=False)
        return path
    try:
        out = subprocess.run(
            ["swift", "build", "--show-bin-path"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.fail(
            f"cannot locate compadre: set COMPADRE_BIN or build with `swift build` ({exc})",
            pytrace=False,
        )
    path = Path(out.splitlines()[-1]) / "compadre"
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"{path} does not exist: run `swift build` first or set COMPADRE_BIN",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def compadre_bin() -> Path:
    return _find_binary()


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def random_org_id() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "compat" + "".join(secrets.choice(alphabet) for _ in range(10))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The fake model every server of this session talks to (set by the
# session-scoped `fake_openai` fixture before any server starts).
_fake_llm: FakeOpenAI | None = None


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    # Leases of a killed server (durability, scale-out tests) expire in 3 s instead of 30 s.
    env.setdefault("COMPADRE_LEASE_SECONDS", "3")
    # The language model is the suite's fake, whatever the environment says:
    # the conversation tests script its answers. Without it (helpers used
    # outside a pytest session) a dead loopback endpoint keeps `serve` from
    # starting the embedded model. COMPADRE_LLM_STRUCTURED_OUTPUT is left as
    # the environment has it (unset: json_schema); the fake handles every mode.
    if _fake_llm is not None:
        env["COMPADRE_LLM_BASE_URL"] = _fake_llm.base_url
        env["COMPADRE_LLM_API_KEY"] = "test"
        env["COMPADRE_LLM_MODEL"] = "fake-model"
        # Sentence embeddings (dynamic behaviors' triggers) from the same fake: words in common make
        # texts close (fake_openai.word_vector).
        env["COMPADRE_EMBEDDINGS_BASE_URL"] = _fake_llm.base_url
        env["COMPADRE_EMBEDDINGS_MODEL"] = "fake-embedder"
    else:
        env["COMPADRE_LLM_BASE_URL"] = "http://127.0.0.1:9/v1"
        env["COMPADRE_LLM_API_KEY"] = "unused"
        env["COMPADRE_LLM_MODEL"] = "unused"
    # The embedded speech server is where scripts/setup-voice put it (scripts/test exports its paths):
    # servers get it only when a test asks (extra_env), or every server of the suite would start one
    # (Whisper and Piper, ~400 MB and a second of CPU each). Without it, voice is off as on a machine
    # without the install; tests/compat/test_voice_embedded.py and test_sdk_voice.py cover voice.
    for k in ("COMPADRE_VOICE_PYTHON", "COMPADRE_VOICE_SERVER", "COMPADRE_VOICE_MODELS"):
        env.pop(k, None)
    # Keep the SDK's own environment out of the server and vice versa.
    for k in list(env):
        if k.startswith("AMIGO_"):
            del env[k]
    return env


@dataclass(frozen=True)
class Credentials:
    organization_id: str
    user_id: str
    api_key_id: str
    api_key: str


def run_init(
    binary: Path, org: str, database_url: str, admin_email: str | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = [str(binary), "init", "--org", org, "--database", database_url]
    if admin_email:
        cmd += ["--admin-email", admin_email]
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        env=server_env(),
        stdin=subprocess.DEVNULL,
    )


def init_org(binary: Path, org: str, database_url: str) -> Credentials:
    proc = run_init(binary, org, database_url, admin_email=f"admin@{org}.example.com")
    if proc.returncode != 0:
        pytest.fail(
            f"`compadre init --org {org} --database {database_url}` exited "
            f"{proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}",
            pytrace=False,
        )
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        pytest.fail(
            f"`compadre init` must print exactly one JSON object on stdout ({exc})\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}",
            pytrace=False,
        )
    missing = {"organization_id", "user_id", "api_key_id", "api_key"} - set(data)
    if not isinstance(data, dict) or missing:
        pytest.fail(f"`compadre init` output lacks {missing}: {data}", pytrace=False)
    return Credentials(
        organization_id=data["organization_id"],
        user_id=data["user_id"],
        api_key_id=data["api_key_id"],
        api_key=data["api_key"],
    )


class CompadreServer:
    """One `compadre serve` process on a fixed database."""

    def __init__(
        self,
        binary: Path,
        database_url: str,
        workdir: Path,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.binary = binary
        self.database_url = database_url
        self.workdir = workdir
        # Added to `server_env()` for this server only (e.g. COMPADRE_LEASE_SECONDS).
        self.extra_env = dict(extra_env or {})
        self.port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._starts = 0
        self.log_path: Path | None = None

    @property
    def base_url(self) -> str:
        assert self.port is not None, "server not started"
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, n: int = 80) -> str:
        if not self.log_path or not self.log_path.exists():
            return "(no log)"
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def tool_env(self) -> dict[str, str]:
        """Where this server keeps its tools (repositories, built versions, the
        secrets key): a directory of its own in its workdir, kept across restarts."""
        return {"COMPADRE_TOOLS_DIR": str(self.workdir / "tools")}

    def start(self, port: int | None = None) -> None:
        assert self.proc is None, "already running"
        self.port = port or free_port()
        self._starts += 1
        self.log_path = self.workdir / f"serve-{self._starts}.log"
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(
                [
                    str(self.binary),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--database",
                    self.database_url,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**server_env(), **self.tool_env(), **self.extra_env},
                cwd=self.workdir,
                start_new_session=True,  # own process group: children die with it
            )
        finally:
            log.close()
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        assert self.proc is not None
        url = f"{self.base_url}/healthz"
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        last_error = "no attempt"
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                self.proc = None
                pytest.fail(
                    f"`compadre serve` exited with {code} before becoming healthy\n"
                    f"--- server log ---\n{self.log_tail()}",
                    pytrace=False,
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
                    last_error = f"HTTP {resp.status}"
            except urllib.error.HTTPError as exc:
                last_error = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                last_error = str(exc)
            time.sleep(0.2)
        self.stop()
        pytest.fail(
            f"GET {url} did not return 200 within {HEALTH_TIMEOUT_S:.0f}s "
            f"(last: {last_error})\n--- server log ---\n{self.log_tail()}",
            pytrace=False,
        )

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                sys.stderr.write(
                    f"compadre serve (pid {proc.pid}) ignored SIGTERM for 15s; killing\n"
                )
                proc.kill()
                proc.wait(timeout=10)
        # Reap anything the server left behind in its own process group.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if os.environ.get("COMPADRE_COMPAT_KEEP_LOGS") == "1":
            sys.stderr.write(f"--- {self.log_path} ---\n{self.log_tail(400)}\n")

    def kill(self) -> None:
        """SIGKILL the server (and its process group) mid-flight: a crash, no shutdown."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()
        proc.wait(timeout=10)
        if os.environ.get("COMPADRE_COMPAT_KEEP_LOGS") == "1":
            sys.stderr.write(f"--- {self.log_path} (killed) ---\n{self.log_tail(400)}\n")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def restart(self, port: int | None = None) -> None:
        """Graceful stop, then a new process on the same database (a new port
        unless `port` is given)."""
        self.stop()
        self.start(port)


@dataclass
class Compadre:
    """A running server plus the credentials `compadre init` printed."""

    server: CompadreServer
    credentials: Credentials
    org: str

    def access_token(self, user_id: str | None = None) -> str:
        """A fresh JWT from POST /v1/{org}/user/signin_with_api_key, for raw HTTP
        (and git) calls the SDK does not cover; of the administrator unless `user_id` says."""
        request = urllib.request.Request(
            f"{self.server.base_url}/v1/{self.org}/user/signin_with_api_key",
            method="POST",
            headers={
                "x-api-key": self.credentials.api_key,
                "x-api-key-id": self.credentials.api_key_id,
                "x-user-id": user_id or self.credentials.user_id,
            },
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.loads(resp.read())["id_token"]

    def invite_user(self, role: str = "DefaultAdministratorRole") -> str:
        """A user invited now (an administrator unless `role` says otherwise); their id."""
        from amigo_sdk.generated.model import UserCreateInvitedUserRequest

        with self.client() as admin:
            created = admin.users.create_user(
                UserCreateInvitedUserRequest(
                    first_name="Test",
                    last_name="User",
                    email=f"user-{secrets.token_hex(6)}@example.com",
                    role_name=role,
                )
            )
        return created.user_id

    def user_client(self, role: str = "DefaultAdministratorRole") -> AmigoClient:
        """A client of a user invited now, signed in with the organization's key: its requests count
        against its own per-user rate limits (the server runs with its default limits)."""
        return self.client(user_id=self.invite_user(role))

    def user_token(self, role: str = "DefaultAdministratorRole") -> str:
        """An access token of a user invited now, for raw HTTP calls with a budget of their own."""
        return self.access_token(self.invite_user(role))

    def client(self, **overrides: str) -> AmigoClient:
        kwargs = dict(
            api_key=self.credentials.api_key,
            api_key_id=self.credentials.api_key_id,
            user_id=self.credentials.user_id,
            organization_id=self.credentials.organization_id,
            base_url=self.server.base_url,
        )
        kwargs.update(overrides)
        return AmigoClient(**kwargs)


# --------------------------------------------------------------------------
# Database backends
# --------------------------------------------------------------------------


def _backends() -> list[str]:
    backends = ["sqlite"]
    if os.environ.get("COMPADRE_COMPAT_POSTGRES") == "1":
        backends.append("postgres")
    return backends


def database_url_for(backend: str, workdir: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:{workdir / 'compadre.sqlite'}"
    url = os.environ.get("COMPADRE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("COMPADRE_TEST_POSTGRES_URL is not set")
    return url


@pytest.fixture(scope="session", autouse=True)
def fake_openai():
    """The fake OpenAI-compatible model behind every server of the session.

    Autouse so it is running (and wired into `server_env()`) before the first
    server starts; request it by name to script answers or inspect requests.
    """
    global _fake_llm
    with FakeOpenAI() as fake:
        _fake_llm = fake
        try:
            yield fake
        finally:
            _fake_llm = None


@pytest.fixture(autouse=True)
def _fresh_fake_script(fake_openai: FakeOpenAI):
    """Each test starts with an empty script and request history."""
    fake_openai.reset()
    yield


@pytest.fixture(scope="session", params=_backends())
def db_backend(request: pytest.FixtureRequest) -> str:
    return request.param


def _start_compadre(
    binary: Path, backend: str, workdir: Path, extra_env: dict[str, str] | None = None
) -> Compadre:
    database_url = database_url_for(backend, workdir)
    org = random_org_id()
    creds = init_org(binary, org, database_url)
    server = CompadreServer(binary, database_url, workdir, extra_env=extra_env)
    server.start()
    return Compadre(server=server, credentials=creds, org=org)


@pytest.fixture(scope="module")
def compadre(
    compadre_bin: Path,
    db_backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    fake_openai: FakeOpenAI,
):
    """A server shared by the tests of one module (fresh DB, fresh org)."""
    workdir = tmp_path_factory.mktemp("compadre")
    instance = _start_compadre(compadre_bin, db_backend, workdir)
    try:
        yield instance
    finally:
        instance.server.stop()


@pytest.fixture
def fresh_compadre(
    compadre_bin: Path, db_backend: str, tmp_path: Path, fake_openai: FakeOpenAI
):
    """A server of its own, for tests that stop and restart it."""
    instance = _start_compadre(compadre_bin, db_backend, tmp_path)
    try:
        yield instance
    finally:
        instance.server.stop()


@pytest.fixture
def client(compadre: Compadre):
    """An SDK client of an administrator of the test's own, signed in (lazily, by the SDK) with the
    key `init` printed: the server runs with its default rate limits, counted per user, so each test
    gets a budget of its own instead of waiting out another test's minute."""
    with compadre.user_client() as c:
        yield c
