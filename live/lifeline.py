"""Child processes that die with their parent, even when the parent is killed with SIGKILL.

Linux delivers a chosen signal to a child when its parent dies (``prctl(PR_SET_PDEATHSIG)``),
set in the child between fork and exec. "Parent" means the *thread* that forked: a child
started from a thread that later ends is signalled at that moment, so a helper process must
be started from the main thread, or from a thread that lives as long as the child does.
Elsewhere (not Linux) this is a no-op and the parent's own cleanup is all there is.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent_pid: int, sig: int = signal.SIGTERM) -> None:
    """In a freshly forked child of ``parent_pid``: receive ``sig`` when that parent (thread) dies."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return  # not fatal: the parent's own cleanup still stops the child
    if os.getppid() != parent_pid:  # the parent died before the prctl took effect
        os.kill(os.getpid(), sig)


def preexec_die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A ``subprocess.Popen(preexec_fn=...)`` that ties the child's life to this process's."""

    parent_pid = os.getpid()  # taken before the fork: the child compares it with its getppid()

    def preexec() -> None:
        die_with_parent(parent_pid, sig)

    return preexec
