"""The one-command demo: a backup and a restore on the local stack, and a check that the data arrived.

Run with ``scripts/demo`` (or ``python -m devstack.demo`` inside the project's venv). It brings up
the S3 server and the OpenSearch source and destination, loads a small data set into the source,
writes a config (and shows it), runs ``es-s3-snapshot -m backup`` and ``-m restore`` as a user
would, prints source vs destination document counts per index, and tears everything down.
Exit status: 0 when every index arrived with all its documents, 1 otherwise.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from . import Stack, StackError

# index -> number of documents; the last one is deliberately not backed up
DATA = {"demo-products": 500, "demo-orders": 2500, "demo-logs-2026.11.21": 1200, "demo-scratch": 40}
SELECTED = "demo-products,demo-orders,demo-logs-*"
CLI = str(Path(sys.executable).with_name("es-s3-snapshot"))


def _call(url: str, method: str, path: str, body: bytes | None = None, ctype: str = "application/json"):
    request = urllib.request.Request(url + path, data=body, method=method, headers={"content-type": ctype})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def load_sample_data(url: str) -> None:
    for index, docs in DATA.items():
        lines = []
        for n in range(docs):
            lines.append(json.dumps({"index": {"_index": index, "_id": str(n)}}))
            lines.append(json.dumps({"n": n, "sku": f"sku-{n % 97}", "price": round(n * 0.37, 2)}))
        _call(url, "POST", "/_bulk?refresh=true", ("\n".join(lines) + "\n").encode(), "application/x-ndjson")


def count(url: str, index: str) -> int | None:
    try:
        return _call(url, "GET", f"/{index}/_count")["count"]
    except urllib.error.HTTPError:
        return None


def write_config(stack: Stack, directory: Path) -> Path:
    path = directory / "es-s3-snapshot.conf"
    path.write_text(
        f"""[aws_s3_config]
s3_bucket_name = {stack.s3.bucket}
s3_base_path = demo          # the 'path' inside the bucket for snapshots

[elasticsearch_config]
es_repository_name = demo_snapshots
es_src_seed1 = {stack.nodes["source"].url}
es_dest_seed1 = {stack.nodes["destination"].url}
index_names = {SELECTED}
snapshot_name = demo-%Y.%m.%d-%H%M%S

[wait]
poll_interval = 1
"""
    )
    return path


def run(mode: str, config: Path) -> int:
    print(f"\n$ es-s3-snapshot -m {mode} -c {config}", flush=True)
    return subprocess.call([CLI, "-m", mode, "-c", str(config)], stdin=subprocess.DEVNULL)


def main() -> int:
    started = time.monotonic()
    print("Starting the local stack: moto S3 server, OpenSearch source and destination (this takes a minute)...")
    try:
        with Stack(nodes=("source", "destination")) as stack, tempfile.TemporaryDirectory() as tmp:
            src, dest = stack.nodes["source"].url, stack.nodes["destination"].url
            print(f"  S3 server    {stack.s3.endpoint}  bucket {stack.s3.bucket}")
            print(f"  source       {src}  OpenSearch {stack.nodes['source'].version}")
            print(f"  destination  {dest}  OpenSearch {stack.nodes['destination'].version}")
            load_sample_data(src)
            print(f"\nLoaded sample data into the source: {', '.join(f'{i} ({n} docs)' for i, n in DATA.items())}")
            config = write_config(stack, Path(tmp))
            print(f"\nThe config ({config}):\n")
            print("    " + config.read_text().replace("\n", "\n    "))
            for mode in ("backup", "restore"):
                code = run(mode, config)
                if code != 0:
                    print(f"\ndemo: es-s3-snapshot -m {mode} exited {code}", file=sys.stderr)
                    return 1
            print("\nSource vs destination:\n")
            print(f"    {'index':<24} {'source':>8} {'destination':>12}  check")
            ok = True
            for index in DATA:
                selected = index != "demo-scratch"
                there = count(dest, index)
                good = there == count(src, index) if selected else there is None
                ok &= good
                shown = "-" if there is None else str(there)
                verdict = ("ok" if good else "MISMATCH") + ("" if selected else " (not selected, not restored)")
                print(f"    {index:<24} {count(src, index):>8} {shown:>12}  {verdict}")
            print(
                f"\nS3 objects under demo/: {len(stack.s3.client().list_objects_v2(Bucket=stack.s3.bucket, Prefix='demo/').get('Contents', []))}"
            )
            print(
                f"\ndemo {'succeeded' if ok else 'FAILED'} in {time.monotonic() - started:.0f}s; tearing the stack down"
            )
            return 0 if ok else 1
    except StackError as err:
        print(f"demo: the local stack did not start: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("demo: interrupted; the stack was torn down", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
