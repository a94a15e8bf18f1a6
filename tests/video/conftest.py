"""Fixtures for the video tests: loopback-only ICE and a service that is always closed."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator

import aioice.ice
import pytest

from live.video import VideoService


@pytest.fixture(autouse=True)
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    # aioice offers host candidates on every interface except loopback. This
    # workplace allows test traffic to 127.0.0.1 only, so every peer here (the
    # service under test and the test clients) gathers 127.0.0.1 and nothing else.
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


@pytest.fixture
async def service() -> AsyncIterator[VideoService]:
    svc = VideoService()
    try:
        yield svc
    finally:
        await svc.close()


@pytest.fixture
def our_threads() -> frozenset[threading.Thread]:
    """Threads alive before the test, to compare with after."""
    return frozenset(threading.enumerate())
