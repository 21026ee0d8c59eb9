"""Restore: register the repository read-only on the destination, restore, wait for recovery, check.

The steps live in ``actions/restoring/`` (plan, existing indices, start, recovery, read-back), so
that the other modes that restore (migrate, drill) call them rather than copy them. No request
carries a list of index names in its URL, and the final check reads every restored index in two
requests whatever their number.
"""

from __future__ import annotations

import logging

from ..errors import Interrupted, RestoreFailed
from ..names import listed
from ..repository import ensure_repository
from ..wait import Background, joined, plural
from . import Context
from .restoring.existing import find_existing, handle_existing, list_indices, reopen
from .restoring.plan import make_plan, repository_registered
from .restoring.readback import read_back
from .restoring.recovery import judge_answer
from .restoring.start import FOLLOW, interrupted_before_answer, restore_and_wait, start_restore

logger = logging.getLogger(__name__)


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
    if cluster.dry_run and not repository_registered(cluster, repo.name):
        ctx.echo(
            "DRY RUN: the repository is not registered yet, so its snapshots cannot be listed; nothing was changed"
        )
        return
    indices = Background(lambda: list_indices(cluster, "index,status,pri"))  # meanwhile the snapshot is read
    plan = make_plan(ctx)
    existing = find_existing(cluster, plan, joined(indices, ctx.pause))
    closed = handle_existing(ctx, plan, existing)
    what = f"{plural(len(plan.request_names), 'index', 'indices')} from {plan.snapshot}"
    if cluster.dry_run or not ctx.wait:
        try:
            start_restore(ctx, plan, existing, blocking=False)
        except RestoreFailed as err:  # refused, or cut with nothing begun: undo what we closed
            reopen(ctx, closed, err)
            raise
        except KeyboardInterrupt as err:
            raise interrupted_before_answer(ctx, plan, existing, closed, err) from None
        ctx.echo(
            f"DRY RUN: nothing was changed; would restore {listed(plan.request_names)} from {plan.snapshot}"
            if cluster.dry_run
            else f"restore of {what} started; follow it with: {FOLLOW}"
        )
        return
    started = ctx.clock()
    try:
        answer = restore_and_wait(ctx, plan, existing, closed)
        judge_answer(ctx, plan, answer, existing)
    except KeyboardInterrupt as err:
        raise Interrupted.of(
            err, f"the restore of {what} goes on in the destination cluster; follow it with: {FOLLOW}"
        ) from None
    read_back(ctx, plan, ctx.clock() - started)
    ctx.result.snapshot, ctx.result.indices = plan.snapshot, sorted(plan.targets.values())
