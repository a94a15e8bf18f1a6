"""``live demo``: the server in dev mode, a bundled Redis, a live demo room with a bag of four
products, a small crowd, and a built-in shop that pays for most orders (``live/demo_shop.py``).
The crowd follows the host, whose next show is scheduled a few minutes ahead, and some of it
arrives by share links and buys, filling the host panel's leaderboard (``live/demo_social.py``)."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import secrets
import subprocess
import sys
import threading
import time

import httpx

from live.auth import make_token
from live.demo_shop import DemoShop
from live.demo_social import COMMISSION_BP, DEMO_DESCRIPTION, NEXT_ROOM, crowd_args, schedule_next_show
from live.lifeline import preexec_die_with_parent
from live.settings import Settings

DEMO_ROOM = "demo"
DEMO_HOST_ID, DEMO_HOST_NAME = "demo-host", "Mei (host)"
PAY_WITHIN_S = 300  # orders wait 5 minutes for payment: the demo shop pays most within seconds
DEMO_BAG = [
    {
        "id": "panda-mug",
        "title": "Panda mug, hand-painted",
        "image_url": "/static/img/panda-mug.svg",
        "list_price_cents": 5900,
        "stock": 400,
        "limit_per_user": 3,
    },
    {
        "id": "live-tee",
        "title": "LIVE cotton tee",
        "image_url": "/static/img/tee.svg",
        "list_price_cents": 9900,
        "stock": 120,
        "limit_per_user": 2,
    },
    {
        "id": "purple-cans",
        "title": "Purple headphones",
        "image_url": "/static/img/headphones.svg",
        "list_price_cents": 29900,
        "stock": 25,
        "limit_per_user": 1,
    },
    {
        "id": "bamboo-tote",
        "title": "Bamboo tote bag",
        "image_url": "/static/img/tote.svg",
        "list_price_cents": 3900,
        "stock": 60,
        "limit_per_user": 5,
    },
]
DEMO_PIN = {
    "product_id": "panda-mug",
    "stock": 200,
    "limit_per_user": 2,
    "starts_in_s": 5,
    "duration_s": 600,
    "tiers": [
        {"at": 0, "price_cents": 4900},
        {"at": 5, "price_cents": 3900},
        {"at": 10, "price_cents": 2900},
        {"at": 15, "price_cents": 1900},
    ],
    "count": "posters",
    "price_protection": True,
}


def _seed(url: str, settings: Settings, crowd: int, shop: DemoShop | None) -> None:
    token = make_token(
        settings.secret, sub=DEMO_HOST_ID, name=DEMO_HOST_NAME, role="host", room=DEMO_ROOM, ttl_s=86400
    )
    if shop is not None:
        shop.attach(
            url,
            make_token(settings.secret, sub="demo-shop", name="Demo shop", role="service", ttl_s=86400 * 30),
        )
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        time.sleep(0.1)
    with httpx.Client(base_url=url, headers=headers, timeout=5) as http:
        http.put(
            f"/api/rooms/{DEMO_ROOM}",
            json={
                "title": "Panda goods flash sale",
                "pay_within_s": PAY_WITHIN_S,
                "commission_bp": COMMISSION_BP,
                "description": DEMO_DESCRIPTION,
            },
        )
        for product in DEMO_BAG:
            body = {k: v for k, v in product.items() if k != "id"}
            http.put(f"/api/rooms/{DEMO_ROOM}/products/{product['id']}", json=body)
        http.post(f"/api/rooms/{DEMO_ROOM}/start")
        current = http.get(f"/api/rooms/{DEMO_ROOM}").json().get("pin")
        if not current or current.get("state") == "ended":
            http.post(f"/api/rooms/{DEMO_ROOM}/pins", json={**DEMO_PIN, "id": f"mug-{int(time.time())}"})
    next_at_ms = schedule_next_show(url, settings, DEMO_HOST_ID, DEMO_HOST_NAME)
    print(
        f"live: demo room ready: player {url}/watch/{DEMO_ROOM}  host panel {url}/host/{DEMO_ROOM}  "
        f"entrance {url}/",
        flush=True,
    )
    if shop is not None:
        print(
            f"live: demo shop takes webhooks at {shop.url}: it pays for 4 orders in 5 after a few seconds "
            f"and lets the rest expire after {PAY_WITHIN_S // 60} min",
            flush=True,
        )
    next_at = time.strftime("%H:%M", time.localtime(next_at_ms / 1000))
    print(
        f"live: the host's next show {url}/watch/{NEXT_ROOM} is scheduled for {next_at}; the crowd follows "
        f"the host, and some of it comes by share links ({COMMISSION_BP / 100:g}% commission)",
        flush=True,
    )
    if crowd > 0:
        _run_crowd(url, settings, crowd)


def _run_crowd(url: str, settings: Settings, crowd: int) -> None:
    """Run the bot crowd until it ends; it dies with this process, also on SIGKILL.

    The kernel's parent-death signal is tied to the thread that forked: this thread waits
    for the crowd, so it lives exactly as long as the crowd does (``live/lifeline.py``).
    """
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bots",
            "crowd",
            "--url",
            url,
            "--room",
            DEMO_ROOM,
            "--secret",
            settings.secret,
            "--viewers",
            str(crowd),
            *crowd_args(crowd),
            "--quiet",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        preexec_fn=preexec_die_with_parent(),
    )
    print(f"live: demo crowd of {crowd} started (pid {proc.pid})", flush=True)
    atexit.register(_stop, proc)
    proc.wait()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


def run_demo(args: argparse.Namespace) -> int:
    from live.cli import serve

    args.dev = True
    shop: DemoShop | None = None
    if not getattr(args, "webhook_url", None):
        # The built-in shop, unless the demo was pointed at a receiver of its own.
        args.webhook_secret = args.webhook_secret or secrets.token_hex(16)
        shop = DemoShop(args.webhook_secret)
        shop.start()
        args.webhook_url = shop.url

    def on_ready(settings: Settings, url: str) -> None:
        threading.Thread(target=_seed, args=(url, settings, args.crowd, shop), daemon=True).start()

    try:
        return serve(args, on_ready=on_ready)
    finally:
        if shop is not None:
            shop.stop()
