"""One viewer that stops reading neither delays the others nor grows the server's memory forever."""

from __future__ import annotations

import asyncio
import socket

import websockets

from tests.support import Client, make_room

N = 16_000  # x ~280 bytes a line: past the outbox bound plus all that kernel socket buffers hold


async def test_stalled_viewer_is_cut_off_and_others_stay_on_time(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server(
        env={"LIVE_CHAT_RATE_POSTS": "0", "LIVE_FRAMES_PER_S": "0", "LIVE_OUTBOX_MAX_BYTES": "65536"}
    )
    room, _ = await make_room(server)
    # A viewer whose socket never reads: a tiny receive window set before connecting, and no reads.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
    sock.setblocking(False)
    stalled = await websockets.connect(f"{server.ws_url}/ws/{room}", sock=sock, compression=None, max_queue=1)
    stalled.transport.pause_reading()
    healthy = await Client.connect(server, room)
    posters = [await Client.connect(server, room, server.token(name=f"P{p}", sub=f"p{p}")) for p in range(4)]
    big = "x" * 190
    for i in range(N // 4):
        for p, poster in enumerate(posters):
            await poster.send({"t": "chat", "id": f"a{i}", "text": f"{p}:{i} {big}"})
    for poster in posters:
        await poster.wait_for(lambda e: e.get("t") == "ack" and e.get("id") == f"a{N // 4 - 1}", timeout=60)
    await healthy.wait_for(lambda e: sum(x.get("t") == "chat" for x in healthy.events) == N, timeout=120)
    # The stalled viewer was disconnected with 4008 once its outbox passed the bound (64 KiB here).
    metrics = await asyncio.to_thread(_get, server.url + "/metrics")
    assert 'live_disconnects_total{code="4008"} 1' in metrics, metrics
    # The healthy viewer got everything, in order, while the stalled one was cut off.
    seqs = [e["seq"] for e in healthy.durable()]
    assert seqs == list(range(seqs[0], seqs[0] + N))
    stalled.transport.abort()
    await healthy.close()
    for poster in posters:
        await poster.close()


def _get(url: str) -> str:
    import httpx

    return httpx.get(url, timeout=5).text
