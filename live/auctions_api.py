"""The auction endpoints (contract §11): the host puts an auction up; anyone reads it and its ladder."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from live.api import JSONResponse, api_errors, read_json
from live.auctions import AuctionStore
from live.auth import required_identity
from live.settings import Settings
from live.store import now_ms
from rooms.auctions import parse_auction
from rooms.ids import parse_item_id, parse_room_id


class AuctionsApi:
    def __init__(self, auctions: AuctionStore, settings: Settings) -> None:
        self.auctions = auctions
        self.settings = settings

    @api_errors
    async def create(self, request: Request) -> Response:
        """``POST /api/rooms/{room}/auctions`` (the room's host): 201 with the auction."""
        room = parse_room_id(request.path_params["room"])
        me = required_identity(self.settings.secret, request.headers.get("authorization"))
        me.require_host(room)
        spec = parse_auction(await read_json(request))
        body = await self.auctions.create(room, spec, now_ms())
        return JSONResponse(body.encode(), status_code=201)

    @api_errors
    async def one(self, request: Request) -> Response:
        """``GET /api/rooms/{room}/auctions/{auction}``: the auction and its accepted bids, highest first."""
        room = parse_room_id(request.path_params["room"])
        auction = parse_item_id(request.path_params["auction"], "auction")
        return JSONResponse(await self.auctions.auction_json(room, auction))
