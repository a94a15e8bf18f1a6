"""The ``live`` command: ``serve``, ``token``, ``demo`` and ``bots``."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import signal
import socket
import sys
from collections.abc import Sequence

from live.server import build_server
from live.settings import Settings, SettingsError


def _fail(message: str, code: int = 1) -> int:
    """One line on stderr; 1 = cannot start, 2 = a bad setting."""
    print(f"live: {message}", file=sys.stderr, flush=True)
    return code


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _check_redis(url: str) -> None:
    import redis
    from redis.cluster import RedisCluster

    from live.redis_client import CLUSTER_SCHEME

    if url.startswith(CLUSTER_SCHEME):
        client: object = RedisCluster.from_url("redis://" + url[len(CLUSTER_SCHEME) :], socket_timeout=3)
    else:
        client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
    try:
        client.ping()  # type: ignore[attr-defined]
    finally:
        client.close()  # type: ignore[attr-defined]


def add_serve_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of ``serve`` and ``demo``. Each one left out is None, so ``LIVE_<FIELD>`` applies."""
    parser.add_argument("--host", default=None, help="address to listen on (LIVE_HOST; default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="0 = any free port (LIVE_PORT; default 8000)")
    parser.add_argument(
        "--redis-url", default=None, help="shared Redis (LIVE_REDIS_URL); omitted = bundled Redis"
    )
    parser.add_argument("--secret", default=None, help="token signing key (LIVE_SECRET)")
    parser.add_argument(
        "--dev", action="store_const", const=True, default=None, help="enable POST /api/dev/token (LIVE_DEV)"
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="bundled Redis's files and recordings (LIVE_DATA_DIR; default ./.live-data)",
    )
    parser.add_argument(
        "--tick-ms", type=int, default=None, help="shortest fan-out batching tick (LIVE_TICK_MS; default 5)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="server processes on this port, supervised (LIVE_WORKERS; default 1 = this process alone)",
    )
    parser.add_argument(
        "--webhook-url", default=None, help="POST signed webhook events here (LIVE_WEBHOOK_URL; default none)"
    )
    parser.add_argument(
        "--webhook-secret", default=None, help="HMAC key of Live-Signature (LIVE_WEBHOOK_SECRET)"
    )


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Flags over ``LIVE_*`` over defaults; raises ``SettingsError``."""
    return Settings.from_env(
        host=args.host,
        port=args.port,
        redis_url=args.redis_url,
        secret=args.secret,
        dev=args.dev,
        data_dir=args.data_dir,
        tick_ms=args.tick_ms,
        workers=args.workers,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
    )


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def serve(args: argparse.Namespace, *, on_ready: object = None) -> int:
    """Run the server until interrupted. ``on_ready(settings, url)`` runs once it listens.

    With ``--workers N`` (N > 1) this process binds the socket, forks N supervised workers
    that serve on it (``live/workers.py``) and stops the bundled Redis after the last one.
    """
    from live.redis_server import BundledRedis, DataDirInUse, RedisStartError

    try:
        settings = settings_from_args(args)
    except SettingsError as err:
        return _fail(str(err), code=2)
    try:
        sock = _bind(settings.host, settings.port)
    except OSError as err:
        return _fail(f"cannot listen on {settings.host}:{settings.port}: {err.strerror or err}")
    host, port = sock.getsockname()[:2]
    bundled: BundledRedis | None = None
    redis_url = settings.redis_url
    try:
        if not redis_url:
            bundled = BundledRedis(settings.data_dir)
            try:
                redis_url = bundled.start()
            except DataDirInUse as err:
                return _fail(str(err))
            except RedisStartError as err:
                return _fail(f"cannot start the bundled Redis: {err}")
        else:
            try:
                _check_redis(redis_url)
            except Exception as err:
                return _fail(f"cannot reach Redis at {redis_url}: {err}")
        settings = dataclasses.replace(settings, redis_url=redis_url, host=host, port=port)
        url = f"http://{host}:{port}"
        # Before "listening" is printed: whoever reads that line may stop us at once, and the
        # default action would kill the process before `finally` stops the bundled Redis. (uvicorn
        # also re-raises SIGTERM once it has shut down gracefully.)
        signal.signal(signal.SIGTERM, _exit_quietly)
        if settings.workers == 1:
            server = build_server(settings)
            print(f"live: listening on {url} (redis {redis_url})", flush=True)
            if callable(on_ready):
                on_ready(settings, url)  # before the block below: its children must not inherit it
            # Held (blocked) from here until uvicorn's own handlers are in (LiveServer): a SIGTERM
            # in between can land in an import's weakref callback, where Python drops the
            # SystemExit, and the process would never stop.
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
            server.run(sockets=[sock])
            return 0
        return _supervise(settings.workers, sock, settings, url, on_ready)
    finally:
        sock.close()
        if bundled is not None:
            bundled.stop()


def _supervise(workers: int, sock: socket.socket, settings: Settings, url: str, on_ready: object) -> int:
    import uvicorn  # noqa: F401  (imported once here, shared by every forked worker)

    import live.app  # noqa: F401
    from live.workers import Supervisor, run_uvicorn_worker

    parent = os.getpid()

    def worker_main(index: int) -> int:
        return run_uvicorn_worker(build_server(settings), sock, parent)

    print(f"live: listening on {url} (redis {settings.redis_url}, {workers} workers)", flush=True)

    def started() -> None:
        if callable(on_ready):
            on_ready(settings, url)

    return Supervisor(workers, worker_main).run(on_started=started)


def token(args: argparse.Namespace) -> int:
    from live.auth import make_token
    from rooms.errors import RoomError

    try:
        # dev=True: a token signed with the default secret is what a --dev server accepts.
        secret = Settings.from_env(secret=args.secret, dev=True).secret
    except SettingsError as err:
        return _fail(str(err), code=2)
    sub = args.sub or "".join(ch for ch in args.name.lower() if ch.isalnum() or ch in "-_")[:64] or "user"
    try:
        print(make_token(secret, sub=sub, name=args.name, role=args.role, room=args.room, ttl_s=args.ttl))
    except RoomError as err:
        return _fail(err.message)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="live", description="Live-stream shopping room server")
    sub = parser.add_subparsers(dest="command", required=True)

    p_serve = sub.add_parser("serve", help="run the room server")
    add_serve_flags(p_serve)
    p_serve.set_defaults(func=serve)

    p_token = sub.add_parser("token", help="print a token signed with the configured secret")
    p_token.add_argument("--role", choices=["viewer", "mod", "host", "service"], default="viewer")
    p_token.add_argument("--room", default=None)
    p_token.add_argument("--name", required=True)
    p_token.add_argument("--sub", default=None)
    p_token.add_argument("--ttl", type=int, default=3600)
    p_token.add_argument("--secret", default=None)
    p_token.set_defaults(func=token)

    p_demo = sub.add_parser("demo", help="server + bundled Redis + a demo room with a crowd")
    add_serve_flags(p_demo)
    p_demo.add_argument("--crowd", type=int, default=14, help="simulated viewers in the demo room (0 = none)")
    p_demo.set_defaults(func=_demo)

    with contextlib.suppress(ImportError):
        from bots.cli import register

        register(sub)
    return parser


def _demo(args: argparse.Namespace) -> int:
    from live.demo import run_demo

    return run_demo(args)


def main(argv: Sequence[str] | None = None) -> int:
    from live import cancellation

    cancellation.install()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 0
