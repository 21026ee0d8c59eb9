"""-m scrub of a real repository (a fixture of tests/unit/data/repos) uploaded into an in-process
moto S3 server: read through the lean SigV4 client (s3http.py), in ranges too, with connections
kept per thread, and without importing boto3 when the keys are static."""

from __future__ import annotations

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest

from devstack.faulty_proxy import FaultyProxy
from es_s3_snapshot.actions import scrub as scrub_module
from es_s3_snapshot.actions.scrub import scrub
from es_s3_snapshot.config.settings import StoreConfig
from es_s3_snapshot.repoformat.storage import BlobMissing, S3Storage
from es_s3_snapshot.store import Store

REPOS = Path(__file__).parent / "data" / "repos"
NAME = "es-8.19.21-plain"  # chunked files (.partN)


@pytest.fixture(scope="module")
def bucket(moto_url):
    client = boto3.client(
        "s3", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    client.create_bucket(Bucket="scrubbed")
    root = REPOS / NAME
    for path in root.rglob("*"):
        if path.is_file():
            client.put_object(
                Bucket="scrubbed", Key="base/" + path.relative_to(root).as_posix(), Body=path.read_bytes()
            )
    return client


def storage(moto_url) -> S3Storage:
    config = StoreConfig(
        side="source", section="source_store", bucket="scrubbed", base_path="base", endpoint_url=moto_url,
        region="us-east-1", access_key="a", secret_key="b", addressing_style="path",
    )  # fmt: skip
    return S3Storage(Store(config))


def test_a_real_repository_on_s3_scrubs_ok_whole_and_in_ranges(moto_url, bucket, monkeypatch):
    result = scrub(storage(moto_url), fraction=1.0, workers=2)
    assert result.restorable and [v.restorable for v in result.verdicts] == [True, True]
    assert result.tally.data_blobs > 0
    monkeypatch.setattr(scrub_module, "SEGMENT", 1000)  # every larger blob in ranges
    ranged = scrub(storage(moto_url), fraction=1.0, workers=2)
    assert ranged.restorable and ranged.tally.reads > result.tally.reads


def test_reads_of_a_missing_blob_and_of_ranges_through_s3http(moto_url, bucket):
    s3 = storage(moto_url)
    whole = s3.read("base/index.latest")
    assert len(whole) == 8 and s3.read_range("base/index.latest", 2, 4) == whole[2:6]
    assert b"".join(bytes(c) for c in s3.stream_range("base/index.latest", 1, 7, 3)) == whole[1:]
    with pytest.raises(BlobMissing):
        s3.read("base/nothing-here")
    with pytest.raises(BlobMissing):
        list(s3.stream("base/nothing-here"))


class KeepAlive(BaseHTTPRequestHandler):
    """An HTTP/1.1 server that keeps connections open (moto closes each one): GET of one object,
    ranges too, and a 404 for any other key. Counts the connections it accepted."""

    protocol_version = "HTTP/1.1"
    body = bytes(range(256)) * 64
    connections: list[int] = []

    def setup(self):
        super().setup()
        KeepAlive.connections.append(1)

    def do_GET(self):  # noqa: N802 - http.server's name
        if not self.path.endswith("/base/blob"):
            self.send_response(404)
            error = b"<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>"
            self.send_header("content-length", str(len(error)))
            self.end_headers()
            self.wfile.write(error)
            return
        wanted = self.headers.get("range")
        data, status = self.body, 200
        if wanted:
            start, end = (int(x) for x in wanted.removeprefix("bytes=").split("-"))
            data, status = self.body[start : end + 1], 206
        self.send_response(status)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def keepalive():
    server = ThreadingHTTPServer(("127.0.0.1", 0), KeepAlive)
    KeepAlive.connections = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_reads_whole_ranged_and_streamed_keep_one_connection_per_thread(keepalive):
    s3 = storage(keepalive)
    body = KeepAlive.body
    for _ in range(3):
        assert s3.read("base/blob") == body
        assert s3.read_range("base/blob", 10, 100) == body[10:110]
        assert b"".join(bytes(c) for c in s3.stream("base/blob", 1000)) == body
        assert b"".join(bytes(c) for c in s3.stream_range("base/blob", 5, 5000, 999)) == body[5:5005]
        with pytest.raises(BlobMissing):
            s3.read("base/other")
    assert len(KeepAlive.connections) == 1
    stream = s3.stream("base/blob", 100)
    next(stream)
    stream.close()  # left before its end: that connection is not kept
    assert s3.read("base/blob") == body and len(KeepAlive.connections) == 2


def test_a_kept_alive_connection_the_server_closed_is_replaced_at_once(keepalive):
    s3 = storage(keepalive)
    http = s3.store.http
    slept = []
    http.sleep = slept.append
    assert s3.read("base/blob") == KeepAlive.body
    http._local.connection.sock.close()  # as a server closing an idle connection
    assert s3.read("base/blob") == KeepAlive.body
    assert slept == [] and len(KeepAlive.connections) == 2


def test_scrub_of_an_s3_repository_with_static_keys_never_imports_boto3(moto_url, bucket, tmp_path):
    path = tmp_path / "scrub.conf"
    path.write_text(
        f"[aws_s3_config]\ns3_bucket_name = scrubbed\ns3_base_path = base\n"
        f"[elasticsearch_config]\nes_repository_name = r\nindex_names = *\n"
        f"[source_store]\nendpoint_url = {moto_url}\naccess_key = a\nsecret_key = b\naddressing_style = path\n"
    )
    path.chmod(0o600)
    probe = (
        "import sys\nfrom es_s3_snapshot import cli\n"
        f"code = cli.main(['-m', 'scrub', '-c', {str(path)!r}, '--read-data'])\n"
        "print(code, 'boto3' in sys.modules, 'botocore' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    lines = done.stdout.strip().splitlines()
    assert lines[:2] == ["snap-1: ok", "snap-2: ok"] and lines[-1] == "0 False False", done.stdout + done.stderr


@pytest.mark.parametrize("how", ["close", "reset"])
def test_blob_bodies_that_break_off_halfway_are_read_on_and_the_repository_scrubs_ok(moto_url, bucket, how):
    """A short read is never taken for damage: each blob's first GET over 1 KB breaks off halfway
    (the connection closed or reset), scrub reads on from that byte (one ranged GET more per break)
    and finds the repository intact."""
    clean = FaultyProxy(moto_url, breaks=0)
    try:
        scrub(storage(clean.url), fraction=1.0, workers=2)
    finally:
        clean.close()
    proxy = FaultyProxy(moto_url, breaks=1, larger_than=1000, how=how)
    try:
        result = scrub(storage(proxy.url), fraction=1.0, workers=2)
    finally:
        proxy.close()
    assert result.restorable and [v.restorable for v in result.verdicts] == [True, True]
    broken = sum(proxy.broken.values())
    assert broken >= 3 and len(proxy.ranges) - len(clean.ranges) == broken


@pytest.mark.parametrize("length", [3, None])
def test_a_small_blob_read_under_a_large_limit_holds_its_size_in_memory_not_the_limit(length):
    """scrub reads metadata blobs under a 256 MiB limit: the buffer is the blob's size (Content-Length),
    or grows by blocks without one; a limit-sized buffer made the metadata pass 4x slower."""
    import tracemalloc

    from es_s3_snapshot.store import ResumingBody

    class Body:
        def __init__(self):
            self.length, self.left = length, b"abc"

        def readinto(self, buffer):
            count = min(len(buffer), len(self.left))
            buffer[:count], self.left = self.left[:count], self.left[count:]
            return count

        def close(self):
            pass

    tracemalloc.start()
    try:
        data = ResumingBody(None, "k", Body(), 0, None).read_exactly(256 * 1024**2 + 1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert bytes(data) == b"abc" and peak < 4 * 1024**2


def test_a_metadata_blob_whose_body_keeps_breaking_is_the_stores_one_line_exit_2_error(moto_url, bucket):
    """Not wrapped again into a failed read (exit 1) with the message twice."""
    from es_s3_snapshot.errors import StoreUnreachable
    from es_s3_snapshot.store import RESUMES

    proxy = FaultyProxy(moto_url, breaks=100, larger_than=0)
    try:
        with pytest.raises(StoreUnreachable) as caught:
            storage(proxy.url).read("base/index.latest")
    finally:
        proxy.close()
    message = str(caught.value)
    assert message.startswith("cannot read base/index.latest from the source store s3://scrubbed/base at http://")
    assert f"broke off {RESUMES + 1} times in a row" in message and message.count("cannot read") == 1
