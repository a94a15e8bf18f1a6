"""Gather the script calls of one event-loop turn into one Redis pipeline.

redis-py spends most of a command's cost in the client; sending every concurrent
chat post or buy of a loop turn in one pipeline (each still its own atomic script)
multiplies what one process can decide per second.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

Call = tuple[AsyncScript, list[str], list[Any], "asyncio.Future[Any]"]


class ScriptBatcher:
    """Script calls of one loop turn, sent as one pipeline; each caller gets its own answer or error."""

    def __init__(self, redis: Any, max_batch: int = 512) -> None:
        self._redis = redis
        self._max_batch = max_batch
        self._pending: list[Call] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def call(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((script, keys, args, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        while self._pending:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            task = asyncio.create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[Call]) -> None:
        """Answer every call of the batch: its result, its script's error, or the Redis error."""
        try:
            results = await self._execute(batch)
            missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
            if missing:
                # Redis restarted and forgot its script cache: load and run those again (they did
                # not run). Inside the try: a Redis error here must reach those callers too.
                for script in {batch[i][0] for i in missing}:
                    await self._redis.script_load(script.script)
                retried = await self._execute([batch[i] for i in missing])
                for i, result in zip(missing, retried, strict=True):
                    results[i] = result
        except Exception as err:  # connection lost, timeout, refused: every caller hears it
            for *_, future in batch:
                if not future.done():
                    future.set_exception(err)
            return
        except BaseException:
            for *_, future in batch:
                future.cancel()
            raise
        for (*_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _execute(self, batch: list[Call]) -> list[Any]:
        pipe = self._redis.pipeline(transaction=False)
        for script, keys, args, _ in batch:
            # execute_command, not pipe.evalsha: redis-py's cluster pipeline blocks the evalsha method but
            # routes an EVALSHA command by its keys' slot (every key of a room shares one slot).
            pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
        return list(await pipe.execute(raise_on_error=False))

    async def close(self) -> None:
        for task in list(self._tasks):
            await asyncio.gather(task, return_exceptions=True)
