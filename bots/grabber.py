"""One viewer's part in the drops (contract §10): grab each live drop once, repeat as its role says,
and note every ``drop_end``.

Roles, by viewer index (``Plan.grab_replays`` / ``grab_reconnects``): a replayer re-sends its acked
grab's id (the same ack is owed) and grabs again with a new id (``limit_reached`` is owed); a
reconnecter drops its socket right after sending the grab, reconnects with ``?since=`` and re-sends
the same id (the same answer as any earlier ack is owed, or, if none came, one answer). The judging
is ``bots.drop_checks``; this only records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from bots.drop_checks import DropView, GrabRecord, answer_of, is_win

if TYPE_CHECKING:
    from bots.viewer import Viewer

DROP_EVENTS = frozenset({"drop", "drop_end"})
GRAB_KINDS = frozenset({"grab", "grab_replay", "grab_resend", "grab_second"})


class Grab:
    """One grab of one drop and everything that followed it."""

    __slots__ = (
        "answered_us",
        "answers",
        "disconnected",
        "drop",
        "frame",
        "recheck",
        "reconnected",
        "repeats_sent",
        "replayed",
        "rid",
        "second",
        "second_rid",
        "sent_us",
    )

    def __init__(self, drop: str, rid: str, frame: bytes, sent_us: int) -> None:
        self.drop = drop
        self.rid = rid
        self.frame = frame
        self.sent_us = sent_us
        self.answered_us: int | None = None
        self.answers: list[dict[str, Any]] = []
        self.repeats_sent = 0
        self.replayed = False
        self.second_rid: str | None = None
        self.second: dict[str, Any] | None = None
        self.reconnected = False
        self.recheck = False  # re-send the id on the next hello even if an answer came first
        self.disconnected = False

    def record(self, user: str) -> GrabRecord:
        return GrabRecord(
            user=user,
            drop=self.drop,
            rid=self.rid,
            sent_us=self.sent_us,
            answered_us=self.answered_us,
            answers=tuple(self.answers),
            repeats_sent=self.repeats_sent,
            second_sent=self.second_rid is not None,
            second=self.second,
            reconnected=self.reconnected,
            disconnected=self.disconnected,
        )


class Grabber:
    """Owned by a viewer; the viewer hands it drop events, hellos and the answers to grab kinds."""

    __slots__ = (
        "active",
        "by_rid",
        "chat_task",
        "chatted",
        "ends",
        "grabs",
        "k",
        "reconnects",
        "replays",
        "seen_ended",
        "viewer",
    )

    def __init__(
        self, viewer: Viewer, *, active: bool, replays: bool, reconnects: bool, chat_task: bool
    ) -> None:
        self.viewer = viewer
        self.active = active  # grabs (else it only watches, for drop_end)
        self.replays = replays
        self.reconnects = reconnects
        self.chat_task = chat_task  # post one line before the drop (task "chat")
        self.chatted = False  # a chat post of this viewer was acked
        self.grabs: dict[str, Grab] = {}  # drop id -> its grab
        self.by_rid: dict[str, Grab] = {}
        self.ends: dict[str, list[int]] = {}  # drops seen live -> claimed of each drop_end received
        self.seen_ended: set[str] = set()  # drops first seen already ended: no drop_end owed
        self.k = 0

    # -- state for the parent -------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Connected, and done with the task a drop may ask for."""
        return self.viewer.is_open and (self.chatted or not self.chat_task or not self.active)

    def busy(self) -> bool:
        """A grab request of this viewer still waits for its answer (or for a reconnect)."""
        v = self.viewer
        for g in self.grabs.values():
            if g.recheck:
                return True
            for rid in (g.rid, g.second_rid):
                if rid is not None and (rid in v.pending or rid in v.resend):
                    return True
        return False

    def settled(self, drop_id: str) -> bool:
        """Nothing more is owed to this viewer of that drop: its end came and its grabs are answered."""
        if drop_id in self.seen_ended:
            return True
        ends = self.ends.get(drop_id)
        return bool(ends) and not self.busy()

    def known_drops(self) -> set[str]:
        return set(self.ends) | self.seen_ended

    # -- events -----------------------------------------------------------------

    def on_event(self, t: str, ev: dict[str, Any], now_us: int) -> None:
        if t == "drop":
            drop = ev.get("drop")
            if isinstance(drop, dict):
                self.on_drop(drop, now_us)
        elif t == "drop_end":
            drop_id, claimed = ev.get("drop"), ev.get("claimed")
            if isinstance(drop_id, str):
                self.ends.setdefault(drop_id, []).append(claimed if isinstance(claimed, int) else -1)

    def on_drop(self, drop: dict[str, Any], now_us: int) -> None:
        """A drop object (from a ``drop`` event or a hello): watch it, and grab it once while live."""
        drop_id = drop.get("id")
        if not isinstance(drop_id, str):
            return
        live = drop.get("state") == "live"
        if drop_id not in self.ends:
            if not live:
                self.seen_ended.add(drop_id)
                return
            self.ends[drop_id] = []
        if live and self.active and drop_id not in self.grabs:
            self._grab(drop_id, now_us)

    def on_hello(self, ev: dict[str, Any], now_us: int) -> None:
        """After the viewer re-sent what was pending: the hello's drop, and the reconnecter's re-send."""
        for g in self.grabs.values():
            if g.recheck:
                g.recheck = False
                if g.answers:  # answered before the socket went: the id again must get the same answer
                    g.repeats_sent += 1
                    self.viewer.send_request(g.rid, "grab_resend", g.frame, now_us)
        drop = ev.get("drop")
        if isinstance(drop, dict):
            self.on_drop(drop, now_us)

    def resent(self, rid: str) -> None:
        """The viewer re-sent a pending grab request after a reconnect."""
        g = self.by_rid.get(rid)
        if g is not None and rid == g.rid:
            g.repeats_sent += 1

    def lost(self, rid: str) -> None:
        """A connection ended while this request waited for its answer."""
        g = self.by_rid.get(rid)
        if g is not None:
            g.disconnected = True

    def on_answer(self, kind: str, rid: str, ev: dict[str, Any], now_us: int) -> None:
        g = self.by_rid.get(rid)
        v = self.viewer
        if g is None:
            v.worker.stats.count("unexpected_acks")
            return
        answer = answer_of(ev)
        if kind == "grab_second":
            g.second = answer
            return
        first = g.answered_us is None
        g.answers.append(answer)
        if first:
            g.answered_us = now_us
            if not (g.reconnected or g.disconnected):  # a reconnect's time is no grab's latency
                v.worker.stats.hists["grab_ack"].record(now_us - g.sent_us)
            if is_win(answer):
                v.worker.second_now().counts["grabs_acked"] += 1
        if kind == "grab" and self.replays and not g.replayed and is_win(answer):
            g.replayed = True
            g.repeats_sent += 1
            v.send_request(g.rid, "grab_replay", g.frame, now_us)
            self.k += 1
            g.second_rid = f"g{self.k}"
            self.by_rid[g.second_rid] = g
            frame = orjson.dumps({"t": "grab", "id": g.second_rid, "drop": g.drop})
            v.send_request(g.second_rid, "grab_second", frame, now_us)

    # -- sending ------------------------------------------------------------------

    def _grab(self, drop_id: str, now_us: int) -> None:
        v = self.viewer
        self.k += 1
        rid = f"g{self.k}"
        frame = orjson.dumps({"t": "grab", "id": rid, "drop": drop_id})
        g = Grab(drop_id, rid, frame, now_us)
        self.grabs[drop_id] = g
        self.by_rid[rid] = g
        if not v.send_request(rid, "grab", frame, now_us):
            v.resend[rid] = ("grab", now_us, frame)  # on the next hello
            return
        v.worker.second_now().counts["grabs_sent"] += 1
        if self.reconnects:
            g.reconnected = True
            g.recheck = True
            v.drop_socket()

    # -- the record ---------------------------------------------------------------

    def records(self) -> list[GrabRecord]:
        return [g.record(self.viewer.sub) for g in self.grabs.values()]

    def views(self, online: bool) -> list[DropView]:
        return [DropView(self.viewer.sub, d, tuple(ends), online) for d, ends in self.ends.items()]

    def won(self) -> bool:
        return any(g.answers and is_win(g.answers[0]) for g in self.grabs.values())

    def all_answered(self) -> bool:
        return all(g.answers for g in self.grabs.values())
