"""The small queues between the live loop's threads, each with a named drop policy.

Latency beats completeness in a live loop: most queues keep only the newest
items and count what they drop. All waiting goes through the loop's
:class:`~vivicam.realtime.clock.Clock`, so a stop wakes every waiter at once
and tests run on a virtual clock.
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from typing import Any, Callable

from vivicam.realtime.clock import Clock, SystemClock


class DropPolicy(enum.Enum):
    """What a full queue does with a new item."""

    NEWEST_WINS = "newest wins"  # the oldest waiting item is dropped (and counted)
    KEEP_ALL = "keep all"  # unbounded: nothing is dropped (control messages)


class Empty(Exception):
    """Nothing arrived in time (or the loop is stopping)."""


class End:
    """End-of-stream marker passed down the queues."""

    def __repr__(self) -> str:
        return "END"


END = End()


class FrameQueue:
    """A queue between two loop threads; ``put`` never blocks.

    ``get(timeout)`` returns the oldest waiting item, or raises :class:`Empty`
    after ``timeout`` seconds or as soon as ``interrupted()`` is true (the
    loop is stopping). ``on_drop`` is told about every item dropped.
    """

    def __init__(self, name: str, maxsize: int, policy: DropPolicy = DropPolicy.NEWEST_WINS, *,
                 clock: Clock | None = None, on_drop: Callable[[], None] | None = None,
                 interrupted: Callable[[], bool] = lambda: False) -> None:
        if policy is DropPolicy.NEWEST_WINS and maxsize < 1:
            raise ValueError(f"queue {name}: a newest-wins queue needs room for one item")
        self.name, self.maxsize, self.policy = name, maxsize, policy
        self.clock = clock or SystemClock()
        self._items: deque[Any] = deque()
        self._lock = threading.Lock()
        self._on_drop = on_drop
        self._interrupted = interrupted
        self.dropped = 0

    def put(self, item: Any) -> None:
        dropped = 0
        with self._lock:
            if self.policy is DropPolicy.NEWEST_WINS:
                while len(self._items) >= self.maxsize:
                    self._items.popleft()
                    dropped += 1
            self._items.append(item)
            self.dropped += dropped
        for _ in range(dropped):
            if self._on_drop is not None:
                self._on_drop()
        self.clock.notify()

    def put_end(self) -> None:
        """The end marker, behind every real item (never evicting the newest)."""
        with self._lock:
            self._items.append(END)
        self.clock.notify()

    def get(self, timeout: float | None, on_take: Callable[[Any], None] | None = None) -> Any:
        """The oldest item; ``on_take(item)`` runs as it leaves the queue (under
        its lock: whoever looks at the queue sees both or neither)."""
        if not self.clock.wait_for(lambda: bool(self._items) or self._interrupted(), timeout):
            raise Empty
        with self._lock:
            if not self._items:
                raise Empty
            item = self._items.popleft()
            if on_take is not None:
                on_take(item)
            return item

    def get_nowait(self) -> Any:
        with self._lock:
            if not self._items:
                raise Empty
            return self._items.popleft()

    def qsize(self) -> int:
        with self._lock:
            return len(self._items)
