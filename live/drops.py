"""Drops: coupons and red envelopes (contract §10), in Redis.

Each decision is one Lua script in the room's slot: ``drop_create.lua`` starts a drop,
``grab.lua`` takes one unit of it (and cuts an envelope's cents at that instant), and the sale
scripts apply and release coupons. What lives in the user's slot is written around them:

- before every grab, in the same pipeline, the drop goes into the user's index (keys.user_grabs),
  so any grab Redis took is found from the user's side;
- after an envelope grab and before its ack, ``wallet_credit.lua`` credits the user's wallet,
  exactly once per drop. A process killed between the two leaves a grab with no credit: reading
  the wallet repairs it from the index (``repair_wallet``), and re-sending the grab's request id
  credits it too, so every grab, acked or not, ends up in the wallet.

Follow tasks: the host's followers live in the host's slot, so grab.lua asks (``follow?``) and the
store looks once and runs the grab again with the answer. Only drops with a follow task pay it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import orjson

from live.auth import Identity
from live.keys import RoomKeys, host_followers, me_channel, pin_timers, user_grabs, user_wallet
from live.scripts import check, load
from live.store import RoomStore, now_ms
from rooms.drops import DropKind, DropSpec
from rooms.errors import NoSuchDrop

RAND_BELOW = 2**31  # the random draw of an envelope's cut: far above any envelope's range
GRABS_PAGE = 1000
MY_GRABS_MAX = 500  # GET /api/me/wallet and /coupons read the newest this many drops a user tried


@dataclass(frozen=True, slots=True)
class Grab:
    """What a grab was answered: the ack's part (``"envelope":{...}`` or ``"coupon":{...}``) and cents."""

    part: str
    cents: int  # 0 for a coupon
    replayed: bool


@dataclass(frozen=True, slots=True)
class GrabsPage:
    grabs: list[dict[str, Any]]
    next: int | None  # the ``after`` of the following page; None on the last


def grab_entry(room: str, drop: str) -> str:
    """The member of keys.user_grabs naming one drop."""
    return f"{room}\t{drop}"


class DropStore:
    def __init__(self, store: RoomStore) -> None:
        self.store = store
        self.redis = store.redis
        self.prefix = store.settings.key_prefix
        self._create = load(self.redis, "drop_create")
        self._grab = load(self.redis, "grab")
        self._credit = load(self.redis, "wallet_credit")

    def keys(self, room: str) -> RoomKeys:
        return self.store.keys(room)

    async def create(self, room: str, spec: DropSpec, now: int) -> str:
        """Start a drop; its JSON (the ``drop`` event's object)."""
        drop_id = f"d-{secrets.token_hex(4)}"
        coupon = spec.kind is DropKind.COUPON
        reply = await self.store.run_sale_script(
            self._create,
            room,
            now,
            [
                drop_id,
                spec.kind.value,
                spec.count,
                spec.value_cents if coupon else "",
                spec.min_spend_cents if coupon else "",
                spec.valid_s if coupon else "",
                spec.total_cents if not coupon else 0,
                spec.duration_s,
                spec.task.value,
            ],
        )
        # Time must end it: the room's timer moves to the drop's end unless the pin's comes first.
        await self.redis.zadd(pin_timers(self.prefix), {room: now + spec.duration_s * 1000}, lt=True)
        return str(reply[1])

    def grab_call(
        self, room: str, user: str, drop: str, request_id: str, now: int, follows: str = "?", name: str = ""
    ) -> tuple[list[str], list[Any]]:
        """The KEYS and ARGV of one grab.lua call (bench/drops.py drives the script with them)."""
        args = [
            *self.store.sale_head(room, now),
            user,
            drop,
            request_id,
            follows,
            secrets.randbelow(RAND_BELOW),
            orjson.dumps(name).decode(),
        ]
        return self.keys(room).grab_keys(drop), args

    async def grab(self, room: str, who: Identity, drop: str, request_id: str, now: int) -> Grab:
        """Grab one unit of ``drop`` for ``who``; an envelope is in the wallet before this returns."""
        batcher = self.store.batcher
        index = user_grabs(self.prefix, who.id)
        entry = grab_entry(room, drop)
        keys, args = self.grab_call(room, who.id, drop, request_id, now, name=who.name)
        reply = await batcher.call(self._grab, keys, args, (("ZADD", index, "NX", now, entry),))
        if isinstance(reply, list) and reply and reply[0] == "follow?":
            follows = await self.redis.zscore(host_followers(self.prefix, str(reply[1])), who.id)
            args[8] = "1" if follows is not None else "0"
            reply = await batcher.call(self._grab, keys, args)
        try:
            reply = check(reply)
        except NoSuchDrop:
            batcher.send("ZREM", index, entry)  # no drop of that id ever was: the entry names nothing
            raise
        grab = Grab(str(reply[1]), int(reply[3]), bool(int(reply[2])))
        if grab.cents:
            # Also on a replay: the first answer may have been cut off between the grab and its credit.
            await self.credit(who.id, room, drop, grab.cents, now)
        return grab

    async def credit(self, user: str, room: str, drop: str, cents: int, ts_ms: int) -> int:
        """Put one envelope in ``user``'s wallet (once per drop, whoever repeats it); the balance."""
        reply = check(
            await self.store.batcher.call(
                self._credit,
                [user_wallet(self.prefix, user)],
                [room, drop, cents, ts_ms, me_channel(self.prefix, user)],
            )
        )
        return int(reply[1])

    # Reads

    async def drop_json(self, room: str, drop: str) -> str:
        """The drop as the API shows it: the running one from its fields, an ended one as archived."""
        k = self.keys(room)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(k.drop, "id")
        pipe.hget(k.drops, drop)
        current, archived = await pipe.execute()
        if archived:
            return str(archived)
        running, _auction = await self.store.current(room, now_ms())
        if current != drop or running is None:
            raise NoSuchDrop(f"no drop {drop} in this room")
        return running

    async def drops(self, room: str) -> list[dict[str, Any]]:
        """Every drop of the room, newest first."""
        archived = await self.redis.hvals(self.keys(room).drops)
        out = [orjson.loads(text) for text in archived]
        running, _auction = await self.store.current(room, now_ms())
        current = orjson.loads(running) if running else None
        if current and current["state"] != "ended":
            out.append(current)
        return sorted(out, key=lambda d: (-int(d["created_ms"]), d["id"]))

    async def grabs(self, room: str, drop: str, after: int = 0, limit: int = GRABS_PAGE) -> GrabsPage:
        """Who got what, in grab order, from the ``after``-th grab on."""
        k = self.keys(room)
        users = await self.redis.lrange(k.drop_grabbers(drop), after, after + limit)
        page, more = users[:limit], len(users) > limit
        texts = await self.redis.hmget(k.drop_grabs(drop), page) if page else []
        grabs = [grab_json(orjson.loads(text)) for text in texts if text]
        return GrabsPage(grabs, after + limit if more else None)

    async def my_grabs(self, user: str) -> list[tuple[str, str, dict[str, Any]]]:
        """(room, drop, grab) of every drop ``user`` grabbed, newest first (refused tries left out)."""
        entries = await self.redis.zrevrange(user_grabs(self.prefix, user), 0, MY_GRABS_MAX - 1)
        pairs = [tuple(e.split("\t", 1)) for e in entries if "\t" in e]
        pipe = self.redis.pipeline(transaction=False)
        for room, drop in pairs:
            pipe.hget(self.keys(room).drop_grabs(drop), user)
        texts = await pipe.execute() if pairs else []
        return [(room, drop, orjson.loads(t)) for (room, drop), t in zip(pairs, texts, strict=True) if t]

    async def repair_wallet(self, user: str, grabs: list[tuple[str, str, dict[str, Any]]]) -> dict[str, str]:
        """Credit every envelope of ``grabs`` that the wallet lacks (a crash between grab and credit);
        the wallet's fields afterwards."""
        key = user_wallet(self.prefix, user)
        wallet = await self.redis.hgetall(key)
        repaired = False
        for room, drop, grab in grabs:
            envelope = grab.get("envelope")
            if envelope and grab_entry(room, drop) not in wallet:
                await self.credit(user, room, drop, int(envelope["cents"]), int(grab["ts_ms"]))
                repaired = True
        return dict(await self.redis.hgetall(key)) if repaired else dict(wallet)

    async def wallet(self, user: str) -> dict[str, Any]:
        """``GET /api/me/wallet``: the balance and its entries, newest first, repaired first."""
        fields = await self.repair_wallet(user, await self.my_grabs(user))
        entries = [orjson.loads(v) for k, v in fields.items() if k != "cents"]
        entries.sort(key=lambda e: (-int(e["ts_ms"]), e["room"], e["drop"]))
        return {"cents": int(fields.get("cents", 0)), "entries": entries}

    async def coupons(self, user: str, now: int) -> list[dict[str, Any]]:
        """``GET /api/me/coupons``: every coupon I grabbed, newest first, with its state now."""
        mine = [(room, drop, g["coupon"]) for room, drop, g in await self.my_grabs(user) if "coupon" in g]
        pipe = self.redis.pipeline(transaction=False)
        for room, _drop, coupon in mine:
            k = self.keys(room)
            pipe.hget(k.coupons, coupon["id"])
            pipe.hget(k.meta, "title")
        replies = await pipe.execute() if mine else []
        out = []
        for i, (room, drop, coupon) in enumerate(mine):
            stored, title = replies[2 * i], replies[2 * i + 1]
            order = orjson.loads(stored)["order"] if stored else None
            expires = int(coupon["expires_at_ms"])
            state = "used" if order else ("expired" if expires <= now else "unused")
            out.append(
                {
                    "id": coupon["id"],
                    "room": room,
                    "room_title": title or "",
                    "drop": drop,
                    "value_cents": int(coupon["value_cents"]),
                    "min_spend_cents": int(coupon["min_spend_cents"]),
                    "expires_at_ms": expires,
                    "state": state,
                    "order": order,
                }
            )
        return out


def grab_json(grab: dict[str, Any]) -> dict[str, Any]:
    """One grab as ``GET /api/rooms/{room}/drops/{drop}`` lists it."""
    out: dict[str, Any] = {"n": grab["n"], "user": {"id": grab["user"], "name": grab["name"]}}
    out["ts_ms"] = grab["ts_ms"]
    if "envelope" in grab:
        out["cents"] = grab["envelope"]["cents"]
    else:
        out["coupon"] = grab["coupon"]
    return out
