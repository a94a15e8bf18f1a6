"""nginx (deploy/nginx.conf) in front of two backends: round robin, WebSocket upgrade, resume anywhere;
HLS straight from the backends' shared directory."""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import httpx
import numpy as np
import pytest

from live.video.hls_writer import HlsSettings, HlsWriter
from tests.scale.procs import NGINX, LiveProc, NginxProc, Resumer
from tests.support import Client, make_room

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed")


@pytest.fixture
def nginx_for() -> object:
    started: list[NginxProc] = []

    def start(backends: list[LiveProc]) -> NginxProc:
        proc = NginxProc([b.url.removeprefix("http://") for b in backends])
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


def _connections(server: LiveProc) -> int:
    text = httpx.get(server.url + "/metrics", timeout=3).text
    return int(re.search(r"^live_connections (\d+)$", text, re.M).group(1))  # type: ignore[union-attr]


async def test_viewers_through_nginx_survive_a_killed_backend(
    start_live: Callable[..., LiveProc], nginx_for: Callable[[list[LiveProc]], NginxProc]
) -> None:
    a, b = start_live(), start_live()
    front = nginx_for([a, b])
    room, _ = await make_room(front)  # type: ignore[arg-type]
    viewers = [await Resumer([front], room, front.token(name=f"V{i}", sub=f"v{i}")).start() for i in range(6)]
    on_a, on_b = _connections(a), _connections(b)
    assert on_a + on_b == 6 and on_a > 0 and on_b > 0, (on_a, on_b)  # round robin, no stickiness
    poster = await Client.connect(b, room, b.token(name="Poster", sub="poster"))  # straight to b
    last = 0
    for i in range(40):
        if i == 15:
            a.kill()
        ack = await poster.request({"t": "chat", "id": f"c{i}", "text": f"line {i}"})
        assert ack["t"] == "ack"
        last = ack["seq"]
        await asyncio.sleep(0.02)
    await asyncio.wait_for(_until(lambda: all(v.last_seq >= last for v in viewers)), 15)
    for v in viewers:
        await v.close()
        seqs = v.seqs()
        assert seqs == list(range(seqs[0], last + 1)), "a gap or a duplicate"
        assert all(h["resumed"] for h in v.hellos[1:])
    assert sum(len(v.reconnects) for v in viewers) == on_a  # exactly the viewers that were on a moved
    # And the HTTP API still answers through nginx, from b.
    async with httpx.AsyncClient(timeout=5) as http:
        assert (await http.get(front.url + f"/api/rooms/{room}")).json()["seq"] == last
    await poster.close()


async def _until(pred: Callable[[], bool]) -> None:
    while not pred():
        await asyncio.sleep(0.05)


def _write_stream(directory: Path, seconds: int = 4, fps: int = 15) -> None:
    """A real stream's files, as a room's HLS lane writes them (live/video/hls_writer.py)."""
    writer = HlsWriter(directory, HlsSettings(segment_ms=1000, window=6))
    for i in range(seconds * fps):
        y = np.full((240 * 3 // 2, 320), 128, np.uint8)
        y[:240] = (np.arange(320)[None, :] + i * 4) % 256
        writer.write([(i / fps, av.VideoFrame.from_ndarray(y, format="yuv420p"))], [], i / fps)
    # Not closed: a live stream's playlist stays open-ended.


async def test_nginx_serves_hls_from_the_shared_directory(start_live: Callable[..., LiveProc]) -> None:
    # nginx's workers run as an unprivileged user: the directory must be theirs to read, which
    # pytest's own tmp_path (0700) is not.
    hls = Path(tempfile.mkdtemp(prefix="live-hls-"))
    os.chmod(hls, 0o755)
    backend = start_live(env={"LIVE_HLS_DIR": str(hls)})
    front = NginxProc([backend.url.removeprefix("http://")], hls_dir=hls)
    try:
        room, _ = await make_room(front)  # type: ignore[arg-type]
        path = f"/hls/{room}/index.m3u8"
        async with httpx.AsyncClient(timeout=5) as http:
            nobody = await http.get(front.url + path)
            assert nobody.status_code == 404  # nobody publishes
            assert nobody.headers["access-control-allow-origin"] == "*"  # readable from any site
            await asyncio.to_thread(_write_stream, hls / room)
            via_nginx = await http.get(front.url + path)
            via_backend = await http.get(backend.url + path)
            assert via_nginx.status_code == 200, via_nginx.text
            assert via_nginx.text == via_backend.text
            # The same headers as the server's own, from nginx alone.
            for answer in (via_nginx, via_backend):
                assert answer.headers["content-type"] == "application/vnd.apple.mpegurl"
                assert answer.headers["cache-control"] == "public, max-age=1"
                assert abs(float(answer.headers["x-live-clock"]) - time.time()) < 5
                assert answer.headers["access-control-allow-origin"] == "*"
                assert answer.headers["access-control-expose-headers"] == "X-Live-Clock"
            init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', via_nginx.text).group(1)  # type: ignore[union-attr]
            segment = re.findall(r"^(\S+\.m4s)$", via_nginx.text, re.M)[0]
            parts = []
            for name in (init, segment):
                answer = await http.get(f"{front.url}/hls/{room}/{name}")
                assert answer.status_code == 200
                assert answer.headers["content-type"] == "video/mp4"
                assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
                assert answer.content == (await http.get(f"{backend.url}/hls/{room}/{name}")).content
                parts.append(answer.content)
            container = av.open(io.BytesIO(parts[0] + parts[1]), format="mp4")
            pictures = list(container.decode(video=0))
            container.close()
            assert 13 <= len(pictures) <= 16  # one second at 15 fps
            assert (await http.get(f"{front.url}/hls/{room}/nothing-1.m4s")).status_code == 404
    finally:
        front.stop()
        shutil.rmtree(hls, ignore_errors=True)
