"""End-to-end check of a running Stack: S3 snapshot on ``source``, restore on ``destination``,
objects in the bucket, and on ``es`` basic auth / 401 / API key / fs snapshot + restore.

``python -m devstack selftest`` starts a stack, runs this and tears it down.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from .stack import Stack


class SelfTestError(AssertionError):
    pass


def _check(cond: bool, what: str, detail: Any = None) -> None:
    if not cond:
        raise SelfTestError(f"{what}: {json.dumps(detail)[:800] if detail is not None else ''}")


def _bulk(index: str, n: int) -> str:
    lines = []
    for i in range(n):
        lines.append(json.dumps({"index": {"_index": index, "_id": str(i)}}))
        lines.append(json.dumps({"n": i, "msg": f"doc {i}"}))
    return "\n".join(lines) + "\n"


def check_s3_roundtrip(stack: Stack, index: str = "selftest", base_path: str = "selftest", docs: int = 5) -> list[str]:
    req = stack.node_request
    st, b = req("source", "PUT", f"/{index}", {"settings": {"number_of_shards": 1, "number_of_replicas": 0}})
    _check(st == 200, "create index on source", b)
    st, b = req("source", "POST", "/_bulk?refresh=true", _bulk(index, docs))
    _check(st == 200 and not b.get("errors"), "bulk on source", b)
    repo = {"type": "s3", "settings": {"bucket": stack.s3.bucket, "base_path": base_path}}
    st, b = req("source", "PUT", "/_snapshot/selftest", repo)
    _check(st == 200, "register s3 repository on source", b)
    st, b = req("source", "POST", "/_snapshot/selftest/_verify")
    _check(st == 200, "verify repository on source", b)
    st, b = req("source", "PUT", "/_snapshot/selftest/snap1?wait_for_completion=true", {"indices": index})
    _check(st == 200 and b["snapshot"]["state"] == "SUCCESS", "snapshot on source", b)
    repo["settings"]["readonly"] = True
    st, b = req("destination", "PUT", "/_snapshot/selftest", repo)
    _check(st == 200, "register readonly repository on destination", b)
    st, b = req(
        "destination",
        "POST",
        "/_snapshot/selftest/snap1/_restore?wait_for_completion=true",
        {"indices": index, "index_settings": {"index.number_of_replicas": 0}},
    )
    _check(st == 200 and b["snapshot"]["shards"]["failed"] == 0, "restore on destination", b)
    st, b = req("destination", "GET", f"/{index}/_count")
    _check(st == 200 and b["count"] == docs, f"doc count on destination (want {docs})", b)
    keys = stack.s3.object_keys()
    _check(any(k.startswith(base_path + "/index-") for k in keys), "repository objects in the moto bucket", keys)
    return keys


def check_es_security(stack: Stack, index: str = "selftest") -> None:
    es = stack.nodes["es"]
    st, b = es.request("GET", "/_security/_authenticate")
    _check(st == 200 and b["username"] == es.username, "basic auth as the extra user", b)
    st, b = es.request("GET", "/_security/_authenticate", auth="admin")
    _check(st == 200 and b["username"] == es.admin_username, "basic auth as elastic", b)
    st, b = es.request("GET", "/_cluster/health", auth=(es.username, "wrong-password"))
    _check(st == 401, "wrong password gives 401", b)
    st, b = es.request("GET", "/_cluster/health", auth=None)
    _check(st == 401, "no credentials give 401", b)
    st, key = es.request("POST", "/_security/api_key", {"name": "selftest"})
    _check(st == 200, "create API key", key)
    encoded = base64.b64encode(f"{key['id']}:{key['api_key']}".encode()).decode()
    api = {"Authorization": "ApiKey " + encoded}
    st, b = es.request("GET", "/_security/_authenticate", auth=api)
    _check(st == 200 and b.get("authentication_type") == "api_key", "authenticate with API key", b)
    st, b = es.request("PUT", f"/{index}", {"settings": {"number_of_shards": 1, "number_of_replicas": 0}}, auth=api)
    _check(st == 200, "create index with API key", b)
    st, b = es.request("POST", "/_bulk?refresh=true", _bulk(index, 3))
    _check(st == 200 and not b.get("errors"), "bulk on es", b)
    st, b = es.request(
        "PUT", "/_snapshot/selftest-fs", {"type": "fs", "settings": {"location": es.repo_path + "/selftest"}}
    )
    _check(st == 200, "register fs repository", b)
    st, b = es.request(
        "PUT", "/_snapshot/selftest-fs/s1?wait_for_completion=true", {"indices": index, "include_global_state": False}
    )
    _check(st == 200 and b["snapshot"]["state"] == "SUCCESS", "fs snapshot", b)
    st, b = es.request("DELETE", f"/{index}")
    _check(st == 200, "delete index", b)
    st, b = es.request("POST", "/_snapshot/selftest-fs/s1/_restore?wait_for_completion=true", {"indices": index})
    _check(st == 200 and b["snapshot"]["shards"]["failed"] == 0, "fs restore", b)
    st, b = es.request("GET", f"/{index}/_count")
    _check(st == 200 and b["count"] == 3, "doc count after fs restore", b)
    es.request("DELETE", "/_security/api_key", {"ids": [key["id"]]})


def run(stack: Stack) -> list[str]:
    done = []
    if {"source", "destination"} <= set(stack.nodes):
        keys = check_s3_roundtrip(stack)
        done.append(f"s3 snapshot source -> moto ({len(keys)} objects) -> restore on destination: ok")
    if "es" in stack.nodes:
        check_es_security(stack)
        done.append("es: basic auth, 401, API key, fs snapshot/restore: ok")
    return done
