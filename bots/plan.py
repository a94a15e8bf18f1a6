"""Turning a scenario and its options into a plan: who posts, who buys, when the pin goes up.

Pure: no clock, no sockets. The parent makes one ``Plan``; each worker gets a
``WorkerSpec`` naming its share of the viewers (every ``procs``-th index, so
posters, buyers and the connection ramp spread evenly over the processes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

SCENARIOS = ("chat", "stampede", "join", "mixed", "crowd", "drops", "auction")

# The contract's default chat limit is 5 posts per 10 s per user; a poster of the
# bots posts at most this often so the swarm stays under it with a margin.
POSTS_PER_USER_PER_S = 0.4

# What one worker process can receive comfortably, for the default --procs:
# frames a second (each frame is parsed once) and connections held.
FRAMES_PER_PROC_S = 25_000
VIEWERS_PER_PROC = 5_000
# --share-ratio: this many viewers at most make share links (the "sharers"), about one in
# SHARER_EVERY viewers, the first indexes; a fraction of the others connect through them.
SHARERS_MAX = 3
SHARER_EVERY = 5
SHARE_SCENARIOS = ("stampede", "mixed", "crowd")  # the scenarios whose viewers buy
GOLDEN = (math.sqrt(5) - 1) / 2
# Drops (contract §10): the grab window's bounds, and who repeats what. One grabber in each block of
# GRAB_REPLAY_EVERY re-sends its acked grab's id and then grabs again with a new id; one in each
# block of GRAB_RECONNECT_EVERY drops its socket right after sending. The place in the block moves
# from block to block, so each role has every residue (every --url, every worker: the winners of a
# drop may all sit on the process that heard of it first), and the two roles never meet.
DROP_WINDOW_S = (5, 3600)
DROP_COUNT_MAX = 100_000
GRAB_REPLAY_EVERY = 10
GRAB_RECONNECT_EVERY = 50
GRAB_RECONNECT_AT = 5  # the place in the first block; it moves by as much each block
DROP_TASKS = ("none", "follow", "chat")
MIXED_GRAB_SHARE = 0.5  # mixed --drops: about this share of the viewers grab
# drops: how long after the ramp to wait for everyone to be connected (and done with the task),
# and after a drop's window how long to wait for its end and the last answers.
DROP_READY_WAIT_S = 30.0
DROP_END_GRACE_S = 15.0
# Auctions (contract §11): the bounds the contract puts on an auction, and the bidders' habits. One
# bidder in each block of BID_REPLAY_EVERY re-sends its first acked bid's id (the identical ack is
# owed), the place in the block moving as the grab replayers' does. Bids land at random instants of
# the last --snipe-window seconds, some up to BID_LATE_S after the end (they must be refused);
# a bid answered too_low is retried once at its min_cents by about BID_RETRY_SHARE of the bidders.
AUCTION_DURATION_S = (5, 3600)
AUCTION_EXTEND_S = (0, 60)
BID_REPLAY_EVERY = 10
BID_LATE_S = 0.5
BID_RETRY_SHARE = 0.5
BIDS_PER_BIDDER = (1, 3)
# auction: after the auction's (possibly moved) end, how long to wait for auction_end everywhere
# and the last answers.
AUCTION_END_GRACE_S = 15.0
# A server batches events into frames; past this many events a second per
# viewer we assume batching (the contract allows it, the FINDINGS advise it).
EVENTS_PER_FRAME_GUESS_S = 20.0


@dataclass(frozen=True, slots=True)
class Defaults:
    viewers: int
    rate: float
    duration_s: float
    ramp_s: float


DEFAULTS = {
    "chat": Defaults(viewers=100, rate=20.0, duration_s=30.0, ramp_s=5.0),
    "stampede": Defaults(viewers=200, rate=0.0, duration_s=10.0, ramp_s=3.0),
    "join": Defaults(viewers=500, rate=0.0, duration_s=5.0, ramp_s=0.0),
    "mixed": Defaults(viewers=300, rate=10.0, duration_s=60.0, ramp_s=10.0),
    "crowd": Defaults(viewers=15, rate=0.0, duration_s=0.0, ramp_s=5.0),
    # drops: --duration is the most the run waits after the ramp (filled in from the window).
    "drops": Defaults(viewers=2000, rate=0.0, duration_s=0.0, ramp_s=5.0),
    # auction: likewise, filled in from the auction's duration and extension.
    "auction": Defaults(viewers=300, rate=0.0, duration_s=0.0, ramp_s=3.0),
}


@dataclass(frozen=True, slots=True)
class PinPlan:
    """A pin the bots create as host, ``at_s`` seconds after the ramp ends."""

    at_s: float
    stock: int
    limit_per_user: int
    starts_in_s: int
    duration_s: int
    tiers: tuple[tuple[int, int], ...]  # (at, price_cents)
    count: str = "posters"
    list_price_cents: int = 3000
    price_protection: bool = True

    def body(self, product_id: str = "bots-mug") -> dict[str, object]:
        """The ``POST /api/rooms/{room}/pins`` body (contract §3); the server names the pin.

        No ``image_url``: it is optional, and the bots have no picture to point at.
        """
        return {
            "product": {
                "id": product_id,
                "title": "Load-test mug",
                "list_price_cents": self.list_price_cents,
            },
            "stock": self.stock,
            "limit_per_user": self.limit_per_user,
            "starts_in_s": self.starts_in_s,
            "duration_s": self.duration_s,
            "tiers": [{"at": at, "price_cents": price} for at, price in self.tiers],
            "count": self.count,
            "price_protection": self.price_protection,
        }


@dataclass(frozen=True, slots=True)
class ProductPlan:
    """A bag product the bots put in the room as host when the load starts (``--product``)."""

    id: str
    stock: int
    limit_per_user: int
    list_price_cents: int = 3000

    def body(self) -> dict[str, object]:
        """The ``PUT /api/rooms/{room}/products/{id}`` body (contract §6)."""
        return {
            "title": "Load-test mug",
            "list_price_cents": self.list_price_cents,
            "stock": self.stock,
            "limit_per_user": self.limit_per_user,
        }


@dataclass(frozen=True, slots=True)
class DropPlan:
    """A drop the bots create as host (contract §10): ``at_s`` seconds after the ramp ends.

    In the drops scenario ``at_s`` is 0 and the drop waits until every viewer is connected (and
    has done the task); in mixed it is the drop's time in the show, and it also waits for the
    previous drop to end (one drop at a time per room).
    """

    at_s: float
    kind: str  # envelope | coupon
    count: int
    window_s: int  # the grab window (duration_s)
    task: str = "none"
    total_cents: int = 0  # envelope
    value_cents: int = 0  # coupon
    min_spend_cents: int = 0  # coupon

    def body(self) -> dict[str, object]:
        """The ``POST /api/rooms/{room}/drops`` body; the server names the drop."""
        body: dict[str, object] = {
            "kind": self.kind,
            "count": self.count,
            "duration_s": self.window_s,
            "task": self.task,
        }
        if self.kind == "envelope":
            body["total_cents"] = self.total_cents
        else:
            body["value_cents"] = self.value_cents
            body["min_spend_cents"] = self.min_spend_cents
        return body


@dataclass(frozen=True, slots=True)
class DropOptions:
    """The ``--drop-*`` options as given (None: the default for the scenario)."""

    kind: str = "envelope"
    count: int | None = None  # default viewers / 20
    total_cents: int | None = None  # envelope; default 100 x count
    value_cents: int = 500  # coupon
    window_s: int = 10
    task: str = "none"
    mixed_drops: int = 0  # mixed --drops K


@dataclass(frozen=True, slots=True)
class AuctionOptions:
    """The auction scenario's options (``--auction-duration``, ``--extend``, ...)."""

    duration_s: int = 10
    extend_s: int = 0  # 0 = sudden death
    start_cents: int = 1000
    increment_cents: int = 100
    snipe_window_s: float = 2.0


@dataclass(frozen=True, slots=True)
class AuctionPlan:
    """The auction the bots' host puts up once every bidder is connected (contract §11)."""

    duration_s: int
    extend_s: int
    start_cents: int
    increment_cents: int
    snipe_window_s: float  # each bidder bids at random instants of the last this many seconds
    list_price_cents: int = 5000

    def body(self) -> dict[str, object]:
        """The ``POST /api/rooms/{room}/auctions`` body; the server names the auction."""
        return {
            "product": {
                "id": "bots-card",
                "title": "Load-test card",
                "list_price_cents": self.list_price_cents,
            },
            "start_cents": self.start_cents,
            "increment_cents": self.increment_cents,
            "duration_s": self.duration_s,
            "extend_s": self.extend_s,
        }

    @property
    def overrun_s(self) -> float:
        """The most the end can move past the original end: the last bid is sent at most
        ``BID_LATE_S`` after it (a too_low retry follows its answer at once), and it may extend."""
        return BID_LATE_S + self.extend_s + 1.0


@dataclass(frozen=True, slots=True)
class PayPlan:
    """``--pay``: the room holds orders for payment and a shop (the service role) settles them.

    Each acked order is confirmed with probability ``confirm_ratio``, else cancelled with
    probability ``cancel_ratio``, else left to expire; the shop acts after a random delay of
    up to ``max_delay_s`` (some land after ``pay_by_ms``: the order expired first, 409).
    """

    pay_within_s: int
    confirm_ratio: float
    cancel_ratio: float = 0.5
    max_delay_s: float = 0.0  # 0 = half of pay_within_s

    @property
    def delay_s(self) -> float:
        return self.max_delay_s or self.pay_within_s / 2


@dataclass(frozen=True, slots=True)
class Plan:
    scenario: str
    viewers: int
    rate: float  # chat posts a second, whole swarm
    duration_s: float  # after the ramp; 0 = until stopped (crowd)
    ramp_s: float
    procs: int
    posters: int = 0  # viewers [0, posters) post chat, round robin
    buyers: int = 0  # viewers [viewers - buyers, viewers) buy when a pin is live
    likes_per_s: float = 0.0  # whole swarm
    buy_units: int = 0  # units each buyer tries to get, one at a time; 0 = the pin's limit + 1
    buy_jitter_ms: int = 0  # buyers start within this long after the pin goes live
    replay_every: int = 0  # every k-th buyer re-sends an acked buy's id (idempotency); 0 = none
    pin: PinPlan | None = None
    pin_id: str | None = None  # an existing pin to buy (--pin): the bots create nothing
    product_id: str | None = None  # buy this bag product instead of a pin (--product)
    product: ProductPlan | None = None  # the product the bots put in the bag (None: it exists)
    pay: PayPlan | None = None  # --pay: orders wait for payment; a shop settles them
    sharers: int = 0  # viewers [0, sharers) make share links; 0 = no share links
    share_ratio: float = 0.0  # the fraction of the other viewers that connect through one of them
    followers: int = 0  # viewers [0, followers) follow the room's host before connecting
    drops: tuple[DropPlan, ...] = ()  # drops the bots create, in order, one at a time
    grab_share: float = 0.0  # the share of the viewers that grab each drop (1: everyone)
    auction: AuctionPlan | None = None  # the auction scenario's auction; every viewer bids
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def is_poster(self, index: int) -> bool:
        return index < self.posters

    def is_buyer(self, index: int) -> bool:
        return index >= self.viewers - self.buyers

    def is_sharer(self, index: int) -> bool:
        return index < self.sharers

    def is_attributed(self, index: int) -> bool:
        """Whether viewer ``index`` connects through a share link: about ``share_ratio`` of the
        non-sharers. The golden-ratio sequence spreads them over every stretch of indexes and
        every residue, so over the workers (``index mod procs``) and the buyers alike."""
        if self.sharers == 0 or index < self.sharers:
            return False
        return ((index - self.sharers) * GOLDEN) % 1.0 < self.share_ratio

    def is_grabber(self, index: int) -> bool:
        """Whether viewer ``index`` grabs the drops: everyone in the drops scenario, else about
        ``grab_share`` of the viewers, spread over the indexes (and so the workers) as above."""
        if self.grab_share >= 1.0:
            return True
        return (index * GOLDEN) % 1.0 < self.grab_share

    def grab_replays(self, index: int) -> bool:
        """Re-sends its acked grab's id (the same answer is owed), then grabs again with a new id
        (``limit_reached`` is owed)."""
        block = index // GRAB_REPLAY_EVERY
        return index % GRAB_REPLAY_EVERY == block % GRAB_REPLAY_EVERY

    def grab_reconnects(self, index: int) -> bool:
        """Drops its socket right after sending the grab, reconnects with ``?since=`` and re-sends."""
        place = GRAB_RECONNECT_AT * (1 + index // GRAB_RECONNECT_EVERY)
        return index % GRAB_RECONNECT_EVERY == place % GRAB_RECONNECT_EVERY

    def bid_replays(self, index: int) -> bool:
        """Re-sends its first acked bid's id once: the identical ack is owed."""
        block = index // BID_REPLAY_EVERY
        return index % BID_REPLAY_EVERY == block % BID_REPLAY_EVERY

    @property
    def drop_task(self) -> str:
        return self.drops[0].task if self.drops else "none"

    def sharer_of(self, index: int) -> int:
        """The sharer (a viewer index) whose link an attributed viewer uses."""
        return index % self.sharers

    def worker_indexes(self, wid: int) -> range:
        return range(wid, self.viewers, self.procs)

    def worker_rate(self, wid: int) -> float:
        """The share of the chat rate that worker ``wid``'s posters carry."""
        if self.posters == 0:
            return 0.0
        mine = len(range(wid, self.posters, self.procs))
        return self.rate * mine / self.posters

    def worker_likes(self, wid: int) -> float:
        mine = len(self.worker_indexes(wid))
        return self.likes_per_s * mine / self.viewers if self.viewers else 0.0

    def connect_at_s(self, index: int) -> float:
        """When viewer ``index`` starts connecting, in seconds from the start."""
        if self.viewers <= 1 or self.ramp_s <= 0:
            return 0.0
        return self.ramp_s * index / self.viewers


def default_procs(viewers: int, rate: float, cpus: int) -> int:
    """Enough worker processes that the bots are not the bottleneck, at most one per core.

    A viewer receives about ``rate`` events a second (every post reaches everyone),
    in at most ``EVENTS_PER_FRAME_GUESS_S`` frames a second once the server batches.
    """
    frames_per_s = viewers * min(max(rate, 1.0), EVENTS_PER_FRAME_GUESS_S)
    need = max(math.ceil(frames_per_s / FRAMES_PER_PROC_S), math.ceil(viewers / VIEWERS_PER_PROC), 1)
    return max(1, min(need, cpus, viewers))


def posters_for(rate: float, viewers: int) -> tuple[int, str | None]:
    """How many viewers must post to reach ``rate`` within the per-user limit."""
    if rate <= 0:
        return 0, None
    need = math.ceil(rate / POSTS_PER_USER_PER_S)
    if need <= viewers:
        return need, None
    return viewers, (
        f"{rate:g} posts/s needs {need} posting viewers under the default chat limit "
        f"(5 per 10 s per user); only {viewers} viewers: expect rate_limited errors"
    )


def make_plan(
    scenario: str,
    *,
    viewers: int | None = None,
    rate: float | None = None,
    duration_s: float | None = None,
    ramp_s: float | None = None,
    procs: int | None = None,
    cpus: int = 1,
    pin_id: str | None = None,
    stock: int | None = None,
    limit_per_user: int | None = None,
    product_id: str | None = None,
    pay: bool = False,
    pay_within_s: int = 10,
    confirm_ratio: float = 0.8,
    share_ratio: float = 0.0,
    followers: int = 0,
    drop: DropOptions | None = None,
    auction: AuctionOptions | None = None,
) -> Plan:
    """The plan of a scenario; options left as None take the scenario's defaults."""
    if scenario not in DEFAULTS:
        raise ValueError(f"unknown scenario {scenario!r}; one of {', '.join(SCENARIOS)}")
    d = DEFAULTS[scenario]
    n = d.viewers if viewers is None else viewers
    if n < 1:
        raise ValueError("--viewers must be at least 1")
    r = d.rate if rate is None else rate
    duration = d.duration_s if duration_s is None else duration_s
    ramp = d.ramp_s if ramp_s is None else ramp_s
    if r < 0 or duration < 0 or ramp < 0:
        raise ValueError("--rate, --duration and --ramp cannot be negative")
    drop = drop or DropOptions()
    if scenario == "drops" and duration_s is None:
        duration = DROP_READY_WAIT_S + drop.window_s + DROP_END_GRACE_S
    bidding = _auction_plan(auction or AuctionOptions())
    if scenario == "auction" and duration_s is None:
        duration = DROP_READY_WAIT_S + bidding.duration_s + bidding.overrun_s + AUCTION_END_GRACE_S
    if scenario != "crowd" and duration <= 0:
        raise ValueError("--duration must be positive")
    if (product_id is not None or pay) and scenario != "stampede":
        raise ValueError("--product and --pay belong to the stampede scenario")
    if product_id is not None and pin_id is not None:
        raise ValueError("--product and --pin: buy either a pin or a bag product, not both")
    if not 0.0 <= confirm_ratio <= 1.0:
        raise ValueError("--confirm-ratio must be between 0 and 1")
    if pay and not 1 <= pay_within_s <= 86400:
        raise ValueError("--pay-within must be 1-86400 seconds")
    if not 0.0 <= share_ratio <= 1.0:
        raise ValueError("--share-ratio must be between 0 and 1")
    if share_ratio > 0 and scenario not in SHARE_SCENARIOS:
        raise ValueError(f"--share-ratio belongs to the scenarios that buy: {', '.join(SHARE_SCENARIOS)}")
    if share_ratio > 0 and n < 2:
        raise ValueError("--share-ratio needs at least 2 viewers: a sharer and someone to share with")
    if followers < 0:
        raise ValueError("--follow cannot be negative")
    _check_drop_options(scenario, drop)
    nprocs = procs if procs else default_procs(n, r, cpus)
    nprocs = max(1, min(nprocs, n))
    warnings: list[str] = []
    sharers = min(SHARERS_MAX, max(1, n // SHARER_EVERY), n - 1) if share_ratio > 0 else 0
    plan = Plan(
        scenario,
        n,
        r,
        duration,
        ramp,
        nprocs,
        pin_id=pin_id,
        sharers=sharers,
        share_ratio=share_ratio if sharers else 0.0,
        followers=min(followers, n),
    )

    if scenario == "chat":
        posters, warning = posters_for(r, n)
        warnings += [warning] if warning else []
        plan = replace(plan, posters=posters)
    elif scenario == "join":
        plan = replace(plan, rate=0.0)
    elif scenario == "stampede":
        units = (limit_per_user or 2) + 1
        pin = None
        lim = limit_per_user if limit_per_user is not None else 2
        if product_id is not None:
            product = ProductPlan(product_id, stock if stock is not None else n, lim)
            plan = replace(plan, product_id=product_id, product=product)
            units = lim + 1
        elif pin_id is None:
            pin = PinPlan(
                at_s=0.0,
                stock=stock if stock is not None else n,  # 3 tries each: sells out, some hit the limit
                limit_per_user=lim,
                starts_in_s=2,
                # With --pay the sale outlives every order's pay_by: released units go back to it.
                duration_s=max(5, math.ceil(duration) + 5 + (pay_within_s + 30 if pay else 0)),
                tiers=((0, 2500),),
            )
            units = lim + 1 if lim else 3
        paying = PayPlan(pay_within_s, confirm_ratio) if pay else None
        plan = replace(
            plan, rate=0.0, buyers=n, buy_units=units, replay_every=10 if n >= 10 else 0, pin=pin, pay=paying
        )
    elif scenario == "mixed":
        # A fifth of the audience chats, or more when the rate needs more posters; every
        # chatter posts (distinct posters are what lower the price).
        posters, warning = posters_for(r, n)
        posters = max(posters, n // 5, 1) if r > 0 else 0
        warnings += [warning] if warning else []
        buyers = max(1, (3 * n) // 10)
        pin = None
        if pin_id is None:
            t1, t2 = max(1, math.ceil(posters * 0.25)), max(2, math.ceil(posters * 0.5))
            pin = PinPlan(
                at_s=round(duration * 0.2, 1),
                stock=stock if stock is not None else max(1, buyers // 2),
                limit_per_user=limit_per_user if limit_per_user is not None else 2,
                starts_in_s=max(1, round(duration * 0.2)),
                duration_s=max(3, round(duration * 0.5)),
                tiers=((0, 2500), (t1, 2000), (t2, 1500)) if t2 > t1 else ((0, 2500), (t1, 2000)),
            )
        plan = replace(
            plan,
            posters=posters,
            buyers=buyers,
            likes_per_s=max(1.0, n / 20),
            buy_units=1,
            buy_jitter_ms=1500,
            replay_every=20 if buyers >= 20 else 0,
            pin=pin,
        )
        if drop.mixed_drops:
            plan = replace(
                plan, drops=mixed_drops(drop.mixed_drops, n, duration), grab_share=MIXED_GRAB_SHARE
            )
    elif scenario == "crowd":
        plan = replace(plan, procs=1, posters=n, buyers=max(1, (2 * n) // 5), buy_units=1, buy_jitter_ms=6000)
    elif scenario == "drops":
        count = drop.count if drop.count is not None else max(1, n // 20)
        total = drop.total_cents if drop.total_cents is not None else 100 * count
        if not 1 <= count <= DROP_COUNT_MAX:
            raise ValueError(f"--drop-count must be 1-{DROP_COUNT_MAX}")
        if drop.kind == "envelope" and total < count:
            raise ValueError("--drop-total must be at least --drop-count: every envelope holds a cent")
        the_drop = DropPlan(
            at_s=0.0,
            kind=drop.kind,
            count=count,
            window_s=drop.window_s,
            task=drop.task,
            total_cents=total if drop.kind == "envelope" else 0,
            value_cents=drop.value_cents if drop.kind == "coupon" else 0,
        )
        # "follow": every bot follows the host first, as --follow does.
        plan = replace(
            plan, rate=0.0, drops=(the_drop,), grab_share=1.0, followers=n if drop.task == "follow" else 0
        )
    elif scenario == "auction":
        plan = replace(plan, rate=0.0, auction=bidding)
    return replace(plan, warnings=tuple(warnings))


def _auction_plan(options: AuctionOptions) -> AuctionPlan:
    low, high = AUCTION_DURATION_S
    if not low <= options.duration_s <= high:
        raise ValueError(f"--auction-duration must be {low}-{high} seconds")
    low, high = AUCTION_EXTEND_S
    if not low <= options.extend_s <= high:
        raise ValueError(f"--extend must be {low}-{high} seconds (0 = sudden death)")
    if options.start_cents < 0:
        raise ValueError("--start-cents cannot be negative")
    if options.increment_cents < 1:
        raise ValueError("--increment must be at least 1 cent")
    if not 0 < options.snipe_window_s <= options.duration_s:
        raise ValueError("--snipe-window must be more than 0 and at most --auction-duration")
    return AuctionPlan(
        duration_s=options.duration_s,
        extend_s=options.extend_s,
        start_cents=options.start_cents,
        increment_cents=options.increment_cents,
        snipe_window_s=options.snipe_window_s,
    )


def _check_drop_options(scenario: str, drop: DropOptions) -> None:
    if drop.kind not in ("envelope", "coupon"):
        raise ValueError("--drop-kind must be envelope or coupon")
    if drop.task not in DROP_TASKS:
        raise ValueError(f"--drop-task must be one of {', '.join(DROP_TASKS)}")
    low, high = DROP_WINDOW_S
    if not low <= drop.window_s <= high:
        raise ValueError(f"--drop-window must be {low}-{high} seconds")
    if not 1 <= drop.value_cents <= 1_000_000:
        raise ValueError("--drop-value must be 1-1000000 cents")
    if drop.mixed_drops < 0:
        raise ValueError("--drops cannot be negative")
    if drop.mixed_drops and scenario != "mixed":
        raise ValueError("--drops K belongs to the mixed scenario (the drops scenario makes one drop)")


def mixed_drops(k: int, viewers: int, duration_s: float) -> tuple[DropPlan, ...]:
    """``mixed --drops K``: K drops spread over the show, envelope and coupon in turn.

    Each is for half of its grabbers (so some find it gone) and its window fits in the gap to the
    next one where the contract allows (5 s at least; the next waits for it to end anyway).
    """
    grabbers = max(1, sum(1 for i in range(viewers) if (i * GOLDEN) % 1.0 < MIXED_GRAB_SHARE))
    count = max(1, grabbers // 2)
    gap = duration_s / (k + 1)
    window = int(max(DROP_WINDOW_S[0], min(10, gap)))
    return tuple(
        DropPlan(
            at_s=round(gap * (j + 1), 1),
            kind="envelope" if j % 2 == 0 else "coupon",
            count=count,
            window_s=window,
            total_cents=100 * count if j % 2 == 0 else 0,
            value_cents=500 if j % 2 else 0,
            min_spend_cents=2000 if j % 2 else 0,
        )
        for j in range(k)
    )
