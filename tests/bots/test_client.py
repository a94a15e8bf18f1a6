"""bots.client: the sans-I/O client against a real websockets server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from bots.client import HandshakeFailed, connect


class Collect:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.arrived = asyncio.Event()

    def on_message(self, data: bytes) -> None:
        self.messages.append(bytes(data))
        self.arrived.set()


async def server_behaviour(ws: ServerConnection) -> None:
    path = ws.request.path if ws.request else ""
    if path.startswith("/fragments"):
        await ws.send(["[1,", "2,", "3]"])
        await ws.wait_closed()
    elif path.startswith("/close"):
        await ws.send("[]")
        await ws.close(4003, "banned")
    else:
        async for message in ws:
            await ws.send(f"echo {message}")


def refuse(_conn: ServerConnection, request: Request) -> Response | None:
    if request.path.startswith("/refuse"):
        return Response(403, "Forbidden", Headers(), b"no")
    return None


@pytest.fixture
async def port() -> AsyncIterator[int]:
    async with serve(server_behaviour, "127.0.0.1", 0, process_request=refuse) as server:
        yield server.sockets[0].getsockname()[1]


async def test_messages_arrive_in_order_and_sends_go_out(port: int) -> None:
    got = Collect()
    client = await connect(f"ws://127.0.0.1:{port}/echo", got, "127.0.0.1", port)
    for i in range(50):
        assert client.send_text(f"m{i}".encode())
    async with asyncio.timeout(5):
        while len(got.messages) < 50:
            got.arrived.clear()
            await got.arrived.wait()
    assert got.messages == [f"echo m{i}".encode() for i in range(50)]
    client.close()
    assert await asyncio.wait_for(client.closed, 5) == (1000, "")
    assert not client.send_text(b"late")


async def test_fragmented_messages_are_joined(port: int) -> None:
    got = Collect()
    client = await connect(f"ws://127.0.0.1:{port}/fragments", got, "127.0.0.1", port)
    await asyncio.wait_for(got.arrived.wait(), 5)
    assert got.messages == [b"[1,2,3]"]
    client.abort()
    code, _ = await asyncio.wait_for(client.closed, 5)
    assert code == 1006


async def test_the_servers_close_code_is_reported(port: int) -> None:
    got = Collect()
    client = await connect(f"ws://127.0.0.1:{port}/close", got, "127.0.0.1", port)
    assert await asyncio.wait_for(client.closed, 5) == (4003, "banned")
    assert got.messages == [b"[]"]


async def test_a_refused_handshake_raises_with_the_status(port: int) -> None:
    with pytest.raises(HandshakeFailed) as info:
        await connect(f"ws://127.0.0.1:{port}/refuse", Collect(), "127.0.0.1", port)
    assert info.value.status == 403


async def test_nobody_listening_raises_oserror() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    with pytest.raises(OSError):
        await connect(f"ws://127.0.0.1:{free}/x", Collect(), "127.0.0.1", free)


async def test_a_handler_bug_is_counted_not_fatal(port: int) -> None:
    class Broken:
        def on_message(self, data: Any) -> None:
            raise RuntimeError("bot bug")

    client = await connect(f"ws://127.0.0.1:{port}/echo", Broken(), "127.0.0.1", port)
    client.send_text(b"x")
    client.send_text(b"y")
    async with asyncio.timeout(5):
        while client.handler_errors < 2:
            await asyncio.sleep(0.01)
    assert client.is_open
    client.close()
    await asyncio.wait_for(client.closed, 5)
