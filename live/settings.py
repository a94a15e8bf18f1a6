"""One frozen Settings, built once from flags and environment, passed to constructors."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields


@dataclass(frozen=True, slots=True)
class Settings:
    secret: str = "dev-secret-change-me-for-anything-real"  # HS256 key for tokens (LIVE_SECRET)
    redis_url: str = ""  # "" = start a bundled redis-server; redis+cluster://host:port = Redis Cluster
    host: str = "127.0.0.1"
    port: int = 8000  # 0 = any free port (printed at start)
    dev: bool = False  # enables POST /api/dev/token
    data_dir: str = "./.live-data"  # bundled Redis's AOF files
    key_prefix: str = "live:"  # every Redis key starts with it
    node_id: str = ""  # this process's name in shared counters; "" = random at start

    tick_ms: int = 50  # events within one tick go out as one frame; 0 = no batching
    # Frames this process may send per second across all its viewers; the tick lengthens past
    # tick_ms when there are more viewers than that allows (5,000 viewers -> 125 ms). 0 = no cap.
    sends_per_s: int = 40_000
    ephemeral_ms: int = 250  # how often viewers/likes/stock/progress are refreshed
    outbox_max_bytes: int = 1 << 20  # a viewer further behind than this is disconnected (4008)
    history_keep: int = 2000  # durable events kept per room for resume (contract: >= 1000)
    recent_chat: int = 50  # chat lines in hello
    hub_idle_ms: int = 5000  # a hub with no local viewers lingers this long before stopping

    chat_rate_posts: int = 5  # posts per user per chat_rate_window_ms; 0 = unlimited
    chat_rate_window_ms: int = 10_000
    duplicate_window_ms: int = 30_000  # same text from the same user within it is a duplicate
    frame_max_bytes: int = 4096  # larger client frames close the connection with 1009
    frames_per_s: float = 20.0  # per-connection inbound frame rate; 0 = unlimited
    frames_burst: int = 40
    flood_strikes: int = 10  # rate_limited answers within 10 s before close 1008
    # The wire budget: frames of any kind (text, binary, ping, pong, close) one WebSocket may
    # send, counted as they arrive and before they are parsed; past it the socket is closed
    # with 1008. It sits above frames_per_s/frames_burst, which answer rate_limited first.
    # 0 = no limit.
    wire_frames_per_s: float = 200.0
    wire_frames_burst: int = 400
    # An HTTP request's headers, or a WebSocket's opening handshake, must be complete within
    # this many seconds of the socket's first byte, else the socket is closed. 0 = no limit.
    handshake_timeout_s: float = 10.0
    # Concurrent sockets from one client address; past it new ones are refused. Behind a
    # reverse proxy every client has the proxy's address: set 0 there and cap in the proxy.
    # 0 = no cap.
    max_conns_per_ip: int = 4096

    ice_servers: tuple[str, ...] = field(default_factory=tuple)  # STUN/TURN URLs for WebRTC
    keyframe_interval_ms: int = 1000

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from ``LIVE_<FIELD>`` environment variables, then explicit overrides (flags) on top."""
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = os.environ.get(f"LIVE_{f.name.upper()}")
            if raw is None:
                continue
            default = getattr(cls(), f.name)
            if isinstance(default, bool):
                values[f.name] = raw.lower() in ("1", "true", "yes")
            elif isinstance(default, tuple):
                values[f.name] = tuple(part for part in raw.split(",") if part)
            else:
                values[f.name] = type(default)(raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
