"""Retention plans over synthetic snapshot lists: GFS periods, counts, ages, states, ownership."""

from datetime import datetime, timedelta, timezone

import pytest

from es_s3_snapshot.config import RetentionConfig
from es_s3_snapshot.retention import Snapshot, plan

PATTERN = "nightly-%Y.%m.%d-%H"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def snap(when: datetime, state="SUCCESS", ours=True, name=None):
    return Snapshot(
        name=name or when.strftime(PATTERN).lower(),
        state=state,
        start=when.timestamp(),
        end=when.timestamp() + 30,
        indices=2,
        shards_total=2,
        shards_failed=0,
        shards_ok=2,
        taken_by="es-s3-snapshot" if ours else None,
    )


def two_years_of_nightlies():
    """One snapshot every day at 02:00 UTC from 2024-03-02 to 2026-03-01 (730 days)."""
    first = datetime(2024, 3, 2, 2, 0, tzinfo=timezone.utc)
    return [snap(first + timedelta(days=n)) for n in range(730)]


def kept(decisions):
    return {d.snapshot.name for d in decisions if not d.delete}


def deleted(decisions):
    return {d.snapshot.name for d in decisions if d.delete}


def test_gfs_over_two_years_keeps_the_newest_of_each_counted_period():
    snaps = two_years_of_nightlies()
    rules = RetentionConfig(keep_daily=7, keep_weekly=4, keep_monthly=12, keep_yearly=3)
    decisions = plan(snaps, rules, PATTERN, NOW)
    survivors = sorted(kept(decisions))
    daily = {f"nightly-2026.{d}-02" for d in ("03.01", "02.28", "02.27", "02.26", "02.25", "02.24", "02.23")}
    # ISO weeks: newest snapshot of each of the 4 newest weeks: Sundays 03-01, 02-22, 02-15, 02-08
    weekly = {"nightly-2026.03.01-02", "nightly-2026.02.22-02", "nightly-2026.02.15-02", "nightly-2026.02.08-02"}
    # months: the last day of each of the 12 newest months (March 2026 is the 1st only)
    monthly = {"nightly-2026.03.01-02", "nightly-2026.02.28-02", "nightly-2026.01.31-02"} | {
        f"nightly-2025.{m:02d}.{d}-02"
        for m, d in ((12, 31), (11, 30), (10, 31), (9, 30), (8, 31), (7, 31), (6, 30), (5, 31), (4, 30))
    }
    yearly = {"nightly-2026.03.01-02", "nightly-2025.12.31-02", "nightly-2024.12.31-02"}
    assert set(survivors) == daily | weekly | monthly | yearly
    assert len(deleted(decisions)) == 730 - len(survivors)
    reasons = {d.snapshot.name: d.rule for d in decisions}
    assert reasons["nightly-2024.12.31-02"] == "keep_yearly 2024"
    assert "keep_monthly 2025-04" in reasons["nightly-2025.04.30-02"]
    assert "keep_weekly 2026-W07" in reasons["nightly-2026.02.15-02"]
    assert reasons["nightly-2025.04.29-02"] == "no rule keeps it"


def test_periods_are_counted_not_days_since_a_gap_does_not_use_up_the_count():
    # snapshots only in 2024-06 and 2025-01: keep_monthly 2 keeps both despite the gap of 7 months
    snaps = [
        snap(datetime(2024, 6, 10, tzinfo=timezone.utc)),
        snap(datetime(2024, 6, 20, tzinfo=timezone.utc)),
        snap(datetime(2025, 1, 5, tzinfo=timezone.utc)),
    ]
    decisions = plan(snaps, RetentionConfig(keep_monthly=2), PATTERN, NOW)
    assert kept(decisions) == {"nightly-2025.01.05-00", "nightly-2024.06.20-00"}


def test_yearly_keeps_the_oldest_year_when_fewer_years_exist_than_asked():
    snaps = two_years_of_nightlies()
    decisions = plan(snaps, RetentionConfig(keep_yearly=10), PATTERN, NOW)
    assert kept(decisions) == {"nightly-2026.03.01-02", "nightly-2025.12.31-02", "nightly-2024.12.31-02"}


def test_hourly_counts_hours():
    base = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)
    snaps = [snap(base + timedelta(minutes=20 * n), name=f"nightly-x{n:02d}") for n in range(9)]  # 3 per hour, 3 hours
    decisions = plan(snaps, RetentionConfig(keep_hourly=2), "nightly-x%y", NOW)
    assert kept(decisions) == {"nightly-x08", "nightly-x05"}


def test_keep_last_and_max_age_keep_the_union():
    snaps = [snap(NOW - timedelta(hours=h), name=f"nightly-h{h:02d}") for h in range(10)]
    decisions = plan(snaps, RetentionConfig(keep_last=2, max_age=4.5 * 3600), "nightly-h%y", NOW)
    assert kept(decisions) == {f"nightly-h{h:02d}" for h in range(5)}
    reasons = {d.snapshot.name: d.rule for d in decisions}
    assert reasons["nightly-h00"] == "newest SUCCESS, keep_last, max_age"
    assert reasons["nightly-h03"] == "max_age"
    assert reasons["nightly-h09"] == "no rule keeps it"


def test_min_count_keeps_the_newest_when_every_snapshot_is_too_old():
    snaps = [snap(NOW - timedelta(days=40 + d), name=f"nightly-d{d:02d}") for d in range(5)]
    decisions = plan(snaps, RetentionConfig(max_age=30 * 86400, min_count=3), "nightly-d%y", NOW)
    assert kept(decisions) == {"nightly-d00", "nightly-d01", "nightly-d02"}
    assert {d.rule for d in decisions if d.snapshot.name in ("nightly-d01", "nightly-d02")} == {"min_count"}


def test_the_newest_success_is_never_deleted_even_with_min_count_0():
    snaps = [snap(NOW - timedelta(days=40 + d), name=f"nightly-d{d:02d}") for d in range(3)]
    decisions = plan(snaps, RetentionConfig(max_age=86400, min_count=0), "nightly-d%y", NOW)
    assert kept(decisions) == {"nightly-d00"}


def test_failed_and_partial_go_once_a_newer_success_exists_in_progress_stays():
    snaps = [
        snap(NOW - timedelta(hours=1), state="IN_PROGRESS", name="nightly-a01"),
        snap(NOW - timedelta(hours=2), state="FAILED", name="nightly-a02"),
        snap(NOW - timedelta(hours=3), name="nightly-a03"),
        snap(NOW - timedelta(hours=4), state="PARTIAL", name="nightly-a04"),
        snap(NOW - timedelta(hours=5), state="FAILED", name="nightly-a05"),
    ]
    decisions = {d.snapshot.name: d for d in plan(snaps, RetentionConfig(keep_last=5), "nightly-a%y", NOW)}
    assert not decisions["nightly-a01"].delete and decisions["nightly-a01"].rule == "in progress"
    assert not decisions["nightly-a02"].delete and decisions["nightly-a02"].rule == "FAILED, no newer SUCCESS yet"
    assert decisions["nightly-a04"].delete and decisions["nightly-a04"].rule == "PARTIAL, a newer SUCCESS exists"
    assert decisions["nightly-a05"].delete
    assert not decisions["nightly-a03"].delete


def test_snapshots_not_ours_or_with_another_name_are_never_candidates():
    old = NOW - timedelta(days=400)
    snaps = [
        snap(old, ours=False, name="nightly-2025.01.01-00"),
        snap(old, name="manual-before-upgrade"),
        snap(old, ours=False, name="slm-daily-x"),
        snap(old - timedelta(days=1), state="FAILED", ours=False, name="nightly-2024.12.31-00"),
        snap(NOW),
    ]
    decisions = plan(snaps, RetentionConfig(keep_last=1), PATTERN, NOW)
    assert deleted(decisions) == set()
    reasons = {d.snapshot.name: d.rule for d in decisions}
    assert reasons["nightly-2025.01.01-00"] == "not taken by es-s3-snapshot (never touched)"
    assert reasons["manual-before-upgrade"].startswith("name does not fit snapshot_name")


def test_plan_without_a_rule_is_refused():
    with pytest.raises(ValueError):
        plan([snap(NOW)], RetentionConfig(), PATTERN, NOW)


def test_plan_is_newest_first():
    snaps = [snap(NOW - timedelta(days=d), name=f"nightly-d{d:02d}") for d in (3, 1, 2)]
    assert [d.snapshot.name for d in plan(snaps, RetentionConfig(keep_last=1), "nightly-d%y", NOW)] == [
        "nightly-d01",
        "nightly-d02",
        "nightly-d03",
    ]


def test_newest_first_breaks_a_shared_start_time_by_the_end_time():
    """Engines stamp snapshot times from a clock refreshed every 200 ms or so: a snapshot taken just
    after another can share its start time (seen on OpenSearch 3.3.2)."""
    from dataclasses import replace

    from es_s3_snapshot.retention import newest_first

    first = snap(NOW, name="zzz-first")
    second = replace(snap(NOW, name="aaa-second", ours=False), end=first.end + 0.1)
    running = replace(snap(NOW, name="mmm-running"), end=None)
    assert [s.name for s in newest_first([first, second, running])] == ["mmm-running", "aaa-second", "zzz-first"]


def test_a_failed_attempt_goes_once_its_retry_succeeded_and_the_retry_is_a_candidate():
    first = NOW - timedelta(hours=2)
    snaps = [
        snap(first + timedelta(minutes=20), name=first.strftime(PATTERN).lower() + "-retry1"),
        snap(first, state="PARTIAL"),
        snap(first - timedelta(days=1)),
    ]
    decisions = {d.snapshot.name: d for d in plan(snaps, RetentionConfig(keep_last=1), PATTERN, NOW)}
    retry, failed = snaps[0].name, snaps[1].name
    assert not decisions[retry].delete and "newest SUCCESS" in decisions[retry].rule
    assert decisions[failed].delete and decisions[failed].rule == "PARTIAL, a newer SUCCESS exists"
    assert decisions[snaps[2].name].delete  # keep_last 1: the retry is the newest SUCCESS of the series


@pytest.mark.parametrize(
    "pattern,by_hand",
    [("pr-%Y%m%d-%H%M%S", "pr-outside-name"), ("nightly-%Y.%m.%d", "nightly-before-upgrade")],
)
def test_a_snapshot_named_by_hand_is_never_pruned_even_when_its_prefix_fits(pattern, by_hand):
    old = NOW - timedelta(days=400)
    snaps = [snap(old, name=by_hand), snap(old + timedelta(days=1), name=(old + timedelta(days=1)).strftime(pattern))]
    snaps += [snap(NOW - timedelta(days=d), name=(NOW - timedelta(days=d)).strftime(pattern)) for d in (1, 2)]
    decisions = {d.snapshot.name: d for d in plan(snaps, RetentionConfig(keep_last=1), pattern, NOW)}
    assert not decisions[by_hand].delete
    assert decisions[by_hand].rule.startswith("name does not fit snapshot_name")
    assert sum(d.delete for d in decisions.values()) == 2
