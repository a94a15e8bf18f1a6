"""The busy signal that lets webhook deliveries step aside for buyers (live/loop_load.py)."""

from __future__ import annotations

import asyncio

from live.loop_load import LoopLoad, smoothed


def test_the_average_moves_toward_each_new_share() -> None:
    assert smoothed(0.0, 1.0, 0.5) == 0.5
    assert smoothed(0.5, 1.0, 0.5) == 0.75
    assert smoothed(1.0, 0.0, 0.3) == 0.7


class Clocks:
    """Wall and CPU time the test moves by hand: the share is exact, whatever the machine's load."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0


def test_a_process_spending_its_core_is_busy_and_an_idle_one_is_not() -> None:
    clocks = Clocks()
    load = LoopLoad(wall=lambda: clocks.wall, cpu=lambda: clocks.cpu)
    for _ in range(8):  # two seconds asleep: no CPU time at all
        clocks.wall += 0.25
        load.sample()
    assert load.share == 0.0 and not load.busy
    for _ in range(8):  # callbacks back to back: a whole core
        clocks.wall += 0.25
        clocks.cpu += 0.25
        load.sample()
    assert load.busy and load.share > 0.9
    for _ in range(3):  # half a core: no longer busy within a second or so
        clocks.wall += 0.25
        clocks.cpu += 0.125
        load.sample()
    assert not load.busy, load.share


async def test_the_watch_samples_the_real_clocks_until_cancelled() -> None:
    load = LoopLoad()
    watch = asyncio.create_task(load.run())
    await asyncio.sleep(0.6)  # two periods: the share is a number of this process's own
    watch.cancel()
    await asyncio.gather(watch, return_exceptions=True)
    assert 0.0 <= load.share < 2.0 and watch.cancelled()
