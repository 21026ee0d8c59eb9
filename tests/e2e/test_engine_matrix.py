"""The fs-repository round trip (backup, then restore under a new name) on every engine of the
devstack matrix: Elasticsearch 8 and 7, OpenSearch 2 and 1, each a single node with security off.

The matrix runs in its own stack, started once for this module, next to the session stack of
conftest.py (which has the OpenSearch 3 / Elasticsearch 9 nodes).
"""

from __future__ import annotations

import pytest

from devstack import Stack

from .conftest import Api, fs_config

MATRIX = ("es8", "es7", "os2", "os1")
DOCS = 17


@pytest.fixture(scope="module")
def matrix():
    with Stack(nodes=MATRIX) as running:
        yield running


@pytest.mark.parametrize("name", MATRIX)
def test_fs_backup_and_restore_renamed(matrix, name, cli, write, unique):
    node = matrix.nodes[name]
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
