"""`live demo`: a server, a bundled Redis, a live demo room with a bag and a pin, a crowd that
chats, the built-in shop that confirms orders through signed webhooks, and the social side: the
crowd follows the host, the host's next show is scheduled, and share links bring in buyers."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
from websockets.sync.client import connect

from live.demo_shop import left_unpaid
from tests.support import REPO


def test_demo_room_comes_alive(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "live", "demo", "--port", "0", "--data-dir", str(tmp_path), "--crowd", "6"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    ) as proc:
        try:
            assert proc.stdout is not None
            url = re.search(r"listening on (http://\S+)", proc.stdout.readline()).group(1)  # type: ignore[union-attr]
            ready = proc.stdout.readline()
            assert f"{url}/watch/demo" in ready and f"{url}/host/demo" in ready
            deadline = time.monotonic() + 60
            while True:
                snap = httpx.get(f"{url}/api/rooms/demo", timeout=5).json()
                if snap["viewers"] >= 6 and len(snap["chat"]) >= 3:
                    break
                assert time.monotonic() < deadline, snap
                time.sleep(0.5)
            assert snap["room"]["status"] == "live" and snap["pin"]["product"]["id"] == "panda-mug"
            assert len({c["user"]["id"] for c in snap["chat"]}) >= 2  # several people, not one bot
            rooms = httpx.get(f"{url}/api/rooms", timeout=5).json()["rooms"]
            assert [r["id"] for r in rooms] == ["demo"]
            assert (
                httpx.post(f"{url}/api/dev/token", json={"name": "Me", "role": "viewer"}).status_code == 200
            )
            assert [p["id"] for p in snap["bag"]] == ["panda-mug", "live-tee", "purple-cans", "bamboo-tote"]
            assert snap["room"]["pay_within_s"] == 300
            shop_line = re.search(r"demo shop takes webhooks at (http://\S+):", proc.stdout.readline())
            assert shop_line, "the demo shop says where it takes webhooks"
            _shop_confirms_an_order(url, shop_line.group(1))
            assert "demo-next" in proc.stdout.readline()
            _the_social_side_fills_in(url)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=30)


def _shop_confirms_an_order(url: str, shop_url: str) -> None:
    """A bag buy is reserved; the shop gets order.reserved, checks its signature, and confirms it."""
    # A forged delivery is refused: the shop checks Live-Signature over the raw body.
    forged = httpx.post(
        shop_url,
        content=b'{"id":"evt_x","type":"order.reserved","data":{}}',
        headers={"Live-Signature": "t=1,v1=00"},
    )
    assert forged.status_code == 401
    token = httpx.post(f"{url}/api/dev/token", json={"name": "Newcomer", "role": "viewer"}).json()["token"]
    ws_url = url.replace("http://", "ws://")
    with connect(f"{ws_url}/ws/demo?token={token}", compression=None, open_timeout=10) as ws:
        ws.send(orjson.dumps({"t": "buy", "id": "b1", "product": "live-tee", "qty": 1}).decode())
        deadline = time.monotonic() + 10
        answer = None
        while answer is None:
            assert time.monotonic() < deadline
            answer = next((e for e in orjson.loads(ws.recv(timeout=10)) if e.get("id") == "b1"), None)
    assert answer["t"] == "ack" and answer["order"]["state"] == "reserved", answer
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 45  # paid 3-8 s after the reservation; webhooks retry with backoff
    while True:
        order = httpx.get(f"{url}/api/me/orders", headers=headers, timeout=5).json()["orders"][0]
        if order["state"] != "reserved":
            break
        assert time.monotonic() < deadline, order
        time.sleep(0.5)
    assert order["id"] == answer["order"]["id"] and order["state"] == "confirmed", order
    assert order["version"] == 2


def _the_social_side_fills_in(url: str) -> None:
    """Followers, the next show in the schedule, and a leaderboard row with orders (contract §9)."""
    host = httpx.get(f"{url}/api/hosts/demo-host", timeout=5).json()
    assert host["followers"] >= 6 and [r["id"] for r in host["live"]] == ["demo"], host
    scheduled = httpx.get(f"{url}/api/rooms?status=scheduled", timeout=5).json()["rooms"]
    [nxt] = [r for r in scheduled if r["id"] == "demo-next"]
    assert (
        nxt["host"]["id"] == "demo-host" and nxt["starts_at_ms"] > time.time() * 1000 and nxt["description"]
    )
    assert len(httpx.get(f"{url}/api/rooms/demo-next/products", timeout=5).json()["products"]) == 2
    snap = httpx.get(f"{url}/api/rooms/demo", timeout=5).json()
    assert snap["room"]["commission_bp"] == 500
    service = httpx.post(f"{url}/api/dev/token", json={"name": "Shop", "role": "service"}).json()["token"]
    deadline = time.monotonic() + 60  # the crowd buys a few seconds after the pin goes live
    while True:
        board = httpx.get(
            f"{url}/api/rooms/demo/shares", headers={"Authorization": f"Bearer {service}"}, timeout=5
        ).json()["shares"]
        if any(row["orders"] > 0 for row in board):
            break
        assert time.monotonic() < deadline, board
        time.sleep(0.5)
    row = next(row for row in board if row["orders"] > 0)
    # 5% of whole-dollar prices has no fraction to floor: the sum is the rate times the GMV.
    assert row["visits"] > 0 and row["commission_cents"] == row["gmv_cents"] * 500 // 10000, row


def test_the_demo_shop_leaves_one_order_in_five_unpaid_never_a_first() -> None:
    unpaid = [n for n in range(1, 21) if left_unpaid(n)]
    assert unpaid == [3, 8, 13, 18]
