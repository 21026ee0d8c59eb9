"""list and prune over the fake engine: output, JSON, batching, busy answers, prune after backup."""

import json
from datetime import datetime, timezone

import pytest

from es_s3_snapshot import cli
from es_s3_snapshot.actions import get_mode
from es_s3_snapshot.actions.prune import _batches
from es_s3_snapshot.errors import ConfigError, WaitTimeout

from .fake_engine import FakeEngine

OURS = {"taken_by": "es-s3-snapshot"}
RETENTION = "\n[elasticsearch_config]\nsnapshot_name = nightly-%d\n[retention]\nkeep_last = 2\n"
REPO = {"type": "s3", "settings": {"bucket": "backups", "base_path": "es"}}


def seeded(engine, count=5):
    engine.repos["repo1"] = dict(REPO)
    engine.add_index("logs-a")
    for n in range(1, count + 1):
        engine.add_snapshot("repo1", f"nightly-{n:02d}", ["logs-a"], start=n * 1000, metadata=OURS)
    engine.add_snapshot("repo1", "by-hand", ["logs-a"], start=500)


def names(engine):
    return sorted(name for _, name in engine.snapshots)


@pytest.fixture
def config(load_config):
    return load_config(RETENTION.replace("\n[elasticsearch_config]\n", "\n"))


def ctx_for(make_ctx, config, **kwargs):
    ctx, lines, clock = make_ctx(config, **kwargs)
    ctx.now = lambda: datetime(2026, 1, 1, tzinfo=timezone.utc)
    return ctx, lines, clock


def test_prune_deletes_in_one_batch_and_leaves_snapshots_made_by_hand(engine, make_ctx, config):
    seeded(engine)
    ctx, lines, _ = ctx_for(make_ctx, config)
    get_mode("prune")(ctx)
    assert names(engine) == ["by-hand", "nightly-04", "nightly-05"]
    assert [p for m, p in engine.changed() if m == "DELETE"] == ["/_snapshot/repo1/nightly-03,nightly-02,nightly-01"]
    assert ctx.result.deleted == ["nightly-03", "nightly-02", "nightly-01"]
    assert lines[-1] == "pruned repository repo1: deleted 3 snapshots, kept 3"
    assert any(line.startswith("deleted nightly-01  SUCCESS") and "(no rule keeps it)" in line for line in lines)


def test_prune_dry_run_prints_the_plan_and_deletes_nothing(engine, make_ctx, config):
    seeded(engine)
    ctx, lines, _ = ctx_for(make_ctx, config, dry_run=True)
    get_mode("prune")(ctx)
    assert len(names(engine)) == 6 and not [m for m, _ in engine.changed() if m == "DELETE"]
    assert lines[-1].startswith("DRY RUN: would delete 3 of 6 snapshots")
    assert any(line.startswith("keep    by-hand") and "not taken by es-s3-snapshot" in line for line in lines)
    assert any(line.startswith("keep    nightly-05") and "newest SUCCESS, keep_last" in line for line in lines)
    assert any(line.startswith("delete  nightly-03") for line in lines)


def test_prune_falls_back_to_one_at_a_time_where_batches_are_refused(engine, make_ctx, config):
    seeded(engine)
    engine.single_delete_only = True
    ctx, _, _ = ctx_for(make_ctx, config)
    get_mode("prune")(ctx)
    assert names(engine) == ["by-hand", "nightly-04", "nightly-05"]
    deletes = [p for m, p in engine.changed() if m == "DELETE"]
    assert deletes[1:] == ["/_snapshot/repo1/nightly-03", "/_snapshot/repo1/nightly-02", "/_snapshot/repo1/nightly-01"]


def test_prune_waits_out_concurrent_snapshot_operations(engine, make_ctx, config):
    seeded(engine)
    engine.delete_busy_answers = 2
    ctx, _, clock = ctx_for(make_ctx, config)
    get_mode("prune")(ctx)
    assert names(engine) == ["by-hand", "nightly-04", "nightly-05"] and clock.sleeps == [5.0, 5.0]


def test_prune_gives_up_after_concurrent_wait(engine, make_ctx, load_config):
    seeded(engine)
    engine.delete_busy_answers = 1000
    config = load_config(RETENTION.replace("\n[elasticsearch_config]\n", "\n") + "[snapshot]\nconcurrent_wait = 20\n")
    ctx, _, clock = ctx_for(make_ctx, config)
    with pytest.raises(WaitTimeout, match=r"still busy .* after 20s \(concurrent_wait in \[snapshot\]\)"):
        get_mode("prune")(ctx)
    assert clock.now == 20 and len(names(engine)) == 6


def test_prune_without_a_rule_is_a_config_error(engine, make_ctx, load_config):
    seeded(engine)
    ctx, _, _ = ctx_for(make_ctx, load_config())
    with pytest.raises(ConfigError, match=r"\[retention\] sets no rule"):
        get_mode("prune")(ctx)


def test_batches_keep_each_request_line_under_4kb():
    names_ = [f"nightly-{'x' * 40}-{n}" for n in range(300)]
    batches = _batches(names_, "repo1")
    assert len(batches) > 3 and sum(batches, []) == names_
    assert all(len("/_snapshot/repo1/" + ",".join(b)) < 3100 for b in batches)


def test_list_prints_a_table_newest_first(engine, make_ctx, config):
    seeded(engine, 2)
    ctx, lines, _ = ctx_for(make_ctx, config)
    get_mode("list")(ctx)
    assert lines[0].split() == ["NAME", "STATE", "START", "(UTC)", "DURATION", "INDICES", "SHARDS", "OK/TOTAL", "OURS"]
    assert [line.split()[0] for line in lines[1:4]] == ["nightly-02", "nightly-01", "by-hand"]
    assert lines[1].split()[1:] == ["SUCCESS", "1970-01-01T00:00:02Z", "-", "1", "1/1", "yes"]
    assert lines[3].split()[-1] == "no"
    assert lines[-1] == "3 snapshots in repository repo1 on the source cluster"


def test_list_json_has_the_documented_keys(engine, make_ctx, config):
    seeded(engine, 1)
    ctx, lines, _ = ctx_for(make_ctx, config)
    ctx.as_json = True
    get_mode("list")(ctx)
    data = json.loads("\n".join(lines))
    assert [s["name"] for s in data] == ["nightly-01", "by-hand"]
    assert set(data[0]) == {
        "name",
        "state",
        "start",
        "end",
        "duration_s",
        "indices",
        "shards_total",
        "shards_failed",
        "taken_by_us",
    }
    assert data[0]["taken_by_us"] is True and data[1]["taken_by_us"] is False


@pytest.fixture
def fake(monkeypatch):
    engine = FakeEngine()
    engine.polls_until_done = 0
    monkeypatch.setattr("es_s3_snapshot.clients.build_transport", lambda side, **kwargs: engine)
    return engine


def test_prune_on_the_destination_is_refused_with_exit_3(fake, write_config, capsys):
    code = cli.main(["-m", "prune", "--on", "destination", "-c", write_config(RETENTION)])
    assert code == 3
    assert "prune runs on the source only" in capsys.readouterr().err


def test_json_flag_outside_list_is_a_usage_error(fake, write_config, capsys):
    assert cli.main(["-m", "backup", "--json", "-c", write_config()]) == 3


def test_second_run_of_the_same_config_and_mode_exits_75(fake, write_config, tmp_path, capsys):
    path = write_config(f"[lock]\ndir = {tmp_path}\n[report]\njson_file = {tmp_path}/r.json\n")
    from es_s3_snapshot.lock import run_lock

    with run_lock(path, "backup", directory=str(tmp_path)):
        code = cli.main(["-m", "backup", "-c", path])
    err = capsys.readouterr().err
    assert code == 75 and "holds the lock" in err and "pid " in err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["outcome"] == "busy" and report["exit_code"] == 75


def test_prune_after_backup_failure_exits_1_saying_the_backup_succeeded(fake, write_config, tmp_path, capsys):
    fake.add_index("logs-a")
    fake.add_index("logs-b")
    fake.repos["repo1"] = dict(REPO)
    for n in range(3):
        fake.add_snapshot("repo1", f"old-{n:012d}", ["logs-a"], start=n, metadata=OURS)
    fake.delete_busy_answers = 1000
    text = (
        "snapshot_name = old-%H%M%S%f\n[retention]\nkeep_last = 1\nprune_after_backup = true\n"
        f"[snapshot]\nconcurrent_wait = 0.01\n[report]\njson_file = {tmp_path}/r.json\n"
    )
    code = cli.main(["-m", "backup", "-c", write_config(text)])
    out, err = capsys.readouterr()
    assert code == 1
    assert ": SUCCESS, 2 indices" in out
    assert "succeeded, but the prune after it failed: snapshots in repo1 could not be deleted" in err
    assert "the backup repo1/old-" in err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["exit_code"] == 1 and report["snapshot"].startswith("old-") and report["bytes"] == 1000
    assert report["indices"] == ["logs-a", "logs-b"]


def test_prune_after_backup_deletes_and_reports(fake, write_config, tmp_path, capsys):
    fake.add_index("logs-a")
    fake.add_index("logs-b")
    fake.repos["repo1"] = dict(REPO)
    for n in range(3):
        fake.add_snapshot("repo1", f"old-{n:012d}", ["logs-a"], start=n, metadata=OURS)
    text = (
        "snapshot_name = old-%H%M%S%f\n[retention]\nkeep_last = 1\nprune_after_backup = true\n"
        f"[report]\njson_file = {tmp_path}/r.json\nprometheus_file = {tmp_path}/m.prom\n"
    )
    code = cli.main(["-m", "backup", "-c", write_config(text)])
    assert code == 0, capsys.readouterr()
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["deleted_snapshots"] == ["old-000000000002", "old-000000000001", "old-000000000000"]
    assert report["message"].startswith("backup repo1/old-")
    assert report["message"].endswith("succeeded; pruned repository repo1: deleted 3 snapshots, kept 1")
    assert (
        'es_s3_snapshot_snapshots_deleted_total{mode="backup",repository="repo1"} 3'
        in (tmp_path / "m.prom").read_text()
    )


def test_readme_retention_snippet_loads(load_config):
    from pathlib import Path

    text = (Path(__file__).parents[2] / "README.md").read_text().split("## List, prune and retention", 1)[1]
    snippet = text.split("```ini\n", 1)[1].split("```", 1)[0]
    retention = load_config(snippet).retention
    assert (retention.keep_last, retention.keep_daily, retention.keep_yearly) == (7, 14, 3)
    assert retention.max_age == 30 * 86400 and retention.min_count == 1


class Pager:
    """A transport answering the snapshot listing in pages (Elasticsearch) or refusing size (old engines)."""

    def __init__(self, total, refuse_size=False):
        self.total, self.refuse_size, self.targets = total, refuse_size, []

    def perform_request(self, method, target, **kwargs):
        from types import SimpleNamespace
        from urllib.parse import parse_qsl, urlsplit

        self.targets.append(target)
        params = dict(parse_qsl(urlsplit(target).query))
        snaps = [{"snapshot": f"s{n}", "state": "SUCCESS", "start_time_in_millis": 1000 + n} for n in range(self.total)]
        if "size" in params:
            if self.refuse_size:
                body = {"error": {"type": "illegal_argument_exception", "reason": "unrecognized parameter: [size]"}}
                return SimpleNamespace(meta=SimpleNamespace(status=400), body=body)
            start, size = int(params.get("after", 0)), int(params["size"])
            page = snaps[start : start + size]
            body = {"snapshots": page, "total": self.total}
            if start + size < self.total:
                body["next"] = str(start + size)
            return SimpleNamespace(meta=SimpleNamespace(status=200), body=body)
        return SimpleNamespace(meta=SimpleNamespace(status=200), body={"snapshots": snaps})


@pytest.mark.parametrize("paginate", [True, None])
def test_listing_follows_pages_where_the_engine_pages(paginate):
    from es_s3_snapshot.cluster import Cluster
    from es_s3_snapshot.snapshots import list_snapshots

    pager = Pager(450)
    found = list_snapshots(Cluster("source", ("http://x",), pager), "r", paginate=paginate, page_size=200)
    assert [s.name for s in found] == [f"s{n}" for n in range(450)]
    assert len(pager.targets) == 3 and "after=400" in pager.targets[-1]


@pytest.mark.parametrize("paginate,requests", [(False, 1), (None, 2)])
def test_listing_without_pages_asks_once(paginate, requests):
    from es_s3_snapshot.cluster import Cluster
    from es_s3_snapshot.snapshots import list_snapshots

    pager = Pager(450, refuse_size=True)
    found = list_snapshots(Cluster("source", ("http://x",), pager), "r", paginate=paginate, page_size=200)
    assert len(found) == 450 and len(pager.targets) == requests and "size" not in pager.targets[-1]


@pytest.mark.parametrize(
    "extra,message",
    [
        ("[retention]\nmax_age = 30 days\n", "[retention] max_age must be a duration such as 30d"),
        ("[retention]\nkeep_daily = -1\n", "[retention] keep_daily must be 0 or more"),
        ("[retention]\nprune_after_backup = true\n", "[retention] prune_after_backup needs at least one rule"),
        ("[report]\nping_url = ftp://x/y\n", "[report] ping_url must be an http(s) URL"),
        ("[report]\njson_file = /no/such/dir/r.json\n", "[report] json_file is in a directory that does not exist"),
        ("[lock]\ndir = /no/such/dir\n", "[lock] dir names a directory that does not exist"),
    ],
)
def test_bad_retention_report_and_lock_values_name_section_and_key(load_config, extra, message):
    with pytest.raises(ConfigError) as err:
        load_config(extra)
    assert message in str(err.value)


def test_durations_and_defaults(load_config):
    config = load_config("[retention]\nmax_age = 12h\n[lock]\nwait = 30\n")
    assert config.retention.max_age == 43200 and config.retention.min_count == 1
    assert config.lock.wait == 30 and config.lock.dir is None and config.report.json_file is None


def test_help_lists_exit_75(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "75 busy" in capsys.readouterr().out


def test_prune_refuses_a_read_only_registration_and_deletes_nothing(engine, make_ctx, config):
    from es_s3_snapshot.errors import RepositoryError

    seeded(engine)
    engine.repos["repo1"] = {"type": "s3", "settings": {**REPO["settings"], "readonly": "true"}}
    ctx, _, _ = ctx_for(make_ctx, config)
    with pytest.raises(RepositoryError, match="registered read-only on the source cluster"):
        get_mode("prune")(ctx)
    assert engine.changed() == [] and len(names(engine)) == 6
