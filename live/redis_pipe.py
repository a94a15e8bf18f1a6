"""One pipelined Redis connection for the hot script calls: RESP packed here, replies parsed by hiredis.

Why not redis-py's pipeline: profiled on a flash sale (py-spy, docs/benchmarks.md), its
pipeline spent about half of the server's CPU per grab in packing each argument, wrapping each
reply in a timeout and walking its retry and parsing layers; a grab script takes 29 keys and
a dozen arguments. Here a batch of calls is one ``bytes`` written to one socket (packed by
hiredis, in C; a script's head and a room's keys packed once and reused), and the replies come
back through hiredis, in order. Several batches may be in flight on the connection at once:
replies are matched to them first in, first out, so no batch waits for the one before it.

Only for a plain Redis over TCP or a unix socket (``for_client``); a cluster client, or TLS,
keeps redis-py's pipeline (``live.batcher``).

Failure rule, as redis-py's: error replies come back as ``ResponseError`` values in their place
(``NoScriptError`` for NOSCRIPT), never raised; a lost connection fails every batch in flight
with ``ConnectionError`` and the next batch connects afresh; a batch not answered within the
timeout fails with ``TimeoutError`` and the connection is dropped (its replies could no longer
be matched), and is not retried: a script may have run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence
from typing import Any

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

Command = Sequence[Any]


def pack_arg(arg: Any) -> bytes:
    data = arg if isinstance(arg, bytes) else str(arg).encode()
    return b"$%d\r\n%b\r\n" % (len(data), data)


def pack_command(command: Command) -> bytes:
    """RESP for one command: hiredis's packer (in C, 2-4x faster on a buy's 26 arguments) for
    str, bytes, int and float; any other argument written as its ``str``, as redis-py would."""
    try:
        return bytes(hiredis.pack_command(tuple(command)))
    except TypeError:
        return b"*%d\r\n" % len(command) + b"".join(pack_arg(arg) for arg in command)


def _without_count(packed: bytes) -> bytes:
    """RESP of a command without its leading ``*N`` line: the arguments alone."""
    return packed[packed.index(b"\r\n") + 2 :]


# EVALSHA's sha, key count and keys packed once per script and room: a buy sends 29 keys, and
# packing them was a tenth of a grab's server CPU. Rooms come and go: cleared when it is full.
_SCRIPT_HEADS: dict[tuple[str, tuple[str, ...]], bytes] = {}
SCRIPT_HEADS_MAX = 4096


def pack_script(sha: str, keys: Sequence[str], args: Sequence[Any]) -> bytes:
    """``EVALSHA sha len(keys) *keys *args``; the part before ``args`` is packed once per
    script and key tuple (a room's sale keys are one tuple, built once)."""
    if not isinstance(keys, tuple):
        return pack_command(("EVALSHA", sha, len(keys), *keys, *args))
    head = _SCRIPT_HEADS.get((sha, keys))
    if head is None:
        if len(_SCRIPT_HEADS) >= SCRIPT_HEADS_MAX:
            _SCRIPT_HEADS.clear()
        head = _SCRIPT_HEADS[(sha, keys)] = _without_count(pack_command(("EVALSHA", sha, len(keys), *keys)))
    return b"*%d\r\n%b%b" % (3 + len(keys) + len(args), head, _without_count(pack_command(args)))


class _Reply(asyncio.Protocol):
    """The socket's side: feeds hiredis and hands each batch its replies."""

    def __init__(self, pipe: RedisPipe) -> None:
        self._pipe = pipe
        self._reader = hiredis.Reader(encoding="utf-8", replyError=ResponseError)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        reader, waiting = self._reader, self._pipe._waiting
        reader.feed(data)
        while waiting:
            count, replies, future = waiting[0]
            while len(replies) < count:
                reply = reader.gets()
                if reply is False:
                    return
                replies.append(reply)
            waiting.popleft()
            if not future.done():
                future.set_result(replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self._pipe._lost(self, exc)


class RedisPipe:
    """Pipelined command batches on one connection of its own (see the module's docstring)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 6379,
        path: str | None = None,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 5.0,
        connect_timeout_s: float = 2.0,
    ) -> None:
        self._address = (host, port, path)
        self._hello: list[Command] = []
        if password:
            self._hello.append(("AUTH", username, password) if username else ("AUTH", password))
        if db:
            self._hello.append(("SELECT", db))
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._protocol: _Reply | None = None
        self._connecting: asyncio.Future[_Reply] | None = None
        self._waiting: deque[tuple[int, list[Any], asyncio.Future[list[Any]]]] = deque()
        self._closed = False

    @classmethod
    def for_client(cls, redis: Any) -> RedisPipe | None:
        """A pipe to the server that ``redis`` (redis-py's asyncio client) talks to, or None when
        it cannot take one: a cluster, TLS, or a client of unknown make."""
        pool = getattr(redis, "connection_pool", None)
        kwargs = getattr(pool, "connection_kwargs", None)
        name = getattr(getattr(pool, "connection_class", None), "__name__", "")
        if kwargs is None or name not in ("Connection", "UnixDomainSocketConnection"):
            return None
        return cls(
            host=kwargs.get("host", "127.0.0.1"),
            port=int(kwargs.get("port", 6379)),
            path=kwargs.get("path") if name == "UnixDomainSocketConnection" else None,
            db=int(kwargs.get("db", 0) or 0),
            username=kwargs.get("username"),
            password=kwargs.get("password"),
            timeout_s=float(kwargs.get("socket_timeout") or 5.0),
            connect_timeout_s=float(kwargs.get("socket_connect_timeout") or 2.0),
        )

    async def execute(self, packed: Sequence[bytes]) -> list[Any]:
        """Send the packed commands as one write; their replies, in order (errors as values)."""
        if self._closed:
            raise RedisConnectionError("the pipe is closed")
        protocol = await self._connected()
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._waiting.append((len(packed), [], future))
        assert protocol.transport is not None
        protocol.transport.write(b"".join(packed))
        try:
            async with asyncio.timeout(self._timeout_s):
                replies = await asyncio.shield(future)
        except TimeoutError as err:
            self._drop(protocol, RedisTimeoutError("Timeout reading from the Redis pipe"))
            raise RedisTimeoutError("Timeout reading from the Redis pipe") from err
        return [_no_script(reply) for reply in replies]

    async def close(self) -> None:
        self._closed = True
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()

    async def _connected(self) -> _Reply:
        if self._protocol is not None:
            return self._protocol
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if self._connecting is connecting and connecting.done():
                self._connecting = None

    async def _connect(self) -> _Reply:
        loop = asyncio.get_running_loop()
        host, port, path = self._address
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                if path is not None:
                    _, protocol = await loop.create_unix_connection(lambda: _Reply(self), path)
                else:
                    _, protocol = await loop.create_connection(lambda: _Reply(self), host, port)
        except (OSError, TimeoutError) as err:
            raise RedisConnectionError(
                f"Error connecting the Redis pipe to {path or f'{host}:{port}'}: {err}"
            ) from err
        self._protocol = protocol
        if self._hello:
            future: asyncio.Future[list[Any]] = loop.create_future()
            self._waiting.append((len(self._hello), [], future))
            assert protocol.transport is not None
            protocol.transport.write(b"".join(pack_command(c) for c in self._hello))
            async with asyncio.timeout(self._timeout_s):
                replies = await asyncio.shield(future)
            for reply in replies:
                if isinstance(reply, Exception):
                    self._drop(protocol, RedisConnectionError(str(reply)))
                    raise RedisConnectionError(f"Redis refused the pipe: {reply}")
        return protocol

    def _drop(self, protocol: _Reply, err: Exception) -> None:
        """Forget a connection whose replies can no longer be matched; fail what waits on it."""
        if self._protocol is protocol:
            self._protocol = None
        self._fail_waiting(err)
        if protocol.transport is not None:
            protocol.transport.abort()

    def _lost(self, protocol: _Reply, exc: Exception | None) -> None:
        if self._protocol is protocol:
            self._protocol = None
            self._fail_waiting(RedisConnectionError(f"Connection to the Redis pipe lost: {exc or 'closed'}"))

    def _fail_waiting(self, err: Exception) -> None:
        waiting, self._waiting = self._waiting, deque()
        for _, _, future in waiting:
            if not future.done():
                future.set_exception(err)
        for _, _, future in waiting:
            with contextlib.suppress(BaseException):
                future.exception()  # retrieved: a batch that timed out no longer awaits it


def _no_script(reply: Any) -> Any:
    if isinstance(reply, ResponseError) and str(reply).startswith("NOSCRIPT"):
        return NoScriptError(str(reply))
    return reply
