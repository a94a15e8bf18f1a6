"""Hosts with rooms, and people, for the follows and reminders tests (a fresh user id per call)."""

from __future__ import annotations

import itertools
import os
from typing import Any

from tests.support import Http, ServerProc, unique_room

_users = itertools.count(1)


def unique_user(stem: str = "u") -> str:
    return f"{stem}-{os.getpid()}-{next(_users)}"


def person(server: ServerProc, name: str, sub: str | None = None) -> tuple[str, Http]:
    """A signed-in viewer with a fresh id (or ``sub``)."""
    sub = sub or unique_user(name.lower())
    return sub, Http(server, server.token(name=name, sub=sub))


async def host_room(
    server: ServerProc, host: str, *, name: str = "Hana", start: bool = False, **settings: Any
) -> str:
    """A new room of ``host`` (PUT with ``settings``), started if asked; its id."""
    room = unique_room("soc")
    http = Http(server, server.token("host", room, name=name, sub=host))
    r = await http.call("PUT", f"/api/rooms/{room}", {"title": settings.pop("title", "Show"), **settings})
    assert r.status_code == 201, r.text
    if start:
        r = await http.call("POST", f"/api/rooms/{room}/start")
        assert r.status_code == 200, r.text
    return room


async def stop_room(server: ServerProc, host: str, room: str) -> None:
    http = Http(server, server.token("host", room, name="Hana", sub=host))
    r = await http.call("POST", f"/api/rooms/{room}/stop")
    assert r.status_code == 200, r.text
