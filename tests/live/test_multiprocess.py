"""Two `live serve` processes on one Redis serve one room together."""

from __future__ import annotations

import asyncio

from tests.support import Client, make_room


async def test_two_processes_same_order_chat_crosses(start_server) -> None:  # type: ignore[no-untyped-def]
    env = {"LIVE_CHAT_RATE_POSTS": "0", "LIVE_FRAMES_PER_S": "0"}
    a, b = start_server(env=env), start_server(env=env)
    room, _ = await make_room(a)
    on_a = [await Client.connect(a, room, a.token(name=f"A{i}", sub=f"a{i}")) for i in range(3)]
    on_b = [await Client.connect(b, room, b.token(name=f"B{i}", sub=f"b{i}")) for i in range(3)]

    async def post(client: Client, tag: str) -> None:
        for i in range(20):
            await client.request({"t": "chat", "id": f"{tag}{i}", "text": f"{tag} {i}"})

    await asyncio.gather(*(post(c, f"x{n}") for n, c in enumerate(on_a + on_b)))
    total = 120
    for client in on_a + on_b:
        await client.wait_for(
            lambda e, c=client: sum(x.get("t") == "chat" for x in c.events) == total, timeout=20
        )
    sequences = [[(e["seq"], e.get("text")) for e in c.durable()] for c in on_a + on_b]
    assert all(s == sequences[0] for s in sequences)
    seqs = [s for s, _ in sequences[0]]
    assert seqs == list(range(seqs[0], seqs[0] + total))
    # Viewers are counted across both processes.
    await on_a[0].wait_for(lambda e: e.get("t") == "viewers" and e["n"] == 6, timeout=5)
    for c in on_a + on_b:
        await c.close()


async def test_ban_on_one_process_closes_sockets_on_the_other(start_server) -> None:  # type: ignore[no-untyped-def]
    a, b = start_server(), start_server()
    room, host = await make_room(a)
    bob_b = await Client.connect(b, room, b.token(name="Bob", sub="bob"))
    await host.call("POST", f"/api/rooms/{room}/moderation", {"action": "ban", "user": "bob"})
    assert await bob_b.closed() == 4003
