"""``GET /closecodes.js``: the close-code table served to browsers, generated from the Python one."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from live.closecodes import browser_script

_SCRIPT = browser_script().encode()


async def closecodes_js(request: Request) -> Response:
    # no-cache: a page must never pair a new client.js with a table from an older deploy.
    return Response(_SCRIPT, media_type="text/javascript", headers={"Cache-Control": "no-cache"})
