"""A small in-memory stand-in for an engine's snapshot APIs, plugged in as the transport.

It keeps indices, repositories and snapshots, answers the requests the tool makes the way the
engines do (status codes and error bodies from the engines' docs), and records every request.
Scenario knobs (busy answers, polls until done, final state, red indices) drive the edge cases.
It is for unit tests only: the proof against real engines is in tests/e2e.
"""

from __future__ import annotations

import fnmatch
import re
import threading
from types import SimpleNamespace
from urllib.parse import parse_qsl, unquote, urlsplit


def _error(status, error_type, reason, caused_by=None):
    err = {"type": error_type, "reason": reason, "root_cause": [{"type": error_type, "reason": reason}]}
    if caused_by:
        err["caused_by"] = caused_by
    return status, {"error": err, "status": status}


class FakeEngine:
    def __init__(self, distribution="opensearch", version="3.3.2"):
        self.distribution, self.version = distribution, version
        self.indices: dict[str, dict] = {}  # name -> {"status": "open"|"close", "count": int}
        self.repos: dict[str, dict] = {}
        self.snapshots: dict[tuple[str, str], dict] = {}
        self.requests: list[tuple[str, str, dict, object]] = []
        self.options: list[dict] = []
        # scenario knobs
        self.busy_answers = 0  # how many snapshot creates answer 503 concurrent_snapshot_execution_exception
        self.polls_until_done = 1  # _status polls that still show STARTED
        self.final_state = "SUCCESS"
        self.final_states: list[str] = []
        self.master_changed = False  # a blocking create is sent again by the engine to a new master: refused  # the final state of each create in turn (then final_state)
        self.finalising_polls = 0  # polls where GET snapshot still says IN_PROGRESS after _status is done
        self.failures: list[dict] = []
        self.recovery_polls = 1  # health polls that still show initializing shards after a restore
        self.recovered = threading.Event()  # set when recovery_polls run out: a blocking restore answers
        self.unallocated_checks = 0  # per-index checks that still show the restored primaries waiting (yellow)
        self.unassigned = 0  # unassigned shards the cluster's health reports (e.g. replicas a single node never takes)
        self.restored: set[str] = set()
        self.node_count = 2  # the cluster's nodes, as its health says
        self.no_master_answers = 0  # health calls answered 503 (the master left; an election goes on)
        self.explain = {  # answered to POST _cluster/allocation/explain (as OpenSearch 3.3 said, shortened)
            "current_state": "unassigned",
            "can_allocate": "no",
            "allocate_explanation": "cannot allocate because allocation is not permitted to any of the nodes",
            "node_allocation_decisions": [
                {
                    "node_name": f"node-{n}",
                    "deciders": [
                        {
                            "decider": "disk_threshold",
                            "decision": "NO",
                            "explanation": "the node is above the high watermark",
                        },
                        {
                            "decider": "restore_in_progress",
                            "decision": "NO",
                            "explanation": "shard has failed to be restored",
                        },
                    ],
                }
                for n in (1, 2)
            ],
        }
        self.data_streams: list[str] = []
        self.data_stream_api = True  # False: no _data_stream API (Elasticsearch integ-test distributions)
        self.plugins: list[str] = []  # components _cat/plugins lists (e.g. "opensearch-index-management")
        self.snapshot_shards: dict[str, int] = {}  # primaries of an index in the snapshots (default 1)
        self.restore_error = None  # (status, body) answered to POST _restore, which is refused
        self.restore_answer = None  # (status, body) answered to POST _restore after it began (a lost answer)
        self.index_templates: list[dict] = []
        self.red_after_restore: set[str] = set()  # restored, but their primaries failed: red, "failed" shards
        self.yellow_after_restore: set[str] = set()  # restored, replicas unassigned
        self.repo_error = None  # (status, body) answered to PUT _snapshot/<repo>
        self.verify_error = None
        self.on_poll = None  # called on each _status poll (e.g. to raise KeyboardInterrupt)
        self.block_limit = 2.0  # real seconds a blocking create waits for its polls before it is "cut"
        self.cut_answer = None  # (status, body) answered when a blocking create is cut
        self.stand_in_answer = None  # (status, body) a gateway answers at once for a blocking create
        self.create_lost = False  # the gateway answered, but the create never reached the engine
        self.delete_busy_answers = 0  # how many snapshot deletes answer 503 concurrent_snapshot_execution_exception
        self.single_delete_only = False  # refuse DELETE of several names at once, as old engines do
        self._clock = 1_000
        self.uuids: dict[str, str] = {}  # index name -> its UUID, a new one each time a name is created
        self.restored_from: dict[str, str] = {}  # restored index -> the snapshot it was restored from
        self.docs: dict[tuple[str, str], dict] = {}  # (index, id) -> source, of the records the tool keeps

    # --- helpers for tests ------------------------------------------------------------------------
    def add_index(self, name, count=3, status="open", hidden=False):
        self.indices[name] = {"status": status, "count": count, **({"hidden": True} if hidden else {})}
        self.uuids[name] = self._new_uuid()

    def _new_uuid(self):
        self._clock += 1
        return f"uuid{self._clock}"

    def add_snapshot(self, repo, name, indices, state="SUCCESS", start=None, metadata=None):
        self._clock += 1
        self.snapshots[(repo, name)] = {
            "metadata": metadata,
            "snapshot": name,
            "uuid": f"snap-uuid{self._clock}",  # a new one each time a name is taken
            "state": state,
            "indices": list(indices),
            "start_time_in_millis": start if start is not None else self._clock,
            "shards": {"total": len(indices), "successful": len(indices), "failed": 0},
            "failures": [],
            "duration_in_millis": 1500,
            "counts": {i: self.indices.get(i, {}).get("count", 0) for i in indices},
        }

    def changed(self):
        """Requests that changed something (everything but GET and the read-only _verify)."""
        return [(m, p) for m, p, _, _ in self.requests if m != "GET" and not p.endswith("/_verify")]

    def sent(self, method, path_prefix):
        return [body for m, p, _, body in self.requests if m == method and p.startswith(path_prefix)]

    # --- the transport interface ------------------------------------------------------------------
    def perform_request(self, method, target, body=None, headers=None, **options):
        self.options.append(options)  # request_timeout, max_retries, retry_on_timeout of each call
        parts = urlsplit(target)
        path, params = unquote(parts.path), dict(parse_qsl(parts.query))
        self.requests.append((method, path, params, body))
        status, answer = self._route(method, path, params, body)
        return SimpleNamespace(meta=SimpleNamespace(status=status), body=answer)

    def _route(self, method, path, params, body):
        seg = path.strip("/").split("/") if path != "/" else []
        if not seg:
            return 200, {
                "cluster_name": "fake",
                "cluster_uuid": "fake-cluster-uuid",
                "version": {"number": self.version, "distribution": self.distribution},
            }
        if seg[0] == "_snapshot":
            return self._snapshot_api(method, seg[1:], params, body)
        if len(path) > 4096:
            return _error(400, "too_long_http_line_exception", "An HTTP line is larger than 4096 bytes.")
        if seg[0] == "_cat" and seg[1] == "indices":
            return 200, [
                {
                    "index": n,
                    "uuid": self.uuids.setdefault(n, self._new_uuid()),
                    "status": i["status"],
                    "pri": str(i.get("shards", 1)),
                    "pri.store.size": "1000",
                }
                for n, i in sorted(self.indices.items())
                if not i.get("alias_of_stream") and params.get("health", self._health_of(n)) == self._health_of(n)
            ]
        if seg[0] == "_all" and seg[1:] == ["_settings"]:
            return 200, {
                n: {"settings": {"index": {"hidden": str(bool(i.get("hidden"))).lower()}}}
                for n, i in self.indices.items()
                if not i.get("alias_of_stream")
            }
        if seg[0] == "_all" and seg[1:] == ["_mapping"]:
            return 200, {
                n: {"mappings": {"properties": {"message": {"type": "text", "fields": {"raw": {"type": "keyword"}}}}}}
                for n, i in self.indices.items()
                if not i.get("alias_of_stream")
            }
        if seg[0] == "_cat" and seg[1] == "aliases":
            return 200, []
        if seg[0] == "_cluster" and seg[1:] == ["settings"]:
            return 200, {"defaults": {"cluster": {"max_shards_per_node": "1000"}}}
        if seg[0] == "_nodes" and seg[1:] == ["stats", "fs"]:
            total = {"total_in_bytes": 100 * 1024**3, "available_in_bytes": 90 * 1024**3}
            return 200, {"nodes": {"n1": {"name": "node-1", "roles": ["data"], "fs": {"total": total}}}}
        if seg[0] == "_cat" and seg[1] == "recovery" and len(seg) == 3:  # where named indices recover from
            return 200, [
                {
                    "index": n,
                    "type": "snapshot" if n in self.restored_from else "empty_store",
                    "snapshot": self.restored_from.get(n, "n/a"),
                }
                for n in seg[2].split(",")
                if n in self.indices
            ]
        if seg[0] == "_cat" and seg[1] == "recovery":
            if self.recovery_polls > 0:
                return 200, [
                    {"index": n, "stage": "index", "bytes_recovered": "40", "bytes_total": "100"}
                    for n in list(self.indices)[:2]
                ]
            return 200, []
        if seg[0] == "_cluster" and seg[1:] == ["allocation", "explain"] and method == "POST":
            return 200, {**body, **self.explain}
        if seg[0] == "_cluster" and seg[1] == "health":
            if self.no_master_answers > 0:
                self.no_master_answers -= 1
                return _error(503, "cluster_manager_not_discovered_exception", "no cluster-manager")
            if params.get("level") == "indices":
                return self._index_health()
            return self._cluster_health()
        if seg[0] == "_msearch" and method == "POST":
            responses = []
            for header in body[::2]:
                name = header["index"]
                if name not in self.indices or self.indices[name]["status"] != "open":
                    responses.append({"error": {"type": "index_not_found_exception"}, "status": 404})
                else:
                    responses.append({"hits": {"total": {"value": self.indices[name]["count"]}}, "status": 200})
            return 200, {"responses": responses}
        if seg[0] == "_data_stream":
            return self._data_stream_api(method, seg[1:])
        if seg[0] == "_cat" and seg[1] == "plugins":
            return 200, [{"name": "node-1", "component": c, "version": self.version} for c in self.plugins]
        if seg[0] == "_index_template":
            return 200, {"index_templates": self.index_templates}
        if len(seg) == 2 and seg[1] in ("_close", "_open") and method == "POST":
            for name in seg[0].split(","):
                self.indices[name]["status"] = "close" if seg[1] == "_close" else "open"
            return 200, {"acknowledged": True}
        if len(seg) == 2 and seg[1] == "_count":
            if seg[0] not in self.indices:
                return _error(404, "index_not_found_exception", f"no such index [{seg[0]}]")
            return 200, {"count": self.indices[seg[0]]["count"]}
        if len(seg) == 1 and method in ("GET", "PUT") and not seg[0].startswith("_"):  # an index, as a whole
            if method == "PUT":
                self.add_index(seg[0], 0)
                return 200, {"acknowledged": True}
            if seg[0] not in self.indices:
                return _error(404, "index_not_found_exception", f"no such index [{seg[0]}]")
            return 200, {seg[0]: {"settings": {}}}
        if len(seg) == 3 and seg[1] == "_doc":  # a record's document
            if method == "PUT":
                self.docs[(seg[0], seg[2])] = body
                return 200, {"result": "updated"}
            if (seg[0], seg[2]) not in self.docs:
                return 404, {"found": False}
            return 200, {"found": True, "_source": self.docs[(seg[0], seg[2])]}
        if len(seg) == 1 and method == "DELETE":
            names = seg[0].split(",")
            if params.get("ignore_unavailable") != "true" and any(n not in self.indices for n in names):
                return _error(404, "index_not_found_exception", f"no such index [{seg[0]}]")
            for name in names:
                if self.indices.pop(name, None) is not None:
                    self.uuids.pop(name, None)
            return 200, {"acknowledged": True}
        return _error(400, "fake_unhandled", f"{method} {path}")

    def _data_stream_api(self, method, seg):
        """GET /_data_stream[/<name>] and DELETE /_data_stream/<name>, as OpenSearch and Elasticsearch
        answer them; without the API (data_stream_api False), as an Elasticsearch integ-test
        distribution answers (no data-streams module)."""
        if not self.data_stream_api:
            return 400, {"error": f"no handler found for uri [/_data_stream/{'/'.join(seg)}] and method [{method}]"}

        def described(name):
            backing = sorted(n for n in self.indices if n.startswith(f".ds-{name}-"))
            return {"name": name, "indices": [{"index_name": n, "index_uuid": self.uuids.get(n, "")} for n in backing]}

        if not seg:
            return 200, {"data_streams": [described(n) for n in self.data_streams]}
        if seg[0] not in self.data_streams:
            return _error(404, "index_not_found_exception", f"no such index [{seg[0]}]")
        if method == "DELETE":
            self.data_streams.remove(seg[0])
            self.indices.pop(seg[0], None)
            for name in [n for n in self.indices if n.startswith(f".ds-{seg[0]}-")]:
                self.indices.pop(name)
                self.uuids.pop(name, None)
            return 200, {"acknowledged": True}
        return 200, {"data_streams": [described(seg[0])]}

    def _names(self, spec):
        return [n for n in self.indices if any(fnmatch.fnmatchcase(n, p) for p in spec.split(","))]

    def _health_of(self, name):
        return "red" if name in self.red_after_restore else "yellow" if name in self.yellow_after_restore else "green"

    def _index_health(self):
        """Per-index health; a restored primary that waits for allocation is yellow, as engines say."""
        indices = {}
        for name, info in self.indices.items():
            if info.get("alias_of_stream"):
                continue
            waiting = self.unallocated_checks > 0 and name in self.restored
            health = self._health_of(name)
            indices[name] = {
                "status": "yellow" if waiting else health,
                "number_of_shards": 1,
                "active_primary_shards": 0 if waiting or health == "red" else 1,
                "initializing_shards": 0,
            }
        self.unallocated_checks = max(0, self.unallocated_checks - 1)
        return 200, {"indices": indices}

    def _cluster_health(self):
        """The cluster's health: initialising while recovery_polls last (each call uses one); its
        status is that of its worst index."""
        if self.recovery_polls > 0:
            self.recovery_polls -= 1
            if self.recovery_polls == 0:
                self.recovered.set()
            return 408, {"status": "yellow", "timed_out": True, "initializing_shards": 1}
        self.recovered.set()
        healths = {self._health_of(n) for n in self.indices}
        status = "red" if "red" in healths else "yellow" if "yellow" in healths else "green"
        return 200, {
            "status": status,
            "timed_out": False,
            "initializing_shards": 0,
            "unassigned_shards": self.unassigned,
            "number_of_nodes": self.node_count,
        }

    def _snapshot_api(self, method, seg, params, body):
        repo = seg[0]
        if len(seg) == 1:
            if method == "GET":
                if repo not in self.repos:
                    return _error(404, "repository_missing_exception", f"[{repo}] missing")
                return 200, {repo: self.repos[repo]}
            if method == "PUT":
                if self.repo_error:
                    return self.repo_error
                if self.verify_error and params.get("verify") != "false":  # verified as it is registered
                    return self.verify_error
                self.repos[repo] = {
                    "type": body["type"],
                    "settings": {k: str(v).lower() if isinstance(v, bool) else v for k, v in body["settings"].items()},
                }
                return 200, {"acknowledged": True}
        if repo not in self.repos:
            return _error(404, "repository_missing_exception", f"[{repo}] missing")
        if seg[1] == "_verify":
            return self.verify_error or (200, {"nodes": {"n1": {"name": "node-1"}}})
        if seg[1] == "_all" and method == "GET":
            listed = [self._public(s) for (r, _), s in self.snapshots.items() if r == repo]
            if params.get("verbose") == "false":  # as OpenSearch: no times, shards or metadata
                short = ("snapshot", "uuid", "indices", "data_streams", "state")
                listed = [{k: v for k, v in s.items() if k in short} for s in listed]
            return 200, {"snapshots": listed}
        name = seg[1]
        if len(seg) == 2 and method == "DELETE":
            return self._delete(repo, name.split(","))
        snap = self.snapshots.get((repo, name))
        if len(seg) == 2 and method == "PUT":
            return self._create(repo, name, body, params)
        if snap is None:
            return _error(404, "snapshot_missing_exception", f"[{repo}:{name}] is missing")
        if len(seg) == 2 and method == "GET":
            if snap.get("finalising", 0) > 0:  # as real engines: _status says done before the snapshot does
                snap["finalising"] -= 1
                return 200, {"snapshots": [{**self._public(snap), "state": "IN_PROGRESS"}]}
            return 200, {"snapshots": [self._public(snap)]}
        if seg[2] == "_status":
            if self.on_poll:
                self.on_poll()
            running = snap["polls"] > 0 if "polls" in snap else False
            if running:
                snap["polls"] -= 1
                if snap["polls"] == 0:
                    snap["ready"].set()
            state = "STARTED" if running else ("SUCCESS" if snap["state"] in ("SUCCESS", "PARTIAL") else snap["state"])
            return 200, {
                "snapshots": [
                    {
                        "indices": {
                            i: {"shards_stats": {"total": self.snapshot_shards.get(i, 1)}} for i in snap["indices"]
                        },
                        "snapshot": name,
                        "state": state,
                        "shards_stats": {"done": 0 if running else len(snap["indices"]), "total": len(snap["indices"])},
                        "stats": {
                            "incremental": {"size_in_bytes": 1000},
                            "total": {"size_in_bytes": 5000},
                            **({"processed": {"size_in_bytes": 400}} if running else {}),
                        },
                    }
                ]
            }
        if seg[2] == "_restore" and method == "POST":
            return self._restore(snap, body, params)
        return _error(400, "fake_unhandled", f"{method} {seg}")

    def _delete(self, repo, names):
        if self.delete_busy_answers > 0:
            self.delete_busy_answers -= 1
            return _error(503, "concurrent_snapshot_execution_exception", "cannot delete while a snapshot is running")
        if len(names) > 1 and self.single_delete_only:
            return _error(400, "illegal_argument_exception", f"invalid snapshot name [{','.join(names)}]")
        missing = [n for n in names if (repo, n) not in self.snapshots]
        if missing:
            return _error(404, "snapshot_missing_exception", f"[{repo}:{missing[0]}] is missing")
        for name in names:
            del self.snapshots[(repo, name)]
        return 200, {"acknowledged": True}

    def _public(self, snap):
        return {k: v for k, v in snap.items() if k not in ("polls", "counts", "finalising", "ready")}

    def _create(self, repo, name, body, params):
        if self.busy_answers > 0:
            self.busy_answers -= 1
            return _error(
                503,
                "concurrent_snapshot_execution_exception",
                "cannot snapshot while a snapshot deletion is in-progress",
            )
        if self.create_lost:
            return self.stand_in_answer
        if (repo, name) in self.snapshots:
            return _error(
                400,
                "invalid_snapshot_name_exception",
                f"[{repo}:{name}] Invalid snapshot name [{name}], snapshot with the same name already exists",
            )
        patterns = body["indices"].split(",")
        selected = sorted(n for n in self.indices if any(fnmatch.fnmatchcase(n, p) for p in patterns))
        for p in patterns:
            known = p in self.indices or p in self.data_streams
            if "*" not in p and not known and not body.get("ignore_unavailable"):
                return _error(404, "index_not_found_exception", f"no such index [{p}]")
        state = self.final_states.pop(0) if self.final_states else self.final_state
        self.add_snapshot(repo, name, selected, state=state, metadata=body.get("metadata"))
        snap = self.snapshots[(repo, name)]
        streams = [d for d in self.data_streams if any(fnmatch.fnmatchcase(d, p) for p in patterns)]
        if streams:
            snap["data_streams"] = streams
        snap["polls"] = self.polls_until_done
        snap["finalising"] = self.finalising_polls
        snap["ready"] = threading.Event()
        if self.polls_until_done <= 0:
            snap["ready"].set()
        if self.failures and state != "SUCCESS":
            snap["failures"] = self.failures
            snap["shards"]["failed"] = len(self.failures)
            snap["shards"]["successful"] -= len(self.failures)
        if params.get("wait_for_completion") == "true" and self.stand_in_answer:
            return self.stand_in_answer  # the engine goes on; the answer holds no snapshot
        if params.get("wait_for_completion") == "true" and self.master_changed:
            return _error(
                400,
                "invalid_snapshot_name_exception",
                f"[{repo}:{name}] Invalid snapshot name [{name}], snapshot with the same name is already in-progress",
            )
        if params.get("wait_for_completion") == "true":
            # as engines do: answer when the snapshot is done (here: after polls_until_done progress polls)
            if not snap["ready"].wait(self.block_limit):
                return self.cut_answer or (504, "<html><title>504 Gateway Time-out</title></html>")
            snap["finalising"] = 0
            return 200, {"snapshot": self._public(snap)}
        return 200, {"accepted": True}

    def _restore(self, snap, body, params=None):
        if self.restore_error:
            return self.restore_error
        asked = body["indices"].split(",")
        streams = [d for d in snap.get("data_streams", []) if d in asked]
        wanted = [
            n
            for n in snap["indices"]
            if any(fnmatch.fnmatchcase(n, p) for p in asked) or any(n.startswith(f".ds-{d}-") for d in streams)
        ]

        def rename(name):
            if not body.get("rename_pattern"):
                return name
            replacement = re.sub(r"\$(\d+)", r"\\g<\1>", body["rename_replacement"])
            return re.sub(body["rename_pattern"], replacement, name)

        renamed_streams = {d: rename(d) for d in streams}
        targets = {}
        for name in wanted:
            # as engines do: a data stream is renamed, and its backing indices with it (.ds-<new name>-...)
            stream = next((d for d in streams if name.startswith(f".ds-{d}-")), None)
            target = rename(name) if stream is None else f".ds-{renamed_streams[stream]}-{name[len(stream) + 5 :]}"
            if self.indices.get(target, {}).get("status") == "open":
                return _error(
                    500,
                    "snapshot_restore_exception",
                    f"[{snap['snapshot']}] cannot restore index [{target}] because an open index with same name already exists in the cluster",
                )
            targets[name] = target
        for name, target in targets.items():
            self.indices[target] = {"status": "open", "count": snap["counts"].get(name, 0)}
            self.uuids[target] = self._new_uuid()
            self.restored_from[target] = snap["snapshot"]
            self.restored.add(target)
        for stream in streams:
            self.data_streams.append(renamed_streams[stream])
            self.indices[renamed_streams[stream]] = {  # searchable by its name, as a data stream is
                "status": "open",
                "count": sum(snap["counts"].get(n, 0) for n in wanted if n.startswith(f".ds-{stream}-")),
                "alias_of_stream": True,
            }
        if self.restore_answer:
            return self.restore_answer
        if (params or {}).get("wait_for_completion") != "true":
            return 200, {"accepted": True}
        # as engines do: answer once every restored primary has recovered (here: after recovery_polls
        # health polls), or failed
        if self.recovery_polls <= 0:
            self.recovered.set()
        if not self.recovered.wait(self.block_limit):
            return self.cut_answer or (504, "<html><title>504 Gateway Time-out</title></html>")
        restored = list(targets.values())
        failed = len([n for n in restored if n in self.red_after_restore])
        shards = {"total": len(restored), "failed": failed, "successful": len(restored) - failed}
        return 200, {"snapshot": {"snapshot": snap["snapshot"], "indices": restored, "shards": shards}}
