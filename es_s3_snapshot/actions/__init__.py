"""The modes: one ``run_<mode>(ctx)`` function each; ``get_mode`` maps a mode name to it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from ..cluster import Cluster
from ..config import Config
from ..wait import Progress, wait_until

T = TypeVar("T")


@dataclass
class Context:
    """What an action works with; tests pass fakes for the cluster, the clock and the sleep."""

    config: Config
    cluster: Cluster
    wait: bool = True
    echo: Callable[[str], None] = print
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = field(default=None)  # type: ignore[assignment]
    now: Callable[[], datetime] = datetime.now
    progress: Callable[[str], Progress] = field(default=None)  # type: ignore[assignment]

    def wait_for(self, check: Callable[[], T | None], *, timeout_message: str, max_wait: float | None = None) -> T:
        """``wait_until`` with this run's poll interval, clock and sleep (max_wait: [wait] max_wait)."""
        return wait_until(
            check,
            interval=self.config.wait.poll_interval,
            max_wait=self.config.wait.max_wait if max_wait is None else max_wait,
            clock=self.clock,
            sleep=self.sleep,
            timeout_message=timeout_message,
        )

    def __post_init__(self) -> None:
        if self.sleep is None:
            self.sleep = time.sleep  # looked up now, not at import, so tests can guard it
        if self.progress is None:
            interval = self.config.wait.progress_interval
            self.progress = lambda label: Progress(label, interval=interval, clock=self.clock)


# The side each mode works on.
SIDE = {"backup": "source", "restore": "destination"}


def get_mode(name: str):
    """The run function for a mode name (imported lazily so that --help stays fast)."""
    if name == "backup":
        from .backup import run_backup

        return run_backup
    from .restore import run_restore

    return run_restore
