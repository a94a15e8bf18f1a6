"""``RoomSocketShortcut`` takes exactly the sockets Starlette's ``/ws/{room}`` route would."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.routing import Match, Router, WebSocketRoute
from starlette.websockets import WebSocket

from live.gateway import RoomSocketShortcut


async def _never(websocket: WebSocket) -> None:
    raise AssertionError("not an endpoint of this test")


# The app's two socket routes, in the app's order.
ROUTER = Router(
    [WebSocketRoute("/ws/me", _never, name="me"), WebSocketRoute("/ws/{room}", _never, name="room")]
)


def scope_of(path: str, kind: str = "websocket", root_path: str = "") -> dict[str, Any]:
    return {"type": kind, "path": path, "root_path": root_path, "query_string": b"", "headers": []}


def routed_by_starlette(scope: dict[str, Any]) -> str | None:
    """The room Starlette's router would hand the gateway, or None for any other outcome."""
    for route in ROUTER.routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            return child["path_params"]["room"] if route.name == "room" else None
    return None


async def through_shortcut(scope: dict[str, Any]) -> tuple[str | None, bool]:
    """(room the gateway was called for, whether the next app was called)."""
    called: dict[str, Any] = {}

    async def next_app(scope: Any, receive: Any, send: Any) -> None:
        called["next"] = True

    async def endpoint(websocket: WebSocket) -> None:
        called["room"] = websocket.path_params["room"]

    await RoomSocketShortcut(next_app, endpoint)(scope, None, None)
    return called.get("room"), bool(called.get("next"))


PATHS = [
    "/ws/demo",
    "/ws/me",
    "/ws/",
    "/ws",
    "/ws/a/b",
    "/ws/demo/",
    "/ws/Me",
    "/ws/a b",
    "/wsx/demo",
    "/ws//x",
    "/ws/mee",
]


@pytest.mark.parametrize("path", PATHS)
async def test_a_socket_path_goes_where_the_router_would_send_it(path: str) -> None:
    scope = scope_of(path)
    room, passed_on = await through_shortcut(scope)
    assert room == routed_by_starlette(scope_of(path))
    assert passed_on is (room is None)  # exactly one of the two is called


@pytest.mark.parametrize(("kind", "root_path"), [("http", ""), ("websocket", "/prefix")])
async def test_other_scopes_pass_on(kind: str, root_path: str) -> None:
    path = root_path + "/ws/demo"
    assert await through_shortcut(scope_of(path, kind, root_path)) == (None, True)
