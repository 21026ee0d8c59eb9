"""Files the tool creates (run locks, report files and their temporaries), opened so that another
local user can neither redirect nor block them.

- A directory is used only when it is owned by the runner (or root) and not writable by group or
  others, unless its sticky bit is set (``/tmp``): there nobody can rename or remove a file of ours.
- A file is opened relative to an open descriptor of its directory, with ``O_NOFOLLOW``, and then
  checked on the open descriptor (``fstat``): it must be a regular file owned by the runner with
  one link. A symbolic link, a FIFO, a directory, a hard link to another file or a file of another
  owner is refused with ``UnsafeFile`` (exit 3) naming it and its owner; it is never followed,
  truncated or written.
- Report files are written to a new temporary file (``O_EXCL | O_NOFOLLOW``) in the target
  directory, then renamed over the target.

The default directory of the run locks is private to the runner: ``$XDG_RUNTIME_DIR/es-s3-snapshot``
when that directory is the runner's own (mode 0700), else ``/run/es-s3-snapshot`` for root when
``/run`` is writable, else ``~/.cache/es-s3-snapshot``; the tool creates it with mode 0700.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import secrets
import stat
from collections.abc import Callable, Iterator, Mapping

from .errors import UnsafeFile

APP = "es-s3-snapshot"
FILE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # O_NONBLOCK: a FIFO never blocks
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def user_name(uid: int) -> str:
    """The user's name, or the number of a uid without a name."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def owner_name(uid: int) -> str:
    """``name (uid N)``, or ``uid N`` for a uid without a name."""
    name = user_name(uid)
    return f"uid {uid}" if name == str(uid) else f"{name} (uid {uid})"


def default_dir(environ: Mapping[str, str] = os.environ, euid: int | None = None, run: str = "/run") -> str:
    """The runner's private directory for run locks (see the module's docstring); not created here."""
    euid = os.geteuid() if euid is None else euid
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    if runners_dir(runtime, euid, lambda mode: mode == 0o700):
        return os.path.join(runtime, APP)
    if euid == 0 and writable_dir(run):  # a read-only /run: the home's cache
        return os.path.join(run, APP)
    return os.path.join(os.path.expanduser("~"), ".cache", APP)


def runners_dir(path: str, euid: int, mode_ok: Callable[[int], bool]) -> bool:
    """Whether ``path`` (from the environment) is an absolute path to a directory of ``euid``'s
    (not a link) whose permission bits pass ``mode_ok``."""
    if not os.path.isabs(path):
        return False
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == euid and mode_ok(stat.S_IMODE(info.st_mode))


def writable_dir(path: str) -> bool:
    """Whether ``path`` is a directory this process may create files in (not on a read-only mount)."""
    return os.path.isdir(path) and os.access(path, os.W_OK)


def dir_problem(info: os.stat_result, path: str) -> str | None:
    """What makes ``path`` unsafe for files of ours, or None: another owner than the runner or
    root, or writable by group or others without the sticky bit."""
    euid = os.geteuid()
    if not stat.S_ISDIR(info.st_mode):
        return f"{path} is not a directory"
    if info.st_uid not in (euid, 0):
        return (
            f"the directory {path} is owned by {owner_name(info.st_uid)}, not by {owner_name(euid)} or root: "
            "its owner could replace the files the tool keeps there"
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not info.st_mode & stat.S_ISVTX:
        return (
            f"the directory {path} is writable by group or others without the sticky bit "
            f"(mode {stat.S_IMODE(info.st_mode):04o}): others could replace the files the tool keeps there"
        )
    return None


def file_problem(info: os.stat_result, path: str) -> str | None:
    """What makes the existing ``path`` not ours, or None: not a regular file, another owner than
    the runner, or more than one hard link."""
    euid = os.geteuid()
    owner = owner_name(info.st_uid)
    for test, kind in _KINDS:
        if test(info.st_mode):
            return f"{path} is {kind} owned by {owner}, not a regular file of {owner_name(euid)}"
    if info.st_uid != euid:
        return f"{path} is owned by {owner}, not by {owner_name(euid)}"
    if info.st_nlink > 1:
        return f"{path} has {info.st_nlink} hard links (owned by {owner}): it may be another file"
    return None


def _refuse(problem: str, hint: str) -> UnsafeFile:
    return UnsafeFile(f"{problem}: refusing to open it ({hint})")


@contextlib.contextmanager
def open_dir(path: str, *, hint: str, create: bool = False) -> Iterator[int]:
    """An open descriptor of the directory ``path``, checked with ``dir_problem``.

    ``create`` makes it first (mode 0700, parents as needed) and refuses a symbolic link at
    ``path`` itself. Raises UnsafeFile for an unsafe directory, OSError when it cannot be opened.
    """
    if create:
        os.makedirs(path, mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, DIR_FLAGS | (os.O_NOFOLLOW if create else 0))
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENOTDIR):
            problem = file_problem(os.lstat(path), path) or f"{path} is not a directory"
            raise _refuse(problem, hint) from err
        raise
    try:
        problem = dir_problem(os.fstat(fd), path)
        if problem:
            raise _refuse(problem, hint)
        yield fd
    finally:
        os.close(fd)


def open_own(dir_fd: int, name: str, path: str, *, hint: str) -> int:
    """Open (creating, mode 0600) the file ``name`` in the directory ``dir_fd`` for reading and
    writing, and return its descriptor; ``path`` is how messages name it.

    Never follows a symbolic link and never truncates. Raises UnsafeFile when what is there is not a
    regular file of the runner's with one link, OSError when it cannot be opened otherwise.
    """
    try:
        fd = os.open(name, FILE_FLAGS, 0o600, dir_fd=dir_fd)
    except OSError as err:
        try:
            info = os.lstat(name, dir_fd=dir_fd)
        except OSError:
            raise err from None
        problem = file_problem(info, path)
        if problem:
            raise _refuse(problem, hint) from err
        raise
    try:
        problem = file_problem(os.fstat(fd), path)
        if problem:
            raise _refuse(problem, hint)
        os.set_blocking(fd, True)
        return fd
    except BaseException:
        os.close(fd)
        raise


def read_own(path: str, *, hint: str) -> str:
    """The text of ``path`` if it exists ("" otherwise), read without following a symbolic link.

    Raises UnsafeFile when it is not a regular file of the runner's, OSError when it cannot be read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return ""
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise _refuse(file_problem(os.lstat(path), path) or f"{path} is a symbolic link", hint) from err
        raise
    with os.fdopen(fd, "rb") as handle:
        problem = file_problem(os.fstat(fd), path)
        if problem:
            raise _refuse(problem, hint)
        return handle.read().decode("utf-8", "replace")


def replace_own(path: str, text: str, *, hint: str) -> None:
    """Replace ``path`` by ``text`` in one step: a new temporary file (``O_EXCL | O_NOFOLLOW``, in
    the same directory), written, synced, then renamed over ``path``. Mode 0644.

    Raises UnsafeFile when the directory is unsafe (``dir_problem``) or ``path`` exists and is not a
    regular file of the runner's; OSError when it cannot be written.
    """
    directory, name = os.path.split(os.path.abspath(path))
    with open_dir(directory, hint=hint) as dir_fd:
        try:
            info = os.lstat(name, dir_fd=dir_fd)
        except FileNotFoundError:
            info = None
        problem = file_problem(info, path) if info else None
        if problem:
            raise _refuse(problem, hint)
        temp = f".{name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(text.encode("utf-8"))
                handle.flush()
                os.fchmod(fd, 0o644)
                os.fsync(fd)
            os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=dir_fd)
            raise
