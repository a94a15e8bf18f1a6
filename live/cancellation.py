"""Cancellation that is never lost, so that a shutdown always finishes.

Python 3.11's ``asyncio.wait_for`` returns the inner result when a cancellation arrives in the
same loop turn as that result, and the cancellation is gone (CPython gh-86296, fixed in 3.12 by
rebuilding ``wait_for`` on ``asyncio.timeout``). redis-py wraps every command's socket write in
``wait_for`` when a socket timeout is set, so on 3.11 about every second cancel of a task that is
inside a Redis command vanishes: a ``while True`` loop around Redis calls (pin timers, a hub's
stream reader) keeps running, the ``await`` of the cancelled task never returns, and
``live serve`` never finishes its shutdown (measured: 1 shutdown in 4 hung with 5,000 viewers
on a loaded machine, until the supervisor's SIGKILL).

``install()`` puts the 3.12 ``wait_for`` in place on 3.11 (the ``live`` command calls it first);
``cancel_and_wait`` stops a task even where some other library still drops a cancel.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")

_RECANCEL_S = 0.05  # how long a cancelled task gets before it is cancelled again


async def wait_for(aw: Awaitable[T], timeout: float | None) -> T:  # noqa: ASYNC109 (asyncio.wait_for's signature)
    """``asyncio.wait_for`` as Python 3.12 has it: an outer cancellation always propagates."""
    if timeout is not None and timeout <= 0:
        fut = asyncio.ensure_future(aw)
        if fut.done():
            return fut.result()
        fut.cancel()
        await asyncio.wait({fut})
        try:
            return fut.result()
        except asyncio.CancelledError as exc:
            raise TimeoutError from exc
    async with asyncio.timeout(timeout):
        return await aw


def install() -> None:
    """Use the 3.12 ``wait_for`` everywhere in this process (a no-op on 3.12 and later)."""
    if sys.version_info < (3, 12):
        asyncio.wait_for = wait_for  # type: ignore[assignment]


async def cancel_and_wait(task: asyncio.Task[Any], timeout_s: float | None = None) -> bool:
    """Cancel ``task`` and wait until it is done, cancelling again while it keeps running.

    Returns False if it was still running after ``timeout_s`` (None = wait as long as it takes).
    The task's own result or exception is discarded: the caller is stopping it.
    """
    loop = asyncio.get_running_loop()
    deadline = None if timeout_s is None else loop.time() + timeout_s
    while not task.done():
        task.cancel()
        wait_s = _RECANCEL_S if deadline is None else min(_RECANCEL_S, deadline - loop.time())
        if wait_s <= 0:
            return False
        await asyncio.wait({task}, timeout=wait_s)
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved
    return True
