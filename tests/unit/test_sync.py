"""-m sync against an in-process moto S3 server (two buckets): plan, order, layout, errors.

The cross-vendor proof (moto -> s3proxy, with real OpenSearch backups and restores) is
tests/e2e/test_sync.py; these tests pin the planning rules quickly.
"""

import json
import socket

import pytest

from es_s3_snapshot import cli
from es_s3_snapshot.actions import sync as sync_module
from es_s3_snapshot.config import Overrides, StoreConfig, load
from es_s3_snapshot.s3http import S3Http, S3HttpError
from es_s3_snapshot.store import Store, part_size

BIG = 6 * 1024**2 + 123  # over a 5 MiB threshold: copied in parts


def make_repository(s3, bucket, base="a/b", generation=0):
    """A repository as OpenSearch 3 lays it out: root blobs, metadata, hashed shard folders."""
    put = lambda key, body: s3.put_object(Bucket=bucket, Key=key, Body=body)  # noqa: E731
    put(f"{base}/index-{generation}", b'{"snapshots": []}' + b" " * generation)
    put(f"{base}/index.latest", generation.to_bytes(8, "big"))
    put(f"{base}/snap-s1.dat", b"snap")
    put(f"{base}/meta-s1.dat", b"meta")
    put(f"{base}/indices/ID/meta-m1.dat", b"index meta")
    paths = [f"M0101/{base}/indices/ID/0/", f"a1100/{base}/indices/ID/1/"]
    put(f"{base}/snapshot_shard_paths/snapshot_path_ID.idx.2.1.1", json.dumps({"paths": paths}).encode())
    put(f"M0101/{base}/indices/ID/0/__small", b"x" * 100)
    put(f"a1100/{base}/indices/ID/1/__big", b"y" * BIG)
    put(f"a1100/{base}/indices/ID/1/snap-s1.dat", b"shard snap")
    put(f"zzz/{base}/indices/ID/9/__not_named_in_metadata", b"never copied")


def keys(s3, bucket):
    return {
        o["Key"]: o["Size"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    }


def config_text(
    url, src, dst, *, src_base="a/b", dst_base="c", server_side="auto", dst_url=None, workers=4, dst_key="AKIASRCKEY"
):
    return f"""
[aws_s3_config]
s3_bucket_name = {src}
s3_base_path = {src_base}
[elasticsearch_config]
es_repository_name = r
index_names = idx
[destination_repository]
bucket = {dst}
base_path = {dst_base}
client = second
[source_store]
endpoint_url = {url}
access_key = AKIASRCKEY
secret_key = src-secret-value
addressing_style = path
[destination_store]
endpoint_url = {dst_url or url}
access_key = {dst_key}
secret_key = {"src" if dst_key == "AKIASRCKEY" else "dst"}-secret-value
addressing_style = path
[sync]
workers = {workers}
multipart_threshold = 5MB
multipart_chunksize = 5MB
server_side_copy = {server_side}
"""


@pytest.fixture
def run(tmp_path, capsys):
    def run(text, *args):
        path = tmp_path / "sync.conf"
        path.write_text(text)
        path.chmod(0o600)  # it holds store keys: readable by others would be warned about
        code = cli.main(["-m", "sync", "-c", str(path), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.mark.parametrize("server_side", ["auto", "never"])
def test_sync_copies_the_repository_onto_the_other_base_path_root_blobs_last(
    s3, buckets, run, server_side, monkeypatch
):
    src, dst = buckets
    make_repository(s3, src)
    order = []
    method = Store.copy_inside if server_side == "auto" else Store.put_stream

    def recording(self, key, *args, **kwargs):
        order.append(key)
        return method(self, key, *args, **kwargs)

    monkeypatch.setattr(Store, method.__name__, recording)
    code, out, err = run(config_text(s3.meta.endpoint_url, src, dst, server_side=server_side))
    assert code == 0, err
    copied = keys(s3, dst)
    assert copied == {
        "c/index-0": 17,
        "c/index.latest": 8,
        "c/snap-s1.dat": 4,
        "c/meta-s1.dat": 4,
        "c/indices/ID/meta-m1.dat": 10,
        "c/snapshot_shard_paths/snapshot_path_ID.idx.2.1.1": len(
            s3.get_object(Bucket=src, Key="a/b/snapshot_shard_paths/snapshot_path_ID.idx.2.1.1")["Body"].read()
        ),
        "M0101/c/indices/ID/0/__small": 100,
        "a1100/c/indices/ID/1/__big": BIG,
        "a1100/c/indices/ID/1/snap-s1.dat": 10,
    }
    assert order[-2:] == ["c/index-0", "c/index.latest"]
    assert "9 objects" in out and ("server-side" in out) == (server_side == "auto")
    big = s3.head_object(Bucket=dst, Key="a1100/c/indices/ID/1/__big")
    assert "-" in big["ETag"]  # multipart
    assert big["Metadata"]["es-s3-snapshot-source-etag"] == s3.head_object(
        Bucket=src, Key="a1100/a/b/indices/ID/1/__big"
    )["ETag"].strip('"')
    assert "secret-value" not in out + err and "AKIA" not in out + err


def test_second_sync_copies_only_what_is_new(s3, buckets, run):
    src, dst = buckets
    make_repository(s3, src)
    text = config_text(s3.meta.endpoint_url, src, dst, server_side="never")
    assert run(text)[0] == 0
    code, out, _ = run(text)
    assert code == 0 and "sync: 0 objects" in out and "9 already on the destination" in out
    s3.put_object(Bucket=src, Key="a/b/index-1", Body=b"next generation")
    s3.put_object(Bucket=src, Key="a/b/index.latest", Body=(1).to_bytes(8, "big"))
    s3.put_object(Bucket=src, Key="M0101/a/b/indices/ID/0/__new", Body=b"n" * 10)
    code, out, _ = run(text)
    assert code == 0 and "sync: 3 objects" in out, out
    assert s3.get_object(Bucket=dst, Key="c/index.latest")["Body"].read() == (1).to_bytes(8, "big")


def test_dry_run_lists_and_copies_nothing(s3, buckets, run):
    src, dst = buckets
    make_repository(s3, src)
    code, out, _ = run(config_text(s3.meta.endpoint_url, src, dst), "--dry-run")
    assert code == 0
    assert "DRY RUN: would copy a/b/index.latest (8 B)" in out
    assert "DRY RUN: nothing was copied; would copy 9 objects" in out
    assert keys(s3, dst) == {}


def test_delete_only_with_the_flag(s3, buckets, run):
    src, dst = buckets
    make_repository(s3, src)
    s3.put_object(Bucket=dst, Key="c/snap-gone.dat", Body=b"old")
    text = config_text(s3.meta.endpoint_url, src, dst)
    code, out, _ = run(text)
    assert code == 0 and "1 object only on the destination kept" in out
    assert "c/snap-gone.dat" in keys(s3, dst)
    code, out, _ = run(text, "--delete")
    assert code == 0 and "1 deleted" in out
    assert "c/snap-gone.dat" not in keys(s3, dst)


def test_equal_size_data_blob_counts_as_equal_but_a_changed_root_blob_is_copied(s3, buckets, run):
    src, dst = buckets
    make_repository(s3, src)
    text = config_text(s3.meta.endpoint_url, src, dst)
    assert run(text)[0] == 0
    s3.put_object(Bucket=dst, Key="c/snap-s1.dat", Body=b"SNAP")  # data blobs are written once: size decides
    s3.put_object(Bucket=dst, Key="c/index.latest", Body=(7).to_bytes(8, "big"))  # rewritten in place: MD5 decides
    code, out, _ = run(text)
    assert code == 0 and "sync: 1 object," in out
    assert s3.get_object(Bucket=dst, Key="c/index.latest")["Body"].read() == (0).to_bytes(8, "big")


@pytest.fixture
def operations(monkeypatch):
    """The S3 operations every Store of a sync sends, in order, as (bucket side, operation name)."""
    sent = []
    real = sync_module.make_store

    def make(config, **kwargs):
        store = real(config, **kwargs)
        store.client.meta.events.register("before-call.s3", lambda model, **_: sent.append((config.side, model.name)))
        return store

    monkeypatch.setattr(sync_module, "make_store", make)
    return sent


def test_a_sync_with_nothing_new_only_lists(s3, buckets, run, operations):
    src, dst = buckets
    make_repository(s3, src)
    text = config_text(s3.meta.endpoint_url, src, dst, server_side="never")
    assert run(text)[0] == 0
    operations.clear()
    code, out, _ = run(text)
    assert code == 0 and "sync: 0 objects" in out
    names = {name for _, name in operations}
    assert names <= {"HeadBucket", "ListObjectsV2"}, names  # (and a GET of each side's snapshot_shard_paths blob)


def test_same_endpoint_with_other_keys_copies_through_this_machine(s3, buckets, run, monkeypatch):
    src, dst = buckets
    make_repository(s3, src)
    monkeypatch.setattr(Store, "copy_inside", lambda *a, **k: pytest.fail("a server-side copy needs the same keys"))
    code, out, err = run(config_text(s3.meta.endpoint_url, src, dst, dst_key="AKIADSTKEY"))
    assert code == 0, err
    assert "server-side" not in out and "9 objects" in out


def test_parts_of_a_large_object_go_at_once_and_arrive_whole(s3, buckets, run):
    src, dst = buckets
    make_repository(s3, src)
    big = bytes(range(256)) * (17 * 1024**2 // 256) + b"tail"  # 4 parts of 5 MiB
    mid = bytes(range(7, 256)) * (3 * 1024**2 // 249) + b"end"  # over 1 MiB, under the threshold: one streamed PUT
    s3.put_object(Bucket=src, Key="a/b/indices/ID/meta-big.dat", Body=big)
    s3.put_object(Bucket=src, Key="a/b/indices/ID/meta-mid.dat", Body=mid)
    for server_side in ("never", "auto"):
        s3.delete_objects(Bucket=dst, Delete={"Objects": [{"Key": k} for k in keys(s3, dst)] or [{"Key": "x"}]})
        code, _, err = run(config_text(s3.meta.endpoint_url, src, dst, server_side=server_side))
        assert code == 0, err
        assert s3.get_object(Bucket=dst, Key="c/indices/ID/meta-big.dat")["Body"].read() == big
        assert s3.get_object(Bucket=dst, Key="c/indices/ID/meta-mid.dat")["Body"].read() == mid


def test_a_failed_part_whose_abort_fails_is_a_warning_naming_the_upload(s3, buckets, run, monkeypatch):
    src, dst = buckets
    make_repository(s3, src)

    def failing_part(self, *args, **kwargs):
        raise S3HttpError(400, "InvalidPart", "part refused")

    def failing_abort(self, key, upload_id):
        raise S3HttpError(0, "ConnectionResetError", "store went away")

    monkeypatch.setattr(S3Http, "abort_upload", failing_abort)
    monkeypatch.setattr(S3Http, "upload_part", failing_part)
    code, _, err = run(config_text(s3.meta.endpoint_url, src, dst, server_side="never"))
    assert code == 1 and "part refused" in err
    uploads = s3.list_multipart_uploads(Bucket=dst).get("Uploads", [])
    assert [u["Key"] for u in uploads] == ["a1100/c/indices/ID/1/__big"]
    warning = [line for line in err.splitlines() if "WARNING" in line and uploads[0]["UploadId"] in line]
    assert warning and f"s3://{dst}/a1100/c/indices/ID/1/__big" in warning[0], err


def test_a_rerun_aborts_the_uploads_an_earlier_sync_left_and_no_others(s3, buckets, run):
    src, dst = buckets
    make_repository(s3, src)
    ours = s3.create_multipart_upload(Bucket=dst, Key="a1100/c/indices/ID/1/__big")["UploadId"]
    foreign = s3.create_multipart_upload(Bucket=dst, Key="c/indices/ID/__someone_else")["UploadId"]
    outside = s3.create_multipart_upload(Bucket=dst, Key="elsewhere/snap-s1.dat")["UploadId"]
    code, _, err = run(config_text(s3.meta.endpoint_url, src, dst, server_side="never"))
    assert code == 0, err
    left = {u["UploadId"] for u in s3.list_multipart_uploads(Bucket=dst).get("Uploads", [])}
    assert ours not in left and {foreign, outside} <= left
    assert "WARNING" in err and "aborted 1 of 1 incomplete multipart upload" in err, err


def test_a_failed_copy_leaves_the_root_blobs_alone(s3, buckets, run, monkeypatch):
    src, dst = buckets
    make_repository(s3, src)
    real = Store.put_stream

    def failing(self, key, *args, **kwargs):
        if key.endswith("__big"):
            raise sync_module.StoreError("write failed")
        return real(self, key, *args, **kwargs)

    monkeypatch.setattr(Store, "put_stream", failing)
    code, _, err = run(config_text(s3.meta.endpoint_url, src, dst, server_side="never"))
    assert code == 1 and "write failed" in err
    assert not {"c/index-0", "c/index.latest"} & set(keys(s3, dst))


def test_missing_bucket_is_one_line_naming_the_store(s3, buckets, run):
    src, _ = buckets
    code, _, err = run(config_text(s3.meta.endpoint_url, src, "no-such-bucket"))
    assert code == 1
    assert "bucket no-such-bucket does not exist on the destination store s3://no-such-bucket/c" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_unreachable_endpoint_exits_2_naming_the_store(s3, buckets, run, monkeypatch):
    import time

    monkeypatch.setattr(time, "sleep", lambda seconds: None)  # botocore's retry back-off
    src, dst = buckets
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    code, _, err = run(config_text(s3.meta.endpoint_url, src, dst, dst_url=dead))
    assert code == 2, err
    assert f"cannot reach the destination store s3://{dst}/c at {dead}" in err
    assert "Traceback" not in err


def test_missing_store_section_is_a_config_error(tmp_path, run):
    code, _, err = run(
        "[aws_s3_config]\ns3_bucket_name = b\n[elasticsearch_config]\nes_repository_name = r\nindex_names = i\n"
    )
    assert code == 3 and "[source_store] is missing" in err


def test_destination_repository_falls_back_to_repository(load_config):
    config = load_config("[repository]\ncompress = true\n[destination_repository]\nbucket = other\nclient = second\n")
    repo = config.repository_for("destination")
    assert (repo.bucket, repo.base_path, repo.extra["client"], repo.extra["compress"]) == (
        "other",
        "es",
        "second",
        True,
    )
    assert config.repository_for("source") is config.repository
    plain = load_config()
    assert plain.repository_for("destination") is plain.repository


def test_store_keys_come_from_environment_and_stay_secret(load_config):
    config = load_config(
        "[source_store]\naccess_key_env = K\nsecret_key_env = S\n[destination_store]\nbucket = b2\nbase_path = x/\n",
        environ={"K": "AKIAFROMENV", "S": "secret-from-env"},
    )
    source = config.store("source")
    assert (source.bucket, source.base_path, source.access_key) == ("backups", "es", "AKIAFROMENV")
    assert "secret-from-env" in config.secrets and "AKIAFROMENV" in config.secrets
    assert config.store("destination").base_path == "x"
    assert "secret-from-env" not in repr(source)


def test_bad_sync_values_name_section_and_key(write_config):
    with pytest.raises(Exception, match=r"\[sync\] multipart_threshold must be a size"):
        load(write_config("[sync]\nmultipart_threshold = lots\n"), Overrides(), {})
    with pytest.raises(Exception, match=r"\[source_store\] secret_key is missing"):
        load(write_config("[source_store]\naccess_key = A\n"), Overrides(), {})


def test_part_size_stays_within_ten_thousand_parts():
    assert part_size(10**6, 8 * 1024**2) == 8 * 1024**2
    assert part_size(5 * 1024**4, 8 * 1024**2) * 10_000 >= 5 * 1024**4
    assert part_size(1, 1) == 5 * 1024**2


def test_store_str_names_side_bucket_and_endpoint():
    store = StoreConfig(side="source", section="source_store", bucket="b", base_path="p", endpoint_url="http://h:1")
    assert str(store) == "source store s3://b/p at http://h:1"


@pytest.mark.parametrize(
    "base,key,name",
    [
        ("a/b", "a/b/index-3", ("", "index-3")),
        ("a/b", "a/b/indices/ID/0/__x", ("", "indices/ID/0/__x")),
        ("a/b", "M0101/a/b/indices/ID/0/__x", ("M0101", "indices/ID/0/__x")),
        ("", "M0101/indices/ID/0/__x", ("M0101", "indices/ID/0/__x")),
        ("", "indices/ID/meta-1.dat", ("", "indices/ID/meta-1.dat")),
    ],
)
def test_names_are_the_same_on_both_sides_whatever_the_base_paths(base, key, name):
    store = Store(StoreConfig(side="source", section="source_store", bucket="b", base_path=base), client=object())
    other = Store(
        StoreConfig(side="destination", section="destination_store", bucket="b", base_path="c"), client=object()
    )
    assert sync_module._name(store, key) == name
    assert other.key(name[0], other.base, name[1]) == ("c/" if not name[0] else f"{name[0]}/c/") + name[1]


def test_interrupt_exits_130_saying_the_destination_keeps_its_previous_state(s3, buckets, run, monkeypatch):
    src, dst = buckets
    make_repository(s3, src)

    def interrupted(self, key, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Store, "copy_inside", interrupted)
    code, _, err = run(config_text(s3.meta.endpoint_url, src, dst))
    assert code == 130
    assert "the destination still holds its previous repository state; run -m sync again" in err
    assert keys(s3, dst) == {}


def test_a_source_without_a_repository_is_refused_and_nothing_is_deleted(s3, buckets, run):
    src, dst = buckets
    s3.put_object(Bucket=dst, Key="c/index-0", Body=b"{}")
    code, _, err = run(config_text(s3.meta.endpoint_url, src, dst), "--delete")
    assert code == 1 and f"the source store s3://{src}/a/b at" in err and "holds no snapshot repository" in err
    assert keys(s3, dst) == {"c/index-0": 2}


def test_many_indices_list_the_whole_bucket_once_and_find_the_same_repository(s3, buckets, run, monkeypatch):
    src, dst = buckets
    make_repository(s3, src)
    s3.put_object(Bucket=src, Key="zzz/other-base/indices/ID/0/__foreign", Body=b"not ours")
    monkeypatch.setattr(sync_module, "WHOLE_BUCKET", 0)
    code, out, err = run(config_text(s3.meta.endpoint_url, src, dst, server_side="never"))
    assert code == 0, err
    copied = keys(s3, dst)
    assert "M0101/c/indices/ID/0/__small" in copied and "a1100/c/indices/ID/1/__big" in copied
    assert not [k for k in copied if "foreign" in k or "other-base" in k]
    assert "zzz/c/indices/ID/9/__not_named_in_metadata" in copied  # the repository's own shape: kept


def test_the_whole_bucket_listing_leaves_another_repository_nested_at_head_slash_base_alone(
    s3, buckets, run, monkeypatch
):
    """A repository at ``nested/a/b`` has keys shaped like the hashed shard folders of the one at
    ``a/b`` (``<hash>/a/b/indices/...``): its root blobs say it is another repository. Neither
    copied from the source nor deleted from the destination by --delete."""
    src, dst = buckets
    make_repository(s3, src)
    roots = {"index-3": b"{}", "index.latest": (3).to_bytes(8, "big")}
    for name, body in {**roots, "indices/X/0/__in_the_source": b"theirs"}.items():
        s3.put_object(Bucket=src, Key=f"nested/a/b/{name}", Body=body)
    for name, body in {**roots, "indices/Y/0/__in_the_destination": b"theirs"}.items():
        s3.put_object(Bucket=dst, Key=f"nested/c/{name}", Body=body)
    monkeypatch.setattr(sync_module, "WHOLE_BUCKET", 0)
    code, out, err = run(config_text(s3.meta.endpoint_url, src, dst, server_side="never"), "--delete")
    assert code == 0, err
    copied = keys(s3, dst)
    assert "M0101/c/indices/ID/0/__small" in copied and "a1100/c/indices/ID/1/__big" in copied
    # neither copied from the source's, nor deleted from the destination's by --delete
    assert {k for k in copied if k.startswith("nested/")} == {
        "nested/c/index-3",
        "nested/c/index.latest",
        "nested/c/indices/Y/0/__in_the_destination",
    }


def test_a_sync_with_nothing_new_and_static_keys_never_imports_boto3(s3, buckets, run, tmp_path):
    import subprocess
    import sys

    src, dst = buckets
    make_repository(s3, src)
    text = config_text(s3.meta.endpoint_url, src, dst, server_side="never")
    assert run(text)[0] == 0
    path = tmp_path / "sync.conf"
    probe = (
        "import sys\nfrom es_s3_snapshot import cli\n"
        f"code = cli.main(['-m', 'sync', '-c', {str(path)!r}, '-q'])\n"
        "print(code, 'boto3' in sys.modules, 'botocore' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "0 False False", done.stdout + done.stderr


@pytest.mark.parametrize("server_side", ["auto", "never"])
def test_a_copying_sync_with_static_keys_never_imports_boto3(s3, buckets, tmp_path, server_side):
    """Copies in parts, aborts a left upload and deletes with --delete, all without boto3 (0.3 s to import)."""
    import subprocess
    import sys

    src, dst = buckets
    make_repository(s3, src)
    big = bytes(range(256)) * (11 * 1024**2 // 256)  # 3 parts of 5 MiB
    s3.put_object(Bucket=src, Key="a/b/indices/ID/meta-big.dat", Body=big)
    s3.put_object(Bucket=dst, Key="c/indices/OLD/meta-old.dat", Body=b"only here")
    left = s3.create_multipart_upload(Bucket=dst, Key="c/indices/ID/meta-big.dat")["UploadId"]
    path = tmp_path / "sync.conf"
    path.write_text(config_text(s3.meta.endpoint_url, src, dst, server_side=server_side))
    path.chmod(0o600)
    probe = (
        "import sys\nfrom es_s3_snapshot import cli\n"
        f"code = cli.main(['-m', 'sync', '-c', {str(path)!r}, '--delete'])\n"
        "print(code, 'boto3' in sys.modules, 'botocore' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "0 False False", done.stdout + done.stderr
    assert "aborted 1 of 1 incomplete multipart upload" in done.stderr, done.stderr
    assert s3.get_object(Bucket=dst, Key="c/indices/ID/meta-big.dat")["Body"].read() == big
    assert "c/indices/OLD/meta-old.dat" not in keys(s3, dst)
    assert left not in {u["UploadId"] for u in s3.list_multipart_uploads(Bucket=dst).get("Uploads", [])}


def test_a_bucket_of_one_page_is_listed_in_three_requests_a_side_and_the_copy_is_whole(s3, buckets, run, monkeypatch):
    """Base path, metadata folder and the whole bucket's first page at once; the folders below are
    read from that page, not listed again."""
    src, dst = buckets
    make_repository(s3, src)
    sent = []
    real = S3Http.list_page

    def counted(self, prefix, *args, **kwargs):
        sent.append((self.target.prefix, prefix))
        return real(self, prefix, *args, **kwargs)

    monkeypatch.setattr(S3Http, "list_page", counted)
    code, out, err = run(config_text(s3.meta.endpoint_url, src, dst, server_side="never"))
    assert code == 0, err
    assert sorted(sent) == sorted(
        (f"/{bucket}/", prefix) for bucket, base in ((src, "a/b"), (dst, "c"))
        for prefix in (f"{base}/", f"{base}/snapshot_shard_paths/", "")
    ), sent  # fmt: skip
    named = {k.replace("a/b/", "c/", 1): size for k, size in keys(s3, src).items() if "not_named" not in k}
    assert keys(s3, dst) == named  # the same as folder by folder: a folder no metadata names is not copied


def test_refused_upload_listing_fails_a_copying_run_but_not_one_with_nothing_to_copy(s3, buckets, run, monkeypatch):
    src, dst = buckets
    make_repository(s3, src)
    text = config_text(s3.meta.endpoint_url, src, dst, server_side="never")

    def refused(self, *args, **kwargs):
        raise S3HttpError(403, "AccessDenied", "no ListMultipartUploads")

    monkeypatch.setattr(S3Http, "list_uploads", refused)
    code, _, err = run(text)
    assert code == 2 and "AccessDenied" in err  # as before: its left uploads could not be checked
    monkeypatch.undo()
    assert run(text)[0] == 0
    monkeypatch.setattr(S3Http, "list_uploads", refused)
    code, out, err = run(text, "-v")
    assert code == 0 and "sync: 0 objects" in out, err
    assert "were not checked" in err


# Key names a long listing must come back with: objects right below the prefix, folders whose
# names start with the same character as an object's, non-ASCII and reserved characters, a folder
# named as an object, deep folders.
ODD_KEYS = [
    "a", "a/1", "a/b/c/d", "ab", "ab/x", "A/1", "-/x", "_/y", "0", "0/0", "9z/q", "é/1", "éa", "中/文",
    "x y/z", "x+y/1", "~/t", "z/" + "n" * 200, "zz", "zz/zz/zz",
] + [f"{c}{n:02d}/{m}" for c in "Mas_" for n in range(8) for m in ("__a", "__b", "snap-1.dat")]  # fmt: skip


def _store(s3, bucket):
    return Store(
        StoreConfig(
            side="source",
            section="source_store",
            bucket=bucket,
            base_path="",
            endpoint_url=s3.meta.endpoint_url,
            access_key="a",
            secret_key="b",
            addressing_style="path",
        )  # fmt: skip
    )


@pytest.mark.parametrize("prefix", ["", "p/"])
def test_a_long_listing_read_in_parallel_holds_every_key_once(s3, buckets, monkeypatch, prefix):
    """Pages of 7 keys: the first page, then the rest one first character at a time, at once."""
    src, _ = buckets
    for key in ODD_KEYS:
        s3.put_object(Bucket=src, Key=prefix + key, Body=key.encode())
    s3.put_object(Bucket=src, Key="outside-the-prefix", Body=b"-") if prefix else None
    real, sent = S3Http.list_page, []

    def small_pages(self, prefix, delimiter, token, max_keys=None):
        sent.append((prefix, delimiter, bool(token)))
        return real(self, prefix, delimiter, token, max_keys or 7)

    monkeypatch.setattr(S3Http, "list_page", small_pages)
    listed = _store(s3, src).list_wide(prefix)
    assert sorted(blob.key for blob in listed) == sorted(prefix + key for key in ODD_KEYS)
    assert all(blob.size == len((blob.key[len(prefix) :]).encode()) for blob in listed)
    # one first page, one listing with a delimiter, then one listing per first character from the
    # first page's last one on (paginated)
    assert sent[0] == (prefix, None, False) and (prefix, "/", False) in sent
    heads = {p[len(prefix) :] for p, d, more in sent[1:] if d is None and not more}
    first_page_ended = sorted(key.encode() for key in ODD_KEYS)[6].decode()[0]  # "M"
    assert heads == {key[0] for key in ODD_KEYS if "/" in key and key[0] >= first_page_ended}, heads


def test_a_listing_of_one_page_is_one_request(s3, buckets, monkeypatch):
    src, _ = buckets
    s3.put_object(Bucket=src, Key="p/one", Body=b"1")
    real, sent = S3Http.list_page, []
    monkeypatch.setattr(S3Http, "list_page", lambda self, *a, **k: sent.append(a) or real(self, *a, **k))
    assert [b.key for b in _store(s3, src).list_wide("p/")] == ["p/one"] and len(sent) == 1
