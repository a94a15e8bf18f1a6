"""The replay endpoints (contract §12): the whole history in pages, the replay, its video files."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from live.api import JSONResponse, api_errors
from live.history import every_event, parse_page_args, read_page
from live.settings import Settings, recordings_dir
from live.store import RoomStore
from rooms.errors import NotFound
from rooms.ids import parse_room_id
from rooms.moments import Session, product_moments, replay_timeline

CACHED_REPLAYS = 64  # replays kept computed per process (an ended show's never changes)


class ReplayApi:
    def __init__(self, store: RoomStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._dir = recordings_dir(settings).resolve()
        # room -> (its latest seq and recordings list when computed, the body): a replay reads
        # the whole history, so it is computed again only when the history or the files changed.
        self._cache: OrderedDict[str, tuple[tuple[str, tuple[str, ...]], bytes]] = OrderedDict()

    async def _room(self, request: Request) -> tuple[str, str]:
        """The room of the path and its status; 404 for a room that does not exist."""
        room = parse_room_id(request.path_params["room"])
        status = await self.store.redis.hget(self.store.keys(room).meta, "status")
        if status is None:
            raise NotFound("no such room")
        return room, str(status)

    @api_errors
    async def history(self, request: Request) -> Response:
        """``GET /api/rooms/{room}/history?after=SEQ&limit=N`` (anyone): one page, oldest first."""
        room, _ = await self._room(request)
        after, limit = parse_page_args(request.query_params.get("after"), request.query_params.get("limit"))
        page = await read_page(self.store, room, after, limit)
        body = orjson.dumps({"events": [event for _, event in page.events], "next": page.next})
        return JSONResponse(body)

    async def _sessions(self, room: str, raw: list[str] | None = None) -> list[tuple[int, dict[str, Any]]]:
        """The room's finished recordings, with their index in the list (their URL)."""
        if raw is None:
            raw = await self.store.redis.lrange(self.store.keys(room).recordings, 0, -1)
        out = []
        for index, text in enumerate(raw):
            entry = orjson.loads(text)
            if entry.get("state") == "done" and entry.get("started_ms") and entry.get("duration_ms"):
                out.append((index, entry))
        return out

    @api_errors
    async def replay(self, request: Request) -> Response:
        """``GET /api/rooms/{room}/replay`` (anyone): the video, where it starts, and its moments."""
        room, status = await self._room(request)
        k = self.store.keys(room)
        async with self.store.redis.pipeline(transaction=False) as pipe:
            pipe.hget(k.meta, "seq")
            pipe.lrange(k.recordings, 0, -1)
            seq, raw = await pipe.execute()
        tag = (f"{seq}:{status}", tuple(raw))
        cached = self._cache.get(room)
        if cached is not None and cached[0] == tag:
            self._cache.move_to_end(room)
            return JSONResponse(cached[1])
        recorded = await self._sessions(room, raw)
        sessions = [Session(int(e["started_ms"]), int(e["duration_ms"])) for _, e in recorded]
        events = [pair async for pair in every_event(self.store, room)]
        timeline = replay_timeline(sessions, events)
        moments = product_moments(events, timeline)
        videos = [
            {
                "url": f"/api/rooms/{room}/replay/{index}.webm",
                "at_ms": start,
                "started_ms": session.started_ms,
                "duration_ms": session.duration_ms,
            }
            for (index, _), session, start in zip(recorded, timeline.sessions, timeline.starts, strict=True)
        ]
        body = {
            "room": room,
            "status": status,
            "video_url": videos[0]["url"] if videos else None,
            "videos": videos,
            "started_ms": timeline.origin_ms,
            "duration_ms": timeline.duration_ms,
            "moments": [m.to_dict() for m in moments],
        }
        encoded = orjson.dumps(body)
        self._cache[room] = (tag, encoded)
        if len(self._cache) > CACHED_REPLAYS:
            self._cache.popitem(last=False)
        return JSONResponse(encoded)

    @api_errors
    async def video(self, request: Request) -> Response:
        """``GET /api/rooms/{room}/replay/{n}.webm``: one recording, with HTTP range requests."""
        room, _ = await self._room(request)
        index = int(request.path_params["index"])
        entry = dict(await self._sessions(room)).get(index)
        if entry is None:
            raise NotFound("no such recording")
        path = (self._dir / entry["file"]).resolve()
        # The name comes from Redis: never serve anything outside the recordings directory.
        if not path.is_relative_to(self._dir) or not path.is_file():
            raise NotFound("this recording is not on this server's disk")
        return FileResponse(
            Path(path), media_type="video/webm", headers={"Cache-Control": "public, max-age=3600"}
        )
