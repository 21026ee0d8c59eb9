"""The snapshot cache of list and prune: the same answers with a cold and a warm cache, fewer
requests when warm, and a cache file that is never a reason to fail."""

import json
import logging
import os

import pytest

from es_s3_snapshot import cli
from es_s3_snapshot.actions import get_mode
from es_s3_snapshot.errors import ConfigError
from es_s3_snapshot.snapcache import SnapshotCache, default_dir
from es_s3_snapshot.snapshots import ONE_BY_ONE

from .test_prune_and_list import OURS, REPO, RETENTION, ctx_for, seeded

CONF = RETENTION.replace("\n[elasticsearch_config]\n", "\n")
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="playing another user needs root (CI runs as root)")


@pytest.fixture
def config(load_config):
    return load_config(CONF)


def varied(engine):
    """Snapshots in every state list and prune tell apart, some ours, one by hand."""
    seeded(engine, 4)
    engine.add_snapshot("repo1", "nightly-05", ["logs-a"], start=5000, metadata=OURS, state="PARTIAL")
    engine.add_snapshot("repo1", "nightly-06", ["logs-a"], start=6000, metadata=OURS, state="FAILED")
    engine.add_snapshot("repo1", "nightly-07", ["logs-a"], start=7000, metadata=OURS, state="IN_PROGRESS")
    engine.snapshots[("repo1", "nightly-03")]["end_time_in_millis"] = 3500


def run(make_ctx, config, mode, *, as_json=True, dry_run=False):
    """Run list (as JSON) or prune --dry-run; returns the lines it printed."""
    ctx, lines, _ = ctx_for(make_ctx, config, dry_run=dry_run)
    ctx.as_json = as_json
    get_mode(mode)(ctx)
    return lines


def snapshot_reads(engine, since=0):
    """(verbose listings, short listings, one-snapshot GETs) sent since request number ``since``."""
    gets = [(p, q) for m, p, q, _ in engine.requests[since:] if m == "GET" and p.startswith("/_snapshot/repo1/")]
    verbose = [p for p, q in gets if p.endswith("/_all") and q.get("verbose") != "false"]
    short = [p for p, q in gets if p.endswith("/_all") and q.get("verbose") == "false"]
    return verbose, short, sorted(p.rsplit("/", 1)[1] for p, _ in gets if not p.endswith("/_all"))


def cache_files(root):
    return sorted((root / "es-s3-snapshot").glob("snapshots-*.json"))


@pytest.mark.parametrize("mode,dry_run", [("list", False), ("prune", True)])
def test_cold_and_warm_cache_give_what_no_cache_gives(engine, make_ctx, load_config, config, mode, dry_run):
    varied(engine)
    off = load_config(CONF + "[cache]\nenabled = false\n")
    without = run(make_ctx, off, mode, dry_run=dry_run)
    start = len(engine.requests)
    cold = run(make_ctx, config, mode, dry_run=dry_run)
    cold_reads = snapshot_reads(engine, start)
    start = len(engine.requests)
    warm = run(make_ctx, config, mode, dry_run=dry_run)
    assert cold == without and warm == without
    assert cold_reads == ([], ["/_snapshot/repo1/_all"], sorted(n for _, n in engine.snapshots))
    # warm: the short listing, and the one snapshot still running, read afresh
    assert snapshot_reads(engine, start) == ([], ["/_snapshot/repo1/_all"], ["nightly-07"])


def test_cache_keeps_ended_snapshots_only_with_the_fields_list_and_prune_use(
    engine, make_ctx, config, private_cache_dir
):
    varied(engine)
    run(make_ctx, config, "list")
    [path] = cache_files(private_cache_dir)
    data = json.loads(path.read_text())
    assert data["format"] == "es-s3-snapshot snapshot cache" and data["version"] == 1
    assert data["cluster"] == "fake-cluster-uuid" and data["repository"] == "repo1"
    kept = {values[0]: values for values in data["snapshots"].values()}
    assert set(kept) == {"nightly-01", "nightly-02", "nightly-03", "nightly-04", "nightly-05", "nightly-06", "by-hand"}
    assert kept["nightly-03"] == ["nightly-03", "SUCCESS", 3.0, 3.5, 1, 1, 0, 1, "es-s3-snapshot"]
    assert set(data["snapshots"]) == {engine.snapshots[("repo1", n)]["uuid"] for n in kept}
    assert oct(path.stat().st_mode & 0o777) == "0o644" and oct((path.parent.stat().st_mode) & 0o777) == "0o700"


def test_a_snapshot_deleted_and_taken_again_under_its_name_shows_its_new_details(engine, make_ctx, config):
    varied(engine)
    run(make_ctx, config, "list")
    del engine.snapshots[("repo1", "nightly-02")]
    engine.add_snapshot("repo1", "nightly-02", ["logs-a", "logs-b"], start=9000, state="PARTIAL")
    start = len(engine.requests)
    data = json.loads("\n".join(run(make_ctx, config, "list")))
    again = next(s for s in data if s["name"] == "nightly-02")
    assert again["state"] == "PARTIAL" and again["indices"] == 2 and again["taken_by_us"] is False
    assert again["start"] == "1970-01-01T00:00:09Z" and data[0]["name"] == "nightly-02"
    assert snapshot_reads(engine, start)[2] == ["nightly-02", "nightly-07"]


def test_a_snapshot_in_progress_is_read_afresh_until_it_ends(engine, make_ctx, config, private_cache_dir):
    varied(engine)
    first = json.loads("\n".join(run(make_ctx, config, "list")))
    assert next(s for s in first if s["name"] == "nightly-07")["state"] == "IN_PROGRESS"
    running = engine.snapshots[("repo1", "nightly-07")]
    assert running["uuid"] not in json.loads(cache_files(private_cache_dir)[0].read_text())["snapshots"]
    running.update(state="SUCCESS", end_time_in_millis=7600)
    second = json.loads("\n".join(run(make_ctx, config, "list")))
    assert next(s for s in second if s["name"] == "nightly-07")["state"] == "SUCCESS"
    start = len(engine.requests)
    assert json.loads("\n".join(run(make_ctx, config, "list"))) == second
    assert snapshot_reads(engine, start) == ([], ["/_snapshot/repo1/_all"], [])


def test_a_warm_run_that_learns_nothing_leaves_the_file_as_it_is(engine, make_ctx, config, private_cache_dir):
    varied(engine)
    run(make_ctx, config, "list")
    [path] = cache_files(private_cache_dir)
    before = path.stat()
    run(make_ctx, config, "list")
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    del engine.snapshots[("repo1", "nightly-01")]
    run(make_ctx, config, "list")
    assert path.stat().st_ino != before.st_ino and len(json.loads(path.read_text())["snapshots"]) == 6


def test_a_listed_state_other_than_the_kept_one_is_read_afresh(engine, make_ctx, config):
    varied(engine)
    run(make_ctx, config, "list")
    engine.snapshots[("repo1", "nightly-03")]["state"] = "PARTIAL"  # never seen on an engine: read it again
    start = len(engine.requests)
    data = json.loads("\n".join(run(make_ctx, config, "list")))
    assert next(s for s in data if s["name"] == "nightly-03")["state"] == "PARTIAL"
    assert snapshot_reads(engine, start)[2] == ["nightly-03", "nightly-07"]


def test_a_few_new_snapshots_are_read_one_by_one(engine, make_ctx, config):
    varied(engine)
    run(make_ctx, config, "list")
    for n in range(3):
        engine.add_snapshot("repo1", f"new-{n}", ["logs-a"], start=10_000 + n)
    start = len(engine.requests)
    run(make_ctx, config, "list")
    assert snapshot_reads(engine, start) == ([], ["/_snapshot/repo1/_all"], ["new-0", "new-1", "new-2", "nightly-07"])


def test_many_new_snapshots_are_read_in_the_one_verbose_listing(engine, make_ctx, config):
    varied(engine)
    run(make_ctx, config, "list")
    for n in range(ONE_BY_ONE + 1):
        engine.add_snapshot("repo1", f"new-{n:03d}", ["logs-a"], start=10_000 + n)
    start = len(engine.requests)
    lines = run(make_ctx, config, "list")
    assert snapshot_reads(engine, start) == (["/_snapshot/repo1/_all"], ["/_snapshot/repo1/_all"], [])
    assert len(json.loads("\n".join(lines))) == len(engine.snapshots)
    start = len(engine.requests)
    assert run(make_ctx, config, "list") == lines
    assert snapshot_reads(engine, start) == ([], ["/_snapshot/repo1/_all"], ["nightly-07"])


def test_a_snapshot_deleted_between_the_listing_and_its_read_is_left_out(engine, make_ctx, config, monkeypatch):
    varied(engine)
    real = engine._snapshot_api

    def delete_first(method, seg, params, body):
        if seg[1:] == ["nightly-04"]:
            engine.snapshots.pop(("repo1", "nightly-04"), None)
        return real(method, seg, params, body)

    monkeypatch.setattr(engine, "_snapshot_api", delete_first)
    data = json.loads("\n".join(run(make_ctx, config, "list")))
    assert "nightly-04" not in [s["name"] for s in data] and len(data) == len(engine.snapshots)


def test_cache_off_reads_the_verbose_listing_and_writes_nothing(engine, make_ctx, load_config, private_cache_dir):
    varied(engine)
    off = load_config(CONF + "[cache]\nenabled = false\n")
    run(make_ctx, off, "list")
    assert snapshot_reads(engine) == (["/_snapshot/repo1/_all"], [], [])
    assert not (private_cache_dir / "es-s3-snapshot").exists()


def test_cache_dir_moves_the_file(engine, make_ctx, load_config, tmp_path, private_cache_dir):
    varied(engine)
    moved = tmp_path / "moved"
    moved.mkdir(mode=0o700)
    run(make_ctx, load_config(f"[cache]\ndir = {moved}\n"), "list")
    assert len(list(moved.glob("snapshots-*.json"))) == 1 and not cache_files(private_cache_dir)


def test_cache_dir_that_does_not_exist_is_a_config_error(load_config):
    with pytest.raises(ConfigError, match=r"\[cache\] dir names a directory that does not exist"):
        load_config("[cache]\ndir = /no/such/dir\n")


def _damage(path, how):
    if how == "not json":
        path.write_text("{not json")
    elif how == "bad entry":
        data = json.loads(path.read_text())
        data["snapshots"][next(iter(data["snapshots"]))][1] = "IN_PROGRESS"
        path.write_text(json.dumps(data))
    elif how == "unknown format":
        data = json.loads(path.read_text())
        data["version"] = 99
        path.write_text(json.dumps(data))
    elif how == "wrong types":
        data = json.loads(path.read_text())
        data["snapshots"][next(iter(data["snapshots"]))][4] = "3"
        path.write_text(json.dumps(data))
    elif how == "empty":
        path.write_text("")


@pytest.mark.parametrize("how", ["not json", "bad entry", "unknown format", "wrong types", "empty"])
def test_a_damaged_cache_file_is_ignored_and_written_anew(engine, make_ctx, config, private_cache_dir, caplog, how):
    varied(engine)
    expected = run(make_ctx, config, "list")
    [path] = cache_files(private_cache_dir)
    good = json.loads(path.read_text())
    _damage(path, how)
    caplog.set_level(logging.DEBUG, logger="es_s3_snapshot.snapcache")
    start = len(engine.requests)
    assert run(make_ctx, config, "list") == expected
    assert len(snapshot_reads(engine, start)[2]) == len(engine.snapshots)  # nothing taken from it
    said = [r for r in caplog.records if r.name == "es_s3_snapshot.snapcache" and "is " in r.getMessage()]
    if how != "empty":
        assert len(said) == 1 and str(path) in said[0].getMessage()
    assert json.loads(path.read_text()) == good


def test_a_symbolic_link_in_place_of_the_cache_file_is_never_followed(
    engine, make_ctx, config, private_cache_dir, tmp_path, caplog
):
    varied(engine)
    expected = run(make_ctx, config, "list")
    [path] = cache_files(private_cache_dir)
    target = tmp_path / "victim"
    target.write_text("precious")
    path.unlink()
    path.symlink_to(target)
    assert run(make_ctx, config, "list") == expected
    assert target.read_text() == "precious" and path.is_symlink()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "is not used" in warnings[0] and "symbolic link" in warnings[0], warnings


@as_root
def test_a_cache_file_of_another_owner_is_ignored_and_left_alone(engine, make_ctx, config, private_cache_dir, caplog):
    varied(engine)
    expected = run(make_ctx, config, "list")
    [path] = cache_files(private_cache_dir)
    _damage(path, "bad entry")  # so that reading it would show
    os.chown(path, 65534, 65534)
    before = path.read_text()
    assert run(make_ctx, config, "list") == expected
    assert path.read_text() == before and path.stat().st_uid == 65534
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "owned by nobody" in warnings[0], warnings


def test_a_cache_directory_others_can_write_is_not_used(engine, make_ctx, load_config, tmp_path, caplog):
    varied(engine)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    lines = run(make_ctx, load_config(f"[cache]\ndir = {shared}\n"), "list")
    assert len(json.loads("\n".join(lines))) == len(engine.snapshots)
    assert list(shared.iterdir()) == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "writable by group or others" in warnings[0], warnings


def test_default_cache_dir_for_users_and_root(tmp_path):
    private = tmp_path / "xdg"
    private.mkdir(mode=0o700)
    me = os.geteuid()
    assert default_dir({"XDG_CACHE_HOME": str(private)}, me) == str(private / "es-s3-snapshot")
    assert default_dir({"XDG_CACHE_HOME": "relative"}, 0) == "/var/cache/es-s3-snapshot"
    assert default_dir({"XDG_CACHE_HOME": str(private)}, me + 1) in (
        "/var/cache/es-s3-snapshot",
        os.path.join(os.path.expanduser("~"), ".cache", "es-s3-snapshot"),
    )
    os.chmod(private, 0o777)
    assert default_dir({"XDG_CACHE_HOME": str(private)}, 0 if me == 0 else me) != str(private / "es-s3-snapshot")
    assert default_dir({}, 1000).endswith("/.cache/es-s3-snapshot")
    if me == 0:  # no (or a read-only) /var/cache, as in some containers: the home's cache
        assert default_dir({}, 0, var=str(tmp_path / "missing")).endswith("/.cache/es-s3-snapshot")
        assert default_dir({}, 0, var=str(tmp_path)) == str(tmp_path / "es-s3-snapshot")


def test_each_cluster_and_repository_has_its_own_file(tmp_path):
    names = {SnapshotCache(str(tmp_path), c, r).path for c in ("a", "b") for r in ("r1", "r2")}
    assert len(names) == 4


def test_cluster_without_get_root_is_known_by_its_name(engine, make_ctx, config, private_cache_dir, monkeypatch):
    varied(engine)
    real = engine._route
    monkeypatch.setattr(
        engine,
        "_route",
        lambda m, p, q, b: (
            (405, {"error": "Incorrect HTTP method"})
            if p == "/"
            else (200, {"cluster_name": "fake", "nodes": {"n1": {"version": "9.2.4"}}})
            if p == "/_nodes/_local"
            else real(m, p, q, b)
        ),
    )
    run(make_ctx, config, "list")
    [path] = cache_files(private_cache_dir)
    assert json.loads(path.read_text())["cluster"] == "name:fake"


def test_prune_dry_run_on_a_read_only_registration_prints_the_plan_and_the_refusal_exit_0(
    monkeypatch, write_config, capsys
):
    from .fake_engine import FakeEngine

    engine = FakeEngine()
    monkeypatch.setattr("es_s3_snapshot.clients.build_transport", lambda side, **kwargs: engine)
    seeded(engine)
    engine.repos["repo1"] = {"type": "s3", "settings": {**REPO["settings"], "readonly": "true"}}
    code = cli.main(["-m", "prune", "--dry-run", "-c", write_config(CONF)])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and engine.changed() == []
    assert any(line.startswith("delete  nightly-03") for line in out)
    assert out[-1].startswith("DRY RUN: would delete 3 of 6 snapshots in repository repo1; nothing was deleted; ")
    assert "a real prune would refuse to run (exit 1): repository repo1 is registered read-only" in out[-1]
    assert engine.repos["repo1"]["settings"]["readonly"] == "true"
    # and the real prune still refuses
    assert cli.main(["-m", "prune", "-c", write_config(CONF)]) == 1 and len(engine.snapshots) == 6


def test_prune_dry_run_still_refuses_a_registration_that_points_elsewhere(monkeypatch, write_config, capsys):
    from .fake_engine import FakeEngine

    engine = FakeEngine()
    monkeypatch.setattr("es_s3_snapshot.clients.build_transport", lambda side, **kwargs: engine)
    seeded(engine)
    engine.repos["repo1"] = {"type": "s3", "settings": {"bucket": "other", "readonly": "true"}}
    code = cli.main(["-m", "prune", "--dry-run", "-c", write_config(CONF)])
    assert code == 1 and "already points at s3://other" in capsys.readouterr().err
