"""list, prune, the run lock and the run reports on real nodes (OpenSearch + S3, Elasticsearch + fs)."""

import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from .conftest import CLI, fs_config, s3_config

PATTERN = "nightly-%Y%m%d-%H%M%S-%f"


def snapshots(api, repo):
    return {s["snapshot"]: s for s in api("GET", f"/_snapshot/{repo}/_all")["snapshots"]}


def by_hand(api, repo, name, index, metadata=None):
    body = {"indices": index, "include_global_state": False}
    if metadata:
        body["metadata"] = metadata
    api("PUT", f"/_snapshot/{repo}/{name}?wait_for_completion=true", body)


def prune_config(stack, unique, index, retention, extra=""):
    return s3_config(
        stack,
        repo=f"repo-{unique}",
        base_path=f"prune/{unique}",
        indices=index,
        extra=f"[elasticsearch_config]\nsnapshot_name = {PATTERN}\n[retention]\n{retention}\n{extra}",
    )


def test_ten_backups_then_prune_keeps_exactly_the_expected_survivors_and_never_hand_made_ones(
    stack, src, cli, write, unique
):
    index, repo = f"{unique}-p", f"repo-{unique}"
    src.seed(index, 20)
    first = write(prune_config(stack, unique, index, "keep_last = 3\nmax_age = 1"), "first.conf")
    for n in range(10):
        result = cli("-m", "backup", "-c", first, "-q")
        assert result.code == 0, result
        if n == 2:
            time.sleep(8)  # a gap that the max_age of the first prune falls into
    hand_made = {
        "nightly-20200101-000000-000001": None,  # fits the pattern, not taken by the tool
        "manual-before-upgrade": {"taken_by": "es-s3-snapshot"},  # taken_by, another name
        "slm-nightly-x": {"policy": "nightly"},
    }
    for name, metadata in hand_made.items():
        by_hand(src, repo, name, index, metadata)
    ours = sorted(
        (s for s in snapshots(src, repo).values() if s["snapshot"].startswith("nightly-2") and s.get("metadata")),
        key=lambda s: s["start_time_in_millis"],
    )
    assert len(ours) == 10
    starts = [s["start_time_in_millis"] / 1000 for s in ours]
    assert starts[3] - starts[2] > 7.5  # the gap is between the 3rd and the 4th backup

    # prune 1: keep_last 3, max_age reaching back to 1 s after the 3rd backup, into the gap (recomputed
    # just before each run, so that the cutoff stays in the gap): the 7 after the gap survive
    def prune1(*flags):
        max_age = time.time() - starts[2] - 1.0
        retention = f"keep_last = 3\nmax_age = {max_age:.1f}"
        return cli("-m", "prune", "-c", write(prune_config(stack, unique, index, retention), "prune1.conf"), *flags)

    dry = prune1("--dry-run")
    assert dry.code == 0, dry
    assert "DRY RUN: would delete 3 of 13 snapshots" in dry.out
    assert len(snapshots(src, repo)) == 13
    pruned = prune1()
    assert pruned.code == 0, pruned
    left = set(snapshots(src, repo))
    assert left == {s["snapshot"] for s in ours[3:]} | set(hand_made)
    assert f"pruned repository {repo}: deleted 3 snapshots, kept 10" in pruned.out
    assert all(f"deleted {s['snapshot']}  SUCCESS" in pruned.out for s in ours[:3])

    # prune 2: keep_last 3 with a max_age of 1 second: the 3 newest survive
    pruned = cli(
        "-m", "prune", "-c", write(prune_config(stack, unique, index, "keep_last = 3\nmax_age = 1s"), "p2.conf")
    )
    assert pruned.code == 0, pruned
    assert set(snapshots(src, repo)) == {s["snapshot"] for s in ours[7:]} | set(hand_made)


def test_prune_racing_a_backup_never_deletes_the_running_snapshot(stack, src, cli, write, unique):
    index, repo = f"{unique}-race", f"repo-{unique}"
    src.seed(index, 3000)
    slow = "[repository]\nmax_snapshot_bytes_per_sec = 5kb\n"  # a window of 10-20 s: prune starts within it under load
    config = write(prune_config(stack, unique, index, "keep_last = 1", slow))
    for _ in range(3):
        assert cli("-m", "backup", "-c", config, "-q").code == 0
    src.seed(index, 3000, start=3000)  # new data, so the next snapshot has something to copy slowly
    before = snapshots(src, repo)
    backup = subprocess.Popen(
        [CLI, "-m", "backup", "-c", config], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.time() + 60
        running = []
        while not running and time.time() < deadline:
            running = [n for n, s in snapshots(src, repo).items() if s["state"] == "IN_PROGRESS"]
            time.sleep(0.2)
        assert running, "the backup's snapshot never showed IN_PROGRESS"
        pruned = cli("-m", "prune", "-c", config, "-v")
        out, err = backup.communicate(timeout=240)
    finally:
        if backup.poll() is None:
            backup.kill()
    assert pruned.code == 0, pruned
    assert backup.returncode == 0, (out, err)
    assert f"{running[0]}  IN_PROGRESS" not in pruned.out  # never named for deletion
    left = snapshots(src, repo)
    assert running[0] in left and left[running[0]]["state"] == "SUCCESS"
    newest_before = max(before, key=lambda n: before[n]["start_time_in_millis"])
    assert set(left) == {running[0], newest_before}


def test_two_backups_started_together_one_exits_75_naming_the_holder(stack, src, write, unique, tmp_path):
    index = f"{unique}-lock"
    src.seed(index, 10)
    config = write(prune_config(stack, unique, index, "keep_last = 5", f"[lock]\ndir = {tmp_path}\n"))
    runs = [
        subprocess.Popen([CLI, "-m", "backup", "-c", config], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(run.pid, run.wait(timeout=240), *run.communicate()) for run in runs]
    codes = sorted(code for _, code, _, _ in results)
    assert codes == [0, 75], results
    winner = next(pid for pid, code, _, _ in results if code == 0)
    loser_err = next(err for _, code, _, err in results if code == 75)
    assert "holds the lock" in loser_err and f"pid {winner}, started " in loser_err
    assert len(loser_err.strip().splitlines()) == 1


def test_list_json_on_opensearch_and_on_the_destination(stack, src, cli, write, unique):
    index, repo = f"{unique}-l", f"repo-{unique}"
    src.seed(index, 5)
    config = write(prune_config(stack, unique, index, "keep_last = 5"))
    assert cli("-m", "backup", "-c", config, "-q").code == 0
    # the engine stamps snapshots with a cached clock (200 ms, slower under load): without a pause a
    # small snapshot taken right after another can have the same start and end times as it
    time.sleep(1.5)
    by_hand(src, repo, "hand-1", index)
    listed = cli("-m", "list", "-c", config, "--json")
    assert listed.code == 0, listed
    data = json.loads(listed.out)
    assert [s["taken_by_us"] for s in data] == [False, True]  # newest first: hand-1 was made last
    assert data[1]["state"] == "SUCCESS" and data[1]["indices"] == 1 and data[1]["shards_failed"] == 0
    assert data[1]["start"].endswith("Z") and data[1]["duration_s"] >= 0
    table = cli("-m", "list", "-c", config)
    assert table.code == 0, table
    assert table.out.splitlines()[0].startswith("NAME") and "hand-1" in table.out
    on_dest = cli("-m", "list", "-c", config, "--on", "destination", "--json")
    assert on_dest.code == 0, on_dest
    assert [s["name"] for s in json.loads(on_dest.out)] == [s["name"] for s in data]
    assert cli("-m", "prune", "-c", config, "--on", "destination").code == 3


def test_list_json_of_300_snapshots_on_elasticsearch_pages_and_stays_fast(stack, es, cli, write, unique):
    node = stack.nodes["es"]
    index = f"{unique}-auth"
    es.seed(index, 1)
    config_text = fs_config(node, unique, index, f"username = {node.username}\npassword = {node.password}")
    config_text += "[elasticsearch_config]\nsnapshot_name = bulk-%j\n"  # bulk-001 to bulk-300 fit it exactly
    config = write(config_text)
    assert cli("-m", "backup", "-c", config, "--snapshot", "first").code == 0
    repo = f"fs-{unique}"
    began = time.time()
    for n in range(300):  # started without waiting: the engine runs them concurrently
        metadata = {"taken_by": "es-s3-snapshot"} if n % 2 else {}
        name = f"bulk-{n + 1:03d}"  # 001 to 300: days of the year, as %j gives them
        es("PUT", f"/_snapshot/{repo}/{name}?wait_for_completion=false", {"indices": index, "metadata": metadata})
    while es("GET", f"/_snapshot/{repo}/_current")["snapshots"]:
        time.sleep(0.5)
    made = time.time() - began
    began = time.time()
    listed = cli("-m", "list", "-c", config, "--json", "-vv")
    took = time.time() - began
    assert listed.code == 0, listed
    data = json.loads(listed.out)
    assert len(data) == 301 and {d["name"] for d in data} == {"first"} | {f"bulk-{n + 1:03d}" for n in range(300)}
    starts = [d["start"] for d in data]
    assert starts == sorted(starts, reverse=True)  # newest first (to the second; ties in any order)
    assert sum(s["taken_by_us"] for s in data) == 151
    assert "size=1000" in listed.err  # Elasticsearch pages the listing (the pages: test_engine_matrix.py)
    timings = {}
    for verbose in ("true", "false"):
        began = time.time()
        es("GET", f"/_snapshot/{repo}/_all?verbose={verbose}")
        timings[verbose] = time.time() - began
    print(
        f"\nES {node.version}: created 300 snapshots in {made:.1f}s; list --json of 301 took {took:.2f}s "
        f"(one GET _all: verbose {timings['true']:.2f}s, verbose=false {timings['false']:.2f}s)"
    )
    assert took < 30

    # prune on Elasticsearch: several names per DELETE; "first" does not fit the name, odd ones are ours
    pruned = cli("-m", "prune", "-c", write(config_text + "[retention]\nkeep_last = 5\n", "prune.conf"), "-vv")
    assert pruned.code == 0, pruned
    assert "deleted 145 snapshots, kept 156" in pruned.out
    deletes = [line for line in pruned.err.splitlines() if "DELETE " in line and "[status:200" in line]
    assert len(deletes) == 1, deletes  # one batch
    left = snapshots(es, repo)
    assert len(left) == 156 and "first" in left and all(f"bulk-{n + 1:03d}" in left for n in range(0, 300, 2))
    assert {f"bulk-{n + 1:03d}" for n in (299, 297, 295, 293, 291)} <= set(left)


class Pings(BaseHTTPRequestHandler):
    seen: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
        Pings.seen.append((self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def ping_server():
    Pings.seen = []
    httpd = HTTPServer(("127.0.0.1", 0), Pings)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}/ping/e2e"
    httpd.shutdown()
    httpd.server_close()


def test_reports_json_prometheus_and_pings_for_success_and_failure(
    stack, src, cli, write, unique, tmp_path, ping_server
):
    index, repo = f"{unique}-r", f"repo-{unique}"
    src.seed(index, 40)
    report = (
        f"[report]\njson_file = {tmp_path}/run.json\nprometheus_file = {tmp_path}/es.prom\nping_url = {ping_server}\n"
    )
    config = write(prune_config(stack, unique, index, "keep_last = 1\nprune_after_backup = true", report))
    assert cli("-m", "backup", "-c", config, "-q").code == 0
    ok = cli("-m", "backup", "-c", config)
    assert ok.code == 0, ok
    data = json.loads((tmp_path / "run.json").read_text())
    assert data["outcome"] == "success" and data["exit_code"] == 0 and data["mode"] == "backup"
    assert data["repository"] == repo and data["indices"] == [index] and data["bytes"] >= 0
    assert len(data["deleted_snapshots"]) == 1 and data["snapshot"].startswith("nightly-")
    prom = (tmp_path / "es.prom").read_text()
    label = f'{{mode="backup",repository="{repo}"}}'
    assert f"es_s3_snapshot_snapshots_deleted_total{label} 1" in prom
    success_line = next(
        line for line in prom.splitlines() if line.startswith(f"es_s3_snapshot_last_success_timestamp_seconds{label}")
    )

    listed = cli("-m", "list", "-c", config)
    assert listed.code == 0
    src("DELETE", f"/{index}")
    failed = cli("-m", "backup", "-c", config)
    assert failed.code == 1, failed
    data = json.loads((tmp_path / "run.json").read_text())
    assert data["outcome"] == "failed" and data["message"].startswith("index not found on the source cluster")
    prom = (tmp_path / "es.prom").read_text()
    assert success_line in prom.splitlines()  # the last success time survives the failure
    assert f"es_s3_snapshot_last_exit_code{label} 1" in prom
    assert f'es_s3_snapshot_last_exit_code{{mode="list",repository="{repo}"}} 0' in prom
    paths = [p for p, _ in Pings.seen]
    assert paths == ["/ping/e2e/start", "/ping/e2e"] * 3 + ["/ping/e2e/start", "/ping/e2e/fail"]
    assert Pings.seen[-1][1] == data["message"]
