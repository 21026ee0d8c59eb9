#!/usr/bin/env python3
"""Scrub figures on a real S3 repository, the same one loaded into moto and into s3proxy:

- metadata level: requests per shard folder (from scrub's own summary line), and its time;
- ``--read-data`` against a plain parallel download of the same data blobs (a ThreadPoolExecutor
  of boto3 ``get_object`` with as many threads as scrub's workers, each body read to the end),
  timed two ways, each side the same way (target for both: at least 0.8 of the download's MB/s):
  * fresh processes: the CLI (``es-s3-snapshot -m scrub --read-data``) against a new Python process
    that imports boto3, makes its client and downloads the blobs (the key list handed to it: the
    download lists nothing, scrub does);
  * in-process: ``scrub()`` as a function call against the download as a function call, both with
    their clients made outside the timing (the figure of the first version of this bench).
  Interleaved rounds, medians, with the load average of each round and the CRC32 in use (zlib-ng's
  when the optional package is installed, else the standard library's).

    .venv/bin/python -m devstack.bench_scrub [--rounds 3] [--mb 1600] [--workers 8]

scripts/bench runs it as its ``scrub`` section. The repository is written once by OpenSearch
(one index of ``mb / 4`` MB of random text in 2 shards, force-merged, then cloned three times: 4
indices, 8 shard folders, ``mb`` MB) and kept in the bench cache (see bench_stores.py); later runs
only load it into a fresh moto and s3proxy (devstack/bench_stores.Stores, no engine). moto serves a
ranged GET by copying the whole object first: scrub reads blobs above 128 MiB in ranges, which costs
moto more than it would cost S3; s3proxy (filesystem) serves ranges as S3 does.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

CLI = str(Path(sys.executable).with_name("es-s3-snapshot"))
TARGET = 0.8
SUMMARY = re.compile(r"(\d+) shard folders, (\d+) requests")
BASE = "scrub"  # the repository's base path and bucket on both servers
CACHE_VERSION = 1
COPIES = 4  # indices: one written, three clones of it
NAMES = (
    "scrub --read-data",
    "parallel download",
    "scrub --read-data (CLI)",
    "download (fresh process)",
    "scrub, metadata only",
)


# --- the repository (written once, cached) ----------------------------------------------------


def cache_dir(megabytes: int) -> Path:
    from .bench_stores import CACHE
    from .engines import OPENSEARCH_VERSION

    return CACHE / f"scrub{megabytes}-opensearch-{OPENSEARCH_VERSION}-v{CACHE_VERSION}"


def repository(megabytes: int, echo=print, stack=None) -> Path:
    """The cached repository folder of about ``megabytes`` MB, written first when missing (slow,
    once: on ``stack``'s source node, or a devstack with one OpenSearch node started for it)."""
    folder = cache_dir(megabytes)
    if not folder.exists():
        echo(f"writing the {megabytes} MB scrub repository once with OpenSearch (cached in {folder})...")
        if stack is not None:
            write_repository(stack, folder, megabytes, echo)
        else:
            from .stack import Stack

            with Stack(nodes=("source",), heap=os.environ.get("DEVSTACK_HEAP", "1g")) as own:
                write_repository(own, folder, megabytes, echo)
    return folder


def write_repository(stack, folder: Path, megabytes: int, echo=print) -> None:
    """On ``stack``'s source node: index ``megabytes / COPIES`` MB into 2 shards, clone that index
    COPIES - 1 times (the clones share the files on the node, not in the repository), snapshot all
    into moto and save the repository's objects into ``folder``; then remove the indices and the
    registration."""
    from .bench import Engine, s3_repository
    from .bench_stores import save

    started = time.monotonic()
    engine = Engine(stack.nodes["source"].url)
    prefix = f"{BASE}-{secrets.token_hex(3)}"  # the repository's base path and its indices' names
    first = f"{prefix}-0"
    _random_index(engine, first, max(1, megabytes // COPIES))
    engine("PUT", f"/{first}/_settings", {"index.blocks.write": True})
    for n in range(1, COPIES):
        clone = {"settings": {"index.number_of_replicas": 0}}
        engine("POST", f"/{first}/_clone/{prefix}-{n}?wait_for_active_shards=all", clone, timeout=600)
    engine("GET", f"/_cluster/health/{prefix}-*?wait_for_status=green&timeout=600s", timeout=660)
    engine("PUT", f"/_snapshot/{prefix}", s3_repository(stack.s3.bucket, prefix))
    engine(
        "PUT", f"/_snapshot/{prefix}/snap-1?wait_for_completion=true",
        {"indices": f"{prefix}-*", "include_global_state": False}, timeout=3600,
    )  # fmt: skip
    folder.parent.mkdir(parents=True, exist_ok=True)
    raw = folder.with_name(folder.name + ".raw")
    shutil.rmtree(raw, ignore_errors=True)
    objects, size = save(stack.s3, stack.s3.bucket, prefix, raw)
    for path in sorted(raw.rglob(prefix), key=lambda p: -len(p.parts)):  # the base path becomes BASE
        path.rename(path.with_name(BASE))
    os.rename(raw, folder)
    engine("DELETE", f"/_snapshot/{prefix}")
    engine("DELETE", f"/{prefix}-*")
    echo(f"scrub repository: {objects} objects, {size / 1e6:.0f} MB written in {time.monotonic() - started:.0f}s")


def _random_index(engine, name: str, megabytes: int) -> None:
    """One index of about ``megabytes`` MB on disk in 2 shards, force-merged: random base64 text
    kept only in _source (not indexed, so the size is the text's; it does not compress)."""
    engine(
        "PUT", f"/{name}",
        {
            "settings": {"number_of_shards": 2, "number_of_replicas": 0, "refresh_interval": -1},
            "mappings": {"properties": {"blob": {"type": "keyword", "index": False, "doc_values": False}}},
        },
    )  # fmt: skip
    doc = 64 * 1024
    count = megabytes * 10**6 // doc
    for start in range(0, count, 40):
        lines = []
        for n in range(start, min(count, start + 40)):
            lines.append(json.dumps({"index": {"_index": name, "_id": str(n)}}))
            lines.append(json.dumps({"blob": base64.b64encode(os.urandom(doc * 3 // 4)).decode()}))
        engine("POST", "/_bulk", "\n".join(lines) + "\n", timeout=600)
    engine("POST", f"/{name}/_flush")
    engine("POST", f"/{name}/_forcemerge?max_num_segments=1", timeout=1800)


def _load(server, bucket: str, folder: Path, workers: int = 4) -> int:
    """Upload the cached repository in ``folder`` into ``bucket`` with fewer parallel uploads
    than bench_stores.load (moto or s3proxy broke connections off under its 16 at this size; a
    single PUT of 200 MB is more than s3proxy's heap takes), each file tried 3 times; returns the
    number of objects."""
    from boto3.s3.transfer import TransferConfig

    client = server.client()
    files = [p for p in folder.rglob("*") if p.is_file()]
    transfer = TransferConfig(max_concurrency=2, multipart_chunksize=16 * 1024**2)

    def one(path: Path) -> None:
        for attempt in range(3):
            try:
                client.upload_file(str(path), bucket, path.relative_to(folder).as_posix(), Config=transfer)
                return
            except Exception:
                if attempt == 2:
                    raise
                time.sleep(2)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, files))
    return len(files)


# --- the two sides ----------------------------------------------------------------------------


def data_keys(client, bucket: str, base: str) -> list[tuple[str, int]]:
    """Every data blob (``__*``) of the repository at ``base``, hashed shard folders
    (``<hash>/<base>/indices/...``: OpenSearch 3.3 writes them so by default on S3) included."""
    found = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            key = item["Key"]
            if (key.startswith(base + "/") or f"/{base}/" in key) and key.rsplit("/", 1)[-1].startswith("__"):
                found.append((item["Key"], item["Size"]))
    return found


def _get_all(client, bucket: str, keys: list[str], workers: int) -> int:
    def get(key: str) -> int:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        total = 0
        for chunk in iter(lambda: body.read(1024**2), b""):
            total += len(chunk)
        return total

    with ThreadPoolExecutor(workers) as pool:
        return sum(pool.map(get, keys))


def download(server, bucket: str, keys: list[tuple[str, int]], workers: int) -> float:
    """Read every key's body to the end with ``workers`` threads, in this process (the client is
    made outside the timing); returns seconds."""
    client = server.client()
    started = time.monotonic()
    _get_all(client, bucket, [k for k, _ in keys], workers)
    return time.monotonic() - started


def download_process(job: str) -> float:
    """The same download in a fresh Python process (importing boto3 and making its client
    included, as the CLI's start-up is); ``job`` is the JSON file that ``write_job`` wrote."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "devstack.bench_scrub", "--download", job],
        capture_output=True, text=True, cwd=str(Path(__file__).resolve().parent.parent),
    )  # fmt: skip
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"the download process failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return seconds


def write_job(server, bucket: str, keys: list[tuple[str, int]], workers: int) -> str:
    job = {
        "endpoint": server.endpoint,
        "region": server.region,
        "access_key": server.access_key,
        "secret_key": server.secret_key,
        "bucket": bucket,
        "keys": [k for k, _ in keys],
        "workers": workers,
    }
    return write_private(json.dumps(job), ".json")


def _download_main(job_path: str) -> int:
    """What the fresh download process runs: boto3, one client, a thread pool."""
    import boto3
    from botocore.config import Config

    with open(job_path) as handle:
        job = json.load(handle)
    client = boto3.client(
        "s3",
        endpoint_url=job["endpoint"],
        aws_access_key_id=job["access_key"],
        aws_secret_access_key=job["secret_key"],
        region_name=job["region"],
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=job["workers"]),
    )
    _get_all(client, job["bucket"], job["keys"], job["workers"])
    return 0


def in_process(server, bucket: str, base: str, workers: int, fraction: float = 1.0) -> float:
    """``scrub --read-data`` (``fraction`` 0: the metadata level) as a function call, without the
    CLI's start-up (the store's client is made outside the timing, as the download's); returns
    seconds."""
    from es_s3_snapshot.actions.scrub import scrub
    from es_s3_snapshot.config.settings import StoreConfig
    from es_s3_snapshot.repoformat.storage import S3Storage
    from es_s3_snapshot.store import Store

    config = StoreConfig(
        side="source",
        section="source_store",
        bucket=bucket,
        base_path=base,
        endpoint_url=server.endpoint,
        region=server.region,
        access_key=server.access_key,
        secret_key=server.secret_key,
        addressing_style="path",
    )
    storage = S3Storage(Store(config, pool=workers * 3 + 4))
    storage.store.http  # noqa: B018 - its client is made before the timing, as the download's
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


def cli_seconds(config: str, *args: str) -> float:
    return run_cli(config, *args)[0]


def config_text(server, bucket: str, base: str, workers: int) -> str:
    return f"""
[aws_s3_config]
s3_bucket_name = {bucket}
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


def write_private(text: str, suffix: str = ".conf") -> str:
    with tempfile.NamedTemporaryFile("w", suffix=suffix, delete=False) as handle:
        os.chmod(handle.name, 0o600)
        handle.write(text)
    return handle.name


def crc_in_use() -> str:
    from es_s3_snapshot.repoformat import crc

    if crc.crc32.__module__.startswith("zlib_ng"):
        import zlib_ng

        return f"zlib-ng {getattr(zlib_ng, '__version__', '')}".strip()
    import zlib

    return f"stdlib zlib {zlib.ZLIB_RUNTIME_VERSION}"


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


# --- the bench --------------------------------------------------------------------------------


def bench_scrub(rounds: int = 3, megabytes: int = 1600, workers: int = 8, echo=print, stack=None) -> dict:
    """Load the cached repository (written first when missing, on ``stack`` if given) into a
    fresh moto and s3proxy and measure scrub on both (interleaved rounds); prints and returns the
    medians and ratios."""
    from .bench_stores import Stores

    folder = repository(megabytes, echo, stack)
    results: dict = {"crc32": crc_in_use(), "workers": workers}
    echo(f"CRC32: {results['crc32']}; {workers} workers; {rounds} interleaved rounds")
    with tempfile.TemporaryDirectory(prefix="bench-scrub-") as tmp, Stores(Path(tmp) / "stores", proxies=1) as stores:
        servers = {"moto": stores.moto, "s3proxy": stores.proxy_a}
        for server in servers.values():
            server.client().create_bucket(Bucket=BASE)
            _load(server, BASE, folder)
        configs = {name: write_private(config_text(s, BASE, BASE, workers)) for name, s in servers.items()}
        keys = data_keys(stores.moto.client(), BASE, BASE)
        jobs = {name: write_job(s, BASE, keys, workers) for name, s in servers.items()}
        size = sum(s for _, s in keys)
        folders = requests = 0
        try:
            echo(f"repository: {len(keys)} data blobs, {size / 1e6:.0f} MB, loaded into moto and s3proxy")
            seconds, line = run_cli(configs["moto"], "-m", "scrub")
            folders, requests = (int(x) for x in SUMMARY.search(line).groups())
            echo(f"metadata level: {seconds:.2f}s (CLI), {requests} requests for {folders} shard folders "
                 f"({requests / folders:.1f} per shard folder, the root's included)")  # fmt: skip
            times = {server: {name: [] for name in NAMES} for server in servers}
            cpu = {server: {name: [] for name in NAMES} for server in servers}  # this side's CPU seconds
            loads: list[float] = []
            for n in range(rounds):
                for server, where in servers.items():
                    row = times[server]
                    self_, children = resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN
                    runs = (
                        (self_, partial(in_process, where, BASE, BASE, workers)),
                        (self_, partial(download, where, BASE, keys, workers)),
                        (children, partial(cli_seconds, configs[server], "-m", "scrub", "--read-data")),
                        (children, partial(download_process, jobs[server])),
                        (self_, partial(in_process, where, BASE, BASE, workers, 0.0)),
                    )
                    for name, (who, run) in zip(NAMES, runs, strict=True):
                        before = _cpu(who)
                        row[name].append(run())
                        cpu[server][name].append(_cpu(who) - before)
                    loads.append(os.getloadavg()[0])
                    echo(f"round {n + 1}, {server} (load {loads[-1]:.1f}): "
                         + ", ".join(f"{name} {row[name][-1]:.2f}s" for name in NAMES))  # fmt: skip
        finally:
            for path in (*configs.values(), *jobs.values()):
                os.unlink(path)
    echo(
        f"load average (1 min) during the rounds: {min(loads):.1f}-{max(loads):.1f}, median {statistics.median(loads):.1f}"
    )
    for server, row in times.items():
        medians = {name: statistics.median(values) for name, values in row.items()}
        for name in NAMES[:4]:
            echo(f"{server:<8} {name:<26} median {medians[name]:6.2f}s  {size / 1e6 / medians[name]:6.1f} MB/s")
        ratio = medians[NAMES[1]] / medians[NAMES[0]]
        cli_ratio = medians[NAMES[3]] / medians[NAMES[2]]
        data_phase = statistics.median(r - m for r, m in zip(row[NAMES[0]], row[NAMES[4]], strict=True))
        data_ratio = medians[NAMES[1]] / data_phase if data_phase > 0 else float("inf")
        for label, value in (("in-process", ratio), ("fresh processes (CLI)", cli_ratio)):
            echo(f"{server:<8} scrub --read-data / parallel download (MB/s), {label}: {value:.2f} "
                 f"({'meets' if value >= TARGET else 'MISSES'} the {TARGET} target)")  # fmt: skip
        echo(f"{server:<8} in-process without the metadata pass ({medians[NAMES[4]]:.2f}s): {data_ratio:.2f}")
        used = {name: statistics.median(values) for name, values in cpu[server].items()}
        echo(f"{server:<8} CPU seconds of the reading side (user + system, medians; the server's not counted): "
             + ", ".join(f"{name} {used[name]:.2f}" for name in NAMES[:4]))  # fmt: skip
        results[server] = {**medians, "ratio": ratio, "cli_ratio": cli_ratio, "data_ratio": data_ratio, "cpu": used}
    results["megabytes"] = size / 1e6
    results["requests_per_shard_folder"] = requests / folders if folders else None
    results["load"] = statistics.median(loads)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mb", type=int, default=1600)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--download", metavar="JOB", help=argparse.SUPPRESS)  # the fresh download process
    args = parser.parse_args()
    if args.download:
        return _download_main(args.download)
    bench_scrub(args.rounds, args.mb, args.workers, echo=lambda text: print(text, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
