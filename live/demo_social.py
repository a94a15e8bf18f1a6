"""The social side of ``live demo`` (contract §9): a second show of the same host, scheduled a few
minutes ahead, and the crowd's part in it (followers of the host, viewers who came by share links).

The demo room takes a commission rate; ``live/demo.py`` runs the crowd with ``--follow`` (the
crowd follows the host) and ``--share-ratio`` (a few of the crowd make share links and others
arrive through them and buy), so the host panel's leaderboard fills within the first minute.
"""

from __future__ import annotations

import time

import httpx

from live.auth import make_token
from live.settings import Settings

NEXT_ROOM = "demo-next"
NEXT_IN_S = 5 * 60  # the next show is planned this far ahead of each demo start
COMMISSION_BP = 500  # sharers of the demo room earn 5% of what their visitors buy
SHARE_RATIO = 0.6  # of the crowd (apart from the sharers), arrives through a share link
DEMO_DESCRIPTION = "Hand-painted mugs, tees and headphones, with a flash sale every few minutes."
NEXT_TITLE = "Bamboo week: totes and tea sets"
NEXT_DESCRIPTION = (
    "Mei's next show: bamboo totes, tea sets and a first-come flash price.\n"
    "Tap Remind me and the app tells you when it starts."
)
NEXT_BAG = [
    {
        "id": "bamboo-tote",
        "title": "Bamboo tote bag",
        "image_url": "/static/img/tote.svg",
        "list_price_cents": 3900,
        "stock": 80,
        "limit_per_user": 5,
    },
    {
        "id": "panda-mug",
        "title": "Panda mug, second edition",
        "image_url": "/static/img/panda-mug.svg",
        "list_price_cents": 5900,
        "stock": 150,
        "limit_per_user": 3,
    },
]


def schedule_next_show(url: str, settings: Settings, host_id: str, host_name: str) -> int:
    """Put the host's next show (scheduled, not started) with its bag; its ``starts_at_ms``."""
    token = make_token(settings.secret, sub=host_id, name=host_name, role="host", room=NEXT_ROOM, ttl_s=86400)
    starts_at_ms = int((time.time() + NEXT_IN_S) * 1000)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=5) as http:
        http.put(
            f"/api/rooms/{NEXT_ROOM}",
            json={"title": NEXT_TITLE, "starts_at_ms": starts_at_ms, "description": NEXT_DESCRIPTION},
        )
        for product in NEXT_BAG:
            body = {k: v for k, v in product.items() if k != "id"}
            http.put(f"/api/rooms/{NEXT_ROOM}/products/{product['id']}", json=body)
    return starts_at_ms


def crowd_args(crowd: int) -> list[str]:
    """The crowd's social options: everyone follows the host; some come by share links."""
    return ["--follow", str(crowd), "--share-ratio", str(SHARE_RATIO)]
