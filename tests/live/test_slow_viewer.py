"""One viewer that stops reading neither delays the others nor grows the server's memory forever."""

from __future__ import annotations

import asyncio
import socket

import websockets

from tests.support import Client, make_room

N = 16_000  # x ~280 bytes a line: past the outbox bound plus all that kernel socket buffers hold


async def test_stalled_viewer_is_cut_off_and_others_stay_on_time(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server(
        env={
            "LIVE_CHAT_RATE_POSTS": "0",
            "LIVE_FRAMES_PER_S": "0",
            "LIVE_WIRE_FRAMES_PER_S": "0",  # the poster sends thousands of frames a second
            "LIVE_OUTBOX_MAX_BYTES": "65536",
        }
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
    posters = [await Client.connect(server, room, server.token(name="P0", sub="p0"))]
    big = "x" * 190
    poster = posters[0]
    in_flight = 200
    for i in range(N):
        await poster.send({"t": "chat", "id": f"a{i}", "text": f"0:{i} {big}"})
        if i >= in_flight:
            # At most `in_flight` unanswered requests, as a real client: a socket that floods
            # thousands of frames ahead has its reading paused by uvicorn, pongs included.
            await poster.wait_for(lambda e, i=i: e.get("t") == "ack" and e.get("id") == f"a{i - in_flight}")
    await poster.wait_for(lambda e: e.get("t") == "ack" and e.get("id") == f"a{N - 1}", timeout=60)
    await healthy.wait_for(lambda e: e.get("text", "").startswith(f"0:{N - 1} "), timeout=120)
    assert sum(e.get("t") == "chat" for e in healthy.events) == N
    # The stalled viewer was cut off: 4008 when its outbox passed the bound (64 KiB here), or by
    # the server's keepalive (1005/1011) when the kernel absorbed the lines for longer than the
    # ping deadline; which comes first depends on socket buffers. The bound itself is tested in
    # test_connection.py.
    metrics = await asyncio.to_thread(_get, server.url + "/metrics")
    assert any(f'live_disconnects_total{{code="{code}"}} 1' in metrics for code in (4008, 1005, 1011)), (
        metrics
    )
    assert "live_connections 2" in metrics  # healthy viewer and poster
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
