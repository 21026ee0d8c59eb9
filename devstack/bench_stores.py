"""Object stores without engines, for the sync bench: moto plus two s3proxy servers, and a cache of
real repositories (written once by an engine, kept as files, loaded into a store in seconds).

    with Stores(workdir) as stores:
        stores.moto, stores.proxy_a, stores.proxy_b   # S3Server / S3ProxyServer, each with one bucket
        load(stores.moto, "base", cached_repository_dir)

The cache lives under ``$ES_S3_SNAPSHOT_BENCH_CACHE`` (default ~/.cache/es-s3-snapshot-bench), one
folder per shape and engine version (``<shape>-<engine>-<version>-v<N>``): written once, reused by
every later bench run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import engines
from .stack import S3ProxyServer, S3Server, start_reaper, stop_reaper, write_state

BIG_FILE = 32 * 1024**2  # load() sends larger files one at a time
CACHE = Path(os.environ.get("ES_S3_SNAPSHOT_BENCH_CACHE", Path.home() / ".cache" / "es-s3-snapshot-bench"))


class Stores:
    """moto and two s3proxy servers (each its own JVM and data folder), stopped on exit. A bench
    killed before its exit leaves nothing running: devstack's reaper then stops the servers and
    removes ``workdir`` (their data: gigabytes after a few sync rounds)."""

    def __init__(self, workdir: Path, proxies: int = 2, **proxy_options):
        """``proxy_options``: S3ProxyServer's tls, virtual_host, heap and signed_body_limit."""
        self.workdir = Path(workdir)
        self.proxies = proxies
        self.proxy_options = proxy_options
        self.procs: list[subprocess.Popen] = []
        self.moto: S3Server | None = None
        self.proxy_a: S3ProxyServer | None = None
        self.proxy_b: S3ProxyServer | None = None

    def _spawn(self, label: str, cmd: list[str], *, cwd: str, env: dict[str, str], log_path: str) -> subprocess.Popen:
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(
                cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.procs.append(proc)
        write_state(self.workdir, self.procs)
        return proc

    def __enter__(self) -> Stores:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.reaper = start_reaper(self.workdir)
        try:
            jar, jdk = engines.fetch_s3proxy()
            deadline = time.monotonic() + 180
            proxies = []
            for n in range(self.proxies):
                folder = self.workdir / f"p{n}"
                folder.mkdir(parents=True, exist_ok=True)
                proxy = S3ProxyServer(folder, jar, jdk, **self.proxy_options)
                proxy.launch(self._spawn)
                proxies.append(proxy)
            self.moto = S3Server(self.workdir)
            self.moto.start(self._spawn, deadline)
            for proxy in proxies:
                proxy.wait_ready(deadline)
            self.proxy_a = proxies[0] if proxies else None
            self.proxy_b = proxies[1] if len(proxies) > 1 else None
        except BaseException:
            self.__exit__()
            raise
        return self

    def restart(self, proxy: S3ProxyServer, down: float) -> None:
        """SIGKILL one s3proxy (a crash, as ``Stack.restart_s3``), leave it down ``down`` s, and start
        it again on the same port; its data stays on disk."""
        os.killpg(proxy.process.pid, signal.SIGKILL)
        proxy.process.wait()
        time.sleep(down)
        proxy.launch(self._spawn, port=proxy.port)
        proxy.wait_ready(time.monotonic() + 120)

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()
        stop_reaper(getattr(self, "reaper", None))


def save(server, bucket: str, base: str, folder: Path, *, workers: int = 16) -> tuple[int, int]:
    """Download every object of ``bucket`` whose key holds ``base`` into ``folder`` (keys as paths);
    returns (objects, bytes). Written into a temporary folder renamed at the end, so a broken run
    leaves no half cache."""
    client = server.client()
    keys = [
        (o["Key"], o["Size"])
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
        if base in o["Key"].split("/")
    ]
    staging = folder.with_name(folder.name + ".partial")
    staging.mkdir(parents=True, exist_ok=True)

    def one(key: str) -> None:
        path = staging / key
        path.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(bucket, key, str(path))

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, [k for k, _ in keys]))
    os.rename(staging, folder)
    return len(keys), sum(size for _, size in keys)


def load(server, bucket: str, folder: Path, *, rename: tuple[str, str] | None = None, workers: int = 16) -> int:
    """Upload the cached repository in ``folder`` into ``bucket`` (each path component equal to
    ``rename[0]`` becomes ``rename[1]``); returns the number of objects."""
    client = server.client()
    files = [p for p in folder.rglob("*") if p.is_file()]

    def one(path: Path) -> None:
        parts = path.relative_to(folder).parts
        if rename:
            parts = tuple(rename[1] if part == rename[0] else part for part in parts)
        client.upload_file(str(path), bucket, "/".join(parts))

    # The large files one at a time: s3proxy (256 MB heap) reads a signed body into memory, and
    # ran out of it loading the four 150 MB files of the large shape at once (seen under load,
    # 2026-12-07; the bench then hung on its retries).
    big = [p for p in files if p.stat().st_size > BIG_FILE]
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, [p for p in files if p not in big]))
    for path in big:
        one(path)
    return len(files)
