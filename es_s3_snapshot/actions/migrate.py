"""Migrate: one round of backup from the source and restore into the destination; --final cuts over.

A round: the pre-flight gate of ``check`` (reachability, repository, compatibility, existing
indices, system indices; nothing changes when it FAILs), a snapshot ``migrate-%Y.%m.%d-%H.%M.%S-r<round>``
of the configured indices (``run_backup``), a restore of it (``run_restore``), then a record of
what was restored and a report: new bytes, duration and per-index document lag.

Which destination indices the migration restored itself is kept in a hidden index on the
destination, ``es-s3-snapshot-migrations``: one document per migration (id: the repository name)
with the round number, the last snapshot and each restored index's UUID. An existing index is
closed and restored over only when its name AND its UUID are in that record, so an index that
someone deleted and re-created, or any other existing index, follows the configured policy. The
record lives beside the indices it describes (any host can run the next round), costs one request
per round whatever the number of indices, and losing it only makes the tool more careful.

``--final`` is the cutover: with ``--block-writes`` it first sets ``index.blocks.write = true`` on
the selected source indices that were not blocked yet, takes the last round, then runs ``verify``.
On any failure it removes the block it set, unless ``--keep-blocked``; the last line says what it
left. Restores of a migration always set ``index.blocks.write = false`` on the destination, so a
snapshot of write-blocked source indices arrives writable.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timezone

from ..cluster import Cluster, path_of
from ..compat import FAIL
from ..errors import ConfigError, EsS3SnapshotError, OperationFailed
from ..names import chunks, expand_snapshot_name
from ..wait import human_bytes, plural
from . import Context
from .backup import run_backup
from .check import collect, report
from .restore import run_restore
from .sides import choose, inventory, print_table, targets
from .sync import sync_configured, sync_repository
from .verify import verify

logger = logging.getLogger(__name__)

STATE_INDEX = "es-s3-snapshot-migrations"
SNAPSHOT_PATTERN = "migrate-%Y.%m.%d-%H.%M.%S-r{round}"  # the round number: two rounds in one second differ
MAX_LAG_ROWS = 20


def run_migrate(ctx: Context) -> None:
    """One migration round (or, with ctx.final, the cutover round and verify).

    Raises OperationFailed when the pre-flight FAILs (nothing changed), or the error of the failed
    step with what was left on the source appended.
    """
    config = ctx.config
    if not ctx.wait:
        raise ConfigError("--no-wait does not go with -m migrate: a round restores the snapshot it has just taken")
    source = ctx.cluster
    destination = ctx.open_cluster("destination")
    ctx = replace(ctx, open_cluster=lambda side: destination if side == "destination" else source)
    migration = config.repository_for("destination").name

    state = read_state(destination, migration)
    now = inventory(destination, settings=False)
    ours = {t for t, uuid in (state.get("indices") or {}).items() if t in now and now[t].uuid == uuid}
    rows = collect(ctx, ours=ours, gate_only=True)
    failed = [r for r in rows if r.result == FAIL]
    if failed:
        report(ctx, rows)
        raise OperationFailed(
            f"migrate: refused before changing anything: {failed[0].check}: {failed[0].detail}"
            + (f" (and {len(failed) - 1} more, see the table)" if len(failed) > 1 else "")
        )

    blocked: list[str] = []
    try:
        if ctx.final and ctx.block_writes:
            blocked = block_writes(ctx, source)
        elif ctx.final:
            logger.warning("--final without --block-writes: writes to the source may go on after this last round")
        round_no = int(state.get("round", 0)) + 1
        one_round(ctx, source, destination, migration, round_no, ours)
        if ctx.final and not source.dry_run:
            verify(ctx, source, destination)
    except BaseException as err:
        left = _undo(ctx, source, blocked)
        if isinstance(err, EsS3SnapshotError):
            wrapped = OperationFailed(f"{err}; {left}" if left else str(err))
            wrapped.exit_code = err.exit_code
            raise wrapped from err
        if left:
            logger.error("%s", left)
        raise
    if ctx.final:
        if blocked:
            ctx.echo(
                f"cutover done: {plural(len(blocked), 'source index', 'source indices')} stay write-blocked; point clients at the destination "
                '(to undo: PUT <index>/_settings {"index.blocks.write": false} on the source)'
            )
        else:
            ctx.echo("cutover round done and verified")


def block_writes(ctx: Context, source: Cluster) -> list[str]:
    """Write-block the selected open source indices that are not blocked yet; return their names."""
    indices = inventory(source)
    names, _ = choose(ctx.config.snapshot.indices, indices)
    to_block = [n for n in names if indices[n].status == "open" and not indices[n].write_blocked]
    set_write_block(source, to_block, True)
    if to_block and not source.dry_run:
        logger.warning("write-blocked %d source index(es) for the cutover", len(to_block))
    return to_block


def set_write_block(cluster: Cluster, names: list[str], value: bool) -> None:
    for chunk in chunks(names):
        cluster.request("PUT", path_of(",".join(chunk), "_settings"), {"index.blocks.write": value}, changes=True)


def _undo(ctx: Context, source: Cluster, blocked: list[str]) -> str:
    """Remove the write block this run set (unless --keep-blocked); say what was left."""
    if not blocked:
        return "the source was not write-blocked by this run"
    listed = ", ".join(blocked[:10]) + (f" and {len(blocked) - 10} more" if len(blocked) > 10 else "")
    if ctx.keep_blocked:
        return f"left {plural(len(blocked), 'source index', 'source indices')} write-blocked (--keep-blocked): {listed}"
    try:
        set_write_block(source, blocked, False)
    except Exception as err:  # noqa: BLE001 - say what is left, whatever went wrong
        return (
            f"could NOT remove the write block from {plural(len(blocked), 'source index', 'source indices')} ({err}): {listed}; "
            'remove it with PUT <index>/_settings {"index.blocks.write": false}'
        )
    return f"removed the write block this run set on {plural(len(blocked), 'source index', 'source indices')}; the source takes writes again"


def one_round(ctx: Context, source: Cluster, destination: Cluster, migration: str, round_no: int, ours: set) -> None:
    config = ctx.config
    started = ctx.clock()
    try:
        name = expand_snapshot_name(SNAPSHOT_PATTERN.format(round=round_no), ctx.now())
    except ValueError as err:  # pragma: no cover - the pattern is ours
        raise OperationFailed(f"migration snapshot name {err}") from err

    run_backup(replace(ctx, cluster=source, config=replace(config, snapshot=replace(config.snapshot, name=name))))
    if source.dry_run:
        ctx.echo(f"DRY RUN: round {round_no} would restore {name} into the destination; nothing was changed")
        return
    new_bytes = _new_bytes(source, config.repository_for("source").name, name)
    if sync_configured(config):  # the destination reads another store: copy the new blobs over first
        sync_repository(replace(ctx, cluster=None, dry_run=source.dry_run))

    names, _ = choose(config.snapshot.indices, inventory(source))
    existing = inventory(destination, settings=False)
    theirs = [t for t in targets(config, names).values() if t in existing and t not in ours]
    restore = replace(
        config.restore,
        snapshot=name,
        existing_indices="close" if not theirs else config.restore.existing_indices,
        index_settings={**config.restore.index_settings, "index.blocks.write": False},
    )
    run_restore(replace(ctx, cluster=destination, config=replace(config, restore=restore)))

    after = inventory(destination, settings=False)
    restored = {t: after[t].uuid for t in targets(config, names).values() if t in after}
    write_state(destination, migration, {"round": round_no, "snapshot": name, "indices": restored})
    seconds = ctx.clock() - started
    ctx.echo(
        f"round {round_no} of migration {migration}: snapshot {name}, {human_bytes(new_bytes)} new, {seconds:.1f}s"
    )
    lag_report(ctx, source, destination, names)


def _new_bytes(source: Cluster, repo: str, name: str) -> int:
    status = source.get(path_of("_snapshot", repo, name, "_status")).get("snapshots") or [{}]
    stats = status[0].get("stats") or {}
    return int((stats.get("incremental") or stats.get("total") or {}).get("size_in_bytes", 0) or 0)


def lag_report(ctx: Context, source: Cluster, destination: Cluster, names: list[str]) -> dict[str, int]:
    """Per-index document lag (source minus destination), from one ``_cat/indices`` per side."""
    patterns = ",".join(ctx.config.snapshot.indices)
    src_path = path_of("_cat", "indices", patterns) if len(patterns) < 3000 else "/_cat/indices"
    params = {"format": "json", "h": "index,docs.count"}
    src = {r["index"]: int(r.get("docs.count") or 0) for r in source.get(src_path, params=params).body or []}
    dst = {
        r["index"]: int(r.get("docs.count") or 0) for r in destination.get("/_cat/indices", params=params).body or []
    }
    lag = {}
    rows = []
    for name, target in targets(ctx.config, names).items():
        lag[name] = src.get(name, 0) - dst.get(target, 0)
        rows.append((name, target, src.get(name, 0), dst.get(target, 0), lag[name]))
    behind = [r for r in rows if r[4]]
    shown = (behind or rows)[:MAX_LAG_ROWS]
    print_table(ctx.echo, ("index", "destination", "source docs", "destination docs", "lag"), shown)
    total = sum(lag.values())
    ctx.echo(
        f"lag: {plural(total, 'document')} over {len(behind)} of {plural(len(rows), 'index', 'indices')}"
        + (f" ({len(behind or rows) - len(shown)} more rows not shown)" if len(behind or rows) > len(shown) else "")
    )
    return lag


def read_state(destination: Cluster, migration: str, index: str = STATE_INDEX) -> dict:
    """The record of this migration on the destination ({} when none); ``index``: the record's index
    (drill keeps its own records the same way)."""
    answer = destination.get(path_of(index, "_doc", migration), ok=(404,))
    return (answer.get("_source") or {}) if answer.status == 200 else {}


def write_state(destination: Cluster, migration: str, record: dict, index: str = STATE_INDEX) -> None:
    """Write the record (one document, id ``migration``) into ``index``, created hidden when absent."""
    if destination.get(path_of(index), ok=(404,)).status == 404:
        destination.request(
            "PUT",
            path_of(index),
            {
                "settings": {"index.hidden": True, "index.number_of_shards": 1, "index.number_of_replicas": 0},
                "mappings": {"dynamic": False},  # a record, not searched: no field per index name
            },
            changes=True,
        )
    record = dict(record, migration=migration, updated=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    destination.request("PUT", path_of(index, "_doc", migration), record, params={"refresh": "true"}, changes=True)
