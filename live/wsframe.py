"""One server-to-client WebSocket text frame, built once for every socket that gets it; and the
client's common frames read without websockets' parser.

A server's frames are not masked (RFC 6455 §5.1), and permessage-deflate is off (it doubled
the CPU per delivery), so the bytes of a frame, header and payload, are the same for every
viewer of a room: the hub builds them once per flush and each socket's transport gets the
same ``bytes`` object. A frame is never fragmented here: one message, one frame.

A client's commands (chat, buy, grab, bid) are small text frames, one message each. websockets'
generator-based parser costs about a tenth of the server's CPU per grab in a flash sale
(docs/benchmarks.md): ``client_text_frames`` reads a chunk that holds nothing but such frames,
whole, and declines anything else (a control frame, a fragment, an unmasked or reserved-bit
frame, a frame cut by the chunk's end, one over ``max_size``), which websockets then parses as
before.
"""

from __future__ import annotations

from websockets.frames import apply_mask  # websockets' C speedup where it is built

_FIN_TEXT = 0x81  # FIN set, opcode 1 (text)


def text_frame(payload: bytes) -> bytes:
    """The whole frame (header and unmasked payload) for one UTF-8 text message."""
    n = len(payload)
    if n < 126:
        header = bytes((_FIN_TEXT, n))
    elif n < 1 << 16:
        header = bytes((_FIN_TEXT, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((_FIN_TEXT, 127)) + n.to_bytes(8, "big")
    return header + payload


def client_text_frames(data: bytes, max_size: int | None) -> list[bytes] | None:
    """The payloads (unmasked, not decoded) if ``data`` is exactly whole, final, masked text
    frames of at most ``max_size`` bytes each (a frame header at its start); else None."""
    frames: list[bytes] = []
    n = len(data)
    pos = 0
    while pos < n:
        if n - pos < 6 or data[pos] != _FIN_TEXT:
            return None
        second = data[pos + 1]
        if not second & 0x80:
            return None  # an unmasked client frame: websockets fails the connection
        length = second & 0x7F
        if length == 126:
            if n - pos < 8:
                return None
            length = int.from_bytes(data[pos + 2 : pos + 4], "big")
            start = pos + 8
        elif length == 127:
            return None  # 64 KiB or more: not a command
        else:
            start = pos + 6
        end = start + length
        if end > n or (max_size is not None and length > max_size):
            return None
        frames.append(apply_mask(data[start:end], data[start - 4 : start]))
        pos = end
    return frames
