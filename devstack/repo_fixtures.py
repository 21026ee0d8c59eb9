"""Write the small real snapshot repositories that the format reader's unit tests read.

    python -m devstack.repo_fixtures [--out tests/unit/data/repos] [--nodes es7,es8,es,os1,os2,source]

Starts one devstack with the given nodes sharing one ``path.repo`` and, on each, writes two fs
repositories: ``<version>-compress`` (``compress: true``) and ``<version>-plain`` (``compress: false``,
``chunk_size: 4kb``, so that larger Lucene files are stored as ``.partN`` chunks). Each holds two
snapshots of two tiny indices (``one``: 1 shard; ``two``: 2 shards), the second taken after more
documents were added (so that the snapshots share some blobs and not others). OpenSearch 2.17+
also gets ``<version>-hashed`` (``shard_path_type: hashed_prefix``) and ``<version>-zstd``
(``compression_type: zstd``) when the engine accepts them.
The repositories are copied to ``--out`` (replacing what is there) and the stack stops.

    python -m devstack.repo_fixtures --shallow [--out tests/unit/data/shallow-repos] [--nodes os2,source]

writes OpenSearch remote-store (shallow) snapshot repositories instead: each node is started with
the remote-store node attributes (segments, translog and cluster state in an fs repository ``rs``
under its ``path.repo``), so every index it creates is remote-store backed. ``<version>-shallow``
(``remote_store_index_shallow_copy: true``) holds two snapshots of the index ``one`` (1 shard):
each shard folder keeps a ``shallow-snap-<uuid>.dat`` naming the remote store's files, no data
blob. ``<version>-shallow-v2`` (also ``shallow_snapshot_v2: true``, snapshots of all indices) has
root blobs only: a pinned timestamp in ``snap-<uuid>.dat``, no shard folder. Kept apart from the
other fixtures (they differ in kind: no segment in the repository).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path

from .stack import Stack

DEFAULT_NODES = ("es7", "es8", "es", "os1", "os2", "source")
OUT = Path(__file__).resolve().parent.parent / "tests" / "unit" / "data" / "repos"
SHALLOW_NODES = ("os2", "source")  # OpenSearch 2.19 and 3.3
SHALLOW_OUT = OUT.with_name("shallow-repos")
REMOTE_STORE = "rs"
#: node settings that make every index of the node remote-store backed ({repo}: the node's path.repo)
REMOTE_STORE_SETTINGS = [
    f"node.attr.remote_store.segment.repository: {REMOTE_STORE}",
    f"node.attr.remote_store.translog.repository: {REMOTE_STORE}",
    f"node.attr.remote_store.state.repository: {REMOTE_STORE}",
    f"node.attr.remote_store.repository.{REMOTE_STORE}.type: fs",
    f'node.attr.remote_store.repository.{REMOTE_STORE}.settings.location: "{{repo}}/remote-store"',
    "cluster.remote_store.pinned_timestamps.enabled: true",  # allows shallow snapshots v2 (2.17+)
]


def _call(node, method: str, path: str, body=None, ok=(200, 201)) -> dict:
    status, answer = node.request(method, path, body, timeout=300)
    if status not in ok:
        raise RuntimeError(f"{node.name} {method} {path} answered {status}: {answer}")
    return answer


def _seed(node, index: str, shards: int, start: int, count: int) -> None:
    if node.request("HEAD", f"/{index}")[0] == 404:
        _call(node, "PUT", f"/{index}", {"settings": {"number_of_shards": shards, "number_of_replicas": 0}})
    lines = []
    for n in range(start, start + count):
        lines.append(json.dumps({"index": {"_index": index, "_id": str(n)}}))
        lines.append(json.dumps({"n": n, "word": f"w{n % 7}", "text": f"document number {n} " * 3}))
    _call(node, "POST", "/_bulk?refresh=true", "\n".join(lines) + "\n")


def write_repositories(node, out: Path) -> list[str]:
    """Write this node's fixture repositories and copy them to ``out``; returns their names."""
    version = f"{'es' if node.engine == 'elasticsearch' else 'os'}-{node.version}"
    variants = {
        f"{version}-compress": {"compress": True},
        f"{version}-plain": {"compress": False, "chunk_size": "4kb"},
    }
    major_minor = tuple(int(p) for p in node.version.split(".")[:2])
    if node.engine == "opensearch" and major_minor >= (2, 17):
        variants[f"{version}-hashed"] = {"compress": False, "shard_path_type": "hashed_prefix"}
        variants[f"{version}-zstd"] = {"compress": True, "compression_type": "zstd"}
    refused: list[str] = []
    for index in ("one", "two"):
        node.request("DELETE", f"/{index}")
    _seed(node, "one", 1, 0, 30)
    _seed(node, "two", 2, 0, 20)
    for repo, settings in variants.items():
        location = f"{node.repo_path}/fixtures-{repo}"
        status, answer = node.request(
            "PUT", f"/_snapshot/{repo}", {"type": "fs", "settings": {"location": location, **settings}}
        )
        if status != 200:
            if "shard_path_type" in settings or "compression_type" in settings:
                logging.warning("%s: %s refused (%s): skipped", node.name, repo, answer)
                refused.append(repo)
                continue
            raise RuntimeError(f"{node.name}: PUT _snapshot/{repo} answered {status}: {answer}")
    for repo in refused:
        del variants[repo]
    for repo in variants:
        _call(node, "PUT", f"/_snapshot/{repo}/snap-1?wait_for_completion=true", {"indices": "one,two"})
    _seed(node, "one", 1, 30, 10)
    for repo in variants:
        _call(node, "PUT", f"/_snapshot/{repo}/snap-2?wait_for_completion=true", {"indices": "one,two"})
    for repo in variants:
        target = out / repo
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(f"{node.repo_path}/fixtures-{repo}", target)
        _call(node, "DELETE", f"/_snapshot/{repo}")
    return list(variants)


def write_shallow_repositories(node, out: Path) -> list[str]:
    """Write this remote-store node's shallow snapshot repositories and copy them to ``out``;
    returns their names: ``<version>-shallow`` (shallow copies: a ``shallow-snap-<uuid>.dat`` per
    shard) and ``<version>-shallow-v2`` (``shallow_snapshot_v2``, a snapshot of all indices: a
    pinned timestamp and no shard-level blob at all). Raises RuntimeError when the engine answers
    otherwise than expected."""
    node.request("DELETE", "/one")
    _seed(node, "one", 1, 0, 30)
    settings = _call(node, "GET", "/one/_settings")
    if settings["one"]["settings"]["index"].get("remote_store", {}).get("enabled") != "true":
        raise RuntimeError(f"{node.name}: index one is not remote-store backed: {settings}")
    written = []
    for suffix, extra, body in (("shallow", {}, {"indices": "one"}), ("shallow-v2", {"shallow_snapshot_v2": True}, {})):
        repo = f"os-{node.version}-{suffix}"
        location = f"{node.repo_path}/fixtures-{repo}"
        settings = {"location": location, "remote_store_index_shallow_copy": True, **extra}
        _call(node, "PUT", f"/_snapshot/{repo}", {"type": "fs", "settings": settings})
        for name, start in (("snap-1", 30), ("snap-2", 40)):
            answer = _call(node, "PUT", f"/_snapshot/{repo}/{name}?wait_for_completion=true", body)
            if not answer["snapshot"].get("remote_store_index_shallow_copy"):
                raise RuntimeError(f"{node.name}: the snapshot is not a shallow copy: {answer}")
            if extra and not answer["snapshot"].get("pinned_timestamp"):
                raise RuntimeError(f"{node.name}: the snapshot is not a shallow snapshot v2: {answer}")
            _seed(node, "one", 1, start, 10)
        target = out / repo
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(location, target)
        _call(node, "DELETE", f"/_snapshot/{repo}")
        written.append(repo)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--nodes")
    parser.add_argument("--shallow", action="store_true", help="OpenSearch remote-store (shallow) repositories")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.out = args.out or (SHALLOW_OUT if args.shallow else OUT)
    args.out.mkdir(parents=True, exist_ok=True)
    nodes = tuple((args.nodes or ",".join(SHALLOW_NODES if args.shallow else DEFAULT_NODES)).split(","))
    if args.shallow:
        node_settings = {name: REMOTE_STORE_SETTINGS for name in nodes}
        with Stack(nodes=nodes, timeout=900, node_settings=node_settings) as stack:
            for name in nodes:
                logging.info("%s: %s", name, ", ".join(write_shallow_repositories(stack.nodes[name], args.out)))
        return 0
    with Stack(nodes=nodes, shared_repo=True, timeout=900) as stack:
        for name in nodes:
            written = write_repositories(stack.nodes[name], args.out)
            logging.info("%s: %s", name, ", ".join(written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
