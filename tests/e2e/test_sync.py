"""-m sync between two S3 implementations: OpenSearch 3.3.2 backs up to moto (store A), sync copies
to s3proxy (store B, filesystem backend), the destination restores from B through its second S3
client ([destination_repository] client = second)."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess

import pytest

from devstack.faulty_proxy import FaultyProxy

from .conftest import CLI, s3_config

THRESHOLD = "5MB"  # S3's smallest part: the big index's largest blob is copied in parts


def repo_keys(client, bucket, base):
    """Every key of the repository at ``base``: under it, and in hashed shard folders (<hash>/<base>/...)."""
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith("/"):
                continue
            if key.startswith(base + "/") or key.split("/", 1)[-1].startswith(base + "/"):
                found[key] = (item["Size"], item.get("ETag", ""))  # s3proxy lists its leftovers without one
    return found


# s3proxy's filesystem backend writes a blob to "<key>-<uuid>" and renames it: a SIGKILL mid-write
# leaves that file, which it then lists as an object (no ETag). Not the tool's; sync keeps it.
LEFTOVER = re.compile(r"(.+)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def whole_copy(copied: dict, wanted: dict) -> None:
    """Every key of ``wanted`` ({key: size}) is in ``copied`` with its size, and any other key of
    ``copied`` is s3proxy's leftover of a write of one of them."""
    assert {k: copied.get(k) for k in wanted} == wanted
    extra = [k for k in copied if k not in wanted]
    assert all((m := LEFTOVER.fullmatch(k)) and m.group(1) in wanted for k in extra), extra


def store_sections(source, source_bucket, destination, destination_bucket, dest_base, *, prefix, workers=8):
    return f"""
[destination_repository]
bucket = {destination_bucket}
base_path = {dest_base}
client = {"second" if destination is not source else "default"}

[source_store]
endpoint_url = {source.endpoint}
bucket = {source_bucket}
access_key = {source.access_key}
secret_key = {source.secret_key}
addressing_style = path

[destination_store]
endpoint_url = {destination.endpoint}
access_key = {destination.access_key}
secret_key = {destination.secret_key}
addressing_style = path

[sync]
workers = {workers}
multipart_threshold = {THRESHOLD}
multipart_chunksize = {THRESHOLD}

[restore]
existing_indices = rename
rename_pattern = (.+)
rename_replacement = {prefix}-$1
"""


def a_to_b(stack, unique, indices, **kwargs):
    base, dest_base = f"sync/{unique}", f"synced/{unique}"
    text = s3_config(stack, repo=f"repo-{unique}", base_path=base, indices=indices)
    return text + store_sections(
        stack.s3, stack.s3.bucket, stack.s3b, stack.s3b.bucket, dest_base, prefix=unique, **kwargs
    )


def copied(result) -> int:
    match = re.search(r"^sync: (\d+) objects?", result.out, re.M)
    assert match, result
    return int(match.group(1))


@pytest.fixture(scope="module")
def big_index(src):
    """An index whose stored-fields blob is over 5 MB (random text does not compress)."""
    name = f"big{os.getpid() % 1000}"
    if not src.exists(name):
        lines = []
        for n in range(2500):
            text = base64.b64encode(os.urandom(2400)).decode()
            lines += [{"index": {"_index": name, "_id": str(n)}}, {"n": n, "word": text[:20], "blob": text}]
        src(
            "PUT",
            f"/{name}",
            {
                "settings": {"number_of_shards": 1, "number_of_replicas": 0},
                "mappings": {"properties": {"blob": {"type": "keyword", "index": False, "doc_values": False}}},
            },
        )
        for start in range(0, len(lines), 1000):
            src("POST", "/_bulk", ndjson=lines[start : start + 1000])
        src("POST", f"/{name}/_refresh")
        src("POST", f"/{name}/_forcemerge?max_num_segments=1")
    return name


def test_backup_sync_restore_across_moto_and_s3proxy_then_only_new_blobs_are_copied(
    stack, src, dest, cli, write, unique, big_index
):
    index = f"{unique}-x"
    src.seed(index, 300, shards=2)
    config = write(a_to_b(stack, unique, f"{index},{big_index}"))
    a, b = stack.s3.client(), stack.s3b.client()
    base = f"sync/{unique}"

    assert cli("-m", "backup", "-c", config, "--snapshot", "snap-1").code == 0
    first = repo_keys(a, stack.s3.bucket, base)
    assert any(not k.startswith(base + "/") for k in first), "no HASHED_PREFIX shard folder: layout changed?"
    assert max(size for size, _ in first.values()) > 5 * 1024**2, "no blob over the multipart threshold"
    sync = cli("-m", "sync", "-c", config)
    assert sync.code == 0, sync
    assert copied(sync) == len(first)
    assert re.search(r"copied in [\d.]+s \([\d.]+ MB/s\)", sync.out)
    synced = repo_keys(b, stack.s3b.bucket, f"synced/{unique}")
    assert len(synced) == len(first)
    assert any("-" in etag for _, etag in synced.values()), "the big blob was not copied in parts"
    for secret in (stack.s3.secret_key, stack.s3b.secret_key, stack.s3b.access_key):
        assert secret not in sync.out + sync.err

    restore = cli("-m", "restore", "-c", config, "--snapshot", "snap-1")
    assert restore.code == 0, restore
    assert dest.count(f"{unique}-{index}") == 300 and dest.count(f"{unique}-{big_index}") == src.count(big_index)
    settings = dest("GET", f"/_snapshot/repo-{unique}")[f"repo-{unique}"]["settings"]
    assert (settings["bucket"], settings["client"]) == (stack.s3b.bucket, "second")

    src.seed(index, 40, start=300)
    assert cli("-m", "backup", "-c", config, "--snapshot", "snap-2").code == 0
    second = repo_keys(a, stack.s3.bucket, base)
    new = set(second) - set(first)
    rewritten = {k for k in set(first) & set(second) if first[k] != second[k]}
    assert f"{base}/index.latest" in rewritten
    again = cli("-m", "sync", "-c", config)
    assert again.code == 0, again
    assert copied(again) == len(new) + len(rewritten), (sorted(new), sorted(rewritten), again.out)
    assert len(new) < len(first)

    restore = cli("-m", "restore", "-c", config, "--snapshot", "snap-2", "--existing", "delete", "--confirm-delete")
    assert restore.code == 0, restore
    assert dest.count(f"{unique}-{index}") == 340

    idle = cli("-m", "sync", "-c", config)
    assert idle.code == 0 and copied(idle) == 0, idle

    # snap-1 deleted on the source: --delete removes what only it used from the destination (one
    # DeleteObjects per 1,000 keys on s3proxy), after the new root blobs; snap-2 still restores there
    src("DELETE", f"/_snapshot/repo-{unique}/snap-1")
    left = repo_keys(a, stack.s3.bucket, base)
    assert len(left) < len(second)
    pruned = cli("-m", "sync", "-c", config, "--delete")
    assert pruned.code == 0, pruned
    assert re.search(r"; \d+ deleted", pruned.out), pruned.out
    synced = repo_keys(b, stack.s3b.bucket, f"synced/{unique}")
    assert set(synced) == {k.replace(f"sync/{unique}/", f"synced/{unique}/", 1) for k in left}
    restore = cli("-m", "restore", "-c", config, "--snapshot", "snap-2", "--existing", "delete", "--confirm-delete")
    assert restore.code == 0, restore
    assert dest.count(f"{unique}-{index}") == 340


def test_sync_killed_midway_leaves_the_destination_restorable_and_a_rerun_completes(
    stack, src, dest, cli, write, unique
):
    index = f"{unique}-k"
    src.seed(index, 50, shards=3)
    config = write(a_to_b(stack, unique, index, workers=1))
    assert cli("-m", "backup", "-c", config, "--snapshot", "one").code == 0
    assert cli("-m", "sync", "-c", config).code == 0
    assert cli("-m", "restore", "-c", config, "--snapshot", "one").code == 0
    for batch in range(6):  # many segments, so the second snapshot has many new blobs
        src.seed(index, 30, start=50 + batch * 30)
    assert cli("-m", "backup", "-c", config, "--snapshot", "two").code == 0
    b = stack.s3b.client()
    before = repo_keys(b, stack.s3b.bucket, f"synced/{unique}")

    dry = cli("-m", "sync", "-c", config, "--dry-run")
    assert dry.code == 0, dry
    planned = int(re.search(r"would copy (\d+) objects?", dry.out).group(1))
    assert planned > 10 and dry.out.count("DRY RUN: would copy ") == planned
    assert repo_keys(b, stack.s3b.bucket, f"synced/{unique}") == before

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ES_S3_SNAPSHOT", "AWS_"))}
    proc = subprocess.Popen(
        [CLI, "-m", "sync", "-c", config, "-v"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env
    )
    seen = 0
    for line in proc.stderr:
        if " copied " in line:
            seen += 1
            if seen == 3:
                proc.send_signal(signal.SIGKILL)
                break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    during = repo_keys(b, stack.s3b.bucket, f"synced/{unique}")
    assert len(before) < len(during) < len(before) + planned
    assert during[f"synced/{unique}/index.latest"] == before[f"synced/{unique}/index.latest"]
    names = [s["snapshot"] for s in dest("GET", f"/_snapshot/repo-{unique}/_all")["snapshots"]]
    assert names == ["one"]  # the destination still sees its previous, consistent state

    rerun = cli("-m", "sync", "-c", config)
    assert rerun.code == 0, rerun
    assert 0 < copied(rerun) <= planned - 3  # what the killed run had not finished
    restore = cli("-m", "restore", "-c", config, "--snapshot", "two", "--existing", "delete", "--confirm-delete")
    assert restore.code == 0, restore
    assert dest.count(f"{unique}-{index}") == src.count(index) == 230


def test_server_side_copy_between_two_buckets_on_one_server_restores(stack, src, dest, cli, write, unique, big_index):
    other = f"copy-{unique}".lower()
    stack.s3.client().create_bucket(Bucket=other)
    base = f"ss/{unique}"
    text = s3_config(stack, repo=f"repo-{unique}", base_path=base, indices=big_index)
    config = write(text + store_sections(stack.s3, stack.s3.bucket, stack.s3, other, f"moved/{unique}", prefix=unique))
    assert cli("-m", "backup", "-c", config, "--snapshot", "s").code == 0
    sync = cli("-m", "sync", "-c", config)
    assert sync.code == 0, sync
    assert "server-side" in sync.out
    moved = repo_keys(stack.s3.client(), other, f"moved/{unique}")
    assert len(moved) == copied(sync) == len(repo_keys(stack.s3.client(), stack.s3.bucket, base))
    assert any("-" in etag for _, etag in moved.values()), "the big blob was not copied with UploadPartCopy"
    restore = cli("-m", "restore", "-c", config, "--snapshot", "s")
    assert restore.code == 0, restore
    assert dest.count(f"{unique}-{big_index}") == src.count(big_index)


def test_source_bodies_broken_off_halfway_are_read_on_and_the_copies_restore(
    stack, src, dest, cli, write, unique, big_index
):
    """A proxy in front of moto breaks each object GET of over 1 MB off halfway, once: the multipart copy
    (parts read in turn from one GET) and the single streamed PUT both read on from the byte the
    connection broke at, and the copy restores."""
    index = f"{unique}-r"
    src.seed(index, 200, shards=2)
    text = a_to_b(stack, unique, f"{index},{big_index}")
    proxy = FaultyProxy(stack.s3.endpoint, breaks=1, how="close")
    try:
        text = text.replace(
            f"[source_store]\nendpoint_url = {stack.s3.endpoint}", f"[source_store]\nendpoint_url = {proxy.url}"
        )
        assert proxy.url in text
        config = write(text)
        assert cli("-m", "backup", "-c", config, "--snapshot", "snap-1").code == 0
        sync = cli("-m", "sync", "-c", config, "-v")
        assert sync.code == 0, sync
        parts_broken = {path for path, n in proxy.broken.items() if n}
        assert parts_broken and sync.err.count("reading on from there") == len(parts_broken), sync.err[-3000:]
        assert all(int(r.split("=")[1].split("-")[0]) > 0 for _, r in proxy.ranges)  # never from byte 0
        # the same, each blob in one streamed PUT (the threshold over the largest blob)
        proxy.broken.clear()
        proxy.ranges.clear()
        single = text.replace(f"synced/{unique}", f"synced1/{unique}").replace("threshold = 5MB", "threshold = 1GB")
        again = cli("-m", "sync", "-c", write(single, "single.conf"), "-v")
        assert again.code == 0, again
        assert {path for path, n in proxy.broken.items() if n} == parts_broken
        assert again.err.count("reading on from there") == len(parts_broken), again.err[-3000:]
        assert all(int(r.split("=")[1].split("-")[0]) > 0 for _, r in proxy.ranges)
    finally:
        proxy.close()
    b = stack.s3b.client()
    source = repo_keys(stack.s3.client(), stack.s3.bucket, f"sync/{unique}")
    for name in ("synced", "synced1"):
        copy = repo_keys(b, stack.s3b.bucket, f"{name}/{unique}")
        assert {k: size for k, (size, _) in copy.items()} == {
            k.replace(f"sync/{unique}/", f"{name}/{unique}/", 1): size for k, (size, _) in source.items()
        }
    for path in parts_broken:  # byte for byte
        key = path.split("/", 2)[2]
        want = stack.s3.client().get_object(Bucket=stack.s3.bucket, Key=key)["Body"].read()
        for name in ("synced", "synced1"):
            got = b.get_object(Bucket=stack.s3b.bucket, Key=key.replace(f"sync/{unique}/", f"{name}/{unique}/", 1))
            assert got["Body"].read() == want
    restore = cli("-m", "restore", "-c", config, "--snapshot", "snap-1")
    assert restore.code == 0, restore
    assert dest.count(f"{unique}-{index}") == 200 and dest.count(f"{unique}-{big_index}") == src.count(big_index)


def _through_a_restart(stack, args: list[str], ready=None) -> tuple[int, str]:
    """Run the CLI with ``args`` and ``-v``; once ``ready()`` (default: its first copied object),
    kill s3proxy (SIGKILL, its data on disk) and start it again on its port 8 s later; returns the
    exit code and the output and log. The log is read on another thread all along, so that the
    tool never waits on a full pipe."""
    import threading
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ES_S3_SNAPSHOT", "AWS_"))}
    proc = subprocess.Popen([CLI, *args, "-v"], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    ready = ready or (lambda: any(" copied " in line for line in lines))

    def drain():
        for line in proc.stderr:
            lines.append(line)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not ready() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before the store could be restarted: nothing proven"
        stack.restart_s3("s3b", down=8)  # away longer than the 7.75 s of sleeps of a store never reached
        out = proc.stdout.read()  # not communicate(): it would read the log too, beside drain()
        proc.wait(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(10)
    return proc.returncode, out + "".join(lines)


def test_a_store_restarted_mid_sync_is_waited_for_as_destination_and_as_source(
    stack, src, dest, cli, write, unique, big_index
):
    """s3proxy (filesystem backend, its data on disk) is killed and started again on its port while
    a sync writes to it, then while a sync reads from it, then while scrub reads it through a
    load balancer that answers 502 meanwhile. Each run waits for it (outage_wait), says so in one
    WARNING and one INFO line, and ends with exit 0; the copies are whole: the first restores, the
    second is byte-identical to it, and scrub finds no damage."""
    index = f"{unique}-o"
    src.seed(index, 40, shards=2)
    for batch in range(4):  # many segments: many blobs, so the restart falls mid-copy
        src.seed(index, 20, start=40 + batch * 20)
    config = write(a_to_b(stack, unique, f"{index},{big_index}", workers=1))
    assert cli("-m", "backup", "-c", config, "--snapshot", "snap-1").code == 0

    code, log = _through_a_restart(stack, ["-m", "sync", "-c", config])
    assert code == 0, log[-4000:]
    destination = f"destination store s3://{stack.s3b.bucket}/synced/{unique} at {stack.s3b.endpoint}"
    assert f"WARNING the {destination} stopped answering" in log, log[-4000:]
    assert f"INFO the {destination} answers again" in log, log[-4000:]
    b = stack.s3b.client()
    source = repo_keys(stack.s3.client(), stack.s3.bucket, f"sync/{unique}")
    synced = repo_keys(b, stack.s3b.bucket, f"synced/{unique}")
    whole_copy(
        {k: size for k, (size, _) in synced.items()},
        {k.replace(f"sync/{unique}/", f"synced/{unique}/", 1): size for k, (size, _) in source.items()},
    )
    restore = cli("-m", "restore", "-c", config, "--snapshot", "snap-1")
    assert restore.code == 0, restore
    assert dest.count(f"{unique}-{index}") == src.count(index) == 120
    assert dest.count(f"{unique}-{big_index}") == src.count(big_index)

    # back from s3proxy to moto, s3proxy restarted while it is read
    text = s3_config(stack, repo=f"repo-{unique}", base_path=f"synced/{unique}", indices=index)
    text += store_sections(stack.s3b, stack.s3b.bucket, stack.s3, stack.s3.bucket, f"back/{unique}", prefix=unique,
                           workers=1)  # fmt: skip
    code, log = _through_a_restart(stack, ["-m", "sync", "-c", write(text, "back.conf")])
    assert code == 0, log[-4000:]
    origin = f"source store s3://{stack.s3b.bucket}/synced/{unique} at {stack.s3b.endpoint}"
    assert f"WARNING the {origin} stopped answering" in log, log[-4000:]
    back = repo_keys(stack.s3.client(), stack.s3.bucket, f"back/{unique}")
    assert len(back) == len(synced)
    for key in synced:  # byte for byte
        want = b.get_object(Bucket=stack.s3b.bucket, Key=key)["Body"].read()
        got = stack.s3.client().get_object(
            Bucket=stack.s3.bucket, Key=key.replace(f"synced/{unique}/", f"back/{unique}/", 1)
        )
        assert got["Body"].read() == want, key

    # scrub --read-data of the copy through a slow load balancer (0.1 s a request) that answers
    # 502 while s3proxy is away: waited for, and no blob taken for damage
    proxy = FaultyProxy(stack.s3b.endpoint, delay=0.1)
    try:
        slow = write(text.replace(f"endpoint_url = {stack.s3b.endpoint}", f"endpoint_url = {proxy.url}"), "lb.conf")
        code, log = _through_a_restart(
            stack, ["-m", "scrub", "-c", slow, "--read-data", "--on", "source"], ready=lambda: proxy.requests >= 5
        )
    finally:
        proxy.close()
    assert code == 0 and "0 damaged" in log, log[-4000:]
    behind = f"source store s3://{stack.s3b.bucket}/synced/{unique} at {proxy.url}"
    assert proxy.bad_gateway > 0 and f"WARNING the {behind} stopped answering (502" in log, log[-4000:]
    assert f"INFO the {behind} answers again" in log, log[-4000:]


def test_bad_store_input_is_one_line_naming_the_store(stack, cli, write, unique):
    good = a_to_b(stack, unique, "x")
    cases = {
        "missing bucket": (
            good.replace(f"bucket = {stack.s3b.bucket}", "bucket = no-such-bucket"),
            1,
            "bucket no-such-bucket does not exist on the destination store",
        ),
        "wrong keys": (
            good.replace(f"secret_key = {stack.s3b.secret_key}", "secret_key = not-the-credential"),
            2,
            "the destination store s3://",
        ),
        "unreachable": (
            good.replace(f"endpoint_url = {stack.s3b.endpoint}", "endpoint_url = http://127.0.0.1:9"),
            2,
            "cannot reach the destination store",
        ),
    }
    for case, (text, code, message) in cases.items():
        result = cli("-m", "sync", "-c", write(text, f"{case.replace(' ', '-')}.conf"))
        assert result.code == code, (case, result)
        assert message in result.err, (case, result)
        assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err, (case, result)
        assert "not-the-credential" not in result.err
    again = cli("-m", "sync", "-c", write(cases["wrong keys"][0], "k.conf"))
    assert again.code == 2 and "refused our keys" in again.err, again


def test_migrate_syncs_between_its_backup_and_its_restore(stack, src, dest, cli, write, unique):
    """-m migrate with two stores: backup to moto, sync to s3proxy, restore from s3proxy, lag 0."""
    index = f"{unique}-mig"
    src.seed(index, 21)
    text = a_to_b(stack, unique, index).replace("existing_indices = rename", "existing_indices = refuse")
    text = re.sub(r"rename_pattern = .*\n|rename_replacement = .*\n", "", text)
    config = write(text)
    first = cli("-m", "migrate", "-c", config)
    assert first.code == 0, first
    assert re.search(r"^sync: \d+ objects?", first.out, re.M), first.out
    assert dest.count(index) == 21
    src.seed(index, 5, start=21)
    second = cli("-m", "migrate", "-c", config)
    assert second.code == 0, second
    assert dest.count(index) == 26
    assert re.search(rf"^{re.escape(index)}\s+{re.escape(index)}\s+26\s+26\s+0$", second.out, re.M), second.out


def test_a_rerun_aborts_the_multipart_uploads_an_earlier_sync_left_and_no_others(stack, src, cli, write, unique):
    index = f"{unique}-o"
    src.seed(index, 20)
    other = f"orphans-{unique}".lower()
    moto = stack.s3.client()
    moto.create_bucket(Bucket=other)
    base, dest_base = f"orph/{unique}", f"kept/{unique}"
    text = s3_config(stack, repo=f"repo-{unique}", base_path=base, indices=index)
    text += store_sections(stack.s3, stack.s3.bucket, stack.s3, other, dest_base, prefix=unique)
    config = write(text.replace("[sync]\n", "[sync]\nserver_side_copy = never\n"))
    assert cli("-m", "backup", "-c", config, "--snapshot", "s").code == 0
    blob = next(k for k in repo_keys(moto, stack.s3.bucket, base) if "/indices/" in k)
    left = moto.create_multipart_upload(Bucket=other, Key=blob.replace(base, dest_base, 1))["UploadId"]
    foreign = moto.create_multipart_upload(Bucket=other, Key=f"{dest_base}/not-a-blob-of-the-source")["UploadId"]
    sync = cli("-m", "sync", "-c", config)
    assert sync.code == 0, sync
    assert "aborted 1 of 1 incomplete multipart upload" in sync.err
    open_uploads = {u["UploadId"] for u in moto.list_multipart_uploads(Bucket=other).get("Uploads", [])}
    assert left not in open_uploads and foreign in open_uploads


@pytest.mark.parametrize("server", ["s3", "s3b"])
def test_a_long_listing_read_in_parallel_holds_every_key_once_on_moto_and_s3proxy(stack, unique, monkeypatch, server):
    """s3proxy's filesystem backend also lists its directories (keys ending in "/"), and a page may
    end on one: the rest of the listing, read one first character at a time, still holds every
    object once. Pages of 7 keys, so that a few dozen objects make many pages."""
    from es_s3_snapshot.config import StoreConfig
    from es_s3_snapshot.s3http import S3Http
    from es_s3_snapshot.store import Store

    store_server = getattr(stack, server)
    prefix = f"fan-{unique}/"
    # no object named as a folder ("a" and "a/1"): a filesystem cannot hold both
    names = ["a0", "a/1", "a/b/c/d", "ab/x", "A/1", "-/x", "0", "1/0", "9z/q", "é/1", "éa", "x y/z", "zz/zz/zz"]
    names += [f"{c}{n:02d}/{m}" for c in "Ms_" for n in range(6) for m in ("__a", "snap-1.dat")]
    client = store_server.client()
    for name in names:
        client.put_object(Bucket=store_server.bucket, Key=prefix + name, Body=name.encode())
    real = S3Http.list_page
    monkeypatch.setattr(S3Http, "list_page", lambda self, p, d, t, max_keys=None: real(self, p, d, t, max_keys or 7))
    store = Store(
        StoreConfig(
            side="source",
            section="source_store",
            bucket=store_server.bucket,
            base_path="",
            endpoint_url=store_server.endpoint,
            access_key=store_server.access_key,
            secret_key=store_server.secret_key,
            addressing_style="path",
        )  # fmt: skip
    )
    listed = store.list_wide(prefix)
    assert sorted(blob.key for blob in listed) == sorted(prefix + name for name in names)
