"""Reading every restored index back: present, readable, its size and document count.

Two requests at once whatever the number of indices: the sizes from _cat/indices, and the counts
from one _msearch (names in its body).
"""

from __future__ import annotations

from ...cluster import Cluster
from ...errors import RestoreFailed
from ...names import listed
from ...wait import Background, human_bytes, joined, plural, rate
from .. import Context
from .existing import list_indices
from .plan import Plan


def read_back(ctx: Context, plan: Plan, seconds: float) -> tuple[int, dict[str, int]]:
    """Check that every restored index is there and readable, and print its document count.

    Returns the restored primaries' bytes and each index's (or data stream's) document count;
    raises RestoreFailed naming the indices missing or unreadable. Two requests at once whatever
    the number of indices: the sizes from _cat/indices, and the counts from one _msearch (names in
    its body).
    """
    cluster = ctx.cluster
    repo, side = ctx.config.repository_for(cluster.side).name, cluster.side
    sizes = Background(lambda: list_indices(cluster, "index,status,pri.store.size"))  # beside the counts
    counts = document_counts(cluster, plan.readable)
    present = {r["index"]: r for r in joined(sizes, ctx.pause) if plan.owns(r.get("index", ""))}
    absent = sorted(set(plan.targets.values()) - set(present))
    if absent:
        raise RestoreFailed(
            f"restored {plural(len(absent), 'index', 'indices')} missing on the {side}: {listed(absent)}"
        )
    size = sum(int(r.get("pri.store.size") or 0) for r in present.values())
    unreadable = sorted(n for n, c in counts.items() if not isinstance(c, int))
    if unreadable:
        raise RestoreFailed(
            f"restored {listed([f'{n} ({counts[n]})' for n in unreadable])} cannot be read on the {side}"
        )
    streams = f" and {plural(len(plan.streams), 'data stream')}" if plan.streams else ""
    ctx.echo(
        f"restored {plural(len(plan.targets), 'index', 'indices')}{streams} from {repo}/{plan.snapshot} on the {side}: "
        f"{human_bytes(size)} in {seconds:.1f}s ({rate(size, seconds)})"
    )
    width = max(len(n) for n in counts)
    for name in plan.readable:
        ctx.echo(f"  {name:<{width}}  {counts[name]} docs")
    return size, {name: int(count) for name, count in counts.items()}


def document_counts(cluster: Cluster, names: list[str]) -> dict[str, int | str]:
    """Document counts of ``names`` in one _msearch; a name that cannot be read maps to its error."""
    lines: list[dict] = []
    for name in names:
        lines += [{"index": name, "expand_wildcards": "all"}, {"size": 0, "track_total_hits": True}]
    answer = cluster.request("POST", "/_msearch", lines, timeout=cluster.long_request_timeout, ndjson=True)
    answer = answer.get("responses") or []
    counts: dict[str, int | str] = {}
    for name, item in zip(names, answer, strict=False):
        total = ((item.get("hits") or {}).get("total")) if isinstance(item, dict) else None
        if isinstance(total, dict):
            counts[name] = int(total.get("value", 0))
        elif isinstance(total, int):
            counts[name] = total
        else:
            error = (item or {}).get("error") if isinstance(item, dict) else None
            counts[name] = (error or {}).get("type", "no answer") if isinstance(error, dict) else str(error)
    for name in names[len(answer) :]:
        counts[name] = "no answer"
    return counts
