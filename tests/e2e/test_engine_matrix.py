"""The fs-repository round trip (backup, then restore under a new name), then list and a prune that
deletes several snapshots at once, on every engine of the devstack matrix: Elasticsearch 8 and 7,
OpenSearch 2 and 1, each a single node with security off.

The matrix runs on the session's `versions` stack (conftest.py), which the migration tests share.
"""

from __future__ import annotations

import json
from argparse import Namespace

import pytest

from es_s3_snapshot.cli import _build_cluster as build_cluster
from es_s3_snapshot.config import load
from es_s3_snapshot.redact import Redactor
from es_s3_snapshot.snapshots import list_snapshots, paginates

from .conftest import Api, fs_config

MATRIX = ("es8", "es7", "os2", "os1")
DOCS = 17


@pytest.mark.parametrize("name", MATRIX)
def test_fs_backup_and_restore_renamed(versions, name, cli, write, unique):
    node = versions.nodes[name]
    api = Api(node)
    index = f"{unique}-mx"
    api.seed(index, DOCS)
    config = write(fs_config(node, unique, index))

    backup = cli("-m", "backup", "-c", config)
    assert backup.code == 0, f"{node.engine} {node.version}: {backup!r}"
    restore = cli("-m", "restore", "-c", config)
    assert restore.code == 0, f"{node.engine} {node.version}: {restore!r}"

    assert api.count(f"back-{index}") == DOCS
    assert api.count(index) == DOCS


@pytest.mark.parametrize("name", MATRIX)
def test_list_and_a_prune_of_several_snapshots_at_once(versions, name, cli, write, unique):
    node = versions.nodes[name]
    api = Api(node)
    index = f"{unique}-lp"
    api.seed(index, 3)
    config = write(
        fs_config(node, unique, index).replace(
            f"index_names = {index}\n", f"index_names = {index}\nsnapshot_name = mx-%Y%m%d-%H%M%S-%f\n"
        )
        + "\n[retention]\nkeep_last = 1\n"
    )
    for _ in range(3):
        backup = cli("-m", "backup", "-c", config, "-q")
        assert backup.code == 0, f"{node.engine} {node.version}: {backup!r}"
    listed = cli("-m", "list", "-c", config, "--json")
    assert listed.code == 0, f"{node.engine} {node.version}: {listed!r}"
    snapshots = json.loads(listed.out)
    assert len(snapshots) == 3 and all(s["taken_by_us"] and s["state"] == "SUCCESS" for s in snapshots)
    # the listing in pages of 2 (Elasticsearch 7.14+ pages it; OpenSearch answers at once) finds the same
    cluster = build_cluster(load(config), "source", Namespace(dry_run=False), print, Redactor())
    paged = list_snapshots(cluster, f"fs-{unique}", paginate=paginates(cluster.info()), page_size=2)
    assert sorted(p.name for p in paged) == sorted(s["name"] for s in snapshots)
    pruned = cli("-m", "prune", "-c", config)
    assert pruned.code == 0, f"{node.engine} {node.version}: {pruned!r}"
    assert "deleted 2 snapshots, kept 1" in pruned.out
    left = api("GET", f"/_snapshot/fs-{unique}/_all")["snapshots"]
    assert [s["snapshot"] for s in left] == [snapshots[0]["name"]]  # the newest
