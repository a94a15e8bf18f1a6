"""Peer helpers: ICE configuration, one codec per viewer, keyframe requests routed to the room."""

from __future__ import annotations

import pytest
from aiortc import RTCPeerConnection

from live.video.peers import forward_keyframe_requests, prefer_codec, rtc_configuration


def test_ice_servers_become_the_configuration() -> None:
    assert rtc_configuration([]).iceServers == []
    config = rtc_configuration(["stun:stun.example.org:3478"])
    assert config.iceServers is not None
    assert config.iceServers[0].urls == ["stun:stun.example.org:3478"]
    with pytest.raises(ValueError):
        rtc_configuration(["http://example.org"])


async def test_prefer_codec_keeps_only_that_codec_and_its_rtx() -> None:
    pc = RTCPeerConnection()
    try:
        transceiver = pc.addTransceiver("video", direction="sendonly")
        prefer_codec(transceiver, "video/VP8")
        assert {c.mimeType for c in transceiver._preferred_codecs} == {"video/VP8", "video/rtx"}
    finally:
        await pc.close()


async def test_keyframe_requests_reach_the_callback() -> None:
    pc = RTCPeerConnection()
    asked = []
    try:
        transceiver = pc.addTransceiver("video", direction="sendonly")
        forward_keyframe_requests(transceiver.sender, lambda: asked.append(1))
        transceiver.sender._send_keyframe()  # what aiortc calls on PLI/FIR
        assert asked == [1]
    finally:
        await pc.close()
