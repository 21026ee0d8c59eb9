#!/usr/bin/env python3
"""Figures for a repository of 2,000 snapshots (issue 18): `es-s3-snapshot -m list --json` against a
bare `GET _snapshot/<repo>/_all?verbose=false` in a fresh Python process, peak RSS, and
`-m prune --dry-run` on the same repository; each with a cold snapshot cache (emptied before every
run: what the first run on a host pays) and a warm one (filled by one run before the rounds: every
later run). The gate is judged on the warm run.

    .venv/bin/python -m devstack.bench_many [--rounds 5]

scripts/bench runs it as its `snapshots` section. Taking 2,000 snapshots takes minutes, so the fs
repository is written once (snapshots of one tiny index) and kept under the bench cache
(devstack/bench_stores.py: CACHE); each run copies it into the node's path.repo and registers it
read-only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .bench_stores import CACHE

BIN = Path(sys.executable).parent
CLI = str(BIN / "es-s3-snapshot")
COUNT = 2000
CACHE_VERSION = 1
TIME = "/usr/bin/time"
GATE_RATIO, GATE_PLUS, GATE_RSS = 1.5, 0.5, 100.0

BARE = """
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/_snapshot/many/_all" + sys.argv[2], timeout=600) as answer:
    snapshots = json.load(answer)["snapshots"]
print(len(snapshots))
"""
# the full listing (what list read on every run before the cache), trimmed as the tool trims it
FULL = "?filter_path=snapshots.snapshot,snapshots.uuid,snapshots.state,snapshots.start_time_in_millis," + (
    "snapshots.end_time_in_millis,snapshots.shards,snapshots.metadata.taken_by,snapshots.indices"
)


NODES = ("source", "es8")  # OpenSearch 3.3 (the default), Elasticsearch 8.19 (security off, fs only)


def cache_dir(node: str = "source") -> Path:
    from .engines import ES8_VERSION, OPENSEARCH_VERSION

    engine = f"opensearch-{OPENSEARCH_VERSION}" if node == "source" else f"elasticsearch-{ES8_VERSION}"
    return CACHE / f"snapshots{COUNT}-{engine}-v{CACHE_VERSION}"


def write_repository(folder: Path, echo, node: str = "source") -> None:
    """Take COUNT snapshots of one tiny index into an fs repository and keep it in ``folder``."""
    from .bench import Engine
    from .stack import Stack

    with tempfile.TemporaryDirectory(prefix="bench-many-") as shared, Stack(
        nodes=(node,), shared_repo=shared, heap=os.environ.get("DEVSTACK_HEAP", "1g")
    ) as stack:
        engine = Engine(stack.nodes[node].url)
        location = str(Path(shared) / "many")
        engine("PUT", "/_snapshot/many", {"type": "fs", "settings": {"location": location}})
        engine("PUT", "/tiny", {"settings": {"number_of_shards": 1, "number_of_replicas": 0}})
        engine("PUT", "/tiny/_doc/1?refresh=true", {"n": 1})
        started = time.monotonic()
        done = [0]

        def take(n: int) -> None:
            engine(
                "PUT", f"/_snapshot/many/snap-{n:05d}?wait_for_completion=true",
                {"indices": "tiny", "include_global_state": False}, timeout=600,
            )  # fmt: skip
            done[0] += 1
            if done[0] % 200 == 0:
                echo(f"{done[0]} snapshots in {time.monotonic() - started:.0f}s")

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(take, range(COUNT)))
        staging = folder.with_name(folder.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(location, staging)
        os.rename(staging, folder)
        echo(f"{COUNT} snapshots written in {time.monotonic() - started:.0f}s, kept in {folder}")


def _timed(command: list[str]) -> tuple[float, float, str]:
    """(seconds, peak RSS MB, stdout) of one command under GNU time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        started = time.monotonic()
        done = subprocess.run([TIME, "-f", "%M", "-o", report.name, *command], capture_output=True, text=True)
        seconds = time.monotonic() - started
        rss = int(report.read().strip().splitlines()[-1]) / 1024
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return seconds, rss, done.stdout


def bench_many(rounds: int = 5, echo=print, node: str = "source") -> list[str]:
    """Run the figures on ``node`` (one of NODES); returns table rows (figure | tool | anchor |
    ratio | gate | verdict)."""
    from .stack import Stack

    folder = cache_dir(node)
    if not folder.exists():
        echo(f"writing a repository of {COUNT} snapshots once (cached in {folder}); this takes minutes...")
        folder.parent.mkdir(parents=True, exist_ok=True)
        write_repository(folder, echo, node)
    with tempfile.TemporaryDirectory(prefix="bench-many-") as shared, Stack(
        nodes=(node,), shared_repo=shared, heap=os.environ.get("DEVSTACK_HEAP", "1g")
    ) as stack:
        url = stack.nodes[node].url
        echo(f"{stack.nodes[node].engine} {stack.nodes[node].version}")
        location = Path(shared) / "many"
        shutil.copytree(folder, location)
        caches = {kind: Path(shared) / f"cache-{kind}" for kind in ("cold", "warm")}
        configs = {}
        for kind, cache in caches.items():
            cache.mkdir(mode=0o700)
            configs[kind] = Path(shared) / f"many-{kind}.conf"
            configs[kind].write_text(
                f"[aws_s3_config]\ns3_bucket_name = unused\n[elasticsearch_config]\nes_repository_name = many\n"
                f"es_src_seed1 = {url}\nindex_names = tiny\n[repository]\ntype = fs\nlocation = {location}\n"
                f"[retention]\nkeep_last = 7\n[cache]\ndir = {cache}\n"
            )
        from .bench import Engine

        Engine(url)("PUT", "/_snapshot/many", {"type": "fs", "settings": {"location": str(location), "readonly": True}})
        runs = {"bare": [sys.executable, "-c", BARE, url, "?verbose=false"], "bare full": [sys.executable, "-c", BARE, url, FULL]}
        for kind in ("cold", "warm"):
            runs[f"list {kind}"] = [CLI, "-m", "list", "--json", "-c", str(configs[kind]), "-q"]
            runs[f"prune {kind}"] = [CLI, "-m", "prune", "--dry-run", "-c", str(configs[kind]), "-q"]
        _timed(runs["list warm"])  # fills the warm cache
        times: dict[str, list[float]] = {k: [] for k in runs}
        rss: dict[str, list[float]] = {k: [] for k in runs}
        outputs: dict[str, set[str]] = {k: set() for k in runs}
        for n in range(rounds):
            for label, command in runs.items():
                if label.endswith("cold"):
                    for stale in caches["cold"].iterdir():
                        stale.unlink()
                seconds, peak, out = _timed(command)
                times[label].append(seconds)
                rss[label].append(peak)
                outputs[label].add(out)
                if label == "bare" and n == 0:
                    echo(f"bare listing: {out.strip()} snapshots")
            echo(f"round {n + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()))
    for mode in ("list", "prune"):
        if len(outputs[f"{mode} cold"] | outputs[f"{mode} warm"]) != 1:
            raise RuntimeError(f"-m {mode} printed different answers with a cold and a warm cache")
    median = {k: statistics.median(v) for k, v in times.items()}
    bare = median["bare"]
    gate = GATE_RATIO * bare + GATE_PLUS
    warm, cold = median["list warm"], median["list cold"]
    peak = max(rss["list warm"])
    anchor = f"{bare:.2f}, bare GET _all?verbose=false (fresh python)"
    return [
        f"| `-m list --json`, {COUNT} snapshots, warm cache, s | {warm:.2f} (cold {cold:.2f}) | {anchor} "
        f"| {warm / bare:.2f}x (cold {cold / bare:.2f}x) | <= 1.5x + 0.5 s = {gate:.2f} "
        f"| {'ok' if warm <= gate else 'MISSED'} |",
        f"| peak RSS of `-m list --json`, warm cache, MB | {peak:.0f} (cold {max(rss['list cold']):.0f}) "
        f"| {max(rss['bare']):.0f} (bare) | | < {GATE_RSS:.0f} | {'ok' if peak < GATE_RSS else 'MISSED'} |",
        f"| bare full listing (`GET _all?filter_path=...`, what list read before the cache), s "
        f"| | {median['bare full']:.2f} | {median['bare full'] / bare:.2f}x of the short one | shown | |",
        f"| `-m prune --dry-run` (keep_last 7), {COUNT} snapshots, warm cache, s | {median['prune warm']:.2f} "
        f"(cold {median['prune cold']:.2f}; RSS {max(rss['prune warm']):.0f} / {max(rss['prune cold']):.0f} MB) "
        f"| {bare:.2f} | {median['prune warm'] / bare:.2f}x (cold {median['prune cold'] / bare:.2f}x) | shown | |",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--node", choices=NODES, default="source", help="the engine (default: OpenSearch)")
    args = parser.parse_args()
    echo = lambda t: print(f"bench: snapshots {t}", flush=True)  # noqa: E731
    print("\n".join(bench_many(args.rounds, echo=echo, node=args.node)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
