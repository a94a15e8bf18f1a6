"""WebSocket close codes the server uses, each with what a client does about it, in one table.

Like centrifuge's disconnect codes, a code carries its reconnect policy, so the server, the bots
(``bots/viewer.py``) and the browser (``GET /closecodes.js``, generated from ``CLOSE_CODES``) read
one rule instead of keeping copies that drift apart. This module imports nothing of the server:
the bots import it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

NORMAL = 1000
GOING_AWAY = 1001  # a server or a proxy in front of it is going away; reconnect (to any process) and resume
ABNORMAL = 1006  # the socket went away without a close (never sent; for metrics)
INVALID_UTF8 = 1007  # a text frame that is not UTF-8 (uvicorn closes with it)
POLICY_FLOOD = 1008  # kept flooding after rate_limited
TOO_BIG = 1009  # a frame over 4 KiB
SERVER_ERROR = 1011
SERVICE_RESTART = 1012  # uvicorn sends it to every open socket when the process shuts down
UNAUTHORIZED = 4001  # the token is present but invalid
BANNED = 4003
NO_SUCH_ROOM = 4004
TOO_SLOW = 4008  # the viewer fell further behind than the outbox bound; resume with since
HISTORY_LOST = 4009  # the room's history moved past this process's reader; reconnect for a snapshot


class Reconnect(StrEnum):
    """When a client opens a new connection after the server closed one."""

    NEVER = "never"  # final: the same request would be refused again
    # The cause is gone (another process is up): no backoff wait, only a jitter under a second so
    # the viewers of a stopping process do not all land on the next one in the same millisecond.
    AT_ONCE = "at_once"
    BACKOFF = "backoff"  # wait the client's backoff (jittered, doubling per failed attempt)


@dataclass(frozen=True, slots=True)
class CloseCode:
    """One close code and its policy. ``resume``: reconnect with ``since`` (False: a fresh snapshot)."""

    code: int
    name: str
    when: str
    reconnect: Reconnect
    resume: bool

    @property
    def final(self) -> bool:
        return self.reconnect is Reconnect.NEVER

    def for_browser(self) -> dict[str, object]:
        """The entry ``window.LIVE_CLOSE_CODES`` carries for this code."""
        return {
            "name": self.name,
            "reconnect": not self.final,
            "resume": self.resume,
            "backoff": self.reconnect is Reconnect.BACKOFF,
        }


_NEVER, _AT_ONCE, _BACKOFF = Reconnect.NEVER, Reconnect.AT_ONCE, Reconnect.BACKOFF

_TABLE = (
    # code, name, when, reconnect, resume (with since)
    (NORMAL, "NORMAL", "the server ended the connection cleanly", _BACKOFF, True),
    (GOING_AWAY, "GOING_AWAY", "a server or a proxy in front of it is going away", _AT_ONCE, True),
    (ABNORMAL, "ABNORMAL", "no close frame: the process died or the network broke", _BACKOFF, True),
    # 1007/1008/1009 are the client's fault, but a viewer whose client misbehaved once should keep
    # watching; the backoff stops a client that repeats it from hammering the server.
    (INVALID_UTF8, "INVALID_UTF8", "a text frame that is not UTF-8", _BACKOFF, True),
    (POLICY_FLOOD, "POLICY_FLOOD", "kept sending after rate_limited", _BACKOFF, True),
    (TOO_BIG, "TOO_BIG", "a frame over 4 KiB", _BACKOFF, True),
    (SERVER_ERROR, "SERVER_ERROR", "the room's hub failed, or the store is unavailable", _BACKOFF, True),
    (SERVICE_RESTART, "SERVICE_RESTART", "this process is shutting down", _AT_ONCE, True),
    (UNAUTHORIZED, "UNAUTHORIZED", "the token is invalid or expired", _NEVER, False),
    (BANNED, "BANNED", "the user is banned from the room", _NEVER, False),
    # Final: the room does not exist, and asking again cannot create it.
    (NO_SUCH_ROOM, "NO_SUCH_ROOM", "no such room (or a malformed room id)", _NEVER, False),
    (TOO_SLOW, "TOO_SLOW", "the viewer fell further behind than its outbox bound", _BACKOFF, True),
    # The events after the client's seq may be gone: a fresh snapshot, at once.
    (HISTORY_LOST, "HISTORY_LOST", "this process's reader fell past the room's history", _AT_ONCE, False),
)

CLOSE_CODES: dict[int, CloseCode] = {
    code: CloseCode(code, name, when, reconnect, resume) for code, name, when, reconnect, resume in _TABLE
}

# A code the table does not know (a proxy's, a library's): keep watching, carefully.
UNKNOWN_POLICY = CloseCode(0, "UNKNOWN", "a code this table does not list", Reconnect.BACKOFF, resume=True)

FINAL: frozenset[int] = frozenset(c.code for c in CLOSE_CODES.values() if c.final)
DROP_SINCE: frozenset[int] = frozenset(c.code for c in CLOSE_CODES.values() if not c.final and not c.resume)
AT_ONCE: frozenset[int] = frozenset(c.code for c in CLOSE_CODES.values() if c.reconnect is Reconnect.AT_ONCE)


def policy(code: int) -> CloseCode:
    """What a client does after the server closed with ``code``."""
    return CLOSE_CODES.get(code, UNKNOWN_POLICY)


def browser_table() -> dict[str, dict[str, object]]:
    """The table as ``window.LIVE_CLOSE_CODES`` holds it: string keys, plain JSON values."""
    return {str(code): entry.for_browser() for code, entry in sorted(CLOSE_CODES.items())}


def browser_script() -> str:
    """``GET /closecodes.js``: the table as a script the pages load before ``client.js``."""
    table = json.dumps(browser_table(), separators=(",", ":"))
    return (
        "// Generated from live/closecodes.py: what a client does after each close code.\n"
        f"window.LIVE_CLOSE_CODES = {table};\n"
    )
