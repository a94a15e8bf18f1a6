"""The lowest dependency versions pyproject.toml allows really run `live serve` and a WebSocket round trip.

A fresh venv gets each core dependency at its lower bound from the package index, then this
project without dependencies, and serves from outside the checkout. Video (aiortc, av, numpy) and the
terminal UI (rich) are left out: the server runs without video when aiortc is missing, and
installing aiortc's stack would make this test minutes long; their bounds are not checked here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from kit.procs import REPO, ServerProc
from tests.support import Client, RedisProc, make_room, new_prefix

pytestmark = pytest.mark.lower_bounds
NOT_CHECKED = {"aiortc", "av", "numpy", "rich"}


def lower_bounds() -> list[str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = []
    for dep in deps:
        spec = dep.split(";")[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?>=([0-9.]+)", spec)
        assert match, f"pyproject dependency without a plain lower bound: {dep!r}"
        name, extras, version = match.groups()
        if name.lower() not in NOT_CHECKED:
            pins.append(f"{name}{extras or ''}=={version}")
    return pins


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, timeout=300, capture_output=True, text=True)
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
    assert done.returncode == 0, "\n".join(errors) or done.stderr[-2000:]


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lower-bounds")
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True, timeout=120)
    python = root / "venv" / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run([*pip, *lower_bounds()])
    # From a copy, so that the build leaves nothing in the checkout.
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for package in ("live", "rooms", "bots"):
        shutil.copytree(REPO / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    _run([*pip, "--no-deps", str(src)])
    return python


async def test_serve_and_a_chat_round_trip_on_the_lowest_versions(
    venv_python: Path, redis_proc: RedisProc, tmp_path: Path
) -> None:
    server = ServerProc(redis_proc.url, new_prefix(), python=str(venv_python), cwd=tmp_path)
    output = ""
    try:
        room, _ = await make_room(server)
        poster = await Client.connect(server, room, server.token(name="Low", sub="low"))
        ack = await poster.request({"t": "chat", "id": "c1", "text": "on the lowest versions"})
        assert ack["t"] == "ack", ack
        poster.rewind(0)  # the line may arrive before or after its ack
        await poster.next_of("chat", seq=ack["seq"])
        await poster.close()
    finally:
        server.stop()
        output = server.output()
        print(output)  # shown when the test fails
        server.cleanup()
    assert "Traceback" not in output
