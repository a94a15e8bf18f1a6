"""The uvicorn server that runs the app: which protocol classes, limits and timeouts it uses.

Built in the process that will run it (a forked worker builds its own).
"""

from __future__ import annotations

import os
from typing import Any

from live.settings import Settings


def build_server(settings: Settings) -> Any:
    """The app and its ``uvicorn.Server``."""
    import uvicorn

    from live.app import create_app

    config = uvicorn.Config(
        create_app(settings),
        ws="websockets-sansio",
        ws_per_message_deflate=False,  # doubles CPU per delivery; batching is the lever instead
        ws_max_size=settings.frame_max_bytes,
        http="httptools",
        loop="uvloop",
        lifespan="on",
        log_level=os.environ.get("LIVE_LOG_LEVEL", "warning"),
        timeout_graceful_shutdown=3,
    )
    return uvicorn.Server(config)
