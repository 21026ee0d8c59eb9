"""Waiting for an operation in the cluster, and telling the user how far it got.

``wait_until`` polls a check function until it returns something other than None, with the clock
and the sleep passed in so that tests never really sleep. ``Progress`` draws a bar on a terminal
and logs one line per interval otherwise (cron, files).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TextIO, TypeVar

from .errors import WaitTimeout

logger = logging.getLogger(__name__)

T = TypeVar("T")


def wait_until(
    check: Callable[[], T | None],
    *,
    interval: float,
    max_wait: float,
    timeout_message: str,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``check`` every ``interval`` seconds until it returns a value, and return that value.

    Raises WaitTimeout(timeout_message) when ``max_wait`` seconds pass first.
    """
    deadline = clock() + max_wait
    while True:
        result = check()
        if result is not None:
            return result
        left = deadline - clock()
        if left <= 0:
            raise WaitTimeout(timeout_message)
        sleep(min(interval, left))


def human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"


class Progress:
    """Reports bytes and shards done of an operation: a redrawn bar on a terminal, else log lines."""

    WIDTH = 30

    def __init__(
        self,
        label: str,
        *,
        interval: float,
        stream: TextIO | None = None,
        is_tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.label = label
        self.interval = interval
        self.stream = stream or sys.stderr
        self.is_tty = self.stream.isatty() if is_tty is None else is_tty
        self.clock = clock
        self._last_logged: float | None = None
        self._drawn = False

    def update(self, done_bytes: int, total_bytes: int, done_shards: int, total_shards: int, state: str = "") -> None:
        fraction = done_bytes / total_bytes if total_bytes else (done_shards / total_shards if total_shards else 0.0)
        fraction = max(0.0, min(1.0, fraction))
        text = f"{human_bytes(done_bytes)} of {human_bytes(total_bytes)}, shards {done_shards}/{total_shards}" + (
            f", {state}" if state else ""
        )
        if self.is_tty:
            filled = int(fraction * self.WIDTH)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            self.stream.write(f"\r{self.label} [{bar}] {fraction * 100:5.1f}% {text}\033[K")
            self.stream.flush()
            self._drawn = True
            return
        now = self.clock()
        if self._last_logged is None or now - self._last_logged >= self.interval:
            self._last_logged = now
            logger.info("%s: %.1f%% (%s)", self.label, fraction * 100, text)

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
