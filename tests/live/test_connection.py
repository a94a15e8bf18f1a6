"""A viewer's outbox is bounded in bytes: past the bound the viewer is dropped (4008), at once."""

from __future__ import annotations

import asyncio

from live import closecodes
from live.connection import Connection


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
    assert conn.closed and conn.close_code == closecodes.TOO_SLOW and conn.done.is_set()
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


async def test_without_a_writable_probe_nothing_is_sent_directly() -> None:
    conn = _connection(1000, [], asyncio.Event())
    assert not conn.can_send_now()


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


def _direct(max_bytes: int, buffered: list[int], sent: list[str]) -> Connection:
    """A connection on a socket that takes writes at once, with this much already unsent."""

    async def raw_send(message: dict[str, object]) -> None:
        sent.append(str(message["text"]))

    async def never(*args: object) -> None:
        raise AssertionError("the writer task is not used here")

    return Connection(
        room="r",
        identity=None,
        viewer_key="v",
        send_text=never,
        close=never,
        outbox_max_bytes=max_bytes,
        raw_send=raw_send,
        writable=lambda: True,
        write_buffer_size=lambda: buffered[0],
    )


async def test_bytes_the_transport_still_holds_count_against_the_bound() -> None:
    # Pongs the protocol wrote itself sit in the transport's buffer, outside the outbox.
    buffered = [900]
    conn = _direct(1000, buffered, [])
    conn.push("x" * 99)
    assert not conn.closed
    conn.push("x" * 2)  # 101 queued + 900 unsent > 1,000
    assert conn.closed and conn.close_code == closecodes.TOO_SLOW


async def test_a_direct_write_that_leaves_the_transport_over_the_bound_drops_the_viewer() -> None:
    buffered = [0]
    sent: list[str] = []
    conn = _direct(1000, buffered, sent)
    assert conn.can_send_now()
    await conn.send_now("fine")
    assert not conn.closed
    buffered[0] = 1200  # the socket stopped draining; this frame and the pongs before it wait
    await conn.send_now("too much")
    assert sent == ["fine", "too much"]
    assert conn.closed and conn.close_code == closecodes.TOO_SLOW
