"""The drop endpoints (contract §10): the host's drops, who got what, my wallet and my coupons."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from live.api import JSONResponse, api_errors, read_json
from live.auth import Identity, Role, required_identity
from live.drops import DropStore
from live.settings import Settings
from live.store import now_ms
from rooms.drops import DROP_ID_RE, parse_drop
from rooms.errors import BadRequest, Forbidden, NoSuchDrop
from rooms.ids import parse_room_id


class DropsApi:
    def __init__(self, drops: DropStore, settings: Settings) -> None:
        self.drops = drops
        self.settings = settings

    def _identity(self, request: Request) -> Identity:
        return required_identity(self.settings.secret, request.headers.get("authorization"))

    def _shop(self, request: Request) -> str:
        """The room of the path, for its host or the shop's service token."""
        room = parse_room_id(request.path_params["room"])
        me = self._identity(request)
        if me.role is not Role.SERVICE:
            me.require_host(room)
        return room

    async def endpoint(self, request: Request) -> Response:
        """``/api/rooms/{room}/drops``: one route for both methods, so a wrong one is told ``Allow``."""
        if request.method == "POST":
            return await self.create(request)
        return await self.list(request)

    @api_errors
    async def create(self, request: Request) -> Response:
        """``POST /api/rooms/{room}/drops`` (the room's host): start a drop; 201 with it."""
        room = parse_room_id(request.path_params["room"])
        self._identity(request).require_host(room)
        spec = parse_drop(await read_json(request))
        body = await self.drops.create(room, spec, now_ms())
        return JSONResponse(body.encode(), status_code=201)

    @api_errors
    async def list(self, request: Request) -> Response:
        """``GET /api/rooms/{room}/drops``: every drop of the room, newest first."""
        room = self._shop(request)
        return JSONResponse({"drops": await self.drops.drops(room)})

    @api_errors
    async def one(self, request: Request) -> Response:
        """``GET /api/rooms/{room}/drops/{drop}?after=N``: the drop and who got what, in grab order.

        1,000 grabs a page; ``next`` is the ``after`` of the following page (null on the last).
        """
        room = self._shop(request)
        drop = request.path_params["drop"]
        if not DROP_ID_RE.fullmatch(drop):
            raise NoSuchDrop(f"no drop {drop[:64]} in this room")
        raw_after = request.query_params.get("after", "0")
        if not raw_after.isdigit() or len(raw_after) > 9:
            raise BadRequest("after must be a non-negative integer")
        body = await self.drops.drop_json(room, drop)
        page = await self.drops.grabs(room, drop, int(raw_after))
        grabs = orjson.dumps({"grabs": page.grabs, "next": page.next})
        return JSONResponse(body.encode()[:-1] + b"," + grabs[1:])

    def _person(self, request: Request) -> Identity:
        me = self._identity(request)
        if me.role is Role.SERVICE:
            raise Forbidden("the shop's service token has no wallet")
        return me

    @api_errors
    async def wallet(self, request: Request) -> Response:
        """``GET /api/me/wallet``: my red-envelope balance and its entries, newest first."""
        return JSONResponse(await self.drops.wallet(self._person(request).id))

    @api_errors
    async def coupons(self, request: Request) -> Response:
        """``GET /api/me/coupons``: my coupons, newest first, each ``unused``, ``used`` or ``expired``."""
        return JSONResponse({"coupons": await self.drops.coupons(self._person(request).id, now_ms())})
