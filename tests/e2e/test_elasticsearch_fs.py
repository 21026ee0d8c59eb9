"""The same code path against Elasticsearch (security on) through an fs repository."""

import textwrap


def test_fs_backup_and_restore_on_elasticsearch(stack, es, cli, write, unique):
    node = stack.nodes["es"]
    index = f"{unique}-es"
    es.seed(index, 77)
    config = write(
        textwrap.dedent(f"""
        [elasticsearch_config]
        es_repository_name = fs-{unique}
        es_src_seed1 = {node.url}
        es_dest_seed1 = {node.url}
        index_names = {index}

        [repository]
        type = fs
        location = {node.repo_path}/{unique}

        [source]
        username = {node.username}
        password = {node.password}

        [destination]
        username = {node.username}
        password = {node.password}

        [restore]
        existing_indices = rename
        rename_pattern = (.+)
        rename_replacement = back-$1

        [wait]
        poll_interval = 1
    """)
    )
    backup = cli("-m", "backup", "-c", config, "--snapshot", "es-snap")
    assert backup.code == 0, backup
    assert f"{node.version} (cluster " in backup.err
    assert node.password not in backup.err + backup.out

    restore = cli("-m", "restore", "-c", config)
    assert restore.code == 0, restore
    assert es.count(f"back-{index}") == 77
    assert es.count(index) == 77
