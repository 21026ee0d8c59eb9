"""-m drill over the fake engine: restore under drill- names, check, delete; failures, interruption,
ownership, and the drill's figures in the run reports."""

import json
import threading

import pytest

from es_s3_snapshot import cli
from es_s3_snapshot.actions.drill import Copies, drill_config, run_drill
from es_s3_snapshot.actions.restoring.plan import Plan
from es_s3_snapshot.config import Overrides
from es_s3_snapshot.errors import ConfigError, IndexConflict, Interrupted, OperationFailed, RestoreFailed, WaitTimeout
from es_s3_snapshot.report import Report, prometheus_text

from .fake_engine import FakeEngine


def seeded(engine):
    """A repository holding snapshots of logs-a (10 docs) and logs-b (20 docs); no index on the cluster."""
    engine.add_index("logs-a", 10)
    engine.add_index("logs-b", 20)
    engine.repos["repo1"] = {"type": "s3", "settings": {"bucket": "backups", "base_path": "es", "readonly": "true"}}
    engine.add_snapshot("repo1", "old", ["logs-a", "logs-b"], start=100)
    engine.add_snapshot("repo1", "new", ["logs-a", "logs-b"], start=300)
    engine.add_snapshot("repo1", "newest-failed", ["logs-a", "logs-b"], state="FAILED", start=400)
    engine.indices.clear()
    engine.uuids.clear()
    return engine


@pytest.fixture
def dest(engine):
    return seeded(engine)


def drill_names(engine):
    return sorted(n for n in engine.indices if n.startswith("drill-"))


def test_drill_restores_renamed_copies_checks_them_and_deletes_them(dest, load_config, make_ctx):
    ctx, lines, _ = make_ctx(load_config(), side="destination")
    run_drill(ctx)
    body = dest.sent("POST", "/_snapshot/repo1/new/_restore")[0]
    assert body["indices"] == "logs-a,logs-b"
    assert body["rename_pattern"] == "(.+)" and body["rename_replacement"] == "drill-$1"
    assert body["include_aliases"] is False and body["include_global_state"] is False
    assert body["index_settings"] == {"index.number_of_replicas": 0}
    assert body["ignore_index_settings"] == [
        "index.plugins.index_state_management.policy_id",
        "index.opendistro.index_state_management.policy_id",
    ]
    assert "  drill-logs-a  10 docs" in lines and "  drill-logs-b  20 docs" in lines
    assert lines[-1].startswith("drill ok: new restored 2 indices, 30 documents, 2.0 KiB in ")
    assert lines[-1].endswith("s (time to restore) on the destination cluster; the copies were deleted")
    assert drill_names(dest) == []
    deletes = [p for m, p in dest.changed() if m == "DELETE"]
    assert deletes == ["/drill-logs-a,drill-logs-b"]
    assert (ctx.result.snapshot, ctx.result.indices, ctx.result.documents) == ("new", ["logs-a", "logs-b"], 30)
    assert ctx.result.bytes == 2000 and ctx.result.restore_seconds is not None


def test_drill_on_elasticsearch_leaves_the_ilm_policy_out(load_config, make_ctx, monkeypatch):
    engine = seeded(FakeEngine("elasticsearch", "9.2.0"))
    ctx, _, _ = make_ctx(load_config(), side="destination")
    ctx.cluster.transport = engine
    run_drill(ctx)
    body = engine.sent("POST", "/_snapshot/repo1/new/_restore")[0]
    assert body["ignore_index_settings"] == ["index.lifecycle.name"]


def test_drill_with_a_named_snapshot_indices_and_prefix(dest, load_config, make_ctx):
    config = load_config("[drill]\nprefix = dr.\n", overrides=Overrides(snapshot="old", indices=("logs-b",)))
    ctx, lines, _ = make_ctx(config, side="destination")
    run_drill(ctx)
    body = dest.sent("POST", "/_snapshot/repo1/old/_restore")[0]
    assert body["indices"] == "logs-b" and body["rename_replacement"] == "dr.$1"
    assert "  dr.logs-b  20 docs" in lines and "dr.logs-b" not in dest.indices


def test_a_copy_that_stays_red_fails_naming_it_and_every_copy_is_deleted(dest, load_config, make_ctx):
    dest.red_after_restore = {"drill-logs-b"}
    ctx, _, _ = make_ctx(load_config(), side="destination")
    with pytest.raises(RestoreFailed) as err:
        run_drill(ctx)
    assert "stayed red: drill-logs-b; why: disk watermark exceeded" in str(err.value)
    assert str(err.value).endswith("deleted the 2 indices it restored on the destination cluster")
    assert drill_names(dest) == []


def test_a_copy_that_does_not_answer_a_search_fails_naming_it_and_is_deleted(dest, load_config, make_ctx):
    route = dest._route

    def refusing_search(method, path, params, body):
        if path == "/_msearch":
            status, answer = route(method, path, params, body)
            answer["responses"][0] = {"error": {"type": "search_phase_execution_exception"}, "status": 503}
            return status, answer
        return route(method, path, params, body)

    dest._route = refusing_search
    ctx, _, _ = make_ctx(load_config(), side="destination")
    with pytest.raises(RestoreFailed, match="drill-logs-a \\(search_phase_execution_exception\\) cannot be read"):
        run_drill(ctx)
    assert drill_names(dest) == []


def test_a_refused_restore_deletes_nothing(dest, load_config, make_ctx):
    dest.add_index("drill-other", 1)
    dest.restore_error = (500, {"error": {"type": "snapshot_restore_exception", "reason": "nope"}, "status": 500})
    ctx, _, _ = make_ctx(load_config(), side="destination")
    with pytest.raises(RestoreFailed, match="was refused.*; nothing was restored$"):
        run_drill(ctx)
    assert [m for m, _ in dest.changed() if m == "DELETE"] == []


def test_copies_that_do_not_recover_within_max_wait_time_out_and_are_deleted(dest, load_config, make_ctx):
    dest.recovery_polls = 1000
    ctx, _, _ = make_ctx(load_config("[wait]\npoll_interval = 5\nmax_wait = 12\n"), side="destination")
    with pytest.raises(WaitTimeout) as err:
        run_drill(ctx)
    assert str(err.value) == (
        "the copies from new did not recover on the destination cluster within 12s (max_wait in [wait]); "
        "deleted the 2 indices it restored on the destination cluster"
    )
    assert drill_names(dest) == []


def test_ctrl_c_while_the_copies_recover_deletes_them_then_says_interrupted(dest, load_config, make_ctx):
    dest.recovery_polls = 5
    ctx, _, clock = make_ctx(load_config(), side="destination")

    def interrupt(seconds):  # Ctrl-C while waiting for the recovery
        if dest.restored:
            raise KeyboardInterrupt
        clock.sleep(seconds)

    ctx.sleep = interrupt
    with pytest.raises(Interrupted) as err:
        run_drill(ctx)
    assert str(err.value) == (
        "interrupted (SIGINT): the drill of new was stopped; deleted the 2 indices it restored on the destination cluster"
    )
    assert err.value.exit_code == 130
    assert drill_names(dest) == []


def test_ctrl_c_before_the_restore_answered_waits_for_the_answer_and_deletes(dest, load_config, make_ctx):
    gate, real = threading.Event(), dest._restore

    def slow_to_answer(snap, body, params=None):
        gate.wait(2)
        return real(snap, body, params)

    dest._restore = slow_to_answer
    ctx, _, clock = make_ctx(load_config(), side="destination")
    interrupted = []

    def interrupt(event, seconds):  # Ctrl-C once the restore is sent, once
        if dest.sent("POST", "/_snapshot/repo1/new/_restore") and not interrupted:
            interrupted.append(True)
            gate.set()
            raise KeyboardInterrupt
        return clock.pause(event, seconds)

    ctx.pause = interrupt
    with pytest.raises(Interrupted, match="deleted the 2 indices it restored"):
        run_drill(ctx)
    assert drill_names(dest) == []


def test_unrelated_drill_index_stays(dest, load_config, make_ctx):
    dest.add_index("drill-foo", 7)
    ctx, _, _ = make_ctx(load_config(), side="destination")
    run_drill(ctx)
    assert drill_names(dest) == ["drill-foo"] and dest.indices["drill-foo"]["count"] == 7


def test_existing_copy_name_is_refused_before_restoring_and_stays(dest, load_config, make_ctx):
    dest.add_index("drill-logs-a", 5)
    ctx, _, _ = make_ctx(load_config(), side="destination")
    with pytest.raises(
        IndexConflict,
        match="the destination cluster already has 1 index with a copy's name: drill-logs-a; nothing was changed",
    ):
        run_drill(ctx)
    assert dest.indices == {"drill-logs-a": {"status": "open", "count": 5}}
    assert not [p for m, p in dest.changed() if p != "/_snapshot/repo1"]


def test_a_copy_replaced_by_another_index_of_that_name_is_not_deleted(dest, load_config, make_ctx, caplog):
    ctx, lines, clock = make_ctx(load_config(), side="destination")

    def replace_copy(seconds):  # someone deletes drill-logs-a and creates another index of that name
        if "drill-logs-a" in dest.restored_from:
            del dest.restored_from["drill-logs-a"]
            dest.add_index("drill-logs-a", 99)
        clock.sleep(seconds)

    ctx.sleep = replace_copy
    dest.recovery_polls = 2  # a wait in the recovery, where the name changes hands
    run_drill(ctx)
    assert drill_names(dest) == ["drill-logs-a"] and dest.indices["drill-logs-a"]["count"] == 99
    assert "left drill-logs-a: another index or data stream now has the name (its UUID differs)" in caplog.text
    assert [p for m, p in dest.changed() if m == "DELETE"] == ["/drill-logs-b"]


def with_stream(engine, stream="events", docs=(4, 3)):
    """The snapshot "new" also holds data stream ``stream`` with two backing indices (``docs`` each)."""
    snap = engine.snapshots[("repo1", "new")]
    snap["data_streams"] = [stream]
    for gen, count in enumerate(docs, 1):
        backing = f".ds-{stream}-2026.01.01-00000{gen}"
        snap["indices"].append(backing)
        snap["counts"][backing] = count
    return engine


def test_data_streams_are_restored_under_the_prefix_checked_recorded_and_deleted(dest, load_config, make_ctx):
    with_stream(dest)
    ctx, lines, clock = make_ctx(load_config(overrides=Overrides(indices=("logs-*", "events"))), side="destination")
    recorded = []

    def look(seconds):
        recorded.append(dict(dest.docs.get(RECORD, {})))
        clock.sleep(seconds)

    ctx.sleep = look
    dest.recovery_polls = 2
    run_drill(ctx)
    body = dest.sent("POST", "/_snapshot/repo1/new/_restore")[0]
    assert body["indices"] == "logs-a,logs-b,events" and body["rename_replacement"] == "drill-$1"
    assert "  drill-events  7 docs" in lines  # a search on the data stream answers
    assert lines[-1].startswith("drill ok: new restored 2 indices, 1 data stream, 37 documents, ")
    backing = [".ds-drill-events-2026.01.01-000001", ".ds-drill-events-2026.01.01-000002"]
    record = recorded[-1]
    assert record["data_streams"] == ["drill-events"]
    assert set(record["indices"]) == {"drill-logs-a", "drill-logs-b", *backing}  # name and UUID of each
    assert ("DELETE", "/_data_stream/drill-events") in dest.changed()
    assert dest.data_streams == [] and drill_names(dest) == [] and not [n for n in dest.indices if "drill-" in n]
    assert not dest.sent("GET", "/_index_template")  # no advice about templates for copies it deletes
    assert ctx.result.indices == ["logs-a", "logs-b", "events"] and ctx.result.documents == 37


def test_a_backing_index_that_stays_red_fails_naming_it_and_the_data_stream_is_deleted(dest, load_config, make_ctx):
    with_stream(dest)
    dest.red_after_restore = {".ds-drill-events-2026.01.01-000002"}
    ctx, _, _ = make_ctx(load_config(overrides=Overrides(indices=("events",))), side="destination")
    with pytest.raises(RestoreFailed) as err:
        run_drill(ctx)
    assert "stayed red: .ds-drill-events-2026.01.01-000002" in str(err.value)
    assert str(err.value).endswith("deleted the 1 data stream it restored: drill-events")
    assert dest.data_streams == [] and not [n for n in dest.indices if "drill-" in n]


def test_an_existing_data_stream_of_a_copy_name_is_refused_and_stays(dest, load_config, make_ctx):
    with_stream(dest)
    dest.data_streams.append("drill-events")
    dest.add_index(".ds-drill-events-2025.01.01-000001", 9)
    ctx, _, _ = make_ctx(load_config(overrides=Overrides(indices=("logs-*", "events"))), side="destination")
    with pytest.raises(IndexConflict, match="already has 1 index or data stream with a copy's name: drill-events"):
        run_drill(ctx)
    assert not dest.sent("POST", "/_snapshot/repo1/new/_restore")
    assert dest.data_streams == ["drill-events"] and ".ds-drill-events-2025.01.01-000001" in dest.indices


def test_a_data_stream_whose_backing_indices_are_not_the_copies_is_left_alone(dest, load_config, make_ctx, caplog):
    with_stream(dest)
    ctx, _, clock = make_ctx(load_config(overrides=Overrides(indices=("events",))), side="destination")

    def swap(seconds):  # someone deletes the copy and creates a data stream of that name meanwhile
        if "drill-events" in dest.data_streams and ".ds-drill-events-x-000009" not in dest.indices:
            for name in [n for n in dest.indices if n.startswith(".ds-drill-events-")]:
                dest.indices.pop(name)
            dest.add_index(".ds-drill-events-x-000009", 1)
        clock.sleep(seconds)

    ctx.sleep = swap
    dest.recovery_polls = 2
    # the copy's backing indices are gone: the drill fails, and .ds-drill-events-x-000009 (the
    # backing index of a stream drill-events-x by its name) is never taken for the copy's
    with pytest.raises(RestoreFailed, match="restored drill-events without all primaries active") as failed:
        run_drill(ctx)
    assert "left drill-events: another index or data stream now has the name" in str(failed.value)
    assert "drill-events" in dest.data_streams and ".ds-drill-events-x-000009" in dest.indices
    assert ("DELETE", "/_data_stream/drill-events") not in dest.changed()


def test_without_a_data_stream_api_the_data_streams_are_left_out_in_one_line(dest, load_config, make_ctx, caplog):
    with_stream(dest)
    dest.data_stream_api = False
    ctx, lines, _ = make_ctx(load_config(overrides=Overrides(indices=("logs-*", "events"))), side="destination")
    run_drill(ctx)
    assert dest.sent("POST", "/_snapshot/repo1/new/_restore")[0]["indices"] == "logs-a,logs-b"
    warned = [r.getMessage() for r in caplog.records if "data streams left out" in r.getMessage()]
    assert warned == [
        "data streams left out of the drill: the destination cluster has no data stream API (GET /_data_stream "
        "answered 400) to delete their copies with: events"
    ]
    assert lines[-1].startswith("drill ok: new restored 2 indices, 30 documents")


def test_only_data_streams_selected_without_a_data_stream_api_fails_before_restoring(dest, load_config, make_ctx):
    with_stream(dest)
    dest.data_stream_api = False
    ctx, _, _ = make_ctx(load_config(overrides=Overrides(indices=("events",))), side="destination")
    with pytest.raises(RestoreFailed, match="holds only data streams .*no data stream API"):
        run_drill(ctx)
    assert not dest.sent("POST", "/_snapshot/repo1/new/_restore")


def test_copies_of_a_killed_drill_include_its_data_streams(dest, load_config, make_ctx, caplog):
    with_stream(dest)
    ctx, _, _ = make_ctx(load_config(overrides=Overrides(indices=("events",))), side="destination")
    backing = {f".ds-events-2026.01.01-00000{g}": f".ds-drill-events-2026.01.01-00000{g}" for g in (1, 2)}
    killed = Copies(ctx.cluster, Plan("new", [], {}, {"events": "drill-events"}, backing), "drill-")
    ctx.config = drill_config(ctx.config, "OpenSearch")
    from es_s3_snapshot.actions.restoring.existing import Existing

    killed.restore(ctx, Existing({}, []))  # restored and recorded, then the run was killed
    assert dest.data_streams == ["drill-events"]
    run_drill(make_ctx(load_config(), side="destination")[0])
    assert "an earlier drill of new did not end (killed?): deleted the 1 data stream it restored: drill-events" in (
        caplog.text
    )
    assert dest.data_streams == [] and not [n for n in dest.indices if "drill-" in n]


def test_ism_plugin_present_turns_auto_manage_off_for_the_copies(dest, load_config, make_ctx):
    dest.plugins = ["opensearch-index-management", "repository-s3"]
    ctx, _, _ = make_ctx(load_config(), side="destination")
    run_drill(ctx)
    body = dest.sent("POST", "/_snapshot/repo1/new/_restore")[0]
    assert body["index_settings"] == {
        "index.number_of_replicas": 0,
        "index.plugins.index_state_management.auto_manage": False,
    }


def test_without_the_ism_plugin_auto_manage_is_not_sent(dest, load_config, make_ctx):
    dest.plugins = ["repository-s3"]
    ctx, _, _ = make_ctx(load_config(), side="destination")
    run_drill(ctx)
    assert dest.sent("POST", "/_snapshot/repo1/new/_restore")[0]["index_settings"] == {"index.number_of_replicas": 0}
    assert dest.sent("GET", "/_cat/plugins")  # asked once


def test_plugins_not_listable_sends_no_ism_setting_and_says_so(dest, load_config, make_ctx, caplog):
    route = dest._route

    def forbidden_plugins(method, path, params, body):
        if path == "/_cat/plugins":
            return 403, {"error": {"type": "security_exception", "reason": "no permissions"}, "status": 403}
        return route(method, path, params, body)

    dest._route = forbidden_plugins
    ctx, lines, _ = make_ctx(load_config(), side="destination")
    run_drill(ctx)
    assert dest.sent("POST", "/_snapshot/repo1/new/_restore")[0]["index_settings"] == {"index.number_of_replicas": 0}
    assert "could not tell whether the destination cluster has the ISM plugin (GET /_cat/plugins answered 403)" in (
        caplog.text
    )
    assert lines[-1].startswith("drill ok: ")


def test_elasticsearch_is_not_asked_for_plugins_and_gets_no_ism_setting(load_config, make_ctx):
    engine = seeded(FakeEngine("elasticsearch", "9.2.0"))
    engine.plugins = ["opensearch-index-management"]  # never looked at
    ctx, _, _ = make_ctx(load_config(), side="destination")
    ctx.cluster.transport = engine
    run_drill(ctx)
    assert not engine.sent("GET", "/_cat/plugins")
    assert engine.sent("POST", "/_snapshot/repo1/new/_restore")[0]["index_settings"] == {"index.number_of_replicas": 0}


def test_drill_on_the_source_names_the_source_in_every_line(dest, load_config, make_ctx, caplog):
    """--on source: the source's repository settings ([repository], not [destination_repository])
    and every line says source, on success and on failure."""
    config = load_config("[destination_repository]\nbase_path = copy\n")
    ctx, lines, _ = make_ctx(config, side="source")
    run_drill(ctx)
    assert dest.repos["repo1"]["settings"]["base_path"] == "es"
    said = lines + [r.getMessage() for r in caplog.records]
    assert not [line for line in said if "destination" in line], said
    assert lines[-1].endswith("on the source cluster; the copies were deleted")
    assert any(line.startswith("restored 2 indices from repo1/new on the source: ") for line in lines)

    caplog.clear()
    dest.red_after_restore = {"drill-logs-b"}
    ctx, lines, _ = make_ctx(config, side="source")
    with pytest.raises(RestoreFailed) as err:
        run_drill(ctx)
    assert "destination" not in str(err.value) and str(err.value).endswith("it restored on the source cluster")


def test_drill_refuses_no_wait_and_changes_nothing_in_a_dry_run(dest, load_config, make_ctx):
    ctx, _, _ = make_ctx(load_config(), side="destination", wait=False)
    with pytest.raises(ConfigError, match="--no-wait does not go with -m drill"):
        run_drill(ctx)
    ctx, lines, _ = make_ctx(load_config(), side="destination", dry_run=True)
    run_drill(ctx)
    assert dest.changed() == [] and lines[-1].startswith("DRY RUN: nothing was changed; would restore logs-a -> drill-")


def test_drill_on_the_source_registers_the_repository_writable(dest, load_config, make_ctx):
    dest.repos.clear()
    ctx, _, _ = make_ctx(load_config(), side="source")
    run_drill(ctx)
    assert "readonly" not in dest.repos["repo1"]["settings"]
    assert drill_names(dest) == []


@pytest.mark.parametrize("prefix", ["Drill-", "_x", "a$b", "a,b"])
def test_a_bad_prefix_is_a_config_error(load_config, prefix):
    with pytest.raises(ConfigError, match=r"\[drill\] prefix"):
        load_config(f"[drill]\nprefix = {prefix}\n")


def test_cli_drill_defaults_to_the_latest_snapshot_and_takes_on(load_config):
    parser = cli.build_parser()
    args = parser.parse_args(["-m", "drill", "--on", "source"])
    assert cli._overrides(args).snapshot == "latest" and cli._side(args) == "source"
    args = parser.parse_args(["-m", "drill", "--snapshot", "s1"])
    assert cli._overrides(args).snapshot == "s1" and cli._side(args) == "destination"
    with pytest.raises(ConfigError, match="--on is for list, scrub and drill only, not for restore"):
        cli._side(parser.parse_args(["-m", "restore", "--on", "source"]))


def test_drill_figures_in_the_json_report_and_prometheus():
    report = Report(
        mode="drill",
        config="c",
        repository="repo1",
        started=100.0,
        finished=160.0,
        exit_code=0,
        message="drill ok",
        snapshot="new",
        indices=["logs-a", "logs-b"],
        bytes=2000,
        documents=30,
        restore_seconds=42.5,
    )
    data = report.as_json()
    assert (data["documents"], data["restore_seconds"], data["bytes"]) == (30, 42.5, 2000)
    assert "snapshots_checked" not in data
    text = prometheus_text("", report)
    series = '{mode="drill",repository="repo1"}'
    for line in (
        f"es_s3_snapshot_last_restore_seconds{series} 42.5",
        f"es_s3_snapshot_last_documents{series} 30",
        f"es_s3_snapshot_last_indices{series} 2",
        f"es_s3_snapshot_last_bytes{series} 2000",
        f"es_s3_snapshot_last_success_timestamp_seconds{series} 160.000",
    ):
        assert line in text.splitlines(), line
    failed = Report(
        **{**report.__dict__, "exit_code": 1, "finished": 200.0, "documents": None, "restore_seconds": None}
    )
    after = prometheus_text(text, failed)
    assert f"es_s3_snapshot_last_success_timestamp_seconds{series} 160.000" in after  # kept across a failure
    assert f"es_s3_snapshot_last_restore_seconds{series} 42.5" in after


def test_scrub_figures_in_the_json_report_and_prometheus():
    report = Report("scrub", "c", "repo1", 1.0, 2.0, 1, "damaged", snapshots_checked=5, snapshots_damaged=1)
    assert json.loads(json.dumps(report.as_json()))["snapshots_damaged"] == 1
    text = prometheus_text("", report)
    assert 'es_s3_snapshot_last_snapshots_checked{mode="scrub",repository="repo1"} 5' in text
    assert 'es_s3_snapshot_last_snapshots_damaged{mode="scrub",repository="repo1"} 1' in text


RECORD = ("es-s3-snapshot-drills", "drill-")


def test_the_copies_are_recorded_on_the_cluster_while_they_exist(dest, load_config, make_ctx):
    ctx, _, clock = make_ctx(load_config(), side="destination")
    seen = []

    def look(seconds):
        recorded = dest.docs.get(RECORD, {}).get("indices") or {}
        seen.append(recorded == {n: dest.uuids[n] for n in ("drill-logs-a", "drill-logs-b")})
        clock.sleep(seconds)

    ctx.sleep = look
    dest.recovery_polls = 2
    run_drill(ctx)
    assert seen and all(seen)
    assert dest.docs[RECORD]["indices"] == {} and dest.docs[RECORD]["snapshot"] == "new"


def test_copies_a_killed_drill_left_are_deleted_by_the_next_when_their_uuid_matches(
    dest, load_config, make_ctx, caplog
):
    dest.add_index("drill-logs-a", 10)  # left by a killed drill: recorded with this UUID
    dest.add_index("drill-logs-b", 4)  # someone's index of a copy's name: recorded UUID differs
    dest.docs[RECORD] = {
        "snapshot": "old",
        "indices": {"drill-logs-a": dest.uuids["drill-logs-a"], "drill-logs-b": "x"},
    }
    ctx, _, _ = make_ctx(load_config(), side="destination")
    with pytest.raises(IndexConflict, match="with a copy's name: drill-logs-b; nothing was changed"):
        run_drill(ctx)
    assert "an earlier drill of old did not end (killed?): deleted the 1 index it restored on the destination" in (
        caplog.text
    )
    assert drill_names(dest) == ["drill-logs-b"] and dest.indices["drill-logs-b"]["count"] == 4
    assert dest.docs[RECORD]["indices"] == {}

    dest.indices.pop("drill-logs-b")
    run_drill(ctx)  # nothing left over: the drill runs
    assert drill_names(dest) == []


def test_copies_that_cannot_be_deleted_fail_the_drill_naming_them(dest, load_config, make_ctx):
    route = dest._route

    def refusing_delete(method, path, params, body):
        if method == "DELETE":
            return 500, {"error": {"type": "process_cluster_event_timeout_exception", "reason": "busy"}, "status": 500}
        return route(method, path, params, body)

    dest._route = refusing_delete
    ctx, lines, _ = make_ctx(load_config(), side="destination")
    with pytest.raises(OperationFailed) as err:
        run_drill(ctx)
    message = str(err.value)
    assert message.startswith(
        "drill of new: every copy restored and answered, but could NOT delete the copies it restored on the "
        "destination cluster"
    )
    assert message.endswith(
        "check and delete drill-logs-a, drill-logs-b with DELETE /<index> (a data stream: DELETE /_data_stream/<name>)"
    )
    assert drill_names(dest) == ["drill-logs-a", "drill-logs-b"]
    assert set(dest.docs[RECORD]["indices"]) == {"drill-logs-a", "drill-logs-b"}  # the next drill deletes them
