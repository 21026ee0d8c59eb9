"""On a host other users share: lock and report files nobody else can redirect or hold, config
files nobody else can rewrite, credentials in clear said, and how long a timeout really waited."""

import logging
import os
import stat

import pytest

from es_s3_snapshot import cli, ownfiles
from es_s3_snapshot.config import ReportConfig, load
from es_s3_snapshot.errors import ConfigError, UnsafeFile
from es_s3_snapshot.lock import lock_path, run_lock
from es_s3_snapshot.report import Report, write_reports

NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="playing another user needs root (CI runs as root)")


def shared_dir(tmp_path, mode=0o1777):
    """A directory like /tmp: writable by everyone, sticky unless ``mode`` says otherwise."""
    path = tmp_path / "shared"
    path.mkdir()
    os.chmod(path, mode)
    return path


def secret_target(tmp_path):
    target = tmp_path / "precious"
    target.write_text("root's own data\n")
    os.chmod(target, 0o600)
    return target


# --- where locks live --------------------------------------------------------------------------------


def test_default_lock_dir_is_the_runners_runtime_dir_when_it_is_private(tmp_path):
    runtime = tmp_path / "run-user"
    runtime.mkdir(mode=0o700)
    os.chmod(runtime, 0o700)
    assert ownfiles.default_dir({"XDG_RUNTIME_DIR": str(runtime)}) == str(runtime / "es-s3-snapshot")


@pytest.mark.parametrize("mode", [0o755, 0o1777, 0o770])
def test_a_runtime_dir_that_is_not_private_is_not_used(tmp_path, mode):
    runtime = tmp_path / "run-user"
    runtime.mkdir()
    os.chmod(runtime, mode)
    assert ownfiles.default_dir({"XDG_RUNTIME_DIR": str(runtime)}, euid=0) == "/run/es-s3-snapshot"


def test_a_runtime_dir_of_another_user_is_not_used(tmp_path):
    runtime = tmp_path / "run-user"
    runtime.mkdir(mode=0o700)
    mine = os.geteuid()
    assert ownfiles.default_dir({"XDG_RUNTIME_DIR": str(runtime)}, euid=mine + 1).endswith(".cache/es-s3-snapshot")


def test_default_lock_dir_is_run_for_root_and_the_cache_for_others():
    assert ownfiles.default_dir({}, euid=0) == "/run/es-s3-snapshot"
    assert ownfiles.default_dir({}, euid=1000) == os.path.expanduser("~/.cache/es-s3-snapshot")


def test_root_without_a_usable_run_dir_keeps_its_locks_in_its_home_cache(tmp_path):
    home_cache = os.path.expanduser("~/.cache/es-s3-snapshot")
    assert ownfiles.default_dir({}, euid=0, run=str(tmp_path / "no-run")) == home_cache
    (tmp_path / "a-file").write_text("")
    assert ownfiles.default_dir({}, euid=0, run=str(tmp_path / "a-file")) == home_cache


def test_the_default_lock_dir_is_created_private(private_runtime_dir):
    with run_lock("/etc/a.conf", "backup") as path:
        assert os.path.dirname(path) == str(private_runtime_dir / "es-s3-snapshot")
        info = os.stat(os.path.dirname(path))
        assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.geteuid()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_symlink_in_place_of_the_default_lock_dir_is_refused(private_runtime_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, private_runtime_dir / "es-s3-snapshot")
    with pytest.raises(UnsafeFile, match="es-s3-snapshot is a symbolic link"):
        with run_lock("/etc/a.conf", "backup"):
            pass
    assert list(elsewhere.iterdir()) == []


# --- what is refused in a shared lock dir ----------------------------------------------------------


def test_a_symlink_at_the_lock_path_is_refused_and_its_target_untouched(tmp_path):
    shared, target = shared_dir(tmp_path), secret_target(tmp_path)
    os.symlink(target, lock_path("/etc/a.conf", "backup", str(shared)))
    with pytest.raises(UnsafeFile) as refused:
        with run_lock("/etc/a.conf", "backup", directory=str(shared)):
            pass
    assert "is a symbolic link owned by" in str(refused.value) and "refusing to open it" in str(refused.value)
    assert refused.value.exit_code == 3
    assert target.read_text() == "root's own data\n"


def test_a_dangling_symlink_at_the_lock_path_creates_nothing(tmp_path):
    shared = shared_dir(tmp_path)
    os.symlink(tmp_path / "would-be-created", lock_path("/etc/a.conf", "backup", str(shared)))
    with pytest.raises(UnsafeFile, match="symbolic link"):
        with run_lock("/etc/a.conf", "backup", directory=str(shared)):
            pass
    assert not (tmp_path / "would-be-created").exists()


def test_a_fifo_at_the_lock_path_is_refused_without_blocking(tmp_path):
    shared = shared_dir(tmp_path)
    os.mkfifo(lock_path("/etc/a.conf", "backup", str(shared)))
    with pytest.raises(UnsafeFile, match="is a FIFO owned by"):
        with run_lock("/etc/a.conf", "backup", directory=str(shared)):
            pass


def test_a_hard_link_at_the_lock_path_is_refused_and_its_other_name_untouched(tmp_path):
    shared, target = shared_dir(tmp_path), secret_target(tmp_path)
    os.link(target, lock_path("/etc/a.conf", "backup", str(shared)))
    with pytest.raises(UnsafeFile, match="has 2 hard links"):
        with run_lock("/etc/a.conf", "backup", directory=str(shared)):
            pass
    assert target.read_text() == "root's own data\n"


@as_root
def test_a_lock_file_of_another_user_is_refused_naming_the_owner_not_busy(tmp_path):
    shared = shared_dir(tmp_path)
    planted = lock_path("/etc/a.conf", "backup", str(shared))
    with open(planted, "w") as handle:
        handle.write("pid=1 started=then\n")
    os.chown(planted, NOBODY, NOBODY)
    with pytest.raises(UnsafeFile) as refused:
        with run_lock("/etc/a.conf", "backup", directory=str(shared)):
            pass
    assert f"{planted} is owned by " in str(refused.value) and f"(uid {NOBODY})" in str(refused.value)
    assert "pid=1 started=then\n" == open(planted).read()


def test_a_group_writable_lock_dir_without_the_sticky_bit_is_refused(tmp_path):
    shared = shared_dir(tmp_path, mode=0o777)
    with pytest.raises(UnsafeFile, match=r"writable by group or others without the sticky bit \(mode 0777\)"):
        with run_lock("/etc/a.conf", "backup", directory=str(shared)):
            pass
    assert list(shared.iterdir()) == []


@as_root
def test_a_lock_dir_of_another_user_is_refused(tmp_path):
    theirs = shared_dir(tmp_path, mode=0o755)
    os.chown(theirs, NOBODY, NOBODY)
    with pytest.raises(UnsafeFile, match=rf"owned by .*uid {NOBODY}.*its owner could replace"):
        with run_lock("/etc/a.conf", "backup", directory=str(theirs)):
            pass


def test_a_sticky_shared_lock_dir_works_for_files_of_the_runner(tmp_path):
    shared = shared_dir(tmp_path)
    with run_lock("/etc/a.conf", "backup", directory=str(shared)) as path:
        assert "pid=" in open(path).read()
    with run_lock("/etc/a.conf", "backup", directory=str(shared)):  # a stale file of ours is locked again
        pass


def test_cli_refuses_a_planted_lock_symlink_with_exit_3_and_one_line(tmp_path, write_config, capsys):
    shared, target = shared_dir(tmp_path), secret_target(tmp_path)
    path = write_config(f"[lock]\ndir = {shared}\n")
    os.symlink(target, lock_path(path, "list", str(shared)))
    assert cli.main(["-m", "list", "-c", path]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ERROR" in err[0] and "is a symbolic link owned by" in err[0], err
    assert target.read_text() == "root's own data\n"


# --- report files ----------------------------------------------------------------------------------


def report(code=0):
    return Report("backup", "/etc/x.conf", "repo1", 1000.0, 1100.0, code, "ok")


def test_a_symlink_at_the_json_report_is_refused_logged_and_its_target_untouched(tmp_path, caplog):
    target = secret_target(tmp_path)
    link = tmp_path / "r.json"
    os.symlink(target, link)
    with caplog.at_level(logging.ERROR):
        write_reports(ReportConfig(json_file=str(link)), report())
    assert target.read_text() == "root's own data\n" and os.path.islink(link)
    assert any(
        "cannot write the run report" in r.getMessage() and "symbolic link" in r.getMessage() for r in caplog.records
    )


def test_a_symlink_at_the_prometheus_file_is_refused_and_its_target_untouched(tmp_path, caplog):
    target = secret_target(tmp_path)
    link = tmp_path / "es.prom"
    os.symlink(target, link)
    with caplog.at_level(logging.ERROR):
        write_reports(ReportConfig(prometheus_file=str(link)), report(), str(tmp_path))
    assert target.read_text() == "root's own data\n" and os.path.islink(link)
    assert any("symbolic link" in r.getMessage() for r in caplog.records)


def test_prometheus_lock_lives_in_the_lock_dir_not_beside_the_file(tmp_path, private_runtime_dir):
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    write_reports(ReportConfig(prometheus_file=str(textfiles / "es.prom")), report())
    assert [p.name for p in textfiles.iterdir()] == ["es.prom"]
    locks = os.listdir(private_runtime_dir / "es-s3-snapshot")
    assert len(locks) == 1 and locks[0].startswith("es-s3-snapshot-prometheus-")


def test_report_in_a_world_writable_dir_without_sticky_bit_is_refused(tmp_path, caplog):
    shared = shared_dir(tmp_path, mode=0o777)
    with caplog.at_level(logging.ERROR):
        write_reports(ReportConfig(json_file=str(shared / "r.json")), report())
    assert list(shared.iterdir()) == []
    assert any("without the sticky bit" in r.getMessage() for r in caplog.records)


def test_report_temporary_is_created_exclusively_and_never_through_a_link(tmp_path, monkeypatch):
    flags = []
    real_open = os.open

    def spy(path, flag, *args, **kwargs):
        if str(path).endswith(".tmp"):
            flags.append(flag)
        return real_open(path, flag, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    write_reports(ReportConfig(json_file=str(tmp_path / "r.json")), report())
    assert len(flags) == 1 and flags[0] & os.O_EXCL and flags[0] & os.O_NOFOLLOW
    assert stat.S_IMODE(os.stat(tmp_path / "r.json").st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_cli_refuses_a_report_path_that_is_a_symlink_before_the_run_exit_3(tmp_path, write_config, capsys):
    target = secret_target(tmp_path)
    os.symlink(target, tmp_path / "r.json")
    path = write_config(f"[report]\njson_file = {tmp_path / 'r.json'}\n")
    assert cli.main(["-m", "list", "-c", path]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "refusing to write the run report there" in err[0], err  # not said again after the run
    assert target.read_text() == "root's own data\n"


@pytest.mark.parametrize("code,outcome", [(129, "hung_up"), (130, "interrupted"), (143, "terminated"), (1, "failed")])
def test_signals_have_their_own_outcomes(code, outcome):
    assert report(code).outcome == outcome


# --- config permissions --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o666, 0o602, 0o646])
def test_a_config_writable_by_others_is_refused_with_the_fix(write_config, mode):
    path = write_config()
    os.chmod(path, mode)
    with pytest.raises(ConfigError) as refused:
        load(path, environ={})
    assert str(refused.value) == (
        f"{path} is writable by others (mode {mode:04o}): anyone on this host could point the tool at their "
        f"own cluster and receive its credentials: chmod o-w {path}"
    )


def test_cli_exits_3_for_a_config_writable_by_others(write_config, capsys):
    path = write_config()
    os.chmod(path, 0o666)
    assert cli.main(["-m", "list", "-c", path]) == 3
    assert f"chmod o-w {path}" in capsys.readouterr().err


def test_a_config_writable_by_its_group_is_a_warning(write_config, caplog):
    path = write_config()
    os.chmod(path, 0o620)
    with caplog.at_level(logging.WARNING):
        load(path, environ={})
    warnings = [r.getMessage() for r in caplog.records if "writable" in r.getMessage()]
    assert len(warnings) == 1 and "is writable by its group (mode 0620)" in warnings[0]
    assert warnings[0].endswith(f"chmod g-w {path}")


def test_a_private_config_gets_no_permission_warning(write_config, caplog):
    path = write_config("[source]\nusername = u\npassword = pw\n")
    with caplog.at_level(logging.WARNING):
        load(path, environ={})
    assert not [r for r in caplog.records if "writable" in r.getMessage() or "readable" in r.getMessage()]


@as_root
def test_a_config_owned_by_another_user_is_refused(write_config):
    path = write_config()
    os.chown(path, NOBODY, NOBODY)
    with pytest.raises(ConfigError, match=rf"owned by .*uid {NOBODY}.*not by root .*or root: its owner could point"):
        load(path, environ={})


# --- credentials in clear --------------------------------------------------------------------------

REMOTE = "[elasticsearch_config]\nes_repository_name = repo1\nindex_names = a\nes_src_seed1 = {src}\nes_dest_seed1 = {dest}\n"


def clear_warnings(write_config, caplog, src, dest, extra):
    base = "[aws_s3_config]\ns3_bucket_name = b\n" + REMOTE.format(src=src, dest=dest)
    with caplog.at_level(logging.WARNING):
        load(write_config(extra, base=base), environ={"PW": "Sup3rSecret"})
    return [r.getMessage() for r in caplog.records if "in clear" in r.getMessage()]


def test_basic_auth_to_a_remote_http_seed_is_warned_once_per_side(write_config, caplog):
    extra = "[source]\nusername = u\npassword = Sup3rSecret\n[destination]\napi_key = kid:Sup3rKey\n"
    warnings = clear_warnings(write_config, caplog, "10.0.0.5:9200", "http://db.example:9200", extra)
    assert len(warnings) == 2
    assert "the source cluster's basic-auth password goes in clear over http:// to http://10.0.0.5:9200" in warnings[0]
    assert "the destination cluster's API key goes in clear over http:// to http://db.example:9200" in warnings[1]
    assert not any("Sup3r" in w for w in warnings)


def test_password_from_the_environment_is_warned_too(write_config, caplog):
    extra = "[source]\nusername = u\npassword_env = PW\n"
    warnings = clear_warnings(write_config, caplog, "10.0.0.5:9200", "10.0.0.6:9200", extra)
    assert len(warnings) == 1 and "source" in warnings[0] and "Sup3rSecret" not in warnings[0]


@pytest.mark.parametrize(
    "seed", ["127.0.0.1:9200", "127.8.9.10:9200", "localhost:9200", "[::1]:9200", "https://10.0.0.5:9200"]
)
def test_no_warning_for_loopback_or_https_seeds(write_config, caplog, seed):
    extra = "[source]\nusername = u\npassword = pw\n"
    assert clear_warnings(write_config, caplog, seed, seed, extra) == []


@pytest.mark.parametrize(
    "extra", ["", "[source]\nauth = sigv4\naws_access_key = A\naws_secret_key = S\naws_region = eu-west-1\n"]
)
def test_no_warning_without_credentials_or_with_sigv4(write_config, caplog, extra):
    assert clear_warnings(write_config, caplog, "10.0.0.5:9200", "10.0.0.6:9200", extra) == []


def test_only_the_sides_the_run_loads_are_warned_about(write_config, caplog):
    base = "[aws_s3_config]\ns3_bucket_name = b\n" + REMOTE.format(src="10.0.0.5:9200", dest="10.0.0.6:9200")
    path = write_config(
        "[source]\nusername = u\npassword = pw\n[destination]\nusername = u\npassword = pw\n", base=base
    )
    with caplog.at_level(logging.WARNING):
        load(path, environ={}, sides=("destination",))
    warnings = [r.getMessage() for r in caplog.records if "in clear" in r.getMessage()]
    assert len(warnings) == 1 and "the destination cluster's" in warnings[0]


# --- snapshot lists read the repository: long_request_timeout ---------------------------------------


def test_snapshot_listing_gets_the_long_request_timeout(engine):
    from es_s3_snapshot.cluster import Cluster
    from es_s3_snapshot.snapshots import list_snapshots

    engine.repos["repo1"] = {"type": "fs", "settings": {"location": "/x"}}
    engine.add_snapshot("repo1", "s1", ["a"])
    cluster = Cluster("source", ("http://127.0.0.1:1",), engine, request_timeout=7, long_request_timeout=321)
    assert [s.name for s in list_snapshots(cluster, "repo1", paginate=False)] == ["s1"]
    assert [o["request_timeout"] for o in engine.options] == [321]


@pytest.mark.parametrize("signum,outcome", [(15, "terminated"), (1, "hung_up")])
def test_a_run_ended_by_sigterm_or_sighup_is_reported_as_its_own_outcome(
    monkeypatch, write_config, tmp_path, signum, outcome
):
    import json

    from es_s3_snapshot.config import load as load_config
    from es_s3_snapshot.errors import Signalled

    path = write_config(f"[report]\njson_file = {tmp_path / 'r.json'}\n")

    def ended(args, redactor, run):
        run.config = load_config(path, environ={})
        raise Signalled(signum)

    monkeypatch.setattr(cli, "run_mode", ended)
    assert cli.main(["-m", "backup", "-c", path]) == 128 + signum
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["outcome"] == outcome and report["exit_code"] == 128 + signum
