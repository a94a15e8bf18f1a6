"""``--share-ratio``: a few sharer bots make share links, other bots connect through them, and the
room's leaderboard must agree with the orders the bots were acked (contract §9).

The parent makes the links before the workers start (``make_links``), with the sharers' own
tokens, which it hands to the workers so that the sharers are the same users there. After the
run ``expected_board`` adds up, from the acks, what each sharer's row of ``GET
/api/rooms/{room}/shares`` must say, and ``compare`` finds every difference: the orders, buyers,
GMV and commission (``floor(total_cents * commission_bp / 10000)`` per standing order) must be
exactly the server's, and every acked order must carry the sharer its buyer came through.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from bots.plan import Plan
from bots.tokens import mint, unverified_claims

TIMEOUT_S = 10.0
COMPARED = ("orders", "buyers", "gmv_cents", "commission_cents")


class ShareSetupError(Exception):
    """A sharer could not get a token or a share link."""


@dataclass(frozen=True, slots=True)
class ShareLink:
    index: int  # the sharer's viewer index
    user: str  # the sharer's user id
    token: str
    code: str


def sharer_tokens(
    plan: Plan,
    names: Iterable[tuple[int, str]],
    *,
    base: str,
    room: str,
    tag: str,
    secret: str | None,
    dev: bool,
) -> list[tuple[int, str]]:
    """A viewer token for each sharer: minted like the workers mint theirs, else a dev token."""
    out = []
    with httpx.Client(base_url=base, timeout=TIMEOUT_S) as http:
        for index, name in names:
            if secret:
                token = mint(secret, sub=f"bot-{tag}-{index}", name=name, role="viewer", room=room)
            elif dev:
                try:
                    r = http.post("/api/dev/token", json={"name": name, "role": "viewer", "room": room})
                    token = r.json()["token"]
                except (httpx.HTTPError, ValueError, KeyError) as err:
                    raise ShareSetupError(f"a dev token for sharer {index}: {err}") from None
            else:
                raise ShareSetupError(
                    "--share-ratio needs tokens: give --secret (or run the server in --dev)"
                )
            out.append((index, token))
    return out


def make_links(base: str, room: str, tokens: list[tuple[int, str]]) -> list[ShareLink]:
    """``POST /api/rooms/{room}/shares`` as each sharer; the links in sharer order."""
    links = []
    with httpx.Client(base_url=base, timeout=TIMEOUT_S) as http:
        for index, token in tokens:
            try:
                r = http.post(f"/api/rooms/{room}/shares", headers={"Authorization": f"Bearer {token}"})
                code = r.json()["code"] if r.status_code == 200 else None
            except (httpx.HTTPError, ValueError, KeyError) as err:
                raise ShareSetupError(f"sharer {index}'s link: {type(err).__name__}: {err}") from None
            if not isinstance(code, str):
                raise ShareSetupError(f"sharer {index}'s link: HTTP {r.status_code} {r.text[:200]}")
            user = str(unverified_claims(token).get("sub"))
            links.append(ShareLink(index, user, token, code))
    return links


@dataclass
class SharerFigures:
    orders: int = 0
    buyers: set[str] = field(default_factory=set)
    gmv_cents: int = 0
    commission_cents: int = 0

    def as_row(self) -> dict[str, int]:
        return {
            "orders": self.orders,
            "buyers": len(self.buyers),
            "gmv_cents": self.gmv_cents,
            "commission_cents": self.commission_cents,
        }


@dataclass
class Expected:
    by_sharer: dict[str, SharerFigures]
    wrong_attribution: int = 0  # acked orders whose share.by is not the sharer the buyer came through
    wrong_commission: int = 0  # acked orders whose share.commission_cents is not floor(total * bp / 10000)


def commission(total_cents: int, commission_bp: int) -> int:
    return total_cents * commission_bp // 10000


def expected_board(
    orders: Iterable[tuple[str, str, Mapping[str, Any]]],
    attributed: Mapping[str, str],
    sharers: Iterable[str],
    commission_bp: int,
    released: Collection[str] = (),
) -> Expected:
    """What each sharer's row must say, from the acked orders (each order once, by id).

    ``attributed``: buyer -> the sharer whose link the buyer connected with. ``released``: orders
    that no longer stand (cancelled or expired, ``--pay``): they earn nothing and count nowhere.
    """
    expected = Expected({s: SharerFigures() for s in sharers})
    seen: dict[str, tuple[str, Mapping[str, Any]]] = {}
    for user, _rid, order in orders:
        seen.setdefault(str(order.get("id")), (user, order))
    for order_id, (user, order) in seen.items():
        sharer = attributed.get(user)
        share = order.get("share")
        by = share.get("by") if isinstance(share, dict) else None
        if by != sharer:
            expected.wrong_attribution += 1
        if sharer is None:
            continue
        total = int(order.get("total_cents") or 0)
        owed = commission(total, commission_bp)
        if isinstance(share, dict) and share.get("commission_cents") != owed:
            expected.wrong_commission += 1
        if order_id in released:
            continue
        figures = expected.by_sharer.setdefault(sharer, SharerFigures())
        figures.orders += 1
        figures.buyers.add(user)
        figures.gmv_cents += total
        figures.commission_cents += owed
    return expected


def compare(
    expected: Expected, board: Sequence[Mapping[str, Any]], names: Mapping[str, str]
) -> dict[str, Any]:
    """The ``shares`` section of the report: per sharer, the server's row beside the bots' sums."""
    rows = {str(r.get("user", {}).get("id")): r for r in board if isinstance(r.get("user"), dict)}
    sharers = []
    mismatches = 0
    for user, figures in expected.by_sharer.items():
        mine = figures.as_row()
        server = rows.get(user)
        theirs = {k: int(server.get(k, 0)) for k in COMPARED} if server else None
        ok = theirs == mine
        mismatches += 0 if ok else 1
        sharers.append(
            {
                "user": user,
                "name": names.get(user, user),
                "visits": int(server.get("visits", 0)) if server else None,
                "server": theirs,
                "acked": mine,
                "ok": ok,
            }
        )
    return {
        "sharers": sharers,
        "mismatches": mismatches + expected.wrong_attribution + expected.wrong_commission,
        "wrong_attribution": expected.wrong_attribution,
        "wrong_commission": expected.wrong_commission,
    }
