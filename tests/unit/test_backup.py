from datetime import datetime

import pytest

from es_s3_snapshot.actions.backup import run_backup
from es_s3_snapshot.errors import (
    ConfigError,
    Interrupted,
    RepositoryError,
    SnapshotExists,
    SnapshotFailed,
    WaitTimeout,
)


@pytest.fixture
def source(engine):
    engine.add_index("logs-a", 10)
    engine.add_index("logs-b", 20)
    engine.add_index("other", 5)
    return engine


def test_backup_registers_repository_snapshots_and_reports_success(source, load_config, make_ctx):
    ctx, lines, _ = make_ctx(load_config("[repository]\nserver_side_encryption = true\n"))
    run_backup(ctx)
    repo_body = source.sent("PUT", "/_snapshot/repo1")[0]
    assert repo_body == {
        "type": "s3",
        "settings": {"bucket": "backups", "base_path": "es", "server_side_encryption": True},
    }
    create = [(p, params, b) for m, p, params, b in source.requests if m == "PUT" and p.startswith("/_snapshot/repo1/")]
    path, params, body = create[0]
    assert params == {"wait_for_completion": "true"}  # the answer is the verdict: the end is noticed at once
    assert body["indices"] == "logs-a,logs-b" and body["include_global_state"] is False
    name = path.rsplit("/", 1)[1]
    assert name.startswith("snapshot-") and name == name.lower()
    assert source.snapshots[("repo1", name)]["indices"] == ["logs-a", "logs-b"]
    assert lines[-1].startswith(f"snapshot repo1/{name}: SUCCESS, 2 indices, 2/2 shards")


def test_backup_never_sends_s3_keys_as_repository_settings(source, load_config, make_ctx):
    ctx, _, _ = make_ctx(load_config("[aws_api_keys]\naws_access_key = AKIAX\naws_secret_key = SECRETX\n"))
    run_backup(ctx)
    settings = source.repos["repo1"]["settings"]
    assert not {"access_key", "secret_key"} & set(settings)
    assert "SECRETX" not in repr(source.requests)


def test_snapshot_name_patterns_are_expanded(source, load_config, make_ctx):
    ctx, lines, _ = make_ctx(load_config())  # no snapshot_name: the default pattern
    ctx.now = lambda: datetime(2026, 1, 2, 3, 4, 5)
    run_backup(ctx)
    assert ("repo1", "snapshot-2026_01_02t03-04-05") in source.snapshots


def test_uppercase_snapshot_name_is_a_config_error_before_any_request(source, load_config, make_ctx):
    from es_s3_snapshot.config import Overrides

    with pytest.raises(ConfigError, match="--snapshot 'Nightly' must be lowercase"):
        load_config(overrides=Overrides(snapshot="Nightly"))
    assert source.requests == []


def test_existing_snapshot_name_is_refused_and_nothing_changes(source, load_config, make_ctx):
    from es_s3_snapshot.config import Overrides

    source.repos["repo1"] = {"type": "s3", "settings": {"bucket": "backups", "base_path": "es"}}
    source.add_snapshot("repo1", "snap1", ["logs-a"])
    before = dict(source.snapshots)
    ctx, _, _ = make_ctx(load_config(overrides=Overrides(snapshot="snap1")))
    with pytest.raises(SnapshotExists, match="snapshot snap1 already exists in repository repo1"):
        run_backup(ctx)
    assert source.snapshots == before
    # no extra GET beforehand: the create itself is the check, and the engine refuses it
    assert [p for m, p in source.changed() if p.startswith("/_snapshot/repo1/")] == ["/_snapshot/repo1/snap1"]


def test_partial_snapshot_fails_and_lists_failed_shards(source, load_config, make_ctx):
    source.final_state = "PARTIAL"
    source.failures = [
        {
            "index": "logs-b",
            "shard_id": 0,
            "reason": "primary shard is not allocated",
            "status": "INTERNAL_SERVER_ERROR",
        }
    ]
    ctx, _, _ = make_ctx(load_config())
    with pytest.raises(SnapshotFailed) as err:
        run_backup(ctx)
    message = str(err.value)
    assert "finished PARTIAL" in message and "1/2 shards" in message
    assert "logs-b[0]: primary shard is not allocated" in message
    assert err.value.exit_code == 1


def test_failed_snapshot_reports_failed(source, load_config, make_ctx):
    source.final_state = "FAILED"
    ctx, _, _ = make_ctx(load_config())
    with pytest.raises(SnapshotFailed, match="finished FAILED"):
        run_backup(ctx)


def test_waits_with_progress_until_the_snapshot_finishes(source, load_config, make_ctx):
    source.polls_until_done = 3
    ctx, lines, clock = make_ctx(load_config("[wait]\npoll_interval = 7\n"))
    run_backup(ctx)
    # progress first after 1 s (to learn the size), then as often as it is shown (every 5 s here)
    assert clock.sleeps == [1, 5, 5]
    assert "SUCCESS" in lines[-1]


def test_blocking_create_is_never_resent_and_may_take_max_wait(source, load_config, make_ctx):
    ctx, _, _ = make_ctx(load_config("[wait]\nmax_wait = 3600\n[source]\nrequest_timeout = 20\n"))
    ctx.cluster.request_timeout = 20
    run_backup(ctx)
    creates = [
        (params, opts)
        for (m, p, params, _), opts in zip(source.requests, source.options, strict=False)
        if m == "PUT" and p.startswith("/_snapshot/repo1/")
    ]
    params, opts = creates[0]
    assert params["wait_for_completion"] == "true"
    assert opts["max_retries"] == 0 and opts["retry_on_status"] == () and not opts["retry_on_timeout"]
    assert opts["request_timeout"] == 3620


def test_progress_polls_are_filtered_to_a_constant_size(source, load_config, make_ctx):
    source.polls_until_done = 2
    ctx, _, _ = make_ctx(load_config())
    run_backup(ctx)
    polls = [params for m, p, params, _ in source.requests if p.endswith("/_status")]
    assert polls and all(params["filter_path"].startswith("snapshots.state") for params in polls)


def test_cut_blocking_call_falls_back_to_polling_the_snapshot(source, load_config, make_ctx):
    source.polls_until_done = 1000  # the blocking create never answers in time: the gateway cuts it (504)
    source.block_limit = 0.01
    ctx, lines, clock = make_ctx(load_config("[wait]\npoll_interval = 3\n"))

    def finish_after_two_polls():
        finish_after_two_polls.calls += 1
        if finish_after_two_polls.calls >= 2:
            for snap in source.snapshots.values():
                snap["polls"] = 0

    finish_after_two_polls.calls = 0
    source.on_poll = finish_after_two_polls
    run_backup(ctx)
    assert "SUCCESS" in lines[-1]
    gets = [p for m, p, _, _ in source.requests if m == "GET" and p.startswith("/_snapshot/repo1/snapshot-")]
    assert gets  # followed by polling the snapshot itself


def test_cut_blocking_call_with_no_snapshot_fails_saying_it_was_not_started(source, load_config, make_ctx):
    source.polls_until_done = 1000
    source.block_limit = 0.01
    ctx, _, _ = make_ctx(load_config())
    real_create = source._create

    def create_then_forget(repo, name, body, params):
        status, answer = real_create(repo, name, body, params)
        source.snapshots.pop((repo, name), None)
        return status, answer

    source._create = create_then_forget
    with pytest.raises(SnapshotFailed, match="was not started"):
        run_backup(ctx)


@pytest.mark.parametrize("final_state", ["SUCCESS", "FAILED"])
def test_a_blocking_answer_without_the_snapshot_is_followed_in_the_cluster_before_any_verdict(
    source, load_config, make_ctx, final_state
):
    """A gateway answering {"accepted": true} for the engine: the snapshot itself is read, and its
    own state is the verdict (never "finished UNKNOWN: 0 indices")."""
    source.stand_in_answer = (200, {"accepted": True})
    source.final_state = final_state
    ctx, lines, _ = make_ctx(load_config())
    if final_state == "SUCCESS":
        run_backup(ctx)
        assert lines[-1].startswith("snapshot repo1/snapshot-") and ": SUCCESS, 2 indices, 2/2 shards" in lines[-1]
    else:
        with pytest.raises(SnapshotFailed, match="finished FAILED: 2 indices") as err:
            run_backup(ctx)
        assert "UNKNOWN" not in str(err.value)
    gets = [p for m, p, _, _ in source.requests if m == "GET" and p.startswith("/_snapshot/repo1/snapshot-")]
    assert any("/_status" not in p for p in gets)  # the snapshot itself was read


def test_a_blocking_answer_without_the_snapshot_and_no_snapshot_says_it_was_not_started(source, load_config, make_ctx):
    source.stand_in_answer = (200, {"accepted": True})
    source.create_lost = True
    ctx, _, clock = make_ctx(load_config("[wait]\npoll_interval = 2\n"))
    with pytest.raises(
        SnapshotFailed,
        match='was not started: the answer to the blocking create .* holds no snapshot: {"accepted": true}',
    ):
        run_backup(ctx)
    assert sum(clock.sleeps) == 6  # looked for during three poll intervals first
    assert not source.snapshots


def test_snapshot_that_outlasts_max_wait_times_out_with_follow_hint(source, load_config, make_ctx):
    source.polls_until_done = 100
    ctx, _, clock = make_ctx(load_config("[wait]\npoll_interval = 10\nmax_wait = 25\n"))
    with pytest.raises(WaitTimeout) as err:
        run_backup(ctx)
    assert "did not finish within 25s" in str(err.value)
    assert "GET /_snapshot/repo1/" in str(err.value) and err.value.exit_code == 1
    assert clock.now == 25


def test_busy_cluster_is_waited_for_then_snapshot_starts(source, load_config, make_ctx):
    source.busy_answers = 2
    ctx, lines, clock = make_ctx(load_config("[wait]\npoll_interval = 5\n"))
    run_backup(ctx)
    assert "SUCCESS" in lines[-1]
    assert len(source.sent("PUT", "/_snapshot/repo1/snapshot-")) == 3


def test_busy_cluster_beyond_concurrent_wait_fails_clearly(source, load_config, make_ctx):
    source.busy_answers = 1000
    ctx, _, _ = make_ctx(load_config("[snapshot]\nconcurrent_wait = 30\n[wait]\npoll_interval = 10\n"))
    with pytest.raises(WaitTimeout, match="still busy with other snapshot operations after 30s"):
        run_backup(ctx)
    assert not any(k[0] == "repo1" for k in source.snapshots)


def test_missing_index_is_named_and_nothing_is_snapshotted(source, load_config, make_ctx):
    from es_s3_snapshot.config import Overrides

    ctx, _, _ = make_ctx(load_config(overrides=Overrides(indices=("logs-a", "nope"))))
    with pytest.raises(SnapshotFailed, match="index not found on the source cluster: nope "):
        run_backup(ctx)
    assert source.snapshots == {}


def test_pattern_matching_nothing_fails_before_any_snapshot_is_taken(source, load_config, make_ctx):
    from es_s3_snapshot.config import Overrides

    ctx, _, _ = make_ctx(load_config(overrides=Overrides(indices=("zzz-*",))))
    with pytest.raises(SnapshotFailed, match="nothing on the source cluster matches zzz-\\*.*no snapshot was taken"):
        run_backup(ctx)
    assert not source.snapshots


@pytest.mark.parametrize(
    "indices,taken",
    [
        (("logs-*",), "logs-a,logs-b"),  # a wildcard skips the hidden logs-hidden and the dot index
        (("logs-*", "logs-hidden"), "logs-a,logs-b,logs-hidden"),  # named exactly: taken
        (("*",), "logs-a,logs-b,other,stream-a"),
        (("*", "-logs-b"), "logs-a,other,stream-a"),
        ((".sys*",), ".sys-1"),  # a pattern that starts with a dot takes dot indices
        (("logs-*", "stream-*"), "logs-a,logs-b,stream-a"),  # data streams by name
    ],
)
def test_hidden_means_hidden_wildcards_never_take_hidden_or_system_indices(
    source, load_config, make_ctx, indices, taken
):
    from es_s3_snapshot.config import Overrides

    source.add_index("logs-hidden", hidden=True)
    source.add_index(".sys-1")
    source.data_streams.append("stream-a")
    ctx, _, _ = make_ctx(load_config(overrides=Overrides(indices=indices)))
    run_backup(ctx)
    create = [b for m, p, _, b in source.requests if m == "PUT" and p.startswith("/_snapshot/repo1/")]
    assert create[0]["indices"] == taken  # exact names in the body: every engine takes the same set


def test_a_missing_exact_name_fails_before_any_snapshot_is_taken(source, load_config, make_ctx):
    from es_s3_snapshot.config import Overrides

    ctx, _, _ = make_ctx(load_config(overrides=Overrides(indices=("logs-a", "logs-gone"))))
    with pytest.raises(SnapshotFailed, match="index not found on the source cluster: logs-gone"):
        run_backup(ctx)
    assert not source.snapshots and source.changed() == [("PUT", "/_snapshot/repo1")]


def test_dry_run_changes_nothing_and_prints_the_requests(source, load_config, make_ctx):
    ctx, lines, _ = make_ctx(load_config(), dry_run=True)
    run_backup(ctx)
    assert source.changed() == []
    assert source.repos == {} and source.snapshots == {}
    assert any(line.startswith("DRY RUN on source: would send PUT /_snapshot/repo1 ") for line in lines)
    assert any(
        "would send PUT /_snapshot/repo1/snapshot-" in line and "wait_for_completion=false" in line for line in lines
    )
    assert lines[-1].startswith("DRY RUN: nothing was changed")


def test_no_wait_returns_after_start(source, load_config, make_ctx):
    source.polls_until_done = 50
    ctx, lines, clock = make_ctx(load_config(), wait=False)
    run_backup(ctx)
    assert "started; follow it with: GET /_snapshot/repo1/" in lines[-1]
    assert clock.sleeps == []


def test_ctrl_c_while_waiting_says_the_snapshot_goes_on(source, load_config, make_ctx):
    def interrupt():
        raise KeyboardInterrupt

    source.on_poll = interrupt
    ctx, _, _ = make_ctx(load_config())
    with pytest.raises(Interrupted) as err:
        run_backup(ctx)
    assert "goes on in the source cluster" in str(err.value) and err.value.exit_code == 130


def test_repository_pointing_elsewhere_is_refused_not_repointed(source, load_config, make_ctx):
    source.repos["repo1"] = {"type": "s3", "settings": {"bucket": "someone-elses", "base_path": "x"}}
    ctx, _, _ = make_ctx(load_config())
    with pytest.raises(RepositoryError, match="already points at s3://someone-elses/x"):
        run_backup(ctx)
    assert source.repos["repo1"]["settings"]["bucket"] == "someone-elses"
    assert source.changed() == []


@pytest.mark.parametrize(
    "error,advice",
    [
        (
            (500, {"error": {"type": "repository_exception", "reason": "[repo1] repository type [s3] does not exist"}}),
            "install the repository-s3 plugin",
        ),
        (
            (
                500,
                {
                    "error": {
                        "type": "repository_verification_exception",
                        "reason": "[repo1] path is not accessible",
                        "caused_by": {
                            "type": "i_o_exception",
                            "reason": "NoSuchBucket: The specified bucket does not exist",
                        },
                    }
                },
            ),
            "bucket backups does not exist",
        ),
        (
            (
                500,
                {
                    "error": {
                        "type": "repository_verification_exception",
                        "reason": "x",
                        "caused_by": {
                            "type": "sdk_client_exception",
                            "reason": "Unable to load credentials from any of the providers",
                        },
                    }
                },
            ),
            "add s3.client.default.access_key and s3.client.default.secret_key to every node's keystore",
        ),
        (
            (
                500,
                {
                    "error": {
                        "type": "repository_verification_exception",
                        "reason": "x",
                        "caused_by": {
                            "type": "s3_exception",
                            "reason": "Access Denied (Service: S3, Status Code: 403)",
                        },
                    }
                },
            ),
            "may not write to s3://backups/es",
        ),
        (
            (
                500,
                {
                    "Message": "x",
                    "error": {
                        "type": "x",
                        "reason": "User: arn:aws:iam::1:user/u is not authorized to perform: iam:PassRole on resource: role",
                    },
                },
            ),
            "needs iam:PassRole on that role",
        ),
    ],
)
def test_repository_failures_become_advice(source, load_config, make_ctx, error, advice):
    source.verify_error = error
    ctx, _, _ = make_ctx(load_config())
    with pytest.raises(RepositoryError, match=advice):
        run_backup(ctx)
    assert source.snapshots == {}


def test_final_line_gives_bytes_duration_and_rate_and_right_plurals(engine, load_config, make_ctx):
    engine.add_index("only", 3)
    from es_s3_snapshot.config import Overrides

    ctx, lines, _ = make_ctx(load_config(overrides=Overrides(indices=("only",))))
    run_backup(ctx)
    assert ", 1 index, 1/1 shard," in lines[-1]
    assert "1000 B new of 4.9 KiB in 1.5s (0.0 MB/s)" in lines[-1]


NODE_LEFT = {"index": "logs-b", "shard_id": 0, "reason": "node shutdown", "status": "INTERNAL_SERVER_ERROR"}


def creates(engine):
    return [p.rsplit("/", 1)[1] for m, p, _, _ in engine.requests if m == "PUT" and p.count("/") == 3]


def test_partial_snapshot_with_a_transient_cause_is_taken_again_and_the_retry_succeeds(source, load_config, make_ctx):
    from es_s3_snapshot.config import Overrides

    source.final_states, source.failures = ["PARTIAL", "SUCCESS"], [NODE_LEFT]
    ctx, lines, _ = make_ctx(load_config(overrides=Overrides(snapshot="nightly")))
    run_backup(ctx)
    assert creates(source) == ["nightly", "nightly-retry1"]
    assert source.snapshots[("repo1", "nightly-retry1")]["state"] == "SUCCESS"
    assert source.snapshots[("repo1", "nightly")]["state"] == "PARTIAL"  # left for prune, not deleted here
    assert lines[-1].startswith("snapshot repo1/nightly-retry1: SUCCESS on retry 1 of nightly (PARTIAL, 1/2 shards")
    assert ctx.result.snapshot == "nightly-retry1"
    # the retry waited for the cluster to be back (yellow, nothing moving) and for the store to answer
    health = [params for m, p, params, _ in source.requests if p == "/_cluster/health"]
    assert health and health[0]["wait_for_status"] == "yellow" and health[0]["wait_for_no_relocating_shards"] == "true"
    assert source.sent("POST", "/_snapshot/repo1/_verify") is not None


def test_retry_that_fails_again_exits_1_naming_the_retry_and_the_failed_attempt(source, load_config, make_ctx):
    from es_s3_snapshot.config import Overrides

    source.final_states, source.failures = ["PARTIAL", "FAILED"], [NODE_LEFT]
    ctx, _, _ = make_ctx(load_config(overrides=Overrides(snapshot="nightly")))
    with pytest.raises(SnapshotFailed) as err:
        run_backup(ctx)
    assert creates(source) == ["nightly", "nightly-retry1"]  # retries = 1 by default: no third attempt
    message = str(err.value)
    assert message.startswith("snapshot repo1/nightly-retry1 finished FAILED")
    assert "it was retry 1 of nightly (PARTIAL, 1/2 shards failed)" in message


def test_retries_n_takes_up_to_n_retries(source, load_config, make_ctx):
    from es_s3_snapshot.config import Overrides

    source.final_states, source.failures = ["PARTIAL", "PARTIAL", "SUCCESS"], [NODE_LEFT]
    ctx, lines, _ = make_ctx(load_config("[snapshot]\nretries = 2\n", overrides=Overrides(snapshot="nightly")))
    run_backup(ctx)
    assert creates(source) == ["nightly", "nightly-retry1", "nightly-retry2"]
    assert "SUCCESS on retry 2 of nightly (PARTIAL" in lines[-1] and "nightly-retry1 (PARTIAL" in lines[-1]


def test_failure_that_does_not_pass_is_not_retried(source, load_config, make_ctx):
    source.final_state = "PARTIAL"
    source.failures = [{"index": "logs-b", "shard_id": 0, "reason": "IndexShardSnapshotFailedException[corrupt]"}]
    ctx, _, _ = make_ctx(load_config())
    with pytest.raises(SnapshotFailed, match="not taken again: no failure reason says that a node left"):
        run_backup(ctx)
    assert len(creates(source)) == 1


def test_retries_0_never_retries_and_keeps_the_old_message(source, load_config, make_ctx):
    source.final_state, source.failures = "PARTIAL", [NODE_LEFT]
    ctx, _, _ = make_ctx(load_config("[snapshot]\nretries = 0\n"))
    with pytest.raises(SnapshotFailed) as err:
        run_backup(ctx)
    assert len(creates(source)) == 1 and "retry" not in str(err.value) and "not taken again" not in str(err.value)


def test_retry_waits_at_most_stall_timeout_for_the_cluster_to_be_back(source, load_config, make_ctx):
    source.final_states, source.failures = ["PARTIAL", "SUCCESS"], [NODE_LEFT]
    source.recovery_polls = 10**6  # the cluster's health never settles
    ctx, _, clock = make_ctx(load_config("[wait]\nstall_timeout = 60\npoll_interval = 5\n"))
    with pytest.raises(
        SnapshotFailed,
        match=r"not taken again: the source cluster and its repository were not back "
        r"within 60s \(stall_timeout in \[wait\]; last: yellow",
    ):
        run_backup(ctx)
    assert len(creates(source)) == 1


UNALLOCATED = {"index": "logs-b", "shard_id": 0, "reason": "primary shard is not allocated", "status": "INTERNAL_SERVER_ERROR"}


def test_unallocated_primary_that_the_deciders_refuse_everywhere_is_not_waited_for(source, load_config, make_ctx):
    source.final_states, source.failures = ["PARTIAL", "SUCCESS"], [UNALLOCATED]  # fake_engine explains: disk NO
    ctx, _, clock = make_ctx(load_config("[wait]\nstall_timeout = 600\n"))
    with pytest.raises(SnapshotFailed) as err:
        run_backup(ctx)
    assert "not taken again: logs-b[0] can be allocated on no node: disk watermark exceeded on every node" in str(err.value)
    assert len(creates(source)) == 1 and clock() < 600  # no wait for a cluster that would not come back
    explained = [b for m, p, _, b in source.requests if p == "/_cluster/allocation/explain"]
    assert explained == [{"index": "logs-b", "shard": 0, "primary": True}]  # the shard in the body, not the URL


def test_unallocated_primary_whose_node_left_is_waited_for_and_retried(source, load_config, make_ctx):
    source.final_states, source.failures = ["PARTIAL", "SUCCESS"], [UNALLOCATED]
    source.explain = {
        "current_state": "unassigned",
        "can_allocate": "no_valid_shard_copy",
        "allocate_explanation": "cannot allocate because a previous copy of the primary shard existed but can no longer be found",
    }
    ctx, lines, _ = make_ctx(load_config())
    run_backup(ctx)
    assert len(creates(source)) == 2 and "SUCCESS on retry 1" in lines[-1]


def test_retry_names_belong_to_the_series_that_prune_and_latest_see():
    from es_s3_snapshot.names import retry_name, series_regex

    assert retry_name("snapshot-2026_01_02t03-04-05", 1) == "snapshot-2026_01_02t03-04-05-retry1"
    series = series_regex("snapshot-%Y_%m_%dt%H-%M-%S")
    assert series.fullmatch("snapshot-2026_01_02t03-04-05-retry1")
    assert series.fullmatch("snapshot-2026_01_02t03-04-05")
    assert not series.fullmatch("snapshot-2026_01_02t03-04-05-retry") and not series.fullmatch("other-retry1")


def test_reads_of_a_wait_ride_through_an_election(source, load_config, make_ctx):
    from es_s3_snapshot.actions.patience import Patient, passing
    from es_s3_snapshot.errors import ClusterUnreachable, EngineError

    assert passing(ClusterUnreachable("no seed")) and passing(EngineError("x", status=503))
    assert not passing(EngineError("x", status=404, error_type="snapshot_missing_exception"))
    assert not passing(EngineError("x", status=503, error_type="concurrent_snapshot_execution_exception"))
    source.repos["repo1"] = {"type": "s3", "settings": {"bucket": "backups", "base_path": "es"}}
    source.add_snapshot("repo1", "s1", ["logs-a"])
    source.no_master_answers = 2
    ctx, _, clock = make_ctx(load_config())
    answer = Patient(ctx).get("/_cluster/health", ok=(408,))
    assert answer.status == 408 and source.no_master_answers == 0 and clock() > 0


def test_same_name_refusal_after_a_master_change_is_this_runs_snapshot_and_is_followed(source, load_config, make_ctx):
    from es_s3_snapshot.config import Overrides

    source.master_changed, source.polls_until_done = True, 0
    ctx, lines, _ = make_ctx(load_config(overrides=Overrides(snapshot="nightly")))
    run_backup(ctx)
    assert lines[-1].startswith("snapshot repo1/nightly: SUCCESS")
    assert source.snapshots[("repo1", "nightly")]["metadata"]["run"] == ctx.run_id


def test_same_name_refusal_for_a_snapshot_that_is_not_this_runs_stays_a_conflict(source, load_config, make_ctx):
    from es_s3_snapshot.config import Overrides

    source.repos["repo1"] = {"type": "s3", "settings": {"bucket": "backups", "base_path": "es"}}
    # taken by this tool a moment ago, by another run: whatever the clocks say, not this run's
    source.add_snapshot("repo1", "nightly", ["logs-a"], metadata={"taken_by": "es-s3-snapshot", "run": "earlier"})
    ctx, _, _ = make_ctx(load_config(overrides=Overrides(snapshot="nightly")))
    with pytest.raises(SnapshotExists):
        run_backup(ctx)


def test_a_read_only_registration_is_never_made_writable_backup_refuses_and_says_how(source, load_config, make_ctx):
    """Someone registered the repository read-only on the source on purpose (another cluster writes
    it): backup refuses (exit 1), names the registration and how to change it, and changes nothing."""
    source.repos["repo1"] = {"type": "s3", "settings": {"bucket": "backups", "base_path": "es", "readonly": "true"}}
    ctx, _, _ = make_ctx(load_config())
    with pytest.raises(RepositoryError) as err:
        run_backup(ctx)
    text = str(err.value)
    assert "repository repo1 is registered read-only on the source cluster" in text
    assert 'PUT _snapshot/repo1 with "readonly": false' in text and "two writers corrupt it" in text
    assert err.value.exit_code == 1
    assert source.repos["repo1"]["settings"]["readonly"] == "true"
    assert source.changed() == [] and not [k for k in source.snapshots if k[0] == "repo1"]


def test_check_fails_a_read_only_source_registration_with_backups_words(source, load_config, make_ctx):
    from es_s3_snapshot.actions.check import _repository

    source.repos["repo1"] = {"type": "s3", "settings": {"bucket": "backups", "base_path": "es", "readonly": "true"}}
    ctx, _, _ = make_ctx(load_config())
    row, _ = _repository(ctx.cluster, ctx.config.repository_for("source"), readonly=False)
    assert row.result == "FAIL"
    with pytest.raises(RepositoryError) as err:
        run_backup(ctx)
    assert row.detail == str(err.value)


def test_modes_that_only_read_use_a_read_only_registration_as_it_is(source, load_config, make_ctx):
    from es_s3_snapshot.actions.list import run_list

    source.repos["repo1"] = {"type": "s3", "settings": {"bucket": "backups", "base_path": "es", "readonly": "true"}}
    ctx, lines, _ = make_ctx(load_config())
    run_list(ctx)
    assert source.changed() == [] and source.repos["repo1"]["settings"]["readonly"] == "true"
    assert lines[-1] == "0 snapshots in repository repo1 on the source cluster"


def test_hidden_indices_named_exactly_are_recorded_in_the_snapshot_metadata(source, load_config, make_ctx):
    from es_s3_snapshot.config import Overrides

    source.add_index("logs-hidden", hidden=True)
    ctx, _, _ = make_ctx(load_config(overrides=Overrides(indices=("logs-*", "logs-hidden"))))
    run_backup(ctx)
    create = [b for m, p, _, b in source.requests if m == "PUT" and p.startswith("/_snapshot/repo1/")]
    assert create[0]["metadata"]["hidden"] == ["logs-hidden"]


def test_a_hidden_list_too_long_for_the_metadata_is_left_out(source, load_config, make_ctx):
    from es_s3_snapshot.config import Overrides

    names = [f"hidden-{n:03d}-{'x' * 30}" for n in range(40)]
    for name in names:
        source.add_index(name, hidden=True)
    ctx, _, _ = make_ctx(load_config(overrides=Overrides(indices=tuple(names))))
    run_backup(ctx)
    create = [b for m, p, _, b in source.requests if m == "PUT" and p.startswith("/_snapshot/repo1/")]
    assert "hidden" not in create[0]["metadata"] and create[0]["metadata"]["taken_by"] == "es-s3-snapshot"


def test_no_master_answer_to_the_blocking_create_is_followed_to_the_snapshots_verdict(source, load_config, make_ctx):
    from tests.unit.fake_engine import _error

    source.block_limit = 0.0  # the blocking call gives up at once ...
    source.cut_answer = _error(503, "cluster_manager_not_discovered_exception", "no cluster-manager")
    ctx, lines, _ = make_ctx(load_config())
    run_backup(ctx)  # ... but the snapshot runs on: followed by polling it
    assert "SUCCESS" in lines[-1]
