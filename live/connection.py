"""One viewer's connection: an outbox bounded in bytes and its own writer task.

The hub only appends to outboxes and never awaits a viewer, so one stalled viewer
cannot slow the room; a viewer further behind than ``outbox_max_bytes`` is closed
with 4008 and can resume with ``since``. "Behind" is every byte not yet on the wire:
the outbox plus the transport's own write buffer, where the server exposes it (it also
holds what the protocol wrote by itself, such as pongs).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from live import closecodes
from live.auth import Identity

SendText = Callable[[str], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]
RawSend = Callable[[dict[str, Any]], Awaitable[None]]


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
        raw_send: RawSend | None = None,
        writable: Callable[[], bool] | None = None,
        write_buffer_size: Callable[[], int] | None = None,
    ) -> None:
        self.room = room
        self.identity = identity
        self.viewer_key = viewer_key  # user id, or a per-connection id for anonymous watchers
        self._send_text = send_text
        self._close = close
        self._max_bytes = outbox_max_bytes
        self._outbox: deque[tuple[str, int]] = deque()  # (frame, its UTF-8 size in bytes)
        self._outbox_bytes = 0
        self._wake = asyncio.Event()
        self._close_after: tuple[int, str] | None = None
        self.closed = False
        self.close_code: int | None = None
        self.done = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._sending = False  # the writer is inside a send
        # The server's own ASGI send and its writability, when the server exposes it (uvicorn):
        # a frame for an idle, writable socket is written at once, without the writer task.
        self._raw_send = raw_send if writable is not None else None
        self._writable = writable or (lambda: False)
        self._write_buffer_size = write_buffer_size or (lambda: 0)  # unsent bytes in the transport

    def start(self) -> None:
        self._writer = asyncio.create_task(self._run_writer(), name=f"writer:{self.room}")

    @property
    def user_id(self) -> str | None:
        return self.identity.id if self.identity else None

    def push(self, frame: str, size: int | None = None) -> None:
        """Queue a frame; never blocks. Past the byte bound the viewer is cut off.

        ``size`` is the frame's UTF-8 length when the caller knows it (the hub computes it
        once per shared frame rather than once per viewer).
        """
        if self.closed or self._close_after is not None:
            return
        if size is None:
            size = len(frame) if frame.isascii() else len(frame.encode())
        self._outbox.append((frame, size))
        self._outbox_bytes += size
        if self._max_bytes and self._outbox_bytes + self._write_buffer_size() > self._max_bytes:
            self._abort(closecodes.TOO_SLOW)
            return
        self._wake.set()

    def can_send_now(self) -> bool:
        """True when a frame can be written at once and in order: nothing queued, the socket drains."""
        return (
            self._raw_send is not None
            and not self._outbox
            and not self._sending
            and not self.closed
            and self._close_after is None
            and self._writable()
        )

    async def send_now(self, frame: str) -> None:
        """Write straight to a writable socket (so the send completes without suspending)."""
        assert self._raw_send is not None
        try:
            await self._raw_send({"type": "websocket.send", "text": frame})
        except Exception:
            self._abort(closecodes.ABNORMAL)
            return
        # A writable transport takes any frame, however big, and whatever pongs sit before it.
        if self._max_bytes and self._write_buffer_size() > self._max_bytes:
            self._abort(closecodes.TOO_SLOW)

    def _abort(self, code: int) -> None:
        """Drop the viewer now: its writer may be stuck on a socket that no longer drains."""
        self._outbox.clear()
        self._outbox_bytes = 0
        self.closed = True
        self.close_code = code
        if self._writer is not None:
            self._writer.cancel()
        self.done.set()

    def close_soon(self, code: int, reason: str) -> None:
        """Close once what is already queued has been written."""
        if self._close_after is None and not self.closed:
            self._close_after = (code, reason)
            self._wake.set()

    async def stop(self, timeout_s: float = 2.0) -> None:
        """Flush what is queued (bounded in time), then stop the writer."""
        if self._writer is None:
            return
        if not self._writer.done():
            self.close_soon(self.close_code or closecodes.NORMAL, "")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.done.wait()), timeout_s)
            self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._writer

    async def _run_writer(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                self._sending = True
                while self._outbox:
                    frame, size = self._outbox.popleft()
                    self._outbox_bytes -= size
                    await self._send_text(frame)
                self._sending = False
                if self._close_after is not None:
                    code, reason = self._close_after
                    self.close_code = code
                    with contextlib.suppress(Exception):
                        await self._close(code, reason)
                    return
        except Exception:
            return  # the socket is gone; the reader side notices and cleans up
        finally:
            self.closed = True
            self.done.set()
