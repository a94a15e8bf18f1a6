"""rooms/ has no I/O: it imports no asyncio, redis, starlette, websockets or aiortc."""

import ast
from pathlib import Path

FORBIDDEN = {"asyncio", "redis", "starlette", "websockets", "aiortc", "uvicorn", "httpx", "socket", "time"}
ROOMS = Path(__file__).resolve().parents[2] / "rooms"


def test_rooms_imports_no_io() -> None:
    offenders = []
    for path in ROOMS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
