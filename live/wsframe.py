"""One server-to-client WebSocket text frame, built once for every socket that gets it.

A server's frames are not masked (RFC 6455 §5.1), and permessage-deflate is off (it doubled
the CPU per delivery), so the bytes of a frame, header and payload, are the same for every
viewer of a room: the hub builds them once per flush and each socket's transport gets the
same ``bytes`` object. A frame is never fragmented here: one message, one frame.
"""

from __future__ import annotations

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
