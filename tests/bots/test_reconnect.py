"""A bot viewer reconnects as live/closecodes.py says, against a real websockets server that closes on cue."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from websockets.asyncio.server import ServerConnection, serve

from bots.plan import Plan
from bots.viewer import FATAL_CLOSES, Viewer
from bots.worker import Worker, WorkerSpec
from live import closecodes

HELLO_SEQ = 7


class ScriptedRoom:
    """Each connection gets ``hello`` (or not), then the next close code of the script.

    Once the script is used up, connections stay open until the test ends.
    """

    def __init__(
        self, closes: list[int], *, hello: bool = True, silent: frozenset[int] = frozenset()
    ) -> None:
        self.closes = closes
        self.hello = hello
        self.silent = silent  # connections (1 = the first) that get no hello
        self.sinces: list[str | None] = []  # the since each connection asked for
        self.connected = asyncio.Event()

    async def handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        query = parse_qs(urlsplit(ws.request.path).query)
        self.sinces.append(query.get("since", [None])[0])
        self.connected.set()
        if self.hello and len(self.sinces) not in self.silent:
            hello = {"t": "hello", "seq": HELLO_SEQ, "resumed": False, "pin": None, "chat": []}
            await ws.send(orjson.dumps([hello]).decode())
        if len(self.sinces) <= len(self.closes):
            await ws.close(self.closes[len(self.sinces) - 1], "scripted")
        else:
            await ws.wait_closed()

    async def connections(self, n: int, timeout_s: float = 10.0) -> None:
        async with asyncio.timeout(timeout_s):
            while len(self.sinces) < n:
                self.connected.clear()
                await self.connected.wait()


@asynccontextmanager
async def one_viewer(room: ScriptedRoom) -> AsyncIterator[tuple[Worker, Viewer]]:
    """A worker with one anonymous viewer, connected to ``room`` on a loopback port."""
    async with serve(room.handle, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        plan = Plan("join", viewers=1, rate=0.0, duration_s=1.0, ramp_s=0.0, procs=1)
        worker = Worker(WorkerSpec(0, plan, (f"http://127.0.0.1:{port}",), "scripted", "t", None))
        await worker.prepare()
        worker.start(time.time())
        try:
            yield worker, worker.viewers[0]
        finally:
            await settle(worker.viewers[0], worker.tasks[0])
            await worker.shutdown()


async def settle(viewer: Viewer, run: asyncio.Task[None], timeout_s: float = 10.0) -> None:
    """Wait until the viewer is open or done: a close in the middle of its handshake goes unseen."""
    async with asyncio.timeout(timeout_s):
        while not viewer.is_open and not run.done():
            await asyncio.sleep(0.01)


def test_the_fatal_closes_are_the_tables_final_codes() -> None:
    assert FATAL_CLOSES == closecodes.FINAL
    assert closecodes.NO_SUCH_ROOM in FATAL_CLOSES


@pytest.mark.parametrize("code", sorted(closecodes.FINAL))
@pytest.mark.parametrize("hello", [True, False])
async def test_a_final_close_ends_the_viewer(code: int, hello: bool) -> None:
    room = ScriptedRoom([code, code], hello=hello)
    async with one_viewer(room) as (worker, _viewer):
        async with asyncio.timeout(10):
            await worker.tasks[0]  # the viewer's run() returns instead of retrying
        assert len(room.sinces) == 1
        assert worker.stats.counters.get("fatal_closes") == 1


@pytest.mark.parametrize(
    ("code", "since"),
    [
        (closecodes.HISTORY_LOST, None),  # a fresh snapshot
        (closecodes.SERVICE_RESTART, str(HELLO_SEQ)),
        (closecodes.TOO_SLOW, str(HELLO_SEQ)),
        (closecodes.SERVER_ERROR, str(HELLO_SEQ)),
        (4999, str(HELLO_SEQ)),  # a code the table does not know: reconnect and resume
    ],
)
async def test_a_reconnect_resumes_or_drops_since_as_the_table_says(code: int, since: str | None) -> None:
    room = ScriptedRoom([code])
    async with one_viewer(room):
        await room.connections(2)
        assert room.sinces == [None, since]


async def test_since_comes_back_after_the_fresh_snapshot() -> None:
    room = ScriptedRoom([closecodes.HISTORY_LOST, closecodes.TOO_SLOW])
    async with one_viewer(room):
        await room.connections(3)
        assert room.sinces == [None, None, str(HELLO_SEQ)]


async def test_since_stays_dropped_until_a_hello_comes() -> None:
    # The fresh-snapshot attempt is refused before its hello: the next one still asks for a snapshot.
    room = ScriptedRoom([closecodes.HISTORY_LOST, closecodes.SERVER_ERROR], silent=frozenset({2}))
    async with one_viewer(room):
        await room.connections(3)
        assert room.sinces == [None, None, None]
