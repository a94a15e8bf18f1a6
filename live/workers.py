"""``live serve --workers N``: N server processes on one listening socket, supervised.

The parent binds the socket once (so ``--port 0`` gives every worker the same port),
then forks N workers that each run uvicorn on the inherited socket; the kernel hands
each new connection to whichever worker accepts it first. Workers share nothing but
Redis, exactly like ``live serve`` processes on different machines, so a viewer whose
worker died reconnects to the same port, lands on a surviving worker and resumes with
``since``.

The parent only supervises: it restarts a worker that dies (backing off when one keeps
dying at start, giving up after ``max_quick_deaths`` in a row), forwards SIGTERM and
SIGINT to the workers, waits for them to drain, and returns; the caller then stops the
bundled Redis, after the last worker is gone. A worker whose parent vanished (killed
with SIGKILL) gets SIGTERM from the kernel at once (``live/lifeline.py``; on Linux) or
notices within ``PARENT_CHECK_S``, and shuts down gracefully.

Fork, not spawn: the parent has imported everything and started no thread or event
loop, so a worker starts in milliseconds, shares the imported code's pages, and builds
its own app, Redis clients and event loop after the fork.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from live.lifeline import die_with_parent

PARENT_CHECK_S = 1.0  # how often a worker checks that its supervisor is still alive

WorkerMain = Callable[[int], int]  # runs in the child with the worker's index; returns the exit code


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """When and how often a dead worker is started again."""

    quick_s: float = 5.0  # a worker that dies sooner than this after its start "died quickly"
    max_quick_deaths: int = 5  # quick deaths in a row of one slot before the parent gives up; 0 = never
    backoff_first_s: float = 0.2  # delay before restarting after a quick death; doubles each time
    backoff_max_s: float = 5.0
    stop_timeout_s: float = 10.0  # after SIGTERM, workers still alive this long later get SIGKILL


@dataclass(slots=True)
class _Slot:
    index: int
    pid: int = 0
    started: float = 0.0
    quick_deaths: int = 0
    restart_at: float | None = None  # monotonic time of a pending restart
    exits: list[int] = field(default_factory=list)


def describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(sig).name}"
        return f"killed by signal {sig}"
    return f"exited with code {os.WEXITSTATUS(status)}"


class Supervisor:
    """Fork ``n`` workers running ``worker_main(index)``; keep them running until told to stop."""

    def __init__(
        self,
        n: int,
        worker_main: WorkerMain,
        policy: RestartPolicy | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if n < 1:
            raise ValueError("at least one worker")
        self.n = n
        self._worker_main = worker_main
        self.policy = policy or RestartPolicy()
        self._log = log or (lambda line: print(f"live: {line}", file=sys.stderr, flush=True))
        self.slots = [_Slot(i) for i in range(n)]
        self._stop_signal: int | None = None
        self._failed: str | None = None

    # The parent

    def run(self, on_started: Callable[[], None] | None = None) -> int:
        """Supervise until SIGTERM/SIGINT (returns 0) or a worker keeps crashing (returns 1).

        ``on_started`` runs once every worker has been forked: anything that starts a thread
        in this process must wait until then (a fork copies only the forking thread, and a lock
        another thread holds at that instant stays locked forever in the child).
        """
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for slot in self.slots:
                self._start(slot)
            if on_started is not None:
                on_started()
            while self._stop_signal is None and self._failed is None:
                self._reap()
                self._restart_due()
                time.sleep(0.05)
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self._failed:
            self._log(self._failed)
            return 1
        return 0

    def pids(self) -> list[int]:
        return [slot.pid for slot in self.slots if slot.pid]

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if self._stop_signal is None:
            self._stop_signal = sig
            self._signal_all(signal.SIGTERM)
        elif sig == signal.SIGINT:
            # A second Ctrl-C: do not wait for connections to drain.
            self._signal_all(signal.SIGINT)

    def _signal_all(self, sig: int) -> None:
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def _start(self, slot: _Slot) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the parent's code
            code = 1
            try:
                # SIGTERM (a graceful drain) the moment the supervisor dies, even by SIGKILL.
                die_with_parent(parent, signal.SIGTERM)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                os.environ["LIVE_WORKER"] = str(slot.index)
                os.environ["LIVE_SUPERVISOR_PID"] = str(parent)
                code = self._worker_main(slot.index)
            except KeyboardInterrupt:
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        slot.pid = pid
        slot.started = time.monotonic()
        slot.restart_at = None
        self._log(f"worker {slot.index} started (pid {pid})")

    def _reap(self) -> None:
        # Only our workers' pids: waiting on -1 would also reap the bundled redis-server behind its Popen.
        for slot in self.slots:
            if not slot.pid:
                continue
            try:
                pid, status = os.waitpid(slot.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = slot.pid, 0
            if pid:
                self._died(slot, status)

    def _died(self, slot: _Slot, status: int) -> None:
        lived = time.monotonic() - slot.started
        slot.pid = 0
        slot.exits.append(status)
        if self._stop_signal is not None:
            return
        p = self.policy
        slot.quick_deaths = slot.quick_deaths + 1 if lived < p.quick_s else 0
        if p.max_quick_deaths and slot.quick_deaths >= p.max_quick_deaths:
            self._failed = (
                f"worker {slot.index} {describe_status(status)} {slot.quick_deaths} times in a row "
                f"within {p.quick_s:.0f} s of starting; giving up (see its output above)"
            )
            return
        delay = 0.0
        if slot.quick_deaths:
            delay = min(p.backoff_first_s * 2 ** (slot.quick_deaths - 1), p.backoff_max_s)
        self._log(
            f"worker {slot.index} {describe_status(status)} after {lived:.1f} s; restarting in {delay:.1f} s"
        )
        slot.restart_at = time.monotonic() + delay

    def _restart_due(self) -> None:
        now = time.monotonic()
        for slot in self.slots:
            if slot.pid == 0 and slot.restart_at is not None and now >= slot.restart_at:
                self._start(slot)

    def _stop_all(self) -> None:
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + self.policy.stop_timeout_s
        while self.pids():
            if time.monotonic() >= deadline:
                self._signal_all(signal.SIGKILL)
                deadline = float("inf")
            for slot in self.slots:
                if not slot.pid:
                    continue
                try:
                    pid, status = os.waitpid(slot.pid, os.WNOHANG)
                except ChildProcessError:
                    slot.pid = 0
                    continue
                if pid:
                    slot.pid = 0
                    slot.exits.append(status)
            time.sleep(0.05)


# A worker


async def watch_parent(parent_pid: int, server: Any, interval_s: float = PARENT_CHECK_S) -> None:
    """Shut the worker down gracefully once its supervisor is gone (it was killed with SIGKILL)."""
    while os.getppid() == parent_pid:  # noqa: ASYNC110 (a kernel fact: nothing to wait on but time)
        await asyncio.sleep(interval_s)
    server.should_exit = True


def run_uvicorn_worker(server: Any, sock: Any, parent_pid: int) -> int:
    """Run a ``uvicorn.Server`` on the inherited socket, next to the parent watchdog."""
    from uvicorn._compat import asyncio_run

    async def main() -> None:
        watchdog = asyncio.create_task(watch_parent(parent_pid, server), name="watch-parent")
        try:
            await server.serve(sockets=[sock])
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

    asyncio_run(main(), loop_factory=server.config.get_loop_factory())
    return 0 if server.started else 3
