"""One viewer's connection: an outbox bounded in bytes and, once it is needed, its own writer task.

The hub only appends to outboxes and never awaits a viewer, so one stalled viewer
cannot slow the room; a viewer further behind than ``outbox_max_bytes`` is closed
with 4008 and can resume with ``since``. "Behind" is every byte not yet on the wire:
the outbox plus the transport's own write buffer (it also holds what the protocol
wrote by itself, such as pongs).

On our own server (``live.ws_protocol``) a connection writes pre-built frames
(``live.wsframe``) to a ``FrameSink``: at once, without the writer task, when the
socket is open, drains and nothing is queued before it; into the outbox otherwise, for
the writer to hand over once the transport has drained. The writer task is started by the
first frame that has to wait (or a close): most viewers never need one, and a join storm
does not pay for a task per viewer. Any other ASGI server gets text through ``send_text``
from the writer task.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from live import closecodes
from live.auth import Identity
from live.wsframe import text_frame

SendText = Callable[[str], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]
BATCH_MAX_BYTES = 256 * 1024  # queued frames handed to the transport in one write, at most
# How long a socket's reader is waited for once the writer found the socket gone: the reader
# then holds the close code (the socket's close, or the server's keepalive cutting it off).
READER_GRACE_S = 2.0


class FrameSink(Protocol):
    """A socket that takes pre-built frames without awaiting (``LiveWebSocketProtocol``)."""

    def frame_ready(self) -> bool: ...

    def write_frame(self, frame: bytes) -> bool: ...

    def write_buffer_size(self) -> int: ...

    async def wait_writable(self) -> None: ...


class Connection:
    def __init__(
        self,
        *,
        room: str,
        identity: Identity | None,
        viewer_key: str,
        send_text: SendText,
        close: Close,
        outbox_max_bytes: int,
        sink: FrameSink | None = None,
    ) -> None:
        self.room = room
        self.identity = identity
        self.viewer_key = viewer_key  # user id, or a per-connection id for anonymous watchers
        self._send_text = send_text
        self._close = close
        self._max_bytes = outbox_max_bytes
        self._sink = sink
        # (wire frame, its size) with a sink, else (text, its UTF-8 size).
        self._outbox: deque[tuple[bytes | str, int]] = deque()
        self._outbox_bytes = 0
        self._wake = asyncio.Event()
        self._close_after: tuple[int, str] | None = None
        self._started = False  # writes wait for start(): the socket is accepted then
        self.closed = False
        self.close_code: int | None = None
        # Resolved once the connection is closed or cut off (a future, so waiting on it takes no task).
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        """The socket is accepted: what was queued goes out, at once where the socket takes it."""
        self._started = True
        sink, outbox = self._sink, self._outbox
        if sink is not None and outbox and sink.frame_ready() and self._close_after is None:
            wire = b"".join(item for item, _ in outbox)  # type: ignore[misc]  # a sink's outbox holds bytes
            outbox.clear()
            self._outbox_bytes = 0
            self._write_now(wire)
        elif outbox or self._close_after is not None:
            self._wake_writer()

    @property
    def user_id(self) -> str | None:
        return self.identity.id if self.identity else None

    def push(self, frame: str, size: int | None = None, wire: bytes | None = None) -> bool:
        """Send or queue a frame; never blocks. True when it was written at once.

        ``size`` (the frame's UTF-8 length) and ``wire`` (its pre-built WebSocket frame) are
        given by callers that send one frame to many sockets, so the work is done once.
        Past the byte bound the viewer is cut off.
        """
        if self.closed or self._close_after is not None:
            return False
        sink = self._sink
        item: bytes | str
        if sink is not None:
            if wire is None:
                wire = text_frame(frame.encode())
            if self._started and not self._outbox and sink.frame_ready():
                return self._write_now(wire)
            item, size = wire, len(wire)
        else:
            item = frame
            if size is None:
                size = len(frame) if frame.isascii() else len(frame.encode())
        self._outbox.append((item, size))
        self._outbox_bytes += size
        buffered = sink.write_buffer_size() if sink is not None and self._started else 0
        if self._max_bytes and self._outbox_bytes + buffered > self._max_bytes:
            self._abort(closecodes.TOO_SLOW)
            return False
        self._wake_writer()
        return False

    async def until_either_ends(self, reader: asyncio.Task[int]) -> None:
        """Until the socket's reader returns or this connection is closed or cut off; when the
        writer found the socket gone first, the reader is waited for a little longer, since it
        is about to hear why (the close code)."""
        ends: list[asyncio.Future[Any]] = [reader, self.done]
        await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
        if not reader.done() and self.close_code is None:
            await asyncio.wait([reader], timeout=READER_GRACE_S)

    def _write_now(self, wire: bytes) -> bool:
        """Hand frames to a sink that is ready for them; False if that cut the viewer off."""
        assert self._sink is not None
        if not self._sink.write_frame(wire):
            self._abort(closecodes.ABNORMAL)
            return False
        # A writable transport takes any frame, however big, and whatever pongs sit before it.
        if self._max_bytes and self._sink.write_buffer_size() > self._max_bytes:
            self._abort(closecodes.TOO_SLOW)
        return True

    def _wake_writer(self) -> None:
        self._wake.set()
        if self._writer is None and self._started:
            self._writer = asyncio.create_task(self._run_writer(), name=f"writer:{self.room}")

    def _abort(self, code: int) -> None:
        """Drop the viewer now: its writer may be stuck on a socket that no longer drains."""
        self._outbox.clear()
        self._outbox_bytes = 0
        self.closed = True
        self.close_code = code
        if self._writer is not None:
            self._writer.cancel()
        self._finish()

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def close_soon(self, code: int, reason: str) -> None:
        """Close once what is already queued has been written."""
        if self._close_after is None and not self.closed:
            self._close_after = (code, reason)
            self._wake_writer()

    async def stop(self, timeout_s: float = 2.0) -> None:
        """Flush what is queued (bounded in time), then stop the writer."""
        if not self._started:
            return
        if not self.done.done():
            self.close_soon(self.close_code or closecodes.NORMAL, "")  # the writer closes, once flushed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.done), timeout_s)
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer

    async def _run_writer(self) -> None:
        drain = self._drain_to_sink if self._sink is not None else self._drain_as_text
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                if not await drain():
                    return  # the socket is gone; the reader side notices and cleans up
                if self._close_after is not None:
                    code, reason = self._close_after
                    self.close_code = code
                    with contextlib.suppress(Exception):
                        await self._close(code, reason)
                    return
        except Exception:
            return
        finally:
            self.closed = True
            self._finish()

    async def _drain_to_sink(self) -> bool:
        """Hand queued frames to the transport whenever it has drained, many per write."""
        sink, outbox = self._sink, self._outbox
        assert sink is not None
        while outbox:
            if not sink.frame_ready():
                await sink.wait_writable()
                if not sink.frame_ready():
                    return False  # lost or closing while paused
                continue
            batch: list[bytes] = []
            taken = 0
            while outbox and taken < BATCH_MAX_BYTES:
                item, size = outbox.popleft()
                batch.append(item)  # type: ignore[arg-type]  # a sink's outbox holds bytes
                taken += size
            self._outbox_bytes -= taken
            if not sink.write_frame(batch[0] if len(batch) == 1 else b"".join(batch)):
                return False
        return True

    async def _drain_as_text(self) -> bool:
        outbox = self._outbox
        while outbox:
            item, size = outbox.popleft()
            self._outbox_bytes -= size
            await self._send_text(item)  # type: ignore[arg-type]  # without a sink it holds text
        return True
