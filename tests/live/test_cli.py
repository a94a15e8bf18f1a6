"""`live serve` and `live token` as a user runs them."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
import pytest

from live.auth import verify_token
from tests.support import REPO, SECRET, free_port


def run_live(
    *args: str, timeout: float = 20, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "live", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def test_token_prints_a_valid_token() -> None:
    out = run_live("token", "--role", "host", "--room", "demo", "--name", "Alice", "--secret", SECRET)
    assert out.returncode == 0
    identity = verify_token(SECRET, out.stdout.strip())
    assert (identity.id, identity.name, identity.role.value, identity.room) == (
        "alice",
        "Alice",
        "host",
        "demo",
    )
    claims = jwt.decode(out.stdout.strip(), SECRET, algorithms=["HS256"])
    assert 3500 <= claims["exp"] - time.time() <= 3600


def test_token_options_and_refusals() -> None:
    out = run_live("token", "--name", "Bob", "--sub", "bob-1", "--ttl", "60", "--secret", SECRET)
    claims = jwt.decode(out.stdout.strip(), SECRET, algorithms=["HS256"])
    assert claims["sub"] == "bob-1" and claims["role"] == "viewer" and "room" not in claims
    assert claims["exp"] - time.time() <= 60
    out = run_live("token", "--role", "host", "--name", "NoRoom", "--secret", SECRET)
    assert out.returncode != 0 and "room" in out.stderr
    out = run_live("token", "--name", "x" * 40, "--secret", SECRET)
    assert out.returncode != 0 and out.stderr.count("\n") == 1


def test_port_taken_is_one_clear_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = run_live("serve", "--port", str(port), "--redis-url", "redis://127.0.0.1:1/0", "--dev")
    assert out.returncode != 0
    assert out.stderr.strip().count("\n") == 0 and f"cannot listen on 127.0.0.1:{port}" in out.stderr


def test_redis_unreachable_is_one_clear_line() -> None:
    out = run_live("serve", "--port", "0", "--redis-url", f"redis://127.0.0.1:{free_port()}/0", "--dev")
    assert out.returncode != 0
    assert out.stderr.strip().count("\n") == 0 and "cannot reach Redis" in out.stderr


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_bundled_redis_runs_with_aof_and_stops_on_exit(tmp_path: Path, stop_signal: int) -> None:
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "live", "serve", "--port", "0", "--data-dir", str(data), "--secret", SECRET],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "LIVE_REDIS_URL": ""},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"listening on (http://[\d.]+:\d+) \(redis redis://127\.0\.0\.1:(\d+)/0\)", line)
        assert match, line
        url, redis_port = match.group(1), int(match.group(2))
        deadline = time.monotonic() + 15
        while httpx.get(url + "/healthz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        import redis

        client = redis.Redis(port=redis_port)
        assert client.config_get("appendonly")["appendonly"] == "yes"
        assert client.config_get("appendfsync")["appendfsync"] == "always"
        client.close()
        assert any(p.name.startswith("appendonly") for p in data.iterdir())
    finally:
        proc.send_signal(stop_signal)
        proc.communicate(timeout=20)  # waits, and closes the pipes
    assert proc.returncode == 0
    with socket.socket() as probe, pytest.raises(OSError):
        probe.settimeout(1)
        probe.connect(("127.0.0.1", redis_port))


def _listening(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"listening on (http://[\d.]+:\d+)", line)
    assert match, line
    return match.group(1)


def test_environment_applies_where_no_flag_is_given(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "LIVE_HOST": "127.0.0.1",
        "LIVE_PORT": str(port),
        "LIVE_DATA_DIR": str(tmp_path / "from-env"),
        "LIVE_SECRET": SECRET,
    }
    env.pop("LIVE_REDIS_URL", None)
    with subprocess.Popen(
        [sys.executable, "-m", "live", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    ) as proc:
        try:
            assert _listening(proc) == f"http://127.0.0.1:{port}"
            assert (tmp_path / "from-env" / "appendonlydir").is_dir()  # the bundled Redis's files
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=20)
    assert proc.returncode == 0


def test_flags_override_the_environment(tmp_path: Path) -> None:
    taken = free_port()
    env = {
        **os.environ,
        "LIVE_PORT": str(taken),
        "LIVE_DATA_DIR": str(tmp_path / "env"),
        "LIVE_SECRET": "x" * 40,
    }
    env.pop("LIVE_REDIS_URL", None)
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "live",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path / "flag"),
            "--secret",
            SECRET,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    ) as proc:
        try:
            url = _listening(proc)
            assert not url.endswith(f":{taken}")
            assert (tmp_path / "flag" / "appendonlydir").is_dir() and not (tmp_path / "env").exists()
            assert httpx.get(url + "/healthz", timeout=5).status_code == 200
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=20)


@pytest.mark.parametrize(
    ("env", "args", "line"),
    [
        ({"LIVE_PORT": "x"}, [], "live: LIVE_PORT must be an integer 0-65535, got 'x'"),
        ({"LIVE_WORKERS": "0"}, [], "live: LIVE_WORKERS must be an integer >= 1, got 0"),
        ({}, ["--port", "70000"], "live: LIVE_PORT must be an integer 0-65535, got 70000"),
        ({"LIVE_SECRET": ""}, ["--port", "0"], "live: LIVE_SECRET must not be empty"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_2(env: dict[str, str], args: list[str], line: str) -> None:
    out = run_live("serve", "--dev", *args, env=env)
    assert out.returncode == 2
    assert out.stderr == line + "\n"


def test_the_default_secret_is_refused_without_dev() -> None:
    out = run_live(
        "serve", "--port", "0", env={"LIVE_SECRET": "dev-secret-change-me-for-anything-real", "LIVE_DEV": ""}
    )
    assert out.returncode == 2 and out.stderr.startswith("live: LIVE_SECRET (or --secret) must be set")
