"""Judging the restore's answer, and waiting until the restored indices have recovered.

If the blocking call was cut (a proxy's idle timeout, a node restart), or green is wanted, the end
is long-polled on the cluster's health (see ``wait_for_recovery``): polling costs the same at any
size, and the per-index checks are asked only once allocation settles.
"""

from __future__ import annotations

import logging

from ...cluster import Cluster
from ...errors import RestoreFailed, WaitTimeout
from ...names import listed
from ...wait import plural
from .. import Context
from ..patience import Patient
from .allocation import REMOVE_HINT, allocation_reason, copy_on_a_lost_node, remove_unusable
from .existing import Existing
from .plan import Plan
from .start import HEALTH_FILTER, shards_progress, timeout_message

logger = logging.getLogger(__name__)

RED_CHECKS_TO_FAIL = 3  # a restored index red in this many checks of a still cluster, over 2 poll intervals, has failed
RANK = {"red": 0, "yellow": 1, "green": 2}
INDEX_HEALTH_FILTER = (
    "indices.*.status,indices.*.number_of_shards,indices.*.active_primary_shards,indices.*.initializing_shards"
)


def judge_answer(ctx: Context, plan: Plan, answer: dict | None, existing: Existing | None = None) -> None:
    """Judge the blocking restore's answer: every primary recovered, or RestoreFailed naming the
    restored indices left red. Then wait for green if that is wanted (yellow: all primaries active,
    which the answer has just said). A lost answer, or one without the restore's shard counts,
    proves nothing: the end is then followed in the cluster itself. A failure names the engine's
    reason (allocation explain) and removes the empty indices the run created (``existing``: what
    stood before; without it nothing is removed)."""
    shards = ((answer or {}).get("snapshot") or {}).get("shards") or {}
    if "total" not in shards:
        if answer is not None:
            logger.warning(
                "the restore's answer holds no shard counts; checking the restored indices on the %s instead",
                ctx.cluster.side,
            )
        wait_for_recovery(ctx, plan, primaries_known=False, existing=existing)
        return
    failed = int(shards.get("failed") or 0)
    if failed:
        red = indices_below(ctx.cluster, plan, "yellow")
        what = f"{failed} of {plural(int(shards.get('total') or 0), 'shard')} could not be restored"
        raise unallocated(ctx, plan, existing, what, red, primary=True)
    if ctx.config.restore.wait_for_status == "green":
        wait_for_recovery(ctx, plan, primaries_known=True, existing=existing)


def unallocated(
    ctx: Context, plan: Plan, existing: Existing | None, what: str, stuck: list[str], *, primary: bool
) -> RestoreFailed:
    """The failure for restored shards that cannot be allocated: names the indices (``stuck``), the
    engine's reason for the first of them (allocation explain of its first primary, or replica when
    ``primary`` is False), and what the run leaves behind, after deleting the empty indices it
    created (unless --keep-failed). Without ``existing`` (a drill, which deletes its copies
    itself) nothing is deleted and nothing is said of what stays."""
    reason = allocation_reason(ctx.cluster, stuck[0], primary=primary) if stuck else ""
    message = f"restore from {plan.snapshot} failed: {what}" + (f": {listed(stuck)}" if stuck else "")
    side = ctx.cluster.side
    message += f"; why: {reason}" if reason else f"; see GET /_cluster/allocation/explain on the {side}"
    left: list[str] = []  # without ``existing`` the caller (drill) deletes what it restored itself
    if existing is not None and primary:
        unusable = remove_unusable(ctx, plan, existing)
        message += f"; {unusable.note}"
        left = [n for n in stuck if n not in unusable.removed and n not in unusable.left]
    elif existing is not None:
        left = stuck
    if left:
        health = "red" if primary else f"below {ctx.config.restore.wait_for_status}"
        message += f"; left {health} on the {side}: {listed(left)} ({REMOVE_HINT})"
    return RestoreFailed(message)


def wait_for_recovery(ctx: Context, plan: Plan, *, primaries_known: bool, existing: Existing | None = None) -> None:
    """Wait until nothing initialises and every restored index reached the wanted health.

    The end is long-polled (``_cluster/health?wait_for_no_initializing_shards``, answered at once
    when it holds, or 408 at its timeout), and its answer is the progress. A cluster with no
    unassigned shard left and at the wanted health is done (constant size). Otherwise: once the
    blocking restore has said that every primary recovered (``primaries_known``), the restored
    indices among those below the wanted health are named (a list that follows the unhealthy
    indices, not the cluster's size); after a lost answer, each restored index's active primaries
    are counted (``target_health``), because engines report a restored primary that waits for
    allocation or is still recovering as yellow, not red.

    Shards that cannot be allocated are named, not waited out: a restored index red in a still
    cluster fails the wait at once (the engine said NO), and restored indices below the wanted
    health while nothing initialises and the unassigned count does not move fail it after
    [wait] stall_timeout; both with the engine's reason (see ``unallocated``).
    """
    config, cluster = ctx.config, Patient(ctx)  # rides through a node restart or an election
    wanted = config.restore.wait_for_status
    progress = ctx.progress("restore")
    deadline = ctx.clock() + config.wait.max_wait
    backoff, red_checks, red_since, first = 0.25, 0, None, True
    still_since = None  # since when the cluster has not moved while restored indices stay below the wanted health
    nodes_when_lost = None  # the cluster's nodes when red indices were found waiting for a node that left
    previous_unassigned = None
    try:
        while True:
            left = deadline - ctx.clock()
            if left <= 0:
                raise WaitTimeout(timeout_message(ctx))
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
                red_checks, red_since, still_since = 0, None, None  # moving: a red index may still recover
                progress.update(0, 0, 0, 0, shards_progress(health))
                if ctx.clock() - started < 0.5:  # an answer at once: do not spin
                    ctx.sleep(min(backoff, config.wait.poll_interval, progress.every))
                    backoff = min(backoff * 2, config.wait.poll_interval)
                continue
            if not unassigned and RANK.get(health.get("status", "red"), 0) >= RANK[wanted]:
                return  # every shard of the cluster is active, and every index at the wanted health
            if primaries_known:
                below = indices_below(cluster, plan, wanted)
                red = indices_below(cluster, plan, "yellow") if wanted == "green" and below else below
                done = not below
            else:
                indices = target_health(cluster, plan)
                below = sorted(n for n, h in (indices or {}).items() if not index_ready(h, wanted))
                red = sorted(n for n, h in (indices or {}).items() if h.get("status") == "red")
                done = indices is not None and not below
            if done:
                return
            if red:
                red_since = ctx.clock() if red_since is None else red_since
                red_checks += 1
                if red_checks >= RED_CHECKS_TO_FAIL and ctx.clock() - red_since >= 2 * config.wait.poll_interval:
                    nodes = health.get("number_of_nodes", 0)
                    back = nodes_when_lost is not None and nodes > nodes_when_lost  # a node came back: judge now
                    if back or not copy_on_a_lost_node(ctx.cluster, red[0]):
                        raise unallocated(ctx, plan, existing, "restored indices stayed red", red, primary=True)
                    # its copy is on a node that left: it comes back with that node, within stall_timeout
                    if nodes_when_lost is None:
                        nodes_when_lost = nodes
                        logger.warning(
                            "restored indices are red on the %s while the node holding their copies is away: %s; "
                            "waiting up to %.0fs for it (stall_timeout in [wait])",
                            ctx.cluster.side,
                            listed(red),
                            config.wait.stall_timeout,
                        )
                    still_since = ctx.clock() if still_since is None else still_since
                    if ctx.clock() - still_since >= config.wait.stall_timeout:
                        stuck = (
                            f"the node holding their copies did not come back within {config.wait.stall_timeout:.0f}s"
                        )
                        raise unallocated(
                            ctx,
                            plan,
                            existing,
                            f"{stuck} (stall_timeout in [wait]): restored indices stayed red",
                            red,
                            primary=True,
                        )
            else:
                red_checks, red_since = 0, None
                still_since = ctx.clock() if still_since is None else still_since
                if ctx.clock() - still_since >= config.wait.stall_timeout:
                    stuck = f"nothing moved for {config.wait.stall_timeout:.0f}s (stall_timeout in [wait]) while"
                    raise unallocated(
                        ctx, plan, existing, f"{stuck} restored indices stayed below {wanted}", below, primary=False
                    )
            progress.update(0, 0, 0, 0, f"waiting for {plural(len(below), 'restored index', 'restored indices')}")
            ctx.sleep(min(backoff, config.wait.poll_interval, max(0.0, deadline - ctx.clock())))
            backoff = min(backoff * 2, config.wait.poll_interval)
    finally:
        progress.close()


def index_ready(health: dict, wanted: str) -> bool:
    """One restored index's health: every primary active, nothing initialising, at the wanted health."""
    return (
        RANK.get(health.get("status", "red"), 0) >= RANK[wanted]
        and health.get("active_primary_shards", 0) >= health.get("number_of_shards", 1)
        and not health.get("initializing_shards", 0)
    )


def target_health(cluster: Cluster, plan: Plan) -> dict[str, dict] | None:
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
    if not set(plan.targets.values()) <= set(mine) or not set(plan.backing.values()) <= set(mine):
        return None
    return mine


def indices_below(cluster: Cluster, plan: Plan, wanted: str) -> list[str]:
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
