"""Sync: copy the snapshot repository from the source's object store to the destination's.

What is copied: every object of the repository that the destination lacks, or holds with another
size or content. The repository is found from its own metadata: everything under ``base_path``,
plus the shard folders that OpenSearch 2.17+/3.x writes outside it with ``shard_path_type:
HASHED_PREFIX`` (``<hash>/<base_path>/indices/<id>/<shard>/``), which it lists in
``<base_path>/snapshot_shard_paths/``. The hash is computed from ``indices/<id>/<shard>`` only, so a
shard folder keeps its hash when the destination has another base path.

Content check: equal size and equal ETag means equal. ETags of multipart uploads depend on the part
size and the store (s3proxy writes ``md5-N``), so when sizes match and ETags differ, the
destination's metadata ``es-s3-snapshot-source-etag``, set on every copy, is compared with the
source's ETag; when it is absent (a copy made by another tool) and an ETag is a multipart one, equal
size is taken as equal content: repository blobs are written once under unique names, and only
``index.latest`` (8 bytes, never multipart) is ever rewritten.

Order: data first, then the root blobs ``index-N``, then ``index.latest``, each phase only after the
one before has fully succeeded. A destination engine reads the repository through ``index.latest``
/ the newest ``index-N``, so an interrupted sync leaves the destination at its previous consistent
state, and a rerun copies what is still missing. Nothing is deleted on the destination unless
``--delete`` is given, and then only after the new root blobs are in place.
"""

from __future__ import annotations

import concurrent.futures
import logging
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

from .. import repoformat
from ..errors import ConfigError, Interrupted, StoreError
from ..store import SOURCE_ETAG, Blob, Store
from ..wait import human_bytes, plural
from . import Context

logger = logging.getLogger(__name__)

ROOT_INDEX = re.compile(r"index-\d+")
LATEST = "index.latest"
SHARD_PATHS = "snapshot_shard_paths"

# (hash prefix or "", path below the base path): the same name on both sides whatever their base paths.
Name = tuple[str, str]

make_store: Callable[..., Store] = Store  # unit tests replace it


@dataclass(frozen=True)
class SyncResult:
    """What a sync did (or, with dry_run, would do)."""

    objects: int  # copied
    bytes: int
    seconds: float
    unchanged: int  # already on the destination
    deleted: int = 0
    extra: int = 0  # only on the destination, kept (no --delete)
    server_side: bool = False
    dry_run: bool = False

    @property
    def mb_per_second(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0


def run_sync(ctx: Context) -> None:
    """Copy the repository from [source_store] to [destination_store] (see the module docstring).

    Raises ConfigError, StoreError, StoreUnreachable or Interrupted.
    """
    sync_repository(ctx)


def sync_repository(ctx: Context) -> SyncResult:
    """The sync, callable from other modes (migrate runs it between its backup and its restore).

    Echoes the plan and one final line (objects, bytes, seconds, MB/s); returns a SyncResult.
    """
    config = ctx.config
    for side in ("source", "destination"):
        if config.store(side) is None:
            raise ConfigError(f"{config.path}: section [{side}_store] is missing (-m sync copies between two stores)")
    src_cfg, dst_cfg = config.store("source"), config.store("destination")
    if (src_cfg.endpoint_url, src_cfg.bucket, src_cfg.base_path) == (
        dst_cfg.endpoint_url,
        dst_cfg.bucket,
        dst_cfg.base_path,
    ):
        raise ConfigError(
            f"{config.path}: [source_store] and [destination_store] name the same place "
            f"(s3://{src_cfg.bucket}/{src_cfg.base_path}): nothing to sync"
        )
    dry_run = ctx.dry_run or bool(getattr(ctx.cluster, "dry_run", False))
    options = config.sync
    server_side = options.server_side_copy == "auto" and src_cfg.endpoint_url == dst_cfg.endpoint_url
    source = make_store(src_cfg, pool=options.workers + 4)
    destination = make_store(dst_cfg, pool=options.workers + 4)
    started = ctx.clock()
    source.check()
    destination.check()

    with concurrent.futures.ThreadPoolExecutor(options.workers, thread_name_prefix="sync") as pool:
        have_src = list_repository(source, pool)
        if not any(_phase(name) == 1 for name in have_src):
            raise StoreError(
                f"the {source} holds no snapshot repository (no index-N blob under the base path): nothing to sync"
            )
        have_dst = list_repository(destination, pool, known_hashed=_hashed_paths(have_src, destination))
        copy, unchanged = _compare(have_src, have_dst, destination, pool)
        extra = sorted(set(have_dst) - set(have_src))
        total = sum(have_src[n].size for n in copy)
        logger.info(
            "sync: %d object(s) in the %s, %d in the %s; %d to copy (%s), %d already there",
            len(have_src),
            source,
            len(have_dst),
            destination,
            len(copy),
            human_bytes(total),
            unchanged,
        )
        if dry_run:
            for name in sorted(copy, key=_phase_order):
                ctx.echo(f"DRY RUN: would copy {source.key(name[0], source.base, name[1])} ({have_src[name].size} B)")
            if options.delete:
                for name in extra:
                    ctx.echo(f"DRY RUN: would delete {destination.key(name[0], destination.base, name[1])}")
            ctx.echo(
                f"DRY RUN: nothing was copied; would copy {plural(len(copy), 'object')}, {human_bytes(total)}"
                + (f", would delete {len(extra)}" if options.delete else "")
                + f" ({unchanged} already on the destination)"
            )
            return SyncResult(0, 0, ctx.clock() - started, unchanged, 0, len(extra), server_side, True)

        progress = _Progress(ctx, "sync", len(copy), total)
        try:
            _copy_all(ctx, pool, source, destination, have_src, copy, server_side, progress)
        finally:
            progress.close()
        deleted = 0
        if options.delete and extra:
            destination.delete([destination.key(n[0], destination.base, n[1]) for n in extra])
            deleted = len(extra)

    seconds = max(ctx.clock() - started, 1e-9)
    result = SyncResult(len(copy), total, seconds, unchanged, deleted, 0 if options.delete else len(extra), server_side)
    kept = (
        f"; {plural(result.extra, 'object')} only on the destination kept (--delete removes them)"
        if result.extra
        else ""
    )
    ctx.echo(
        f"sync: {plural(result.objects, 'object')}, {human_bytes(result.bytes)} copied in {seconds:.1f}s "
        f"({result.mb_per_second:.1f} MB/s{', server-side' if server_side and result.objects else ''}); "
        f"{unchanged} already on the destination" + (f"; {deleted} deleted" if deleted else "") + kept
    )
    return result


# --- listing ----------------------------------------------------------------------------------


def list_repository(
    store: Store, pool: concurrent.futures.Executor, known_hashed: list[str] | None = None
) -> dict[Name, Blob]:
    """Every object of the repository in ``store``, by Name.

    Lists the base path one level deep first (so that the root blobs are seen before the data they
    point at), then each folder below it in parallel, then the hashed shard folders named in
    ``snapshot_shard_paths/`` (and ``known_hashed``, folders the other side's metadata names).
    """
    base = store.base
    top, folders = store.list(base + "/" if base else "", delimiter="/")
    found: dict[Name, Blob] = {}
    for blobs, _ in pool.map(lambda folder: store.list(folder), folders):
        top.extend(blobs)
    for blob in top:
        found[_name(store, blob.key)] = blob
    if not base:
        return found  # the whole bucket is the repository: hashed folders are listed already
    paths = set(known_hashed or ())
    metadata = [b.key for b in top if b.key.startswith(f"{base}/{SHARD_PATHS}/")]
    for listed in pool.map(lambda key: _shard_paths(store, key), metadata):
        paths.update(listed)
    hashed = sorted(p for p in paths if not p.startswith(base + "/") and "/" in p)
    for blobs, _ in pool.map(lambda p: store.list(p), hashed):
        for blob in blobs:
            found[_name(store, blob.key)] = blob
    return found


def _shard_paths(store: Store, key: str) -> list[str]:
    """The shard folders a ``snapshot_shard_paths`` blob names, moved onto this store's base path."""
    try:
        paths = repoformat.shard_paths(store.read_small(key))
    except repoformat.FormatError as err:
        raise StoreError(f"{key} on the {store} is {err}") from None
    return [p for p in (repoformat.rebase(path, store.base) for path in paths) if p]


def _hashed_paths(found: dict[Name, Blob], other: Store) -> list[str]:
    """The hashed shard folders of ``found`` as they are named on the ``other`` store."""
    folders = set()
    for hash_prefix, rest in found:
        if hash_prefix:
            folder = rest.rsplit("/", 1)[0]
            folders.add(other.key(hash_prefix, other.base, folder) + "/")
    return sorted(folders)


def _name(store: Store, key: str) -> Name:
    """``key``'s Name: ("", path below the base) or (hash, path below <hash>/<base>)."""
    base = store.base
    head, _, rest = key.partition("/")
    if not base:
        return (head, rest) if head != "indices" and rest.startswith("indices/") else ("", key)
    if key.startswith(base + "/"):
        return "", key[len(base) + 1 :]
    if rest.startswith(base + "/"):
        return head, rest[len(base) + 1 :]
    return "", key


def _phase(name: Name) -> int:
    if name[0]:
        return 0
    if ROOT_INDEX.fullmatch(name[1]):
        return 1
    return 2 if name[1] == LATEST else 0


def _phase_order(name: Name) -> tuple:
    number = int(name[1][6:]) if _phase(name) == 1 else 0
    return _phase(name), number, name


# --- comparing --------------------------------------------------------------------------------


def _compare(
    src: dict[Name, Blob], dst: dict[Name, Blob], destination: Store, pool: concurrent.futures.Executor
) -> tuple[list[Name], int]:
    """(names to copy, number already equal). HEADs only objects of equal size and unequal ETag."""
    copy: list[Name] = []
    unsure: list[Name] = []
    for name, blob in src.items():
        have = dst.get(name)
        if have is None or have.size != blob.size:
            copy.append(name)
        elif have.etag != blob.etag:
            unsure.append(name)

    def same(name: Name) -> bool:
        head = destination.head(dst[name].key) or {}
        stored = (head.get("Metadata") or {}).get(SOURCE_ETAG)
        if stored is not None:
            return stored == src[name].etag
        return "-" in src[name].etag or "-" in dst[name].etag

    for name, equal in zip(unsure, pool.map(same, unsure), strict=True):
        if not equal:
            copy.append(name)
    return copy, len(src) - len(copy)


# --- copying ----------------------------------------------------------------------------------


def _copy_all(
    ctx: Context,
    pool: concurrent.futures.Executor,
    source: Store,
    destination: Store,
    blobs: dict[Name, Blob],
    names: list[Name],
    server_side: bool,
    progress: _Progress,
) -> None:
    """Copy in three phases (data, index-N, index.latest); a phase starts only when the one before
    has fully succeeded. Raises the first copy's error, or Interrupted on Ctrl-C."""
    options = ctx.config.sync
    stop = threading.Event()

    def copy_one(name: Name) -> None:
        if stop.is_set():
            return
        blob = blobs[name]
        target = destination.key(name[0], destination.base, name[1])
        copier = destination.copy_inside if server_side else destination.put_stream
        copier(
            target,
            source,
            blob.key,
            blob.size,
            {SOURCE_ETAG: blob.etag},
            threshold=options.multipart_threshold,
            chunk=options.multipart_chunksize,
            on_bytes=progress.add_bytes,
        )
        progress.add_object()
        logger.debug("copied %s -> %s (%d B)", blob.key, target, blob.size)

    done = 0
    for phase in (0, 1, 2):
        batch = sorted((n for n in names if _phase(n) == phase), key=_phase_order)
        futures = [pool.submit(copy_one, n) for n in batch]
        try:
            for future in concurrent.futures.as_completed(futures):
                future.result()
                done += 1
        except KeyboardInterrupt:
            stop.set()
            for future in futures:
                future.cancel()
            raise Interrupted(
                f"interrupted after {done} of {plural(len(names), 'object')}: the destination still holds its previous "
                "repository state; run -m sync again to copy the rest"
            ) from None
        except BaseException:
            stop.set()
            for future in futures:
                future.cancel()
            concurrent.futures.wait(futures)
            raise


class _Progress:
    """Objects and bytes copied: a redrawn bar on a terminal, else a log line per progress_interval."""

    WIDTH = 30

    def __init__(self, ctx: Context, label: str, objects: int, total: int):
        self.label, self.objects, self.total = label, objects, total
        self.clock = ctx.clock
        self.interval = ctx.config.wait.progress_interval
        self.stream = sys.stderr
        self.tty = self.stream.isatty()
        self.done_objects = 0
        self.done_bytes = 0
        self.lock = threading.Lock()
        self.last = None
        self.drawn = False

    def add_bytes(self, count: int) -> None:
        with self.lock:
            self.done_bytes += count
            self._show()

    def add_object(self) -> None:
        with self.lock:
            self.done_objects += 1
            self._show(force=self.done_objects == self.objects)

    def _show(self, force: bool = False) -> None:
        now = self.clock()
        every = 0.2 if self.tty else self.interval
        if not force and self.last is not None and now - self.last < every:
            return
        self.last = now
        fraction = self.done_bytes / self.total if self.total else 1.0
        text = (
            f"{self.done_objects}/{self.objects} objects, {human_bytes(self.done_bytes)} of {human_bytes(self.total)}"
        )
        if self.tty:
            filled = int(min(1.0, fraction) * self.WIDTH)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            self.stream.write(f"\r{self.label} [{bar}] {fraction * 100:5.1f}% {text}\033[K")
            self.stream.flush()
            self.drawn = True
        else:
            logger.info("%s: %.1f%% (%s)", self.label, min(1.0, fraction) * 100, text)

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def sync_configured(config) -> bool:
    """Whether the config holds both stores, so that migrate should sync between backup and restore."""
    return config.store("source") is not None and config.store("destination") is not None
