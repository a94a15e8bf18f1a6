"""Gather the script calls of one event-loop turn into one Redis pipeline.

redis-py spends most of a command's cost in the client; sending every concurrent
chat post or buy of a loop turn in one pipeline (each still its own atomic script)
multiplies what one process can decide per second.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from live.redis_pipe import RedisPipe, pack_command, pack_script

# A command sent just before a call's script in the same pipeline; its reply is not awaited by anyone.
Before = tuple[Any, ...]
# A script call, or (script None) a plain command: ``args`` is then the whole command.
Call = tuple[AsyncScript | None, Sequence[str], list[Any], "asyncio.Future[Any]", tuple[Before, ...]]


class ScriptBatcher:
    """Script calls of one loop turn, sent as one pipeline; each caller gets its own answer or error."""

    def __init__(self, redis: Any, max_batch: int = 512, *, own_connection: bool = True) -> None:
        self._redis = redis
        # Our own pipelined connection where the client allows one; redis-py's pipeline otherwise.
        self._pipe = RedisPipe.for_client(redis) if own_connection else None
        self._max_batch = max_batch
        self._pending: list[Call] = []
        self._loose: list[Before] = []  # commands nobody awaits, sent with the next batch
        self._closed = False
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def call(
        self, script: AsyncScript, keys: Sequence[str], args: list[Any], before: tuple[Before, ...] = ()
    ) -> Any:
        """Run ``script``; the ``before`` commands go ahead of it in the same pipeline."""
        return await self._queue((script, keys, args, asyncio.get_running_loop().create_future(), before))

    async def command(self, *command: Any) -> Any:
        """One plain command's reply, sent with the loop turn's pipeline (an error reply raises).

        The reply is as the connection parses it: a score is text on our own connection and a
        float through redis-py's pipeline.

        For the reads of a join: through redis-py each costs more of the server than the
        script that builds the whole ``hello`` (docs/benchmarks.md, the join storm).
        """
        return await self._queue((None, (), list(command), asyncio.get_running_loop().create_future(), ()))

    async def _queue(self, call: Call) -> Any:
        self._pending.append(call)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        return await call[3]

    def send(self, *command: Any) -> None:
        """Send a command with the next pipeline without waiting for it (its errors are dropped).

        After ``close`` nothing is sent: the connection is going away.
        """
        if self._closed:
            return
        self._loose.append(command)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        if self._loose and not self._pending:
            loose, self._loose = self._loose, []
            task = asyncio.create_task(self._send_loose(loose))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        while self._pending:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            task = asyncio.create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send_loose(self, commands: list[Before]) -> None:
        if self._pipe is not None:
            with contextlib.suppress(Exception):
                await self._pipe.execute([pack_command(command) for command in commands])
            return
        pipe = self._redis.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        with contextlib.suppress(Exception):
            await pipe.execute(raise_on_error=False)

    async def _run(self, batch: list[Call]) -> None:
        """Answer every call of the batch: its result, its script's error, or the Redis error."""
        try:
            results = await self._execute(batch)
            missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
            if missing:
                # Redis restarted and forgot its script cache: load and run those again (they did
                # not run). Inside the try: a Redis error here must reach those callers too.
                for script in {batch[i][0] for i in missing}:
                    assert script is not None  # a plain command never answers NOSCRIPT
                    await self._redis.script_load(script.script)
                # Their before-commands ran already; they are idempotent, but need not run twice.
                retried = await self._execute([(*batch[i][:4], ()) for i in missing])
                for i, result in zip(missing, retried, strict=True):
                    results[i] = result
        except Exception as err:  # connection lost, timeout, refused: every caller hears it
            for call in batch:
                if not call[3].done():
                    call[3].set_exception(err)
            return
        except BaseException:
            for call in batch:
                call[3].cancel()
            raise
        for (_, _, _, future, _), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _execute(self, batch: list[Call]) -> list[Any]:
        """The script replies of ``batch``, in order (the before-commands' replies are dropped)."""
        if self._pipe is not None:
            return await self._execute_on_pipe(self._pipe, batch)
        pipe = self._redis.pipeline(transaction=False)
        positions = []
        n = 0
        loose, self._loose = self._loose, []
        for command in loose:
            pipe.execute_command(*command)
            n += 1
        for script, keys, args, _, before in batch:
            for command in before:
                pipe.execute_command(*command)
                n += 1
            if script is None:
                pipe.execute_command(*args)
            else:
                # execute_command, not pipe.evalsha: redis-py's cluster pipeline blocks the evalsha
                # method but routes an EVALSHA command by its keys' slot (a room's keys share one).
                pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
            positions.append(n)
            n += 1
        replies = await pipe.execute(raise_on_error=False)
        return [replies[i] for i in positions]

    async def _execute_on_pipe(self, pipe: RedisPipe, batch: list[Call]) -> list[Any]:
        packed = []
        positions = []
        loose, self._loose = self._loose, []
        packed += [pack_command(command) for command in loose]
        for script, keys, args, _, before in batch:
            packed += [pack_command(command) for command in before]
            positions.append(len(packed))
            packed.append(pack_command(args) if script is None else pack_script(script.sha, keys, args))
        replies = await pipe.execute(packed)
        return [replies[i] for i in positions]

    async def close(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            await asyncio.gather(task, return_exceptions=True)
        if self._pipe is not None:
            await self._pipe.close()
