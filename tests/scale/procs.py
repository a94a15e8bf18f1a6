"""Real processes for the scale-out and fault tests: `live serve` (with --workers), a Redis
Cluster of three masters, nginx; and a viewer that reconnects and resumes like a real one."""

from __future__ import annotations

import asyncio
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
import time
from pathlib import Path
from typing import Any

import httpx
import redis
from redis.crc import key_slot

from tests.support import REPO, SECRET, Client, ServerProc, free_port, test_token

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def wait_until(pred: Any, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if pred():
                return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


async def await_until(pred: Any, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if await pred():
                return
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class LiveProc(ServerProc):
    """`live serve` (one process, or a supervisor with --workers N) with its output in a file.

    Unlike tests.support.ServerProc the output goes to a log file, so a long fault test
    cannot fill a pipe nobody reads, and the supervisor's lines ("worker 1 started (pid
    N)") can be read back. Duck-types ServerProc for make_room, Http and Client.
    """

    def __init__(
        self,
        redis_url: str | None,
        prefix: str,
        *,
        workers: int = 1,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        port: int = 0,
    ) -> None:
        """``redis_url`` None: the bundled Redis, with its files in this process's temp dir."""
        self.prefix = prefix
        self.secret = SECRET
        self.dir = Path(tempfile.mkdtemp(prefix="live-serve-"))
        self.log_path = self.dir / "out.log"
        full_env = {**os.environ, "LIVE_KEY_PREFIX": prefix, "PYTHONUNBUFFERED": "1", **(env or {})}
        full_env.pop("LIVE_REDIS_URL", None)
        store = ["--redis-url", redis_url] if redis_url else ["--data-dir", str(self.dir / "data")]
        cmd = [
            sys.executable,
            "-m",
            "live",
            "serve",
            "--port",
            str(port),
            *store,
            "--secret",
            SECRET,
            "--dev",
            "--workers",
            str(workers),
            *(args or []),
        ]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=full_env, cwd=REPO)
        self.workers = workers
        match: list[str] = []

        def listening() -> bool:
            found = re.search(r"listening on (http://[\d.]+:\d+)", self.output())
            if found:
                match.append(found.group(1))
            if self.proc.poll() is not None and not found:
                raise RuntimeError(f"live serve exited: {self.output()}")
            return bool(found)

        try:
            wait_until(listening, 20, "live serve to listen")
        except Exception:
            self.stop()
            raise
        self.url = match[0]
        self.redis_url = redis_url or re.search(r"\(redis (redis://[^,)]+)", self.output()).group(1)  # type: ignore[union-attr]
        self.ws_url = self.url.replace("http://", "ws://")
        self.port = int(self.url.rsplit(":", 1)[1])
        wait_until(self.healthy, 20, "live serve to be healthy")
        if workers > 1:
            wait_until(lambda: len(self.worker_pids()) == workers, 10, "all workers")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def healthy(self) -> bool:
        return httpx.get(self.url + "/healthz", timeout=2).status_code == 200

    def worker_pids(self) -> dict[int, int]:
        """Worker index -> pid of its latest start, for workers still alive."""
        latest: dict[int, int] = {}
        for index, pid in re.findall(r"worker (\d+) started \(pid (\d+)\)", self.output()):
            latest[int(index)] = int(pid)
        return {i: p for i, p in latest.items() if _alive(p)}

    def token(
        self, role: str = "viewer", room: str | None = None, name: str = "Test", sub: str | None = None
    ) -> str:
        return test_token(self.secret, role, room, name, sub)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        pids = list(self.worker_pids().values()) if self.workers > 1 else []
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        for pid in pids:  # only if the supervisor died before its workers
            with contextlib.suppress(ProcessLookupError):
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
        self._log.close()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def socket_owner(pids: list[int], server_port: int, client_port: int) -> int | None:
    """Which of ``pids`` holds the server side of the loopback TCP connection from ``client_port``."""
    inode = None
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            local, remote = parts[1], parts[2]
            if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
                inode = parts[9]
                break
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                        return pid
    return None


def client_port(client: Client) -> int:
    return int(client.ws.transport.get_extra_info("sockname")[1])


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
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        try:
            for port in self.ports:
                wait_until(lambda p=port: redis.Redis(port=p, socket_timeout=1).ping(), 10, f"redis {port}")
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
                    lambda p=port: (
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
        for start, end, master, *_ in redis.Redis(port=self.ports[0], decode_responses=True).execute_command(
            "CLUSTER SLOTS"
        ):
            if start <= slot <= end:
                return int(master[1])
        raise AssertionError(f"slot {slot} is not covered")

    def room_port(self, room: str) -> int:
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
        return [redis.Redis(port=p, decode_responses=True) for p in self.ports]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class NginxProc:
    """nginx from Debian, run as our own foreground process, with deploy/nginx.conf as its site."""

    def __init__(self, backends: list[str]) -> None:
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
        (self.dir / "site.conf").write_text(site)
        d = self.dir
        (d / "nginx.conf").write_text(f"""
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
worker_processes 1;
events {{ worker_connections 1024; }}
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
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
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
        return test_token(self.secret, role, room, name, sub)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # fast shutdown: a graceful one would wait for open WebSockets
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Resumer:
    """A viewer that, like the player, reconnects when its socket drops and resumes with ``since``.

    It keeps one list of durable events over all its connections; ``reconnects`` records how
    long each took from the drop to the resumed ``hello``.
    """

    def __init__(self, targets: list[Any], room: str, token: str | None) -> None:
        self.targets = targets  # servers (or nginx) to try, in turn
        self.room = room
        self.token = token
        self.client: Client | None = None
        self.durable: list[dict[str, Any]] = []
        self.hellos: list[dict[str, Any]] = []
        self.reconnects: list[float] = []
        self.last_seq = 0
        self._task: asyncio.Task[None] | None = None
        self._stop = False

    async def start(self) -> Resumer:
        await self._connect(None)
        self._task = asyncio.create_task(self._follow())
        return self

    async def _connect(self, since: int | None) -> None:
        last_err: Exception | None = None
        for attempt in range(200):
            target = self.targets[attempt % len(self.targets)]
            try:
                client = await Client.connect(target, self.room, self.token, since=since, open_timeout=3)
            except Exception as err:
                last_err = err
                await asyncio.sleep(min(0.05 * (attempt + 1), 0.5))
                continue
            hello = client.events[0]
            self.hellos.append(hello)  # the tests check that every hello after the first has resumed
            if since is None:
                self.last_seq = hello["seq"]
            self.client = client
            client._cursor = 1
            return
        raise AssertionError(f"could not reconnect: {last_err}")

    async def _follow(self) -> None:
        while not self._stop:
            client = self.client
            assert client is not None
            while not self._stop:
                client._arrived.clear()
                self._take(client)
                if client.closed_code is not None:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(client._arrived.wait(), 0.5)
            if self._stop:
                return
            dropped = time.monotonic()
            with contextlib.suppress(Exception):
                await client.close()
            await self._connect(self.last_seq)
            self.reconnects.append(time.monotonic() - dropped)

    def _take(self, client: Client) -> None:
        for event in client.events[client._cursor :]:
            if "seq" in event and event.get("t") != "hello":
                self.durable.append(event)
                self.last_seq = event["seq"]
        client._cursor = len(client.events)

    def seqs(self) -> list[int]:
        return [e["seq"] for e in self.durable]

    async def close(self) -> None:
        self._stop = True
        if self._task:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5)
        if self.client:
            self._take(self.client)
            await self.client.close()
