"""-m sync through the CLI against stores that throttle, never answer or never accept a connection:
the retries ride out throttling, and a store that does not answer ends the run with exit 2 in
one line within its timeouts (``connect_timeout`` / ``read_timeout`` of the store's section)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devstack.faulty_proxy import FaultyProxy
from es_s3_snapshot import cli, s3http, store

from .test_sync import BIG, config_text, keys, make_repository


@pytest.fixture
def slept(monkeypatch):
    """The back-off's sleeps of an in-process run, recorded and not slept."""
    recorded: list[float] = []
    monkeypatch.setattr(time, "sleep", recorded.append)
    return recorded


def run_in_process(tmp_path, capsys, text, *args):
    path = tmp_path / "sync.conf"
    path.write_text(text)
    path.chmod(0o600)
    started = time.monotonic()
    code = cli.main(["-m", "sync", "-c", str(path), *args])
    _, err = capsys.readouterr()
    return code, err, time.monotonic() - started


def with_store_keys(text: str, section: str, **values: object) -> str:
    """``text`` with ``values`` added to its ``[section]``."""
    lines = "".join(f"{key} = {value}\n" for key, value in values.items())
    return text.replace(f"[{section}]\n", f"[{section}]\n{lines}", 1)


@pytest.fixture
def no_proxy_env(monkeypatch):
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("server_side", ["never", "auto"])
def test_a_sync_through_a_store_that_throttles_every_third_request_copies_everything(
    s3, buckets, tmp_path, capsys, slept, no_proxy_env, server_side
):
    """Listings, GETs, streamed PUTs, parts and server-side copies all meet SlowDown and are retried."""
    src, dst = buckets
    make_repository(s3, src)
    throttling = FaultyProxy(s3.meta.endpoint_url, throttle_every=3)
    try:
        text = config_text(throttling.url, src, dst, server_side=server_side)
        code, err, _ = run_in_process(tmp_path, capsys, text)
    finally:
        throttling.close()
    assert code == 0, err
    assert keys(s3, dst) == {
        key.replace("a/b/", "c/", 1): size for key, size in keys(s3, src).items() if not key.startswith("zzz/")
    }
    assert throttling.throttled >= 3 and len(slept) == throttling.throttled
    assert all(0 <= delay <= 20 for delay in slept)


def test_a_sync_with_the_timeouts_set_copies_as_before(s3, buckets, tmp_path, capsys):
    src, dst = buckets
    make_repository(s3, src)
    text = config_text(s3.meta.endpoint_url, src, dst, server_side="never")
    text = with_store_keys(text, "source_store", connect_timeout=5, read_timeout=30)
    text = with_store_keys(text, "destination_store", connect_timeout=2.5, read_timeout=60)
    code, err, _ = run_in_process(tmp_path, capsys, text)
    assert code == 0, err
    assert keys(s3, dst)["a1100/c/indices/ID/1/__big"] == BIG


def test_a_destination_that_never_answers_ends_the_run_with_exit_2_within_its_read_timeouts(
    s3, buckets, tmp_path, silent_port, no_proxy_env
):
    """The installed command, real sleeps: read_timeout = 1 on each of the 6 attempts, plus at
    most 7.75 s of back-off."""
    src, dst = buckets
    make_repository(s3, src)
    dead = f"http://127.0.0.1:{silent_port}"
    text = config_text(s3.meta.endpoint_url, src, dst, dst_url=dead, server_side="never")
    path = tmp_path / "sync.conf"
    path.write_text(with_store_keys(text, "destination_store", read_timeout=1))
    path.chmod(0o600)
    command = Path(sys.executable).with_name("es-s3-snapshot")
    started = time.monotonic()
    done = subprocess.run([str(command), "-m", "sync", "-c", str(path)], capture_output=True, text=True, timeout=120)
    took = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert re.search(
        rf"cannot reach the destination store s3://{dst}/c at {dead}: TimeoutError: timed out "
        r"\(6 attempts over \d+\.\ds\)$",
        lines[0],
    ), lines[0]
    assert 6 <= took <= 6 * 1 + 7.75 + 5, took


def test_a_destination_that_never_accepts_the_connection_ends_the_run_within_its_connect_timeouts(
    s3, buckets, tmp_path, capsys, slept, full_backlog_port, no_proxy_env
):
    src, dst = buckets
    make_repository(s3, src)
    dead = f"http://127.0.0.1:{full_backlog_port}"
    text = config_text(s3.meta.endpoint_url, src, dst, dst_url=dead, server_side="never")
    text = with_store_keys(text, "destination_store", connect_timeout=0.3, read_timeout=600)
    code, err, took = run_in_process(tmp_path, capsys, text)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert re.search(
        r"cannot reach the destination store .*: TimeoutError: timed out \(6 attempts over \d+\.\ds\)$", err
    )
    # every request to it (the first ones go at once) tried 6 times, connect_timeout each, not read_timeout
    assert 6 * 0.3 <= took < 10
    assert len(slept) >= s3http.ATTEMPTS - 1 and all(0 <= delay <= 4 for delay in slept)


# --- bodies that break off ------------------------------------------------------------------------

MID = 2 * 1024**2 + 7  # over SMALL and under the 5 MB threshold: one streamed PUT


def with_mid_blob(s3, src):
    make_repository(s3, src)
    s3.put_object(Bucket=src, Key="a1100/a/b/indices/ID/1/__mid", Body=bytes(range(256)) * (MID // 256) + b"m" * 7)


def sync_from(proxy, s3, buckets, tmp_path, capsys):
    """(exit code, stderr) of a streamed sync of the repository (with ``__mid``) whose source is
    read through ``proxy``; the proxy is closed after."""
    src, dst = buckets
    with_mid_blob(s3, src)
    try:
        text = config_text(proxy.url, src, dst, dst_url=s3.meta.endpoint_url, server_side="never")
        code, err, _ = run_in_process(tmp_path, capsys, text)
    finally:
        proxy.close()
    return code, err


def bodies(s3, bucket, keys_):
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys_}


@pytest.mark.parametrize("how", ["close", "reset"])
def test_a_source_body_that_breaks_off_halfway_is_read_on_from_where_it_broke(
    s3, buckets, tmp_path, capsys, no_proxy_env, how
):
    """The streamed PUT (2 MiB) and the multipart copy (6 MiB, its parts read in turn from one GET)
    each lose their GET halfway, once: the copy reads on with a ranged GET from the byte it had
    read to, and every byte arrives."""
    src, dst = buckets
    proxy = FaultyProxy(s3.meta.endpoint_url, breaks=1, how=how)
    code, err = sync_from(proxy, s3, buckets, tmp_path, capsys)
    assert code == 0, err
    big, mid = "a1100/a/b/indices/ID/1/__big", "a1100/a/b/indices/ID/1/__mid"
    assert bodies(s3, dst, [k.replace("a/b/", "c/", 1) for k in (big, mid)]) == {
        k.replace("a/b/", "c/", 1): v for k, v in bodies(s3, src, [big, mid]).items()
    }
    assert {path.split("/", 2)[2]: n for path, n in proxy.broken.items() if n} == {big: 1, mid: 1}
    resumed = {path.split("/", 2)[2]: int(r.split("=")[1].split("-")[0]) for path, r in proxy.ranges}
    if how == "close":  # from the byte it broke at: the half the proxy sent
        assert resumed == {big: BIG // 2, mid: MID // 2}
    else:  # a reset may drop what the kernel had received and not yet handed over
        assert resumed.keys() == {big, mid} and resumed[big] <= BIG // 2 and resumed[mid] <= MID // 2


def test_a_source_body_that_keeps_breaking_ends_the_run_with_exit_2_and_leaves_no_upload(
    s3, buckets, tmp_path, capsys, no_proxy_env, slept
):
    _, dst = buckets
    proxy = FaultyProxy(s3.meta.endpoint_url, breaks=100, larger_than=1000)
    code, err = sync_from(proxy, s3, buckets, tmp_path, capsys)
    assert code == 2, err
    last = err.strip().splitlines()[-1]
    assert "cannot read a1100/a/b/indices/ID/1/__" in last and "the source store" in last, last
    assert f"broke off {store.RESUMES + 1} times" in last, last
    assert not s3.list_multipart_uploads(Bucket=dst).get("Uploads")  # the failed multipart upload was aborted
    assert "c/index.latest" not in keys(s3, dst)  # the root blobs go only after all data
