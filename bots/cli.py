"""``live bots <scenario> ...``: run a swarm of simulated viewers against a server and judge it.

``register(subparsers)`` adds the sub-command to ``live``'s parser; ``python -m bots``
builds the same options on a parser of its own.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from bots.checks import SaleLedger
from bots.plan import SCENARIOS, AuctionOptions, DropOptions, make_plan
from bots.report import EXIT_COULD_NOT_RUN, build_report, print_summary
from bots.stats import Stats

DEFAULT_URL = "http://127.0.0.1:8000"

DESCRIPTION = """\
Simulated viewers that load a room and measure what users feel: chat delivery
latency, connect time, buy latency, and correctness (no seq gaps, no oversell,
per-user limits, no lost acks). Exit code: 0 all checks held, 1 a correctness
check failed, 2 the run could not start (or no viewer connected), 130 stopped
by a second Ctrl-C.

scenarios:
  chat      N viewers, a swarm-wide posting rate (--rate posts/s)
  stampede  N buyers rush one pin (created by the bots as host, or --pin)
  join      N viewers connect as fast as possible (--ramp 0)
  mixed     a live show: lurkers, chatters, likes, a pin whose price falls, a rush to buy
  crowd     a small believable crowd for demos, until Ctrl-C or SIGTERM (no report)
  drops     N grabbers rush a red-envelope or coupon drop; the server's list must match the acks
  auction   N bidders snipe an auction in its last seconds; history, winner and order must agree
"""

DROP_FLAGS = ("drop_kind", "drop_count", "drop_total", "drop_value", "drop_window", "drop_task")
AUCTION_FLAGS = ("auction_duration", "extend", "start_cents", "increment", "snipe_window")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", choices=SCENARIOS, help="what to simulate")
    parser.add_argument("--viewers", type=int, help="simulated viewers (default: per scenario)")
    parser.add_argument("--rate", type=float, help="chat posts per second for the whole swarm")
    parser.add_argument(
        "--duration", type=float, help="seconds of load after the ramp (crowd: 0 = until stopped)"
    )
    parser.add_argument("--ramp", type=float, help="seconds over which the viewers connect")
    parser.add_argument("--room", help="room id (default: a fresh room bots-<scenario>-<tag>)")
    parser.add_argument(
        "--url",
        action="append",
        help=f"server http base (default {DEFAULT_URL}); repeat or comma-separate for several "
        "processes of one service: viewers spread over them and fail over",
    )
    parser.add_argument("--token", help="a host token for the room (the room comes from its claims)")
    parser.add_argument(
        "--secret",
        default=None,
        help="the server's token secret: the bots mint their tokens (default $LIVE_SECRET)",
    )
    parser.add_argument("--pin", help="buy this existing pin; the bots create no room and no pin")
    parser.add_argument("--stock", type=int, help="stock of the pin the bots create")
    parser.add_argument("--limit", type=int, help="limit_per_user of the pin the bots create")
    parser.add_argument(
        "--product", help="stampede: buy this bag product (the bots put it in the bag) instead of a pin"
    )
    parser.add_argument(
        "--pay",
        action="store_true",
        help="stampede: orders wait for payment (--pay-within) and a shop with a service token "
        "confirms, cancels or lets them expire; checks held units <= stock and the final accounting",
    )
    parser.add_argument(
        "--pay-within", type=int, default=10, help="with --pay: the room's pay_within_s (default 10)"
    )
    parser.add_argument(
        "--confirm-ratio",
        type=float,
        default=0.8,
        help="with --pay: the share of orders the shop confirms (default 0.8; half the rest it cancels)",
    )
    parser.add_argument(
        "--share-ratio",
        type=float,
        default=0.0,
        help="stampede, mixed, crowd: this fraction of the viewers connect through share links that a "
        "few sharer bots make; the leaderboard must match the acked orders (default 0: no links)",
    )
    parser.add_argument(
        "--commission-bp",
        type=int,
        help="with --share-ratio: set the room's commission_bp (default: 500 in a room the bots "
        "create, else the room's own rate)",
    )
    parser.add_argument(
        "--follow",
        type=int,
        default=0,
        metavar="N",
        help="the first N viewers follow the room's host before connecting (default 0)",
    )
    drops = parser.add_argument_group("drops (contract §10)")
    drops.add_argument("--drop-kind", choices=("envelope", "coupon"), help="drops: default envelope")
    drops.add_argument("--drop-count", type=int, help="drops: how many can grab (default viewers / 20)")
    drops.add_argument("--drop-total", type=int, help="drops, envelope: total cents (default 100 x count)")
    drops.add_argument("--drop-value", type=int, help="drops, coupon: value_cents of each (default 500)")
    drops.add_argument("--drop-window", type=int, help="drops: the grab window in seconds (default 10)")
    drops.add_argument(
        "--drop-task",
        choices=("none", "follow", "chat"),
        help="drops: what a grabber must do first; the bots follow the host or post one line (default none)",
    )
    drops.add_argument(
        "--drops",
        type=int,
        default=0,
        metavar="K",
        help="mixed: K drops during the show, envelope and coupon in turn, grabbed by half the viewers",
    )
    auction = parser.add_argument_group("auction (contract §11)")
    auction.add_argument("--auction-duration", type=int, help="auction: duration_s, 5-3600 (default 10)")
    auction.add_argument(
        "--extend", type=int, help="auction: extend_s, 0-60 (default 0 = sudden death: the end never moves)"
    )
    auction.add_argument("--start-cents", type=int, help="auction: start_cents (default 1000)")
    auction.add_argument("--increment", type=int, help="auction: increment_cents (default 100)")
    auction.add_argument(
        "--snipe-window",
        type=float,
        help="auction: each bidder bids 1-3 times in the last this many seconds, some after the end "
        "(default 2)",
    )
    parser.add_argument("--procs", type=int, help="worker processes (default: enough for the load, <= cores)")
    parser.add_argument("--json", metavar="FILE", help="write the report as JSON")
    parser.add_argument(
        "--html",
        metavar="FILE",
        help="write the HTML report (default: beside --json, else bots-<scenario>.html)",
    )
    parser.add_argument("--no-html", action="store_true", help="write no HTML report")
    parser.add_argument(
        "--quiet", "-q", action="store_true", help="no live view, no table (crowd: no chat echo)"
    )
    parser.add_argument("--seed", type=int, help="random seed (who likes when, jitter)")
    parser.add_argument("--title", default="Load test", help="title of the room the bots create")


def register(subparsers: Any) -> None:
    """Add ``bots`` to ``live``'s sub-commands."""
    parser = subparsers.add_parser(
        "bots",
        help="load-test bots: simulated viewers that measure a server",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def build_parser(prog: str = "python -m bots") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def _urls(args: argparse.Namespace) -> tuple[str, ...]:
    raw = args.url or [DEFAULT_URL]
    urls = tuple(u.strip().rstrip("/") for item in raw for u in item.split(",") if u.strip())
    return urls or (DEFAULT_URL,)


def _drop_options(args: argparse.Namespace) -> DropOptions:
    given = [f for f in DROP_FLAGS if getattr(args, f, None) is not None]
    if given and args.scenario != "drops":
        flags = ", ".join("--" + f.replace("_", "-") for f in given)
        raise ValueError(f"{flags}: for the drops scenario (mixed takes --drops K)")
    d = DropOptions()
    return DropOptions(
        kind=args.drop_kind or d.kind,
        count=args.drop_count,
        total_cents=args.drop_total,
        value_cents=args.drop_value if args.drop_value is not None else d.value_cents,
        window_s=args.drop_window if args.drop_window is not None else d.window_s,
        task=args.drop_task or d.task,
        mixed_drops=args.drops,
    )


def _auction_options(args: argparse.Namespace) -> AuctionOptions:
    given = [f for f in AUCTION_FLAGS if getattr(args, f, None) is not None]
    if given and args.scenario != "auction":
        flags = ", ".join("--" + f.replace("_", "-") for f in given)
        raise ValueError(f"{flags}: for the auction scenario")
    d = AuctionOptions()
    return AuctionOptions(
        duration_s=args.auction_duration if args.auction_duration is not None else d.duration_s,
        extend_s=args.extend if args.extend is not None else d.extend_s,
        start_cents=args.start_cents if args.start_cents is not None else d.start_cents,
        increment_cents=args.increment if args.increment is not None else d.increment_cents,
        snipe_window_s=args.snipe_window if args.snipe_window is not None else d.snipe_window_s,
    )


def _html_path(args: argparse.Namespace) -> Path | None:
    if args.no_html:
        return None
    if args.html:
        return Path(args.html)
    if args.json:
        return Path(args.json).with_suffix(".html")
    return Path(f"bots-{args.scenario}.html")


def _err(msg: str) -> None:
    print(f"live bots: {msg}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Run the scenario; the exit code says whether every correctness check held."""
    from bots.swarm import RunOptions, SetupError, Swarm, cpu_count
    from bots.worker import Target

    secret = args.secret if args.secret is not None else os.environ.get("LIVE_SECRET") or None
    urls = _urls(args)
    try:
        for url in urls:
            Target.parse(url)
        plan = make_plan(
            args.scenario,
            viewers=args.viewers,
            rate=args.rate,
            duration_s=args.duration,
            ramp_s=args.ramp,
            procs=args.procs,
            cpus=cpu_count(),
            pin_id=args.pin,
            stock=args.stock,
            limit_per_user=args.limit,
            product_id=args.product,
            pay=args.pay,
            pay_within_s=args.pay_within,
            confirm_ratio=args.confirm_ratio,
            share_ratio=args.share_ratio,
            followers=args.follow,
            drop=_drop_options(args),
            auction=_auction_options(args),
        )
        if args.commission_bp is not None and not 0 <= args.commission_bp <= 5000:
            raise ValueError("--commission-bp must be 0-5000")
    except ValueError as err:
        _err(str(err))
        return EXIT_COULD_NOT_RUN
    opts = RunOptions(
        scenario=args.scenario,
        urls=urls,
        room=args.room,
        token=args.token,
        secret=secret,
        seed=args.seed,
        title=args.title,
        verbose=not args.quiet,
        commission_bp=args.commission_bp,
    )
    if args.scenario == "crowd":
        return _run_crowd(opts, plan)

    from bots.progress import make_view

    view = make_view(f"live bots: {args.scenario}", args.quiet)
    swarm = Swarm(opts, plan, view)
    started = time.time()
    try:
        stats = swarm.run()
    except SetupError as err:
        _err(str(err))
        return EXIT_COULD_NOT_RUN
    except KeyboardInterrupt:
        _err("stopped")
        return 130
    ledger = SaleLedger()
    for pin in swarm.pins_created:
        seen = Stats()
        seen.note_pin(pin)
        for pin_id, info in seen.pins.items():
            ledger.add_pin(pin_id, info)
    for pin_id, info in stats.pins.items():
        ledger.add_pin(pin_id, info)
    for product in swarm.products_created:
        ledger.add_pin(str(product.get("id")), product)
    ledger.add_orders(stats.orders)
    shop = swarm.shop_result
    if shop is not None:
        # Held units are what the promises are about: cancelled and expired orders gave theirs back.
        for order in shop.orders:
            if order.get("state") in ("cancelled", "expired"):
                ledger.release(str(order.get("id")))
    try:
        server_checks = swarm.check_server(stats, ledger)
    except Exception as err:  # the report matters more than this extra check
        server_checks = {"skipped": f"{type(err).__name__}: {err}"[:200]}
    identity = swarm.identity
    meta = {
        "room": identity.room if identity else args.room,
        "tag": identity.tag if identity else None,
        "url": ", ".join(urls),
        "started_at": datetime.datetime.fromtimestamp(started, datetime.UTC).isoformat(timespec="seconds"),
        "wall_s": round((swarm.ended_at or time.time()) - (swarm.started_at or started), 3),
        "interrupted": swarm.interrupted,
        "tokens": "minted"
        if identity and identity.secret
        else "dev"
        if identity and identity.dev_tokens
        else "none",
        "pins_created": [p.get("id") for p in swarm.pins_created],
    }
    report = build_report(
        plan=plan,
        stats=stats,
        ledger=ledger,
        meta=meta,
        server_checks=server_checks,
        problems=swarm.problems,
        fatal=swarm.fatal,
        events=swarm.events,
        shop=shop.summary() if shop is not None else None,
    )
    if args.json:
        Path(args.json).write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    html_path = _html_path(args)
    if html_path is not None:
        from bots.html import render_html

        html_path.write_text(render_html(report), encoding="utf-8")
    if not args.quiet:
        from rich.console import Console

        console = Console(width=None if sys.stdout.isatty() else 120)
        print_summary(report, console)
        written = [str(p) for p in (args.json, html_path) if p]
        if written:
            console.print(f"report: {', '.join(written)}", highlight=False)
    code: int = report["verdict"]["exit_code"]
    return code


def _run_crowd(opts: Any, plan: Any) -> int:
    from bots.crowd import run_crowd
    from bots.host import Host, HostError
    from bots.swarm import SetupError, open_share_links, resolve_identity
    from bots.worker import WorkerSpec, raise_fd_limit, run_loop

    try:
        identity = resolve_identity(opts, lambda room: Host(opts.urls[0], room, None))
    except SetupError as err:
        _err(str(err))
        return EXIT_COULD_NOT_RUN
    fresh = opts.room is None and opts.token is None
    if identity.host_token:
        # In a demo the host's room already exists and is left alone; otherwise make one.
        try:
            with Host(opts.urls[0], identity.room, identity.host_token) as host:
                warning = host.ensure_room(opts.title, fresh=fresh)
        except HostError as err:
            _err(f"setting up room {identity.room!r}: {err}")
            return EXIT_COULD_NOT_RUN
        if warning and opts.verbose:
            _err(warning)
    try:
        links = open_share_links(opts, plan, identity, fresh=fresh)
    except SetupError as err:
        _err(str(err))
        return EXIT_COULD_NOT_RUN
    if opts.verbose:
        print(f"crowd of {plan.viewers} in room {identity.room} (Ctrl-C to stop)", file=sys.stderr)
    spec = WorkerSpec(
        wid=0,
        plan=plan,
        urls=opts.urls,
        room=identity.room,
        tag=identity.tag,
        secret=identity.secret,
        dev_tokens=identity.dev_tokens,
        seed=opts.seed if opts.seed is not None else int(time.time()),
        verbose=opts.verbose,
        share_links=tuple((link.user, link.code) for link in links),
        given_tokens=tuple((link.index, link.token) for link in links),
    )
    raise_fd_limit()
    result = {"code": EXIT_COULD_NOT_RUN}

    async def main(uvloop_on: bool) -> None:
        result["code"] = await run_crowd(spec, plan.duration_s, uvloop_on)

    run_loop(main)
    return result["code"]
