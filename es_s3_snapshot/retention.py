"""Retention, pure: from the snapshots of a repository, the [retention] rules and "now", the plan.

Only snapshots taken by this tool (metadata ``taken_by``) whose name fits the configured
``snapshot_name`` pattern, or is a retry of such a name (``<name>-retryN``), are candidates; every
other snapshot is kept and never touched. Among the candidates, every rule names SUCCESS snapshots
to keep, and a SUCCESS snapshot that no rule keeps is deleted:

- ``keep_last N``: the N newest.
- ``keep_hourly/daily/weekly/monthly/yearly N``: the newest snapshot of each of the N most recent
  hours/days/ISO weeks/months/years that hold a snapshot (periods are counted, not days since;
  periods are in UTC).
- ``max_age``: every snapshot younger than that.
- ``min_count`` (default 1): the newest snapshots as needed so that at least that many remain.

Whatever the rules say: IN_PROGRESS snapshots and the newest SUCCESS snapshot are kept; FAILED and
PARTIAL snapshots are deleted once a newer SUCCESS snapshot exists, and kept until then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .names import series_regex

TAKEN_BY = "es-s3-snapshot"

# rule -> strftime of the period a snapshot falls in (UTC); ISO weeks for weekly
PERIODS = {
    "keep_hourly": "%Y-%m-%d %H",
    "keep_daily": "%Y-%m-%d",
    "keep_weekly": "%G-W%V",
    "keep_monthly": "%Y-%m",
    "keep_yearly": "%Y",
}


@dataclass(frozen=True)
class Snapshot:
    """One snapshot as ``GET _snapshot/<repo>/_all`` describes it, reduced to what list and prune use."""

    name: str
    state: str
    start: float | None  # epoch seconds
    end: float | None
    indices: int
    shards_total: int
    shards_failed: int
    shards_ok: int
    taken_by: str | None

    @property
    def taken_by_us(self) -> bool:
        return self.taken_by == TAKEN_BY

    @property
    def duration_s(self) -> float | None:
        return None if self.start is None or self.end is None else max(0.0, self.end - self.start)

    @classmethod
    def from_engine(cls, raw: dict[str, Any]) -> Snapshot:
        shards = raw.get("shards") or {}
        metadata = raw.get("metadata") or {}
        start, end = raw.get("start_time_in_millis"), raw.get("end_time_in_millis")
        return cls(
            name=str(raw.get("snapshot", "")),
            state=str(raw.get("state", "UNKNOWN")),
            start=start / 1000 if start else None,
            end=end / 1000 if end else None,
            indices=len(raw.get("indices") or []),
            shards_total=int(shards.get("total", 0)),
            shards_failed=int(shards.get("failed", 0)),
            shards_ok=int(shards.get("successful", 0)),
            taken_by=metadata.get("taken_by") if isinstance(metadata, dict) else None,
        )


@dataclass(frozen=True)
class Decision:
    snapshot: Snapshot
    delete: bool
    rule: str  # why: the rule that kept it, or why it goes


def iso(seconds: float | None) -> str | None:
    """UTC ISO 8601 (``2026-01-31T02:15:00Z``) of epoch seconds, or None."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def newest_first(snapshots: list[Snapshot]) -> list[Snapshot]:
    """By start time, then end time (one still running last ended, so newest): engines stamp times
    from a clock they refresh only every 200 ms or so, so two snapshots taken one after the other
    can share a start time."""
    return sorted(
        snapshots,
        key=lambda s: (s.start or 0.0, s.end if s.end is not None else float("inf"), s.name),
        reverse=True,
    )


def plan(snapshots: list[Snapshot], retention, snapshot_name: str, now: datetime) -> list[Decision]:
    """Keep or delete for every snapshot, newest first, each with the rule that decided.

    ``retention`` is a ``config.RetentionConfig``; ``snapshot_name`` the configured name pattern;
    ``now`` an aware datetime. Raises ValueError when no rule is set (nothing could be decided).
    """
    if not retention.has_rule:
        raise ValueError("no retention rule is set")
    name_fits = series_regex(snapshot_name).fullmatch  # retries (<name>-retryN) belong to the series
    ordered = newest_first(snapshots)
    reasons: dict[str, str] = {}
    candidates = []
    for snap in ordered:
        if not snap.taken_by_us:
            reasons[snap.name] = "keep: not taken by es-s3-snapshot (never touched)"
        elif not name_fits(snap.name):
            reasons[snap.name] = f"keep: name does not fit snapshot_name {snapshot_name} (never touched)"
        elif snap.state == "IN_PROGRESS":
            reasons[snap.name] = "keep: in progress"
        else:
            candidates.append(snap)

    success = [s for s in candidates if s.state == "SUCCESS"]
    kept: dict[str, list[str]] = {s.name: [] for s in success}
    if success:
        kept[success[0].name].append("newest SUCCESS")
    if retention.keep_last:
        for snap in success[: retention.keep_last]:
            kept[snap.name].append("keep_last")
    for rule, fmt in PERIODS.items():
        wanted = getattr(retention, rule)
        if not wanted:
            continue
        seen: set[str] = set()
        for snap in success:
            period = datetime.fromtimestamp(snap.start or 0.0, timezone.utc).strftime(fmt)
            if period not in seen:
                seen.add(period)
                if len(seen) > wanted:
                    break
                kept[snap.name].append(f"{rule} {period}")
    if retention.max_age is not None:
        limit = now.timestamp() - retention.max_age
        for snap in success:
            if snap.start is not None and snap.start > limit:
                kept[snap.name].append("max_age")
    remaining = sum(1 for reasons_ in kept.values() if reasons_)
    for snap in success:
        if remaining >= retention.min_count:
            break
        if not kept[snap.name]:
            kept[snap.name].append("min_count")
            remaining += 1

    newest_success_start = success[0].start if success else None
    for snap in candidates:
        if snap.state == "SUCCESS":
            why = kept[snap.name]
            reasons[snap.name] = f"keep: {', '.join(why)}" if why else "delete: no rule keeps it"
        elif snap.state in ("FAILED", "PARTIAL"):
            newer = newest_success_start is not None and (snap.start or 0.0) < newest_success_start
            reasons[snap.name] = (
                f"delete: {snap.state}, a newer SUCCESS exists"
                if newer
                else f"keep: {snap.state}, no newer SUCCESS yet"
            )
        else:
            reasons[snap.name] = f"keep: state {snap.state} (never touched)"
    return [Decision(s, reasons[s.name].startswith("delete"), reasons[s.name].split(": ", 1)[1]) for s in ordered]
