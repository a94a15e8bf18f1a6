"""`live serve --workers N`: one port, N supervised processes, one service."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from kit.crowd import RawViewer, open_viewers
from kit.procs import ServerProc
from live.workers import RestartPolicy, Supervisor
from tests.scale.procs import LiveProc, Resumer, client_port, socket_owner, wait_until
from tests.support import Client, make_room

DRAIN_VIEWERS = 1000  # as many as one asyncio client opens in a few seconds on 2 shared cores


async def _viewers_on_every_worker(
    server: LiveProc, room: str, need: int = 2, most: int = 24
) -> dict[int, list[Resumer]]:
    """Connect viewers until at least one is on each of ``need`` workers; return them by worker pid."""
    pids = list(server.worker_pids().values())
    by_pid: dict[int, list[Resumer]] = {}
    for i in range(most):
        viewer = await Resumer([server], room, server.token(name=f"V{i}", sub=f"v{i}")).start()
        assert viewer.client is not None
        owner = socket_owner(pids, server.port, client_port(viewer.client))
        assert owner is not None, "the connection's server side is in no worker"
        by_pid.setdefault(owner, []).append(viewer)
        if len(by_pid) >= need and i >= 3:
            break
        await asyncio.sleep(0.02)  # whichever worker is idle accepts next
    return by_pid


async def test_workers_share_one_port_and_one_room(start_live: Callable[..., LiveProc]) -> None:
    server = start_live(workers=2)
    assert "2 workers" in server.output()
    room, _ = await make_room(server)
    by_pid = await _viewers_on_every_worker(server, room)
    assert len(by_pid) == 2, f"every viewer landed on one worker: {by_pid.keys()}"
    print("viewers per worker:", [len(v) for v in by_pid.values()])
    viewers = [v for vs in by_pid.values() for v in vs]
    poster = await Client.connect(server, room, server.token(name="Poster", sub="poster"))
    for i in range(10):
        ack = await poster.request({"t": "chat", "id": f"c{i}", "text": f"hello {i}"})
        assert ack["t"] == "ack"
    for v in viewers:
        await asyncio.wait_for(_at_least(v, ack["seq"]), 10)
    histories = {tuple((e["seq"], e.get("text")) for e in v.durable) for v in viewers}
    assert len(histories) == 1  # the same events in the same order on both workers
    await poster.close()
    for v in viewers:
        await v.close()


async def test_killed_worker_is_restarted_and_its_viewers_resume(start_live: Callable[..., LiveProc]) -> None:
    server = start_live(workers=2)
    room, _ = await make_room(server)
    by_pid = await _viewers_on_every_worker(server, room)
    assert len(by_pid) == 2
    victim = min(by_pid)
    survivor_viewers = [v for pid, vs in by_pid.items() if pid != victim for v in vs]
    poster_stop = asyncio.Event()
    poster = await Client.connect(server, room, server.token(name="Poster", sub="poster"))
    posted: list[int] = []

    async def post() -> None:
        i = 0
        while not poster_stop.is_set():
            ack = await poster.request({"t": "chat", "id": f"c{i}", "text": f"line {i}"}, timeout=10)
            if ack["t"] == "ack":
                posted.append(ack["seq"])
            i += 1
            await asyncio.sleep(0.02)

    # The poster must not sit on the victim: if it does, it would lose its socket too.
    while socket_owner([victim], server.port, client_port(poster)) is not None:
        await poster.close()
        poster = await Client.connect(server, room, server.token(name="Poster", sub="poster"))
    task = asyncio.create_task(post())
    await asyncio.sleep(0.5)
    os.kill(victim, signal.SIGKILL)
    wait_until(
        lambda: len(server.worker_pids()) == 2 and victim not in server.worker_pids().values(),
        10,
        "the supervisor to restart the worker",
    )
    assert "killed by SIGKILL" in server.output()
    await asyncio.sleep(1.0)
    poster_stop.set()
    await task
    last = posted[-1]
    viewers = [v for vs in by_pid.values() for v in vs]
    for v in viewers:
        await asyncio.wait_for(_at_least(v, last), 15)
    for v in viewers:
        await v.close()
        seqs = v.seqs()
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "gap or duplicate"
        assert seqs[-1] >= last
        assert all(h["resumed"] for h in v.hellos[1:])
    moved = [v for v in by_pid[victim]]
    assert all(len(v.reconnects) == 1 for v in moved)
    assert all(not v.reconnects for v in survivor_viewers)
    await poster.close()


async def _at_least(viewer: Resumer, seq: int) -> None:
    while viewer.last_seq < seq:
        await asyncio.sleep(0.05)


async def test_sigterm_drains_workers_and_exits_zero(start_live: Callable[..., LiveProc]) -> None:
    server = start_live(workers=2)
    room, _ = await make_room(server)
    viewer = await Client.connect(server, room)
    pids = list(server.worker_pids().values())
    server.proc.send_signal(signal.SIGTERM)
    code = await asyncio.get_running_loop().run_in_executor(None, server.proc.wait, 15)
    assert code == 0
    assert await viewer.closed() == 1012  # service restart: reconnect (elsewhere) and resume
    for pid in pids:
        wait_until(lambda p=pid: not os.path.exists(f"/proc/{p}"), 5, f"worker {pid} to exit")


def test_workers_exit_when_the_supervisor_is_killed(start_live: Callable[..., LiveProc]) -> None:
    server = start_live(workers=2)
    pids = list(server.worker_pids().values())
    server.kill()
    for pid in pids:
        wait_until(lambda p=pid: not os.path.exists(f"/proc/{p}"), 10, f"orphaned worker {pid} to exit")
    wait_until(lambda: not _connectable(server.port), 5, "the port to close")


def _connectable(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5)
    except httpx.HTTPError:
        return False
    return True


def _fast_policy() -> RestartPolicy:
    return RestartPolicy(
        quick_s=5, max_quick_deaths=3, backoff_first_s=0.01, backoff_max_s=0.05, stop_timeout_s=5
    )


def test_supervisor_gives_up_on_a_worker_that_keeps_crashing() -> None:
    lines: list[str] = []
    sup = Supervisor(2, lambda index: 2 if index == 1 else _sleep_forever(), _fast_policy(), lines.append)
    assert sup.run() == 1
    assert "worker 1 exited with code 2 3 times in a row" in lines[-1]
    assert sup.pids() == []  # the healthy worker was stopped too
    assert sum("worker 1 started" in line for line in lines) == 3


def test_supervisor_restarts_and_stops_on_sigterm() -> None:
    lines: list[str] = []
    parent = os.getpid()
    marker = f"/tmp/live-sup-{parent}"

    def worker(index: int) -> int:
        # The first run of worker 0 dies at once; its restart asks the parent to stop.
        if index == 0 and not os.path.exists(marker):
            open(marker, "w").close()
            return 7
        if index == 0:
            time.sleep(0.3)
            os.kill(parent, signal.SIGTERM)
        return _sleep_forever()

    try:
        sup = Supervisor(2, worker, _fast_policy(), lines.append)
        assert sup.run() == 0
    finally:
        if os.path.exists(marker):
            os.unlink(marker)
    assert any("worker 0 exited with code 7" in line for line in lines)
    assert sum("worker 0 started" in line for line in lines) == 2
    assert sup.pids() == []
    # Workers stopped by the forwarded SIGTERM (default action: terminate).
    assert all(
        os.WIFSIGNALED(s) and os.WTERMSIG(s) == signal.SIGTERM for slot in sup.slots for s in slot.exits[-1:]
    )


def _sleep_forever() -> int:
    while True:
        time.sleep(1)


async def test_bundled_redis_is_shared_and_stopped_after_the_last_worker() -> None:
    server = LiveProc(None, "bundled:", workers=2)
    try:
        room, _ = await make_room(server)
        viewer = await Client.connect(server, room)
        redis_port = int(server.redis_url.rsplit(":", 1)[1].split("/")[0])
        assert _redis_answers(redis_port)
        server.proc.send_signal(signal.SIGTERM)
        assert await asyncio.get_running_loop().run_in_executor(None, server.proc.wait, 20) == 0
        assert await viewer.closed() == 1012
        assert not _redis_answers(redis_port)  # stopped, and only after the workers were gone
        assert (server.dir / "data" / "appendonlydir").is_dir()  # AOF on, in --data-dir
    finally:
        server.cleanup()


def _redis_answers(port: int) -> bool:
    import redis

    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_with_a_thousand_viewers_tells_each_1012_and_exits_zero(
    tmp_path: Path, workers: int
) -> None:
    # The bundled Redis (the case that hung): stopped only after the last worker has drained.
    server = ServerProc(
        None, "drain:", env={"LIVE_MAX_CONNS_PER_IP": "0"}, workers=workers, data_dir=tmp_path / "data"
    )
    viewers: list[RawViewer] = []
    try:
        room, _ = await make_room(server)
        viewers = await open_viewers(server.host, server.port, f"/ws/{room}", DRAIN_VIEWERS)
        server.proc.send_signal(signal.SIGTERM)
        # Bounded only by the fallbacks (uvicorn's graceful timeout, the supervisor's SIGKILL): a
        # drain that hangs fails here instead of hanging the suite.
        code = await asyncio.get_running_loop().run_in_executor(None, server.proc.wait, 30)
        assert code == 0, server.output()
        await asyncio.wait_for(asyncio.gather(*(v.lost for v in viewers)), 10)
        codes = Counter(v.code for v in viewers)
        assert codes == {1012: DRAIN_VIEWERS}, codes
    finally:
        for viewer in viewers:
            viewer.close()
        server.cleanup()
