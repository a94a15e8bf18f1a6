"""Garbage collection for a process that holds thousands of long-lived connections.

CPython's cycle collector traverses every tracked object in a full collection, and starts one
whenever the objects that survived into its oldest generation have grown by a quarter. A
process with 10,000 viewers tracks about 1.8 million objects (some 180 per connection: the
protocol, its parser, queues, timers), so while viewers join a full collection comes every few
hundred joins and costs 0.3-1 s: a third of the server's CPU in a join storm, and a stall of
that length for every viewer (docs/benchmarks.md).

``FrozenHeap.tick``, every ``gc_freeze_s``, runs a young collection and freezes what survived
it (``gc.freeze``: out of the collector's sight), so collections traverse only what is new.
Objects that die after they were frozen are still freed by reference counting; only those that
die in a reference cycle wait for a thaw. A thaw (unfreeze, one full collection, freeze again)
comes once three times as many objects were frozen since the last one as it left frozen: what
dead cycles hold stays within three times what is live, and an audience that grows tenfold pays
for two full collections instead of a dozen. A thaw that finds next to nothing dead (at most 1% of
what was frozen since; in a join storm of 10,000 it found none, and stalled the loop 0.6 s)
doubles the wait for the next, up to ``MAX_PATIENCE`` times; one that finds more resets it. (The
frozen are counted as they are added: ``gc.get_freeze_count`` walks them all.) The cycles a
viewer used to leave behind are broken where they were made (the HTTP parser after the upgrade
in ``live.http_protocol``, the scope's raw send in ``live.gateway.KeepRawSend``, a script's
error in ``live.scripts.check``), so a closed viewer is freed at once, frozen or not
(tests/live/test_heap.py).
"""

from __future__ import annotations

import asyncio
import gc

NEVER = 1 << 30  # gen-1 collections before an automatic full one
MAX_PATIENCE = 4  # the longest wait for a thaw, in times ``growth``: dead cycles within 12 x live


class FrozenHeap:
    def __init__(self, growth: float = 3.0) -> None:
        self._growth = growth
        self._baseline = 0  # objects frozen right after the last thaw
        self._added = 0  # objects frozen since, dead or alive (counting the frozen is O(n))
        self.thaws = 0
        self.patience = 1  # the next thaw waits for growth x patience x what the last one kept
        self._thresholds: tuple[int, int, int] | None = None

    def begin(self) -> None:
        """Take over full collections: from now on only a thaw makes one."""
        if self._thresholds is None:
            self._thresholds = gc.get_threshold()
            young, middle, _ = self._thresholds
            gc.set_threshold(young, middle, NEVER)

    @property
    def frozen(self) -> int:
        """Objects frozen at the last thaw and since: an upper bound of those frozen now."""
        return self._baseline + self._added

    def tick(self) -> None:
        """Freeze the survivors of a young collection; thaw once ``growth`` (times ``patience``)
        times what the last thaw kept was frozen since."""
        gc.collect(1)  # what survives is in the oldest generation, which held nothing unfrozen
        self._added += len(gc.get_objects(generation=2))
        gc.freeze()
        if self._added > self._baseline * self._growth * self.patience:
            self.thaw()

    def thaw(self) -> None:
        """One full collection of everything, frozen or not; what survives is frozen again."""
        gc.unfreeze()
        dead = gc.collect()
        gc.freeze()
        all_but_wasted = dead * 100 <= self._added  # at most 1% of what was frozen since
        self.patience = min(MAX_PATIENCE, self.patience * 2) if all_but_wasted else 1
        self._baseline = gc.get_freeze_count()
        self._added = 0
        self.thaws += 1

    def release(self) -> None:
        """Hand every object back to the collector, as at the start."""
        gc.unfreeze()
        self._baseline = self._added = 0
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None


async def run_frozen_heap(heap: FrozenHeap, every_s: float) -> None:
    heap.begin()
    try:
        while True:
            await asyncio.sleep(every_s)
            heap.tick()
    finally:
        heap.release()
