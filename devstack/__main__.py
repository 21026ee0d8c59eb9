"""python -m devstack {fetch,up,selftest,clean}"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time

from . import engines
from .stack import DEFAULT_NODES, MULTI_NODE_KINDS, NODE_KINDS, Stack, StackError, clean_stale


def _fail(summary: str, details: str = "") -> int:
    print(f"devstack: error: {summary}", file=sys.stderr)
    if details:
        print(details, file=sys.stderr)
    return 1


def cmd_fetch(args) -> int:
    t0 = time.monotonic()
    try:
        fetched = engines.fetch_all()
        s3proxy_jar, s3proxy_jdk = engines.fetch_s3proxy()
    except engines.FetchError as e:
        first, _, rest = str(e).partition("\n")
        return _fail(first, rest)
    for kind, f in fetched.items():
        print(f"{kind:<14} {f.engine:<14} {f.version:<8} {f.home}   (java {f.java_version} at {f.java_home})")
    print(f"{'s3proxy':<14} {'s3proxy':<14} {engines.S3PROXY_VERSION:<8} {s3proxy_jar}   (java {s3proxy_jdk.version})")
    print(f"cache: {engines.cache_dir()}   ({time.monotonic() - t0:.1f}s)")
    return 0


def _print_stack(stack: Stack, hint: str = "; Ctrl-C to stop") -> None:
    for n in stack.all_nodes():
        line = f"{n.name:<12} {n.engine:<14} {n.version:<8} {n.url}"
        if n.username:
            line += f"   user {n.username} / {n.password}   admin {n.admin_username} / {n.admin_password}"
        if n.engine == "elasticsearch" or not n.kind.s3:
            line += f"   path.repo {n.repo_path}"
        print(line + f"   (java {n.java_version}, log {n.log_path})")
    if stack.s3:
        s = stack.s3
        print(
            f"{'s3':<12} {'moto ' + s.version:<23} {s.endpoint}   bucket {s.bucket}   region {s.region}"
            f"   access_key {s.access_key}   secret_key {s.secret_key}"
        )
    if stack.s3b:
        s = stack.s3b
        print(
            f"{'s3b':<12} {'s3proxy ' + s.version:<23} {s.endpoint}   bucket {s.bucket}   region {s.region}"
            f"   access_key {s.access_key}   secret_key {s.secret_key}   (destination: s3.client.second)"
        )
    t = stack.timings
    print(f"workdir {stack.workdir}")
    print(
        f"ready in {t.get('total', 0):.1f}s (fetch {t.get('fetch', 0):.1f}s, s3 {t.get('s3', 0):.1f}s, "
        f"nodes {t.get('nodes', 0):.1f}s){hint}",
        flush=True,
    )


def _sigterm(signum, frame):
    raise KeyboardInterrupt


def cmd_up(args) -> int:
    nodes = tuple(n.strip() for n in args.nodes.split(",") if n.strip())
    if args.size:
        nodes = tuple(f"{n}:{args.size}" if ":" not in n and n in MULTI_NODE_KINDS else n for n in nodes)
    try:
        stack = Stack(nodes=nodes, timeout=args.timeout, heap=args.heap, keep_workdir=args.keep_workdir)
    except ValueError as e:
        return _fail(str(e))
    # SIGTERM behaves like Ctrl-C: unwind, tear down, exit 0.
    signal.signal(signal.SIGTERM, _sigterm)
    try:
        with stack:
            _print_stack(stack)
            if args.json:
                with open(args.json, "w") as fh:
                    json.dump(stack.info(), fh, indent=2)
            while True:
                dead = stack.check_alive()
                if dead:
                    node = next((n for n in stack.all_nodes() if n.name == dead), None)
                    if node:
                        err = node.failure(f"process exited unexpectedly (code {node.process.returncode})")
                        return _fail(err.summary, err.details)
                    return _fail(f"{dead} process exited unexpectedly")
                time.sleep(1)
    except KeyboardInterrupt:
        print("devstack: stopped", file=sys.stderr)
        return 0
    except StackError as e:
        return _fail(e.summary, e.details)


def cmd_selftest(args) -> int:
    from . import selftest

    nodes = tuple(n.strip() for n in args.nodes.split(",") if n.strip())
    signal.signal(signal.SIGTERM, _sigterm)
    try:
        with Stack(nodes=nodes, timeout=args.timeout) as stack:
            _print_stack(stack, hint="")
            for line in selftest.run(stack):
                print(line, flush=True)
    except KeyboardInterrupt:
        return _fail("interrupted")
    except StackError as e:
        return _fail(e.summary, e.details)
    except selftest.SelfTestError as e:
        return _fail(f"selftest failed: {e}")
    print("selftest passed")
    return 0


def cmd_clean(args) -> int:
    for line in clean_stale():
        print("removed", line)
    for line in engines.clean_staging():
        print("removed", line)
    return 0


_NODES_HELP = (
    f"comma list from {','.join(NODE_KINDS)}; NAME:N for a cluster of N nodes "
    f"({', '.join(MULTI_NODE_KINDS)} only), e.g. source:3,destination:2 (default %(default)s)"
)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("fetch", help="download and unpack the engines (Maven Central) into the cache")
    up = sub.add_parser("up", help="start the stack and keep it up until Ctrl-C")
    up.add_argument("--nodes", default=",".join(DEFAULT_NODES), help=_NODES_HELP)
    up.add_argument("--timeout", type=float, default=180, help="readiness limit in seconds (default %(default)s)")
    up.add_argument(
        "--size",
        type=int,
        metavar="N",
        help="N nodes for each of source/destination named without :N (as source:N)",
    )
    up.add_argument("--heap", help="JVM heap per node (default 512m alone, 384m in a multi-node cluster)")
    up.add_argument("--keep-workdir", action="store_true", help="keep the working directory (logs) on exit")
    up.add_argument("--json", metavar="FILE", help="also write connection details to FILE")
    st = sub.add_parser("selftest", help="start a stack, run an end-to-end snapshot/restore check, stop")
    st.add_argument("--nodes", default=",".join(DEFAULT_NODES), help=_NODES_HELP)
    st.add_argument("--timeout", type=float, default=180, help="readiness limit in seconds (default %(default)s)")
    sub.add_parser("clean", help="kill/remove leftovers of stacks whose owner died, and stale fetch dirs")
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="devstack: %(message)s", stream=sys.stderr
    )
    return {"fetch": cmd_fetch, "up": cmd_up, "selftest": cmd_selftest, "clean": cmd_clean}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
