"""Reading the snapshots of a repository: one listing, paginated where the engine can.

``GET _snapshot/<repo>/_all?verbose=false`` would be cheaper, but it leaves out the start time,
the shards and the metadata that list and prune need, so the verbose listing is read, trimmed
with ``filter_path``. Elasticsearch 7.14 and later page it with ``size`` and ``after``;
OpenSearch has no pagination for it and answers in one response. An engine that does not say
which it is (``GET /`` not served) is asked for a page, and asked again without one if it
refuses the parameters.
"""

from __future__ import annotations

import logging
import re

from .cluster import Cluster, EngineInfo, path_of
from .errors import EngineError
from .retention import Snapshot

logger = logging.getLogger(__name__)

PAGE_SIZE = 200
FIELDS = ("snapshot", "state", "start_time_in_millis", "end_time_in_millis", "shards", "metadata.taken_by", "indices")
FILTER_PATH = ",".join([f"snapshots.{f}" for f in FIELDS] + ["next", "total"])


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
    params = {"filter_path": FILTER_PATH}
    if paginate is not False:
        params.update(size=str(page_size), sort="start_time", order="desc")
    found: list[Snapshot] = []
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
        found += [Snapshot.from_engine(raw) for raw in body.get("snapshots") or []]
        if paginate is False or not body.get("next"):
            break
        params["after"] = body["next"]
        logger.debug("read %d of %s snapshots", len(found), body.get("total", "?"))
    return found
