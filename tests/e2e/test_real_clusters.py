"""What holds on real clusters: slow answers, a silent seed, 1,000 long index names, data streams,
`close` undone, and SIGTERM. Real OpenSearch 3.3.2 nodes writing to the moto S3 server."""

from __future__ import annotations

import json
import signal
import time
import urllib.request

import pytest

from tests.support.slow_proxy import SlowProxy

from .conftest import s3_config, signalled


def restore_config(stack, unique, indices, extra="", dest_url=None):
    text = s3_config(stack, repo=f"repo-{unique}", base_path=f"rc/{unique}", indices=indices, extra=extra)
    if dest_url:
        text = text.replace(stack.nodes["destination"].url, dest_url)
    return text


# --- time -----------------------------------------------------------------------------------------


def test_slow_restore_answer_within_its_allowance_succeeds(stack, src, dest, cli, write, unique):
    index = f"{unique}-slow"
    src.seed(index, 25)
    config = write(restore_config(stack, unique, index))
    assert cli("-m", "backup", "-c", config, "--snapshot", "s1").code == 0
    with SlowProxy(stack.nodes["destination"].url, delays=[("POST", r"/_restore$", 4.0)]) as proxy:
        slow = write(
            restore_config(stack, unique, index, dest_url=proxy.url)
            + "[destination]\nrequest_timeout = 2\nlong_request_timeout = 20\n",
            "slow.conf",
        )
        result = cli("-m", "restore", "-c", slow, "--snapshot", "s1")
    assert result.code == 0, result
    assert dest.count(index) == 25


def test_lost_restore_answer_is_not_reported_as_a_failure(stack, src, dest, cli, write, unique):
    """A gateway cuts the blocking restore call (504 after 1 s) while the engine restores on: the
    restore ran, so the run follows it to its end and succeeds."""
    index = f"{unique}-lost"
    src.seed(index, 3000)
    config = write(restore_config(stack, unique, index))
    assert cli("-m", "backup", "-c", config, "--snapshot", "s1").code == 0
    # a restore of a few seconds: the destination reads the repository at 20 KB/s; a replica its
    # single node never takes keeps an unassigned shard, so the wait counts the active primaries
    throttled = restore_config(stack, unique, index, dest_url="GATEWAY") + (
        "[destination_repository]\nmax_restore_bytes_per_sec = 20kb\n"
        '[restore]\nindex_settings = {"index.number_of_replicas": 1}\n'
    )
    with SlowProxy(stack.nodes["destination"].url, cuts=[("POST", r"/_restore$", 1.0)]) as gateway:
        lost = write(throttled.replace("GATEWAY", gateway.url), "lost.conf")
        result = cli("-m", "restore", "-c", lost, "--snapshot", "s1")
    assert result.code == 0, result
    assert "504" in result.err and "the restore has begun" in result.err
    assert dest.count(index) == 3000
    dest("DELETE", f"/{index}")  # its unassigned replica would hold the cluster's health for other tests


def test_silent_first_seed_fails_over_to_the_live_one(stack, src, cli, write, unique):
    index = f"{unique}-fo"
    src.seed(index, 5)
    with SlowProxy(stack.nodes["source"].url, delays=[("*", r".", 20.0)]) as silent:
        silent_url = silent.url
        text = restore_config(stack, unique, index).replace(
            f"es_src_seed1 = {stack.nodes['source'].url}",
            f"es_src_seed1 = {silent_url}\nes_src_seed2 = {stack.nodes['source'].url}",
        )
        config = write(text + "[source]\nrequest_timeout = 2\n")
        started = time.monotonic()
        result = cli("-m", "backup", "-c", config)
        took = time.monotonic() - started
    assert result.code == 0, result
    # the pool starts on either seed and takes turns: the silent one is tried within the run's requests
    assert silent.requests, "the silent seed was never tried: no failover happened"
    assert f"source seed {silent_url} is unreachable" in result.err
    assert took < 60


def test_busy_cluster_gets_a_slow_answer_message_exit_2(stack, src, cli, write, unique):
    with SlowProxy(stack.nodes["source"].url, delays=[("*", r".", 6.0)]) as slow:
        text = restore_config(stack, unique, "x").replace(stack.nodes["source"].url, slow.url)
        config = write(text + "[source]\nrequest_timeout = 1\n")
        result = cli("-m", "backup", "-c", config)
    assert result.code == 2, result
    assert "did not answer GET / in 3 tries of 1s (3s)" in result.err, result.err
    assert "raise request_timeout in [source]" in result.err
    assert "Traceback" not in result.err


# --- scale ----------------------------------------------------------------------------------------


def _bulk(api, lines):
    data = ("\n".join(json.dumps(line) for line in lines) + "\n").encode()
    request = urllib.request.Request(
        api.url + "/_bulk?refresh=true&timeout=10m",
        data=data,
        method="POST",
        headers={"content-type": "application/x-ndjson"},
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        answer = json.loads(response.read())
    assert not answer["errors"], [i for i in answer["items"] if i["index"].get("error")][:3]


@pytest.mark.timeout(1800)
def test_a_thousand_indices_with_long_names_back_up_and_restore(stack, src, dest, cli, write, unique):
    count = 1000
    settings = {
        "cluster.max_shards_per_node": 5000,
        # a single node restores 4 primaries at a time by default: 1,000 shards would take long
        "cluster.routing.allocation.node_initial_primaries_recoveries": 16,
    }
    for api in (src, dest):
        api("PUT", "/_cluster/settings", {"persistent": settings})
    prefix = f"{unique}-kilo-"
    src(
        "PUT",
        f"/_index_template/{unique}-kilo",
        {"index_patterns": [f"{prefix}*"], "template": {"settings": {"number_of_shards": 1, "number_of_replicas": 0}}},
    )
    names = [f"{prefix}{n:04d}-customer-events-with-a-long-descriptive-name" for n in range(count)]
    assert all(len(n) >= 60 for n in names)
    for start in range(0, count, 100):  # auto-created by bulk: a few requests instead of a thousand
        lines = []
        for i, name in enumerate(names[start : start + 100], start):
            for d in range(1 + i % 3):
                lines += [{"index": {"_index": name, "_id": str(d)}}, {"n": d}]
        _bulk(src, lines)
    config = write(
        restore_config(stack, unique, f"{prefix}*")
        + '[restore]\nindex_settings = {"index.number_of_replicas": 0}\n[wait]\nmax_wait = 900\n'
    )
    backup = cli("-m", "backup", "-c", config, "--snapshot", "kilo", timeout=900)
    assert backup.code == 0, backup
    assert f"SUCCESS, {count} indices, {count}/{count} shards" in backup.out
    assert all(len(line) < 2000 for line in backup.err.splitlines())

    restore = cli("-m", "restore", "-c", config, "--snapshot", "kilo", timeout=900)
    assert restore.code == 0, restore
    assert restore.out.startswith(f"restored {count} indices from repo-{unique}/kilo on the destination: ")
    counted = {line.split()[0]: int(line.split()[1]) for line in restore.out.splitlines()[1:]}
    assert counted == {name: 1 + i % 3 for i, name in enumerate(names)}
    rows = dest("GET", f"/_cat/indices/{prefix}*?format=json&h=index,docs.count")
    assert {r["index"]: int(r["docs.count"]) for r in rows} == counted
    assert all(len(line) < 2000 for line in restore.err.splitlines())
    for api in (src, dest):  # leave room for the other tests' shards
        api("DELETE", f"/{prefix}*", ok=(200, 404))
        api("PUT", "/_cluster/settings", {"persistent": {k: None for k in settings}})


# --- data streams ---------------------------------------------------------------------------------


def test_data_stream_is_backed_up_and_restored_as_a_data_stream(stack, src, dest, cli, write, unique):
    stream = f"logs-{unique}-app"
    template = {
        "index_patterns": [f"logs-{unique}-*"],
        "data_stream": {},
        "template": {"settings": {"number_of_shards": 1, "number_of_replicas": 0}},
        "priority": 500,
    }
    src("PUT", f"/_index_template/{unique}-ds", template)
    lines = []
    for n in range(12):
        lines += [{"create": {"_index": stream}}, {"@timestamp": f"2026-11-23T00:00:{n:02d}Z", "n": n}]
    _bulk(src, lines)
    config = write(restore_config(stack, unique, stream))
    backup = cli("-m", "backup", "-c", config, "--snapshot", "ds")
    assert backup.code == 0, backup
    assert "(1 data stream)" in backup.out

    restore = cli("-m", "restore", "-c", config, "--snapshot", "ds")
    assert restore.code == 0, restore
    assert "no index template with data_stream matching" in restore.err  # explained, not failed
    assert dest("GET", f"/_data_stream/{stream}")["data_streams"][0]["name"] == stream
    assert dest.count(stream) == 12
    assert f"{stream}  12 docs" in restore.out


# --- never worse than before ----------------------------------------------------------------------


def test_close_is_refused_before_closing_when_shard_counts_differ(stack, src, dest, cli, write, unique):
    index = f"{unique}-shards"
    src.seed(index, 10, shards=2)
    dest.seed(index, 4, shards=1)
    config = write(restore_config(stack, unique, index))
    assert cli("-m", "backup", "-c", config, "--snapshot", "s1").code == 0
    result = cli("-m", "restore", "-c", config, "--snapshot", "s1", "--existing", "close")
    assert result.code == 1, result
    assert "the number of primary shards differs" in result.err and "nothing was changed" in result.err
    assert dest("GET", f"/_cat/indices/{index}?format=json&h=status")[0]["status"] == "open"
    assert dest.count(index) == 4


def test_refused_restore_after_close_reopens_what_it_closed(stack, src, dest, cli, write, unique):
    index = f"{unique}-reopen"
    src.seed(index, 10)
    dest.seed(index, 4)
    config = write(restore_config(stack, unique, index) + '[restore]\nindex_settings = {"index.number_of_shards": 3}\n')
    assert cli("-m", "backup", "-c", config, "--snapshot", "s1").code == 0
    result = cli("-m", "restore", "-c", config, "--snapshot", "s1", "--existing", "close")
    assert result.code == 1, result
    assert "was refused" in result.err and f"reopened the 1 index this run had closed: {index}" in result.err
    assert dest("GET", f"/_cat/indices/{index}?format=json&h=status")[0]["status"] == "open"
    assert dest.count(index) == 4


def test_restore_whose_primaries_cannot_be_allocated_fails_naming_them(stack, src, dest, cli, write, unique):
    """The engine gives up on primaries no node may take: the blocking restore's answer counts them
    as failed, and the run exits 1 at once, naming the index and the engine's reason, after removing
    the empty index it created."""
    index = f"{unique}-noalloc"
    src.seed(index, 10)
    config = write(restore_config(stack, unique, index))
    assert cli("-m", "backup", "-c", config, "--snapshot", "s1").code == 0
    dest("PUT", "/_cluster/settings", {"transient": {"cluster.routing.allocation.enable": "none"}})
    try:
        result = cli("-m", "restore", "-c", config, "--snapshot", "s1")
        after = dest.status("HEAD", f"/{index}")
    finally:
        dest("PUT", "/_cluster/settings", {"transient": {"cluster.routing.allocation.enable": None}})
        dest("DELETE", f"/{index}", ok=(200, 404))
    assert result.code == 1, result
    last = result.err.strip().splitlines()[-1]
    assert f"1 of 1 shard could not be restored: {index}" in last, result
    assert "why: allocation is disabled" in last, result  # the engine's reason, in words
    # the empty index it created is removed, and the last line says so
    assert f"deleted the 1 index it had created with no primary allocated (keep them with --keep-failed): {index}" in last
    assert after == 404


# --- signals --------------------------------------------------------------------------------------


@pytest.mark.parametrize("signum,code,word", [(signal.SIGTERM, 143, "terminated (SIGTERM)")])
def test_sigterm_while_waiting_says_the_snapshot_goes_on(stack, src, write, unique, signum, code, word):
    index = f"{unique}-sig"
    src.seed(index, 2000)
    config = write(
        restore_config(stack, unique, index)
        + "[repository]\nmax_snapshot_bytes_per_sec = 2kb\n[wait]\npoll_interval = 1\n"
    )

    def running():
        status = src("GET", f"/_snapshot/repo-{unique}/sig/_status", ok=(200, 404))
        return bool(status and status.get("snapshots"))

    returncode, err = signalled(["-m", "backup", "-c", config, "--snapshot", "sig"], running, signum, settle=1.0)
    assert returncode == code, err
    last = err.strip().splitlines()[-1]
    assert word in last and "goes on in the source cluster" in last and f"/_snapshot/repo-{unique}/sig" in last
    assert "Traceback" not in err
    state = src("GET", f"/_snapshot/repo-{unique}/sig")["snapshots"][0]["state"]
    assert state in ("IN_PROGRESS", "SUCCESS")  # it went on
    src("DELETE", f"/_snapshot/repo-{unique}/sig", ok=(200, 404))  # do not slow the other tests down


def test_sigterm_during_a_restore_says_it_goes_on_and_how_to_follow_it(stack, dest, backed_up, unique):
    index = f"{unique}-rsig"
    _, throttled = backed_up(restore_config(stack, unique, index), index, 3000)  # a restore of several seconds
    returncode, err = signalled(
        ["-m", "restore", "-c", throttled, "--snapshot", "s1"], lambda: dest.exists(index), signal.SIGTERM
    )
    assert returncode == 143, err
    last = err.strip().splitlines()[-1]
    assert "terminated (SIGTERM)" in last and "goes on in the destination cluster" in last, last
    assert "GET /_cat/recovery?active_only=true" in last and "Traceback" not in err
    # it went on to the end without the tool (a restoring primary shows yellow: green means recovered)
    health = dest("GET", f"/_cluster/health/{index}?wait_for_status=green&timeout=60s")
    assert health["status"] == "green"
    assert dest.count(index) == 3000
    dest("DELETE", f"/{index}")
