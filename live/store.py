"""The room store: every read and decision about a room, made in Redis.

Redis is the single source of truth; each decision is one Lua script (``live/lua``),
so several server processes sharing one Redis decide the same way.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson

from live.auth import Identity
from live.batcher import ScriptBatcher
from live.hls_paths import hls_path
from live.keys import (
    ENDED_ROOMS_KEPT,
    VIDEO_LEASE_FIELD,
    RoomKeys,
    ended_rooms_index,
    hook_rooms,
    host_followers,
    live_rooms_index,
    me_channel,
    order_timers,
    pin_timers,
    room_keys,
    scheduled_rooms_index,
    user_orders,
)
from live.scripts import Scripts, check
from live.settings import Settings
from live.social import SocialStore
from rooms import events
from rooms.chat import duplicate_digest
from rooms.errors import Conflict
from rooms.ids import ROOM_ID_RE
from rooms.moderation import ModerationCommand
from rooms.pins import PinSpec, PinState
from rooms.room import RoomSettings, RoomStatus, transition

HOOK_NOTICE_EVERY_MS = 100


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# The scheduled index's score: the planned start, or, for a show with none yet, after every planned
# one in creation order. Both stay below 2**53, where a Redis score is an exact integer.
NOT_PLANNED = 2**52


def scheduled_score(starts_at_ms: int | None, created_ms: int) -> int:
    return starts_at_ms if starts_at_ms is not None else NOT_PLANNED + created_ms


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What ``hello`` carries, read atomically."""

    meta: dict[str, str]
    chat: list[str]  # chat event JSON, oldest first
    muted_until_ms: int
    banned: bool
    oldest_seq: int  # the oldest durable event still kept (0 = none yet)
    pin_json: str | None
    viewers: int
    bag_json: str = "[]"  # the bag's products, as a JSON array
    followers: int = 0  # of the room's host
    follows_host: bool = False  # the user the snapshot was read for follows the host
    drop_json: str | None = None  # the room's current drop, or its last one (ended)
    auction_json: str | None = None  # the room's current auction, or its last one (ended)

    @property
    def seq(self) -> int:
        return int(self.meta.get("seq", 0))

    def room(self, room_id: str) -> dict[str, Any]:
        return {
            "id": room_id,
            "title": self.meta.get("title", ""),
            "status": self.meta.get("status", "scheduled"),
            "host": {
                "id": self.meta.get("host_id", ""),
                "name": self.meta.get("host_name", ""),
                "followers": self.followers,
            },
            "slow_s": int(self.meta.get("slow_s", 0)),
            "pay_within_s": int(self.meta.get("pay_within_s", 0)),
            "starts_at_ms": int(starts_at) if (starts_at := self.meta.get("starts_at_ms")) else None,
            "description": self.meta.get("description", ""),
            "commission_bp": int(self.meta.get("commission_bp", 0)),
            # v1.1 §13: the HLS playlist while some process writes the room's video (its lease,
            # live/video_presence.py), else null.
            "hls": hls_path(room_id) if int(self.meta.get(VIDEO_LEASE_FIELD, 0)) > now_ms() else None,
        }

    def public_json(self, room_id: str) -> bytes:
        """The snapshot as ``GET /api/rooms/{room}`` and ``hello`` (without ``you``) carry it."""
        parts = [
            b'{"seq":' + str(self.seq).encode(),
            b'"room":' + orjson.dumps(self.room(room_id)),
            b'"pin":' + (self.pin_json.encode() if self.pin_json else b"null"),
            b'"bag":' + self.bag_json.encode(),
            b'"drop":' + (self.drop_json.encode() if self.drop_json else b"null"),
            b'"auction":' + (self.auction_json.encode() if self.auction_json else b"null"),
            b'"chat":[' + ",".join(self.chat).encode() + b"]",
            b'"viewers":' + str(self.viewers).encode(),
            b'"likes":' + self.meta.get("likes", "0").encode(),
        ]
        return b",".join(parts) + b"}"


@dataclass(frozen=True, slots=True)
class PinFigures:
    """A pin's live figures, returned by every tick (feeds ephemeral ``stock``/``progress``)."""

    pin: str
    stock_left: int
    count: int
    next_at: int | None
    state: PinState
    deadline_ms: int | None


def fresh_viewers(reports: dict[str, str], now: int) -> int:
    """Sum the per-process viewer reports ("count:expires_ms") that have not expired.

    viewers_report.lua applies the same rule when it also writes; this is the read-only twin for
    the rooms list, which reads many rooms in one pipeline.
    """
    total = 0
    for report in reports.values():
        count, _, expires = report.partition(":")
        if int(expires) > now:
            total += int(count)
    return total


@dataclass(frozen=True, slots=True)
class DropFigures:
    """A running drop's figures, returned by every tick (feeds the ephemeral ``drop_left``)."""

    drop: str
    left: int
    running: bool  # False: this tick ended it (its drop_end is in the stream)


@dataclass(frozen=True, slots=True)
class Tick:
    """What one tick of time found: the pin's and the drop's figures, and when time must act next
    on the pin, the drop or the auction."""

    pin: PinFigures | None
    drop: DropFigures | None
    deadline_ms: int | None  # the pin's, the drop's or the auction's next deadline, whichever is sooner


@dataclass(frozen=True, slots=True)
class RoomFigures:
    """What a hub's poller refreshes: viewers, likes, the pin's and drop's figures, the bag's stock."""

    viewers: int
    likes: int
    tick: Tick
    bag_v: int  # the bag's stock version: pass it back to be told only of changes
    bag_left: dict[str, int] | None  # product -> units left; None when unchanged since bag_v

    @property
    def pin(self) -> PinFigures | None:
        return self.tick.pin


@dataclass(frozen=True, slots=True, order=True)
class ScheduledCursor:
    """Where a page of scheduled rooms ended: the last room's score and id."""

    score: int
    room: str

    def encode(self) -> str:
        return f"{self.score}.{self.room}"

    @classmethod
    def parse(cls, raw: str) -> ScheduledCursor | None:
        score, _, room = raw.partition(".")
        if not score.isdigit() or not ROOM_ID_RE.fullmatch(room):
            return None
        return cls(int(score), room)


@dataclass(frozen=True, slots=True)
class RoomsPage:
    rooms: list[dict[str, Any]]
    next: str | None  # the cursor of the following page; None on the last


def _tick(reply: list[Any]) -> Tick:
    """pin_tick.lua's answer."""
    deadlines = [d for d in (int(reply[6]), int(reply[11]), int(reply[14])) if d >= 0]
    drop = DropFigures(str(reply[9]), int(reply[10]), int(reply[11]) >= 0) if reply[9] else None
    return Tick(_pin_figures(reply), drop, min(deadlines) if deadlines else None)


def _pin_figures(reply: list[Any]) -> PinFigures | None:
    if not reply[1]:
        return None
    next_at, deadline = int(reply[4]), int(reply[6])
    return PinFigures(
        pin=str(reply[1]),
        stock_left=int(reply[2]),
        count=int(reply[3]),
        next_at=next_at if next_at >= 0 else None,
        state=PinState(reply[5]),
        deadline_ms=deadline if deadline >= 0 else None,
    )


class RoomStore:
    def __init__(self, redis: Any, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.scripts = Scripts.register(redis)
        self.batcher = ScriptBatcher(redis)
        self.social = SocialStore(redis, settings.key_prefix)
        self._notice_ms: dict[str, int] = {}  # room -> when a buy last told the deliverers' index
        self._notice_trailing: set[str] = set()  # rooms with a trailing notice scheduled

    def keys(self, room: str) -> RoomKeys:
        return room_keys(self.settings.key_prefix, room)

    @property
    def _maxlen(self) -> int:
        return self.settings.history_keep

    def sale_head(self, room: str, now: int) -> list[Any]:
        """The ARGV head of every sale script (_lib.lua ``sale_context``)."""
        hooks = "1" if self.settings.webhook_url else "0"
        return [now, self._maxlen, hooks, room, me_channel(self.settings.key_prefix)]

    def hook_notice(self, room: str, now: int) -> tuple[tuple[Any, ...], ...]:
        """The command that puts ``room`` in the deliverers' index (keys.hook_rooms), to send with a script.

        Sent ahead of every script that may add to the room's outbox, in the same pipeline.
        """
        if not self.settings.webhook_url:
            return ()
        return (("ZADD", hook_rooms(self.settings.key_prefix), "LT", now, room),)

    def _buy_hook_notice(self, room: str, now: int) -> tuple[tuple[Any, ...], ...]:
        """``hook_notice`` for the hottest path: at most one per room every HOOK_NOTICE_EVERY_MS.

        A buy in the window between two notices is covered by a trailing notice at the window's end
        (sent without waiting), so its event is never left to the deliverers' idle recheck; a room
        that may buy is not ended, and a room that is not ended never leaves their index, so a
        crash before the trailing notice costs delay, not an event.
        """
        if not self.settings.webhook_url:
            return ()
        last = self._notice_ms.get(room)
        if last is not None and now - last < HOOK_NOTICE_EVERY_MS:
            if room not in self._notice_trailing:
                self._notice_trailing.add(room)
                asyncio.get_running_loop().call_later(
                    (last + HOOK_NOTICE_EVERY_MS - now) / 1000, self._trailing_notice, room
                )
            return ()
        self._notice_ms[room] = now
        if len(self._notice_ms) > 10_000:  # rooms come and go: forget the oldest half
            for old in sorted(self._notice_ms, key=self._notice_ms.__getitem__)[:5_000]:
                del self._notice_ms[old]
        return self.hook_notice(room, now)

    def _trailing_notice(self, room: str) -> None:
        self._notice_trailing.discard(room)
        now = now_ms()
        self._notice_ms[room] = now
        for command in self.hook_notice(room, now):
            self.batcher.send(*command)

    async def run_sale_script(self, script: Any, room: str, now: int, args: list[Any]) -> list[Any]:
        """A sale script off the hot path: the index notice before it and again after it.

        Before, so that a crash after the script cannot hide its events; after, so that a deliverer
        that dropped the room from its index in between (an ended room it found empty) sees it again.
        """
        notice = self.hook_notice(room, now)
        reply = check(
            await self.batcher.call(
                script, self.keys(room).sale_keys(), [*self.sale_head(room, now), *args], notice
            )
        )
        for command in notice:
            await self.redis.execute_command(*command)
        return reply

    async def ping(self) -> bool:
        return bool(await self.redis.ping())

    # Rooms

    async def put_room(
        self, room: str, title: str, host: Identity, pay_within_s: int | None = None
    ) -> tuple[bool, str]:
        """Create or retitle a room; ``pay_within_s`` None keeps the room's (0 for a new room)."""
        return await self.put_settings(room, RoomSettings(title=title, pay_within_s=pay_within_s), host)

    async def put_settings(self, room: str, settings: RoomSettings, host: Identity) -> tuple[bool, str]:
        """Create a room or change its settings (fields left None keep their value); (created, status)."""
        k = self.keys(room)
        now = now_ms()

        def given(value: int | str | None) -> int | str:
            return "" if value is None else value

        reply = check(
            await self.scripts.room_put(
                keys=[k.meta, k.events],
                args=[
                    "" if settings.title is None else orjson.dumps(settings.title).decode(),
                    host.id,
                    host.name,
                    now,
                    self._maxlen,
                    given(settings.pay_within_s),
                    given(settings.starts_at_ms),
                    "" if settings.description is None else orjson.dumps(settings.description).decode(),
                    given(settings.commission_bp),
                ],
            )
        )
        created, status = bool(int(reply[1])), str(reply[2])
        starts_at = int(reply[3]) if reply[3] else None
        await self._index(room, RoomStatus(status), scheduled_score(starts_at, int(reply[4])))
        if created:
            await self.social.note_host_room(host.id, host.name, room, now)
        if settings.pay_within_s:
            # A room that asks for payment is one time must look at (orders_expire.lua says how often).
            await self.redis.zadd(order_timers(self.settings.key_prefix), {room: now}, lt=True)
        return created, status

    async def set_status(self, room: str, verb: str, now: int | None = None) -> str:
        """Apply "start" or "stop"; the rule is ``rooms.room.transition``, the write a compare-and-set.

        Stopping also ends the room's pin, in the same script.
        """
        k = self.keys(room)
        now = now_ms() if now is None else now
        for _ in range(5):
            current, host_id = await self.redis.hmget(k.meta, ["status", "host_id"])
            if current is None:
                check(["err", "not_found", "no such room", -1])
            target = transition(RoomStatus(current), verb)
            audience = (0, 0)
            if target is RoomStatus.LIVE and current != target:
                audience = await self.social.audience_counts(room, host_id)
            reply = await self.run_sale_script(
                self.scripts.room_status, room, now, [current, target.value, *audience]
            )
            if reply[0] == "ok":
                await self._index(room, target)
                return target.value
        raise Conflict("the room's status keeps changing; try again")

    async def _index(self, room: str, status: RoomStatus, scheduled_at: int | None = None) -> None:
        """Put the room in the index of its status, after the script that set it (keys.py says why).

        Idempotent, so repeating a transition also repairs an index a crash left behind.
        ``scheduled_at`` (``scheduled_score``) places a scheduled room; None keeps its place.
        """
        prefix = self.settings.key_prefix
        live, scheduled = live_rooms_index(prefix), scheduled_rooms_index(prefix)
        pipe = self.redis.pipeline(transaction=False)
        if status is RoomStatus.SCHEDULED:
            if scheduled_at is None:
                pipe.zadd(scheduled, {room: NOT_PLANNED}, nx=True)  # repaired: placed by its next change
            else:
                pipe.zadd(scheduled, {room: scheduled_at})
        elif status is RoomStatus.LIVE:
            pipe.zadd(live, {room: 0})
            pipe.zrem(scheduled, room)
        else:
            pipe.zrem(live, room)
            pipe.zrem(scheduled, room)
            # Ended is final: the first time it was seen ended is when it ended (nx). Only the
            # latest shows are kept in the index: the entrance lists a few recent replays.
            ended = ended_rooms_index(prefix)
            pipe.zadd(ended, {room: now_ms()}, nx=True)
            pipe.zremrangebyrank(ended, 0, -(ENDED_ROOMS_KEPT + 1))
            # Its pin ended with the show: time has nothing left to do in this room.
            pipe.zrem(pin_timers(prefix), room)
        await pipe.execute()

    async def snapshot(
        self, room: str, user: str = "", now: int | None = None, *, role: str = ""
    ) -> Snapshot:
        """What ``hello`` carries. ``role`` is the user's role in this room: a mod is recorded."""
        k = self.keys(room)
        reply = check(
            await self.batcher.call(
                self.scripts.snapshot, k.snapshot_keys(), [user, now_ms() if now is None else now, role]
            )
        )
        flat = reply[1]
        meta = {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}
        # The host's followers live in the host's slot, out of the script's reach: one more round trip.
        followers, follows_host = await self._host_figures(meta.get("host_id", ""), user)
        return Snapshot(
            meta=meta,
            chat=list(reply[2]),
            muted_until_ms=int(reply[3]),
            banned=bool(int(reply[4])),
            oldest_seq=int(reply[5]),
            pin_json=reply[6] or None,
            viewers=int(reply[7]),
            bag_json=str(reply[8]),
            drop_json=reply[9] or None,
            auction_json=reply[10] or None,
            followers=followers,
            follows_host=follows_host,
        )

    async def current(self, room: str, now: int) -> tuple[str | None, str | None]:
        """The room's current (or last) drop and auction as JSON, None where there is none."""
        k = self.keys(room)
        reply = check(await self.scripts.current(keys=[k.drop, k.auction], args=[now]))
        return reply[1] or None, reply[2] or None

    async def _host_figures(self, host: str, user: str) -> tuple[int, bool]:
        """The host's follower count, and whether ``user`` (if any) is one of them: one round trip."""
        if not host:
            return 0, False
        key = host_followers(self.settings.key_prefix, host)
        if not user:
            return int(await self.batcher.command("ZCARD", key)), False
        count, score = await asyncio.gather(
            self.batcher.command("ZCARD", key), self.batcher.command("ZSCORE", key, user)
        )
        return int(count), score is not None

    async def live_rooms(self, cursor: str | None = None, limit: int = 50) -> RoomsPage:
        """A page of live rooms in id order, after ``cursor`` (a room id), in two round trips.

        The index may hold a room that has just ended (keys.py): each room's own status, read in
        the same pipeline as its title and viewers, decides.
        """
        index = live_rooms_index(self.settings.key_prefix)
        start = f"({cursor}" if cursor else "-"
        ids = await self.redis.zrange(index, start, "+", bylex=True, offset=0, num=limit + 1)
        page, more = ids[:limit], len(ids) > limit
        pipe = self.redis.pipeline(transaction=False)
        for room in page:
            k = self.keys(room)
            pipe.hmget(k.meta, ["title", "status", "host_id", "host_name"])
            pipe.hgetall(k.viewers)
        replies = await pipe.execute() if page else []
        now = now_ms()
        rooms, gone = [], []
        for i, room in enumerate(page):
            (title, status, host_id, host_name), reports = replies[2 * i], replies[2 * i + 1]
            if status == RoomStatus.LIVE.value:
                viewers = fresh_viewers(reports, now)
                host = {"id": host_id, "name": host_name}
                rooms.append({"id": room, "title": title, "host": host, "viewers": viewers})
            elif status in (None, RoomStatus.ENDED.value):
                gone.append(room)  # ended is final: safe to drop, whatever runs concurrently
        if gone:
            await self.redis.zrem(index, *gone)
        return RoomsPage(rooms, page[-1] if more else None)

    async def ended_rooms(self, limit: int = 50) -> RoomsPage:
        """The latest ended rooms, the most recent first, with when they ended (one page, no cursor)."""
        entries = await self.redis.zrange(
            ended_rooms_index(self.settings.key_prefix), 0, limit - 1, desc=True, withscores=True
        )
        pipe = self.redis.pipeline(transaction=False)
        for room, _ in entries:
            pipe.hmget(self.keys(room).meta, ["title", "host_id", "host_name"])
        replies = await pipe.execute() if entries else []
        rooms = [
            {
                "id": room,
                "title": title,
                "status": RoomStatus.ENDED.value,
                "host": {"id": host_id, "name": host_name},
                "ended_ms": int(score),
            }
            for (room, score), (title, host_id, host_name) in zip(entries, replies, strict=True)
            if title is not None
        ]
        return RoomsPage(rooms, None)

    async def scheduled_rooms(self, cursor: ScheduledCursor | None = None, limit: int = 50) -> RoomsPage:
        """A page of scheduled rooms, soonest planned start first (``scheduled_score``), after ``cursor``.

        Rooms that share a score are ordered by id, as Redis orders them; the cursor names the last
        room of a page with its score, so a room that moves (its start changed) is shown where it is now.
        """
        index = scheduled_rooms_index(self.settings.key_prefix)
        low = cursor.score if cursor else 0
        entries: list[tuple[str, float]] = []
        offset = 0
        while len(entries) <= limit:
            batch = await self.redis.zrange(
                index, low, "+inf", byscore=True, offset=offset, num=limit + 1, withscores=True
            )
            offset += len(batch)
            entries += [
                (r, sc) for r, sc in batch if cursor is None or (int(sc), r) > (cursor.score, cursor.room)
            ]
            if len(batch) <= limit:
                break
        page, more = entries[:limit], len(entries) > limit
        pipe = self.redis.pipeline(transaction=False)
        for room, _ in page:
            pipe.hmget(
                self.keys(room).meta,
                ["title", "status", "host_id", "host_name", "starts_at_ms", "description"],
            )
        replies = await pipe.execute() if page else []
        rooms, gone = [], []
        for (room, _), (title, status, host_id, host_name, starts_at, description) in zip(
            page, replies, strict=True
        ):
            if status == RoomStatus.SCHEDULED.value:
                rooms.append(
                    {
                        "id": room,
                        "title": title,
                        "status": status,
                        "host": {"id": host_id, "name": host_name},
                        "starts_at_ms": int(starts_at) if starts_at else None,
                        "description": description or "",
                    }
                )
            elif status is None:
                gone.append(room)  # live and ended rooms leave by their own transition (_index)
        if gone:
            await self.redis.zrem(index, *gone)
        last = page[-1] if page else None
        return RoomsPage(rooms, ScheduledCursor(int(last[1]), last[0]).encode() if more and last else None)

    # Chat and moderation

    async def post_chat(self, room: str, who: Identity, text: str, now: int) -> int:
        k = self.keys(room)
        body = events.encode_event(events.Chat(events.UserRef(who.id, who.name), text, now)).decode()
        s = self.settings
        reply = check(
            await self.batcher.call(
                self.scripts.chat_post,
                k.chat_post_keys(who.id),
                [
                    now,
                    who.id,
                    who.role.value,
                    duplicate_digest(text),
                    body,
                    s.chat_rate_posts,
                    s.chat_rate_window_ms,
                    s.duplicate_window_ms,
                    self._maxlen,
                    s.recent_chat,
                ],
            )
        )
        return int(reply[1])

    async def moderate(
        self, room: str, cmd: ModerationCommand, actor: Identity, now: int | None = None
    ) -> int:
        """Apply one moderation action by ``actor`` (the room's host or a mod; moderate.lua has the rules)."""
        k = self.keys(room)
        reply = check(
            await self.scripts.moderate(
                keys=k.moderate_keys(),
                args=[
                    cmd.action.value,
                    cmd.user or "",
                    cmd.seconds or 0,
                    cmd.seq or 0,
                    now_ms() if now is None else now,
                    self._maxlen,
                    actor.id,
                    actor.role.value,
                ],
            )
        )
        return int(reply[1])

    async def add_likes(self, room: str, n: int) -> None:
        await self.redis.hincrby(self.keys(room).meta, "likes", n)

    async def viewer_count(self, room: str) -> int:
        """Viewers of a room across every process (reports that are still fresh)."""
        k = self.keys(room)
        # Reporting zero for a node name no process uses changes nothing and returns the total.
        reply = await self.scripts.viewers_report(
            keys=[k.viewers, k.meta], args=["\x00read", 0, now_ms(), 5000]
        )
        return int(reply[0])

    def note_viewer(self, room: str, viewer: str) -> None:
        """Count a unique viewer, sent with the next pipeline: a lost count is no lost data."""
        self.batcher.send("PFADD", self.keys(room).unique_viewers, viewer)

    async def read_events(
        self, room: str, after_seq: int, upto_seq: int | None = None
    ) -> list[tuple[int, str]]:
        """Durable events with seq in (after_seq, upto_seq], oldest first."""
        end = f"{upto_seq}-0" if upto_seq is not None else "+"
        entries = await self.redis.xrange(self.keys(room).events, f"({after_seq}-0", end)
        return [(int(eid.split("-", 1)[0]), fields["e"]) for eid, fields in entries]

    # Pins and orders

    async def create_pin(self, room: str, spec: PinSpec, now: int) -> str:
        pin_id = spec.id or f"p-{secrets.token_hex(4)}"
        tiers = [{"at": t.at, "price_cents": t.price_cents} for t in spec.tiers]
        reply = await self.run_sale_script(
            self.scripts.pin_create,
            room,
            now,
            [
                pin_id,
                orjson.dumps(spec.product.to_dict()).decode() if spec.product else "",
                spec.stock,
                spec.limit_per_user,
                spec.starts_at_ms(now),
                spec.ends_at_ms(now),
                orjson.dumps(tiers).decode(),
                ",".join(str(t.at) for t in spec.tiers),
                ",".join(str(t.price_cents) for t in spec.tiers),
                spec.count_mode.value,
                "true" if spec.price_protection else "false",
                spec.product_id or "",
            ],
        )
        await self.schedule_pin(room, spec.starts_at_ms(now) if spec.starts_in_s else spec.ends_at_ms(now))
        return str(reply[2])

    async def end_pin(self, room: str, pin_id: str, now: int) -> str:
        reply = await self.run_sale_script(self.scripts.pin_end, room, now, [pin_id])
        return str(reply[2])

    async def tick_pin(self, room: str, now: int) -> PinFigures | None:
        """Let time act on the room's pin (and drop); return the pin's live figures (None without a pin)."""
        return (await self.tick_room(room, now)).pin

    async def tick_room(self, room: str, now: int) -> Tick:
        """Let time act on the room's pin and drop; what it found and when to come back."""
        return _tick(await self.run_sale_script(self.scripts.pin_tick, room, now, [-1]))

    async def room_figures(
        self, room: str, node: str, local_viewers: int, now: int, bag_v: int = -1, due: bool = True
    ) -> RoomFigures:
        """Viewers (after reporting ours), likes, the pin's figures and (when it moved since
        ``bag_v``) the bag's stock, in one round trip.
        ``due``: time may start or end the pin in this tick (its deadline passed), so the tick may
        write webhook events and the deliverers' index is told first.
        """
        k = self.keys(room)
        # Two script calls in the same loop turn: the batcher sends them in one pipeline.
        report, tick = await asyncio.gather(
            self.batcher.call(
                self.scripts.viewers_report, [k.viewers, k.meta], [node, local_viewers, now, 5000]
            ),
            self.batcher.call(
                self.scripts.pin_tick,
                k.sale_keys(),
                [*self.sale_head(room, now), bag_v],
                self.hook_notice(room, now) if due else (),
            ),
        )
        tick = check(tick)
        flat = tick[8]
        bag = {str(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)} if flat else None
        return RoomFigures(int(report[0]), int(report[1]), _tick(tick), int(tick[7]), bag)

    async def schedule_pin(self, room: str, deadline_ms: int | None) -> None:
        """Keep the service-wide timer of pins that time must act on (start, end)."""
        timers = pin_timers(self.settings.key_prefix)
        if deadline_ms is None:
            await self.redis.zrem(timers, room)
        else:
            await self.redis.zadd(timers, {room: deadline_ms})

    async def due_pins(self, now: int) -> list[str]:
        return list(await self.redis.zrangebyscore(pin_timers(self.settings.key_prefix), "-inf", now))

    async def buy(
        self,
        room: str,
        who: Identity,
        pin: str | None,
        qty: int,
        request_id: str,
        now: int,
        *,
        product: str | None = None,
        name: str | None = None,
        coupon: str | None = None,
    ) -> str:
        """Take an order from the pin, or from the bag's ``product``; return its JSON as stored
        (with ``refund_cents`` once one is owed). ``coupon``: one of the buyer's coupons to apply.

        The order records the buyer's display name (``name``, default the identity's) for the
        host's panel. The order is handed on as the JSON the script recorded: the ack splices it
        in rather than decoding and encoding it again on the hottest path of a flash sale.
        The buyer's index of orders (keys.user_orders) is written ahead of the script in the same
        pipeline, so an acked order is always in it; a refused buy takes its entry out again.
        """
        k = self.keys(room)
        order_id = f"o-{now:x}-{secrets.token_hex(4)}"
        name_json = orjson.dumps(who.name if name is None else name).decode()
        index = user_orders(self.settings.key_prefix, who.id)
        entry = f"{room}\t{order_id}"
        before = (("ZADD", index, now, entry), *self._buy_hook_notice(room, now))
        script = self.scripts.buy if product is None else self.scripts.bag_buy
        item = pin if product is None else product
        reply = await self.batcher.call(
            script,
            k.sale_keys(),
            [*self.sale_head(room, now), who.id, item, qty, request_id, order_id, name_json, coupon or ""],
            before,
        )
        if not (
            isinstance(reply, list)
            and reply
            and reply[0] == "ok"
            and reply[1].startswith(f'{{"id":"{order_id}"')
        ):
            # Refused, failed, or a replay of an earlier order (indexed then): this entry names nothing.
            self.batcher.send("ZREM", index, entry)
        reply = check(reply)
        order, refund = str(reply[1]), int(reply[3])
        if product is not None and '"state":"reserved"' in order:
            # A replay sells from the bag after the show, when the order timers may have let
            # the room go (sales.py): this order must still expire on time.
            await self.redis.zadd(order_timers(self.settings.key_prefix), {room: now}, lt=True)
        if refund:
            order = f'{order[:-1]},"refund_cents":{refund}}}'
        return order

    async def orders(self, room: str) -> list[dict[str, Any]]:
        k = self.keys(room)
        ids = await self.redis.lrange(k.order_ids, 0, -1)
        if not ids:
            return []
        raw = await self.redis.hmget(k.orders, ids)
        refunds = await self.redis.hgetall(k.refunds)
        out = []
        for order_id, text in zip(ids, raw, strict=True):
            order = orjson.loads(text)
            order["refund_cents"] = int(refunds.get(order_id, 0))
            out.append(order)
        return out

    async def stats(self, room: str) -> dict[str, Any]:
        k = self.keys(room)
        meta = await self.redis.hgetall(k.meta)
        if not meta:
            check(["err", "not_found", "no such room", -1])
        viewers = await self.viewer_count(room)
        unique = int(await self.redis.pfcount(k.unique_viewers))
        buyers = int(await self.redis.scard(k.buyers))
        return {
            "viewers": viewers,
            "peak_viewers": int(meta.get("peak_viewers", 0)),
            "unique_viewers": unique,
            "chat_posts": int(meta.get("chat_posts", 0)),
            "likes": int(meta.get("likes", 0)),
            "orders": int(meta.get("orders", 0)),
            "units": int(meta.get("units", 0)),
            "gmv_cents": int(meta.get("gmv_cents", 0)),
            "refund_cents": int(meta.get("refund_cents", 0)),
            "orders_by_state": {
                state: int(meta.get(f"orders_{state}", 0))
                for state in ("reserved", "confirmed", "cancelled", "expired")
            },
            "buyers": buyers,
            "conversion": round(buyers / unique, 4) if unique else 0.0,
        }
