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

try:
    import resource
except ImportError:  # not on Windows: no limit to raise there
    resource = None  # type: ignore[assignment]

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


def raise_open_files() -> tuple[int, int]:
    """Raise this process's soft limit on open files to its hard limit (a broker or a Locust
    process holding thousands of connections needs a descriptor each; soft limits are often
    1,024 where the hard one is far higher). ``(before, after)``; unchanged where the system
    refuses or has no such limit."""
    if resource is None:
        return (0, 0)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard in (resource.RLIM_INFINITY, soft):
        return (soft, soft)  # unlimited hard limits are refused as soft ones on some systems
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (OSError, ValueError):
        return (soft, soft)
    return (soft, hard)


def _die_with(owner: int, sig: int, open_files: bool) -> Callable[[], None]:
    def in_child() -> None:  # runs between fork and exec: no locks, no imports
        if open_files:
            raise_open_files()
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
    args: list[str],
    *,
    death_signal: int = signal.SIGTERM,
    open_files: bool = False,
    **kwargs: Any,
) -> subprocess.Popen[Any]:
    """``subprocess.Popen(args, **kwargs)``; on Linux the child gets ``death_signal`` as soon as
    this process ends, whatever ended it (SIGKILL included). ``open_files``: the child's soft
    limit on open files raised to its hard limit (:func:`raise_open_files`)."""
    if _PRCTL is None:
        preexec = raise_open_files if open_files else None
        return subprocess.Popen(args, preexec_fn=preexec, **kwargs)  # noqa: S603, PLW1509
    in_child = _die_with(os.getpid(), death_signal, open_files)
    return _on_spawner(
        lambda: subprocess.Popen(args, preexec_fn=in_child, **kwargs)  # noqa: S603, PLW1509
    )
