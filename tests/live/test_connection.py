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
