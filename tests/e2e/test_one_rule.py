"""One rule per decision, on real engines (#15): names matched exactly to their pattern, hidden
indices left out of wildcards at backup and restore time, a read-only registration never made
writable, a blocking answer without the snapshot followed in the cluster, and a migration with a
data stream that check, migrate and verify all find.

Runs on the session's ``versions`` stack (conftest.py): Elasticsearch 7.17 and 8.19, OpenSearch 1.3,
2.19 and 3.3 (``source``), with one shared fs path.repo. Alone:
``E2E_VERSION_NODES=es7,es8,os1,os2,source pytest tests/e2e/test_one_rule.py``.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.support.slow_proxy import SlowProxy

from .conftest import Api, fs_config, migration_config

ENGINES = ("es7", "es8", "os1", "source")


def api(stack, name):
    node = stack.nodes[name]
    return Api(node, node.admin_username, node.admin_password) if node.admin_username else Api(node)


def snapshot(api_, repo, name):
    return api_("GET", f"/_snapshot/{repo}/{name}")["snapshots"][0]


@pytest.mark.parametrize("name", ENGINES)
def test_wildcards_leave_hidden_indices_out_at_backup_and_restore_exact_names_take_them(
    versions, name, cli, write, unique
):
    node = versions.nodes[name]
    engine = api(versions, name)
    engine.seed(f"{unique}-app-a", 5)
    engine("PUT", f"/{unique}-app-hidden", {"settings": {"index.hidden": True, "number_of_replicas": 0}})
    engine("POST", f"/{unique}-app-hidden/_doc?refresh=true", {"n": 1}, ok=(201,))
    engine.seed(f"{unique}-app-closed", 2)
    engine("POST", f"/{unique}-app-closed/_close")
    repo = f"fs-{unique}"
    config = write(fs_config(node, unique, f"{unique}-app-*"))

    wild = cli("-m", "backup", "-c", config, "--snapshot", "wild")
    assert wild.code == 0, f"{node.engine} {node.version}: {wild!r}"
    # a closed index is an index like any other; a hidden one is left out
    assert sorted(snapshot(engine, repo, "wild")["indices"]) == [f"{unique}-app-a", f"{unique}-app-closed"]
    closed = cli("-m", "restore", "-c", config, "--snapshot", "wild", "--indices", f"{unique}-app-closed")
    assert closed.code == 0, f"{node.engine} {node.version}: {closed!r}"
    assert engine.count(f"back-{unique}-app-closed") == 2  # restored open, with its documents

    named = cli("-m", "backup", "-c", config, "--snapshot", "named", "--indices", f"{unique}-app-a,{unique}-app-hidden")
    assert named.code == 0, f"{node.engine} {node.version}: {named!r}"
    taken = snapshot(engine, repo, "named")
    assert sorted(taken["indices"]) == [f"{unique}-app-a", f"{unique}-app-hidden"]
    assert taken["metadata"]["hidden"] == [f"{unique}-app-hidden"]

    restore = cli("-m", "restore", "-c", config, "--snapshot", "named")  # app-*: the hidden one stays out
    assert restore.code == 0, f"{node.engine} {node.version}: {restore!r}"
    assert engine.count(f"back-{unique}-app-a") == 5
    assert not engine.exists(f"back-{unique}-app-hidden")
    exact = cli("-m", "restore", "-c", config, "--snapshot", "named", "--indices", f"{unique}-app-hidden")
    assert exact.code == 0, f"{node.engine} {node.version}: {exact!r}"
    assert engine.count(f"back-{unique}-app-hidden") == 1


@pytest.mark.parametrize("name", ("es8", "source"))
def test_prune_and_restore_match_snapshot_names_exactly(versions, name, cli, write, unique):
    node = versions.nodes[name]
    engine = api(versions, name)
    engine.seed(f"{unique}-pr", 3)
    config = write(
        fs_config(node, unique, f"{unique}-pr").replace(
            f"index_names = {unique}-pr\n", f"index_names = {unique}-pr\nsnapshot_name = pr-%Y%m%d-%H%M%S\n"
        )
        + "\n[retention]\nkeep_last = 1\n"
    )
    for _ in range(2):
        backup = cli("-m", "backup", "-c", config, "-q")
        assert backup.code == 0, f"{node.engine} {node.version}: {backup!r}"
        time.sleep(1.1)  # one name a second
    by_hand = cli("-m", "backup", "-c", config, "-q", "--snapshot", "pr-outside-name")
    assert by_hand.code == 0, f"{node.engine} {node.version}: {by_hand!r}"
    names = [s["snapshot"] for s in engine("GET", f"/_snapshot/fs-{unique}/_all")["snapshots"]]
    scheduled = sorted(n for n in names if n != "pr-outside-name")

    # restore's newest snapshot named like the pattern is the newest scheduled one, not the one by hand
    restore = cli("-m", "restore", "-c", config, "--snapshot", "pr-%Y%m%d-%H%M%S")
    assert restore.code == 0, f"{node.engine} {node.version}: {restore!r}"
    assert f"from fs-{unique}/{scheduled[-1]}" in restore.out, restore.out

    pruned = cli("-m", "prune", "-c", config)
    assert pruned.code == 0, f"{node.engine} {node.version}: {pruned!r}"
    assert "deleted 1 snapshot, kept 2" in pruned.out, pruned.out
    left = {s["snapshot"] for s in engine("GET", f"/_snapshot/fs-{unique}/_all")["snapshots"]}
    assert left == {"pr-outside-name", scheduled[-1]}


@pytest.mark.parametrize("name", ("es7", "source"))
def test_a_read_only_registration_is_never_made_writable(versions, name, cli, write, unique):
    node = versions.nodes[name]
    engine = api(versions, name)
    engine.seed(f"{unique}-ro", 2)
    repo = f"fs-{unique}"
    os.makedirs(f"{node.repo_path}/{unique}", exist_ok=True)  # a read-only registration creates nothing
    registration = {"type": "fs", "settings": {"location": f"{node.repo_path}/{unique}", "readonly": True}}
    engine("PUT", f"/_snapshot/{repo}", registration)
    config = write(fs_config(node, unique, f"{unique}-ro"))

    backup = cli("-m", "backup", "-c", config)
    assert backup.code == 1, f"{node.engine} {node.version}: {backup!r}"
    last = backup.err.strip().splitlines()[-1]
    assert f"repository {repo} is registered read-only on the source cluster" in last, last
    assert f'PUT _snapshot/{repo} with "readonly": false' in last, last
    assert str(engine("GET", f"/_snapshot/{repo}")[repo]["settings"]["readonly"]).lower() == "true"
    assert engine("GET", f"/_snapshot/{repo}/_all")["snapshots"] == []

    listed = cli("-m", "list", "-c", config)  # a mode that only reads uses it as it is
    assert listed.code == 0, f"{node.engine} {node.version}: {listed!r}"
    assert str(engine("GET", f"/_snapshot/{repo}")[repo]["settings"]["readonly"]).lower() == "true"


@pytest.mark.parametrize("name", ("es8", "source"))
def test_a_gateway_answering_for_the_engine_is_not_the_verdict(versions, name, cli, write, unique):
    node = versions.nodes[name]
    engine = api(versions, name)
    engine.seed(f"{unique}-gw", 9)
    stand_in = [("PUT", rf"^/_snapshot/fs-{unique}/[^/]+$", {"accepted": True})]
    with SlowProxy(node.url, stand_ins=stand_in) as gateway:
        config = write(fs_config(node, unique, f"{unique}-gw").replace(node.url, gateway.url))
        backup = cli("-m", "backup", "-c", config, "--snapshot", "via-gateway")
    assert backup.code == 0, f"{node.engine} {node.version}: {backup!r}"
    assert "gave no verdict" in backup.err and '{"accepted": true}' in backup.err
    assert f"snapshot fs-{unique}/via-gateway: SUCCESS, 1 index, 1/1 shard" in backup.out, backup.out
    assert snapshot(engine, f"fs-{unique}", "via-gateway")["state"] == "SUCCESS"


def fails(result):
    return [c for c in json.loads(result.out)["checks"] if c["result"] == "FAIL"]


def test_a_migration_with_a_data_stream_checks_clean_between_rounds_and_verifies(versions, cli, write, unique):
    """OpenSearch 1.3 -> 2.19: a configured data stream is found by check, migrate and verify; what
    round 1 restored (the data stream included) is no conflict for check nor for round 2."""
    src, dst = api(versions, "os1"), api(versions, "os2")
    stream = f"{unique}-ds"
    src(
        "PUT",
        f"/_index_template/{unique}-ds",
        {
            "index_patterns": [f"{stream}*"],
            "data_stream": {},
            "priority": 500,
            "template": {"settings": {"number_of_shards": 1, "number_of_replicas": 0}},
        },
    )
    src.seed(f"{unique}-plain", 4)
    lines = []
    for n in range(6):
        lines += [{"create": {"_index": stream}}, {"@timestamp": f"2026-12-07T00:00:{n:02d}Z", "n": n}]
    assert not src("POST", "/_bulk?refresh=true", ndjson=lines)["errors"]
    path = write(migration_config(versions, "os1", "os2", unique, f"{unique}-plain,{stream}"))

    check = cli("-m", "check", "-c", path, "--json")
    assert check.code == 0 and not fails(check), repr(check)
    assert cli("-m", "migrate", "-c", path).code == 0
    check = cli("-m", "check", "-c", path, "--json")  # between rounds: round 1's own indices are no conflict
    assert check.code == 0 and not fails(check), repr(check)
    second = cli("-m", "migrate", "-c", path)
    assert second.code == 0, repr(second)
    assert "round 2 of migration" in second.out
    verify = cli("-m", "verify", "-c", path, "--json")
    assert verify.code == 0, repr(verify)
    compared = {c["index"]: c for c in json.loads(verify.out)["indices"]}
    assert set(compared) == {f"{unique}-plain", stream} and compared[stream]["source"]["docs"] == 6
    assert dst("GET", f"/_data_stream/{stream}")["data_streams"][0]["name"] == stream
