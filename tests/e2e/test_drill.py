"""-m drill on real engines: OpenSearch 3.3 (source and destination on moto S3) and Elasticsearch
9.2 (fs repository, security on). A drill restores under drill- names, checks, prints the counts
and deletes its copies: on success, on a damaged repository, and on SIGTERM; an index it did not
restore stays, whatever its name."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from .conftest import fs_config, s3_config
from .test_real_clusters import signalled


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
    """Elasticsearch takes the drill's restore (ignore_index_settings index.lifecycle.name included)."""
    node = stack.nodes["es"]
    index = f"{unique}-esd"
    es.seed(index, 40)
    config = write(fs_config(node, unique, index, f"username = {node.username}\npassword = {node.password}"))
    assert cli("-m", "backup", "-c", config, "--snapshot", "s1").code == 0

    result = cli("-m", "drill", "-c", config, "--on", "source")
    assert result.code == 0, result
    assert f"  drill-{index}  40 docs" in result.out
    assert result.out.strip().splitlines()[-1].startswith("drill ok: s1 restored 1 index, 40 documents, ")
    assert not es.exists(f"drill-{index}") and es.count(index) == 40
    es("DELETE", f"/{index}")


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


def test_sigterm_mid_drill_deletes_the_copy_then_exits_143(stack, src, dest, cli, write, unique):
    index = f"{unique}-dsig"
    src.seed(index, 3000)
    src("POST", "/_aliases", {"actions": [{"add": {"index": index, "alias": f"{unique}-alias"}}]})
    config = write(drill_config(stack, unique, index))
    assert cli("-m", "backup", "-c", config, "--snapshot", "s1").code == 0
    throttled = write(  # a restore of several seconds: the destination reads the repository at 20 KB/s
        drill_config(stack, unique, index, "[destination_repository]\nmax_restore_bytes_per_sec = 20kb\n"),
        "throttled.conf",
    )
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
    assert last.endswith("terminated (SIGTERM): the drill of s1 was stopped; deleted the 1 index it restored"), last
    assert "Traceback" not in err
    assert seen.get("number_of_replicas") == "0" and seen.get("aliases") == {}, seen  # the copy, as restored
    assert dest.status("GET", f"/_alias/{unique}-alias") == 404
    assert not dest.exists(f"drill-{index}")
    active = dest("GET", "/_cat/recovery?active_only=true&format=json&h=index")
    assert f"drill-{index}" not in [r["index"] for r in active]  # deleting the copy cancelled its recovery


def test_copies_of_a_killed_drill_are_deleted_by_the_next_drill(stack, src, dest, cli, write, unique):
    index = f"{unique}-dkill"
    src.seed(index, 3000)
    config = write(drill_config(stack, unique, index))
    assert cli("-m", "backup", "-c", config, "--snapshot", "s1").code == 0
    throttled = write(
        drill_config(stack, unique, index, "[destination_repository]\nmax_restore_bytes_per_sec = 20kb\n"),
        "throttled.conf",
    )
    returncode, _ = signalled(["-m", "drill", "-c", throttled], lambda: dest.exists(f"drill-{index}"), signal.SIGKILL)
    assert returncode == -signal.SIGKILL
    assert dest.exists(f"drill-{index}")  # a killed run cannot clean up

    result = cli("-m", "drill", "-c", config)
    assert result.code == 0, result
    assert "an earlier drill of s1 did not end (killed?): deleted the 1 index it restored" in result.err
    assert f"  drill-{index}  3000 docs" in result.out
    assert not dest.exists(f"drill-{index}")
