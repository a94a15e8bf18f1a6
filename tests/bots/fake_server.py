"""A tiny fake room server (websockets' asyncio server) that breaks the contract on purpose.

It speaks just enough of the WebSocket side for the bots: ``hello`` with a live
pin, acks for buys and chats, ``pong``. Each fault is a flag:

- ``oversell``: every buy is acked with a fresh order, whatever the stock and the limit;
- ``skip_seq``: the durable seq it hands out jumps over this number (a gap);
- ``ignore_chat``: chat posts are never answered (lost acks).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

STOCK = 5
LIMIT = 2
PRICE = 1000


@dataclass
class FakeRoom:
    oversell: bool = False
    skip_seq: int | None = None
    ignore_chat: bool = False
    seq: int = 0
    viewers: set[ServerConnection] = field(default_factory=set)
    orders: itertools.count = field(default_factory=lambda: itertools.count(1))  # type: ignore[type-arg]
    units: int = 0
    by_viewer: dict[ServerConnection, int] = field(default_factory=dict)

    def next_seq(self) -> int:
        self.seq += 1
        if self.seq == self.skip_seq:
            self.seq += 1
        return self.seq

    def pin(self) -> dict[str, Any]:
        now = int(time.time() * 1000)
        return {
            "id": "p1",
            "product": {"id": "mug", "title": "Mug", "list_price_cents": 3000},
            "state": "live",
            "stock_total": STOCK,
            "stock_left": max(0, STOCK - self.units),
            "limit_per_user": LIMIT,
            "starts_at_ms": now - 1000,
            "ends_at_ms": now + 600_000,
            "tiers": [{"at": 0, "price_cents": PRICE}],
            "count": 0,
            "count_mode": "posters",
            "tier": 0,
            "price_cents": PRICE,
            "price_protection": False,
        }

    async def handle(self, ws: ServerConnection) -> None:
        hello = {
            "t": "hello",
            "seq": self.seq,
            "resumed": False,
            "room": {"id": "fake"},
            "pin": self.pin(),
            "chat": [],
            "viewers": len(self.viewers),
            "likes": 0,
            "you": None,
        }
        await ws.send(orjson.dumps([hello]).decode())
        self.viewers.add(ws)
        try:
            async for message in ws:
                await self.on_frame(ws, orjson.loads(message))
        except ConnectionClosed:
            pass
        finally:
            self.viewers.discard(ws)

    async def on_frame(self, ws: ServerConnection, frame: dict[str, Any]) -> None:
        t = frame.get("t")
        if t == "ping":
            await ws.send('[{"t":"pong"}]')
        elif t == "buy":
            qty = frame.get("qty", 1)
            if self.units >= STOCK and not self.oversell:
                answer = {"t": "error", "code": "sold_out", "message": "sold out", "id": frame["id"]}
            elif self.by_viewer.get(ws, 0) + qty > LIMIT and not self.oversell:
                answer = {"t": "error", "code": "limit_reached", "message": "limit", "id": frame["id"]}
            else:
                self.units += qty
                self.by_viewer[ws] = self.by_viewer.get(ws, 0) + qty
                answer = {
                    "t": "ack",
                    "id": frame["id"],
                    "order": {
                        "id": f"o{next(self.orders)}",
                        "pin": "p1",
                        "user": "?",
                        "qty": qty,
                        "unit_price_cents": PRICE,
                        "total_cents": PRICE * qty,
                        "tier": 0,
                        "ts_ms": 0,
                    },
                }
            await ws.send(orjson.dumps([answer]).decode())
        elif t == "chat":
            if self.ignore_chat:
                return
            seq = self.next_seq()
            await ws.send(orjson.dumps([{"t": "ack", "id": frame["id"], "seq": seq}]).decode())
            event = {
                "t": "chat",
                "seq": seq,
                "user": {"id": "u", "name": "U"},
                "text": frame["text"],
                "ts_ms": 0,
            }
            broadcast(self.viewers, orjson.dumps([event]).decode())

    def emit_durable(self) -> None:
        """A durable event to everyone (a room status change), with the next seq."""
        broadcast(
            self.viewers, orjson.dumps([{"t": "room", "seq": self.next_seq(), "status": "live"}]).decode()
        )


@asynccontextmanager
async def fake_server(room: FakeRoom) -> AsyncIterator[str]:
    """Serve ``room`` on a free loopback port; yields the http base URL."""
    async with serve(room.handle, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
        for ws in list(room.viewers):
            await ws.close()
        await asyncio.sleep(0)
