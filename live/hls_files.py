"""``GET /hls/{room}/{file}``: a room's HLS playlist and segments, read from the HLS directory.

Whichever process wrote them, any process serves them when the directory is shared (a local
disk for ``--workers N``, NFS or the like across machines), and nginx can serve the very same
files without Python (deploy/nginx.conf). The headers are what a CDN in front needs: segments
never change under their name (``immutable``), the playlist is fresh for one second.

Every answer also carries ``X-Live-Clock``, this machine's time in seconds with milliseconds
(nginx's ``$msec`` format): the player measures its clock's offset from it, to show how far
behind the live picture it is (docs/video.md#delay).
"""

from __future__ import annotations

import time
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from live.api import error_response
from live.hls_paths import PLAYLIST, SEGMENT_NAME_RE
from rooms.errors import NotFound
from rooms.ids import ROOM_ID_RE

PLAYLIST_CACHE = "public, max-age=1"
SEGMENT_CACHE = "public, max-age=31536000, immutable"
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp4"
STALE_AFTER_SEGMENTS = 3  # a playlist not rewritten for this many segments' time is a dead writer's


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
        gone = error_response(NotFound("nobody is publishing in this room"))
        gone.headers["Cache-Control"] = "no-cache"
        gone.headers["X-Live-Clock"] = clock_header()
        if not ROOM_ID_RE.fullmatch(room):
            return gone
        path = self._directory / room / name
        if name == PLAYLIST:
            # A process that was killed leaves its last playlist behind: a room whose playlist
            # has not been rewritten for a while has nobody publishing, whatever the file says.
            try:
                stat = path.stat()
            except FileNotFoundError:
                return gone
            if time.time() - stat.st_mtime > self._stale_s:
                return gone
            headers = {"Cache-Control": PLAYLIST_CACHE, "X-Live-Clock": clock_header()}
            return FileResponse(path, media_type=PLAYLIST_TYPE, headers=headers, stat_result=stat)
        if not SEGMENT_NAME_RE.fullmatch(name):
            return gone
        try:
            stat = path.stat()
        except FileNotFoundError:
            return gone
        headers = {"Cache-Control": SEGMENT_CACHE, "X-Live-Clock": clock_header()}
        return FileResponse(path, media_type=SEGMENT_TYPE, headers=headers, stat_result=stat)
