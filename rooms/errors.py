"""One error tree. Every error carries its contract code and HTTP status.

The gateway turns an error into an ``error`` event and the HTTP API into
``{"error": code, "message": text}``; both read ``code`` and ``status`` from here.
"""

from __future__ import annotations


class RoomError(Exception):
    """Base of every error a client can be told about."""

    code = "bad_request"
    status = 400

    def __init__(self, message: str, *, retry_after_ms: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_ms = retry_after_ms

    @property
    def fields(self) -> dict[str, int | str]:
        """Fields the error carries beyond code and message (``too_low``: ``min_cents``)."""
        return {}


class BadRequest(RoomError):
    code, status = "bad_request", 400


class TooLong(RoomError):
    code, status = "too_long", 400


class TooLarge(RoomError):
    code, status = "too_large", 413


class Unauthorized(RoomError):
    code, status = "unauthorized", 401


class Forbidden(RoomError):
    code, status = "forbidden", 403


class NotFound(RoomError):
    code, status = "not_found", 404


class Conflict(RoomError):
    code, status = "conflict", 409


class WatchHls(Conflict):
    """v1.1 (§13): no WebRTC for this viewer here (this process is full, or the room's video is on
    another process); ``hls`` is the playlist to play instead."""

    def __init__(self, message: str, *, hls: str) -> None:
        super().__init__(message)
        self.hls = hls

    @property
    def fields(self) -> dict[str, int | str]:
        return {"hls": self.hls}


class RateLimited(RoomError):
    code, status = "rate_limited", 429


class Muted(RoomError):
    code, status = "muted", 403


class Banned(RoomError):
    code, status = "banned", 403


class Duplicate(RoomError):
    code, status = "duplicate", 409


class NoSuchPin(RoomError):
    code, status = "no_such_pin", 404


class NotStarted(RoomError):
    code, status = "not_started", 409


class Ended(RoomError):
    code, status = "ended", 409


class SoldOut(RoomError):
    code, status = "sold_out", 409


class LimitReached(RoomError):
    code, status = "limit_reached", 409


class NotLive(RoomError):
    """v1.1: the bag sells only while the room is live."""

    code, status = "not_live", 409


class NoSuchProduct(RoomError):
    code, status = "no_such_product", 404


class NoSuchDrop(RoomError):
    code, status = "no_such_drop", 404


class Gone(RoomError):
    """v1.1: every unit of the drop was taken."""

    code, status = "gone", 409


class TaskRequired(RoomError):
    """v1.1: the drop asks the grabber to follow the host or to have posted; the message says which."""

    code, status = "task_required", 403


class CouponInvalid(RoomError):
    code, status = "coupon_invalid", 409


class NoSuchAuction(RoomError):
    code, status = "no_such_auction", 404


class TooLow(RoomError):
    """v1.1: a bid under the auction's minimum; ``min_cents`` says the minimum."""

    code, status = "too_low", 409

    def __init__(self, message: str, *, retry_after_ms: int | None = None, min_cents: int = 0) -> None:
        super().__init__(message, retry_after_ms=retry_after_ms)
        self.min_cents = min_cents

    @property
    def fields(self) -> dict[str, int | str]:
        return {"min_cents": self.min_cents}


class MethodNotAllowed(RoomError):
    """A known path asked with a method it does not take (the contract is silent; docs/protocol.md)."""

    code, status = "method_not_allowed", 405


class Unavailable(RoomError):
    """The shared store (Redis) does not answer; the request changed nothing we know of."""

    code, status = "unavailable", 503


ERRORS_BY_CODE: dict[str, type[RoomError]] = {
    cls.code: cls
    for cls in (
        BadRequest,
        TooLong,
        TooLarge,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        RateLimited,
        Muted,
        Banned,
        Duplicate,
        NoSuchPin,
        NotStarted,
        Ended,
        SoldOut,
        LimitReached,
        NotLive,
        NoSuchProduct,
        NoSuchDrop,
        Gone,
        TaskRequired,
        CouponInvalid,
        NoSuchAuction,
        TooLow,
        MethodNotAllowed,
        Unavailable,
    )
}


def error_from_code(code: str, message: str, retry_after_ms: int | None = None) -> RoomError:
    """Rebuild an error from a code (Lua scripts answer with codes)."""
    cls = ERRORS_BY_CODE.get(code, BadRequest)
    return cls(message, retry_after_ms=retry_after_ms)
