"""The follows, reminders and audience endpoints (contract §9; docs/social.md), over ``SocialStore``.

- ``PUT``/``DELETE /api/follows/{user}``, ``GET /api/follows``, ``GET /api/hosts/{user}``
- ``PUT``/``DELETE /api/rooms/{room}/reminder``, ``GET /api/me/reminders``
- ``GET /api/rooms/{room}/audience?cursor=C`` (service): who to tell that the room went live
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from live.api import JSONResponse, api_errors
from live.auth import Identity, Role, bearer_identity, required_identity
from live.settings import Settings
from live.social import HostView, RoomCard, SocialStore
from live.store import now_ms
from rooms.errors import BadRequest, Forbidden, NotFound
from rooms.ids import ROOM_ID_RE, USER_ID_RE


def _room_ref(card: RoomCard | None) -> dict[str, Any] | None:
    return {"id": card.id, "title": card.title} if card else None


def _show(card: RoomCard | None) -> dict[str, Any] | None:
    return {"id": card.id, "title": card.title, "starts_at_ms": card.starts_at_ms} if card else None


def followed_host_json(view: HostView) -> dict[str, Any]:
    """One host of ``GET /api/follows``: its newest live room and its next scheduled show."""
    live, scheduled = view.live, view.scheduled
    return {
        "id": view.id,
        "name": view.name,
        "followers": view.followers,
        "live_room": _room_ref(live[0] if live else None),
        "next_show": _show(scheduled[0] if scheduled else None),
    }


def host_page_json(view: HostView) -> dict[str, Any]:
    return {
        "id": view.id,
        "name": view.name,
        "followers": view.followers,
        "live": [_room_ref(card) for card in view.live],
        "scheduled": [
            {"id": c.id, "title": c.title, "starts_at_ms": c.starts_at_ms, "description": c.description}
            for c in view.scheduled
        ],
    }


def _path_user(request: Request) -> str:
    """The ``{user}`` of the path; a malformed id names nobody, so no host (404)."""
    user = str(request.path_params["user"])
    if not USER_ID_RE.fullmatch(user):
        raise NotFound("no such host")
    return user


def _path_room(request: Request) -> str:
    room = str(request.path_params["room"])
    if not ROOM_ID_RE.fullmatch(room):
        raise NotFound("no such room")
    return room


class SocialApi:
    """The handlers; one ``SocialStore`` per process."""

    def __init__(self, social: SocialStore, settings: Settings) -> None:
        self.social = social
        self.settings = settings

    def _who(self, request: Request) -> Identity | None:
        return bearer_identity(self.settings.secret, request.headers.get("authorization"))

    def _signed_in(self, request: Request) -> Identity:
        return required_identity(self.settings.secret, request.headers.get("authorization"))

    def _person(self, request: Request) -> Identity:
        """A signed-in user: the shop's service token follows nobody and is reminded of nothing."""
        identity = self._signed_in(request)
        if identity.role is Role.SERVICE:
            raise Forbidden("the service token is not a user")
        return identity

    @api_errors
    async def follow(self, request: Request) -> Response:
        """``PUT`` follows, ``DELETE`` unfollows; both idempotent."""
        user = self._person(request)
        host = _path_user(request)
        on = request.method == "PUT"
        followers = await self.social.follow(user.id, host, on, now_ms())
        name = await self.social.host_name(host)
        return JSONResponse({"id": host, "name": name or host, "followers": followers, "following": on})

    @api_errors
    async def follows(self, request: Request) -> Response:
        user = self._signed_in(request)
        views = await self.social.follows(user.id)
        return JSONResponse({"hosts": [followed_host_json(view) for view in views]})

    @api_errors
    async def host(self, request: Request) -> Response:
        """Anyone; with a token the answer also says whether I follow this host."""
        who = self._who(request)
        host = _path_user(request)
        view = await self.social.host_page(host)
        if view is None:
            raise NotFound("no such host")
        body = host_page_json(view)
        if who is not None:
            body["following"] = await self.social.is_following(who.id, host)
        return JSONResponse(body)

    @api_errors
    async def reminder(self, request: Request) -> Response:
        """``PUT`` asks to be reminded of a scheduled show, ``DELETE`` stops asking."""
        user = self._person(request)
        room = _path_room(request)
        reminded = await self.social.remind(user.id, room, request.method == "PUT", now_ms())
        return JSONResponse({"room": room, "reminded": reminded})

    @api_errors
    async def my_reminders(self, request: Request) -> Response:
        user = self._signed_in(request)
        cards = await self.social.reminders(user.id)
        rooms = [
            {"id": c.id, "title": c.title, "status": c.status, "starts_at_ms": c.starts_at_ms} for c in cards
        ]
        return JSONResponse({"rooms": rooms})

    @api_errors
    async def audience(self, request: Request) -> Response:
        """``GET /api/rooms/{room}/audience?cursor=C`` (service): 1,000 user ids a page."""
        self._signed_in(request).require_service()
        room = _path_room(request)
        cursor = request.query_params.get("cursor") or None
        if cursor is not None and not USER_ID_RE.fullmatch(cursor):
            raise BadRequest("cursor must be the next value of an earlier page")
        found = await self.social.room_host(room)
        if found is None:
            raise NotFound("no such room")
        users, next_cursor = await self.social.audience_page(room, found[0], cursor)
        return JSONResponse({"users": users, "next": next_cursor})
