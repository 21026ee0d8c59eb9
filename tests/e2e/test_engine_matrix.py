"""The fs-repository round trip (backup, then restore under a new name) on every engine of the
devstack matrix: Elasticsearch 8 and 7, OpenSearch 2 and 1, each a single node with security off.

The matrix runs on the session's `versions` stack (conftest.py), which the migration tests share.
"""

from __future__ import annotations

import pytest

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
