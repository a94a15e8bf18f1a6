"""The uvicorn server that runs the app: which protocol classes, limits and timeouts it uses.

Built in the process that will run it (a forked worker builds its own).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

from live.settings import Settings


def _live_server_class() -> Any:
    import uvicorn

    class LiveServer(uvicorn.Server):
        """uvicorn's server, unblocking SIGTERM once its own handlers are in (see ``live.cli``)."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
                yield

    return LiveServer


def build_server(settings: Settings) -> Any:
    """The app and its ``uvicorn.Server``."""
    import uvicorn

    from live.admission import TransportLimits
    from live.app import create_app
    from live.http_protocol import LiveHttpProtocol
    from live.ws_protocol import LiveWebSocketProtocol

    # One set of limits per process: the per-address count is shared by its HTTP and WebSocket sockets.
    limits = TransportLimits.from_settings(settings)
    config = uvicorn.Config(
        create_app(settings),
        ws=LiveWebSocketProtocol.configured(limits),  # uvicorn's websockets-sansio, hardened
        ws_per_message_deflate=False,  # doubles CPU per delivery; batching is the lever instead
        ws_max_size=settings.frame_max_bytes,
        http=LiveHttpProtocol.configured(limits),  # uvicorn's httptools, with deadlines and a cap
        loop="uvloop",
        lifespan="on",
        log_level=settings.log_level,
        timeout_graceful_shutdown=3,
    )
    return _live_server_class()(config)
