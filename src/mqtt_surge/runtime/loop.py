"""An asyncio event loop on a thread of its own, closed without leaving tasks or sockets behind."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

R = TypeVar("R")


class LoopThread:
    """Runs a fresh event loop in a daemon thread until :meth:`stop`."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._thread: threading.Thread | None = None
        self._sweep: Callable[[], None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def start(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()
        self.loop = loop
        self._thread = threading.Thread(
            target=self._run, args=(loop,), name=self._name, daemon=True
        )
        self._thread.start()
        return loop

    def run(self, coro: Coroutine[Any, Any, R], timeout: float | None) -> R:
        """Run ``coro`` on the loop and wait for its result (``TimeoutError`` after ``timeout``)."""
        assert self.loop is not None
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            _close(loop, self._sweep)

    def stop(self, timeout: float, sweep: Callable[[], None] | None = None) -> bool:
        """Stop the loop, cancel what is left on it, close it; True if the thread ended in time.

        ``sweep`` runs on the loop thread before each round of cancellation (e.g. to abort
        sockets that tasks created while the loop was stopping).
        """
        loop, thread = self.loop, self._thread
        if loop is None or thread is None:
            return True
        self._sweep = sweep
        with contextlib.suppress(RuntimeError):  # the loop closed on its own already
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self.loop = self._thread = None
        return not thread.is_alive()


def _close(loop: asyncio.AbstractEventLoop, sweep: Callable[[], None] | None) -> None:
    try:
        # tasks can start others as they are cancelled: repeat until a pass finds none left
        while True:
            if sweep is not None:
                sweep()
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            if not pending:
                break
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
