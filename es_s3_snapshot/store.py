"""One side's object store for -m sync: listings, streamed and server-side copies, multipart control.

Every boto3/botocore failure leaves this module as one of the tool's errors, naming the store
(``source store s3://bucket/base at https://endpoint``): an unreachable endpoint or refused keys
raise StoreUnreachable (exit 2), a missing bucket or any other refusal StoreError (exit 1). Keys and
tokens are never part of a message. The requests go through s3http.py; boto3 is imported only when
a client is built: for the credentials chain (no static keys in the config) or a HEAD.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import ssl
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .config import StoreConfig
from .errors import ConfigError, EsS3SnapshotError, StoreError, StoreUnreachable
from .s3http import BLOCK, S3Http, S3HttpError, Stream, retry_kind, target_for

logger = logging.getLogger(__name__)

MAX_PARTS = 10_000
MIN_PART = 5 * 1024**2  # S3's smallest part (all but the last)
MAX_SINGLE_COPY = 5 * 1024**3  # CopyObject's limit
SMALL = 1024**2  # objects up to this size are copied through memory (one GET, one PUT, both retried)
RESUMES = 5  # times in a row one body that breaks off is read on from where it broke (ResumingBody)
PROGRESS = 1024**2  # bytes read after a break for the next one not to count as "in a row"
FAN_OUT = 16  # listings at once of one long listing's rest (Store.list_after)
SOURCE_ETAG = "es-s3-snapshot-source-etag"  # metadata set on every copy: the source object's ETag

# the region an AWS answer names: "expecting 'eu-west-1'", or a regional endpoint b.s3[.-]<region>.amazonaws.com
_REGION = re.compile(r"expecting '([a-z0-9-]+)'|\.s3[.-]([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com")
_AUTH_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "InvalidToken",
    "ExpiredToken",
    "InvalidSecurity",
    "AuthorizationHeaderMalformed",
    "InvalidClientTokenId",
    "403",
    "401",
}


@dataclass(frozen=True)
class Blob:
    key: str
    size: int
    etag: str  # without quotes


@dataclass(frozen=True)
class Upload:
    """An incomplete multipart upload."""

    key: str
    upload_id: str
    initiated: float | None  # epoch seconds, when the store says


class Parts:
    """Runs the parts of multipart copies on an executor, at most ``limit`` at once over all
    objects: a part is read (taken from its iterator) only when a slot is free, so at most
    ``limit`` parts are in memory."""

    def __init__(self, executor: Executor, limit: int):
        self.executor = executor
        self.slots = threading.BoundedSemaphore(limit)

    def run(self, jobs: Iterator[Callable[[str], dict]], upload_id: str) -> list[dict]:
        """Run every job (``job(upload_id)``) and return their results in order. Stops taking jobs
        at the first failure and raises it once the started ones have ended."""
        futures: list[Future] = []
        try:
            while not any(f.done() and f.exception() is not None for f in futures):
                self.slots.acquire()
                try:
                    job = next(jobs, None)
                except BaseException:
                    self.slots.release()
                    raise
                if job is None:
                    self.slots.release()
                    break
                future = self.executor.submit(job, upload_id)
                future.add_done_callback(lambda _: self.slots.release())
                futures.append(future)
            return [future.result() for future in futures]
        finally:
            for future in futures:
                future.cancel()
            wait_futures(futures)


@dataclass(frozen=True)
class _Keys:
    access_key: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)


class ResumingBody:
    """A streamed GET's body, read in turn: a source object copied to another store (one PUT, or the
    parts of a multipart upload), or a blob scrub reads. Failures are the store's errors, naming it
    (a PUT's retries leave them alone).

    A body that breaks off while it is read (a connection reset or closed early, a store that
    restarts) is opened again where it broke, with a ranged GET that is itself retried as every
    request is, so that one lost connection does not end a copy of hours nor make scrub take a short
    read for damage. A body that breaks RESUMES + 1 times in a row, less than PROGRESS bytes read
    between, fails (StoreUnreachable, exit 2); one that moves on between breaks goes on. Repository
    blobs are written once, so the rest is the same object's; an object that became shorter answers
    the ranged GET 416 (a failed copy, exit 1)."""

    def __init__(self, store: Store, key: str, stream: Stream, start: int, size: int | None):
        """``stream``: the GET opened at byte ``start``, which should give ``size`` bytes (None: as
        many as its Content-Length says; without one, a body that ends is taken as whole)."""
        self.store, self.key, self.start = store, key, start
        self.size = size if size is not None else stream.length
        self.done = 0  # bytes read so far
        self.resumes, self.resumed_at = 0, 0  # breaks in a row, and where the last one was
        self.stream = stream

    def readinto(self, buffer: memoryview) -> int:
        while True:
            try:
                count = self.stream.readinto(buffer)
            except S3HttpError as err:
                if retry_kind(err) is None or self.size is None:
                    raise self.store.error("read", self.key, err) from err
                count, broke = 0, f"{err.code}: {err.message}"
            else:
                broke = "the connection closed before its end"
            if count or self.size is None or self.done >= self.size or not len(buffer):
                self.done += count
                return count
            if self.done - self.resumed_at >= PROGRESS:  # it moves on: a slow, flaky link, not a dead one
                self.resumes = 0
            if self.resumes >= RESUMES:
                raise StoreUnreachable(
                    f"cannot read {self.key} from the {self.store}: its body broke off {self.resumes + 1} times "
                    f"in a row, the last at byte {self.start + self.done} ({broke})"
                )
            self.resumes += 1
            self.resumed_at = self.done
            at, last = self.start + self.done, self.start + self.size - 1
            logger.debug(
                "read %s on the %s: body broke off at byte %d (%s); reading on from there (%d of %d)",
                self.key, self.store, at, broke, self.resumes, RESUMES,
            )  # fmt: skip
            self.stream.close()
            self.stream = self.store._call("read", self.key, self.store.http.open, self.key, at, last)

    def read_exactly(self, count: int) -> bytearray:
        """The next ``count`` bytes, read into one buffer; fewer only at the body's end."""
        if self.size is None:  # no Content-Length: in blocks, not one buffer of a limit it may be far under
            data = bytearray()
            while len(data) < count:
                block = bytearray(min(count - len(data), BLOCK))
                read = self.readinto(memoryview(block))
                if not read:
                    break
                data += block[:read]
            return data
        count = max(0, min(count, self.size - self.done))  # a limit far over the body (scrub's metadata reads)
        buffer = bytearray(count)
        view = memoryview(buffer)
        got = 0
        while got < count:
            read = self.readinto(view[got:])
            if not read:
                return buffer[:got]
            got += read
        return buffer

    def close(self) -> None:
        self.stream.close()


def part_size(size: int, chunk: int) -> int:
    """The part size for a multipart copy of ``size`` bytes: ``chunk``, raised to stay within 10,000
    parts, and never under S3's 5 MiB minimum."""
    needed = -(-size // MAX_PARTS)
    return max(chunk, needed, MIN_PART)


class Store:
    """A bucket and base path on one S3 endpoint, as one side of a sync sees it."""

    def __init__(self, config: StoreConfig, *, pool: int = 10, client: Any = None):
        self.config = config
        self.bucket = config.bucket
        self.base = config.base_path.strip("/")
        self._client = client
        self._pool = pool
        self._http: S3Http | None = None
        self._lock = threading.Lock()
        if not config.verify and (config.endpoint_url or "https:").startswith("https:"):
            logger.warning("TLS certificate verification is OFF for the %s (verify = false)", self)
        self._complete: list[Blob] | None = None  # see remember()

    @property
    def client(self) -> Any:
        """The boto3 client (credentials chain, HEAD), built on first use: a sync with static keys
        never imports boto3."""
        with self._lock:
            if self._client is None:
                self._client = _make_client(self.config, self._pool)
            return self._client

    def __str__(self) -> str:
        return str(self.config)

    @property
    def http(self) -> S3Http:
        """The lean client of the listings and the copy data path (s3http.py): from the config
        when it has an endpoint and static keys, else from the boto3 client's endpoint, region and
        credentials chain."""
        with self._lock:
            if self._http is not None:
                return self._http
            config = self.config
            if self._client is None and config.endpoint_url and config.access_key and config.secret_key:
                endpoint, region = config.endpoint_url, config.region or "us-east-1"
                frozen = _Keys(config.access_key, config.secret_key, config.session_token)

                def credentials() -> Any:
                    return frozen

            else:
                client = self._client
                if client is None:
                    client = self._client = _make_client(config, self._pool)
                credentials = getattr(getattr(client, "_request_signer", None), "_credentials", None)
                if credentials is None:
                    raise StoreUnreachable(
                        f"no S3 keys for the {self}: set profile, access_key/secret_key or *_env in [{config.section}]"
                    )
                endpoint, region = client.meta.endpoint_url, client.meta.region_name or "us-east-1"
                credentials = credentials.get_frozen_credentials
            # as boto3: ca_bundle, else AWS_CA_BUNDLE, else the system's CAs (or verify = false)
            verify = config.ca_bundle or (config.verify and os.environ.get("AWS_CA_BUNDLE")) or config.verify
            try:
                self._http = S3Http(
                    target_for(
                        endpoint, self.bucket, config.addressing_style, custom_endpoint=bool(config.endpoint_url)
                    ),
                    region,
                    credentials,
                    verify=verify,
                    connect_timeout=config.connect_timeout,
                    read_timeout=config.read_timeout,
                    outage_wait=config.outage_wait,
                    label=str(self),
                )
            except ValueError as err:  # the environment's proxy
                raise ConfigError(f"[{config.section}] {err} (HTTPS_PROXY / HTTP_PROXY)") from err
            except (ssl.SSLError, OSError) as err:  # the CA file is no PEM, or unreadable
                raise ConfigError(
                    f"[{config.section}] ca_bundle (or AWS_CA_BUNDLE) {verify} cannot be loaded as PEM certificates: "
                    f"{err}"
                ) from err
            return self._http

    # --- errors ------------------------------------------------------------------------------

    def _call(self, action: str, target: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except EsS3SnapshotError:
            raise
        except Exception as err:  # botocore's tree, or a connection error from below it
            raise self.error(action, target, err) from err

    def error(self, action: str, target: str, err: BaseException) -> EsS3SnapshotError:
        """The tool's error for a boto3/botocore failure of ``action`` on ``target``."""
        where = f"the {self}"
        if isinstance(err, S3HttpError):
            if err.status == 0 and err.code == "SSLCertVerificationError":
                return StoreUnreachable(
                    f"TLS failed with {where}: {err.message} (check verify / ca_bundle in [{self.config.section}])"
                )
            if err.status == 0:
                return StoreUnreachable(f"cannot reach {where}: {err.code}: {err.message}")
            if err.code == "NoSuchBucket":
                return StoreError(f"bucket {self.bucket} does not exist on {where}")
            # AWS: the bucket is in another region than the one signed for (boto3 would follow it):
            # a 400 "expecting '<region>'", or a redirect naming the bucket's regional endpoint (a 307
            # while a new bucket's name is not yet known there; only then, as other servers may 307)
            named = _REGION.search(err.message)
            if (
                err.code in ("PermanentRedirect", "AuthorizationHeaderMalformed")
                or err.status == 301
                or (err.status == 307 and named)
            ):
                return ConfigError(
                    f"bucket {self.bucket} on {where} is not in region {self._http.region if self._http else self.config.region}: set region = "
                    f"{named.group(1) or named.group(2) if named else '<the bucket region>'} in [{self.config.section}] "
                    f"({err.code or err.status}{': ' + err.message if err.message else ''})"
                )
            if err.code in _AUTH_CODES or err.status in (401, 403):
                return StoreUnreachable(
                    f"{where} refused our keys ({err.code or err.status}{': ' + err.message if err.message else ''}) "
                    f"while trying to {action} {target}: check the keys or profile in [{self.config.section}] and "
                    "the bucket's permissions"
                )
            return StoreError(f"{action} {target} failed on {where}: {err.code or err.status} {err.message}".rstrip())
        if "botocore" not in sys.modules:  # not a boto3 failure: botocore was never imported
            if isinstance(err, OSError):
                return StoreUnreachable(f"cannot reach {where}: {type(err).__name__}: {err}")
            return StoreError(f"{action} {target} failed on {where}: {type(err).__name__}: {err}")
        from botocore import exceptions as bx

        if isinstance(err, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ProxyConnectionError)):
            return StoreUnreachable(f"cannot reach {where}: {type(err).__name__}: {err}")
        if isinstance(err, bx.SSLError):
            return StoreUnreachable(
                f"TLS failed with {where}: {err} (check verify / ca_bundle in [{self.config.section}])"
            )
        if isinstance(err, (bx.NoCredentialsError, bx.PartialCredentialsError)):
            return StoreUnreachable(
                f"no S3 keys for {where}: set profile, access_key/secret_key or *_env in [{self.config.section}]"
            )
        if isinstance(err, bx.ClientError):
            info = err.response.get("Error", {})
            code = str(info.get("Code", ""))
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            message = info.get("Message") or ""
            if code in ("NoSuchBucket",) or (code in ("404", "NotFound") and action == "open bucket"):
                return StoreError(f"bucket {self.bucket} does not exist on {where}")
            if code in _AUTH_CODES or status in (401, 403):
                return StoreUnreachable(
                    f"{where} refused our keys ({code}{': ' + message if message else ''}) while trying to {action} "
                    f"{target}: check the keys or profile in [{self.config.section}] and the bucket's permissions"
                )
            return StoreError(f"{action} {target} failed on {where}: {code or status} {message}".rstrip())
        if isinstance(err, (bx.ReadTimeoutError, bx.ConnectionClosedError)):
            return StoreError(f"{action} {target} on {where} broke off: {type(err).__name__}: {err}")
        if isinstance(err, bx.BotoCoreError):
            return StoreError(f"{action} {target} failed on {where}: {type(err).__name__}: {err}")
        if isinstance(err, OSError):
            return StoreUnreachable(f"cannot reach {where}: {type(err).__name__}: {err}")
        return StoreError(f"{action} {target} failed on {where}: {type(err).__name__}: {err}")

    # --- reading ------------------------------------------------------------------------------

    def check(self) -> None:
        """Make sure the bucket exists and our keys may read it; raise StoreError / StoreUnreachable."""
        try:
            self.http.probe_bucket(f"{self.base}/" if self.base else "")
        except S3HttpError as err:
            if err.status == 404:
                raise StoreError(f"bucket {self.bucket} does not exist on the {self}") from None
            raise self.error("open bucket", self.bucket, err) from err

    def key(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in parts if p and p.strip("/"))

    def list(self, prefix: str, *, delimiter: str | None = None) -> tuple[list[Blob], list[str]]:
        """Every object under ``prefix`` (directory entries skipped), and the common prefixes when
        ``delimiter`` is given. Paginated: one request per 1,000 keys."""
        if self._complete is not None and delimiter is None:
            return [blob for blob in self._complete if blob.key.startswith(prefix)], []
        blobs: list[Blob] = []
        prefixes: list[str] = []
        for page, common, _ in self.pages(prefix, delimiter=delimiter):
            blobs += page
            prefixes += common
        return blobs, prefixes

    def list_after(self, prefix: str, first: list[Blob], after: str, *, workers: int = FAN_OUT) -> list[Blob]:
        """Every object under ``prefix``, given its listing's ``first`` page, which ended at the key
        ``after``: the rest is read in parallel (as s5cmd and rclone list folders at once).

        One listing of ``prefix`` with a delimiter names what lies right below it: its objects and
        its folders. The folders' keys are then listed one first character at a time (``<prefix>a``,
        ``<prefix>b``...; only the characters from ``after``'s on), up to ``workers`` at once, each
        paginated. Complete for any key names: a key after ``after`` is either right below
        ``prefix`` (in the first listing) or in a folder whose first character is one of those
        listed (characters outside ASCII are always listed: a store may order them otherwise than
        by code point). Keys listed twice are kept once. A repository's folders are named by hashes
        and UUIDs, so the requests spread evenly; on a store that lists a prefix by walking its
        folders (s3proxy's filesystem backend) each request reads only its part."""
        objects, folders = self.list(prefix, delimiter="/")
        start = after[len(prefix) : len(prefix) + 1] if after.startswith(prefix) else ""
        heads = sorted(
            {
                head
                for head in (folder[len(prefix)] for folder in folders)
                if head >= start or not (head.isascii() and start.isascii())
            }
        )
        found = {blob.key: blob for blob in first}
        found.update((blob.key, blob) for blob in objects)
        if heads:
            with ThreadPoolExecutor(min(workers, len(heads)), thread_name_prefix="list") as pool:
                for blobs, _ in pool.map(lambda head: self.list(prefix + head), heads):
                    found.update((blob.key, blob) for blob in blobs)
        return list(found.values())

    def list_wide(self, prefix: str, *, workers: int = FAN_OUT) -> list[Blob]:
        """Every object under ``prefix`` (directory entries skipped): one request when it holds at
        most one page, else the first page and the rest in parallel (``list_after``)."""
        if self._complete is not None:
            return self.list(prefix)[0]
        blobs, after = self.first(prefix)
        return blobs if after is None else self.list_after(prefix, blobs, after, workers=workers)

    def remember(self, blobs: list[Blob]) -> None:
        """Answer the later listings (without a delimiter) from ``blobs``, a complete listing of
        the bucket taken by this run (one page: it held at most 1,000 keys)."""
        self._complete = blobs

    def first(self, prefix: str, count: int | None = None) -> tuple[list[Blob], str | None]:
        """The first page under ``prefix`` (``count`` keys, else 1,000; directory entries skipped;
        one request), and the last key it listed when more follow (None when that was all)."""
        objects, _, token = self._call(
            "list", f"s3://{self.bucket}/{prefix}", self.http.list_page, prefix, None, None, count
        )
        return _blobs(objects), (objects[-1][0] if token and objects else "" if token else None)

    def pages(self, prefix: str, *, delimiter: str | None = None) -> Iterator[tuple[list[Blob], list[str], bool]]:
        """The listing of ``prefix`` page by page (a request each): (objects, common prefixes,
        whether more pages follow)."""
        token = None
        while True:
            objects, common, token = self._call(
                "list", f"s3://{self.bucket}/{prefix}", self.http.list_page, prefix, delimiter, token
            )
            yield _blobs(objects), common, bool(token)
            if not token:
                return

    def head(self, key: str) -> dict | None:
        """The object's HEAD answer (ContentLength, ETag, Metadata), or None when it does not exist."""
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as err:
            if str(err.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self.error("read", key, err) from err
        except Exception as err:
            raise self.error("read", key, err) from err

    def read_small(self, key: str, limit: int = 16 * 1024**2) -> bytes:
        """The whole content of a small object (repository metadata); StoreError above ``limit`` bytes."""
        data = self._call("read", key, self.http.get, key)
        if len(data) > limit:
            raise StoreError(f"{key} on the {self} is {len(data)} B, more than the {limit} B expected of it")
        return data

    # --- writing ------------------------------------------------------------------------------

    def put_stream(
        self,
        key: str,
        source: Store,
        source_key: str,
        size: int,
        metadata: dict[str, str],
        *,
        threshold: int,
        chunk: int,
        on_bytes: Callable[[int], None] = lambda n: None,
        parts: Parts | None = None,
    ) -> None:
        """Copy one object from ``source`` through this machine, streamed: one GET of the whole
        object; up to ``threshold`` bytes it flows into one PUT (small ones through memory, larger
        ones a block at a time), above it into a multipart upload whose parts are read in turn
        and sent several at once on ``parts`` (at most its limit in memory). A GET whose body
        breaks off is read on from where it broke (``ResumingBody``)."""
        if size <= min(threshold, SMALL):
            data = source.read_range(source_key)
            self._call("write", key, self.http.put, key, data, metadata)
            on_bytes(len(data))
            return
        if size <= threshold:  # each attempt of the PUT reads the source anew
            self._call(
                "write", key, self.http.put_stream, key, lambda: source.open_body(source_key, size), size, metadata
            )
            on_bytes(size)
            return
        stream = source.open_body(source_key, size)
        try:
            part = part_size(size, chunk)

            def jobs() -> Iterator[Callable[[str], dict]]:
                for number in range(1, -(-size // part) + 1):
                    data = stream.read_exactly(min(part, size - (number - 1) * part))
                    if len(data) != min(part, size - (number - 1) * part):
                        raise StoreError(
                            f"read {source_key} on the {source}: the object ended early (did it change during the "
                            "copy?)"
                        )

                    def upload(upload_id: str, number: int = number, data: bytearray = data) -> dict:
                        etag = self._call("write", key, self.http.upload_part, key, upload_id, number, data)
                        on_bytes(len(data))
                        return {"PartNumber": number, "ETag": etag}

                    yield upload

            self._multipart(key, metadata, jobs(), parts)
        finally:
            stream.close()

    def open_body(self, key: str, size: int) -> ResumingBody:
        """The object's body, ``size`` bytes from its first (as listed), read on where it breaks."""
        return ResumingBody(self, key, self._call("read", key, self.http.open, key), 0, size)

    def read_range(self, key: str, start: int | None = None, end: int | None = None) -> bytes:
        """The object's bytes ``start``..``end`` (inclusive), or all of it when ``start`` is None."""
        return self._call("read", key, self.http.get, key, start, end)

    def copy_inside(
        self,
        key: str,
        source: Store,
        source_key: str,
        size: int,
        metadata: dict[str, str],
        *,
        threshold: int,
        chunk: int,
        on_bytes: Callable[[int], None] = lambda n: None,
        parts: Executor | None = None,
    ) -> None:
        """Copy one object server-side (both stores on one endpoint with the same keys): CopyObject
        up to ``threshold``, UploadPartCopy in parts above it (several at once on ``parts``). No
        byte passes through this machine."""
        if size <= min(threshold, MAX_SINGLE_COPY):
            self._call("copy", key, self.http.copy, key, source.bucket, source_key, metadata)
            on_bytes(size)
            return
        part = part_size(size, chunk)

        def upload(upload_id: str, number: int) -> dict:
            start = (number - 1) * part
            end = min(size, start + part) - 1
            etag = self._call("copy", key, self.http.copy_part, key, upload_id, number, source.bucket, source_key,
                              start, end)  # fmt: skip
            on_bytes(end - start + 1)
            return {"PartNumber": number, "ETag": etag}

        jobs = (functools.partial(upload, number=n) for n in range(1, -(-size // part) + 1))
        self._multipart(key, metadata, jobs, parts)

    def _multipart(
        self, key: str, metadata: dict[str, str], jobs: Iterator[Callable[[str], dict]], parts: Parts | None
    ) -> None:
        """Start a multipart upload, run the part ``jobs`` (each ``job(upload_id)`` sends one part
        and returns its {"PartNumber", "ETag"}) on ``parts`` (else one after the other), complete.

        When anything fails the upload is aborted; when the abort fails too, a WARNING names the
        upload (key and upload id): its parts are billed storage until aborted (the next sync
        aborts it, see ``abort_stale_uploads``)."""
        upload_id = self._call("write", key, self.http.create_upload, key, metadata)
        try:
            if parts is None:
                done = [job(upload_id) for job in jobs]
            else:
                done = parts.run(jobs, upload_id)
            numbered = [(part["PartNumber"], part["ETag"]) for part in done]
            self._call("write", key, self.http.complete_upload, key, upload_id, numbered)
        except BaseException:
            self.abort_upload(key, upload_id)
            raise

    def abort_upload(self, key: str, upload_id: str) -> bool:
        """Abort one multipart upload; True when done. A failure is a WARNING naming the upload."""
        try:
            self.http.abort_upload(key, upload_id)
            return True
        except Exception as err:
            error = self.error("abort the multipart upload of", key, err)
            logger.warning(
                "could not abort the multipart upload %s of s3://%s/%s (%s): its parts stay billed storage until "
                "it is aborted; the next -m sync aborts it",
                upload_id,
                self.bucket,
                key,
                error,
            )
            return False

    def uploads(self, prefix: str = "") -> list[Upload]:
        """The incomplete multipart uploads under ``prefix`` (paginated, 1,000 per request)."""
        found: list[Upload] = []
        markers: tuple[str, str] | None = ("", "")
        while markers is not None:
            page, markers = self._call("list the multipart uploads of", f"s3://{self.bucket}/{prefix}",
                                       self.http.list_uploads, prefix, *markers)  # fmt: skip
            found += [Upload(key, upload_id, _epoch(initiated)) for key, upload_id, initiated in page]
        return found

    def delete(self, keys: list[str]) -> None:
        """Delete ``keys`` (1,000 per request)."""
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            refused = self._call("delete", f"{len(batch)} object(s)", self.http.delete_objects, batch)
            if refused:
                key, code, message = refused[0]
                raise StoreError(f"deleting {key} failed on the {self}: {code} {message}".rstrip())


def _blobs(objects: list[tuple[str, int, str]]) -> list[Blob]:
    """A listing page's (key, size, etag) as Blobs; the directory entries s3proxy's filesystem
    backend lists (keys ending in "/") are skipped."""
    return [Blob(k, size, etag.strip('"').replace("&quot;", "")) for k, size, etag in objects if k[-1:] != "/"]


def _epoch(stamp: str) -> float | None:
    """Epoch seconds of an S3 time stamp (``2026-12-07T11:00:00.000Z``), None when there is none."""
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


_SESSIONS: dict[str | None, Any] = {}
_SESSIONS_LOCK = threading.Lock()


def _make_client(config: StoreConfig, pool: int) -> Any:
    """A boto3 S3 client for ``config`` (boto3 imported here, on first use)."""
    import boto3
    from botocore.config import Config as BotoConfig
    from botocore.exceptions import ProfileNotFound

    try:
        with _SESSIONS_LOCK:  # a session loads botocore's data files once; clients are cheap after that
            session = _SESSIONS.get(config.profile)
            if session is None:
                session = _SESSIONS[config.profile] = boto3.session.Session(profile_name=config.profile)
    except ProfileNotFound:
        raise ConfigError(
            f"[{config.section}] profile {config.profile} is not in ~/.aws/credentials or ~/.aws/config"
        ) from None
    if not config.verify:
        from urllib3.exceptions import InsecureRequestWarning

        warnings.simplefilter("ignore", InsecureRequestWarning)  # one WARNING in words (Store), not one per request
    options: dict[str, Any] = {
        "s3": {"addressing_style": config.addressing_style},
        "max_pool_connections": pool,
        "retries": {"max_attempts": 5, "mode": "standard"},
        "connect_timeout": config.connect_timeout,
        "read_timeout": config.read_timeout,
        "signature_version": "s3v4",
    }
    # Checksums only where S3 requires them: S3-compatible stores refuse the newer trailing checksums.
    for name in ("request_checksum_calculation", "response_checksum_validation"):
        if name in BotoConfig.OPTION_DEFAULTS:
            options[name] = "when_required"
    return session.client(
        "s3",
        endpoint_url=config.endpoint_url,
        region_name=config.region or ("us-east-1" if config.endpoint_url else None),
        aws_access_key_id=config.access_key,
        aws_secret_access_key=config.secret_key,
        aws_session_token=config.session_token,
        verify=config.ca_bundle or config.verify,
        config=BotoConfig(**options),
    )
