"""Go-live notices on ``/ws/me`` (contract §8-9): what one process does when a room goes live.

Going live costs the same with 10 followers or 1,000,000: ``room_status.lua`` PUBLISHes one message,
the room as ``live`` events carry it, on the go-live channel that every process's feed listens to
(``live/me_feed.py`` ``GO_LIVE``). Each process then asks Redis which of the users holding a
``/ws/me`` socket *here* follow the room's host or asked to be reminded of it (``SocialStore.
audience_among``: one ZMSCORE per 1,000 local users) and pushes one ``live`` frame to each of
their sockets. The work is per connected user of the process, never per follower, and it is
exact: it reads the follows as they are at that instant, with nothing cached to keep in step.

"Once": the broadcast is published once per transition to ``live`` (a repeated start is a no-op),
and a user who both follows and was reminded is one user of the set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable

import orjson
from redis.exceptions import RedisError

from live.log_throttle import LogThrottle
from live.metrics import Metrics
from live.social import SocialStore

log = logging.getLogger("live.me")
_bad_log = LogThrottle(10.0)
PUSH_BATCH = 200


def live_frame(room_json: str) -> str:
    """The ``live`` event for a room as the script published it (spliced, not re-encoded)."""
    return '[{"t":"live","room":' + room_json + "}]"


def parse_broadcast(message: bytes) -> tuple[str, str, str] | None:
    """(room id, host id, the room JSON) of a go-live broadcast; None for anything else."""
    try:
        room = orjson.loads(message)
        room_id, host_id = room["id"], room["host"]["id"]
    except (orjson.JSONDecodeError, TypeError, KeyError):
        return None
    if not (isinstance(room_id, str) and isinstance(host_id, str)):
        return None
    return room_id, host_id, message.decode()


class GoLive:
    """Turns each go-live broadcast into ``live`` frames for this process's audience sockets."""

    def __init__(
        self,
        social: SocialStore,
        users_here: Callable[[], Iterable[str]],
        push: Callable[[str, str], int],
        metrics: Metrics,
    ) -> None:
        self._social = social
        self._users_here = users_here  # the users holding a /ws/me socket on this process
        self._push = push  # (user, frame) -> sockets it reached
        self._tasks: set[asyncio.Task[None]] = set()
        self._metrics = metrics

    def on_broadcast(self, message: bytes) -> None:
        """Called by the feed's reader: the lookup runs as a task so the reader never waits on it."""
        parsed = parse_broadcast(message)
        if parsed is None:
            left_out = _bad_log.allow(asyncio.get_running_loop().time())
            if left_out is not None:
                log.warning("me: not a go-live broadcast: %.80r (%d more left out)", message, left_out)
            return
        task = asyncio.create_task(self._notify(*parsed))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self, room: str, host: str, room_json: str) -> None:
        users = list(self._users_here())
        try:
            audience = await self._social.audience_among(room, host, users)
        except RedisError as err:
            log.warning("me: go-live of %s not told here: %s", room, err)
            return
        frame = live_frame(room_json)
        for i, user in enumerate(audience):
            self._metrics.live_notices += self._push(user, frame)
            if i % PUSH_BATCH == PUSH_BATCH - 1:
                await asyncio.sleep(0)  # thousands of followers here: let requests in between

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
