"""Hand every encoded packet of a room to every viewer, without ever awaiting one.

Each viewer has its own queue, bounded in bytes. A viewer that cannot keep up
loses its backlog, never the room's time: audio simply restarts from the newest
packet; video restarts at the next keyframe (a VP8 delta frame is useless
without the frames before it) and asks the room's encoder for one.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

import av
from aiortc.mediastreams import MediaStreamError


class Subscriber:
    """One viewer's queue of packets of one kind.

    ``gated``: start only at a keyframe, and after losing packets wait for the
    next keyframe (video). ``on_keyframe_needed`` is called when a gated queue
    starts waiting.
    """

    def __init__(self, *, max_bytes: int, gated: bool, on_keyframe_needed: Callable[[], None]) -> None:
        self._max_bytes = max_bytes
        self._gated = gated
        self._on_keyframe_needed = on_keyframe_needed
        self._queue: deque[av.Packet] = deque()
        self._bytes = 0
        self._waiting_for_keyframe = gated
        self._started = False  # got a first packet; what it misses after that counts as dropped
        self._wake = asyncio.Event()
        self._closed = False
        self.dropped = 0  # packets thrown away because this viewer fell behind

    @property
    def queued_bytes(self) -> int:
        """Bytes waiting for this viewer's sender."""
        return self._bytes

    def offer(self, packet: av.Packet) -> None:
        """Queue ``packet`` for this viewer. Never blocks, never awaits."""
        if self._closed:
            return
        if self._waiting_for_keyframe:
            if not packet.is_keyframe:
                self.dropped += self._started
                return
            self._waiting_for_keyframe = False
        size = packet.size
        if self._bytes + size > self._max_bytes:
            self.dropped += len(self._queue)
            self._queue.clear()
            self._bytes = 0
            if self._gated and not packet.is_keyframe:
                self.dropped += 1
                self._waiting_for_keyframe = True
                self._on_keyframe_needed()
                return
        self._queue.append(packet)
        self._started = True
        self._bytes += size
        self._wake.set()

    async def get(self) -> av.Packet:
        """The next packet, waiting for it if need be; raises ``MediaStreamError`` once closed."""
        while not self._queue:
            if self._closed:
                raise MediaStreamError
            self._wake.clear()
            await self._wake.wait()
        packet = self._queue.popleft()
        self._bytes -= packet.size
        return packet

    def close(self) -> None:
        """End this viewer's stream: a pending and every later ``get`` raises ``MediaStreamError``."""
        self._closed = True
        self._queue.clear()
        self._bytes = 0
        self._wake.set()


class Fanout:
    """All the viewers of one kind of media in one room.

    ``gated`` and ``max_bytes`` apply to each subscriber; ``on_keyframe_needed``
    is called when a gated subscriber joins or loses packets.
    """

    def __init__(
        self, kind: str, *, max_bytes: int, gated: bool, on_keyframe_needed: Callable[[], None]
    ) -> None:
        self.kind = kind
        self._max_bytes = max_bytes
        self._gated = gated
        self._on_keyframe_needed = on_keyframe_needed
        self._subscribers: set[Subscriber] = set()
        self._closed = False
        self.dropped = 0  # packets dropped by subscribers that have left

    def __len__(self) -> int:
        return len(self._subscribers)

    def __bool__(self) -> bool:
        """True while someone watches: with nobody, the room skips encoding."""
        return bool(self._subscribers)

    @property
    def closed(self) -> bool:
        """True once the room's stream has ended."""
        return self._closed

    def subscribe(self, max_bytes: int | None = None) -> Subscriber:
        """A new viewer's queue (``max_bytes``: its bound, None = the fanout's).

        On a closed fanout it is closed from the start.
        """
        sub = Subscriber(
            max_bytes=self._max_bytes if max_bytes is None else max_bytes,
            gated=self._gated,
            on_keyframe_needed=self._on_keyframe_needed,
        )
        if self._closed:
            sub.close()
            return sub
        self._subscribers.add(sub)
        if self._gated:
            # A viewer can only start decoding at a keyframe: ask now rather than wait for the next one.
            self._on_keyframe_needed()
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """Forget a viewer (its sender stopped). Idempotent."""
        if sub in self._subscribers:
            self._subscribers.discard(sub)
            self.dropped += sub.dropped
            sub.close()

    def publish(self, packet: av.Packet) -> None:
        """Give ``packet`` to every viewer. The same object for all of them: senders only read it."""
        for sub in self._subscribers:
            sub.offer(packet)

    def close(self) -> None:
        """The stream is over: every viewer's ``get`` raises ``MediaStreamError``."""
        self._closed = True
        for sub in self._subscribers:
            self.dropped += sub.dropped
            sub.close()
        self._subscribers.clear()

    def dropped_total(self) -> int:
        """Packets dropped so far by all viewers, present and past."""
        return self.dropped + sum(sub.dropped for sub in self._subscribers)
