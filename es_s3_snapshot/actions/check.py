"""Check: the pre-flight of a migration. Changes nothing on either side.

One row per check (``ok``, ``warn`` or ``FAIL`` with a reason): each side reachable and its engine;
the repository on each side (registered where configured and verified, or the plugin/module and
path present); the snapshot compatibility of every selected index (compat.py); disk and shard
room on the destination; existing indices against the policy; system indices, global state and
feature states. Exits 1 when any check FAILs. Only GETs, plus ``_verify`` of a repository that is
already registered.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass

from ..cluster import Cluster, path_of
from ..compat import FAIL, OK, OPENSEARCH, WARN, judge
from ..errors import AuthenticationFailed, ClusterUnreachable, EngineError, OperationFailed
from ..repository import _where, advice, is_readonly, registration_problem
from ..selection import system_selected
from ..wait import human_bytes, plural
from . import Context
from .restoring.existing import judge_existing
from .sides import (
    IndexInfo,
    choose,
    engine_of,
    inventory,
    newer,
    print_json,
    print_table,
    read_state,
    restored_by_migration,
    targets,
)

logger = logging.getLogger(__name__)

MAX_LISTED = 10


@dataclass(frozen=True)
class Row:
    side: str
    check: str
    result: str  # ok, warn, FAIL
    detail: str


def _listed(names) -> str:
    names = list(names)
    more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
    return ", ".join(names[:MAX_LISTED]) + more


def run_check(ctx: Context) -> None:
    """Print the pre-flight table (or JSON with --json); raise OperationFailed when a check FAILs."""
    rows = collect(ctx)
    report(ctx, rows)
    failed = [r for r in rows if r.result == FAIL]
    if failed:
        raise OperationFailed(
            f"check: {plural(len(failed), 'check')} FAILED, first: {failed[0].check}: {failed[0].detail}"
        )


def report(ctx: Context, rows: list[Row]) -> None:
    if ctx.json:
        print_json(ctx.echo, {"ok": not any(r.result == FAIL for r in rows), "checks": [asdict(r) for r in rows]})
    else:
        print_table(
            ctx.echo, ("side", "check", "result", "detail"), [(r.side, r.check, r.result, r.detail) for r in rows]
        )


def collect(ctx: Context, ours: set[str] | None = None, gate_only: bool = False) -> list[Row]:
    """Every check's row. ``ours``: destination indices restored by earlier rounds of this migration
    (restored over, whatever the policy; None: read from the migration's record on the destination).
    ``gate_only``: only what must hold before a migration round (reachability, repository,
    compatibility, existing indices, system indices)."""
    config = ctx.config
    rows: list[Row] = []
    clusters = {"source": ctx.cluster, "destination": ctx.open_cluster("destination")}
    engines: dict[str, tuple[str, str]] = {}
    for side, cluster in clusters.items():
        try:
            engines[side] = engine_of(cluster)
        except (ClusterUnreachable, AuthenticationFailed, EngineError) as err:
            rows.append(Row(side, "reachable", FAIL, str(err)))
            continue
        rows.append(Row(side, "reachable", OK, f"{', '.join(cluster.seeds)}: credentials accepted"))
        rows.append(Row(side, "engine", OK, " ".join(engines[side])))
    if len(engines) < 2:
        return rows
    src, dst = clusters["source"], clusters["destination"]
    writer = engines["source"][1]
    for side, cluster in clusters.items():
        try:
            row, versions = _repository(cluster, config.repository_for(side), readonly=side == "destination")
        except EngineError as err:  # e.g. a managed service that does not serve the nodes APIs
            row, versions = Row(side, "repository", WARN, f"could not be checked: {err}"), []
        rows.append(row)
        if side == "source":
            for version in versions:
                writer = newer(version, writer)

    indices = inventory(src)
    names, missing = choose(config.snapshot.indices, indices)
    if missing and not config.snapshot.ignore_unavailable:
        rows.append(Row("source", "indices", FAIL, f"not found on the source: {_listed(missing)}"))
    elif not names:
        rows.append(Row("source", "indices", FAIL, f"no index matches {', '.join(config.snapshot.indices)}"))
    else:
        total = sum(indices[n].bytes for n in names)
        rows.append(Row("source", "indices", OK, f"{len(names)} selected, {human_bytes(total)} of primaries"))
    rows += _compatibility(indices, names, engines["source"], engines["destination"], writer)
    dest_indices = inventory(dst, settings=False)
    if ours is None:  # check run on its own: what the migration's record says it restored
        try:
            ours = restored_by_migration(read_state(dst, config.repository_for("destination").name), dest_indices)
        except EngineError as err:  # e.g. a user who may not read the record: every existing index counts
            logger.warning("the migration's record could not be read on the destination: %s", err)
            ours = set()
    rows.append(_existing(ctx, names, indices, dest_indices, ours))
    rows.append(_system(ctx, names, engines["destination"][0]))
    if not gate_only:
        incoming_bytes, incoming_shards, largest = _incoming(ctx, indices, names, dest_indices)
        settings = dst.request(
            "GET",
            "/_cluster/settings",
            ok=(400, 401, 403, 404),
            params={
                "include_defaults": "true",
                "filter_path": "*.cluster.routing.allocation.disk.threshold_enabled,"
                "*.cluster.routing.allocation.disk.watermark.low,*.cluster.routing.allocation.disk.watermark.high,"
                "*.cluster.max_shards_per_node",
            },
        ).body
        for name, step in (
            ("disk", lambda: _disk(dst, settings, incoming_bytes, largest)),
            ("shards", lambda: _shards(dst, settings, incoming_shards)),
        ):
            try:
                rows.append(step())
            except EngineError as err:
                rows.append(Row("destination", name, WARN, f"could not be checked: {err}"))
    return rows


# --- repository -------------------------------------------------------------------------------------


def _repository(cluster: Cluster, repo, *, readonly: bool) -> tuple[Row, list[str]]:
    """The repository row of one side, and the versions that wrote the snapshots it lists."""
    side = cluster.side
    current = cluster.get(path_of("_snapshot", repo.name), ok=(404,))
    if current.status != 200 or repo.name not in (current.body or {}):
        return _unregistered(cluster, repo), []
    have = current.body[repo.name]
    have_settings = have.get("settings", {})
    problem = registration_problem(repo, have, side, writes=side == "source")  # the source is where backup writes
    if problem:
        return Row(side, "repository", FAIL, problem), []
    registered_readonly = is_readonly(have)
    try:
        cluster.request("POST", path_of("_snapshot", repo.name, "_verify"), timeout=cluster.long_request_timeout)
    except EngineError as err:
        return Row(side, "repository", FAIL, advice(repo, side, err)), []
    versions = []
    try:
        listing = (
            cluster.get(
                path_of("_snapshot", repo.name, "_all"),
                params={"filter_path": "snapshots.version"},
                timeout=cluster.long_request_timeout,
            ).body
            or {}
        )
        versions = sorted({s["version"] for s in listing.get("snapshots") or [] if s.get("version")})
    except EngineError as err:
        return Row(side, "repository", FAIL, f"{repo.name} cannot be listed: {err.error_type}: {err.reason}"), []
    state = "read-only" if registered_readonly else "writable"
    note = (
        ""
        if (not readonly or registered_readonly)
        else " (restore uses it as it is: if another cluster writes this repository, register it read-only here)"
    )
    written = f"; snapshots written by {', '.join(versions)}" if versions else ""
    return Row(
        side, "repository", OK, f"{repo.name} registered {state} at {_where(have_settings)}, verified{note}{written}"
    ), versions


def _unregistered(cluster: Cluster, repo) -> Row:
    side = cluster.side
    if repo.type == "s3":
        nodes = cluster.get(
            "/_nodes", params={"filter_path": "nodes.*.name,nodes.*.plugins.name,nodes.*.modules.name"}
        ).body
        nodes = (nodes or {}).get("nodes") or {}
        lacking = [
            n.get("name", node_id)
            for node_id, n in nodes.items()
            if "repository-s3" not in {p.get("name") for p in (n.get("plugins") or []) + (n.get("modules") or [])}
        ]
        if lacking:
            return Row(
                side,
                "repository",
                FAIL,
                f"{repo.name} not registered, and repository-s3 is missing on node(s) {_listed(lacking)}: install it and restart them",
            )
        return Row(
            side,
            "repository",
            OK,
            f"{repo.name} not registered yet; repository-s3 is on all {plural(len(nodes), 'node')}",
        )
    nodes = cluster.get("/_nodes/settings", params={"filter_path": "nodes.*.name,nodes.*.settings.path.repo"}).body
    nodes = (nodes or {}).get("nodes") or {}
    lacking = []
    for node_id, n in nodes.items():
        roots = ((n.get("settings") or {}).get("path") or {}).get("repo") or []
        roots = [roots] if isinstance(roots, str) else roots
        location = repo.location or ""
        inside = any(location == r or location.startswith(r.rstrip("/") + "/") for r in roots) or (
            roots and not location.startswith("/")
        )
        if not inside:
            lacking.append(n.get("name", node_id))
    if lacking:
        return Row(
            side,
            "repository",
            FAIL,
            f"{repo.name} not registered, and {repo.location} is not under path.repo on node(s) {_listed(lacking)}",
        )
    return Row(
        side,
        "repository",
        OK,
        f"{repo.name} not registered yet; {repo.location} is under path.repo on all {plural(len(nodes), 'node')}",
    )


# --- compatibility ----------------------------------------------------------------------------------


def _compatibility(indices, names, source, dest, writer) -> list[Row]:
    """One row per distinct index.version.created among the selected indices."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(str(indices[name].created or ""), []).append(name)
    rows = []
    for created, members in sorted(groups.items()):
        if not created:
            rows.append(
                Row("destination", "compatibility", WARN, f"index.version.created unknown for {_listed(members)}")
            )
            continue
        verdict = judge(source[0], created, dest[0], dest[1], writer)
        detail = f"{plural(len(members), 'index', 'indices')} ({_listed(members)}): {verdict.reason}"
        if verdict.action:
            detail += f"; what to do: {verdict.action}"
        rows.append(Row("destination", "compatibility", verdict.level, detail))
    return rows


# --- destination room ---------------------------------------------------------------------------------


def _incoming(ctx: Context, indices: dict[str, IndexInfo], names, dest_indices) -> tuple[int, int, int]:
    """What the restore adds on the destination, replicas counted: (bytes, shards, largest shard's
    bytes). Existing indices it restores over (close, delete) give their room back."""
    override = ctx.config.restore.index_settings.get("index.number_of_replicas")
    total_bytes = total_shards = largest = 0
    for name in names:
        info = indices[name]
        replicas = int(override) if override is not None else info.replicas
        total_bytes += info.bytes * (1 + replicas)
        total_shards += info.primaries * (1 + replicas)
        largest = max(largest, info.bytes // max(1, info.primaries))
    for target in targets(ctx.config, names).values():
        old = dest_indices.get(target)
        if old is not None:  # restored over: its shards and bytes are replaced
            total_bytes -= old.bytes * (1 + old.replicas)
            total_shards -= old.primaries * (1 + old.replicas)
    return max(0, total_bytes), max(0, total_shards), largest


def setting(body: dict | None, dotted: str):
    """A cluster setting from ``_cluster/settings`` (transient, then persistent, then defaults)."""
    for level in ("transient", "persistent", "defaults"):
        node = (body or {}).get(level) or {}
        if dotted in node:
            return node[dotted]
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                break
        if node is not None and not isinstance(node, dict):
            return node
    return None


_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4, "pb": 1024**5}


def allowed_used(watermark: str, total: int) -> int:
    """How many bytes may be used under a watermark ('85%', '0.85' or '500mb' free)."""
    text = str(watermark).strip().lower()
    if text.endswith("%"):
        return int(total * float(text[:-1]) / 100)
    match = re.fullmatch(r"([\d.]+)\s*([kmgtp]?b)", text)
    if match:
        return total - int(float(match.group(1)) * _UNITS[match.group(2)])
    return int(total * float(text))


def _disk(dst: Cluster, settings: dict, incoming: int, largest: int) -> Row:
    stats = (
        dst.get("/_nodes/stats/fs", params={"filter_path": "nodes.*.name,nodes.*.roles,nodes.*.fs.total"}).body or {}
    )
    nodes = [
        DataNode(
            str(n.get("name", node_id)),
            int((n.get("fs") or {}).get("total", {}).get("total_in_bytes", 0)),
            int((n.get("fs") or {}).get("total", {}).get("available_in_bytes", 0)),
        )
        for node_id, n in sorted((stats.get("nodes") or {}).items())
        if any(str(r).startswith("data") for r in n.get("roles") or ["data"])
    ]
    watermarks = None
    if str(setting(settings, "cluster.routing.allocation.disk.threshold_enabled")).lower() != "false":
        watermarks = (
            setting(settings, "cluster.routing.allocation.disk.watermark.low") or "85%",
            setting(settings, "cluster.routing.allocation.disk.watermark.high") or "90%",
        )
    return disk_row(nodes, incoming, largest, watermarks)


@dataclass(frozen=True)
class DataNode:
    name: str
    total: int  # bytes of its data path
    free: int  # bytes available


def disk_row(nodes: list[DataNode], incoming: int, largest: int, watermarks: tuple[str, str] | None) -> Row:
    """Judge the destination's disk, node by node, as the engine's allocation does: a node over the
    low watermark takes no new shard, one over the high watermark sheds them. The engine spreads
    shards by count, so each data node is taken to receive an even share of the incoming bytes."""
    if not nodes:
        return Row("destination", "disk", WARN, "no data node reported its disk")
    total, free = sum(n.total for n in nodes), sum(n.free for n in nodes)
    need = (
        f"{human_bytes(incoming)} incoming (primaries and replicas), {human_bytes(free)} free of "
        f"{human_bytes(total)} on {plural(len(nodes), 'data node')}"
    )
    if incoming > free:
        return Row("destination", "disk", FAIL, f"{need}: it does not fit")
    roomiest = max(nodes, key=lambda n: n.free)
    if largest > roomiest.free:
        return Row(
            "destination",
            "disk",
            FAIL,
            f"{need}: the largest shard ({human_bytes(largest)}) fits on no data node (most free: "
            f"{human_bytes(roomiest.free)} on {roomiest.name})",
        )
    if watermarks is None:
        return Row("destination", "disk", OK, f"{need}; disk watermarks are off")
    low, high = watermarks
    share = incoming / len(nodes)
    try:
        over_high = [n.name for n in nodes if n.total - n.free + share > allowed_used(high, n.total)]
        over_low = [n.name for n in nodes if n.total - n.free + share > allowed_used(low, n.total)]
    except ValueError:
        return Row("destination", "disk", WARN, f"{need}; watermarks {low}/{high} not understood")
    if over_high:
        every = len(over_high) == len(nodes)  # worded as the restore names the engine's reason
        return Row(
            "destination",
            "disk",
            FAIL,
            f"{need}; an even share ({human_bytes(share)} a node) takes "
            + (f"every data node ({_listed(over_high)})" if every else _listed(over_high))
            + f" over the high watermark ({high})"
            + (": disk watermark exceeded on every node" if every else "")
            + ": free disk or add nodes",
        )
    if over_low:
        return Row(
            "destination",
            "disk",
            WARN,
            f"{need}; an even share ({human_bytes(share)} a node) takes {_listed(over_low)} over the low "
            f"watermark ({low}): shards may not be allocated there",
        )
    return Row("destination", "disk", OK, f"{need}; every data node stays under the low watermark ({low})")


def _shards(dst: Cluster, settings: dict, incoming: int) -> Row:
    health = dst.get("/_cluster/health").body or {}
    per_node = int(setting(settings, "cluster.max_shards_per_node") or 1000)
    data_nodes = int(health.get("number_of_data_nodes", 1) or 1)
    current = sum(int(health.get(k, 0) or 0) for k in ("active_shards", "initializing_shards", "unassigned_shards"))
    room = per_node * data_nodes - current
    detail = (
        f"{plural(incoming, 'shard')} incoming (net of those restored over); limit {per_node} per node x {plural(data_nodes, 'data node')}, {current} in use, "
        f"room for {room}"
    )
    if incoming > room:
        return Row("destination", "shards", FAIL, detail + ": raise cluster.max_shards_per_node or add data nodes")
    return Row("destination", "shards", OK, detail)


# --- policy ------------------------------------------------------------------------------------------


def _existing(ctx: Context, names, indices: dict[str, IndexInfo], dest_indices: dict[str, IndexInfo], ours) -> Row:
    """The existing-indices row: the rule restore applies (``judge_existing``), on what exists now."""
    mapped = targets(ctx.config, names)
    there = {t: dest_indices[t] for t in mapped.values() if t in dest_indices}
    primaries = {t: indices[n].primaries for n, t in mapped.items() if n in indices}
    verdict = judge_existing(
        ctx.config.restore,
        {t: (i.status, i.primaries) for t, i in there.items() if not i.is_stream},
        [t for t, i in there.items() if i.is_stream],
        ours,
        lambda: primaries,
        targets=len(mapped),
    )
    return Row("destination", "existing indices", verdict.level, verdict.detail)


def _system(ctx: Context, names, dest_engine: str) -> Row:
    restore = ctx.config.restore
    problems, level = [], OK
    system = system_selected(names)
    if system:
        level = WARN
        problems.append(
            f"system/dot indices selected by name: {_listed(system)} (Elasticsearch 8+ restores system indices only "
            "through feature_states; an OpenSearch security index restored over a live one locks users out)"
        )
    if restore.include_global_state:
        level = WARN
        problems.append("include_global_state = true restores templates, settings and (ES 8+) every feature state")
    if restore.feature_states:
        if dest_engine == OPENSEARCH:
            level = FAIL
            problems.append("feature_states is an Elasticsearch 8+ option; OpenSearch refuses it")
        else:
            level = WARN if level == OK else level
            problems.append(f"feature states restored: {', '.join(restore.feature_states)}")
    if not problems:
        return Row("destination", "system indices", OK, "no system index, global state or feature state selected")
    return Row("destination", "system indices", level, "; ".join(problems))
