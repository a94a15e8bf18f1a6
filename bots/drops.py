"""The parent's side of the drops (contract §10): create each planned drop as host, follow it until
it has ended and every bot is done with it, then read it back and judge it (``bots.drop_checks``).

``DropDriver.tick`` runs in the parent's load loop. A drop is created when it is due and the room
has no other drop running (one at a time per room); in the drops scenario it also waits until
every viewer is connected and done with the task (bounded by ``DROP_READY_WAIT_S``). It is
*settled* once the server says it ended and every worker reports each of its viewers got its
``drop_end`` and an answer to every grab (bounded by the window plus ``DROP_END_GRACE_S``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from bots.drop_checks import (
    DropView,
    GrabRecord,
    UserSample,
    Violation,
    judge_drop,
    judge_samples,
    summarize,
)
from bots.host import Host, HostError
from bots.plan import DROP_END_GRACE_S, DROP_READY_WAIT_S, DropPlan, Plan
from bots.stats import Stats

POLL_S = 0.5  # how often the parent asks the server whether the running drop has ended
TIMEOUT_S = 10.0


@dataclass
class Running:
    plan: DropPlan
    drop: dict[str, Any]
    created_at: float
    ended_at: float | None = None


def settled_everywhere(progress: Mapping[int, Mapping[str, Any]], procs: int, item: str) -> bool:
    """Every worker has reported, and none has a viewer still open on ``item`` (a drop, an auction):
    each saw its end and has every answer. A worker that has not seen the item yet is not done."""
    if len(progress) < procs:
        return False
    return all((report.get("open") or {}).get(item, 1) == 0 for report in progress.values())


class DropDriver:
    """Creates the plan's drops one after another and tells the load loop when all are settled."""

    def __init__(
        self,
        plan: Plan,
        host: Callable[[], Host],
        note: Callable[..., None],
        problems: list[str],
        fatal: list[str],
    ) -> None:
        self.plan = plan
        self.host = host
        self.note = note
        self.problems = problems
        self.fatal = fatal
        self.waiting = list(plan.drops)  # not created yet
        self.running: Running | None = None
        self.created: list[dict[str, Any]] = []
        self.wait_for_everyone = plan.scenario == "drops"
        self._next_poll = 0.0

    @property
    def done(self) -> bool:
        return not self.waiting and self.running is None

    def overrun_s(self) -> float:
        """How long past the load's end the run may wait for the drops still to come."""
        return sum(d.window_s + DROP_END_GRACE_S for d in self.waiting) + (
            self.running.plan.window_s + DROP_END_GRACE_S if self.running else 0.0
        )

    def tick(
        self, now: float, load_start: float, ready: int, progress: Mapping[int, Mapping[str, Any]]
    ) -> None:
        """``ready``: viewers connected and done with the task; ``progress``: each worker's latest
        ``drops`` progress (``open``: per drop, its viewers still owed something)."""
        if self.running is not None:
            self._follow(now, progress)
        if self.running is not None or not self.waiting:
            return
        nxt = self.waiting[0]
        due = load_start + nxt.at_s
        if now < due:
            return
        if self.wait_for_everyone and ready < self.plan.viewers:
            if now < due + DROP_READY_WAIT_S:
                return
            self.problems.append(
                f"only {ready} of {self.plan.viewers} viewers were ready after {DROP_READY_WAIT_S:g} s; "
                "the drop went up anyway"
            )
        self.waiting.pop(0)
        self._create(nxt, now)

    def _create(self, plan: DropPlan, now: float) -> None:
        try:
            with self.host() as host:
                drop = host.create_drop(plan.body())
        except HostError as err:
            self.fatal.append(f"creating the drop: {err}")
            self.note("drop failed", error=str(err)[:200])
            self.waiting.clear()
            return
        self.created.append(drop)
        self.running = Running(plan, drop, now)
        self._next_poll = now + POLL_S
        self.note("drop", drop=drop["id"], kind=plan.kind, count=plan.count, task=plan.task)

    def _follow(self, now: float, progress: Mapping[int, Mapping[str, Any]]) -> None:
        running = self.running
        assert running is not None
        drop_id = str(running.drop["id"])
        if running.ended_at is None and now >= self._next_poll:
            self._next_poll = now + POLL_S
            try:
                with self.host() as host:
                    state = host.drop(drop_id, state_only=True).get("state")
            except HostError:
                state = None  # asked again at the next poll; the deadline bounds it
            if state == "ended":
                running.ended_at = now
                self.note("drop ended", drop=drop_id)
        if running.ended_at is not None and self._all_settled(drop_id, progress):
            self.note("drop settled", drop=drop_id)
            self.running = None
            return
        deadline = running.created_at + running.plan.window_s + DROP_END_GRACE_S
        if now >= deadline:
            self.problems.append(
                f"drop {drop_id}: "
                + ("not ended" if running.ended_at is None else "not every viewer got its end or answers")
                + f" {deadline - running.created_at:g} s after it went up"
            )
            self.note("drop gave up", drop=drop_id)
            self.running = None

    def _all_settled(self, drop_id: str, progress: Mapping[int, Mapping[str, Any]]) -> bool:
        return settled_everywhere(progress, self.plan.procs, drop_id)


def read_samples(base: str, tokens: Mapping[str, str]) -> tuple[list[UserSample], list[Violation]]:
    """``GET /api/me/wallet`` and ``GET /api/me/coupons`` as each sampled grabber."""
    samples, trouble = [], []
    with httpx.Client(base_url=base, timeout=TIMEOUT_S) as http:
        for user, token in sorted(tokens.items()):
            headers = {"Authorization": f"Bearer {token}"}
            try:
                wallet = http.get("/api/me/wallet", headers=headers)
                coupons = http.get("/api/me/coupons", headers=headers)
                cents = wallet.json()["cents"]
                rows = coupons.json()["coupons"]
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as err:
                trouble.append(Violation("unreadable", None, f"wallet or coupons: {err}"[:200], user))
                continue
            by_drop: dict[str, set[str]] = {}
            for row in rows:
                if isinstance(row, dict):
                    by_drop.setdefault(str(row.get("drop")), set()).add(str(row.get("id")))
            samples.append(UserSample(user, int(cents), {d: frozenset(ids) for d, ids in by_drop.items()}))
    return samples, trouble


def check_drops(host: Host, base: str, created: list[dict[str, Any]], stats: Stats) -> dict[str, Any]:
    """The report's ``drops`` section: each created drop read back and judged, and the samples."""
    grabs = [GrabRecord.from_dict(g) for g in stats.grabs]
    views = [DropView.from_dict(v) for v in stats.drop_views]
    judgements, trouble = [], []
    for made in created:
        drop_id = str(made["id"])
        try:
            judgements.append(judge_drop(host.drop(drop_id), grabs, views))
        except HostError as err:
            trouble.append(Violation("unreadable", drop_id, str(err)[:200]))
    kinds = {str(d["id"]): str(d.get("kind")) for d in created}
    samples, unreadable = read_samples(base, stats.sample_tokens)
    trouble += unreadable + judge_samples(samples, grabs, kinds)
    section = summarize(judgements, trouble)
    section["sampled_users"] = len(samples)
    return section
