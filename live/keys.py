"""Every Redis key name, in one place.

All keys of a room share the hash tag ``{room:<id>}`` so that every Lua script of a
room touches one Redis Cluster slot.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RoomKeys:
    prefix: str
    room: str

    def _k(self, name: str) -> str:
        return f"{self.prefix}{{room:{self.room}}}:{name}"

    @property
    def meta(self) -> str:
        """Hash: title, status, host, seq counter, slow mode, room totals."""
        return self._k("meta")

    @property
    def events(self) -> str:
        """Stream of durable events; entry id is ``<seq>-0``, field ``e`` the event JSON."""
        return self._k("events")

    @property
    def recent(self) -> str:
        """Sorted set seq -> chat event JSON: the chat lines ``hello`` carries."""
        return self._k("recent")

    @property
    def deleted(self) -> str:
        """Set of deleted chat seqs (a second delete is a no-op)."""
        return self._k("deleted")

    @property
    def mutes(self) -> str:
        """Hash user -> muted until (ms)."""
        return self._k("mutes")

    @property
    def bans(self) -> str:
        return self._k("bans")

    @property
    def mods(self) -> str:
        """Set of users seen holding a mod token for this room (moderate.lua's "is a mod")."""
        return self._k("mods")

    @property
    def viewers(self) -> str:
        """Hash node -> "count:expires_ms": each server process reports its own viewers."""
        return self._k("viewers")

    @property
    def unique_viewers(self) -> str:
        """HyperLogLog of viewer ids."""
        return self._k("uv")

    @property
    def buyers(self) -> str:
        return self._k("buyers")

    def rate(self, user: str) -> str:
        """Sorted set of a user's recent post times (the sliding-window rate limit)."""
        return self._k(f"rate:{user}")

    def user(self, user: str) -> str:
        """Hash: a user's last post time and digests of recent texts (duplicate check)."""
        return self._k(f"user:{user}")

    @property
    def pin(self) -> str:
        """Hash: the current pin's fields (stock, tiers, count, state...)."""
        return self._k("pin")

    @property
    def posters(self) -> str:
        """Set of users who posted since the current pin went up (``posters`` count mode)."""
        return self._k("posters")

    @property
    def bought(self) -> str:
        """Hash user -> units bought of the current pin (the per-user limit)."""
        return self._k("bought")

    @property
    def pin_orders(self) -> str:
        """List of the current pin's order ids (price protection walks it at pin end)."""
        return self._k("pin_orders")

    @property
    def pins(self) -> str:
        """Hash pin id -> final pin JSON, for pins that have ended."""
        return self._k("pins")

    @property
    def orders(self) -> str:
        """Hash order id -> order JSON."""
        return self._k("orders")

    @property
    def refunds(self) -> str:
        """Hash order id -> cents owed under price protection."""
        return self._k("refunds")

    @property
    def order_ids(self) -> str:
        """List of order ids in the order they were taken."""
        return self._k("order_ids")

    @property
    def requests(self) -> str:
        """Hash "<user>:<request id>" -> order id: idempotent buys."""
        return self._k("requests")

    # The KEYS of each Lua script, in the order the script's header names them.

    def chat_post_keys(self, user: str) -> list[str]:
        return [
            self.meta,
            self.events,
            self.recent,
            self.mutes,
            self.bans,
            self.rate(user),
            self.user(user),
            self.pin,
            self.posters,
        ]

    def moderate_keys(self) -> list[str]:
        return [self.meta, self.events, self.mutes, self.bans, self.recent, self.deleted, self.mods]

    def snapshot_keys(self) -> list[str]:
        return [
            self.meta,
            self.recent,
            self.mutes,
            self.bans,
            self.pin,
            self.events,
            self.viewers,
            self.mods,
        ]

    def room_status_keys(self) -> list[str]:
        """Ending a room ends its pin, so room_status.lua takes pin_end.lua's keys."""
        return self.pin_end_keys()

    def pin_create_keys(self) -> list[str]:
        return [
            self.meta,
            self.events,
            self.pin,
            self.posters,
            self.bought,
            self.pin_orders,
            self.orders,
            self.refunds,
            self.pins,
        ]

    def pin_end_keys(self) -> list[str]:
        """For pin_end.lua and pin_tick.lua."""
        return [self.meta, self.events, self.pin, self.pin_orders, self.orders, self.refunds, self.pins]

    def buy_keys(self) -> list[str]:
        return [
            self.meta,
            self.events,
            self.pin,
            self.bought,
            self.pin_orders,
            self.orders,
            self.order_ids,
            self.requests,
            self.pins,
            self.buyers,
            self.refunds,
        ]


# The room indexes live outside every room's slot (a script of one room cannot touch them under
# Redis Cluster), so the store updates them with a command of its own right after the script that
# changed the status; every such update is idempotent (it states where the room belongs, whatever
# was there before) and the list filters by the rooms' own status, so a stale entry left by a
# crash between the two steps is never shown. Both share the hash tag {rooms}: one slot.


def live_rooms_index(prefix: str) -> str:
    """Sorted set of live room ids, every score 0: paged in id order with ZRANGE BYLEX."""
    return f"{prefix}{{rooms}}:live"


def scheduled_rooms_index(prefix: str) -> str:
    """Sorted set of scheduled room ids scored by creation time (ms)."""
    return f"{prefix}{{rooms}}:scheduled"


def pin_timers(prefix: str) -> str:
    """Sorted set room -> the ms at which time must next act on its pin (start or end)."""
    return f"{prefix}pin_timers"
