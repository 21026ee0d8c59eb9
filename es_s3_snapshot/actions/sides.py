"""Steps shared by the two-sided modes (check, migrate, verify): plain functions over a Cluster.

Every read here is one request for all indices (``_cat/indices``, ``_all/_settings`` with
``filter_path``): index names never go into a URL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from ..cluster import Cluster, path_of
from ..compat import parse_release
from ..names import renamed
from ..selection import Selection, resolve


@dataclass(frozen=True)
class IndexInfo:
    name: str
    status: str = "open"
    docs: int | None = None
    bytes: int = 0  # primary store size
    primaries: int = 0
    replicas: int = 0
    created: str | None = None  # index.version.created
    hidden: bool = False
    uuid: str = ""
    write_blocked: bool = False
    is_stream: bool = False  # a data stream, its figures summed over its backing indices
    backing: tuple[str, ...] = ()  # a data stream's backing indices, oldest first


def _int(value, default=0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def inventory(cluster: Cluster, *, settings: bool = True) -> dict[str, IndexInfo]:
    """Every index of the cluster (hidden and closed included), and every data stream as one entry
    summing its backing indices (which keep their own entries): three requests (two without
    ``settings``), no names in URLs."""
    rows = (
        cluster.get(
            "/_cat/indices",
            params={
                "format": "json",
                "bytes": "b",
                "h": "index,uuid,status,docs.count,pri.store.size,pri,rep",
                "expand_wildcards": "all",
            },
        ).body
        or []
    )
    per_index: dict = {}
    if settings:
        per_index = (
            cluster.get(
                "/_all/_settings",
                params={
                    "expand_wildcards": "all",
                    "filter_path": "*.settings.index.version.created,*.settings.index.hidden,*.settings.index.blocks.write",
                },
            ).body
            or {}
        )
    found = {}
    for row in rows:
        name = row.get("index")
        if not name:
            continue
        index_settings = ((per_index.get(name) or {}).get("settings") or {}).get("index") or {}
        found[name] = IndexInfo(
            name=name,
            status=row.get("status") or "open",
            docs=_int(row.get("docs.count"), None) if row.get("docs.count") not in (None, "") else None,
            bytes=_int(row.get("pri.store.size")),
            primaries=_int(row.get("pri")),
            replicas=_int(row.get("rep")),
            created=(index_settings.get("version") or {}).get("created"),
            hidden=str(index_settings.get("hidden", "false")).lower() == "true",
            uuid=row.get("uuid") or "",
            write_blocked=str((index_settings.get("blocks") or {}).get("write", "false")).lower() == "true",
        )
    for name, stream in data_streams(cluster).items():
        found[name] = stream_info(name, stream, found)
    return found


def data_streams(cluster: Cluster) -> dict[str, dict]:
    """The cluster's data streams as ``GET _data_stream`` describes them (name -> entry); none on an
    engine without data streams (Elasticsearch before 7.9, or without the data-streams module, answers
    400 or 404)."""
    answer = cluster.get("/_data_stream", ok=(400, 404, 405))
    if answer.status != 200:
        return {}
    return {d["name"]: d for d in answer.get("data_streams") or [] if d.get("name")}


def stream_info(name: str, stream: dict, indices: dict[str, IndexInfo]) -> IndexInfo:
    """One entry for a data stream: the sums of its backing indices (the oldest one's uuid and
    created version: the stream keeps them through rollovers)."""
    backing = tuple(i.get("index_name") for i in stream.get("indices") or [] if i.get("index_name"))
    parts = [indices[b] for b in backing if b in indices]
    docs = [p.docs for p in parts]
    created = [p.created for p in parts if p.created]
    return IndexInfo(
        name=name,
        status="open",
        docs=None if None in docs else sum(docs),  # type: ignore[arg-type]
        bytes=sum(p.bytes for p in parts),
        primaries=sum(p.primaries for p in parts),
        replicas=max((p.replicas for p in parts), default=0),
        created=min(created, key=_int) if created else None,
        hidden=bool(stream.get("hidden")),
        uuid=parts[0].uuid if parts else "",
        write_blocked=bool(parts) and all(p.write_blocked for p in parts),
        is_stream=True,
        backing=backing,
    )


def selection_of(patterns: Iterable[str], indices: dict[str, IndexInfo]) -> Selection:
    """What the configured patterns select on a cluster (``indices``: its ``inventory``), by the one
    rule of selection.py: data streams by name, their backing indices never on their own."""
    backing = {b for i in indices.values() if i.is_stream for b in i.backing}
    plain = [n for n, i in indices.items() if not i.is_stream and n not in backing]
    streams = [n for n, i in indices.items() if i.is_stream]
    hidden = {n for n, i in indices.items() if i.hidden}
    return resolve(patterns, plain, streams, hidden)


def choose(patterns: Iterable[str], indices: dict[str, IndexInfo]) -> tuple[list[str], list[str]]:
    """(selected indices and data streams, exact names not found) for the configured patterns."""
    chosen = selection_of(patterns, indices)
    return chosen.names, chosen.missing


# --- the migration's record ------------------------------------------------------------------------

STATE_INDEX = "es-s3-snapshot-migrations"


def read_state(destination: Cluster, migration: str, index: str = STATE_INDEX) -> dict:
    """The record of this migration on the destination ({} when none); ``index``: the record's index
    (drill keeps its own records the same way)."""
    answer = destination.get(path_of(index, "_doc", migration), ok=(404,))
    return (answer.get("_source") or {}) if answer.status == 200 else {}


def write_state(destination: Cluster, migration: str, record: dict, index: str = STATE_INDEX) -> None:
    """Write the record of this migration into ``index`` (creating it hidden the first time)."""
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


def restored_by_migration(state: dict, destination_indices: dict[str, IndexInfo]) -> set[str]:
    """The destination indices and data streams the record says this migration restored, and that
    are still those very ones (same name and UUID: one deleted and re-created is not)."""
    recorded = state.get("indices") or {}
    return {t for t, uuid in recorded.items() if t in destination_indices and destination_indices[t].uuid == uuid}


def targets(config, names: Iterable[str]) -> dict[str, str]:
    """Source index name -> its name on the destination (the rename mapping of [restore])."""
    restore = config.restore
    return {n: renamed(n, restore.rename_pattern, restore.rename_replacement) for n in names}


def engine_of(cluster: Cluster) -> tuple[str, str]:
    """(engine, version) of the cluster."""
    info = cluster.info()
    return info.engine, info.version


def newer(a: str, b: str) -> str:
    """The newer of two version strings."""
    return a if parse_release(a) >= parse_release(b) else b


def print_table(echo: Callable[[str], None], header: tuple[str, ...], rows: list[tuple]) -> None:
    """A plain left-aligned text table."""
    cells = [tuple(str(c) for c in header)] + [tuple(str(c) for c in row) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def print_json(echo: Callable[[str], None], data) -> None:
    echo(json.dumps(data, indent=2, sort_keys=True))
