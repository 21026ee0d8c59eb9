#!/usr/bin/env python3
"""Sync figure: MB/s of `es-s3-snapshot -m sync` from moto (store A) to s3proxy (store B) for a
~200 MB repository, next to a sequential copy loop (get, then put, one object at a time: what
`aws s3 sync` does without concurrency), interleaved, medians of N rounds.

    .venv/bin/python -m devstack.bench_sync [--rounds 3] [--mb 200] [--workers 8]

scripts/bench runs it as its `sync` section.

Starts a devstack with one OpenSearch node (which brings moto and s3proxy up), or call
``bench_sync(stack, ...)`` from another script with a started Stack. The repository is synthetic
but shaped like one: index-N / index.latest, many small metadata blobs, mid-size and large segment
blobs (some over the multipart threshold), part of them in HASHED_PREFIX shard folders.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = str(Path(sys.executable).with_name("es-s3-snapshot"))


def make_repository(client, bucket: str, base: str, megabytes: int) -> tuple[int, int]:
    """Write a repository-shaped set of objects of about ``megabytes`` MB; returns (objects, bytes)."""
    plan = [(64 * 1024, 300), (1024**2, 50), (5 * 1024**2, 16), (25 * 1024**2, 2)]  # ~200 MB
    scale = megabytes / 200
    count = total = 0
    client.put_object(Bucket=bucket, Key=f"{base}/index-0", Body=b'{"snapshots":[]}')
    client.put_object(Bucket=bucket, Key=f"{base}/index.latest", Body=(0).to_bytes(8, "big"))
    block = os.urandom(1024**2)
    for size, how_many in plan:
        for n in range(max(1, round(how_many * scale))):
            shard = f"{n % 4}"
            prefix = f"{base}/indices/IDX" if n % 2 else f"h{n % 7}0101/{base}/indices/IDX"
            body = (block * (size // len(block) + 1))[:size]
            client.put_object(Bucket=bucket, Key=f"{prefix}/{shard}/__{size}_{n}", Body=body)
            count += 1
            total += size
    paths = [f"h{i}0101/{base}/indices/IDX/{s}/" for i in range(7) for s in range(4)]
    client.put_object(
        Bucket=bucket,
        Key=f"{base}/snapshot_shard_paths/snapshot_path_IDX.idx.4.1.1",
        Body=('{"paths":[' + ",".join(f'"{p}"' for p in paths) + "]}").encode(),
    )
    return count + 3, total


def sequential_copy(src_client, src_bucket, src_base, dst_client, dst_bucket, dst_base) -> float:
    """Get then put every object, one at a time; returns seconds."""
    started = time.monotonic()
    keys = []
    for page in src_client.get_paginator("list_objects_v2").paginate(Bucket=src_bucket):
        keys += [o["Key"] for o in page.get("Contents", []) if f"{src_base}/" in o["Key"]]
    for key in keys:
        body = src_client.get_object(Bucket=src_bucket, Key=key)["Body"].read()
        dst_client.put_object(Bucket=dst_bucket, Key=key.replace(src_base, dst_base, 1), Body=body)
    return time.monotonic() - started


def run_sync(stack, src_base: str, dst_base: str, workers: int) -> float:
    """`es-s3-snapshot -m sync` as a user runs it; returns wall-clock seconds."""
    a, b = stack.s3, stack.s3b
    text = f"""
[aws_s3_config]
s3_bucket_name = {a.bucket}
s3_base_path = {src_base}
[elasticsearch_config]
es_repository_name = bench
index_names = bench
[destination_repository]
bucket = {b.bucket}
base_path = {dst_base}
[source_store]
endpoint_url = {a.endpoint}
access_key = {a.access_key}
secret_key = {a.secret_key}
addressing_style = path
[destination_store]
endpoint_url = {b.endpoint}
access_key = {b.access_key}
secret_key = {b.secret_key}
addressing_style = path
[sync]
workers = {workers}
"""
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as handle:
        handle.write(text)
    try:
        started = time.monotonic()
        done = subprocess.run([CLI, "-m", "sync", "-c", handle.name, "-q"], capture_output=True, text=True)
        seconds = time.monotonic() - started
    finally:
        os.unlink(handle.name)
    if done.returncode != 0:
        raise RuntimeError(f"sync failed: {done.stderr.strip()}")
    return seconds


def bench_sync(stack, rounds: int = 3, megabytes: int = 200, workers: int = 8, echo=print) -> dict:
    """Interleaved rounds of sync and the sequential loop into fresh destination paths; returns and
    prints the medians (seconds) and MB/s."""
    tag = secrets.token_hex(3)
    src_base = f"bench-{tag}"
    objects, size = make_repository(stack.s3.client(), stack.s3.bucket, src_base, megabytes)
    echo(f"repository: {objects} objects, {size / 1e6:.0f} MB in moto; copying to s3proxy")
    times: dict[str, list[float]] = {"sync": [], "sequential": []}
    for n in range(rounds):
        times["sync"].append(run_sync(stack, src_base, f"sync-{tag}-{n}", workers))
        times["sequential"].append(
            sequential_copy(
                stack.s3.client(), stack.s3.bucket, src_base, stack.s3b.client(), stack.s3b.bucket, f"seq-{tag}-{n}"
            )
        )
        echo(f"round {n + 1}: sync {times['sync'][-1]:.1f}s, sequential {times['sequential'][-1]:.1f}s")
    again = run_sync(stack, src_base, f"sync-{tag}-0", workers)
    result = {name: statistics.median(values) for name, values in times.items()}
    for name, seconds in result.items():
        echo(f"{name:<11} median {seconds:6.1f}s  {size / 1e6 / seconds:6.1f} MB/s")
    echo(f"sync with nothing new: {again:.1f}s (one listing pass per side)")
    result["nothing_new"] = again
    result["megabytes"] = size / 1e6
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    from devstack import Stack

    with Stack(nodes=("source",)) as stack:
        bench_sync(stack, args.rounds, args.mb, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
