"""``VideoService``: the one object the HTTP layer calls for WebRTC publish and watch.

It owns every peer connection, every room's relay, the worker threads that
encode, and the tasks it starts; ``close()`` ends them all. A room exists while
someone publishes in it. A new publish replaces the old publisher (whose
connection is closed) and viewers stay connected: they get the new picture at
its first frame. When the publisher leaves without being replaced, the room's
stream ends: every viewer's track ends and the server closes their connections.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from aiortc import RTCPeerConnection

from live.hls_paths import hls_path
from live.video.hls import HlsCounters, HlsLane
from live.video.hls_writer import HlsSettings
from live.video.lanes import LaneCounters
from live.video.offer import AUDIO_CODEC, VIDEO_CODEC, Offer, Role, parse_offer
from live.video.peers import answer_offer, forward_keyframe_requests, prefer_codec, rtc_configuration
from live.video.relay import RelaySettings, RoomRelay
from live.video.tracks import RelayTrack
from rooms.errors import BadRequest, Conflict, Unavailable, WatchHls
from rooms.ids import ROOM_ID_RE, parse_room_id

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 30.0  # a peer connection not connected by then is closed (ICE never completed)
ENDED_STATES = ("failed", "closed")


class _Kind(enum.Enum):
    PUBLISHER = "publisher"
    VIEWER = "viewer"


@dataclass(eq=False, slots=True)
class _Peer:
    pc: RTCPeerConnection
    room: str
    kind: _Kind
    watchdog: asyncio.Task[None] | None = None
    closing: bool = False


@dataclass(eq=False, slots=True)
class _Room:
    relay: RoomRelay
    hls: HlsLane | None = None
    publisher: _Peer | None = None
    viewers: set[_Peer] = field(default_factory=set)


class VideoService:
    """WebRTC publish and watch, encoded once per room.

    ``ice_servers``: STUN/TURN URLs (``"stun:host:port"``) given to every peer
    connection; none are needed on a LAN or loopback.
    ``keyframe_interval_ms``: the longest a viewer (a late joiner, or one that
    lost packets) waits for a keyframe; 0 = keyframes only when a viewer joins
    or asks (PLI/FIR).
    ``hls``: write each room's stream as HLS too, into ``hls_dir/<room>/`` (None = no HLS).
    ``webrtc_viewers_max``: WebRTC viewers over all rooms; past it ``watch`` raises ``WatchHls``
    (or ``Unavailable`` without HLS). None = no cap, 0 = no WebRTC viewers.
    """

    def __init__(
        self,
        *,
        ice_servers: list[str] | None = None,
        keyframe_interval_ms: int = 1000,
        hls: HlsSettings | None = None,
        hls_dir: str | Path | None = None,
        webrtc_viewers_max: int | None = None,
    ) -> None:
        if keyframe_interval_ms < 0:
            raise ValueError("keyframe_interval_ms must be >= 0")
        if hls is not None and hls_dir is None:
            raise ValueError("hls needs hls_dir")
        self._configuration = rtc_configuration(ice_servers or [])
        self._settings = RelaySettings(keyframe_interval_ms=keyframe_interval_ms)
        self._hls = hls
        self._hls_dir = Path(hls_dir) if hls_dir is not None else None
        self._webrtc_viewers_max = webrtc_viewers_max
        self._hls_counters = HlsCounters()
        # Our own pool, not the loop's default one: close() can then join every thread it started.
        # Encoding is CPU-bound, so more threads than cores would only queue in the kernel instead.
        self._executor = ThreadPoolExecutor(
            max_workers=min(4, max(2, os.cpu_count() or 2)), thread_name_prefix="live-video"
        )
        self._counters = LaneCounters()
        self._rooms: dict[str, _Room] = {}
        self._peers: set[_Peer] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # ---- the API the HTTP layer calls -------------------------------------------------

    async def publish(self, room: str, offer: object) -> dict[str, str]:
        """Take the host's offer (camera and/or microphone) for ``room``; return the answer.

        Replaces whoever published in the room before. Raises ``BadRequest`` for
        a body that is not a usable ``{"sdp", "type": "offer"}``.
        """
        room_id = parse_room_id(room)
        self._check_open()
        checked = parse_offer(offer, Role.PUBLISH)
        peer = self._new_peer(room_id, _Kind.PUBLISHER)
        tracks: list[Any] = []
        peer.pc.on("track", tracks.append)  # fired inside setRemoteDescription
        answer = await self._negotiate(peer, checked)
        if self._closed:
            await self._close_peer(peer)
            raise Unavailable("video service is shutting down")
        current = self._rooms.get(room_id)
        if current is None:
            current = self._new_room(room_id)
            self._rooms[room_id] = current
        old, current.publisher = current.publisher, peer
        current.relay.set_source(tracks, on_ended=lambda: self._publisher_left(peer))
        self._watch_connection(peer)
        if old is not None:
            logger.info("room %s: publisher replaced", room_id)
            await self._close_peer(old)
        return answer

    async def watch(self, room: str, offer: object) -> dict[str, str]:
        """Take a viewer's offer (receive-only) for ``room``; return the answer.

        Raises ``BadRequest`` for an unusable body (the viewer must accept VP8
        video and Opus audio), ``Conflict`` when nobody publishes in the room.
        """
        room_id = parse_room_id(room)
        self._check_open()
        checked = parse_offer(offer, Role.WATCH)
        current = self._rooms.get(room_id)
        if current is None or current.publisher is None:
            raise Conflict("nobody is publishing in this room")
        self._check_room_for_viewer(room_id, current)
        peer = self._new_peer(room_id, _Kind.VIEWER)
        transceivers = []
        for kind in checked.kinds:
            track = RelayTrack(current.relay.fanout(kind))
            transceiver = peer.pc.addTransceiver(track, direction="sendonly")
            prefer_codec(transceiver, VIDEO_CODEC if kind == "video" else AUDIO_CODEC)
            transceivers.append(transceiver)
        answer = await self._negotiate(peer, checked)
        if self._closed:
            await self._close_peer(peer)
            raise Unavailable("video service is shutting down")
        if self._rooms.get(room_id) is not current:
            # The publisher left while we were answering.
            await self._close_peer(peer)
            raise Conflict("nobody is publishing in this room")
        for transceiver in transceivers:
            if transceiver.kind == "video":
                forward_keyframe_requests(transceiver.sender, current.relay.request_keyframe)
        current.viewers.add(peer)
        self._watch_connection(peer)
        return answer

    def is_publishing(self, room: str) -> bool:
        """Whether someone publishes in ``room`` now (a watch would be answered)."""
        if not ROOM_ID_RE.fullmatch(room):
            return False
        current = self._rooms.get(room)
        return current is not None and current.publisher is not None

    def hls_path(self, room: str) -> str | None:
        """The room's playlist path while it is being written here, else None."""
        current = self._rooms.get(room) if ROOM_ID_RE.fullmatch(room) else None
        if current is None or current.publisher is None or current.hls is None:
            return None
        return hls_path(room)

    def publishing_rooms(self) -> list[str]:
        """The rooms someone publishes in on this process."""
        return [room for room, r in self._rooms.items() if r.publisher is not None]

    def publishing(self) -> dict[str, RoomRelay]:
        """The rooms someone publishes in now, with their relays (what a recorder subscribes to)."""
        return {room: r.relay for room, r in self._rooms.items() if r.publisher is not None}

    def stats(self) -> dict[str, int | float]:
        """Gauges (publishers, viewers, open peer connections) and cumulative counters, for /metrics."""
        out: dict[str, int | float] = {
            "publishers": sum(1 for r in self._rooms.values() if r.publisher is not None),
            "viewers": sum(len(r.viewers) for r in self._rooms.values()),
            "peer_connections": len(self._peers),
            "hls_rooms": sum(1 for r in self._rooms.values() if r.hls is not None),
        }
        for counters in (self._counters, self._hls_counters):
            for f in fields(counters):
                out[f.name] = getattr(counters, f.name)
        return out

    async def close(self) -> None:
        """Close every peer connection, stop every task and worker thread. Idempotent."""
        if self._closed and not self._peers and not self._tasks:
            return
        self._closed = True
        rooms = list(self._rooms.values())
        self._rooms.clear()
        for r in rooms:
            r.publisher = None
        await asyncio.gather(*(r.relay.close() for r in rooms))
        await asyncio.gather(*(self._close_peer(p) for p in list(self._peers)))
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        # Every lane has finished its last encode, so this returns at once: nothing is running.
        self._executor.shutdown(wait=True)

    # ---- rooms --------------------------------------------------------------------------

    def _new_room(self, room_id: str) -> _Room:
        hls = None
        if self._hls is not None and self._hls_dir is not None:
            hls = HlsLane(
                directory=self._hls_dir / room_id,
                settings=self._hls,
                executor=self._executor,
                counters=self._hls_counters,
            )
        relay = RoomRelay(
            settings=self._settings,
            executor=self._executor,
            counters=self._counters,
            sinks=[hls] if hls is not None else [],
        )
        return _Room(relay, hls=hls)

    def _check_room_for_viewer(self, room_id: str, current: _Room) -> None:
        """Refuse a WebRTC viewer past ``webrtc_viewers_max``: HLS instead, if the room has it."""
        cap = self._webrtc_viewers_max
        # Viewers still negotiating count too: a burst of watches must not overshoot the cap.
        if cap is None or sum(1 for p in self._peers if p.kind is _Kind.VIEWER) < cap:
            return
        if current.hls is not None:
            raise WatchHls("this server takes no more WebRTC viewers: play HLS", hls=hls_path(room_id))
        raise Unavailable("this server takes no more WebRTC viewers")

    # ---- peers --------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise Unavailable("video service is shutting down")

    def _new_peer(self, room_id: str, kind: _Kind) -> _Peer:
        peer = _Peer(RTCPeerConnection(configuration=self._configuration), room_id, kind)
        self._peers.add(peer)
        return peer

    async def _negotiate(self, peer: _Peer, offer: Offer) -> dict[str, str]:
        try:
            return await answer_offer(peer.pc, offer.sdp)
        except Exception as exc:
            # The offer passed our checks but aiortc refused it (no common codec, bad
            # candidate, ...): the client's fault as far as we can tell.
            await self._close_peer(peer)
            logger.info("offer refused for room %s: %r", peer.room, exc)
            raise BadRequest(f"offer refused: {type(exc).__name__}: {str(exc)[:200]}") from None

    def _watch_connection(self, peer: _Peer) -> None:
        """From now on the peer's end (failed, closed, never connected) releases it."""

        def on_state() -> None:
            state = peer.pc.connectionState
            if state == "connected" and peer.watchdog is not None:
                peer.watchdog.cancel()
                peer.watchdog = None
            elif state in ENDED_STATES:
                self._peer_gone(peer)

        peer.pc.on("connectionstatechange", on_state)
        if peer.pc.connectionState in ENDED_STATES:
            self._peer_gone(peer)
        elif peer.pc.connectionState != "connected":
            peer.watchdog = self._spawn(self._connect_watchdog(peer))

    async def _connect_watchdog(self, peer: _Peer) -> None:
        await asyncio.sleep(CONNECT_TIMEOUT_S)
        peer.watchdog = None
        if peer.pc.connectionState != "connected":
            logger.info("room %s: %s never connected, closing it", peer.room, peer.kind.value)
            self._peer_gone(peer)

    def _peer_gone(self, peer: _Peer) -> None:
        if peer.kind is _Kind.PUBLISHER:
            self._publisher_left(peer)
        else:
            current = self._rooms.get(peer.room)
            if current is not None:
                current.viewers.discard(peer)
            self._spawn(self._close_peer(peer))

    def _publisher_left(self, peer: _Peer) -> None:
        current = self._rooms.get(peer.room)
        if current is not None and current.publisher is peer:
            # Not replaced: the room's stream is over. Viewers' tracks end, and their
            # connections are closed too (a new publish needs a new watch).
            logger.info("room %s: publisher left, ending the stream", peer.room)
            del self._rooms[peer.room]
            current.publisher = None
            self._spawn(self._end_room(current))
        self._spawn(self._close_peer(peer))

    async def _end_room(self, current: _Room) -> None:
        await current.relay.close()
        viewers = list(current.viewers)
        current.viewers.clear()
        await asyncio.gather(*(self._close_peer(v) for v in viewers))

    async def _close_peer(self, peer: _Peer) -> None:
        if peer.closing:
            return
        peer.closing = True
        if peer.watchdog is not None and peer.watchdog is not asyncio.current_task():
            peer.watchdog.cancel()
        peer.watchdog = None
        try:
            await peer.pc.close()
        finally:
            self._peers.discard(peer)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
