"""WebRTC and HLS side by side on a real ``live serve``: server CPU per viewer, and the delay of each path.

    python bench/video.py --paths [--hls-counts 1,10,100,1000] [--webrtc-counts 1,10] [--window 8]

One run, on 127.0.0.1 only: a redis-server, one ``live serve`` (HLS on, its HLS directory shared
with nginx), nginx from deploy/nginx.conf in front. This process publishes a 640x360 30 fps
picture (a moving gradient that carries its frame number in a band of blocks) and a tone, and
plays the viewers:

- HLS viewers: what hls.js does, over plain HTTP/1.1 keep-alive: the playlist every second and
  each new segment once, served by the server itself, then by nginx from the files alone;
- WebRTC viewers: real aiortc peers (their decoding happens in this process, not the server's).

The server's CPU (every thread of its process: decoding, both encodes, HTTP) and nginx's are
read from /proc before and after each window. The HLS encode alone is measured too, by running
the room's writer on the same picture in this process (thread CPU time).

Delay, glass to glass: headless Chromium plays the room with ``?video=webrtc`` and ``?video=hls``;
a canvas reads the frame number on screen, and the time since this process made that picture is
the delay (one machine, one clock). The delay the player itself shows (measured from the server's
receipt of the picture, docs/video.md#delay) is sampled beside it.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import os
import random
import re
import shutil
import stat
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from video import BenchViewer, Tone, loopback_only, offer_of  # noqa: E402  (bench/video.py, beside this file)

from kit.procs import LOAD_TEST_ENV, NginxProc, RedisProc, ServerProc, descendants  # noqa: E402
from kit.tokens import SECRET, token_for  # noqa: E402
from live.video.hls_writer import HlsSettings, HlsWriter  # noqa: E402

WIDTH, HEIGHT, FPS = 640, 360, 30
BITS = 16
BLOCK = WIDTH // BITS  # 40 px
BAND = 40  # rows of the frame-number band
ROOM = "paths"
# The server's own aioice would offer every interface but loopback; this bench stays on 127.0.0.1.
BOOT = (
    "import sys, aioice.ice\n"
    "aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ['127.0.0.1']\n"
    "from live.cli import main\n"
    "sys.exit(main(sys.argv[3:]))\n"  # after '-m live' (ServerProc's command line)
)


# ---- the picture ----------------------------------------------------------------------------


def picture(n: int) -> np.ndarray:
    """Frame ``n``'s Y plane: a moving gradient, a moving box, and ``n`` in 16 blocks on top."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    y = ((xx + yy + n * 4) % 200 + 28).astype(np.uint8)
    x = (n * 7) % (WIDTH - 60)
    y[150:210, x : x + 60] = 235
    for bit in range(BITS):
        y[:BAND, bit * BLOCK : (bit + 1) * BLOCK] = 235 if (n >> bit) & 1 else 16
    return y


class CountedPicture(MediaStreamTrack):
    """The camera: ``made[n]`` is the wall time (s) picture ``n`` was made."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self.n = 0
        self.start = 0.0
        self.made: dict[int, float] = {}

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self.n == 0:
            self.start = time.monotonic()
        else:
            await asyncio.sleep(max(0.0, self.start + self.n / FPS - time.monotonic()))
        planes = np.full((HEIGHT * 3 // 2, WIDTH), 128, np.uint8)
        planes[:HEIGHT] = picture(self.n)
        frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        frame.pts = self.n * 90_000 // FPS
        frame.time_base = fractions.Fraction(1, 90_000)
        self.made[self.n % (1 << BITS)] = time.time()
        self.n += 1
        return frame


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            continue
    return total / os.sysconf("SC_CLK_TCK")


def hls_encode_cost(seconds: float = 10.0) -> float:
    """Cores the room's HLS writer takes for this picture at 640x360 30 fps, with the tone."""
    directory = Path(tempfile.mkdtemp(prefix="live-bench-hls-"))
    writer = HlsWriter(directory, HlsSettings())
    frames = [
        av.VideoFrame.from_ndarray(
            np.concatenate([picture(n), np.full((HEIGHT // 2, WIDTH), 128, np.uint8)]), format="yuv420p"
        )
        for n in range(60)
    ]
    tone = (np.sin(np.arange(1600) / 10) * 8000).astype(np.int16).reshape(1, -1)
    result: list[float] = []

    def run() -> None:
        start = time.thread_time()
        for i in range(int(seconds * FPS)):
            audio = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
            audio.sample_rate = 48_000
            writer.write([(i / FPS, frames[i % 60])], [audio], i / FPS)
        result.append(time.thread_time() - start)
        writer.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    shutil.rmtree(directory, ignore_errors=True)
    return result[0] / seconds


# ---- HLS viewers ------------------------------------------------------------------------------


class HlsViewer:
    """What a player does on a live playlist: reload it every target duration, fetch each new segment."""

    def __init__(self, host: str, port: int, path: str, counters: dict[str, int]) -> None:
        self.host, self.port, self.path = host, port, path
        self.counters = counters
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.seen: set[str] = set()
        self.init_done = False

    async def get(self, path: str) -> tuple[int, bytes]:
        for _ in range(2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            assert self.reader is not None
            try:
                self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
                head = await self.reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
                body = await self.reader.readexactly(length)
                if re.search(rb"(?i)connection: *close", head):
                    self.writer.close()
                    self.writer = None
                self.counters["requests"] += 1
                self.counters["bytes"] += len(body)
                return status, body
            except (asyncio.IncompleteReadError, ConnectionError):
                self.writer = None  # the server closed a kept-alive connection: once more
        return 0, b""

    async def run(self, stop: asyncio.Event) -> None:
        base = self.path.rsplit("/", 1)[0]
        await asyncio.sleep(random.random())  # viewers do not all come in the same instant
        while not stop.is_set():
            started = time.monotonic()
            status, body = await self.get(self.path)
            if status == 200:
                text = body.decode()
                segments = re.findall(r"^(\S+\.m4s)$", text, re.M)
                if not self.init_done:
                    init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', text)
                    if init:
                        await self.get(f"{base}/{init.group(1)}")
                        self.init_done = True
                if segments and segments[-1] not in self.seen:
                    await self.get(f"{base}/{segments[-1]}")
                    self.seen.add(segments[-1])
                    self.counters["segments"] += 1
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
        if self.writer is not None:
            self.writer.close()


async def hls_step(
    url: str, n: int, settle: float, window: float, server_pid: int, nginx_pids: list[int]
) -> dict[str, Any]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    counters = {"requests": 0, "bytes": 0, "segments": 0}
    stop = asyncio.Event()
    viewers = [HlsViewer(host, int(port), f"/hls/{ROOM}/index.m3u8", counters) for _ in range(n)]
    tasks = [asyncio.create_task(v.run(stop)) for v in viewers]
    await asyncio.sleep(settle)
    before = (cpu_s([server_pid]), cpu_s(nginx_pids), dict(counters), time.monotonic())
    await asyncio.sleep(window)
    after = (cpu_s([server_pid]), cpu_s(nginx_pids), dict(counters), time.monotonic())
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    wall = after[3] - before[3]
    return {
        "viewers": n,
        "server_cpu": (after[0] - before[0]) / wall,
        "nginx_cpu": (after[1] - before[1]) / wall,
        "requests_per_s": (after[2]["requests"] - before[2]["requests"]) / wall,
        "segments_per_viewer_s": (after[2]["segments"] - before[2]["segments"]) / wall / n,
        "mbit_s": (after[2]["bytes"] - before[2]["bytes"]) * 8 / 1e6 / wall,
    }


# ---- WebRTC viewers ---------------------------------------------------------------------------


class RtcViewer(BenchViewer):
    """bench/video.py's viewer, watching over the server's HTTP API rather than its test link."""

    async def watch(self, http: httpx.AsyncClient, url: str) -> None:
        offer = await offer_of(self.pc)
        answer = (await http.post(f"{url}/api/rooms/{ROOM}/watch", json=offer)).raise_for_status().json()
        await self.pc.setRemoteDescription(RTCSessionDescription(**answer))


# ---- delay, in Chromium -----------------------------------------------------------------------

READ_FRAME_NUMBER = """() => {
  const v = document.querySelector('#video');
  if (!v.videoWidth) return null;
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d', { willReadFrequently: true });
  g.drawImage(v, 0, 0);
  const block = c.width / 16;
  let n = 0;
  for (let bit = 0; bit < 16; bit++) {
    const x = Math.floor(bit * block + block / 2), y = Math.floor(c.height * 20 / 360);
    const px = g.getImageData(x, y, 1, 1).data;
    if (px[1] > 128) n |= 1 << bit;
  }
  return { n, at: Date.now(), shown: window.__live.video.delayMs };
}"""


def browser_delays(url: str, made: dict[int, float], seconds: float = 12.0) -> dict[str, dict[str, float]]:
    """Glass-to-glass delay (the frame number on screen vs when it was made) and the player's own figure."""
    from playwright.sync_api import sync_playwright

    out: dict[str, dict[str, float]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                # The server offers 127.0.0.1 only (BOOT): let Chromium's ICE use loopback too.
                "--allow-loopback-in-peer-connection",
                "--disable-features=WebRtcHideLocalIpsWithMdns",
            ],
        )
        try:
            for path in ("webrtc", "hls"):
                page = browser.new_page(viewport={"width": 390, "height": 844})
                page.goto(f"{url}/watch/{ROOM}?video={path}&name=Bench")
                try:
                    page.wait_for_function(
                        "() => window.__live?.video?.state === 'playing' && window.__live.video.delayMs > 0",
                        timeout=60_000,
                    )
                except Exception:
                    print(
                        f"  {path} did not play: {page.evaluate('JSON.stringify(window.__live?.video?.log)')}"
                    )
                    raise
                page.wait_for_timeout(4000)  # past the start, where a player catches up
                glass, shown = [], []
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    sample = page.evaluate(READ_FRAME_NUMBER)
                    if sample and sample["n"] in made:
                        glass.append(sample["at"] / 1000 - made[sample["n"]])
                        if sample["shown"] is not None:
                            shown.append(sample["shown"] / 1000)
                    page.wait_for_timeout(250)
                page.close()
                plausible = [g for g in glass if 0 <= g < 60]
                out[path] = {
                    "glass_to_glass_s": statistics.median(plausible) if plausible else float("nan"),
                    "player_shows_s": statistics.median(shown) if shown else float("nan"),
                    "samples": len(plausible),
                }
        finally:
            browser.close()
    return out


# ---- the run ----------------------------------------------------------------------------------


@dataclass
class Row:
    path: str
    viewers: int
    server_cpu: float  # s/s of the room's process
    nginx_cpu: float  # s/s of nginx (0 where nginx is not on the path)
    requests_per_s: float
    delivered: float  # HLS: segments per viewer per second (1.0 = all); WebRTC: pictures per second
    note: str = ""


def launcher(directory: Path) -> str:
    """An interpreter stand-in that boots ``live`` with loopback-only ICE (see BOOT)."""
    script = directory / "python-loopback"
    script.write_text(f'#!/bin/sh\nexec {sys.executable} -c "$BOOT_LIVE" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    os.environ["BOOT_LIVE"] = BOOT
    return str(script)


async def run_paths(hls_counts: list[int], webrtc_counts: list[int], window: float, settle: float) -> None:
    loopback_only()
    started = time.monotonic()
    print(
        f"machine: {os.cpu_count()} cores (shared with other work), load average at start "
        f"{os.getloadavg()[0]:.2f}; stream {WIDTH}x{HEIGHT} {FPS} fps + tone; window {window:g} s"
    )
    encode = hls_encode_cost()
    print(f"HLS encode alone (H.264 + AAC + fMP4 muxing, this picture): {encode:.3f} cores (target < 0.3)")
    work = Path(tempfile.mkdtemp(prefix="live-bench-paths-"))
    hls_dir = work / "hls"
    hls_dir.mkdir()
    os.chmod(work, 0o755)
    os.chmod(hls_dir, 0o755)  # nginx's workers read it
    redis = RedisProc(appendfsync="no").start()
    server = nginx = None
    publisher = RTCPeerConnection()
    camera = CountedPicture()
    rows: list[Row] = []
    try:
        env = {**LOAD_TEST_ENV, "LIVE_HLS_DIR": str(hls_dir), "LIVE_WEBRTC_VIEWERS_MAX": "100000"}
        server = ServerProc(redis.url, "bench:", env, python=launcher(work))
        nginx = NginxProc([server.url.removeprefix("http://")], hls_dir=hls_dir)
        nginx_pids = [nginx.proc.pid, *descendants(nginx.proc.pid)]
        host_token = token_for(SECRET, "host", ROOM, "Host", "host")
        auth = {"Authorization": f"Bearer {host_token}"}
        async with httpx.AsyncClient(timeout=30, headers=auth) as http:
            (await http.put(f"{server.url}/api/rooms/{ROOM}", json={"title": "Bench"})).raise_for_status()
            (await http.post(f"{server.url}/api/rooms/{ROOM}/start")).raise_for_status()
            publisher.addTrack(camera)
            publisher.addTrack(Tone())
            await publisher.setLocalDescription(await publisher.createOffer())
            offer = {"sdp": publisher.localDescription.sdp, "type": "offer"}
            answer = (
                await http.post(f"{server.url}/api/rooms/{ROOM}/publish", json=offer)
            ).raise_for_status()
            await publisher.setRemoteDescription(RTCSessionDescription(**answer.json()))
            for _ in range(300):
                if (await http.get(f"{server.url}/hls/{ROOM}/index.m3u8")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(settle + 2)
            pid = server.proc.pid
            before, t0 = cpu_s([pid]), time.monotonic()
            await asyncio.sleep(window)
            idle = (cpu_s([pid]) - before) / (time.monotonic() - t0)
            rows.append(Row("none", 0, idle, 0.0, 0.0, 0.0, "decode + HLS encode, nobody watching"))
            print(f"  nobody watching: server {idle:.3f} s/s")

            for where, url in (("HLS from the server", server.url), ("HLS from nginx", nginx.url)):
                for n in hls_counts:
                    r = await hls_step(url, n, settle, window, pid, nginx_pids if "nginx" in where else [])
                    rows.append(
                        Row(
                            where,
                            n,
                            r["server_cpu"],
                            r["nginx_cpu"],
                            r["requests_per_s"],
                            r["segments_per_viewer_s"],
                            f"{r['mbit_s']:.0f} Mbit/s out",
                        )
                    )
                    print(
                        f"  {where:20} viewers={n:5}  server {r['server_cpu']:.3f} s/s  nginx "
                        f"{r['nginx_cpu']:.3f} s/s  {r['requests_per_s']:.0f} req/s  segments/viewer/s "
                        f"{r['segments_per_viewer_s']:.2f}  {r['mbit_s']:.0f} Mbit/s",
                        flush=True,
                    )

            viewers: list[RtcViewer] = []
            for n in webrtc_counts:
                while len(viewers) < n:
                    viewer = RtcViewer()
                    await viewer.watch(http, server.url)
                    viewers.append(viewer)
                await asyncio.sleep(settle + 2)
                frames0 = sum(v.frames for v in viewers)
                before, t0 = cpu_s([pid]), time.monotonic()
                await asyncio.sleep(window)
                wall = time.monotonic() - t0
                cpu = (cpu_s([pid]) - before) / wall
                fps = (sum(v.frames for v in viewers) - frames0) / n / wall
                rows.append(Row("WebRTC", n, cpu, 0.0, 0.0, fps, "pictures/viewer/s in 'delivered'"))
                print(
                    f"  WebRTC               viewers={n:5}  server {cpu:.3f} s/s  fps {fps:.1f}", flush=True
                )
            for viewer in viewers:
                await viewer.close()

            delays = await asyncio.to_thread(browser_delays, server.url, camera.made)
    finally:
        await publisher.close()
        if nginx is not None:
            nginx.stop()
        if server is not None:
            if "Traceback" in server.output():
                print("server log:\n" + server.output()[-3000:])
            server.cleanup()
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)

    print()
    print("server CPU seconds per second of video (the room's process; nobody-watching row included)")
    print(
        "path                  viewers | server s/s | added per viewer ms/s | nginx s/s |  req/s | delivered"
    )
    for row in rows:
        added = (row.server_cpu - idle) / row.viewers * 1000 if row.viewers else 0.0
        print(
            f"{row.path:21} {row.viewers:7} | {row.server_cpu:10.3f} | {added:21.2f} | "
            f"{row.nginx_cpu:9.3f} | {row.requests_per_s:6.0f} | {row.delivered:9.2f}  {row.note}"
        )
    biggest = max(webrtc_counts) if webrtc_counts else 0
    rtc = [r for r in rows if r.path == "WebRTC"]
    if len(rtc) >= 2:
        slope = (rtc[-1].server_cpu - rtc[0].server_cpu) / (rtc[-1].viewers - rtc[0].viewers)
        for n in sorted(set(hls_counts) - set(webrtc_counts)):
            if n > biggest:
                print(
                    f"  WebRTC {n:5} viewers: not run; at {slope * 1000:.1f} ms/s each, "
                    f"that is {slope * n:.1f} cores"
                )
    print()
    print("delay, glass to glass (frame number on screen vs when this process made it), median")
    for path, d in delays.items():
        print(
            f"  {path:6}: {d['glass_to_glass_s']:.2f} s; the player shows {d['player_shows_s']:.2f} s "
            f"(from the server's receipt); {d['samples']} samples"
        )
    print(f"HLS encode alone: {encode:.3f} cores at {WIDTH}x{HEIGHT} {FPS} fps")
    print(f"total run time {time.monotonic() - started:.0f} s; load average at end {os.getloadavg()[0]:.2f}")
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "video_paths.json").write_text(
        json.dumps({"encode_cores": encode, "rows": [asdict(r) for r in rows], "delays": delays}, indent=2)
    )
