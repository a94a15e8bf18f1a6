"""The rules of a live-shopping room: validation, decisions and events, with no I/O.

Nothing in this package imports asyncio, redis, starlette, websockets or aiortc;
time is always passed in as ``now_ms``.
"""
