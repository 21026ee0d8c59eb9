"""The modes: one ``run_<mode>(ctx)`` function each, and ``MODES`` mapping mode names to them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ..cluster import Cluster
from ..config import Config
from ..wait import Progress


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
