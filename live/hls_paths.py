"""The names of a room's HLS files and URLs (contract §13), for their writer and their readers."""

from __future__ import annotations

import re

PLAYLIST = "index.m3u8"
# A segment or init file: the stream's id, a dash, a number or "init" (live/video/hls_writer.py).
SEGMENT_NAME_RE = re.compile(r"^[a-z0-9]{1,16}-(?:\d{1,10}\.m4s|init\.mp4)$")


def hls_path(room: str) -> str:
    """The playlist's URL path for ``room``: what ``hello.room.hls`` and the 409 of ``watch`` carry."""
    return f"/hls/{room}/{PLAYLIST}"
