"""What a viewer's ``RTCRtpSender`` reads: the room's encoded packets.

``recv()`` returns an ``av.Packet``, not a frame, so aiortc's sender skips its
own encoder and only packetizes (``Vp8Encoder.pack`` / ``OpusEncoder.pack``):
the per-viewer cost is packetizing, SRTP and sending, not encoding.
"""

from __future__ import annotations

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from live.video.fanout import Fanout, Subscriber


class RelayTrack(MediaStreamTrack):
    """One viewer's track of one kind, fed by the room's fanout.

    It subscribes on the first ``recv()``, that is when the viewer's connection
    is up and its sender starts: a viewer still connecting queues nothing, and
    its first packet is a fresh keyframe rather than a backlog.
    """

    def __init__(self, fanout: Fanout) -> None:
        super().__init__()
        self.kind = fanout.kind
        self._fanout = fanout
        self._sub: Subscriber | None = None

    async def recv(self) -> av.Packet:
        """The next encoded packet; ``MediaStreamError`` once the room's stream or this track has ended."""
        if self.readyState != "live":
            raise MediaStreamError
        if self._sub is None:
            self._sub = self._fanout.subscribe()
        try:
            return await self._sub.get()
        except MediaStreamError:
            self.stop()
            raise

    def stop(self) -> None:
        """Leave the fanout (the sender stopped, or the stream ended)."""
        super().stop()
        if self._sub is not None:
            self._fanout.unsubscribe(self._sub)
            self._sub = None
