"""One continuous, rising timestamp line per room, whatever the source.

A replaced publisher starts its own clock from zero; viewers' senders turn our
packet timestamps into RTP timestamps, and a receiver's jitter buffer expects
them to go on rising at the media clock rate. So each source's timestamps are
shifted onto the room's line: anchored to the wall clock when a source starts,
then following the source's own cadence (smoother than arrival times), and
re-anchored when the source jumps. Pure: time is an argument.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Timeline:
    """Maps source timestamps onto the room's line, in units of ``clock_rate`` per second.

    ``max_drift_s``: when a source's timestamps stray further than this from the
    wall clock (a jump, a pause, a wrap), the source is re-anchored to now.
    """

    clock_rate: int
    max_drift_s: float = 1.0
    _offset: int | None = None
    _last: int | None = None

    def new_source(self) -> None:
        """The next timestamp comes from a new source: anchor it to the wall clock."""
        self._offset = None

    def place(self, source_ts: int | None, now_s: float) -> int:
        """The room timestamp for a source timestamp seen at ``now_s`` (room clock, seconds).

        Always greater than the previous one.
        """
        now = round(now_s * self.clock_rate)
        if source_ts is None:
            out = now
        else:
            if self._offset is None:
                self._offset = now - source_ts
            out = source_ts + self._offset
            if abs(out - now) > self.max_drift_s * self.clock_rate:
                self._offset = now - source_ts
                out = now
        if self._last is not None and out <= self._last:
            out = self._last + 1
        self._last = out
        return out
