"""Verify: compare the selected source indices with their copies on the destination.

Per index, following the rename mapping of [restore]: document count, number of mapped fields,
aliases and number of primaries. Prints a table (or JSON with --json) and exits 1 on any
difference. Five requests on the source, four on the destination, whatever the number of indices;
nothing is changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..cluster import Cluster
from ..errors import OperationFailed
from ..wait import plural
from . import Context
from .sides import IndexInfo, choose, inventory, print_json, print_table, targets

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Comparison:
    index: str
    target: str
    docs: tuple[int | None, int | None]
    fields: tuple[int | None, int | None]
    primaries: tuple[int | None, int | None]
    aliases: tuple[list[str], list[str]]
    differences: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not self.differences


def count_fields(properties: dict | None) -> int:
    """Mapped fields in a mapping's ``properties``, objects and multi-fields included."""
    total = 0
    for spec in (properties or {}).values():
        if not isinstance(spec, dict):
            continue
        total += 1 + count_fields(spec.get("properties")) + count_fields(spec.get("fields"))
    return total


def _fields(cluster: Cluster) -> dict[str, int]:
    body = cluster.get("/_all/_mapping", params={"expand_wildcards": "all"}).body or {}
    counts = {}
    for name, entry in body.items():
        mappings = (entry or {}).get("mappings") or {}
        typed = [v for v in mappings.values() if isinstance(v, dict) and "properties" in v]
        if "properties" not in mappings and len(typed) == 1:  # a 6.x index with a mapping type
            mappings = typed[0]
        counts[name] = count_fields(mappings.get("properties"))
    return counts


def _aliases(cluster: Cluster) -> dict[str, list[str]]:
    rows = cluster.get("/_cat/aliases", params={"format": "json", "h": "alias,index"}).body or []
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(row.get("index"), []).append(row.get("alias"))
    return {k: sorted(v) for k, v in found.items()}


def fields_of(fields: dict[str, int], info: IndexInfo) -> int | None:
    """Mapped fields of an index, or of a data stream's write index (its newest backing index)."""
    if info.is_stream:
        return fields.get(info.backing[-1]) if info.backing else None
    return fields.get(info.name)


def compare(ctx: Context, source: Cluster, destination: Cluster) -> list[Comparison]:
    """One Comparison per selected source index."""
    src = inventory(source, settings=True)
    names, missing = choose(ctx.config.snapshot.indices, src)
    if missing and not ctx.config.snapshot.ignore_unavailable:
        raise OperationFailed(f"verify: index not found on the source: {', '.join(missing)}")
    dst = inventory(destination, settings=False)
    src_fields, dst_fields = _fields(source), _fields(destination)
    src_aliases, dst_aliases = _aliases(source), _aliases(destination)
    result = []
    for name, target in targets(ctx.config, names).items():
        a, b = src[name], dst.get(target)
        comparison = Comparison(
            index=name,
            target=target,
            docs=(a.docs, b.docs if b else None),
            fields=(fields_of(src_fields, a), fields_of(dst_fields, b) if b else None),
            primaries=(a.primaries, b.primaries if b else None),
            aliases=(src_aliases.get(name, []), dst_aliases.get(target, []) if b else []),
        )
        if b is None:
            comparison.differences.append("missing on the destination")
        else:
            for what in ("docs", "fields", "primaries", "aliases"):
                left, right = getattr(comparison, what)
                if left != right:
                    comparison.differences.append(what)
            if b.status != "open":
                comparison.differences.append(f"{b.status} on the destination")
        result.append(comparison)
    return result


def report(ctx: Context, comparisons: list[Comparison]) -> None:
    if ctx.json:
        data = [
            {
                "index": c.index,
                "target": c.target,
                "same": c.same,
                "differences": c.differences,
                "source": {k: getattr(c, k)[0] for k in ("docs", "fields", "primaries", "aliases")},
                "destination": {k: getattr(c, k)[1] for k in ("docs", "fields", "primaries", "aliases")},
            }
            for c in comparisons
        ]
        print_json(ctx.echo, {"same": all(c.same for c in comparisons), "indices": data})
        return

    def pair(values):
        left, right = values
        return f"{left}" if left == right else f"{left} / {right}"

    rows = [
        (
            c.index,
            c.target,
            pair(c.docs),
            pair(c.fields),
            pair(c.primaries),
            pair((",".join(c.aliases[0]) or "-", ",".join(c.aliases[1]) or "-")),
            "same" if c.same else "DIFFERENT: " + ", ".join(c.differences),
        )
        for c in comparisons
    ]
    print_table(ctx.echo, ("index", "destination", "docs", "fields", "primaries", "aliases", "result"), rows)


def verify(ctx: Context, source: Cluster, destination: Cluster) -> list[Comparison]:
    """Compare, print, and raise OperationFailed when any index differs."""
    comparisons = compare(ctx, source, destination)
    report(ctx, comparisons)
    different = [c for c in comparisons if not c.same]
    if different:
        first = different[0]
        raise OperationFailed(
            f"verify: {len(different)} of {plural(len(comparisons), 'index', 'indices')} differ, first: {first.index} -> {first.target}: "
            + ", ".join(first.differences)
        )
    if not ctx.json:
        ctx.echo(f"verify: {plural(len(comparisons), 'index', 'indices')} compared, all the same on both sides")
    return comparisons


def run_verify(ctx: Context) -> None:
    verify(ctx, ctx.cluster, ctx.open_cluster("destination"))
