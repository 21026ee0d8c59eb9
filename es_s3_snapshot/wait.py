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


def eta(seconds: float) -> str:
    """'45s', '3m05s', '2h07m': how long is left, as rsync and pv show it."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{secs:02d}s"


class Progress:
    """How far a long operation got, for every mode (backup, restore, sync, scrub): a bar redrawn
    at most every ``REDRAW`` seconds on a terminal, else one log line per ``interval``.

    Feed it with ``update(done_bytes, total_bytes, done_items, total_items, state)`` as often as
    convenient, from any thread: it decides when to show. Any total may be 0 (not known yet): the
    bar follows bytes when their total is known, else items. Once bytes move it adds the rate
    (MB/s over the last ``WINDOW`` seconds on a terminal, since the last log line otherwise) and,
    with a byte total, the time left (ETA). Without a byte total, bytes that move still show with
    their rate, and the time left is reckoned from the items done since the first update.
    ``items`` names what is counted ("shards", "objects").
    ``close()`` ends the terminal line.
    """

    WIDTH = 30
    REDRAW = 0.2  # seconds between redraws on a terminal
    WINDOW = 10.0  # seconds of history behind the rate on a terminal

    def __init__(
        self,
        label: str,
        *,
        interval: float,
        stream: TextIO | None = None,
        is_tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        items: str = "shards",
    ):
        self.label = label
        self.interval = interval
        self.items = items
        self.stream = stream or sys.stderr
        self.is_tty = self.stream.isatty() if is_tty is None else is_tty
        self.clock = clock
        self._lock = threading.Lock()
        self._samples: list[tuple[float, int]] = []  # (time, done bytes), oldest first
        self._last_logged: float | None = None
        self._last_drawn: float | None = None
        self._drawn = False
        self._began: float | None = None  # the first update: the time left by items is reckoned from it

    @property
    def every(self) -> float:
        """How often progress is worth asking for: about once a second on a terminal, else the log interval."""
        return 1.0 if self.is_tty else self.interval

    def update(self, done_bytes: int, total_bytes: int, done_items: int, total_items: int, state: str = "") -> None:
        """Show what is known: bytes only once their total is known, items once they are counted."""
        with self._lock:
            now = self.clock()
            if self._began is None:
                self._began = now
            finished = (total_bytes and done_bytes >= total_bytes) or (total_items and done_items >= total_items)
            if self.is_tty:
                due = self._last_drawn is None or now - self._last_drawn >= self.REDRAW or finished
            else:
                due = self._last_logged is None or now - self._last_logged >= self.interval
            self._remember(now, done_bytes)
            if not due:
                return
            text, fraction, known = self._text(now, done_bytes, total_bytes, done_items, total_items, state)
            if self.is_tty:
                self._last_drawn = now
                filled = int(fraction * self.WIDTH)
                bar = "#" * filled + "." * (self.WIDTH - filled)
                shown = f"[{bar}] {fraction * 100:5.1f}% {text}" if known else text  # no bar for unknown totals
                self.stream.write(f"\r{self.label} {shown}\033[K")
                self.stream.flush()
                self._drawn = True
                return
            self._last_logged = now
            self._samples = self._samples[-1:]  # the next line's rate covers its own interval
            if known:
                logger.info("%s: %.1f%% (%s)", self.label, fraction * 100, text)
            else:
                logger.info("%s: %s", self.label, text)

    def _remember(self, now: float, done_bytes: int) -> None:
        samples = self._samples
        if samples and done_bytes < samples[-1][1]:
            samples.clear()  # a new count began (the engine restarted its figures)
        samples.append((now, done_bytes))
        if self.is_tty:
            while len(samples) > 2 and now - samples[1][0] >= self.WINDOW:
                samples.pop(0)
        elif len(samples) > 64:
            del samples[1:-32]  # keep the oldest (the last log line) and the newest

    def rate(self) -> float | None:
        """Bytes per second over the remembered window, or None before two samples a moment apart."""
        if len(self._samples) < 2:
            return None
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else None

    def _text(self, now, done_bytes, total_bytes, done_items, total_items, state) -> tuple[str, float, bool]:
        if total_bytes:
            fraction = done_bytes / total_bytes
        else:
            fraction = done_items / total_items if total_items else 0.0
        fraction = max(0.0, min(1.0, fraction))
        parts = []
        if total_bytes:
            parts.append(f"{human_bytes(done_bytes)} of {human_bytes(total_bytes)}")
            speed = self.rate()
            if speed is not None:
                parts.append(f"{speed / 1e6:.1f} MB/s")
                if done_bytes < total_bytes and speed > 0:
                    parts.append(f"ETA {eta((total_bytes - done_bytes) / speed)}")
        elif done_bytes:  # bytes move towards a total not known (scrub learns sizes as it goes)
            parts.append(f"{human_bytes(done_bytes)} read")
            speed = self.rate()
            if speed is not None:
                parts.append(f"{speed / 1e6:.1f} MB/s")
        if total_items:
            parts.append(f"{self.items} {done_items}/{total_items}")
            if not total_bytes and 0 < done_items < total_items and self._began is not None and now > self._began:
                parts.append(f"ETA {eta((now - self._began) * (total_items - done_items) / done_items)}")
        known = bool(parts)
        if total_items and done_items >= total_items and state not in ("", "SUCCESS", "FAILED", "PARTIAL"):
            state = "finalising"
        if not known:
            state = state or "starting"
        text = ", ".join(parts + ([state.lower() if state.isupper() else state] if state else []))
        return text, fraction, known

    def close(self) -> None:
        with self._lock:
            if self._drawn:
                self.stream.write("\n")
                self.stream.flush()
                self._drawn = False
