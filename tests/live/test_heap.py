"""The frozen heap (live/heap.py), and that a closed viewer leaves no reference cycle behind.

The collector's state is the test process's own: every test hands all objects back to it.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import weakref
from collections.abc import Iterator

import httpx
import pytest
import websockets

from live.heap import FrozenHeap
from live.http_protocol import LiveHttpProtocol
from live.server import build_server
from live.settings import DEV_SECRET, Settings
from live.ws_protocol import LiveWebSocketProtocol
from tests.support import ServerProc, new_prefix, test_token, unique_room


class Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def heap() -> Iterator[FrozenHeap]:
    heap = FrozenHeap()
    try:
        yield heap
    finally:
        heap.release()
        gc.collect()


def test_a_cycle_frozen_alive_is_freed_only_by_a_thaw(heap: FrozenHeap) -> None:
    heap.tick()  # the first tick thaws: nothing was frozen
    assert heap.thaws == 1
    cycle = Cycle()
    gone = weakref.ref(cycle)
    heap.tick()
    del cycle
    gc.collect()
    assert gone() is not None, "a frozen object is out of the collector's sight"
    heap.thaw()
    assert gone() is None


def thaw_finding_dead_cycles(heap: FrozenHeap) -> None:
    """A thaw that finds many dead cycles among what was frozen since the last: patience is 1."""
    heap.tick()
    cycles = [Cycle() for _ in range(1000)]
    heap.tick()  # frozen alive
    del cycles
    heap.thaw()
    assert heap.patience == 1


CHUNK = 10_000  # live objects added before each tick


def ticks_until_a_thaw(heap: FrozenHeap, held: list[object]) -> int:
    """Tick, adding CHUNK live objects before each, until one thaws; what was added before it."""
    thaws, kept = heap.thaws, heap.frozen
    while True:
        added = heap.frozen - kept
        held.append([[] for _ in range(CHUNK - 1)])
        heap.tick()
        if heap.thaws > thaws:
            return added


def test_a_thaw_comes_once_three_times_what_the_last_one_kept_was_frozen(heap: FrozenHeap) -> None:
    thaw_finding_dead_cycles(heap)
    kept = heap.frozen
    held: list[object] = []
    added = ticks_until_a_thaw(heap, held)
    # It thawed at the first tick whose additions passed three times what the last thaw kept.
    assert added <= 3 * kept < added + 2 * CHUNK
    assert heap.frozen >= added  # what was added and is still alive stays frozen


def test_a_thaw_that_finds_nothing_dead_makes_the_next_wait_longer(heap: FrozenHeap) -> None:
    thaw_finding_dead_cycles(heap)
    held: list[object] = []
    ticks_until_a_thaw(heap, held)  # all it finds dead is what was frozen alive: nothing
    assert heap.patience == 2
    kept = heap.frozen
    added = ticks_until_a_thaw(heap, held)
    assert added <= 6 * kept < added + 2 * CHUNK
    assert heap.patience == 4
    heap.thaw()  # nothing dead again
    assert heap.patience == 4  # MAX_PATIENCE
    thaw_finding_dead_cycles(heap)  # dead cycles again: back to three times


def test_release_hands_every_object_back(heap: FrozenHeap) -> None:
    heap.tick()
    assert gc.get_freeze_count() > 0
    heap.release()
    assert gc.get_freeze_count() == 0


def test_only_a_thaw_makes_a_full_collection_until_release(heap: FrozenHeap) -> None:
    def full_collections() -> int:
        return int(gc.get_stats()[2]["collections"])

    def survivors() -> list[list[int]]:
        # More than a quarter of the heap, over more than 10 middle collections (700 x 10 each).
        return [[] for _ in range(100_000 + len(gc.get_objects()))]

    before = gc.get_threshold()
    full = full_collections()
    held = survivors()
    assert full_collections() > full  # CPython's own schedule
    heap.begin()
    full = full_collections()
    held += survivors()
    assert full_collections() == full
    heap.thaw()
    assert gc.get_stats()[2]["collections"] == full + 1
    heap.release()
    assert gc.get_threshold() == before


def live_protocols() -> list[object]:
    return [o for o in gc.get_objects() if issubclass(type(o), LiveWebSocketProtocol | LiveHttpProtocol)]


async def test_closed_viewers_are_freed_by_reference_counting_alone(redis_url: str) -> None:
    """No cycle through the protocols: with the collector off, nothing of them is left."""
    settings = Settings(redis_url=redis_url, key_prefix=new_prefix(), dev=True, gc_freeze_s=0)
    server = build_server(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    room = unique_room("heap")
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        token = test_token(DEV_SECRET, "host", room, "Host", "host")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            auth = {"Authorization": f"Bearer {token}"}
            assert (
                await http.put(f"/api/rooms/{room}", json={"title": "t"}, headers=auth)
            ).status_code == 201
            assert (await http.post(f"/api/rooms/{room}/start", headers=auth)).status_code == 200
        gc.collect()
        gc.disable()
        try:
            # Viewers that leave cleanly, that vanish, and that are refused (no such room).
            for i in range(30):
                target = room if i % 3 else "no-such-room"
                ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws/{target}?token={token}")
                await ws.recv()
                if i % 3 == 1:
                    ws.transport.abort()
                await ws.close()
            for _ in range(100):
                left = live_protocols()
                if not left:
                    break
                del left
                await asyncio.sleep(0.02)
            assert live_protocols() == []
        finally:
            gc.enable()
    finally:
        server.should_exit = True
        await serving
        sock.close()


async def test_a_server_freezes_its_heap_and_says_so_in_its_metrics(shared_server: ServerProc) -> None:
    def gauge(text: str, name: str) -> int:
        return int(next(line.split()[1] for line in text.splitlines() if line.startswith(name + " ")))

    async with httpx.AsyncClient(base_url=shared_server.url) as http:
        for _ in range(100):  # the first tick, a second after start, thaws once and freezes
            text = (await http.get("/metrics")).text
            if gauge(text, "live_gc_thaws") >= 1:
                break
            await asyncio.sleep(0.1)
    assert gauge(text, "live_gc_thaws") >= 1
    assert gauge(text, "live_gc_frozen_objects") > 10_000  # the whole heap of a started server
