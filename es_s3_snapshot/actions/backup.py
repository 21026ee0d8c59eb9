"""Backup: register the repository on the source, snapshot the indices, wait for the verdict."""

from __future__ import annotations

import logging

from .. import __version__
from ..cluster import Cluster, path_of
from ..errors import ConfigError, EngineError, Interrupted, SnapshotExists, SnapshotFailed
from ..names import expand_snapshot_name, is_pattern, match_indices
from ..repository import ensure_repository
from ..wait import human_bytes
from . import Context
from .prune import prune_after_backup

logger = logging.getLogger(__name__)

RUNNING_STATES = ("INIT", "STARTED", "IN_PROGRESS")
MAX_LISTED_FAILURES = 10


def run_backup(ctx: Context) -> None:
    """Snapshot the configured indices of the source cluster into the repository.

    Returns when the snapshot is SUCCESS (or, with --no-wait, once it has started). Raises
    SnapshotExists, SnapshotFailed, WaitTimeout, RepositoryError, Interrupted, or the cluster's
    connection and auth errors.
    """
    config, cluster = ctx.config, ctx.cluster
    repo = config.repository.name
    try:
        name = expand_snapshot_name(config.snapshot.name, ctx.now())
    except ValueError as err:
        raise ConfigError(f"{config.path}: [elasticsearch_config] snapshot_name {err}") from None

    logger.info("source: %s at %s", cluster.info(), ", ".join(cluster.seeds))
    ensure_repository(cluster, config.repository, readonly=False)
    _check_indices(cluster, config.snapshot.indices, config.snapshot.ignore_unavailable)
    _refuse_existing(cluster, repo, name)
    _start(ctx, name)
    ctx.result.snapshot = name
    if cluster.dry_run:
        ctx.echo(f"DRY RUN: nothing was changed; the snapshot would be {repo}/{name}")
        return
    follow = f"GET /_snapshot/{repo}/{name}/_status"
    if not ctx.wait:
        ctx.echo(f"snapshot {repo}/{name} started; follow it with: {follow}")
        return
    try:
        finished, stats = _wait(ctx, name, follow)
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted: snapshot {repo}/{name} goes on in the source cluster; follow it with: {follow}"
        ) from None
    _verdict(ctx, name, finished, stats)
    ctx.result.indices = list(finished.get("indices", []))
    ctx.result.bytes = stats.get("incremental", {}).get("size_in_bytes")
    if config.retention.prune_after_backup:
        prune_after_backup(ctx)


def _check_indices(cluster: Cluster, patterns: tuple[str, ...], ignore_unavailable: bool) -> None:
    """Fail early, naming them, when configured indices do not exist on the source."""
    rows = cluster.get("/_cat/indices", params={"format": "json", "h": "index"}).body or []
    matched = match_indices(patterns, [row["index"] for row in rows])
    missing = [p for p, names in matched.items() if not names and not is_pattern(p)]
    if missing and not ignore_unavailable:
        raise SnapshotFailed(
            f"index not found on the source cluster: {', '.join(missing)} "
            "(set ignore_unavailable = true in [snapshot] to skip missing indices)"
        )
    for pattern, names in matched.items():
        if not names and is_pattern(pattern):
            logger.warning("index pattern %s matches no index on the source cluster", pattern)
    selected = sorted({n for names in matched.values() for n in names})
    if not selected:
        raise SnapshotFailed(f"no index on the source cluster matches {', '.join(patterns)}: nothing to back up")
    logger.info("indices to back up: %s", ", ".join(selected))


def _refuse_existing(cluster: Cluster, repo: str, name: str) -> None:
    answer = cluster.get(path_of("_snapshot", repo, name), ok=(404,))
    if answer.status == 200 and answer.get("snapshots"):
        raise SnapshotExists(
            f"snapshot {name} already exists in repository {repo}: it is left as it is; "
            "choose another name (snapshot_name or --snapshot), or leave snapshot_name unset for a timestamped one"
        )


def _start(ctx: Context, name: str) -> None:
    """Start the snapshot without blocking; retry while the engine runs too many snapshot operations."""
    config, cluster = ctx.config, ctx.cluster
    repo, snap = config.repository.name, config.snapshot
    body = {
        "indices": ",".join(snap.indices),
        "ignore_unavailable": snap.ignore_unavailable,
        "include_global_state": snap.include_global_state,
        "partial": snap.partial,
        "metadata": {"taken_by": "es-s3-snapshot", "version": __version__},
    }

    def attempt():
        try:
            cluster.request(
                "PUT", path_of("_snapshot", repo, name), body, params={"wait_for_completion": "false"}, changes=True
            )
            return True
        except EngineError as err:
            if err.error_type == "concurrent_snapshot_execution_exception" or err.status == 503:
                logger.info("the source cluster is busy with other snapshot operations; waiting (%s)", err.reason)
                return None
            if err.error_type == "invalid_snapshot_name_exception" and "already exists" in err.reason:
                raise SnapshotExists(
                    f"snapshot {name} already exists in repository {repo}: it is left as it is"
                ) from err
            if err.error_type == "index_not_found_exception":
                raise SnapshotFailed(f"index not found on the source cluster: {err.reason}") from err
            raise SnapshotFailed(f"snapshot {repo}/{name} could not be started: {err}") from err

    ctx.wait_for(
        attempt,
        max_wait=snap.concurrent_wait,
        timeout_message=(
            f"snapshot {repo}/{name} could not start: the source cluster was still busy with other snapshot "
            f"operations after {snap.concurrent_wait:.0f}s (concurrent_wait in [snapshot])"
        ),
    )
    logger.info("snapshot %s/%s started", repo, name)


def _wait(ctx: Context, name: str, follow: str) -> tuple[dict, dict]:
    """Follow the snapshot's progress until the snapshot itself says it is no longer in progress.

    ``_status`` gives progress, but can say SUCCESS while the snapshot is still being finalised:
    the verdict comes from ``GET _snapshot/<repo>/<name>``. Returns that snapshot's description
    and the ``stats`` of the last ``_status``.
    """
    repo = ctx.config.repository.name
    progress = ctx.progress(f"snapshot {name}")

    def check():
        answer = ctx.cluster.get(path_of("_snapshot", repo, name, "_status"))
        status = (answer.get("snapshots") or [{}])[0]
        state = status.get("state", "UNKNOWN")
        shards = status.get("shards_stats", {})
        stats = status.get("stats", {})
        total = stats.get("incremental", stats.get("total", {})).get("size_in_bytes", 0)
        done = stats.get("processed", {}).get(
            "size_in_bytes", total if shards.get("done") == shards.get("total") else 0
        )
        progress.update(done, total, shards.get("done", 0), shards.get("total", 0), state)
        if state in RUNNING_STATES:
            return None
        snapshot = (ctx.cluster.get(path_of("_snapshot", repo, name)).get("snapshots") or [{}])[0]
        return None if snapshot.get("state") in RUNNING_STATES else (snapshot, stats)

    try:
        return ctx.wait_for(
            check,
            timeout_message=(
                f"snapshot {repo}/{name} did not finish within {ctx.config.wait.max_wait:.0f}s (max_wait in [wait]); "
                f"it goes on in the source cluster: follow it with {follow}"
            ),
        )
    finally:
        progress.close()


def _verdict(ctx: Context, name: str, snapshot: dict, stats: dict) -> None:
    """Judge the finished snapshot: return on SUCCESS, raise SnapshotFailed otherwise."""
    repo = ctx.config.repository.name
    state = snapshot.get("state", "UNKNOWN")
    shards = snapshot.get("shards", {})
    summary = (
        f"{len(snapshot.get('indices', []))} indices, {shards.get('successful', 0)}/{shards.get('total', 0)} shards"
    )
    if state == "SUCCESS":
        seconds = snapshot.get("duration_in_millis", 0) / 1000
        size = _size_text(stats)
        ctx.echo(f"snapshot {repo}/{name}: SUCCESS, {summary}{size}, {seconds:.1f}s")
        return
    failures = snapshot.get("failures") or []
    listed = "; ".join(
        f"{f.get('index', '?')}[{f.get('shard_id', '?')}]: {f.get('reason', 'no reason given')}"
        for f in failures[:MAX_LISTED_FAILURES]
    )
    more = f"; and {len(failures) - MAX_LISTED_FAILURES} more" if len(failures) > MAX_LISTED_FAILURES else ""
    reason = snapshot.get("reason")
    raise SnapshotFailed(
        f"snapshot {repo}/{name} finished {state}: {summary}"
        + (f"; failed shards: {listed}{more}" if listed else "")
        + (f"; reason: {reason}" if reason and not listed else "")
    )


def _size_text(stats: dict) -> str:
    """', N MiB new of M MiB' from a snapshot status's stats, or '' when the engine does not say."""
    new = stats.get("incremental", {}).get("size_in_bytes")
    total = stats.get("total", {}).get("size_in_bytes")
    if new is None or total is None:
        return ""
    return f", {human_bytes(new)} new of {human_bytes(total)}"
