"""The parent process: set up the room, run the workers, drive the show, merge and judge.

Phases: setup (HTTP, as host) -> ramp (viewers connect) -> load (``--duration``
seconds) -> quiesce (stop sending, collect outstanding answers) -> drain (every
viewer must reach the last durable seq anyone saw) -> checks (orders on the
server) -> report. SIGINT or SIGTERM ends the load early but still reports;
a second one stops at once.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import secrets
import signal
import string
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from bots.auctions import AuctionDriver, check_auction
from bots.checks import SaleLedger
from bots.drops import DropDriver, check_drops
from bots.host import Host, HostError
from bots.plan import Plan
from bots.shares import ShareLink, ShareSetupError, compare, expected_board, make_links, sharer_tokens
from bots.shop import Shop, ShopResult
from bots.stats import Second, Stats
from bots.tokens import mint, unverified_claims
from bots.worker import (
    ACK_GRACE_S,
    CLOSE_TIMEOUT_S,
    DRAIN_TIMEOUT_S,
    Target,
    WorkerSpec,
    viewer_name,
    worker_main,
)

READY_TIMEOUT_S = 60.0
DEFAULT_COMMISSION_BP = 500  # --share-ratio in a room the bots make: 5% for the sharers
START_DELAY_S = 0.3
UI_EVERY_S = 0.5


class SetupError(Exception):
    """The run could not start (no server, no way to get tokens, room setup refused)."""


@dataclass
class RunOptions:
    """Everything the CLI decided, apart from the plan."""

    scenario: str
    urls: tuple[str, ...]
    room: str | None = None
    token: str | None = None  # a host token for the room
    secret: str | None = None  # the server's secret: the bots mint tokens
    seed: int | None = None
    title: str = "Load test"
    verbose: bool = False
    commission_bp: int | None = None  # --share-ratio: set the room's rate (None: keep it, or 5% if fresh)


@dataclass
class Identity:
    room: str
    tag: str
    host_token: str | None
    secret: str | None
    dev_tokens: bool


def run_tag() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(6))


def open_share_links(opts: RunOptions, plan: Plan, identity: Identity, fresh: bool) -> list[ShareLink]:
    """``--share-ratio``: set the room's commission rate if asked (or the room is the bots' own),
    then make each sharer's link with the sharer's own token. [] without sharers."""
    if not plan.sharers:
        return []
    base = opts.urls[0]
    bp = opts.commission_bp if opts.commission_bp is not None else DEFAULT_COMMISSION_BP if fresh else None
    try:
        if bp is not None:
            if not identity.host_token:
                raise SetupError("--commission-bp needs a host token: give --secret or --token")
            with Host(base, identity.room, identity.host_token) as host:
                host.set_commission(bp)
        tokens = sharer_tokens(
            plan,
            [(i, viewer_name(plan, i)) for i in range(plan.sharers)],
            base=base,
            room=identity.room,
            tag=identity.tag,
            secret=identity.secret,
            dev=identity.dev_tokens,
        )
        return make_links(base, identity.room, tokens)
    except (HostError, ShareSetupError) as err:
        raise SetupError(f"share links in room {identity.room!r}: {err}") from None


def resolve_identity(opts: RunOptions, host_http: Callable[[str], Host]) -> Identity:
    """Which room, and how the bots get tokens (mint with the secret, the given token, or dev mode)."""
    tag = run_tag()
    room = opts.room
    if opts.token:
        claims = unverified_claims(opts.token)
        token_room = claims.get("room")
        if claims.get("role") != "host" or not isinstance(token_room, str):
            raise SetupError("--token must be a host token with a room claim")
        if room and room != token_room:
            raise SetupError(f"--token is for room {token_room!r}, not --room {room!r}")
        room = token_room
    if not room:
        room = f"bots-{opts.scenario}-{tag}"
    if not (1 <= len(room) <= 40 and all(c in string.ascii_lowercase + string.digits + "-" for c in room)):
        raise SetupError(f"room id {room!r}: 1-40 of [a-z0-9-]")
    host_token = opts.token
    if host_token is None and opts.secret:
        host_token = mint(opts.secret, sub=f"bots-host-{tag}", name="Bots host", role="host", room=room)
    dev = False
    if not opts.secret:
        with host_http(room) as host:
            if host_token is None:
                host_token = host.dev_token("Bots host", "host", room)
            dev = host.dev_token("Bot probe", "viewer", room) is not None
    return Identity(room=room, tag=tag, host_token=host_token, secret=opts.secret, dev_tokens=dev)


@dataclass
class LiveState:
    """What the progress view shows, folded from the workers' progress messages."""

    plan: Plan
    t0: float = 0.0
    phase: str = "setup"
    open: dict[int, int] = field(default_factory=dict)
    last_second: dict[int, int] = field(default_factory=dict)
    timeline: dict[int, Second] = field(default_factory=dict)
    seq_missing: dict[int, int] = field(default_factory=dict)
    errors: dict[int, dict[str, int]] = field(default_factory=dict)
    orders: dict[int, int] = field(default_factory=dict)
    drops: dict[int, dict[str, Any]] = field(default_factory=dict)  # each worker's drops progress
    auctions: dict[int, dict[str, Any]] = field(default_factory=dict)  # each worker's auction progress
    pin: str | None = None
    notes: list[str] = field(default_factory=list)

    def absorb(self, msg: dict[str, Any]) -> None:
        wid = msg["wid"]
        self.open[wid] = msg["open"]
        for index, data in msg["seconds"].items():
            second = self.timeline.get(index)
            if second is None:
                second = self.timeline[index] = Second()
            second.merge(Second.from_dict(data))
            self.last_second[wid] = max(self.last_second.get(wid, -1), index)
        self.seq_missing[wid] = msg["seq_missing"]
        self.errors[wid] = msg["errors"]
        self.orders[wid] = msg["orders"]
        if msg.get("drops"):
            self.drops[wid] = msg["drops"]
        if msg.get("auctions"):
            self.auctions[wid] = msg["auctions"]

    def drop_ready(self) -> int:
        """Viewers connected and done with the drop's task, over every worker."""
        return sum(int(d.get("ready", 0)) for d in self.drops.values())

    def auction_ready(self) -> int:
        """Viewers connected, over every worker (the auction goes up when all are)."""
        return sum(int(a.get("ready", 0)) for a in self.auctions.values())

    def snapshot(self) -> dict[str, Any]:
        """Figures for the view: the latest second every worker has reported, and running totals."""
        totals: dict[str, int] = {}
        for second in self.timeline.values():
            for key, n in second.counts.items():
                totals[key] = totals.get(key, 0) + n
        complete = min(self.last_second.values()) if len(self.last_second) == self.plan.procs else -1
        last = self.timeline.get(complete)
        errors: dict[str, int] = {}
        for per in self.errors.values():
            for code, n in per.items():
                errors[code] = errors.get(code, 0) + n
        return {
            "elapsed": max(0.0, time.time() - self.t0) if self.t0 else 0.0,
            "phase": self.phase,
            "open": sum(self.open.values()),
            "target": self.plan.viewers,
            "second": complete,
            "last": None
            if last is None
            else {
                "deliveries": last.counts["deliveries"],
                "frames": last.counts["frames"],
                "events": last.counts["events"],
                "chat_sent": last.counts["chat_sent"],
                "p50_ms": _ms(last.latency.percentile(50)),
                "p99_ms": _ms(last.latency.percentile(99)),
                "max_ms": _ms(float(last.latency.max) if last.latency.count else None),
            },
            "totals": totals,
            "errors": errors,
            "seq_missing": sum(self.seq_missing.values()),
            "orders": sum(self.orders.values()),
            "pin": self.pin,
            "notes": list(self.notes[-3:]),
        }


def _ms(us: float | None) -> float | None:
    return None if us is None else round(us / 1000, 1)


class Swarm:
    """Runs one scenario once. ``run()`` returns the merged stats and what the parent saw."""

    def __init__(self, opts: RunOptions, plan: Plan, view: Any) -> None:
        self.opts = opts
        self.plan = plan
        self.view = view
        self.targets = [Target.parse(u) for u in opts.urls]
        self.state = LiveState(plan)
        self.interrupted = False
        self.workers: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
        self.results: dict[int, Stats] = {}
        self.events: list[dict[str, Any]] = []  # what the parent did, with times (for the report)
        self.problems: list[str] = []  # orchestration trouble worth a warning
        self.fatal: list[str] = []  # the scenario could not do its job (the pin was refused): exit 2
        self.identity: Identity | None = None
        self.pins_created: list[dict[str, Any]] = []
        self.products_created: list[dict[str, Any]] = []
        self.share_links: list[ShareLink] = []  # --share-ratio
        self.shop: Shop | None = None  # --pay
        self.shop_result: ShopResult | None = None
        self.drop_driver: DropDriver | None = None
        self.auction_driver: AuctionDriver | None = None
        self.server_checks: dict[str, Any] = {}
        self.started_at = 0.0
        self.ended_at = 0.0

    def _host(self, room: str) -> Host:
        token = self.identity.host_token if self.identity else None
        return Host(self.targets[0].http, room, token)

    def _note(self, what: str, **details: Any) -> None:
        at = round(time.time() - self.state.t0, 3) if self.state.t0 else 0.0
        self.events.append({"t_s": at, "what": what, **details})
        self.state.notes.append(f"{at:6.1f}s {what}")

    # -- signals -----------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self.interrupted:
            raise KeyboardInterrupt
        self.interrupted = True

    # -- the run --------------------------------------------------------------------------

    def run(self) -> Stats:
        old = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            return self._run()
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
            for proc, conn in self.workers:
                conn.close()
                if proc.is_alive():
                    proc.terminate()
                proc.join(timeout=2)

    def _run(self) -> Stats:
        self.identity = identity = resolve_identity(self.opts, self._host)
        plan = self.plan
        if plan.pin_id is None and identity.host_token:
            fresh = self.opts.room is None and self.opts.token is None
            try:
                with self._host(identity.room) as host:
                    warning = host.ensure_room(self.opts.title, fresh=fresh)
            except HostError as err:
                raise SetupError(f"setting up room {identity.room!r}: {err}") from None
            if warning:
                self.problems.append(warning)
        elif plan.pin is not None:
            raise SetupError("creating a pin needs a host token: give --secret or --token (or --pin)")
        if (plan.product is not None or plan.pay is not None) and not identity.host_token:
            raise SetupError("--product and --pay need a host token: give --secret or --token")
        if plan.sharers and not identity.host_token:
            raise SetupError("--share-ratio reads the room's leaderboard: give --secret or --token")
        if plan.drops and not identity.host_token:
            raise SetupError("drops are created by the host: give --secret or --token")
        if plan.drops and identity.secret is None and not identity.dev_tokens:
            raise SetupError("grabbing needs signed-in viewers: give --secret (or run the server in --dev)")
        if plan.auction is not None and not identity.host_token:
            raise SetupError("the auction is put up by the host: give --secret or --token")
        if plan.auction is not None and identity.secret is None and not identity.dev_tokens:
            raise SetupError("bidding needs signed-in viewers: give --secret (or run the server in --dev)")
        self.share_links = open_share_links(
            self.opts, plan, identity, fresh=self.opts.room is None and self.opts.token is None
        )
        if plan.pay is not None:
            self.shop = self._open_shop(identity)
        if identity.secret is None and not identity.dev_tokens and plan.scenario != "join":
            self.problems.append(
                "no --secret and no dev mode on the server: "
                "viewers connect anonymously and cannot post or buy"
            )

        ctx = multiprocessing.get_context("spawn")
        seed = self.opts.seed if self.opts.seed is not None else secrets.randbits(32)
        for wid in range(plan.procs):
            parent_end, child_end = ctx.Pipe(duplex=True)
            spec = WorkerSpec(
                wid=wid,
                plan=plan,
                urls=self.opts.urls,
                room=identity.room,
                tag=identity.tag,
                secret=identity.secret,
                dev_tokens=identity.dev_tokens,
                seed=seed,
                share_links=tuple((link.user, link.code) for link in self.share_links),
                given_tokens=tuple((link.index, link.token) for link in self.share_links),
            )
            proc = ctx.Process(target=worker_main, args=(spec, child_end), name=f"bots-{wid}", daemon=True)
            proc.start()
            child_end.close()
            self.workers.append((proc, parent_end))
        self.view.start(self.state)
        try:
            self._await_kind("ready", READY_TIMEOUT_S)
            if self.shop is not None:
                self.shop.start()
            t0 = time.time() + START_DELAY_S
            self.state.t0 = t0
            self.started_at = t0
            self._broadcast({"cmd": "go", "t0": t0})
            self._load(t0)
            self.state.phase = "quiesce"
            quiesced = self._await_kind("quiesced", ACK_GRACE_S + 10, send={"cmd": "quiesce"})
            last_seq = max((m["max_seq"] for m in quiesced.values()), default=0)
            self.state.phase = "drain"
            self._note("drain", seq=last_seq)
            results = self._await_kind(
                "result",
                DRAIN_TIMEOUT_S + CLOSE_TIMEOUT_S + 15,
                send={"cmd": "drain", "seq": last_seq, "timeout": DRAIN_TIMEOUT_S},
            )
            self.ended_at = time.time()
            if self.shop is not None:
                self.state.phase = "settle"
                self._note("settle")
                self.shop_result = self.shop.finish()
        finally:
            self.view.stop()
            if self.shop is not None:
                self.shop.close()
        for wid, msg in results.items():
            self.results[wid] = Stats.from_dict(msg["stats"])
        missing = sorted(set(range(plan.procs)) - set(self.results))
        if missing:
            self.problems.append(f"worker(s) {missing} sent no result (crashed or timed out)")
        return Stats.merged([self.results[w] for w in sorted(self.results)])

    def _load(self, t0: float) -> None:
        plan = self.plan
        self.state.phase = "ramp" if plan.ramp_s > 0 else "load"
        end = t0 + plan.ramp_s + plan.duration_s
        pin_at = t0 + plan.ramp_s + plan.pin.at_s if plan.pin is not None else None
        product_at = t0 + plan.ramp_s if plan.product is not None else None
        driver = None
        if plan.drops:
            driver = self.drop_driver = DropDriver(
                plan,
                lambda: self._host(self.identity.room if self.identity else ""),
                self._note,
                self.problems,
                self.fatal,
            )
        auction = None
        if plan.auction is not None:
            auction = self.auction_driver = AuctionDriver(
                plan,
                lambda: self._host(self.identity.room if self.identity else ""),
                self._note,
                self.problems,
                self.fatal,
            )
        next_ui = 0.0
        while not self.interrupted:
            now = time.time()
            if auction is not None:
                # --duration bounds the wait; the run ends as soon as the auction is settled.
                if auction.done or now >= end:
                    break
                auction.tick(now, t0 + plan.ramp_s, self.state.auction_ready(), self.state.auctions)
            elif driver is None and now >= end:
                break
            if driver is not None:
                if plan.scenario == "drops":
                    # --duration bounds the wait; the run ends as soon as the drop is settled.
                    if driver.done or now >= end:
                        break
                elif now >= end and (driver.done or now >= end + driver.overrun_s()):
                    break
                driver.tick(now, t0 + plan.ramp_s, self.state.drop_ready(), self.state.drops)
            if self.state.phase == "ramp" and now >= t0 + plan.ramp_s:
                self.state.phase = "load"
                self._note("load")
            if pin_at is not None and now >= pin_at:
                pin_at = None
                self._create_pin()
            if product_at is not None and now >= product_at:
                product_at = None
                self._create_product()
            self._pump(min(0.1, max(0.0, end - now)))
            if now >= next_ui:
                self.view.update(self.state.snapshot())
                next_ui = now + UI_EVERY_S
        self._note("interrupted" if self.interrupted else "end")

    def _create_pin(self) -> None:
        assert self.plan.pin is not None and self.identity is not None
        try:
            with self._host(self.identity.room) as host:
                pin = host.create_pin(self.plan.pin.body())
        except HostError as err:
            self.fatal.append(f"creating the pin: {err}")
            self._note("pin failed", error=str(err)[:200])
            return
        self.pins_created.append(pin)
        self.state.pin = pin["id"]
        if self.shop is not None and isinstance(pin.get("stock_total"), int):
            self.shop.watch(pin["id"], pin["stock_total"])
        self._note("pin", pin=pin["id"], stock=pin.get("stock_total"), starts_at_ms=pin.get("starts_at_ms"))

    def _create_product(self) -> None:
        assert self.plan.product is not None and self.identity is not None
        product = self.plan.product
        try:
            with self._host(self.identity.room) as host:
                made = host.put_product(product.id, product.body())
        except HostError as err:
            self.fatal.append(f"putting the product in the bag: {err}")
            self._note("product failed", error=str(err)[:200])
            return
        self.products_created.append(made)
        self._note("product", product=product.id, stock=made["stock_total"])
        if self.shop is not None:
            self.shop.watch(product.id, made["stock_total"])

    def _open_shop(self, identity: Identity) -> Shop:
        """Make the room hold orders for payment and get the shop its service token."""
        assert self.plan.pay is not None
        try:
            with self._host(identity.room) as host:
                host.set_pay_within(self.opts.title, self.plan.pay.pay_within_s)
                token = (
                    mint(identity.secret, sub=f"bots-shop-{identity.tag}", name="Bots shop", role="service")
                    if identity.secret
                    else host.dev_token("Bots shop", "service", None)
                )
        except HostError as err:
            raise SetupError(f"setting pay_within_s of room {identity.room!r}: {err}") from None
        if token is None:
            raise SetupError("--pay needs a service token: give --secret (or run the server in --dev)")
        seed = self.opts.seed if self.opts.seed is not None else secrets.randbits(32)
        return Shop(self.targets[0].http, identity.room, token, self.plan.pay, seed)

    # -- talking to workers -------------------------------------------------------------

    def _broadcast(self, msg: dict[str, Any]) -> None:
        for _proc, conn in self.workers:
            with contextlib.suppress(OSError):  # a dead worker is noticed by its missing answer
                conn.send(msg)

    def _pump(self, timeout: float) -> list[dict[str, Any]]:
        """Read whatever the workers sent within ``timeout``; progress is absorbed, the rest returned."""
        conns = [c for _p, c in self.workers if not c.closed]
        other: list[dict[str, Any]] = []
        for conn in wait(conns, timeout=timeout):
            assert isinstance(conn, Connection)
            try:
                while conn.poll():
                    msg = conn.recv()
                    if msg.get("kind") == "progress":
                        self.state.absorb(msg)
                    else:
                        other.append(msg)
            except (EOFError, OSError):
                conn.close()
        return other

    def _await_kind(
        self, kind: str, timeout_s: float, send: dict[str, Any] | None = None
    ) -> dict[int, dict[str, Any]]:
        if send is not None:
            self._broadcast(send)
        got: dict[int, dict[str, Any]] = {}
        deadline = time.time() + timeout_s
        alive = {i for i, (p, _c) in enumerate(self.workers)}
        next_ui = 0.0
        while len(got) < len(alive) and time.time() < deadline:
            for msg in self._pump(0.1):
                if msg.get("kind") == kind:
                    got[msg["wid"]] = msg
                elif msg.get("kind") == "result":
                    self.problems.append(f"worker {msg['wid']} ended early")
            alive = {i for i, (p, c) in enumerate(self.workers) if p.is_alive() or i in got}
            if time.time() >= next_ui:
                self.view.update(self.state.snapshot())
                next_ui = time.time() + UI_EVERY_S
        return got

    # -- after the run --------------------------------------------------------------------

    def check_server(self, stats: Stats, ledger: SaleLedger) -> dict[str, Any]:
        """Ask the server for its orders (every acked order must be there) and its room stats."""
        checks: dict[str, Any] = {}
        if self.identity is None or not self.identity.host_token:
            return {"skipped": "no host token"}
        acked = {str(order.get("id")) for _u, _r, order in stats.orders}
        with self._host(self.identity.room) as host:
            if acked:
                try:
                    server_orders = host.orders()
                    on_server = {str(o.get("id")) for o in server_orders}
                    lost = sorted(acked - on_server)
                    checks["orders"] = {
                        "acked_by_bots": len(acked),
                        "on_server": len(on_server),
                        "acked_orders_missing": len(lost),
                        "missing_ids": lost[:20],
                    }
                except HostError as err:
                    checks["orders"] = {"skipped": str(err)[:200]}
            try:
                checks["room_stats"] = host.stats()
            except HostError as err:
                checks["room_stats"] = {"skipped": str(err)[:200]}
            if self.share_links:
                checks["shares"] = self._check_shares(host, stats)
            if self.drop_driver is not None and self.drop_driver.created:
                checks["drops"] = check_drops(host, self.targets[0].http, self.drop_driver.created, stats)
            if self.auction_driver is not None and self.auction_driver.created is not None:
                checks["auction"] = check_auction(host, self.auction_driver.created, stats)
        return checks

    def _check_shares(self, host: Host, stats: Stats) -> dict[str, Any]:
        """The leaderboard against the acks: per sharer, orders, buyers, GMV and commission."""
        released = {
            str(o.get("id"))
            for o in (self.shop_result.orders if self.shop_result else [])
            if o.get("state") in ("cancelled", "expired")
        }
        try:
            bp = host.commission_bp()
            board = host.shares()
        except HostError as err:
            return {"skipped": str(err)[:200], "mismatches": 1}
        sharers = [link.user for link in self.share_links]
        expected = expected_board(stats.orders, stats.attributed, sharers, bp, released)
        names = {link.user: viewer_name(self.plan, link.index) for link in self.share_links}
        return {
            "commission_bp": bp,
            "attributed_viewers": len(stats.attributed),
            **compare(expected, board, names),
        }


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def is_tty() -> bool:
    return sys.stdout.isatty()
