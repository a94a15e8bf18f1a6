"""The parent's side of the auction scenario (contract §11): put the auction up as host once every
bidder is connected, follow it until it has ended and every bot is done with it, then read it back
and judge it (``bots.auction_checks``).

``AuctionDriver.tick`` runs in the parent's load loop. The auction goes up when every viewer is
connected (bounded by ``DROP_READY_WAIT_S``, as a drop waits). It is *settled* once the server says
it ended and every worker reports each of its viewers got its ``auction_end`` and an answer to every
bid, and has no bid left to send (bounded by the auction's duration, how far bids can move its end,
and ``AUCTION_END_GRACE_S``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bots.auction_checks import AuctionView, BidRecord, Violation, judge_auction, summarize
from bots.drops import settled_everywhere
from bots.host import Host, HostError
from bots.plan import AUCTION_END_GRACE_S, DROP_READY_WAIT_S, Plan
from bots.stats import Stats

POLL_S = 0.5  # how often the parent asks the server whether the auction has ended


class AuctionDriver:
    """Puts the plan's auction up and tells the load loop when it is settled."""

    def __init__(
        self,
        plan: Plan,
        host: Callable[[], Host],
        note: Callable[..., None],
        problems: list[str],
        fatal: list[str],
    ) -> None:
        assert plan.auction is not None
        self.plan = plan
        self.auction = plan.auction
        self.host = host
        self.note = note
        self.problems = problems
        self.fatal = fatal
        self.created: dict[str, Any] | None = None
        self.created_at = 0.0
        self.ended_at: float | None = None
        self.done = False
        self._next_poll = 0.0

    def tick(
        self, now: float, load_start: float, ready: int, progress: Mapping[int, Mapping[str, Any]]
    ) -> None:
        """``ready``: viewers connected; ``progress``: each worker's latest ``auctions`` progress
        (``open``: per auction, its viewers still owed something)."""
        if self.done:
            return
        if self.created is None:
            if now < load_start:
                return
            if ready < self.plan.viewers:
                if now < load_start + DROP_READY_WAIT_S:
                    return
                self.problems.append(
                    f"only {ready} of {self.plan.viewers} viewers were connected after "
                    f"{DROP_READY_WAIT_S:g} s; the auction went up anyway"
                )
            self._create(now)
            return
        self._follow(now, progress)

    def _create(self, now: float) -> None:
        try:
            with self.host() as host:
                self.created = host.create_auction(self.auction.body())
        except HostError as err:
            self.fatal.append(f"putting the auction up: {err}")
            self.note("auction failed", error=str(err)[:200])
            self.done = True
            return
        self.created_at = now
        self._next_poll = now + POLL_S
        self.note(
            "auction",
            auction=self.created["id"],
            ends_at_ms=self.created.get("ends_at_ms"),
            extend_s=self.auction.extend_s,
        )

    def _follow(self, now: float, progress: Mapping[int, Mapping[str, Any]]) -> None:
        assert self.created is not None
        auction_id = str(self.created["id"])
        if self.ended_at is None and now >= self._next_poll:
            self._next_poll = now + POLL_S
            try:
                with self.host() as host:
                    state = host.auction(auction_id).get("state")
            except HostError:
                state = None  # asked again at the next poll; the deadline bounds it
            if state == "ended":
                self.ended_at = now
                self.note("auction ended", auction=auction_id)
        if self.ended_at is not None and self._all_settled(auction_id, progress):
            self.note("auction settled", auction=auction_id)
            self.done = True
            return
        wait_s = self.auction.duration_s + self.auction.overrun_s + AUCTION_END_GRACE_S
        if now >= self.created_at + wait_s:
            self.problems.append(
                f"auction {auction_id}: "
                + ("not ended" if self.ended_at is None else "not every viewer got its end or answers")
                + f" {wait_s:g} s after it went up"
            )
            self.note("auction gave up", auction=auction_id)
            self.done = True

    def _all_settled(self, auction_id: str, progress: Mapping[int, Mapping[str, Any]]) -> bool:
        return settled_everywhere(progress, self.plan.procs, auction_id)


def check_auction(host: Host, created: Mapping[str, Any], stats: Stats) -> dict[str, Any]:
    """The report's ``auction`` section: the auction read back with its ladder, the room's orders,
    and the bots' bids and histories, judged."""
    auction_id = str(created["id"])
    trouble: list[Violation] = []
    final: dict[str, Any] | None
    try:
        final = host.auction(auction_id)
    except HostError as err:
        final = None
        trouble.append(Violation("unreadable", auction_id, str(err)[:200]))
    orders: list[dict[str, Any]] | None
    try:
        orders = host.orders()
    except HostError as err:
        orders = None
        trouble.append(Violation("unreadable", auction_id, str(err)[:200]))
    judgement = judge_auction(
        created,
        final,
        [BidRecord.from_dict(b) for b in stats.bids],
        [AuctionView.from_dict(v) for v in stats.auction_views],
        orders,
    )
    return summarize([judgement], trouble)
