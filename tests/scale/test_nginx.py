"""nginx (deploy/nginx.conf) in front of two backends: round robin, WebSocket upgrade, resume anywhere."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import httpx
import pytest

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
