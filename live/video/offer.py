"""Validate a WebRTC offer body before any peer connection is made for it.

The body comes from anyone on the internet. aiortc's SDP parser trusts its
input (asserts, bare ``int()``, ``next()`` on a missing codec) and a bad offer
could also leave a half-built peer connection behind, so everything the relay
relies on is checked here first and every failure becomes one ``BadRequest``.
Pure: no I/O, no peer connection.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from aiortc import sdp

from rooms.errors import BadRequest

MAX_SDP_CHARS = 64 * 1024  # browsers' offers are 3-10 KB; anything far larger is not a browser
MAX_CANDIDATES = 32  # ICE candidates we will send connectivity checks to, per offer

# What a viewer must accept: the room is encoded once, in these codecs.
VIDEO_CODEC = "video/VP8"
AUDIO_CODEC = "audio/opus"

_SENDS = ("sendonly", "sendrecv")
_RECEIVES = ("recvonly", "sendrecv")


class Role(enum.Enum):
    """Why the offer is made: the host publishes, a viewer watches."""

    PUBLISH = "publish"
    WATCH = "watch"


@dataclass(frozen=True, slots=True)
class Offer:
    """A checked offer: its SDP and the kinds of media it carries our way (or wants from us)."""

    sdp: str
    kinds: tuple[str, ...]  # "video" and/or "audio", in m-line order


def parse_offer(body: object, role: Role) -> Offer:
    """Return the offer in ``body`` (the parsed JSON request body), or raise ``BadRequest``."""
    if not isinstance(body, dict):
        raise BadRequest('body must be {"sdp": string, "type": "offer"}')
    text, kind = body.get("sdp"), body.get("type")
    if kind != "offer":
        raise BadRequest('"type" must be "offer"')
    if not isinstance(text, str) or not text.strip():
        raise BadRequest('"sdp" must be a non-empty string')
    if len(text) > MAX_SDP_CHARS:
        raise BadRequest(f"sdp is longer than {MAX_SDP_CHARS} characters")
    if "\x00" in text:
        raise BadRequest("sdp contains a NUL character")
    try:
        description = sdp.SessionDescription.parse(text)
    except Exception as exc:  # the parser raises anything from AssertionError to StopIteration
        raise BadRequest(f"malformed sdp ({type(exc).__name__})") from None
    return Offer(sdp=text, kinds=_check_media(description, role))


def _check_media(description: sdp.SessionDescription, role: Role) -> tuple[str, ...]:
    kinds: list[str] = []
    candidates = 0
    for media in description.media:
        if media.kind not in ("audio", "video"):
            raise BadRequest(f"only audio and video sections are accepted, not {media.kind!r}")
        if media.kind in kinds:
            raise BadRequest(f"more than one {media.kind} section")
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            raise BadRequest(f"{media.kind} section has no ICE credentials")
        if media.dtls is None or not media.dtls.fingerprints:
            raise BadRequest(f"{media.kind} section has no DTLS fingerprint or setup")
        if not media.rtcp_mux:
            raise BadRequest(f"{media.kind} section does not use rtcp-mux")
        if not media.rtp.muxId:
            raise BadRequest(f"{media.kind} section has no mid")
        candidates += len(media.ice_candidates)
        # No direction attribute means sendrecv (RFC 4566 6).
        direction = media.direction or "sendrecv"
        if role is Role.PUBLISH:
            if direction in _SENDS:
                kinds.append(media.kind)
            continue
        if direction not in _RECEIVES:
            raise BadRequest(f"a watch offer must receive its {media.kind} (recvonly)")
        wanted = VIDEO_CODEC if media.kind == "video" else AUDIO_CODEC
        if not any(codec.mimeType.lower() == wanted.lower() for codec in media.rtp.codecs):
            raise BadRequest(f"a viewer must accept {wanted}")
        kinds.append(media.kind)
    if candidates > MAX_CANDIDATES:
        raise BadRequest(f"more than {MAX_CANDIDATES} ICE candidates")
    if not kinds:
        if role is Role.PUBLISH:
            raise BadRequest("a publish offer must send audio or video")
        raise BadRequest("a watch offer must receive audio or video")
    return tuple(kinds)
