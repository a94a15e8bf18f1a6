"""How busy this process is, from the CPU time it spends per second of wall time.

Background work that can wait (webhook deliveries) asks ``busy`` and steps aside while buyers and
viewers keep the process at the edge of its core. CPU time, not a sleep's lateness, because a
process that is merely waiting its turn on a shared machine is not the one to hold back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

PERIOD_S = 0.25
BUSY_SHARE = 0.8  # of one core, on average over the last second or so
SMOOTHING = 0.3  # weight of the newest period in the running average


def smoothed(average: float, newest: float, weight: float = SMOOTHING) -> float:
    return average + weight * (newest - average)


class LoopLoad:
    def __init__(
        self,
        busy_share: float = BUSY_SHARE,
        wall: Callable[[], float] = time.monotonic,
        cpu: Callable[[], float] = time.process_time,
    ) -> None:
        self.share = 0.0  # of one core
        self.busy_share = busy_share
        self._wall, self._cpu = wall, cpu
        self._last = (wall(), cpu())

    @property
    def busy(self) -> bool:
        return self.share > self.busy_share

    def sample(self) -> None:
        """Fold the CPU time spent since the last sample, per second of wall time, into ``share``."""
        wall, cpu = self._wall(), self._cpu()
        last_wall, last_cpu = self._last
        if wall > last_wall:
            self.share = smoothed(self.share, (cpu - last_cpu) / (wall - last_wall))
        self._last = (wall, cpu)

    async def run(self) -> None:
        """Measure until cancelled."""
        self._last = (self._wall(), self._cpu())
        while True:
            await asyncio.sleep(PERIOD_S)
            self.sample()
