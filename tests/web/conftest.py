"""Browser fixtures: one Debian Chromium per test module (never a downloaded browser)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support import ServerProc

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def server(shared_server: ServerProc) -> ServerProc:
    """The session's `live serve --dev` (every web test works in a room of its own)."""
    return shared_server
