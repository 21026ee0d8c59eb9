"""One run at a time: an fcntl lock per config file and mode.

The lock file lives in ``[lock] dir`` (default: the system temp directory) and is named after the
config's absolute path and the mode. The holder writes its pid and start time into it, so that a
second run can say who holds it. The kernel drops an fcntl lock when its process dies, so a lock
left by a dead process never blocks; the stale file is simply locked again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone

from .errors import Busy, OperationFailed

POLL_SECONDS = 0.5


def lock_path(config_path: str, mode: str, directory: str | None = None) -> str:
    """The lock file for this config file and mode."""
    digest = hashlib.sha256(os.path.abspath(config_path).encode()).hexdigest()[:16]
    return os.path.join(directory or tempfile.gettempdir(), f"es-s3-snapshot-{mode}-{digest}.lock")


def _holder(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read().strip()
    except OSError:
        text = ""
    fields = dict(part.split("=", 1) for part in text.split() if "=" in part)
    if "pid" not in fields:
        return "a run that is just starting"
    return f"pid {fields['pid']}, started {fields.get('started', 'at an unknown time')}"


@contextlib.contextmanager
def run_lock(
    config_path: str,
    mode: str,
    *,
    directory: str | None = None,
    wait: float = 0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[str]:
    """Hold the lock of this config and mode for the ``with`` block; yields the lock file's path.

    Waits up to ``wait`` seconds for another holder. Raises Busy naming the holder's pid and start
    time when it is still held then, and OperationFailed when the lock file cannot be opened.
    """
    path = lock_path(config_path, mode, directory)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise OperationFailed(f"cannot open the lock file {path}: {err.strerror} (set dir in [lock])") from err
    try:
        deadline = clock() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise OperationFailed(f"cannot lock {path}: {err.strerror}") from err
            left = deadline - clock()
            if left <= 0:
                waited = f" after waiting {wait:.0f}s" if wait else ""
                raise Busy(
                    f"another es-s3-snapshot {mode} run of {config_path} holds the lock {path}{waited}: "
                    f"{_holder(path)} ([lock] wait sets how long to wait)"
                )
            sleep(min(POLL_SECONDS, left))
        started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid={os.getpid()} started={started} mode={mode}\n".encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)  # the next reader sees no stale holder; the file itself stays (no unlink race)
    finally:
        os.close(fd)
