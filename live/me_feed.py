"""The feed behind ``/ws/me``: one Pub/Sub connection per process, subscribed only to the channels
of the users who have a socket on this process.

The Lua scripts PUBLISH each order change on its buyer's channel ``{prefix}me:<user id>``
(``live.keys.me_channel``), the order JSON alone. Redis drops a message at once when nobody
subscribes to its channel, so a process where nobody listens pays nothing for a flash sale's
orders. The bookkeeping (holds, linger, commands in flight) is ``live/me_subs.py``; this module is
its I/O: a reader task hands messages to ``on_order`` and confirmations to the bookkeeping, and a
writer task, the only one that writes to the connection, sends what is due and pings when idle.

Pub/Sub keeps nothing: what is published while the connection is down is gone. So the connection
is never re-established behind the sockets' back (redis-py's own reconnects would resubscribe
silently): when it fails, every subscription is forgotten, ``on_lost`` is told (it closes the
sockets, whose clients catch up by REST) and, after a backoff, a new connection starts with no
subscriptions. Resubscribing the users still connected would not spare them that: what was
published during the gap is lost all the same, and only the client's catch-up can fill it.

Classic PUBLISH reaches every node of a Redis Cluster, so one plain connection to the node the URL
names is enough for both URL kinds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from live.keys import me_channel
from live.me_subs import Subscriptions
from live.redis_client import plain_url

log = logging.getLogger("live.me")

LINGER_S = 2.0  # a channel nobody here listens to any more stays subscribed this long (churn bound)
POLL_S = 1.0  # the writer looks up this often (lingering channels, pings) when nothing woke it
IDLE_PING_S = 10.0  # a connection silent this long is pinged...
PING_TIMEOUT_S = 10.0  # ...and counted lost when nothing, not even the pong, came back within this
BACKOFF_FIRST_S = 0.1  # the reconnect wait after a failure, doubling...
BACKOFF_MAX_S = 2.0  # ...up to this, each wait jittered so that processes do not retry in step
CLIENT_NAME = "live-me"  # the connection's name in CLIENT LIST

OnOrder = Callable[[str, bytes], object]  # (user id, the message: the order JSON as published)
# The go-live broadcast (room_status.lua): one channel every process listens to, "!" keeps it apart
# from every user's channel (user ids have no "!").
GO_LIVE = "!live"


def _settled(value: bool) -> asyncio.Future[bool]:
    fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    fut.set_result(value)
    return fut


class MeFeed:
    """The subscriber connection and the per-user subscriptions on it."""

    def __init__(
        self,
        redis_url: str,
        prefix: str,
        on_order: OnOrder,
        on_lost: Callable[[], None],
        *,
        linger_s: float = LINGER_S,
        poll_s: float = POLL_S,
        on_live: Callable[[bytes], object] | None = None,
    ) -> None:
        self._url = plain_url(redis_url)
        self._base = me_channel(prefix).encode()
        self._on_order = on_order
        self._on_lost = on_lost
        self._on_live = on_live
        self._poll_s = poll_s
        self.subs = Subscriptions(linger_s)
        self._waits: dict[str, asyncio.Future[bool]] = {}  # per user: the latest SUBSCRIBE's answer
        self._up = asyncio.Event()
        self._wake = asyncio.Event()
        self._heard_s = 0.0

    @property
    def up(self) -> bool:
        """Connected: a ``hold`` now can be confirmed."""
        return self._up.is_set()

    @property
    def user_channels(self) -> int:
        """Users whose channel is subscribed or on its way (the go-live channel left out)."""
        return len(self.subs) - int(self.subs.state(GO_LIVE)[1])

    async def wait_up(self, timeout_s: float) -> bool:
        if not self.up:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self._up.wait()
        return self.up

    def channel(self, user: str) -> bytes:
        return self._base + user.encode()

    def hold(self, user: str) -> asyncio.Future[bool]:
        """Count one socket of ``user`` on the user's channel until ``release``.

        The future is True once Redis has confirmed the subscription (at once when it already
        had), False when the connection was lost first (or is down now). Every hold is released,
        whatever the answer.
        """
        ready = self.subs.hold(user)
        if not self.up:
            return _settled(False)  # the next connection starts empty (``_session``)
        if ready:
            return _settled(True)
        self._wake.set()
        fut = self._waits.get(user)
        if fut is None:
            fut = self._waits[user] = asyncio.get_running_loop().create_future()
        return fut

    def release(self, user: str) -> None:
        self.subs.release(user, asyncio.get_running_loop().time())

    async def run(self) -> None:
        """Stay connected for the life of the process, reconnecting after failures."""
        wait_s = BACKOFF_FIRST_S
        while True:
            try:
                await self._session()
            except (RedisError, OSError) as err:
                if self._heard_s:
                    log.warning("me: subscriber connection lost: %s", err)
            except Exception:
                # Not Redis's doing, but the feed must outlive it: every /ws/me socket depends on it.
                log.exception("me: subscriber failed")
            if self._heard_s:
                wait_s = BACKOFF_FIRST_S  # it was up: the first retry comes soon
            self._heard_s = 0.0
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError  # a cancel that landed inside a Redis call
            await asyncio.sleep(wait_s * random.uniform(0.5, 1.0))
            wait_s = min(wait_s * 2, BACKOFF_MAX_S)

    async def _session(self) -> None:
        loop = asyncio.get_running_loop()
        # A client of its own, with no retries: see the module docstring.
        client = aioredis.Redis.from_url(
            self._url,
            decode_responses=False,  # a stray publisher's bad byte must not break the reader
            socket_connect_timeout=2.0,
            socket_timeout=5.0,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
            client_name=CLIENT_NAME,
            # RESP2: confirmations and messages are plain replies, in order, that the reader parses
            # itself (RESP3 would route them through redis-py's push handler).
            protocol=2,
        )
        conn: Any = None
        tasks: list[asyncio.Task[None]] = []
        try:
            # A connection of its own, outside the pool's bookkeeping (and get_connection's
            # signature changed between redis-py 5.0 and 6).
            conn = client.connection_pool.make_connection()
            await conn.connect()
            self.subs.lost()  # what was asked while down was never sent, and this connection has nothing
            if self._on_live is not None:
                # Held first, so sent in (or before) the SUBSCRIBE of any user: a socket whose own
                # subscription is confirmed hears every go-live from then on.
                self.subs.hold(GO_LIVE)
                self._wake.set()
            self._heard_s = loop.time()
            self._up.set()
            log.info("me: subscriber connected")
            tasks = [asyncio.create_task(self._read(conn)), asyncio.create_task(self._write(conn))]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            raise RedisConnectionError("the subscriber stopped")
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self._lost()
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.disconnect(nowait=True)
            with contextlib.suppress(Exception):
                await client.aclose()

    def _lost(self) -> None:
        self._up.clear()
        self.subs.lost()
        waits, self._waits = self._waits, {}
        for fut in waits.values():
            if not fut.done():
                fut.set_result(False)
        self._on_lost()

    async def _read(self, conn: Any) -> None:
        loop = asyncio.get_running_loop()
        base = len(self._base)
        while True:
            # math.inf: no timeout at all (None would mean the socket timeout); pings watch the line.
            reply = await conn.read_response(timeout=math.inf, disconnect_on_error=False)
            self._heard_s = loop.time()
            if not isinstance(reply, list) or len(reply) != 3:
                continue  # a pong
            kind, channel, data = reply
            if not (isinstance(channel, bytes) and channel.startswith(self._base)):
                continue
            user = channel[base:].decode("utf-8", "replace")
            if kind == b"message" and user == GO_LIVE and self._on_live is not None:
                self._on_live(data)
            elif kind == b"message":
                self._on_order(user, data)
            elif kind in (b"subscribe", b"unsubscribe") and self.subs.confirmed(user, kind == b"subscribe"):
                fut = self._waits.pop(user, None)
                if fut is not None and not fut.done():
                    fut.set_result(True)

    async def _write(self, conn: Any) -> None:
        loop = asyncio.get_running_loop()
        pinged_s: float | None = None
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_s):
                    await self._wake.wait()
            self._wake.clear()
            now_s = loop.time()
            # What ``due`` returns counts as sent from here on: it is sent before anything due later.
            subscribe, unsubscribe = self.subs.due(now_s)
            commands: list[tuple[Any, ...]] = []
            if subscribe:
                commands.append(("SUBSCRIBE", *map(self.channel, subscribe)))
            if unsubscribe:
                commands.append(("UNSUBSCRIBE", *map(self.channel, unsubscribe)))
            if pinged_s is not None and self._heard_s >= pinged_s:
                pinged_s = None
            if pinged_s is not None and now_s - pinged_s > PING_TIMEOUT_S:
                raise RedisConnectionError(f"no answer to a ping within {PING_TIMEOUT_S:g} s")
            if pinged_s is None and now_s - self._heard_s > IDLE_PING_S:
                commands.append(("PING",))
                pinged_s = now_s
            if commands:
                if not conn.is_connected:  # never let redis-py reconnect (and resubscribe) by itself
                    raise RedisConnectionError("the subscriber connection is closed")
                await conn.send_packed_command(conn.pack_commands(commands), check_health=False)
