"""-m scrub on repositories written by real engines: fs repositories of every version on the shared
`versions` stack (Elasticsearch 7.17, 8.19, 9.2; OpenSearch 1.3, 2.19, 3.3), compress on and
off; an S3 repository on moto written by OpenSearch 3.3 (hashed shard folders outside the base
path); and its copy synced to s3proxy (--on destination). No cluster is contacted by scrub: the
seeds point at a dead port. Damage is done to the real blobs (deleted, truncated, a byte flipped)
and must be found, pinned to the snapshots that reference it."""

from __future__ import annotations

import json
import shutil
import socket
import textwrap
from pathlib import Path

import pytest

from devstack.faulty_proxy import FaultyProxy
from es_s3_snapshot import repoformat

from .conftest import Api, s3_config
from .test_sync import store_sections

VERSIONS = ("es7", "es8", "es", "os1", "os2", "source")  # ES 7.17, 8.19, 9.2; OS 1.3, 2.19, 3.3


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def api_for(node) -> Api:
    return Api(node, node.admin_username, node.admin_password) if node.admin_username else Api(node)


def two_snapshots(api: Api, location: str, unique: str, settings: dict) -> None:
    """Register an fs repository at ``location`` and take snap-1, then snap-2 after more documents:
    the snapshots share some blobs and not others."""
    one, two = f"{unique}-one", f"{unique}-two"
    api.seed(one, 30)
    api.seed(two, 20, shards=2)
    api("PUT", f"/_snapshot/{unique}", {"type": "fs", "settings": {"location": location, **settings}})
    body = {"indices": f"{one},{two}", "include_global_state": False}
    api("PUT", f"/_snapshot/{unique}/snap-1?wait_for_completion=true", body)
    api.seed(one, 10, start=30)
    api("PUT", f"/_snapshot/{unique}/snap-2?wait_for_completion=true", body)
    api("DELETE", f"/_snapshot/{unique}")  # the repository's files stay; no cluster touches them again


def fs_scrub_config(write, location, name="scrub.conf") -> str:
    return write(
        textwrap.dedent(f"""
        [elasticsearch_config]
        es_repository_name = scrubbed
        es_src_seed1 = 127.0.0.1:{dead_port()}
        es_dest_seed1 = 127.0.0.1:{dead_port()}
        index_names = *

        [repository]
        type = fs
        location = {location}

        [scrub]
        workers = 4
        """),
        name,
    )


@pytest.mark.parametrize("compress", [True, False], ids=["compress", "plain"])
@pytest.mark.parametrize("name", VERSIONS)
def test_scrub_of_a_real_fs_repository_is_ok_on_every_engine(versions, name, compress, cli, write, unique):
    node = versions.nodes[name]
    location = f"{node.repo_path}/{unique}"
    two_snapshots(api_for(node), location, unique, {"compress": compress, "chunk_size": "4kb"})
    config = fs_scrub_config(write, location)
    for args in ((), ("--read-data",)):
        result = cli("-m", "scrub", "-c", config, *args)
        assert result.code == 0, f"{node.engine} {node.version}: {result!r}"
        lines = result.out.strip().splitlines()
        assert lines[:2] == ["snap-1: ok", "snap-2: ok"], result
        assert lines[-1].startswith("scrub: 2 snapshots checked"), result
    assert "(all data), 0 damaged" in lines[-1] and " 0 data)" not in lines[-1]


class Damage:
    """A copy of a real repository, and where its blobs are (read with the reader itself)."""

    def __init__(self, source: Path, target: Path):
        shutil.copytree(source, target)
        self.root = target
        self.generation = repoformat.latest_generation((target / "index.latest").read_bytes())
        self.data = repoformat.repository_data((target / f"index-{self.generation}").read_bytes(), self.generation)
        self.uuid = {s.name: s.uuid for s in self.data.snapshots}

    def index(self, suffix: str):
        return next(i for n, i in self.data.indices.items() if n.endswith(suffix))

    def folder(self, suffix: str, shard: int = 0) -> Path:
        index = self.index(suffix)
        return self.root / repoformat.shard_folder("", index.id, shard, index.shard_path_type)

    def files(self, suffix: str, snapshot: str) -> dict:
        blob = self.folder(suffix) / f"snap-{self.uuid[snapshot]}.dat"
        return {f.name: f for f in repoformat.shard_snapshot(blob.read_bytes()).files if not f.virtual}

    def only_in_snap2(self):
        first = self.files("-one", "snap-1")
        return next(f for n, f in self.files("-one", "snap-2").items() if n not in first)

    def shared(self):
        second = self.files("-one", "snap-2")
        return max((f for n, f in self.files("-one", "snap-1").items() if n in second), key=lambda f: f.length)


def flip(path: Path, at: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2 if at is None else at] ^= 0x10
    path.write_bytes(bytes(data))


def verdict_lines(result) -> dict[str, str]:
    return {line.split(":", 1)[0]: line for line in result.out.splitlines() if line.startswith("snap-")}


@pytest.mark.parametrize("name", ["es", "source"])
def test_scrub_finds_each_kind_of_damage_in_a_real_repository(versions, name, cli, write, unique, tmp_path):
    node = versions.nodes[name]
    location = f"{node.repo_path}/{unique}"
    settings = {"compress": True} if name == "es" else {"compress": False, "shard_path_type": "hashed_prefix"}
    two_snapshots(api_for(node), location, unique, settings)
    cases = iter(range(100))

    def damaged(change) -> tuple[Damage, object, object]:
        repo = Damage(Path(location), tmp_path / f"case{next(cases)}")
        change(repo)
        config = fs_scrub_config(write, repo.root, f"case{repo.root.name}.conf")
        return repo, cli("-m", "scrub", "-c", config), cli("-m", "scrub", "-c", config, "--read-data")

    # a data blob only snap-2 references: snap-2 damaged, snap-1 ok
    def delete_new(repo):
        repo.gone = repo.only_in_snap2()
        (repo.folder("-one") / repo.gone.name).unlink()

    repo, meta, _ = damaged(delete_new)
    assert meta.code == 1, meta
    lines = verdict_lines(meta)
    assert lines["snap-1"] == "snap-1: ok", meta
    assert lines["snap-2"].startswith("snap-2: DAMAGED: index ") and f"{repo.gone.name}: missing" in lines["snap-2"]
    assert f"file {repo.gone.physical_name}" in lines["snap-2"] and "shard 0" in lines["snap-2"]
    assert "1 damaged" in meta.err.strip().splitlines()[-1]

    # a data blob every snapshot references: both damaged
    def delete_shared(repo):
        (repo.folder("-one") / repo.shared().name).unlink()

    _, meta, _ = damaged(delete_shared)
    assert meta.code == 1 and all(": missing" in line for line in verdict_lines(meta).values()), meta

    # a data blob cut short
    def truncate(repo):
        blob = repo.folder("-one") / repo.shared().name
        blob.write_bytes(blob.read_bytes()[:-50])

    _, meta, _ = damaged(truncate)
    assert meta.code == 1 and all(": short (" in line for line in verdict_lines(meta).values()), meta

    # a byte flipped inside a data blob: only --read-data finds it
    def rot(repo):
        flip(repo.folder("-one") / repo.shared().name)

    repo, meta, full = damaged(rot)
    assert meta.code == 0, meta
    assert full.code == 1 and all(": checksum (content CRC32" in line for line in verdict_lines(full).values()), full
    # a sample of every file finds it too (the summary calls a 100% sample all data)
    config = fs_scrub_config(write, repo.root, "subset.conf")
    sample = cli("-m", "scrub", "-c", config, "--read-data-subset", "100%")
    assert sample.code == 1 and all(": checksum (" in line for line in verdict_lines(sample).values()), sample
    assert "(all data)" in sample.err.strip().splitlines()[-1], sample

    # a byte flipped in a shard-level blob (snap-1's file list of index one)
    def rot_shard_blob(repo):
        flip(repo.folder("-one") / f"snap-{repo.uuid['snap-1']}.dat")

    _, meta, _ = damaged(rot_shard_blob)
    lines = verdict_lines(meta)
    assert meta.code == 1 and ": checksum (CRC32 is" in lines["snap-1"] and lines["snap-2"] == "snap-2: ok", meta

    # an index metadata blob deleted
    def delete_index_metadata(repo):
        snapshot = next(s for s in repo.data.snapshots if s.name == "snap-1")
        (repo.root / repo.data.index_metadata_blob(repo.index("-two"), snapshot)).unlink()

    _, meta, _ = damaged(delete_index_metadata)
    assert meta.code == 1 and "/meta-" in verdict_lines(meta)["snap-1"] and ": missing" in verdict_lines(meta)["snap-1"]

    # a root snap-*.dat deleted: that snapshot only
    def delete_root_snap(repo):
        (repo.root / f"snap-{repo.uuid['snap-2']}.dat").unlink()

    repo, meta, _ = damaged(delete_root_snap)
    lines = verdict_lines(meta)
    assert meta.code == 1 and lines["snap-1"] == "snap-1: ok", meta
    assert lines["snap-2"] == f"snap-2: DAMAGED: blob snap-{repo.uuid['snap-2']}.dat: missing", meta

    # index-N deleted: the repository cannot be read at all
    def delete_index_n(repo):
        (repo.root / f"index-{repo.generation}").unlink()

    repo, meta, _ = damaged(delete_index_n)
    assert meta.code == 1, meta
    assert f"repository: DAMAGED: blob index-{repo.generation}: missing" in meta.out, meta

    # --json on the first damage
    repo, _, _ = damaged(delete_new)
    result = cli("-m", "scrub", "-c", fs_scrub_config(write, repo.root, "json.conf"), "--json")
    doc = json.loads(result.out)
    assert result.code == 1 and doc["restorable"] is False
    by_name = {s["name"]: s for s in doc["snapshots"]}
    assert by_name["snap-1"]["restorable"] is True
    (problem,) = by_name["snap-2"]["problems"]
    assert problem["problem"] == "missing" and problem["shard"] == 0 and problem["index"].endswith("-one")


# --- S3 ------------------------------------------------------------------------------------------


def s3_store_section(s3, bucket, base=None, section="source_store", secret=None) -> str:
    return textwrap.dedent(f"""
        [{section}]
        endpoint_url = {s3.endpoint}
        bucket = {bucket}
        access_key = {s3.access_key}
        secret_key = {secret or s3.secret_key}
        addressing_style = path
        """) + (f"base_path = {base}\n" if base else "")


def keys_of(client, bucket, base):
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [i["Key"] for i in page.get("Contents", []) if base in i["Key"] and not i["Key"].endswith("/")]
    return keys


def data_blob(keys, base) -> str:
    """A data blob in a hashed shard folder outside the base path (OpenSearch 3.3's default)."""
    return next(k for k in keys if not k.startswith(base + "/") and k.rsplit("/", 1)[-1].startswith("__"))


def test_scrub_of_an_s3_repository_on_moto_and_its_synced_copy_on_s3proxy(stack, src, cli, write, unique):
    index = f"{unique}-s3"
    src.seed(index, 50, shards=2)
    base = f"scrub/{unique}"
    text = s3_config(stack, repo=f"repo-{unique}", base_path=base, indices=index)
    text = text.replace(stack.nodes["source"].url, f"http://127.0.0.1:{dead_port()}", 1)  # scrub needs no cluster
    backup_config = write(s3_config(stack, repo=f"repo-{unique}", base_path=base, indices=index), "backup.conf")
    assert cli("-m", "backup", "-c", backup_config, "--snapshot", "snap-1").code == 0
    src.seed(index, 10, start=50)
    assert cli("-m", "backup", "-c", backup_config, "--snapshot", "snap-2").code == 0

    config = write(text + s3_store_section(stack.s3, stack.s3.bucket), "scrub.conf")
    result = cli("-m", "scrub", "-c", config, "--read-data")
    assert result.code == 0, result
    assert result.out.splitlines()[:2] == ["snap-1: ok", "snap-2: ok"] and "(all data), 0 damaged" in result.out

    # the synced copy on s3proxy: --on destination reads [destination_store] with
    # [destination_repository]'s bucket and base path
    sync_text = text + store_sections(
        stack.s3, stack.s3.bucket, stack.s3b, stack.s3b.bucket, f"copy/{unique}", prefix=unique
    )
    synced = write(sync_text, "sync.conf")
    assert cli("-m", "sync", "-c", synced).code == 0
    copy = cli("-m", "scrub", "-c", synced, "--on", "destination", "--read-data")
    assert copy.code == 0, copy
    assert "0 damaged" in copy.out

    # every blob of the copy over 1 KB breaks off halfway once (a proxy before s3proxy): read on from
    # that byte, never taken for damage
    proxy = FaultyProxy(stack.s3b.endpoint, breaks=1, larger_than=1000)
    try:
        flaky = sync_text.replace(
            f"[destination_store]\nendpoint_url = {stack.s3b.endpoint}",
            f"[destination_store]\nendpoint_url = {proxy.url}",
        )
        assert proxy.url in flaky
        shaky = cli("-m", "scrub", "-c", write(flaky, "flaky.conf"), "--on", "destination", "--read-data")
    finally:
        proxy.close()
    assert shaky.code == 0 and "0 damaged" in shaky.out, shaky
    assert sum(proxy.broken.values()) >= 2 and len(proxy.ranges) >= sum(proxy.broken.values())

    # one object lost in the copy: found there, named
    b = stack.s3b.client()
    lost = data_blob(keys_of(b, stack.s3b.bucket, f"copy/{unique}"), f"copy/{unique}")
    b.delete_object(Bucket=stack.s3b.bucket, Key=lost)
    broken = cli("-m", "scrub", "-c", synced, "--on", "destination")
    assert broken.code == 1, broken
    assert f"blob {lost}: missing" in broken.out
    assert cli("-m", "scrub", "-c", synced).code == 0  # the source is intact

    # bit rot on moto: only --read-data finds it
    a = stack.s3.client()
    rotten = data_blob(keys_of(a, stack.s3.bucket, base), base)
    body = bytearray(a.get_object(Bucket=stack.s3.bucket, Key=rotten)["Body"].read())
    body[len(body) // 2] ^= 0x08
    a.put_object(Bucket=stack.s3.bucket, Key=rotten, Body=bytes(body))
    assert cli("-m", "scrub", "-c", config).code == 0
    rot = cli("-m", "scrub", "-c", config, "--read-data")
    assert rot.code == 1 and f"blob {rotten}: checksum" in rot.out, rot


def test_scrub_of_an_unreachable_store_or_refused_keys_exits_2_naming_the_store(stack, cli, write, unique):
    base = f"scrub/{unique}"
    text = s3_config(stack, repo=f"repo-{unique}", base_path=base, indices="x").replace(
        stack.nodes["source"].url, f"http://127.0.0.1:{dead_port()}", 1
    )
    port = dead_port()
    unreachable = text + s3_store_section(stack.s3, stack.s3.bucket).replace(
        stack.s3.endpoint, f"http://127.0.0.1:{port}"
    )
    result = cli("-m", "scrub", "-c", write(unreachable, "dead.conf"))
    assert result.code == 2, result
    (line,) = result.err.strip().splitlines()
    assert f"source store s3://{stack.s3.bucket}/{base}" in line and f"127.0.0.1:{port}" in line

    refused = text + s3_store_section(stack.s3b, stack.s3b.bucket, secret="wrong-secret")
    result = cli("-m", "scrub", "-c", write(refused, "refused.conf"))
    assert result.code == 2, result
    (line,) = result.err.strip().splitlines()
    assert "refused our keys" in line and "wrong-secret" not in result.out + result.err


# --- what scrub cannot judge: OpenSearch remote-store (shallow) snapshots -------------------------


@pytest.fixture(scope="module")
def remote_store():
    """An OpenSearch 2.19 node whose indices are remote-store backed (segments, translog and state
    in an fs repository under its path.repo): its own small stack, started only for this test."""
    from devstack import Stack
    from devstack.repo_fixtures import REMOTE_STORE_SETTINGS

    with Stack(nodes=("os2",), timeout=900, node_settings={"os2": REMOTE_STORE_SETTINGS}) as running:
        yield running.nodes["os2"]


def test_scrub_says_it_cannot_judge_a_real_shallow_snapshot_and_judges_a_full_one_beside_it(
    remote_store, cli, write, unique
):
    api = Api(remote_store)
    index = f"{unique}-rs"
    api.seed(index, 30)
    settings = api("GET", f"/{index}/_settings")[index]["settings"]["index"]
    assert settings["remote_store"]["enabled"] == "true", settings
    location = f"{remote_store.repo_path}/{unique}"
    kinds = (  # one repository holds the three kinds: a full copy, a shallow copy, a shallow v2 (all indices)
        ("full", {"remote_store_index_shallow_copy": False}, {"indices": index}),
        ("shallow", {"remote_store_index_shallow_copy": True}, {"indices": index}),
        ("v2", {"remote_store_index_shallow_copy": True, "shallow_snapshot_v2": True}, {}),
    )
    for n, (snapshot, settings, body) in enumerate(kinds):
        api("PUT", f"/_snapshot/{unique}", {"type": "fs", "settings": {"location": location, **settings}})
        answer = api("PUT", f"/_snapshot/{unique}/{snapshot}?wait_for_completion=true", body)["snapshot"]
        assert bool(answer.get("remote_store_index_shallow_copy")) is (snapshot != "full"), answer
        assert bool(answer.get("pinned_timestamp")) is (snapshot == "v2"), answer
        api.seed(index, 10, start=30 + 10 * n)
    api("DELETE", f"/_snapshot/{unique}")
    assert list(Path(location).rglob("shallow-snap-*.dat")), "no shard-level shallow blob written"

    config = fs_scrub_config(write, location)
    for args in ((), ("--read-data",)):
        result = cli("-m", "scrub", "-c", config, *args)
        assert result.code == 0, result  # nothing damaged; what it cannot judge it says, not an exit code
        lines = result.out.strip().splitlines()
        assert lines[0] == "full: ok", result
        for line in lines[1:3]:
            assert line.split(": ", 1)[1].startswith("CANNOT JUDGE: an OpenSearch remote-store (shallow)"), result
        assert [line.split(":")[0] for line in lines[:3]] == ["full", "shallow", "v2"], result
        assert ", 0 damaged, 2 cannot be judged;" in lines[-1], result
    assert " 0 data)" not in lines[-1]  # the full snapshot's data blobs were read
    doc = json.loads(cli("-m", "scrub", "-c", config, "--json").out)
    by_name = {s["name"]: s for s in doc["snapshots"]}
    assert doc["restorable"] is True
    assert (by_name["full"]["restorable"], by_name["full"]["cannot_judge"]) == (True, None)
    for name in ("shallow", "v2"):
        assert by_name[name]["restorable"] is None and "remote-store" in by_name[name]["cannot_judge"]
