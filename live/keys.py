"""Every Redis key name, in one place.

All keys of a room share the hash tag ``{room:<id>}`` so that every Lua script of a
room touches one Redis Cluster slot.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

# The field of a room's meta hash that says until when (ms) some process writes its video
# (live/video_presence.py); hello's room.hls is set while it is in the future.
VIDEO_LEASE_FIELD = "video_until_ms"


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
    def archive(self) -> str:
        """Hash chunk number -> ``[[ms, event], ...]``: durable events moved out of ``events`` in
        chunks of 100 as the stream passes ``history_keep`` (_lib.lua ``archive_old``).

        _lib.lua names it after ``events`` (same hash tag, so the same slot): no script lists it in KEYS.
        """
        return self._k("archive")

    @property
    def recordings(self) -> str:
        """List of the room's recording sessions as JSON, in the order they started (live/recordings.py)."""
        return self._k("recordings")

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

    @property
    def reminders(self) -> str:
        """Sorted set of users reminded of this show, every score 0: paged in id order with BYLEX."""
        return self._k("reminders")

    @property
    def reminder_versions(self) -> str:
        """Hash user -> version of their reminder (positive = on, negative = off; relation_apply.lua)."""
        return self._k("reminder_versions")

    @property
    def products(self) -> str:
        """Hash product id -> the bag product's fixed fields as JSON (title, price, limit...)."""
        return self._k("products")

    @property
    def product_stock(self) -> str:
        """Hash ``<pid>`` -> units left for sale, ``<pid>:total`` -> stock_total."""
        return self._k("product_stock")

    @property
    def product_order(self) -> str:
        """Sorted set product id -> rank: the bag in the order products were added."""
        return self._k("product_order")

    @property
    def bag_bought(self) -> str:
        """Hash ``<pid>:<user>`` -> units the user holds (reserved + confirmed) from the bag."""
        return self._k("bag_bought")

    @property
    def product_waiting(self) -> str:
        """Hash product id -> reserved orders whose units came from it (a product in use stays)."""
        return self._k("product_waiting")

    @property
    def expiry(self) -> str:
        """Sorted set order id -> pay_by_ms, reserved orders only."""
        return self._k("expiry")

    @property
    def hooks(self) -> str:
        """Hash event id -> webhook envelope JSON, for events not yet delivered (the outbox)."""
        return self._k("hooks")

    @property
    def hooks_due(self) -> str:
        """Sorted set event id -> ms at which the outbox event is next due for delivery."""
        return self._k("hooks_due")

    @property
    def hooks_attempts(self) -> str:
        """Hash event id -> JSON array of its delivery attempts (first and latest), ``<id>:n`` -> count."""
        return self._k("hooks_attempts")

    @property
    def hooks_born(self) -> str:
        """Sorted set event id -> created_ms of pending events once first leased (oldest-pending age)."""
        return self._k("hooks_born")

    @property
    def hooks_done(self) -> str:
        """Hash event id -> envelope JSON of events delivered or given up (the newest of each kept)."""
        return self._k("hooks_done")

    @property
    def hooks_delivered(self) -> str:
        """Sorted set event id -> ms of its 2xx: the last 1000 delivered events."""
        return self._k("hooks_delivered")

    @property
    def hooks_failed(self) -> str:
        """Sorted set event id -> ms it was given up: the last 1000 failed events."""
        return self._k("hooks_failed")

    @property
    def shares(self) -> str:
        """Hash share code -> the sharer's user id (codes of this room's share links)."""
        return self._k("shares")

    @property
    def sharers(self) -> str:
        """Hash sharer id -> display name JSON, as it was when the code was made (the leaderboard's names)."""
        return self._k("sharers")

    @property
    def attributions(self) -> str:
        """Hash viewer id -> sharer id: who brought the viewer in (the first valid share link wins)."""
        return self._k("attributions")

    @property
    def share_board(self) -> str:
        """Hash ``<figure>:<sharer>`` -> n, figure one of visits buyers orders gmv commission."""
        return self._k("share_board")

    @property
    def share_buyers(self) -> str:
        """Hash ``<sharer>:<buyer>`` -> the buyer's standing orders through the sharer (``buyers``)."""
        return self._k("share_buyers")

    @property
    def drop(self) -> str:
        """Hash: the room's current drop (or its last one, ended), field by field (grab.lua)."""
        return self._k("drop")

    @property
    def drops(self) -> str:
        """Hash drop id -> the drop's JSON as it ended, for drops that have ended."""
        return self._k("drops")

    def drop_grabs(self, drop: str) -> str:
        """Hash user -> the user's grab of ``drop`` as JSON (one each); ``r:<user>:<request id>`` -> 1."""
        return self._k(f"drop_grabs:{drop}")

    def drop_grabbers(self, drop: str) -> str:
        """List of the users who grabbed ``drop``, in grab order (who got what, paged)."""
        return self._k(f"drop_grabbers:{drop}")

    @property
    def coupons(self) -> str:
        """Hash coupon id -> coupon JSON (owner, value, minimum, expiry, the order using it or null)."""
        return self._k("coupons")

    @property
    def chatters(self) -> str:
        """Set of users who posted in this show (a drop's ``chat`` task)."""
        return self._k("chatters")

    @property
    def auction(self) -> str:
        """Hash: the room's current auction (or its last one, ended), field by field (bid.lua)."""
        return self._k("auction")

    @property
    def auctions(self) -> str:
        """Hash auction id -> the auction's JSON as it ended."""
        return self._k("auctions")

    def auction_bids(self, auction: str) -> str:
        """List of an auction's accepted bids as JSON, in order (the ladder); ``bid.lua`` appends."""
        return self._k(f"auction_bids:{auction}")

    def hooks_claim_keys(self) -> list[str]:
        return [self.meta, self.hooks, self.hooks_due, self.hooks_attempts, self.hooks_born]

    def hooks_result_keys(self) -> list[str]:
        return [*self.hooks_claim_keys(), self.hooks_done, self.hooks_delivered, self.hooks_failed]

    # The KEYS of each Lua script, in the order the script's header names them.

    def sale_keys(self) -> tuple[str, ...]:
        """Every script that takes, changes or releases stock or orders takes these KEYS (_lib.lua: K).

        Built once per room (every buy, grab and bid sends them): the same tuple each time.
        """
        return _sale_keys(self)

    def grab_keys(self, drop: str) -> list[str]:
        return [*self.sale_keys(), self.drop_grabs(drop), self.drop_grabbers(drop)]

    def bid_keys(self, auction: str) -> list[str]:
        return [*self.sale_keys(), self.auction_bids(auction)]

    def share_visit_keys(self) -> list[str]:
        return [self.shares, self.attributions, self.share_board]

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
            self.chatters,
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
            self.products,
            self.product_stock,
            self.product_order,
            self.drop,
            self.auction,
        ]


@functools.lru_cache(maxsize=4096)
def room_keys(prefix: str, room: str) -> RoomKeys:
    """The keys of one room, made once per room and prefix."""
    return RoomKeys(prefix, room)


@functools.lru_cache(maxsize=4096)
def _sale_keys(keys: RoomKeys) -> tuple[str, ...]:
    return (
        keys.meta,
        keys.events,
        keys.pin,
        keys.posters,
        keys.bought,
        keys.pin_orders,
        keys.orders,
        keys.refunds,
        keys.pins,
        keys.order_ids,
        keys.requests,
        keys.buyers,
        keys.products,
        keys.product_stock,
        keys.product_order,
        keys.bag_bought,
        keys.product_waiting,
        keys.expiry,
        keys.hooks,
        keys.hooks_due,
        keys.attributions,
        keys.share_board,
        keys.share_buyers,
        keys.drop,
        keys.drops,
        keys.coupons,
        keys.chatters,
        keys.auction,
        keys.auctions,
    )


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


def ended_rooms_index(prefix: str) -> str:
    """Sorted set room id -> ms it ended: the latest ENDED_ROOMS_KEPT ended shows (their replays)."""
    return f"{prefix}{{rooms}}:ended"


ENDED_ROOMS_KEPT = 1000


def pin_timers(prefix: str) -> str:
    """Sorted set room -> the ms at which time must next act on its pin (start or end)."""
    return f"{prefix}pin_timers"


def hook_rooms(prefix: str) -> str:
    """Sorted set room -> ms at which its webhook outbox must next be looked at (deliverers' index).

    Outside every room's slot: written before (and, off the hot path, after) each script that may
    add to a room's outbox, so a crash between the two steps cannot hide an event.
    """
    return f"{prefix}{{hooks}}:rooms"


def hook_history(prefix: str) -> str:
    """Sorted set room -> ms of its latest delivered or given-up webhook: where the deliveries API looks."""
    return f"{prefix}{{hooks}}:history"


def order_timers(prefix: str) -> str:
    """Sorted set room -> ms at which time must next look at the room's reserved orders (expiry)."""
    return f"{prefix}{{orders}}:timers"


def user_orders(prefix: str, user: str) -> str:
    """Sorted set "<room>\\t<order id>" -> ts_ms: one user's orders in every room."""
    return f"{prefix}{{user:{user}}}:orders"


def user_shares(prefix: str, user: str) -> str:
    """Sorted set room -> ms: the rooms a user made a share code in (``GET /api/me/commissions``)."""
    return f"{prefix}{{user:{user}}}:shares"


def user_grabs(prefix: str, user: str) -> str:
    """Sorted set "<room>\\t<drop>" -> ms: the drops a user tried to grab, written before each grab.

    Written ahead of grab.lua in the same pipeline, so a grab that Redis took is always found from
    the user's side (``GET /api/me/coupons``, and the wallet's repair of a credit a crash cut off).
    """
    return f"{prefix}{{user:{user}}}:grabs"


def user_wallet(prefix: str, user: str) -> str:
    """Hash ``cents`` -> balance, "<room>\\t<drop>" -> envelope entry JSON (wallet_credit.lua)."""
    return f"{prefix}{{user:{user}}}:wallet"


def me_channel(prefix: str, user: str = "") -> str:
    """Pub/Sub channel of one user's order changes (message: the order JSON), published by the scripts.

    With no user: the channels' common prefix, which the scripts are given.
    """
    return f"{prefix}me:{user}"


# Follows and reminders (live/social.py). A relation has two sides in two slots: the user's
# ({user:<id>}, the truth) and the target's ({host:<id>} or the room's); relation_set.lua and
# relation_apply.lua say how a version keeps the target's side exact.


def host_followers(prefix: str, host: str) -> str:
    """Sorted set of a host's followers, every score 0: paged in user-id order with ZRANGE BYLEX."""
    return f"{prefix}{{host:{host}}}:followers"


def host_follower_versions(prefix: str, host: str) -> str:
    """Hash user -> follow version (positive = following, negative = not; kept after an unfollow)."""
    return f"{prefix}{{host:{host}}}:follower_versions"


def host_rooms(prefix: str, host: str) -> str:
    """Sorted set room -> created_ms: every room the host created (a host is a user with one)."""
    return f"{prefix}{{host:{host}}}:rooms"


def host_profile(prefix: str, host: str) -> str:
    """Hash ``name``: the host's display name, from the token that last created or retitled a room."""
    return f"{prefix}{{host:{host}}}:profile"


def user_follows(prefix: str, user: str) -> str:
    """Sorted set host -> ms followed: whom a user follows (the truth of a follow)."""
    return f"{prefix}{{user:{user}}}:follows"


def user_relation_versions(prefix: str, user: str) -> str:
    """Hash "<kind>:<target>" -> version counter of the user's follow or reminder of that target."""
    return f"{prefix}{{user:{user}}}:relation_versions"


def user_reminders(prefix: str, user: str) -> str:
    """Sorted set room -> ms asked: the shows a user asked to be reminded of (the truth of a reminder)."""
    return f"{prefix}{{user:{user}}}:reminders"
