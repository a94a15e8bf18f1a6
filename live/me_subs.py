"""Which users' channels the ``/ws/me`` subscriber must hold, and which of them Redis has confirmed.

The bookkeeping of ``live/me_feed.py`` without any I/O: sockets take and give back holds on their
user, the subscriber asks what to send (``due``) and reports what Redis confirmed (``confirmed``),
and time is an argument. It keeps one promise: ``hold`` (or the confirmation that follows it) says
"ready" only when Redis has confirmed a SUBSCRIBE to the user's channel that no later UNSUBSCRIBE
undoes, so a socket that opens then misses nothing published from that moment on.

Redis answers a connection's SUBSCRIBE and UNSUBSCRIBE in the order they were sent, one
confirmation per channel, so each user keeps the commands sent and not yet confirmed in order
(``in_flight``): a user who leaves and comes back while the UNSUBSCRIBE is on its way gets a new
SUBSCRIBE behind it, and is ready only once that one is confirmed. The last hold given back does
not unsubscribe at once: the channel lingers ``linger_s`` first, so a client that opens and closes
sockets in a loop costs Redis at most one SUBSCRIBE and one UNSUBSCRIBE per ``linger_s``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


class UnexpectedConfirmation(Exception):
    """Redis confirmed a (UN)SUBSCRIBE that was not sent: the connection is not what we think."""


@dataclass(slots=True)
class _Channel:
    holds: int = 0  # sockets that count on this channel (waiting for it, or open)
    wanted: bool = False  # the last command sent or queued for it is a SUBSCRIBE
    queued: bool = False  # a SUBSCRIBE waits for the next ``due``
    in_flight: deque[bool] = field(default_factory=deque)  # sent, unconfirmed: True = SUBSCRIBE
    idle_since_s: float = 0.0  # when ``holds`` last fell to 0

    @property
    def ready(self) -> bool:
        """Subscribed at Redis, and nothing sent or queued that could change that."""
        return self.wanted and not self.queued and not self.in_flight

    @property
    def forgettable(self) -> bool:
        return not (self.holds or self.wanted or self.queued or self.in_flight)


class Subscriptions:
    """Per user: holds, the subscription wanted, and the (UN)SUBSCRIBEs on their way."""

    def __init__(self, linger_s: float) -> None:
        self.linger_s = (
            linger_s  # how long a channel nobody holds stays subscribed (0: until the next ``due``)
        )
        self._channels: dict[str, _Channel] = {}
        self._queued: list[str] = []  # users whose SUBSCRIBE the next ``due`` sends, in order
        self._idle: set[str] = set()  # users subscribed (or on the way) whom nobody holds

    def __len__(self) -> int:
        """Users whose channel is subscribed or being subscribed."""
        return sum(1 for ch in self._channels.values() if ch.wanted)

    def hold(self, user: str) -> bool:
        """A socket of ``user`` counts on the channel from now on. True: it is ready already;
        False: a ``confirmed`` call will say when (or ``lost`` that it never will)."""
        ch = self._channels.get(user)
        if ch is None:
            ch = self._channels[user] = _Channel()
        ch.holds += 1
        self._idle.discard(user)
        if not ch.wanted:
            ch.wanted = ch.queued = True
            self._queued.append(user)
        return ch.ready

    def release(self, user: str, now_s: float) -> None:
        """Give back one hold; the channel is unsubscribed once nobody held it for ``linger_s``."""
        ch = self._channels.get(user)
        if ch is None or ch.holds == 0:
            return
        ch.holds -= 1
        if ch.holds == 0:
            ch.idle_since_s = now_s
            if ch.wanted:
                self._idle.add(user)
            self._forget_if_unused(user, ch)

    def due(self, now_s: float) -> tuple[list[str], list[str]]:
        """The users to SUBSCRIBE and then to UNSUBSCRIBE, to be sent in that order; from here on
        they count as sent."""
        subscribe, self._queued = self._queued, []
        for user in subscribe:
            ch = self._channels[user]
            ch.queued = False
            ch.in_flight.append(True)
        unsubscribe = [
            user for user in self._idle if now_s - self._channels[user].idle_since_s >= self.linger_s
        ]
        for user in unsubscribe:
            self._idle.discard(user)
            ch = self._channels[user]
            ch.wanted = False
            ch.in_flight.append(False)
        return subscribe, unsubscribe

    def confirmed(self, user: str, subscribed: bool) -> bool:
        """Redis confirmed the oldest command in flight for ``user``; True when that made the
        channel ready (the sockets waiting for it may open)."""
        ch = self._channels.get(user)
        if ch is None or not ch.in_flight or ch.in_flight[0] is not subscribed:
            kind = "subscribe" if subscribed else "unsubscribe"
            raise UnexpectedConfirmation(f"{kind} of {user!r} was not asked for")
        ch.in_flight.popleft()
        self._forget_if_unused(user, ch)
        return subscribed and ch.ready

    def lost(self) -> None:
        """The connection is gone, and every subscription with it: nothing is subscribed or on its way.

        Holds stay (their sockets are being closed and give them back).
        """
        self._queued.clear()
        self._idle.clear()
        for user, ch in list(self._channels.items()):
            ch.wanted = ch.queued = False
            ch.in_flight.clear()
            self._forget_if_unused(user, ch)

    def state(self, user: str) -> tuple[int, bool, tuple[bool, ...]]:
        """``(holds, wanted, in flight)`` of one user, for tests and debugging."""
        ch = self._channels.get(user)
        return (ch.holds, ch.wanted, tuple(ch.in_flight)) if ch else (0, False, ())

    def _forget_if_unused(self, user: str, ch: _Channel) -> None:
        if ch.forgettable:
            del self._channels[user]
