"""Small helpers around aiortc's ``RTCPeerConnection``: configuration, answering, codecs, keyframes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)

_ICE_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")


def rtc_configuration(ice_servers: Sequence[str]) -> RTCConfiguration:
    """The configuration every peer connection gets; raises ``ValueError`` for a URL that is not STUN/TURN."""
    for url in ice_servers:
        if not isinstance(url, str) or not url.startswith(_ICE_SCHEMES):
            raise ValueError(f"not a STUN/TURN URL: {url!r}")
    return RTCConfiguration(iceServers=[RTCIceServer(urls=list(ice_servers))] if ice_servers else [])


async def answer_offer(pc: RTCPeerConnection, sdp: str) -> dict[str, str]:
    """Apply a remote offer and return our answer as the JSON body ``{"sdp", "type": "answer"}``.

    aiortc gathers every ICE candidate inside ``setLocalDescription``, so the
    answer is complete: no trickle ICE, one HTTP round trip.
    """
    await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    local = pc.localDescription
    return {"sdp": local.sdp, "type": local.type}


def prefer_codec(transceiver: RTCRtpTransceiver, mime_type: str) -> None:
    """Negotiate only ``mime_type`` (plus its RTX) on ``transceiver``.

    The room's packets are encoded once, in one codec: a viewer's sender must
    packetize exactly that codec, whatever the viewer listed first.
    """
    kind = transceiver.kind
    codecs = RTCRtpSender.getCapabilities(kind).codecs
    chosen = [c for c in codecs if c.mimeType.lower() == mime_type.lower()]
    chosen += [c for c in codecs if c.mimeType.lower() == f"{kind}/rtx"]
    transceiver.setCodecPreferences(chosen)


def forward_keyframe_requests(sender: RTCRtpSender, request: Callable[[], None]) -> None:
    """Send a viewer's PLI/FIR to the room's encoder instead of the sender's own (unused) one.

    aiortc answers PLI/FIR by calling ``sender._send_keyframe()``, which only
    sets a flag read when the sender encodes; with pre-encoded packets it never
    does. This reaches into that private method; if a later aiortc drops it,
    requests are lost but the periodic keyframe still bounds a viewer's wait.
    """
    if callable(getattr(sender, "_send_keyframe", None)):
        sender._send_keyframe = request  # type: ignore[method-assign]
