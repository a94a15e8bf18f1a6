"""Counting a client's WebSocket frames as bytes arrive, before anything parses them.

Sans-I/O: bytes in, a frame count out, time passed in. The server's protocol feeds each
network chunk here first; a chunk holding more frames than the budget allows is refused
whole, so a client cannot make the parser (and the app) chew through thousands of frames
it sent in one burst. Data, ping, pong and close frames all count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

UNLIMITED = 1 << 62  # a frame count no chunk reaches


class FrameScanner:
    """Finds frame boundaries in a client's byte stream (RFC 6455 §5.2), across chunk boundaries.

    Only headers are read: the payload is skipped, never unmasked or copied.
    """

    __slots__ = ("_head", "_skip")

    def __init__(self) -> None:
        self._skip = 0  # payload bytes of the current frame still to come
        self._head = b""  # the start of a header that a chunk boundary cut

    @property
    def at_frame_start(self) -> bool:
        return not self._skip and not self._head

    def feed(self, data: bytes, limit: int) -> int:
        """The number of frames whose header completes in ``data``.

        Counting stops at ``limit + 1``: the caller refuses the chunk then, and the scanner's
        position is no longer meaningful (the connection is being closed).
        """
        n = len(data)
        pos = 0
        if self._skip:
            if self._skip >= n:
                self._skip -= n
                return 0
            pos, self._skip = self._skip, 0
        if self._head:
            data = self._head + data[pos:]
            n, pos, self._head = len(data), 0, b""
        count = 0
        while pos < n:
            if n - pos < 2:
                self._head = data[pos:]
                return count
            second = data[pos + 1]
            length = second & 0x7F
            header = 2 + (4 if second & 0x80 else 0) + (2 if length == 126 else 8 if length == 127 else 0)
            if n - pos < header:
                self._head = data[pos:]
                return count
            if length == 126:
                length = int.from_bytes(data[pos + 2 : pos + 4], "big")
            elif length == 127:
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
            count += 1
            if count > limit:
                return count
            pos += header + length
        self._skip = pos - n
        return count


@dataclass(slots=True)
class FrameBudget:
    """A token bucket of frames: ``per_s`` sustained, ``burst`` at once. ``per_s`` 0 = unlimited."""

    per_s: float
    burst: int
    _tokens: float = field(default=-1.0)
    _last_s: float = 0.0

    def available(self, now_s: float) -> int:
        """Frames that may arrive now."""
        if self._tokens < 0:
            self._tokens = float(self.burst)
        else:
            elapsed = max(0.0, now_s - self._last_s)
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.per_s)
        self._last_s = now_s
        return int(self._tokens)

    def spend(self, frames: int) -> None:
        self._tokens -= frames


class WireGuard:
    """One connection's inbound frame budget, applied to raw network chunks."""

    __slots__ = ("_budget", "_scanner")

    def __init__(self, frames_per_s: float, frames_burst: int) -> None:
        self._scanner = FrameScanner()
        self._budget = FrameBudget(frames_per_s, frames_burst)

    @property
    def enabled(self) -> bool:
        return self._budget.per_s > 0

    @property
    def at_frame_start(self) -> bool:
        """True if the next chunk begins with a frame's header (nothing of a frame is pending)."""
        return self._scanner.at_frame_start

    def admit(self, chunk: bytes, now_s: float) -> bool:
        """True if the frames in ``chunk`` fit the budget; False: cut the connection off.

        Without a budget the chunk is still scanned, for ``at_frame_start``."""
        if not self.enabled:
            self._scanner.feed(chunk, UNLIMITED)
            return True
        allowed = self._budget.available(now_s)
        frames = self._scanner.feed(chunk, allowed)
        if frames > allowed:
            return False
        self._budget.spend(frames)
        return True
