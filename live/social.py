"""Follows and reminders (contract §9): who follows which host, who asked to be reminded of a show.

A relation has two sides in two Redis Cluster slots: the user's (``{user:<id>}``: whom I follow,
which shows I asked for) and the target's (``{host:<id>}`` followers, the room's reminded users).
The user's side is the truth; ``relation_set.lua`` flips it and counts a version, then
``relation_apply.lua`` applies that version to the target's side only if it is newer than the
one there (the scripts' headers say why that keeps counts exact). The target's sets hold every
user at score 0, so they page in user-id order with ``ZRANGE BYLEX`` and a cursor that is the
last id: the audience of a go-live (followers ∪ reminded) is read that way, 1,000 at a time.

A host is a user who has created a room: ``note_host_room`` (called by the room store when a room
is put) records the room under ``{host:<id>}:rooms`` and the host's display name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from live.keys import (
    RoomKeys,
    host_follower_versions,
    host_followers,
    host_profile,
    host_rooms,
    user_follows,
    user_relation_versions,
    user_reminders,
)
from live.scripts import check, load
from rooms.errors import BadRequest, Conflict, NotFound

FOLLOW, REMIND = "follow", "remind"  # the kinds of relation: "<kind>:<target>" in the user's versions
HOST_ROOMS_LOOKED_AT = 50  # a host's newest rooms read for its live room and next shows
FOLLOWS_LISTED = 200  # GET /api/follows: the most recently followed hosts, at most
REMINDERS_LISTED = 200  # GET /api/me/reminders: the most recent reminders, at most
AUDIENCE_PAGE = 1000
AMONG_CHUNK = 1000  # users per ZMSCORE in audience_among
_META_FIELDS = ["status", "title", "starts_at_ms", "description"]


@dataclass(frozen=True, slots=True)
class RoomCard:
    """What the follows list, the host page and my reminders show of a room."""

    id: str
    title: str
    status: str
    starts_at_ms: int | None
    description: str
    created_ms: int

    @classmethod
    def from_meta(cls, room: str, fields: list[str | None], created_ms: int = 0) -> RoomCard | None:
        """The card from HMGET meta ``_META_FIELDS``; None for a room that does not exist."""
        status, title, starts_at, description = fields
        if status is None:
            return None
        return cls(
            room, title or "", status, int(starts_at) if starts_at else None, description or "", created_ms
        )

    def show_order(self) -> tuple[bool, int, int, str]:
        """Scheduled shows soonest first; those without a time after them, oldest created first."""
        return (self.starts_at_ms is None, self.starts_at_ms or 0, self.created_ms, self.id)


@dataclass(frozen=True, slots=True)
class HostView:
    id: str
    name: str
    followers: int
    rooms: list[RoomCard]  # newest created first

    @property
    def live(self) -> list[RoomCard]:
        return [r for r in self.rooms if r.status == "live"]

    @property
    def scheduled(self) -> list[RoomCard]:
        return sorted((r for r in self.rooms if r.status == "scheduled"), key=RoomCard.show_order)


class SocialStore:
    """Follows, reminders and the audience of a go-live, in Redis."""

    def __init__(self, redis: Any, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._relation_set = load(redis, "relation_set")
        self._relation_apply = load(redis, "relation_apply")

    # Hosts

    async def note_host_room(self, host_id: str, host_name: str, room: str, created_ms: int) -> None:
        """Record that ``host_id`` created ``room`` (idempotent; the name is the latest one)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(host_rooms(self.prefix, host_id), {room: created_ms}, nx=True)
        pipe.hset(host_profile(self.prefix, host_id), "name", host_name)
        await pipe.execute()

    async def host_name(self, host: str) -> str | None:
        """The host's display name; None for a user who has never created a room."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.exists(host_rooms(self.prefix, host))
        pipe.hget(host_profile(self.prefix, host), "name")
        is_host, name = await pipe.execute()
        return (name or host) if is_host else None

    async def room_host(self, room: str) -> tuple[str, str] | None:
        """(host id, status) of a room from its meta hash; None for no such room."""
        host_id, status = await self.redis.hmget(RoomKeys(self.prefix, room).meta, ["host_id", "status"])
        return (host_id or "", status) if status is not None else None

    # Follows

    async def follow(self, user: str, host: str, on: bool, now_ms: int) -> int:
        """Follow (``on``) or unfollow a host; the host's exact follower count after it.

        ``BadRequest`` for following yourself, ``NotFound`` for a user who is not a host.
        """
        if user == host:
            raise BadRequest("you cannot follow yourself")
        if await self.host_name(host) is None:
            raise NotFound("no such host")
        return await self._relate(
            FOLLOW,
            user,
            host,
            on,
            now_ms,
            user_set=user_follows(self.prefix, user),
            target_set=host_followers(self.prefix, host),
            target_versions=host_follower_versions(self.prefix, host),
        )

    async def followers(self, host: str) -> int:
        return int(await self.redis.zcard(host_followers(self.prefix, host)))

    async def followers_many(self, hosts: list[str]) -> dict[str, int]:
        if not hosts:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for host in hosts:
            pipe.zcard(host_followers(self.prefix, host))
        return {host: int(n) for host, n in zip(hosts, await pipe.execute(), strict=True)}

    async def is_following(self, user: str, host: str) -> bool:
        """From the user's side, the truth."""
        return await self.redis.zscore(user_follows(self.prefix, user), host) is not None

    async def follows(self, user: str) -> list[HostView]:
        """The hosts I follow, most recently followed first, with their newest rooms."""
        hosts = await self.redis.zrevrange(user_follows(self.prefix, user), 0, FOLLOWS_LISTED - 1)
        return await self._host_views(hosts)

    async def host_page(self, host: str) -> HostView | None:
        """One host with their newest rooms; None for a user who has never created a room."""
        [view] = await self._host_views([host])
        return view if view.rooms or await self.host_name(host) is not None else None

    async def _host_views(self, hosts: list[str]) -> list[HostView]:
        """Name, followers and newest rooms of each host, in two round trips whatever their number."""
        if not hosts:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for host in hosts:
            pipe.hget(host_profile(self.prefix, host), "name")
            pipe.zcard(host_followers(self.prefix, host))
            pipe.zrevrange(host_rooms(self.prefix, host), 0, HOST_ROOMS_LOOKED_AT - 1, withscores=True)
        replies = await pipe.execute()
        rooms_of = [[(room, int(ms)) for room, ms in replies[3 * i + 2]] for i in range(len(hosts))]
        metas = iter(await self._metas([room for rooms in rooms_of for room, _ in rooms]))
        views = []
        for i, host in enumerate(hosts):
            cards = [RoomCard.from_meta(room, next(metas), ms) for room, ms in rooms_of[i]]
            views.append(
                HostView(host, replies[3 * i] or host, int(replies[3 * i + 1]), [c for c in cards if c])
            )
        return views

    async def _metas(self, rooms: list[str]) -> list[list[str | None]]:
        if not rooms:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for room in rooms:
            pipe.hmget(RoomKeys(self.prefix, room).meta, _META_FIELDS)
        return list(await pipe.execute())

    # Reminders

    async def remind(self, user: str, room: str, on: bool, now_ms: int) -> bool:
        """Ask (``on``) or stop asking to be reminded of a show; whether a reminder is now set.

        ``NotFound`` for no such room; ``Conflict`` for asking about a show that is not scheduled
        (one that is live or over has nothing left to remind of). Clearing always answers.
        """
        found = await self.room_host(room)
        if found is None:
            raise NotFound("no such room")
        if on and found[1] != "scheduled":
            raise Conflict("only a scheduled show can be reminded of")
        keys = RoomKeys(self.prefix, room)
        await self._relate(
            REMIND,
            user,
            room,
            on,
            now_ms,
            user_set=user_reminders(self.prefix, user),
            target_set=keys.reminders,
            target_versions=keys.reminder_versions,
        )
        return on

    async def reminders(self, user: str) -> list[RoomCard]:
        """My reminded shows that are not over, soonest first (those without a time after them)."""
        rooms = await self.redis.zrevrange(user_reminders(self.prefix, user), 0, REMINDERS_LISTED - 1)
        cards = [
            RoomCard.from_meta(room, meta) for room, meta in zip(rooms, await self._metas(rooms), strict=True)
        ]
        return sorted((c for c in cards if c and c.status != "ended"), key=RoomCard.show_order)

    # The audience of a go-live: followers of the room's host ∪ users reminded of the room

    async def audience_page(self, room: str, host: str, cursor: str | None) -> tuple[list[str], str | None]:
        """Up to 1,000 audience user ids after ``cursor`` (a user id), in id order, and the next cursor.

        Both sets are lex-ordered (scores 0): the first 1,000 of their union past the cursor are
        among the first 1,000 of each, and one more of each says whether the union goes on. A user
        in both sets appears once; one who stays in either appears exactly once across the pages,
        whoever follows or unfollows meanwhile.
        """
        start = f"({cursor}" if cursor else "-"
        pipe = self.redis.pipeline(transaction=False)
        for key in (host_followers(self.prefix, host), RoomKeys(self.prefix, room).reminders):
            pipe.zrange(key, start, "+", bylex=True, offset=0, num=AUDIENCE_PAGE + 1)
        followers, reminded = await pipe.execute()
        merged = sorted(set(followers) | set(reminded))
        page = merged[:AUDIENCE_PAGE]
        return page, (page[-1] if len(merged) > AUDIENCE_PAGE else None)

    async def audience_counts(self, room: str, host: str) -> tuple[int, int]:
        """(followers of the host, users reminded of the room): two ZCARDs, whatever the numbers."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.zcard(host_followers(self.prefix, host))
        pipe.zcard(RoomKeys(self.prefix, room).reminders)
        followers, reminded = await pipe.execute()
        return int(followers), int(reminded)

    async def audience_among(self, room: str, host: str, users: list[str]) -> set[str]:
        """Which of ``users`` follow the host or are reminded of the room (one round trip)."""
        if not users:
            return set()
        followers, reminded = host_followers(self.prefix, host), RoomKeys(self.prefix, room).reminders
        chunks = [users[i : i + AMONG_CHUNK] for i in range(0, len(users), AMONG_CHUNK)]
        pipe = self.redis.pipeline(transaction=False)
        for chunk in chunks:
            pipe.zmscore(followers, chunk)
            pipe.zmscore(reminded, chunk)
        replies = await pipe.execute()
        found: set[str] = set()
        for i, chunk in enumerate(chunks):
            for user, followed, asked in zip(chunk, replies[2 * i], replies[2 * i + 1], strict=True):
                if followed is not None or asked is not None:
                    found.add(user)
        return found

    async def _relate(
        self,
        kind: str,
        user: str,
        target: str,
        on: bool,
        now_ms: int,
        *,
        user_set: str,
        target_set: str,
        target_versions: str,
    ) -> int:
        """The user's side (the truth, versioned), then the target's; the target's exact count."""
        reply = check(
            await self._relation_set(
                keys=[user_set, user_relation_versions(self.prefix, user)],
                args=[target, f"{kind}:{target}", "1" if on else "0", now_ms],
            )
        )
        applied = check(await self._relation_apply(keys=[target_set, target_versions], args=[user, reply[2]]))
        return int(applied[2])
