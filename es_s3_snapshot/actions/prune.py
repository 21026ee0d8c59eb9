"""Prune: delete this tool's old snapshots from the repository on the source, as [retention] says.

Only snapshots taken by this tool whose name fits ``snapshot_name`` are ever candidates (see
``retention``). ``--dry-run`` prints the plan: keep or delete for every snapshot, with the rule
that decided; it also reads a repository registered read-only (it writes nothing), and then says
that a real prune would refuse it, and why. Deletions go in batches of names where the engine
accepts them (one at a time where it refuses), each request line under 4 KB, and wait out
"concurrent snapshot operation" answers within ``concurrent_wait``.
"""

from __future__ import annotations

import logging
from datetime import timezone

from ..cluster import EngineInfo, path_of
from ..config import RETENTION_RULES
from ..errors import ConfigError, EngineError, EsS3SnapshotError, OperationFailed, RepositoryError
from ..repository import ensure_repository
from ..retention import Decision, iso, plan
from ..snapshots import open_cache, paginates, read_snapshots
from ..wait import plural
from . import Context

logger = logging.getLogger(__name__)

MAX_PATH = 3000  # bytes of the path of one DELETE; engines refuse request lines over 4 KB


def run_prune(ctx: Context) -> None:
    """Delete the snapshots no [retention] rule keeps from the source's repository.

    Raises ConfigError (no rule, or not the source), OperationFailed when a deletion fails,
    WaitTimeout when the cluster stays busy past concurrent_wait, or the cluster's errors.
    """
    cluster = ctx.cluster
    if cluster.side != "source":
        raise ConfigError("prune runs on the source only: the destination registers the repository read-only")
    if not ctx.config.retention.has_rule:
        raise ConfigError(
            f"{ctx.config.path}: [retention] sets no rule ({', '.join(RETENTION_RULES)}): prune would delete nothing"
        )
    info = cluster.info()
    logger.info("source: %s at %s", info, ", ".join(cluster.seeds))
    repo = ctx.config.repository_for("source")
    try:
        ensure_repository(cluster, repo, readonly=False, writes=True)
        refusal = None
    except RepositoryError as err:
        if not cluster.dry_run:
            raise
        ensure_repository(cluster, repo, readonly=False)  # what refuses reading too is raised here
        refusal = str(err)  # only writing is refused: a dry run writes nothing
    prune(ctx, info, refusal=refusal)


def prune_after_backup(ctx: Context) -> None:
    """Prune after a successful backup ([retention] prune_after_backup); raises OperationFailed
    saying that the backup itself succeeded when the prune fails."""
    backup = f"backup {ctx.config.repository_for('source').name}/{ctx.result.snapshot} succeeded"
    try:
        prune(ctx, ctx.cluster.info())
    except EsS3SnapshotError as err:
        raise OperationFailed(f"the {backup}, but the prune after it failed: {err}") from err
    ctx.result.message = f"{backup}; {ctx.result.message}"


def prune(ctx: Context, info: EngineInfo, *, refusal: str | None = None) -> list[str]:
    """List, plan, and delete (or print the plan in dry-run); returns the deleted names.

    ``refusal``: why a real prune would be refused (a dry run on a read-only registration), said
    in the dry run's last line.
    """
    cluster, config = ctx.cluster, ctx.config
    repo = config.repository_for("source").name
    if cluster.dry_run and cluster.get(path_of("_snapshot", repo), ok=(404,)).status == 404:
        ctx.echo("DRY RUN: the repository is not registered yet, so there is nothing to prune")
        return []
    cache = open_cache(config.cache, info, repo)
    snapshots = read_snapshots(cluster, repo, paginate=paginates(info), cache=cache)
    decisions = plan(snapshots, config.retention, config.snapshot.name, ctx.now().astimezone(timezone.utc))
    doomed = [d for d in decisions if d.delete]
    if cluster.dry_run:
        for decision in decisions:
            ctx.echo(_line(decision, "delete" if decision.delete else "keep"))
        ctx.result.message = f"DRY RUN: would delete {len(doomed)} of {plural(len(decisions), 'snapshot')} in repository {repo}; nothing was deleted"
        if refusal:
            ctx.result.message += f"; but a real prune would refuse to run (exit 1): {refusal}"
        ctx.echo(ctx.result.message)
        return []
    deleted = delete_snapshots(ctx, repo, doomed)
    kept = len(decisions) - len(deleted)
    ctx.result.message = f"pruned repository {repo}: deleted {plural(len(deleted), 'snapshot')}, kept {kept}"
    ctx.echo(ctx.result.message)
    return deleted


def _line(decision: Decision, verb: str) -> str:
    snap = decision.snapshot
    return f"{verb:<7} {snap.name}  {snap.state}  {iso(snap.start) or '-'}  ({decision.rule})"


def _batches(names: list[str], repo: str) -> list[list[str]]:
    batches: list[list[str]] = []
    size = 0
    for name in names:
        length = len(path_of(name)) + 1
        if not batches or size + length > MAX_PATH - len(path_of("_snapshot", repo)):
            batches.append([])
            size = 0
        batches[-1].append(name)
        size += length
    return batches


def delete_snapshots(ctx: Context, repo: str, doomed: list[Decision]) -> list[str]:
    """Delete the snapshots, batched; prints each deleted one and records it in ``ctx.result``."""
    by_name = {d.snapshot.name: d for d in doomed}
    for batch in _batches(list(by_name), repo):
        try:
            _delete(ctx, repo, batch)
        except EngineError as err:
            if len(batch) == 1:
                raise OperationFailed(f"snapshot {repo}/{batch[0]} could not be deleted: {err}") from err
            logger.info("the source refused to delete %d snapshots at once (%s); one at a time", len(batch), err.reason)
            for name in batch:
                try:
                    _delete(ctx, repo, [name])
                except EngineError as one_err:
                    raise OperationFailed(f"snapshot {repo}/{name} could not be deleted: {one_err}") from one_err
                _deleted(ctx, by_name[name])
            continue
        for name in batch:
            _deleted(ctx, by_name[name])
    return list(ctx.result.deleted)


def _deleted(ctx: Context, decision: Decision) -> None:
    ctx.result.deleted.append(decision.snapshot.name)
    ctx.echo(_line(decision, "deleted"))


def _delete(ctx: Context, repo: str, names: list[str]) -> None:
    """One DELETE of these names, waiting out concurrent snapshot operations; a name already gone
    (404 for a single name) counts as deleted."""
    snap = ctx.config.snapshot

    def attempt():
        try:
            ctx.cluster.request(
                "DELETE",
                path_of("_snapshot", repo, ",".join(names)),
                changes=True,
                ok=(404,) if len(names) == 1 else (),
                timeout=max(ctx.config.wait.max_wait, ctx.cluster.request_timeout),
                retries=0,
            )
            return True
        except EngineError as err:
            if err.error_type == "concurrent_snapshot_execution_exception" or err.status == 503:
                logger.info("the source cluster is busy with other snapshot operations; waiting (%s)", err.reason)
                return None
            raise

    ctx.wait_for(
        attempt,
        max_wait=snap.concurrent_wait,
        timeout_message=(
            f"snapshots in {repo} could not be deleted: the source cluster was still busy with other snapshot "
            f"operations after {snap.concurrent_wait:.0f}s (concurrent_wait in [snapshot])"
        ),
    )
