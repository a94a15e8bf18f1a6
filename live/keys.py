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
        return [self.meta, self.events, self.mutes, self.bans, self.recent, self.deleted]

    def snapshot_keys(self) -> list[str]:
        return [self.meta, self.recent, self.mutes, self.bans, self.pin, self.events, self.viewers]

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


def rooms_index(prefix: str) -> str:
    """Set of every room id (for the list of live rooms); outside any room's slot."""
    return f"{prefix}rooms"
