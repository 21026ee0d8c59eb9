"""Waiting for an operation in the cluster, and telling the user how far it got.

``wait_until`` polls a check function until it returns something other than None, with the clock
and the sleep passed in so that tests never really sleep. ``Progress`` draws a bar on a terminal
and logs one line per interval otherwise (cron, files).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO, TypeVar

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


Pause = Callable[[threading.Event, float], bool]


def real_pause(event: threading.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``event``; True as soon as it is set (a signal still interrupts)."""
    return event.wait(seconds)


class Background:
    """One call run in a daemon thread, so that the caller can wait for it with a deadline, show
    progress meanwhile, and still be interrupted by Ctrl-C or SIGTERM."""

    def __init__(self, call: Callable[[], Any]):
        self.done = threading.Event()
        self._call = call
        self._value: Any = None
        self._error: BaseException | None = None
        threading.Thread(target=self._run, name="es-s3-snapshot-call", daemon=True).start()

    def _run(self) -> None:
        try:
            self._value = self._call()
        except BaseException as err:  # handed to the waiting thread by result()
            self._error = err
        finally:
            self.done.set()

    def result(self) -> Any:
        """The call's return value; raises what the call raised."""
        if self._error is not None:
            raise self._error
        return self._value


def joined(call: Background, pause: Pause = real_pause) -> Any:
    """The result of a background call that its own request timeout bounds (Ctrl-C still interrupts)."""
    while not pause(call.done, 1.0):
        pass
    return call.result()


def wait_for_call(
    call: Background,
    *,
    poll: Callable[[], None],
    interval: float,
    max_wait: float,
    timeout_message: str,
    clock: Callable[[], float] = time.monotonic,
    pause: Pause = real_pause,
    first_poll: float | None = None,
) -> Any:
    """Wait until ``call`` finishes and return its result, noticing the end at once.

    Meanwhile ``poll()`` runs every ``interval`` seconds (the first time after ``first_poll``
    seconds when given). Raises WaitTimeout(timeout_message) when ``max_wait`` passes first, and
    whatever the call raised.
    """
    deadline = clock() + max_wait
    step = interval if first_poll is None else first_poll
    while True:
        left = deadline - clock()
        if pause(call.done, max(0.0, min(step, left))):
            return call.result()
        if clock() >= deadline:
            raise WaitTimeout(timeout_message)
        poll()
        step = interval


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 index', '2 indices', '0 shards'."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def rate(count: float, seconds: float) -> str:
    """Throughput in MB/s (10^6 bytes, as disks and networks are rated)."""
    return f"{count / seconds / 1e6:.1f} MB/s" if seconds > 0 else "n/a MB/s"


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

    @property
    def every(self) -> float:
        """How often progress is worth asking for: about once a second on a terminal, else the log interval."""
        return 1.0 if self.is_tty else self.interval

    def update(self, done_bytes: int, total_bytes: int, done_shards: int, total_shards: int, state: str = "") -> None:
        """Show what is known: bytes only once the engine knows the total, shards once it counts them."""
        fraction = done_bytes / total_bytes if total_bytes else (done_shards / total_shards if total_shards else 0.0)
        fraction = max(0.0, min(1.0, fraction))
        parts = []
        if total_bytes:
            parts.append(f"{human_bytes(done_bytes)} of {human_bytes(total_bytes)}")
        if total_shards:
            parts.append(f"shards {done_shards}/{total_shards}")
        if total_shards and done_shards >= total_shards and state not in ("", "SUCCESS", "FAILED", "PARTIAL"):
            state = "finalising"
        if not parts:
            state = state or "starting"
        text = ", ".join(parts + ([state.lower() if state.isupper() else state] if state else []))
        if self.is_tty:
            filled = int(fraction * self.WIDTH)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            shown = f"[{bar}] {fraction * 100:5.1f}% {text}" if parts else text  # no bar for unknown totals
            self.stream.write(f"\r{self.label} {shown}\033[K")
            self.stream.flush()
            self._drawn = True
            return
        now = self.clock()
        if self._last_logged is None or now - self._last_logged >= self.interval:
            self._last_logged = now
            if parts:
                logger.info("%s: %.1f%% (%s)", self.label, fraction * 100, text)
            else:
                logger.info("%s: %s", self.label, text)

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
