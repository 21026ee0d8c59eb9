"""One run at a time: an fcntl lock per config file and mode.

The lock file lives in ``[lock] dir`` (default: the runner's private directory, see
``ownfiles.default_dir``) and is named after the config's absolute path and the mode. It is opened
as ``ownfiles.open_own`` opens files: never through a symbolic link, and only when it is a regular
file of the runner's, so another local user can neither redirect it nor hold it. The holder
writes its pid and start time into it, so that a second run can say who holds it. The kernel
drops an fcntl lock when its process dies, so a lock left by a dead process never blocks; the
stale file is simply locked again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone

from . import ownfiles
from .errors import Busy, OperationFailed

POLL_SECONDS = 0.5
HINT = "remove it, or set dir in [lock] to a directory only you can write"


def lock_path(config_path: str, mode: str, directory: str | None = None) -> str:
    """The lock file for this config file and mode."""
    return os.path.join(directory or ownfiles.default_dir(), lock_name(config_path, mode))


def lock_name(key: str, mode: str) -> str:
    """The file name of the lock of ``key`` (a path: the config's, the Prometheus file's) and mode."""
    digest = hashlib.sha256(os.path.abspath(key).encode()).hexdigest()[:16]
    return f"es-s3-snapshot-{mode}-{digest}.lock"


def open_lock_file(path: str, *, own_dir: bool) -> int:
    """Open the lock file ``path`` (``ownfiles.open_own``); ``own_dir``: its directory is the
    default one, created here. Raises UnsafeFile, and OperationFailed when it cannot be opened."""
    directory, name = os.path.split(path)
    try:
        with ownfiles.open_dir(directory, hint=HINT, create=own_dir) as dir_fd:
            return ownfiles.open_own(dir_fd, name, path, hint=HINT)
    except OSError as err:
        raise OperationFailed(f"cannot open the lock file {path}: {err.strerror} (set dir in [lock])") from err


HOLDER_WAIT = 1.0  # seconds to wait for a holder that has just locked to write its pid


def _holder(fd: int, clock: Callable[[], float], sleep: Callable[[float], None]) -> str:
    """Who holds the lock: its pid and start time, read from the file. A holder writes them right
    after locking, so an empty file is read again for up to ``HOLDER_WAIT`` seconds."""
    deadline = clock() + HOLDER_WAIT
    while True:
        try:
            text = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
        except OSError:
            text = ""
        fields = dict(part.split("=", 1) for part in text.split() if "=" in part)
        if "pid" in fields:
            return f"pid {fields['pid']}, started {fields.get('started', 'at an unknown time')}"
        if clock() >= deadline:
            return "a run that is just starting"
        sleep(0.05)


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
    time when it is still held then, UnsafeFile (exit 3) when the lock file or its directory could
    be another user's (``ownfiles``), and OperationFailed when the lock file cannot be opened.
    """
    path = lock_path(config_path, mode, directory)
    fd = open_lock_file(path, own_dir=directory is None)
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
                    f"{_holder(fd, clock, sleep)} ([lock] wait sets how long to wait)"
                )
            sleep(min(POLL_SECONDS, left))
        started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        holder = f"pid={os.getpid()} started={started} mode={mode}\n".encode()
        os.pwrite(fd, holder, 0)  # then cut what a killed holder left: a reader never sees an empty file
        os.ftruncate(fd, len(holder))
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)  # the next reader sees no stale holder; the file itself stays (no unlink race)
    finally:
        os.close(fd)
