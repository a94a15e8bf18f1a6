"""Every scenario, small, against a real `live serve`; the JSON's numbers must add up."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from bots.tokens import mint
from tests.bots.runner import REPO, run_bots


def common(server: Any) -> list[str]:
    return ["--url", server.url, "--secret", server.secret, "-q"]


def assert_correct(report: dict[str, Any]) -> None:
    corr = report["correctness"]
    for key in (
        "seq_gaps",
        "seq_duplicates",
        "tail_missing_viewers",
        "lost_acks",
        "oversold_units",
        "users_over_limit",
        "idempotency_violations",
    ):
        assert corr[key] == 0, (key, corr)


async def test_chat(live_server: Any, tmp_path: Path) -> None:
    code, report, out = await run_bots(
        ["chat", *common(live_server), "--viewers", "20", "--rate", "4", "--duration", "3", "--ramp", "1"],
        tmp_path / "chat.json",
    )
    assert code == 0, out
    assert_correct(report)
    conn, chat = report["connections"], report["chat"]
    assert conn["connected"] == 20 and conn["peak_open"] == 20 and conn["disconnects"] == 0
    assert conn["connect_ms"]["count"] == 20
    assert 8 <= chat["sent"] <= 16
    assert chat["acked"] == chat["sent"]
    # every accepted post reached every viewer, each delivery timed
    assert chat["deliveries"] == chat["acked"] * 20
    assert chat["delivery_ms"]["count"] == chat["deliveries"]
    assert 0 < chat["delivery_ms"]["p50"] <= chat["delivery_ms"]["p99"] <= chat["delivery_ms"]["max"]
    assert sum(row.get("deliveries", 0) for row in report["timeline"]) == chat["deliveries"]
    assert report["traffic"]["events"] >= chat["deliveries"]
    assert report["server"]["room_stats"]["chat_posts"] == chat["acked"]
    assert report["verdict"]["exit_code"] == 0
    page = (tmp_path / "chat.html").read_text()
    assert page.count("<svg") == 4


async def test_stampede(live_server: Any, tmp_path: Path) -> None:
    code, report, out = await run_bots(
        ["stampede", *common(live_server), "--viewers", "20", "--duration", "4", "--ramp", "1"],
        tmp_path / "st.json",
    )
    assert code == 0, out
    assert_correct(report)
    sales = report["sales"]
    [(pin_id, pin)] = sales["pins"].items()
    assert report["meta"]["pins_created"] == [pin_id]
    assert pin["stock_total"] == 20
    assert pin["units_acked"] == 20  # 20 buyers want up to 3 each: it sells out, exactly
    assert sales["units_acked"] == 20
    # Every buy gets an answer. A buy sent on the local clock's idea of the start can land a
    # millisecond early and get `not_started` (then the bot retries), so every error counts.
    answered = sales["buys_acked"] + sum(report["errors"].values())
    assert set(report["errors"]) <= {"sold_out", "limit_reached", "not_started"}, report["errors"]
    assert answered == sales["buys_sent"], (report["errors"], sales)
    assert sales["buy_ack_ms"]["count"] == sales["buys_sent"] + sales["idempotency_replays_sent"]
    assert sales["idempotency_replays_acked"] == sales["idempotency_replays_sent"]
    assert report["server"]["orders"]["acked_orders_missing"] == 0
    assert report["server"]["orders"]["on_server"] == pin["orders"]


async def test_join(live_server: Any, tmp_path: Path) -> None:
    code, report, out = await run_bots(
        ["join", *common(live_server), "--viewers", "60", "--duration", "2"], tmp_path / "join.json"
    )
    assert code == 0, out
    assert_correct(report)
    conn = report["connections"]
    assert conn["connected"] == 60
    assert conn["connect_ms"]["count"] >= 60
    assert max(row["open"] for row in report["timeline"]) == 60


async def test_mixed(live_server: Any, tmp_path: Path) -> None:
    code, report, out = await run_bots(
        ["mixed", *common(live_server), "--viewers", "30", "--rate", "3", "--duration", "8", "--ramp", "1"],
        tmp_path / "mixed.json",
    )
    assert code == 0, out
    assert_correct(report)
    assert [e["what"] for e in report["events"]] == ["load", "pin", "end", "drain"]
    assert report["chat"]["acked"] > 0
    assert report["traffic"]["likes_sent"] > 0
    sales = report["sales"]
    assert sales["buys_acked"] > 0
    for pin in sales["pins"].values():
        assert pin["units_acked"] <= pin["stock_total"]
    assert report["server"]["room_stats"]["units"] == sales["units_acked"]


async def test_crowd_runs_until_sigterm(live_server: Any) -> None:
    room = f"crowd-{os.getpid()}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bots",
        "crowd",
        "--url",
        live_server.url,
        "--secret",
        live_server.secret,
        "--room",
        room,
        "--viewers",
        "12",
        "--ramp",
        "0.5",
        "--seed",
        "2",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
    )
    try:
        async with httpx.AsyncClient(base_url=live_server.url, timeout=5) as http:
            snapshot: dict[str, Any] = {}
            try:
                # Everyone in, and someone said something (first lines come 2-15 s after joining).
                async with asyncio.timeout(45):
                    while snapshot.get("viewers", 0) < 12 or not snapshot.get("chat"):
                        await asyncio.sleep(0.5)
                        r = await http.get(f"/api/rooms/{room}")
                        snapshot = r.json() if r.status_code == 200 else {}
            except TimeoutError:
                raise AssertionError(f"the crowd never showed up: {snapshot}") from None
            names = {c["user"]["name"] for c in snapshot["chat"]}
            assert names and all(not n.startswith("Bot") for n in names)
            # A host's drop: most of the crowd grabs it within seconds (the demo panel's "who got what").
            host = {
                "Authorization": "Bearer "
                + mint(live_server.secret, sub="h", name="H", role="host", room=room)
            }
            body = {"kind": "envelope", "count": 12, "total_cents": 1200, "duration_s": 30}
            r = await http.post(f"/api/rooms/{room}/drops", json=body, headers=host)
            assert r.status_code == 201, r.text
            drop = r.json()["id"]
            claimed = 0
            async with asyncio.timeout(20):
                while claimed < 3:
                    await asyncio.sleep(0.5)
                    claimed = (await http.get(f"/api/rooms/{room}/drops/{drop}", headers=host)).json()[
                        "claimed"
                    ]
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 15)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert b"12/12 connected" in err
    assert any(line.count(b": ") for line in out.splitlines())


@pytest.mark.timeout(120)
async def test_a_killed_server_shows_as_disconnects(start_server: Any, tmp_path: Path) -> None:
    """Two processes of one service; one is SIGKILLed mid-run: its viewers fail over and resume."""
    a, b = start_server(), start_server()
    run = asyncio.create_task(
        run_bots(
            [
                "chat",
                "--url",
                f"{a.url},{b.url}",
                "--secret",
                a.secret,
                "-q",
                "--viewers",
                "20",
                "--rate",
                "4",
                "--duration",
                "6",
                "--ramp",
                "1",
            ],
            tmp_path / "kill.json",
        )
    )
    await asyncio.sleep(4.5)
    a.kill()
    code, report, out = await run
    assert code == 0, out
    assert_correct(report)
    conn = report["connections"]
    assert conn["disconnects_by_code"].get("1006", 0) >= 1
    assert conn["resumed"] >= 1
    assert conn["offline_at_end"] == 0
    assert any("unexpected disconnects" in w for w in report["verdict"]["warnings"])
    assert sum(row.get("disconnects", 0) for row in report["timeline"]) == conn["disconnects"]
