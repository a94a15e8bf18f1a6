"""Parsing of client frames into commands. Every bad input raises a contract error."""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

from rooms.errors import BadRequest, RoomError
from rooms.fields import int_field
from rooms.ids import ITEM_ID_RE

REQUEST_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
MAX_LIKES_PER_FRAME = 10
MAX_QTY = 100
MAX_BID_CENTS = 10**10


@dataclass(frozen=True, slots=True)
class ChatCommand:
    id: str
    text: str  # raw; rooms.chat.normalize_chat_text decides


@dataclass(frozen=True, slots=True)
class LikeCommand:
    n: int


@dataclass(frozen=True, slots=True)
class BuyCommand:
    """A buy of the pinned sale (``pin``) or of a bag product (``product``): exactly one is set."""

    id: str
    pin: str | None
    qty: int
    product: str | None = None
    coupon: str | None = None  # a coupon of mine to take off the order's total (contract §10)


@dataclass(frozen=True, slots=True)
class GrabCommand:
    id: str
    drop: str


@dataclass(frozen=True, slots=True)
class PingCommand:
    pass


@dataclass(frozen=True, slots=True)
class BidCommand:
    id: str
    auction: str
    cents: int


Command = ChatCommand | LikeCommand | BuyCommand | GrabCommand | BidCommand | PingCommand


class CommandError(RoomError):
    """A parse failure that still knows the request id it answers, when there was one."""

    def __init__(self, error: RoomError, request_id: str | None) -> None:
        super().__init__(error.message)
        self.code = error.code
        self.status = error.status
        self.request_id = request_id


def _request_id(obj: dict[str, object]) -> str:
    value = obj.get("id")
    if value is None:
        raise BadRequest("id is required")
    if not isinstance(value, str) or not REQUEST_ID_RE.fullmatch(value):
        raise BadRequest("id must be 1-64 of [A-Za-z0-9_.:-]")
    return value


def parse_command(frame: str | bytes) -> Command:
    """Parse one client frame; raise ``CommandError`` (carrying the request id, if any)."""
    try:
        obj = orjson.loads(frame)
    except orjson.JSONDecodeError:
        raise CommandError(BadRequest("frame is not JSON"), None) from None
    if not isinstance(obj, dict):
        raise CommandError(BadRequest("frame must be a JSON object"), None)
    raw_id = obj.get("id")
    echo_id = raw_id if isinstance(raw_id, str) and REQUEST_ID_RE.fullmatch(raw_id) else None
    try:
        return _parse_object(obj)
    except RoomError as err:
        raise CommandError(err, echo_id) from None


def _parse_object(obj: dict[str, object]) -> Command:
    kind = obj.get("t")
    if kind == "chat":
        request_id = _request_id(obj)
        text = obj.get("text")
        if not isinstance(text, str):
            raise BadRequest("text must be a string")
        return ChatCommand(request_id, text)
    if kind == "like":
        return LikeCommand(int_field(obj, "n", 1, MAX_LIKES_PER_FRAME))
    if kind == "buy":
        request_id = _request_id(obj)
        pin, product = obj.get("pin"), obj.get("product")
        if (pin is None) == (product is None):
            raise BadRequest("a buy names either pin or product")
        item, field = (pin, "pin") if pin is not None else (product, "product")
        if not isinstance(item, str) or not ITEM_ID_RE.fullmatch(item):
            raise BadRequest(f"{field} must be 1-64 of [A-Za-z0-9_-]")
        qty = int_field(obj, "qty", 1, MAX_QTY)
        coupon = obj.get("coupon")
        if coupon is not None and not (isinstance(coupon, str) and ITEM_ID_RE.fullmatch(coupon)):
            raise BadRequest("coupon must be 1-64 of [A-Za-z0-9_-]")
        if pin is not None:
            return BuyCommand(request_id, item, qty, coupon=coupon)
        return BuyCommand(request_id, None, qty, product=item, coupon=coupon)
    if kind == "grab":
        request_id = _request_id(obj)
        drop = obj.get("drop")
        if not isinstance(drop, str) or not ITEM_ID_RE.fullmatch(drop):
            raise BadRequest("drop must be 1-64 of [A-Za-z0-9_-]")
        return GrabCommand(request_id, drop)
    if kind == "bid":
        request_id = _request_id(obj)
        auction = obj.get("auction")
        if not isinstance(auction, str) or not ITEM_ID_RE.fullmatch(auction):
            raise BadRequest("auction must be 1-64 of [A-Za-z0-9_-]")
        return BidCommand(request_id, auction, int_field(obj, "cents", 1, MAX_BID_CENTS))
    if kind == "ping":
        return PingCommand()
    if not isinstance(kind, str):
        raise BadRequest("t must be a string")
    raise BadRequest(f"unknown t: {kind[:32]!r}")
