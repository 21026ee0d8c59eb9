"""Restore's plan: the snapshot to restore, and which of its indices and data streams, under which names."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property

from ...cluster import Cluster, path_of
from ...config import LATEST
from ...errors import ConfigError, RestoreFailed
from ...names import backing_stream, expand_snapshot_name, listed, renamed, renamed_backing, series_regex
from ...retention import Snapshot, newest_first
from ...selection import Selection, resolve
from ...wait import plural
from .. import Context

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    snapshot: str
    indices: list[str]  # plain indices in the snapshot to restore (data streams' backing indices excluded)
    targets: dict[str, str]  # snapshot index name -> name on the cluster restored to
    streams: dict[str, str] = field(default_factory=dict)  # data stream in the snapshot -> name on that cluster
    backing: dict[str, str] = field(default_factory=dict)  # those streams' backing indices -> names on that cluster

    @property
    def request_names(self) -> list[str]:
        """What the restore request names: indices and data streams (their backing indices follow)."""
        return sorted(self.indices) + sorted(self.streams)

    def owns(self, name: str) -> bool:
        """Whether an index on the cluster restored to is one this restore creates (asked for every
        index of the cluster: the lookups are built once)."""
        return name in self._target_set

    @cached_property
    def _target_set(self) -> frozenset[str]:
        return frozenset(self.targets.values()) | frozenset(self.backing.values())

    @property
    def readable(self) -> list[str]:
        """Names to count documents in: the restored indices and data streams."""
        return sorted(self.targets.values()) + sorted(self.streams.values())


def repository_registered(cluster: Cluster, name: str) -> bool:
    return cluster.get(path_of("_snapshot", name), ok=(404,)).status == 200


def choose_snapshot(ctx: Context) -> dict:
    """The snapshot to restore.

    A plain name is that snapshot. ``latest`` is the newest SUCCESS snapshot holding every
    configured index; a name with strftime patterns (``nightly-%Y.%m.%d``) is the newest such
    snapshot whose name the pattern could have produced.
    """
    config, cluster = ctx.config, ctx.cluster
    repo, wanted = config.repository_for(cluster.side).name, config.restore.snapshot
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
    name_filter = series_regex(wanted) if wanted != LATEST else None  # a retry (<name>-retryN) counts too
    snapshots = cluster.get(path_of("_snapshot", repo, "_all"), timeout=slow).get("snapshots") or []
    patterns = config.snapshot.indices
    candidates = [
        s
        for s in snapshots
        if s.get("state") == "SUCCESS"
        and (name_filter is None or name_filter.fullmatch(s.get("snapshot", "")))
        and not selection_in(s, patterns).unmatched
    ]
    if not candidates:
        named = f" named like {wanted}" if name_filter else ""
        raise RestoreFailed(
            f"no SUCCESS snapshot{named} in repository {repo} holds {listed(list(patterns))} "
            f"({plural(len(snapshots), 'snapshot')} in the repository)"
        )
    by_name = {s.get("snapshot"): s for s in candidates}
    newest = by_name[newest_first([Snapshot.from_engine(s) for s in candidates])[0].name]  # as list shows it
    logger.info(
        "latest SUCCESS snapshot holding the indices: %s (in %s, read by the %s cluster)",
        newest.get("snapshot"),
        repo,
        cluster.side,
    )
    return newest


def names_in(snapshot: dict) -> list[str]:
    """Index and data stream names in a snapshot, without data streams' backing indices."""
    streams = snapshot.get("data_streams") or []
    indices = [i for i in snapshot.get("indices") or [] if backing_stream(i, streams) is None]
    return indices + list(streams)


def selection_in(snapshot: dict, patterns) -> Selection:
    """What the patterns select in a snapshot, by the one rule of selection.py. The listing does not
    say which indices are hidden: this tool's backups name them in their metadata (``hidden``),
    and wildcards skip those and every dot-prefixed one."""
    streams = snapshot.get("data_streams") or []
    metadata = snapshot.get("metadata") if isinstance(snapshot.get("metadata"), dict) else {}
    hidden = set(metadata.get("hidden") or [])
    return resolve(patterns, [n for n in names_in(snapshot) if n not in streams], streams, hidden)


def make_plan(ctx: Context) -> Plan:
    restore, patterns = ctx.config.restore, ctx.config.snapshot.indices
    snapshot = choose_snapshot(ctx)
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
    selection = selection_in(snapshot, patterns)  # wildcards skip system and dot indices unless asked
    if selection.missing and not restore.ignore_unavailable:
        raise RestoreFailed(f"index not in snapshot {name}: {listed(selection.missing)}")
    chosen = selection.names  # exclusions (-pattern) applied in order
    if not chosen:
        raise RestoreFailed(f"snapshot {name} holds no index matching {listed(list(patterns))}")
    stream_names = set(selection.streams)
    rename = lambda n: renamed(n, restore.rename_pattern, restore.rename_replacement)  # noqa: E731
    targets = {n: rename(n) for n in chosen if n not in stream_names}
    streams = {n: rename(n) for n in chosen if n in stream_names}
    backing = {
        i: renamed_backing(i, restore.rename_pattern, restore.rename_replacement)
        for i in snapshot.get("indices") or []
        if backing_stream(i, streams) is not None
    }
    shown = [n if n == t else f"{n} -> {t}" for n, t in sorted({**targets, **streams}.items())]
    logger.info("restoring from %s on the %s: %s", name, ctx.cluster.side, listed(shown))
    return Plan(snapshot=name, indices=sorted(targets), targets=targets, streams=streams, backing=backing)
