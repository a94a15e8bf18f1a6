"""The HTTP API (contract §3). Errors leave here as ``{"error": code, "message": text}``."""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from live.auth import Identity, Role, bearer_identity, make_token, required_identity
from live.hls_paths import hls_path
from live.keys import VIDEO_LEASE_FIELD
from live.metrics import Metrics
from live.sales import SaleStore
from live.settings import Settings
from live.store import RoomStore, ScheduledCursor, now_ms
from rooms.errors import BadRequest, Conflict, NotFound, RoomError, TooLarge, Unavailable, WatchHls
from rooms.ids import ROOM_ID_RE, parse_item_id, parse_new_room_id, parse_room_id
from rooms.moderation import parse_moderation
from rooms.pins import parse_pin
from rooms.products import parse_product_put
from rooms.room import parse_room_settings
from rooms.text import clean_name

MAX_BODY_BYTES = 64 * 1024  # SDP offers are the largest bodies: a few KiB
ORDER_COLUMNS = (
    "id",
    "pin",
    "user",
    "qty",
    "unit_price_cents",
    "total_cents",
    "tier",
    "ts_ms",
    "refund_cents",
    "name",
    # v1.1, after the v1 columns so that a v1 reader's column positions hold
    "room",
    "product",
    "state",
    "pay_by_ms",
    "version",
    "title",
    # v1.1 share links (docs/social.md): empty when no share link brought the buyer in
    "share_by",
    "commission_cents",
)
# Cells a spreadsheet would read as a formula (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ROOMS_PAGE_DEFAULT = 50
ROOMS_PAGE_MAX = 200


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else orjson.dumps(content)


def error_response(err: RoomError) -> JSONResponse:
    """The one mapping from the error tree to HTTP."""
    headers = {}
    if err.retry_after_ms is not None:
        headers["Retry-After"] = str(max(1, (err.retry_after_ms + 999) // 1000))
    body = {"error": err.code, "message": err.message, **err.fields}
    return JSONResponse(body, status_code=err.status, headers=headers)


def csv_cell(value: object) -> object:
    """A cell as a spreadsheet will show it: user text that would start a formula gets a ``'``.

    Only strings: numbers (negative ones included) are the server's, not user text.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def orders_csv(orders: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(ORDER_COLUMNS)
    for order in orders:
        share = order.get("share") or {}
        flat = {
            **order,
            "share_by": share.get("by", ""),
            "commission_cents": share.get("commission_cents", ""),
        }
        writer.writerow([csv_cell(flat.get(col, "")) for col in ORDER_COLUMNS])
    return out.getvalue()


def _page_limit(raw: str | None) -> int:
    if raw is None:
        return ROOMS_PAGE_DEFAULT
    if not raw.isdigit() or not 1 <= int(raw) <= ROOMS_PAGE_MAX:
        raise BadRequest(f"limit must be 1-{ROOMS_PAGE_MAX}")
    return int(raw)


Handler = Callable[[Any, Request], Awaitable[Response]]


def api_errors(handler: Handler) -> Handler:
    """Turn the error tree into HTTP answers for one endpoint method."""

    async def wrapped(self: Any, request: Request) -> Response:
        try:
            return await handler(self, request)
        except RoomError as err:
            return error_response(err)
        except RedisError:
            return error_response(Unavailable("the store is unavailable; retry"))

    wrapped.__name__ = handler.__name__
    return wrapped


async def read_json(request: Request) -> Any:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise TooLarge(f"body over {MAX_BODY_BYTES} bytes")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("body is not JSON") from None


class Api:
    def __init__(
        self,
        store: RoomStore,
        settings: Settings,
        video: Any,
        metrics: Metrics | None = None,
        presence: Any = None,
    ) -> None:
        self.store = store
        self.sales = SaleStore(store, metrics)
        self.settings = settings
        self.video = video
        self.presence = presence  # live/video_presence.py: told of each publish

    def _who(self, request: Request) -> Identity | None:
        return bearer_identity(self.settings.secret, request.headers.get("authorization"))

    def _require(self, request: Request) -> Identity:
        return required_identity(self.settings.secret, request.headers.get("authorization"))

    def _host(self, request: Request) -> tuple[str, Identity]:
        room = parse_room_id(request.path_params["room"])
        identity = self._require(request)
        identity.require_host(room)
        return room, identity

    def _shop(self, request: Request) -> tuple[str, Identity]:
        """The room's host, or the shop's service token (contract §1: every room's orders and products)."""
        room = parse_room_id(request.path_params["room"])
        identity = self._require(request)
        if identity.role is not Role.SERVICE:
            identity.require_host(room)
        return room, identity

    @api_errors
    async def put_room(self, request: Request) -> Response:
        room, host = self._host(request)
        parse_new_room_id(room)
        settings = parse_room_settings(await read_json(request))
        created, _status = await self.store.put_settings(room, settings, host)
        snap = await self.store.snapshot(room)
        return JSONResponse(orjson.dumps(snap.room(room)), status_code=201 if created else 200)

    async def _status(self, request: Request, verb: str) -> Response:
        room, _ = self._host(request)
        status = await self.store.set_status(room, verb)
        return JSONResponse({"id": room, "status": status})

    @api_errors
    async def start_room(self, request: Request) -> Response:
        return await self._status(request, "start")

    @api_errors
    async def stop_room(self, request: Request) -> Response:
        return await self._status(request, "stop")

    @api_errors
    async def list_rooms(self, request: Request) -> Response:
        """``GET /api/rooms?status=live|scheduled|ended&cursor=C&limit=N``: ``next`` is the following cursor.

        Live rooms come in id order, scheduled ones soonest first (``RoomStore.scheduled_rooms``),
        ended ones (their replays) latest first, one page.
        """
        status = request.query_params.get("status", "live")
        raw = request.query_params.get("cursor") or None
        limit = _page_limit(request.query_params.get("limit"))
        bad_cursor = BadRequest("cursor must be the next value of an earlier page")
        if status == "live":
            if raw is not None and not ROOM_ID_RE.fullmatch(raw):
                raise bad_cursor
            page = await self.store.live_rooms(raw, limit)
        elif status == "scheduled":
            cursor = None if raw is None else ScheduledCursor.parse(raw)
            if raw is not None and cursor is None:
                raise bad_cursor
            page = await self.store.scheduled_rooms(cursor, limit)
        elif status == "ended":
            page = await self.store.ended_rooms(limit)
        else:
            raise BadRequest("status must be live, scheduled or ended")
        return JSONResponse({"rooms": page.rooms, "next": page.next})

    async def room(self, request: Request) -> Response:
        """``/api/rooms/{room}``: one route for both methods, so a wrong one is told ``Allow: GET, PUT``."""
        if request.method == "PUT":
            return await self.put_room(request)
        return await self.get_room(request)

    @api_errors
    async def get_room(self, request: Request) -> Response:
        room = request.path_params["room"]
        if not ROOM_ID_RE.fullmatch(room):
            raise NotFound("no such room")
        snap = await self.store.snapshot(room)
        return JSONResponse(snap.public_json(room))

    @api_errors
    async def create_pin(self, request: Request) -> Response:
        room, _ = self._host(request)
        spec = parse_pin(await read_json(request))
        pin = await self.store.create_pin(room, spec, now_ms())
        return JSONResponse(pin.encode(), status_code=201)

    @api_errors
    async def delete_pin(self, request: Request) -> Response:
        room, _ = self._host(request)
        pin_id = parse_item_id(request.path_params["pin"], "pin")
        pin = await self.store.end_pin(room, pin_id, now_ms())
        return JSONResponse(pin.encode())

    @api_errors
    async def products(self, request: Request) -> Response:
        """``GET /api/rooms/{room}/products``: the bag, for anyone."""
        room = request.path_params["room"]
        if not ROOM_ID_RE.fullmatch(room):
            raise NotFound("no such room")
        return JSONResponse(b'{"products":' + await self.sales.bag(room, now_ms()) + b"}")

    @api_errors
    async def product(self, request: Request) -> Response:
        """``PUT`` (add 201 / change 200) or ``DELETE`` one bag product."""
        room, _ = self._shop(request)
        product_id = parse_item_id(request.path_params["product"], "product")
        if request.method == "DELETE":
            await self.sales.delete_product(room, product_id, now_ms())
            return JSONResponse({"ok": True})
        spec = parse_product_put(product_id, await read_json(request))
        created, body = await self.sales.put_product(room, spec, now_ms())
        return JSONResponse(body, status_code=201 if created else 200)

    @api_errors
    async def confirm_order(self, request: Request) -> Response:
        room = parse_room_id(request.path_params["room"])
        self._require(request).require_service()
        order_id = parse_item_id(request.path_params["order"], "order")
        return JSONResponse(
            await self.sales.settle(room, order_id, "confirm", self._require(request), now_ms())
        )

    @api_errors
    async def cancel_order(self, request: Request) -> Response:
        """The shop, the room's host, or the buyer (order_settle.lua checks it is theirs) may cancel."""
        room = parse_room_id(request.path_params["room"])
        actor = self._require(request)
        order_id = parse_item_id(request.path_params["order"], "order")
        return JSONResponse(await self.sales.settle(room, order_id, "cancel", actor, now_ms()))

    @api_errors
    async def orders(self, request: Request) -> Response:
        room, _ = self._shop(request)
        await self.store.tick_pin(room, now_ms())
        orders = await self.store.orders(room)
        fmt = request.query_params.get("format", "json")
        if fmt == "csv":
            return Response(
                orders_csv(orders),
                media_type="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{room}-orders.csv"'},
            )
        if fmt != "json":
            raise BadRequest("format must be json or csv")
        return JSONResponse({"orders": orders})

    @api_errors
    async def moderation(self, request: Request) -> Response:
        room = parse_room_id(request.path_params["room"])
        actor = self._require(request)
        actor.require_staff(room)
        cmd = parse_moderation(await read_json(request))
        seq = await self.store.moderate(room, cmd, actor)
        return JSONResponse({"ok": True, "seq": seq})

    @api_errors
    async def stats(self, request: Request) -> Response:
        room, _ = self._shop(request)
        await self.store.tick_pin(room, now_ms())
        return JSONResponse(await self.store.stats(room))

    @api_errors
    async def publish(self, request: Request) -> Response:
        room, _ = self._host(request)
        await self._existing_room(room)
        if self.video is None:
            raise NotFound("video is not enabled on this server")
        answer = await self.video.publish(room, await read_json(request))
        if self.presence is not None:
            self.presence.poke()  # hello.room.hls on every process, without waiting for the next renewal
        return JSONResponse(answer)

    @api_errors
    async def watch(self, request: Request) -> Response:
        room = request.path_params["room"]
        if not ROOM_ID_RE.fullmatch(room):
            raise NotFound("no such room")
        await self._existing_room(room)
        if self.video is None:
            raise NotFound("video is not enabled on this server")
        if not self.video.is_publishing(room):
            # The room's video may be on another process (it took the publish): its HLS plays anywhere.
            until = await self.store.redis.hget(self.store.keys(room).meta, VIDEO_LEASE_FIELD)
            if until is not None and int(until) > now_ms():
                raise WatchHls("the room's video is on another server: play HLS", hls=hls_path(room))
            raise Conflict("nobody is publishing in this room")
        return JSONResponse(await self.video.watch(room, await read_json(request)))

    async def _existing_room(self, room: str) -> None:
        if not await self.store.redis.exists(self.store.keys(room).meta):
            raise NotFound("no such room")

    @api_errors
    async def dev_token(self, request: Request) -> Response:
        """``POST /api/dev/token``: routed only with ``--dev`` (live/app.py)."""
        body = await read_json(request)
        if not isinstance(body, dict):
            raise BadRequest("body must be a JSON object")
        name, role, room = body.get("name"), body.get("role", "viewer"), body.get("room")
        name = clean_name(name)
        if role not in {r.value for r in Role}:
            raise BadRequest("role must be viewer, mod, host or service")
        if room is not None:
            if role == Role.SERVICE.value:
                raise BadRequest("a service token acts on every room: it takes no room")
            room = parse_room_id(room)
        elif role in (Role.MOD.value, Role.HOST.value):
            raise BadRequest(f"a {role} token needs a room")
        slug = re.sub(r"[^A-Za-z0-9_-]", "", name.lower())[:40] or "user"
        token = make_token(
            self.settings.secret,
            sub=f"{slug}-{secrets.token_hex(3)}",
            name=name,
            role=role,
            room=room,
            ttl_s=12 * 3600,
        )
        return JSONResponse({"token": token})

    async def healthz(self, request: Request) -> Response:
        try:
            await self.store.ping()
        except (RedisError, OSError):
            return JSONResponse({"ok": False}, status_code=503)
        return JSONResponse({"ok": True})
