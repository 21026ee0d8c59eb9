"""The bench: what es-s3-snapshot costs on top of the bare REST calls (issue 8). Run ``scripts/bench``.

It measures whatever es-s3-snapshot is installed in the venv (``.venv/bin/es-s3-snapshot``, run as
a subprocess as a user runs it, with the default [wait] settings) on a devstack started once: an
OpenSearch source and destination with repository-s3 on a moto S3 server. Sections:

- startup  ``es-s3-snapshot --help`` and ``--version`` against ``python -c pass``, both in a plain install
           (``plain_install``: no editable-install hook; medians, interleaved); no engines.
- backup   the tool against bare REST (``PUT _snapshot/<repo>``, then ``PUT _snapshot/<repo>/<snap>
           ?wait_for_completion=true``), interleaved tool, bare, tool, bare over ``--rounds`` on the
           same data, full snapshots into fresh repositories and base paths each time. Wall time,
           the ratio pair by pair, and the lateness: engine's ``end_time_in_millis`` -> exit.
- restore  the same for restore into fresh names (bare: ``PUT`` the repository read-only, then
           ``POST .../_restore?wait_for_completion=true``); lateness from the last shard's recovery
           ``stop_time_in_millis`` -> exit.
- poll     the tool's backup and restore of 1, 100 and 1,000 small indices through a counting
           proxy (tests/support/counting_proxy.py): requests (and bytes) before the operation starts,
           requests and bytes per poll while the engine works, requests after the engine's end.
- memory   peak RSS of the tool's backup and restore of 1,000 indices (taken from the poll runs).
- checkverify ``-m check`` and ``-m verify`` with 1,000 long-named indices on each side: requests
           through the counting proxy (all selected, and 10), and verify's time against a bare
           ``_cat/indices`` and ``_msearch`` on each side in a fresh Python process
           (devstack/bench_checkverify.py).
- sync     ``-m sync`` against rclone and s5cmd on real repositories (few large blobs; 500 indices),
           moto -> s3proxy, s3proxy -> s3proxy, a no-op re-sync, a copy inside one store
           (devstack/bench_sync.py; its own stores, repositories cached after the first run).
- snapshots ``-m list --json`` and ``-m prune --dry-run`` on 2,000 snapshots, with a cold and a warm
           snapshot cache, against a bare ``GET _snapshot/<repo>/_all?verbose=false``
           (devstack/bench_many.py; cached repository).
- scrub    ``-m scrub`` of a real repository on moto and s3proxy: requests per shard folder at the metadata
           level, and ``--read-data`` MB/s against a plain parallel download of the same data blobs,
           CLI against a fresh download process and in-process against in-process (devstack/bench_scrub.py;
           its own stores, a 1.6 GB repository cached after the first run).

It is not a test: it prints what it saw, marks targets missed, and exits 0 unless it could not run.
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .stack import Stack, StackError, http_request

CLI = str(Path(sys.executable).with_name("es-s3-snapshot"))
SECTIONS = ("startup", "backup", "restore", "poll", "memory", "checkverify", "sync", "snapshots", "scrub")
OWN_STACK = {"sync", "snapshots", "scrub"}  # sections with their own stores / node (bench_sync, bench_many, bench_scrub)
FULL_MB, SMALL_MB = 127, 8
DATA_INDICES = 4
POLL_SIZES, SMALL_POLL_SIZES = (1, 100, 1000), (1, 10, 100)
DOCS_PER_POLL_INDEX = 3
BLOCKING_TIMEOUT = 1800  # seconds for a bare wait_for_completion=true call
TARGETS = {"ratio": 1.10, "late": 0.75, "startup": 4.0, "rss_mb": 100.0}


@dataclass
class Options:
    rounds: int = 5
    small: bool = False
    only: tuple[str, ...] = SECTIONS
    startup_runs: int = 9

    @property
    def data_mb(self) -> int:
        return SMALL_MB if self.small else FULL_MB

    @property
    def poll_sizes(self) -> tuple[int, ...]:
        return SMALL_POLL_SIZES if self.small else POLL_SIZES


# --------------------------------------------------------------------------------------------
# running things and reading the engines
# --------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One finished operation: the tool as a subprocess, or the bare REST calls in this process."""

    code: int  # exit code (bare: 0 when the engine said success)
    wall: float  # seconds from the spawn (bare: the first request) to the exit (bare: the last answer)
    exited: float  # time.time() at the exit
    maxrss_mb: float = 0.0
    error: str = ""
    engine_end: float | None = None  # time.time() of the engine's own end of the operation

    @property
    def late(self) -> float | None:
        return None if self.engine_end is None else self.exited - self.engine_end


TIME = "/usr/bin/time"  # GNU time: reports the peak RSS of the CLI alone


def run_tool(*args: str, workdir: Path) -> Run:
    """Run the installed CLI with ``args``; wall time, exit code and peak RSS.

    The peak RSS comes from GNU time, which forks the CLI from its own small process: wait4 on a
    child of this (large) process would count the pages the child shared with it before exec.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ES_S3_SNAPSHOT", "AWS_"))}
    rss_file = workdir / "rss.txt"
    prefix = [TIME, "-f", "%M", "-o", str(rss_file)] if os.access(TIME, os.X_OK) else []
    with open(workdir / "out.txt", "wb") as out, open(workdir / "err.txt", "wb") as err:
        started = time.monotonic()
        process = subprocess.Popen([*prefix, CLI, *args], stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall, exited = time.monotonic() - started, time.time()
        process.returncode = os.waitstatus_to_exitcode(status)
    maxrss_kb = usage.ru_maxrss
    if prefix:
        try:
            maxrss_kb = int(rss_file.read_text().split()[-1])
        except (OSError, ValueError, IndexError):
            pass
    error = ""
    if process.returncode:
        lines = (workdir / "err.txt").read_text(errors="replace").strip().splitlines()
        error = lines[-1][:300] if lines else "(no output)"
    return Run(process.returncode, wall, exited, maxrss_kb / 1024, error)


class Engine:
    """Direct JSON calls to one node (bench set-up, bare REST and reading the engine's times)."""

    def __init__(self, url: str):
        self.url = url

    def __call__(self, method: str, path: str, body=None, *, ok=(200, 201), timeout: float = 120):
        status, answer = http_request(self.url + path, method, body, timeout=timeout)
        if ok and status not in ok:
            raise BenchError(f"{method} {path} on {self.url} answered {status}: {str(answer)[:300]}")
        return answer

    def snapshot_end(self, repo: str, snap: str) -> float:
        snapshot = self("GET", f"/_snapshot/{repo}/{snap}")["snapshots"][0]
        return snapshot["end_time_in_millis"] / 1000

    def recovery_end(self, pattern: str) -> float:
        """The latest recovery stop time over the shards of the indices matching ``pattern``."""
        answer = self("GET", f"/{pattern}/_recovery?filter_path=*.shards.stop_time_in_millis")
        stops = [s["stop_time_in_millis"] for index in (answer or {}).values() for s in index["shards"]]
        return max(stops) / 1000

    def settled(self, repo: str, snap: str, *, limit: float = 1800) -> bool:
        """Wait (polling each second) until a snapshot the tool gave up on has ended; True if SUCCESS."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            answer = self("GET", f"/_snapshot/{repo}/{snap}", ok=(200, 404))
            state = ((answer or {}).get("snapshots") or [{}])[0].get("state")
            if state != "IN_PROGRESS":
                return state == "SUCCESS"
            time.sleep(1)
        return False

    def indices(self, pattern: str) -> list[str]:
        rows = self("GET", f"/_cat/indices/{pattern}?format=json&h=index&expand_wildcards=all", ok=(200, 404))
        return sorted(row["index"] for row in rows or [] if isinstance(row, dict))

    def delete_indices(self, pattern: str) -> None:
        names = self.indices(pattern)
        for i in range(0, len(names), 50):  # request lines stay far under 4 KB
            self("DELETE", "/" + ",".join(names[i : i + 50]), ok=(200, 404))

    def forget(self, repo: str, snap: str | None = None) -> None:
        """Delete a snapshot (to free the S3 server) and unregister the repository."""
        if snap:
            self("DELETE", f"/_snapshot/{repo}/{snap}", ok=(200, 404), timeout=600)
        self("DELETE", f"/_snapshot/{repo}", ok=(200, 404))


class BenchError(RuntimeError):
    pass


def s3_repository(bucket: str, base_path: str, *, readonly: bool = False) -> dict:
    settings: dict = {"bucket": bucket, "base_path": base_path}
    if readonly:
        settings["readonly"] = True
    return {"type": "s3", "settings": settings}


def bare_backup(url: str, bucket: str, base_path: str, repo: str, snap: str, indices: str) -> Run:
    """The floor: register (the engine verifies) and snapshot with wait_for_completion=true."""
    engine = Engine(url)
    started = time.monotonic()
    engine("PUT", f"/_snapshot/{repo}", s3_repository(bucket, base_path))
    answer = engine(
        "PUT",
        f"/_snapshot/{repo}/{snap}?wait_for_completion=true",
        {"indices": indices, "include_global_state": False},
        timeout=BLOCKING_TIMEOUT,
    )
    run = Run(0, time.monotonic() - started, time.time())
    state = (answer or {}).get("snapshot", {}).get("state")
    if state != "SUCCESS":
        run.code, run.error = 1, f"snapshot {state}"
    return run


def bare_restore(url: str, bucket: str, base_path: str, repo: str, snap: str, indices: str, prefix: str) -> Run:
    """The floor: register read-only and restore renamed with wait_for_completion=true."""
    engine = Engine(url)
    started = time.monotonic()
    engine("PUT", f"/_snapshot/{repo}", s3_repository(bucket, base_path, readonly=True))
    answer = engine(
        "POST",
        f"/_snapshot/{repo}/{snap}/_restore?wait_for_completion=true",
        {
            "indices": indices,
            "include_global_state": False,
            "rename_pattern": "(.+)",
            "rename_replacement": prefix + "$1",
        },
        timeout=BLOCKING_TIMEOUT,
    )
    run = Run(0, time.monotonic() - started, time.time())
    shards = (answer or {}).get("snapshot", {}).get("shards", {})
    if shards.get("failed", 1) or not shards.get("total"):
        run.code, run.error = 1, f"restore shards {shards}"
    return run


def tool_config(
    workdir: Path, *, bucket: str, base_path: str, repo: str, snap: str, src: str, dest: str, indices: str, prefix: str
) -> str:
    """A config in the new format; [wait] is left at its defaults (what users get)."""
    path = workdir / f"{repo}.conf"
    path.write_text(
        textwrap.dedent(f"""\
            [aws_s3_config]
            s3_bucket_name = {bucket}
            s3_base_path = {base_path}

            [elasticsearch_config]
            es_repository_name = {repo}
            es_src_seed1 = {src}
            es_dest_seed1 = {dest}
            index_names = {indices}
            snapshot_name = {snap}

            [restore]
            existing_indices = rename
            rename_pattern = (.+)
            rename_replacement = {prefix}$1
            """)
    )
    return str(path)


# --------------------------------------------------------------------------------------------
# reading the counting proxy's records
# --------------------------------------------------------------------------------------------

_START = {
    "backup": ("PUT", re.compile(r"^/_snapshot/[^/]+/[^/]+$")),
    "restore": ("POST", re.compile(r"^/_snapshot/[^/]+/[^/]+/_restore$")),
}


@dataclass
class Phases:
    """The requests of one run, split at the request that starts the operation and the engine's end."""

    total: int = 0
    before: int = 0  # requests before the one that starts the operation
    before_bytes: int = 0
    polls: int = 0  # rounds of polling: the count of the most asked polling endpoint
    poll_requests: int = 0
    poll_bytes: int = 0
    after: int = 0  # other requests sent after the engine had finished (verdict, counts, ...)
    after_bytes: int = 0
    longest_line: int = 0
    started: bool = False

    @property
    def per_poll(self) -> float | None:
        return self.poll_requests / self.polls if self.polls else None

    @property
    def bytes_per_poll(self) -> float | None:
        return self.poll_bytes / self.polls if self.polls else None


def phases(exchanges, operation: str, engine_end: float | None) -> Phases:
    """Split a run's exchanges (CountingProxy records) into before / polling / after.

    The operation starts with ``PUT _snapshot/<repo>/<snap>`` (backup) or ``POST .../_restore``
    (restore). Polling endpoints are the (method, path) pairs asked after the start while the
    engine was still working (started before ``engine_end``), or, when it finished before any poll,
    those asked twice or more after the start. Every request to a polling endpoint counts as a poll
    request; the other requests sent after the engine's end count as "after".
    """
    result = Phases(total=len(exchanges), longest_line=max((e.line_bytes for e in exchanges), default=0))
    method, pattern = _START[operation]
    start = next((i for i, e in enumerate(exchanges) if e.method == method and pattern.match(e.path)), None)
    if start is None:
        result.before = len(exchanges)
        result.before_bytes = sum(e.body_bytes for e in exchanges)
        return result
    result.started = True
    before, rest = exchanges[:start], exchanges[start + 1 :]
    result.before, result.before_bytes = len(before), sum(e.body_bytes for e in before)
    end = float("inf") if engine_end is None else engine_end
    kinds = {(e.method, e.path) for e in rest if e.started < end}
    if not kinds:
        counts = Counter((e.method, e.path) for e in rest)
        kinds = {k for k, n in counts.items() if n >= 2}
    polled = [e for e in rest if (e.method, e.path) in kinds]
    after = [e for e in rest if (e.method, e.path) not in kinds and e.started >= end]
    result.polls = max(Counter((e.method, e.path) for e in polled).values(), default=0)
    result.poll_requests, result.poll_bytes = len(polled), sum(e.body_bytes for e in polled)
    result.after, result.after_bytes = len(after), sum(e.body_bytes for e in after)
    return result


# --------------------------------------------------------------------------------------------
# the sections
# --------------------------------------------------------------------------------------------


@dataclass
class Results:
    data_bytes: int = 0
    startup: dict = field(default_factory=dict)  # {"help": [s], "version": [s], "pass": [s]}
    pairs: dict = field(default_factory=dict)  # {"backup": [(tool Run, bare Run)], "restore": [...]}
    polls: list = field(default_factory=list)  # [(operation, who, indices, Run, Phases)]
    notes: list = field(default_factory=list)


def plain_install(folder: Path) -> tuple[str, str]:
    """A venv in ``folder`` holding the tool as ``pip install`` of a wheel does: (its python, its
    es-s3-snapshot). This checkout's venv holds it as an editable install, whose import hook (a
    .pth file that imports pathlib, re...) costs every python of that venv about 12 ms, ``python -c
    pass`` included: the anchor of the start-up ratio would carry it. Here the package and its
    dependencies are plain sys.path entries (a .pth of paths, which imports nothing)."""
    import sysconfig

    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(folder)], check=True, capture_output=True)
    python = folder / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    root = Path(__file__).resolve().parent.parent
    Path(purelib, "es_s3_snapshot_paths.pth").write_text(f"{root}\n{sysconfig.get_paths()['purelib']}\n")
    cli = folder / "bin" / "es-s3-snapshot"  # what pip writes for the console_scripts entry point
    cli.write_text(f"#!{python}\nimport sys\nfrom es_s3_snapshot.cli import run\nif __name__ == '__main__':\n"
                   "    sys.exit(run())\n")  # fmt: skip
    cli.chmod(0o755)
    return str(python), str(cli)


def measure_startup(runs: int) -> dict:
    """``es-s3-snapshot --help``, ``--version`` and ``python -c pass`` of a plain install
    (``plain_install``), interleaved, ``runs`` times each; and the same two of this checkout's
    editable venv (``editable-*``), shown beside them, not gated."""
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        python, cli = plain_install(Path(tmp) / "venv")
        commands = {
            "help": [cli, "--help"], "version": [cli, "--version"], "pass": [python, "-c", "pass"],
            "editable-version": [CLI, "--version"], "editable-pass": [sys.executable, "-c", "pass"],
        }  # fmt: skip
        times: dict[str, list[float]] = {key: [] for key in commands}
        for _ in range(runs):
            for key, command in commands.items():
                started = time.monotonic()
                subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
                times[key].append(time.monotonic() - started)
    return times


class Bench:
    """The sections that need engines, on a running stack with ``source`` and ``destination``."""

    def __init__(self, stack: Stack, options: Options, workdir: Path, log=print):
        self.stack, self.options, self.workdir, self.log = stack, options, workdir, log
        self.src = Engine(stack.nodes["source"].url)
        self.dest = Engine(stack.nodes["destination"].url)
        self.bucket = stack.s3.bucket
        self.run_id = "b" + secrets.token_hex(3)  # every name this run makes starts with it
        self.results = Results()

    # -- data -------------------------------------------------------------------------------

    def load_data(self) -> str:
        """4 indices of random-looking documents, about ``data_mb`` MB on disk; returns their pattern."""
        pattern = f"{self.run_id}-d*"
        per_index = self.options.data_mb * 1024 * 1024 // DATA_INDICES
        doc_bytes = 1024
        docs = per_index // (doc_bytes + 60)
        started = time.monotonic()
        for i in range(DATA_INDICES):
            self.src(
                "PUT",
                f"/{self.run_id}-d{i}",
                {
                    "settings": {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "-1"},
                    "mappings": {"dynamic": False, "properties": {"n": {"type": "integer"}}},
                },
            )

        def bulk(index: str, first: int, count: int) -> None:
            lines = []
            for n in range(first, first + count):
                blob = base64.b64encode(os.urandom(doc_bytes * 3 // 4)).decode()
                lines.append(f'{{"index":{{"_index":"{index}","_id":"{n}"}}}}\n{{"n":{n},"blob":"{blob}"}}\n')
            answer = self.src("POST", "/_bulk", "".join(lines), timeout=300)
            if answer.get("errors"):
                raise BenchError(f"bulk into {index} had errors")

        chunk = 4000
        jobs = [
            (f"{self.run_id}-d{i}", f, min(chunk, docs - f)) for i in range(DATA_INDICES) for f in range(0, docs, chunk)
        ]
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda job: bulk(*job), jobs))
        self.src("POST", f"/{pattern}/_refresh")
        self.src("POST", f"/{pattern}/_flush")
        self.src("PUT", f"/{pattern}/_settings", {"index": {"refresh_interval": None}})
        rows = self.src("GET", f"/_cat/indices/{pattern}?format=json&bytes=b&h=index,store.size")
        self.results.data_bytes = sum(int(r["store.size"]) for r in rows)
        self.log(
            f"bench: loaded {DATA_INDICES} indices, {self.results.data_bytes / 1e6:.1f} MB on disk, "
            f"in {time.monotonic() - started:.0f}s"
        )
        return pattern

    def make_small_indices(self, count: int, *, engine: Engine | None = None, prefix: str = "") -> str:
        """``count`` indices of 1 shard, 0 replicas, a few documents each, on ``engine`` (default the
        source), named ``prefix`` and a 4-digit number; returns their pattern.

        Each index is created by its own request (4 at a time, not waiting for its shard), with a
        long cluster-manager timeout: a busy node takes long to publish a state with 1,000 indices.
        """
        engine = engine or self.src
        prefix = prefix or f"{self.run_id}-p{count}-"
        started = time.monotonic()
        names = [f"{prefix}{k:04d}" for k in range(count)]
        settings = {"settings": {"number_of_shards": 1, "number_of_replicas": 0}}

        def create(name: str) -> None:
            engine(
                "PUT",
                f"/{name}?wait_for_active_shards=0&cluster_manager_timeout=600s&timeout=600s",
                settings,
                timeout=660,
            )

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(create, names))

        def bulk(group: list[str]) -> None:
            lines = []
            for name in group:
                for n in range(DOCS_PER_POLL_INDEX):
                    lines.append(f'{{"index":{{"_index":"{name}"}}}}\n{{"n":{n}}}\n')
            answer = engine("POST", "/_bulk?timeout=600s", "".join(lines), timeout=660)
            if answer.get("errors"):
                first = next(i for i in answer["items"] if i["index"].get("error"))["index"]["error"]
                raise BenchError(f"bulk into {group[0]}..: {first.get('type')}: {first.get('reason')}")

        engine("GET", f"/_cluster/health/{prefix}*?wait_for_status=green&timeout=600s", timeout=660)
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(bulk, [names[i : i + 200] for i in range(0, count, 200)]))
        engine("POST", f"/{prefix}*/_refresh", timeout=600)
        self.log(f"bench: created {count} small indices on {engine.url} in {time.monotonic() - started:.0f}s")
        return prefix + "*"

    def allow_many_indices(self) -> None:
        """Room for 1,000s of shards per node, and restores of more than 4 primaries at a time
        (the same engine settings for every run measured: they shorten the bench, not the tool's cost)."""
        for engine in (self.src, self.dest):
            engine(
                "PUT",
                "/_cluster/settings",
                {
                    "persistent": {
                        "cluster.max_shards_per_node": 10000,
                        "cluster.routing.allocation.node_initial_primaries_recoveries": 16,
                    }
                },
            )

    # -- tool and bare runs ----------------------------------------------------------------------

    def _dir(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(exist_ok=True)
        return path

    def tool(self, mode: str, *, repo: str, base: str, indices: str, prefix: str = "", src=None, dest=None) -> Run:
        work = self._dir(f"{repo}-{mode}")
        config = tool_config(
            work,
            bucket=self.bucket,
            base_path=base,
            repo=repo,
            snap="snap",
            src=src or self.src.url,
            dest=dest or self.dest.url,
            indices=indices,
            prefix=prefix,
        )
        return run_tool("-m", mode, "-c", config, workdir=work)

    def _ended(self, run: Run, operation: str, *, repo: str, restored: str) -> Run:
        """Fill in the engine's end time of a successful run."""
        if run.code == 0:
            if operation == "backup":
                run.engine_end = self.src.snapshot_end(repo, "snap")
            else:
                run.engine_end = self.dest.recovery_end(restored)
        return run

    def backup_pair(self, n: int, pattern: str) -> tuple[Run, Run]:
        tag = f"{self.run_id}-{n}"
        tool = self.tool("backup", repo=f"{tag}-tb", base=f"bench/{tag}/tool", indices=pattern)
        self._ended(tool, "backup", repo=f"{tag}-tb", restored="")
        bare = bare_backup(self.src.url, self.bucket, f"bench/{tag}/bare", f"{tag}-bb", "snap", pattern)
        self._ended(bare, "backup", repo=f"{tag}-bb", restored="")
        self.src.forget(f"{tag}-tb", "snap")
        return tool, bare

    def restore_pair(self, n: int, pattern: str, *, have_backup: bool) -> tuple[Run, Run]:
        """Restore round ``n``'s bare snapshot with the tool, then bare, into fresh names."""
        tag = f"{self.run_id}-{n}"
        base = f"bench/{tag}/bare"
        if not have_backup:
            done = bare_backup(self.src.url, self.bucket, base, f"{tag}-bb", "snap", pattern)
            if done.code:
                raise BenchError(f"the bare backup for restore round {n} failed: {done.error}")
        tool = self.tool("restore", repo=f"{tag}-tr", base=base, indices=pattern, prefix=f"{tag}t-")
        self._ended(tool, "restore", repo="", restored=f"{tag}t-*")
        bare = bare_restore(self.dest.url, self.bucket, base, f"{tag}-br", "snap", pattern, f"{tag}b-")
        self._ended(bare, "restore", repo="", restored=f"{tag}b-*")
        self.dest.delete_indices(f"{tag}t-*")
        self.dest.delete_indices(f"{tag}b-*")
        self.dest.forget(f"{tag}-tr")
        self.dest.forget(f"{tag}-br")
        return tool, bare

    def rounds(self) -> None:
        only, pairs = self.options.only, self.results.pairs
        pattern = self.load_data()
        for n in range(self.options.rounds):
            if "backup" in only:
                pairs.setdefault("backup", []).append(self.backup_pair(n, pattern))
                self.log(_pair_line("backup", n, *pairs["backup"][-1]))
            if "restore" in only:
                pairs.setdefault("restore", []).append(self.restore_pair(n, pattern, have_backup="backup" in only))
                self.log(_pair_line("restore", n, *pairs["restore"][-1]))
            self.src.forget(f"{self.run_id}-{n}-bb", "snap")
        self.src.delete_indices(pattern)

    def polling(self, sizes: tuple[int, ...], *, floor: bool) -> None:
        """The tool's backup and restore of ``sizes`` small indices through counting proxies."""
        from tests.support.counting_proxy import CountingProxy

        self.allow_many_indices()
        with CountingProxy(self.src.url) as src_proxy, CountingProxy(self.dest.url) as dest_proxy:
            for count in sizes:
                pattern = self.make_small_indices(count)
                tag = f"{self.run_id}-q{count}"
                base = f"bench/{tag}"
                for who in ("tool", "bare") if floor and count == sizes[0] else ("tool",):
                    repo, restored = f"{tag}-{who}", f"{tag}{who[0]}-"
                    src_proxy.reset()
                    if who == "tool":
                        run = self.tool("backup", repo=repo, base=f"{base}/{who}", indices=pattern, src=src_proxy.url)
                    else:
                        run = bare_backup(src_proxy.url, self.bucket, f"{base}/{who}", repo, "snap", pattern)
                    self._ended(run, "backup", repo=repo, restored="")
                    self._record("backup", who, count, run, src_proxy.reset())
                    if run.code and not self.src.settled(repo, "snap"):
                        continue  # no snapshot to restore from (the failure is in the table)
                    dest_proxy.reset()
                    if who == "tool":
                        run = self.tool(
                            "restore",
                            repo=repo,
                            base=f"{base}/{who}",
                            indices=pattern,
                            prefix=restored,
                            dest=dest_proxy.url,
                        )
                    else:
                        run = bare_restore(
                            dest_proxy.url, self.bucket, f"{base}/{who}", repo, "snap", pattern, restored
                        )
                    self._ended(run, "restore", repo="", restored=restored + "*")
                    self._record("restore", who, count, run, dest_proxy.reset())
                    self.dest.delete_indices(restored + "*")
                    self.dest.forget(repo)
                    self.src.forget(repo, "snap")

    def _record(self, operation: str, who: str, count: int, run: Run, exchanges) -> None:
        found = phases(exchanges, operation, run.engine_end)
        self.results.polls.append((operation, who, count, run, found))
        self.log(
            f"bench: {who} {operation} of {count} index(es): exit {run.code}, {run.wall:.1f}s, "
            f"{found.total} requests ({found.before} before the start, {found.polls} polls, {found.after} after)"
            + (f": {run.error}" if run.error else "")
        )


def _pair_line(operation: str, n: int, tool: Run, bare: Run) -> str:
    def one(run: Run) -> str:
        if run.code:
            return f"FAILED ({run.error})"
        return f"{run.wall:.2f}s (late {run.late:.2f}s)"

    return f"bench: round {n + 1} {operation}: tool {one(tool)}, bare {one(bare)}"


# --------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------


def _spread(values: list[float], fmt: str = "{:.2f}") -> str:
    if not values:
        return "-"
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("ok" if ok else "MISSED")


def _kb(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1024:.1f} KB" if value >= 1024 else f"{value:.0f} B"


def _machine() -> str:
    mem = "?"
    try:
        with open("/proc/meminfo") as handle:
            kb = int(next(line for line in handle if line.startswith("MemTotal")).split()[1])
            mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{platform.node()}: {os.cpu_count()} cores, {mem}, load {load}; Python {platform.python_version()}"


def _tool_version() -> str:
    try:
        version = subprocess.run([CLI, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        version = "es-s3-snapshot ?"
    root = Path(__file__).resolve().parent.parent
    commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return version + (f" (git {commit.stdout.strip()})" if commit.returncode == 0 else "")


def report(results: Results, options: Options, engines: str = "") -> str:
    """The compact markdown table (and the polling table) of everything measured."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"es-s3-snapshot bench, {now}, {_tool_version()}",
        f"machine {_machine()}" + (f"; {engines}" if engines else ""),
    ]
    if results.data_bytes:
        lines.append(
            f"data: {DATA_INDICES} indices, {results.data_bytes / 1e6:.1f} MB on disk; {options.rounds} round(s), "
            "tool and bare REST interleaved; [wait] defaults"
        )
    lines += ["", "| figure | tool | bare REST | tool / bare | target | |", "|---|---|---|---|---|---|"]
    for operation in ("backup", "restore"):
        pairs = results.pairs.get(operation)
        if not pairs:
            continue
        good = [(t, b) for t, b in pairs if t.code == 0 and b.code == 0]
        failed = len(pairs) - len(good)
        ratios = [t.wall / b.wall for t, b in good]
        note = f" ({failed} of {len(pairs)} failed)" if failed else ""
        lines.append(
            f"| {operation} wall time, s, median (min-max){note} | {_spread([t.wall for t, _ in good])} "
            f"| {_spread([b.wall for _, b in good])} | {_spread(ratios)} | <= {TARGETS['ratio']:.2f} "
            f"| {_verdict(statistics.median(ratios) <= TARGETS['ratio'] if ratios else None)} |"
        )
    for operation, what in (("backup", "end_time_in_millis"), ("restore", "recovery stop_time")):
        pairs = [(t, b) for t, b in results.pairs.get(operation, []) if t.late is not None and b.late is not None]
        if not pairs:
            continue
        tool_late = [t.late for t, _ in pairs]
        lines.append(
            f"| engine finished ({what}) -> exit, {operation}, s | {_spread(tool_late)} "
            f"| {_spread([b.late for _, b in pairs])} | | <= {TARGETS['late']:.2f} "
            f"| {_verdict(statistics.median(tool_late) <= TARGETS['late'])} |"
        )
    smallest = {}
    for operation, who, count, _run, found in results.polls:
        if found.started and (operation, who) not in smallest:
            smallest[(operation, who)] = (count, found)
    for operation in ("backup", "restore"):
        tool, bare = smallest.get((operation, "tool")), smallest.get((operation, "bare"))
        if tool:
            lines.append(
                f"| requests before the {operation} starts ({tool[0]} index) | {tool[1].before} "
                f"| {bare[1].before if bare else '-'} | | as few as the checks need | |"
            )
    biggest = {}
    for operation, who, count, run, found in results.polls:
        if who == "tool" and found.started:
            biggest[operation] = (count, found, run)
    for operation, (count, found, run) in biggest.items():
        if count > 1:
            failed = f" (exit {run.code})" if run.code else ""
            lines.append(
                f"| requests after the end, {operation} of {count} indices | {found.after}{failed} | 0 | | constant | |"
            )
    if results.startup:
        pass_s = statistics.median(results.startup["pass"])
        for flag in ("help", "version"):
            flag_s = statistics.median(results.startup.get(flag) or [float("nan")])
            ratio = flag_s / pass_s
            lines.append(
                f"| `--{flag}` / `python -c pass`, plain install, s, median of {len(results.startup['pass'])} "
                f"| {flag_s:.3f} | {pass_s:.3f} | {ratio:.1f}x | <= {TARGETS['startup']:.0f}x "
                f"| {_verdict(ratio <= TARGETS['startup'])} |"
            )
        if results.startup.get("editable-pass"):
            tool_s = statistics.median(results.startup["editable-version"])
            anchor_s = statistics.median(results.startup["editable-pass"])
            lines.append(
                f"| `--version` / `python -c pass` in this checkout's editable venv (both pay its import hook), s "
                f"| {tool_s:.3f} | {anchor_s:.3f} | {tool_s / anchor_s:.1f}x | not gated | |"
            )
    memory = [(op, count, run) for op, who, count, run, _ in results.polls if who == "tool"]
    if "memory" in options.only and memory:
        most = max(count for _, count, _ in memory)
        for operation in ("backup", "restore"):
            for op, count, run in memory:
                if op == operation and count == most:
                    lines.append(
                        f"| peak RSS, {operation} of {count} indices, MB | {run.maxrss_mb:.0f}"
                        + (f" (exit {run.code})" if run.code else "")
                        + f" | | | < {TARGETS['rss_mb']:.0f} | {_verdict(run.maxrss_mb < TARGETS['rss_mb'])} |"
                    )
    if results.polls and "poll" in options.only:
        lines += [
            "",
            "Requests through the counting proxy (a poll is one round of the endpoints asked while the engine worked):",
            "",
            "| run | indices | exit | wall s | requests | before (bytes) | polls | requests / poll | bytes / poll "
            "| after (bytes) | longest request line |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for operation, who, count, run, found in results.polls:
            per = f"{found.per_poll:.1f}" if found.per_poll is not None else "-"
            lines.append(
                f"| {who} {operation} | {count} | {run.code} | {run.wall:.1f} | {found.total} "
                f"| {found.before} ({_kb(found.before_bytes)}) | {found.polls} | {per} | {_kb(found.bytes_per_poll)} "
                f"| {found.after} ({_kb(found.after_bytes)}) | {found.longest_line} B |"
            )
        failures = [(o, w, c, r) for o, w, c, r, _ in results.polls if r.code]
        for operation, who, count, run in failures:
            lines.append(f"\n{who} {operation} of {count} indices exited {run.code}: {run.error}")
    lines += results.notes
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# the command
# --------------------------------------------------------------------------------------------


def run_sections(stack: Stack, options: Options, workdir: Path, log=print) -> Results:
    """Run the engine sections of ``options.only`` on a running stack; returns what was measured."""
    bench = Bench(stack, options, workdir, log)
    if {"backup", "restore"} & set(options.only):
        bench.rounds()
    if {"poll", "memory"} & set(options.only):
        sizes = options.poll_sizes if "poll" in options.only else options.poll_sizes[-1:]
        bench.polling(sizes, floor="poll" in options.only)
    if "checkverify" in options.only:  # check and verify at 1,000 indices on each side (issue 18)
        from .bench_checkverify import bench_checkverify

        bench.results.notes += bench_checkverify(bench, options.rounds, log)
    return bench.results


def parse(argv) -> Options:
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description="What es-s3-snapshot costs on top of bare REST calls, on a local devstack (README: Benchmarks).",
    )
    parser.add_argument(
        "--rounds", type=int, default=None, help="interleaved tool/bare rounds (default 5; 2 with --small)"
    )
    parser.add_argument(
        "--small", action="store_true", help=f"a quick run: {SMALL_MB} MB of data, polling at {SMALL_POLL_SIZES}"
    )
    parser.add_argument(
        "--only", action="append", choices=SECTIONS, help="run only this section (repeatable; default: all)"
    )
    parser.add_argument("--startup-runs", type=int, default=None, help="runs of each start-up command (default 9)")
    args = parser.parse_args(argv)
    options = Options(small=args.small, only=tuple(args.only or SECTIONS))
    options.rounds = args.rounds if args.rounds is not None else (2 if args.small else 5)
    if args.startup_runs is not None:
        options.startup_runs = args.startup_runs
    elif args.small:
        options.startup_runs = 5
    return options


def main(argv=None) -> int:
    options = parse(argv)
    started = time.monotonic()
    results = Results()
    if "startup" in options.only:
        results.startup = measure_startup(options.startup_runs)
    engines = ""
    own_lines: list[str] = []
    scrub_lines: list[str] = []
    if set(options.only) - {"startup"} - OWN_STACK:
        print("bench: starting the local stack (S3 server, OpenSearch source and destination)...", flush=True)
        heap = os.environ.get("DEVSTACK_HEAP", "1g")
        try:
            with Stack(nodes=("source", "destination"), heap=heap) as stack, tempfile.TemporaryDirectory() as tmp:
                node = stack.nodes["source"]
                engines = f"{node.engine} {node.version} (heap {heap}) x2, S3: moto"
                found = run_sections(stack, options, Path(tmp), log=lambda text: print(text, flush=True))
                found.startup = results.startup
                results = found
        except StackError as err:
            print(f"bench: the local stack did not start: {err}", file=sys.stderr)
            return 1
        except BenchError as err:
            print(f"bench: {err}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("bench: interrupted; the stack was torn down", file=sys.stderr)
            return 130
    try:
        if "sync" in options.only:  # -m sync against rclone and s5cmd (issue 18)
            from .bench_sync import PARTS, bench_sync

            own_lines += ["", "Sync against the tools users would pick instead (medians of interleaved rounds):", ""]
            own_lines += bench_sync(
                PARTS, rounds=min(options.rounds, 3), echo=lambda text: print(f"bench: sync {text}", flush=True)
            )
        if "scrub" in options.only:  # -m scrub --read-data against a plain parallel download
            from .bench_scrub import bench_scrub

            bench_scrub(
                rounds=min(options.rounds, 5),
                megabytes=20 if options.small else 1600,
                echo=lambda text: (print(f"bench: scrub {text}", flush=True), scrub_lines.append(text)),
            )
        if "snapshots" in options.only:  # list / prune on a repository of 2,000 snapshots
            from .bench_many import bench_many

            own_lines += ["", "A repository of 2,000 snapshots (fs, OpenSearch; medians):", ""]
            own_lines += ["| figure | es-s3-snapshot | anchor | ratio | gate | |", "|---|---|---|---|---|---|"]
            own_lines += bench_many(
                rounds=min(options.rounds, 5), echo=lambda text: print(f"bench: snapshots {text}", flush=True)
            )
    except (StackError, RuntimeError) as err:
        print(f"bench: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; the stores were stopped", file=sys.stderr)
        return 130
    print()
    print(report(results, options, engines))
    if scrub_lines:
        print("\nscrub of a repository on moto and s3proxy: --read-data against a plain parallel download:")
        print("\n".join(line for line in scrub_lines if not line.startswith(("round ", "writing "))))
    if own_lines:
        print("\n".join(own_lines))
    print(f"\n(bench ran {time.monotonic() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
