"""The personal channel ``/ws/me?token=…`` (contract §8): a signed-in user's own order changes.

Every order change is PUBLISHed by the Lua script that made it on its buyer's channel
``{prefix}me:<user id>``, the order JSON alone; a wallet change (wallet_credit.lua) is published
there too, as the ``wallet`` event itself. ``MeFeed`` (live/me_feed.py) keeps this process
subscribed to the channels of the users who have a socket here, and nothing else; each message
becomes one frame, built once however many tabs the user has open.

Pub/Sub keeps nothing: a message published while nobody subscribes is gone. So a socket opens (its
handshake completes) only once Redis has confirmed its user's subscription; a client that then
fetches ``GET /api/me/orders`` misses nothing. When the subscriber connection breaks (Redis
restarted, the connection dropped) every socket is closed with 1011 and new ones are refused until
the feed is back, and the client catches up by REST again.

The sockets reuse the room socket's defences: the outbox bounded in bytes (``Connection``, 4008),
the frame size bound (1009) and the frame-rate guard (``FloodGuard``, 1008); the wire budget and
the per-address cap sit below the app (``live/ws_protocol.py``), and a user has at most
``MAX_SOCKETS_PER_USER`` here. A bad frame gets ``bad_request`` and never closes the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import orjson
from starlette.websockets import WebSocket

from live import closecodes
from live.auth import Identity, verify_token
from live.connection import Connection
from live.gateway import frame_sink, read_frames
from live.golive import GoLive
from live.log_throttle import LogThrottle
from live.me_feed import MeFeed
from live.metrics import Metrics
from live.settings import Settings
from live.social import SocialStore
from live.store import now_ms
from live.wsframe import text_frame
from rooms.commands import REQUEST_ID_RE
from rooms.errors import BadRequest, RateLimited, RoomError, Unauthorized, Unavailable
from rooms.events import error_frame
from rooms.flood import FloodGuard

log = logging.getLogger("live.me")

PONG = '[{"t":"pong"}]'
MAX_SOCKETS_PER_USER = 32  # per process: tabs and devices of one user; past it a new one is refused
# A socket that arrives while the feed is (re)connecting waits this long before it is refused:
# at start, and just after Redis came back, the connection is usually a moment away.
SUBSCRIBE_WAIT_S = 1.0
SUBSCRIBE_TIMEOUT_S = 5.0  # a socket whose user's subscription is not confirmed within this is refused
INTERRUPTED = "the personal channel was interrupted; reconnect, then catch up with GET /api/me/orders"
_bad_message_log = LogThrottle(10.0)


EVENT_START = '{"t":"'


def order_frame(order_json: str) -> str:
    """The frame for a message as the scripts publish it (already JSON: spliced, not re-encoded).

    An order is published bare and becomes an ``order`` event; anything else a script publishes
    (``wallet``) is already an event with its ``t``, and goes out as it is.
    """
    if order_json.startswith(EVENT_START):
        return "[" + order_json + "]"
    return '[{"t":"order","order":' + order_json + "}]"


def order_text(message: bytes) -> str | None:
    """The message as the frame splices it in, when it is one JSON object; None for anything else."""
    try:
        return message.decode() if isinstance(orjson.loads(message), dict) else None
    except (orjson.JSONDecodeError, UnicodeDecodeError):
        return None


def answer(data: str | bytes) -> str:
    """The reply to one client frame: ``pong`` to a ping, ``bad_request`` to anything else."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return error_frame(BadRequest("frame is not JSON"))
    if not isinstance(obj, dict):
        return error_frame(BadRequest("frame must be a JSON object"))
    if obj.get("t") == "ping":
        return PONG
    request_id = obj.get("id")
    if not isinstance(request_id, str) or not REQUEST_ID_RE.fullmatch(request_id):
        request_id = None
    return error_frame(BadRequest('/ws/me takes only {"t":"ping"}'), request_id)


class MeChannel:
    """This process's ``/ws/me`` sockets by user, and the feed that subscribes for them."""

    def __init__(self, settings: Settings, metrics: Metrics, social: SocialStore) -> None:
        self._settings = settings
        self._metrics = metrics
        self._by_user: dict[str, set[Connection]] = {}  # from before the handshake to the close
        self._sockets = 0
        self.go_live = GoLive(social, self._by_user.keys, self.push, metrics)
        self.feed = MeFeed(
            settings.redis_url,
            settings.key_prefix,
            self.deliver,
            self._interrupt,
            on_live=self.go_live.on_broadcast,
        )
        metrics.gauges["live_me_connections"] = lambda: self._sockets
        metrics.gauges["live_me_subscribed"] = lambda: int(self.feed.up)
        metrics.gauges["live_me_channels"] = lambda: self.feed.user_channels

    def __len__(self) -> int:
        return self._sockets

    async def run(self) -> None:
        """The feed, for the life of the process."""
        try:
            await self.feed.run()
        finally:
            await self.go_live.aclose()

    # Fan-out

    def deliver(self, user: str, message: bytes) -> int:
        """Hand one message of ``user``'s channel to this process's sockets of that user; returns how many."""
        sockets = self._by_user.get(user)
        if not sockets:
            return 0  # a channel lingering after its last socket left
        order_json = order_text(message)
        if order_json is None:
            left_out = _bad_message_log.allow(asyncio.get_running_loop().time())
            if left_out is not None:
                log.warning("me: not a JSON object: %.80r (%d more left out)", message, left_out)
            return 0
        return self.push(user, order_frame(order_json))

    def push(self, user: str, frame: str) -> int:
        """One frame, built once, to every socket of ``user`` here; returns how many."""
        sockets = self._by_user.get(user)
        if not sockets:
            return 0
        payload = frame.encode()
        size, wire = len(payload), text_frame(payload)
        for conn in tuple(sockets):  # a push past the bound drops that socket, never the others
            conn.push(frame, size, wire)
        return len(sockets)

    def _join(self, conn: Connection, user: str) -> None:
        self._by_user.setdefault(user, set()).add(conn)
        self._sockets += 1

    def _leave(self, conn: Connection, user: str) -> None:
        sockets = self._by_user.get(user)
        if sockets is None or conn not in sockets:
            return
        sockets.discard(conn)
        self._sockets -= 1
        if not sockets:
            del self._by_user[user]

    def _interrupt(self) -> None:
        """The feed lost its connection: what it would have carried is gone, so every socket goes."""
        frame = error_frame(Unavailable(INTERRUPTED))
        for sockets in self._by_user.values():
            for conn in sockets:
                conn.push(frame)
                conn.close_soon(closecodes.SERVER_ERROR, "personal channel interrupted")

    # The socket

    async def endpoint(self, websocket: WebSocket) -> None:
        token = websocket.query_params.get("token")
        try:
            if not token:
                raise Unauthorized("/ws/me needs ?token=")
            identity = verify_token(self._settings.secret, token)
        except Unauthorized as err:
            await self._refuse(websocket, err, closecodes.UNAUTHORIZED)
            return
        if not await self.feed.wait_up(SUBSCRIBE_WAIT_S):
            await self._refuse(websocket, Unavailable(INTERRUPTED), closecodes.SERVER_ERROR)
            return
        if len(self._by_user.get(identity.id, ())) >= MAX_SOCKETS_PER_USER:
            crowded = RateLimited(f"at most {MAX_SOCKETS_PER_USER} personal channels per user on one server")
            await self._refuse(websocket, crowded, closecodes.POLICY_FLOOD)
            return
        await self._serve(websocket, identity)

    async def _refuse(self, websocket: WebSocket, err: RoomError, close_code: int) -> None:
        self._metrics.error(err.code)
        self._metrics.disconnect(close_code)
        with contextlib.suppress(Exception):
            await websocket.accept()
            await websocket.send_text(error_frame(err))
            await websocket.close(close_code, err.message[:120])

    async def _serve(self, websocket: WebSocket, identity: Identity) -> None:
        async def close(code: int, reason: str) -> None:
            await websocket.close(code, reason)

        conn = Connection(
            room="me",
            identity=identity,
            viewer_key=identity.id,
            send_text=websocket.send_text,
            close=close,
            outbox_max_bytes=self._settings.outbox_max_bytes,
            **frame_sink(websocket.scope),
        )
        # Joined before the feed is asked to subscribe: whatever the subscription carries is queued,
        # and written once the socket is open (the writer starts after accept).
        user = identity.id
        self._join(conn, user)
        ready = self.feed.hold(user)
        try:
            # The handshake completes only once Redis confirmed the subscription: from the moment
            # the client sees the socket open (and may read GET /api/me/orders) nothing is missed.
            await asyncio.wait({ready}, timeout=SUBSCRIBE_TIMEOUT_S)
            if not (ready.done() and ready.result()):
                await self._refuse(websocket, Unavailable(INTERRUPTED), closecodes.SERVER_ERROR)
                return
            await self._run(websocket, conn)
        finally:
            self._leave(conn, user)
            self.feed.release(user)

    async def _run(self, websocket: WebSocket, conn: Connection) -> None:
        """Open the socket and serve it until it closes."""
        close_code = closecodes.NORMAL
        reader: asyncio.Task[int] | None = None
        try:
            await websocket.accept()
            conn.start()
            guard = FloodGuard(
                self._settings.frames_per_s, self._settings.frames_burst, self._settings.flood_strikes
            )
            # The reader is a task of its own so that a writer-side close (too slow) can end it.
            reader = asyncio.create_task(self._read_loop(websocket, conn, guard))
            await conn.until_either_ends(reader)
            if reader.done():
                close_code = reader.result()
        except Exception:
            close_code = closecodes.ABNORMAL  # the client went away during the handshake
        finally:
            if reader is not None and not reader.done():
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader
            if conn.close_code is not None:
                close_code = conn.close_code
            self._metrics.disconnect(close_code)
            await conn.stop()
            if close_code == closecodes.TOO_SLOW:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(websocket.close(closecodes.TOO_SLOW, "too slow"), 0.5)

    async def _read_loop(self, websocket: WebSocket, conn: Connection, guard: FloodGuard) -> int:
        async def handle(data: str | bytes) -> bool:
            """Answer one frame; False when the client keeps flooding after ``rate_limited``."""
            now = now_ms()
            if not guard.admit(now):
                self._metrics.error("rate_limited")
                conn.push(error_frame(RateLimited("too many frames", retry_after_ms=guard.retry_after_ms())))
                return not guard.strike(now)
            reply = answer(data)
            if reply is not PONG:
                self._metrics.error("bad_request")
            conn.push(reply)
            return True

        return await read_frames(websocket, conn, self._settings.frame_max_bytes, handle)
