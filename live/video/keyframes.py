"""When the room's one video encoder must emit a keyframe.

With pre-encoded packets a viewer's PLI/FIR no longer reaches an encoder by
itself, so keyframes are decided here, for the whole room: periodically (a late
joiner or a viewer that lost packets waits at most one interval) and on request
(a viewer joined or asked), with requests coalesced so that forty viewers asking
at once cost one keyframe, not forty. Pure: time is an argument.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class KeyframePolicy:
    """Decides, frame by frame, whether to force a keyframe.

    ``interval_ms``: the longest stretch without a keyframe; 0 = no periodic
    keyframes (only the first frame of a source and requested ones).
    ``min_gap_ms``: requested keyframes are at least this far apart, so that
    requests cannot turn the stream into all keyframes; 0 = no limit.
    """

    interval_ms: int
    min_gap_ms: int = 250
    _last_ms: int | None = None
    _requested: bool = False

    def __post_init__(self) -> None:
        if self.interval_ms < 0 or self.min_gap_ms < 0:
            raise ValueError("keyframe intervals must be >= 0")

    @property
    def requested(self) -> bool:
        """Whether a requested keyframe is still owed."""
        return self._requested

    def request(self) -> None:
        """Ask for a keyframe as soon as ``min_gap_ms`` allows (a viewer joined or sent PLI/FIR)."""
        self._requested = True

    def reset(self) -> None:
        """A new source (or a new encoder): the next frame must be a keyframe."""
        self._last_ms = None

    def should_force(self, now_ms: int) -> bool:
        """Whether the frame about to be encoded at ``now_ms`` must be a keyframe."""
        if self._last_ms is None:
            return True
        since = now_ms - self._last_ms
        if self.interval_ms and since >= self.interval_ms:
            return True
        return self._requested and since >= self.min_gap_ms

    def keyframe_sent(self, now_ms: int) -> None:
        """Record a keyframe (forced or chosen by the encoder); it answers every pending request."""
        self._last_ms = now_ms
        self._requested = False
