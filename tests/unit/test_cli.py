import pytest

from es_s3_snapshot import __version__, cli

from .fake_engine import FakeEngine
from .upstream import Upstream, dead_port


@pytest.fixture
def fake(monkeypatch):
    engine = FakeEngine()
    engine.polls_until_done = 0  # the CLI runs with the real clock: nothing may need a second poll
    engine.recovery_polls = 0
    engine.add_index("logs-a", 10)
    engine.add_index("logs-b", 20)
    monkeypatch.setattr("es_s3_snapshot.clients.build_transport", lambda side, **kwargs: engine)
    return engine


def test_backup_exits_0_and_prints_the_verdict(fake, write_config, capsys):
    code = cli.main(["-m", "backup", "-c", write_config()])
    out, err = capsys.readouterr()
    assert code == 0
    assert "SUCCESS, 2 indices" in out


def test_partial_snapshot_exits_1_with_one_line(fake, write_config, capsys):
    fake.final_state = "PARTIAL"
    fake.failures = [{"index": "logs-a", "shard_id": 0, "reason": "boom"}]
    code = cli.main(["-m", "backup", "-c", write_config()])
    err = capsys.readouterr().err
    assert code == 1
    assert "finished PARTIAL" in err and "logs-a[0]: boom" in err
    assert "Traceback" not in err, err
    errors = [line for line in err.strip().splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "finished PARTIAL" in errors[0], err  # one error line, saying what failed


def test_existing_index_conflict_exits_1(fake, write_config, capsys):
    fake.repos["repo1"] = {"type": "s3", "settings": {"bucket": "backups", "base_path": "es", "readonly": "true"}}
    fake.add_snapshot("repo1", "s1", ["logs-a"])
    code = cli.main(["-m", "restore", "-c", write_config(), "--snapshot", "s1", "--indices", "logs-a"])
    assert code == 1
    assert "already has 1 index with the same names: logs-a" in capsys.readouterr().err


def test_restore_with_close_flag(fake, write_config, capsys):
    fake.repos["repo1"] = {"type": "s3", "settings": {"bucket": "backups", "base_path": "es", "readonly": "true"}}
    fake.add_snapshot("repo1", "s1", ["logs-a"])
    code = cli.main(
        ["-m", "restore", "-c", write_config(), "--snapshot", "s1", "--indices", "logs-a", "--existing", "close"]
    )
    assert code == 0
    assert "logs-a  10 docs" in capsys.readouterr().out


def test_missing_mode_is_a_usage_error_exit_3(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([])
    assert exit_.value.code == 3
    assert "the following arguments are required: -m/--mode" in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0 and __version__ in capsys.readouterr().out


def test_no_config_found_exit_3_lists_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ES_S3_SNAPSHOT_CONFIG", raising=False)
    code = cli.main(["-m", "backup"])
    err = capsys.readouterr().err
    assert code == 3
    assert "looked at: ./es-s3-snapshot.conf, /etc/es-s3-snapshot.conf" in err
    assert "Traceback" not in err


def test_config_error_exit_3_names_key(write_config, capsys):
    code = cli.main(["-m", "backup", "-c", write_config("[snapshot]\npartial = perhaps\n")])
    assert code == 3
    assert "[snapshot] partial must be true or false" in capsys.readouterr().err


def test_unreachable_cluster_exit_2_names_seed(write_config, capsys):
    port = dead_port()
    base = f"[aws_s3_config]\ns3_bucket_name = b\n[elasticsearch_config]\nes_repository_name = r\nindex_names = a\nes_src_seed1 = 127.0.0.1:{port}\n"
    code = cli.main(["-m", "backup", "-c", write_config(base=base)])
    err = capsys.readouterr().err
    assert code == 2
    assert (
        f"could not connect to the source cluster (tried http://127.0.0.1:{port}: [Errno 111] Connection refused)"
        in err
    )
    assert "Traceback" not in err


def test_wrong_password_exit_2_and_no_secret_in_output(write_config, capsys):
    body = {"error": {"type": "security_exception", "reason": "unable to authenticate user [u] password=Sup3rSecret"}}
    with Upstream(status=401, body=body) as up:
        base = (
            f"[aws_s3_config]\ns3_bucket_name = b\n[elasticsearch_config]\nes_repository_name = r\nindex_names = a\n"
            f"es_src_seed1 = {up.url}\n[source]\nusername = u\npassword = Sup3rSecret\n"
        )
        code = cli.main(["-m", "backup", "-v", "-c", write_config(base=base)])
    out, err = capsys.readouterr()
    assert code == 2
    assert "the source cluster rejected the credentials (basic auth): authentication failed" in err
    assert "Sup3rSecret" not in out + err


def test_verbose_shows_traceback(write_config, capsys):
    port = dead_port()
    base = f"[aws_s3_config]\ns3_bucket_name = b\n[elasticsearch_config]\nes_repository_name = r\nindex_names = a\nes_src_seed1 = 127.0.0.1:{port}\n"
    assert cli.main(["-m", "backup", "-v", "-c", write_config(base=base)]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_unexpected_error_exit_4_one_line(fake, write_config, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(fake, "perform_request", broken)
    code = cli.main(["-m", "backup", "-c", write_config()])
    err = capsys.readouterr().err
    assert code == 4
    assert "unexpected error: ZeroDivisionError: oops (run with -v for the traceback)" in err
    assert "Traceback" not in err


def test_s3_keys_in_file_warn_that_they_are_not_sent(fake, write_config, capsys):
    code = cli.main(
        ["-m", "backup", "-c", write_config("[aws_api_keys]\naws_access_key = AKIAQQ\naws_secret_key = ZZSECRETZZ\n")]
    )
    err = capsys.readouterr().err
    assert code == 0
    assert "[aws_api_keys] is not sent to the cluster: S3 keys belong in each node's keystore" in err
    assert "ZZSECRETZZ" not in err


def test_dry_run_prints_requests_and_exits_0(fake, write_config, capsys):
    code = cli.main(["-m", "backup", "--dry-run", "-c", write_config()])
    out = capsys.readouterr().out
    assert code == 0 and fake.changed() == []
    assert "DRY RUN on source: would send PUT /_snapshot/repo1 " in out


# --- issue 7: argument checks and side independence -------------------------------------------------


@pytest.mark.parametrize(
    "args,words",
    [
        (["-m", "backup", "-m", "restore"], "error: -m given twice"),
        (["-m", "backup", "--mode", "backup"], "error: --mode given twice"),
        (["-m", "restore", "--existing", "close", "--existing", "delete"], "error: --existing given twice"),
        (["-m", "backup", "-c", "a.conf", "--config", "b.conf"], "error: --config given twice"),
        (["-m", "backup", "--indices", "a", "--indices", "b"], "error: --indices given twice"),
        (["-m", "restore", "--snapshot", ""], "error: argument --snapshot: must not be empty"),
        (["-m", "restore", "--snapshot", "  "], "error: argument --snapshot: must not be empty"),
        (["-m", "backup", "--indices", ""], "error: argument --indices: must not be empty"),
        (["-m", "backup", "-c", ""], "error: argument -c/--config: must not be empty"),
        (["-m", "backup", "--snapshot="], "error: argument --snapshot: must not be empty"),
    ],
)
def test_empty_or_repeated_options_are_usage_errors_exit_3(capsys, args, words):
    with pytest.raises(SystemExit) as exit_:
        cli.main(args)
    assert exit_.value.code == 3
    assert words in capsys.readouterr().err


def test_flags_may_repeat_and_counts_add_up():
    args = cli.build_parser().parse_args(["-m", "backup", "--dry-run", "--dry-run", "-v", "-v"])
    assert args.dry_run and args.verbose == 2 and args.mode == "backup"


def test_command_line_names_are_checked_exit_3(fake, write_config, capsys):
    code = cli.main(["-m", "backup", "-c", write_config(), "--indices", "logs-a,Logs-B"])
    assert code == 3 and "--indices 'Logs-B' must be lowercase" in capsys.readouterr().err
    assert fake.requests == []


def test_sides_of_a_mode(monkeypatch):
    from es_s3_snapshot import actions

    assert cli.sides_of("backup") == ("source",)
    assert cli.sides_of("restore") == ("destination",)
    monkeypatch.setattr(actions, "TWO_SIDED", {"backup"})
    monkeypatch.setattr(cli, "TWO_SIDED", actions.TWO_SIDED)
    assert cli.sides_of("backup") == ("source", "destination")


SIDE_SECRETS = "[source]\nusername = u\npassword_env = UNIT_SRC_PW\n[destination]\napi_key_env = UNIT_DEST_KEY\n"


def test_restore_does_not_need_the_source_password_variable(fake, write_config, capsys, monkeypatch):
    monkeypatch.delenv("UNIT_SRC_PW", raising=False)
    monkeypatch.setenv("UNIT_DEST_KEY", "kid:dest-key")
    fake.repos["repo1"] = {"type": "s3", "settings": {"bucket": "backups", "base_path": "es", "readonly": "true"}}
    fake.add_snapshot("repo1", "s1", ["logs-a"])
    fake.indices.pop("logs-a", None)
    code = cli.main(["-m", "restore", "-c", write_config(SIDE_SECRETS), "--snapshot", "s1", "--indices", "logs-a"])
    assert code == 0, capsys.readouterr().err


def test_backup_does_not_need_the_destination_key_variable(fake, write_config, monkeypatch):
    monkeypatch.setenv("UNIT_SRC_PW", "pw")
    monkeypatch.delenv("UNIT_DEST_KEY", raising=False)
    assert cli.main(["-m", "backup", "-c", write_config(SIDE_SECRETS)]) == 0


def test_a_mode_that_uses_a_side_it_did_not_load_is_a_bug_exit_4(fake, write_config, capsys, monkeypatch):
    from es_s3_snapshot import actions

    def sneaky(ctx):
        return ctx.config.destination.api_key

    monkeypatch.setattr("es_s3_snapshot.actions.get_mode", lambda name: sneaky)
    monkeypatch.setattr(actions, "get_mode", lambda name: sneaky)
    code = cli.main(["-m", "backup", "-c", write_config()])
    err = capsys.readouterr().err
    assert code == 4
    assert "SideNotLoaded: bug: the destination side's settings were not loaded for this run" in err


def test_block_writes_without_final_migrate_is_a_usage_error_exit_3(write_config, capsys):
    code = cli.main(["-m", "migrate", "-c", write_config(), "--block-writes"])
    assert code == 3
    assert "--block-writes goes with -m migrate --final" in capsys.readouterr().err


def test_two_sided_mode_gives_the_other_side_through_open_cluster(fake, write_config, monkeypatch):
    seen = {}

    def run(ctx):
        seen["main"], seen["other"] = ctx.cluster.side, ctx.open_cluster("destination").side

    monkeypatch.setattr("es_s3_snapshot.actions.get_mode", lambda name: run)
    assert cli.main(["-m", "verify", "-c", write_config()]) == 0
    assert seen == {"main": "source", "other": "destination"}


def test_run_exits_without_teardown_after_flushing_unless_a_thread_must_be_waited_for(monkeypatch):
    import threading

    exits = []
    monkeypatch.setattr(cli, "main", lambda: 3)
    monkeypatch.setattr(cli.os, "_exit", exits.append)
    monkeypatch.setattr("logging.shutdown", lambda: None)
    cli.run()
    assert exits == [3]  # flushed, then straight out

    release = threading.Event()
    worker = threading.Thread(target=release.wait, args=(5,))  # not a daemon: a normal exit waits for it
    worker.start()
    try:
        with pytest.raises(SystemExit) as exited:
            cli.run()
        assert exited.value.code == 3 and exits == [3]
    finally:
        release.set()
        worker.join()
