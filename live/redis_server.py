"""The bundled Redis: a real ``redis-server`` child process with AOF on."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis


class RedisStartError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BundledRedis:
    """Starts ``redis-server`` on a free loopback port, waits for it, stops it on ``stop()``.

    ``appendfsync always`` by default: every acknowledged order is on disk before the
    server answers, so it survives a crash of the whole machine (see docs/benchmarks.md
    for what that costs).
    """

    def __init__(self, data_dir: str | Path, *, appendfsync: str = "always", port: int | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.appendfsync = appendfsync
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> str:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisStartError(
                "redis-server not found on PATH (apt-get install redis-server), or pass --redis-url"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data_dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                self.appendfsync,
                "--save",
                "",
                "--protected-mode",
                "yes",
                "--daemonize",
                "no",
                "--logfile",
                str(self.data_dir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout_s
        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    err = (
                        (self.proc.stderr.read() if self.proc.stderr else b"")
                        .decode(errors="replace")
                        .strip()
                    )
                    raise RedisStartError(
                        f"redis-server exited: {err or 'see ' + str(self.data_dir / 'redis.log')}"
                    )
                with contextlib.suppress(redis.RedisError):
                    if client.ping():
                        return self.url
                time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise RedisStartError(f"redis-server did not answer within {timeout_s:.0f} s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()  # SIGTERM: redis flushes its AOF and exits
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
