"""What of a restore's targets already exists on the destination, and the existing-index policy.

``refuse`` (default: list them, change nothing), ``close`` (close them and restore over them;
reopened if the restore is refused), ``rename`` (restore under new names beside them), ``delete``
(delete them first; only with confirm_delete / --confirm-delete).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ...cluster import Cluster, path_of
from ...errors import ClusterUnreachable, EngineError, IndexConflict, UnexpectedAnswer
from ...names import chunks, listed
from ...wait import plural
from .. import Context
from .plan import Plan

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Existing:
    indices: dict[str, tuple[str, int]]  # name -> (open/close, primaries) of targets that exist
    streams: list[str]  # target data streams that exist


def list_indices(cluster: Cluster, columns: str) -> list[dict]:
    """Every index of the destination (hidden and closed ones too), with ``columns`` of _cat/indices."""
    params = {"format": "json", "bytes": "b", "h": columns, "expand_wildcards": "all"}
    return cluster.get("/_cat/indices", params=params, timeout=cluster.long_request_timeout).body or []


def find_existing(cluster: Cluster, plan: Plan, rows: list[dict]) -> Existing:
    """What of the plan's targets already exists on the destination (``rows``: its indices; and
    its data streams when the plan has some)."""
    wanted = set(plan.targets.values())
    indices = {
        row["index"]: (row.get("status", "open"), int(row.get("pri") or 0)) for row in rows if row["index"] in wanted
    }
    streams: list[str] = []
    if plan.streams:
        answer = cluster.get("/_data_stream", ok=(404,))
        have = {d.get("name") for d in answer.get("data_streams") or []}
        streams = sorted(set(plan.streams.values()) & have)
    return Existing(indices, streams)


def handle_existing(ctx: Context, plan: Plan, existing: Existing) -> list[str]:
    """Apply the existing-index policy; returns the indices it closed. Raises IndexConflict when the
    policy forbids going on, or when the engine would refuse the restore over a closed index."""
    cluster, restore = ctx.cluster, ctx.config.restore
    names = sorted(existing.indices) + existing.streams
    if not names:
        return []
    policy = restore.existing_indices
    if policy in ("refuse", "rename") or (policy == "close" and existing.streams):
        why = "restored names" if policy == "rename" else "same names"
        noun = ("index or data stream", "indices or data streams") if existing.streams else ("index", "indices")
        streams = " (data streams cannot be closed)" if policy == "close" else ""
        raise IndexConflict(
            f"the destination already has {plural(len(names), *noun)} with the {why}{streams}: {listed(names)}; "
            "nothing was changed. Choose existing_indices = close, rename or delete "
            "in [restore] (or --existing)"
            + (" with a rename_replacement that gives new names" if policy == "rename" else "")
        )
    if policy == "close":
        check_shard_counts(ctx, plan, existing)
        open_ones = [n for n in sorted(existing.indices) if existing.indices[n][0] == "open"]
        for chunk in chunks(open_ones):
            cluster.request("POST", path_of(",".join(chunk), "_close"), changes=True)
        if open_ones and not cluster.dry_run:
            logger.warning(
                "closed %s on the destination to restore over them: %s",
                plural(len(open_ones), "index", "indices"),
                listed(open_ones),
            )
        return open_ones
    if not restore.confirm_delete:
        raise IndexConflict(
            f"existing_indices = delete would delete {listed(names)} on the destination; nothing was changed. "
            "Confirm with confirm_delete = true in [restore] or --confirm-delete"
        )
    for stream in existing.streams:
        cluster.request("DELETE", path_of("_data_stream", stream), changes=True)
    for chunk in chunks(sorted(existing.indices)):
        cluster.request("DELETE", path_of(",".join(chunk)), changes=True)
    if not cluster.dry_run:
        logger.warning(
            "deleted %s on the destination before restoring: %s", plural(len(names), "index", "indices"), listed(names)
        )
    return []


def check_shard_counts(ctx: Context, plan: Plan, existing: Existing) -> None:
    """Refuse, before closing anything, what the engine would refuse: restoring over an index
    with another number of primaries."""
    cluster, repo = ctx.cluster, ctx.config.repository_for("destination").name
    answer = cluster.get(
        path_of("_snapshot", repo, plan.snapshot, "_status"),
        params={"filter_path": "snapshots.indices.*.shards_stats.total"},
        timeout=cluster.long_request_timeout,
    )
    in_snapshot = ((answer.get("snapshots") or [{}])[0]).get("indices") or {}
    source_of = {target: index for index, target in plan.targets.items()}
    mismatched = []
    for name, (_, primaries) in sorted(existing.indices.items()):
        shards = (in_snapshot.get(source_of.get(name, name)) or {}).get("shards_stats", {}).get("total")
        if shards and primaries and shards != primaries:
            mismatched.append(f"{name} ({primaries} here, {shards} in the snapshot)")
    if mismatched:
        raise IndexConflict(
            f"cannot restore over {listed(mismatched)}: the number of primary shards differs, so the engine "
            "would refuse it; nothing was changed. Use existing_indices = rename, or delete them "
            "(existing_indices = delete with confirm_delete)"
        )


def reopen(ctx: Context, closed: list[str], cause: BaseException) -> None:
    """Reopen the indices this run closed, after the restore did not start; say what was done."""
    if not closed or ctx.cluster.dry_run:
        return
    failed = []
    for chunk in chunks(closed):
        try:
            ctx.cluster.request("POST", path_of(",".join(chunk), "_open"), changes=True)
        except (EngineError, ClusterUnreachable, UnexpectedAnswer):
            failed += chunk
    note = (
        f"left CLOSED by this run (reopen them with POST /<index>/_open): {listed(failed)}"
        if failed
        else f"reopened the {plural(len(closed), 'index', 'indices')} this run had closed: {listed(closed)}"
    )
    if isinstance(cause, Exception) and cause.args:
        cause.args = (f"{cause.args[0]}; {note}",) + cause.args[1:]
    else:
        logger.warning("%s", note)
