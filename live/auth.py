"""Tokens: HS256 JWTs with sub, name, role, room, exp (contract §1)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import jwt

from rooms.errors import BadRequest, Forbidden, Unauthorized
from rooms.ids import ROOM_ID_RE, USER_ID_RE, RoomId, UserId
from rooms.text import clean_name


class Role(StrEnum):
    VIEWER = "viewer"
    MOD = "mod"
    HOST = "host"
    SERVICE = "service"  # the shop's own backend: every room's orders, products and webhooks


@dataclass(frozen=True, slots=True)
class Identity:
    id: UserId
    name: str
    role: Role
    room: RoomId | None

    def acts_on(self, room: str) -> bool:
        """Hosts and mods act on their one room only."""
        return self.room == room

    def require_host(self, room: str) -> None:
        if self.role is not Role.HOST or not self.acts_on(room):
            raise Forbidden("only this room's host may do that")

    def require_service(self) -> None:
        if self.role is not Role.SERVICE:
            raise Forbidden("only the shop's service token may do that")

    def require_staff(self, room: str) -> None:
        if self.role not in (Role.HOST, Role.MOD) or not self.acts_on(room):
            raise Forbidden("only this room's host or moderators may do that")


def make_token(
    secret: str,
    *,
    sub: str,
    name: str,
    role: str,
    room: str | None = None,
    ttl_s: int = 3600,
    now_s: float | None = None,
) -> str:
    """Sign a token; the claims are checked the way ``verify_token`` will read them.

    Raises ``Unauthorized`` for claims no token may carry (such as a name with bidi controls,
    or one that is empty once invisible characters are removed). The name signed is the
    cleaned one (trimmed, zero-width characters removed), as every viewer will see it.
    """
    now = time.time() if now_s is None else now_s
    claims: dict[str, object] = {"sub": sub, "name": name, "role": role, "exp": int(now + ttl_s)}
    if room is not None:
        claims["room"] = room
    claims["name"] = _check_claims(claims).name
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_token(secret: str, token: str) -> Identity:
    """Return who the token speaks for, or raise ``Unauthorized``."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "sub"]})
    except jwt.PyJWTError as err:
        raise Unauthorized(f"invalid token: {err}") from None
    return _check_claims(claims)


def _check_claims(claims: dict[str, object]) -> Identity:
    sub, name, role, room = claims.get("sub"), claims.get("name"), claims.get("role"), claims.get("room")
    if not isinstance(sub, str) or not USER_ID_RE.fullmatch(sub):
        raise Unauthorized("token sub must be 1-64 of [A-Za-z0-9_-]")
    try:
        shown_name = clean_name(name)  # the chat text rule: nothing hidden, nothing reordered
    except BadRequest as err:
        raise Unauthorized(f"token {err.message}") from None
    try:
        parsed_role = Role(role)  # type: ignore[arg-type]
    except ValueError:
        raise Unauthorized("token role must be viewer, mod, host or service") from None
    if room is not None and (not isinstance(room, str) or not ROOM_ID_RE.fullmatch(room)):
        raise Unauthorized("token room must be 1-40 of [a-z0-9-]")
    if parsed_role is Role.SERVICE and room is not None:
        raise Unauthorized("a service token acts on every room: it takes no room")
    if parsed_role in (Role.MOD, Role.HOST) and room is None:
        raise Unauthorized(f"a {parsed_role.value} token needs a room")
    return Identity(UserId(sub), shown_name, parsed_role, RoomId(room) if room else None)


def required_identity(secret: str, header: str | None) -> Identity:
    """``bearer_identity`` for an endpoint that needs one: no header is ``Unauthorized``."""
    identity = bearer_identity(secret, header)
    if identity is None:
        raise Unauthorized("an Authorization: Bearer token is required")
    return identity


def bearer_identity(secret: str, header: str | None) -> Identity | None:
    """Identity from an ``Authorization: Bearer`` header; None when there is no header."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization must be 'Bearer <token>'")
    return verify_token(secret, token.strip())
