"""Configuration: flags > environment > configuration file > defaults.

`compadre config` prints what `serve` would run with; `serve --help` lists
every setting; a malformed value stops the server with a message that names
the setting; a configuration file configures a real server.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

from conftest import free_port, server_env

SETTINGS = [
    "COMPADRE_HOST", "COMPADRE_PORT", "COMPADRE_DATABASE_URL", "COMPADRE_TOKEN_SECRET",
    "COMPADRE_TOKEN_LIFETIME", "COMPADRE_RATE_LIMITS", "COMPADRE_LOG_LEVEL", "COMPADRE_LEASE_SECONDS",
    "COMPADRE_SHUTDOWN_GRACE_SECONDS", "COMPADRE_REALTIME_MESSAGES_PER_MINUTE",
    "COMPADRE_REALTIME_TIMEOUT_SECONDS", "COMPADRE_REALTIME_MAX_MESSAGE_BYTES", "COMPADRE_LLM_BASE_URL",
    "COMPADRE_LLM_API_KEY", "COMPADRE_LLM_MODEL", "COMPADRE_LLM_STRUCTURED_OUTPUT", "COMPADRE_LLM_TIMEOUT",
    "COMPADRE_LLM_MODELS", "COMPADRE_LLM_PYTHON", "COMPADRE_LLM_MODEL_PATH", "COMPADRE_HOME",
    "COMPADRE_TOOLS", "COMPADRE_TOOLS_DIR", "COMPADRE_SECRETS_KEY", "COMPADRE_TOOL_PYTHON",
    "COMPADRE_TOOL_TIMEOUT_SECONDS", "COMPADRE_TOOL_MEMORY_MB", "COMPADRE_TOOL_CPU_SECONDS",
    "COMPADRE_TOOL_ISOLATION",
]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPADRE_")}
    env.update(extra)
    return env


def effective(binary: Path, *args: str, **env: str) -> dict[str, str]:
    out = subprocess.run(
        [str(binary), "config", *args], env=clean_env(**env), capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    values = {}
    for line in out.stdout.splitlines():
        name, _, value = line.partition(" ")
        values[name] = value.strip()
    return values


def test_flags_win_over_the_environment_which_wins_over_the_file(compadre_bin: Path, tmp_path: Path):
    config = tmp_path / "compadre.json"
    config.write_text(json.dumps({"port": 7001, "realtime": {"timeoutSeconds": 40}, "token": {"lifetime": 600}}))
    values = effective(
        compadre_bin, "--config", str(config), "--port", "7003",
        COMPADRE_PORT="7002", COMPADRE_REALTIME_TIMEOUT_SECONDS="50",
    )
    assert values["COMPADRE_PORT"] == "7003"  # flag over environment and file
    assert values["COMPADRE_REALTIME_TIMEOUT_SECONDS"] == "50"  # environment over file
    assert values["COMPADRE_TOKEN_LIFETIME"] == "600"  # file over default
    assert values["COMPADRE_LEASE_SECONDS"].startswith("(default: 30")
    # Any setting is also a flag.
    assert effective(compadre_bin, "--tool-timeout-seconds", "12")["COMPADRE_TOOL_TIMEOUT_SECONDS"] == "12"


def test_secrets_are_redacted(compadre_bin: Path):
    out = subprocess.run(
        [str(compadre_bin), "config"],
        env=clean_env(
            COMPADRE_LLM_API_KEY="sk-very-secret", COMPADRE_TOKEN_SECRET="token-secret-of-some-length",
            COMPADRE_DATABASE_URL="postgres://user:hunter2@127.0.0.1:5432/db",
        ),
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    for secret in ["sk-very-secret", "token-secret-of-some-length", "hunter2"]:
        assert secret not in out.stdout
    assert out.stdout.count("<redacted>") == 3


def test_serve_help_lists_every_setting_with_its_default(compadre_bin: Path):
    out = subprocess.run([str(compadre_bin), "serve", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    for name in SETTINGS:
        assert name in text, f"{name} is not in `serve --help`"
    assert text.count("Default:") >= len(SETTINGS)


def test_a_malformed_value_stops_serve_naming_the_setting(compadre_bin: Path, tmp_path: Path):
    out = subprocess.run(
        [str(compadre_bin), "serve", "--database", f"sqlite:{tmp_path / 'db.sqlite'}"],
        env=clean_env(COMPADRE_REALTIME_TIMEOUT_SECONDS="soon"), capture_output=True, text=True, timeout=60,
    )
    assert out.returncode != 0
    assert "COMPADRE_REALTIME_TIMEOUT_SECONDS" in out.stderr and "soon" in out.stderr, out.stderr
    unknown = subprocess.run(
        [str(compadre_bin), "serve", "--no-such-setting", "1"], env=clean_env(), capture_output=True, text=True, timeout=60
    )
    assert unknown.returncode != 0 and "--no-such-setting" in unknown.stderr


def test_a_configuration_file_configures_the_server(compadre_bin: Path, tmp_path: Path):
    port = free_port()
    config = tmp_path / "compadre.json"
    config.write_text(json.dumps({"host": "127.0.0.1", "port": port, "database": {"url": f"sqlite:{tmp_path / 'db.sqlite'}"}}))
    env = {k: v for k, v in server_env().items() if k not in ("COMPADRE_PORT", "COMPADRE_HOST", "COMPADRE_DATABASE_URL")}
    proc = subprocess.Popen(
        [str(compadre_bin), "serve", "--config", str(config)], env=env, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        import time

        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                assert proc.poll() is None, "serve exited"
                assert time.monotonic() < deadline, "serve did not answer on the configured port"
                time.sleep(0.2)
        assert (tmp_path / "db.sqlite").exists()
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0


def test_init_demo_prints_the_address_serve_will_use(compadre_bin: Path, tmp_path: Path):
    out = subprocess.run(
        [str(compadre_bin), "init", "--demo", "--database", f"sqlite:{tmp_path / 'db.sqlite'}"],
        env=clean_env(COMPADRE_PORT="9123"), capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "--url http://127.0.0.1:9123 " in out.stderr, out.stderr
    assert 'base_url="http://127.0.0.1:9123"' in out.stderr
    assert "8080" not in out.stderr


def test_semantic_turn_detection_without_an_end_of_turn_model_stops_serve(compadre_bin: Path, tmp_path: Path):
    out = subprocess.run(
        [str(compadre_bin), "serve", "--database", f"sqlite:{tmp_path / 'db.sqlite'}"],
        env=clean_env(COMPADRE_VOICE_TURN_DETECTION="semantic_vad", COMPADRE_VOICE_ENGINES="off"),
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode != 0
    assert "COMPADRE_VOICE_TURN_DETECTION" in out.stderr and "end-of-turn model" in out.stderr, out.stderr
    wrong = subprocess.run(
        [str(compadre_bin), "serve", "--database", f"sqlite:{tmp_path / 'db.sqlite'}"],
        env=clean_env(COMPADRE_VOICE_TURN_DETECTION="eager"), capture_output=True, text=True, timeout=60,
    )
    assert wrong.returncode != 0 and "eager" in wrong.stderr, wrong.stderr
