"""`live demo`: a server, a bundled Redis, a live demo room with a pin and a crowd that chats."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

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
        finally:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=30)
