"""The original tool's config runs unchanged; --dry-run changes nothing on either cluster."""

from pathlib import Path

from .conftest import s3_config

ORIGINAL = Path(__file__).parents[1] / "unit" / "data" / "original-es-s3-snapshot.conf.SAMPLE"


def test_original_sample_config_backs_up_and_restores(stack, src, dest, cli, tmp_path):
    text = ORIGINAL.read_text()
    # point hosts and bucket at the stack; nothing else changes (the 10.40.x.x hosts are never contacted)
    text = text.replace("10.40.11.180:9200", stack.nodes["source"].url.split("://")[1])
    for host in ("10.40.101.198:9200", "10.40.101.224:9200", "10.40.101.55:9200"):
        text = text.replace(host, stack.nodes["destination"].url.split("://")[1])
    text = text.replace("my-s3-devops-bucket", stack.s3.bucket)
    assert "10.40." not in text
    config = tmp_path / "es-s3-snapshot.conf"
    config.write_text(text)
    counts = {"my_index1": 11, "my_index2": 22, "my_index_3": 33}
    for index, docs in counts.items():
        src.seed(index, docs)

    backup = cli("-m", "backup", cwd=tmp_path)  # found as ./es-s3-snapshot.conf, as the original tool did
    assert backup.code == 0, backup
    assert "[aws_api_keys] is not sent to the cluster" in backup.err
    assert "OIAAAAABBBBBCCCCCDDDDDEEEE" not in backup.err + backup.out
    assert "snapshot my_es_snapshots/snapshot_test_1: SUCCESS, 3 indices" in backup.out

    restore = cli("-m", "restore", cwd=tmp_path)
    assert restore.code == 0, restore
    for index, docs in counts.items():
        assert dest.count(index) == docs
    objects = stack.s3.client().list_objects_v2(Bucket=stack.s3.bucket, Prefix="elasticsearch-backups/")
    assert objects.get("KeyCount", 0) > 0


def state_of(api):
    return {
        "repos": api("GET", "/_snapshot"),
        "indices": sorted(
            (r["index"], r["docs.count"]) for r in api("GET", "/_cat/indices?format=json&h=index,docs.count")
        ),
    }


def test_dry_run_changes_nothing_on_either_cluster(stack, src, dest, cli, write, unique):
    index = f"{unique}-dry"
    src.seed(index, 4)
    dest.seed(index, 1)
    config = write(s3_config(stack, repo=f"repo-{unique}", base_path=f"dry/{unique}", indices=index))
    before = (state_of(src), state_of(dest))
    objects_before = (
        stack.s3.client().list_objects_v2(Bucket=stack.s3.bucket, Prefix=f"dry/{unique}").get("KeyCount", 0)
    )

    backup = cli("-m", "backup", "-c", config, "--dry-run")
    assert backup.code == 0, backup
    assert f"DRY RUN on source: would send PUT /_snapshot/repo-{unique}" in backup.out
    restore = cli("-m", "restore", "-c", config, "--dry-run", "--existing", "delete", "--confirm-delete")
    assert restore.code == 0, restore
    assert "DRY RUN" in restore.out

    assert (state_of(src), state_of(dest)) == before
    assert (
        stack.s3.client().list_objects_v2(Bucket=stack.s3.bucket, Prefix=f"dry/{unique}").get("KeyCount", 0)
        == objects_before
        == 0
    )
