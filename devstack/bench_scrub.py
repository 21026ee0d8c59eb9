#!/usr/bin/env python3
"""Scrub figures on a real S3 repository (written by OpenSearch 3.3 to moto, copied to s3proxy by
``-m sync``; measured on both servers):

- metadata level: requests per shard folder (from scrub's own summary line), and its time;
- ``--read-data`` MB/s against a plain parallel download of the same data blobs (a
  ThreadPoolExecutor of boto3 ``get_object`` with as many threads as scrub's workers, reading each
  body to the end), interleaved rounds, medians and their ratio (target: at least 0.8). Scrub is
  called in-process for the ratio (its metadata pass included, as the download's listing is not);
  the CLI's wall time is shown beside it (it adds Python's and boto3's start-up).

    .venv/bin/python -m devstack.bench_scrub [--rounds 3] [--mb 100] [--workers 8]

scripts/bench runs it as its ``scrub`` section. Starts a devstack with one OpenSearch node (which
brings moto and s3proxy up), or call ``bench_scrub(stack, ...)`` with a started Stack. moto serves
a ranged GET by copying the whole object first: scrub reads large blobs in 16 MiB ranges, which
costs moto more than it would cost S3; s3proxy (filesystem) serves ranges as S3 does. The data is random text
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


def download(server, keys: list[tuple[str, int]], workers: int) -> float:
    """Read every key's body to the end with ``workers`` threads; returns seconds."""
    client = server.client()

    def get(key: str) -> int:
        body = client.get_object(Bucket=server.bucket, Key=key)["Body"]
        total = 0
        for chunk in iter(lambda: body.read(1024**2), b""):
            total += len(chunk)
        return total

    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(get, [k for k, _ in keys]))
    return time.monotonic() - started


def in_process(server, base: str, workers: int, fraction: float = 1.0) -> float:
    """``scrub --read-data`` (``fraction`` 0: the metadata level) as a function call, without the
    CLI's start-up; returns seconds."""
    from es_s3_snapshot.actions.scrub import scrub
    from es_s3_snapshot.config.settings import StoreConfig
    from es_s3_snapshot.repoformat.storage import S3Storage
    from es_s3_snapshot.store import Store

    config = StoreConfig(
        side="source",
        section="source_store",
        bucket=server.bucket,
        base_path=base,
        endpoint_url=server.endpoint,
        region=server.region,
        access_key=server.access_key,
        secret_key=server.secret_key,
        addressing_style="path",
    )
    storage = S3Storage(Store(config, pool=workers * 3 + 4))  # the client is made outside the timing, as download's
    started = time.monotonic()
    result = scrub(storage, fraction=fraction, workers=workers)
    seconds = time.monotonic() - started
    if not result.restorable:
        raise RuntimeError(f"scrub found damage: {result.summary()}")
    return seconds


def run_cli(config: str, *args: str) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run([CLI, *args, "-c", config], capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return seconds, done.stdout.strip().splitlines()[-1]


def config_text(server, base: str, workers: int, copy_to=None, copy_base: str = "") -> str:
    text = f"""
[aws_s3_config]
s3_bucket_name = {server.bucket}
s3_base_path = {base}
[elasticsearch_config]
es_repository_name = bench
index_names = bench
[source_store]
endpoint_url = {server.endpoint}
access_key = {server.access_key}
secret_key = {server.secret_key}
addressing_style = path
[scrub]
workers = {workers}
"""
    if copy_to is not None:
        text += f"""
[destination_repository]
bucket = {copy_to.bucket}
base_path = {copy_base}
[destination_store]
endpoint_url = {copy_to.endpoint}
access_key = {copy_to.access_key}
secret_key = {copy_to.secret_key}
addressing_style = path
"""
    return text


def write_config(text: str) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as handle:
        handle.write(text)
    os.chmod(handle.name, 0o600)
    return handle.name


NAMES = ("scrub --read-data", "parallel download", "scrub --read-data (CLI)", "scrub, metadata only")


def bench_scrub(stack, rounds: int = 3, megabytes: int = 300, workers: int = 8, echo=print) -> dict:
    """Write a repository to moto, copy it to s3proxy with -m sync, and measure scrub on both
    servers (interleaved rounds); prints and returns the medians and ratios."""
    base = f"bench-scrub-{secrets.token_hex(3)}"
    echo(f"writing a {megabytes} MB repository (OpenSearch {stack.nodes['source'].version} -> moto)...")
    make_repository(stack, base, megabytes, echo)
    configs = {"moto": write_config(config_text(stack.s3, base, workers, stack.s3b, base))}
    configs["s3proxy"] = write_config(config_text(stack.s3b, base, workers))
    servers = {"moto": stack.s3, "s3proxy": stack.s3b}
    results: dict = {}
    try:
        run_cli(configs["moto"], "-m", "sync", "-q")
        keys = data_keys(stack.s3.client(), stack.s3.bucket, base)
        size = sum(s for _, s in keys)
        echo(f"repository: {len(keys)} data blobs, {size / 1e6:.0f} MB, in moto and (copied by -m sync) in s3proxy")
        seconds, line = run_cli(configs["moto"], "-m", "scrub")
        folders, requests = (int(x) for x in SUMMARY.search(line).groups())
        echo(f"metadata level: {seconds:.2f}s (CLI), {requests} requests for {folders} shard folders "
             f"({requests / folders:.1f} per shard folder, the root's included)")  # fmt: skip
        times = {server: {name: [] for name in NAMES} for server in servers}
        for n in range(rounds):
            for server, where in servers.items():
                row = times[server]
                row[NAMES[0]].append(in_process(where, base, workers))
                row[NAMES[1]].append(download(where, keys, workers))
                row[NAMES[2]].append(run_cli(configs[server], "-m", "scrub", "--read-data")[0])
                row[NAMES[3]].append(in_process(where, base, workers, 0.0))
                echo(f"round {n + 1}, {server}: " + ", ".join(f"{name} {row[name][-1]:.2f}s" for name in NAMES))
    finally:
        for path in configs.values():
            os.unlink(path)
    for server, row in times.items():
        medians = {name: statistics.median(values) for name, values in row.items()}
        for name in NAMES[:3]:
            echo(f"{server:<8} {name:<24} median {medians[name]:6.2f}s  {size / 1e6 / medians[name]:6.1f} MB/s")
        ratio = medians[NAMES[1]] / medians[NAMES[0]]
        data_phase = statistics.median(r - m for r, m in zip(row[NAMES[0]], row[NAMES[3]], strict=True))
        data_ratio = medians[NAMES[1]] / data_phase if data_phase > 0 else float("inf")
        echo(
            f"{server:<8} scrub --read-data / parallel download (MB/s): {ratio:.2f}, {data_ratio:.2f} without the "
            f"metadata pass ({'meets' if ratio >= TARGET else 'MISSES'} the {TARGET} target)"
        )
        results[server] = {**medians, "ratio": ratio, "data_ratio": data_ratio}
    results["megabytes"] = size / 1e6
    results["requests_per_shard_folder"] = requests / folders
    return results


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
