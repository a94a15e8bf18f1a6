"""A fake server that breaks the contract: the bots must catch it and exit non-zero."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.bots.fake_server import STOCK, FakeRoom, fake_server
from tests.bots.runner import run_bots

SECRET = "fake-server-secret-fake-server-secret"


async def test_oversell_and_limit_breaches_are_caught(tmp_path: Path) -> None:
    room = FakeRoom(oversell=True)
    async with fake_server(room) as url:
        code, report, out = await run_bots(
            [
                "stampede",
                "--url",
                url,
                "--secret",
                SECRET,
                "--room",
                "fake",
                "--pin",
                "p1",
                "--viewers",
                "8",
                "--duration",
                "2",
                "--ramp",
                "0.5",
                "-q",
            ],
            tmp_path / "r.json",
        )
    assert code == 1, out
    sales = report["sales"]
    # 8 buyers each try limit + 1 = 3 units and the fake acks every one.
    assert sales["units_acked"] == 24
    assert sales["oversold_units"] == 24 - STOCK
    assert sales["users_over_limit"] == 8
    checks = {f["check"] for f in report["verdict"]["failures"]}
    assert {"oversell", "per_user_limit"} <= checks
    assert report["correctness"]["lost_acks"] == 0


async def test_an_honest_fake_passes(tmp_path: Path) -> None:
    room = FakeRoom(oversell=False)
    async with fake_server(room) as url:
        code, report, out = await run_bots(
            [
                "stampede",
                "--url",
                url,
                "--secret",
                SECRET,
                "--room",
                "fake",
                "--pin",
                "p1",
                "--viewers",
                "8",
                "--duration",
                "2",
                "--ramp",
                "0.5",
                "-q",
                "--no-html",
            ],
            tmp_path / "r.json",
        )
    assert code == 0, out
    assert report["sales"]["units_acked"] == STOCK
    assert report["errors"].get("sold_out", 0) >= 1
    assert not (tmp_path / "r.html").exists()


async def test_a_seq_gap_is_caught(tmp_path: Path) -> None:
    room = FakeRoom(skip_seq=3)

    async def tick() -> None:
        async with asyncio.timeout(30):
            while len(room.viewers) < 5:
                await asyncio.sleep(0.05)
        for _ in range(4):  # seqs 1, 2, 4, 5: 3 is skipped
            room.emit_durable()
            await asyncio.sleep(0.2)

    async with fake_server(room) as url:
        ticker = asyncio.create_task(tick())
        code, report, out = await run_bots(
            [
                "join",
                "--url",
                url,
                "--secret",
                SECRET,
                "--room",
                "fake",
                "--viewers",
                "5",
                "--duration",
                "3",
                "-q",
            ],
            tmp_path / "r.json",
        )
        await ticker
    assert code == 1, out
    corr = report["correctness"]
    assert corr["seq_gaps"] == 5  # every viewer saw 2 then 4
    assert corr["seq_missing_events"] == 5
    assert corr["viewers_with_gaps"] == 5
    assert [f["check"] for f in report["verdict"]["failures"]] == ["seq_gaps"]


async def test_unanswered_posts_are_lost_acks(tmp_path: Path) -> None:
    room = FakeRoom(ignore_chat=True)
    async with fake_server(room) as url:
        code, report, out = await run_bots(
            [
                "chat",
                "--url",
                url,
                "--secret",
                SECRET,
                "--room",
                "fake",
                "--viewers",
                "6",
                "--rate",
                "2",
                "--duration",
                "2",
                "--ramp",
                "0.5",
                "-q",
            ],
            tmp_path / "r.json",
        )
    assert code == 1, out
    assert report["chat"]["sent"] > 0
    assert report["correctness"]["lost_acks"] == report["chat"]["sent"]
    assert report["correctness"]["lost_acks_by_kind"] == {"chat": report["chat"]["sent"]}
    assert "lost_acks" in {f["check"] for f in report["verdict"]["failures"]}


async def test_no_server_could_not_run(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, report, out = await run_bots(
        [
            "join",
            "--url",
            f"http://127.0.0.1:{port}",
            "--secret",
            SECRET,
            "--room",
            "nobody",
            "--viewers",
            "3",
            "--duration",
            "1",
            "-q",
        ],
        tmp_path / "r.json",
    )
    assert code == 2, out
    assert report["connections"]["connect_failures_by_cause"].get("refused", 0) > 0
