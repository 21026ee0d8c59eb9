"""The same code path against Elasticsearch (security on) through an fs repository."""

from .test_ways_in import es_config


def test_fs_backup_and_restore_on_elasticsearch(stack, es, cli, write, unique):
    node = stack.nodes["es"]
    index = f"{unique}-auth"
    es.seed(index, 77)
    config = write(es_config(stack, unique, f"username = {node.username}\npassword = {node.password}"))
    backup = cli("-m", "backup", "-c", config, "--snapshot", "es-snap")
    assert backup.code == 0, backup
    assert f"{node.version} (cluster " in backup.err
    assert "SUCCESS, 1 index, 1/1 shard" in backup.out
    assert node.password not in backup.err + backup.out

    restore = cli("-m", "restore", "-c", config)
    assert restore.code == 0, restore
    assert es.count(f"back-{index}") == 77
    assert es.count(index) == 77


def test_s3_repository_without_the_s3_module_says_what_to_install(stack, es, cli, write, unique):
    node = stack.nodes["es"]
    es.seed(f"{unique}-auth", 1)
    text = es_config(stack, unique, f"username = {node.username}\npassword = {node.password}")
    text = text.replace("type = fs", "type = s3") + "[aws_s3_config]\ns3_bucket_name = some-bucket\n"
    result = cli("-m", "backup", "-c", write(text))
    assert result.code == 1, result
    assert "has no 's3' repository type: install the repository-s3 plugin" in result.err
