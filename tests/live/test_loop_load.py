"""The busy signal that lets webhook deliveries step aside for buyers (live/loop_load.py)."""

from __future__ import annotations

import asyncio
import time

from live.loop_load import LoopLoad, smoothed


def test_the_average_moves_toward_each_new_share() -> None:
    assert smoothed(0.0, 1.0, 0.5) == 0.5
    assert smoothed(0.5, 1.0, 0.5) == 0.75
    assert smoothed(1.0, 0.0, 0.3) == 0.7


async def test_a_process_spinning_on_its_loop_is_busy_and_an_idle_one_is_not() -> None:
    load = LoopLoad()
    watch = asyncio.create_task(load.run())
    try:
        await asyncio.sleep(1.0)  # idle: a sleeping process spends almost no CPU
        assert not load.busy, load.share
        end = time.monotonic() + 2.5
        while time.monotonic() < end:  # busy: callbacks back to back, as under a stampede
            spin = time.process_time() + 0.01
            while time.process_time() < spin:
                pass
            await asyncio.sleep(0)
        # CPU time is this process's own: on a loaded machine it only grows slower, and 2.5 s of
        # spinning gives at least most of a core unless the machine starves us completely.
        assert load.share > 0.3, load.share
    finally:
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
