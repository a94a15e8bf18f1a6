"""Server CPU per second of video against the number of viewers: naive MediaRelay vs our relay.

    python bench/video.py [--counts 1,2,5,10,20,40] [--window 5] [--settle 2] [--parts curves,recording]
    python bench/video.py --paths  # WebRTC beside HLS on a real server: bench/video_paths.py

For each relay in turn a server process is started (``--serve naive`` or
``--serve ours``); this process plays the publisher (a synthetic moving picture
and a tone) and two more processes host the viewers (real aiortc peers that
decode what they get; two, because one Python process cannot receive for forty
viewers), all on 127.0.0.1. Viewers are added step by step; at each step the
server's own CPU (``time.process_time()``: every thread of that process,
decoders and encoders included) is read before and after a window of
``--window`` seconds. Only the server side is measured.

- naive: ``aiortc.contrib.media.MediaRelay`` (unbuffered) hands the decoded
  frames to each viewer's sender, which runs its own VP8 and Opus encoder.
- ours: ``live.video.VideoService``: one encode per room, packets fanned out.

Then the cost of recording (``--parts recording``): the same server, recording off and on
(``live.video.recorder.Recording``, the packets remuxed into WebM, no second encode), with
no viewer (the recorder alone keeps the encoders running) and with one, in one run.

The cost per added viewer is the least-squares slope of CPU against viewers.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aioice.ice
import aiortc
import av
import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from live.video import VideoService
from live.video.recorder import Recording, Stopped

ROOM = "bench"
WIDTH, HEIGHT, FPS = 320, 240, 15


def loopback_only() -> None:
    # aioice gathers host candidates on every interface except loopback; this benchmark
    # must only send to 127.0.0.1, so every peer (both processes) gathers just that.
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


# ---- the server side (a separate process, so that its CPU is all server) ------------------


class NaiveServer:
    """What aiortc's examples do: MediaRelay fan-out, one encoder per viewer's sender."""

    def __init__(self) -> None:
        self.relay = MediaRelay()
        self.tracks: list[MediaStreamTrack] = []
        self.pcs: set[RTCPeerConnection] = set()

    async def publish(self, offer: dict[str, str]) -> dict[str, str]:
        pc = RTCPeerConnection()
        self.pcs.add(pc)
        pc.on("track", self.tracks.append)
        return await self._answer(pc, offer)

    async def watch(self, offer: dict[str, str]) -> dict[str, str]:
        pc = RTCPeerConnection()
        self.pcs.add(pc)
        for track in self.tracks:
            pc.addTrack(self.relay.subscribe(track, buffered=False))
        return await self._answer(pc, offer)

    @staticmethod
    async def _answer(pc: RTCPeerConnection, offer: dict[str, str]) -> dict[str, str]:
        await pc.setRemoteDescription(RTCSessionDescription(**offer))
        await pc.setLocalDescription(await pc.createAnswer())
        return {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}

    async def close(self) -> None:
        await asyncio.gather(*(pc.close() for pc in self.pcs))


class OurServer:
    def __init__(self) -> None:
        self.service = VideoService()
        self.files = Path(tempfile.mkdtemp(prefix="bench-rec-"))
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-record")
        self.recording: Recording | None = None
        self.recorded: asyncio.Future[Any] | None = None

    async def record(self, on: bool) -> int:
        """Start or stop recording the room; returns the bytes of the file once stopped."""
        if on and self.recording is None:
            relay = self.service.publishing()[ROOM]
            self.recording = Recording(
                video=relay.video,
                audio=relay.audio,
                path=self.files / "bench.webm",
                executor=self.pool,
                on_bytes=lambda n: True,
            )
            self.recorded = asyncio.ensure_future(self.recording.run())
            return 0
        if not on and self.recording is not None and self.recorded is not None:
            self.recording.stop(Stopped.SHUTDOWN)
            _, written = await self.recorded
            self.recording = self.recorded = None
            return written.bytes if written else 0
        return 0

    async def publish(self, offer: dict[str, str]) -> dict[str, str]:
        return await self.service.publish(ROOM, offer)

    async def watch(self, offer: dict[str, str]) -> dict[str, str]:
        return await self.service.watch(ROOM, offer)

    async def close(self) -> None:
        await self.record(False)
        await self.service.close()
        self.pool.shutdown(wait=True)
        for f in self.files.iterdir():
            f.unlink()
        self.files.rmdir()


class LagMeter:
    """How late the event loop wakes up: what chat and buying on the same loop would feel."""

    def __init__(self) -> None:
        self.worst_ms = 0.0
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            self.worst_ms = max(self.worst_ms, (time.perf_counter() - start - 0.01) * 1000)

    def take(self) -> float:
        worst, self.worst_ms = self.worst_ms, 0.0
        return worst


async def serve(kind: str) -> None:
    loopback_only()
    server: NaiveServer | OurServer = NaiveServer() if kind == "naive" else OurServer()
    lag = LagMeter()
    done = asyncio.Event()
    links: set[asyncio.Task[Any]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        links.add(task)
        while line := await reader.readline():
            request = json.loads(line)
            op = request["op"]
            reply: dict[str, Any] = {}
            if op == "publish":
                reply = {"answer": await server.publish(request["offer"])}
            elif op == "watch":
                reply = {"answer": await server.watch(request["offer"])}
            elif op == "record" and isinstance(server, OurServer):
                reply = {"bytes": await server.record(request["on"])}
            elif op == "cpu":
                reply = {"cpu": time.process_time(), "wall": time.monotonic(), "lag_ms": lag.take()}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
            if op == "quit":
                done.set()
                break
        writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(listener.sockets[0].getsockname()[1], flush=True)
    await done.wait()
    # The viewer hosts have quit by now; let their links see the end of their streams.
    if pending := [t for t in links if not t.done()]:
        await asyncio.wait(pending, timeout=5.0)
    lag.task.cancel()
    await server.close()
    listener.close()


# ---- the client side: publisher and viewers ----------------------------------------------


class MovingPicture(MediaStreamTrack):
    """A gradient with a moving box and a changing stripe: motion for the encoders to work on."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self.n = 0
        self.start = 0.0
        yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
        self.base = ((xx + yy) % 256).astype(np.uint8)

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self.n == 0:
            self.start = time.monotonic()
        else:
            await asyncio.sleep(max(0.0, self.start + self.n / FPS - time.monotonic()))
        planes = np.full((HEIGHT * 3 // 2, WIDTH), 128, np.uint8)
        y = planes[:HEIGHT]
        y[:] = np.roll(self.base, self.n * 2, axis=1)
        x = (self.n * 5) % (WIDTH - 40)
        y[100:140, x : x + 40] = 235
        y[:8, :] = (self.n * 7) % 256
        frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        frame.pts = self.n * 90_000 // FPS
        frame.time_base = fractions.Fraction(1, 90_000)
        self.n += 1
        return frame


class Tone(MediaStreamTrack):
    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.n = 0
        self.start = 0.0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self.n == 0:
            self.start = time.monotonic()
        else:
            await asyncio.sleep(max(0.0, self.start + self.n * 0.02 - time.monotonic()))
        t = (np.arange(960) + self.n * 960) / 48_000
        samples = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 48_000
        frame.pts = self.n * 960
        frame.time_base = fractions.Fraction(1, 48_000)
        self.n += 1
        return frame


class Link:
    """JSON lines to the server process."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def ask(self, **request: Any) -> dict[str, Any]:
        self.writer.write(json.dumps(request).encode() + b"\n")
        await self.writer.drain()
        reply: dict[str, Any] = json.loads(await self.reader.readline())
        return reply


async def offer_of(pc: RTCPeerConnection) -> dict[str, str]:
    await pc.setLocalDescription(await pc.createOffer())
    return {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}


class BenchViewer:
    def __init__(self) -> None:
        self.pc = RTCPeerConnection()
        self.frames = 0
        self.tasks: list[asyncio.Future[None]] = []
        self.pc.addTransceiver("video", direction="recvonly")
        self.pc.addTransceiver("audio", direction="recvonly")
        self.pc.on("track", lambda track: self.tasks.append(asyncio.ensure_future(self._drain(track))))

    async def _drain(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                if isinstance(frame, av.VideoFrame):
                    self.frames += 1
        except MediaStreamError:
            pass

    async def received(self) -> tuple[int, int]:
        """Packets and bytes this viewer's transport has received so far (media and RTCP)."""
        packets = octets = 0
        for stats in (await self.pc.getStats()).values():
            if stats.type == "transport":
                packets += stats.packetsReceived
                octets += stats.bytesReceived
        return packets, octets

    async def watch(self, link: Link) -> None:
        reply = await link.ask(op="watch", offer=await offer_of(self.pc))
        await self.pc.setRemoteDescription(RTCSessionDescription(**reply["answer"]))

    async def close(self) -> None:
        await self.pc.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@dataclass
class Point:
    viewers: int
    cpu_per_s: float  # server CPU seconds per second of video
    fps: float  # pictures a viewer decoded per second, on average
    packets: float  # packets a viewer received per second (video, audio, RTCP)
    kbps: float  # what a viewer received, kbit/s
    lag_ms: float  # worst event-loop lag in the server during the window


async def host_viewers(port: int) -> None:
    """A viewer host: adds viewers on command (stdin), reports what they received (stdout)."""
    loopback_only()
    link = Link(*await asyncio.open_connection("127.0.0.1", port))
    commands = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    viewers: list[BenchViewer] = []
    while line := await commands.readline():
        command = json.loads(line)
        if command["op"] == "add":
            for _ in range(command["n"]):
                viewer = BenchViewer()
                await viewer.watch(link)
                viewers.append(viewer)
            reply: dict[str, Any] = {}
        elif command["op"] == "stats":
            received = [await v.received() for v in viewers]
            reply = {
                "frames": sum(v.frames for v in viewers),
                "packets": sum(r[0] for r in received),
                "bytes": sum(r[1] for r in received),
            }
        else:
            break
        print(json.dumps(reply), flush=True)
    for viewer in viewers:
        await viewer.close()


class Host:
    """The orchestrator's handle on a viewer host process."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.viewers = 0

    async def ask(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        await self.process.stdin.drain()
        reply: dict[str, Any] = json.loads(await self.process.stdout.readline())
        return reply

    async def quit(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b'{"op": "quit"}\n')
        await self.process.stdin.drain()
        await self.process.wait()


async def totals(hosts: list[Host]) -> tuple[int, int, int]:
    replies = [await h.ask(op="stats") for h in hosts]
    return (
        sum(r["frames"] for r in replies),
        sum(r["packets"] for r in replies),
        sum(r["bytes"] for r in replies),
    )


async def run_curve(
    kind: str, counts: list[int], window: float, settle: float, hosts_n: int = 2
) -> list[Point]:
    server = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", kind, stdout=asyncio.subprocess.PIPE
    )
    assert server.stdout is not None
    port = int(await server.stdout.readline())
    link = Link(*await asyncio.open_connection("127.0.0.1", port))
    publisher = RTCPeerConnection()
    publisher.addTrack(MovingPicture())
    publisher.addTrack(Tone())
    hosts: list[Host] = []
    points = []
    try:
        reply = await link.ask(op="publish", offer=await offer_of(publisher))
        await publisher.setRemoteDescription(RTCSessionDescription(**reply["answer"]))
        for _ in range(hosts_n):
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--host-viewers",
                str(port),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            hosts.append(Host(process))
        await asyncio.sleep(1.0)
        for n in counts:
            while sum(h.viewers for h in hosts) < n:
                host = min(hosts, key=lambda h: h.viewers)
                await host.ask(op="add", n=1)
                host.viewers += 1
            await asyncio.sleep(settle)
            before = await link.ask(op="cpu")
            frames0, packets0, bytes0 = await totals(hosts)
            await asyncio.sleep(window)
            after = await link.ask(op="cpu")
            frames1, packets1, bytes1 = await totals(hosts)
            wall = after["wall"] - before["wall"]
            point = Point(
                viewers=n,
                cpu_per_s=(after["cpu"] - before["cpu"]) / wall,
                fps=(frames1 - frames0) / n / wall,
                packets=(packets1 - packets0) / n / wall,
                kbps=(bytes1 - bytes0) * 8 / 1000 / n / wall,
                lag_ms=after["lag_ms"],
            )
            points.append(point)
            print(
                f"  {kind:5} viewers={n:3}  server cpu={point.cpu_per_s:6.3f} s/s  fps={point.fps:5.1f}  "
                f"per viewer {point.packets:5.0f} pkt/s {point.kbps:5.0f} kbit/s  "
                f"worst loop lag={point.lag_ms:6.1f} ms",
                flush=True,
            )
    finally:
        for host in hosts:
            await host.quit()
        await link.ask(op="quit")
        await publisher.close()
        await server.wait()
    return points


async def run_recording(window: float, settle: float) -> list[tuple[int, float, float, int]]:
    """(viewers, CPU s/s off, CPU s/s on, file bytes) with 0 and 1 viewers, one server process."""
    server = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", "ours", stdout=asyncio.subprocess.PIPE
    )
    assert server.stdout is not None
    port = int(await server.stdout.readline())
    link = Link(*await asyncio.open_connection("127.0.0.1", port))
    publisher = RTCPeerConnection()
    publisher.addTrack(MovingPicture())
    publisher.addTrack(Tone())
    host: Host | None = None
    rows = []

    async def cpu_per_s() -> float:
        await asyncio.sleep(settle)
        before = await link.ask(op="cpu")
        await asyncio.sleep(window)
        after = await link.ask(op="cpu")
        return float((after["cpu"] - before["cpu"]) / (after["wall"] - before["wall"]))

    try:
        reply = await link.ask(op="publish", offer=await offer_of(publisher))
        await publisher.setRemoteDescription(RTCSessionDescription(**reply["answer"]))
        await asyncio.sleep(1.0)
        for viewers in (0, 1):
            if viewers:
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    __file__,
                    "--host-viewers",
                    str(port),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                )
                host = Host(process)
                await host.ask(op="add", n=1)
            off = await cpu_per_s()
            await link.ask(op="record", on=True)
            on = await cpu_per_s()
            size = int((await link.ask(op="record", on=False))["bytes"])
            rows.append((viewers, off, on, size))
            print(
                f"  recording viewers={viewers}  off {off:6.3f} s/s  on {on:6.3f} s/s  "
                f"(+{(on - off) * 1000:6.1f} ms/s; file {size / 1000:.0f} kB)",
                flush=True,
            )
    finally:
        if host is not None:
            await host.quit()
        await link.ask(op="quit")
        await publisher.close()
        await server.wait()
    return rows


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def slope(points: list[Point]) -> float:
    """Least-squares CPU seconds per second added by one more viewer."""
    x = np.array([p.viewers for p in points], float)
    y = np.array([p.cpu_per_s for p in points], float)
    return float(np.polyfit(x, y, 1)[0])


async def bench(counts: list[int], window: float, settle: float, parts: set[str]) -> None:
    loopback_only()
    started = time.monotonic()
    print(
        f"machine: {os.cpu_count()} cores (shared with other work), {cpu_model()}, Python "
        f"{platform.python_version()}, aiortc {aiortc.__version__}, PyAV {av.__version__}; "
        f"load average at start {os.getloadavg()[0]:.2f}"
    )
    print(f"stream: {WIDTH}x{HEIGHT} VP8 at {FPS} fps + Opus 48 kHz; window {window:g} s per step")
    if "curves" in parts:
        await bench_curves(counts, window, settle)
    if "recording" in parts:
        rows = await run_recording(window, settle)
        print()
        print(f"recording on vs off, server CPU seconds per second of video ({window:g} s windows)")
        print("viewers | off s/s | on s/s | recording costs | file")
        for viewers, off, on, size in rows:
            print(
                f"{viewers:7} | {off:7.3f} | {on:6.3f} | {(on - off) * 1000:+9.1f} ms/s | "
                f"{size / 1000:.0f} kB in {window + settle:g} s"
            )
    print(f"total run time {time.monotonic() - started:.0f} s; load average at end {os.getloadavg()[0]:.2f}")


async def bench_curves(counts: list[int], window: float, settle: float) -> None:
    curves = {}
    for kind in ("naive", "ours"):
        curves[kind] = await run_curve(kind, counts, window, settle)
    print()
    print("server CPU seconds per second of video; fps: pictures each viewer decoded per second")
    print("(pkt/s and kbit/s: what one viewer received; lag: worst event-loop lag in the server)")
    print("viewers | naive cpu s/s   fps  pkt/s kbit/s | ours cpu s/s   fps  pkt/s kbit/s  lag ms")
    for a, b in zip(curves["naive"], curves["ours"], strict=True):
        print(
            f"{a.viewers:7} | {a.cpu_per_s:14.3f} {a.fps:5.1f} {a.packets:6.0f} {a.kbps:6.0f} | "
            f"{b.cpu_per_s:13.3f} {b.fps:5.1f} {b.packets:6.0f} {b.kbps:6.0f} {b.lag_ms:7.1f}"
        )
    print()
    # A relay that no longer delivers its frames (the machine is saturated) cannot use more
    # CPU however many viewers come, so its slope there says nothing about a viewer's cost.
    # Compare each relay over the steps where its viewers still got >= 90% of the frames.
    delivering = {k: [p for p in v if p.fps >= 0.9 * FPS] for k, v in curves.items()}
    slopes = {}
    for kind, points in delivering.items():
        counts_used = ",".join(str(p.viewers) for p in points)
        if len(points) >= 2:
            slopes[kind] = slope(points)
            print(
                f"{kind:5}: cost per added viewer {slopes[kind] * 1000:6.1f} ms CPU per second "
                f"(least-squares slope over the steps that delivered >= 90% of frames: {counts_used} viewers)"
            )
        else:
            print(f"{kind:5}: fewer than two steps delivered >= 90% of frames; no slope")
    if len(slopes) == 2:
        print(f"ratio ours / naive: {slopes['ours'] / slopes['naive']:.3f} (target < 0.1)")
    full = {k: slope(v) for k, v in curves.items()}
    print(
        f"(slopes over every step, saturated ones included: naive {full['naive'] * 1000:.1f}, "
        f"ours {full['ours'] * 1000:.1f} ms/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,2,5,10,20,40")
    parser.add_argument("--window", type=float, default=5.0, help="seconds measured per step")
    parser.add_argument(
        "--settle", type=float, default=2.0, help="seconds after adding viewers before measuring"
    )
    parser.add_argument(
        "--paths",
        action="store_true",
        help="WebRTC and HLS (served by the server and by nginx) on a real live serve, and their delays",
    )
    parser.add_argument("--hls-counts", default="1,10,100,1000", help="with --paths")
    parser.add_argument("--webrtc-counts", default="1,10", help="with --paths")
    parser.add_argument(
        "--parts", default="curves,recording", help="what to run: curves (viewers), recording (on vs off)"
    )
    parser.add_argument("--serve", choices=("naive", "ours"), help=argparse.SUPPRESS)
    parser.add_argument("--host-viewers", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    if args.host_viewers:
        asyncio.run(host_viewers(args.host_viewers))
        return
    if args.paths:
        from video_paths import run_paths  # bench/video_paths.py, beside this file

        hls_counts = [int(c) for c in args.hls_counts.split(",")]
        webrtc_counts = [int(c) for c in args.webrtc_counts.split(",")]
        asyncio.run(run_paths(hls_counts, webrtc_counts, args.window, args.settle))
        return
    counts = [int(c) for c in args.counts.split(",")]
    asyncio.run(bench(counts, args.window, args.settle, set(args.parts.split(","))))


if __name__ == "__main__":
    main()
