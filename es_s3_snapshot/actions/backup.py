"""Backup: register the repository on the source, snapshot the indices, wait for the verdict.

The snapshot is created with ``wait_for_completion=true`` in a background call, so that its end is
noticed the moment the engine answers, and the answer is the verdict. Meanwhile progress is read
(``_status``, filtered to a constant size) only as often as it is shown. If the blocking call is
cut (a proxy's idle timeout, a node restart), the wait goes on by polling the snapshot itself.
"""

from __future__ import annotations

import logging
import re

from .. import __version__
from ..cluster import path_of
from ..errors import (
    ClusterUnreachable,
    ConfigError,
    EngineError,
    Interrupted,
    SnapshotExists,
    SnapshotFailed,
    UnexpectedAnswer,
    WaitTimeout,
)
from ..names import expand_snapshot_name, listed, match_indices
from ..repository import advice, ensure_repository, is_repository_failure
from ..wait import Background, human_bytes, plural, rate
from . import Context
from .prune import prune_after_backup

logger = logging.getLogger(__name__)

RUNNING_STATES = ("INIT", "STARTED", "IN_PROGRESS")
MAX_LISTED_FAILURES = 10
STATUS_FILTER = "snapshots.state,snapshots.shards_stats,snapshots.stats"  # constant size, whatever the shards
FIRST_PROGRESS = 1.0  # seconds: learn the snapshot's size early, whatever the progress interval


def run_backup(ctx: Context) -> None:
    """Snapshot the configured indices (and data streams) of the source cluster into the repository.

    Returns when the snapshot is SUCCESS (or, with --no-wait, once it has started). Raises
    SnapshotExists, SnapshotFailed, WaitTimeout, RepositoryError, Interrupted, or the cluster's
    connection and auth errors.
    """
    config, cluster = ctx.config, ctx.cluster
    repo = config.repository_for("source")
    try:
        name = expand_snapshot_name(config.snapshot.name, ctx.now())
    except ValueError as err:
        raise ConfigError(f"{config.path}: [elasticsearch_config] snapshot_name {err}") from None

    logger.info("source: %s at %s", cluster.info(), ", ".join(cluster.seeds))
    ensure_repository(cluster, repo, readonly=False, writes=True)
    ctx.result.snapshot = name
    follow = f"GET /_snapshot/{repo.name}/{name}/_status"
    if cluster.dry_run or not ctx.wait:
        _create(ctx, name, blocking=False)
        ctx.echo(
            f"DRY RUN: nothing was changed; the snapshot would be {repo.name}/{name}"
            if cluster.dry_run
            else f"snapshot {repo.name}/{name} started; follow it with: {follow}"
        )
        return
    stats: dict = {}
    try:
        snapshot = _create_and_wait(ctx, name, follow, stats)
    except KeyboardInterrupt as err:
        raise Interrupted.of(
            err, f"snapshot {repo.name}/{name} goes on in the source cluster; follow it with: {follow}"
        ) from None
    _verdict(ctx, name, snapshot, stats)
    ctx.result.indices = list(snapshot.get("indices") or [])
    ctx.result.bytes = stats.get("incremental", {}).get("size_in_bytes")
    if config.retention.prune_after_backup:
        prune_after_backup(ctx)


def _body(ctx: Context) -> dict:
    snap = ctx.config.snapshot
    return {
        "indices": ",".join(snap.indices),  # names and patterns, in the body: data streams are taken as they are
        "ignore_unavailable": snap.ignore_unavailable,
        "include_global_state": snap.include_global_state,
        "partial": snap.partial,
        "metadata": {"taken_by": "es-s3-snapshot", "version": __version__},
    }


def _create(ctx: Context, name: str, *, blocking: bool) -> dict | None:
    """Send the create request once; returns the finished snapshot for a blocking call, else None.

    Returns ``None`` too when the engine is busy with other snapshot operations (the caller waits
    and tries again). Raises SnapshotExists or SnapshotFailed for refusals, and the cluster's
    errors when the request itself fails.
    """
    cluster, repo = ctx.cluster, ctx.config.repository_for("source").name
    try:
        answer = cluster.request(
            "PUT",
            path_of("_snapshot", repo, name),
            _body(ctx),
            params={"wait_for_completion": "true" if blocking else "false"},
            changes=True,
            # never resent: a second create of the same name would be refused as "already exists"
            retries=0,
            timeout=ctx.config.wait.max_wait + cluster.request_timeout if blocking else cluster.long_request_timeout,
        )
    except EngineError as err:
        if err.error_type == "concurrent_snapshot_execution_exception":
            logger.info("the source cluster is busy with other snapshot operations; waiting (%s)", err.reason)
            return None
        if err.error_type == "invalid_snapshot_name_exception" and "already exists" in err.reason:
            raise SnapshotExists(
                f"snapshot {name} already exists in repository {repo}: it is left as it is; choose another "
                "name (snapshot_name or --snapshot), or leave snapshot_name unset for a timestamped one"
            ) from err
        if err.error_type == "index_not_found_exception":
            error = err.body.get("error") if isinstance(err.body, dict) else None
            missing = error.get("index") if isinstance(error, dict) else None
            found = re.search(r"\[([^\]]+)\]", err.reason)
            raise SnapshotFailed(
                f"index not found on the source cluster: {missing or (found.group(1) if found else err.reason)} "
                "(set ignore_unavailable = true in [snapshot] to skip missing indices)"
            ) from err
        if is_repository_failure(err):
            raise SnapshotFailed(
                f"snapshot {repo}/{name} could not be started: "
                + advice(ctx.config.repository_for("source"), cluster.side, err)
            ) from err
        raise SnapshotFailed(f"snapshot {repo}/{name} could not be started: {err}") from err
    if not blocking:
        if not cluster.dry_run:
            logger.info("snapshot %s/%s started", repo, name)
        return {}
    return answer.get("snapshot") or {}


def _create_and_wait(ctx: Context, name: str, follow: str, stats: dict) -> dict:
    """Create the snapshot with a blocking call and wait for it; returns the finished snapshot.

    ``stats`` receives the last progress figures. Retries while the engine is busy with other
    snapshot operations, for up to [snapshot] concurrent_wait.
    """
    config, cluster = ctx.config, ctx.cluster
    repo = config.repository_for("source").name
    progress = ctx.progress(f"snapshot {name}")
    busy_until = ctx.clock() + config.snapshot.concurrent_wait

    def show():
        try:
            answer = cluster.get(path_of("_snapshot", repo, name, "_status"), params={"filter_path": STATUS_FILTER})
        except (EngineError, ClusterUnreachable, UnexpectedAnswer) as err:  # progress is best effort
            logger.debug("progress of %s not available: %s", name, err)
            return
        status = (answer.get("snapshots") or [{}])[0]
        stats.update(status.get("stats") or {})
        _show_progress(progress, status)

    timeout_message = (
        f"snapshot {repo}/{name} did not finish within {config.wait.max_wait:.0f}s (max_wait in [wait]); "
        f"it goes on in the source cluster: follow it with {follow}"
    )
    try:
        while True:
            call = Background(lambda: _create(ctx, name, blocking=True))
            try:
                snapshot = ctx.wait_for_call(
                    call, poll=show, every=progress.every, first_poll=FIRST_PROGRESS, timeout_message=timeout_message
                )
            except (ClusterUnreachable, UnexpectedAnswer) as err:
                # The blocking call was cut; whether the snapshot started is read from the repository.
                return _poll_until_done(ctx, name, err, show, timeout_message)
            if snapshot is not None:
                return snapshot
            if ctx.clock() >= busy_until:
                raise WaitTimeout(
                    f"snapshot {repo}/{name} could not start: the source cluster was still busy with other "
                    f"snapshot operations after {config.snapshot.concurrent_wait:.0f}s "
                    "(concurrent_wait in [snapshot])"
                )
            ctx.sleep(min(config.wait.poll_interval, max(0.0, busy_until - ctx.clock())))
    finally:
        progress.close()


def _poll_until_done(ctx: Context, name: str, cut: Exception, show, timeout_message: str) -> dict:
    """After the blocking create was cut: follow the snapshot by polling it, if it exists."""
    cluster, repo = ctx.cluster, ctx.config.repository_for("source").name
    logger.warning("the blocking snapshot call was cut (%s); following the snapshot by polling instead", cut)

    def snapshot_now():
        try:
            answer = cluster.get(path_of("_snapshot", repo, name), ok=(404,), timeout=cluster.long_request_timeout)
        except (ClusterUnreachable, UnexpectedAnswer) as err:
            raise ClusterUnreachable(
                f"{err}; the snapshot {repo}/{name} may be running: check with GET /_snapshot/{repo}/{name}"
            ) from err
        return (answer.get("snapshots") or [None])[0] if answer.status == 200 else None

    first = snapshot_now()
    if first is None:
        raise SnapshotFailed(f"snapshot {repo}/{name} was not started: {cut}") from cut

    def check():
        snapshot = snapshot_now()
        if snapshot is None or snapshot.get("state") in RUNNING_STATES:
            show()
            return None
        return snapshot

    return ctx.wait_for(check, timeout_message=timeout_message)


def _show_progress(progress, status: dict) -> None:
    state = status.get("state", "")
    shards = status.get("shards_stats", {})
    stats = status.get("stats", {})
    total = stats.get("incremental", stats.get("total", {})).get("size_in_bytes", 0)
    done_shards, all_shards = shards.get("done", 0), shards.get("total", 0)
    done = stats.get("processed", {}).get("size_in_bytes", total if all_shards and done_shards == all_shards else 0)
    progress.update(done, total, done_shards, all_shards, state)


def _verdict(ctx: Context, name: str, snapshot: dict, stats: dict) -> None:
    """Judge the finished snapshot: return on SUCCESS, raise SnapshotFailed otherwise."""
    config = ctx.config
    repo = config.repository_for("source").name
    state = snapshot.get("state", "UNKNOWN")
    shards = snapshot.get("shards", {})
    indices, streams = snapshot.get("indices") or [], snapshot.get("data_streams") or []
    summary = plural(len(indices), "index", "indices") + (
        f" ({plural(len(streams), 'data stream')})" if streams else ""
    )
    summary += f", {shards.get('successful', 0)}/{plural(shards.get('total', 0), 'shard')}"
    if state == "SUCCESS" and not indices and not streams:
        raise SnapshotFailed(
            f"snapshot {repo}/{name} holds no index: nothing on the source cluster matches "
            f"{listed(list(config.snapshot.indices))} (the empty snapshot is left in the repository)"
        )
    if state == "SUCCESS":
        _warn_unmatched(config.snapshot.indices, indices + streams)
        logger.info("backed up %s", listed(sorted(streams + indices)))
        seconds = snapshot.get("duration_in_millis", 0) / 1000
        ctx.echo(f"snapshot {repo}/{name}: SUCCESS, {summary}{_size_text(ctx, name, stats, seconds)}")
        return
    failures = snapshot.get("failures") or []
    failed = "; ".join(
        f"{f.get('index', '?')}[{f.get('shard_id', '?')}]: {f.get('reason', 'no reason given')}"
        for f in failures[:MAX_LISTED_FAILURES]
    )
    more = f"; and {len(failures) - MAX_LISTED_FAILURES} more" if len(failures) > MAX_LISTED_FAILURES else ""
    reason = snapshot.get("reason")
    raise SnapshotFailed(
        f"snapshot {repo}/{name} finished {state}: {summary}"
        + (f"; failed shards: {failed}{more}" if failed else "")
        + (f"; reason: {reason}" if reason and not failed else "")
    )


def _warn_unmatched(patterns: tuple[str, ...], taken: list[str]) -> None:
    for pattern, names in match_indices(patterns, taken).items():
        if not names and not pattern.startswith("-"):
            logger.warning("index pattern %s matched nothing on the source cluster", pattern)


def _size_text(ctx: Context, name: str, stats: dict, seconds: float) -> str:
    """', N MiB new of M MiB in S s (R MB/s)'; reads the sizes into ``stats`` once if progress never
    saw them."""
    if not stats.get("incremental", {}).get("size_in_bytes"):
        repo, cluster = ctx.config.repository_for("source").name, ctx.cluster
        try:  # served from the repository once the snapshot is done: slow for many shards
            answer = cluster.get(
                path_of("_snapshot", repo, name, "_status"),
                params={"filter_path": "snapshots.stats"},
                timeout=cluster.long_request_timeout,
            )
            stats.update((answer.get("snapshots") or [{}])[0].get("stats") or {})  # the run report reads it too
        except (EngineError, ClusterUnreachable, UnexpectedAnswer) as err:
            logger.debug("snapshot size not available: %s", err)
    new = stats.get("incremental", {}).get("size_in_bytes")
    total = stats.get("total", {}).get("size_in_bytes")
    if new is None or total is None:
        return f", {seconds:.1f}s (size not reported)"
    return f", {human_bytes(new)} new of {human_bytes(total)} in {seconds:.1f}s ({rate(new, seconds)})"
