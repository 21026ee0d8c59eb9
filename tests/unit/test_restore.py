import threading

import pytest

from es_s3_snapshot.actions.restore import run_restore
from es_s3_snapshot.config import Overrides
from es_s3_snapshot.errors import ClusterUnreachable, IndexConflict, Interrupted, RestoreFailed, WaitTimeout


@pytest.fixture
def dest(engine):
    """A destination whose repository holds snapshots of logs-a (10 docs) and logs-b (20 docs)."""
    engine.add_index("logs-a", 10)
    engine.add_index("logs-b", 20)
    engine.repos["repo1"] = {"type": "s3", "settings": {"bucket": "backups", "base_path": "es", "readonly": "true"}}
    engine.add_snapshot("repo1", "old", ["logs-a", "logs-b"], start=100)
    engine.add_snapshot("repo1", "new", ["logs-a", "logs-b"], start=300)
    engine.add_snapshot("repo1", "newest-failed", ["logs-a", "logs-b"], state="FAILED", start=400)
    engine.add_snapshot("repo1", "newest-partial-set", ["logs-a"], start=500)
    engine.indices.clear()
    return engine


def test_restore_latest_registers_readonly_restores_and_prints_counts(dest, load_config, make_ctx):
    dest.repos.clear()
    ctx, lines, _ = make_ctx(load_config(), side="destination")
    run_restore(ctx)
    assert dest.repos["repo1"]["settings"]["readonly"] == "true"
    restore = dest.sent("POST", "/_snapshot/repo1/new/_restore")
    assert restore and restore[0]["indices"] == "logs-a,logs-b" and restore[0]["include_global_state"] is False
    # one blocking call, never resent, that may take as long as max_wait
    index = next(i for i, r in enumerate(dest.requests) if r[1].endswith("_restore"))
    assert dest.requests[index][2] == {"wait_for_completion": "true"}
    assert dest.options[index]["max_retries"] == 0 and dest.options[index]["request_timeout"] == (
        ctx.config.wait.max_wait + ctx.cluster.request_timeout
    )
    assert lines[-2:] == ["  logs-a  10 docs", "  logs-b  20 docs"]
    assert lines[-3].startswith("restored 2 indices from repo1/new on the destination: 2.0 KiB in ") and lines[
        -3
    ].endswith(" MB/s)")


def test_restore_named_snapshot(dest, load_config, make_ctx):
    ctx, lines, _ = make_ctx(load_config(overrides=Overrides(snapshot="old")), side="destination")
    run_restore(ctx)
    assert dest.sent("POST", "/_snapshot/repo1/old/_restore")


def test_restore_missing_snapshot_names_it(dest, load_config, make_ctx):
    ctx, _, _ = make_ctx(load_config(overrides=Overrides(snapshot="nope")), side="destination")
    with pytest.raises(RestoreFailed, match="snapshot nope not found in repository repo1"):
        run_restore(ctx)


def test_restore_refuses_failed_snapshot(dest, load_config, make_ctx):
    ctx, _, _ = make_ctx(load_config(overrides=Overrides(snapshot="newest-failed")), side="destination")
    with pytest.raises(RestoreFailed, match="snapshot newest-failed is FAILED, not SUCCESS"):
        run_restore(ctx)
    assert dest.changed() == []  # the repository was registered as configured already: nothing changed


def test_index_missing_from_snapshot_is_named(dest, load_config, make_ctx):
    ctx, _, _ = make_ctx(
        load_config(overrides=Overrides(snapshot="old", indices=("logs-a", "logs-z"))), side="destination"
    )
    with pytest.raises(RestoreFailed, match="index not in snapshot old: logs-z"):
        run_restore(ctx)


def test_latest_without_matching_snapshot(dest, load_config, make_ctx):
    ctx, _, _ = make_ctx(load_config(overrides=Overrides(indices=("metrics",))), side="destination")
    with pytest.raises(RestoreFailed, match="no SUCCESS snapshot in repository repo1 holds metrics"):
        run_restore(ctx)


def test_existing_open_index_is_refused_listed_and_untouched(dest, load_config, make_ctx):
    dest.add_index("logs-b", 999)
    ctx, _, _ = make_ctx(load_config(), side="destination")
    with pytest.raises(IndexConflict) as err:
        run_restore(ctx)
    assert "already has 1 index with the same names: logs-b; nothing was changed" in str(err.value)
    assert dest.indices == {"logs-b": {"status": "open", "count": 999}}
    assert not [p for m, p in dest.changed() if p != "/_snapshot/repo1"]


def test_existing_closed_index_is_refused_too_by_default(dest, load_config, make_ctx):
    dest.add_index("logs-a", 1, status="close")
    ctx, _, _ = make_ctx(load_config(), side="destination")
    with pytest.raises(IndexConflict, match="logs-a"):
        run_restore(ctx)


def test_close_policy_closes_and_restores_over(dest, load_config, make_ctx):
    dest.add_index("logs-b", 999)
    ctx, lines, _ = make_ctx(load_config(overrides=Overrides(existing_indices="close")), side="destination")
    run_restore(ctx)
    assert ("POST", "/logs-b/_close") in dest.changed()
    assert dest.indices["logs-b"] == {"status": "open", "count": 20}
    assert "  logs-b  20 docs" in lines


def test_rename_policy_restores_beside_originals(dest, load_config, make_ctx):
    dest.add_index("logs-a", 1)
    ctx, lines, _ = make_ctx(
        load_config("[restore]\nexisting_indices = rename\nrename_pattern = (.+)\nrename_replacement = restored-$1\n"),
        side="destination",
    )
    run_restore(ctx)
    body = dest.sent("POST", "/_snapshot/repo1/new/_restore")[0]
    assert body["rename_pattern"] == "(.+)" and body["rename_replacement"] == "restored-$1"
    assert dest.indices["logs-a"]["count"] == 1
    assert dest.indices["restored-logs-a"]["count"] == 10
    assert lines[-2:] == ["  restored-logs-a  10 docs", "  restored-logs-b  20 docs"]


def test_rename_onto_existing_names_is_refused(dest, load_config, make_ctx):
    dest.add_index("restored-logs-a", 1)
    ctx, _, _ = make_ctx(
        load_config("[restore]\nexisting_indices = rename\nrename_pattern = (.+)\nrename_replacement = restored-$1\n"),
        side="destination",
    )
    with pytest.raises(IndexConflict, match="restored names: restored-logs-a"):
        run_restore(ctx)


def test_delete_policy_needs_confirmation_and_changes_nothing_without_it(dest, load_config, make_ctx):
    dest.add_index("logs-a", 1)
    ctx, _, _ = make_ctx(load_config(overrides=Overrides(existing_indices="delete")), side="destination")
    with pytest.raises(
        IndexConflict, match="would delete logs-a on the destination; nothing was changed. Confirm with confirm_delete"
    ):
        run_restore(ctx)
    assert dest.indices == {"logs-a": {"status": "open", "count": 1}}


def test_delete_policy_with_confirmation_deletes_and_says_so(dest, load_config, make_ctx, caplog):
    dest.add_index("logs-a", 1)
    ctx, _, _ = make_ctx(
        load_config(overrides=Overrides(existing_indices="delete", confirm_delete=True)), side="destination"
    )
    with caplog.at_level("WARNING"):
        run_restore(ctx)
    assert ("DELETE", "/logs-a") in dest.changed()
    assert dest.indices["logs-a"]["count"] == 10
    assert any("deleted 1 index on the destination before restoring: logs-a" in r.getMessage() for r in caplog.records)


def test_index_settings_and_partial_are_sent(dest, load_config, make_ctx):
    ctx, _, _ = make_ctx(
        load_config('[restore]\nindex_settings = {"index.number_of_replicas": 0}\n'), side="destination"
    )
    run_restore(ctx)
    assert dest.sent("POST", "/_snapshot/repo1/new/_restore")[0]["index_settings"] == {"index.number_of_replicas": 0}


def test_blocking_restore_reads_progress_only_as_often_as_it_is_shown(dest, load_config, make_ctx):
    dest.recovery_polls = 3
    ctx, lines, clock = make_ctx(load_config("[wait]\npoll_interval = 2\n"), side="destination")
    run_restore(ctx)
    assert clock.sleeps == [5.0, 5.0, 5.0]  # the progress interval, not the poll interval
    index = next(i for i, r in enumerate(dest.requests) if r[1].endswith("_restore"))
    after = [(m, p, params.get("health")) for m, p, params, _ in dest.requests[index + 1 :]]
    assert after[:3] == [("GET", "/_cluster/health", None)] * 3
    assert sorted(after[3:]) == [("GET", "/_cat/indices", None), ("POST", "/_msearch", None)]  # sent at once
    assert "  logs-b  20 docs" in lines


def test_cut_blocking_restore_is_followed_by_long_polling_without_spinning(dest, load_config, make_ctx):
    dest.recovery_polls, dest.block_limit = 3, 0.01  # the gateway cuts the blocking call; the restore goes on
    ctx, lines, clock = make_ctx(load_config("[wait]\npoll_interval = 2\n"), side="destination")
    run_restore(ctx)
    polls = [params for m, p, params, _ in dest.requests if p == "/_cluster/health"]
    assert all(p.get("wait_for_no_initializing_shards") == "true" for p in polls)
    assert clock.sleeps[-3:] == [0.25, 0.5, 1.0]  # answered at once: backing off up to poll_interval
    assert "  logs-b  20 docs" in lines


def test_gateway_json_504_on_the_blocking_restore_is_a_cut_not_a_refusal(dest, load_config, make_ctx):
    dest.recovery_polls, dest.block_limit = 2, 0.01
    dest.cut_answer = (504, {"message": "Endpoint request timed out"})
    ctx, lines, _ = make_ctx(load_config(), side="destination")
    run_restore(ctx)
    assert "  logs-b  20 docs" in lines


def test_recovery_outlasting_max_wait_times_out(dest, load_config, make_ctx):
    dest.recovery_polls = 1000
    ctx, _, _ = make_ctx(load_config("[wait]\npoll_interval = 5\nmax_wait = 12\n"), side="destination")
    with pytest.raises(
        WaitTimeout, match="did not reach yellow within 12s .* follow it with GET /_cat/recovery\\?active_only=true"
    ):
        run_restore(ctx)


def test_failed_shards_in_the_restore_answer_fail_the_run_naming_the_red_indices(dest, load_config, make_ctx):
    dest.red_after_restore = {"logs-b"}
    ctx, _, _ = make_ctx(load_config(), side="destination")
    with pytest.raises(RestoreFailed) as err:
        run_restore(ctx)
    assert str(err.value).startswith(
        "restore from new failed: 1 of 2 shards could not be restored: logs-b; why: disk watermark exceeded on "
        "every node (2 nodes); deleted the 1 index it had created with no primary allocated (keep them with "
        "--keep-failed): logs-b"
    )
    assert ("DELETE", "/logs-b") in dest.changed() and "logs-b" not in dest.indices
    explain = [b for m, p, _, b in dest.requests if p == "/_cluster/allocation/explain"]
    assert explain == [{"index": "logs-b", "shard": 0, "primary": True}]  # the name in the body, not the URL


def test_index_that_stays_red_fails_a_followed_restore(dest, load_config, make_ctx):
    dest.red_after_restore, dest.recovery_polls = {"logs-b"}, 0
    dest.restore_answer = (504, {"message": "Endpoint request timed out"})
    ctx, _, _ = make_ctx(load_config(), side="destination")
    with pytest.raises(RestoreFailed, match="restored indices stayed red: logs-b; why: disk watermark exceeded"):
        run_restore(ctx)


def test_green_wanted_waits_for_the_restored_indices_not_for_others(dest, load_config, make_ctx):
    dest.add_index("unrelated", 1)
    dest.yellow_after_restore = {"unrelated"}  # the cluster stays yellow for another index's sake
    ctx, lines, _ = make_ctx(load_config("[restore]\nwait_for_status = green\n"), side="destination")
    run_restore(ctx)
    asked = [params.get("health") for m, p, params, _ in dest.requests if p == "/_cat/indices"]
    assert asked[-3:] == ["red", "yellow", None]  # the indices below green, then the final sizes
    assert "  logs-b  20 docs" in lines


def test_green_wanted_and_a_restored_index_kept_yellow_times_out(dest, load_config, make_ctx):
    dest.yellow_after_restore = {"logs-a"}
    ctx, _, _ = make_ctx(load_config("[restore]\nwait_for_status = green\n[wait]\nmax_wait = 20\n"), side="destination")
    with pytest.raises(WaitTimeout, match="did not reach green within 20s"):
        run_restore(ctx)


def test_ctrl_c_during_restore_wait(dest, load_config, make_ctx):
    dest.recovery_polls = 5
    ctx, _, clock = make_ctx(load_config(), side="destination")

    def interrupt(event, seconds):  # Ctrl-C once the restore is sent
        if dest.sent("POST", "/_snapshot/repo1/new/_restore"):
            raise KeyboardInterrupt
        return clock.pause(event, seconds)

    ctx.pause = interrupt
    with pytest.raises(Interrupted, match="the restore of 2 indices from new goes on in the destination cluster"):
        run_restore(ctx)


def test_ctrl_c_before_the_restore_began_reopens_what_it_closed(dest, load_config, make_ctx):
    dest.add_index("logs-b", 999)
    gate, real = threading.Event(), dest._restore

    def slow_to_begin(snap, body, params=None):
        gate.wait(2)
        return real(snap, body, params)

    dest._restore = slow_to_begin
    ctx, _, clock = make_ctx(load_config(overrides=Overrides(existing_indices="close")), side="destination")

    def interrupt(event, seconds):  # Ctrl-C once the restore is sent
        if dest.sent("POST", "/_snapshot/repo1/new/_restore"):
            raise KeyboardInterrupt
        return clock.pause(event, seconds)

    ctx.pause = interrupt
    try:
        with pytest.raises(Interrupted, match="had not begun; nothing was restored; reopened the 1 index"):
            run_restore(ctx)
        assert dest.indices["logs-b"]["status"] == "open"
    finally:
        gate.set()


def test_dry_run_restore_changes_nothing(dest, load_config, make_ctx):
    dest.add_index("logs-a", 1)
    ctx, lines, _ = make_ctx(
        load_config(overrides=Overrides(existing_indices="delete", confirm_delete=True)),
        side="destination",
        dry_run=True,
    )
    run_restore(ctx)
    assert dest.changed() == []
    assert dest.indices == {"logs-a": {"status": "open", "count": 1}}
    assert any("would send DELETE /logs-a" in line for line in lines)
    assert any("would send POST /_snapshot/repo1/new/_restore" in line for line in lines)


def test_dry_run_restore_without_registered_repository(dest, load_config, make_ctx):
    dest.repos.clear()
    ctx, lines, _ = make_ctx(load_config(), side="destination", dry_run=True)
    run_restore(ctx)
    assert dest.changed() == []
    assert "repository is not registered yet" in lines[-1]


def test_patterned_name_restores_the_newest_snapshot_it_could_have_produced(dest, load_config, make_ctx):
    dest.add_snapshot("repo1", "nightly-2026.11.19", ["logs-a", "logs-b"], start=600)
    dest.add_snapshot("repo1", "nightly-2026.11.20", ["logs-a", "logs-b"], start=700)
    dest.add_snapshot("repo1", "weekly-2026.11.21", ["logs-a", "logs-b"], start=800)
    ctx, lines, _ = make_ctx(load_config(overrides=Overrides(snapshot="nightly-%Y.%m.%d")), side="destination")
    run_restore(ctx)
    assert dest.sent("POST", "/_snapshot/repo1/nightly-2026.11.20/_restore")
    assert "from repo1/nightly-2026.11.20" in lines[-3]


def test_close_refuses_before_closing_when_shard_counts_differ(dest, load_config, make_ctx):
    dest.add_index("logs-b", 999)
    dest.snapshot_shards["logs-b"] = 2
    ctx, _, _ = make_ctx(load_config(overrides=Overrides(existing_indices="close")), side="destination")
    with pytest.raises(IndexConflict, match=r"cannot restore over logs-b \(1 here, 2 in the snapshot\)"):
        run_restore(ctx)
    assert dest.indices["logs-b"]["status"] == "open"
    assert not [p for m, p in dest.changed() if p.endswith("/_close")]


def test_close_then_refused_restore_reopens_what_it_closed_and_says_so(dest, load_config, make_ctx):
    dest.add_index("logs-b", 999)
    dest.restore_error = (500, {"error": {"type": "snapshot_restore_exception", "reason": "boom"}, "status": 500})
    ctx, _, _ = make_ctx(load_config(overrides=Overrides(existing_indices="close")), side="destination")
    with pytest.raises(RestoreFailed, match="was refused: snapshot_restore_exception: boom; reopened the 1 index"):
        run_restore(ctx)
    assert dest.indices["logs-b"]["status"] == "open"


def test_lost_restore_answer_is_checked_not_guessed(dest, load_config, make_ctx):
    dest.restore_answer = (504, "<html><head><title>504 Gateway Time-out</title></head><body>...</body></html>")
    ctx, lines, _ = make_ctx(load_config(), side="destination")
    run_restore(ctx)  # the restore did begin: the run follows it to the end
    assert "  logs-b  20 docs" in lines


def test_lost_restore_answer_with_nothing_begun_says_not_started(dest, load_config, make_ctx):
    dest.restore_error = (504, "<html><title>504 Gateway Time-out</title></html>")
    ctx, _, _ = make_ctx(load_config(), side="destination")
    with pytest.raises(RestoreFailed, match="was not started .*504 Gateway Time-out"):
        run_restore(ctx)


def test_thousands_of_long_names_never_go_into_a_url_and_checks_stay_constant(engine, load_config, make_ctx):
    names = [f"customer-events-{n:05d}-with-a-rather-long-descriptive-suffix" for n in range(1000)]
    for name in names:
        engine.add_index(name, 2)
    engine.repos["repo1"] = {"type": "s3", "settings": {"bucket": "backups", "base_path": "es", "readonly": "true"}}
    engine.add_snapshot("repo1", "big", names)
    engine.indices.clear()
    engine.recovery_polls = 3
    ctx, lines, _ = make_ctx(
        load_config(overrides=Overrides(snapshot="big", indices=("customer-*",))), side="destination"
    )
    run_restore(ctx)
    assert all(len(path) < 4096 for _, path, _, _ in engine.requests)
    start = next(i for i, r in enumerate(engine.requests) if r[1].endswith("/_restore"))
    after = engine.requests[start + 1 :]
    # 3 progress reads of the cluster's health, then _cat/indices and _msearch: none grows with the indices
    paths = [p for _, p, _, _ in after]
    assert set(paths[:-2]) == {"/_cluster/health"} and sorted(paths[-2:]) == ["/_cat/indices", "/_msearch"]
    assert all("level" not in params for _, _, params, _ in after)
    assert lines[0].startswith("restored 1000 indices from repo1/big on the destination: ")
    assert len(lines) == 1001


def test_data_stream_is_restored_as_a_stream_and_a_missing_template_is_explained(dest, load_config, make_ctx, caplog):
    dest.add_index(".ds-logs-app-2026.11.23-000001", 7)
    dest.add_snapshot("repo1", "ds", [".ds-logs-app-2026.11.23-000001"])
    dest.snapshots[("repo1", "ds")]["data_streams"] = ["logs-app"]
    dest.indices.clear()
    ctx, lines, _ = make_ctx(load_config(overrides=Overrides(snapshot="ds", indices=("logs-app",))), side="destination")
    with caplog.at_level("WARNING"):
        run_restore(ctx)
    body = dest.sent("POST", "/_snapshot/repo1/ds/_restore")[0]
    assert body["indices"] == "logs-app"  # the stream by its name: its backing indices follow
    assert any("no index template with data_stream matching logs-app" in r.getMessage() for r in caplog.records)
    assert lines[0].startswith("restored 0 indices and 1 data stream from repo1/ds on the destination")
    assert lines[-1] == "  logs-app  7 docs"


def test_restore_with_a_wildcard_leaves_system_indices_and_global_state_out(engine, load_config, make_ctx):
    engine.add_index("logs-a", 3)
    engine.add_index(".kibana_1", 1)
    engine.repos["repo1"] = {"type": "s3", "settings": {"bucket": "backups", "base_path": "es", "readonly": "true"}}
    engine.add_snapshot("repo1", "all", ["logs-a", ".kibana_1"])
    engine.indices.clear()
    ctx, _, _ = make_ctx(load_config(overrides=Overrides(indices=("*",))), side="destination")
    run_restore(ctx)
    body = engine.sent("POST", "/_snapshot/repo1/all/_restore")[0]
    assert body["indices"] == "logs-a" and body["include_global_state"] is False and "feature_states" not in body


def test_restore_sends_feature_states_and_global_state_only_when_configured(dest, load_config, make_ctx):
    extra = "\n[restore]\ninclude_global_state = true\nfeature_states = security,kibana\n"
    ctx, _, _ = make_ctx(load_config(extra, overrides=Overrides(snapshot="old")), side="destination")
    run_restore(ctx)
    body = dest.sent("POST", "/_snapshot/repo1/old/_restore")[0]
    assert body["include_global_state"] is True and body["feature_states"] == ["security", "kibana"]


def test_indices_are_checked_only_once_unassigned_shards_settle(dest, load_config, make_ctx):
    """Between two batches of a throttled allocation nothing initialises for a moment; the
    per-index check waits until the cluster's unassigned count stops moving."""
    answers = [40, 30, 20, 10, 0]
    dest.recovery_polls = 0

    def cluster_health():
        left = answers.pop(0) if answers else 0
        return 200, {"status": "yellow", "timed_out": False, "initializing_shards": 0, "unassigned_shards": left}

    dest._cluster_health = cluster_health
    ctx, lines, _ = make_ctx(load_config("[restore]\nwait_for_status = green\n"), side="destination")
    run_restore(ctx)
    checks = [params["health"] for m, p, params, _ in dest.requests if "health" in params]
    assert checks == ["red", "yellow"] and "  logs-b  20 docs" in lines


def test_exclusions_narrow_the_restore_to_what_the_patterns_before_them_select(engine, load_config, make_ctx):
    for name in ("logs-a", "logs-debug-1", "metrics"):
        engine.add_index(name, 2)
    engine.repos["repo1"] = {"type": "s3", "settings": {"bucket": "backups", "base_path": "es", "readonly": "true"}}
    engine.add_snapshot("repo1", "s", ["logs-a", "logs-debug-1", "metrics"])
    engine.indices.clear()
    ctx, lines, _ = make_ctx(
        load_config(overrides=Overrides(snapshot="s", indices=("logs-*", "-logs-debug-*"))), side="destination"
    )
    run_restore(ctx)
    assert engine.sent("POST", "/_snapshot/repo1/s/_restore")[0]["indices"] == "logs-a"
    assert sorted(engine.indices) == ["logs-a"]


def test_lost_answer_while_the_destination_stays_unreachable_says_it_cannot_tell(dest, load_config, make_ctx):
    dest.recovery_polls, dest.block_limit = 5, 0.01  # the blocking call is cut...
    real = dest._route

    def cut_off_after_the_restore(method, path, params, body):  # ...and the destination stays out of reach
        if path == "/_cat/indices" and dest.sent("POST", "/_snapshot/repo1/new/_restore"):
            return 502, "<html><title>502 Bad Gateway</title></html>"
        return real(method, path, params, body)

    dest._route = cut_off_after_the_restore
    ctx, _, _ = make_ctx(load_config(), side="destination")
    with pytest.raises(ClusterUnreachable, match="whether it began cannot be told now: check with GET /_cat/recovery"):
        run_restore(ctx)


def test_after_a_lost_answer_a_yellow_restored_index_is_not_taken_for_recovered(dest, load_config, make_ctx):
    """Engines report a restored primary that waits for allocation as yellow, not red: after a lost
    answer, on a cluster that keeps unassigned shards, the wait counts each restored index's active
    primaries (and only once allocation settles)."""
    dest.recovery_polls, dest.unassigned, dest.unallocated_checks = 0, 2, 2
    dest.restore_answer = (504, {"message": "Endpoint request timed out"})
    ctx, lines, _ = make_ctx(load_config(), side="destination")
    run_restore(ctx)
    checks = [params for m, p, params, _ in dest.requests if params.get("level") == "indices"]
    assert len(checks) == 3  # twice the primaries still waited (yellow); the third time they were active
    assert "  logs-b  20 docs" in lines


def test_after_a_lost_answer_a_cluster_with_nothing_unassigned_is_done_without_per_index_checks(
    dest, load_config, make_ctx
):
    dest.recovery_polls = 2
    dest.restore_answer = (504, {"message": "Endpoint request timed out"})
    ctx, lines, _ = make_ctx(load_config(), side="destination")
    run_restore(ctx)
    assert not [params for m, p, params, _ in dest.requests if params.get("level") == "indices"]
    assert "  logs-b  20 docs" in lines


def test_an_answer_without_shard_counts_is_not_taken_as_success(dest, load_config, make_ctx):
    dest.restore_answer = (200, {"accepted": True})
    dest.recovery_polls = 2
    ctx, lines, _ = make_ctx(load_config(), side="destination")
    run_restore(ctx)
    polls = [params for m, p, params, _ in dest.requests if p == "/_cluster/health"]
    assert polls and all(p.get("wait_for_no_initializing_shards") == "true" for p in polls)  # followed in the cluster
    assert "  logs-b  20 docs" in lines


def test_keep_failed_keeps_the_empty_red_index_and_says_how_to_remove_it(dest, load_config, make_ctx):
    dest.red_after_restore = {"logs-b"}
    ctx, _, _ = make_ctx(load_config(), side="destination")
    ctx.keep_failed = True
    with pytest.raises(RestoreFailed) as err:
        run_restore(ctx)
    assert "logs-b" in dest.indices and not [p for m, p in dest.changed() if m == "DELETE"]
    assert "left the empty red 1 index (--keep-failed): logs-b" in str(err.value)


def test_a_red_index_restored_over_with_close_was_the_users_and_is_never_deleted(dest, load_config, make_ctx):
    dest.add_index("logs-b", 1, status="open")
    dest.red_after_restore = {"logs-b"}
    ctx, _, _ = make_ctx(load_config(overrides=Overrides(existing_indices="close")), side="destination")
    with pytest.raises(RestoreFailed) as err:
        run_restore(ctx)
    assert "logs-b" in dest.indices and not [p for m, p in dest.changed() if m == "DELETE"]
    assert "logs-b were yours (restored over with existing_indices = close) and are left as they are" in str(err.value)


def test_restored_indices_that_never_get_allocated_fail_after_stall_timeout_not_max_wait(dest, load_config, make_ctx):
    dest.restore_answer = (504, {"message": "Endpoint request timed out"})  # the end is followed in the cluster
    dest.recovery_polls, dest.unallocated_checks, dest.unassigned = 0, 10**6, 2  # waiting, yellow, nothing moves
    ctx, _, clock = make_ctx(
        load_config("[wait]\nmax_wait = 3600\nstall_timeout = 120\npoll_interval = 5\n"), side="destination"
    )
    started = clock()
    with pytest.raises(RestoreFailed) as err:
        run_restore(ctx)
    assert 120 <= clock() - started < 200  # stall_timeout, not max_wait
    message = str(err.value)
    assert "nothing moved for 120s (stall_timeout in [wait]) while restored indices stayed below yellow" in message
    assert "why: disk watermark exceeded on every node (2 nodes)" in message


def test_allocation_reasons_in_words_from_a_real_explain_answer():
    from es_s3_snapshot.actions.restoring.allocation import reason_in_words

    disabled = {  # OpenSearch 3.3.2, cluster.routing.allocation.enable = none, 2 nodes (shortened)
        "current_state": "unassigned",
        "unassigned_info": {"reason": "NEW_INDEX_RESTORED", "last_allocation_status": "no"},
        "can_allocate": "no",
        "allocate_explanation": "cannot allocate because allocation is not permitted to any of the nodes",
        "node_allocation_decisions": [
            {
                "node_name": name,
                "deciders": [
                    {"decider": "enable", "decision": "NO", "explanation": "no allocations are allowed"},
                    {"decider": "restore_in_progress", "decision": "NO", "explanation": "shard has failed"},
                ],
            }
            for name in ("destination-1", "destination-2")
        ],
    }
    assert reason_in_words(disabled) == (
        "allocation is disabled (cluster.routing.allocation.enable) on every node (2 nodes)"
    )
    one_full = {"node_allocation_decisions": [disabled["node_allocation_decisions"][0], {"node_name": "x"}]}
    one_full["node_allocation_decisions"][0] = {"deciders": [{"decider": "disk_threshold", "decision": "NO"}]}
    assert reason_in_words(one_full) == "disk watermark exceeded on 1 of 2 nodes"
    assert reason_in_words({"allocate_explanation": "cannot allocate"}) == "cannot allocate"


def test_a_followed_restore_rides_through_an_election_and_gives_the_clusters_verdict(dest, load_config, make_ctx):
    dest.restore_answer = (504, {"message": "Endpoint request timed out"})  # the node we talked to went away
    dest.no_master_answers = 3  # then the destination has no master for a while
    ctx, lines, _ = make_ctx(load_config(), side="destination")
    run_restore(ctx)
    assert dest.no_master_answers == 0 and "  logs-b  20 docs" in lines


def test_a_destination_without_master_beyond_stall_timeout_ends_the_wait_with_its_error(dest, load_config, make_ctx):
    from es_s3_snapshot.errors import EngineError

    dest.restore_answer = (504, {"message": "Endpoint request timed out"})
    dest.no_master_answers = 10**6
    ctx, _, clock = make_ctx(load_config("[wait]\nstall_timeout = 30\npoll_interval = 5\n"), side="destination")
    with pytest.raises(EngineError, match="cluster_manager_not_discovered_exception"):
        run_restore(ctx)
    assert clock() < 10**6  # bounded by stall_timeout, not max_wait


def test_latest_is_the_snapshot_list_shows_first_when_start_times_tie(dest, load_config, make_ctx):
    """One rule for "newest" (retention.newest_first): start, then end, then name; a tie on the
    start time (the engines' cached clock) is broken by the end time, as list and prune break it."""
    dest.add_snapshot("repo1", "zz-tied-ends-first", ["logs-a", "logs-b"], start=600)
    dest.add_snapshot("repo1", "aa-tied-ends-last", ["logs-a", "logs-b"], start=600)
    dest.snapshots[("repo1", "zz-tied-ends-first")]["end_time_in_millis"] = 700
    dest.snapshots[("repo1", "aa-tied-ends-last")]["end_time_in_millis"] = 900
    ctx, _, _ = make_ctx(load_config(), side="destination")
    run_restore(ctx)
    assert dest.sent("POST", "/_snapshot/repo1/aa-tied-ends-last/_restore")


@pytest.mark.parametrize(
    "indices,restored",
    [(("app-*",), "app-a"), (("app-*", "app-hidden"), "app-a,app-hidden"), (("app-hidden",), "app-hidden")],
)
def test_restore_wildcards_skip_the_hidden_indices_the_snapshot_metadata_names(
    dest, load_config, make_ctx, indices, restored
):
    dest.add_snapshot(
        "repo1",
        "with-hidden",
        ["app-a", "app-hidden"],
        start=900,
        metadata={"taken_by": "es-s3-snapshot", "hidden": ["app-hidden"]},
    )
    ctx, _, _ = make_ctx(load_config(overrides=Overrides(snapshot="with-hidden", indices=indices)), side="destination")
    run_restore(ctx)
    assert dest.sent("POST", "/_snapshot/repo1/with-hidden/_restore")[0]["indices"] == restored


def test_restore_uses_a_writable_registration_as_it_is_so_a_restore_into_the_source_never_stops_its_backups(
    dest, load_config, make_ctx
):
    dest.repos["repo1"] = {"type": "s3", "settings": {"bucket": "backups", "base_path": "es"}}
    ctx, _, _ = make_ctx(load_config(), side="destination")
    run_restore(ctx)
    assert "readonly" not in dest.repos["repo1"]["settings"]
    assert not [p for m, p in dest.changed() if p == "/_snapshot/repo1"]


def test_no_master_answer_to_the_restore_is_a_lost_answer_not_a_refusal(dest, load_config, make_ctx):
    from tests.unit.fake_engine import _error

    # the master left while the restore ran: the coordinating node answers 503 once it gives up waiting
    dest.restore_answer = _error(503, "cluster_manager_not_discovered_exception", "Node not connected")
    ctx, lines, _ = make_ctx(load_config(), side="destination")
    run_restore(ctx)
    assert "  logs-b  20 docs" in lines


def test_a_real_refusal_of_the_restore_is_still_a_refusal(dest, load_config, make_ctx):
    from tests.unit.fake_engine import _error

    dest.restore_error = _error(400, "validation_exception", "this action would add [4] total shards")
    ctx, _, _ = make_ctx(load_config(), side="destination")
    with pytest.raises(RestoreFailed, match="was refused: validation_exception"):
        run_restore(ctx)


LOST_NODE = {  # OpenSearch 3.3.2, the node holding a restored primary killed (shortened)
    "current_state": "unassigned",
    "unassigned_info": {"reason": "NODE_LEFT"},
    "can_allocate": "no_valid_shard_copy",
    "allocate_explanation": "cannot allocate because a previous copy of the primary shard existed but can no "
    "longer be found on the nodes in the cluster",
}


def test_red_because_a_node_left_is_waited_for_until_the_node_comes_back(dest, load_config, make_ctx):
    dest.restore_answer = (504, {"message": "Endpoint request timed out"})
    dest.red_after_restore, dest.recovery_polls, dest.explain = {"logs-b"}, 0, LOST_NODE
    route, asked = dest._route, []

    def node_returns(method, path, params, body):
        if path == "/_cluster/allocation/explain":
            asked.append(body)
            if len(asked) == 3:  # the node is back: its copy is allocated again
                dest.red_after_restore = set()
        return route(method, path, params, body)

    dest._route = node_returns
    ctx, lines, _ = make_ctx(load_config("[wait]\nstall_timeout = 600\n"), side="destination")
    run_restore(ctx)
    assert "  logs-b  20 docs" in lines and "logs-b" in dest.indices


def test_red_because_a_node_left_fails_after_stall_timeout_when_it_stays_away(dest, load_config, make_ctx):
    dest.restore_answer = (504, {"message": "Endpoint request timed out"})
    dest.red_after_restore, dest.recovery_polls, dest.explain = {"logs-b"}, 0, LOST_NODE
    ctx, _, clock = make_ctx(load_config("[wait]\nstall_timeout = 60\nmax_wait = 3600\n"), side="destination")
    with pytest.raises(RestoreFailed, match="the node holding their copies did not come back within 60s"):
        run_restore(ctx)
    assert clock() < 600


def test_red_after_the_lost_node_came_back_fails_at_once(dest, load_config, make_ctx):
    dest.restore_answer = (504, {"message": "Endpoint request timed out"})
    dest.red_after_restore, dest.recovery_polls, dest.explain, dest.node_count = {"logs-b"}, 0, LOST_NODE, 1
    route, asked = dest._route, []

    def node_returns(method, path, params, body):
        if path == "/_cluster/allocation/explain":
            asked.append(body)
            dest.node_count = 2  # back, but its copy of logs-b is not
        return route(method, path, params, body)

    dest._route = node_returns
    ctx, _, clock = make_ctx(load_config("[wait]\nstall_timeout = 600\nmax_wait = 3600\n"), side="destination")
    with pytest.raises(RestoreFailed, match="restored indices stayed red: logs-b"):
        run_restore(ctx)
    assert clock() < 300  # not stall_timeout


def test_same_name_refusal_after_a_master_change_is_this_runs_restore_and_is_followed(dest, load_config, make_ctx):
    from tests.unit.fake_engine import _error

    reason = (
        "[repo1:new/x] cannot restore index [logs-a] because an open index with same name already exists in the "
        "cluster. Either close or delete the existing index or restore the index under a different name"
    )
    dest.restore_answer = _error(500, "snapshot_restore_exception", reason)  # after the restore began
    ctx, lines, _ = make_ctx(load_config(), side="destination")
    run_restore(ctx)
    assert "  logs-b  20 docs" in lines
