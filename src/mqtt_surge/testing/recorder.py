"""Recorders: callbacks that record what arrives and let a test wait for it, on a signal."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from ..subscriber._message import Message
from ..subscriber._observed import ignore
from ..subscriber._options import ErrorHook
from ..subscriber._subscriber import Subscriber, is_async_callable


class Recorder:
    """A callback that records messages, runs an optional inner callback, and lets you wait.

    ``Subscriber(..., callback=recorder)``; then ``recorder.wait_for(3)`` returns the first three
    messages or raises ``AssertionError`` listing what did arrive. Exceptions raised by the inner
    callback are recorded in ``errors`` and re-raised (so the subscriber counts them as failed).
    Use :func:`recorder_for` to get an :class:`AsyncRecorder` for an ``async def`` callback.
    """

    def __init__(
        self, callback: Callable[[Message], Any] | None = None, *, record_errors: bool = True
    ) -> None:
        self._callback = callback
        # False: a failed message is recorded by failed(), which the subscriber calls once it
        # has counted and logged the failure, so a test that waits for it sees all of that done
        self._record_errors = record_errors
        self._cond = threading.Condition()
        self._messages: list[Message] = []
        self.errors: list[BaseException] = []

    def __call__(self, message: Message) -> Any:
        try:
            result = self._callback(message) if self._callback is not None else None
        except BaseException as exc:
            if self._record_errors:
                self._record(message, exc)
            raise
        self._record(message, None)
        return result

    def failed(self, error: BaseException, message: Message) -> None:
        """An ``on_error`` hook: records a message whose callback raised."""
        self._record(message, error)

    def _record(self, message: Message, error: BaseException | None) -> None:
        with self._cond:
            if error is not None:
                self.errors.append(error)
            self._messages.append(message)
            self._cond.notify_all()

    @property
    def messages(self) -> list[Message]:
        with self._cond:
            return list(self._messages)

    def clear(self) -> None:
        with self._cond:
            self._messages.clear()
            self.errors.clear()

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[Message]:
        """Wait until ``count`` messages were recorded; return the first ``count``."""
        __tracebackhide__ = True
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._messages) >= count, timeout):
                raise AssertionError(
                    f"expected {count} message(s) within {timeout:g}s, got "
                    f"{len(self._messages)}: {_describe(self._messages)}"
                )
            return self._messages[:count]

    def wait_until(
        self, predicate: Callable[[list[Message]], bool], timeout: float = 5.0
    ) -> list[Message]:
        """Wait until ``predicate(messages)`` is true; return the messages then."""
        __tracebackhide__ = True
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self._messages), timeout):
                raise AssertionError(
                    f"condition not met within {timeout:g}s; got {len(self._messages)} "
                    f"message(s): {_describe(self._messages)}"
                )
            return list(self._messages)

    async def async_wait_for(self, count: int = 1, timeout: float = 5.0) -> list[Message]:
        """:meth:`wait_for` for async tests: the event loop (and async callbacks) keep running."""
        return await asyncio.to_thread(self.wait_for, count, timeout)

    async def async_wait_until(
        self, predicate: Callable[[list[Message]], bool], timeout: float = 5.0
    ) -> list[Message]:
        return await asyncio.to_thread(self.wait_until, predicate, timeout)


class AsyncRecorder(Recorder):
    """A :class:`Recorder` around an ``async def`` callback; it is a coroutine function itself,
    so a subscriber runs it on its event loop."""

    async def __call__(self, message: Message) -> Any:
        try:
            result = await self._callback(message) if self._callback is not None else None
        except BaseException as exc:
            if self._record_errors:
                self._record(message, exc)
            raise
        self._record(message, None)
        return result


def recorder_for(
    callback: Callable[[Message], Any] | None = None, *, record_errors: bool = True
) -> Recorder:
    """A recorder of the right kind for ``callback`` (async for an ``async def`` one)."""
    kind = AsyncRecorder if is_async_callable(callback) else Recorder
    return kind(callback, record_errors=record_errors)


class RecordingSubscriber(Subscriber):
    """A :class:`Subscriber` whose callback is wrapped by a recorder (the callback still runs).

    ``sub.messages``, ``sub.wait_for(count, timeout)``, ``sub.wait_until(predicate, timeout)``,
    ``sub.errors``; ``async_wait_for`` / ``async_wait_until`` in async tests.

    With ``processes=N`` the callback runs in the child processes (so it must be importable by
    name or picklable) and the recorder, here, records what they processed and what it raised.
    """

    def __init__(
        self,
        broker: Any = "localhost",
        topic: Any = None,
        callback: Callable[[Message], Any] | None = None,
        **options: Any,
    ) -> None:
        processes = options.get("processes", 1)
        if isinstance(processes, int) and processes > 1:
            self.recorder = Recorder()
            callback = ignore if callback is None else callback
            super().__init__(broker, topic, callback, observer=self._observe, **options)
        else:
            self.recorder = recorder_for(callback, record_errors=False)
            hook = options.get("on_error")
            if hook is None or callable(hook):  # else the options refuse it, naming it
                options["on_error"] = _both(self.recorder.failed, hook)
            super().__init__(broker, topic, self.recorder, **options)

    def _observe(self, message: Message, started: float, error: BaseException | None) -> None:
        self.recorder._record(message, error)  # noqa: SLF001 - the recorder this class owns

    @property
    def messages(self) -> list[Message]:
        return self.recorder.messages

    @property
    def errors(self) -> list[BaseException]:
        return list(self.recorder.errors)

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[Message]:
        __tracebackhide__ = True
        return self.recorder.wait_for(count, timeout)

    def wait_until(
        self, predicate: Callable[[list[Message]], bool], timeout: float = 5.0
    ) -> list[Message]:
        __tracebackhide__ = True
        return self.recorder.wait_until(predicate, timeout)

    async def async_wait_for(self, count: int = 1, timeout: float = 5.0) -> list[Message]:
        return await self.recorder.async_wait_for(count, timeout)

    async def async_wait_until(
        self, predicate: Callable[[list[Message]], bool], timeout: float = 5.0
    ) -> list[Message]:
        return await self.recorder.async_wait_until(predicate, timeout)


def _both(first: ErrorHook, then: ErrorHook | None) -> ErrorHook:
    if then is None:
        return first

    def hook(error: BaseException, message: Message) -> None:
        first(error, message)
        then(error, message)

    return hook


def _describe(messages: list[Message], limit: int = 10) -> str:
    shown = ", ".join(f"{m.topic}={m.payload[:40]!r}" for m in messages[:limit])
    more = f" ... and {len(messages) - limit} more" if len(messages) > limit else ""
    return f"[{shown}{more}]"
