"""``GET /hls/{room}/{file}``: a room's HLS playlist and segments, read from the HLS directory.

Whichever process wrote them, any process serves them when the directory is shared (a local
disk for ``--workers N``, NFS or the like across machines), and nginx can serve the very same
files without Python (deploy/nginx.conf). The headers are what a CDN in front needs: segments
never change under their name (``immutable``), the playlist is fresh for one second.

A file is opened before anything is answered, and its size is the open file's: the writer
replaces the playlist by a rename every segment and deletes old segments, so a path stat'd a
moment before could name another file by the time it is read (a Content-Length that is not the
body's, which a player sees as a failed load).

Every answer, a 404 included, may be read by a page of any origin (``Access-Control-Allow-Origin:
*``, with ``X-Live-Clock`` exposed): the files are public, and a shop's own site may embed a
player that fetches them from this server or its CDN with hls.js, which would otherwise see a
404 as a network failure.

Every answer also carries ``X-Live-Clock``, this machine's time in seconds with milliseconds
(nginx's ``$msec`` format): the player measures its clock's offset from it, to show how far
behind the live picture it is (docs/video.md#delay).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import BinaryIO

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from live.api import error_response
from live.hls_paths import PLAYLIST, SEGMENT_NAME_RE
from rooms.errors import NotFound
from rooms.ids import ROOM_ID_RE

PLAYLIST_CACHE = "public, max-age=1"
SEGMENT_CACHE = "public, max-age=31536000, immutable"
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp4"
STALE_AFTER_SEGMENTS = 3  # a playlist not rewritten for this many segments' time is a dead writer's
ANY_ORIGIN = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "X-Live-Clock"}
CHUNK_BYTES = 64 * 1024  # a segment is sent in pieces of this size, as Starlette's FileResponse does


def _open(path: Path) -> tuple[BinaryIO, os.stat_result] | None:
    """``path`` open for reading, with the open file's own stat; None if there is no such file."""
    try:
        file = path.open("rb")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    return file, os.fstat(file.fileno())


def _read_whole(path: Path) -> tuple[bytes, os.stat_result] | None:
    """What ``path`` holds, with the stat of the file that was read; None if there is no such file."""
    opened = _open(path)
    if opened is None:
        return None
    file, stat = opened
    with file:
        return file.read(), stat


class OpenFileResponse(Response):
    """A file already open, sent in chunks with its size as Content-Length, and closed at the
    end whether it was all sent or not."""

    def __init__(self, file: BinaryIO, size: int, media_type: str, headers: dict[str, str]) -> None:
        self._file = file
        super().__init__(None, media_type=media_type, headers={**headers, "Content-Length": str(size)})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            start = {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            await send(start)
            if scope["method"] == "HEAD":  # the player's clock probe: headers only
                await send({"type": "http.response.body", "body": b""})
                return
            while True:
                chunk = await asyncio.to_thread(self._file.read, CHUNK_BYTES)
                await send({"type": "http.response.body", "body": chunk, "more_body": bool(chunk)})
                if not chunk:
                    return
        finally:
            self._file.close()


def clock_header() -> str:
    """Now, as nginx's ``$msec`` says it: seconds since the epoch with three decimals."""
    return f"{time.time():.3f}"


class HlsFiles:
    """Serves ``directory/<room>/<file>``. ``segment_ms`` tells a dead writer's playlist from a live one."""

    def __init__(self, directory: str | Path, segment_ms: int) -> None:
        self._directory = Path(directory)
        self._stale_s = max(3.0, STALE_AFTER_SEGMENTS * segment_ms / 1000)

    async def endpoint(self, request: Request) -> Response:
        room, name = request.path_params["room"], request.path_params["name"]
        if not ROOM_ID_RE.fullmatch(room):
            return _gone()
        path = self._directory / room / name
        if name == PLAYLIST:
            read = await asyncio.to_thread(_read_whole, path)  # a few hundred bytes
            # A process that was killed leaves its last playlist behind: a room whose playlist
            # has not been rewritten for a while has nobody publishing, whatever the file says.
            if read is None or time.time() - read[1].st_mtime > self._stale_s:
                return _gone()
            headers = {"Cache-Control": PLAYLIST_CACHE, "X-Live-Clock": clock_header(), **ANY_ORIGIN}
            return Response(read[0], media_type=PLAYLIST_TYPE, headers=headers)
        if not SEGMENT_NAME_RE.fullmatch(name):
            return _gone()
        opened = await asyncio.to_thread(_open, path)
        if opened is None:
            return _gone()
        file, stat = opened
        headers = {"Cache-Control": SEGMENT_CACHE, "X-Live-Clock": clock_header(), **ANY_ORIGIN}
        return OpenFileResponse(file, stat.st_size, SEGMENT_TYPE, headers)


def _gone() -> Response:
    """The 404 of a file that is not there: nobody publishes (or never did, under that name)."""
    gone = error_response(NotFound("nobody is publishing in this room"))
    gone.headers["Cache-Control"] = "no-cache"
    gone.headers["X-Live-Clock"] = clock_header()
    gone.headers.update(ANY_ORIGIN)
    return gone
