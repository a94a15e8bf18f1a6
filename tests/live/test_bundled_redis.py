"""The bundled Redis dies with its `live` process, even on SIGKILL, and owns its data dir alone."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx

from kit.procs import REPO, ServerProc, alive, command_of, descendants, wait_until
from kit.tokens import SECRET


def _redis_pids(pids: list[int]) -> list[int]:
    return [p for p in pids if "redis-server" in command_of(p)]


def test_kill_9_of_serve_takes_its_redis_along(tmp_path: Path) -> None:
    server = ServerProc(None, "k9:", data_dir=tmp_path / "data")
    try:
        redis = _redis_pids(descendants(server.proc.pid))
        assert len(redis) == 1, [command_of(p) for p in descendants(server.proc.pid)]
        server.kill()
        wait_until(lambda: not alive(redis[0]), 10, f"redis-server {redis[0]} to exit")
    finally:
        server.cleanup()


def test_kill_9_of_demo_takes_its_redis_and_its_crowd_along(tmp_path: Path) -> None:
    demo = ServerProc(None, "k9demo:", data_dir=tmp_path / "data", command="demo", args=["--crowd", "2"])
    try:
        wait_until(lambda: "demo crowd of 2 started" in demo.output(), 30, "the crowd to start")
        wait_until(
            lambda: httpx.get(f"{demo.url}/api/rooms/demo", timeout=2).json()["viewers"] >= 2,
            60,
            "the crowd's viewers to join",
        )
        helpers = descendants(demo.proc.pid)
        crowd = int(re.search(r"demo crowd of 2 started \(pid (\d+)\)", demo.output()).group(1))  # type: ignore[union-attr]
        assert crowd in helpers and len(_redis_pids(helpers)) == 1
        demo.kill()
        for pid in helpers:
            wait_until(lambda p=pid: not alive(p), 15, f"{command_of(pid)!r} (pid {pid}) to exit")  # type: ignore[misc]
    finally:
        demo.cleanup()


def test_a_second_live_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = ServerProc(None, "twice:", data_dir=data)
    try:
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "live",
                "serve",
                "--port",
                "0",
                "--data-dir",
                str(data),
                "--secret",
                SECRET,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=REPO,
        )
        assert second.returncode == 1
        assert second.stderr == (
            f"live: the data dir {data.resolve()} is in use by another live process (pid {first.proc.pid})\n"
        )
        assert len(_redis_pids(descendants(first.proc.pid))) == 1
        assert first.healthy()
    finally:
        first.cleanup()


def test_after_kill_9_a_restart_on_the_same_data_dir_has_the_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = ServerProc(None, "again:", data_dir=data)
    headers = {"Authorization": "Bearer " + first.token("host", "kept", name="Host", sub="host")}
    try:
        assert (
            httpx.put(f"{first.url}/api/rooms/kept", json={"title": "Kept"}, headers=headers).status_code
            == 201
        )
        first.kill()  # its redis-server gets SIGTERM, flushes, exits and lets go of the dir
    finally:
        first.cleanup()
    again = ServerProc(None, "again:", data_dir=data)
    try:
        assert httpx.get(f"{again.url}/api/rooms/kept", timeout=5).json()["room"]["title"] == "Kept"
        assert len(_redis_pids(descendants(again.proc.pid))) == 1
    finally:
        again.cleanup()
