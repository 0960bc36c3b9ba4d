"""A virtual clock for the live-loop tests: time stands still while any loop
thread works and jumps to the next deadline when every one of them waits.

Tests then assert on exact clock times (an output frame every 1/30 s while
the camera is gone) instead of wall-clock durations, and a 10-second stall
runs in milliseconds.
"""

from __future__ import annotations

import math
import threading
from contextlib import contextmanager
from typing import Callable, Iterator


class VirtualClock:
    def __init__(self, start_s: float = 1000.0) -> None:
        self._t_ns = int(start_s * 1e9)
        self._cond = threading.Condition()
        self._participants: set[int] = set()
        self._waiting: dict[int, int | None] = {}  # thread -> deadline (ns) it waits for

    def now_ns(self) -> int:
        return self._t_ns

    def now(self) -> float:
        return self._t_ns / 1e9

    @contextmanager
    def participant(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            self._participants.add(me)
        try:
            yield
        finally:
            with self._cond:
                self._participants.discard(me)
                self._waiting.pop(me, None)
                self._advance_if_idle()
                self._cond.notify_all()

    def notify(self) -> None:
        with self._cond:
            # everyone re-checks their predicate before time may move again
            self._waiting.clear()
            self._cond.notify_all()

    def sleep(self, seconds: float) -> None:
        self.wait_for(lambda: False, seconds)

    def wait_for(self, predicate: Callable[[], bool], timeout: float | None) -> bool:
        me = threading.get_ident()
        with self._cond:
            # rounded up: a positive wait always lets time move on
            deadline = None if timeout is None else self._t_ns + max(0, math.ceil(timeout * 1e9))
            while True:
                if predicate():
                    self._waiting.pop(me, None)
                    return True
                if deadline is not None and self._t_ns >= deadline:
                    self._waiting.pop(me, None)
                    return False
                if me in self._participants:
                    self._waiting[me] = deadline
                    self._advance_if_idle()
                    if deadline is not None and self._t_ns >= deadline:
                        continue
                # a short real timeout: a waiter that is not a participant
                # (the test's own thread) re-checks now and then
                self._cond.wait(0.01)

    def _advance_if_idle(self) -> None:
        if not self._participants or set(self._waiting) != self._participants:
            return
        deadlines = [d for d in self._waiting.values() if d is not None]
        if not deadlines:
            return
        self._t_ns = max(self._t_ns, min(deadlines))
        self._waiting.clear()
        self._cond.notify_all()
