"""Sending the restore request once, and what a lost answer or an interruption before it means.

The restore is started with ``wait_for_completion=true`` in a background call: the engine answers
when every restored primary has recovered or failed, so the end is noticed at once and the answer
is the verdict. Meanwhile progress is read from the cluster's health (constant size) only as often
as it is shown.
"""

from __future__ import annotations

import fnmatch
import logging
import re

from ...cluster import Cluster, path_of
from ...errors import ClusterUnreachable, EngineError, Interrupted, RestoreFailed, UnexpectedAnswer
from ...names import listed
from ...wait import Background, plural
from .. import Context
from ..patience import Patient, passing
from .existing import Existing, list_indices, reopen
from .plan import Plan

logger = logging.getLogger(__name__)

HEALTH_FILTER = "status,timed_out,initializing_shards,unassigned_shards,number_of_nodes"
FOLLOW = "GET /_cat/recovery?active_only=true&v"


def start_restore(
    ctx: Context, plan: Plan, existing: Existing, *, blocking: bool, templates: bool = True
) -> dict | None:
    """Send the restore request once. Blocking, it returns the engine's answer once every restored
    primary has recovered or failed; it returns None when the answer was lost (cut, or a gateway's
    own 502/503/504) but the restore has begun. ``templates``: warn first when a restored data
    stream has no index template to roll over with (a drill, which deletes its copies, does not
    ask). Raises RestoreFailed when the restore was refused or did not start (nothing was
    restored)."""
    config, cluster = ctx.config, ctx.cluster
    restore, repo = config.restore, config.repository_for(cluster.side).name
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
    if restore.ignore_index_settings:
        body["ignore_index_settings"] = list(restore.ignore_index_settings)
    if plan.streams and templates:
        explain_missing_templates(ctx, plan)
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
        if not (passing(err) or resent_by_engine(err, plan, existing, cluster.side)):
            raise RestoreFailed(f"restore from {plan.snapshot} was refused: {err.error_type}: {err.reason}") from err
        lost: Exception = err  # the master left while the restore ran: its answer is lost, not a refusal
    except (ClusterUnreachable, UnexpectedAnswer) as err:  # cut, or a gateway gave up: the engine may go on
        lost = err
    else:
        if not cluster.dry_run and not blocking:
            logger.info("restore from %s/%s started on the %s", repo, plan.snapshot, cluster.side)
        return answer.body if isinstance(answer.body, dict) else {}
    try:
        began = restore_began(Patient(ctx), plan, existing)  # rides through the election a lost node may cause
    except (ClusterUnreachable, UnexpectedAnswer) as err:  # still cut off: say what cannot be known
        raise ClusterUnreachable(
            f"{err}; the answer to the restore from {plan.snapshot} was lost ({lost}) and whether it began cannot "
            f"be told now: check with {FOLLOW}"
        ) from err
    if not began:
        raise RestoreFailed(
            f"the restore from {plan.snapshot} was not started ({lost}); nothing was restored"
        ) from lost
    logger.warning(
        "the answer to the restore request was lost (%s), but the restore has begun on the %s", lost, cluster.side
    )
    return None


SAME_NAME = re.compile(r"cannot restore index \[([^\]]+)\] because an open index with same name already exists")


def resent_by_engine(err: EngineError, plan: Plan, existing: Existing, side: str) -> bool:
    """Whether a "same name already exists" refusal is the engine's own doing: when the elected
    master leaves during a blocking restore, the engine sends the restore again to the next master,
    which refuses it because this run's restore already created the index (OpenSearch 3.3; also
    opensearch-project/OpenSearch#18582). It is, when the named index is one of this run's targets
    that was not open before the run."""
    found = SAME_NAME.search(err.reason or "")
    if err.error_type != "snapshot_restore_exception" or not found:
        return False
    name = found.group(1)
    before = existing.indices.get(name)
    ours = plan.owns(name) and (before is None or before[0] == "close")
    if ours:
        logger.warning("the %s's master changed during the restore and the engine sent it again: %s", side, err.reason)
    return ours


def restore_began(cluster: Cluster, plan: Plan, existing: Existing) -> bool:
    """After a lost answer: whether the cluster now holds targets it did not hold open before."""
    for row in list_indices(cluster, "index,status"):
        name = row.get("index", "")
        before = existing.indices.get(name)
        if plan.owns(name) and (before is None or (before[0] == "close" and row.get("status") == "open")):
            return True
    return False


def explain_missing_templates(ctx: Context, plan: Plan) -> None:
    """A data stream needs a matching index template with data_stream on the cluster restored to to roll
    over and take writes; say so before restoring when it has none."""
    answer = ctx.cluster.get("/_index_template", ok=(404,))
    templates = [t.get("index_template", {}) for t in answer.get("index_templates") or []]
    streaming = [t for t in templates if "data_stream" in t]
    missing = [
        s
        for s in sorted(plan.streams.values())
        if not any(
            fnmatch.fnmatchcase(s, p) for t in streaming for p in t.get("index_patterns") or []
        )  # the engine's glob
    ]
    if missing:
        logger.warning(
            "the %s has no index template with data_stream matching %s: the data stream(s) are "
            "restored, but cannot roll over or take new writes until such a template exists (create it with "
            "PUT /_index_template/<name> as on the source, or restore with include_global_state = true)",
            ctx.cluster.side,
            listed(missing),
        )


def shards_progress(health: dict) -> str:
    """What the cluster's health says of the shards still on their way (constant size)."""
    initializing, unassigned = health.get("initializing_shards", 0), health.get("unassigned_shards", 0)
    parts = [f"{plural(initializing, 'shard')} recovering"] if initializing else []
    if unassigned:
        parts.append(f"{unassigned} waiting or unassigned (cluster-wide)")
    return ", ".join(parts) or "recovering"


def restore_and_wait(ctx: Context, plan: Plan, existing: Existing, closed: list[str]) -> dict | None:
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
        progress.update(0, 0, 0, 0, shards_progress(health))

    call = Background(lambda: start_restore(ctx, plan, existing, blocking=True))
    try:
        answer = ctx.wait_for_call(call, poll=show, every=progress.every, timeout_message=timeout_message(ctx))
    except RestoreFailed as err:  # refused, or cut with nothing begun
        reopen(ctx, closed, err)
        raise
    except KeyboardInterrupt as err:
        if call.done.is_set():
            raise
        raise interrupted_before_answer(ctx, plan, existing, closed, err) from None
    finally:
        progress.close()
    return answer


def interrupted_before_answer(
    ctx: Context, plan: Plan, existing: Existing, closed: list[str], err: BaseException
) -> Interrupted:
    """Ctrl-C or SIGTERM before the restore answered: say whether it goes on (one look at the
    cluster), and reopen what this run closed if it has not begun."""
    what = f"{plural(len(plan.request_names), 'index', 'indices')} from {plan.snapshot}"
    try:
        began = restore_began(ctx.cluster, plan, existing)
    except (EngineError, ClusterUnreachable, UnexpectedAnswer) as cause:
        left = f"; closed by this run: {listed(closed)} (POST /<index>/_open if it did not begin)" if closed else ""
        return Interrupted.of(
            err, f"could not tell whether the restore of {what} began ({cause}): check with {FOLLOW}{left}"
        )
    if began:
        return Interrupted.of(
            err, f"the restore of {what} goes on in the {ctx.cluster.side} cluster; follow it with: {FOLLOW}"
        )
    note = Interrupted.of(err, f"the restore of {what} had not begun; nothing was restored")
    reopen(ctx, closed, note)
    return note


def timeout_message(ctx: Context) -> str:
    return (
        f"the restored indices did not reach {ctx.config.restore.wait_for_status} within "
        f"{ctx.config.wait.max_wait:.0f}s (max_wait in [wait]); the restore goes on in the {ctx.cluster.side} cluster: "
        f"follow it with {FOLLOW}"
    )
