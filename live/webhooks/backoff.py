"""When a failed webhook is tried again, and when it is given up (contract §7). Pure: time is an argument.

From 1 s, doubling at each failed attempt up to a cap (10 min by default), for at least 24 h: an
event is given up ("failed") once its first attempt is older than the retry window.
"""

from __future__ import annotations

from dataclasses import dataclass

FIRST_DELAY_MS = 1000
DEFAULT_MAX_DELAY_MS = 600_000
DEFAULT_RETRY_HOURS = 72
MIN_RETRY_HOURS = 24  # the contract's "for at least 24 h"


@dataclass(frozen=True, slots=True)
class Backoff:
    max_delay_ms: int = DEFAULT_MAX_DELAY_MS  # the longest wait between two attempts; at least 1
    retry_hours: float = DEFAULT_RETRY_HOURS  # how long after its first attempt an event is retried

    @property
    def window_ms(self) -> int:
        return int(self.retry_hours * 3_600_000)

    def delay_ms(self, failed_attempts: int) -> int:
        """The wait after the ``failed_attempts``-th failure in a row (1 = the first attempt failed)."""
        exponent = max(0, failed_attempts - 1)
        # The cap is reached long before the exponent could grow large (2**20 s > 10 days).
        return min(FIRST_DELAY_MS << min(exponent, 40), self.max_delay_ms)

    def next_due_ms(self, failed_attempts: int, first_attempt_ms: int, now_ms: int) -> int | None:
        """When to try again after a failure at ``now_ms``; None = give up.

        Given up once the first attempt is at least the retry window old; until then there is
        always a next attempt, so the last one may fall up to one delay past the window.
        """
        if now_ms - first_attempt_ms >= self.window_ms:
            return None
        return now_ms + self.delay_ms(failed_attempts)
