"""Waiting for a real condition with a deadline: tests never sleep a fixed time instead."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """The condition did not hold before the deadline (an AssertionError: a test failure)."""


def wait_for(
    cond: Callable[[], T],
    timeout: float,
    what: str,
    *,
    interval: float = 0.05,
    max_interval: float | None = None,
    retry_on: tuple[type[BaseException], ...] = (),
    details: Callable[[], str] | None = None,
) -> T:
    """Call ``cond`` until it returns something true and return that; raise WaitTimeout after ``timeout`` s.

    ``retry_on``: exceptions of ``cond`` that mean "not yet" (a server still starting:
    ``(OSError, ValueError)``); any other exception ends the wait at once, so ``cond`` can fail
    fast on what will never come right (a process that exited). ``max_interval``: the poll
    interval grows by half each time up to this. ``details``: text appended to the timeout's
    message (log tails).
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = cond()
        except retry_on as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            message = f"timed out after {timeout}s waiting for {what} (last: {last!r})"
            raise WaitTimeout(f"{message}\n{details()}" if details else message)
        time.sleep(interval)  # the poll interval, not a wait for the condition
        if max_interval is not None:
            interval = min(interval * 1.5, max_interval)


def wait_until(cond: Callable[[], object], timeout: float, interval: float = 0.02) -> float | None:
    """Poll ``cond`` until it holds; the seconds it took, or None when the deadline passed (no raise)."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        if cond():
            return time.monotonic() - start
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)  # the poll interval
