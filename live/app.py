"""The Starlette application: explicit routes, and a lifespan that owns every resource."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from live.api import Api, error_response
from live.auctions import AuctionStore
from live.auctions_api import AuctionsApi
from live.cancellation import cancel_and_wait
from live.closecodes_js import closecodes_js
from live.drops import DropStore
from live.drops_api import DropsApi
from live.gateway import Gateway, KeepRawSend, RoomSocketShortcut
from live.heap import FrozenHeap, run_frozen_heap
from live.hls_files import HlsFiles
from live.hub import HubRegistry
from live.me import MeChannel
from live.me_orders import MyOrders
from live.metrics import Metrics
from live.redis_client import connect
from live.replay_api import ReplayApi
from live.sales import run_order_timers
from live.settings import Settings
from live.shares import Shares
from live.social_api import SocialApi
from live.store import RoomStore, now_ms
from live.video_presence import VideoPresence
from live.webhooks.deliverer import Deliverer
from live.webhooks.deliveries import Deliveries
from rooms.errors import ERRORS_BY_CODE, MethodNotAllowed, RoomError

log = logging.getLogger("live.app")

WEB_DIR = Path(os.environ.get("LIVE_WEB_DIR", Path(__file__).resolve().parent.parent / "web"))
HLS_JS_DIR = WEB_DIR / "node_modules" / "hls.js" / "dist"


async def run_pin_timers(store: RoomStore, interval_s: float = 0.2) -> None:
    """Let time act on the pins and drops of every room, also rooms nobody watches on this process."""
    while True:
        try:
            for room in await store.due_pins(now_ms()):
                tick = await store.tick_room(room, now_ms())
                await store.schedule_pin(room, tick.deadline_ms)
        except RedisError as err:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError from err  # a cancel that landed inside a Redis call
            log.warning("pin timers: %s", err)
        except RoomError as err:
            log.warning("pin timers: %s", err.message)
        await asyncio.sleep(interval_s)


def _load_video(settings: Settings) -> Any:
    try:
        from live.video import VideoService
        from live.video.hls_writer import HlsSettings
    except ImportError:  # aiortc missing: the server still runs rooms, chat and sales
        log.warning("video disabled: live.video could not be imported")
        return None
    hls = None
    if settings.hls_segment_ms:
        hls = HlsSettings(
            segment_ms=settings.hls_segment_ms,
            window=settings.hls_window,
            max_fps=settings.hls_max_fps,
            video_bitrate_bps=settings.hls_video_bitrate_bps,
        )
    return VideoService(
        ice_servers=list(settings.ice_servers),
        keyframe_interval_ms=settings.keyframe_interval_ms,
        hls=hls,
        hls_dir=settings.hls_directory,
        webrtc_viewers_max=settings.webrtc_viewers_max,
    )


def create_app(settings: Settings) -> Starlette:
    if not settings.node_id:
        settings = dataclasses.replace(settings, node_id=secrets.token_hex(6))
    redis = connect(settings.redis_url)
    # One connection per hub, each blocked in XREAD: no pool limit to wait on (live/redis_client.py).
    reader_redis = connect(settings.redis_url, socket_timeout_s=10.0, max_connections=0)
    metrics = Metrics()
    store = RoomStore(redis, settings)
    hubs = HubRegistry(store, reader_redis, settings, metrics)
    drops = DropStore(store)
    auctions = AuctionStore(store)
    gateway = Gateway(store, hubs, settings, metrics, drops, auctions)
    me = MeChannel(settings, metrics, store.social)  # /ws/me: one Pub/Sub subscriber per process
    my_orders = MyOrders(redis, settings)
    social = SocialApi(store.social, settings)
    shares = Shares(redis, settings)
    drops_api = DropsApi(drops, settings)
    auctions_api = AuctionsApi(auctions, settings)
    video = _load_video(settings)
    presence = VideoPresence(redis, settings.key_prefix, video) if video is not None else None
    api = Api(store, settings, video, metrics, presence)
    hls_files = HlsFiles(settings.hls_directory, settings.hls_segment_ms or 1000)
    replay_api = ReplayApi(store, settings)
    # The process holding a room's publisher records it (live/recordings.py).
    recordings = None
    if video is not None:
        from live.recordings import Recordings  # imports the video stack (aiortc), which is optional

        recordings = Recordings(store, settings, video)
    metrics.gauges["live_hubs"] = lambda: len(hubs)
    deliveries = Deliveries(redis, settings)
    heap = FrozenHeap()
    metrics.gauges["live_gc_frozen_objects"] = lambda: heap.frozen
    metrics.gauges["live_gc_thaws"] = lambda: heap.thaws
    if video is not None:
        metrics.gauges["live_video_publishers"] = lambda: video.stats().get("publishers", 0)
        metrics.gauges["live_video_viewers"] = lambda: video.stats().get("viewers", 0)
        metrics.gauges["live_video_hls_rooms"] = lambda: video.stats().get("hls_rooms", 0)
        metrics.gauges["live_video_hls_frames_encoded"] = lambda: video.stats().get("hls_frames_encoded", 0)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        timers = asyncio.create_task(run_pin_timers(store), name="pin-timers")
        # Webhooks go out from every process, off every request path (live/webhooks/deliverer.py).
        deliverer = Deliverer.start_for(settings, metrics) if settings.webhook_url else None
        hooks = asyncio.create_task(deliverer.run(), name="webhooks") if deliverer else None
        order_timers = asyncio.create_task(run_order_timers(api.sales, now_ms), name="order-timers")
        me_subscriber = asyncio.create_task(me.run(), name="me-subscriber")
        leases = asyncio.create_task(presence.run(), name="video-presence") if presence else None
        recorder = asyncio.create_task(recordings.run(), name="recordings") if recordings else None
        heap_task = (
            asyncio.create_task(run_frozen_heap(heap, settings.gc_freeze_s), name="frozen-heap")
            if settings.gc_freeze_s > 0
            else None
        )
        try:
            yield
        finally:
            # Cancelled until it stops: a cancel can be lost inside a Redis call (live/cancellation.py).
            await cancel_and_wait(timers)
            if hooks is not None and deliverer is not None:
                await cancel_and_wait(hooks)
                await deliverer.aclose()
            await cancel_and_wait(order_timers)
            if heap_task is not None:
                await cancel_and_wait(heap_task)
            await cancel_and_wait(me_subscriber)
            await hubs.close()
            if leases is not None and presence is not None:
                await cancel_and_wait(leases)
            if recorder is not None and recordings is not None:
                await cancel_and_wait(recorder)
                await recordings.close()  # every file finished while its relay still runs
            if video is not None:
                await video.close()
            if presence is not None:
                with contextlib.suppress(RedisError):
                    await presence.clear()
            await store.batcher.close()
            await redis.aclose()
            await reader_redis.aclose()

    async def metrics_endpoint(request: Request) -> Response:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    def page(name: str) -> Any:
        async def endpoint(request: Request) -> Response:
            path = WEB_DIR / name
            if not path.exists():
                return error_response(ERRORS_BY_CODE["not_found"]("page not found"))
            return FileResponse(path, headers={"Cache-Control": "no-cache"})

        return endpoint

    routes: list[Any] = [
        Route("/healthz", api.healthz),
        Route("/metrics", metrics_endpoint),
        Route("/closecodes.js", closecodes_js, methods=["GET"]),
        Route("/api/rooms", api.list_rooms, methods=["GET"]),
        Route("/api/rooms/{room}", api.room, methods=["GET", "PUT"]),
        Route("/api/rooms/{room}/start", api.start_room, methods=["POST"]),
        Route("/api/rooms/{room}/stop", api.stop_room, methods=["POST"]),
        Route("/api/rooms/{room}/pins", api.create_pin, methods=["POST"]),
        Route("/api/rooms/{room}/pins/{pin}", api.delete_pin, methods=["DELETE"]),
        Route("/api/rooms/{room}/orders", api.orders, methods=["GET"]),
        Route("/api/rooms/{room}/orders/{order}/confirm", api.confirm_order, methods=["POST"]),
        Route("/api/rooms/{room}/orders/{order}/cancel", api.cancel_order, methods=["POST"]),
        Route("/api/rooms/{room}/products", api.products, methods=["GET"]),
        Route("/api/rooms/{room}/products/{product}", api.product, methods=["PUT", "DELETE"]),
        Route("/api/rooms/{room}/moderation", api.moderation, methods=["POST"]),
        Route("/api/rooms/{room}/stats", api.stats, methods=["GET"]),
        Route("/api/rooms/{room}/publish", api.publish, methods=["POST"]),
        Route("/api/rooms/{room}/watch", api.watch, methods=["POST"]),
        Route("/api/me/orders", my_orders.endpoint, methods=["GET"]),
        Route("/api/follows", social.follows, methods=["GET"]),
        Route("/api/follows/{user}", social.follow, methods=["PUT", "DELETE"]),
        Route("/api/hosts/{user}", social.host, methods=["GET"]),
        Route("/api/rooms/{room}/reminder", social.reminder, methods=["PUT", "DELETE"]),
        Route("/api/rooms/{room}/audience", social.audience, methods=["GET"]),
        Route("/api/me/reminders", social.my_reminders, methods=["GET"]),
        Route("/api/rooms/{room}/shares", shares.endpoint, methods=["GET", "POST"]),
        Route("/api/me/commissions", shares.mine, methods=["GET"]),
        Route("/api/rooms/{room}/drops", drops_api.endpoint, methods=["GET", "POST"]),
        Route("/api/rooms/{room}/drops/{drop}", drops_api.one, methods=["GET"]),
        Route("/api/me/wallet", drops_api.wallet, methods=["GET"]),
        Route("/api/me/coupons", drops_api.coupons, methods=["GET"]),
        Route("/api/rooms/{room}/auctions", auctions_api.create, methods=["POST"]),
        Route("/api/rooms/{room}/auctions/{auction}", auctions_api.one, methods=["GET"]),
        Route("/api/webhooks/deliveries", deliveries.endpoint, methods=["GET"]),
        Route("/api/rooms/{room}/history", replay_api.history, methods=["GET"]),
        Route("/api/rooms/{room}/replay", replay_api.replay, methods=["GET"]),
        Route("/api/rooms/{room}/replay/{index:int}.webm", replay_api.video, methods=["GET"]),
        # Without --dev the path does not exist (404), as any unknown one.
        *([Route("/api/dev/token", api.dev_token, methods=["POST"])] if settings.dev else []),
        WebSocketRoute("/ws/me", me.endpoint),  # before /ws/{room}: "me" is a well-formed room id
        WebSocketRoute(
            "/ws/{room}", gateway.endpoint
        ),  # reached past RoomSocketShortcut only under a root path
        Route("/", page("index.html")),
        Route("/watch/{room}", page("watch.html")),
        Route("/host/{room}", page("host.html")),
        Route("/hls/{room}/{name}", hls_files.endpoint, methods=["GET", "HEAD"]),
        Route("/replay/{room}", page("replay.html")),
    ]
    if (WEB_DIR / "static").is_dir():
        routes.append(Mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static"))
    # hls.js, from the npm registry (web/package.json, installed by scripts/setup): not in the repo.
    if HLS_JS_DIR.is_dir():
        routes.append(Mount("/vendor/hls.js", StaticFiles(directory=HLS_JS_DIR), name="hls.js"))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            # Starlette names the route's methods in Allow; say them in the message too.
            allowed = sorted(m.strip() for m in (exc.headers or {}).get("Allow", "").split(",") if m.strip())
            told = [m for m in allowed if m != "HEAD" or "GET" not in allowed]
            response = error_response(MethodNotAllowed("use " + " or ".join(told)))
            response.headers["Allow"] = ", ".join(allowed)
            return response
        code = {404: "not_found", 413: "too_large"}.get(exc.status_code, "bad_request")
        err = ERRORS_BY_CODE[code](exc.detail or code)
        response = error_response(err)
        response.status_code = exc.status_code
        return response

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error},
        middleware=[Middleware(KeepRawSend), Middleware(RoomSocketShortcut, endpoint=gateway.endpoint)],
    )
    app.state.settings = settings
    app.state.store = store
    app.state.metrics = metrics
    return app
