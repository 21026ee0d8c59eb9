"""List: the snapshots in the repository, newest first, as a table or as JSON (--json)."""

from __future__ import annotations

import json
import logging

from ..cluster import path_of
from ..repository import ensure_repository
from ..retention import Snapshot, iso, newest_first
from ..snapshots import open_cache, paginates, read_snapshots
from ..wait import plural
from . import Context

logger = logging.getLogger(__name__)

COLUMNS = ("NAME", "STATE", "START (UTC)", "DURATION", "INDICES", "SHARDS OK/TOTAL", "OURS")


def run_list(ctx: Context) -> None:
    """Print the repository's snapshots of ``ctx.cluster``'s side, newest first.

    Raises RepositoryError, EngineError, or the cluster's connection and auth errors.
    """
    cluster = ctx.cluster
    repo = ctx.config.repository_for(cluster.side)
    info = cluster.info()
    logger.info("%s: %s at %s", cluster.side, info, ", ".join(cluster.seeds))
    readonly = cluster.side == "destination" and repo.readonly_on_destination
    ensure_repository(cluster, repo, readonly=readonly)
    if cluster.dry_run and cluster.get(path_of("_snapshot", repo.name), ok=(404,)).status == 404:
        ctx.echo("DRY RUN: the repository is not registered yet, so its snapshots cannot be listed")
        return
    cache = open_cache(ctx.config.cache, info, repo.name)
    snapshots = newest_first(read_snapshots(cluster, repo.name, paginate=paginates(info), cache=cache))
    if ctx.as_json:
        ctx.echo(json.dumps([as_json(s) for s in snapshots], indent=1))
    elif snapshots:
        for line in table(snapshots):
            ctx.echo(line)
    ctx.result.message = f"{plural(len(snapshots), 'snapshot')} in repository {repo.name} on the {cluster.side} cluster"
    if not ctx.as_json:
        ctx.echo(ctx.result.message)


def as_json(snap: Snapshot) -> dict:
    return {
        "name": snap.name,
        "state": snap.state,
        "start": iso(snap.start),
        "end": iso(snap.end),
        "duration_s": None if snap.duration_s is None else round(snap.duration_s, 3),
        "indices": snap.indices,
        "shards_total": snap.shards_total,
        "shards_failed": snap.shards_failed,
        "taken_by_us": snap.taken_by_us,
    }


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{secs:02d}s"


def table(snapshots: list[Snapshot]) -> list[str]:
    """Aligned lines: a header, then one line per snapshot."""
    rows = [COLUMNS] + [
        (
            s.name,
            s.state,
            iso(s.start) or "-",
            _duration(s.duration_s),
            str(s.indices),
            f"{s.shards_ok}/{s.shards_total}",
            "yes" if s.taken_by_us else "no",
        )
        for s in snapshots
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
