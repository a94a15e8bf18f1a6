"""Run ``python -m bots`` as a subprocess from a test, bounded in time, and read its JSON."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[2]


async def run_bots(
    args: list[str], json_path: Path, timeout_s: float = 60.0
) -> tuple[int, dict[str, Any], str]:
    """Run the bots to completion; (exit code, report, stdout+stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bots",
        *args,
        "--json",
        str(json_path),
        "--seed",
        "1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "LIVE_SECRET": ""},
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    code = proc.returncode
    assert code is not None
    data = await asyncio.to_thread(lambda: json_path.read_bytes() if json_path.exists() else b"{}")
    report = orjson.loads(data)
    return code, report, out.decode(errors="replace")
