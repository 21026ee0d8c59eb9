"""The ``checkverify`` section of scripts/bench (issue 18 point 5): ``-m check`` and ``-m verify``
with 1,000 indices of long names (60+ characters) on each side.

- requests: each mode run once through a counting proxy on each side (tests/support/counting_proxy.py),
  with all 1,000 indices selected and with 10 of them: the count must be the same and at most 20;
- time: ``-m verify`` (spawn to exit) against the floor of what it reads, in a fresh Python process:
  one bare ``GET _cat/indices?format=json`` and one ``_msearch`` of the 1,000 counts on each side.
  Interleaved rounds, medians, their ratio; target <= 3x.

Called by devstack/bench.py (``run_sections``) on its running stack; prints nothing itself
and returns the report's lines.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

COUNT = 1000
MAX_REQUESTS = 20
TARGET = 3.0
NAME = "customer-orders-eu-west-1-archive-by-month-rollup-"  # with the run id and a number: 60+ characters

# The floor, run as ``python -c FLOOR <pattern prefix> <url>...``: what verify has to read, bare.
FLOOR = textwrap.dedent("""\
    import json, sys, urllib.request
    prefix = sys.argv[1]
    for url in sys.argv[2:]:
        with urllib.request.urlopen(url + "/_cat/indices?format=json", timeout=300) as answer:
            names = [r["index"] for r in json.load(answer) if r["index"].startswith(prefix)]
        body = "".join(json.dumps({"index": n}) + '\\n{"size":0,"track_total_hits":true}\\n' for n in names)
        request = urllib.request.Request(url + "/_msearch", body.encode(), method="POST",
                                         headers={"Content-Type": "application/x-ndjson"})
        with urllib.request.urlopen(request, timeout=300) as answer:
            counts = [r["hits"]["total"]["value"] for r in json.load(answer)["responses"]]
        assert len(counts) == len(names) > 0, (len(counts), len(names))
    """)


def config_text(bench, pattern: str, src: str, dest: str) -> str:
    """A config selecting ``pattern``; the destination holds copies under the same names (the
    restore policy ``close``: check judges a re-run over them)."""
    return textwrap.dedent(f"""\
        [aws_s3_config]
        s3_bucket_name = {bench.bucket}
        s3_base_path = bench/{bench.run_id}-cv

        [elasticsearch_config]
        es_repository_name = {bench.run_id}-cv
        es_src_seed1 = {src}
        es_dest_seed1 = {dest}
        index_names = {pattern}

        [restore]
        existing_indices = close
        """)


def timed(command: list[str]) -> tuple[float, int, str]:
    """Run ``command``; (wall seconds, exit code, last line of stderr)."""
    started = time.monotonic()
    done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    wall = time.monotonic() - started
    lines = done.stderr.strip().splitlines()
    return wall, done.returncode, (lines[-1][:300] if lines else "")


def _last(values: list[float]) -> str:
    return f"{values[-1]:.2f}s" if values else "-"


def bench_checkverify(bench, rounds: int, log=print) -> list[str]:
    """Make 1,000 long-named indices on each side, count the requests of check and verify, time
    verify against its floor; returns the report's lines."""
    from tests.support.counting_proxy import CountingProxy

    from .bench import CLI

    prefix = f"{bench.run_id}-{NAME}"
    bench.allow_many_indices()
    with ThreadPoolExecutor(2) as pool:  # the same names on both sides: the destination holds the copies
        list(
            pool.map(
                lambda engine: bench.make_small_indices(COUNT, engine=engine, prefix=prefix), (bench.src, bench.dest)
            )
        )
    work = bench.workdir / "checkverify"
    work.mkdir(exist_ok=True)

    def config(name: str, pattern: str, src: str, dest: str) -> str:
        path = work / f"{name}.conf"
        path.write_text(config_text(bench, pattern, src, dest))
        path.chmod(0o600)
        return str(path)

    requests: dict[
        tuple[str, int], tuple[int, int, int, int]
    ] = {}  # (mode, selected) -> (src, dest, exit, longest line)
    with CountingProxy(bench.src.url) as src_proxy, CountingProxy(bench.dest.url) as dest_proxy:
        for selected, pattern in ((10, prefix + "000*"), (COUNT, prefix + "*")):
            path = config(f"counted-{selected}", pattern, src_proxy.url, dest_proxy.url)
            for mode in ("check", "verify"):
                src_proxy.reset()
                dest_proxy.reset()
                _, code, error = timed([CLI, "-m", mode, "-c", path])
                sent = src_proxy.reset(), dest_proxy.reset()
                longest = max((e.line_bytes for side in sent for e in side), default=0)
                requests[(mode, selected)] = (len(sent[0]), len(sent[1]), code, longest)
                log(
                    f"bench: -m {mode} of {selected} indices: exit {code}, {len(sent[0])} requests to the source, "
                    f"{len(sent[1])} to the destination, longest request line {longest} B"
                    + (f": {error}" if code else "")
                )

    direct = config("direct", prefix + "*", bench.src.url, bench.dest.url)
    floor = [sys.executable, "-c", FLOOR, prefix, bench.src.url, bench.dest.url]
    times: dict[str, list[float]] = {"verify": [], "floor": []}
    for n in range(rounds):
        for who, command in (("verify", [CLI, "-m", "verify", "-c", direct]), ("floor", floor)):
            wall, code, error = timed(command)
            if code:
                log(f"bench: round {n + 1} {who} exited {code}: {error}")
                continue
            times[who].append(wall)
        log(f"bench: round {n + 1}: verify {_last(times['verify'])}, bare {_last(times['floor'])}")
    bench.dest.delete_indices(prefix + "*")
    bench.src.delete_indices(prefix + "*")

    lines = [
        "",
        f"check and verify, {COUNT:,} indices of {len(prefix) + 4} characters on each side (OpenSearch, "
        f"medians of {rounds} interleaved round(s)):",
        "",
        "| figure | es-s3-snapshot | anchor | ratio | gate | |",
        "|---|---|---|---|---|---|",
    ]
    for mode in ("check", "verify"):
        few, many = requests[(mode, 10)], requests[(mode, COUNT)]
        total = many[0] + many[1]
        ok = few[:2] == many[:2] and total <= MAX_REQUESTS
        failed = f" (exit {many[2]})" if many[2] else ""
        lines.append(
            f"| `-m {mode}` requests, source + destination, {COUNT:,} indices selected{failed} | {many[0]} + {many[1]} "
            f"= {total} | {few[0]} + {few[1]} with 10 selected | | same, <= {MAX_REQUESTS} | {'ok' if ok else 'MISSED'} |"
        )
        lines.append(f"| `-m {mode}` longest request line | {many[3]} B | | | no names in URLs | |")
    if times["verify"] and times["floor"]:
        tool, bare = statistics.median(times["verify"]), statistics.median(times["floor"])
        ratio = tool / bare
        lines.append(
            f"| `-m verify`, {COUNT:,} indices, s | {tool:.2f} | {bare:.2f}, bare `_cat/indices` + `_msearch` "
            f"on each side (fresh python) | {ratio:.2f}x | <= {TARGET:.0f}x | {'ok' if ratio <= TARGET else 'MISSED'} |"
        )
    else:
        lines.append("| `-m verify` time | failed, see the log above | | | | MISSED |")
    return lines
