"""Steps shared by the two-sided modes (check, migrate, verify): plain functions over a Cluster.

Every read here is one request for all indices (``_cat/indices``, ``_all/_settings`` with
``filter_path``): index names never go into a URL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..cluster import Cluster
from ..compat import parse_release
from ..names import is_pattern, renamed
from ..selection import is_exclusion, selected


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


def _int(value, default=0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def inventory(cluster: Cluster, *, settings: bool = True) -> dict[str, IndexInfo]:
    """Every index of the cluster (hidden and closed included): two requests, no names in URLs."""
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
    return found


def choose(patterns: Iterable[str], indices: dict[str, IndexInfo]) -> tuple[list[str], list[str]]:
    """(selected names, exact names not found) for the configured patterns, leaving system and hidden
    indices out of wildcard matches (selection.py)."""
    patterns = tuple(patterns)
    hidden = {n for n, i in indices.items() if i.hidden}
    names = selected(patterns, indices, hidden)
    missing = [p for p in patterns if not is_pattern(p) and not is_exclusion(p) and p not in indices]
    return names, missing


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
