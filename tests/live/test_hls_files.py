"""``GET /hls/{room}/{file}`` while the writer works: a playlist renamed over, a segment deleted.

The writer replaces the playlist by a rename every segment and deletes segments that left it.
These tests make that happen at the worst moment, between the answer's headers and its body
(inside ``send``), and check that what arrives is one whole file whose length is the
Content-Length. Served by the real endpoint over a real directory, called as ASGI.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from live.hls_files import CHUNK_BYTES, HlsFiles

ROOM = "r-hls"
OLD = b"#EXTM3U\n#EXT-X-VERSION:7\n#EXTINF:1.0,\nabc-1.m4s\n"
NEW = OLD + b"#EXTINF:1.0,\nabc-2.m4s\n#EXTINF:1.0,\nabc-3.m4s\n"


def _app(directory: Path) -> Starlette:
    files = HlsFiles(directory, segment_ms=1000)
    return Starlette(routes=[Route("/hls/{room}/{name}", files.endpoint, methods=["GET", "HEAD"])])


async def _get(
    app: Starlette, name: str, at_start: Callable[[], None] = lambda: None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    """One request; ``at_start`` runs when the headers have been sent and before any body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": f"/hls/{ROOM}/{name}",
        "raw_path": f"/hls/{ROOM}/{name}".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}
            at_start()
        else:
            answer["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return answer["status"], answer["headers"], answer["body"]


def _rename_over(path: Path, content: bytes) -> None:
    """What FFmpeg's temp_file flag does: write a new file, then rename it over the old one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)


@pytest.fixture
def room_dir(tmp_path: Path) -> Path:
    directory = tmp_path / ROOM
    directory.mkdir()
    return directory


async def test_a_playlist_renamed_over_mid_answer_arrives_whole_as_long_as_it_says(room_dir: Path) -> None:
    playlist = room_dir / "index.m3u8"
    playlist.write_bytes(OLD)
    app = _app(room_dir.parent)
    status, headers, body = await _get(app, "index.m3u8", lambda: _rename_over(playlist, NEW))
    assert status == 200
    assert body == OLD  # the file that was open when the answer began
    assert int(headers["content-length"]) == len(body)
    assert headers["content-type"] == "application/vnd.apple.mpegurl"
    assert headers["access-control-allow-origin"] == "*"  # a player on any site may read it
    assert headers["access-control-expose-headers"] == "X-Live-Clock"
    # The next request reads the new one.
    status, headers, body = await _get(app, "index.m3u8")
    assert (status, body, int(headers["content-length"])) == (200, NEW, len(NEW))


async def test_a_segment_deleted_mid_answer_still_arrives_whole(room_dir: Path) -> None:
    segment = room_dir / "abc-7.m4s"
    content = os.urandom(3 * CHUNK_BYTES + 123)  # several chunks
    segment.write_bytes(content)
    status, headers, body = await _get(_app(room_dir.parent), "abc-7.m4s", segment.unlink)
    assert status == 200
    assert body == content and int(headers["content-length"]) == len(content)
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert float(headers["x-live-clock"]) > 0
    assert headers["access-control-allow-origin"] == "*"
    # Gone now: the plain 404 of a stream that is not there, readable from any site too (hls.js
    # on another origin would otherwise see a network failure, not "nobody publishes").
    status, headers, _ = await _get(_app(room_dir.parent), "abc-7.m4s")
    assert status == 404 and headers["access-control-allow-origin"] == "*"


async def test_head_gives_the_length(room_dir: Path) -> None:
    (room_dir / "abc-init.mp4").write_bytes(b"x" * 500)
    status, headers, body = await _get(_app(room_dir.parent), "abc-init.mp4", method="HEAD")
    assert status == 200 and headers["content-length"] == "500" and body == b""
    (room_dir / "index.m3u8").write_bytes(OLD)
    status, headers, _ = await _get(_app(room_dir.parent), "index.m3u8", method="HEAD")
    assert status == 200 and headers["content-length"] == str(len(OLD)) and "x-live-clock" in headers


async def test_missing_stale_or_unlisted_files_are_404(room_dir: Path) -> None:
    app = _app(room_dir.parent)
    assert (await _get(app, "index.m3u8"))[0] == 404  # nobody publishes
    playlist = room_dir / "index.m3u8"
    playlist.write_bytes(OLD)
    stale = time.time() - 60  # a killed writer's last playlist
    os.utime(playlist, (stale, stale))
    assert (await _get(app, "index.m3u8"))[0] == 404
    (room_dir / "notes.txt").write_bytes(b"secret")
    assert (await _get(app, "notes.txt"))[0] == 404
    (room_dir / "abc-9.m4s").mkdir()  # a directory under a segment's name
    assert (await _get(app, "abc-9.m4s"))[0] == 404
