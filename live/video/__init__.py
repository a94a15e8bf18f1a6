"""Live video: WebRTC publish and watch through aiortc, one encode per room.

The host's stream is decoded once and encoded once per room (VP8 + Opus); every
viewer's sender is handed the same encoded packets and only packetizes them.
The HTTP layer talks to :class:`VideoService` and nothing else.
"""

from live.video.service import VideoService

__all__ = ["VideoService"]
