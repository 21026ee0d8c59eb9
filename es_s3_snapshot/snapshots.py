"""Reading the snapshots of a repository: a listing of names and UUIDs, and the details of those
the local cache (``snapcache``) does not hold.

``GET _snapshot/<repo>/_all?verbose=false`` reads the repository's index only, but it leaves out
the start and end times, the shards and the metadata that list and prune need; the verbose
listing has them, but the engine reads every snapshot's descriptor for it (OpenSearch one by one:
6x slower at 2,000 snapshots). So list and prune ask the short listing (every engine gives each
snapshot's name, UUID and state in it), take the details of ended snapshots from the cache, and
ask the engine for the others only: one ``GET _snapshot/<repo>/<name>`` each, a few at a time,
when they are few (``ONE_BY_ONE``), else the one verbose listing. The verbose listing is trimmed
with ``filter_path``; Elasticsearch 7.14 and later page it with ``size`` and ``after``;
OpenSearch has no pagination for it and answers in one response. An engine that does not say
which it is (``GET /`` not served) is asked for a page, and asked again without one if it refuses
the parameters.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .cluster import Cluster, EngineInfo, path_of
from .config import CacheConfig
from .errors import EngineError
from .retention import Snapshot
from .snapcache import SnapshotCache

logger = logging.getLogger(__name__)

# Elasticsearch reads every snapshot's descriptor again for each page (8.19, 2,000 snapshots: ten
# pages of 200 took 1.3-2.2 s, the listing in one answer 0.1 s), so pages are large; 1,000 entries
# trimmed by filter_path are about 250 KB.
PAGE_SIZE = 1000
FIELDS = (
    "snapshot",
    "uuid",
    "state",
    "start_time_in_millis",
    "end_time_in_millis",
    "shards",
    "metadata.taken_by",
    "indices",
)
FILTER_PATH = ",".join([f"snapshots.{f}" for f in FIELDS] + ["next", "total"])
SHORT_FILTER_PATH = "snapshots.snapshot,snapshots.uuid,snapshots.state"
ONE_BY_ONE = 50  # at most this many snapshots missing from the cache are asked one by one; more: the verbose listing
WORKERS = 4  # one-by-one requests at a time


def paginates(info: EngineInfo) -> bool | None:
    """Whether the engine pages the snapshot listing (Elasticsearch 7.14 and later); None: unknown."""
    if info.engine == "OpenSearch":
        return False
    match = re.match(r"(\d+)\.(\d+)", info.version)
    if info.engine != "Elasticsearch" or not match:
        return None
    return (int(match.group(1)), int(match.group(2))) >= (7, 14)


def list_snapshots(
    cluster: Cluster, repository: str, *, paginate: bool | None, page_size: int = PAGE_SIZE
) -> list[Snapshot]:
    """Every snapshot of ``repository``, in the engine's order (``paginate`` None: try pages).

    Each page is read from the repository, so it gets the side's ``long_request_timeout``.
    Raises EngineError (for instance ``repository_missing_exception``) and the cluster's errors.
    """
    return [Snapshot.from_engine(raw) for raw in _verbose_listing(cluster, repository, paginate, page_size)]


def _verbose_listing(cluster: Cluster, repository: str, paginate: bool | None, page_size: int) -> Iterator[dict]:
    """The raw entries of the verbose listing, page after page (see ``list_snapshots``)."""
    params = {"filter_path": FILTER_PATH}
    if paginate is not False:
        params.update(size=str(page_size), sort="start_time", order="desc")
    found = 0
    while True:
        try:
            listing = path_of("_snapshot", repository, "_all")
            body = cluster.get(listing, params=params, timeout=cluster.long_request_timeout).body or {}
        except EngineError as err:
            if paginate is not None or err.status != 400 or "after" in params:
                raise
            logger.debug("the engine does not page the snapshot listing (%s); asking for all at once", err.reason)
            paginate = False
            params = {"filter_path": FILTER_PATH}
            continue
        page = body.get("snapshots") or []
        found += len(page)
        yield from page
        if paginate is False or not body.get("next"):
            break
        params["after"] = body["next"]
        logger.debug("read %d of %s snapshots", found, body.get("total", "?"))


def open_cache(settings: CacheConfig, info: EngineInfo, repository: str) -> SnapshotCache | None:
    """The snapshot cache of this cluster and repository, or None when [cache] turns it off. The
    cluster is known by its UUID, or by its name where ``GET /`` is not served."""
    if not settings.enabled:
        return None
    return SnapshotCache(settings.dir, info.cluster_uuid or f"name:{info.cluster_name}", repository)


def read_snapshots(
    cluster: Cluster, repository: str, *, paginate: bool | None, cache: SnapshotCache | None
) -> list[Snapshot]:
    """Every snapshot of ``repository`` (in no particular order), with the details of ended ones
    from ``cache`` (None: no cache, the verbose listing as ``list_snapshots``), which is then
    replaced by what this listing found.

    Raises EngineError (for instance ``repository_missing_exception``) and the cluster's errors;
    the cache's own failures are logged, never raised.
    """
    if cache is None:
        return list_snapshots(cluster, repository, paginate=paginate)
    answer = cluster.get(
        path_of("_snapshot", repository, "_all"),
        params={"verbose": "false", "filter_path": SHORT_FILTER_PATH},
        timeout=cluster.long_request_timeout,
    )
    listed = (answer.body or {}).get("snapshots") or []
    known = cache.load()
    found: dict[str, Snapshot] = {}  # by UUID
    missing: list[str] = []  # names
    for raw in listed:
        name, state = str(raw.get("snapshot", "")), raw.get("state")
        snap = known.get(str(raw.get("uuid") or ""))
        if snap is not None and snap.name == name and state in (None, snap.state):
            found[str(raw["uuid"])] = snap
        else:  # new, running, or (never seen) a state other than the one kept
            missing.append(name)
    where = cache.path
    logger.debug(
        "%d snapshots in %s: %d known from the cache %s, %d to read",
        len(listed),
        repository,
        len(found),
        where,
        len(missing),
    )
    if len(missing) > ONE_BY_ONE:
        fresh = list(_verbose_listing(cluster, repository, paginate, PAGE_SIZE))
        found = {}
    else:
        fresh = _one_by_one(cluster, repository, missing)
    unnamed: list[Snapshot] = []  # an engine that gives no UUID: shown, never kept
    for raw in fresh:
        snap = Snapshot.from_engine(raw)
        if raw.get("uuid"):
            found[str(raw["uuid"])] = snap
        else:
            unnamed.append(snap)
    cache.save(found)
    return list(found.values()) + unnamed


def _one_by_one(cluster: Cluster, repository: str, names: list[str]) -> list[dict[str, Any]]:
    """The raw entries of ``GET _snapshot/<repo>/<name>`` for each name, a few at a time; a name
    deleted since the listing is left out."""

    def one(name: str) -> list[dict[str, Any]]:
        try:
            answer = cluster.get(path_of("_snapshot", repository, name), params={"filter_path": FILTER_PATH})
        except EngineError as err:
            if err.error_type != "snapshot_missing_exception":
                raise
            logger.debug("snapshot %s/%s was deleted since the listing", repository, name)
            return []
        return (answer.body or {}).get("snapshots") or []

    if len(names) <= 1:
        return [raw for name in names for raw in one(name)]
    with ThreadPoolExecutor(min(WORKERS, len(names)), thread_name_prefix="snapshot") as pool:
        return [raw for answer in pool.map(one, names) for raw in answer]
