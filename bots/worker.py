"""A worker process: one asyncio loop (uvloop when installed) holding its share of the viewers.

The parent talks to each worker over a ``multiprocessing`` pipe:

    worker -> parent   {"kind": "ready"}
    parent -> worker   {"cmd": "go", "t0": <wall clock seconds>}
    worker -> parent   {"kind": "progress", ...}           every PROGRESS_S
    parent -> worker   {"cmd": "quiesce"}                   stop sending, wait for answers
    worker -> parent   {"kind": "quiesced", "max_seq": S}
    parent -> worker   {"cmd": "drain", "seq": S}           wait until every viewer has seq S
    worker -> parent   {"kind": "result", "stats": {...}}   then the worker exits

``{"cmd": "abort"}`` (or the pipe closing) skips straight to the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import resource
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import quote, urlsplit

from bots.bidder import Bidder
from bots.grabber import Grabber
from bots.plan import Plan
from bots.stats import Second, Stats
from bots.texts import LOAD_LINES, STAMP
from bots.tokens import mint, unverified_claims
from bots.viewer import Viewer

PROGRESS_S = 0.5
GAUGE_S = 0.25
LAG_PROBE_S = 0.05
ACK_GRACE_S = 3.0  # how long after the load stops a request may still be answered
DRAIN_TIMEOUT_S = 5.0
CLOSE_TIMEOUT_S = 5.0
# Drops: this many winners and as many others of each worker hand their tokens to the parent,
# which reads their wallets and coupons back.
SAMPLE_WINNERS = 8
SAMPLE_OTHERS = 4


@dataclass(frozen=True, slots=True)
class Target:
    """One server to connect to (several: viewers spread over them and fail over)."""

    http: str  # http://127.0.0.1:8000
    host: str
    port: int
    ws_base: str  # ws://127.0.0.1:8000

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "ws"):
            raise ValueError(f"--url {url!r}: only http:// (or ws://) is supported")
        if not parts.hostname:
            raise ValueError(f"--url {url!r} has no host")
        port = parts.port or 80
        host = parts.hostname
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return cls(http=f"http://{netloc}", host=host, port=port, ws_base=f"ws://{netloc}")

    def ws_uri(self, room: str, token: str | None, since: int | None, share: str | None = None) -> str:
        query = []
        if token:
            query.append(f"token={quote(token, safe='')}")
        if since is not None:
            query.append(f"since={since}")
        if share:
            query.append(f"share={quote(share, safe='')}")
        return f"{self.ws_base}/ws/{room}" + ("?" + "&".join(query) if query else "")


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    wid: int
    plan: Plan
    urls: tuple[str, ...]
    room: str
    tag: str  # run tag: bot user ids and chat stamps carry it
    secret: str | None  # mint viewer tokens with it
    dev_tokens: bool = False  # no secret: ask POST /api/dev/token (live serve --dev)
    seed: int = 0
    verbose: bool = False  # crowd: print what the crowd says
    # --share-ratio: (sharer user id, share code) per sharer, in sharer order; () = no share links
    share_links: tuple[tuple[str, str], ...] = ()
    # viewer index -> the token the parent used for it (the sharers made their links with these)
    given_tokens: tuple[tuple[int, str], ...] = ()


def viewer_name(plan: Plan, index: int) -> str:
    """The display name of viewer ``index`` (the parent names the sharers the same way)."""
    if plan.scenario == "crowd":
        from bots.texts import CROWD_NAMES

        return CROWD_NAMES[index % len(CROWD_NAMES)]
    return f"Bot {index}"


def raise_fd_limit() -> None:
    """Thousands of connections need thousands of file descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when it is installed (faster sockets and timers), else None (asyncio's)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_loop(main: Callable[[bool], Awaitable[None]]) -> None:
    """Run ``main(uvloop_on)`` to completion on a fresh loop, uvloop when available."""
    factory = loop_factory()
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main(factory is not None))  # type: ignore[arg-type]


class Worker:
    """Holds the viewers of one process and everything they share."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.plan = spec.plan
        self.room = spec.room
        self.tag = spec.tag
        self.stamp_prefix = STAMP + spec.tag
        self.targets = [Target.parse(u) for u in spec.urls]
        self.rng = random.Random(spec.seed * 1_000_003 + spec.wid)
        self.stats = Stats()
        self.viewers: list[Viewer] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.crowd: Any = None  # a bots.crowd.Crowd in the crowd scenario
        self.t0 = 0.0
        self.t0_us = 0
        self.cur_sec = -1
        self.cur_second = Second()
        self.open_count = 0
        self.activity = False  # posting, liking and buying allowed
        self.stopping = False  # viewers stop reconnecting
        self.closing = False  # closes from now on are ours, not the server's
        self._stop = asyncio.Event()
        self._sent_seconds = -1  # the last completed second sent as progress
        self.uvloop = False
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self._cpu0 = 0.0
        self._wall0 = 0.0
        # auction: one tuple per bid event, shared by the histories of this worker's viewers
        self._interned: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        # Viewer indexes connected when the drain ended (None: not drained); the final stats are
        # taken after every connection is closed, so "online at the end" is noted here.
        self.online_at_end: set[int] | None = None

    def intern(self, value: tuple[Any, ...]) -> tuple[Any, ...]:
        """The one copy of an equal tuple in this worker: every viewer's history holds the same
        bid event, and a shared tuple is kept (and pickled to the parent) once."""
        return self._interned.setdefault(value, value)

    # -- time -----------------------------------------------------------------------

    def roll(self, sec: int) -> Second:
        """The timeline entry for ``sec``, cached for the hot path."""
        self.cur_sec = sec
        self.cur_second = self.stats.second(sec)
        return self.cur_second

    def second_now(self) -> Second:
        sec = (time.time_ns() // 1000 - self.t0_us) // 1_000_000
        return self.cur_second if sec == self.cur_sec else self.roll(sec)

    async def sleep(self, seconds: float) -> bool:
        """Sleep unless the worker stops first; False if it stopped."""
        if self.stopping:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), max(0.0, seconds))
        return not self.stopping

    async def sleep_until(self, at_s: float) -> bool:
        """Sleep until ``at_s`` seconds after t0."""
        return await self.sleep(self.t0 + at_s - time.time())

    # -- what viewers report ------------------------------------------------------

    def connect_failed(self, kind: str) -> None:
        self.stats.connect_errors[kind] = self.stats.connect_errors.get(kind, 0) + 1
        self.second_now().counts["connect_failures"] += 1

    def disconnected(self, code: int) -> None:
        key = str(code)
        self.stats.closes[key] = self.stats.closes.get(key, 0) + 1
        self.second_now().counts["disconnects"] += 1

    # -- setup ----------------------------------------------------------------------

    async def prepare(self) -> None:
        """Make this worker's viewers, with their tokens."""
        self.loop = asyncio.get_running_loop()
        plan = self.plan
        indexes = list(plan.worker_indexes(self.spec.wid))
        names = self._names(indexes)
        tokens = await self._tokens(indexes, names)
        for index, name, (sub, token) in zip(indexes, names, tokens, strict=True):
            buyer = plan.is_buyer(index)
            replay = buyer and plan.replay_every > 0 and index % plan.replay_every == 0
            self.viewers.append(
                Viewer(
                    self,
                    index,
                    sub,
                    name,
                    token,
                    buyer=buyer,
                    replay=replay,
                    connect_at=plan.connect_at_s(index),
                )
            )
        if plan.drops:
            chat_task = plan.drop_task == "chat"
            for v in self.viewers:
                v.grabber = Grabber(
                    v,
                    active=plan.is_grabber(v.index) and v.token is not None,
                    replays=plan.grab_replays(v.index),
                    reconnects=plan.grab_reconnects(v.index),
                    chat_task=chat_task,
                )
        if plan.auction is not None:
            for v in self.viewers:
                v.bidder = Bidder(v, active=v.token is not None, replays=plan.bid_replays(v.index))
        links = self.spec.share_links
        for v in self.viewers:
            if links and v.token and plan.is_attributed(v.index):
                sharer, code = links[plan.sharer_of(v.index)]
                v.share = code
                self.stats.attributed[v.sub] = sharer
        if plan.followers:
            await self._follow_host([v for v in self.viewers if v.index < plan.followers and v.token])

    async def _follow_host(self, viewers: list[Viewer]) -> None:
        """``--follow``: these viewers follow the room's host (contract §9) before connecting."""
        import httpx

        base = self.targets[0].http
        async with httpx.AsyncClient(base_url=base, timeout=10.0) as client:
            try:
                r = await client.get(f"/api/rooms/{self.room}")
                host = r.json()["room"]["host"]["id"]
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                self.stats.count("follow_failures", len(viewers))
                return
            gate = asyncio.Semaphore(20)

            async def follow(v: Viewer) -> None:
                async with gate:
                    try:
                        r = await client.put(
                            f"/api/follows/{host}", headers={"Authorization": f"Bearer {v.token}"}
                        )
                        ok = r.status_code == 200
                    except httpx.HTTPError:
                        ok = False
                self.stats.count("follows" if ok else "follow_failures")

            await asyncio.gather(*(follow(v) for v in viewers))

    def _names(self, indexes: list[int]) -> list[str]:
        return [viewer_name(self.plan, i) for i in indexes]

    async def _tokens(self, indexes: list[int], names: list[str]) -> list[tuple[str, str | None]]:
        made = await self._make_tokens(indexes, names)
        given = dict(self.spec.given_tokens)
        return [
            (str(unverified_claims(given[i]).get("sub", sub)), given[i]) if i in given else (sub, token)
            for i, (sub, token) in zip(indexes, made, strict=True)
        ]

    async def _make_tokens(self, indexes: list[int], names: list[str]) -> list[tuple[str, str | None]]:
        subs = [f"bot-{self.tag}-{i}" for i in indexes]
        if self.spec.secret:
            secret = self.spec.secret
            return [
                (sub, mint(secret, sub=sub, name=name, role="viewer", room=self.room))
                for sub, name in zip(subs, names, strict=True)
            ]
        if not self.spec.dev_tokens:
            return [(sub, None) for sub in subs]  # anonymous watchers
        import httpx

        gate = asyncio.Semaphore(20)
        base = self.targets[0].http

        async def one(client: httpx.AsyncClient, sub: str, name: str) -> tuple[str, str | None]:
            async with gate:
                try:
                    r = await client.post(
                        f"{base}/api/dev/token", json={"name": name, "role": "viewer", "room": self.room}
                    )
                    token = r.json()["token"] if r.status_code == 200 else None
                except (httpx.HTTPError, ValueError, KeyError):
                    token = None
            if token is None:
                self.stats.count("dev_token_failures")
                return (sub, None)
            return (str(unverified_claims(token).get("sub", sub)), token)

        async with httpx.AsyncClient(timeout=10.0) as client:
            return list(await asyncio.gather(*(one(client, s, n) for s, n in zip(subs, names, strict=True))))

    def start(self, t0: float) -> None:
        self.t0 = t0
        self.t0_us = int(t0 * 1_000_000)
        self._cpu0 = time.process_time()
        self._wall0 = time.time()
        self.activity = True
        self.tasks = [asyncio.create_task(v.run()) for v in self.viewers]
        background: list[Callable[[], Coroutine[Any, Any, None]]] = [self._gauge_loop, self._lag_loop]
        if self.plan.worker_rate(self.spec.wid) > 0 and self.plan.scenario != "crowd":
            background.append(self._chat_loop)
        if self.plan.worker_likes(self.spec.wid) > 0:
            background.append(self._likes_loop)
        self.tasks += [asyncio.create_task(fn()) for fn in background]

    # -- load ---------------------------------------------------------------------

    async def _chat_loop(self) -> None:
        """Post at this worker's share of the rate, round robin over its posters, from the ramp's end."""
        rate = self.plan.worker_rate(self.spec.wid)
        posters = [v for v in self.viewers if self.plan.is_poster(v.index)]
        if not posters or not await self.sleep_until(self.plan.ramp_s):
            return
        interval = 1.0 / rate
        next_t = time.time()
        k = 0
        while self.activity and not self.stopping:
            now = time.time()
            if now < next_t:
                if not await self.sleep(next_t - now):
                    return
                continue
            if now - next_t > 1.0:  # more than a second behind: the bots are overloaded; skip ahead
                self.stats.count("chat_posts_skipped_late", int((now - next_t) * rate))
                next_t = now
            v = posters[k % len(posters)]
            line = LOAD_LINES[(k // len(posters)) % len(LOAD_LINES)]
            k += 1
            if not v.post_chat(f"{line}{self.stamp_prefix}{time.time_ns() // 1000:x}"):
                self.stats.count("chat_skipped_offline")
            next_t += interval

    async def _likes_loop(self) -> None:
        rate = self.plan.worker_likes(self.spec.wid)
        if not await self.sleep_until(self.plan.ramp_s):
            return
        while self.activity and not self.stopping:
            if not await self.sleep(self.rng.expovariate(rate)):
                return
            v = self.viewers[self.rng.randrange(len(self.viewers))]
            v.like(self.rng.randint(1, 3))

    async def _gauge_loop(self) -> None:
        while not self.stopping:
            self.second_now().open = self.open_count
            if not await self.sleep(GAUGE_S):
                return

    async def _lag_loop(self) -> None:
        """How late the loop wakes a timer: the bots' own delay, included in every latency."""
        hist = self.stats.hists["loop_lag"]
        while not self.stopping:
            before = time.perf_counter()
            await asyncio.sleep(LAG_PROBE_S)
            hist.record(int((time.perf_counter() - before - LAG_PROBE_S) * 1_000_000))

    # -- progress -------------------------------------------------------------------

    def progress(self) -> dict[str, Any]:
        """Completed seconds not yet reported, and a few running totals."""
        now_sec = (time.time_ns() // 1000 - self.t0_us) // 1_000_000
        seconds = {i: s.to_dict() for i, s in self.stats.timeline.items() if self._sent_seconds < i < now_sec}
        if seconds:
            self._sent_seconds = max(seconds)
        missing = sum(v.seq.missing for v in self.viewers)
        drops: dict[str, Any] = {}
        grabbers = [v.grabber for v in self.viewers if v.grabber is not None]
        if grabbers:
            known = set().union(*(g.known_drops() for g in grabbers))
            ever = [g for g in grabbers if g.viewer.ever_connected]
            drops = {
                "ready": sum(1 for g in grabbers if g.ready),
                "busy": sum(1 for g in grabbers if g.busy()),
                # per drop, the viewers still owed something: its drop_end, or an answer to a grab
                "open": {d: sum(1 for g in ever if not g.settled(d)) for d in known},
            }
        auctions: dict[str, Any] = {}
        bidders = [v.bidder for v in self.viewers if v.bidder is not None]
        if bidders:
            running = set().union(*(b.known() for b in bidders))
            watching = [b for b in bidders if b.viewer.ever_connected]
            auctions = {
                "ready": sum(1 for b in bidders if b.ready),
                # per auction, the viewers still owed something: its auction_end, or an answer to a bid
                "open": {a: sum(1 for b in watching if not b.settled(a)) for a in running},
            }
        return {
            "kind": "progress",
            "wid": self.spec.wid,
            "open": self.open_count,
            "seconds": seconds,
            "seq_missing": missing,
            "seq_duplicates": sum(v.seq.duplicates for v in self.viewers),
            "errors": dict(self.stats.errors),
            "orders": len(self.stats.orders),
            "cpu_s": time.process_time() - self._cpu0,
            "drops": drops,
            "auctions": auctions,
        }

    # -- ending ---------------------------------------------------------------------

    async def quiesce(self) -> dict[str, Any]:
        """Stop sending; wait for outstanding answers; count requests left unanswered."""
        self.activity = False
        deadline = time.time() + ACK_GRACE_S
        # Polled: the condition spans every viewer, and 50 ms is fine grain for an end-of-run wait.
        while time.time() < deadline and any(v.pending and v.is_open for v in self.viewers):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        for v in self.viewers:
            if v.buy_timer is not None:
                v.buy_timer.cancel()
                v.buy_timer = None
            if v.pending and v.is_open:
                for kind, _sent, _frame in v.pending.values():
                    self.stats.count("lost_acks")
                    self.stats.count(f"lost_acks_{kind}")
            if v.resend:
                self.stats.count("buys_unanswered_offline", len(v.resend))
        started = [v.seq.last for v in self.viewers if v.seq.started]
        return {"kind": "quiesced", "wid": self.spec.wid, "max_seq": max(started, default=0)}

    async def drain(self, seq: int, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Wait until every viewer has durable seq ``seq``; the ones that never get it are counted."""
        deadline = time.time() + timeout_s
        ever = [v for v in self.viewers if v.ever_connected]
        while time.time() < deadline and any(not v.is_open or v.seq.last < seq for v in ever):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        self.online_at_end = {v.index for v in self.viewers if v.is_open}
        for v in ever:
            if not v.is_open:
                self.stats.count("viewers_offline_at_end")
            elif v.seq.last < seq:
                self.stats.count("tail_missing_viewers")
                self.stats.count("tail_missing_events", seq - v.seq.last)

    async def shutdown(self) -> None:
        self.activity = False
        self.closing = True
        self.stopping = True
        self._stop.set()
        for v in self.viewers:
            v.close()
        if self.tasks:
            _done, pending = await asyncio.wait(self.tasks, timeout=CLOSE_TIMEOUT_S)
            for task in pending:
                task.cancel()
            for v in self.viewers:
                if v.conn is not None:
                    v.conn.abort()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        self.stats.count("never_connected", sum(1 for v in self.viewers if not v.ever_connected))

    def final_stats(self) -> Stats:
        stats = self.stats
        for v in self.viewers:
            s = v.seq
            stats.count("seq_gaps", s.gaps)
            stats.count("seq_missing", s.missing)
            stats.count("seq_duplicates", s.duplicates)
            stats.count("resumed", s.resumed)
            stats.count("resume_refused", s.resume_refused)
            stats.count("resume_too_old", s.resume_too_old)
            stats.count("seq_regressions", s.regressions)
            if s.missing or s.duplicates:
                stats.count("viewers_with_gaps")
        self._drop_records(stats)
        for v in self.viewers:
            if v.bidder is not None:
                stats.bids.extend(r.to_dict() for r in v.bidder.records())
                stats.auction_views.extend(a.to_dict() for a in v.bidder.views(online=self._online(v)))
        wall = max(1e-9, time.time() - self._wall0)
        cpu = time.process_time() - self._cpu0
        lag = stats.hists["loop_lag"]
        stats.workers.append(
            {
                "wid": self.spec.wid,
                "pid": os.getpid(),
                "viewers": len(self.viewers),
                "cpu_s": round(cpu, 3),
                "wall_s": round(wall, 3),
                "cpu_pct": round(100 * cpu / wall, 1),
                "loop_lag_p99_ms": round((lag.percentile(99) or 0) / 1000, 2),
                "loop_lag_max_ms": round(lag.max / 1000, 2),
                "uvloop": self.uvloop,
            }
        )
        return stats

    def _online(self, v: Viewer) -> bool:
        return v.index in self.online_at_end if self.online_at_end is not None else v.is_open

    def _drop_records(self, stats: Stats) -> None:
        """Every grab and every view of a drop, and a few grabbers' tokens to read their wallets with."""
        grabbers = [v.grabber for v in self.viewers if v.grabber is not None]
        winners = others = 0
        for g in grabbers:
            stats.grabs.extend(r.to_dict() for r in g.records())
            stats.drop_views.extend(d.to_dict() for d in g.views(online=self._online(g.viewer)))
            token = g.viewer.token
            if not g.grabs or token is None or not g.all_answered():
                continue
            if g.won() and winners < SAMPLE_WINNERS:
                winners += 1
                stats.sample_tokens[g.viewer.sub] = token
            elif not g.won() and others < SAMPLE_OTHERS:
                others += 1
                stats.sample_tokens[g.viewer.sub] = token


async def _serve(spec: WorkerSpec, conn: Connection, uvloop_on: bool) -> None:
    worker = Worker(spec)
    worker.uvloop = uvloop_on
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def read_command() -> None:
        try:
            while conn.poll():
                commands.put_nowait(conn.recv())
        except (EOFError, OSError):
            loop.remove_reader(conn.fileno())
            commands.put_nowait({"cmd": "abort"})

    loop.add_reader(conn.fileno(), read_command)
    # uvloop makes a watched fd non-blocking, and the pipe is one socket both ways: a send bigger than
    # the socket's buffer (an auction's histories) would then fail with EAGAIN instead of waiting for
    # the parent to read. Reads stay safe: read_command only reads what poll() says has arrived.
    os.set_blocking(conn.fileno(), True)
    await worker.prepare()
    conn.send({"kind": "ready", "wid": spec.wid})
    command = await commands.get()
    if command.get("cmd") == "go":
        worker.start(float(command["t0"]))

        async def report_progress() -> None:
            while not worker.stopping:
                await asyncio.sleep(PROGRESS_S)
                if not worker.stopping:
                    conn.send(worker.progress())

        reporter = asyncio.create_task(report_progress())
        while True:
            command = await commands.get()
            cmd = command.get("cmd")
            if cmd == "quiesce":
                conn.send(await worker.quiesce())
            elif cmd == "drain":
                await worker.drain(int(command.get("seq", 0)), float(command.get("timeout", DRAIN_TIMEOUT_S)))
                break
            else:  # abort
                if worker.activity:
                    await worker.quiesce()
                break
        await worker.shutdown()
        reporter.cancel()
    with contextlib.suppress(OSError):
        loop.remove_reader(conn.fileno())
    with contextlib.suppress(OSError):
        os.set_blocking(conn.fileno(), True)  # removing the reader does not undo non-blocking
    with contextlib.suppress(OSError, BrokenPipeError):
        conn.send({"kind": "result", "wid": spec.wid, "stats": worker.final_stats().to_dict()})


def worker_main(spec: WorkerSpec, conn: Connection) -> None:
    """Entry point of a worker process (spawned by the parent)."""
    # The parent decides when to stop (and a closed pipe stops us if it dies).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise_fd_limit()
    try:
        run_loop(lambda uvloop_on: _serve(spec, conn, uvloop_on))
    finally:
        conn.close()
