"""Restore: register the repository read-only on the destination, restore, wait for recovery, check.

Existing indices with the names being restored are handled by one policy: ``refuse`` (default:
list them, change nothing), ``close`` (close them and restore over them; reopened if the restore is
refused), ``rename`` (restore under new names beside them), ``delete`` (delete them first; only
with confirm_delete / --confirm-delete).

The restore is started with ``wait_for_completion=true`` in a background call: the engine answers
when every restored primary has recovered or failed, so the end is noticed at once and the answer
is the verdict (its shard counts). Meanwhile progress is read from the cluster's health (constant
size) only as often as it is shown. If that call is cut (a proxy's idle timeout, a node restart),
or green is wanted, the end is long-polled on the cluster's health instead (see ``_wait``). No
request carries a list of index names in its URL, and the final check reads every restored index
in two requests whatever their number.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property

from ..cluster import Cluster, path_of
from ..config import LATEST
from ..errors import (
    ClusterUnreachable,
    ConfigError,
    EngineError,
    IndexConflict,
    Interrupted,
    RestoreFailed,
    UnexpectedAnswer,
    WaitTimeout,
)
from ..names import chunks, expand_snapshot_name, is_pattern, listed, match_indices, pattern_regex, renamed
from ..repository import ensure_repository
from ..selection import is_exclusion, select, selected
from ..wait import Background, human_bytes, joined, plural, rate
from . import Context

logger = logging.getLogger(__name__)

RED_CHECKS_TO_FAIL = 3  # a restored index red in this many checks of a still cluster, over 2 poll intervals, has failed
HEALTH_FILTER = "status,timed_out,initializing_shards,unassigned_shards"
RANK = {"red": 0, "yellow": 1, "green": 2}
INDEX_HEALTH_FILTER = (
    "indices.*.status,indices.*.number_of_shards,indices.*.active_primary_shards,indices.*.initializing_shards"
)
FOLLOW = "GET /_cat/recovery?active_only=true&v"


@dataclass(frozen=True)
class Plan:
    snapshot: str
    indices: list[str]  # plain indices in the snapshot to restore (data streams' backing indices excluded)
    targets: dict[str, str]  # snapshot index name -> name on the destination
    streams: dict[str, str] = field(default_factory=dict)  # data stream in the snapshot -> name on the destination

    @property
    def request_names(self) -> list[str]:
        """What the restore request names: indices and data streams (their backing indices follow)."""
        return sorted(self.indices) + sorted(self.streams)

    def owns(self, name: str) -> bool:
        """Whether an index on the destination is one this restore creates (asked for every index of
        the cluster: the lookups are built once)."""
        return name in self._target_set or name.startswith(self._backing_prefixes)

    @cached_property
    def _target_set(self) -> frozenset[str]:
        return frozenset(self.targets.values())

    @cached_property
    def _backing_prefixes(self) -> tuple[str, ...]:
        return tuple(f".ds-{s}-" for s in self.streams.values())

    @property
    def readable(self) -> list[str]:
        """Names to count documents in: the restored indices and data streams."""
        return sorted(self.targets.values()) + sorted(self.streams.values())


def run_restore(ctx: Context) -> None:
    """Restore the configured indices and data streams from the snapshot into the destination.

    Returns when every restored index exists, has recovered and reached the wanted health; prints
    each one's document count and the bytes, time and rate. Raises IndexConflict, RestoreFailed,
    WaitTimeout, RepositoryError, Interrupted, ConfigError, or the cluster's connection and auth
    errors. Indices it closed are reopened when the restore did not start.
    """
    config, cluster = ctx.config, ctx.cluster
    repo = config.repository_for("destination")
    logger.info("destination: %s at %s", cluster.info(), ", ".join(cluster.seeds))
    ensure_repository(cluster, repo, readonly=repo.readonly_on_destination)
    if cluster.dry_run and not _repository_registered(cluster, repo.name):
        ctx.echo(
            "DRY RUN: the repository is not registered yet, so its snapshots cannot be listed; nothing was changed"
        )
        return
    indices = Background(lambda: _indices(cluster, "index,status,pri"))  # meanwhile the snapshot is read
    plan = _plan(ctx)
    existing = _existing(cluster, plan, joined(indices, ctx.pause))
    closed = _handle_existing(ctx, plan, existing)
    what = f"{plural(len(plan.request_names), 'index', 'indices')} from {plan.snapshot}"
    if cluster.dry_run or not ctx.wait:
        try:
            _start(ctx, plan, existing, blocking=False)
        except RestoreFailed as err:  # refused, or cut with nothing begun: undo what we closed
            _reopen(ctx, closed, err)
            raise
        except KeyboardInterrupt as err:
            raise _interrupted_before_answer(ctx, plan, existing, closed, err) from None
        ctx.echo(
            f"DRY RUN: nothing was changed; would restore {listed(plan.request_names)} from {plan.snapshot}"
            if cluster.dry_run
            else f"restore of {what} started; follow it with: {FOLLOW}"
        )
        return
    started = ctx.clock()
    try:
        answer = _restore_and_wait(ctx, plan, existing, closed)
        _verdict(ctx, plan, answer)
    except KeyboardInterrupt as err:
        raise Interrupted.of(
            err, f"the restore of {what} goes on in the destination cluster; follow it with: {FOLLOW}"
        ) from None
    _report(ctx, plan, ctx.clock() - started)
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
    repo, wanted = config.repository_for("destination").name, config.restore.snapshot
    slow = cluster.long_request_timeout  # read from the repository
    if wanted != LATEST and "%" not in wanted:
        try:
            name = expand_snapshot_name(wanted, ctx.now())
        except ValueError as err:
            raise ConfigError(f"{config.path}: snapshot name {err}") from None
        answer = cluster.get(path_of("_snapshot", repo, name), ok=(404,), timeout=slow)
        if answer.status == 404 or not answer.get("snapshots"):
            raise RestoreFailed(f"snapshot {name} not found in repository {repo}")
        return answer.get("snapshots")[0]
    name_filter = pattern_regex(wanted) if wanted != LATEST else None
    snapshots = cluster.get(path_of("_snapshot", repo, "_all"), timeout=slow).get("snapshots") or []
    patterns = config.snapshot.indices
    candidates = [
        s
        for s in snapshots
        if s.get("state") == "SUCCESS"
        and (name_filter is None or name_filter.fullmatch(s.get("snapshot", "")))
        and all(select((p,), _names_in(s))[p] for p in patterns if not is_exclusion(p))
    ]
    if not candidates:
        named = f" named like {wanted}" if name_filter else ""
        raise RestoreFailed(
            f"no SUCCESS snapshot{named} in repository {repo} holds {listed(list(patterns))} "
            f"({plural(len(snapshots), 'snapshot')} in the repository)"
        )
    newest = max(candidates, key=lambda s: (s.get("start_time_in_millis", 0), s.get("snapshot", "")))
    logger.info("latest SUCCESS snapshot holding the indices: %s", newest.get("snapshot"))
    return newest


def _names_in(snapshot: dict) -> list[str]:
    """Index and data stream names in a snapshot, without data streams' backing indices."""
    streams = snapshot.get("data_streams") or []
    indices = [i for i in snapshot.get("indices") or [] if not any(i.startswith(f".ds-{s}-") for s in streams)]
    return indices + list(streams)


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
    available = _names_in(snapshot)
    matched = select(patterns, available)  # wildcards skip system and dot indices unless asked
    missing = [p for p, names in matched.items() if not names and not is_pattern(p)]
    if missing and not restore.ignore_unavailable:
        raise RestoreFailed(f"index not in snapshot {name}: {listed(missing)}")
    chosen = selected(patterns, available)  # exclusions (-pattern) applied in order
    if not chosen:
        raise RestoreFailed(f"snapshot {name} holds no index matching {listed(list(patterns))}")
    stream_names = set(snapshot.get("data_streams") or [])
    rename = lambda n: renamed(n, restore.rename_pattern, restore.rename_replacement)  # noqa: E731
    targets = {n: rename(n) for n in chosen if n not in stream_names}
    streams = {n: rename(n) for n in chosen if n in stream_names}
    shown = [n if n == t else f"{n} -> {t}" for n, t in sorted({**targets, **streams}.items())]
    logger.info("restoring from %s: %s", name, listed(shown))
    return Plan(snapshot=name, indices=sorted(targets), targets=targets, streams=streams)


@dataclass(frozen=True)
class Existing:
    indices: dict[str, tuple[str, int]]  # name -> (open/close, primaries) of targets that exist
    streams: list[str]  # target data streams that exist


def _indices(cluster: Cluster, columns: str) -> list[dict]:
    """Every index of the destination (hidden and closed ones too), with ``columns`` of _cat/indices."""
    params = {"format": "json", "bytes": "b", "h": columns, "expand_wildcards": "all"}
    return cluster.get("/_cat/indices", params=params, timeout=cluster.long_request_timeout).body or []


def _existing(cluster: Cluster, plan: Plan, rows: list[dict]) -> Existing:
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


def _handle_existing(ctx: Context, plan: Plan, existing: Existing) -> list[str]:
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
        _check_shard_counts(ctx, plan, existing)
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


def _check_shard_counts(ctx: Context, plan: Plan, existing: Existing) -> None:
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


def _reopen(ctx: Context, closed: list[str], cause: BaseException) -> None:
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


def _start(ctx: Context, plan: Plan, existing: Existing, *, blocking: bool) -> dict | None:
    """Send the restore request once. Blocking, it returns the engine's answer once every restored
    primary has recovered or failed; it returns None when the answer was lost (cut, or a gateway's
    own 502/503/504) but the restore has begun. Raises RestoreFailed when the restore was refused or
    did not start (nothing was restored)."""
    config, cluster = ctx.config, ctx.cluster
    restore, repo = config.restore, config.repository_for("destination").name
    body: dict = {
        "indices": ",".join(plan.request_names),
        "ignore_unavailable": restore.ignore_unavailable,
        "include_global_state": restore.include_global_state,
        "include_aliases": restore.include_aliases,
        "partial": restore.partial,
    }
    if restore.feature_states:
        body["feature_states"] = list(restore.feature_states)
    if any(i != t for i, t in {**plan.targets, **plan.streams}.items()):
        body["rename_pattern"] = restore.rename_pattern
        body["rename_replacement"] = restore.rename_replacement
    if restore.index_settings:
        body["index_settings"] = dict(restore.index_settings)
    if plan.streams:
        _explain_missing_templates(ctx, plan)
    try:
        answer = cluster.request(
            "POST",
            path_of("_snapshot", repo, plan.snapshot, "_restore"),
            body,
            params={"wait_for_completion": "true" if blocking else "false"},
            changes=True,
            retries=0,  # a resent restore would be refused: the first one created the indices
            # blocking: until the primaries have recovered; else thousands of indices take a while to accept
            timeout=config.wait.max_wait + cluster.request_timeout if blocking else cluster.long_request_timeout,
        )
    except EngineError as err:
        raise RestoreFailed(f"restore from {plan.snapshot} was refused: {err.error_type}: {err.reason}") from err
    except (ClusterUnreachable, UnexpectedAnswer) as err:  # cut, or a gateway gave up: the engine may go on
        lost: Exception = err
    else:
        if not cluster.dry_run and not blocking:
            logger.info("restore from %s/%s started", repo, plan.snapshot)
        return answer.body if isinstance(answer.body, dict) else {}
    try:
        began = _restore_began(cluster, plan, existing)
    except (ClusterUnreachable, UnexpectedAnswer) as err:  # still cut off: say what cannot be known
        raise ClusterUnreachable(
            f"{err}; the answer to the restore from {plan.snapshot} was lost ({lost}) and whether it began cannot "
            f"be told now: check with {FOLLOW}"
        ) from err
    if not began:
        raise RestoreFailed(
            f"the restore from {plan.snapshot} was not started ({lost}); nothing was restored"
        ) from lost
    logger.warning("the answer to the restore request was lost (%s), but the restore has begun", lost)
    return None


def _restore_began(cluster: Cluster, plan: Plan, existing: Existing) -> bool:
    """After a lost answer: whether the destination now holds targets it did not hold open before."""
    for row in _indices(cluster, "index,status"):
        name = row.get("index", "")
        before = existing.indices.get(name)
        if plan.owns(name) and (before is None or (before[0] == "close" and row.get("status") == "open")):
            return True
    return False


def _explain_missing_templates(ctx: Context, plan: Plan) -> None:
    """A data stream needs a matching index template with data_stream on the destination to roll
    over and take writes; say so before restoring when it has none."""
    answer = ctx.cluster.get("/_index_template", ok=(404,))
    templates = [t.get("index_template", {}) for t in answer.get("index_templates") or []]
    streaming = [t for t in templates if "data_stream" in t]
    missing = [
        s
        for s in sorted(plan.streams.values())
        if not any(
            match_indices(tuple(t.get("index_patterns") or []), [s])[p]
            for t in streaming
            for p in t.get("index_patterns") or []
        )
    ]
    if missing:
        logger.warning(
            "the destination has no index template with data_stream matching %s: the data stream(s) are "
            "restored, but cannot roll over or take new writes until such a template exists (create it with "
            "PUT /_index_template/<name> as on the source, or restore with include_global_state = true)",
            listed(missing),
        )


def _shards_progress(health: dict) -> str:
    """What the cluster's health says of the shards still on their way (constant size)."""
    initializing, unassigned = health.get("initializing_shards", 0), health.get("unassigned_shards", 0)
    parts = [f"{plural(initializing, 'shard')} recovering"] if initializing else []
    if unassigned:
        parts.append(f"{unassigned} waiting or unassigned (cluster-wide)")
    return ", ".join(parts) or "recovering"


def _restore_and_wait(ctx: Context, plan: Plan, existing: Existing, closed: list[str]) -> dict | None:
    """Start the restore with a blocking call and wait for its answer; returns it, or None when
    the answer was lost but the restore has begun.

    The indices this run closed are reopened when the restore did not start, and also after
    Ctrl-C or SIGTERM when it had not begun yet.
    """
    cluster = ctx.cluster
    progress = ctx.progress("restore")

    def show() -> None:
        try:
            health = cluster.get("/_cluster/health", params={"filter_path": HEALTH_FILTER}).body or {}
        except (EngineError, ClusterUnreachable, UnexpectedAnswer) as err:  # progress is best effort
            logger.debug("restore progress not available: %s", err)
            return
        progress.update(0, 0, 0, 0, _shards_progress(health))

    call = Background(lambda: _start(ctx, plan, existing, blocking=True))
    try:
        answer = ctx.wait_for_call(call, poll=show, every=progress.every, timeout_message=_timeout_message(ctx))
    except RestoreFailed as err:  # refused, or cut with nothing begun
        _reopen(ctx, closed, err)
        raise
    except KeyboardInterrupt as err:
        if call.done.is_set():
            raise
        raise _interrupted_before_answer(ctx, plan, existing, closed, err) from None
    finally:
        progress.close()
    return answer


def _interrupted_before_answer(
    ctx: Context, plan: Plan, existing: Existing, closed: list[str], err: BaseException
) -> Interrupted:
    """Ctrl-C or SIGTERM before the restore answered: say whether it goes on (one look at the
    destination), and reopen what this run closed if it has not begun."""
    what = f"{plural(len(plan.request_names), 'index', 'indices')} from {plan.snapshot}"
    try:
        began = _restore_began(ctx.cluster, plan, existing)
    except (EngineError, ClusterUnreachable, UnexpectedAnswer) as cause:
        left = f"; closed by this run: {listed(closed)} (POST /<index>/_open if it did not begin)" if closed else ""
        return Interrupted.of(
            err, f"could not tell whether the restore of {what} began ({cause}): check with {FOLLOW}{left}"
        )
    if began:
        return Interrupted.of(
            err, f"the restore of {what} goes on in the destination cluster; follow it with: {FOLLOW}"
        )
    note = Interrupted.of(err, f"the restore of {what} had not begun; nothing was restored")
    _reopen(ctx, closed, note)
    return note


def _timeout_message(ctx: Context) -> str:
    return (
        f"the restored indices did not reach {ctx.config.restore.wait_for_status} within "
        f"{ctx.config.wait.max_wait:.0f}s (max_wait in [wait]); the restore goes on in the destination cluster: "
        f"follow it with {FOLLOW}"
    )


def _verdict(ctx: Context, plan: Plan, answer: dict | None) -> None:
    """Judge the blocking restore's answer: every primary recovered, or RestoreFailed naming the
    restored indices left red. Then wait for green if that is wanted (yellow: all primaries active,
    which the answer has just said). A lost answer, or one without the restore's shard counts,
    proves nothing: the end is then followed in the cluster itself."""
    shards = ((answer or {}).get("snapshot") or {}).get("shards") or {}
    if "total" not in shards:
        if answer is not None:
            logger.warning("the restore's answer holds no shard counts; checking the restored indices instead")
        _wait(ctx, plan, primaries_known=False)
        return
    failed = int(shards.get("failed") or 0)
    if failed:
        red = _below(ctx.cluster, plan, "yellow")
        raise RestoreFailed(
            f"restore from {plan.snapshot} failed: {failed} of {plural(int(shards.get('total') or 0), 'shard')} "
            f"could not be restored" + (f"; red: {listed(red)}" if red else "") + ". See GET "
            "/_cluster/allocation/explain on the destination; close or delete those indices to restore them again"
        )
    if ctx.config.restore.wait_for_status == "green":
        _wait(ctx, plan, primaries_known=True)


def _wait(ctx: Context, plan: Plan, *, primaries_known: bool) -> None:
    """Wait until nothing initialises and every restored index reached the wanted health.

    The end is long-polled (``_cluster/health?wait_for_no_initializing_shards``, answered at once
    when it holds, or 408 at its timeout), and its answer is the progress. A cluster with no
    unassigned shard left and at the wanted health is done (constant size). Otherwise: once the
    blocking restore has said that every primary recovered (``primaries_known``), the restored
    indices among those below the wanted health are named (a list that follows the unhealthy
    indices, not the cluster's size); after a lost answer, each restored index's active primaries
    are counted (``_target_health``), because engines report a restored primary that waits for
    allocation or is still recovering as yellow, not red.
    """
    config, cluster = ctx.config, ctx.cluster
    wanted = config.restore.wait_for_status
    progress = ctx.progress("restore")
    deadline = ctx.clock() + config.wait.max_wait
    backoff, red_checks, red_since, first = 0.25, 0, None, True
    previous_unassigned = None
    try:
        while True:
            left = deadline - ctx.clock()
            if left <= 0:
                raise WaitTimeout(_timeout_message(ctx))
            hold = max(1, int(min(progress.every, left)))
            params = {"wait_for_no_initializing_shards": "true", "timeout": f"{hold}s", "filter_path": HEALTH_FILTER}
            if first:
                params["wait_for_events"] = "languid"  # let the restore's shards be allocated first
            started = ctx.clock()
            health = (
                cluster.get("/_cluster/health", params=params, ok=(408,), timeout=hold + cluster.request_timeout).body
                or {}
            )
            first = False
            unassigned = health.get("unassigned_shards", 0)
            # Shards still waiting for allocation (a throttled restore between two batches) leave
            # nothing initialising for a moment: the restored indices are looked at only once the
            # cluster's count of unassigned shards has settled, so the checks stay few at any size.
            settled = unassigned == 0 or unassigned == previous_unassigned
            previous_unassigned = unassigned
            if health.get("timed_out") or health.get("initializing_shards") or not settled:
                red_checks, red_since = 0, None  # the cluster is moving: a red index may still recover
                progress.update(0, 0, 0, 0, _shards_progress(health))
                if ctx.clock() - started < 0.5:  # an answer at once: do not spin
                    ctx.sleep(min(backoff, config.wait.poll_interval, progress.every))
                    backoff = min(backoff * 2, config.wait.poll_interval)
                continue
            if not unassigned and RANK.get(health.get("status", "red"), 0) >= RANK[wanted]:
                return  # every shard of the cluster is active, and every index at the wanted health
            if primaries_known:
                below = _below(cluster, plan, wanted)
                red = _below(cluster, plan, "yellow") if wanted == "green" and below else below
                done = not below
            else:
                indices = _target_health(cluster, plan)
                below = sorted(n for n, h in (indices or {}).items() if not _ready(h, wanted))
                red = sorted(n for n, h in (indices or {}).items() if h.get("status") == "red")
                done = indices is not None and not below
            if done:
                return
            if red:
                red_since = ctx.clock() if red_since is None else red_since
                red_checks += 1
                if red_checks >= RED_CHECKS_TO_FAIL and ctx.clock() - red_since >= 2 * config.wait.poll_interval:
                    raise RestoreFailed(
                        f"restore failed: {listed(red)} stayed red; see GET /_cluster/allocation/explain on the "
                        "destination"
                    )
            else:
                red_checks, red_since = 0, None
            progress.update(0, 0, 0, 0, f"waiting for {plural(len(below), 'restored index', 'restored indices')}")
            ctx.sleep(min(backoff, config.wait.poll_interval, max(0.0, deadline - ctx.clock())))
            backoff = min(backoff * 2, config.wait.poll_interval)
    finally:
        progress.close()


def _ready(health: dict, wanted: str) -> bool:
    """One restored index's health: every primary active, nothing initialising, at the wanted health."""
    return (
        RANK.get(health.get("status", "red"), 0) >= RANK[wanted]
        and health.get("active_primary_shards", 0) >= health.get("number_of_shards", 1)
        and not health.get("initializing_shards", 0)
    )


def _target_health(cluster: Cluster, plan: Plan) -> dict[str, dict] | None:
    """Health of every restored index (data streams: their backing indices), or None while some
    are not there yet. One request for the whole cluster, filtered to the fields needed: it grows
    with the cluster's indices, so it is asked only after a lost answer, once allocation settles."""
    answer = cluster.get(
        "/_cluster/health",
        params={"level": "indices", "filter_path": INDEX_HEALTH_FILTER, "expand_wildcards": "all"},
        ok=(408,),
        timeout=cluster.long_request_timeout,
    )
    indices = answer.get("indices") or {}
    mine = {name: h for name, h in indices.items() if plan.owns(name)}
    if not set(plan.targets.values()) <= set(mine):
        return None
    if any(not any(n.startswith(f".ds-{s}-") for n in mine) for s in plan.streams.values()):
        return None
    return mine


def _below(cluster: Cluster, plan: Plan, wanted: str) -> list[str]:
    """The restored indices (data streams: their backing indices) whose health is below ``wanted``.

    Asked as the cluster's indices in each health below it (``_cat/indices?health=``), so the
    answer's size follows the unhealthy indices, not the cluster's.
    """
    below = []
    for health in [h for h, rank in RANK.items() if rank < RANK[wanted]]:
        rows = cluster.get(
            "/_cat/indices",
            params={"format": "json", "h": "index", "health": health, "expand_wildcards": "all"},
            timeout=cluster.long_request_timeout,
        ).body
        below += [r.get("index", "") for r in rows or [] if plan.owns(r.get("index", ""))]
    return sorted(below)


def _report(ctx: Context, plan: Plan, seconds: float) -> None:
    """Check that every restored index is there and readable, and print its document count.

    Two requests at once whatever the number of indices: the sizes from _cat/indices, and the
    counts from one _msearch (names in its body).
    """
    cluster, repo = ctx.cluster, ctx.config.repository_for("destination").name
    sizes = Background(lambda: _indices(cluster, "index,status,pri.store.size"))  # beside the counts
    counts = _counts(cluster, plan.readable)
    present = {r["index"]: r for r in joined(sizes, ctx.pause) if plan.owns(r.get("index", ""))}
    absent = sorted(set(plan.targets.values()) - set(present))
    if absent:
        raise RestoreFailed(
            f"restored {plural(len(absent), 'index', 'indices')} missing on the destination: {listed(absent)}"
        )
    size = sum(int(r.get("pri.store.size") or 0) for r in present.values())
    unreadable = sorted(n for n, c in counts.items() if not isinstance(c, int))
    if unreadable:
        raise RestoreFailed(
            f"restored {listed([f'{n} ({counts[n]})' for n in unreadable])} cannot be read on the destination"
        )
    streams = f" and {plural(len(plan.streams), 'data stream')}" if plan.streams else ""
    ctx.echo(
        f"restored {plural(len(plan.targets), 'index', 'indices')}{streams} from {repo}/{plan.snapshot}: "
        f"{human_bytes(size)} in {seconds:.1f}s ({rate(size, seconds)})"
    )
    width = max(len(n) for n in counts)
    for name in plan.readable:
        ctx.echo(f"  {name:<{width}}  {counts[name]} docs")


def _counts(cluster: Cluster, names: list[str]) -> dict[str, int | str]:
    """Document counts of ``names`` in one _msearch; a name that cannot be read maps to its error."""
    lines: list[dict] = []
    for name in names:
        lines += [{"index": name, "expand_wildcards": "all"}, {"size": 0, "track_total_hits": True}]
    answer = cluster.request("POST", "/_msearch", lines, timeout=cluster.long_request_timeout, ndjson=True)
    answer = answer.get("responses") or []
    counts: dict[str, int | str] = {}
    for name, item in zip(names, answer, strict=False):
        total = ((item.get("hits") or {}).get("total")) if isinstance(item, dict) else None
        if isinstance(total, dict):
            counts[name] = int(total.get("value", 0))
        elif isinstance(total, int):
            counts[name] = total
        else:
            error = (item or {}).get("error") if isinstance(item, dict) else None
            counts[name] = (error or {}).get("type", "no answer") if isinstance(error, dict) else str(error)
    for name in names[len(answer) :]:
        counts[name] = "no answer"
    return counts
