"""Restore: register the repository read-only on the destination, restore, wait for recovery, check.

Existing indices with the names being restored are handled by one policy: ``refuse`` (default:
list them, change nothing), ``close`` (close them and restore over them), ``rename`` (restore under
new names beside them), ``delete`` (delete them first; only with confirm_delete / --confirm-delete).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..cluster import Cluster, path_of
from ..config import LATEST
from ..errors import (
    ConfigError,
    EngineError,
    IndexConflict,
    Interrupted,
    OperationFailed,
    RestoreFailed,
)
from ..names import expand_snapshot_name, is_pattern, match_indices, pattern_regex, renamed
from ..repository import ensure_repository
from . import Context

logger = logging.getLogger(__name__)

MAX_LISTED = 10
RED_POLLS_TO_FAIL = 3  # a restored index red this many polls in a row, with no recovery running, has failed


@dataclass(frozen=True)
class Plan:
    snapshot: str
    indices: list[str]  # names in the snapshot
    targets: dict[str, str]  # snapshot index name -> name on the destination


def run_restore(ctx: Context) -> None:
    """Restore the configured indices from the snapshot into the destination cluster.

    Returns when every restored index exists, has recovered and reached the wanted health; prints
    each index's document count. Raises IndexConflict, RestoreFailed, WaitTimeout, RepositoryError,
    Interrupted, ConfigError, or the cluster's connection and auth errors.
    """
    config, cluster = ctx.config, ctx.cluster
    logger.info("destination: %s at %s", cluster.info(), ", ".join(cluster.seeds))
    ensure_repository(cluster, config.repository, readonly=config.repository.readonly_on_destination)
    if cluster.dry_run and not _repository_registered(cluster, config.repository.name):
        ctx.echo(
            "DRY RUN: the repository is not registered yet, so its snapshots cannot be listed; nothing was changed"
        )
        return
    plan = _plan(ctx)
    _handle_existing(ctx, plan)
    _start(ctx, plan)
    if cluster.dry_run:
        ctx.echo(f"DRY RUN: nothing was changed; would restore {', '.join(plan.indices)} from {plan.snapshot}")
        return
    targets = sorted(plan.targets.values())
    follow = f"GET /_cat/recovery/{','.join(targets)}?active_only=true"
    if not ctx.wait:
        ctx.echo(f"restore of {', '.join(targets)} from {plan.snapshot} started; follow it with: {follow}")
        return
    try:
        _wait(ctx, targets, follow)
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted: the restore of {', '.join(targets)} goes on in the destination cluster; follow it with: {follow}"
        ) from None
    _report(ctx, plan)
    ctx.result.snapshot, ctx.result.indices = plan.snapshot, sorted(plan.targets.values())


def _repository_registered(cluster: Cluster, name: str) -> bool:
    return cluster.get(path_of("_snapshot", name), ok=(404,)).status == 200


def _choose_snapshot(ctx: Context) -> dict:
    """The snapshot to restore.

    A plain name is that snapshot. ``latest`` is the newest SUCCESS snapshot holding every
    configured index; a name with strftime patterns (``nightly-%Y.%m.%d``) is the newest such
    snapshot whose name the pattern could have produced.
    """
    config, cluster = ctx.config, ctx.cluster
    repo, wanted = config.repository.name, config.restore.snapshot
    if wanted != LATEST and "%" not in wanted:
        try:
            name = expand_snapshot_name(wanted, ctx.now())
        except ValueError as err:
            raise ConfigError(f"{config.path}: snapshot name {err}") from None
        answer = cluster.get(path_of("_snapshot", repo, name), ok=(404,))
        if answer.status == 404 or not answer.get("snapshots"):
            raise RestoreFailed(f"snapshot {name} not found in repository {repo}")
        return answer.get("snapshots")[0]
    name_filter = pattern_regex(wanted) if wanted != LATEST else None
    snapshots = cluster.get(path_of("_snapshot", repo, "_all")).get("snapshots") or []
    patterns = config.snapshot.indices
    candidates = [
        s
        for s in snapshots
        if s.get("state") == "SUCCESS"
        and (name_filter is None or name_filter.fullmatch(s.get("snapshot", "")))
        and all(match_indices((p,), s.get("indices", []))[p] for p in patterns)
    ]
    if not candidates:
        named = f" named like {wanted}" if name_filter else ""
        raise RestoreFailed(
            f"no SUCCESS snapshot{named} in repository {repo} holds {', '.join(patterns)} "
            f"({len(snapshots)} snapshot(s) in the repository)"
        )
    newest = max(candidates, key=lambda s: (s.get("start_time_in_millis", 0), s.get("snapshot", "")))
    logger.info("latest SUCCESS snapshot holding the indices: %s", newest.get("snapshot"))
    return newest


def _plan(ctx: Context) -> Plan:
    restore, patterns = ctx.config.restore, ctx.config.snapshot.indices
    snapshot = _choose_snapshot(ctx)
    name, state = snapshot.get("snapshot"), snapshot.get("state")
    if state != "SUCCESS" and not (state == "PARTIAL" and restore.partial):
        raise RestoreFailed(
            f"snapshot {name} is {state}, not SUCCESS: refusing to restore it"
            + (
                " (set partial = true in [restore] to restore what a PARTIAL snapshot holds)"
                if state == "PARTIAL"
                else ""
            )
        )
    matched = match_indices(patterns, snapshot.get("indices", []))
    missing = [p for p, names in matched.items() if not names and not is_pattern(p)]
    if missing and not restore.ignore_unavailable:
        raise RestoreFailed(f"index not in snapshot {name}: {', '.join(missing)}")
    indices = sorted({n for names in matched.values() for n in names})
    if not indices:
        raise RestoreFailed(f"snapshot {name} holds no index matching {', '.join(patterns)}")
    targets = {index: renamed(index, restore.rename_pattern, restore.rename_replacement) for index in indices}
    logger.info(
        "restoring from %s: %s",
        name,
        ", ".join(index if index == target else f"{index} -> {target}" for index, target in targets.items()),
    )
    return Plan(snapshot=name, indices=indices, targets=targets)


def _existing(cluster: Cluster, names: list[str]) -> dict[str, str]:
    """The given index names that exist on the destination, with their status (open or close)."""
    rows = (
        cluster.get("/_cat/indices", params={"format": "json", "h": "index,status", "expand_wildcards": "all"}).body
        or []
    )
    wanted = set(names)
    return {row["index"]: row.get("status", "open") for row in rows if row["index"] in wanted}


def _listed(names: list[str]) -> str:
    more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
    return ", ".join(names[:MAX_LISTED]) + more


def _handle_existing(ctx: Context, plan: Plan) -> None:
    """Apply the existing-index policy; raise IndexConflict when it forbids going on."""
    cluster, restore = ctx.cluster, ctx.config.restore
    existing = _existing(cluster, list(plan.targets.values()))
    if not existing:
        return
    names = sorted(existing)
    policy = restore.existing_indices
    if policy in ("refuse", "rename"):
        why = "restored names" if policy == "rename" else "same names"
        raise IndexConflict(
            f"the destination already has {len(names)} index(es) with the {why}: {_listed(names)}; nothing was changed. "
            "Choose existing_indices = close, rename or delete in [restore] (or --existing)"
            + (" with a rename_replacement that gives new names" if policy == "rename" else "")
        )
    if policy == "close":
        open_ones = [n for n in names if existing[n] == "open"]
        if open_ones:
            cluster.request("POST", path_of(",".join(open_ones), "_close"), changes=True)
            logger.warning(
                "closed %d index(es) on the destination to restore over them: %s", len(open_ones), _listed(open_ones)
            )
        return
    if not restore.confirm_delete:
        raise IndexConflict(
            f"existing_indices = delete would delete {_listed(names)} on the destination; nothing was changed. "
            "Confirm with confirm_delete = true in [restore] or --confirm-delete"
        )
    for name in names:
        cluster.request("DELETE", path_of(name), changes=True)
    if not cluster.dry_run:
        logger.warning("deleted %d index(es) on the destination before restoring: %s", len(names), ", ".join(names))


def _start(ctx: Context, plan: Plan) -> None:
    config, cluster = ctx.config, ctx.cluster
    restore = config.restore
    body: dict = {
        "indices": ",".join(plan.indices),
        "ignore_unavailable": restore.ignore_unavailable,
        "include_global_state": False,
        "include_aliases": restore.include_aliases,
        "partial": restore.partial,
    }
    if any(index != target for index, target in plan.targets.items()):
        body["rename_pattern"] = restore.rename_pattern
        body["rename_replacement"] = restore.rename_replacement
    if restore.index_settings:
        body["index_settings"] = dict(restore.index_settings)
    try:
        cluster.request(
            "POST",
            path_of("_snapshot", config.repository.name, plan.snapshot, "_restore"),
            body,
            params={"wait_for_completion": "false"},
            changes=True,
        )
    except EngineError as err:
        raise RestoreFailed(f"restore from {plan.snapshot} was refused: {err.error_type}: {err.reason}") from err
    if not cluster.dry_run:
        logger.info("restore from %s/%s started", config.repository.name, plan.snapshot)


def _recovery_progress(cluster: Cluster, targets: list[str]) -> tuple[int, int, int, int]:
    """(bytes recovered, bytes to recover, shards done, shards) over the restored indices."""
    rows = (
        cluster.get(
            path_of("_cat", "recovery", ",".join(targets)),
            params={"format": "json", "bytes": "b", "h": "index,shard,stage,bytes_recovered,bytes_total"},
        ).body
        or []
    )
    done_bytes = sum(int(r.get("bytes_recovered") or 0) for r in rows)
    total_bytes = sum(int(r.get("bytes_total") or 0) for r in rows)
    done_shards = sum(1 for r in rows if r.get("stage") == "done")
    return done_bytes, total_bytes, done_shards, len(rows)


def _wait(ctx: Context, targets: list[str], follow: str) -> None:
    """Wait until no restored shard initialises and the indices reach the wanted health."""
    cluster, wanted = ctx.cluster, ctx.config.restore.wait_for_status
    progress = ctx.progress("restore")
    rank = {"red": 0, "yellow": 1, "green": 2}

    red_polls = 0

    def ready(health: dict) -> bool:
        # While a restore waits to start, engines report its unassigned primaries as yellow: only
        # all primaries active (and nothing initialising) means the data is there.
        return (
            rank.get(health.get("status", "red"), 0) >= rank[wanted]
            and health.get("active_primary_shards", 0) >= health.get("number_of_shards", 1)
            and not health.get("initializing_shards", 0)
        )

    def check():
        nonlocal red_polls
        progress.update(*_recovery_progress(cluster, targets))
        health = cluster.get(
            path_of("_cluster", "health", ",".join(targets)), params={"level": "indices"}, ok=(408,)
        ).body
        indices = health.get("indices") or {}
        if all(name in indices and ready(indices[name]) for name in targets):
            return health.get("status")
        red = sorted(n for n, h in indices.items() if h.get("status") == "red" and not h.get("initializing_shards", 0))
        red_polls = red_polls + 1 if red and not _still_recovering(cluster, red) else 0
        if red_polls >= RED_POLLS_TO_FAIL:
            unassigned = sum(indices[n].get("unassigned_shards", 0) for n in red)
            raise RestoreFailed(
                f"restore failed: {_listed(red)} stayed red with {unassigned} unassigned shard(s); "
                "see GET /_cluster/allocation/explain on the destination"
            )
        return None

    try:
        ctx.wait_for(
            check,
            timeout_message=(
                f"the restored indices did not reach {wanted} within {ctx.config.wait.max_wait:.0f}s (max_wait in "
                f"[wait]); the restore goes on in the destination cluster: follow it with {follow}"
            ),
        )
    finally:
        progress.close()


def _still_recovering(cluster: Cluster, names: list[str]) -> bool:
    rows = cluster.get(
        path_of("_cat", "recovery", ",".join(names)), params={"format": "json", "active_only": "true"}
    ).body
    return bool(rows)


def _report(ctx: Context, plan: Plan) -> None:
    """Check that every restored index exists and print its document count."""
    cluster = ctx.cluster
    counts = {}
    for target in sorted(plan.targets.values()):
        try:
            counts[target] = cluster.get(path_of(target, "_count")).get("count")
        except OperationFailed as err:
            raise RestoreFailed(f"restored index {target} cannot be read on the destination: {err}") from err
    width = max(len(t) for t in counts)
    ctx.echo(f"restored {len(counts)} index(es) from {ctx.config.repository.name}/{plan.snapshot}:")
    for target, count in counts.items():
        ctx.echo(f"  {target:<{width}}  {count} docs")
