"""The WebSocket gateway: ``/ws/{room}?token=…&since=…`` (contract §4)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from redis.exceptions import RedisError
from starlette.websockets import WebSocket, WebSocketDisconnect

from live import closecodes
from live.auctions import AuctionStore
from live.auth import Identity, Role, verify_token
from live.connection import Connection
from live.drops import DropStore
from live.hub import HubRegistry
from live.metrics import Metrics
from live.settings import Settings
from live.shares import Shares
from live.store import RoomStore, Snapshot, now_ms
from live.ws_protocol import LiveWebSocketProtocol
from rooms.chat import normalize_chat_text
from rooms.commands import (
    BidCommand,
    BuyCommand,
    ChatCommand,
    CommandError,
    GrabCommand,
    LikeCommand,
    PingCommand,
    parse_command,
)
from rooms.errors import (
    BadRequest,
    Banned,
    Forbidden,
    NotFound,
    RateLimited,
    RoomError,
    TooLarge,
    Unauthorized,
    Unavailable,
)
from rooms.events import error_frame
from rooms.flood import FloodGuard
from rooms.ids import ROOM_ID_RE

log = logging.getLogger("live.gateway")
RAW_SEND_KEY = "live.raw_send"
YIELD_EVERY = 8  # frames one connection may have answered in a row before the loop is let run


_REQUEST_ID_RE = re.compile(rb'"id"\s*:\s*"([A-Za-z0-9_.:-]{1,64})"')


def _request_id_of(data: str | bytes) -> str | None:
    """The request id a refused frame seems to carry, without parsing it (for the error's ``id``)."""
    raw = data.encode() if isinstance(data, str) else data
    match = _REQUEST_ID_RE.search(raw, 0, 4096)
    return match.group(1).decode() if match else None


def effective_identity(identity: Identity | None, room: str) -> Identity | None:
    """Host and mod powers apply in the token's own room; elsewhere the holder is a viewer."""
    if identity is None or identity.role in (Role.VIEWER, Role.SERVICE) or identity.acts_on(room):
        return identity
    return Identity(identity.id, identity.name, Role.VIEWER, identity.room)


def frame_sink(scope: Mapping[str, Any]) -> dict[str, Any]:
    """``{"sink": protocol}`` when the server is ours (``LiveWebSocketProtocol``), else {}.

    The protocol is found through the server's own ASGI send (``KeepRawSend``): its frames can
    then be built once per room and written straight to each transport.
    """
    protocol = getattr(scope.get(RAW_SEND_KEY), "__self__", None)
    if isinstance(protocol, LiveWebSocketProtocol):
        return {"sink": protocol}
    return {}


class KeepRawSend:
    """Pure ASGI middleware: remember the server's own send on WebSocket scopes (see ``frame_sink``)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        scope[RAW_SEND_KEY] = send
        try:
            await self.app(scope, receive, send)
        finally:
            # The protocol holds the scope and the scope its send: a reference cycle that only
            # a full garbage collection would free (live/heap.py).
            del scope[RAW_SEND_KEY]


class RoomSocketShortcut:
    """Pure ASGI middleware: ``/ws/{room}`` sockets straight to the gateway, past Starlette's router.

    A join storm pays for every layer a socket passes: the exception middleware and its wrapper,
    the router trying each route, the route's session wrapper were a twentieth of a join's CPU
    (docs/benchmarks.md). None of them does anything for these sockets: the gateway raises no
    HTTP or WebSocket exceptions, and an error it does raise reaches uvicorn either way. Other
    paths, ``/ws/me`` and any app under a root path go through the router as before.
    """

    def __init__(self, app: Any, endpoint: Callable[[WebSocket], Awaitable[None]]) -> None:
        self.app = app
        self.endpoint = endpoint

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        room = _room_socket_path(scope)
        if room is None:
            await self.app(scope, receive, send)
            return
        scope["path_params"] = {"room": room}
        await self.endpoint(WebSocket(scope, receive, send))


def _room_socket_path(scope: Mapping[str, Any]) -> str | None:
    """The room of a ``/ws/{room}`` socket as Starlette's route would match it; None for others."""
    if scope["type"] != "websocket" or scope.get("root_path"):
        return None
    path: str = scope["path"]
    if not path.startswith("/ws/"):
        return None
    room = path[4:]
    if not room or "/" in room or room == "me":
        return None
    return room


def parse_since(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 15:
        raise BadRequest("since must be a non-negative integer")
    return int(raw)


async def read_frames(
    websocket: WebSocket, conn: Connection, max_bytes: int, handle: Callable[[str | bytes], Awaitable[bool]]
) -> int:
    """Read a socket's frames until it closes, for room sockets and /ws/me alike; the close code.

    A frame over ``max_bytes`` closes with 1009; ``handle`` answers every other one and returns
    False when the client must be cut off for flooding (1008).
    """
    handled = 0
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return int(message.get("code", closecodes.NORMAL))
            data = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            size = len(data.encode()) if isinstance(data, str) else len(data)
            if size > max_bytes:
                err = TooLarge(f"frame is {size} bytes; at most {max_bytes}")
                conn.push(error_frame(err))
                conn.close_soon(closecodes.TOO_BIG, "frame too big")
                return closecodes.TOO_BIG
            if not await handle(data):
                conn.close_soon(closecodes.POLICY_FLOOD, "flooding after rate_limited")
                return closecodes.POLICY_FLOOD
            # receive() on a non-empty queue does not suspend: without this, one client's
            # backlog of frames would hold the event loop until it is all answered. Every
            # YIELD_EVERY frames, not every one: a buy or a post already suspends on Redis,
            # and a yield per frame costs the grab path a loop turn each.
            handled += 1
            if handled % YIELD_EVERY == 0:
                await asyncio.sleep(0)
    except WebSocketDisconnect as exc:
        return exc.code


class Gateway:
    def __init__(
        self,
        store: RoomStore,
        hubs: HubRegistry,
        settings: Settings,
        metrics: Metrics,
        drops: DropStore,
        auctions: AuctionStore,
    ) -> None:
        self._store = store
        self._drops = drops
        self._auctions = auctions
        self._hubs = hubs
        self._settings = settings
        self._metrics = metrics
        self._shares = Shares(store.redis, settings)

    async def endpoint(self, websocket: WebSocket) -> None:
        room = websocket.path_params["room"]
        token = websocket.query_params.get("token")
        await websocket.accept()
        identity: Identity | None = None
        try:
            if not ROOM_ID_RE.fullmatch(room):
                raise NotFound("room id must be 1-40 of [a-z0-9-]")
            if token is not None:
                identity = effective_identity(verify_token(self._settings.secret, token), room)
        except RoomError as err:
            code = closecodes.UNAUTHORIZED if isinstance(err, Unauthorized) else closecodes.NO_SUCH_ROOM
            await self._refuse(websocket, err, code)
            return
        notes: list[str] = []
        try:
            since = parse_since(websocket.query_params.get("since"))
        except BadRequest as err:
            since = None
            notes.append(error_frame(err))
        try:
            snap = await self._store.snapshot(
                room,
                identity.id if identity else "",
                role=identity.role.value if identity else "",
            )
        except NotFound as err:
            await self._refuse(websocket, err, closecodes.NO_SUCH_ROOM)
            return
        except RedisError:
            await self._refuse(
                websocket, Unavailable("the store is unavailable; retry"), closecodes.SERVER_ERROR
            )
            return
        if snap.banned:
            await self._refuse(websocket, Banned("you are banned from this room"), closecodes.BANNED)
            return
        share = websocket.query_params.get("share")
        if share and identity is not None:
            # Before the socket can buy: an order it places carries the share (contract §9).
            try:
                await self._shares.visit(room, identity.id, share)
            except RedisError:
                await self._refuse(
                    websocket, Unavailable("the store is unavailable; retry"), closecodes.SERVER_ERROR
                )
                return
        await self._serve(websocket, room, identity, snap, since, notes)

    async def _refuse(self, websocket: WebSocket, err: RoomError, close_code: int) -> None:
        self._metrics.error(err.code)
        self._metrics.disconnect(close_code)
        with contextlib.suppress(Exception):
            await websocket.send_text(error_frame(err))
            await websocket.close(close_code, err.message[:120])

    def _hello(self, room: str, snap: Snapshot, identity: Identity | None, resumed: bool) -> str:
        you: Any = None
        if identity is not None:
            muted = snap.muted_until_ms if snap.muted_until_ms > now_ms() else 0
            you = {
                "id": identity.id,
                "name": identity.name,
                "role": identity.role.value,
                "muted_until_ms": muted,
                "follows_host": snap.follows_host,
            }
        body = snap.public_json(room)
        if resumed:
            # The lines after `since` follow as events; repeating recent chat here would duplicate them.
            body = body.replace(b'"chat":[' + ",".join(snap.chat).encode() + b"]", b'"chat":[]', 1)
        extra = orjson.dumps({"t": "hello", "resumed": resumed, "you": you})
        return "[" + (extra[:-1] + b"," + body[1:]).decode() + "]"

    async def _serve(
        self,
        websocket: WebSocket,
        room: str,
        identity: Identity | None,
        snap: Snapshot,
        since: int | None,
        notes: list[str],
    ) -> None:
        resumed = (
            since is not None and since <= snap.seq and (snap.oldest_seq == 0 or since >= snap.oldest_seq - 1)
        )
        if since is not None and snap.seq == 0:
            resumed = since == 0
        after_seq = since if resumed and since is not None else snap.seq
        viewer_key = identity.id if identity else f"anon-{secrets.token_hex(6)}"

        async def close(code: int, reason: str) -> None:
            await websocket.close(code, reason)

        conn = Connection(
            room=room,
            identity=identity,
            viewer_key=viewer_key,
            send_text=websocket.send_text,
            close=close,
            outbox_max_bytes=self._settings.outbox_max_bytes,
            **frame_sink(websocket.scope),
        )
        conn.push(self._hello(room, snap, identity, resumed))
        for note in notes:
            conn.push(note)
        conn.start()
        hub = self._hubs.get(room)
        hub.join(conn, after_seq)
        self._metrics.connections += 1
        self._metrics.connections_total += 1
        self._store.note_viewer(room, viewer_key)
        guard = FloodGuard(
            self._settings.frames_per_s, self._settings.frames_burst, self._settings.flood_strikes
        )
        close_code = closecodes.NORMAL
        # The reader is a task of its own so that a writer-side close (ban, too slow) can end it.
        reader = asyncio.create_task(self._read_loop(websocket, conn, hub, guard))
        try:
            await conn.until_either_ends(reader)
            if reader.done():
                close_code = reader.result()
            else:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader
        finally:
            hub.leave(conn)
            self._metrics.connections -= 1
            if conn.close_code is not None:
                close_code = conn.close_code
            self._metrics.disconnect(close_code)
            await conn.stop()
            if close_code == closecodes.TOO_SLOW:
                # Tell it why if its socket still takes a close frame; never wait on it for long.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        websocket.close(closecodes.TOO_SLOW, "too slow; resume with since"), 0.5
                    )

    async def _read_loop(self, websocket: WebSocket, conn: Connection, hub: Any, guard: FloodGuard) -> int:
        async def handle(data: str | bytes) -> bool:
            return await self._handle(data, conn, hub, guard)

        return await read_frames(websocket, conn, self._settings.frame_max_bytes, handle)

    async def _handle(self, data: str | bytes, conn: Connection, hub: Any, guard: FloodGuard) -> bool:
        """Answer one client frame. Returns False when the client must be cut off for flooding."""
        now = now_ms()
        if not guard.admit(now):
            # Every frame counts, valid or not, and a refused one is not parsed. Strikes bound
            # how many refusals are answered before the cut, so looking for the id is cheap.
            err = RateLimited("too many frames", retry_after_ms=guard.retry_after_ms())
            self._metrics.error(err.code)
            conn.push(error_frame(err, _request_id_of(data)))
            return not guard.strike(now)
        request_id: str | None = None
        try:
            try:
                cmd = parse_command(data)
            except CommandError as err:
                request_id = err.request_id
                raise
            request_id = getattr(cmd, "id", None)
            self._metrics.event_in(type(cmd).__name__.removesuffix("Command").lower())
            if isinstance(cmd, PingCommand):
                conn.push('[{"t":"pong"}]')
                return True
            if conn.identity is None:
                raise Unauthorized("sign in to chat, like, buy, grab or bid")
            if conn.identity.role is Role.SERVICE:
                raise Forbidden("a service token cannot chat, like, buy, grab or bid")
            if isinstance(cmd, ChatCommand):
                text = normalize_chat_text(cmd.text)
                seq = await self._store.post_chat(conn.room, conn.identity, text, now)
                # cmd.id matched REQUEST_ID_RE, so it needs no JSON escaping.
                conn.push(f'[{{"t":"ack","id":"{cmd.id}","seq":{seq}}}]')
            elif isinstance(cmd, LikeCommand):
                hub.add_likes(cmd.n)
            elif isinstance(cmd, BuyCommand):
                order = await self._store.buy(
                    conn.room,
                    conn.identity,
                    cmd.pin,
                    cmd.qty,
                    cmd.id,
                    now,
                    product=cmd.product,
                    coupon=cmd.coupon,
                )
                conn.push(f'[{{"t":"ack","id":"{cmd.id}","order":{order}}}]')
                if '"version":1,' in order:  # a new order (a replay may be further along)
                    self._metrics.order("reserved" if '"state":"reserved"' in order else "confirmed")
            elif isinstance(cmd, GrabCommand):
                grab = await self._drops.grab(conn.room, conn.identity, cmd.drop, cmd.id, now)
                conn.push(f'[{{"t":"ack","id":"{cmd.id}",{grab.part}}}]')
            elif isinstance(cmd, BidCommand):
                bid = await self._auctions.bid(conn.room, conn.identity, cmd.auction, cmd.id, cmd.cents, now)
                conn.push(f'[{{"t":"ack","id":"{cmd.id}","bid":{bid.bid}}}]')
        except RoomError as err:
            self._metrics.error(err.code)
            conn.push(error_frame(err, request_id))
            if isinstance(err, RateLimited) or err.code == "rate_limited":
                return not guard.strike(now)
        except RedisError:
            unavailable = Unavailable("the store is unavailable; retry the same request id")
            self._metrics.error(unavailable.code)
            conn.push(error_frame(unavailable, request_id))
        return True
