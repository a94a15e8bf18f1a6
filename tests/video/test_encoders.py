"""Vp8Encoder and OpusEncoder: packets a sender can packetize, keyframes on demand."""

from __future__ import annotations

import fractions
import itertools

import av
import numpy as np

from live.video.encoders import AUDIO_TIME_BASE, VIDEO_TIME_BASE, OpusEncoder, Vp8Encoder

from .media import HEIGHT, make_frame, pts, read_counter


def test_vp8_packets_decode_to_the_source_and_keyframes_come_on_demand() -> None:
    encoder = Vp8Encoder(bitrate_bps=500_000)
    decoder = av.CodecContext.create("libvpx", "r")
    keyframes = []
    for n in range(10):
        packets = encoder.encode(make_frame(n, 60, n * 6000), keyframe=n == 6)
        assert len(packets) == 1
        (packet,) = packets
        assert packet.pts == n * 6000 and packet.time_base == VIDEO_TIME_BASE
        keyframes.append(packet.is_keyframe)
        (decoded,) = decoder.decode(packet)
        assert read_counter(decoded.to_ndarray(format="yuv420p")[:HEIGHT]) == n
    assert [i for i, k in enumerate(keyframes) if k] == [0, 6]


def test_a_source_keyframe_does_not_force_ours() -> None:
    encoder = Vp8Encoder(bitrate_bps=500_000)
    encoder.encode(make_frame(0, 60, 0), keyframe=False)
    frame = make_frame(1, 60, 6000)
    frame.pict_type = av.video.frame.PictureType.I  # as a decoded source keyframe would be
    (packet,) = encoder.encode(frame, keyframe=False)
    assert not packet.is_keyframe


def test_a_new_picture_size_starts_with_a_keyframe() -> None:
    encoder = Vp8Encoder(bitrate_bps=500_000)
    encoder.encode(make_frame(0, 60, 0), keyframe=False)
    encoder.encode(make_frame(1, 60, 6000), keyframe=False)
    small = av.VideoFrame.from_ndarray(np.zeros((120 * 3 // 2, 160), np.uint8), format="yuv420p")
    small.pts, small.time_base = 12000, VIDEO_TIME_BASE
    (packet,) = encoder.encode(small, keyframe=False)
    assert packet.is_keyframe


def test_opus_takes_any_input_format_and_makes_20_ms_packets() -> None:
    encoder = OpusEncoder(bitrate_bps=64_000)
    packets = []
    for n in range(20):  # 10 ms of 44.1 kHz mono each: 200 ms
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 441), np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 44_100, n * 441, fractions.Fraction(1, 44_100)
        packets += encoder.encode([frame])
    stereo = av.AudioFrame.from_ndarray(np.zeros((1, 960 * 2), np.int16), format="s16", layout="stereo")
    stereo.sample_rate, stereo.pts, stereo.time_base = 48_000, 8820, fractions.Fraction(1, 48_000)
    packets += encoder.encode([stereo])  # the source changed its layout mid-stream
    assert 8 <= len(packets) <= 11
    assert all(p.time_base == AUDIO_TIME_BASE for p in packets)
    steps = {pts(b) - pts(a) for a, b in itertools.pairwise(packets)}
    assert steps == {960}
