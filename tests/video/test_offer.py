"""parse_offer: every unusable or hostile body is one BadRequest, before any peer connection exists."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from aiortc import RTCPeerConnection, RTCRtpSender

from live.video.offer import MAX_SDP_CHARS, Offer, Role, parse_offer
from rooms.errors import BadRequest

from .clients import make_offer
from .media import PatternVideoTrack, ToneAudioTrack


@pytest.fixture
async def publish_sdp() -> AsyncIterator[str]:
    pc = RTCPeerConnection()
    pc.addTrack(PatternVideoTrack(60))
    pc.addTrack(ToneAudioTrack(440.0))
    try:
        yield (await make_offer(pc))["sdp"]
    finally:
        await pc.close()


@pytest.fixture
async def watch_sdp() -> AsyncIterator[str]:
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    try:
        yield (await make_offer(pc))["sdp"]
    finally:
        await pc.close()


def body(sdp: str) -> dict[str, str]:
    return {"sdp": sdp, "type": "offer"}


def test_a_browser_like_publish_offer_is_accepted(publish_sdp: str) -> None:
    assert parse_offer(body(publish_sdp), Role.PUBLISH) == Offer(publish_sdp, ("video", "audio"))


def test_a_receive_only_offer_is_a_watch_offer(watch_sdp: str) -> None:
    assert parse_offer(body(watch_sdp), Role.WATCH).kinds == ("video", "audio")
    with pytest.raises(BadRequest, match="must send audio or video"):
        parse_offer(body(watch_sdp), Role.PUBLISH)


def test_a_sending_offer_is_not_a_watch_offer(publish_sdp: str) -> None:
    watchable = publish_sdp.replace("a=sendrecv", "a=sendonly")
    with pytest.raises(BadRequest, match="must receive"):
        parse_offer(body(watchable), Role.WATCH)


@pytest.mark.parametrize(
    "value",
    [
        None,
        [],
        "v=0",
        {"type": "offer"},
        {"sdp": 12, "type": "offer"},
        {"sdp": "v=0", "type": "answer"},
        {"sdp": "v=0"},
        {"sdp": "   ", "type": "offer"},
    ],
)
def test_a_body_of_the_wrong_shape_is_refused(value: object) -> None:
    with pytest.raises(BadRequest):
        parse_offer(value, Role.PUBLISH)


@pytest.mark.parametrize(
    "sdp",
    [
        "garbage",
        "v=0\r\nm=video nine UDP/TLS/RTP/SAVPF 96\r\n",  # the parser asserts on this
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 300\r\n",  # payload type out of range: assert
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF x\r\n",  # int() of a word
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=fmtp:97 x=1\r\n",  # fmtp for no codec: StopIteration
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=setup:sideways\r\n",  # KeyError
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=candidate:1 1 udp\r\n",
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96\r\n",
        "v=0\r\x00m=video 9 UDP/TLS/RTP/SAVPF 96\r\n",
        "x" * (MAX_SDP_CHARS + 1),
    ],
)
def test_malformed_or_hostile_sdp_is_a_bad_request(sdp: str) -> None:
    with pytest.raises(BadRequest):
        parse_offer(body(sdp), Role.PUBLISH)


@pytest.mark.parametrize(
    ("pattern", "replacement", "message"),
    [
        (r"a=ice-pwd:[^\r\n]*\r\n", "", "ICE credentials"),
        (r"a=ice-ufrag:[^\r\n]*\r\n", "", "ICE credentials"),
        (r"a=fingerprint:[^\r\n]*\r\n", "", "DTLS fingerprint"),
        (r"a=setup:[^\r\n]*\r\n", "", "DTLS fingerprint or setup"),
        (r"a=rtcp-mux\r\n", "", "rtcp-mux"),
        (r"a=mid:[^\r\n]*\r\n", "", "no mid"),
        (r"m=audio", "m=video", "more than one video"),
        (r"m=audio", "m=application", "only audio and video"),
    ],
)
def test_sections_we_cannot_serve_are_refused(
    publish_sdp: str, pattern: str, replacement: str, message: str
) -> None:
    broken = re.sub(pattern, replacement, publish_sdp)
    assert broken != publish_sdp
    with pytest.raises(BadRequest, match=message):
        parse_offer(body(broken), Role.PUBLISH)


def test_too_many_candidates_are_refused(publish_sdp: str) -> None:
    extra = "".join(f"a=candidate:{i} 1 udp 1 127.0.0.1 {10000 + i} typ host\r\n" for i in range(40))
    flooded = publish_sdp.replace("a=end-of-candidates\r\n", extra + "a=end-of-candidates\r\n", 1)
    assert flooded != publish_sdp
    with pytest.raises(BadRequest, match="ICE candidates"):
        parse_offer(body(flooded), Role.PUBLISH)


async def test_a_viewer_must_accept_vp8_and_opus() -> None:
    pc = RTCPeerConnection()
    video = pc.addTransceiver("video", direction="recvonly")
    h264 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/H264"]
    video.setCodecPreferences(h264)
    try:
        sdp = (await make_offer(pc))["sdp"]
    finally:
        await pc.close()
    with pytest.raises(BadRequest, match="video/VP8"):
        parse_offer(body(sdp), Role.WATCH)

    pc = RTCPeerConnection()
    audio = pc.addTransceiver("audio", direction="recvonly")
    pcmu = [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType == "audio/PCMU"]
    audio.setCodecPreferences(pcmu)
    try:
        sdp = (await make_offer(pc))["sdp"]
    finally:
        await pc.close()
    with pytest.raises(BadRequest, match="audio/opus"):
        parse_offer(body(sdp), Role.WATCH)
