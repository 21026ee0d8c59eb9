"""Migrations across engine versions: check, migrate (catch-up rounds and the cutover) and verify.

Every node of this module's stack has the same path.repo (Stack(shared_repo=True)): a backup on
one node is restored on another of a different version through one fs repository. One stack,
each node started once: Elasticsearch 7.17, 8.19, 7.10.2 (OSS) and 9.2 (security on), OpenSearch
1.3, 2.19 and 3.3. Run it alone with ``pytest tests/e2e/test_migration.py``.
"""

from __future__ import annotations

import json

import pytest

from .conftest import Api
from .conftest import migration_config as config

DOCS = 23


def api(stack, name):
    node = stack.nodes[name]
    return Api(node, node.admin_username, node.admin_password) if node.admin_username else Api(node)


@pytest.fixture
def cli(cli):
    """The CLI with -v: a failure shows its traceback in the test report."""
    return lambda *args, **kwargs: cli(*args, "-v", **kwargs)


def rows(result):
    return json.loads(result.out)["checks"]


FORWARD = [("es7", "es8"), ("os1", "os2"), ("os2", "source"), ("es710", "os1")]


@pytest.mark.parametrize("source,destination", FORWARD, ids=[f"{s}-to-{d}" for s, d in FORWARD])
def test_check_migrate_verify_across_versions_converges_and_verifies(versions, source, destination, cli, write, unique):
    src, dst = api(versions, source), api(versions, destination)
    src.seed(f"{unique}-a", DOCS, shards=2)
    src.seed(f"{unique}-b", 5)
    src("POST", "/_aliases", {"actions": [{"add": {"index": f"{unique}-a", "alias": f"{unique}-alias"}}]})
    path = write(config(versions, source, destination, unique, f"{unique}-*"))

    check = cli("-m", "check", "-c", path, "--json")
    assert check.code == 0, repr(check)
    checks = rows(check)
    assert {c["check"] for c in checks} >= {"reachable", "engine", "repository", "compatibility", "disk", "shards"}
    assert all(c["result"] != "FAIL" for c in checks)

    first = cli("-m", "migrate", "-c", path)
    assert first.code == 0, repr(first)
    assert "round 1 of migration" in first.out
    src.seed(f"{unique}-a", 7, start=DOCS)  # writes go on between rounds
    between = cli("-m", "check", "-c", path, "--json")  # the runbook: check until nothing FAILs
    assert between.code == 0, repr(between)
    assert [c for c in rows(between) if c["result"] == "FAIL"] == []
    assert "restored by an earlier round of this migration" in next(
        c["detail"] for c in rows(between) if c["check"] == "existing indices"
    )
    second = cli("-m", "migrate", "-c", path)
    assert second.code == 0, repr(second)
    assert "round 2 of migration" in second.out and "lag: 0 documents" in second.out
    assert dst.count(f"{unique}-a") == DOCS + 7
    after = cli("-m", "check", "-c", path, "--json")
    assert after.code == 0 and [c for c in rows(after) if c["result"] == "FAIL"] == [], repr(after)

    verify = cli("-m", "verify", "-c", path, "--json")
    assert verify.code == 0, repr(verify)
    assert json.loads(verify.out)["same"] is True


REFUSED = [("es8", "os2"), ("source", "os2"), ("es", "es8")]


@pytest.mark.parametrize("source,destination", REFUSED, ids=[f"{s}-to-{d}" for s, d in REFUSED])
def test_check_fails_on_an_incompatible_pair_and_migrate_changes_nothing(
    versions, source, destination, cli, write, unique
):
    src, dst = api(versions, source), api(versions, destination)
    src.seed(f"{unique}-x", 3)
    path = write(config(versions, source, destination, unique, f"{unique}-*"))

    check = cli("-m", "check", "-c", path)
    assert check.code == 1, repr(check)
    assert any(line.split()[:3] == ["destination", "compatibility", "FAIL"] for line in check.out.splitlines()), (
        check.out
    )

    migrate = cli("-m", "migrate", "-c", path)
    assert migrate.code == 1, repr(migrate)
    assert "refused before changing anything" in migrate.err
    assert src.status("GET", f"/_snapshot/mig-{unique}") == 404
    assert dst.status("GET", f"/_snapshot/mig-{unique}") == 404
    assert not dst.exists(f"{unique}-x")


def test_final_round_blocks_source_writes_and_counts_are_equal(versions, cli, write, unique):
    src, dst = api(versions, "es7"), api(versions, "es8")
    src.seed(f"{unique}-live", DOCS)
    path = write(config(versions, "es7", "es8", unique, f"{unique}-*"))
    assert cli("-m", "migrate", "-c", path).code == 0
    src.seed(f"{unique}-live", 11, start=DOCS)

    final = cli("-m", "migrate", "-c", path, "--final", "--block-writes")
    assert final.code == 0, repr(final)
    assert "verify: 1 index compared, all the same" in final.out
    assert "stay write-blocked" in final.out
    assert dst.count(f"{unique}-live") == src.count(f"{unique}-live") == DOCS + 11
    blocked = src("PUT", f"/{unique}-live/_doc/new", {"n": 1}, ok=())
    assert blocked["error"]["type"] == "cluster_block_exception"
    dst("PUT", f"/{unique}-live/_doc/new?refresh=true", {"n": 1}, ok=(201,))  # the destination takes writes


def test_final_round_that_fails_removes_the_write_block_it_set(versions, cli, write, unique):
    src, dst = api(versions, "os1"), api(versions, "os2")
    src.seed(f"{unique}-ok", 4)
    src.seed(f"{unique}-clash", 4)
    # a destination index of the same name with another shard count: the gate applies restore's rule
    # for existing indices (shard counts included), so the round is refused before any block is set
    dst.seed(f"{unique}-clash", 1, shards=2)
    path = write(config(versions, "os1", "os2", unique, f"{unique}-*", "[restore]\nexisting_indices = close\n"))
    gated = cli("-m", "migrate", "-c", path, "--final", "--block-writes")
    assert gated.code == 1, repr(gated)
    assert "refused before changing anything" in gated.err and "number of primary shards differs" in gated.err
    src("PUT", f"/{unique}-ok/_doc/before?refresh=true", {"n": 1}, ok=(201,))  # never blocked
    dst("DELETE", f"/{unique}-clash")

    # the injected failure after the block: a source index whose primary cannot be allocated
    settings = {"number_of_replicas": 0, "index.routing.allocation.require._name": "nowhere"}
    src("PUT", f"/{unique}-stuck", {"settings": settings})
    final = cli("-m", "migrate", "-c", path, "--final", "--block-writes")
    assert final.code == 1, repr(final)
    last = final.err.strip().splitlines()[-1]
    assert "removed the write block this run set on 3 source indices" in last, last
    src("PUT", f"/{unique}-ok/_doc/after?refresh=true", {"n": 1}, ok=(201,))  # writable again

    kept = cli("-m", "migrate", "-c", path, "--final", "--block-writes", "--keep-blocked")
    assert kept.code == 1, repr(kept)
    assert "left 3 source indices write-blocked (--keep-blocked)" in kept.err.strip().splitlines()[-1]
    assert src("PUT", f"/{unique}-ok/_doc/x", {"n": 1}, ok=())["error"]["type"] == "cluster_block_exception"
    src("PUT", f"/{unique}-*/_settings", {"index.blocks.write": False})
