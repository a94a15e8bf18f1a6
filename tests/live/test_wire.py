"""The wire scanner counts every client frame from raw bytes, across any chunking; the budget cuts bursts."""

from __future__ import annotations

import os
import struct

from live.wire import FrameBudget, FrameScanner, WireGuard

NO_LIMIT = 1 << 30


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (RFC 6455 §5.2), with the shortest length encoding."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    mask = os.urandom(4)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


FRAMES = [
    client_frame(0x1, b"xx"),
    client_frame(0x9, b"p" * 125),  # ping with the largest control payload
    client_frame(0x1, b"t" * 126),  # the first 16-bit length
    client_frame(0x2, b"b" * 70_000),  # a 64-bit length
    client_frame(0xA, b""),  # empty pong
    client_frame(0x8, struct.pack("!H", 1000)),  # close
]
STREAM = b"".join(FRAMES)


def test_counts_each_kind_of_frame_in_one_chunk() -> None:
    assert FrameScanner().feed(STREAM, NO_LIMIT) == len(FRAMES)


def test_any_chunking_gives_the_same_count() -> None:
    for size in (1, 2, 3, 7, 13, 14, 127, 4096):
        scanner = FrameScanner()
        chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
        assert sum(scanner.feed(chunk, NO_LIMIT) for chunk in chunks) == len(FRAMES), size


def test_a_frame_counts_in_the_chunk_that_completes_its_header() -> None:
    frame = client_frame(0x1, b"t" * 300)  # 2 + 2 + 4 header bytes
    scanner = FrameScanner()
    assert scanner.feed(frame[:5], NO_LIMIT) == 0
    assert scanner.feed(frame[5:8], NO_LIMIT) == 1
    assert scanner.feed(frame[8:] + frame, NO_LIMIT) == 1


def test_counting_stops_just_past_the_limit() -> None:
    flood = client_frame(0x1, b"xx") * 10_000
    assert FrameScanner().feed(flood, 400) == 401


def test_budget_refills_at_its_rate_up_to_its_burst() -> None:
    budget = FrameBudget(per_s=10, burst=5)
    assert budget.available(100.0) == 5
    budget.spend(5)
    assert budget.available(100.0) == 0
    assert budget.available(100.5) == 5
    assert budget.available(1000.0) == 5


def test_guard_admits_a_steady_client_and_refuses_a_burst() -> None:
    guard = WireGuard(frames_per_s=200, frames_burst=400)
    frame = client_frame(0x1, b'{"t":"ping"}')
    for i in range(1000):  # 100 a second for 10 s, one frame a chunk
        assert guard.admit(frame, i / 100)
    assert not guard.admit(client_frame(0x1, b"xx") * 1000, 10.0)


def test_guard_refuses_a_sustained_flood_in_small_chunks() -> None:
    guard = WireGuard(frames_per_s=200, frames_burst=400)
    chunk = client_frame(0x9, b"") * 10
    admitted = 0
    now = 0.0
    while guard.admit(chunk, now):  # 10,000 frames a second
        admitted += 1
        now += 0.001
    assert 40 <= admitted <= 50  # the burst, plus what 200/s refills over the ~45 ms it lasts


def test_guard_without_a_rate_admits_everything() -> None:
    guard = WireGuard(frames_per_s=0, frames_burst=0)
    assert not guard.enabled
    assert guard.admit(client_frame(0x1, b"xx") * 10_000, 0.0)


def test_without_a_budget_the_guard_still_knows_where_the_next_frame_starts() -> None:
    guard = WireGuard(0, 0)  # no budget: every chunk admitted
    stream = b"".join(FRAMES)
    assert guard.at_frame_start
    ends = set()
    at = 0
    for frame in FRAMES:
        at += len(frame)
        ends.add(at)
    for cut in range(0, len(stream), 997):
        guard.admit(stream[cut : cut + 997], 0.0)
        assert guard.at_frame_start is (min(cut + 997, len(stream)) in ends)
