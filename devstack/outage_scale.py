"""A store that restarts mid-run, at the bench's scale: the proof of `outage_wait` on the small
shape (3,004 objects, 500 indices, OpenSearch 3.3 with hashed shard folders) that the e2e test
(`tests/e2e/test_sync.py`, about 40 objects) cannot afford in CI.

    .venv/bin/python -m devstack.outage_scale [--down 8]

s3proxy (filesystem backend) is SIGKILLed early in each run and started again on its port
``--down`` seconds later, longer than the retry rule for a refused connection rides out (7.75 s at
most). Five runs of the tool, from a plain install:

1. sync moto -> s3proxy, killed mid-run: exit 0, its WARNING and "answers again" lines;
2. the same sync again: nothing left to copy;
3. sync s3proxy -> moto (a fresh bucket), killed mid-run: exit 0;
4. the same sync again: nothing left to copy;
5. scrub --read-data of the s3proxy copy, killed mid-run: exit 0, 0 damaged.

Then every object of the first moto bucket is in the second with the same MD5 ETag (moto -> s3proxy
-> moto). Objects only on the copies are listed: s3proxy's filesystem backend leaves the temporary
file of a write cut by its SIGKILL (``<blob>-<uuid>``), which it then lists as an object; sync keeps
what only the destination holds unless --delete is given. Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .bench import plain_install
from .bench_stores import Stores, load
from .bench_sync import PROXY, Side, repositories, sync_conf


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--down", type=float, default=8.0, help="seconds s3proxy stays down (default 8)")
    args = parser.parse_args()
    folder = repositories(["small"], print)["small"]
    failures: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="outage-scale-") as tmp,
        Stores(Path(tmp) / "stores", proxies=1, **PROXY) as stores,
    ):
        work = Path(tmp)
        tool = plain_install(work / "venv")[1]
        moto, proxy = stores.moto, stores.proxy_a
        for bucket in ("small", "back"):
            moto.client().create_bucket(Bucket=bucket)
        proxy.client().create_bucket(Bucket="copy")
        print(f"outage: {load(moto, 'small', folder)} objects loaded into moto", flush=True)

        def restart(after: float) -> None:
            """SIGKILL s3proxy ``after`` s from now; start it again on its port ``args.down`` s later."""
            time.sleep(after)
            stores.restart(proxy, args.down)

        def run(label: str, config: Path, mode: list[str], *, kill_after: float | None, expect: list[str]) -> None:
            killer = threading.Thread(target=restart, args=(kill_after,)) if kill_after is not None else None
            started = time.monotonic()
            process = subprocess.Popen([tool, *mode, "-c", str(config)], stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)  # fmt: skip
            if killer:
                killer.start()
            out, _ = process.communicate(timeout=900)
            if killer:
                killer.join()
            seconds = time.monotonic() - started
            missing = [text for text in expect if text not in out]
            verdict = "ok" if process.returncode == 0 and not missing else "FAILED"
            print(f"outage: {label}: exit {process.returncode} in {seconds:.1f}s: {verdict}", flush=True)
            for line in out.splitlines():
                if any(word in line for word in ("WARNING", "ERROR", "answers again", "sync:", "scrub:")):
                    print(f"    {line[:300]}")
            if verdict != "ok":
                failures.append(f"{label}: exit {process.returncode}" + (f", missing {missing}" if missing else ""))

        waited = ["stopped answering", "answers again"]
        there = sync_conf(Side(moto, "small", "small"), Side(proxy, "copy", "copy"), work / "there.conf")
        back = sync_conf(Side(proxy, "copy", "copy"), Side(moto, "back", "back"), work / "back.conf")
        run("sync moto -> s3proxy, s3proxy killed mid-run", there, ["-m", "sync"], kill_after=1.5, expect=waited)
        run("the same sync again", there, ["-m", "sync"], kill_after=None, expect=["sync: 0 objects"])
        run("sync s3proxy -> moto, s3proxy killed mid-run", back, ["-m", "sync"], kill_after=1.5, expect=waited)
        run("the same sync again", back, ["-m", "sync"], kill_after=None, expect=["sync: 0 objects"])
        run("scrub --read-data of the s3proxy copy, killed mid-run", back, ["-m", "scrub", "--read-data"],
            kill_after=1.0, expect=[*waited, " 0 damaged"])  # fmt: skip

        first, second = _etags(moto, "small", "small"), _etags(moto, "back", "back")
        differ = sorted(name for name, etag in first.items() if second.get(name) != etag)
        extra = sorted(set(second) - set(first))
        print(f"outage: moto -> s3proxy -> moto: {len(first) - len(differ)} of {len(first)} objects with equal ETags"
              + (f"; {len(extra)} only on the copy: {', '.join(extra[:5])}" if extra else ""))  # fmt: skip
        if differ:
            failures.append(f"{len(differ)} objects differ or are missing on the copy, e.g. {differ[:3]}")
    print("outage: " + ("; ".join(failures) if failures else "every check passed"))
    return 1 if failures else 0


def _etags(server, bucket: str, base: str) -> dict[str, str]:
    """{key with ``base`` taken out: ETag} of every object of ``bucket`` (directory entries skipped)."""
    found = {}
    for page in server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            head, _, rest = item["Key"].partition("/")
            name = rest if head == base else f"{head}/{rest.removeprefix(base + '/')}"
            if not item["Key"].endswith("/"):
                found[name] = item["ETag"]
    return found


if __name__ == "__main__":
    sys.exit(main())
