"""A room's whole durable history: the archive and the stream, read as one sequence of pages.

The stream keeps the resume window; older events are moved, 100 at a time, into the room's
archive by the script that emits (``_lib.lua`` ``archive_old``). ``history.lua`` reads both in one
atomic step, so a page never misses an event that moved between two reads, nor shows one twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from live.store import RoomStore
from rooms.errors import BadRequest

MAX_PAGE = 1000  # events in one page at most (contract §12)


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """Events after some seq, oldest first, each with the ms Redis appended it at."""

    events: list[tuple[int, dict[str, Any]]]
    next: int | None  # the ``after`` of the following page; None when there is no more (yet)


def parse_page_args(after: str | None, limit: str | None) -> tuple[int, int]:
    """``after`` (default 0) and ``limit`` (1-1000, default 1000) of a history request."""
    try:
        a = int(after) if after not in (None, "") else 0
        n = int(limit) if limit not in (None, "") else MAX_PAGE
    except ValueError:
        raise BadRequest("after and limit must be integers") from None
    if a < 0 or not 1 <= n <= MAX_PAGE:
        raise BadRequest(f"after must be >= 0 and limit 1-{MAX_PAGE}")
    return a, n


async def read_page(store: RoomStore, room: str, after: int, limit: int) -> HistoryPage:
    """The durable events of ``room`` with seq in (after, after + limit]."""
    k = store.keys(room)
    reply = await store.scripts.history(keys=[k.meta, k.events], args=[after, limit])
    latest = int(reply[1])
    events: list[tuple[int, dict[str, Any]]] = []
    for packed in reply[2]:
        for ms, event in orjson.loads(packed):
            if after < event["seq"] <= after + limit:
                events.append((ms, event))
    for pair in reply[3]:
        ms, event = orjson.loads(pair)
        events.append((ms, event))
    events = events[:limit]
    # Past a gap (events trimmed before archives existed) the cursor still moves on.
    cursor = events[-1][1]["seq"] if events else min(after + limit, latest)
    return HistoryPage(events, cursor if cursor < latest else None)


async def every_event(store: RoomStore, room: str) -> AsyncIterator[tuple[int, dict[str, Any]]]:
    """Every durable event of ``room`` from the first, page by page."""
    after: int | None = 0
    while after is not None:
        page = await read_page(store, room, after, MAX_PAGE)
        for pair in page.events:
            yield pair
        after = page.next
