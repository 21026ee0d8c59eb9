"""Backup: register the repository on the source, snapshot the indices, wait for the verdict.

The snapshot is created with ``wait_for_completion=true`` in a background call, so that its end is
noticed the moment the engine answers, and the answer is the verdict. Meanwhile progress is read
(``_status``, filtered to a constant size) only as often as it is shown. If the blocking call is
cut (a proxy's idle timeout, a node restart), the wait goes on by polling the snapshot itself.
"""

from __future__ import annotations

import json
import logging
import re

from .. import __version__
from ..cluster import one_line, path_of
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
from ..names import expand_snapshot_name, listed, retry_name
from ..repository import advice, ensure_repository, is_repository_failure
from ..retention import TAKEN_BY
from ..selection import Selection
from ..wait import Background, human_bytes, plural, rate
from . import Context
from .patience import Patient, passing
from .prune import prune_after_backup
from .restoring.allocation import refused_everywhere
from .sides import inventory, selection_of

logger = logging.getLogger(__name__)

RUNNING_STATES = ("INIT", "STARTED", "IN_PROGRESS")
MAX_LISTED_FAILURES = 10
STATUS_FILTER = "snapshots.state,snapshots.shards_stats,snapshots.stats"  # constant size, whatever the shards
FIRST_PROGRESS = 1.0  # seconds: learn the snapshot's size early, whatever the progress interval
METADATA_LIMIT = 1000  # bytes of snapshot metadata JSON (engines refuse more than 1024)
NOT_STARTED_AFTER = 3  # poll intervals a snapshot is looked for after an answer without a verdict


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
    indices = choose_indices(ctx)
    ctx.result.snapshot = name
    follow = f"GET /_snapshot/{repo.name}/{name}/_status"
    if cluster.dry_run or not ctx.wait:
        _create(ctx, name, indices, blocking=False)
        ctx.echo(
            f"DRY RUN: nothing was changed; the snapshot would be {repo.name}/{name}"
            if cluster.dry_run
            else f"snapshot {repo.name}/{name} started; follow it with: {follow}"
        )
        return
    stats: dict = {}
    snapshot = _take(ctx, name, indices, stats)
    name, snapshot, stats = judge_with_retries(ctx, name, indices, snapshot, stats)
    ctx.result.indices = list(snapshot.get("indices") or [])
    ctx.result.bytes = stats.get("incremental", {}).get("size_in_bytes")
    if config.retention.prune_after_backup:
        prune_after_backup(ctx)


def choose_indices(ctx: Context) -> Selection:
    """What the configured patterns select on the source now, by the one rule of selection.py:
    wildcards never take hidden or system indices (the engines' own expansion would take hidden
    ones), exact names and dot patterns do; data streams by name. The snapshot is asked for these
    names exactly, so that every engine takes the same set.

    Raises SnapshotFailed, before anything is created, when an exact name is missing (unless
    ignore_unavailable) or nothing is selected."""
    config, cluster = ctx.config, ctx.cluster
    patterns = config.snapshot.indices
    chosen = selection_of(patterns, inventory(cluster))
    if chosen.missing and not config.snapshot.ignore_unavailable:
        raise SnapshotFailed(
            f"index not found on the source cluster: {listed(chosen.missing)} "
            "(set ignore_unavailable = true in [snapshot] to skip missing indices); no snapshot was taken"
        )
    for entry in chosen.unmatched:
        logger.warning("index pattern %s matched nothing on the source cluster", entry)
    if not chosen.names:
        raise SnapshotFailed(
            f"nothing on the source cluster matches {listed(list(patterns))} (wildcards never take hidden or "
            "system indices: name those exactly, or with a pattern that starts with a dot); no snapshot was taken"
        )
    logger.info(
        "selected %s on the source cluster",
        plural(len(chosen.indices), "index", "indices")
        + (f" and {plural(len(chosen.streams), 'data stream')}" if chosen.streams else ""),
    )
    return chosen


def _body(ctx: Context, indices: Selection) -> dict:
    snap = ctx.config.snapshot
    return {
        "indices": ",".join(indices.names),  # exact names, in the body: data streams bring their backing indices
        "ignore_unavailable": snap.ignore_unavailable,
        "include_global_state": snap.include_global_state,
        "partial": snap.partial,
        "metadata": _metadata(indices.hidden, ctx.run_id),
    }


def _metadata(hidden: list[str], run_id: str) -> dict:
    """The snapshot's metadata: who took it, in which run (``run``: tells this run's snapshot from an
    older one of the same name), and which of its indices are hidden (the listing does not say, and
    restore's wildcards skip them). Engines refuse metadata over 1024 bytes: a list that does not fit
    is left out (restore then knows only the dot-prefixed ones)."""
    metadata: dict = {"taken_by": "es-s3-snapshot", "version": __version__, "run": run_id}
    if hidden and len(json.dumps({**metadata, "hidden": hidden})) < METADATA_LIMIT:
        metadata["hidden"] = hidden
    elif hidden:
        logger.warning(
            "the names of the %s in the snapshot do not fit its metadata: a restore by wildcard may take them",
            plural(len(hidden), "hidden index", "hidden indices"),
        )
    return metadata


def _create(ctx: Context, name: str, indices: Selection, *, blocking: bool) -> dict | None:
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
            _body(ctx, indices),
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
    snapshot = answer.get("snapshot")
    if not isinstance(snapshot, dict) or not snapshot.get("state"):
        # a gateway or proxy that answered for the engine ({"accepted": true}): no verdict in it
        raise UnexpectedAnswer(
            f"the answer to the blocking create of {repo}/{name} holds no snapshot: "
            + one_line(json.dumps(answer.body, default=str)),
            status=answer.status,
        )
    return snapshot


def _create_and_wait(ctx: Context, name: str, indices: Selection, follow: str, stats: dict) -> dict:
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
            call = Background(lambda: _create(ctx, name, indices, blocking=True))
            try:
                snapshot = ctx.wait_for_call(
                    call, poll=show, every=progress.every, first_poll=FIRST_PROGRESS, timeout_message=timeout_message
                )
            except (ClusterUnreachable, UnexpectedAnswer) as err:
                # The blocking call was cut, or answered without the snapshot: whether it started and
                # how it ends is read from the snapshot itself, before any verdict.
                return _poll_until_done(ctx, name, err, show, timeout_message)
            except (SnapshotExists, SnapshotFailed) as err:
                # the master left while the snapshot ran: the answer is lost (or the create was resent)
                if not (passing(err.__cause__) or resent_by_engine(ctx, name, err)):
                    raise
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
    """After the blocking create was cut or answered without a verdict: follow the snapshot by
    polling it, if it exists (a gateway may answer before the engine has the request: the snapshot
    is looked for during a few poll intervals before it is called not started)."""
    cluster, repo = Patient(ctx), ctx.config.repository_for("source").name  # rides through node restarts
    logger.warning("the blocking snapshot call gave no verdict (%s); following the snapshot by polling instead", cut)

    def snapshot_now():
        try:
            answer = cluster.get(path_of("_snapshot", repo, name), ok=(404,), timeout=cluster.long_request_timeout)
        except (ClusterUnreachable, UnexpectedAnswer) as err:
            raise ClusterUnreachable(
                f"{err}; the snapshot {repo}/{name} may be running: check with GET /_snapshot/{repo}/{name}"
            ) from err
        return (answer.get("snapshots") or [None])[0] if answer.status == 200 else None

    try:
        ctx.wait_for(snapshot_now, timeout_message="", max_wait=NOT_STARTED_AFTER * ctx.config.wait.poll_interval)
    except WaitTimeout:
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


# Failure reasons that say the snapshot may succeed when taken again: a node left or restarted, the
# store did not answer, a shard moved. Seen on OpenSearch 3.3 (node SIGKILLed, rolling restart,
# s3proxy restarted) and written by the engines' snapshot code.
TRANSIENT_REASONS = re.compile(
    r"node.{0,60}(left|disconnect|shut ?down|closed|not connected|removed|restart)"
    r"|Node(Disconnected|NotConnected|Closed)Exception"
    r"|connect(ion)? (refused|reset|closed|timed out)|Connection refused"
    r"|unable to execute http request|SdkClientException|SocketException|SocketTimeout|timed out"
    r"|relocat|not in primary mode|primary shard is not allocated|shard is not allocated"
    r"|service unavailable|status code: 5\d\d|Status Code: 5\d\d"
    r"|failed to (write|read|list|delete|finalize|upload)|IOException|i/o error|aborted",
    re.IGNORECASE,
)


def transient_cause(snapshot: dict) -> str | None:
    """Why a finished PARTIAL or FAILED snapshot may succeed when taken again: the first failure
    reason that says a node left, the store did not answer or a shard moved. None for any other
    state, or when no reason says so (a retry would fail the same way). A primary that was not
    allocated counts (a node restarting in a rolling restart leaves its shards so); before waiting,
    ``_refused_primary`` asks the engine whether the deciders refuse it everywhere (an allocation
    filter, a full disk), which no wait mends."""
    if snapshot.get("state") not in ("PARTIAL", "FAILED"):
        return None
    reasons = [str(f.get("reason") or "") for f in snapshot.get("failures") or []]
    for reason in reasons + [str(snapshot.get("reason") or "")]:
        if reason and TRANSIENT_REASONS.search(reason):
            return reason if len(reason) <= 200 else reason[:197] + "..."
    return None


def _take(ctx: Context, name: str, indices: Selection, stats: dict) -> dict:
    """Create snapshot ``name`` and wait for it (``_create_and_wait``); Ctrl-C or a signal meanwhile
    becomes Interrupted saying that the snapshot goes on and how to follow it."""
    repo = ctx.config.repository_for("source").name
    follow = f"GET /_snapshot/{repo}/{name}/_status"
    try:
        return _create_and_wait(ctx, name, indices, follow, stats)
    except KeyboardInterrupt as err:
        raise Interrupted.of(
            err, f"snapshot {repo}/{name} goes on in the source cluster; follow it with: {follow}"
        ) from None


def judge_with_retries(
    ctx: Context, name: str, indices: Selection, snapshot: dict, stats: dict
) -> tuple[str, dict, dict]:
    """Judge the finished snapshot; when it ended PARTIAL or FAILED for a transient cause, take it
    again as ``<name>-retry1``, ``-retry2``, ... ([snapshot] retries), each once the source is back,
    with the same ``indices`` as the first attempt.

    Returns the name, the finished snapshot and the progress figures of the SUCCESS attempt.
    Raises SnapshotFailed naming the last attempt and the failed ones before it; a cause that does
    not pass (or retries = 0) is not retried. The failed attempts stay in the repository: they
    belong to the snapshot_name series, so prune deletes them once a newer SUCCESS exists.
    """
    repo, first, retries = ctx.config.repository_for("source").name, name, ctx.config.snapshot.retries
    failed: list[str] = []  # "<name> (PARTIAL, 51/60 shards failed)"
    while True:
        try:
            _verdict(ctx, name, snapshot, stats)
        except SnapshotFailed as err:
            cause = transient_cause(snapshot)
            if cause is None or len(failed) >= retries:
                if failed:
                    raise SnapshotFailed(f"{err}; it was retry {len(failed)} of {listed(failed)}") from err
                if retries and snapshot.get("state") in ("PARTIAL", "FAILED"):
                    raise SnapshotFailed(
                        f"{err}; not taken again: no failure reason says that a node left or the store did not answer"
                    ) from err
                raise
            refused = _refused_primary(ctx, snapshot)
            if refused:
                message = f"{err}; not taken again: {refused}"
                raise SnapshotFailed(
                    f"{message}; it was retry {len(failed)} of {listed(failed)}" if failed else message
                ) from err
            failed.append(_attempt_text(name, snapshot))
            _wait_until_back(ctx, err, cause)
            name = retry_name(first, len(failed))
            logger.warning(
                "snapshot %s/%s finished %s (%s); taking it again as %s ([snapshot] retries = %d)",
                repo,
                failed[-1].split(" ")[0],
                snapshot.get("state"),
                cause,
                name,
                retries,
            )
            ctx.result.snapshot, stats = name, {}
            try:
                snapshot = _take(ctx, name, indices, stats)
            except (SnapshotFailed, WaitTimeout) as again:
                raise type(again)(f"{again}; it was retry {len(failed)} of {listed(failed)}") from again
            continue
        if failed:
            ctx.echo(
                f"snapshot {repo}/{name}: SUCCESS on retry {len(failed)} of {listed(failed)}; the failed "
                "attempt stays in the repository until prune deletes it (a newer SUCCESS now exists)"
            )
        return name, snapshot, stats


UNALLOCATED = re.compile(r"shard is not allocated", re.IGNORECASE)
EXPLAINED = 3  # unallocated shards asked about, at most: a constant cost whatever the snapshot's size


def _refused_primary(ctx: Context, snapshot: dict) -> str | None:
    """When the snapshot failed because primaries were not allocated: the first of them (up to
    EXPLAINED) that the deciders refuse on every node, as "<index>[<shard>] can be allocated on no
    node: <why>". A node restarting leaves its primaries unallocated for a while (worth waiting for);
    an allocation filter or a full disk keeps them so (a retry would fail the same way). None when
    no failure says so, or the engine does not say "no"."""
    asked = 0
    for failure in snapshot.get("failures") or []:
        if asked >= EXPLAINED:
            break
        index, shard = failure.get("index"), failure.get("shard_id")
        if not index or not isinstance(shard, int) or not UNALLOCATED.search(str(failure.get("reason") or "")):
            continue
        asked += 1
        why = refused_everywhere(ctx.cluster, index, shard)
        if why:
            return f"{index}[{shard}] can be allocated on no node: {why}"
    return None


def _attempt_text(name: str, snapshot: dict) -> str:
    shards = snapshot.get("shards") or {}
    return (
        f"{name} ({snapshot.get('state')}, {shards.get('failed', 0)}/{plural(shards.get('total', 0), 'shard')} failed)"
    )


def _wait_until_back(ctx: Context, failure: SnapshotFailed, cause: str) -> None:
    """Before a retry: wait, up to [wait] stall_timeout, until the source is at least yellow with
    nothing initialising or relocating, and its repository verifies (the store answers again).
    Raises SnapshotFailed (the failure, saying why it was not taken again) when it is not back."""
    config, cluster = ctx.config, ctx.cluster
    repo = config.repository_for("source").name
    deadline = ctx.clock() + config.wait.stall_timeout
    last = "no answer yet"
    while True:
        hold = max(1, int(min(config.wait.poll_interval * 6, deadline - ctx.clock())))
        try:
            health = (
                cluster.get(
                    "/_cluster/health",
                    params={
                        "wait_for_status": "yellow",
                        "wait_for_no_initializing_shards": "true",
                        "wait_for_no_relocating_shards": "true",
                        "wait_for_events": "languid",
                        "timeout": f"{hold}s",
                        "filter_path": "status,timed_out,number_of_nodes,initializing_shards,relocating_shards",
                    },
                    ok=(408,),
                    timeout=hold + cluster.request_timeout,
                ).body
                or {}
            )
            if health.get("timed_out"):
                last = (
                    f"{health.get('status', '?')}, {plural(health.get('number_of_nodes', 0), 'node')}, "
                    f"{health.get('initializing_shards', 0)} initialising, {health.get('relocating_shards', 0)} relocating"
                )
            else:
                cluster.request("POST", path_of("_snapshot", repo, "_verify"), timeout=cluster.long_request_timeout)
                return
        except (EngineError, ClusterUnreachable, UnexpectedAnswer) as err:
            last = str(err)
        if ctx.clock() >= deadline:
            raise SnapshotFailed(
                f"{failure}; not taken again: the source cluster and its repository were not back within "
                f"{config.wait.stall_timeout:.0f}s (stall_timeout in [wait]; last: {last})"
            ) from failure
        logger.info("waiting for the source cluster to be back before taking the snapshot again (%s)", last)
        ctx.sleep(min(config.wait.poll_interval, max(0.0, deadline - ctx.clock())))


SAME_NAME = ("already in-progress", "already in progress", "already exists")


def resent_by_engine(ctx: Context, name: str, refusal: Exception) -> bool:
    """Whether a "same name" refusal of this run's create is the engine's own doing: when the
    elected master leaves while a snapshot is created, the engine sends the create again to the
    next master, which refuses it because the snapshot exists. It is this run's snapshot (to be
    followed, not reported as a conflict) only when its metadata carries this run's own mark
    (``run``): a snapshot of the same name from an earlier run, however recent, stays a conflict."""
    cause = refusal.__cause__
    if not isinstance(cause, EngineError) or cause.error_type != "invalid_snapshot_name_exception":
        return False
    if not any(words in cause.reason for words in SAME_NAME):
        return False
    cluster, repo = Patient(ctx), ctx.config.repository_for("source").name
    try:
        answer = cluster.get(path_of("_snapshot", repo, name), ok=(404,), timeout=cluster.long_request_timeout)
    except (EngineError, ClusterUnreachable, UnexpectedAnswer):
        return False
    snapshot = (answer.get("snapshots") or [None])[0] if answer.status == 200 else None
    ours = (
        isinstance(snapshot, dict)
        and (snapshot.get("metadata") or {}).get("taken_by") == TAKEN_BY
        and (snapshot.get("metadata") or {}).get("run") == ctx.run_id
    )
    if ours:
        logger.warning(
            "the source cluster's master changed while snapshot %s/%s was being created, and the engine sent "
            "the create again (%s); following the snapshot this run started",
            repo,
            name,
            cause.reason,
        )
    return ours
