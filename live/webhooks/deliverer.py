"""The webhook deliverer: a loop every ``live serve`` process runs, beside the pin timers.

It polls the ``{hooks}`` index for rooms due, leases a room (``hooks_take.lua``), leases up to
as many of its due events as it has free delivery slots (``hooks_claim.lua``), POSTs each one
signed, records the attempt (``hooks_result.lua``) and puts the room back at its next due
(``hooks_reschedule.lua``). Any process may do any of it: the leases keep two processes from
sending the same event at once, and a process killed mid-delivery leaves its events to come due
again when their lease runs out, to whichever process is alive (at least once, nothing lost).

Nothing here is on a request path: the deliverer has its own Redis connections and its own HTTP
client, and at most ``max_in_flight`` requests open, so a slow or dead receiver holds only those.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from redis.exceptions import RedisError

from live.cancellation import cancel_and_wait
from live.loop_load import LoopLoad
from live.metrics import Metrics
from live.redis_client import connect
from live.settings import Settings
from live.store import now_ms
from live.webhooks.backoff import Backoff
from live.webhooks.outbox import Claim, LeasedEvent, Outbox, RoomView
from live.webhooks.signature import HEADER, sign

log = logging.getLogger("live.webhooks")

POLL_S = 0.2  # how often the index is looked at: a new event waits at most about this long
MAX_IN_FLIGHT = 32  # requests open at once, over all rooms and events of this process
EVENTS_PER_CLAIM = 32  # a room's events leased at once (never more than the free slots)
SAMPLE_EVERY_S = 5.0  # queue depth and oldest-pending gauges
# A room not ended is looked at again at least this often, even with nothing pending: the net
# under the one race the writers' ZADD LT cannot close (a deliverer that reads the room between a
# hot-path writer's index update and its script, and removes or pushes back the room meanwhile).
IDLE_RECHECK_MS = 60_000
MAX_DEFER_MS = 30_000  # a busy process still delivers an event that has waited this long
RESPONSE_READ_MAX = 64 * 1024  # of a receiver's answer body, read so the connection can be reused
ERROR_TEXT_MAX = 200


def lease_ms_for(timeout_s: float) -> int:
    """An event's lease: one attempt may take ``timeout_s``, then its result must reach Redis.

    Twice the timeout plus 2 s, so a result is recorded well before another process may take the
    event (a second copy is then only sent when a process died or stalled past it).
    """
    return int(2000 * timeout_s) + 2000


class Slots:
    """A count of free delivery slots that a room's worker takes several of at once."""

    def __init__(self, n: int) -> None:
        self.free = n
        self._freed = asyncio.Event()

    async def take(self, up_to: int) -> int:
        """Wait for at least one free slot; take up to ``up_to`` of them."""
        while self.free <= 0:
            self._freed.clear()
            await self._freed.wait()
        n = min(self.free, up_to)
        self.free -= n
        return n

    def give(self, n: int) -> None:
        if n > 0:
            self.free += n
            self._freed.set()


class Deliverer:
    def __init__(
        self,
        redis: Any,
        settings: Settings,
        metrics: Metrics,
        *,
        poll_s: float = POLL_S,
        max_in_flight: int = MAX_IN_FLIGHT,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.metrics = metrics
        self.outbox = Outbox(redis, settings.key_prefix)
        self.backoff = Backoff(
            max_delay_ms=max(1, int(settings.webhook_backoff_max_s * 1000)),
            retry_hours=settings.webhook_retry_hours,
        )
        self.lease_ms = lease_ms_for(settings.webhook_timeout_s)
        self.poll_s = poll_s
        self.max_in_flight = max_in_flight
        self.clock = clock
        self.slots = Slots(max_in_flight)
        self.queue_depth = 0  # sampled: pending events across rooms
        self.oldest_pending_ms = 0  # sampled: age of the oldest pending event
        self._working: dict[str, asyncio.Task[None]] = {}  # room -> its worker in this process
        self._room_lease: dict[str, int] = {}  # room -> this process's latest lease of it
        self._again: set[str] = set()  # rooms taken again while their worker was running
        self._client: httpx.AsyncClient | None = None
        # Deliveries can wait, buyers cannot: while the loop is full they step aside, up to
        # MAX_DEFER_MS of the oldest pending event's age (then they go on at any load).
        self.load = LoopLoad()

    @classmethod
    def start_for(cls, settings: Settings, metrics: Metrics) -> Deliverer:
        """A deliverer with Redis connections of its own: its waits never hold the request path's pool."""
        deliverer = cls(connect(settings.redis_url, max_connections=MAX_IN_FLIGHT + 4), settings, metrics)
        metrics.gauges["live_webhook_queue_depth"] = lambda: deliverer.queue_depth
        metrics.gauges["live_webhook_oldest_pending_ms"] = lambda: deliverer.oldest_pending_ms
        metrics.gauges["live_webhook_in_flight"] = lambda: deliverer.max_in_flight - deliverer.slots.free
        return deliverer

    async def aclose(self) -> None:
        await self.redis.aclose()

    async def run(self) -> None:
        """Deliver until cancelled; the events in flight then come due again after their lease."""
        loop = asyncio.get_running_loop()
        timeout = httpx.Timeout(self.settings.webhook_timeout_s)
        limits = httpx.Limits(
            max_connections=self.max_in_flight, max_keepalive_connections=self.max_in_flight
        )
        async with httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False) as client:
            self._client = client
            next_sample = loop.time()
            load_watch = asyncio.create_task(self.load.run(), name="webhooks-loop-load")
            try:
                while True:
                    try:
                        if loop.time() >= next_sample:
                            next_sample = loop.time() + SAMPLE_EVERY_S
                            self.queue_depth, self.oldest_pending_ms = await self.outbox.sample(self.clock())
                        if not self.stepping_aside():
                            await self.poll()
                    except RedisError as err:
                        task = asyncio.current_task()
                        if task is not None and task.cancelling():
                            raise asyncio.CancelledError from err  # a cancel that landed in a Redis call
                        log.warning("webhooks: %s", err)
                    except Exception:
                        log.exception("webhooks: poll")  # delivery goes on; the next poll retries
                    await asyncio.sleep(self.poll_s)
            finally:
                await cancel_and_wait(load_watch)
                for worker in list(self._working.values()):
                    await cancel_and_wait(worker)

    def stepping_aside(self) -> bool:
        """Leave the loop to buyers and viewers now (the oldest event has not waited too long)."""
        if self.load.busy and self.oldest_pending_ms < MAX_DEFER_MS:
            self.metrics.webhook_deferrals += 1
            return True
        return False

    async def poll(self) -> None:
        """Take the rooms due now (as many as there are free slots) and start a worker for each."""
        if self.slots.free <= 0:
            return
        now = self.clock()
        lease_until = now + self.lease_ms
        for room in await self.outbox.take_rooms(now, lease_until, self.slots.free):
            self._room_lease[room] = lease_until
            if room in self._working:
                self._again.add(room)  # a writer made it due again: its worker looks once more
                continue
            self._working[room] = asyncio.create_task(self._work_room(room), name=f"webhooks-{room}")

    async def _work_room(self, room: str) -> None:
        try:
            while True:
                self._again.discard(room)
                view = await self._drain(room)
                if room not in self._again:
                    break
            await self._put_back(room, view)
        except RedisError as err:
            # The room's lease runs out and it comes due again: nothing is lost.
            log.warning("webhooks: room %s: %s", room, err)
        except Exception:
            log.exception("webhooks: room %s", room)  # likewise; and nobody awaits this task
        finally:
            self._working.pop(room, None)
            self._room_lease.pop(room, None)

    async def _drain(self, room: str) -> RoomView:
        """Deliver the room's due events, a claim at a time, for up to half a lease; the room's view after."""
        loop = asyncio.get_running_loop()
        stop_at = loop.time() + self.lease_ms / 2000
        delivered_any = False
        while True:
            n = await self.slots.take(EVENTS_PER_CLAIM)
            try:
                claim: Claim = await self.outbox.claim(room, self.clock(), self.lease_ms, n)
            except BaseException:
                self.slots.give(n)
                raise
            self.slots.give(n - len(claim.events))
            if claim.events:
                delivered_any = True
                await asyncio.gather(*(self._deliver(room, event) for event in claim.events))
            if len(claim.events) < n or loop.time() >= stop_at or self.stepping_aside():
                break
        if not delivered_any:
            return claim.view  # nothing was due: the claim's own look is the latest
        # A look without leasing: the outbox after every result above (and other processes').
        return (await self.outbox.claim(room, self.clock(), self.lease_ms, 0)).view

    async def _put_back(self, room: str, view: RoomView) -> None:
        now = self.clock()
        if view.next_due_ms is None and view.ended:
            next_due: int | None = None  # an ended room with nothing pending leaves the index
        elif view.next_due_ms is None:
            next_due = now + IDLE_RECHECK_MS
        else:
            next_due = min(view.next_due_ms, now + IDLE_RECHECK_MS)
        await self.outbox.reschedule(room, self._room_lease[room], next_due)
        # An event written since the look above (its writer's ZADD LT may have come before the
        # reschedule and been overwritten): hook_n says so, and the room is made due again.
        if await self.outbox.hook_n(room) != view.hook_n:
            await self.outbox.touch(room, self.clock())

    async def _deliver(self, room: str, event: LeasedEvent) -> None:
        """One attempt at one event, its result recorded; the slot it held is given back."""
        try:
            status, error = await self._post(event.envelope.encode())
            now = self.clock()
            attempt: dict[str, Any] = {"at_ms": now}
            if status is not None:
                attempt["status"] = status
            else:
                attempt["error"] = error
            retry_due = 0
            if status is not None and 200 <= status < 300:
                outcome = "delivered"
            else:
                first = event.first_attempt_ms if event.first_attempt_ms is not None else now
                due = self.backoff.next_due_ms(event.attempts + 1, first, now)
                outcome, retry_due = ("failed", 0) if due is None else ("retry", due)
            verdict, _ = await self.outbox.record(room, event, now, outcome, retry_due, attempt)
            if verdict == "ok":
                self.metrics.webhook({"delivered": "delivered", "retry": "failed"}.get(outcome, "given_up"))
        except RedisError as err:
            log.warning("webhooks: recording %s: %s", event.id, err)  # retried after its lease
        finally:
            self.slots.give(1)

    async def _post(self, body: bytes) -> tuple[int | None, str | None]:
        """POST one envelope: (HTTP status, None) or (None, what went wrong)."""
        assert self._client is not None
        timeout_s = self.settings.webhook_timeout_s
        headers = {
            "Content-Type": "application/json",
            HEADER: sign(self.settings.webhook_secret, body, int(time.time())),
        }
        try:
            # httpx's timeout is per phase (connect, each read...): this bounds the whole attempt.
            async with asyncio.timeout(timeout_s):
                async with self._client.stream(
                    "POST", self.settings.webhook_url, content=body, headers=headers
                ) as response:
                    read = 0
                    async for chunk in response.aiter_raw():
                        read += len(chunk)
                        if read > RESPONSE_READ_MAX:
                            break
                    return response.status_code, None
        except TimeoutError:
            return None, f"timeout: no answer within {timeout_s:g} s"
        except httpx.HTTPError as err:
            return None, f"{type(err).__name__}: {err}"[:ERROR_TEXT_MAX]
