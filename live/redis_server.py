"""The bundled Redis: a real ``redis-server`` child process with AOF on, one per data dir.

Two promises beyond starting it:

- It dies with the ``live`` process that started it, also when that process is killed with
  SIGKILL (``live/lifeline.py``: the kernel sends it SIGTERM, on which Redis flushes its AOF
  and exits).
- Only one Redis ever opens a data dir: the dir holds a lock file, locked with ``flock`` by
  the ``live`` process and, through an inherited descriptor, by its redis-server, so the lock
  lasts as long as either of them. A second ``live`` on the same dir is refused with one line
  instead of starting a second redis-server that appends to the same AOF files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

from live.lifeline import preexec_die_with_parent

LOCK_NAME = "live.lock"
# A dir locked by a redis-server whose live process is gone: that Redis is shutting down (it got
# SIGTERM from the kernel); wait this long for it before calling the dir taken.
DYING_OWNER_WAIT_S = 10.0


class RedisStartError(RuntimeError):
    pass


class DataDirInUse(RedisStartError):
    def __init__(self, data_dir: Path, pid: int | None) -> None:
        owner = f"pid {pid}" if pid else "pid unknown"
        super().__init__(f"the data dir {data_dir} is in use by another live process ({owner})")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DataDirLock:
    """An exclusive ``flock`` on ``<data dir>/live.lock``, which holds the owner's pid."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_NAME
        self.fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + DYING_OWNER_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                owner = self._owner(fd)
                if (owner is not None and _alive(owner)) or time.monotonic() >= deadline:
                    os.close(fd)
                    raise DataDirInUse(self.data_dir, owner) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    @staticmethod
    def _owner(fd: int) -> int | None:
        raw = os.pread(fd, 32, 0).decode(errors="replace").strip()
        return int(raw) if raw.isdigit() else None

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # the redis-server's inherited copy keeps it locked until it exits
            self.fd = None


class BundledRedis:
    """Starts ``redis-server`` on a free loopback port, waits for it, stops it on ``stop()``.

    ``appendfsync always`` by default: every acknowledged order is on disk before the
    server answers, so it survives a crash of the whole machine (see docs/benchmarks.md
    for what that costs). Call ``start`` from the main thread (see ``live/lifeline.py``).
    """

    def __init__(self, data_dir: str | Path, *, appendfsync: str = "always", port: int | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.appendfsync = appendfsync
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._lock = DataDirLock(self.data_dir)

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
        self._lock.acquire()
        assert self._lock.fd is not None
        log = self.data_dir / "redis.log"
        try:
            # Startup errors come on stderr, before redis-server opens its logfile.
            with log.open("ab") as early_errors:
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
                        str(log),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=early_errors,
                    pass_fds=(self._lock.fd,),  # the lock lives as long as this process or redis-server
                    preexec_fn=preexec_die_with_parent(),
                )
        except OSError as err:
            self._lock.release()
            raise RedisStartError(f"cannot run {binary}: {err}") from err
        deadline = time.monotonic() + timeout_s
        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    self.stop()
                    raise RedisStartError(f"redis-server exited: see {log}")
                with contextlib.suppress(redis.RedisError):
                    if client.ping():
                        return self.url
                time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise RedisStartError(f"redis-server did not answer within {timeout_s:.0f} s")

    def stop(self, timeout_s: float = 10.0) -> None:
        try:
            if self.proc is None or self.proc.poll() is not None:
                return
            self.proc.terminate()  # SIGTERM: redis flushes its AOF and exits
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        finally:
            self._lock.release()
