"""The modes: one ``run_<mode>(ctx)`` function each, in ``actions/<mode>.py``; ``get_mode`` finds it."""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from ..config import Config
from ..modes import MODES, SIDE, TWO_SIDED  # noqa: F401  (the modes by name, kept in a module --help can afford)
from ..wait import Background, Pause, Progress, real_pause, wait_for_call, wait_until

if TYPE_CHECKING:  # the cluster module imports the HTTP stack, which --help must not pay for
    from ..cluster import Cluster

T = TypeVar("T")


@dataclass
class RunResult:
    """What a run did, filled in by the action, for the run reports ([report])."""

    snapshot: str | None = None
    indices: list[str] = field(default_factory=list)
    bytes: int | None = None
    deleted: list[str] = field(default_factory=list)
    message: str | None = None  # one line; the cli falls back to the last line echoed
    # drill: what was restored and read back, and the time to restore (restore sent -> recovered)
    documents: int | None = None
    restore_seconds: float | None = None
    # scrub: the snapshots checked, and those with damage
    snapshots_checked: int | None = None
    snapshots_damaged: int | None = None


@dataclass
class Context:
    """What an action works with; tests pass fakes for the cluster, the clock and the sleep."""

    config: Config
    cluster: Cluster | None  # None for modes that work on no cluster (sync)
    wait: bool = True
    echo: Callable[[str], None] = print
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = field(default=None)  # type: ignore[assignment]
    now: Callable[[], datetime] = datetime.now
    progress: Callable[[str], Progress] = field(default=None)  # type: ignore[assignment]
    # Builds the Cluster of another side ("source" / "destination") for modes that work on both;
    # the cli passes one, unit tests a fake.
    open_cluster: Callable[[str], Cluster] | None = None
    result: RunResult = field(default_factory=RunResult)
    as_json: bool = False  # list --json
    dry_run: bool = False  # --dry-run, for modes without a cluster (a Cluster carries its own)
    json: bool = False  # --json: print data instead of a table (check, verify)
    final: bool = False  # migrate --final: the cutover round, then verify
    block_writes: bool = False  # migrate --final --block-writes: write-block the source indices first
    keep_blocked: bool = False  # migrate: leave the write block in place on a failure
    keep_failed: bool = False  # restore --keep-failed: keep the empty red indices a failed restore created
    pause: Pause = real_pause  # waits for a background call; tests pass one that moves the fake clock
    # this run's own mark, written into what it creates (a snapshot's metadata) so that it can tell its own
    # work from an older one of the same name (an engine resending a create after a master change)
    run_id: str = field(default_factory=lambda: os.urandom(8).hex())  # not uuid: 2 ms of imports
    # migrate: destination indices and data streams its earlier rounds restored (its record), which a
    # restore restores over whatever existing_indices says (restoring/existing.py judge_existing)
    ours: frozenset[str] = frozenset()
    snapshot_patterns: tuple[str, ...] = ()  # scrub --snapshot: names, wildcards allowed
    read_data: float = 0.0  # scrub --read-data (1.0) / --read-data-subset P% (P / 100)
    scrub_on: str = "source"  # scrub --on: whose repository

    def wait_for_call(
        self,
        call: Background,
        *,
        poll: Callable[[], None],
        every: float,
        timeout_message: str,
        first_poll: float | None = None,
    ):
        """``wait_for_call`` with this run's max_wait, clock and pause."""
        return wait_for_call(
            call,
            poll=poll,
            interval=every,
            max_wait=self.config.wait.max_wait,
            timeout_message=timeout_message,
            clock=self.clock,
            pause=self.pause,
            first_poll=first_poll,
        )

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


def get_mode(name: str):
    """The run function for a mode name: ``run_<name>`` in ``actions/<name>.py``, imported lazily
    so that --help stays fast."""
    module = importlib.import_module(f".{name}", __package__)
    return getattr(module, f"run_{name}")
