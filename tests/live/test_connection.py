"""A viewer's outbox is bounded in bytes: past the bound the viewer is dropped (4008), at once."""

from __future__ import annotations

import asyncio

from live import closecodes
from live.connection import Connection
from live.wsframe import text_frame
from tests.support import until


def _connection(max_bytes: int, sent: list[str], gate: asyncio.Event) -> Connection:
    async def send_text(frame: str) -> None:
        await gate.wait()  # a socket that does not drain until the gate opens
        sent.append(frame)

    async def close(code: int, reason: str) -> None:
        sent.append(f"close {code}")

    return Connection(
        room="r", identity=None, viewer_key="v", send_text=send_text, close=close, outbox_max_bytes=max_bytes
    )


async def test_stalled_viewer_is_dropped_past_the_bound() -> None:
    sent: list[str] = []
    conn = _connection(1000, sent, asyncio.Event())  # never drains
    conn.start()
    conn.push("x" * 100)
    await asyncio.sleep(0)  # the writer takes the first frame and blocks on the socket
    for _ in range(9):
        conn.push("y" * 100)
    assert not conn.closed
    conn.push("z" * 200)  # 1,100 bytes queued behind the stuck send: past the bound
    assert conn.closed and conn.close_code == closecodes.TOO_SLOW and conn.done.done()
    await conn.stop()
    assert sent == []  # nothing more was written, and stop() did not hang on the stuck socket


async def test_a_draining_viewer_gets_every_frame_in_order() -> None:
    sent: list[str] = []
    gate = asyncio.Event()
    conn = _connection(1000, sent, gate)
    conn.start()
    for i in range(5):
        conn.push(f"f{i}")
    gate.set()
    await conn.stop()
    assert sent == ["f0", "f1", "f2", "f3", "f4", f"close {closecodes.NORMAL}"]


async def test_the_bound_is_in_utf8_bytes_not_characters() -> None:
    sent: list[str] = []
    conn = _connection(1000, sent, asyncio.Event())  # never drains
    conn.start()
    conn.push("x")
    await asyncio.sleep(0)  # the writer holds the first frame
    conn.push("中" * 300)  # 300 characters, 900 bytes
    assert not conn.closed
    conn.push("文" * 40)  # 340 characters, but 1,020 bytes queued
    assert conn.closed and conn.close_code == closecodes.TOO_SLOW
    await conn.stop()


class Transport:
    """What a connection sees of our WebSocket protocol (``FrameSink``): a transport that
    holds every byte written until the test drains it."""

    def __init__(self) -> None:
        self.ready = True
        self.taking = True  # False: the socket is gone
        self.unsent = 0
        self.written: list[bytes] = []
        self.writable = asyncio.Event()
        self.writable.set()

    def frame_ready(self) -> bool:
        return self.ready and self.writable.is_set()

    def write_frame(self, frame: bytes) -> bool:
        if not self.taking:
            return False
        self.written.append(frame)
        self.unsent += len(frame)
        return True

    def write_buffer_size(self) -> int:
        return self.unsent

    async def wait_writable(self) -> None:
        await self.writable.wait()

    def pause(self) -> None:
        self.writable.clear()

    def drain(self) -> None:
        self.unsent = 0
        self.writable.set()


def _direct(max_bytes: int, transport: Transport, sent: list[str] | None = None) -> Connection:
    async def close(code: int, reason: str) -> None:
        if sent is not None:
            sent.append(f"close {code}")

    async def never(frame: str) -> None:
        raise AssertionError("frames go to the transport, not through send_text")

    return Connection(
        room="r",
        identity=None,
        viewer_key="v",
        send_text=never,
        close=close,
        outbox_max_bytes=max_bytes,
        sink=transport,
    )


async def test_a_frame_for_an_idle_writable_socket_is_written_at_once_as_prebuilt_bytes() -> None:
    transport = Transport()
    conn = _direct(1000, transport)
    conn.start()
    wire = text_frame(b"shared")
    assert conn.push("shared", 6, wire) is True
    assert transport.written == [wire]
    assert transport.written[0] is wire  # the very bytes the hub built once for every viewer
    assert conn.push("own") is True  # a frame for this socket alone is framed here
    assert transport.written[1] == text_frame(b"own")


async def test_nothing_is_written_directly_before_start() -> None:
    # /ws/me queues frames before the handshake completes; they must wait for it, in order.
    transport = Transport()
    conn = _direct(1000, transport)
    assert conn.push("first") is False
    assert transport.written == []
    assert conn.push("second") is False
    assert transport.written == []
    conn.start()  # the socket takes them: both at once, in one write
    assert transport.written == [text_frame(b"first") + text_frame(b"second")]
    assert conn.push("third") is True
    assert transport.written[1:] == [text_frame(b"third")]


async def test_frames_queued_before_start_wait_for_a_paused_socket_in_order() -> None:
    transport = Transport()
    transport.pause()
    conn = _direct(1000, transport)
    conn.push("first")
    conn.start()
    assert conn.push("second") is False  # behind "first", so queued too
    await asyncio.sleep(0.01)
    assert transport.written == []
    transport.drain()
    await until("the writer to hand both over", lambda: transport.written)
    assert transport.written == [text_frame(b"first") + text_frame(b"second")]


async def test_a_connection_that_never_has_to_wait_runs_no_task() -> None:
    transport = Transport()
    before = len(asyncio.all_tasks())
    conn = _direct(1000, transport)
    conn.push("hello")
    conn.start()
    conn.push("more")
    assert len(asyncio.all_tasks()) == before
    await conn.stop()  # closing takes a writer: it closes once what is queued is out
    assert conn.closed and conn.done.done()


async def test_bytes_the_transport_still_holds_count_against_the_bound() -> None:
    # Pongs the protocol wrote itself sit in the transport's buffer, outside the outbox.
    transport = Transport()
    transport.unsent = 900
    transport.pause()
    conn = _direct(1000, transport)
    conn.start()
    conn.push("x" * 90)  # 92 bytes framed + 900 unsent
    assert not conn.closed
    conn.push("x" * 10)  # 92 + 12 + 900 > 1,000
    assert conn.closed and conn.close_code == closecodes.TOO_SLOW


async def test_a_direct_write_that_leaves_the_transport_over_the_bound_drops_the_viewer() -> None:
    transport = Transport()
    conn = _direct(1000, transport)
    conn.start()
    assert conn.push("fine")
    assert not conn.closed
    transport.unsent = 1200  # the socket stopped draining; this frame and the pongs before it wait
    assert conn.push("too much")
    assert conn.closed and conn.close_code == closecodes.TOO_SLOW


async def test_a_paused_socket_gets_its_queue_in_order_once_it_drains_then_direct_again() -> None:
    transport = Transport()
    sent: list[str] = []
    conn = _direct(1 << 20, transport, sent)
    conn.start()
    transport.pause()
    for i in range(5):
        assert conn.push(f"f{i}") is False
    await asyncio.sleep(0.01)
    assert transport.written == []  # the writer waits for the drain
    transport.drain()
    await until("the queue handed over", lambda: transport.written)
    assert transport.written == [b"".join(text_frame(f"f{i}".encode()) for i in range(5))]
    assert conn.push("after") is True  # nothing queued any more: the direct path again
    await conn.stop()
    assert sent == [f"close {closecodes.NORMAL}"]


async def test_a_socket_that_no_longer_takes_frames_ends_the_connection() -> None:
    transport = Transport()
    conn = _direct(1000, transport)
    conn.start()
    transport.taking = False
    assert conn.push("lost") is False
    assert conn.closed and conn.close_code == closecodes.ABNORMAL and conn.done.done()
