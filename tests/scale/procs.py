"""Scale-out and fault test helpers over the process kit: a viewer that reconnects and resumes
like a real one, and which process holds a socket.

The processes (``live serve`` with workers, a Redis Cluster, nginx) are ``kit.procs``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Any

from kit.procs import NGINX, ClusterProcs, NginxProc, ServerProc, wait_until
from tests.support import Client

__all__ = [
    "NGINX",
    "ClusterProcs",
    "LiveProc",
    "NginxProc",
    "Resumer",
    "await_until",
    "client_port",
    "socket_owner",
    "wait_until",
]

# `live serve` with its output in a file, optionally --workers N: the kit's ServerProc.
LiveProc = ServerProc


async def await_until(pred: Any, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if await pred():
                return
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


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
