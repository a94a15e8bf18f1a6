"""A room's gap-free delivery to its members, as a state machine with no I/O.

Data in (joins, the backlogs read for them, stream entries, ephemeral values, a flush), actions
out (frames to deliver, members to close, backlogs to fetch), like ``websockets``' protocol. The
hub (``live/hub.py``) owns the I/O: it reads Redis, runs the tasks and executes the actions. A
member is an opaque handle here (the hub uses its ``Connection``); the feed never calls it.

Positions: every admitted member has been given every durable event up to some seq. Members in
step with the feed are at ``seq`` implicitly, so a flush does no bookkeeping per member; a member
admitted with a snapshot newer than the feed's last flush is *ahead* and is given, per flush,
only the events above its own position until the feed catches up with it.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

from rooms import events

M = TypeVar("M", bound=Hashable)

Entry = tuple[int, str, int]  # (seq, event JSON, ms it was appended at; 0 = unknown) from the stream
Backlog = Sequence[tuple[int, str]]  # (seq, event JSON), oldest first, as read for one join


class CloseReason(enum.Enum):
    """Why the feed drops a member. The hub maps each to its close code (``live/closecodes.py``,
    the one table that clients read), so no code number is written twice."""

    HISTORY_LOST = "history_lost"  # no gap-free history can be given: reconnect for a snapshot
    BANNED = "banned"


class FeedState(enum.Enum):
    WAITING = "waiting"  # the room's current seq is not known yet: joins wait, nothing is read
    RUNNING = "running"


@dataclass(frozen=True, slots=True)
class Broadcast(Generic[M]):
    """One shared frame for many members: encoded and measured once."""

    frame: str
    size: int  # UTF-8 bytes
    members: list[M]
    events: int  # events in the frame
    lags_ms: list[int]  # per durable event: from its append in Redis to this flush


@dataclass(frozen=True, slots=True)
class Deliver(Generic[M]):
    """A frame for one member (a backlog, or what a member that is ahead has not seen)."""

    member: M
    frame: str
    size: int
    events: int


@dataclass(frozen=True, slots=True)
class Close(Generic[M]):
    """Close the member once what it was given is written; the feed has forgotten it."""

    member: M
    reason: CloseReason


@dataclass(frozen=True, slots=True)
class FetchBacklog(Generic[M]):
    """Read the durable events with seq in (after_seq, upto_seq] and hand them to ``backlog``."""

    member: M
    after_seq: int
    upto_seq: int


Action = Broadcast[M] | Deliver[M] | Close[M] | FetchBacklog[M]


@dataclass(slots=True)
class _Join:
    after_seq: int
    user: str | None
    upto_seq: int | None = None  # set while its backlog is being fetched


_NEVER = object()  # an ephemeral kind that was never sent


def frame_of(parts: list[str]) -> tuple[str, int]:
    """Events (JSON objects) as one frame (a JSON array) and its UTF-8 size."""
    frame = "[" + ",".join(parts) + "]"
    return frame, len(frame) if frame.isascii() else len(frame.encode())


def _ban_of(event_json: str) -> str | None:
    """The user a durable ``mod`` event bans, if it is a ban."""
    if '"t":"mod"' not in event_json:
        return None
    event = orjson.loads(event_json)
    user = event.get("user")
    return str(user) if event.get("action") == "ban" and user else None


class RoomFeed(Generic[M]):
    """The members of one room on one process and what each has been given."""

    def __init__(self) -> None:
        self.state = FeedState.WAITING
        self.seq = 0  # the last durable seq flushed to members
        self._read_seq = 0  # the last durable seq taken in from the stream
        self._batch: list[Entry] = []  # taken in, not flushed yet
        self._members: dict[M, str | None] = {}  # in step (at self.seq) -> user id
        self._ahead: dict[M, tuple[int, str | None]] = {}  # -> (its own position, user id)
        self._joins: dict[M, _Join] = {}
        self._slots: dict[str, tuple[Any, str]] = {}  # kind -> (value, encoded event), not sent yet
        self._lazy_due: dict[str, int] = {}  # kind of a lazy slot -> ms from which it goes out alone
        self._sent: dict[str, Any] = {}  # kind -> the value last flushed

    def __len__(self) -> int:
        """Admitted members (joins still waiting for their backlog not counted)."""
        return len(self._members) + len(self._ahead)

    @property
    def holds(self) -> bool:
        """True while any member or join is held (the hub must not go idle)."""
        return bool(self._members or self._ahead or self._joins)

    @property
    def has_durable(self) -> bool:
        return bool(self._batch)

    @property
    def has_output(self) -> bool:
        """Something a flush would send now, lazy values that are not due aside."""
        return bool(self._batch) or len(self._slots) > len(self._lazy_due)

    def output_due(self, now_ms: int) -> bool:
        """``has_output``, or a lazy value has waited until its due time."""
        return self.has_output or any(due <= now_ms for due in self._lazy_due.values())

    def start(self, seq: int) -> None:
        """The room's current seq is known: stream entries after it follow."""
        if self.state is not FeedState.WAITING:
            raise RuntimeError(f"feed already {self.state.value}")
        self.state = FeedState.RUNNING
        self.seq = self._read_seq = seq

    # Members

    def join(self, member: M, after_seq: int, user: str | None) -> bool:
        """Admit a member that has every durable event up to ``after_seq``.

        Returns True when it is admitted at once (it needs no backlog); otherwise it waits for
        ``fetches`` to ask for its backlog.
        """
        if member in self._members or member in self._ahead or member in self._joins:
            raise ValueError("member already joined")
        if self.state is FeedState.RUNNING and after_seq >= self.seq:
            self._admit(member, after_seq, user)
            return True
        self._joins[member] = _Join(after_seq, user)
        return False

    def leave(self, member: M) -> None:
        self._members.pop(member, None)
        self._ahead.pop(member, None)
        self._joins.pop(member, None)

    def release_all(self) -> list[M]:
        """Forget every member and join (the hub failed and closes them all)."""
        held = [*self._members, *self._ahead, *self._joins]
        self._members.clear()
        self._ahead.clear()
        self._joins.clear()
        return held

    def _admit(self, member: M, position: int, user: str | None) -> None:
        if position == self.seq:
            self._members[member] = user
        else:
            self._ahead[member] = (position, user)

    # Backlogs

    def fetches(self) -> list[FetchBacklog[M]]:
        """The backlogs to read now: every waiting join not already being fetched."""
        if self.state is not FeedState.RUNNING:
            return []
        out: list[FetchBacklog[M]] = []
        for member, join in list(self._joins.items()):
            if join.upto_seq is not None:
                continue
            if join.after_seq >= self.seq:
                del self._joins[member]
                self._admit(member, join.after_seq, join.user)
            else:
                join.upto_seq = self.seq
                out.append(FetchBacklog(member, join.after_seq, self.seq))
        return out

    def backlog_failed(self, member: M) -> None:
        """Reading a backlog failed: the join waits and is fetched again by a later ``fetches``."""
        join = self._joins.get(member)
        if join is not None:
            join.upto_seq = None

    def backlog(self, member: M, entries: Backlog) -> list[Action[M]]:
        """The backlog read for ``member``'s ``FetchBacklog``: deliver it, then admit the member.

        A backlog that is not exactly (after_seq, upto_seq] means history was trimmed away:
        the member is closed with HISTORY_LOST. When flushes went on meanwhile, the rest
        (upto_seq, seq] is asked for before the member is admitted.
        """
        join = self._joins.get(member)
        if join is None or join.upto_seq is None:
            return []  # it left meanwhile
        after, upto = join.after_seq, join.upto_seq
        if (
            not entries
            or entries[0][0] != after + 1
            or entries[-1][0] != upto
            or len(entries) != upto - after
        ):
            del self._joins[member]
            return [Close(member, CloseReason.HISTORY_LOST)]
        given: list[str] = []
        for _, event_json in entries:
            given.append(event_json)
            if join.user is not None and _ban_of(event_json) == join.user:
                # Banned while joining: it gets the ban and nothing after it.
                del self._joins[member]
                frame, size = frame_of(given)
                return [Deliver(member, frame, size, len(given)), Close(member, CloseReason.BANNED)]
        frame, size = frame_of(given)
        actions: list[Action[M]] = [Deliver(member, frame, size, len(given))]
        if upto < self.seq:
            join.after_seq, join.upto_seq = upto, self.seq
            actions.append(FetchBacklog(member, upto, self.seq))
        else:
            del self._joins[member]
            self._members[member] = join.user
        return actions

    # The stream and the ephemeral slots

    def receive(self, entries: Iterable[Entry]) -> list[Close[M]]:
        """Entries read from the room's stream, oldest first.

        Entries already taken in (a reader that restarted re-reads) are dropped. A seq that
        jumps means this process's reader fell behind the stream's retention: no member can be
        given a gap-free history any more, so every one is closed (HISTORY_LOST).
        """
        if self.state is not FeedState.RUNNING:
            raise RuntimeError("feed not started")
        closes: list[Close[M]] = []
        for entry in entries:
            seq = entry[0]
            if seq <= self._read_seq:
                continue
            if seq != self._read_seq + 1:
                closes += [Close(m, CloseReason.HISTORY_LOST) for m in (*self._members, *self._ahead)]
                self._members.clear()
                self._ahead.clear()
                self._batch.clear()
                self.seq = self._read_seq = seq
                continue
            self._read_seq = seq
            self._batch.append(entry)
        return closes

    def offer(self, kind: str, value: Any, event: object, due_ms: int | None = None) -> None:
        """The latest value of an ephemeral kind (viewers, likes, stock, progress).

        One slot per kind: a newer value supersedes one not flushed yet, and a value equal to
        what members were last given is not sent again. With ``due_ms`` the value is lazy: it
        rides along with anything else flushed, and makes a frame of its own only from
        ``due_ms`` on (the earliest due of the values it supersedes, so a value that keeps
        changing still goes out).
        """
        pending = self._slots.get(kind)
        if pending is not None and pending[0] == value:
            return
        if self._sent.get(kind, _NEVER) == value:
            self._slots.pop(kind, None)  # back to what members already have
            self._lazy_due.pop(kind, None)
            return
        self._slots[kind] = (value, events.encode_event(event).decode())
        if due_ms is None:
            self._lazy_due.pop(kind, None)
        else:
            self._lazy_due[kind] = min(due_ms, self._lazy_due.get(kind, due_ms))

    # Flushing

    def flush(self, now_ms: int) -> list[Action[M]]:
        """Everything taken in since the last flush, as one shared frame plus the exceptions:
        members that are ahead get their own frame, members of a banned user get the frame up to
        their ban and are closed."""
        if not self.output_due(now_ms):
            return []
        batch, self._batch = self._batch, []
        ephemeral = [encoded for _, encoded in self._slots.values()]
        for kind, (value, _) in self._slots.items():
            self._sent[kind] = value
        self._slots.clear()
        self._lazy_due.clear()
        if not batch and not ephemeral:
            return []
        before = self.seq
        bans: dict[str, int] = {}  # user -> seq of the ban
        for seq, event_json, _ in batch:
            user = _ban_of(event_json)
            if user is not None:
                bans.setdefault(user, seq)
        frame, size = frame_of([e for _, e, _ in batch] + ephemeral)
        lags = [max(0, now_ms - appended) for _, _, appended in batch if appended]
        if bans:
            recipients = [m for m, user in self._members.items() if user not in bans]
        elif batch:
            recipients = list(self._members)
        else:
            # Nothing durable: a member that is ahead is owed exactly what the others are.
            recipients = [*self._members, *self._ahead]
        actions: list[Action[M]] = [Broadcast(frame, size, recipients, len(batch) + len(ephemeral), lags)]
        if not batch:
            return actions
        if bans:
            for member, user in list(self._members.items()):
                if user in bans:
                    del self._members[member]
                    actions += self._given_until_ban(member, batch, before, bans[user])
        last = batch[-1][0]
        for member, (position, user) in list(self._ahead.items()):
            if user in bans:
                del self._ahead[member]
                actions += self._given_until_ban(member, batch, position, bans[user])
                continue
            rest = [e for seq, e, _ in batch if seq > position] + ephemeral
            if rest:
                own, own_size = frame_of(rest)
                actions.append(Deliver(member, own, own_size, len(rest)))
            if position <= last:
                del self._ahead[member]
                self._members[member] = user
        self.seq = last
        return actions

    @staticmethod
    def _given_until_ban(member: M, batch: list[Entry], position: int, ban_seq: int) -> list[Action[M]]:
        owed = [e for seq, e, _ in batch if position < seq <= ban_seq]
        out: list[Action[M]] = []
        if owed:
            frame, size = frame_of(owed)
            out.append(Deliver(member, frame, size, len(owed)))
        out.append(Close(member, CloseReason.BANNED))
        return out
