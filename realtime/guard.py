"""One guard around every thread of the live loop.

Every exception in the loop ends in one of two places:

- :meth:`LoopGuard.survive` — a bad frame, a failed hotkey, one failed send:
  counted per kind, logged (rate-limited per kind, so an early error never
  hides a later, different one), and the loop goes on;
- :meth:`LoopGuard.fail` — a dead thread, a sink that stays down, an engine
  that keeps failing, a status callback that raises: the loop stops and
  ``LiveLoop.run()`` raises :class:`LoopError` with the reason, which the CLI
  prints on one line with a non-zero exit.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from vivicam.errors import VivicamError
from vivicam.realtime.clock import Clock

log = logging.getLogger(__name__)


class LoopError(VivicamError):
    """The live loop stopped on an error it could not survive.

    ``kind`` names what failed ("sink", "engine", "status callback", "thread");
    ``summary`` holds the loop's summary up to the failure (frames, timings,
    errors per kind) so a caller can still report it.
    """

    exit_code = 1

    def __init__(self, message: str, *, kind: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        if exit_code is not None:
            self.exit_code = exit_code
        self.summary: dict[str, Any] = {}


def describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


@dataclass
class _Kind:
    count: int = 0
    logged: int = 0
    next_log_ns: int = 0
    last: str = ""


@dataclass
class ErrorBook:
    """Errors counted and logged per kind. The first ``burst`` of each kind are
    logged at once; after that at most one line per ``every_s`` (with the
    count so far). Every error is counted, logged or not."""

    clock: Clock
    burst: int = 3
    every_s: float = 5.0
    _kinds: dict[str, _Kind] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, exc: BaseException) -> int:
        """Count one error of ``kind``; returns how many of that kind so far."""
        now = self.clock.now_ns()
        with self._lock:
            k = self._kinds.setdefault(kind, _Kind())
            k.count += 1
            k.last = describe(exc)
            say = k.logged < self.burst or now >= k.next_log_ns
            if say:
                k.logged += 1
                k.next_log_ns = now + int(self.every_s * 1e9)
            count = k.count
        if say:
            more = "" if count <= self.burst else f" ({count} so far)"
            log.warning("%s failed (%s); continuing%s", kind, describe(exc), more)
            log.debug("details", exc_info=exc)
        return count

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {kind: k.count for kind, k in self._kinds.items()}

    def last(self) -> dict[str, str]:
        with self._lock:
            return {kind: k.last for kind, k in self._kinds.items()}


class LoopGuard:
    """The stop flag, the first fatal error and the per-kind error book of one
    loop run. ``on_change`` is told when the loop should stop (the clock's
    waiters wake)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.errors = ErrorBook(clock)
        self._stop = threading.Event()
        self._fatal: LoopError | None = None
        self._lock = threading.Lock()

    # -- stopping ------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()
        self.clock.notify()

    def wait(self, seconds: float) -> bool:
        """Wait ``seconds`` on the loop's clock; True when the loop is stopping."""
        return self.clock.wait_for(self._stop.is_set, max(0.0, seconds))

    # -- errors --------------------------------------------------------------
    def survive(self, kind: str, exc: BaseException) -> int:
        """A recoverable error: counted and logged; returns the count of its kind."""
        return self.errors.add(kind, exc)

    def fail(self, kind: str, reason: str, exc: BaseException | None = None, *,
             exit_code: int | None = None) -> None:
        """An error the loop cannot survive: stop, and carry the reason to run()'s caller.
        The first failure wins; later ones (often consequences) are only counted."""
        if exc is not None:
            self.errors.add(kind, exc)
        with self._lock:
            first = self._fatal is None
            if first:
                error = LoopError(reason, kind=kind, exit_code=exit_code)
                error.__cause__ = exc
                self._fatal = error
        if first:
            log.error("stopping: %s", reason)
        self.stop()

    @property
    def fatal(self) -> LoopError | None:
        return self._fatal

    # -- threads and callbacks -------------------------------------------------
    def thread(self, target: Callable[[], None], name: str) -> threading.Thread:
        """A daemon thread running ``target`` inside the guard: an exception
        that escapes it stops the loop with the thread's name in the reason."""

        ready = threading.Event()

        def body() -> None:
            with self.clock.participant():
                ready.set()
                try:
                    target()
                except BaseException as exc:  # noqa: BLE001 - no thread dies silently
                    self.fail("thread", f"the {name} thread died ({describe(exc)})", exc)

        thread = threading.Thread(target=body, name=f"vivicam-{name}", daemon=True)
        thread.ready = ready  # type: ignore[attr-defined]  # set once it waits on the clock
        return thread

    def start(self, threads: list[threading.Thread]) -> None:
        """Start ``threads`` and return once each takes part in the clock (a
        virtual clock must not move on before every thread can hold it)."""
        for t in threads:
            t.start()
        for t in threads:
            t.ready.wait(5.0)  # type: ignore[attr-defined]

    def callback(self, kind: str, fn: Callable[..., Any]) -> Callable[..., None]:
        """``fn`` wrapped: when it raises (e.g. a BrokenPipeError from a closed
        stdout), the loop stops with that reason instead of a thread dying."""

        def call(*args: Any) -> None:
            try:
                fn(*args)
            except Exception as exc:  # the caller's code: any failure is its reason
                self.fail(kind, f"the {kind} raised {describe(exc)}", exc)

        return call

