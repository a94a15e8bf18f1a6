"""The demo crowd: a dozen or so people with names, chatting at a human pace, liking, buying.

It runs in one process until SIGINT or SIGTERM (or ``--duration``) and writes no
report; with a terminal it prints what the crowd says, one line each.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sys
import time
from collections import deque
from typing import Any

import orjson

from bots.texts import (
    CROWD_BOUGHT_LINES,
    CROWD_DROP_LINES,
    CROWD_MISSED_LINES,
    CROWD_PIN_LINES,
    CROWD_PRICE_LINES,
    crowd_line,
)
from bots.viewer import Viewer
from bots.worker import Worker, WorkerSpec

FIRST_POST_S = (2.0, 15.0)  # a newcomer says something within this
PACE_S = (10.0, 35.0)  # then about this often
REACT_S = (0.8, 4.0)  # reactions come after this long
GRAB_CHANCE = 0.8  # of the crowd grabs a drop
GRAB_AFTER_S = (0.4, 4.0)


class Crowd:
    """Behaviour of the crowd's members; the viewer calls the hooks, the crowd speaks later."""

    def __init__(self, worker: Worker, rng: random.Random, echo: bool) -> None:
        self.worker = worker
        self.rng = rng
        self.echo = echo
        self.recent: dict[int, deque[str]] = {}
        self.pins_seen: dict[int, str] = {}
        self.pin_live = False

    def say(self, v: Viewer, line: str) -> None:
        recent = self.recent.setdefault(v.index, deque(maxlen=6))
        if line in recent:
            return  # the server would answer duplicate
        if v.post_chat(line):
            recent.append(line)
            if self.echo:
                print(f"{v.name}: {line}", flush=True)

    def say_later(self, v: Viewer, lines: tuple[str, ...], chance: float) -> None:
        if self.rng.random() < chance:
            line = self.rng.choice(lines)
            self.worker.loop.call_later(self.rng.uniform(*REACT_S), self.say, v, line)

    async def life(self, v: Viewer) -> None:
        w = self.worker
        if not await w.sleep_until(v.connect_at + self.rng.uniform(*FIRST_POST_S)):
            return
        while not w.stopping:
            if v.is_open:
                recent = set(self.recent.get(v.index, ()))
                self.say(v, crowd_line(self.rng, pin_live=self.pin_live, recent=recent))
                if self.rng.random() < 0.4:
                    for _ in range(self.rng.randint(1, 4)):
                        v.like(self.rng.randint(1, 5))
            if not await w.sleep(self.rng.uniform(*PACE_S)):
                return

    # -- hooks called by the viewers ---------------------------------------------------

    def heard(self, v: Viewer, ev: dict[str, Any]) -> None:
        """A chat line arrived (the crowd listens, but answers no one for now)."""

    def pin_seen(self, v: Viewer, pin: dict[str, Any]) -> None:
        state = pin.get("state")
        self.pin_live = state in ("upcoming", "live")
        pin_id = str(pin.get("id"))
        if self.pin_live and self.pins_seen.get(v.index) != pin_id:
            self.pins_seen[v.index] = pin_id
            self.say_later(v, CROWD_PIN_LINES, 0.35)

    def drop_seen(self, v: Viewer, drop: dict[str, Any]) -> None:
        """A host's drop: most of the crowd grabs within a few seconds, as people do."""
        if drop.get("state") != "live" or self.rng.random() > GRAB_CHANCE:
            return
        frame = orjson.dumps({"t": "grab", "id": f"crowd-{drop.get('id')}", "drop": drop.get("id")})
        self.worker.loop.call_later(self.rng.uniform(*GRAB_AFTER_S), self._grab, v, frame)
        self.say_later(v, CROWD_DROP_LINES, 0.3)

    def _grab(self, v: Viewer, frame: bytes) -> None:
        # A task the drop asks for that this member has not done is refused; they shrug it off.
        v.send_request(orjson.loads(frame)["id"], "grab", frame, time.time_ns() // 1000)

    def price_fell(self, v: Viewer, ev: dict[str, Any]) -> None:
        self.say_later(v, CROWD_PRICE_LINES, 0.2)

    def bought(self, v: Viewer) -> None:
        self.say_later(v, CROWD_BOUGHT_LINES, 0.6)

    def missed(self, v: Viewer) -> None:
        self.say_later(v, CROWD_MISSED_LINES, 0.5)


async def run_crowd(spec: WorkerSpec, duration_s: float, uvloop_on: bool = False) -> int:
    """Run the crowd until a signal (or ``duration_s`` when positive). 0, or 2 if nobody got in."""
    worker = Worker(spec)
    worker.uvloop = uvloop_on
    await worker.prepare()
    crowd = Crowd(worker, random.Random(spec.seed), echo=spec.verbose)
    worker.crowd = crowd
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    worker.start(time.time())
    lives = [asyncio.create_task(crowd.life(v)) for v in worker.viewers]
    try:
        if duration_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), duration_s)
        else:
            await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await worker.shutdown()
        for task in lives:
            task.cancel()
        await asyncio.gather(*lives, return_exceptions=True)
    connected = sum(1 for v in worker.viewers if v.ever_connected)
    if spec.verbose or connected == 0:
        errors = ", ".join(f"{k}={n}" for k, n in sorted(worker.stats.connect_errors.items()))
        print(
            f"crowd: {connected}/{len(worker.viewers)} connected"
            + (f"; connect errors: {errors}" if errors else ""),
            file=sys.stderr,
        )
    return 0 if connected else 2
