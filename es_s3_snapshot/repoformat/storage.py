"""Read-only access to where a repository's blobs are: an S3 bucket (through store.Store) or
a directory (an fs repository's location). Both give listings with sizes, whole small reads,
ranged reads and streamed reads; keys are '/'-separated and relative to the bucket or directory.

Streamed reads yield memoryviews of one buffer per stream, each valid only until the next is
asked for (no allocation per chunk: the reader checksums each chunk and lets it go).

A blob that does not exist raises BlobMissing. Anything else that goes wrong raises the tool's
StoreUnreachable (the store cannot be reached or refuses the keys: exit 2) or StoreError.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import StoreError, StoreUnreachable

if TYPE_CHECKING:
    from ..store import Store

logger = logging.getLogger(__name__)

CHUNK = 1024**2  # streamed reads hand out at most this much at a time
MAX_SMALL = 256 * 1024**2  # a metadata blob larger than this is not read whole


class BlobMissing(Exception):
    """The blob does not exist."""


@dataclass(frozen=True)
class Entry:
    key: str
    size: int


class Storage(Protocol):
    base: str  # the repository's base path inside the bucket or directory ("" for the whole)

    def describe(self) -> str: ...
    def check(self) -> None: ...
    def list(self, prefix: str, *, delimiter: str | None = None) -> tuple[list[Entry], list[str]]: ...
    def read(self, key: str, limit: int = MAX_SMALL) -> bytes: ...
    def read_range(self, key: str, start: int, length: int) -> bytes: ...
    def stream(self, key: str, chunk: int = CHUNK) -> Iterator[memoryview]: ...
    def stream_range(self, key: str, start: int, length: int, chunk: int = CHUNK) -> Iterator[memoryview]: ...


class FsStorage:
    """A directory on this host: an fs repository's ``location``."""

    def __init__(self, root: str, label: str = "fs repository"):
        self.root = os.path.abspath(root)
        self.base = ""
        self.label = label

    def describe(self) -> str:
        return f"{self.label} {self.root}"

    def __str__(self) -> str:
        return self.describe()

    def _path(self, key: str) -> str:
        parts = [p for p in key.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise StoreError(f"refusing key {key!r} in the {self.describe()}")
        return os.path.join(self.root, *parts)

    def check(self) -> None:
        if not os.path.isdir(self.root):
            raise StoreUnreachable(f"cannot read the {self.describe()}: no such directory on this host")
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise StoreUnreachable(f"cannot read the {self.describe()}: permission denied")

    def list(self, prefix: str, *, delimiter: str | None = None) -> tuple[list[Entry], list[str]]:
        folder = self._path(prefix)
        entries: list[Entry] = []
        prefixes: list[str] = []
        lead = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        try:
            if delimiter:
                with os.scandir(folder) as items:
                    for item in items:
                        if item.is_dir(follow_symlinks=False):
                            prefixes.append(f"{lead}{item.name}/")
                        elif item.is_file():
                            entries.append(Entry(lead + item.name, item.stat().st_size))
            else:
                for here, _dirs, files in os.walk(folder):
                    relative = os.path.relpath(here, folder)
                    inner = "" if relative == "." else relative.replace(os.sep, "/") + "/"
                    for name in files:
                        entries.append(Entry(lead + inner + name, os.path.getsize(os.path.join(here, name))))
        except FileNotFoundError:
            return [], []
        except OSError as err:
            raise StoreError(f"cannot list {prefix or '/'} in the {self.describe()}: {err.strerror}") from err
        return sorted(entries, key=lambda e: e.key), sorted(prefixes)

    def _open(self, key: str):
        try:
            return open(self._path(key), "rb")
        except OSError as err:
            if err.errno in (errno.ENOENT, errno.ENOTDIR):
                raise BlobMissing(key) from None
            raise StoreError(f"cannot read {key} in the {self.describe()}: {err.strerror}") from err

    def read(self, key: str, limit: int = MAX_SMALL) -> bytes:
        with self._open(key) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                raise StoreError(f"{key} in the {self.describe()} holds {size} bytes, more than a metadata blob may")
            return handle.read()  # read(limit) would allocate ``limit`` bytes first

    def read_range(self, key: str, start: int, length: int) -> bytes:
        with self._open(key) as handle:
            handle.seek(start)
            return handle.read(length)

    def stream(self, key: str, chunk: int = CHUNK) -> Iterator[memoryview]:
        with self._open(key) as handle:
            yield from _chunks(handle, chunk)

    def stream_range(self, key: str, start: int, length: int, chunk: int = CHUNK) -> Iterator[memoryview]:
        with self._open(key) as handle:
            handle.seek(start)
            yield from _chunks(handle, chunk, length)


def _chunks(source: Any, chunk: int, length: int | None = None) -> Iterator[memoryview]:
    """Up to ``length`` bytes (all without it) of ``source`` (anything with ``readinto``), as
    memoryviews of one reused buffer of ``chunk`` bytes."""
    buffer = memoryview(bytearray(chunk))
    left = length
    while left is None or left > 0:
        count = source.readinto(buffer if left is None or left >= chunk else buffer[:left])
        if not count:
            return
        if left is not None:
            left -= count
        yield buffer[:count]


class S3Storage:
    """A bucket and base path, read through a store.Store: listings and reads through its lean
    SigV4 client (s3http.py: about a fifth of boto3's CPU per request, connections kept per thread,
    and no boto3 import with static keys)."""

    def __init__(self, store: Store):
        self.store = store
        self.base = store.base

    def describe(self) -> str:
        return str(self.store)

    def __str__(self) -> str:
        return self.describe()

    def check(self) -> None:
        self.store.check()

    def list(self, prefix: str, *, delimiter: str | None = None) -> tuple[list[Entry], list[str]]:
        blobs, prefixes = self.store.list(prefix, delimiter=delimiter)
        return [Entry(b.key, b.size) for b in blobs], prefixes

    def _open(self, key: str, start: int | None = None, length: int = 0) -> Any:
        """The blob's body (``length`` bytes from ``start``, else all of it), read on where it
        breaks off before the end its answer's Content-Length names: a broken connection is never
        taken for a short blob, and a blob shorter than its metadata says still reads short (the
        server names fewer bytes), which scrub reports as damage."""
        from ..s3http import S3HttpError
        from ..store import ResumingBody

        end = None if start is None else start + length - 1
        try:
            return ResumingBody(self.store, key, self.store.http.open(key, start, end), start or 0, None)
        except S3HttpError as err:
            if err.status == 404 and err.code in ("NoSuchKey", "404", "NotFound", ""):
                raise BlobMissing(key) from None
            raise self.store.error("read", key, err) from err

    def read(self, key: str, limit: int = MAX_SMALL) -> bytes:
        data = self._read_exactly(key, self._open(key), limit + 1)
        if len(data) > limit:
            raise StoreError(f"{key} on the {self.store} holds more than {limit} bytes, more than a metadata blob may")
        return data

    def read_range(self, key: str, start: int, length: int) -> bytes:
        if length <= 0:
            return b""
        return self._read_exactly(key, self._open(key, start, length), length)

    def _read_exactly(self, key: str, body: Any, count: int) -> bytes:
        """``count`` bytes of ``body`` (fewer at its end), closed after. Its errors are the store's
        already (a body that kept breaking: StoreUnreachable, exit 2) and pass as they are."""
        try:
            return body.read_exactly(count)
        except (StoreError, StoreUnreachable):
            raise
        except Exception as err:
            raise self.store.error("read", key, err) from err
        finally:
            body.close()

    def stream(self, key: str, chunk: int = CHUNK) -> Iterator[memoryview]:
        return self._stream(key, self._open(key), chunk)

    def stream_range(self, key: str, start: int, length: int, chunk: int = CHUNK) -> Iterator[memoryview]:
        if length <= 0:
            return iter(())
        return self._stream(key, self._open(key, start, length), chunk)

    def _stream(self, key: str, body: Any, chunk: int) -> Iterator[memoryview]:
        try:
            try:
                yield from _chunks(body, chunk)
            except (StoreError, StoreUnreachable):
                raise
            except Exception as err:
                raise self.store.error("read", key, err) from err
        finally:
            body.close()
