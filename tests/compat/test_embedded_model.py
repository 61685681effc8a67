"""`compadre serve` without a remote model: it starts the embedded model runtime as a child process,
restarts it when it dies, and stops it with the server (no orphan). The runtime here is a stand-in
(`fake_llama_runtime.py`) that speaks the same command line and API as llama-cpp-python's server.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx

from conftest import free_port, init_org, random_org_id

HERE = Path(__file__).resolve().parent


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _child_pids(log: Path) -> list[int]:
    return [int(m) for m in re.findall(r"pid=(\d+) port=\d+ \[Models\] started local model server", log.read_text(errors="replace"))]


def _wait(predicate, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {what}\n--- server log ---\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)


def test_serve_supervises_the_embedded_model(compadre_bin: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF stand-in")
    database = f"sqlite:{tmp_path / 'c.sqlite'}"
    org = random_org_id()
    creds = init_org(compadre_bin, org, database)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMIGO_", "COMPADRE_LLM"))}
    env.update({
        "COMPADRE_LLM_PYTHON": str(HERE / "fake_llama_runtime.py"),
        "COMPADRE_LLM_MODEL_PATH": str(model),
        "COMPADRE_RATE_LIMITS": "off",
        "COMPADRE_TOOLS_DIR": str(tmp_path / "tools"),  # not ./compadre-tools of the caller
    })
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [str(compadre_bin), "serve", "--port", str(port), "--database", database],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    try:
        _wait(lambda: "local model server ready" in log.read_text(errors="replace"), 30, "the model becomes ready", log)
        first = _child_pids(log)[-1]
        assert _alive(first)

        # The platform talks to it: a conversation's reply comes from the embedded model.
        from amigo_sdk import AmigoClient
        from conversation_helpers import Blueprint, start_conversation, check_agent_message
        with AmigoClient(api_key=creds.api_key, api_key_id=creds.api_key_id, user_id=creds.user_id,
                         organization_id=creds.organization_id, base_url=f"http://127.0.0.1:{port}") as client:
            service_id = Blueprint(client).new_service(client)
            events = start_conversation(client, service_id)
            assert check_agent_message(events).full_message == "Hello from the embedded model."

        # kill -9 the model server: it comes back.
        os.kill(first, signal.SIGKILL)
        _wait(lambda: len(_child_pids(log)) >= 2 and log.read_text(errors="replace").count("local model server ready") >= 2,
              30, "the model server is restarted and ready again", log)
        second = _child_pids(log)[-1]
        assert second != first and _alive(second)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200

        # Stopping the server stops the model server too.
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0, log.read_text(errors="replace")[-2000:]
        _wait(lambda: not _alive(second), 10, "no orphan model server after the server stopped", log)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
