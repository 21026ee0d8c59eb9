"""What of a restore's targets already exists on the destination, and the existing-index policy.

``refuse`` (default: list them, change nothing), ``close`` (close them and restore over them;
reopened if the restore is refused), ``rename`` (restore under new names beside them), ``delete``
(delete them first; only with confirm_delete / --confirm-delete).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from ...cluster import Cluster, path_of
from ...compat import FAIL, OK, WARN
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
    """Every index of ``cluster`` (hidden and closed ones too), with ``columns`` of _cat/indices."""
    params = {"format": "json", "bytes": "b", "h": columns, "expand_wildcards": "all"}
    return cluster.get("/_cat/indices", params=params, timeout=cluster.long_request_timeout).body or []


def find_existing(cluster: Cluster, plan: Plan, rows: list[dict]) -> Existing:
    """What of the plan's targets already exists on ``cluster`` (``rows``: its indices; and
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


@dataclass(frozen=True)
class Verdict:
    """What existing targets mean for a restore: ``judge_existing``."""

    level: str  # OK: nothing of anyone else's in the way; WARN: the policy acts on others' indices; FAIL: refused
    detail: str  # one line: what exists and what happens to it, or why the restore must not go on
    close: list[str]  # existing indices to close and restore over
    delete: list[str]  # existing indices to delete first
    delete_streams: list[str]  # existing data streams to delete first


def judge_existing(
    restore,
    indices: dict[str, tuple[str, int]],
    streams: list[str],
    ours: frozenset[str] | set[str] = frozenset(),
    incoming_primaries: Callable[[], dict[str, int]] | None = None,
    targets: int | None = None,
) -> Verdict:
    """The one rule for existing targets, used by restore, check and migrate.

    ``restore``: the [restore] settings (existing_indices, confirm_delete); ``indices``: existing
    target indices (name -> (open/close, primaries)); ``streams``: existing target data streams;
    ``ours``: targets this migration restored itself (its record: ``sides.restored_by_migration``),
    which are restored over whatever the policy (indices closed, data streams deleted);
    ``incoming_primaries``: called only when an index is to be closed, target -> primaries in the
    snapshot (the engine refuses a restore over an index with another number of primaries);
    ``targets``: how many targets in all (for the OK line). Every other existing target follows
    the policy: refuse and rename refuse (the engine would not restore over them), close closes
    them (data streams cannot be closed), delete deletes them with confirm_delete only.
    """
    names = sorted(indices) + sorted(streams)
    mine = [n for n in names if n in ours]
    theirs = [n for n in names if n not in ours]
    policy = restore.existing_indices
    note = (
        f"; {plural(len(mine), 'target')} restored by an earlier round of this migration "
        f"{'is' if len(mine) == 1 else 'are'} restored over"
        if mine
        else ""
    )
    if theirs:
        their_streams = [n for n in theirs if n in streams]
        noun = ("index or data stream", "indices or data streams") if their_streams else ("index", "indices")
        what = f"the destination already has {plural(len(theirs), *noun)}"
        refusal = None
        if policy == "refuse":
            refusal = (
                f"{what} with the same names: {listed(theirs)}; nothing was changed. Choose existing_indices = "
                "close, rename or delete in [restore] (or --existing)"
            )
        elif policy == "rename":
            refusal = (
                f"{what} with the restored names: {listed(theirs)}; nothing was changed. Choose a "
                "rename_replacement that gives new names, or existing_indices = close or delete in [restore] "
                "(or --existing)"
            )
        elif policy == "close" and their_streams:
            refusal = (
                f"{what} with the same names (data streams cannot be closed): {listed(theirs)}; nothing was "
                "changed. Choose existing_indices = rename, or delete with confirm_delete"
            )
        elif policy == "delete" and not restore.confirm_delete:
            refusal = (
                f"existing_indices = delete would delete {listed(theirs)} on the destination; nothing was "
                "changed. Confirm with confirm_delete = true in [restore] or --confirm-delete"
            )
        if refusal:
            return Verdict(FAIL, refusal, [], [], [])
    close = [n for n in sorted(indices) if n in ours or policy == "close"]
    delete = [n for n in sorted(indices) if n not in ours and policy == "delete"]
    delete_streams = [n for n in sorted(streams) if n in ours or policy == "delete"]
    if close and incoming_primaries is not None:
        shards = incoming_primaries()
        mismatched = [
            f"{n} ({indices[n][1]} here, {shards[n]} in the snapshot)"
            for n in close
            if shards.get(n) and indices[n][1] and shards[n] != indices[n][1]
        ]
        if mismatched:
            return Verdict(
                FAIL,
                f"cannot restore over {listed(mismatched)}: the number of primary shards differs, so the engine "
                "would refuse it; nothing was changed. Use existing_indices = rename, or delete them "
                "(existing_indices = delete with confirm_delete)",
                [],
                [],
                [],
            )
    if theirs:
        action = "closes them and restores over them" if policy == "close" else "deletes them first"
        return Verdict(
            WARN, f"{listed(theirs)} exist: existing_indices = {policy} {action}{note}", close, delete, delete_streams
        )
    new = (
        "nothing on the destination is in the way"
        if targets is None
        else f"{targets - len(names)} of {plural(targets, 'target')} are new"
    )
    return Verdict(OK, new + note, close, delete, delete_streams)


def handle_existing(ctx: Context, plan: Plan, existing: Existing) -> list[str]:
    """Apply the existing-index rule (``judge_existing``, with the migration's own indices in
    ``ctx.ours``); returns the indices it closed. Raises IndexConflict when the rule forbids going
    on, or when the engine would refuse the restore over a closed index."""
    cluster = ctx.cluster
    verdict = judge_existing(
        ctx.config.restore, existing.indices, existing.streams, ctx.ours, lambda: snapshot_primaries(ctx, plan)
    )
    if verdict.level == FAIL:
        raise IndexConflict(verdict.detail)
    for stream in verdict.delete_streams:
        cluster.request("DELETE", path_of("_data_stream", stream), changes=True)
    for chunk in chunks(verdict.delete):
        cluster.request("DELETE", path_of(",".join(chunk)), changes=True)
    deleted = verdict.delete_streams + verdict.delete
    if deleted and not cluster.dry_run:
        logger.warning(
            "deleted %s on the %s before restoring: %s",
            plural(len(deleted), "index or data stream", "indices or data streams")
            if verdict.delete_streams
            else plural(len(deleted), "index", "indices"),
            cluster.side,
            listed(deleted),
        )
    open_ones = [n for n in verdict.close if existing.indices[n][0] == "open"]
    for chunk in chunks(open_ones):
        cluster.request("POST", path_of(",".join(chunk), "_close"), changes=True)
    if open_ones and not cluster.dry_run:
        logger.warning(
            "closed %s on the %s to restore over them: %s",
            plural(len(open_ones), "index", "indices"),
            cluster.side,
            listed(open_ones),
        )
    return open_ones


def snapshot_primaries(ctx: Context, plan: Plan) -> dict[str, int]:
    """Target name -> number of primaries in the snapshot, for the plan's indices (one request)."""
    cluster = ctx.cluster
    repo = ctx.config.repository_for(cluster.side).name
    answer = cluster.get(
        path_of("_snapshot", repo, plan.snapshot, "_status"),
        params={"filter_path": "snapshots.indices.*.shards_stats.total"},
        timeout=cluster.long_request_timeout,
    )
    in_snapshot = ((answer.get("snapshots") or [{}])[0]).get("indices") or {}
    return {
        target: int((in_snapshot.get(index) or {}).get("shards_stats", {}).get("total") or 0)
        for index, target in plan.targets.items()
    }


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
