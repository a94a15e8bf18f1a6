"""Per-connection flood guard: a token bucket on inbound frames plus strike counting.

A client that keeps sending after it was told ``rate_limited`` is cut off (close 1008).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class FloodGuard:
    frames_per_s: float = 20.0  # sustained inbound frames; 0 = unlimited
    burst: int = 40  # frames allowed at once
    max_strikes: int = 10  # rate_limited answers within strike_window_ms before the cut
    strike_window_ms: int = 10_000
    _tokens: float = field(default=-1.0)
    _last_ms: int = 0
    _strikes: list[int] = field(default_factory=list)

    def admit(self, now_ms: int) -> bool:
        """True if a frame arriving now may be processed."""
        if self.frames_per_s <= 0:
            return True
        if self._tokens < 0:
            self._tokens = float(self.burst)
        else:
            elapsed = max(0, now_ms - self._last_ms)
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.frames_per_s / 1000)
        self._last_ms = now_ms
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def retry_after_ms(self) -> int:
        return int((1 - self._tokens) * 1000 / self.frames_per_s) + 1 if self.frames_per_s > 0 else 0

    def strike(self, now_ms: int) -> bool:
        """Record a rate_limited answer; True when the client should be disconnected."""
        cutoff = now_ms - self.strike_window_ms
        self._strikes = [t for t in self._strikes if t > cutoff]
        self._strikes.append(now_ms)
        return len(self._strikes) > self.max_strikes
