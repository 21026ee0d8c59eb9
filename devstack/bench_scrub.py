#!/usr/bin/env python3
"""Scrub figures on a real S3 repository (OpenSearch 3.3 on moto):

- metadata level: requests per shard folder (from scrub's own summary line), and its time;
- ``--read-data`` MB/s against a plain parallel download of the same data blobs (a
  ThreadPoolExecutor of boto3 ``get_object`` with as many threads as scrub's workers, reading each
  body to the end), interleaved rounds, medians and their ratio (target: at least 0.8). Scrub is
  called in-process for the ratio (its metadata pass included, as the download's listing is not);
  the CLI's wall time is shown beside it (it adds Python's and boto3's start-up).

    .venv/bin/python -m devstack.bench_scrub [--rounds 3] [--mb 100] [--workers 8]

scripts/bench runs it as its ``scrub`` section. Starts a devstack with one OpenSearch node (which
brings moto up), or call ``bench_scrub(stack, ...)`` with a started Stack. The data is random text
bulk-indexed into 4 shards (it does not compress), snapshotted once by the engine.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CLI = str(Path(sys.executable).with_name("es-s3-snapshot"))
TARGET = 0.8
SUMMARY = re.compile(r"(\d+) shard folders, (\d+) requests")


def make_repository(stack, base: str, megabytes: int, echo=print) -> None:
    """Index about ``megabytes`` MB of random text into 4 shards on the source node and snapshot it
    into moto at ``base``."""
    node = stack.nodes["source"]
    index = f"bench-scrub-{secrets.token_hex(3)}"
    status, answer = node.request(
        "PUT",
        f"/{index}",
        {
            "settings": {"number_of_shards": 4, "number_of_replicas": 0, "refresh_interval": -1},
            "mappings": {"properties": {"blob": {"type": "keyword", "index": False, "doc_values": False}}},
        },
    )
    if status != 200:
        raise RuntimeError(f"PUT /{index}: {status} {answer}")
    doc_bytes = 4000
    docs = megabytes * 10**6 // doc_bytes
    for start in range(0, docs, 2000):
        lines = []
        for n in range(start, min(docs, start + 2000)):
            lines.append(json.dumps({"index": {"_index": index, "_id": str(n)}}))
            lines.append(json.dumps({"blob": base64.b64encode(os.urandom(doc_bytes * 3 // 4)).decode()}))
        status, answer = node.request("POST", "/_bulk", "\n".join(lines) + "\n", timeout=300)
        if status != 200 or answer.get("errors"):
            raise RuntimeError(f"bulk into {index}: {status}")
    node.request("POST", f"/{index}/_refresh", timeout=300)
    repo = {"type": "s3", "settings": {"bucket": stack.s3.bucket, "base_path": base}}
    status, answer = node.request("PUT", f"/_snapshot/{index}", repo, timeout=300)
    if status != 200:
        raise RuntimeError(f"PUT _snapshot: {status} {answer}")
    status, answer = node.request(
        "PUT", f"/_snapshot/{index}/snap-1?wait_for_completion=true", {"indices": index}, timeout=1800
    )
    if status != 200:
        raise RuntimeError(f"snapshot: {status} {answer}")
    node.request("DELETE", f"/_snapshot/{index}")
    node.request("DELETE", f"/{index}")


def data_keys(client, bucket: str, base: str) -> list[tuple[str, int]]:
    """Every data blob (``__*``) of the repository at ``base``, hashed shard folders included."""
    found = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            key = item["Key"]
            if (key.startswith(base + "/") or f"/{base}/" in key) and key.rsplit("/", 1)[-1].startswith("__"):
                found.append((key, item["Size"]))
    return found


def download(stack, keys: list[tuple[str, int]], workers: int) -> float:
    """Read every key's body to the end with ``workers`` threads; returns seconds."""
    client = stack.s3.client()

    def get(key: str) -> int:
        body = client.get_object(Bucket=stack.s3.bucket, Key=key)["Body"]
        total = 0
        for chunk in iter(lambda: body.read(1024**2), b""):
            total += len(chunk)
        return total

    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(get, [k for k, _ in keys]))
    return time.monotonic() - started


def in_process(stack, base: str, workers: int, fraction: float = 1.0) -> tuple[float, int]:
    """``scrub --read-data`` (``fraction`` 0: the metadata level) as a function call (no start-up):
    seconds and bytes read."""
    from es_s3_snapshot.actions.scrub import scrub
    from es_s3_snapshot.config.settings import StoreConfig
    from es_s3_snapshot.repoformat.storage import S3Storage
    from es_s3_snapshot.store import Store

    config = StoreConfig(
        side="source",
        section="source_store",
        bucket=stack.s3.bucket,
        base_path=base,
        endpoint_url=stack.s3.endpoint,
        region=stack.s3.region,
        access_key=stack.s3.access_key,
        secret_key=stack.s3.secret_key,
        addressing_style="path",
    )
    storage = S3Storage(Store(config, pool=workers * 2 + 4))  # the client is made outside the timing, as download's
    started = time.monotonic()
    result = scrub(storage, fraction=fraction, workers=workers)
    seconds = time.monotonic() - started
    if not result.restorable:
        raise RuntimeError(f"scrub found damage: {result.summary()}")
    return seconds, result.tally.bytes


def run_scrub(config: str, *args: str) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run([CLI, "-m", "scrub", "-c", config, *args], capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"scrub failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return seconds, done.stdout.strip().splitlines()[-1]


def bench_scrub(stack, rounds: int = 3, megabytes: int = 100, workers: int = 8, echo=print) -> dict:
    base = f"bench-scrub-{secrets.token_hex(3)}"
    echo(f"writing a {megabytes} MB repository (OpenSearch {stack.nodes['source'].version} -> moto)...")
    make_repository(stack, base, megabytes, echo)
    keys = data_keys(stack.s3.client(), stack.s3.bucket, base)
    size = sum(s for _, s in keys)
    echo(f"repository: {len(keys)} data blobs, {size / 1e6:.0f} MB")
    text = f"""
[aws_s3_config]
s3_bucket_name = {stack.s3.bucket}
s3_base_path = {base}
[elasticsearch_config]
es_repository_name = bench
index_names = bench
[source_store]
endpoint_url = {stack.s3.endpoint}
access_key = {stack.s3.access_key}
secret_key = {stack.s3.secret_key}
addressing_style = path
[scrub]
workers = {workers}
"""
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as handle:
        handle.write(text)
    os.chmod(handle.name, 0o600)
    try:
        metadata_seconds, line = run_scrub(handle.name)
        folders, requests = (int(x) for x in SUMMARY.search(line).groups())
        echo(f"metadata level: {metadata_seconds:.2f}s, {requests} requests for {folders} shard folders "
             f"({requests / folders:.1f} per shard folder, root included)")  # fmt: skip
        names = ("scrub --read-data", "parallel download", "scrub --read-data (CLI)", "scrub, metadata only")
        times: dict[str, list[float]] = {name: [] for name in names}
        for n in range(rounds):
            times[names[0]].append(in_process(stack, base, workers)[0])
            times[names[1]].append(download(stack, keys, workers))
            times[names[2]].append(run_scrub(handle.name, "--read-data")[0])
            times[names[3]].append(in_process(stack, base, workers, 0.0)[0])
            echo(f"round {n + 1}: " + ", ".join(f"{name} {times[name][-1]:.2f}s" for name in names))
    finally:
        os.unlink(handle.name)
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, seconds in medians.items():
        echo(f"{name:<24} median {seconds:6.2f}s  {size / 1e6 / seconds:6.1f} MB/s of data")
    ratio = medians[names[1]] / medians[names[0]]
    data_phase = statistics.median(r - m for r, m in zip(times[names[0]], times[names[3]], strict=True))
    data_ratio = medians[names[1]] / data_phase if data_phase > 0 else float("inf")
    echo(
        f"scrub --read-data / parallel download (MB/s): {ratio:.2f} with its metadata pass, {data_ratio:.2f} "
        f"for the data phase alone ({'meets' if ratio >= TARGET else 'MISSES'} the {TARGET} target; scrub "
        "called in-process; it computes the CRC32 of every byte, which the download does not)"
    )
    return {
        "megabytes": size / 1e6,
        "requests_per_shard_folder": requests / folders,
        "metadata_seconds": metadata_seconds,
        **medians,
        "ratio": ratio,
        "data_ratio": data_ratio,
        "cli_seconds": medians[names[2]],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mb", type=int, default=300)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    from devstack import Stack

    with Stack(nodes=("source",)) as stack:
        bench_scrub(stack, args.rounds, args.mb, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
