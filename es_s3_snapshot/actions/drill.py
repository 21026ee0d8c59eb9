"""Drill: restore a snapshot under new names on a real cluster, check every copy, delete them again.

A restore test for a weekly cron entry. It restores the latest SUCCESS snapshot (``--snapshot``
and ``--indices`` narrow it) on the destination cluster (``--on source``: the source's cluster
and repository), waits, checks that every copy has all its primaries active and answers a search,
prints each with its document count, and ends with the snapshot, the indices, documents and bytes,
and the time to restore. It runs restore's own steps (``actions/restoring/``) with the drill's
restore settings: names ``[drill] prefix`` + the index's name (the engine's rename), no aliases,
no global state, 0 replicas, and the lifecycle-policy settings left out so that no policy acts on
the copies (on OpenSearch with the ISM plugin, ``auto_manage`` false too, so that no ISM template
attaches a policy to them).

Data streams are restored too, under the prefixed name: the engines rename the data stream and
its backing indices alike (``.ds-<prefix><name>-...``) and need no index template for it
(Elasticsearch 8.19/9.2, OpenSearch 1.3/2.19/3.3). A drill deletes their copies with the data stream API
(``DELETE _data_stream/<name>``: the write index cannot be deleted alone); on a cluster without
that API (the Elasticsearch integ-test distributions lack the data-streams module) it leaves the
data streams out and says so in one line.

Ownership: the copies are recorded by name and UUID once the engine has accepted the restore
(data streams: their name, and each backing index by name and UUID), and only a copy whose name
and UUID both still match is deleted (a data stream: only when each of its backing indices is
one the drill restored): after the check, after a failure, and on Ctrl-C or SIGTERM (deleting an
index still being restored cancels its recovery). A copy's name that already exists is refused
before anything is restored (the existing-index policy ``refuse``), so an index or data stream
that merely starts with the prefix is never touched.

The record is also kept on the cluster, as migrate keeps its own: one document per prefix in the
hidden index ``es-s3-snapshot-drills``, written once the copies' UUIDs are known and emptied once
they are deleted. A drill that was killed (SIGKILL, a lost host) leaves its copies named there,
and the next drill deletes those whose name and UUID still match before it begins.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from ..cluster import Cluster, path_of
from ..config import Config
from ..errors import (
    ConfigError,
    EsS3SnapshotError,
    IndexConflict,
    Interrupted,
    OperationFailed,
    RestoreFailed,
    WaitTimeout,
)
from ..names import backing_stream, chunks, listed
from ..repository import ensure_repository
from ..wait import Background, human_bytes, joined, plural
from . import Context
from .restoring.existing import Existing, find_existing, list_indices
from .restoring.plan import Plan, make_plan, repository_registered
from .restoring.readback import read_back
from .restoring.recovery import index_ready, target_health, wait_for_recovery
from .restoring.start import start_restore
from .sides import read_state, write_state

logger = logging.getLogger(__name__)

RECORD_INDEX = "es-s3-snapshot-drills"  # one document per [drill] prefix: the copies not yet deleted

# Index settings through which a lifecycle policy acts on an index, per engine: left out of the
# copies (Elasticsearch ILM; OpenSearch ISM and its Open Distro name).
POLICY_SETTINGS = {
    "Elasticsearch": ("index.lifecycle.name",),
    "OpenSearch": (
        "index.plugins.index_state_management.policy_id",
        "index.opendistro.index_state_management.policy_id",
    ),
}
# OpenSearch ISM attaches a policy to a new index (a restored one too) whose name matches a
# policy's ism_template, unless this index setting is false. Sent only where the plugin is: an
# engine refuses a restore that sets an index setting it does not know.
ISM_PLUGIN = "opensearch-index-management"
ISM_OFF = {"index.plugins.index_state_management.auto_manage": False}


def drill_config(config: Config, engine: str, *, ism: bool = False) -> Config:
    """``config`` with the drill's restore settings: renamed copies without aliases, global state,
    replicas or lifecycle policy (``ism``: the cluster has the ISM plugin, whose automatic policies
    are turned off for the copies), a copy's existing name refused, and SUCCESS snapshots only."""
    restore = replace(
        config.restore,
        existing_indices="refuse",
        confirm_delete=False,
        rename_pattern="(.+)",
        rename_replacement=f"{config.drill.prefix}$1",
        index_settings={"index.number_of_replicas": 0, **(ISM_OFF if ism else {})},
        ignore_index_settings=POLICY_SETTINGS.get(engine, ()),
        include_aliases=False,
        include_global_state=False,
        feature_states=(),
        wait_for_status="yellow",
        partial=False,
    )
    return replace(config, restore=restore)


def has_ism(cluster: Cluster, engine: str) -> bool:
    """Whether an OpenSearch cluster has the ISM plugin on some node (one _cat/plugins request;
    never asked of Elasticsearch). A user who may not list the plugins (403) gets a warning and
    False: the setting is not sent (it would fail the restore where the plugin is absent)."""
    if engine != "OpenSearch":
        return False
    answer = cluster.get("/_cat/plugins", params={"format": "json", "h": "component"}, ok=(403,))
    if answer.status == 403:
        logger.warning(
            "could not tell whether the %s cluster has the ISM plugin (GET /_cat/plugins answered 403): the copies "
            "are restored without index.plugins.index_state_management.auto_manage = false, so an ISM template "
            "matching their names may attach a policy to them while the drill runs",
            cluster.side,
        )
        return False
    rows = answer.body if isinstance(answer.body, list) else []
    return any(isinstance(r, dict) and r.get("component") == ISM_PLUGIN for r in rows)


def run_drill(ctx: Context) -> None:
    """Restore, check and delete again the snapshot's indices and data streams under the drill's prefix.

    Returns when every copy restored, had all its primaries active and answered a search, and was
    deleted again. Raises RestoreFailed naming the index that did not restore or answer (after
    deleting the copies), IndexConflict when a copy's name exists (nothing changed), Interrupted
    after deleting the copies on Ctrl-C or SIGTERM, OperationFailed when a copy could not be
    deleted, ConfigError, RepositoryError, WaitTimeout, or the cluster's connection and auth errors.
    """
    if not ctx.wait:
        raise ConfigError(
            "--no-wait does not go with -m drill: a drill waits for its restore, checks it and deletes it"
        )
    cluster = ctx.cluster
    info = cluster.info()
    logger.info("%s: %s at %s", cluster.side, info, ", ".join(cluster.seeds))
    ism = has_ism(cluster, info.engine)
    if ism:
        logger.info("the %s cluster has the ISM plugin: the copies are restored with auto_manage false", cluster.side)
    ctx = replace(ctx, config=drill_config(ctx.config, info.engine, ism=ism))
    repo = ctx.config.repository_for(cluster.side)
    ensure_repository(cluster, repo, readonly=cluster.side == "destination" and repo.readonly_on_destination)
    if cluster.dry_run and not repository_registered(cluster, repo.name):
        ctx.echo(
            "DRY RUN: the repository is not registered yet, so its snapshots cannot be listed; nothing was changed"
        )
        return
    delete_leftovers(cluster, ctx.config.drill.prefix)
    rows = list_indices(cluster, "index,status,pri")
    plan = streams_if_deletable(cluster, make_plan(ctx))
    ctx.result.snapshot = plan.snapshot
    existing = find_existing(cluster, plan, rows)
    if existing.indices or existing.streams:  # the existing-index policy refuse, with the drill's advice
        names = sorted(existing.indices) + sorted(existing.streams)
        noun = ("index or data stream", "indices or data streams") if existing.streams else ("index", "indices")
        raise IndexConflict(
            f"the {cluster.side} cluster already has {plural(len(names), *noun)} with a copy's name: "
            f"{listed(names)}; nothing was changed. A drill never touches an index it did not restore: delete "
            "a leftover of an earlier drill yourself, or choose another prefix in [drill]"
        )
    shown = [f"{n} -> {t}" for n, t in sorted({**plan.targets, **plan.streams}.items())]
    if cluster.dry_run:
        start_restore(ctx, plan, existing, blocking=False, templates=False)  # prints the request
        ctx.echo(
            f"DRY RUN: nothing was changed; would restore {listed(shown)} from {plan.snapshot} on the "
            f"{cluster.side} cluster, check and delete them"
        )
        return
    copies = Copies(cluster, plan, ctx.config.drill.prefix, before={r.get("index", "") for r in rows})
    started = ctx.clock()
    try:
        copies.restore(ctx, existing)
        wait_for_recovery(ctx, plan, primaries_known=False)
        seconds = ctx.clock() - started
        check_primaries(ctx, plan)
        size, counts = read_back(ctx, plan, seconds)
    except BaseException as err:
        note = copies.delete()
        if isinstance(err, KeyboardInterrupt):
            raise Interrupted.of(err, f"the drill of {plan.snapshot} was stopped; {note}") from None
        if isinstance(err, WaitTimeout):  # restore's message says the restore goes on: not after a drill
            err.args = (
                f"the copies from {plan.snapshot} did not recover on the {cluster.side} cluster within "
                f"{ctx.config.wait.max_wait:.0f}s (max_wait in [wait])",
            )
        if isinstance(err, EsS3SnapshotError) and err.args:
            err.args = (f"{err.args[0]}; {note}",) + err.args[1:]
        else:
            logger.error("%s", note)
        raise
    documents = sum(counts.values())
    ctx.result.indices, ctx.result.bytes = sorted(plan.targets) + sorted(plan.streams), size
    ctx.result.documents, ctx.result.restore_seconds = documents, round(seconds, 3)
    note = copies.delete()
    if isinstance(copies.error, KeyboardInterrupt):
        raise Interrupted.of(copies.error, f"drill of {plan.snapshot} passed, but {note}") from None
    if copies.left:
        raise OperationFailed(f"drill of {plan.snapshot}: every copy restored and answered, but {note}")
    (logger.warning if copies.others else logger.info)("%s", note)
    streams = f"{plural(len(plan.streams), 'data stream')}, " if plan.streams else ""
    ctx.echo(
        f"drill ok: {plan.snapshot} restored {plural(len(plan.targets), 'index', 'indices')}, {streams}"
        f"{plural(documents, 'document')}, {human_bytes(size)} in {seconds:.1f}s (time to restore) on the "
        f"{cluster.side} cluster; the copies were deleted"
    )


def streams_if_deletable(cluster: Cluster, plan: Plan) -> Plan:
    """The plan, without its data streams when the cluster has no data stream API to delete their
    copies with (one request; one warning line names what was left out). RestoreFailed when
    nothing is left to restore."""
    if not plan.streams:
        return plan
    probe = cluster.get(path_of("_data_stream", min(plan.streams.values())), ok=(400, 404, 405))
    if probe.status in (200, 404):  # the API answers: the data stream exists, or not
        return plan
    left_out = listed(sorted(plan.streams))
    if not plan.targets:
        raise RestoreFailed(
            f"snapshot {plan.snapshot} holds only data streams of the selected names ({left_out}), and the "
            f"{cluster.side} cluster has no data stream API (GET /_data_stream answered {probe.status}) to delete "
            "their copies with; nothing was restored"
        )
    logger.warning(
        "data streams left out of the drill: the %s cluster has no data stream API (GET /_data_stream answered %s) "
        "to delete their copies with: %s",
        cluster.side,
        probe.status,
        left_out,
    )
    return replace(plan, streams={}, backing={})


def check_primaries(ctx: Context, plan: Plan) -> None:
    """Every copy (data streams: each backing index) has all its primaries active (one request);
    RestoreFailed naming the others."""
    health = target_health(ctx.cluster, plan)
    if health is None:  # a copy (or every backing index of a data stream's copy) is missing
        short = sorted(plan.targets.values()) + sorted(plan.streams.values())
    else:
        short = sorted(
            n for n in set(plan.targets.values()) | set(health) if not index_ready(health.get(n, {}), "yellow")
        )
    if short:
        raise RestoreFailed(f"restored {listed(short)} without all primaries active on the {ctx.cluster.side} cluster")


def delete_leftovers(cluster: Cluster, prefix: str) -> None:
    """Delete the copies an earlier drill of this prefix recorded and did not delete (it was killed),
    those whose name and UUID still match; a warning says what was done."""
    record = read_state(cluster, prefix, RECORD_INDEX)
    if not record.get("indices") and not record.get("data_streams"):
        return
    snapshot = str(record.get("snapshot") or "?")
    copies = Copies(cluster, Plan(snapshot=snapshot, indices=[], targets={}), prefix)
    copies.began, copies.owned = True, dict(record.get("indices") or {})
    copies.streams = list(record.get("data_streams") or [])
    note = copies.delete()
    logger.warning("an earlier drill of %s did not end (killed?): %s", snapshot, note)
    if isinstance(copies.error, KeyboardInterrupt):
        raise copies.error


class Copies:
    """The indices and data streams one drill restored (indices and backing indices by name and
    UUID), their record on the cluster, and their deletion."""

    def __init__(self, cluster: Cluster, plan: Plan, prefix: str, before: set[str] | None = None):
        self.cluster, self.plan, self.prefix = cluster, plan, prefix
        self.before = before or set()  # the cluster's indices before the restore: never a copy
        self.began: bool | None = False  # None: the restore was sent, and whether it began is not known
        self.owned: dict[str, str] = {}  # name -> UUID of each index this drill restored (backing ones too)
        self.streams: list[str] = []  # the data streams this drill restored
        self.left: list[str] = []  # copies that could not be deleted
        self.others: list[str] = []  # copies' names that another index or data stream has now: left alone
        self.error: BaseException | None = None  # what stopped the deletion (a second Ctrl-C, the cluster)

    def restore(self, ctx: Context, existing: Existing) -> None:
        """Start the restore (the engine answers once it has created the copies, before they
        recover) and record each copy's UUID. On Ctrl-C or SIGTERM meanwhile, the answer is still
        awaited (its own timeout bounds it), so that what began is known and can be deleted."""
        self.began = None
        call = Background(lambda: start_restore(ctx, self.plan, existing, blocking=False, templates=False))
        try:
            joined(call, ctx.pause)
        except RestoreFailed:  # refused, or cut with nothing begun: nothing to delete
            self.began = False
            raise
        except KeyboardInterrupt:
            try:
                joined(call, ctx.pause)
            except RestoreFailed:
                self.began = False
            except EsS3SnapshotError:
                pass  # not known; delete() looks
            else:
                self.began = True
                self.record()
            raise
        self.began = True
        self.record()

    def record(self) -> None:
        """Record the UUID of every copy (one listing of the cluster's indices) and the data streams.
        Once the engine has accepted the restore, every target name that did not exist before is a
        copy: it refuses to restore onto a name that exists, and none of the targets existed when
        the drill began."""
        rows = list_indices(self.cluster, "index,uuid")
        self.owned = {
            r["index"]: r.get("uuid", "")
            for r in rows
            if self.plan.owns(r.get("index", "")) and r.get("index") not in self.before
        }
        self.streams = sorted(set(self.streams) | set(self.plan.streams.values()))
        logger.debug("restored copies: %s; data streams: %s", self.owned, self.streams)
        self.save(self.owned, self.streams)

    def save(self, copies: dict[str, str], streams: list[str]) -> None:
        """Keep ``copies`` (name -> UUID) and ``streams`` as this prefix's record on the cluster."""
        record = {"snapshot": self.plan.snapshot, "indices": copies, "data_streams": streams}
        write_state(self.cluster, self.prefix, record, RECORD_INDEX)

    def adopt(self) -> None:
        """After a restore whose start is not known: record the target names that exist now and
        whose shards the engine recovers, or recovered, from this drill's snapshot."""
        self.record()
        ours = set()
        for chunk in chunks(sorted(self.owned)):
            rows = self.cluster.get(
                path_of("_cat", "recovery", ",".join(chunk)),
                params={"format": "json", "h": "index,type,snapshot"},
                timeout=self.cluster.long_request_timeout,
            ).body
            ours |= {
                r.get("index")
                for r in rows or []
                if r.get("type") == "snapshot" and r.get("snapshot") == self.plan.snapshot
            }
        self.owned = {n: uuid for n, uuid in self.owned.items() if n in ours}

    def backing_indices(self, stream: str) -> dict[str, str] | None:
        """The backing indices (name -> UUID) of data stream ``stream`` now, or None when there is
        no such data stream (one request)."""
        answer = self.cluster.get(path_of("_data_stream", stream), ok=(404,))
        found = [d for d in answer.get("data_streams") or [] if d.get("name") == stream]
        if answer.status == 404 or not found:
            return None
        return {i.get("index_name", ""): i.get("index_uuid", "") for i in found[0].get("indices") or []}

    def delete_streams(self) -> tuple[list[str], set[str]]:
        """Delete the data streams this drill restored whose every backing index is one of its
        copies (name and UUID); returns those deleted, and the backing indices of data streams of
        a copy's name that are someone else's now (left alone, named in ``others``)."""
        deleted, kept = [], set()
        for stream in self.streams:
            backing = self.backing_indices(stream)
            if backing is None:
                continue
            if not backing or any(self.owned.get(n) != uuid for n, uuid in backing.items()):
                self.others.append(stream)
                kept |= set(backing)
                continue
            self.cluster.request(
                "DELETE", path_of("_data_stream", stream), changes=True, timeout=self.cluster.long_request_timeout
            )
            deleted.append(stream)
        return deleted, kept

    def delete(self) -> str:
        """Delete the copies whose name and UUID still match (data streams whose backing indices
        all do), confirm they are gone, and say so in one sentence (never raises: what could not
        be deleted is in ``left`` and the sentence)."""
        if self.began is False:
            return "nothing was restored"
        streams_deleted: list[str] = []
        try:
            if not self.owned:  # whether the restore began is not known: look
                self.adopt()
            if not self.owned and not self.streams:
                return "nothing was restored"
            self.others = []
            streams_deleted, kept = self.delete_streams()
            now = {r["index"]: r.get("uuid", "") for r in list_indices(self.cluster, "index,uuid")}
            mine = sorted(n for n, uuid in self.owned.items() if now.get(n) == uuid and n not in kept)
            self.others += sorted(n for n, uuid in self.owned.items() if n in now and now[n] != uuid)
            for chunk in chunks(mine):
                self.cluster.request(
                    "DELETE",
                    path_of(",".join(chunk)),
                    params={"ignore_unavailable": "true"},
                    changes=True,
                    timeout=self.cluster.long_request_timeout,
                )
            still = {r["index"] for r in list_indices(self.cluster, "index")}
        except (EsS3SnapshotError, KeyboardInterrupt) as err:
            self.error = err
            self.left = sorted(set(self.streams) - set(streams_deleted)) + sorted(
                self.owned or self.plan.targets.values()
            )
            why = "interrupted" if isinstance(err, KeyboardInterrupt) else str(err)
            return (
                f"could NOT delete the copies it restored on the {self.cluster.side} cluster ({why}): check and "
                f"delete {listed(self.left)} with DELETE /<index> (a data stream: DELETE /_data_stream/<name>)"
            )
        gone = {n for n in self.owned if n not in still}  # deleted now, or with their data stream
        self.left = sorted(n for n in self.owned if n in still and now.get(n) == self.owned[n] and n not in kept)
        try:
            self.save({n: self.owned[n] for n in self.left}, [])
        except (EsS3SnapshotError, KeyboardInterrupt) as err:  # the copies are gone: only the record is stale
            logger.warning("could not update the drill record in %s: %s", RECORD_INDEX, err)
        deleted = sorted(n for n in gone if backing_stream(n, streams_deleted) is None)
        parts = []
        if deleted:
            parts.append(
                f"deleted the {plural(len(deleted), 'index', 'indices')} it restored on the {self.cluster.side} cluster"
            )
        if streams_deleted:
            parts.append(
                f"deleted the {plural(len(streams_deleted), 'data stream')} it restored: {listed(streams_deleted)}"
            )
        if self.left:
            parts.append(f"could NOT delete {listed(self.left)} (delete them with DELETE /<index>)")
        if self.others:
            parts.append(
                f"left {listed(self.others)}: another index or data stream now has the name (its UUID differs)"
            )
        return "; ".join(parts) or "the copies it restored are gone already"
