"""Share links and the commission they earn (contract §9).

A user's share code for a room is derived from the server secret (an HMAC of room and user), so
asking again gives the same code with nothing to look up, and nobody can guess another user's code.
Making the code records it in the room (``shares``: code -> sharer) and the room in the user's own
index (``GET /api/me/commissions``). A signed-in viewer who connects with ``?share=CODE`` is
attributed by ``share_visit.lua``; from then on the buy scripts (``_lib.lua`` ``share_field``) put
``share {by, commission_cents}`` on the viewer's orders and count them on the sharer's figures,
and an order that leaves ``reserved`` for cancelled or expired gives its figures back
(``share_void``): the leaderboard counts only orders that stand.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from live.api import JSONResponse, api_errors
from live.auth import Identity, Role, required_identity
from live.keys import RoomKeys, user_shares
from live.scripts import check, load
from live.settings import Settings
from live.store import now_ms
from rooms.errors import Forbidden, NotFound
from rooms.ids import parse_room_id

CODE_CHARS = 12
SHARE_CODE_RE = re.compile(f"[a-z2-7]{{{CODE_CHARS}}}")
FIGURES = ("visits", "buyers", "orders", "gmv", "commission")
MY_ROOMS_MAX = 200  # GET /api/me/commissions: the newest rooms a user shared


def share_code(secret: str, room: str, user: str) -> str:
    """The one code of ``user`` in ``room``: 60 bits of HMAC, base32 (case-proof, no 0/1/8/9)."""
    digest = hmac.new(secret.encode(), f"share\t{room}\t{user}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:CODE_CHARS]


def figures(board: dict[str, str], sharer: str) -> dict[str, int]:
    """One sharer's figures from the room's board hash, as the API names them."""
    got = {name: int(board.get(f"{name}:{sharer}", 0)) for name in FIGURES}
    return {
        "visits": got["visits"],
        "buyers": got["buyers"],
        "orders": got["orders"],
        "gmv_cents": got["gmv"],
        "commission_cents": got["commission"],
    }


class Shares:
    """The share endpoints and the attribution step of a room connection."""

    def __init__(self, redis: Any, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self._visit = load(redis, "share_visit")

    def _keys(self, room: str) -> RoomKeys:
        return RoomKeys(self.settings.key_prefix, room)

    def _identity(self, request: Request) -> Identity:
        return required_identity(self.settings.secret, request.headers.get("authorization"))

    async def visit(self, room: str, viewer: str, code: str) -> str | None:
        """Attribute ``viewer`` by ``code`` (ignored unless valid); the sharer they are attributed to."""
        if not SHARE_CODE_RE.fullmatch(code):
            return None
        reply = check(await self._visit(keys=self._keys(room).share_visit_keys(), args=[code, viewer]))
        return str(reply[1]) or None

    async def endpoint(self, request: Request) -> Response:
        """``/api/rooms/{room}/shares``: one route for both methods, so a wrong one is told ``Allow``."""
        if request.method == "POST":
            return await self.create(request)
        return await self.leaderboard(request)

    @api_errors
    async def create(self, request: Request) -> Response:
        """``POST /api/rooms/{room}/shares``: my code and link for this room (the same every time)."""
        room = parse_room_id(request.path_params["room"])
        me = self._identity(request)
        if me.role is Role.SERVICE:
            raise Forbidden("the shop's service token cannot share")
        k = self._keys(room)
        if not await self.redis.exists(k.meta):
            raise NotFound("no such room")
        code = share_code(self.settings.secret, room, me.id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(k.shares, code, me.id)
        pipe.hset(k.sharers, me.id, orjson.dumps(me.name).decode())
        pipe.hsetnx(k.share_board, f"visits:{me.id}", 0)  # on the leaderboard from now on
        await pipe.execute()
        await self.redis.zadd(user_shares(self.settings.key_prefix, me.id), {room: now_ms()}, nx=True)
        base = f"{request.url.scheme}://{request.url.netloc}"
        return JSONResponse({"code": code, "url": f"{base}/watch/{room}?share={code}"})

    @api_errors
    async def leaderboard(self, request: Request) -> Response:
        """``GET /api/rooms/{room}/shares``: every sharer of the room, highest GMV first."""
        room = parse_room_id(request.path_params["room"])
        me = self._identity(request)
        if me.role is not Role.SERVICE:
            me.require_host(room)
        k = self._keys(room)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(k.sharers)
        pipe.hgetall(k.share_board)
        names, board = await pipe.execute()
        ranked = sorted(
            ((figures(board, sharer), sharer, orjson.loads(name)) for sharer, name in names.items()),
            key=lambda row: (-row[0]["gmv_cents"], -row[0]["visits"], row[1]),
        )
        rows = [{"user": {"id": sharer, "name": name}, **figs} for figs, sharer, name in ranked]
        return JSONResponse({"shares": rows})

    @api_errors
    async def mine(self, request: Request) -> Response:
        """``GET /api/me/commissions``: my figures in every room I shared, newest first."""
        me = self._identity(request)
        prefix = self.settings.key_prefix
        rooms = await self.redis.zrevrange(user_shares(prefix, me.id), 0, MY_ROOMS_MAX - 1)
        pipe = self.redis.pipeline(transaction=False)
        for room in rooms:
            k = self._keys(room)
            pipe.hget(k.meta, "title")
            pipe.hmget(k.share_board, [f"{name}:{me.id}" for name in FIGURES])
        replies = await pipe.execute() if rooms else []
        out = []
        for i, room in enumerate(rooms):
            title, values = replies[2 * i], replies[2 * i + 1]
            board = {f"{name}:{me.id}": v for name, v in zip(FIGURES, values, strict=True) if v is not None}
            out.append({"room": {"id": room, "title": title or ""}, **figures(board, me.id)})
        return JSONResponse({"rooms": out})
