"""Sync: copy the snapshot repository from the source's object store to the destination's.

What is copied: every object of the repository that the destination lacks, or holds with another
size or content. The repository is found from its own metadata: everything under ``base_path``,
plus the shard folders that OpenSearch 2.17+/3.x writes outside it with ``shard_path_type:
HASHED_PREFIX`` (``<hash>/<base_path>/indices/<id>/<shard>/``), which it lists in
``<base_path>/snapshot_shard_paths/``. The hash is computed from ``indices/<id>/<shard>`` only, so a
shard folder keeps its hash when the destination has another base path.

Comparing: one listing of each side (ListObjectsV2), compared in memory; no request per object, so
a sync with nothing new is a listing only. A listing longer than a page is read in parallel after
its first page, one first character of its folders at a time (``Store.list_after``). Repository blobs are written once under
unique names, so a blob of equal name and size is taken as equal (as ``rclone --size-only`` does;
a broken copy has another size). The root blobs ``index-N`` and ``index.latest`` (rewritten in
place, always 8 bytes) are also copied when both ETags are plain MD5s (no ``-N`` multipart suffix)
and differ. Every copy carries the source's ETag as metadata ``es-s3-snapshot-source-etag``.

Copying: ``[sync] workers`` objects at once (four times as many server-side copies, which move no
byte through this machine); an object over ``multipart_threshold`` goes in parts
of ``multipart_chunksize``, several parts at once (another ``workers`` threads): across stores the
parts are read in turn from one streamed GET, each sent as one UploadPart; inside one store (same
endpoint and keys) each is one UploadPartCopy, so no byte passes through this machine. Data blobs
go largest first, so that the copy does not end with one long stream alone. A multipart upload that fails is aborted;
when the abort fails too, a WARNING names it (key, upload id), and the next sync aborts the
incomplete uploads it finds for the blobs it copies (see ``abort_stale_uploads``).

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
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ConfigError, Interrupted, StoreError
from ..store import SOURCE_ETAG, Blob, Parts, Store
from ..wait import Progress, human_bytes, plural
from . import Context

logger = logging.getLogger(__name__)

ROOT_INDEX = re.compile(r"index-\d+")
LATEST = "index.latest"
SHARD_PATHS = "snapshot_shard_paths"
SERVER_SIDE_FACTOR = 4  # server-side copies at once: this many times [sync] workers
WHOLE_BUCKET = 100  # more snapshot_shard_paths blobs than this: list the whole bucket once instead

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
    server_side = options.server_side_copy == "auto" and same_account(src_cfg, dst_cfg)
    # A server-side copy moves no byte through this machine: each is a wait on the store, so
    # SERVER_SIDE_FACTOR times as many run at once. Each object and part worker may hold a
    # connection to both stores.
    workers = options.workers * (SERVER_SIDE_FACTOR if server_side else 1)
    source = make_store(src_cfg, pool=workers + options.workers + 4)
    destination = make_store(dst_cfg, pool=workers + options.workers + 4)
    started = ctx.clock()
    run_began = time.time()  # wall clock: what the store's "Initiated" of an upload is compared with

    with (
        concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="sync") as pool,
        concurrent.futures.ThreadPoolExecutor(options.workers, thread_name_prefix="sync-part") as parts,
    ):
        # Both sides at once; a missing bucket or refused keys fail the first listing, so no
        # request checks them beforehand (the fixed cost of a re-sync is its listing).
        listed_dst = pool.submit(list_repository, destination, parts)
        have_src = list_repository(source, parts)
        if not any(_phase(name) == 1 for name in have_src):
            listed_dst.result()  # a missing destination bucket is the first thing to say
            raise StoreError(
                f"the {source} holds no snapshot repository (no index-N blob under the base path): nothing to sync"
            )
        # Incomplete uploads an earlier sync left: listed (and aborted) while the destination's
        # listing ends, before any copy starts.
        stale = pool.submit(abort_stale_uploads, destination, have_src, run_began) if not dry_run else None
        have_dst = listed_dst.result()
        missing = sorted(set(_hashed_paths(have_src, destination)) - _listed_hashed(have_dst, destination))
        for blobs, _ in parts.map(lambda p: destination.list(p), missing):
            for blob in blobs:
                have_dst[_name(destination, blob.key)] = blob
        copy, unchanged = _compare(have_src, have_dst)
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

        if copy:
            stale.result()  # it must have ended before any copy starts
        elif stale.exception() is not None:  # a run with nothing to copy does not fail on it
            logger.info("sync: the incomplete multipart uploads of the %s were not checked: %s", destination,
                        stale.exception())  # fmt: skip
        progress = Progress("sync", interval=config.wait.progress_interval, clock=ctx.clock, items="objects")
        try:
            slots = Parts(parts, options.workers)  # at most `workers` parts in memory at once
            _copy_all(ctx, pool, slots, source, destination, have_src, copy, server_side, progress, total)
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
    ``snapshot_shard_paths/`` (and ``known_hashed``, folders the other side's metadata names),
    one listing per folder. When there are more than ``WHOLE_BUCKET`` such metadata blobs (an
    index each), reading them all and listing folder by folder would cost two requests per index:
    then one paginated listing of the whole bucket is read instead (its first page, then the rest
    in parallel, ``Store.list_after``: 40-70 requests, most at once, instead of 1,000 one after the
    other for a repository of 500 indices), kept to the keys of this repository's shape
    ``<hash>/<base>/indices/...`` except under a ``<hash>`` that holds another repository's root
    blobs at ``<hash>/<base>/`` (``_other_repositories``). A folder below the base path is listed the same way
    (``Store.list_wide``). The first three requests (the base path, the metadata
    folder, the whole bucket's first page) go at once; the whole bucket's listing goes on only
    when it is wanted, so a repository of few indices costs one page more and one of many no
    round trip before its pages. When that first page holds the whole bucket, the folder
    listings are read from it (``Store.remember``): no request.
    """
    base = store.base
    if not base:  # the whole bucket is the repository: hashed folders are in it
        top, folders = store.list("", delimiter="/")
        for blobs in pool.map(store.list_wide, folders):
            top.extend(blobs)
        return {_name(store, blob.key): blob for blob in top}
    shard_paths = f"{base}/{SHARD_PATHS}/"
    listed_top = pool.submit(store.list, base + "/", delimiter="/")
    # Only whether there are more than WHOLE_BUCKET is needed of a long metadata folder (moto
    # renders every key of a page in Python: 500 cost as much as a page of the whole bucket).
    listed_metadata = pool.submit(store.first, shard_paths, WHOLE_BUCKET + 2)
    whole_wanted: concurrent.futures.Future[bool] = concurrent.futures.Future()
    listed_whole = pool.submit(_whole_bucket, store, whole_wanted)  # after the two it waits for
    try:
        metadata, more = listed_metadata.result()
        whole_wanted.set_result(more is not None or len(metadata) > WHOLE_BUCKET)  # each names an index's shard folders
    finally:
        if not whole_wanted.done():
            whole_wanted.set_result(False)
    top, folders = listed_top.result()
    whole, complete = listed_whole.result()
    found: dict[Name, Blob] = {}
    if complete:  # the bucket fits in one page: the folder listings below need no request
        store.remember(whole)
    if whole_wanted.result():
        marker = f"/{base}/indices/"
        others = _other_repositories(whole, base)
        for blob in whole:
            head, _, _ = blob.key.partition("/")
            if blob.key.startswith(base + "/") or (blob.key.startswith(head + marker) and head not in others):
                found[_name(store, blob.key)] = blob
        return found
    top.extend(metadata)
    for blobs in pool.map(store.list_wide, [f for f in folders if f != shard_paths]):
        top.extend(blobs)
    for blob in top:
        found[_name(store, blob.key)] = blob
    paths = set(known_hashed or ())
    for listed in pool.map(lambda blob: _shard_paths(store, blob.key), metadata):
        paths.update(listed)
    hashed = sorted(p for p in paths if not p.startswith(base + "/") and "/" in p)
    for blobs, _ in pool.map(lambda p: store.list(p), hashed):
        for blob in blobs:
            found[_name(store, blob.key)] = blob
    return found


def _whole_bucket(store: Store, wanted: concurrent.futures.Future) -> tuple[list[Blob], bool]:
    """(objects, whether that is the whole bucket): every object of the bucket when ``wanted``
    comes true (the rest after the first page listed in parallel), else those of the first page."""
    blobs, after = store.first("")
    if after is None:
        return blobs, True
    if not wanted.result():
        return blobs, False
    return store.list_after("", blobs, after), True


def _other_repositories(blobs: list[Blob], base: str) -> set[str]:
    """The first folders ``<head>`` under which another repository lives at ``<head>/<base>`` (its
    root blobs are there): keys of that repository, ``<head>/<base>/indices/...``, have the shape of
    this one's hashed shard folders, and are not this repository's (nor deleted by --delete)."""
    heads = set()
    for blob in blobs:
        head, _, rest = blob.key.partition("/")
        if rest.startswith(base + "/"):
            name = rest[len(base) + 1 :]
            if name == LATEST or ROOT_INDEX.fullmatch(name):
                heads.add(head)
    return heads


def _listed_hashed(found: dict[Name, Blob], store: Store) -> set[str]:
    """The hashed shard folders (``<hash>/<base>/indices/<id>/<shard>/``) that ``found`` holds blobs of."""
    return {store.key(h, store.base, rest.rsplit("/", 1)[0]) + "/" for h, rest in found if h}


def same_account(one, other) -> bool:
    """Whether two store configs reach one endpoint with the same keys (a server-side copy can work)."""
    fields = ("endpoint_url", "region", "profile", "access_key", "secret_key", "session_token")
    return all(getattr(one, f) == getattr(other, f) for f in fields)


def _shard_paths(store: Store, key: str) -> list[str]:
    """The shard folders a ``snapshot_shard_paths`` blob names, moved onto this store's base path."""
    from .. import repoformat  # 20 ms of imports, wanted only when the metadata blobs are read

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


def _compare(src: dict[Name, Blob], dst: dict[Name, Blob]) -> tuple[list[Name], int]:
    """(names to copy, number already equal), from the listings alone (see the module docstring)."""
    copy: list[Name] = []
    for name, blob in src.items():
        have = dst.get(name)
        if have is None or have.size != blob.size:
            copy.append(name)
        elif _phase(name) and have.etag != blob.etag and "-" not in have.etag + blob.etag:
            copy.append(name)
    return copy, len(src) - len(copy)


def abort_stale_uploads(destination: Store, blobs: dict[Name, Blob], before: float) -> int:
    """Abort the incomplete multipart uploads an earlier sync left on the destination; returns how many.

    An upload counts as one of ours when its key is where this sync writes a blob of the source
    repository (so it lies under the destination's base path or one of the repository's hashed
    shard folders) and it began before this run. Repository blob names are unique to the
    repository, so no other writer uploads them. Other uploads are left alone. A store that cannot
    list uploads (s3proxy's filesystem backend answers NotImplemented) is skipped with an INFO line.
    """
    ours = {destination.key(name[0], destination.base, name[1]) for name in blobs}
    prefix = destination.base + "/" if destination.base and not any(name[0] for name in blobs) else ""
    try:
        uploads = destination.uploads(prefix)
    except StoreError as err:
        logger.info("sync: cannot list incomplete multipart uploads on the %s (%s): none aborted", destination, err)
        return 0
    stale = [u for u in uploads if u.key in ours and (u.initiated is None or u.initiated < before)]
    aborted = sum(destination.abort_upload(u.key, u.upload_id) for u in stale)
    if stale:
        logger.warning(
            "sync: aborted %d of %s an earlier sync left on the %s",
            aborted, plural(len(stale), "incomplete multipart upload"), destination,
        )  # fmt: skip
    return aborted


# --- copying ----------------------------------------------------------------------------------


def _copy_all(
    ctx: Context,
    pool: concurrent.futures.Executor,
    parts: Parts,
    source: Store,
    destination: Store,
    blobs: dict[Name, Blob],
    names: list[Name],
    server_side: bool,
    progress: Progress,
    total: int,
) -> None:
    """Copy in three phases (data, index-N, index.latest); a phase starts only when the one before
    has fully succeeded. Objects run on ``pool``, the parts of large ones on ``parts``. Raises the
    first copy's error, or Interrupted on Ctrl-C."""
    options = ctx.config.sync
    stop = threading.Event()
    lock = threading.Lock()
    done = {"bytes": 0, "objects": 0}

    def add_bytes(count: int) -> None:
        with lock:
            done["bytes"] += count
            progress.update(done["bytes"], total, done["objects"], len(names))

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
            on_bytes=add_bytes,
            parts=parts,
        )
        with lock:
            done["objects"] += 1
            progress.update(done["bytes"], total, done["objects"], len(names))
        logger.debug("copied %s -> %s (%d B)", blob.key, target, blob.size)

    finished = 0
    for phase in (0, 1, 2):
        batch = sorted((n for n in names if _phase(n) == phase), key=_phase_order)
        if phase == 0:  # the largest first: the copy ends with small objects, not one long stream alone
            batch.sort(key=lambda n: -blobs[n].size)
        futures = [pool.submit(copy_one, n) for n in batch]
        try:
            for future in concurrent.futures.as_completed(futures):
                future.result()
                finished += 1
        except KeyboardInterrupt:
            stop.set()
            for future in futures:
                future.cancel()
            raise Interrupted(
                f"interrupted after {finished} of {plural(len(names), 'object')}: the destination still holds its "
                "previous repository state; run -m sync again to copy the rest"
            ) from None
        except BaseException:
            stop.set()
            for future in futures:
                future.cancel()
            concurrent.futures.wait(futures)
            raise


def sync_configured(config) -> bool:
    """Whether the config holds both stores, so that migrate should sync between backup and restore."""
    return config.store("source") is not None and config.store("destination") is not None
