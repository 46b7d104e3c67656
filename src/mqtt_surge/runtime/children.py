"""Child processes that die with their owner, however the owner ends.

A broker or probe child outliving its owner keeps its port and its CPU: a CI timeout, an xdist
worker crash or a second Ctrl-C SIGKILLs the owner, which then never runs its own stop. On Linux the
kernel can signal a child when its parent dies (``PR_SET_PDEATHSIG``). That "parent" is the thread
that forked, not the process, so every child is forked from one thread that lives as long as the
process does: a broker started from a short-lived thread must not die with that thread.
Elsewhere ``popen`` is plain ``subprocess.Popen``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

R = TypeVar("R")
_PR_SET_PDEATHSIG = 1
_requests: queue.Queue[tuple[Callable[[], Any], queue.Queue[tuple[bool, Any]]]] = queue.Queue()
_spawner: threading.Thread | None = None
_spawner_lock = threading.Lock()


def _prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()  # looked up before any fork: the child only calls it


def _die_with(owner: int, sig: int) -> Callable[[], None]:
    def in_child() -> None:  # runs between fork and exec: no locks, no imports
        if _PRCTL(_PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
            return
        if os.getppid() != owner:  # the owner died before the line above took effect
            os._exit(1)

    return in_child


def _serve() -> None:
    while True:
        work, reply = _requests.get()
        try:
            reply.put((True, work()))
        except BaseException as exc:
            reply.put((False, exc))


def _on_spawner(work: Callable[[], R]) -> R:
    global _spawner  # noqa: PLW0603 - one spawner thread per process, started on first use
    with _spawner_lock:
        if _spawner is None or not _spawner.is_alive():
            _spawner = threading.Thread(target=_serve, name="mqtt-surge-spawner", daemon=True)
            _spawner.start()
    reply: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)
    _requests.put((work, reply))
    ok, value = reply.get()
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]  # what work() returned


def popen(
    args: list[str], *, death_signal: int = signal.SIGTERM, **kwargs: Any
) -> subprocess.Popen[Any]:
    """``subprocess.Popen(args, **kwargs)``; on Linux the child gets ``death_signal`` as soon as
    this process ends, whatever ended it (SIGKILL included)."""
    if _PRCTL is None:
        return subprocess.Popen(args, **kwargs)  # noqa: S603 - callers pass their own commands
    in_child = _die_with(os.getpid(), death_signal)
    return _on_spawner(
        lambda: subprocess.Popen(args, preexec_fn=in_child, **kwargs)  # noqa: S603, PLW1509
    )
