"""Real processes: ``redis-server``, ``live serve`` (one process or ``--workers N``), a Redis Cluster
of three masters, and nginx in front of backends.

Every process is started from the caller's thread with a parent-death signal when that is the
main thread (``live/lifeline.py``), so a test run that is killed leaves none behind; ``stop``
ends each by pid. Output goes to files, never to a pipe nobody reads.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import redis

from kit.tokens import SECRET, token_for
from live.lifeline import preexec_die_with_parent

REPO = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
LISTENING_RE = re.compile(r"listening on (http://[\d.]+:\d+)")
# A load generator opens thousands of sockets from 127.0.0.1 and sends faster than any person:
# the per-address cap and the wire budget (docs/attacks.md) would cut it off.
LOAD_TEST_ENV = {"LIVE_MAX_CONNS_PER_IP": "0", "LIVE_WIRE_FRAMES_PER_S": "0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``pred`` until it is true (exceptions count as false); AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if pred():
                return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def descendants(pid: int) -> list[int]:
    """Every living process below ``pid`` (children, their children, ...), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if alive(child):
                found.append(child)
                todo.append(child)
    return found


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _preexec() -> Callable[[], None] | None:
    # The parent-death signal follows the forking thread: only the main thread lives long enough.
    return preexec_die_with_parent() if threading.current_thread() is threading.main_thread() else None


def _end(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``timeout_s``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class RedisProc:
    """A real redis-server on a free loopback port that a test may kill and restart (same port, dir)."""

    def __init__(
        self, appendfsync: str = "everysec", extra: list[str] | None = None, *, appendonly: bool = True
    ) -> None:
        self.dir = tempfile.mkdtemp(prefix="live-redis-")
        self.port = free_port()
        self.appendfsync = appendfsync
        self.appendonly = appendonly
        self.extra = extra or []
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> RedisProc:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                self.dir,
                "--appendonly",
                "yes" if self.appendonly else "no",
                "--appendfsync",
                self.appendfsync,
                "--save",
                "",
                *self.extra,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_preexec(),
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            wait_until(client.ping, 10, f"redis-server on port {self.port}")
        finally:
            client.close()
        return self

    def client(self) -> redis.Redis:
        """A client the caller closes."""
        return redis.Redis(port=self.port, decode_responses=True)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc:
            _end(self.proc, 10)
        shutil.rmtree(self.dir, ignore_errors=True)


class ServerProc:
    """One ``live serve`` (a real uvicorn on a real port), or a supervisor of ``workers`` processes.

    ``redis_url`` None: the bundled Redis, with its files in ``self.dir / "data"``. ``env`` is
    laid over this process's environment (e.g. ``{"LIVE_MAX_CONNS_PER_IP": "0"}``). The output
    (stdout and stderr) goes to ``log_path``; the supervisor's lines ("worker 1 started (pid N)")
    can be read back with ``output``. ``python`` and ``cwd``: another interpreter (a venv) and a
    directory outside the repository, to run an installed ``live`` rather than this checkout.
    """

    def __init__(
        self,
        redis_url: str | None,
        prefix: str = "live:",
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        dev: bool = True,
        *,
        workers: int = 1,
        port: int = 0,
        secret: str = SECRET,
        data_dir: Path | None = None,
        command: str = "serve",
        python: str = sys.executable,
        cwd: Path = REPO,
    ) -> None:
        self.prefix = prefix
        self.secret = secret
        self.workers = workers
        self.dir = Path(tempfile.mkdtemp(prefix="live-serve-"))
        self.data_dir = data_dir or self.dir / "data"
        self.log_path = self.dir / "out.log"
        full_env = {**os.environ, "LIVE_KEY_PREFIX": prefix, "PYTHONUNBUFFERED": "1", **(env or {})}
        # A data dir of its own either way: with a shared Redis it still holds the recordings and
        # the HLS files.
        store = [*(["--redis-url", redis_url] if redis_url else []), "--data-dir", str(self.data_dir)]
        if not redis_url:
            full_env.pop("LIVE_REDIS_URL", None)
        cmd = [
            python,
            "-m",
            "live",
            command,
            "--port",
            str(port),
            *store,
            "--secret",
            secret,
            *(["--dev"] if dev else []),
            *(["--workers", str(workers)] if workers != 1 else []),
            *(args or []),
        ]
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            preexec_fn=_preexec(),
        )
        found: list[str] = []

        def listening() -> bool:
            match = LISTENING_RE.search(self.output())
            if match:
                found.append(match.group(1))
                return True
            if self.proc.poll() is not None:
                raise RuntimeError(f"live {command} exited ({self.proc.returncode}): {self.output()}")
            return False

        try:
            _wait_raising(listening, 30, f"live {command} to listen")
            self.url = found[0]
            bundled = re.search(r"\(redis (redis://[^,)]+)", self.output())
            self.redis_url = redis_url or (bundled.group(1) if bundled else "")
            self.ws_url = self.url.replace("http://", "ws://")
            self.host, port_text = self.url.removeprefix("http://").rsplit(":", 1)
            self.port = int(port_text)
            wait_until(self.healthy, 30, f"live {command} to be healthy")
            if workers > 1:
                wait_until(lambda: len(self.worker_pids()) == workers, 15, "all workers")
        except BaseException:
            self.stop()
            raise

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def healthy(self) -> bool:
        return httpx.get(self.url + "/healthz", timeout=2).status_code == 200

    def worker_pids(self) -> dict[int, int]:
        """Worker index -> pid of its latest start, for workers still alive."""
        latest: dict[int, int] = {}
        for index, pid in re.findall(r"worker (\d+) started \(pid (\d+)\)", self.output()):
            latest[int(index)] = int(pid)
        return {i: p for i, p in latest.items() if alive(p)}

    def serving_pids(self) -> list[int]:
        """The processes that hold viewers' sockets: the workers, or this one process."""
        return list(self.worker_pids().values()) if self.workers > 1 else [self.proc.pid]

    def token(
        self, role: str = "viewer", room: str | None = None, name: str = "Test", sub: str | None = None
    ) -> str:
        return token_for(self.secret, role, room, name, sub)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout_s: float = 15) -> None:
        workers = list(self.worker_pids().values()) if self.workers > 1 else []
        _end(self.proc, timeout_s)
        for pid in workers:  # only if the supervisor died before its workers
            with contextlib.suppress(ProcessLookupError):
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
        self._log.close()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _wait_raising(pred: Callable[[], bool], timeout: float, what: str) -> None:
    """Like ``wait_until``, but an exception from ``pred`` ends the wait at once."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too; ephemeral ports are often too high."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 30000)
        if _bindable(port) and _bindable(port + 10000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


def _ping(port: int) -> bool:
    with contextlib.closing(redis.Redis(port=port, socket_timeout=1)) as client:
        return bool(client.ping())


class ClusterProcs:
    """Three redis-server masters with --cluster-enabled, joined by redis-cli --cluster create."""

    def __init__(self, n: int = 3) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="live-cluster-"))
        self.ports = [cluster_port() for _ in range(n)]
        self.procs: list[subprocess.Popen[bytes]] = []
        for port in self.ports:
            d = self.dir / str(port)
            d.mkdir()
            self.procs.append(
                subprocess.Popen(
                    [
                        "redis-server",
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--dir",
                        str(d),
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        str(d / "nodes.conf"),
                        "--appendonly",
                        "yes",
                        "--appendfsync",
                        "everysec",
                        "--save",
                        "",
                        "--logfile",
                        str(d / "redis.log"),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    preexec_fn=_preexec(),
                )
            )
        try:
            for port in self.ports:
                wait_until(lambda p=port: _ping(p), 10, f"redis {port}")  # type: ignore[misc]
            subprocess.run(
                [
                    "redis-cli",
                    "--cluster",
                    "create",
                    *(f"127.0.0.1:{p}" for p in self.ports),
                    "--cluster-replicas",
                    "0",
                    "--cluster-yes",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=30,
            )
            for port in self.ports:
                wait_until(
                    lambda p=port: (  # type: ignore[misc]
                        "cluster_state:ok"
                        in subprocess.run(
                            ["redis-cli", "-p", str(p), "cluster", "info"], capture_output=True, text=True
                        ).stdout
                    ),
                    20,
                    f"cluster state ok on {port}",
                )
        except Exception:
            self.stop()
            raise

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def node_of_slot(self, slot: int) -> int:
        """The port of the master that serves a hash slot."""
        with contextlib.closing(redis.Redis(port=self.ports[0], decode_responses=True)) as client:
            slots = client.execute_command("CLUSTER SLOTS")
        for start, end, master, *_ in slots:
            if start <= slot <= end:
                return int(master[1])
        raise AssertionError(f"slot {slot} is not covered")

    def room_port(self, room: str) -> int:
        from redis.crc import key_slot

        return self.node_of_slot(key_slot(f"{{room:{room}}}".encode()))

    def rooms_on_every_node(self, stem: str) -> list[str]:
        """One room id per master, so that the rooms live on different shards."""
        found: dict[int, str] = {}
        for i in range(1000):
            room = f"{stem}-{os.getpid()}-{i}"
            found.setdefault(self.room_port(room), room)
            if len(found) == len(self.ports):
                return [found[p] for p in self.ports]
        raise AssertionError("could not place a room on every node")

    def clients(self) -> list[redis.Redis]:
        """One client per master; the caller closes them."""
        return [redis.Redis(port=p, decode_responses=True) for p in self.ports]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            _end(proc, 10)
        shutil.rmtree(self.dir, ignore_errors=True)


class NginxProc:
    """nginx from Debian, run as our own foreground process, with deploy/nginx.conf as its site.

    ``hls_dir``: the directory its /hls/ location serves (the backends' LIVE_HLS_DIR).
    """

    def __init__(self, backends: list[str], hls_dir: Path | None = None) -> None:
        assert NGINX is not None
        self.dir = Path(tempfile.mkdtemp(prefix="live-nginx-"))
        self.port = free_port()
        site = (REPO / "deploy" / "nginx.conf").read_text()
        # The example's upstream servers and listen line, pointed at this test's processes.
        servers = "".join(f"    server {b};\n" for b in backends)
        site, n = re.subn(
            r"(upstream live \{\n)(?:[^}]*?\n)*?(\s*keepalive)",
            lambda m: m.group(1) + servers + m.group(2),
            site,
        )
        assert n == 1, "deploy/nginx.conf: upstream live { ... keepalive ...} not found"
        site, n = re.subn(
            r"^(\s*)listen\s+[^;]+;", rf"\g<1>listen 127.0.0.1:{self.port};", site, count=1, flags=re.M
        )
        assert n == 1
        site = re.sub(r"^\s*listen \[::\][^\n]*\n", "", site, flags=re.M)
        if hls_dir is not None:
            # The backends' shared HLS directory (LIVE_HLS_DIR), where the example says /var/lib/live/hls.
            site, n = re.subn(r"alias /var/lib/live/hls/;", f"alias {hls_dir}/;", site)
            assert n == 1, "deploy/nginx.conf: the /hls/ location's alias not found"
        (self.dir / "site.conf").write_text(site)
        d = self.dir
        (d / "nginx.conf").write_text(f"""
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
worker_processes 1;
events {{ worker_connections 4096; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {d}/site.conf;
}}
""")
        check = subprocess.run(
            [NGINX, "-t", "-p", str(d), "-e", str(d / "error.log"), "-c", str(d / "nginx.conf")],
            capture_output=True,
            text=True,
        )
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t failed: {check.stderr}")
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(d), "-e", str(d / "error.log"), "-c", str(d / "nginx.conf")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_preexec(),
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.secret = SECRET
        try:
            wait_until(lambda: httpx.get(self.url + "/healthz", timeout=1).status_code == 200, 10, "nginx")
        except Exception:
            self.stop()
            raise

    def token(
        self, role: str = "viewer", room: str | None = None, name: str = "Test", sub: str | None = None
    ) -> str:
        return token_for(self.secret, role, room, name, sub)

    def stop(self) -> None:
        # SIGTERM is nginx's fast shutdown: a graceful one would wait for open WebSockets.
        _end(self.proc, 10)
        shutil.rmtree(self.dir, ignore_errors=True)
