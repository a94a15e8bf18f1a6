"""The room's one VP8 encoder and one Opus encoder.

Both are plain synchronous objects: the room calls them from a worker thread
(PyAV releases the GIL while libvpx/libopus work), one call at a time, so they
never stall the event loop that serves chat and buying, and need no locks.
Their output packets carry room-timeline timestamps and a time base, which is
all a viewer's ``RTCRtpSender`` needs to packetize them.
"""

from __future__ import annotations

from fractions import Fraction

import av
from av.audio.resampler import AudioResampler
from av.video.codeccontext import VideoCodecContext
from av.video.frame import PictureType

VIDEO_CLOCK_RATE = 90_000  # RTP video clock
VIDEO_TIME_BASE = Fraction(1, VIDEO_CLOCK_RATE)
AUDIO_SAMPLE_RATE = 48_000  # Opus in WebRTC is always 48 kHz
AUDIO_TIME_BASE = Fraction(1, AUDIO_SAMPLE_RATE)
AUDIO_FRAME_MS = (20, 40, 60)  # Opus frame durations a WebRTC receiver must decode
MIN_VIDEO_BITRATE_BPS = 250_000
MAX_VIDEO_BITRATE_BPS = 2_500_000


def bitrate_for(width: int, height: int) -> int:
    """A VP8 rate for a picture size: 3 bits per pixel per second, within 250 kbps - 2.5 Mbps.

    About 0.9 Mbps at 640x480 and 2.5 Mbps at 1280x720, the usual WebRTC rates.
    """
    return max(MIN_VIDEO_BITRATE_BPS, min(MAX_VIDEO_BITRATE_BPS, width * height * 3))


class Vp8Encoder:
    """Encodes the room's decoded video once, for every viewer.

    ``bitrate_bps`` is fixed (0 = by picture size, see ``bitrate_for``): one
    encoding cannot follow each viewer's bandwidth estimate (REMB), so it is
    chosen for a typical viewer.
    """

    def __init__(self, *, bitrate_bps: int) -> None:
        self._bitrate_bps = bitrate_bps
        self._codec: VideoCodecContext | None = None

    def encode(self, frame: av.VideoFrame, *, keyframe: bool) -> list[av.Packet]:
        """Encode one frame whose ``pts`` is on the room timeline in 1/90000 s.

        Forces a keyframe if ``keyframe``; a change of picture size starts a new
        encoder, whose first frame is a keyframe too.
        """
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        codec = self._codec
        if codec is None or codec.width != frame.width or codec.height != frame.height:
            codec = self._codec = self._open(frame.width, frame.height)
        # A decoded frame keeps the picture type it had at the source; libvpx would
        # turn every source keyframe into ours. The keyframe policy alone decides.
        frame.pict_type = PictureType.I if keyframe else PictureType.NONE
        packets = list(codec.encode(frame))
        for packet in packets:
            if packet.time_base is None:
                packet.time_base = VIDEO_TIME_BASE
        return packets

    def _open(self, width: int, height: int) -> VideoCodecContext:
        codec = av.CodecContext.create("libvpx", "w")
        assert isinstance(codec, VideoCodecContext)
        codec.width = width
        codec.height = height
        codec.pix_fmt = "yuv420p"
        codec.time_base = VIDEO_TIME_BASE
        bitrate = self._bitrate_bps or bitrate_for(width, height)
        codec.bit_rate = bitrate
        # Keyframes come from our policy only (forced per frame), never from libvpx's own schedule.
        codec.gop_size = 100_000
        codec.qmin = 2
        codec.qmax = 56
        # The options aiortc uses for real-time WebRTC VP8: CBR, no lookahead (no added latency).
        codec.options = {
            "bufsize": str(bitrate),
            "cpu-used": "-6",
            "deadline": "realtime",
            "lag-in-frames": "0",
            "minrate": str(bitrate),
            "maxrate": str(bitrate),
            "noise-sensitivity": "4",
            "overshoot-pct": "15",
            "partitions": "0",
            "static-thresh": "1",
            "undershoot-pct": "100",
        }
        # The machine this runs on is small and shared; only large pictures get a second thread.
        codec.thread_count = 2 if width * height > 640 * 480 else 1
        return codec


class OpusEncoder:
    """Encodes the room's decoded audio once, for every viewer, in ``frame_ms`` Opus packets.

    Made anew for each source: its resampler is fixed to the first frame's
    format, and a new publisher may send another one.
    """

    def __init__(self, *, bitrate_bps: int, frame_ms: int = 20) -> None:
        if frame_ms not in AUDIO_FRAME_MS:
            raise ValueError(f"Opus frames are one of {AUDIO_FRAME_MS} ms")
        self._frame_samples = AUDIO_SAMPLE_RATE * frame_ms // 1000
        codec = av.CodecContext.create("libopus", "w")
        assert isinstance(codec, av.AudioCodecContext)
        codec.bit_rate = bitrate_bps
        codec.format = "s16"
        codec.layout = "stereo"
        codec.sample_rate = AUDIO_SAMPLE_RATE
        codec.time_base = AUDIO_TIME_BASE
        codec.options = {"application": "audio", "frame_duration": str(frame_ms)}
        self._codec = codec
        self._resampler = self._new_resampler()

    def _new_resampler(self) -> AudioResampler:
        return AudioResampler(
            format="s16", layout="stereo", rate=AUDIO_SAMPLE_RATE, frame_size=self._frame_samples
        )

    def encode(self, frames: list[av.AudioFrame]) -> list[av.Packet]:
        """Encode decoded frames (any format, rate or size) into Opus packets.

        Packet timestamps are this encoder's own (1/48000 s, rising by one
        frame); the room shifts them onto its timeline.
        """
        packets: list[av.Packet] = []
        for frame in frames:
            try:
                resampled = self._resampler.resample(frame)
            except ValueError:
                # The source changed its sample format or layout mid-stream: start a resampler for it.
                self._resampler = self._new_resampler()
                resampled = self._resampler.resample(frame)
            for chunk in resampled:
                packets.extend(self._codec.encode(chunk))
        for packet in packets:
            if packet.time_base is None:
                packet.time_base = AUDIO_TIME_BASE
        return packets
