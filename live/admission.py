"""Who may hold a socket: a cap on concurrent connections per client address.

Sans-I/O: the protocols ask for a lease when a socket opens and release it when the socket
ends. A WebSocket starts life as an HTTP connection and changes protocol object on upgrade,
so the lease is handed over with it and released exactly once, whichever object sees the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from live.settings import Settings


class Lease:
    """One admitted connection's place in its address's count."""

    __slots__ = ("_cap", "_held", "_ip")

    def __init__(self, cap: PerIpCap, ip: str) -> None:
        self._cap = cap
        self._ip = ip
        self._held = True

    def release(self) -> None:
        """Give the place back; a second call does nothing."""
        if self._held:
            self._held = False
            self._cap._release(self._ip)


class PerIpCap:
    """At most ``limit`` concurrent connections per client address. ``limit`` 0 = no cap."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def acquire(self, ip: str) -> Lease | None:
        """A lease for a new connection from ``ip``, or None when that address is at its cap."""
        held = self._open.get(ip, 0)
        if self.limit and held >= self.limit:
            return None
        self._open[ip] = held + 1
        return Lease(self, ip)

    def open_from(self, ip: str) -> int:
        return self._open.get(ip, 0)

    def _release(self, ip: str) -> None:
        held = self._open.get(ip, 0) - 1
        if held > 0:
            self._open[ip] = held
        else:
            self._open.pop(ip, None)


@dataclass(frozen=True, slots=True)
class TransportLimits:
    """What the server's protocol objects enforce on every socket (one shared set per process)."""

    wire_frames_per_s: float = 0.0  # 0 = frames are not counted
    wire_frames_burst: int = 0
    handshake_timeout_s: float = 0.0  # 0 = no deadline
    write_buffer_max_bytes: int = 0  # unsent bytes a socket may hold before it is cut; 0 = no bound
    per_ip: PerIpCap = field(default_factory=lambda: PerIpCap(0))

    @classmethod
    def from_settings(cls, settings: Settings) -> TransportLimits:
        return cls(
            wire_frames_per_s=settings.wire_frames_per_s,
            wire_frames_burst=settings.wire_frames_burst,
            handshake_timeout_s=settings.handshake_timeout_s,
            write_buffer_max_bytes=settings.outbox_max_bytes,
            per_ip=PerIpCap(settings.max_conns_per_ip),
        )
