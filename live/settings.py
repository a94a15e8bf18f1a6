"""One frozen Settings, built once from flags and environment, passed to constructors.

Every field ``name`` is read from ``LIVE_NAME`` in the environment; a command-line flag, when
given, wins over the environment; otherwise the default below applies. ``Settings.from_env``
is the only reader of that configuration, and ``validate`` the one place that checks it: a bad
value is one line naming the variable (the ``live`` command prints it and exits 2).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

DEV_SECRET = "dev-secret-change-me-for-anything-real"  # public: only for --dev
REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis+cluster://")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class Settings:
    # Identity and wiring
    secret: str = DEV_SECRET  # HS256 key for tokens; the default is refused unless dev
    redis_url: str = ""  # "" = start a bundled redis-server; redis+cluster://host:port = Redis Cluster
    host: str = "127.0.0.1"  # address to listen on
    port: int = 8000  # TCP port, 0-65535; 0 = any free port (printed at start)
    workers: int = 1  # server processes on this port, supervised; 1 = this process alone
    dev: bool = False  # enables POST /api/dev/token and the default secret
    data_dir: str = "./.live-data"  # the bundled Redis's AOF files (and its lock file), recordings
    key_prefix: str = "live:"  # every Redis key starts with it
    node_id: str = ""  # this process's name in shared counters; "" = random at start
    log_level: str = "warning"  # uvicorn's log level: critical, error, warning, info, debug, trace

    # Fan-out
    # The shortest batching tick: events within one tick go out as one frame; 0 = no batching.
    # A small room pays only this; a big one batches longer (sends_per_s, and twice the last flush).
    tick_ms: int = 5
    # Frames this process may send per second across all its viewers; the tick lengthens past
    # tick_ms when there are more viewers than that allows (5,000 viewers -> 125 ms). 0 = no cap.
    sends_per_s: int = 40_000
    # How often viewers/likes/stock/progress are refreshed; at least 1. Longer past 2,500 viewers
    # on a process, so these figures take at most a quarter of sends_per_s (10,000 -> 1 s); a
    # viewer count with nothing else to ride along with waits up to a sixteenth (10,000 -> 4 s).
    ephemeral_ms: int = 250
    outbox_max_bytes: int = 1 << 20  # a viewer further behind is disconnected (4008); 0 = no bound
    history_keep: int = 2000  # durable events kept per room for resume; at least 1000 (contract)
    recent_chat: int = 50  # chat lines in hello; 0 = none
    # How often the survivors of a young garbage collection are frozen out of the collector's
    # sight, with a full collection only once three times what the last one kept was frozen since
    # (live/heap.py); 0 = CPython's own collector.
    gc_freeze_s: float = 1.0
    hub_idle_ms: int = (
        5000  # a hub with no local viewers lingers this long before stopping; 0 = stops at once
    )

    # Limits per user and per connection
    chat_rate_posts: int = 5  # posts per user per chat_rate_window_ms; 0 = unlimited
    chat_rate_window_ms: int = 10_000  # the window of chat_rate_posts; at least 1
    duplicate_window_ms: int = 30_000  # same text from the same user within it is a duplicate; 0 = off
    frame_max_bytes: int = 4096  # larger client frames close the connection with 1009; at least 1
    frames_per_s: float = 20.0  # per-connection inbound frame rate; 0 = unlimited
    frames_burst: int = 40  # frames a connection may send at once above frames_per_s
    flood_strikes: int = 10  # rate_limited answers within 10 s before close 1008; 0 = never close
    # The wire budget: frames of any kind (text, binary, ping, pong, close) one WebSocket may
    # send per second, counted as they arrive and before they are parsed; past it the socket is
    # closed with 1008. It sits above frames_per_s/frames_burst, which answer rate_limited first.
    # 0 = no limit.
    wire_frames_per_s: float = 200.0
    wire_frames_burst: int = 400  # frames at once above wire_frames_per_s
    # Seconds within which an HTTP request's headers, or a WebSocket's opening handshake up to the
    # app's accept, must be complete, counted from the socket's opening (a later request on a
    # kept-alive socket: from its first byte); else the socket is closed. 0 = no limit.
    handshake_timeout_s: float = 10.0
    # Concurrent sockets from one client address; past it new ones are refused. Behind a
    # reverse proxy every client has the proxy's address: set 0 there and cap in the proxy.
    # 0 = no cap.
    max_conns_per_ip: int = 4096

    # Video
    ice_servers: tuple[str, ...] = field(default_factory=tuple)  # STUN/TURN URLs, comma-separated
    keyframe_interval_ms: int = 1000  # a keyframe at least this often; at least 1
    # WebRTC viewers this process takes over all its rooms; past it `watch` answers 409 with the
    # room's HLS playlist (contract §13). About 7 ms of CPU per viewer per second. 0 = none: every
    # viewer plays HLS.
    webrtc_viewers_max: int = 100
    # HLS beside WebRTC (docs/video.md#hls): one more encode per room, H.264 + AAC in fMP4.
    hls_segment_ms: int = 1000  # target segment length, 500-6000; 0 = no HLS
    hls_window: int = 6  # segments the rolling playlist lists; 3-30
    hls_max_fps: int = 30  # HLS frames per second at most; 0 = the source's rate
    hls_video_bitrate_bps: int = 0  # 0 = by picture size (about 0.7 Mbps at 640x360)
    hls_dir: str = ""  # where the playlists and segments are written; "" = <data_dir>/hls
    # Disk a room's recordings may take in data_dir/recordings (all its sessions together); the
    # recording stops, with one log line, when it is reached. 0 = no recording.
    recording_max_bytes: int = 4 << 30

    # Webhooks (contract §7; live/webhooks/)
    webhook_url: str = ""  # where events are POSTed; "" = no webhooks (no events are recorded)
    webhook_secret: str = ""  # HMAC key of Live-Signature; required with webhook_url
    webhook_timeout_s: float = 5.0  # one delivery attempt, connect to response, at most this; > 0
    webhook_retry_hours: int = 72  # an event is retried this long after its first attempt; >= 24
    webhook_backoff_max_s: float = 600.0  # the longest wait between two attempts; > 0

    @property
    def hls_directory(self) -> str:
        """Where HLS files go: ``hls_dir``, else ``hls`` in the data directory."""
        return self.hls_dir or os.path.join(self.data_dir, "hls")

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from ``LIVE_<FIELD>`` environment variables, then explicit overrides (flags) on top.

        Overrides that are None are not given (a flag left out). Raises ``SettingsError``.
        """
        values: dict[str, Any] = {}
        defaults = cls()
        for f in fields(cls):
            raw = os.environ.get(env_name(f.name))
            if raw is not None:
                values[f.name] = _parse(f.name, raw, getattr(defaults, f.name))
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"not settings: {sorted(unknown)}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise ``SettingsError`` with one line naming the first value that cannot be used."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            low, high = _RANGES.get(f.name, (0, None))
            if not math.isfinite(value) or value < low or (high is not None and value > high):
                raise SettingsError(_must_be(f.name, f.default) + f", got {value!r}")
        if not self.host:
            raise SettingsError("LIVE_HOST must not be empty")
        if self.redis_url and not self.redis_url.startswith(REDIS_SCHEMES):
            raise SettingsError(
                f"LIVE_REDIS_URL must start with one of {', '.join(REDIS_SCHEMES)}, got {self.redis_url!r}"
            )
        if self.log_level not in LOG_LEVELS:
            raise SettingsError(
                f"LIVE_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}"
            )
        if self.webhook_url and not self.webhook_url.startswith(("http://", "https://")):
            raise SettingsError(
                f"LIVE_WEBHOOK_URL must start with http:// or https://, got {self.webhook_url!r}"
            )
        if self.webhook_url and not self.webhook_secret:
            raise SettingsError("LIVE_WEBHOOK_SECRET (or --webhook-secret) must be set with a webhook URL")
        if self.hls_segment_ms and not 500 <= self.hls_segment_ms <= 6000:
            raise SettingsError(f"LIVE_HLS_SEGMENT_MS must be 0 or 500-6000, got {self.hls_segment_ms!r}")
        if not self.secret:
            raise SettingsError("LIVE_SECRET must not be empty")
        if self.secret == DEV_SECRET and not self.dev:
            raise SettingsError(
                "LIVE_SECRET (or --secret) must be set: the default secret is public (or run with --dev)"
            )


# Bounds of numeric fields, inclusive; a field not named here must be >= 0.
_RANGES: dict[str, tuple[float, float | None]] = {
    "port": (0, 65535),
    "workers": (1, None),
    "ephemeral_ms": (1, None),
    "history_keep": (1000, None),
    "chat_rate_window_ms": (1, None),
    "frame_max_bytes": (1, None),
    "keyframe_interval_ms": (1, None),
    "hls_window": (3, 30),
    "hls_max_fps": (0, 120),
    "webhook_timeout_s": (0.01, None),
    "webhook_retry_hours": (24, None),
    "webhook_backoff_max_s": (0.01, None),
}


def env_name(name: str) -> str:
    return f"LIVE_{name.upper()}"


def _must_be(name: str, kind_of: object) -> str:
    kind = "a number" if isinstance(kind_of, float) else "an integer"
    low, high = _RANGES.get(name, (0, None))
    bounds = f"{low:g}-{high:g}" if high is not None else f">= {low:g}"
    return f"{env_name(name)} must be {kind} {bounds}"


def _parse(name: str, raw: str, default: object) -> object:
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("", "0", "false", "no", "off"):
            return False
        raise SettingsError(f"{env_name(name)} must be true or false (1/0, yes/no), got {raw!r}")
    if isinstance(default, tuple):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    if isinstance(default, int | float):
        try:
            return type(default)(raw.strip())
        except ValueError:
            raise SettingsError(_must_be(name, default) + f", got {raw!r}") from None
    return raw


def recordings_dir(settings: Settings) -> Path:
    """Where this process writes its rooms' recordings (live/recordings.py) and serves them from."""
    return Path(settings.data_dir) / "recordings"
