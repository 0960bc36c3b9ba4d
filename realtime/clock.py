"""The loop's clock: time stamps and every wait of the live loop go through it.

The loop's threads never sleep on their own: they wait on one condition for
"something changed or this much time passed". :class:`SystemClock` is real
time (``perf_counter``); tests inject a virtual clock (``tests/support``)
that jumps forward whenever every loop thread is waiting, so a 10-second camera
stall takes a few milliseconds and timings are exact, never wall-clock.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable, ContextManager, Iterator, Protocol


class Clock(Protocol):
    """What the loop needs from time."""

    def now_ns(self) -> int: ...

    def wait_for(self, predicate: Callable[[], bool], timeout: float | None) -> bool:
        """Block until ``predicate()`` is true (True) or ``timeout`` seconds
        passed (False); re-checked after every :meth:`notify`."""
        ...

    def notify(self) -> None:
        """Something a waiter may be waiting for changed."""
        ...

    def participant(self) -> ContextManager[None]:
        """Wraps the body of each thread that waits on this clock."""
        ...


class SystemClock:
    """Real time. One condition for the whole loop: a put, a stop or a fatal
    error wakes exactly the waiters whose predicate it satisfies."""

    def __init__(self) -> None:
        self._cond = threading.Condition()

    def now_ns(self) -> int:
        return time.perf_counter_ns()

    def wait_for(self, predicate: Callable[[], bool], timeout: float | None) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    @contextmanager
    def participant(self) -> Iterator[None]:
        """Marks a thread that waits on this clock (used by virtual clocks)."""
        yield

