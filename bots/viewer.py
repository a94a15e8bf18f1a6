"""One simulated viewer: connects, resumes, reads every event, posts, likes and buys.

The hot path is ``on_message``: one ``orjson.loads`` per frame, one seq check per
durable event, and for a stamped chat post one histogram record. Everything
else (acks, errors, pins) is rare.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import orjson

from bots.bidder import AUCTION_EVENTS, BID_KINDS, Bidder
from bots.checks import SeqCheck
from bots.client import HandshakeFailed, WsClient, connect
from bots.grabber import DROP_EVENTS, GRAB_KINDS, Grabber
from live import closecodes

if TYPE_CHECKING:
    from bots.worker import Worker

_loads = orjson.loads
_dumps = orjson.dumps
_time_ns = time.time_ns

# From the one table of close codes (live/closecodes.py), which the browser reads too.
FATAL_CLOSES = closecodes.FINAL  # unauthorized, banned, no such room: reconnecting cannot help
SNAPSHOT_CLOSES = closecodes.DROP_SINCE  # history lost: reconnect without since, for a fresh snapshot
AT_ONCE_CLOSES = closecodes.AT_ONCE  # the process went away: reconnect without waiting out the backoff
PIN_EVENTS = frozenset({"pin", "sold_out", "pin_end", "price"})
CONNECT_TIMEOUT_S = 10.0
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 2.0


def connect_error_kind(exc: BaseException) -> str:
    """A short name for why a connection attempt failed (keys of ``connect_errors``)."""
    if isinstance(exc, HandshakeFailed):
        return f"http_{exc.status}" if exc.status else "handshake"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, OSError):
        return f"oserror_{exc.errno}" if exc.errno else "oserror"
    return type(exc).__name__


class Viewer:
    """A viewer of the swarm. ``worker`` holds the shared clock, stats and plan."""

    __slots__ = (
        "bidder",
        "buy_done",
        "buy_got",
        "buy_k",
        "buy_limit",
        "buy_pin",
        "buy_timer",
        "buy_waiting",
        "buyer",
        "chat_k",
        "conn",
        "connect_at",
        "connect_started_us",
        "deferred_hello",
        "dropping",
        "ever_connected",
        "failovers",
        "fresh_snapshot",
        "grabber",
        "hello_seen",
        "index",
        "name",
        "pending",
        "replay",
        "replayed",
        "resend",
        "seq",
        "share",
        "sub",
        "token",
        "worker",
    )

    def __init__(
        self,
        worker: Worker,
        index: int,
        sub: str,
        name: str,
        token: str | None,
        *,
        buyer: bool = False,
        replay: bool = False,
        connect_at: float = 0.0,
    ) -> None:
        self.worker = worker
        self.index = index
        self.sub = sub
        self.name = name
        self.token = token
        self.buyer = buyer
        self.replay = replay  # re-send an acked buy's id once, to check idempotency
        self.connect_at = connect_at  # seconds after t0
        self.seq = SeqCheck()
        self.conn: WsClient | None = None
        self.hello_seen = False  # on the current connection
        self.ever_connected = False
        self.connect_started_us = 0
        self.failovers = 0
        self.fresh_snapshot = False  # connect without since until a hello comes (the server said so)
        self.chat_k = 0
        # request id -> (kind, sent_us, frame); kind is "chat", "buy" or "replay"
        self.pending: dict[str, tuple[str, int, bytes]] = {}
        self.resend: dict[str, tuple[str, int, bytes]] = {}  # buys to re-send after a reconnect
        self.buy_pin: str | None = None  # the pin, or with --product the bag product, being bought
        self.buy_limit: int | None = None
        self.buy_got = 0
        self.buy_k = 0
        self.buy_done = False
        self.buy_waiting = False
        self.buy_timer: asyncio.TimerHandle | None = None
        self.replayed = False
        self.share: str | None = None  # a share code to connect with (?share=), --share-ratio
        self.grabber: Grabber | None = None  # drops: grabs and drop_end accounting (bots.grabber)
        self.bidder: Bidder | None = None  # auction: bids and the history of each auction (bots.bidder)
        self.dropping = False  # we are dropping the socket on purpose (a grab's reconnect role)
        self.deferred_hello: dict[str, Any] | None = None  # a hello that came before ``conn`` was set

    # -- connection lifecycle ------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.hello_seen and self.conn is not None and self.conn.is_open

    async def run(self) -> None:
        """Connect at ``connect_at``; reconnect as the close code's policy says until the worker stops.

        Final codes end the viewer; the others reconnect, resuming with ``since`` unless the
        code drops it (4009), after the backoff or, for the at-once codes, after its first step.
        """
        w = self.worker
        if not await w.sleep_until(self.connect_at):
            return
        backoff = BACKOFF_FIRST_S
        while not w.stopping:
            target = w.targets[(self.index + self.failovers) % len(w.targets)]
            since = None if self.fresh_snapshot else self.seq.since()
            uri = target.ws_uri(w.room, self.token, since, self.share)
            self.connect_started_us = _time_ns() // 1000
            self.hello_seen = False
            self.deferred_hello = None
            try:
                conn = await connect(uri, self, target.host, target.port, CONNECT_TIMEOUT_S)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                w.connect_failed(connect_error_kind(exc))
                self.failovers += 1  # try the next server, if there are several
                if not await w.sleep(backoff * (0.5 + w.rng.random())):
                    return
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            self.conn = conn
            if w.closing:
                conn.close()  # the worker closed its viewers while this one was still connecting
            elif self.deferred_hello is not None:
                hello, self.deferred_hello = self.deferred_hello, None
                if self.hello_seen:
                    self._after_hello(hello, _time_ns() // 1000)
            code, _reason = await conn.closed
            self.conn = None
            deliberate, self.dropping = self.dropping, False
            if conn.handler_errors:
                w.stats.count("bot_errors", conn.handler_errors)
            if self.hello_seen:
                w.open_count -= 1
                backoff = BACKOFF_FIRST_S
            if w.closing:
                break  # we closed it
            if deliberate:
                w.stats.count("grab_reconnects")
            elif self.hello_seen:
                w.disconnected(code)
            else:  # refused after the handshake (bad token, a failing room): an attempt that failed
                w.connect_failed(f"closed_{code}")
                self.failovers += 1
            for rid, entry in self.pending.items():
                if entry[0] == "chat":
                    w.stats.count("chat_unanswered_at_disconnect")
                else:
                    self.resend[rid] = entry
                    if entry[0] in GRAB_KINDS and self.grabber is not None:
                        self.grabber.lost(rid)
                    elif entry[0] in BID_KINDS and self.bidder is not None:
                        self.bidder.lost(rid)
            self.pending.clear()
            if deliberate:
                continue  # straight back, resuming: the point is the re-sent grab
            if code in FATAL_CLOSES:
                w.stats.count("fatal_closes")
                return
            if code in SNAPSHOT_CLOSES:
                self.fresh_snapshot = True
            if code in AT_ONCE_CLOSES:
                # Only the first step's jitter: a thousand viewers of a stopping process should
                # not land on the next one in the same millisecond.
                backoff = BACKOFF_FIRST_S
            if not await w.sleep(backoff * (0.5 + w.rng.random())):
                return
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    def drop_socket(self) -> None:
        """Close the connection on purpose; ``run`` reconnects at once, resuming, and re-sends."""
        if self.conn is not None:
            self.dropping = True
            self.conn.close()

    def close(self) -> None:
        if self.bidder is not None:
            self.bidder.cancel()
        if self.buy_timer is not None:
            self.buy_timer.cancel()
            self.buy_timer = None
        if self.conn is not None:
            self.conn.close()

    # -- receiving (the hot path) ----------------------------------------------

    def on_message(self, data: bytes) -> None:
        w = self.worker
        now_us = _time_ns() // 1000
        sec = (now_us - w.t0_us) // 1_000_000
        second = w.cur_second if sec == w.cur_sec else w.roll(sec)
        counts = second.counts
        try:
            events = _loads(data)
        except orjson.JSONDecodeError:
            w.stats.count("bad_frames")
            return
        if type(events) is not list:
            w.stats.count("bad_frames")
            return
        counts["frames"] += 1
        counts["events"] += len(events)
        seq = self.seq
        stamp = w.stamp_prefix
        skip = len(stamp)
        for ev in events:
            t = ev.get("t")
            if t == "chat":
                n = ev.get("seq")
                if n is not None:
                    if n == seq.last + 1:
                        seq.last = n
                    else:
                        seq.event(n)
                text = ev.get("text")
                if text:
                    i = text.rfind(stamp)
                    if i >= 0:
                        try:
                            sent_us = int(text[i + skip :], 16)
                        except ValueError:
                            continue
                        second.latency.record(now_us - sent_us)
                        counts["deliveries"] += 1
                if w.crowd is not None:
                    w.crowd.heard(self, ev)
            elif t == "ack":
                self._on_ack(ev, now_us, counts)
            elif t == "hello":
                self._on_hello(ev, now_us, counts)
            elif t == "error":
                self._on_error(ev, now_us, counts)
            else:
                n = ev.get("seq")
                if n is not None:
                    seq.event(n)
                if t in PIN_EVENTS:
                    self._on_pin_event(t, ev)
                elif t in DROP_EVENTS:
                    if self.grabber is not None:
                        self.grabber.on_event(t, ev, now_us)
                    if w.crowd is not None and t == "drop":
                        w.crowd.drop_seen(self, ev.get("drop") or {})
                elif t in AUCTION_EVENTS:
                    if self.bidder is not None:
                        self.bidder.on_event(t, ev)
                elif t == "product":
                    product = ev.get("product")
                    if isinstance(product, dict) and not ev.get("removed"):
                        self._on_product(product)

    def _on_hello(self, ev: dict[str, Any], now_us: int, counts: dict[str, int]) -> None:
        w = self.worker
        seq = ev.get("seq")
        self.seq.hello(seq if isinstance(seq, int) else 0, bool(ev.get("resumed")))
        self.fresh_snapshot = False
        if not self.hello_seen:
            self.hello_seen = True
            w.open_count += 1
            counts["connects"] += 1
            w.stats.hists["connect"].record(now_us - self.connect_started_us)
            w.stats.count("reconnects" if self.ever_connected else "connected")
            self.ever_connected = True
        pin = ev.get("pin")
        if isinstance(pin, dict):
            self._on_pin(pin)
        if self.bidder is not None:
            # Here, not after the deferral: the events after this hello in its frame are the auction's.
            self.bidder.on_hello(ev)
        bag = ev.get("bag")
        if isinstance(bag, list):
            for product in bag:
                if isinstance(product, dict):
                    self._on_product(product)
        if self.conn is None:
            # The hello came in the same read as the handshake's answer, before ``connect`` returned
            # the connection: what it sends waits until ``run`` has it.
            self.deferred_hello = ev
            return
        self._after_hello(ev, now_us)

    def _after_hello(self, ev: dict[str, Any], now_us: int) -> None:
        """What a hello sets going once the connection can send: re-sends, grabs, the task, buys."""
        w = self.worker
        grabber = self.grabber
        if self.resend and self.conn is not None:
            for rid, (kind, sent_us, frame) in self.resend.items():
                self.pending[rid] = (kind, sent_us, frame)
                self.conn.send_text(frame)
                if kind in GRAB_KINDS and grabber is not None:
                    w.stats.count("grabs_resent")
                    grabber.resent(rid)
                elif kind in BID_KINDS:
                    w.stats.count("bids_resent")
                else:
                    w.stats.count("buys_resent")
            self.resend.clear()
        if grabber is not None:
            grabber.on_hello(ev, now_us)
            chatting = any(kind == "chat" for kind, _s, _f in self.pending.values())
            if grabber.chat_task and grabber.active and not grabber.chatted and not chatting:
                self.post_chat(f"Grabbing!{w.stamp_prefix}{now_us:x}")  # one line, for task "chat"
        if self.buy_waiting:
            self._attempt_buy()

    def _on_ack(self, ev: dict[str, Any], now_us: int, counts: dict[str, int]) -> None:
        w = self.worker
        rid = ev.get("id")
        entry = self.pending.pop(rid, None) if isinstance(rid, str) else None
        if entry is None or not isinstance(rid, str):
            w.stats.count("unexpected_acks")
            return
        kind, sent_us, _frame = entry
        if kind == "chat":
            w.stats.hists["chat_ack"].record(now_us - sent_us)
            counts["chat_acked"] += 1
            if self.grabber is not None:
                self.grabber.chatted = True
            return
        if kind in GRAB_KINDS and self.grabber is not None:
            self.grabber.on_answer(kind, rid, ev, now_us)
            return
        if kind in BID_KINDS and self.bidder is not None:
            self.bidder.on_answer(kind, rid, ev, now_us)
            return
        w.stats.hists["buy_ack"].record(now_us - sent_us)
        order = ev.get("order")
        if not isinstance(order, dict):
            w.stats.count("acks_without_order")
            return
        w.stats.orders.append((self.sub, rid, order))
        qty = order.get("qty")
        qty = qty if isinstance(qty, int) else 0
        if kind == "buy":
            counts["buys_acked"] += 1
            counts["units_acked"] += qty
            self.buy_got += qty
            if w.crowd is not None:
                w.crowd.bought(self)
            if self.replay and not self.replayed:
                self.replayed = True
                self.send_request(rid, "replay", entry[2], now_us)
                w.stats.count("replays_sent")
                return
        else:
            w.stats.count("replays_acked")
        self._attempt_buy()

    def _on_error(self, ev: dict[str, Any], now_us: int, counts: dict[str, int]) -> None:
        w = self.worker
        code = str(ev.get("code"))
        w.stats.errors[code] = w.stats.errors.get(code, 0) + 1
        counts["errors"] += 1
        rid = ev.get("id")
        entry = self.pending.pop(rid, None) if isinstance(rid, str) else None
        if entry is None:
            return
        kind = entry[0]
        if kind == "chat":
            w.stats.count("chat_rejected")
            return
        if kind in GRAB_KINDS and self.grabber is not None:
            self.grabber.on_answer(kind, str(rid), ev, now_us)
            return
        if kind in BID_KINDS and self.bidder is not None:
            self.bidder.on_answer(kind, str(rid), ev, now_us)
            return
        w.stats.hists["buy_ack"].record(now_us - entry[1])
        if kind == "replay":
            # The same request id was acked with an order before: the same answer is owed.
            w.stats.count("replay_errors")
            self._attempt_buy()
        elif code == "not_started":
            self._schedule_buy(0.1 + 0.2 * w.rng.random())
        elif code == "rate_limited":
            retry_ms = ev.get("retry_after_ms")
            self._schedule_buy((retry_ms if isinstance(retry_ms, int | float) else 500) / 1000)
        else:  # sold_out, limit_reached, ended, no_such_pin, forbidden, ...
            self.buy_done = True
            if w.crowd is not None and code == "sold_out":
                w.crowd.missed(self)

    def _on_pin_event(self, t: str, ev: dict[str, Any]) -> None:
        w = self.worker
        if t == "pin":
            pin = ev.get("pin")
            if isinstance(pin, dict):
                self._on_pin(pin)
            return
        pin_id = ev.get("pin")
        if not isinstance(pin_id, str):
            return
        if t == "price":
            if w.crowd is not None:
                w.crowd.price_fell(self, ev)
            return
        entry = w.stats.pins.setdefault(pin_id, {})
        if t == "sold_out":
            entry["state"] = "sold_out"
        elif t == "pin_end":
            entry["state"] = "ended"
            sold = ev.get("sold")
            if isinstance(sold, int):
                entry["sold"] = max(entry.get("sold", 0), sold)
        if pin_id == self.buy_pin:
            self.buy_done = True

    def _on_pin(self, pin: dict[str, Any]) -> None:
        w = self.worker
        w.stats.note_pin(pin)
        pin_id = pin.get("id")
        state = pin.get("state")
        if w.crowd is not None:
            w.crowd.pin_seen(self, pin)
        if not self.buyer or not isinstance(pin_id, str):
            return
        if w.plan.pin_id is not None and pin_id != w.plan.pin_id:
            return
        if state in ("sold_out", "ended"):
            if pin_id == self.buy_pin:
                self.buy_done = True
            return
        if state not in ("upcoming", "live") or pin_id == self.buy_pin:
            return
        self.buy_pin = pin_id
        limit = pin.get("limit_per_user")
        self.buy_limit = limit if isinstance(limit, int) else None
        self.buy_got = 0
        self.buy_done = False
        self.replayed = False
        starts_ms = pin.get("starts_at_ms")
        delay = 0.0
        if isinstance(starts_ms, int | float):
            delay = max(0.0, starts_ms / 1000 - time.time())
        if w.plan.buy_jitter_ms:
            delay += w.rng.random() * w.plan.buy_jitter_ms / 1000
        self._schedule_buy(delay)

    def _on_product(self, product: dict[str, Any]) -> None:
        """``--product``: the bag product to buy is there (in hello's bag, or a product event)."""
        w = self.worker
        pid = product.get("id")
        if not self.buyer or w.plan.product_id is None or pid != w.plan.product_id or pid == self.buy_pin:
            return
        self.buy_pin = pid
        limit = product.get("limit_per_user")
        self.buy_limit = limit if isinstance(limit, int) else None
        self.buy_got = 0
        self.buy_done = False
        self.replayed = False
        delay = w.rng.random() * w.plan.buy_jitter_ms / 1000 if w.plan.buy_jitter_ms else 0.0
        self._schedule_buy(delay)

    # -- sending -------------------------------------------------------------------

    def send_request(self, rid: str, kind: str, frame: bytes, now_us: int) -> bool:
        conn = self.conn
        if conn is None or not self.hello_seen or not conn.send_text(frame):
            return False
        self.pending[rid] = (kind, now_us, frame)
        return True

    def post_chat(self, text: str) -> bool:
        """Post one chat line (the caller stamps it); False when not connected."""
        if not self.is_open:
            return False
        self.chat_k += 1
        rid = f"c{self.chat_k}"
        now_us = _time_ns() // 1000
        frame = _dumps({"t": "chat", "id": rid, "text": text})
        if not self.send_request(rid, "chat", frame, now_us):
            return False
        self.worker.second_now().counts["chat_sent"] += 1
        return True

    def like(self, n: int) -> bool:
        if not self.is_open or self.conn is None:
            return False
        if not self.conn.send_text(_dumps({"t": "like", "n": n})):
            return False
        self.worker.second_now().counts["likes_sent"] += n
        return True

    def _schedule_buy(self, delay_s: float) -> None:
        if self.buy_timer is not None:
            self.buy_timer.cancel()
        self.buy_timer = self.worker.loop.call_later(delay_s, self._attempt_buy)

    def _attempt_buy(self) -> None:
        self.buy_timer = None
        w = self.worker
        if self.buy_done or self.buy_pin is None or not w.activity:
            return
        if not self.is_open:
            self.buy_waiting = True  # on the next hello
            return
        self.buy_waiting = False
        wanted = w.plan.buy_units or ((self.buy_limit or 2) + 1)
        if self.buy_got >= wanted:
            self.buy_done = True
            return
        self.buy_k += 1
        rid = f"b{self.buy_k}-{self.sub}"
        item = "product" if w.plan.product_id is not None else "pin"
        frame = _dumps({"t": "buy", "id": rid, item: self.buy_pin, "qty": 1})
        if self.send_request(rid, "buy", frame, _time_ns() // 1000):
            w.second_now().counts["buys_sent"] += 1
