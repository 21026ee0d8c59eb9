"""Why primaries cannot be allocated, and removing the empty indices a failed restore leaves.

A shard that cannot be allocated stays unassigned without an error. The engine says why in
``_cluster/allocation/explain``, asked with the shard in the body (no name in the URL). Here the
deciders' verdicts become words: a disk watermark, a shard limit, allocation filters or awareness,
allocation disabled. Backup asks it too, before taking a snapshot again (``refused_everywhere``).
A restored index whose every primary is unassigned holds nothing usable: when
this run created it, it is deleted before the run ends (unless --keep-failed), so that a failed
restore leaves the destination as it was.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from ...cluster import Cluster, path_of
from ...errors import ClusterUnreachable, EngineError, UnexpectedAnswer
from ...names import chunks, listed
from ...wait import plural
from .. import Context
from .existing import Existing
from .plan import Plan

logger = logging.getLogger(__name__)

EXPLAIN = "/_cluster/allocation/explain"
# decider -> what it means, in words (OpenSearch and Elasticsearch name them alike)
DECIDER_WORDS = {
    "disk_threshold": "disk watermark exceeded",
    "enable": "allocation is disabled (cluster.routing.allocation.enable)",
    "shards_limit": "shard limit per node reached (total_shards_per_node)",
    "filter": "allocation filters exclude the node (*.routing.allocation.include/exclude/require)",
    "awareness": "allocation awareness forbids the node",
    "max_retry": "allocation failed too many times (POST /_cluster/reroute?retry_failed=true once fixed)",
    "same_shard": "a copy of the shard is already on the node",
    "node_version": "the node's version is older than the snapshot's",
    "restore_in_progress": "the restore of the shard has failed",
    "replica_after_primary_active": "its primary is not active",
    "throttling": "throttled (too many recoveries at once)",
}
REMOVE_HINT = "delete them with DELETE /<index> (or restore them again once the cause is fixed)"


@dataclass(frozen=True)
class Unusable:
    """What a failed restore leaves: the indices it deleted and those it left (each with a note)."""

    removed: list[str]
    left: list[str]
    note: str  # one sentence for the last line


def allocation_reason(cluster: Cluster, index: str, *, primary: bool = True) -> str:
    """Why copy 0 (the primary, or a replica) of ``index`` is not allocated, in words: the deciders
    that said NO and on how many nodes (e.g. "disk watermark exceeded on every node (2 nodes)"),
    else the engine's own explanation. Never raises: a failed explain says so in the returned text."""
    body = {"index": index, "shard": 0, "primary": primary}
    try:
        answer = cluster.request("POST", EXPLAIN, body, timeout=cluster.long_request_timeout).body or {}
    except (EngineError, ClusterUnreachable, UnexpectedAnswer) as err:
        return f"the engine did not say why ({err})"
    return reason_in_words(answer)


def refused_everywhere(cluster: Cluster, index: str, shard: int) -> str | None:
    """Why primary ``shard`` of ``index`` can be allocated on no node, in words, when the deciders
    say NO on every node (an allocation filter, a full disk, allocation disabled): waiting does not
    mend that. None when waiting may (the copy is on a node that left, allocation is delayed or
    throttled, the shard is allocated again), and when the engine does not answer."""
    body = {"index": index, "shard": shard, "primary": True}
    try:
        answer = cluster.request("POST", EXPLAIN, body, timeout=cluster.long_request_timeout).body or {}
    except (EngineError, ClusterUnreachable, UnexpectedAnswer) as err:  # e.g. 400: the shard is assigned now
        logger.debug("allocation explain for %s[%d]: %s", index, shard, err)
        return None
    return reason_in_words(answer) if answer.get("can_allocate") == "no" else None


def copy_on_a_lost_node(cluster: Cluster, index: str) -> bool:
    """Whether primary 0 of ``index`` is unassigned because the node holding its copy left (it is
    allocated again when that node comes back): the engine says "a previous copy of the primary
    shard existed but can no longer be found" (not: "all found copies are stale or corrupt", which
    a returning node does not mend)."""
    body = {"index": index, "shard": 0, "primary": True}
    try:
        answer = cluster.request("POST", EXPLAIN, body, timeout=cluster.long_request_timeout).body or {}
    except (EngineError, ClusterUnreachable, UnexpectedAnswer):
        return False
    return "can no longer be found" in str(answer.get("allocate_explanation") or "")


def reason_in_words(explain: dict) -> str:
    """The words for one allocation-explain answer (see ``allocation_reason``)."""
    nodes = explain.get("node_allocation_decisions") or []
    said_no: dict[str, int] = {}
    for node in nodes:
        for decider in {d.get("decider", "") for d in node.get("deciders") or [] if d.get("decision") == "NO"}:
            said_no[decider] = said_no.get(decider, 0) + 1
    if len(said_no) > 1:
        said_no.pop("restore_in_progress", None)  # the consequence of the other deciders' NO, not the cause
    parts = []
    for decider, count in sorted(said_no.items(), key=lambda item: (-item[1], item[0])):
        where = (
            f"every node ({plural(len(nodes), 'node')})" if count == len(nodes) else f"{count} of {len(nodes)} nodes"
        )
        parts.append(f"{DECIDER_WORDS.get(decider, decider.replace('_', ' '))} on {where}")
    if parts:
        return "; ".join(parts)
    info = explain.get("unassigned_info") or {}
    text = explain.get("allocate_explanation") or info.get("details") or info.get("reason") or "no reason given"
    text = re.sub(r"\s+", " ", str(text))
    return text if len(text) <= 300 else text[:297] + "..."


def without_primaries(cluster: Cluster, plan: Plan) -> list[str]:
    """The restored indices whose every primary is unassigned (red, no active primary). One request
    for the cluster's index health, filtered to two fields: asked once, when a restore has failed."""
    answer = cluster.get(
        "/_cluster/health",
        params={
            "level": "indices",
            "filter_path": "indices.*.status,indices.*.active_primary_shards",
            "expand_wildcards": "all",
        },
        ok=(408,),
        timeout=cluster.long_request_timeout,
    )
    indices = answer.get("indices") or {}
    return sorted(
        name
        for name, health in indices.items()
        if plan.owns(name) and health.get("status") == "red" and not health.get("active_primary_shards")
    )


def created_by_run(ctx: Context, plan: Plan, existing: Existing, names: list[str]) -> tuple[list[str], list[str]]:
    """Split ``names`` into those this run created and the user's own (restored over with
    existing_indices = close: never deleted). With existing_indices = delete, the user's were deleted
    on request before the restore, so what stands now is this run's."""
    policy = ctx.config.restore.existing_indices
    mine = [n for n in names if n not in existing.indices or policy == "delete"]
    return mine, [n for n in names if n not in mine]


def remove_unusable(ctx: Context, plan: Plan, existing: Existing) -> Unusable:
    """Delete the restored indices this run created that hold nothing usable (every primary
    unassigned), unless --keep-failed; name what stays. Never deletes an index the run did not
    create. Never raises: what could not be deleted is named as left behind."""
    cluster = ctx.cluster
    try:
        empty = without_primaries(cluster, plan)
    except (EngineError, ClusterUnreachable, UnexpectedAnswer) as err:
        return Unusable([], [], f"which restored indices are empty could not be read ({err}); {REMOVE_HINT}")
    mine, users = created_by_run(ctx, plan, existing, empty)
    notes = []
    if users:
        notes.append(
            f"{listed(users)} were yours (restored over with existing_indices = close) and are left as they are, "
            "red: restore them again once the cause is fixed, or delete them"
        )
    if not mine:
        return Unusable([], users, "; ".join(notes) or f"nothing was deleted; {REMOVE_HINT}")
    if ctx.keep_failed:
        notes.insert(
            0,
            f"left the empty red {plural(len(mine), 'index', 'indices')} (--keep-failed): {listed(mine)}; {REMOVE_HINT}",
        )
        return Unusable([], mine + users, "; ".join(notes))
    removed, failed = [], []
    for chunk in chunks(mine):
        try:
            cluster.request("DELETE", path_of(",".join(chunk)), changes=True)
            removed += chunk
        except (EngineError, ClusterUnreachable, UnexpectedAnswer) as err:
            logger.warning("could not delete %s on the %s: %s", listed(chunk), cluster.side, err)
            failed += chunk
    if removed:
        notes.insert(
            0,
            f"deleted the {plural(len(removed), 'index', 'indices')} it had created with no primary allocated "
            f"(keep them with --keep-failed): {listed(removed)}",
        )
    if failed:
        notes.insert(0, f"could not delete the empty red {plural(len(failed), 'index', 'indices')}: {listed(failed)}")
    return Unusable(removed, failed + users, "; ".join(notes))
