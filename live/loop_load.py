"""How busy this process is, from the CPU time it spends per second of wall time.

Background work that can wait (webhook deliveries) asks ``busy`` and steps aside while buyers and
viewers keep the process at the edge of its core. CPU time, not a sleep's lateness, because a
process that is merely waiting its turn on a shared machine is not the one to hold back.
"""

from __future__ import annotations

import asyncio
import time

PERIOD_S = 0.25
BUSY_SHARE = 0.8  # of one core, on average over the last second or so
SMOOTHING = 0.3  # weight of the newest period in the running average


def smoothed(average: float, newest: float, weight: float = SMOOTHING) -> float:
    return average + weight * (newest - average)


class LoopLoad:
    def __init__(self, busy_share: float = BUSY_SHARE) -> None:
        self.share = 0.0  # of one core
        self.busy_share = busy_share

    @property
    def busy(self) -> bool:
        return self.share > self.busy_share

    async def run(self) -> None:
        """Measure until cancelled."""
        wall, cpu = time.monotonic(), time.process_time()
        while True:
            await asyncio.sleep(PERIOD_S)
            wall_now, cpu_now = time.monotonic(), time.process_time()
            if wall_now > wall:
                self.share = smoothed(self.share, (cpu_now - cpu) / (wall_now - wall))
            wall, cpu = wall_now, cpu_now
