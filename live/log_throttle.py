"""At most one log line per interval for a noisy event, with a count of the lines left out.

A client can trigger some warnings at will (invalid UTF-8, say); logging each one would let
it fill the disk and spend the server's CPU on formatting. Time is an argument.
"""

from __future__ import annotations


class LogThrottle:
    __slots__ = ("_next_s", "_suppressed", "interval_s")

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._next_s = float("-inf")
        self._suppressed = 0

    def allow(self, now_s: float) -> int | None:
        """None: stay quiet. Otherwise log now, saying how many were left out since the last line."""
        if now_s < self._next_s:
            self._suppressed += 1
            return None
        self._next_s = now_s + self.interval_s
        left_out, self._suppressed = self._suppressed, 0
        return left_out
