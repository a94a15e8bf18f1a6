"""The bots acting as the room's host over HTTP: create and start the room, pin, read orders and stats."""

from __future__ import annotations

from typing import Any

import httpx

TIMEOUT_S = 10.0


class HostError(Exception):
    """An HTTP call the run depends on failed; the message says which and why."""


class Host:
    """HTTP calls with a host token (``Authorization: Bearer``)."""

    def __init__(self, base: str, room: str, token: str | None) -> None:
        self.base = base.rstrip("/")
        self.room = room
        self.token = token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.base, headers=headers, timeout=TIMEOUT_S)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(
        self,
        method: str,
        path: str,
        json: Any = None,
        ok: tuple[int, ...] = (200, 201),
        status_only: bool = False,
    ) -> Any:
        try:
            r = self.http.request(method, path, json=json)
        except httpx.HTTPError as err:
            raise HostError(f"{method} {self.base}{path}: {type(err).__name__}: {err}") from None
        if r.status_code not in ok:
            raise HostError(f"{method} {path}: HTTP {r.status_code} {r.text[:200]}")
        if status_only:
            return r.status_code
        if not r.content:
            return None
        try:
            return r.json()
        except ValueError:
            return r.text

    def setup_room(self, title: str) -> None:
        """Create (or retitle) the room and make it live."""
        self._call("PUT", f"/api/rooms/{self.room}", {"title": title})
        self._call("POST", f"/api/rooms/{self.room}/start")

    def room_exists(self) -> bool:
        """Whether the room exists (any status); raises HostError when the server cannot say."""
        return self._call("GET", f"/api/rooms/{self.room}", ok=(200, 404), status_only=True) == 200

    def ensure_room(self, title: str, *, fresh: bool) -> str | None:
        """Make the room exist and be live, without touching a room someone else runs.

        A room the bots named themselves (``fresh``) is created and started. A room
        named by the user is created only if it does not exist; when the server
        cannot say, the run goes on (the WebSocket will tell) and the reason is returned.
        """
        if not fresh:
            try:
                if self.room_exists():
                    return None
            except HostError as err:
                return f"could not check room {self.room!r} over HTTP; assuming it is live ({err})"
        self.setup_room(title)
        return None

    def set_pay_within(self, title: str, pay_within_s: int) -> None:
        """Make the room hold orders for payment (contract §7, ``PUT /api/rooms/{room}``)."""
        self._call("PUT", f"/api/rooms/{self.room}", {"title": title, "pay_within_s": pay_within_s})

    def set_commission(self, commission_bp: int) -> None:
        """The room's commission rate for share links (contract §9), leaving its title as it is."""
        self._call("PUT", f"/api/rooms/{self.room}", {"commission_bp": commission_bp})

    def commission_bp(self) -> int:
        """The room's commission rate now (0 for a server that has none)."""
        answer = self._call("GET", f"/api/rooms/{self.room}")
        room = answer.get("room") if isinstance(answer, dict) else None
        bp = room.get("commission_bp") if isinstance(room, dict) else None
        return bp if isinstance(bp, int) else 0

    def shares(self) -> list[dict[str, Any]]:
        """The room's share leaderboard (``GET /api/rooms/{room}/shares``, as host)."""
        answer = self._call("GET", f"/api/rooms/{self.room}/shares")
        rows = answer.get("shares") if isinstance(answer, dict) else None
        if not isinstance(rows, list):
            raise HostError(f"GET /api/rooms/{self.room}/shares: no list of shares")
        return [r for r in rows if isinstance(r, dict)]

    def put_product(self, product_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Add or change a bag product (contract §6); returns the product the server has."""
        answer = self._call("PUT", f"/api/rooms/{self.room}/products/{product_id}", body)
        if not isinstance(answer, dict) or not isinstance(answer.get("stock_total"), int):
            raise HostError(f"PUT .../products/{product_id} answered without a product: {answer!r:.200}")
        return answer

    def create_pin(self, body: dict[str, Any]) -> dict[str, Any]:
        """Pin a product; returns the pin the server made (with its id)."""
        answer = self._call("POST", f"/api/rooms/{self.room}/pins", body)
        pin = answer.get("pin", answer) if isinstance(answer, dict) else None
        if not isinstance(pin, dict) or not isinstance(pin.get("id"), str):
            raise HostError(f"POST /api/rooms/{self.room}/pins answered without a pin id: {answer!r:.200}")
        return pin

    def create_drop(self, body: dict[str, Any]) -> dict[str, Any]:
        """Start a drop (contract §10); returns the drop the server made (with its id)."""
        answer = self._call("POST", f"/api/rooms/{self.room}/drops", body)
        drop = answer.get("drop", answer) if isinstance(answer, dict) else None
        if not isinstance(drop, dict) or not isinstance(drop.get("id"), str):
            raise HostError(f"POST /api/rooms/{self.room}/drops answered without a drop id: {answer!r:.200}")
        return drop

    def drop(self, drop_id: str, *, state_only: bool = False) -> dict[str, Any]:
        """A drop with its whole list of grabs (``GET /api/rooms/{room}/drops/{drop}``, as host),
        read page by page (``?after=``, the server's ``next``); ``state_only``: the first page."""
        drop: dict[str, Any] | None = None
        grabs: list[Any] = []
        after: Any = 0
        while after is not None:
            answer = self._call("GET", f"/api/rooms/{self.room}/drops/{drop_id}?after={after}")
            page = answer.get("drop", answer) if isinstance(answer, dict) else None
            if not isinstance(page, dict) or not isinstance(page.get("grabs"), list):
                raise HostError(f"GET .../drops/{drop_id}: no drop with a list of grabs: {answer!r:.200}")
            drop = drop or page
            grabs += page["grabs"]
            after = None if state_only else page.get("next")
            if after is not None and not isinstance(after, int):
                raise HostError(f"GET .../drops/{drop_id}: next is {after!r}, not a number")
        assert drop is not None
        return {**drop, "grabs": grabs}

    def create_auction(self, body: dict[str, Any]) -> dict[str, Any]:
        """Put an auction up (contract §11); returns the auction the server made (with its id)."""
        answer = self._call("POST", f"/api/rooms/{self.room}/auctions", body)
        auction = answer.get("auction", answer) if isinstance(answer, dict) else None
        if not isinstance(auction, dict) or not isinstance(auction.get("id"), str):
            raise HostError(
                f"POST /api/rooms/{self.room}/auctions answered without an auction id: {answer!r:.200}"
            )
        if not isinstance(auction.get("ends_at_ms"), int):
            raise HostError(
                f"POST /api/rooms/{self.room}/auctions answered without ends_at_ms: {answer!r:.200}"
            )
        return auction

    def auction(self, auction_id: str) -> dict[str, Any]:
        """An auction with its ladder, highest first (``GET /api/rooms/{room}/auctions/{auction}``)."""
        answer = self._call("GET", f"/api/rooms/{self.room}/auctions/{auction_id}")
        auction = answer.get("auction", answer) if isinstance(answer, dict) else None
        if not isinstance(auction, dict) or not isinstance(auction.get("ladder"), list):
            raise HostError(f"GET .../auctions/{auction_id}: no auction with a ladder: {answer!r:.200}")
        return auction

    def orders(self) -> list[dict[str, Any]]:
        """Every order of the room, as the server has them."""
        answer = self._call("GET", f"/api/rooms/{self.room}/orders")
        if isinstance(answer, dict):
            answer = answer.get("orders", [])
        if not isinstance(answer, list):
            raise HostError(f"GET /api/rooms/{self.room}/orders: not a list of orders")
        return [o for o in answer if isinstance(o, dict)]

    def stats(self) -> dict[str, Any]:
        answer = self._call("GET", f"/api/rooms/{self.room}/stats")
        return answer if isinstance(answer, dict) else {}

    def dev_token(self, name: str, role: str, room: str | None) -> str | None:
        """A token from ``POST /api/dev/token`` (``live serve --dev``); None without dev mode."""
        body: dict[str, Any] = {"name": name, "role": role}
        if room:
            body["room"] = room
        try:
            answer = self._call("POST", "/api/dev/token", body)
        except HostError:
            return None
        token = answer.get("token") if isinstance(answer, dict) else None
        return token if isinstance(token, str) else None
