"""-m drill on real engines: OpenSearch 3.3 (source and destination on moto S3) and Elasticsearch
9.2 (fs repository, security on). A drill restores under drill- names (data streams too), checks,
prints the counts and deletes its copies: on success, on a damaged repository, and on SIGTERM and
Ctrl-C; an index or data stream it did not restore stays, whatever its name. Every line names the
cluster the drill acts on."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from .conftest import THROTTLED_RESTORE, Api, fs_config, s3_config, signalled


def drill_config(stack, unique, indices, extra=""):
    return s3_config(stack, repo=f"repo-{unique}", base_path=f"drill/{unique}", indices=indices, extra=extra)


def test_drill_restores_counts_and_deletes_its_copies_leaving_other_drill_indices(
    stack, src, dest, cli, write, unique, tmp_path
):
    a, b = f"{unique}-da", f"{unique}-db"
    src.seed(a, 25, shards=2)
    src.seed(b, 7)
    keep = f"drill-{unique}-keepme"  # an unrelated index that merely starts with drill-
    dest.seed(keep, 3)
    report = f"[report]\njson_file = {tmp_path}/run.json\nprometheus_file = {tmp_path}/es.prom\n"
    config = write(drill_config(stack, unique, f"{unique}-d*", report))
    assert cli("-m", "backup", "-c", config, "--snapshot", "s1").code == 0

    result = cli("-m", "drill", "-c", config)
    assert result.code == 0, result
    assert f"  drill-{a}  25 docs" in result.out and f"  drill-{b}  7 docs" in result.out
    last = result.out.strip().splitlines()[-1]
    assert last.startswith("drill ok: s1 restored 2 indices, 32 documents, ") and "(time to restore)" in last, last
    assert last.endswith("on the destination cluster; the copies were deleted"), last
    assert not dest.exists(f"drill-{a}") and not dest.exists(f"drill-{b}")
    assert dest.count(keep) == 3  # never touched
    assert not dest.exists(a)  # the drill restores only under new names

    data = json.loads(Path(tmp_path / "run.json").read_text())
    assert (data["mode"], data["outcome"], data["snapshot"], data["documents"]) == ("drill", "success", "s1", 32)
    assert data["restore_seconds"] > 0 and data["bytes"] > 0 and data["indices"] == [a, b]
    prom = Path(tmp_path / "es.prom").read_text()
    series = f'{{mode="drill",repository="repo-{unique}"}}'
    assert f"es_s3_snapshot_last_documents{series} 32" in prom
    assert f"es_s3_snapshot_last_restore_seconds{series} " in prom
    assert f"es_s3_snapshot_last_success_timestamp_seconds{series} " in prom

    # a copy's name taken: refused before restoring, and that index stays as it is
    dest.seed(f"drill-{b}", 2)
    refused = cli("-m", "drill", "-c", config)
    assert refused.code == 1, refused
    assert f"already has 1 index with a copy's name: drill-{b}; nothing was changed" in refused.err
    assert dest.count(f"drill-{b}") == 2 and not dest.exists(f"drill-{a}")
    dest("DELETE", f"/drill-{b}")
    dest("DELETE", f"/{keep}")


def test_drill_on_elasticsearch_on_the_source_side(stack, es, cli, write, unique):
    """Elasticsearch takes the drill's restore (ignore_index_settings index.lifecycle.name included),
    and every line names the source. Its integ-test distribution has data streams but no data
    stream API to delete them with: the drill leaves the data stream out, in one line."""
    node = stack.nodes["es"]
    index, stream = f"{unique}-esd", f"logs-{unique}-esds"
    es.seed(index, 40)
    make_stream(es, unique, stream, [6])
    config = write(fs_config(node, unique, index, f"username = {node.username}\npassword = {node.password}"))
    assert cli("-m", "backup", "-c", config, "--snapshot", "s0").code == 0  # registers the repository
    # the tool cannot see this engine's data streams (no data stream API): a snapshot taken by the engine's API
    taken = es("PUT", f"/_snapshot/fs-{unique}/s1?wait_for_completion=true", {"indices": f"{index},{stream}"})
    assert taken["snapshot"]["data_streams"] == [stream], taken
    config = write(
        fs_config(node, unique, f"{index},{stream}", f"username = {node.username}\npassword = {node.password}")
    )

    result = cli("-m", "drill", "-c", config, "--on", "source")
    assert result.code == 0, result
    assert f"  drill-{index}  40 docs" in result.out
    last = result.out.strip().splitlines()[-1]
    assert last.startswith("drill ok: s1 restored 1 index, 40 documents, "), last
    assert last.endswith("on the source cluster; the copies were deleted"), last
    assert "destination" not in result.out + result.err, result  # every line names the cluster it acts on
    assert "restored 1 index from " in result.out and " on the source: " in result.out
    left_out = [line for line in result.err.splitlines() if "data streams left out" in line]
    assert len(left_out) == 1 and left_out[0].endswith(
        "data streams left out of the drill: the source cluster has no data stream API (GET /_data_stream "
        f"answered 400) to delete their copies with: {stream}"
    ), result.err
    assert not es.exists(f"drill-{index}") and es.count(index) == 40
    assert not [
        r for r in es("GET", "/_cat/indices?format=json&h=index&expand_wildcards=all") if "drill-" in r["index"]
    ]
    es("DELETE", f"/{index}")  # the data stream stays: this engine cannot delete it (no data stream API)


def test_drill_of_a_damaged_repository_exits_1_naming_the_index_and_deletes_the_copy(stack, es, cli, write, unique):
    """The data blobs of the snapshot's shard are gone: the copy cannot recover, the drill says
    which index, and deletes what it restored."""
    node = stack.nodes["es"]
    index = f"{unique}-dmg"
    es.seed(index, 300)
    config = write(fs_config(node, unique, index, f"username = {node.username}\npassword = {node.password}"))
    assert cli("-m", "backup", "-c", config, "--snapshot", "s1").code == 0
    blobs = [p for p in Path(node.repo_path, unique, "indices").glob("*/0/__*")]
    assert blobs, "the shard has data blobs"
    for blob in blobs:
        blob.unlink()

    result = cli("-m", "drill", "-c", config, "--on", "source")
    assert result.code == 1, result
    last = result.err.strip().splitlines()[-1]
    assert f"drill-{index}" in last and "deleted the 1 index it restored" in last, last
    assert not es.exists(f"drill-{index}")
    es("DELETE", f"/{index}")


def test_sigterm_mid_drill_deletes_the_copy_then_exits_143(stack, src, dest, backed_up, unique):
    index = f"{unique}-dsig"
    src.seed(index, 0)
    src("POST", "/_aliases", {"actions": [{"add": {"index": index, "alias": f"{unique}-alias"}}]})
    _, throttled = backed_up(drill_config(stack, unique, index), index, 3000)  # a restore of several seconds
    seen = {}

    def copy_exists():
        if dest.exists(f"drill-{index}"):
            seen.update(dest("GET", f"/drill-{index}/_settings")[f"drill-{index}"]["settings"]["index"])
            seen["aliases"] = dest("GET", f"/drill-{index}/_alias")[f"drill-{index}"]["aliases"]
            return True
        return False

    returncode, err = signalled(["-m", "drill", "-c", throttled], copy_exists, signal.SIGTERM)
    assert returncode == 143, err
    last = err.strip().splitlines()[-1]
    assert last.endswith(
        "terminated (SIGTERM): the drill of s1 was stopped; deleted the 1 index it restored on the destination cluster"
    ), last
    assert "Traceback" not in err
    assert seen.get("number_of_replicas") == "0" and seen.get("aliases") == {}, seen  # the copy, as restored
    assert dest.status("GET", f"/_alias/{unique}-alias") == 404
    assert not dest.exists(f"drill-{index}")
    active = dest("GET", "/_cat/recovery?active_only=true&format=json&h=index")
    assert f"drill-{index}" not in [r["index"] for r in active]  # deleting the copy cancelled its recovery


def test_copies_of_a_killed_drill_are_deleted_by_the_next_drill(stack, dest, cli, backed_up, unique):
    index = f"{unique}-dkill"
    config, throttled = backed_up(drill_config(stack, unique, index), index, 3000)
    returncode, _ = signalled(["-m", "drill", "-c", throttled], lambda: dest.exists(f"drill-{index}"), signal.SIGKILL)
    assert returncode == -signal.SIGKILL
    assert dest.exists(f"drill-{index}")  # a killed run cannot clean up

    result = cli("-m", "drill", "-c", config)
    assert result.code == 0, result
    assert "an earlier drill of s1 did not end (killed?): deleted the 1 index it restored" in result.err
    assert f"  drill-{index}  3000 docs" in result.out
    assert not dest.exists(f"drill-{index}")


def make_stream(api, unique, stream, generations, pattern=None):
    """Data stream ``stream`` (its index template ``<unique>-ds`` first, for ``pattern``, else
    logs-<unique>-*), one backing index per generation with that many documents (rolled over
    between them)."""
    template = {
        "index_patterns": [pattern or f"logs-{unique}-*"],
        "data_stream": {},
        "template": {"settings": {"number_of_shards": 1, "number_of_replicas": 0}},
        "priority": 500,
    }
    api("PUT", f"/_index_template/{unique}-ds", template)
    for gen, docs in enumerate(generations):
        if gen:
            api("POST", f"/{stream}/_rollover")
        lines = []
        for n in range(docs):
            lines += [
                {"create": {"_index": stream}},
                {"@timestamp": f"2026-11-2{gen}T00:00:00Z", "n": n, "w": "x" * 20},
            ]
        for start in range(0, len(lines), 2000):
            answer = api("POST", "/_bulk?refresh=true", ndjson=lines[start : start + 2000])
            assert not answer["errors"], answer


def drill_copies(api, stream):
    """The indices on ``api``'s cluster whose names belong to the drill's copy of ``stream``."""
    rows = api("GET", "/_cat/indices?format=json&h=index&expand_wildcards=all")
    return sorted(r["index"] for r in rows if r["index"].startswith((f"drill-{stream}", f".ds-drill-{stream}-")))


def test_drill_restores_a_data_stream_checks_it_and_deletes_it_on_opensearch(stack, src, dest, cli, write, unique):
    """OpenSearch 3.3: the data stream is restored as drill-<name> with its backing indices
    .ds-drill-<name>-00000N (no index template needed), recorded by name and backing-index UUIDs,
    searched, counted, and deleted with DELETE _data_stream: on Ctrl-C (exit 130) and on success.
    A data stream of a copy's name that someone else has is refused and stays."""
    index, stream = f"{unique}-dsi", f"logs-{unique}-app"
    src.seed(index, 10)
    make_stream(src, unique, stream, [3000, 5])
    config = write(drill_config(stack, unique, f"{index},{stream}"))
    backup = cli("-m", "backup", "-c", config, "--snapshot", "s1")
    assert backup.code == 0 and "(1 data stream)" in backup.out, backup
    throttled = write(drill_config(stack, unique, f"{index},{stream}", THROTTLED_RESTORE), "throttled.conf")
    record = {}

    def recorded():  # the drill's record names the data stream and its backing indices' UUIDs
        answer = dest("GET", "/es-s3-snapshot-drills/_doc/drill-", ok=(200, 404, 503))  # 503: being created
        if answer and answer.get("found") and answer["_source"].get("data_streams"):
            record.update(answer["_source"])
            record["now"] = {
                r["index"]: r["uuid"]
                for r in dest("GET", "/_cat/indices?format=json&h=index,uuid&expand_wildcards=all")
            }
            return True
        return False

    returncode, err = signalled(["-m", "drill", "-c", throttled], recorded, signal.SIGINT)
    assert returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert (
        "interrupted (SIGINT): the drill of s1 was stopped; deleted the 1 index it restored on the destination" in last
    )
    assert f"deleted the 1 data stream it restored: drill-{stream}" in last, last
    assert record["data_streams"] == [f"drill-{stream}"], record
    backing = sorted(n for n in record["indices"] if n.startswith(f".ds-drill-{stream}-"))
    assert backing == [f".ds-drill-{stream}-000001", f".ds-drill-{stream}-000002"], record
    assert all(record["indices"][n] == record["now"][n] for n in backing)  # name and UUID
    assert drill_copies(dest, stream) == [] and drill_copies(dest, index) == []
    assert dest.status("GET", f"/_data_stream/drill-{stream}") == 404

    result = cli("-m", "drill", "-c", config)
    assert result.code == 0, result
    counts = [line.split() for line in result.out.splitlines() if line.endswith(" docs")]
    assert [f"drill-{index}", "10", "docs"] in counts and [f"drill-{stream}", "3005", "docs"] in counts, result
    last = result.out.strip().splitlines()[-1]
    assert last.startswith("drill ok: s1 restored 1 index, 1 data stream, 3015 documents, "), last
    assert "deleted the 1 data stream it restored" in result.err and "index template" not in result.err
    assert drill_copies(dest, stream) == [] and dest.status("GET", f"/_data_stream/drill-{stream}") == 404

    # someone's data stream under the copy's name: refused before restoring, and it stays
    make_stream(dest, f"{unique}-mine", f"drill-{stream}", [4], pattern=f"drill-{stream}")
    refused = cli("-m", "drill", "-c", config)
    assert refused.code == 1, refused
    assert f"already has 1 index or data stream with a copy's name: drill-{stream}; nothing was changed" in refused.err
    assert dest.count(f"drill-{stream}") == 4
    dest("DELETE", f"/_data_stream/drill-{stream}")
    dest("DELETE", f"/_index_template/{unique}-mine-ds")


def test_a_red_data_stream_named_like_a_copy_is_never_taken_for_one(stack, src, dest, cli, write, unique):
    """OpenSearch 3.3: someone's data stream drill-<name>-y on the destination, red (its one shard
    may be allocated nowhere), has the backing index .ds-drill-<name>-y-000001, which begins as the
    copy's backing indices do (.ds-drill-<name>-). The drill names its copies' backing indices
    exactly: it passes, and never waits for, names or deletes the red one."""
    stream = f"logs-{unique}-web"
    make_stream(src, unique, stream, [20])
    config = write(drill_config(stack, unique, stream))
    assert cli("-m", "backup", "-c", config, "--snapshot", "s1").code == 0
    foreign = f"drill-{stream}-y"
    settings = {"number_of_shards": 1, "number_of_replicas": 0, "index.routing.allocation.require._name": "nowhere"}
    dest(
        "PUT",
        f"/_index_template/{unique}-red",
        {"index_patterns": [foreign], "data_stream": {}, "template": {"settings": settings}, "priority": 600},
    )
    dest("PUT", f"/_data_stream/{foreign}")
    red = dest("GET", f"/_data_stream/{foreign}")["data_streams"][0]["indices"]
    assert [i["index_name"] for i in red] == [f".ds-{foreign}-000001"], red
    try:
        result = cli("-m", "drill", "-c", config)
        assert result.code == 0, result
        assert f".ds-{foreign}" not in result.out + result.err, result
        assert "deleted the 1 data stream it restored" in result.err, result
        assert dest.status("GET", f"/_data_stream/drill-{stream}") == 404
        assert dest("GET", f"/_data_stream/{foreign}")["data_streams"][0]["indices"] == red  # same name and UUID
    finally:
        dest("DELETE", f"/_data_stream/{foreign}")
        dest("DELETE", f"/_index_template/{unique}-red")


@pytest.mark.parametrize("name", ["es8", "os2", "os1"])
def test_drill_with_a_data_stream_on_the_matrix_engines(versions, name, cli, write, unique):
    """Elasticsearch 8.19 (integ-test zip: data streams, but no data stream API) and OpenSearch
    2.19 and 1.3: a snapshot of an index and a data stream (taken with the engine's API) drills on
    the source. OpenSearch restores, checks and deletes the data stream's copy; Elasticsearch
    leaves the data stream out in one line. (The 7.17 integ-test zip has no data streams at all:
    its index templates refuse the data_stream field.)"""
    node = versions.nodes[name]
    api = Api(node)
    index, stream = f"{unique}-mxd", f"logs-{unique}-mxds"
    api.seed(index, 9)
    make_stream(api, unique, stream, [7, 4])
    config = write(fs_config(node, unique, index))
    assert cli("-m", "backup", "-c", config, "--snapshot", "s0").code == 0  # registers the repository
    taken = api("PUT", f"/_snapshot/fs-{unique}/s1?wait_for_completion=true", {"indices": f"{index},{stream}"})
    assert taken["snapshot"]["data_streams"] == [stream], taken
    config = write(fs_config(node, unique, f"{index},{stream}"))

    result = cli("-m", "drill", "-c", config, "--on", "source")
    assert result.code == 0, f"{node.engine} {node.version}: {result!r}"
    last = result.out.strip().splitlines()[-1]
    counts = [line.split() for line in result.out.splitlines() if line.endswith(" docs")]
    assert [f"drill-{index}", "9", "docs"] in counts, result
    if node.engine == "opensearch":
        assert last.startswith("drill ok: s1 restored 1 index, 1 data stream, 20 documents, "), result
        assert [f"drill-{stream}", "11", "docs"] in counts, result
        assert api.status("GET", f"/_data_stream/drill-{stream}") == 404
    else:
        assert last.startswith("drill ok: s1 restored 1 index, 9 documents, "), result
        left_out = f"no data stream API (GET /_data_stream answered 405) to delete their copies with: {stream}"
        assert left_out in result.err, result
    assert last.endswith("on the source cluster; the copies were deleted"), last
    assert drill_copies(api, stream) == [] and drill_copies(api, index) == []
    api("DELETE", f"/{index}")
