"""Read-only access to where a repository's blobs are: an S3 bucket (through store.Store, boto3) or
a directory (an fs repository's location). Both give listings with sizes, whole small reads,
ranged reads and streamed reads; keys are '/'-separated and relative to the bucket or directory.

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
    def stream(self, key: str, chunk: int = CHUNK) -> Iterator[bytes]: ...
    def stream_range(self, key: str, start: int, length: int, chunk: int = CHUNK) -> Iterator[bytes]: ...


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

    def stream(self, key: str, chunk: int = CHUNK) -> Iterator[bytes]:
        with self._open(key) as handle:
            while True:
                data = handle.read(chunk)
                if not data:
                    return
                yield data

    def stream_range(self, key: str, start: int, length: int, chunk: int = CHUNK) -> Iterator[bytes]:
        with self._open(key) as handle:
            handle.seek(start)
            left = length
            while left > 0:
                data = handle.read(min(chunk, left))
                if not data:
                    return
                left -= len(data)
                yield data


class S3Storage:
    """A bucket and base path, read through a store.Store (boto3)."""

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

    def _get(self, key: str, limit: int | None = None, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        try:
            answer = self.store.client.get_object(Bucket=self.store.bucket, Key=key, **kwargs)
            if limit is not None and int(answer.get("ContentLength") or 0) > limit:
                answer["Body"].close()
                raise StoreError(
                    f"{key} on the {self.store} holds {answer['ContentLength']} bytes, more than a metadata blob may"
                )
            return answer["Body"]
        except StoreError:
            raise
        except ClientError as err:
            if str(err.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
                raise BlobMissing(key) from None
            raise self.store.error("read", key, err) from err
        except Exception as err:
            raise self.store.error("read", key, err) from err

    def _read_body(self, key: str, body: Any) -> bytes:
        try:
            return body.read()
        except Exception as err:
            raise self.store.error("read", key, err) from err
        finally:
            body.close()

    def read(self, key: str, limit: int = MAX_SMALL) -> bytes:
        return self._read_body(key, self._get(key, limit))

    def read_range(self, key: str, start: int, length: int) -> bytes:
        if length <= 0:
            return b""
        return self._read_body(key, self._get(key, Range=f"bytes={start}-{start + length - 1}"))

    def stream(self, key: str, chunk: int = CHUNK) -> Iterator[bytes]:
        return self._stream(key, self._get(key), chunk)

    def stream_range(self, key: str, start: int, length: int, chunk: int = CHUNK) -> Iterator[bytes]:
        if length <= 0:
            return iter(())
        return self._stream(key, self._get(key, Range=f"bytes={start}-{start + length - 1}"), chunk)

    def _stream(self, key: str, body: Any, chunk: int) -> Iterator[bytes]:
        try:
            while True:
                try:
                    data = body.read(chunk)
                except Exception as err:
                    raise self.store.error("read", key, err) from err
                if not data:
                    return
                yield data
        finally:
            body.close()
